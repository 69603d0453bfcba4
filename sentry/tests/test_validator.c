/* Validator selection and decisions: common checks, insecure, kubernetes (from plain facts). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "snt_test_util.h"

/* base64url without padding of a C string (tests only). */
static void b64url(const char *in, char *out, size_t cap)
{
    unsigned char tmp[1024];
    int n = EVP_EncodeBlock(tmp, (const unsigned char *)in, (int)strlen(in));
    size_t i, o = 0;

    for (i = 0; i < (size_t)n && tmp[i] != '=' && o + 1 < cap; i++)
        out[o++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
    out[o] = '\0';
}

static char *make_jwt(const char *payload)
{
    char h[256], p[1024];
    static char tok[1400];

    b64url("{\"alg\":\"RS256\",\"kid\":\"k\"}", h, sizeof(h));
    b64url(payload, p, sizeof(p));
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", h, p);
    return tok;
}

static void test_select(void **state)
{
    enum snt_validator v;
    unsigned en = SNT_VALIDATOR_BIT(SNT_VALIDATOR_INSECURE);
    struct dc_errbuf eb = {0};
    (void)state;

    assert_int_equal(
        snt_validator_select(SNT_VALIDATOR_UNKNOWN, en, SNT_VALIDATOR_INSECURE, &v, &eb), DC_OK);
    assert_int_equal(v, SNT_VALIDATOR_INSECURE);
    assert_int_equal(
        snt_validator_select(SNT_VALIDATOR_UNKNOWN, en, SNT_VALIDATOR_UNKNOWN, &v, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "a validator name must be specified in this environment");
    assert_int_equal(snt_validator_select(SNT_VALIDATOR_JWKS, en, SNT_VALIDATOR_INSECURE, &v, &eb),
                     DC_EINVAL);
    assert_string_equal(eb.msg, "the requested validator is not enabled");
    assert_int_equal(
        snt_validator_select((enum snt_validator)9, 0xffffffffu, SNT_VALIDATOR_INSECURE, &v, &eb),
        DC_EINVAL);
}

static void test_configure(void **state)
{
    static const char *const jwks[] = {"jwks"};
    static const char *const bad[] = {"insecure"};
    enum snt_validator d;
    unsigned en;
    (void)state;

    assert_int_equal(snt_validators_configure(false, NULL, 0, &en, &d, NULL), DC_OK);
    assert_int_equal(en, SNT_VALIDATOR_BIT(SNT_VALIDATOR_INSECURE));
    assert_int_equal(d, SNT_VALIDATOR_INSECURE);
    assert_int_equal(snt_validators_configure(false, jwks, 1, &en, &d, NULL), DC_OK);
    assert_int_equal(en, SNT_VALIDATOR_BIT(SNT_VALIDATOR_JWKS));
    assert_int_equal(d, SNT_VALIDATOR_UNKNOWN);
    assert_int_equal(snt_validators_configure(true, jwks, 1, &en, &d, NULL), DC_OK);
    assert_int_equal(en, SNT_VALIDATOR_BIT(SNT_VALIDATOR_JWKS) |
                             SNT_VALIDATOR_BIT(SNT_VALIDATOR_KUBERNETES));
    assert_int_equal(d, SNT_VALIDATOR_KUBERNETES);
    assert_int_equal(snt_validators_configure(true, bad, 1, &en, &d, NULL), DC_EINVAL);
}

static void test_common_and_insecure(void **state)
{
    struct snt_request r = {.id = "app1", .ns = "default", .csr_len = 10};
    struct snt_validation res;
    struct dc_errbuf eb = {0};
    char long_id[80];
    (void)state;

    assert_int_equal(snt_validate_insecure(&r, &res, &eb), DC_OK);
    assert_string_equal(res.trust_domain, "public");
    r.trust_domain = "cluster.local";
    assert_int_equal(snt_validate_insecure(&r, &res, &eb), DC_OK);
    assert_string_equal(res.trust_domain, "cluster.local");
    r.trust_domain = "Not Valid";
    assert_int_equal(snt_validate_insecure(&r, &res, &eb), DC_EPERM);
    r.trust_domain = NULL;

    r.id = "a.b";
    assert_int_equal(snt_validate_insecure(&r, &res, &eb), DC_EPERM);
    assert_string_equal(eb.msg,
                        "invalid request: invalid app id(input: a.b): can not contain dots");
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    r.id = long_id;
    assert_int_equal(snt_validate_insecure(&r, &res, &eb), DC_EPERM);
    assert_string_equal(eb.msg, "invalid request: app ID must be 64 characters or less");
    long_id[64] = '\0';
    assert_int_equal(snt_validate_insecure(&r, &res, &eb), DC_OK);
    /* All failures joined, one per line. */
    r.id = "";
    r.ns = "";
    r.csr_len = 0;
    assert_int_equal(snt_validate_insecure(&r, &res, &eb), DC_EPERM);
    assert_string_equal(eb.msg, "invalid request: parameter app-id cannot be empty\n"
                                "CSR is required\nnamespace is required");
}

/* A request and facts that pass, changed one field at a time below. */
struct k8s_case {
    struct snt_request req;
    struct snt_k8s_facts f;
    struct snt_k8s_opts o;
};

static const char *const auds[] = {"aud1", "aud2"};

static void k8s_base(struct k8s_case *c)
{
    memset(c, 0, sizeof(*c));
    c->req.id = "myapp";
    c->req.ns = "default";
    c->req.csr_len = 100;
    c->req.trust_domain = "ignored.example";
    c->req.token = make_jwt("{\"aud\":[\"x\"],\"kubernetes.io\":{\"namespace\":\"default\","
                            "\"pod\":{\"name\":\"mypod-abc\",\"uid\":\"1\"}}}");
    c->f.ready = true;
    c->f.authenticated = true;
    c->f.username = "system:serviceaccount:default:mysa";
    c->f.pod_found = true;
    c->f.pod_name = "mypod-abc";
    c->f.pod_ns = "default";
    c->f.pod_service_account = "mysa";
    c->f.ann_app_id = "myapp";
    c->o.control_plane_ns = "dapr-system";
    c->o.control_plane_td = "cluster.local";
}

static int k8s(struct k8s_case *c, struct snt_validation *res, struct dc_errbuf *eb)
{
    memset(eb, 0, sizeof(*eb));
    return snt_validate_kubernetes(&c->req, &c->o, &c->f, res, eb);
}

static void expect_denied(struct k8s_case *c, const char *msg)
{
    struct snt_validation res;
    struct dc_errbuf eb;
    int rv = k8s(c, &res, &eb);

    if (rv != DC_EPERM || strstr(eb.msg, msg) == NULL)
        fail_msg("want EPERM \"%s\", got %d \"%s\"", msg, rv, eb.msg);
}

static void test_k8s_allowed(void **state)
{
    struct k8s_case c;
    struct snt_validation res;
    struct dc_errbuf eb;
    (void)state;

    /* App with dapr.io/app-id, no config: trust domain "public", request's td ignored. */
    k8s_base(&c);
    assert_int_equal(k8s(&c, &res, &eb), DC_OK);
    assert_string_equal(res.trust_domain, "public");
    assert_int_equal(res.n_audiences, 0);

    /* No app-id annotation: the pod name is the id. */
    k8s_base(&c);
    c.f.ann_app_id = NULL;
    c.req.id = "mypod-abc";
    assert_int_equal(k8s(&c, &res, &eb), DC_OK);

    /* A Configuration with accessControl.trustDomain and audiences. */
    k8s_base(&c);
    c.f.ann_config = "appconfig";
    c.f.config_found = true;
    c.f.config_trust_domain = "corp.example";
    c.f.config_audiences = auds;
    c.f.n_config_audiences = 2;
    assert_int_equal(k8s(&c, &res, &eb), DC_OK);
    assert_string_equal(res.trust_domain, "corp.example");
    assert_int_equal(res.n_audiences, 2);
    /* ... without a trust domain: "public". */
    c.f.config_trust_domain = "";
    assert_int_equal(k8s(&c, &res, &eb), DC_OK);
    assert_string_equal(res.trust_domain, "public");

    /* A control-plane pod in Sentry's namespace. */
    k8s_base(&c);
    c.req.ns = c.f.pod_ns = "dapr-system";
    c.f.username = "system:serviceaccount:dapr-system:dapr-operator";
    c.f.pod_service_account = "dapr-operator";
    c.f.ann_app_id = NULL;
    c.f.ann_control_plane = "operator";
    c.req.id = "dapr-operator";
    assert_int_equal(k8s(&c, &res, &eb), DC_OK);
    assert_string_equal(res.trust_domain, "cluster.local");
}

static void test_k8s_denied(void **state)
{
    struct k8s_case c;
    (void)state;

    k8s_base(&c);
    c.f.ready = false;
    expect_denied(&c, "validator not ready");
    k8s_base(&c);
    c.req.id = "my.app";
    expect_denied(&c, "can not contain dots");
    k8s_base(&c);
    c.f.review_failed = true;
    c.f.review_error = "connection refused";
    expect_denied(&c, "token review failed: connection refused");
    k8s_base(&c);
    c.f.review_error = "token expired";
    expect_denied(&c, "invalid token: token expired");
    k8s_base(&c);
    c.f.authenticated = false;
    expect_denied(&c, "authentication failed");
    k8s_base(&c);
    c.f.username = "system:serviceaccount:default";
    expect_denied(&c, "not a properly structured service account token");
    k8s_base(&c);
    c.f.username = "system:serviceaccount:default:mysa:extra";
    expect_denied(&c, "not a properly structured service account token");
    k8s_base(&c);
    c.f.username = "user:serviceaccount:default:mysa";
    expect_denied(&c, "not a properly structured service account token");
    k8s_base(&c);
    c.req.token = make_jwt("{\"kubernetes.io\":{\"namespace\":\"default\"}}");
    expect_denied(&c, "kubernetes.io/pod/name claim is missing");
    k8s_base(&c);
    c.req.token = "not-a-jwt";
    expect_denied(&c, "failed to parse Kubernetes token");
    k8s_base(&c);
    c.f.pod_found = false;
    expect_denied(&c, "failed to get pod of identity");
    k8s_base(&c);
    c.f.pod_name = "other-pod"; /* facts about a pod that is not the claim's */
    expect_denied(&c, "failed to get pod of identity");
    k8s_base(&c);
    c.req.ns = "other";
    expect_denied(&c, "namespace mismatch; received namespace: other");
    k8s_base(&c);
    c.f.pod_service_account = "default";
    expect_denied(&c, "pod service account mismatch");
    k8s_base(&c);
    c.req.id = "notmyapp";
    expect_denied(&c, "app-id mismatch. expected: myapp, received: notmyapp");
    k8s_base(&c);
    c.f.ann_config = "appconfig";
    c.f.config_found = false;
    expect_denied(&c, "failed to get configuration");
    k8s_base(&c);
    c.f.ann_config = "appconfig";
    c.f.config_found = true;
    c.f.config_trust_domain = "Bad TD";
    expect_denied(&c, "invalid");

    /* Control-plane claims. */
    k8s_base(&c);
    c.f.ann_app_id = NULL;
    c.f.ann_control_plane = "operator";
    c.req.id = "dapr-operator";
    expect_denied(&c, "control plane service in namespace 'default' is not allowed");
    k8s_base(&c);
    c.req.ns = c.f.pod_ns = "dapr-system";
    c.f.username = "system:serviceaccount:dapr-system:mysa";
    c.f.ann_app_id = NULL;
    c.f.ann_control_plane = "evil";
    c.req.id = "dapr-evil";
    expect_denied(&c, "unknown control plane service 'mypod-abc'");
    c.f.ann_control_plane = "sentry";
    c.f.ann_app_id = "x";
    c.req.id = "dapr-sentry";
    expect_denied(&c, "cannot have annotation 'dapr.io/app-id'");
}

static void test_token_pod_name(void **state)
{
    char name[64];
    (void)state;

    assert_int_equal(snt_k8s_token_pod_name(make_jwt("{\"kubernetes.io\":{\"pod\":{\"name\":"
                                                     "\"p1\"}}}"),
                                            name, sizeof(name), NULL),
                     DC_OK);
    assert_string_equal(name, "p1");
    assert_int_equal(snt_k8s_token_pod_name(make_jwt("[1]"), name, sizeof(name), NULL), DC_EPARSE);
    assert_int_equal(snt_k8s_token_pod_name(make_jwt("{\"kubernetes.io\":{\"pod\":{\"name\":1}}}"),
                                            name, sizeof(name), NULL),
                     DC_ENOTFOUND);
    assert_int_equal(snt_k8s_token_pod_name("a.b", name, sizeof(name), NULL), DC_EPARSE);
    assert_int_equal(snt_k8s_token_pod_name("a.!!.c", name, sizeof(name), NULL), DC_EPARSE);
    assert_int_equal(snt_k8s_token_pod_name(NULL, name, sizeof(name), NULL), DC_EPARSE);
    assert_int_equal(snt_k8s_token_pod_name(make_jwt("{\"kubernetes.io\":{\"pod\":{\"name\":"
                                                     "\"a-long-pod-name\"}}}"),
                                            name, 4, NULL),
                     DC_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_configure),
        cmocka_unit_test(test_common_and_insecure),
        cmocka_unit_test(test_k8s_allowed),
        cmocka_unit_test(test_k8s_denied),
        cmocka_unit_test(test_token_pod_name),
    };
    return cmocka_run_group_tests_name("sentry_validator", tests, NULL, NULL);
}
