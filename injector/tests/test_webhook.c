/* AdmissionReview handling: envelope checks, skip rules, authorization, limits, and the
 * base64 patch in the response. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "dc/buf.h"
#include "inj_test_util.h"

static struct inj_config cfg;

static int setup(void **state)
{
    (void)state;
    test_config(&cfg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    inj_config_cleanup(&cfg);
    return 0;
}

#define CONTROLLER                                                                                 \
    "\"userInfo\":{\"username\":\"system:serviceaccount:kube-system:replicaset-controller\"}"
#define ENABLED_POD                                                                                \
    "{\"metadata\":{\"name\":\"p\",\"annotations\":{\"dapr.io/enabled\":\"true\","                 \
    "\"dapr.io/app-id\":\"myapp\"}},\"spec\":{\"containers\":[{\"name\":\"app\"}]}}"

/* An AdmissionReview for `object` sent by `user_info_member` (a JSON member or ""). */
static char *review(const char *api, const char *kind, const char *user, const char *object)
{
    struct dc_buf b = {0};

    assert_int_equal(dc_buf_appendf(&b,
                                    "{\"apiVersion\":\"%s\",\"kind\":\"AdmissionReview\","
                                    "\"request\":{\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\","
                                    "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"%s\"},"
                                    "\"namespace\":\"shop\",\"operation\":\"CREATE\",%s%s"
                                    "\"object\":%s}}",
                                    api, kind, user, user[0] != '\0' ? "," : "", object),
                     DC_OK);
    return dc_buf_take(&b, NULL);
}

/* Run the handler; returns the parsed response (caller deletes). */
static cJSON *handle(const char *body, size_t len, struct inj_outcome *out)
{
    char *resp = NULL;
    size_t rlen = 0;
    cJSON *j;

    assert_int_equal(inj_admission_handle(body, len, &cfg, true, &resp, &rlen, out), DC_OK);
    assert_non_null(resp);
    assert_int_equal(strlen(resp), rlen);
    j = cJSON_Parse(resp);
    assert_non_null(j);
    free(resp);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind")), "AdmissionReview");
    return j;
}

/* True when the compact text of `j` contains `needle`. */
static bool json_contains(const cJSON *j, const char *needle)
{
    char *t = cJSON_PrintUnformatted(j);
    bool hit = t != NULL && strstr(t, needle) != NULL;

    free(t);
    return hit;
}

static cJSON *resp_of(cJSON *j)
{
    cJSON *r = cJSON_GetObjectItem(j, "response");

    assert_non_null(r);
    return r;
}

static bool allowed(cJSON *j)
{
    return cJSON_IsTrue(cJSON_GetObjectItem(resp_of(j), "allowed"));
}

static const char *message(cJSON *j)
{
    return cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(resp_of(j), "result"), "message"));
}

/* The decoded patch of a response, or NULL when it has none. */
static cJSON *decoded_patch(cJSON *j)
{
    const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItem(resp_of(j), "patch"));
    unsigned char *raw;
    size_t n;
    int len;
    cJSON *p;

    if (b64 == NULL)
        return NULL;
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(resp_of(j), "patchType")),
                        "JSONPatch");
    n = strlen(b64);
    raw = calloc(1, n + 1);
    len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    assert_true(len > 0);
    p = cJSON_Parse((const char *)raw);
    assert_non_null(p);
    assert_true(cJSON_IsArray(p));
    free(raw);
    return p;
}

static void test_patched(void **state)
{
    char *body = review("admission.k8s.io/v1", "Pod", CONTROLLER, ENABLED_POD);
    struct inj_outcome out;
    cJSON *j, *patch, *pod;
    (void)state;

    j = handle(body, strlen(body), &out);
    assert_int_equal(out.kind, INJ_OUTCOME_PATCHED);
    assert_int_equal(out.http_status, 200);
    assert_string_equal(out.app_id, "myapp");
    assert_true(allowed(j));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "apiVersion")),
                        "admission.k8s.io/v1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(resp_of(j), "uid")),
                        "705ab4f5-6393-11e8-b7cc-42010a800002");
    patch = decoded_patch(j);
    assert_non_null(patch);
    pod = cJSON_Parse(ENABLED_POD);
    assert_int_equal(patch_apply(pod, patch), 0);
    assert_non_null(find_daprd(pod));
    /* The request namespace reaches daprd's NAMESPACE, and mTLS its flag. */
    assert_true(json_contains(find_daprd(pod), "\"value\":\"shop\""));
    assert_true(json_contains(find_daprd(pod), "\"--enable-mtls\""));
    cJSON_Delete(pod);
    cJSON_Delete(patch);
    cJSON_Delete(j);
    free(body);
}

static void test_v1beta1_echoed(void **state)
{
    char *body = review("admission.k8s.io/v1beta1", "Pod", CONTROLLER, ENABLED_POD);
    cJSON *j;
    (void)state;

    j = handle(body, strlen(body), NULL);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "apiVersion")),
                        "admission.k8s.io/v1beta1");
    cJSON_Delete(j);
    free(body);
}

static void test_skips(void **state)
{
    static const char *const pods[] = {
        "{\"metadata\":{\"annotations\":{\"dapr.io/enabled\":\"false\"}}}",
        /* "yes" is truthy for the patcher, but the handler wants "true". */
        "{\"metadata\":{\"annotations\":{\"dapr.io/enabled\":\"yes\"}}}",
        "{\"metadata\":{}}",
        ("{\"metadata\":{\"annotations\":{\"dapr.io/enabled\":\"TRUE\",\"dapr.io/app-id\":\"a\"}},"
         "\"spec\":{\"containers\":[{\"name\":\"daprd\"}]}}"),
    };
    struct inj_outcome out;
    char *body;
    cJSON *j;
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
        body = review("admission.k8s.io/v1", "Pod", CONTROLLER, pods[i]);
        j = handle(body, strlen(body), &out);
        assert_int_equal(out.kind, INJ_OUTCOME_UNCHANGED);
        assert_true(allowed(j));
        assert_null(cJSON_GetObjectItem(resp_of(j), "patch"));
        assert_null(cJSON_GetObjectItem(resp_of(j), "patchType"));
        cJSON_Delete(j);
        free(body);
    }
    /* Not a Pod. */
    body = review("admission.k8s.io/v1", "Deployment", CONTROLLER, ENABLED_POD);
    j = handle(body, strlen(body), &out);
    assert_int_equal(out.kind, INJ_OUTCOME_UNCHANGED);
    assert_true(allowed(j));
    assert_null(cJSON_GetObjectItem(resp_of(j), "patch"));
    cJSON_Delete(j);
    free(body);
}

static void test_authorization(void **state)
{
    static const struct {
        const char *user;
        bool ok;
    } cases[] = {
        {CONTROLLER, true},
        {"\"userInfo\":{\"username\":\"system:serviceaccount:kube-system:job-controller\"}", true},
        {"\"userInfo\":{\"username\":\"system:serviceaccount:argo:argo-server\"}", true},
        {"\"userInfo\":{\"username\":\"system:serviceaccount:argo:other\"}", false},
        {"\"userInfo\":{\"username\":\"system:serviceaccount:ci:builder\"}", true},
        {"\"userInfo\":{\"username\":\"system:serviceaccount:ci:builder2\"}", false},
        {"\"userInfo\":{\"username\":\"alice\",\"groups\":[\"system:masters\"]}", true},
        {"\"userInfo\":{\"username\":\"alice\",\"groups\":[\"devs\"]}", false},
        {"\"userInfo\":{\"username\":\"kube-system:replicaset-controller\"}", false},
        {"", false},
    };
    struct inj_outcome out;
    char *body;
    cJSON *j;
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        body = review("admission.k8s.io/v1", "Pod", cases[i].user, ENABLED_POD);
        j = handle(body, strlen(body), &out);
        /* Unauthorized requesters are still allowed: just not injected. */
        assert_true(allowed(j));
        if (cases[i].ok) {
            assert_int_equal(out.kind, INJ_OUTCOME_PATCHED);
        } else {
            assert_int_equal(out.kind, INJ_OUTCOME_UNAUTHORIZED);
            assert_null(cJSON_GetObjectItem(resp_of(j), "patch"));
        }
        cJSON_Delete(j);
        free(body);
    }
}

static void test_uid_authorization(void **state)
{
    cJSON *ui = cJSON_Parse("{\"username\":\"x\",\"uid\":\"1234-abcd\"}");
    (void)state;

    assert_false(inj_requester_authorized(ui, &cfg));
    cfg.allowed_uids.v = malloc(sizeof(char *));
    cfg.allowed_uids.v[0] = strdup("1234-abcd");
    cfg.allowed_uids.n = 1;
    assert_true(inj_requester_authorized(ui, &cfg));
    cJSON_Delete(ui);
}

static void test_invalid_app_id_rejected(void **state)
{
    char *body = review("admission.k8s.io/v1", "Pod", CONTROLLER,
                        "{\"metadata\":{\"annotations\":{\"dapr.io/enabled\":\"true\","
                        "\"dapr.io/app-id\":\"My_App; rm -rf /\"}}}");
    struct inj_outcome out;
    cJSON *j;
    (void)state;

    j = handle(body, strlen(body), &out);
    assert_int_equal(out.kind, INJ_OUTCOME_REJECTED);
    assert_false(allowed(j));
    assert_non_null(strstr(message(j), "invalid app id"));
    assert_null(cJSON_GetObjectItem(resp_of(j), "patch"));
    cJSON_Delete(j);
    free(body);
}

static void test_malformed(void **state)
{
    static const char *const bodies[] = {
        "not json",
        "[]",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
        "{\"apiVersion\":\"admission.k8s.io/v2\",\"kind\":\"AdmissionReview\",\"request\":{}}",
        "{\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Pod\",\"request\":{\"uid\":\"u\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"request\":{\"uid\":\"\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"request\":{\"uid\":42}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},\"object\":\"pod\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"request\":{\"uid\":\"u\"}} trailing",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid",
        "\xff\xfe{}",
    };
    struct inj_outcome out;
    cJSON *j;
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        j = handle(bodies[i], strlen(bodies[i]), &out);
        assert_int_equal(out.kind, INJ_OUTCOME_MALFORMED);
        assert_false(allowed(j));
        assert_non_null(message(j));
        assert_true(strlen(message(j)) > 0);
        assert_non_null(cJSON_GetObjectItem(resp_of(j), "uid"));
        cJSON_Delete(j);
    }
    /* The uid is echoed once known. */
    j = handle(bodies[9], strlen(bodies[9]), &out);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(resp_of(j), "uid")), "u");
    cJSON_Delete(j);
}

static void test_empty_body(void **state)
{
    struct inj_outcome out;
    cJSON *j;
    (void)state;

    j = handle("", 0, &out);
    assert_int_equal(out.http_status, 400);
    assert_false(allowed(j));
    cJSON_Delete(j);
    j = handle(NULL, 0, &out);
    assert_int_equal(out.http_status, 400);
    cJSON_Delete(j);
}

/* A 10 MB pod (a huge annotation) is refused before parsing. */
static void test_too_big(void **state)
{
    size_t n = 10u * 1000 * 1000, i;
    const char *head = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                       "\"request\":{\"uid\":\"u\",\"object\":{\"metadata\":{\"annotations\":"
                       "{\"big\":\"";
    char *body = malloc(n + 64);
    struct inj_outcome out;
    cJSON *j;
    (void)state;

    memcpy(body, head, strlen(head));
    for (i = strlen(head); i < n; i++)
        body[i] = 'x';
    memcpy(body + n, "\"}}}}}", 7);
    j = handle(body, strlen(body), &out);
    assert_int_equal(out.kind, INJ_OUTCOME_MALFORMED);
    assert_int_equal(out.http_status, 413);
    assert_false(allowed(j));
    assert_non_null(strstr(message(j), "exceeds the limit"));
    cJSON_Delete(j);
    free(body);
}

static void test_deep_nesting(void **state)
{
    char body[4096];
    size_t i, n = 0;
    struct inj_outcome out;
    cJSON *j;
    (void)state;

    for (i = 0; i < 1000; i++)
        body[n++] = '[';
    for (i = 0; i < 1000; i++)
        body[n++] = ']';
    body[n] = '\0';
    j = handle(body, n, &out);
    assert_int_equal(out.kind, INJ_OUTCOME_MALFORMED);
    assert_non_null(strstr(message(j), "nests deeper"));
    cJSON_Delete(j);
}

/* 500 app containers: each gets its env, and the patch applies. */
static void test_500_containers(void **state)
{
    struct dc_buf pod = {0};
    struct inj_outcome out;
    char *body;
    cJSON *j, *patch, *p, *ctrs, *c;
    int i, n = 0;
    (void)state;

    assert_int_equal(dc_buf_appends(&pod,
                                    "{\"metadata\":{\"name\":\"big\",\"labels\":{\"a\":\"b\"},"
                                    "\"annotations\":{\"dapr.io/enabled\":\"true\","
                                    "\"dapr.io/app-id\":\"big\"}},\"spec\":{\"containers\":["),
                     DC_OK);
    for (i = 0; i < 500; i++)
        assert_int_equal(dc_buf_appendf(&pod, "%s{\"name\":\"c%d\",\"image\":\"busybox\"%s}",
                                        i > 0 ? "," : "", i,
                                        i % 2 ? ",\"env\":[{\"name\":\"X\",\"value\":\"1\"}]" : ""),
                         DC_OK);
    assert_int_equal(dc_buf_appends(&pod, "]}}"), DC_OK);
    body = review("admission.k8s.io/v1", "Pod", CONTROLLER, dc_buf_cstr(&pod));
    j = handle(body, strlen(body), &out);
    assert_int_equal(out.kind, INJ_OUTCOME_PATCHED);
    patch = decoded_patch(j);
    p = cJSON_Parse(dc_buf_cstr(&pod));
    assert_int_equal(patch_apply(p, patch), 0);
    ctrs = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "spec"), "containers");
    assert_int_equal(cJSON_GetArraySize(ctrs), 501);
    cJSON_ArrayForEach(c, ctrs)
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")), "daprd") == 0)
            continue;
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, "env")), n % 2 ? 4 : 3);
        n++;
    }
    assert_int_equal(n, 500);
    cJSON_Delete(p);
    cJSON_Delete(patch);
    cJSON_Delete(j);
    free(body);
    dc_buf_cleanup(&pod);
}

/* Shell metacharacters and newlines: valid JSON out, each value one argv element. */
static void test_shell_metacharacters(void **state)
{
    const char *pod = "{\"metadata\":{\"name\":\"p\",\"annotations\":{\"dapr.io/enabled\":\"true\","
                      "\"dapr.io/app-id\":\"myapp\",\"dapr.io/config\":\"a; rm -rf / $(id)\\n`x`\","
                      "\"dapr.io/log-level\":\"info\\n--enable-profiling\"}},"
                      "\"spec\":{\"containers\":[{\"name\":\"app\"}]}}";
    char *body = review("admission.k8s.io/v1", "Pod", CONTROLLER, pod);
    struct inj_outcome out;
    cJSON *j, *patch, *p, *args, *a;
    bool seen = false;
    (void)state;

    j = handle(body, strlen(body), &out);
    assert_int_equal(out.kind, INJ_OUTCOME_PATCHED);
    /* The bad log level is reported as a warning, not passed on. */
    assert_true(json_contains(cJSON_GetObjectItem(resp_of(j), "warnings"), "log-level"));
    patch = decoded_patch(j);
    p = cJSON_Parse(pod);
    assert_int_equal(patch_apply(p, patch), 0);
    args = cJSON_GetObjectItem(find_daprd(p), "args");
    cJSON_ArrayForEach(a, args)
    {
        assert_null(strstr(a->valuestring, "--enable-profiling"));
        if (strcmp(a->valuestring, "a; rm -rf / $(id)\n`x`") == 0)
            seen = true;
    }
    assert_true(seen);
    cJSON_Delete(p);
    cJSON_Delete(patch);
    cJSON_Delete(j);
    free(body);
}

static void test_content_type(void **state)
{
    (void)state;
    assert_true(inj_content_type_ok("application/json"));
    assert_true(inj_content_type_ok("application/json; charset=utf-8"));
    assert_true(inj_content_type_ok("Application/JSON"));
    assert_false(inj_content_type_ok("application/jsonx"));
    assert_false(inj_content_type_ok("text/plain"));
    assert_false(inj_content_type_ok(NULL));
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(inj_glob_match("kube-system:job-controller", "kube-system:job-controller"));
    assert_true(inj_glob_match("ns*:sa-*", "ns1:sa-x"));
    assert_true(inj_glob_match("*:*", "a:b"));
    assert_true(inj_glob_match("a?c", "abc"));
    assert_true(inj_glob_match("[a-c]x", "bx"));
    assert_true(inj_glob_match("[^a-c]x", "dx"));
    assert_false(inj_glob_match("[^a-c]x", "ax"));
    assert_true(inj_glob_match("a\\*", "a*"));
    assert_false(inj_glob_match("a\\*", "ab"));
    assert_false(inj_glob_match("a*", "a/b"));
    assert_false(inj_glob_match("a?b", "a/b"));
    assert_false(inj_glob_match("[a-", "a"));
    assert_false(inj_glob_match("abc", "abcd"));
    assert_true(inj_glob_match("*", ""));
    assert_true(inj_glob_match("a*b*c", "axxbyyc"));
    assert_false(inj_glob_match("a*b*c", "axxbyy"));
}

/* The warnings list is bounded and says how many were dropped. */
static void test_many_warnings(void **state)
{
    struct dc_buf pod = {0};
    char *body;
    cJSON *j, *w;
    int i;
    (void)state;

    assert_int_equal(dc_buf_appends(&pod, "{\"metadata\":{\"annotations\":{\"dapr.io/enabled\":"
                                          "\"true\",\"dapr.io/app-id\":\"a\",\"dapr.io/env\":\""),
                     DC_OK);
    for (i = 0; i < 100; i++)
        assert_int_equal(dc_buf_appendf(&pod, "%sA%d==x", i > 0 ? "," : "", i), DC_OK);
    assert_int_equal(dc_buf_appends(&pod, "\"}}}"), DC_OK);
    body = review("admission.k8s.io/v1", "Pod", CONTROLLER, dc_buf_cstr(&pod));
    j = handle(body, strlen(body), NULL);
    w = cJSON_GetObjectItem(resp_of(j), "warnings");
    assert_int_equal(cJSON_GetArraySize(w), DC_MAX_INJ_WARNINGS_SLOTS + 1);
    assert_non_null(strstr(cJSON_GetArrayItem(w, DC_MAX_INJ_WARNINGS_SLOTS)->valuestring,
                           "more warnings omitted"));
    cJSON_Delete(j);
    free(body);
    dc_buf_cleanup(&pod);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patched),
        cmocka_unit_test(test_v1beta1_echoed),
        cmocka_unit_test(test_skips),
        cmocka_unit_test(test_authorization),
        cmocka_unit_test(test_uid_authorization),
        cmocka_unit_test(test_invalid_app_id_rejected),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_500_containers),
        cmocka_unit_test(test_shell_metacharacters),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_many_warnings),
    };

    return cmocka_run_group_tests_name("injector webhook", tests, setup, teardown);
}
