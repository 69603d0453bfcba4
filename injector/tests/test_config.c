/* Injector configuration from the environment, value checkers, and the config-dependent parts
 * of the daprd args (actors, reminders, scheduler, token volume). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "inj_test_util.h"

/* A tiny environment: NULL-terminated name/value pairs set per test. */
static const char *const *env_pairs;

static const char *env_fn(const char *name)
{
    size_t i;

    for (i = 0; env_pairs[i] != NULL; i += 2)
        if (strcmp(env_pairs[i], name) == 0)
            return env_pairs[i + 1];
    return NULL;
}

static int parse_env(struct inj_config *cfg, const char *const *pairs, struct dc_errbuf *eb)
{
    env_pairs = pairs;
    return inj_config_from_env(cfg, env_fn, eb);
}

static void test_defaults(void **state)
{
    static const char *const e[] = {"SIDECAR_IMAGE", "daprd:1", "NAMESPACE", "dapr-system", NULL};
    struct inj_config c;
    struct dc_errbuf eb = {0};
    (void)state;

    assert_int_equal(parse_env(&c, e, &eb), DC_OK);
    assert_string_equal(c.image_pull_policy, "Always");
    assert_string_equal(c.cluster_domain, "cluster.local");
    assert_string_equal(c.control_plane_trust_domain, "cluster.local");
    assert_string_equal(c.sentry_address, "dapr-sentry.dapr-system.svc.cluster.local:443");
    assert_string_equal(c.control_plane_address, "dapr-api.dapr-system.svc.cluster.local:443");
    assert_true(c.actors_enabled);
    assert_string_equal(c.actors_service_name, "placement");
    assert_string_equal(c.actors_service_address, "dapr-placement-server:50005");
    assert_null(c.reminders_service_name);
    assert_true(c.run_as_non_root);
    assert_true(c.read_only_root_filesystem);
    assert_false(c.has_run_as_user);
    assert_false(c.enable_k8s_downward_apis);
    assert_false(c.drop_all_capabilities);
    assert_false(c.native_sidecar_enabled);
    assert_true(c.scheduler_enabled);
    assert_null(c.ignore_entrypoint_tolerations);
    assert_int_equal(c.allowed_service_accounts.n, 10);
    assert_string_equal(c.components_sockets_folder, "/tmp/dapr-components-sockets");
    inj_config_cleanup(&c);
}

static void test_values(void **state)
{
    static const char *const e[] = {"SIDECAR_IMAGE",
                                    "daprd:1",
                                    "NAMESPACE",
                                    "cp",
                                    "KUBE_CLUSTER_DOMAIN",
                                    "corp.local",
                                    "SIDECAR_IMAGE_PULL_POLICY",
                                    "Sometimes",
                                    "ALLOWED_SERVICE_ACCOUNTS",
                                    " a:b ,, c:d",
                                    "ALLOWED_SERVICE_ACCOUNTS_PREFIX_NAMES",
                                    "team-*:ci-*",
                                    "ACTORS_ENABLED",
                                    "false",
                                    "SIDECAR_RUN_AS_NON_ROOT",
                                    "no",
                                    "SIDECAR_RUN_AS_USER",
                                    "1000",
                                    "SIDECAR_RUN_AS_GROUP",
                                    "3000",
                                    "SIDECAR_READ_ONLY_ROOT_FILESYSTEM",
                                    "0",
                                    "ENABLE_K8S_DOWNWARD_APIS",
                                    "yes",
                                    "NATIVE_SIDECAR_ENABLED",
                                    "TRUE",
                                    "DAPR_SENTRY_ADDRESS",
                                    "sentry:50001",
                                    "DAPR_CONTROL_PLANE_TRUST_DOMAIN",
                                    "example.org",
                                    "REMINDERS_SERVICE_NAME",
                                    "rem",
                                    "REMINDERS_SERVICE_ADDRESS",
                                    "rem-svc:9000",
                                    NULL};
    struct inj_config c;
    struct dc_errbuf eb = {0};
    (void)state;

    assert_int_equal(parse_env(&c, e, &eb), DC_OK);
    assert_string_equal(c.image_pull_policy, "IfNotPresent");
    assert_string_equal(c.sentry_address, "sentry:50001");
    assert_string_equal(c.control_plane_address, "dapr-api.cp.svc.corp.local:443");
    assert_int_equal(c.allowed_service_accounts.n, 13);
    assert_string_equal(c.allowed_service_accounts.v[10], "a:b");
    assert_string_equal(c.allowed_service_accounts.v[11], "c:d");
    assert_string_equal(c.allowed_service_accounts.v[12], "team-*:ci-*");
    assert_false(c.actors_enabled);
    assert_false(c.run_as_non_root);
    assert_true(c.has_run_as_user);
    assert_int_equal(c.run_as_user, 1000);
    assert_int_equal(c.run_as_group, 3000);
    assert_false(c.read_only_root_filesystem);
    assert_true(c.enable_k8s_downward_apis);
    assert_true(c.native_sidecar_enabled);
    assert_string_equal(c.control_plane_trust_domain, "example.org");
    assert_string_equal(c.reminders_service_address, "rem-svc:9000");
    inj_config_cleanup(&c);
}

static void test_errors(void **state)
{
    static const char *const no_image[] = {"NAMESPACE", "ns", NULL};
    static const char *const no_ns[] = {"SIDECAR_IMAGE", "i", NULL};
    static const char *const bad_uid[] = {"SIDECAR_IMAGE",       "i",    "NAMESPACE", "ns",
                                          "SIDECAR_RUN_AS_USER", "root", NULL};
    static const char *const bad_tol[] = {
        "SIDECAR_IMAGE", "i", "NAMESPACE", "ns", "IGNORE_ENTRYPOINT_TOLERATIONS",
        "{\"key\":1}",   NULL};
    static const char *const bad_tol2[] = {
        "SIDECAR_IMAGE", "i", "NAMESPACE", "ns", "IGNORE_ENTRYPOINT_TOLERATIONS", "[1", NULL};
    static const char *const rem[] = {"SIDECAR_IMAGE",          "i", "NAMESPACE", "ns",
                                      "REMINDERS_SERVICE_NAME", "r", NULL};
    const char *const *cases[] = {no_image, no_ns, bad_uid, bad_tol, bad_tol2, rem};
    struct inj_config c;
    struct dc_errbuf eb;
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&eb, 0, sizeof(eb));
        assert_int_equal(parse_env(&c, cases[i], &eb), DC_EINVAL);
        assert_true(strlen(eb.msg) > 0);
        inj_config_cleanup(&c);
    }
}

static void test_resolv(void **state)
{
    char d[64];
    (void)state;

    assert_int_equal(
        inj_cluster_domain_from_resolv("nameserver 10.96.0.10\nsearch default.svc.corp.example "
                                       "svc.corp.example corp.example\noptions ndots:5\n",
                                       d, sizeof(d)),
        DC_OK);
    assert_string_equal(d, "corp.example");
    assert_int_equal(inj_cluster_domain_from_resolv("nameserver 1.1.1.1\n", d, sizeof(d)),
                     DC_ENOTFOUND);
    assert_int_equal(inj_cluster_domain_from_resolv("", d, sizeof(d)), DC_ENOTFOUND);
}

static void test_trust_anchors_file(void **state)
{
    static const char *const e[] = {"SIDECAR_IMAGE", "i", "NAMESPACE", "ns", NULL};
    char path[] = "/tmp/inj_ta_XXXXXX";
    struct inj_config c;
    struct dc_errbuf eb = {0};
    int fd;
    (void)state;

    assert_int_equal(parse_env(&c, e, &eb), DC_OK);
    assert_int_equal(inj_config_load_trust_anchors(&c, &eb), DC_EINVAL);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, TEST_TRUST_ANCHORS, strlen(TEST_TRUST_ANCHORS)),
                     (ssize_t)strlen(TEST_TRUST_ANCHORS));
    close(fd);
    c.trust_anchors_file = strdup(path);
    assert_int_equal(inj_config_load_trust_anchors(&c, &eb), DC_OK);
    assert_string_equal(c.trust_anchors, TEST_TRUST_ANCHORS);
    unlink(path);
    assert_int_equal(inj_config_load_trust_anchors(&c, &eb), DC_EIO);
    assert_string_equal(c.trust_anchors, TEST_TRUST_ANCHORS);
    inj_config_cleanup(&c);
}

static void test_quantity(void **state)
{
    static const char *const ok[] = {"1",   "0",    "100m", "0.5", ".5", "1.5Gi",     "64Mi",
                                     "1e3", "5E-2", "2k",   "1E",  "+1", "128974848", "10Ki"};
    static const char *const bad[] = {"",   "-1", "1.2.3", "1 Gi", "Gi",    "1GB",
                                      "1e", "e3", "1ki",   "abc",  "1e3.5", "."};
    double v = 0;
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!inj_quantity_valid(ok[i], NULL))
            fail_msg("quantity %s should be valid", ok[i]);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (inj_quantity_valid(bad[i], NULL))
            fail_msg("quantity %s should be invalid", bad[i]);
    }
    assert_true(inj_quantity_valid("100m", &v));
    assert_true(v > 0.0999 && v < 0.1001);
    assert_true(inj_quantity_valid("1Ki", &v));
    assert_true(v == 1024.0);
}

static void test_duration(void **state)
{
    static const char *const ok[] = {"0",   "5s",   "1m30s",      "300ms",     "1.5h",
                                     "-2s", "10us", "1\xc2\xb5s", "2h45m0.5s", ".5s"};
    static const char *const bad[] = {"", "5", "s", "5 s", "5sec", "1m30", "-", "1.s.", "1d"};
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!inj_duration_valid(ok[i]))
            fail_msg("duration %s should be valid", ok[i]);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (inj_duration_valid(bad[i]))
            fail_msg("duration %s should be invalid", bad[i]);
    }
}

static void test_app_id(void **state)
{
    struct dc_errbuf eb = {0};
    (void)state;

    assert_int_equal(inj_validate_app_id("orders", &eb), DC_OK);
    assert_int_equal(inj_validate_app_id("a-1", &eb), DC_OK);
    assert_int_equal(inj_validate_app_id("", &eb), DC_EINVAL);
    assert_int_equal(inj_validate_app_id(NULL, &eb), DC_EINVAL);
    assert_int_equal(inj_validate_app_id("Orders", &eb), DC_EINVAL);
    assert_int_equal(inj_validate_app_id("-a", &eb), DC_EINVAL);
    assert_int_equal(inj_validate_app_id("a.b", &eb), DC_EINVAL);
    assert_int_equal(inj_validate_app_id("a\nb", &eb), DC_EINVAL);
    /* 58 bytes + "-dapr" = 63: the longest allowed. */
    assert_int_equal(
        inj_validate_app_id("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &eb),
        DC_OK);
    assert_int_equal(
        inj_validate_app_id("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &eb),
        DC_EINVAL);
    assert_non_null(strstr(eb.msg, "63"));
}

/* The daprd args produced for a simple pod under `c`. */
static cJSON *daprd_of(const struct inj_config *c, const char *anns, cJSON **pod_out)
{
    char text[1024];
    struct inj_request req = {"default", false};
    struct dc_arena arena;
    cJSON *pod, *patch = NULL;

    snprintf(text, sizeof(text),
             "{\"metadata\":{\"name\":\"p\",\"annotations\":{\"dapr.io/enabled\":\"true\","
             "\"dapr.io/app-id\":\"a\"%s}},\"spec\":{\"containers\":[{\"name\":\"app\"}]}}",
             anns);
    pod = cJSON_Parse(text);
    dc_arena_init(&arena);
    assert_int_equal(inj_patch_pod(pod, c, &req, &arena, &patch, NULL, NULL, NULL), DC_OK);
    assert_int_equal(patch_apply(pod, patch), 0);
    cJSON_Delete(patch);
    dc_arena_cleanup(&arena);
    *pod_out = pod;
    return (cJSON *)find_daprd(pod);
}

static bool has_args(const cJSON *daprd, const char *flag, const char *value)
{
    const cJSON *a;

    cJSON_ArrayForEach(a, cJSON_GetObjectItem(daprd, "args"))
    {
        if (strcmp(a->valuestring, flag) == 0)
            return value == NULL || (a->next != NULL && strcmp(a->next->valuestring, value) == 0);
    }
    return false;
}

static void test_actor_services(void **state)
{
    static const char *const off[] = {"SIDECAR_IMAGE",  "i",     "NAMESPACE", "cp",
                                      "ACTORS_ENABLED", "false", NULL};
    static const char *const other[] = {"SIDECAR_IMAGE",
                                        "i",
                                        "NAMESPACE",
                                        "cp",
                                        "ACTORS_SERVICE_NAME",
                                        "actors",
                                        "ACTORS_SERVICE_ADDRESS",
                                        "actors-svc:7000",
                                        "REMINDERS_SERVICE_NAME",
                                        "reminders",
                                        "REMINDERS_SERVICE_ADDRESS",
                                        "rem:7001",
                                        NULL};
    struct inj_config c;
    struct dc_errbuf eb = {0};
    cJSON *pod, *d;
    (void)state;

    assert_int_equal(parse_env(&c, off, &eb), DC_OK);
    d = daprd_of(&c, "", &pod);
    assert_false(has_args(d, "--placement-host-address", NULL));
    assert_false(has_args(d, "--actors-service", NULL));
    assert_false(has_args(d, "--enable-mtls", NULL));
    cJSON_Delete(pod);
    /* The annotation is kept even with actors disabled. */
    d = daprd_of(&c, ",\"dapr.io/placement-host-address\":\"'pl:1'\"", &pod);
    assert_true(has_args(d, "--placement-host-address", "pl:1"));
    cJSON_Delete(pod);
    /* Scheduler off: no default address. */
    c.scheduler_enabled = false;
    c.disable_token_volume = true;
    d = daprd_of(&c, "", &pod);
    assert_false(has_args(d, "--scheduler-host-address", NULL));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "volumeMounts")), 0);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "volumes"));
    cJSON_Delete(pod);
    inj_config_cleanup(&c);

    assert_int_equal(parse_env(&c, other, &eb), DC_OK);
    d = daprd_of(&c, "", &pod);
    assert_false(has_args(d, "--placement-host-address", NULL));
    assert_true(has_args(d, "--actors-service", "actors:actors-svc:7000"));
    assert_true(has_args(d, "--reminders-service", "reminders:rem:7001"));
    assert_true(has_args(d, "--scheduler-host-address",
                         "dapr-scheduler-server-a.cp.svc.cluster.local:443"));
    cJSON_Delete(pod);
    inj_config_cleanup(&c);
}

static void test_downward_api_and_security(void **state)
{
    static const char *const e[] = {
        "SIDECAR_IMAGE",        "i",    "NAMESPACE", "cp", "ENABLE_K8S_DOWNWARD_APIS", "true",
        "SIDECAR_RUN_AS_GROUP", "2000", NULL};
    struct inj_config c;
    struct dc_errbuf eb = {0};
    cJSON *pod, *d, *sc;
    char *t;
    (void)state;

    assert_int_equal(parse_env(&c, e, &eb), DC_OK);
    d = daprd_of(&c, "", &pod);
    t = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "env"));
    assert_non_null(strstr(t, "{\"name\":\"DAPR_HOST_IP\",\"valueFrom\":{\"fieldRef\":"
                              "{\"fieldPath\":\"status.podIP\"}}}"));
    free(t);
    sc = cJSON_GetObjectItem(d, "securityContext");
    assert_int_equal(cJSON_GetObjectItem(sc, "runAsGroup")->valueint, 2000);
    assert_null(cJSON_GetObjectItem(sc, "runAsUser"));
    assert_null(cJSON_GetObjectItem(sc, "capabilities"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "imagePullPolicy")), "Always");
    cJSON_Delete(pod);
    inj_config_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_resolv),
        cmocka_unit_test(test_trust_anchors_file),
        cmocka_unit_test(test_quantity),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_app_id),
        cmocka_unit_test(test_actor_services),
        cmocka_unit_test(test_downward_api_and_security),
    };

    return cmocka_run_group_tests_name("injector config", tests, NULL, NULL);
}
