/* Cron schedules (cron.c): robfig/cron parsing and next-activation times, evaluated in UTC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dc/time.h"

#include "../bindings.h"

static int64_t ts(const char *s)
{
    int64_t ns = 0;

    assert_int_equal(dc_rfc3339_parse(s, &ns, NULL), DC_OK);
    return ns / DC_NS_PER_SEC;
}

static void fmt(int64_t t, char *out)
{
    assert_int_equal(dc_rfc3339_format(t * DC_NS_PER_SEC, out, DC_RFC3339_FMT_LEN), DC_OK);
}

/* Check that successive activations of `spec` after `from` are the NULL-terminated list. */
static void expect_seq(const char *spec, const char *from, ...)
{
    struct sdc_cron c;
    struct dc_errbuf eb = {0};
    int64_t t = ts(from), n;
    const char *want;
    char got[DC_RFC3339_FMT_LEN];
    va_list ap;

    if (sdc_cron_parse(spec, &c, &eb) != DC_OK)
        fail_msg("parse %s: %s", spec, eb.msg);
    va_start(ap, from);
    while ((want = va_arg(ap, const char *)) != NULL) {
        assert_int_equal(sdc_cron_next(&c, t, true, &n), DC_OK);
        fmt(n, got);
        if (strcmp(got, want) != 0)
            fail_msg("%s after %s: got %s want %s", spec, from, got, want);
        t = n;
    }
    va_end(ap);
}

static void expect_err(const char *spec, const char *msg)
{
    struct sdc_cron c;
    struct dc_errbuf eb = {0};

    if (sdc_cron_parse(spec, &c, &eb) != DC_EPARSE)
        fail_msg("%s parsed", spec);
    if (strstr(eb.msg, msg) == NULL)
        fail_msg("%s: message %s lacks %s", spec, eb.msg, msg);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_err("", "empty spec string");
    expect_err("   ", "expected 5 to 6 fields, found 0");
    expect_err("* * * *", "expected 5 to 6 fields, found 4");
    expect_err("* * * * * * *", "expected 5 to 6 fields, found 7");
    expect_err("60 * * * * *", "end of range (60) above maximum (59)");
    expect_err("* * 24 * * *", "end of range (24) above maximum (23)");
    expect_err("* * * 0 * *", "beginning of range (0) below minimum (1)");
    expect_err("* * * * 13 *", "above maximum (12)");
    expect_err("* * * * * 7", "above maximum (6)");
    expect_err("*/0 * * * * *", "step of range should be a positive number");
    expect_err("1-2-3 * * * * *", "too many hyphens");
    expect_err("1/2/3 * * * * *", "too many slashes");
    expect_err("5-1 * * * * *", "beyond end of range");
    expect_err("-1 * * * * *", "failed to parse int");
    expect_err("x * * * * *", "failed to parse int from x");
    expect_err("1,,2 * * * * *", "failed to parse int from ");
    expect_err("* * * * FOO *", "failed to parse int from FOO");
    expect_err("@foo", "unrecognized descriptor: @foo");
    expect_err("@every", "unrecognized descriptor");
    expect_err("@every x", "failed to parse duration");
    expect_err("@every 1", "failed to parse duration");
    expect_err("@Daily", "unrecognized descriptor");
    expect_err("TZ=Europe/Paris 0 * * * * *", "provided bad location Europe/Paris");
}

static void test_parse_ok(void **state)
{
    struct sdc_cron c;

    (void)state;
    assert_int_equal(sdc_cron_parse("0 30 * * * *", &c, NULL), DC_OK);
    assert_int_equal(c.sec, 1);
    assert_int_equal(c.min, UINT64_C(1) << 30);
    assert_int_equal(sdc_cron_parse("30 8 * * 1-5", &c, NULL), DC_OK); /* 5 fields: sec 0 */
    assert_int_equal(c.sec, 1);
    assert_int_equal(c.min, UINT64_C(1) << 30);
    assert_int_equal(c.hour, UINT64_C(1) << 8);
    assert_int_equal(c.dow, 0x3e);
    assert_int_equal(sdc_cron_parse("0 0 12 * jan-MAR Sun,sat", &c, NULL), DC_OK);
    assert_int_equal(c.month, 0xe);
    assert_int_equal(c.dow, 0x41);
    assert_int_equal(sdc_cron_parse("? ? ? ? ? ?", &c, NULL), DC_OK);
    assert_true(c.dom >> 63);
    assert_int_equal(sdc_cron_parse("*/1 * * * * *", &c, NULL), DC_OK);
    assert_true(c.sec >> 63); /* step 1 keeps the star marker */
    assert_int_equal(sdc_cron_parse("*/2 * * * * *", &c, NULL), DC_OK);
    assert_false(c.sec >> 63);
    assert_int_equal(sdc_cron_parse("50/5 * * * * *", &c, NULL), DC_OK);
    assert_int_equal(c.sec, (UINT64_C(1) << 50) | (UINT64_C(1) << 55));
    assert_int_equal(sdc_cron_parse("@every 15s", &c, NULL), DC_OK);
    assert_int_equal(c.every_s, 15);
    assert_int_equal(sdc_cron_parse("@every 1m30.9s", &c, NULL), DC_OK);
    assert_int_equal(c.every_s, 90);
    assert_int_equal(sdc_cron_parse("@every 100ms", &c, NULL), DC_OK);
    assert_int_equal(c.every_s, 1);
    assert_int_equal(sdc_cron_parse("CRON_TZ=UTC 0 0 * * * *", &c, NULL), DC_OK);
    assert_true(c.utc);
    assert_int_equal(sdc_cron_parse("  0\t0  *  * * *  ", &c, NULL), DC_OK);
}

static void test_next_basic(void **state)
{
    (void)state;
    expect_seq("0 30 * * * *", "2024-01-01T00:00:00Z", "2024-01-01T00:30:00Z",
               "2024-01-01T01:30:00Z", NULL);
    expect_seq("*/15 * * * * *", "2024-01-01T00:00:00Z", "2024-01-01T00:00:15Z",
               "2024-01-01T00:00:30Z", "2024-01-01T00:00:45Z", "2024-01-01T00:01:00Z", NULL);
    expect_seq("* * * * * *", "2024-12-31T23:59:59Z", "2025-01-01T00:00:00Z", NULL);
    expect_seq("30 8 * * 1-5", "2024-01-05T09:00:00Z", "2024-01-08T08:30:00Z",
               "2024-01-09T08:30:00Z", NULL);
    expect_seq("0 0 0 1 1 *", "2024-06-01T00:00:00Z", "2025-01-01T00:00:00Z", NULL);
}

static void test_next_descriptors(void **state)
{
    (void)state;
    expect_seq("@every 1s", "2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z",
               NULL);
    expect_seq("@every 1h", "2024-01-01T00:10:00Z", "2024-01-01T01:10:00Z", NULL);
    expect_seq("@hourly", "2024-01-01T00:10:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z",
               NULL);
    expect_seq("@daily", "2024-03-10T12:00:00Z", "2024-03-11T00:00:00Z", NULL);
    expect_seq("@midnight", "2024-03-10T00:00:00Z", "2024-03-11T00:00:00Z", NULL);
    /* 2024-01-03 is a Wednesday; Sundays follow. */
    expect_seq("@weekly", "2024-01-03T10:00:00Z", "2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z",
               NULL);
    expect_seq("@monthly", "2024-01-31T10:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z",
               NULL);
    expect_seq("@yearly", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", NULL);
    expect_seq("@annually", "2023-12-31T23:59:59Z", "2024-01-01T00:00:00Z", NULL);
}

static void test_next_days(void **state)
{
    struct sdc_cron c;
    int64_t n;

    (void)state;
    /* Both restricted: either matches (13th or any Friday). 2024-01-05 is a Friday. */
    expect_seq("0 0 0 13 * FRI", "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z",
               "2024-01-12T00:00:00Z", "2024-01-13T00:00:00Z", "2024-01-19T00:00:00Z", NULL);
    /* Day-of-week `*`: only the 13th. */
    expect_seq("0 0 0 13 * *", "2024-01-01T00:00:00Z", "2024-01-13T00:00:00Z",
               "2024-02-13T00:00:00Z", NULL);
    /* Day-of-month `?` and a weekday: both must match, i.e. only Mondays. */
    expect_seq("0 0 0 ? * MON", "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z", NULL);
    /* A stepped day-of-month is restricted (no star): OR semantics with Sunday. */
    expect_seq("0 0 0 */10 * SUN", "2024-01-01T00:00:00Z", "2024-01-07T00:00:00Z",
               "2024-01-11T00:00:00Z", "2024-01-14T00:00:00Z", NULL);
    /* The 31st skips short months; February 29th waits for a leap year. */
    expect_seq("0 0 0 31 * *", "2024-01-31T00:00:00Z", "2024-03-31T00:00:00Z",
               "2024-05-31T00:00:00Z", NULL);
    expect_seq("0 0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z", NULL);
    /* Never: February 30th. */
    assert_int_equal(sdc_cron_parse("0 0 0 30 2 *", &c, NULL), DC_OK);
    assert_int_equal(sdc_cron_next(&c, ts("2024-01-01T00:00:00Z"), true, &n), DC_ENOTFOUND);
    /* Last second of a month rolls into the next month's first. */
    expect_seq("0 0 0 1 * *", "2024-02-29T23:59:59Z", "2024-03-01T00:00:00Z", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_next_basic),   cmocka_unit_test(test_next_descriptors),
        cmocka_unit_test(test_next_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
