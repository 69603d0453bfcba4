/* The service layer without sockets: flags, the /mutate handler through the router (status
 * codes, metrics with upstream's names and reasons), /healthz, /metrics and the Configuration
 * mTLS rule. The HTTPS path itself is covered by e2e/test_injector.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dc/arena.h"
#include "dc/buf.h"
#include "dc/str.h"

#include "../service.h"
#include "inj_test_util.h"

struct fx {
    struct inj_config cfg;
    struct inj_flags flags;
    struct inj_service *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    const char *argv[] = {"injector", NULL};

    dc_log_setup(DC_LOG_FATAL, false, "dapr.injector", NULL); /* quiet */
    test_config(&f->cfg);
    assert_int_equal(inj_flags_parse(&f->flags, 1, argv, NULL), DC_OK);
    f->s = inj_service_new(&f->cfg, &f->flags);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    inj_service_free(f->s);
    inj_config_cleanup(&f->cfg);
    free(f);
    return 0;
}

struct reply {
    int status;
    char body[8192];
    char ct[128];
};

static void call(const struct dc_http_router *r, const char *method, const char *path,
                 const char *ct, const char *body, struct reply *out)
{
    struct dc_arena a;
    struct dc_http_request req = {0};
    struct dc_http_response resp;
    struct dc_http_header h[1];
    const char *rct;

    dc_arena_init(&a);
    req.method = method;
    req.path = path;
    req.query = "";
    req.body = body != NULL ? body : "";
    req.body_len = strlen(req.body);
    req.arena = &a;
    if (ct != NULL) {
        h[0].name = "Content-Type";
        h[0].value = ct;
        req.headers = h;
        req.n_headers = 1;
    }
    dc_http_response_init(&resp, &a);
    (void)dc_http_router_dispatch(r, &req, &resp);
    out->status = resp.status;
    dc_strlcpy(out->body, dc_buf_cstr(&resp.body), sizeof(out->body));
    rct = dc_http_response_header_get(&resp, "Content-Type");
    dc_strlcpy(out->ct, rct != NULL ? rct : "", sizeof(out->ct));
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&a);
}

static char *review(const char *kind, const char *user, const char *annotations)
{
    struct dc_buf b = {0};

    assert_int_equal(
        dc_buf_appendf(&b,
                       "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                       "\"request\":{\"uid\":\"u-1\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
                       "\"kind\":\"%s\"},\"namespace\":\"apps\",\"operation\":\"CREATE\","
                       "\"userInfo\":{\"username\":\"%s\",\"groups\":[\"system:authenticated\"]},"
                       "\"object\":{\"metadata\":{\"name\":\"web-1\",\"annotations\":{%s}},"
                       "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"app:1\"}]}}}}",
                       kind, user, annotations),
        DC_OK);
    return dc_buf_take(&b, NULL);
}

static double metric(struct fx *f, const char *name, const char *const *labels)
{
    struct dc_buf page = {0};
    struct dc_metric *m;
    double v = -1;

    /* Re-registering with the same shape returns the existing metric. */
    if (labels == NULL)
        m = dc_metrics_counter(inj_service_metrics(f->s), name, NULL, 0, NULL);
    else if (labels[1] == NULL)
        m = dc_metrics_counter(inj_service_metrics(f->s), name, NULL, 1,
                               (const char *const[]){"app_id"});
    else
        m = dc_metrics_counter(inj_service_metrics(f->s), name, NULL, 2,
                               (const char *const[]){"app_id", "reason"});
    assert_non_null(m);
    if (dc_metric_get(m, labels, &v) != DC_OK)
        v = 0;
    assert_int_equal(dc_metrics_render(inj_service_metrics(f->s), &page), DC_OK);
    dc_buf_cleanup(&page);
    return v;
}

#define CONTROLLER "system:serviceaccount:kube-system:replicaset-controller"
#define REQS "dapr_injector_sidecar_injection_requests_total"
#define OKS "dapr_injector_sidecar_injection_succeeded_total"
#define FAILS "dapr_injector_sidecar_injection_failed_total"

static void test_mutate(void **state)
{
    struct fx *f = *state;
    const struct dc_http_router *r = inj_service_webhook_router(f->s);
    struct reply *rp = calloc(1, sizeof(*rp));
    char *body;

    call(r, "POST", "/mutate", "application/json", "", rp);
    assert_int_equal(rp->status, 400);
    assert_string_equal(rp->body, "empty body\n");
    body = review("Pod", CONTROLLER, "\"dapr.io/enabled\":\"true\",\"dapr.io/app-id\":\"web\"");
    call(r, "POST", "/mutate", "text/plain", body, rp);
    assert_int_equal(rp->status, 415);
    assert_string_equal(rp->body, "invalid Content-Type, expected `application/json`\n");
    call(r, "POST", "/mutate", NULL, body, rp);
    assert_int_equal(rp->status, 415);

    call(r, "POST", "/mutate", "application/json", body, rp);
    assert_int_equal(rp->status, 200);
    assert_string_equal(rp->ct, "application/json");
    assert_non_null(strstr(rp->body, "\"patchType\":\"JSONPatch\""));
    assert_non_null(strstr(rp->body, "\"uid\":\"u-1\""));
    assert_true(metric(f, OKS, (const char *const[]){"web", NULL}) == 1);
    free(body);

    /* Not authorized: allowed without a patch, failure "pod_patch". */
    body = review("Pod", "alice", "\"dapr.io/enabled\":\"true\",\"dapr.io/app-id\":\"web\"");
    call(r, "POST", "/mutate", "application/json; charset=utf-8", body, rp);
    assert_int_equal(rp->status, 200);
    assert_null(strstr(rp->body, "patch"));
    assert_true(metric(f, FAILS, (const char *const[]){"web", "pod_patch"}) == 1);
    free(body);

    /* Another kind: allowed, counted as pod_patch too (upstream). Not enabled: nothing. */
    body = review("Deployment", CONTROLLER, "\"dapr.io/enabled\":\"true\"");
    call(r, "POST", "/mutate", "application/json", body, rp);
    assert_int_equal(rp->status, 200);
    free(body);
    body = review("Pod", CONTROLLER, "\"dapr.io/enabled\":\"false\"");
    call(r, "POST", "/mutate", "application/json", body, rp);
    assert_int_equal(rp->status, 200);
    free(body);

    /* Invalid app ID: rejected, failure "patch". Malformed: also "patch". */
    body = review("Pod", CONTROLLER, "\"dapr.io/enabled\":\"true\",\"dapr.io/app-id\":\"Bad_ID\"");
    call(r, "POST", "/mutate", "application/json", body, rp);
    assert_int_equal(rp->status, 200);
    assert_non_null(strstr(rp->body, "\"allowed\":false"));
    assert_true(metric(f, FAILS, (const char *const[]){"Bad_ID", "patch"}) == 1);
    free(body);
    call(r, "POST", "/mutate", "application/json", "{\"kind\":1}", rp);
    assert_int_equal(rp->status, 200);
    assert_non_null(strstr(rp->body, "\"allowed\":false"));
    assert_true(metric(f, FAILS, (const char *const[]){"", "patch"}) == 1);

    assert_true(metric(f, REQS, NULL) == 9);

    /* Other paths. */
    call(r, "POST", "/other", "application/json", "{}", rp);
    assert_int_equal(rp->status, 404);
    free(rp);
}

static void test_mtls_switch(void **state)
{
    struct fx *f = *state;
    const struct dc_http_router *r = inj_service_webhook_router(f->s);
    struct reply *rp = calloc(1, sizeof(*rp));
    char *body = review("Pod", CONTROLLER, "\"dapr.io/enabled\":\"true\"");
    cJSON *c;

    assert_true(inj_service_mtls(f->s));
    call(r, "POST", "/mutate", "application/json", body, rp);
    assert_int_equal(rp->status, 200);
    /* The patch is base64: compare the decoded flags through the pure function instead. */
    inj_service_set_mtls(f->s, false);
    assert_false(inj_service_mtls(f->s));
    free(body);
    free(rp);

    c = cJSON_Parse("{\"spec\":{\"mtls\":{\"enabled\":false}}}");
    assert_false(inj_configuration_mtls(c));
    cJSON_Delete(c);
    c = cJSON_Parse("{\"spec\":{\"mtls\":{\"enabled\":true}}}");
    assert_true(inj_configuration_mtls(c));
    cJSON_Delete(c);
    c = cJSON_Parse("{\"spec\":{\"tracing\":{}}}");
    assert_true(inj_configuration_mtls(c));
    cJSON_Delete(c);
    assert_true(inj_configuration_mtls(NULL));
}

static void test_health_and_metrics(void **state)
{
    struct fx *f = *state;
    struct reply *rp = calloc(1, sizeof(*rp));

    call(inj_service_health_router(f->s), "GET", "/healthz", NULL, NULL, rp);
    assert_int_equal(rp->status, 503);
    inj_service_set_ready(f->s, true);
    call(inj_service_health_router(f->s), "GET", "/healthz", NULL, NULL, rp);
    assert_int_equal(rp->status, 200);
    call(inj_service_metrics_router(f->s), "GET", "/metrics", NULL, NULL, rp);
    assert_int_equal(rp->status, 200);
    assert_string_equal(rp->ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(rp->body, "dapr_injector_sidecar_injection_requests_total 0\n"));
    free(rp);
}

static void test_flags(void **state)
{
    struct inj_flags fl;
    struct dc_errbuf eb = {0};
    const char *a1[] = {"injector",
                        "--port",
                        "4443",
                        "-healthz-port=18080",
                        "--enable-metrics=false",
                        "--kubeconfig",
                        "/k",
                        "--scheduler-enabled=false",
                        "--log-level",
                        "debug",
                        "--log-as-json",
                        "--tls-cert-file=/c",
                        "--tls-key-file",
                        "/k2",
                        "--listen-address",
                        "127.0.0.1",
                        NULL};
    const char *bad1[] = {"injector", "--nope", NULL};
    const char *bad2[] = {"injector", "--port", "70000", NULL};
    const char *bad3[] = {"injector", "--port", NULL};
    const char *bad4[] = {"injector", "--log-as-json=maybe", NULL};
    const char *bad5[] = {"injector", "stray", NULL};
    const char *bad6[] = {"injector", "--log-level", "loud", NULL};

    (void)state;
    assert_int_equal(inj_flags_parse(&fl, 1, a1, &eb), DC_OK);
    assert_int_equal(fl.port, 4000);
    assert_int_equal(fl.healthz_port, 8080);
    assert_int_equal(fl.metrics_port, 9090);
    assert_true(fl.enable_metrics);
    assert_true(fl.scheduler_enabled);
    assert_int_equal(fl.log_level, DC_LOG_INFO);
    assert_null(fl.tls_cert_file);

    assert_int_equal(inj_flags_parse(&fl, 16, a1, &eb), DC_OK);
    assert_int_equal(fl.port, 4443);
    assert_int_equal(fl.healthz_port, 18080);
    assert_false(fl.enable_metrics);
    assert_string_equal(fl.kubeconfig, "/k");
    assert_false(fl.scheduler_enabled);
    assert_int_equal(fl.log_level, DC_LOG_DEBUG);
    assert_true(fl.log_as_json);
    assert_string_equal(fl.tls_cert_file, "/c");
    assert_string_equal(fl.tls_key_file, "/k2");
    assert_string_equal(fl.listen_address, "127.0.0.1");

    assert_int_equal(inj_flags_parse(&fl, 2, bad1, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "unknown flag: --nope");
    assert_int_equal(inj_flags_parse(&fl, 3, bad2, &eb), DC_EINVAL);
    assert_int_equal(inj_flags_parse(&fl, 2, bad3, &eb), DC_EINVAL);
    assert_int_equal(inj_flags_parse(&fl, 2, bad4, &eb), DC_EINVAL);
    assert_int_equal(inj_flags_parse(&fl, 2, bad5, &eb), DC_EINVAL);
    assert_int_equal(inj_flags_parse(&fl, 3, bad6, &eb), DC_EINVAL);
}

static void test_start_needs_certs(void **state)
{
    struct fx *f = *state;
    struct dc_errbuf eb = {0};

    assert_int_equal(inj_service_start(f->s, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "--tls-cert-file"));
    assert_non_null(strstr(eb.msg, "DAPR_TRUST_ANCHORS_FILE"));
}

/* Files when both are given (whatever the environment says), sentry when neither is and the
 * anchors file is known; the rest is refused with the reason. */
static void test_cert_source(void **state)
{
    struct inj_config cfg = {0};
    struct inj_flags fl = {0};
    struct dc_errbuf eb = {0};
    enum inj_cert_source src = INJ_CERT_FILES;
    char anchors[] = "/var/run/secrets/dapr.io/tls/ca.crt";

    (void)state;
    assert_int_equal(inj_cert_source_select(&fl, &cfg, &src, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "DAPR_TRUST_ANCHORS_FILE"));
    cfg.trust_anchors_file = anchors;
    assert_int_equal(inj_cert_source_select(&fl, &cfg, &src, &eb), DC_OK);
    assert_int_equal(src, INJ_CERT_SENTRY);
    fl.tls_cert_file = "tls.crt";
    fl.tls_key_file = "tls.key";
    assert_int_equal(inj_cert_source_select(&fl, &cfg, &src, &eb), DC_OK);
    assert_int_equal(src, INJ_CERT_FILES);
    cfg.trust_anchors_file = NULL;
    assert_int_equal(inj_cert_source_select(&fl, &cfg, &src, &eb), DC_OK);
    assert_int_equal(src, INJ_CERT_FILES);
    fl.tls_key_file = "";
    assert_int_equal(inj_cert_source_select(&fl, &cfg, &src, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "go together"));
    fl.tls_key_file = "tls.key";
    fl.tls_cert_file = NULL;
    cfg.trust_anchors_file = anchors;
    assert_int_equal(inj_cert_source_select(&fl, &cfg, &src, &eb), DC_EINVAL);
}

/* The caBundle patch: a name test then an add of base64(anchors); nothing when equal. */
static void test_cabundle_patch(void **state)
{
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    /* base64 of `pem` (python3 -c 'import base64; print(base64.b64encode(...))'). */
    static const char b64[] = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElG"
                              "SUNBVEUtLS0tLQo=";
    struct dc_errbuf eb = {0};
    cJSON *mwc, *p;
    char *out = NULL;

    (void)state;
    mwc = cJSON_Parse("{\"webhooks\":[{\"name\":\"sidecar-injector.dapr.io\","
                      "\"clientConfig\":{\"service\":{\"name\":\"dapr-sidecar-injector\"}}}]}");
    assert_non_null(mwc);
    assert_int_equal(inj_cabundle_patch(mwc, pem, &out, &eb), DC_OK);
    assert_non_null(out);
    assert_string_equal(out, "[{\"op\":\"test\",\"path\":\"/webhooks/0/name\",\"value\":"
                             "\"sidecar-injector.dapr.io\"},{\"op\":\"add\",\"path\":"
                             "\"/webhooks/0/clientConfig/caBundle\",\"value\":\"LS0tLS1CRUdJ"
                             "TiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
                             "\"}]");
    free(out);
    out = NULL;
    /* Already there: no patch. Another value: patched. */
    p = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(mwc, "webhooks"), 0),
                            "clientConfig");
    cJSON_AddStringToObject(p, "caBundle", b64);
    assert_int_equal(inj_cabundle_patch(mwc, pem, &out, &eb), DC_OK);
    assert_null(out);
    cJSON_ReplaceItemInObject(p, "caBundle", cJSON_CreateString("b2xk"));
    assert_int_equal(inj_cabundle_patch(mwc, pem, &out, &eb), DC_OK);
    assert_non_null(out);
    assert_non_null(strstr(out, b64));
    free(out);
    out = NULL;
    assert_int_equal(inj_cabundle_patch(mwc, "", &out, &eb), DC_EINVAL);
    cJSON_Delete(mwc);
    /* No webhook, or one without a name: refused, no patch. */
    mwc = cJSON_Parse("{\"webhooks\":[]}");
    assert_int_equal(inj_cabundle_patch(mwc, pem, &out, &eb), DC_EINVAL);
    assert_null(out);
    cJSON_Delete(mwc);
    mwc = cJSON_Parse("{\"webhooks\":[{\"clientConfig\":{}}]}");
    assert_int_equal(inj_cabundle_patch(mwc, pem, &out, &eb), DC_EINVAL);
    cJSON_Delete(mwc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mutate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtls_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_and_metrics, setup, teardown),
        cmocka_unit_test(test_flags),
        cmocka_unit_test_setup_teardown(test_start_needs_certs, setup, teardown),
        cmocka_unit_test(test_cert_source),
        cmocka_unit_test(test_cabundle_patch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
