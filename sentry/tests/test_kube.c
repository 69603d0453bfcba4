/* sentry's Kubernetes adapter (kube.c): the pure helpers, and the trust bundle and validator
 * lookups against a fake API server on loopback (canned objects, requests recorded). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "dc/http_server.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "snt_test_util.h"

#include "../kube.h"

static const char *const keys[3] = {"ca.crt", "issuer.crt", "issuer.key"};

#define SECRET_PATH "/api/v1/namespaces/ns1/secrets/dapr-trust-bundle"
#define CM_PATH "/api/v1/namespaces/ns1/configmaps/dapr-trust-bundle"
#define REVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"

/* ---- fake API server ---------------------------------------------------------------------- */

#define MAX_OBJS 8
#define MAX_LOG 16

struct fake {
    pthread_mutex_t mu;
    struct {
        char path[160];
        char *body;
    } objs[MAX_OBJS];
    int review_status;      /* HTTP status of a TokenReview */
    char *review;           /* its body */
    char log[MAX_LOG][200]; /* "METHOD path" */
    char *last_body;        /* of the last POST/PUT */
    int n_log;
    struct dc_http_router *router;
    struct dc_http_server *srv;
    struct dc_k8s_client *client;
};

static char **obj_slot(struct fake *f, const char *path, bool create)
{
    int i;

    for (i = 0; i < MAX_OBJS; i++)
        if (f->objs[i].body != NULL && strcmp(f->objs[i].path, path) == 0)
            return &f->objs[i].body;
    if (!create)
        return NULL;
    for (i = 0; i < MAX_OBJS; i++)
        if (f->objs[i].body == NULL) {
            dc_strlcpy(f->objs[i].path, path, sizeof(f->objs[i].path));
            return &f->objs[i].body;
        }
    return NULL;
}

static void fake_put(struct fake *f, const char *path, const char *body)
{
    char **slot = obj_slot(f, path, true);

    assert_non_null(slot);
    free(*slot);
    *slot = dc_xstrdup(body);
}

static void reply(struct dc_http_response *resp, int status, const char *body)
{
    resp->status = status;
    assert_int_equal(dc_http_response_body(resp, body, strlen(body), "application/json"), DC_OK);
}

static void on_request(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct fake *f = ud;
    char path[200], **slot;
    const cJSON *name;
    cJSON *obj;

    pthread_mutex_lock(&f->mu);
    if (f->n_log < MAX_LOG)
        snprintf(f->log[f->n_log++], sizeof(f->log[0]), "%s %s", req->method, req->path);
    if (strcmp(req->method, "GET") != 0) {
        free(f->last_body);
        f->last_body = dc_xstrdup(req->body);
    }
    if (strcmp(req->path, REVIEW_PATH) == 0) {
        reply(resp, f->review_status, f->review);
    } else if (strcmp(req->method, "GET") == 0) {
        slot = obj_slot(f, req->path, false);
        if (slot != NULL)
            reply(resp, 200, *slot);
        else
            reply(resp, 404,
                  "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\","
                  "\"message\":\"not found\",\"code\":404}");
    } else if (strcmp(req->method, "POST") == 0) {
        obj = cJSON_Parse(req->body);
        name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
                                                "name");
        snprintf(path, sizeof(path), "%s/%s", req->path,
                 cJSON_IsString(name) ? name->valuestring : "?");
        cJSON_Delete(obj);
        fake_put(f, path, req->body);
        reply(resp, 201, req->body);
    } else { /* PUT */
        fake_put(f, req->path, req->body);
        reply(resp, 200, req->body);
    }
    pthread_mutex_unlock(&f->mu);
}

static int setup(void **state)
{
    struct fake *f = dc_xcalloc(1, sizeof(*f));
    struct dc_http_server_opts o = {.address = "127.0.0.1", .threads = 1};
    struct dc_k8s_config kc = {0};
    struct dc_errbuf eb = {0};
    char url[64];

    pthread_mutex_init(&f->mu, NULL);
    f->review_status = 201;
    f->review = dc_xstrdup("{}");
    f->router = dc_http_router_new();
    dc_http_router_set_fallback(f->router, on_request, f);
    assert_int_equal(dc_http_server_start(&f->srv, &o, f->router, &eb), DC_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)dc_http_server_port(f->srv));
    kc.server = url;
    assert_int_equal(dc_k8s_client_new(&f->client, &kc, &eb), DC_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fake *f = *state;
    int i;

    dc_k8s_client_free(f->client);
    dc_http_server_free(f->srv);
    dc_http_router_free(f->router);
    for (i = 0; i < MAX_OBJS; i++)
        free(f->objs[i].body);
    free(f->review);
    free(f->last_body);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

/* base64 of a C string (tests only). */
static void b64(const char *in, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)strlen(in));
}

static void put_secret(struct fake *f, const char *ca, const char *cert, const char *key)
{
    char body[1024], a[128], b[128], c[128];

    b64(ca, a);
    b64(cert, b);
    b64(key, c);
    snprintf(body, sizeof(body),
             "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"dapr-trust-bundle\","
             "\"namespace\":\"ns1\",\"resourceVersion\":\"7\"},"
             "\"data\":{\"ca.crt\":\"%s\",\"issuer.crt\":\"%s\",\"issuer.key\":\"%s\"}}",
             a, b, c);
    fake_put(f, SECRET_PATH, body);
}

static void put_cm(struct fake *f, const char *ca)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"dapr-trust-bundle\","
             "\"namespace\":\"ns1\"},\"data\":{\"ca.crt\":\"%s\"}}",
             ca);
    fake_put(f, CM_PATH, body);
}

/* ---- pure helpers ------------------------------------------------------------------------- */

static void test_set_data_keeps_other_keys(void **state)
{
    cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"labels\":{\"app\":\"dapr-sentry\"}},"
                           "\"data\":{\"jwt.key\":\"a2V5\",\"ca.crt\":\"b2xk\"}}");
    const cJSON *d;
    (void)state;

    snt__kube_bundle_set_data(o, keys, "CA", "CERT", "KEY");
    d = cJSON_GetObjectItemCaseSensitive(o, "data");
    assert_int_equal(cJSON_GetArraySize(d), 4);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "jwt.key")), "a2V5");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "ca.crt")), "Q0E=");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "issuer.crt")), "Q0VSVA==");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "issuer.key")), "S0VZ");
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "labels"));
    cJSON_Delete(o);
}

static void test_set_data_configmap(void **state)
{
    cJSON *o = cJSON_Parse("{\"data\":null}");
    const cJSON *d;
    (void)state;

    /* null data (a Go client's empty map), ConfigMap: the PEM as text, one key. */
    snt__kube_bundle_set_data(o, keys, "-----BEGIN", NULL, NULL);
    d = cJSON_GetObjectItemCaseSensitive(o, "data");
    assert_true(cJSON_IsObject(d));
    assert_int_equal(cJSON_GetArraySize(d), 1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "ca.crt")), "-----BEGIN");
    cJSON_Delete(o);
    o = cJSON_Parse("{\"metadata\":{}}");
    snt__kube_bundle_set_data(o, keys, "x", NULL, NULL);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "ca.crt")), "x");
    cJSON_Delete(o);
}

static void test_sa_namespace(void **state)
{
    char ns[16];
    (void)state;

    assert_true(snt__kube_sa_namespace("system:serviceaccount:app:sa", ns, sizeof(ns)));
    assert_string_equal(ns, "app");
    /* Split as upstream does: the second part is not checked. */
    assert_true(snt__kube_sa_namespace("system:other:n2:sa", ns, sizeof(ns)));
    assert_string_equal(ns, "n2");
    assert_false(snt__kube_sa_namespace("system:serviceaccount:app", ns, sizeof(ns)));
    assert_false(snt__kube_sa_namespace("system:serviceaccount:app:sa:x", ns, sizeof(ns)));
    assert_false(snt__kube_sa_namespace("user:serviceaccount:app:sa", ns, sizeof(ns)));
    assert_false(snt__kube_sa_namespace("system:serviceaccount::sa", ns, sizeof(ns)));
    assert_false(snt__kube_sa_namespace("system:sa:a-namespace-too-long:sa", ns, sizeof(ns)));
    assert_false(snt__kube_sa_namespace(NULL, ns, sizeof(ns)));
}

static void test_status_message(void **state)
{
    char m[64];
    (void)state;

    snt__kube_status_message(
        "BadRequest: token is required for TokenReview in authentication (HTTP 400)", m, sizeof(m));
    assert_string_equal(m, "token is required for TokenReview in authentication");
    snt__kube_status_message("Forbidden: a: b (HTTP 1) (HTTP 403)", m, sizeof(m));
    assert_string_equal(m, "a: b (HTTP 1)");
    /* Not the Status form: as it is. */
    snt__kube_status_message("connection refused", m, sizeof(m));
    assert_string_equal(m, "connection refused");
    snt__kube_status_message("HTTP 500: oops", m, sizeof(m));
    assert_string_equal(m, "HTTP 500: oops");
    snt__kube_status_message("Reason: long message that does not fit the buffer at all no (HTTP "
                             "400)",
                             m, 8);
    assert_string_equal(m, "long me");
}

/* ---- trust bundle ------------------------------------------------------------------------- */

static void test_bundle_read(void **state)
{
    struct fake *f = *state;
    struct snt__kube_bundle b;
    struct dc_errbuf eb = {0};

    /* Neither object: absent. */
    assert_int_equal(snt__kube_bundle_read(f->client, "ns1", keys, &b, &eb), DC_OK);
    assert_false(b.present);
    snt__kube_bundle_cleanup(&b);

    /* Complete Secret, no ConfigMap: absent (upstream generates). */
    put_secret(f, "CA", "CERT", "KEY");
    assert_int_equal(snt__kube_bundle_read(f->client, "ns1", keys, &b, &eb), DC_OK);
    assert_false(b.present);
    snt__kube_bundle_cleanup(&b);

    /* ConfigMap with another ca.crt: absent. */
    put_cm(f, "OTHER");
    assert_int_equal(snt__kube_bundle_read(f->client, "ns1", keys, &b, &eb), DC_OK);
    assert_false(b.present);
    snt__kube_bundle_cleanup(&b);

    /* Same ca.crt: present, decoded. */
    put_cm(f, "CA");
    assert_int_equal(snt__kube_bundle_read(f->client, "ns1", keys, &b, &eb), DC_OK);
    assert_true(b.present);
    assert_string_equal(b.ca, "CA");
    assert_string_equal(b.cert, "CERT");
    assert_string_equal(b.key, "KEY");
    snt__kube_bundle_cleanup(&b);

    /* An empty key (Helm's empty Secret): absent. */
    put_secret(f, "CA", "CERT", "");
    assert_int_equal(snt__kube_bundle_read(f->client, "ns1", keys, &b, &eb), DC_OK);
    assert_false(b.present);
    snt__kube_bundle_cleanup(&b);

    /* Bad base64: an error, nothing kept. */
    fake_put(f, SECRET_PATH, "{\"data\":{\"ca.crt\":\"!!!\"}}");
    assert_int_equal(snt__kube_bundle_read(f->client, "ns1", keys, &b, &eb), DC_EPARSE);
    assert_null(b.ca);
    assert_false(b.present);
}

static void test_bundle_write_create_then_update(void **state)
{
    struct fake *f = *state;
    struct snt__kube_bundle b;
    struct dc_errbuf eb = {0};
    char **slot;

    /* Absent: both created (POST). */
    assert_int_equal(snt__kube_bundle_write(f->client, "ns1", keys, "CA", "CERT", "KEY", &eb),
                     DC_OK);
    assert_int_equal(f->n_log, 4);
    assert_string_equal(f->log[1], "POST /api/v1/namespaces/ns1/secrets");
    assert_string_equal(f->log[3], "POST /api/v1/namespaces/ns1/configmaps");
    assert_int_equal(snt__kube_bundle_read(f->client, "ns1", keys, &b, &eb), DC_OK);
    assert_true(b.present);
    snt__kube_bundle_cleanup(&b);

    /* Present with another key and a resourceVersion: updated (PUT) with both kept. */
    fake_put(f, SECRET_PATH,
             "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"dapr-trust-bundle\","
             "\"resourceVersion\":\"42\"},\"data\":{\"jwt.key\":\"and0\"}}");
    f->n_log = 0;
    assert_int_equal(snt__kube_bundle_write(f->client, "ns1", keys, "CA2", "C2", "K2", &eb), DC_OK);
    assert_string_equal(f->log[1], "PUT " SECRET_PATH);
    assert_string_equal(f->log[3], "PUT " CM_PATH);
    slot = obj_slot(f, SECRET_PATH, false);
    assert_non_null(strstr(*slot, "\"jwt.key\":\"and0\""));
    assert_non_null(strstr(*slot, "\"resourceVersion\":\"42\""));
    assert_int_equal(snt__kube_bundle_read(f->client, "ns1", keys, &b, &eb), DC_OK);
    assert_true(b.present);
    assert_string_equal(b.ca, "CA2");
    assert_string_equal(b.key, "K2");
    snt__kube_bundle_cleanup(&b);
}

/* ---- validator lookup --------------------------------------------------------------------- */

static void test_lookup_skips_api_for_bad_requests(void **state)
{
    struct fake *f = *state;
    struct snt_request req = {.id = "a.b", .ns = "ns1", .token = "t", .csr_len = 10};
    struct snt__kube_lookup l;

    snt__kube_lookup(f->client, &req, "spiffe://td/ns/cp/dapr-sentry", &l);
    assert_true(l.facts.ready);
    assert_false(l.facts.review_failed);
    assert_int_equal(f->n_log, 0);
    snt__kube_lookup_cleanup(&l);
    req.id = "a";
    req.ns = "";
    snt__kube_lookup(f->client, &req, "spiffe://td/ns/cp/dapr-sentry", &l);
    assert_int_equal(f->n_log, 0);
    snt__kube_lookup_cleanup(&l);
}

static void test_lookup_empty_token_reviewed(void **state)
{
    struct fake *f = *state;
    struct snt_request req = {.id = "app", .ns = "ns1", .token = "", .csr_len = 10};
    struct snt_k8s_opts o = {"cp", "cluster.local"};
    struct snt_validation res;
    struct snt__kube_lookup l;
    struct dc_errbuf eb = {0};

    /* What a real API server answers for an empty token. */
    free(f->review);
    f->review = dc_xstrdup("{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"BadRequest\","
                           "\"message\":\"token is required for TokenReview in "
                           "authentication\",\"code\":400}");
    f->review_status = 400;
    snt__kube_lookup(f->client, &req, "spiffe://td/ns/cp/dapr-sentry", &l);
    assert_int_equal(f->n_log, 1);
    assert_string_equal(f->log[0], "POST " REVIEW_PATH);
    assert_true(l.facts.review_failed);
    assert_int_equal(snt_validate_kubernetes(&req, &o, &l.facts, &res, &eb), DC_EPERM);
    assert_string_equal(eb.msg,
                        "token review failed: token is required for TokenReview in authentication");
    snt__kube_lookup_cleanup(&l);
}

static void test_lookup_review_request(void **state)
{
    struct fake *f = *state;
    struct snt_request req = {.id = "app", .ns = "ns1", .token = "tok", .csr_len = 10};
    struct snt__kube_lookup l;
    cJSON *sent;
    const cJSON *spec, *aud;

    free(f->review);
    f->review = dc_xstrdup("{\"status\":{\"authenticated\":false,\"error\":\"invalid bearer "
                           "token\"}}");
    snt__kube_lookup(f->client, &req, "spiffe://td/ns/cp/dapr-sentry", &l);
    assert_false(l.facts.review_failed);
    assert_false(l.facts.authenticated);
    assert_string_equal(l.facts.review_error, "invalid bearer token");
    assert_int_equal(f->n_log, 1); /* no pod read after a refused review */
    sent = cJSON_Parse(f->last_body);
    spec = cJSON_GetObjectItem(sent, "spec");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(sent, "kind")), "TokenReview");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "token")), "tok");
    aud = cJSON_GetObjectItem(spec, "audiences");
    assert_int_equal(cJSON_GetArraySize(aud), 2);
    assert_string_equal(cJSON_GetArrayItem(aud, 0)->valuestring, "dapr.io/sentry");
    assert_string_equal(cJSON_GetArrayItem(aud, 1)->valuestring, "spiffe://td/ns/cp/dapr-sentry");
    cJSON_Delete(sent);
    snt__kube_lookup_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_data_keeps_other_keys),
        cmocka_unit_test(test_set_data_configmap),
        cmocka_unit_test(test_sa_namespace),
        cmocka_unit_test(test_status_message),
        cmocka_unit_test_setup_teardown(test_bundle_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_write_create_then_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_skips_api_for_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_empty_token_reviewed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_review_request, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
