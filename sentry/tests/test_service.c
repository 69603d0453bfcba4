/* Unit tests of the service's pure parts: flags and the Configuration's spec.mtls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../service.h"

static int parse(struct snt_flags *f, const char *const *argv, int argc)
{
    struct dc_errbuf eb = {0};

    return snt_flags_parse(f, argc, argv, &eb);
}

static void test_flags_defaults(void **state)
{
    const char *argv[] = {"sentry"};
    struct snt_flags f;

    (void)state;
    assert_int_equal(parse(&f, argv, 1), DC_OK);
    assert_int_equal(f.port, 50001);
    assert_int_equal(f.healthz_port, 8080);
    assert_int_equal(f.metrics_port, 9090);
    assert_string_equal(f.trust_domain, "localhost");
    assert_false(f.trust_domain_set);
    assert_string_equal(f.config, "daprsystem");
    assert_string_equal(f.issuer_credentials, "/var/run/secrets/dapr.io/credentials");
    assert_string_equal(f.issuer_key_filename, "issuer.key");
    assert_null(f.mode);
}

static void test_flags_values(void **state)
{
    const char *argv[] = {"sentry",
                          "--port=1234",
                          "-trust-domain",
                          "cluster.local",
                          "--log-as-json",
                          "--mode",
                          "kubernetes",
                          "--jwt-ttl",
                          "1h",
                          "--enable-metrics=false"};
    struct snt_flags f;

    (void)state;
    assert_int_equal(parse(&f, argv, 10), DC_OK);
    assert_int_equal(f.port, 1234);
    assert_string_equal(f.trust_domain, "cluster.local");
    assert_true(f.trust_domain_set);
    assert_true(f.log_as_json);
    assert_false(f.enable_metrics);
    assert_true(snt_flags_kubernetes(&f, NULL));
}

static const char *env_k8s(const char *name)
{
    return strcmp(name, "KUBERNETES_SERVICE_HOST") == 0 ? "10.0.0.1" : NULL;
}

static const char *env_none(const char *name)
{
    (void)name;
    return NULL;
}

static void test_flags_refused(void **state)
{
    const char *a1[] = {"sentry", "--nope"};
    const char *a2[] = {"sentry", "--port", "70000"};
    const char *a3[] = {"sentry", "--mode", "cloud"};
    const char *a4[] = {"sentry", "--jwt-enabled"};
    const char *a5[] = {"sentry", "--trust-domain", "Bad Domain"};
    const char *a6[] = {"sentry", "--port"};
    const char *a7[] = {"sentry"};
    struct snt_flags f;

    (void)state;
    assert_int_equal(parse(&f, a1, 2), DC_EINVAL);
    assert_int_equal(parse(&f, a2, 3), DC_EINVAL);
    assert_int_equal(parse(&f, a3, 3), DC_EINVAL);
    assert_int_equal(parse(&f, a4, 2), DC_EINVAL);
    assert_int_equal(parse(&f, a5, 3), DC_EINVAL);
    assert_int_equal(parse(&f, a6, 2), DC_EINVAL);
    assert_int_equal(parse(&f, a7, 1), DC_OK);
    assert_true(snt_flags_kubernetes(&f, env_k8s));
    assert_false(snt_flags_kubernetes(&f, env_none));
}

static void test_mtls_config(void **state)
{
    struct snt_mtls_config m;
    cJSON *c;

    (void)state;
    assert_int_equal(snt_mtls_config_from_json(NULL, &m, NULL), DC_OK);
    assert_int_equal(m.workload_ttl_s, 24 * 3600);
    assert_int_equal(m.skew_s, 15 * 60);
    assert_string_equal(m.control_plane_td, "cluster.local");
    c = cJSON_Parse(
        "{\"spec\":{\"mtls\":{\"workloadCertTTL\":\"1h30m\",\"allowedClockSkew\":\"0s\","
        "\"controlPlaneTrustDomain\":\"example.org\",\"tokenValidators\":[{\"name\":"
        "\"jwks\",\"options\":{\"source\":\"/etc/jwks.json\"}}]}}}");
    assert_non_null(c);
    assert_int_equal(snt_mtls_config_from_json(c, &m, NULL), DC_OK);
    assert_int_equal(m.workload_ttl_s, 5400);
    assert_int_equal(m.skew_s, 0);
    assert_string_equal(m.control_plane_td, "example.org");
    assert_int_equal(m.n_validators, 1);
    assert_string_equal(m.validators[0], "jwks");
    assert_string_equal(m.jwks_source, "/etc/jwks.json");
    cJSON_Delete(c);
    c = cJSON_Parse("{\"spec\":{\"mtls\":{\"workloadCertTTL\":\"soon\"}}}");
    assert_int_equal(snt_mtls_config_from_json(c, &m, NULL), DC_EINVAL);
    cJSON_Delete(c);
    c = cJSON_Parse("{\"spec\":{\"mtls\":{\"allowedClockSkew\":\"-1m\"}}}");
    assert_int_equal(snt_mtls_config_from_json(c, &m, NULL), DC_EINVAL);
    cJSON_Delete(c);
}

static void test_config_file(void **state)
{
    char path[] = "/tmp/snt-test-config-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    struct snt_mtls_config m;
    cJSON *c = NULL;

    (void)state;
    fputs("apiVersion: dapr.io/v1alpha1\nkind: Configuration\nspec:\n  mtls:\n"
          "    workloadCertTTL: 2h\n",
          f);
    fclose(f);
    assert_int_equal(snt_config_file_read(path, &c, NULL), DC_OK);
    assert_int_equal(snt_mtls_config_from_json(c, &m, NULL), DC_OK);
    assert_int_equal(m.workload_ttl_s, 7200);
    cJSON_Delete(c);
    remove(path);
    assert_int_equal(snt_config_file_read(path, &c, NULL), DC_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_defaults), cmocka_unit_test(test_flags_values),
        cmocka_unit_test(test_flags_refused),  cmocka_unit_test(test_mtls_config),
        cmocka_unit_test(test_config_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
