/* Unit tests of redis_conn.h: the shared Redis metadata parser (host forms, refusals, go-redis
 * durations and defaults) and a client that cannot reach its server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../redis_conn.h"

static int parse(struct sdc_redis_opts *o, struct dc_errbuf *eb, const char *const *kv)
{
    struct sdc_md md = {0};
    int rv;

    for (size_t i = 0; kv[i] != NULL; i += 2)
        sdc_md_set(&md, kv[i], kv[i + 1]);
    rv = sdc_redis_opts_parse(o, &md, "redis test", eb);
    sdc_md_cleanup(&md);
    return rv;
}

static void test_defaults(void **state)
{
    struct sdc_redis_opts o;
    const char *kv[] = {"redisHost", "localhost", NULL};

    (void)state;
    assert_int_equal(parse(&o, NULL, kv), DC_OK);
    assert_string_equal(o.host, "localhost");
    assert_int_equal(o.port, 6379);
    assert_int_equal(o.db, 0);
    assert_int_equal(o.max_retries, 3);
    assert_int_equal(o.dial_ms, 5000);
    assert_int_equal(o.read_ms, 3000);
    assert_int_equal(o.write_ms, 3000);
    assert_int_equal(o.io_tv.tv_sec, 3);
    assert_int_equal(o.pool_wait_ms, 4000);
    assert_true(o.pool_size >= 10);
    assert_null(o.password);
    assert_null(o.username);
    sdc_redis_opts_cleanup(&o);
}

static void test_values(void **state)
{
    struct sdc_redis_opts o;
    const char *kv[] = {"redishost",
                        "[::1]:7000",
                        "redisPassword",
                        "pw",
                        "redisUsername",
                        "u",
                        "redisDB",
                        "3",
                        "dialTimeout",
                        "250",
                        "readTimeout",
                        "2s",
                        "writeTimeout",
                        "5s",
                        "poolSize",
                        "4",
                        "redisMaxRetries",
                        "-1",
                        "enableTLS",
                        "false",
                        "redisType",
                        "node",
                        NULL};

    (void)state;
    assert_int_equal(parse(&o, NULL, kv), DC_OK);
    assert_string_equal(o.host, "::1");
    assert_int_equal(o.port, 7000);
    assert_string_equal(o.password, "pw");
    assert_string_equal(o.username, "u");
    assert_int_equal(o.db, 3);
    assert_int_equal(o.dial_ms, 250);
    assert_int_equal(o.io_tv.tv_sec, 5);
    assert_int_equal(o.pool_size, 4);
    assert_int_equal(o.max_retries, 0);
    sdc_redis_opts_cleanup(&o);
    assert_null(o.password);
}

static void test_no_timeouts(void **state)
{
    struct sdc_redis_opts o;
    const char *kv[] = {"redisHost", "h:1", "readTimeout", "-1", NULL};

    (void)state;
    assert_int_equal(parse(&o, NULL, kv), DC_OK);
    assert_int_equal(o.read_ms, -1);
    assert_int_equal(o.io_tv.tv_sec, 0);
    assert_int_equal(o.io_tv.tv_usec, 0);
    sdc_redis_opts_cleanup(&o);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *k, *v;
        int code;
        const char *msg;
    } cases[] = {
        {"enableTLS", "true", DC_EUNSUPPORTED, "redis test: enableTLS is not supported"},
        {"redisType", "cluster", DC_EUNSUPPORTED, "redis test: redisType cluster"},
        {"failover", "1", DC_EUNSUPPORTED, "redis test: failover"},
        {"redisHost", "a:1,b:2", DC_EUNSUPPORTED, "redis test: several hosts"},
        {"redisHost", "a:99999", DC_EINVAL, "redis test: invalid port"},
        {"redisHost", "[::1", DC_EINVAL, "redis test: invalid redisHost"},
        {"redisHost", ":1", DC_EINVAL, "redis test: invalid redisHost"},
        {"redisHost", "", DC_EINVAL, "redis test: redisHost is required"},
        {"redisDB", "x", DC_EINVAL, "redis test: invalid redisDB x"},
        {"dialTimeout", "5 parsecs", DC_EINVAL, "redis test: invalid dialTimeout"},
        {"poolSize", "0", DC_EINVAL, "redis test: invalid poolSize"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sdc_redis_opts o;
        struct dc_errbuf eb = {0};
        const char *host = strcmp(cases[i].k, "redisHost") == 0 ? cases[i].v : "localhost:1";
        const char *kv[] = {"redisHost", host, cases[i].k, cases[i].v, NULL};
        if (strcmp(cases[i].k, "redisHost") == 0)
            kv[2] = NULL;
        assert_int_equal(parse(&o, &eb, kv), cases[i].code);
        if (strncmp(eb.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("case %zu: %s", i, eb.msg);
    }
}

static void test_open_unreachable(void **state)
{
    struct sdc_md md = {0};
    struct sdc_redis *r = NULL;
    struct dc_errbuf eb = {0};

    (void)state;
    /* Port 1 on loopback: connection refused at once. */
    sdc_md_set(&md, "redisHost", "127.0.0.1:1");
    assert_int_equal(sdc_redis_open(&r, &md, "redis test", 500, false, &eb), DC_EUNAVAIL);
    assert_null(r);
    assert_non_null(strstr(eb.msg, "redis test: error connecting to redis at 127.0.0.1:1"));
    /* Without the ping the client opens, and a command fails cleanly after the retries. */
    sdc_md_set(&md, "redisMaxRetries", "1");
    assert_int_equal(sdc_redis_open(&r, &md, "redis test", 500, true, &eb), DC_OK);
    assert_int_equal(sdc_redis_cmd(r, NULL, &eb, 1, (const char *[]){"PING"}), DC_EUNAVAIL);
    sdc_redis_close(r);
    sdc_md_cleanup(&md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_values),
        cmocka_unit_test(test_no_timeouts),      cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_open_unreachable),
    };

    return cmocka_run_group_tests_name("redis_conn", tests, NULL, NULL);
}
