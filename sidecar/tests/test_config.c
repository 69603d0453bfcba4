/* daprd flag and environment parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../config.h"

static const char *env_none(const char *name)
{
    (void)name;
    return NULL;
}

static const char *env_some(const char *name)
{
    if (strcmp(name, "DAPR_API_TOKEN") == 0)
        return "tok";
    if (strcmp(name, "NAMESPACE") == 0)
        return "prod";
    if (strcmp(name, "DAPR_CONTROLPLANE_TRUST_DOMAIN") == 0)
        return "example.org";
    if (strcmp(name, "DAPR_HTTP_DISABLE_H2C") == 0)
        return "true";
    return NULL;
}

/* Parse the NULL-terminated argument list after "daprd". */
static int parse(struct sdc_config *cfg, struct dc_errbuf *eb, sdc_getenv_fn *env, ...)
{
    static char prog[] = "daprd";
    char *argv[64] = {prog};
    int argc = 1;
    va_list ap;
    char *a;

    va_start(ap, env);
    for (a = va_arg(ap, char *); a != NULL && argc < 63; a = va_arg(ap, char *))
        argv[argc++] = a;
    va_end(ap);
    return sdc_config_parse(cfg, argc, argv, env, eb);
}

#define PARSE(cfg, eb, env, ...) parse((cfg), (eb), (env), __VA_ARGS__, (char *)NULL)

static void test_defaults(void **state)
{
    struct sdc_config c;
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(PARSE(&c, &eb, env_none, "--app-id", "myapp"), DC_OK);
    assert_string_equal(c.app_id, "myapp");
    assert_int_equal(c.app_port, -1);
    assert_string_equal(c.app_protocol, "http");
    assert_string_equal(c.app_channel_address, "127.0.0.1");
    assert_int_equal(c.dapr_http_port, 3500);
    assert_int_equal(c.dapr_grpc_port, 50001);
    assert_int_equal(c.metrics_port, 9090);
    assert_true(c.enable_metrics);
    assert_int_equal(c.max_body_size, 4u << 20);
    assert_int_equal(c.read_buffer_size, 4u << 10);
    assert_int_equal(c.graceful_shutdown_seconds, 5);
    assert_int_equal(c.block_shutdown_duration_ns, -1);
    assert_int_equal(c.enable_api_logging, -1);
    assert_int_equal(c.log_level, DC_LOG_INFO);
    assert_int_equal(c.actors_disseminate_timeout_ns, 30LL * 1000000000);
    assert_string_equal(c.mode, "standalone");
    assert_string_equal(c.control_plane_trust_domain, "localhost");
    assert_null(c.api_token);
    assert_int_equal(sdc_config_validate(&c, &eb), DC_OK);
    sdc_config_cleanup(&c);
}

static void test_forms(void **state)
{
    struct sdc_config c;
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(PARSE(&c, &eb, env_none, "-app-id", "a", "--app-port=8080", "--log-as-json",
                           "--enable-metrics=false", "--resources-path", "/x,/y",
                           "--components-path", "/z", "--max-body-size", "16Mi",
                           "--dapr-http-max-request-size", "1", "--enable-api-logging",
                           "--log-level", "debug", "--dapr-listen-addresses", "127.0.0.1, ::1",
                           "--dapr-block-shutdown-duration", "1m30s"),
                     DC_OK);
    assert_int_equal(c.app_port, 8080);
    assert_true(c.log_as_json);
    assert_false(c.enable_metrics);
    assert_int_equal(c.resources_paths.n, 3);
    assert_string_equal(c.resources_paths.v[2], "/z");
    assert_int_equal(c.max_body_size, 16u << 20); /* the deprecated flag loses */
    assert_int_equal(c.enable_api_logging, 1);
    assert_int_equal(c.log_level, DC_LOG_DEBUG);
    assert_int_equal(c.listen_addresses.n, 2);
    assert_string_equal(c.listen_addresses.v[1], "::1");
    assert_int_equal(c.block_shutdown_duration_ns, 90LL * 1000000000);
    sdc_config_cleanup(&c);
}

static void test_env(void **state)
{
    struct sdc_config c;
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(PARSE(&c, &eb, env_some, "--app-id", "a"), DC_OK);
    assert_string_equal(c.api_token, "tok");
    assert_string_equal(c.namespace, "prod");
    assert_string_equal(c.control_plane_trust_domain, "example.org");
    assert_true(c.disable_h2c);
    sdc_config_cleanup(&c);
    /* The flag beats the environment. */
    assert_int_equal(PARSE(&c, &eb, env_some, "--control-plane-trust-domain", "td"), DC_OK);
    assert_string_equal(c.control_plane_trust_domain, "td");
    sdc_config_cleanup(&c);
}

static void test_errors(void **state)
{
    struct sdc_config c;
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(PARSE(&c, &eb, env_none, "--bogus"), DC_EINVAL);
    assert_string_equal(eb.msg, "unknown flag: --bogus");
    sdc_config_cleanup(&c);
    assert_int_equal(PARSE(&c, &eb, env_none, "--app-port", "http"), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "--app-port"));
    sdc_config_cleanup(&c);
    assert_int_equal(PARSE(&c, &eb, env_none, "--app-port"), DC_EINVAL);
    assert_string_equal(eb.msg, "flag needs an argument: --app-port");
    sdc_config_cleanup(&c);
    assert_int_equal(PARSE(&c, &eb, env_none, "--log-level", "loud"), DC_EINVAL);
    sdc_config_cleanup(&c);
    assert_int_equal(PARSE(&c, &eb, env_none, "--enable-mtls=maybe"), DC_EINVAL);
    sdc_config_cleanup(&c);
    assert_int_equal(PARSE(&c, &eb, env_none, "--actors-disseminate-timeout", "10"), DC_EINVAL);
    sdc_config_cleanup(&c);
    assert_int_equal(PARSE(&c, &eb, env_none, "stray"), DC_EINVAL);
    sdc_config_cleanup(&c);
}

static void test_validate(void **state)
{
    struct sdc_config c;
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(PARSE(&c, &eb, env_none, "--app-port", "1"), DC_OK);
    assert_int_equal(sdc_config_validate(&c, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "--app-id is required in standalone mode");
    sdc_config_cleanup(&c);
    assert_int_equal(PARSE(&c, &eb, env_none, "--app-id", "a", "--app-protocol", "ftp"), DC_OK);
    assert_int_equal(sdc_config_validate(&c, &eb), DC_EINVAL);
    sdc_config_cleanup(&c);
    assert_int_equal(PARSE(&c, &eb, env_none, "--mode", "kubernetes"), DC_OK);
    assert_int_equal(sdc_config_validate(&c, &eb), DC_OK);
    sdc_config_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_forms),
        cmocka_unit_test(test_env),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests_name("sidecar_config", tests, NULL, NULL);
}
