/* Unit tests of dc/time.h: Go durations (cases from Go's own time tests and docs), ISO 8601
 * durations, RFC 3339, Kubernetes quantities and the clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dc/limits.h"
#include "dc/time.h"

#define SEC INT64_C(1000000000)
#define MS INT64_C(1000000)
#define US INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (3600 * SEC)
#define N(a) (sizeof(a) / sizeof((a)[0]))

struct dur_case {
    const char *in;
    int64_t want;
};

static void test_duration_parse_ok(void **state)
{
    static const struct dur_case cases[] = {
        {"0", 0},
        {"-0", 0},
        {"+0", 0},
        {"5s", 5 * SEC},
        {"30s", 30 * SEC},
        {"1478s", 1478 * SEC},
        {"-5s", -5 * SEC},
        {"+5s", 5 * SEC},
        {"5.0s", 5 * SEC},
        {"5.6s", 5 * SEC + 600 * MS},
        {"5.s", 5 * SEC},
        {".5s", 500 * MS},
        {"1.0s", SEC},
        {"1.00s", SEC},
        {"1.004s", SEC + 4 * MS},
        {"1.0040s", SEC + 4 * MS},
        {"100.00100s", 100 * SEC + MS},
        {"10ns", 10},
        {"11us", 11 * US},
        {"12\xc2\xb5s", 12 * US}, /* U+00B5 */
        {"12\xce\xbcs", 12 * US}, /* U+03BC */
        {"13ms", 13 * MS},
        {"14s", 14 * SEC},
        {"15m", 15 * MIN},
        {"16h", 16 * HOUR},
        {"3h30m", 3 * HOUR + 30 * MIN},
        {"10.5s4m", 4 * MIN + 10 * SEC + 500 * MS},
        {"-2m3.4s", -(2 * MIN + 3 * SEC + 400 * MS)},
        {"1h2m3s4ms5us6ns", HOUR + 2 * MIN + 3 * SEC + 4 * MS + 5 * US + 6},
        {"39h9m14.425s", 39 * HOUR + 9 * MIN + 14 * SEC + 425 * MS},
        {"52763797000ns", 52763797000},
        {"0.3333333333333333333h", 20 * MIN},
        {"9007199254740993ns", (INT64_C(1) << 53) + 1},
        {"9223372036854775807ns", INT64_MAX},
        {"9223372036854775.807us", INT64_MAX},
        {"9223372036s854ms775us807ns", INT64_MAX},
        {"-9223372036854775808ns", INT64_MIN},
        {"-9223372036854775.808us", INT64_MIN},
        {"-9223372036s854ms775us808ns", INT64_MIN},
        {"-2562047h47m16.854775808s", INT64_MIN},
        {"0.100000000000000000000h", 6 * MIN},
        {"0.830103483285477580700h", 49 * MIN + 48 * SEC + 372539827},
        /* The Go documentation's examples. */
        {"10h", 10 * HOUR},
        {"1h10m10s", HOUR + 10 * MIN + 10 * SEC},
        {"1.5h", HOUR + 30 * MIN},
        {"1h15m30.918273645s", HOUR + 15 * MIN + 30 * SEC + 918273645},
        {"300ms", 300 * MS},
        {"-1.5h", -(HOUR + 30 * MIN)},
        {"2h45m", 2 * HOUR + 45 * MIN},
        {"1h30m", HOUR + 30 * MIN},
        {"-1.5s", -1500 * MS},
        {"0h0m3s0ms", 3 * SEC},
        {"000001s", SEC},
        {"1.000000000000000000000000000001s", SEC},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct dc_errbuf eb = {{0}};
        int64_t got = 12345;
        int rv = dc_duration_parse(cases[i].in, &got, &eb);
        if (rv != DC_OK || got != cases[i].want)
            fail_msg("%s: rv %d got %lld want %lld (%s)", cases[i].in, rv, (long long)got,
                     (long long)cases[i].want, eb.msg);
    }
}

struct err_case {
    const char *in;
    int want;
};

static void test_duration_parse_errors(void **state)
{
    static const struct err_case cases[] = {
        {"", DC_EPARSE},
        {"3", DC_EPARSE},
        {"-", DC_EPARSE},
        {"+", DC_EPARSE},
        {"s", DC_EPARSE},
        {".", DC_EPARSE},
        {"-.", DC_EPARSE},
        {".s", DC_EPARSE},
        {"+.s", DC_EPARSE},
        {"1d", DC_EPARSE},
        {"1S", DC_EPARSE},
        {"\x85\x85", DC_EPARSE},
        {"\xff\xff", DC_EPARSE},
        {"hello \xff\xff world", DC_EPARSE},
        {"1h ", DC_EPARSE},
        {" 1h", DC_EPARSE},
        {"1h-1m", DC_EPARSE},
        {"--1s", DC_EPARSE},
        {"00", DC_EPARSE},
        {"1.5", DC_EPARSE},
        {"1\xc2s", DC_EPARSE},
        {"9223372036854775808ns", DC_ERANGE},
        {"9223372036854775.808us", DC_ERANGE},
        {"9223372036854ms775us808ns", DC_ERANGE},
        {"-9223372036854775809ns", DC_ERANGE},
        {"99999999999999999999999s", DC_ERANGE},
        {"2562048h", DC_ERANGE},
        {"2562047h47m16.854775808s", DC_ERANGE},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct dc_errbuf eb = {{0}};
        int64_t got = 777;
        int rv = dc_duration_parse(cases[i].in, &got, &eb);
        if (rv != cases[i].want || got != 777 || eb.msg[0] == '\0')
            fail_msg("\"%s\": rv %d want %d, msg \"%s\"", cases[i].in, rv, cases[i].want, eb.msg);
    }
}

static void test_duration_messages(void **state)
{
    struct dc_errbuf eb = {{0}};
    int64_t v;
    (void)state;
    assert_int_equal(dc_duration_parse("abc", &v, &eb), DC_EPARSE);
    assert_string_equal(eb.msg, "invalid duration \"abc\"");
    assert_int_equal(dc_duration_parse("10", &v, &eb), DC_EPARSE);
    assert_string_equal(eb.msg, "missing unit in duration \"10\"");
    assert_int_equal(dc_duration_parse("10x", &v, &eb), DC_EPARSE);
    assert_string_equal(eb.msg, "unknown unit in duration \"10x\"");
    /* Control bytes and quotes are escaped, long input is cut. */
    assert_int_equal(dc_duration_parse("1\n\"", &v, &eb), DC_EPARSE);
    assert_string_equal(eb.msg, "unknown unit in duration \"1\\x0a\\x22\"");
    char lng[300];
    memset(lng, 'a', sizeof(lng) - 1);
    lng[sizeof(lng) - 1] = '\0';
    assert_int_equal(dc_duration_parse(lng, &v, &eb), DC_EPARSE);
    assert_true(strlen(eb.msg) < 100);
    assert_non_null(strstr(eb.msg, "...\""));
    assert_int_equal(dc_duration_parse("x", &v, NULL), DC_EPARSE);
}

struct fmt_case {
    int64_t in;
    const char *want;
};

static void test_duration_format(void **state)
{
    static const struct fmt_case cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {1100, "1.1\xc2\xb5s"},
        {1500, "1.5\xc2\xb5s"},
        {2200 * US, "2.2ms"},
        {500 * MS, "500ms"},
        {3300 * MS, "3.3s"},
        {4 * MIN + 5 * SEC, "4m5s"},
        {4 * MIN + 5001 * MS, "4m5.001s"},
        {5 * HOUR + 6 * MIN + 7001 * MS, "5h6m7.001s"},
        {8 * MIN + 1, "8m0.000000001s"},
        {HOUR + 30 * MIN, "1h30m0s"},
        {-(MIN + 500 * MS), "-1m0.5s"},
        {-1, "-1ns"},
        {999, "999ns"},
        {1000, "1\xc2\xb5s"},
        {999999999, "999.999999ms"},
        {SEC, "1s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
    };
    char out[DC_DURATION_FMT_LEN];
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        assert_int_equal(dc_duration_format(cases[i].in, out, sizeof(out)), DC_OK);
        assert_string_equal(out, cases[i].want);
    }
    /* Exactly enough, one short, none. */
    assert_int_equal(dc_duration_format(HOUR + 30 * MIN, out, 8), DC_OK);
    assert_string_equal(out, "1h30m0s");
    assert_int_equal(dc_duration_format(HOUR + 30 * MIN, out, 7), DC_ETOOBIG);
    assert_string_equal(out, "");
    assert_int_equal(dc_duration_format(0, NULL, 0), DC_ETOOBIG);
}

/* Deterministic pseudo-random numbers for round trips (xorshift64*). */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static void test_duration_round_trip(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15u;
    char out[DC_DURATION_FMT_LEN];
    (void)state;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng_next(&seed);
        int64_t v = (int64_t)(r >> (r & 63)), back = 0;
        if (r & 64)
            v = -v;
        assert_int_equal(dc_duration_format(v, out, sizeof(out)), DC_OK);
        if (dc_duration_parse(out, &back, NULL) != DC_OK || back != v)
            fail_msg("%lld -> %s -> %lld", (long long)v, out, (long long)back);
    }
}

static void test_duration_ms_or_go(void **state)
{
    static const struct dur_case cases[] = {
        {"60000", 60 * SEC},
        {"0", 0},
        {"-5", -5 * MS},
        {"+7", 7 * MS},
        {"5s", 5 * SEC},
        {"1h", HOUR},
        {"1.5s", 1500 * MS},
        {"0010", 10 * MS},
        {"-0", 0},
        {"250ms", 250 * MS},
        {"9223372036854", 9223372036854 * MS},
    };
    static const struct err_case errs[] = {
        {"", DC_EPARSE},
        {"abc", DC_EPARSE},
        {"1.5", DC_EPARSE},
        {"-", DC_EPARSE},
        {"9223372036855", DC_ERANGE},
        {"99999999999999999999", DC_ERANGE},
        {" 5", DC_EPARSE},
        {"5 ", DC_EPARSE},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        int64_t got = 0;
        struct dc_errbuf eb = {{0}};
        if (dc_duration_parse_ms_or_go(cases[i].in, &got, &eb) != DC_OK || got != cases[i].want)
            fail_msg("%s: got %lld (%s)", cases[i].in, (long long)got, eb.msg);
    }
    for (size_t i = 0; i < N(errs); i++) {
        int64_t got = 0;
        if (dc_duration_parse_ms_or_go(errs[i].in, &got, NULL) != errs[i].want)
            fail_msg("%s accepted or wrong code", errs[i].in);
    }
}

struct iso_case {
    const char *in;
    int64_t y, mo, d, ns, reps;
    bool has_reps;
};

static void test_iso8601_ok(void **state)
{
    static const struct iso_case cases[] = {
        {"PT1S", 0, 0, 0, SEC, -1, false},
        {"P1DT2H", 0, 0, 1, 2 * HOUR, -1, false},
        {"P2W", 0, 0, 14, 0, -1, false},
        {"PT0.5S", 0, 0, 0, 500 * MS, -1, false},
        {"PT1.000000001S", 0, 0, 0, SEC + 1, -1, false},
        {"R5/PT1S", 0, 0, 0, SEC, 5, true},
        {"R/PT1S", 0, 0, 0, SEC, -1, true},
        {"R0/PT1S", 0, 0, 0, SEC, 0, true},
        {"P1Y2M3W4DT5H6M7S", 1, 2, 25, 5 * HOUR + 6 * MIN + 7 * SEC, -1, false},
        {"P1M", 0, 1, 0, 0, -1, false},
        {"PT1M", 0, 0, 0, MIN, -1, false},
        {"P1MT1M", 0, 1, 0, MIN, -1, false},
        {"P0D", 0, 0, 0, 0, -1, false},
        {"PT36H", 0, 0, 0, 36 * HOUR, -1, false},
        {"P10Y", 10, 0, 0, 0, -1, false},
        {"R10/P1DT1H", 0, 0, 1, HOUR, 10, true},
        {"PT2562047H", 0, 0, 0, 2562047 * HOUR, -1, false},
        {"P9223372036854775807D", 0, 0, INT64_MAX, 0, -1, false},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct dc_iso_duration d;
        struct dc_errbuf eb = {{0}};
        if (dc_iso8601_parse(cases[i].in, &d, &eb) != DC_OK)
            fail_msg("%s: %s", cases[i].in, eb.msg);
        if (d.years != cases[i].y || d.months != cases[i].mo || d.days != cases[i].d ||
            d.ns != cases[i].ns || d.repetitions != cases[i].reps ||
            d.has_repetitions != cases[i].has_reps)
            fail_msg("%s: wrong fields", cases[i].in);
    }
}

static void test_iso8601_errors(void **state)
{
    static const struct err_case cases[] = {
        {"", DC_EPARSE},
        {"P", DC_EPARSE},
        {"PT", DC_EPARSE},
        {"P1H", DC_EPARSE},
        {"P1S", DC_EPARSE},
        {"PT1D", DC_EPARSE},
        {"PT1Y", DC_EPARSE},
        {"P1DT", DC_EPARSE},
        {"-P1D", DC_EPARSE},
        {"P-1D", DC_EPARSE},
        {"P+1D", DC_EPARSE},
        {"p1d", DC_EPARSE},
        {"pt1s", DC_EPARSE},
        {"PT1s", DC_EPARSE},
        {"1D", DC_EPARSE},
        {"P1", DC_EPARSE},
        {"PD", DC_EPARSE},
        {"PTS", DC_EPARSE},
        {"P1D1D", DC_EPARSE},
        {"P1D1Y", DC_EPARSE},
        {"PT1S1M", DC_EPARSE},
        {"PT1STT", DC_EPARSE},
        {"PTT1S", DC_EPARSE},
        {"P1.5D", DC_EPARSE},
        {"PT1.5M", DC_EPARSE},
        {"PT1.S", DC_EPARSE},
        {"PT.5S", DC_EPARSE},
        {"PT0.1234567891S", DC_EPARSE},
        {"PT0,5S", DC_EPARSE},
        {"PT1S ", DC_EPARSE},
        {" PT1S", DC_EPARSE},
        {"R5PT1S", DC_EPARSE},
        {"R-1/PT1S", DC_EPARSE},
        {"R5/", DC_EPARSE},
        {"R5/R5/PT1S", DC_EPARSE},
        {"R/", DC_EPARSE},
        {"5/PT1S", DC_EPARSE},
        {"1h", DC_EPARSE},
        {"P9223372036854775808D", DC_ERANGE},
        {"P1317624576693539402W", DC_ERANGE},
        {"P1317624576693539401W1D", DC_ERANGE},
        {"P9223372036854775807W", DC_ERANGE},
        {"PT2562048H", DC_ERANGE},
        {"PT2562047H47M16.854775808S", DC_ERANGE},
        {"R9223372036854775808/PT1S", DC_ERANGE},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct dc_iso_duration d = {1, 2, 3, 4, 5, true};
        struct dc_errbuf eb = {{0}};
        int rv = dc_iso8601_parse(cases[i].in, &d, &eb);
        if (rv != cases[i].want || eb.msg[0] == '\0' || d.years != 1 || d.ns != 4)
            fail_msg("\"%s\": rv %d want %d (%s)", cases[i].in, rv, cases[i].want, eb.msg);
    }
}

static void test_rfc3339_parse(void **state)
{
    static const struct dur_case cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2006-01-02T15:04:05Z", 1136214245 * SEC},
        {"2006-01-02T15:04:05+07:00", (1136214245 - 7 * 3600) * SEC},
        {"2006-01-02T15:04:05-03:30", (1136214245 + 3 * 3600 + 1800) * SEC},
        {"2006-01-02T15:04:05.5Z", 1136214245 * SEC + 500 * MS},
        {"2006-01-02T15:04:05.999999999Z", 1136214245 * SEC + 999999999},
        {"2006-01-02T15:04:05.1234567891Z", 1136214245 * SEC + 123456789},
        {"2006-01-02T15:04:05.000000000000000000000001Z", 1136214245 * SEC},
        {"2000-02-29T00:00:00Z", 951782400 * SEC},
        {"2024-02-29T12:00:00Z", 1709208000 * SEC},
        {"1969-12-31T23:59:59.999999999Z", -1},
        {"1969-12-31T23:59:59Z", -SEC},
        {"1900-01-01T00:00:00Z", -2208988800 * SEC},
        {"2038-01-19T03:14:08Z", 2147483648 * SEC},
        {"2100-12-31T23:59:59Z", 4133980799 * SEC},
        {"2006-01-02T00:00:00+23:59", (1136160000 - 23 * 3600 - 59 * 60) * SEC},
        {"2262-04-11T23:47:16.854775807Z", INT64_MAX},
        {"1677-09-21T00:12:43.145224192Z", INT64_MIN},
    };
    static const struct err_case errs[] = {
        {"", DC_EPARSE},
        {"2006-01-02", DC_EPARSE},
        {"2006-01-02T15:04:05", DC_EPARSE},
        {"2006-01-02t15:04:05Z", DC_EPARSE},
        {"2006-01-02T15:04:05z", DC_EPARSE},
        {"2006-01-02 15:04:05Z", DC_EPARSE},
        {"2006-1-02T15:04:05Z", DC_EPARSE},
        {"2006-01-02T5:04:05Z", DC_EPARSE},
        {"2006-13-02T15:04:05Z", DC_EPARSE},
        {"2006-00-02T15:04:05Z", DC_EPARSE},
        {"2006-01-00T15:04:05Z", DC_EPARSE},
        {"2006-01-32T15:04:05Z", DC_EPARSE},
        {"2006-04-31T15:04:05Z", DC_EPARSE},
        {"2001-02-29T15:04:05Z", DC_EPARSE},
        {"1900-02-29T15:04:05Z", DC_EPARSE},
        {"2006-01-02T24:00:00Z", DC_EPARSE},
        {"2006-01-02T15:60:05Z", DC_EPARSE},
        {"2006-01-02T15:04:60Z", DC_EPARSE},
        {"2006-01-02T15:04:05+24:00", DC_EPARSE},
        {"2006-01-02T15:04:05+07:60", DC_EPARSE},
        {"2006-01-02T15:04:05+0700", DC_EPARSE},
        {"2006-01-02T15:04:05+07", DC_EPARSE},
        {"2006-01-02T15:04:05+07:00 ", DC_EPARSE},
        {"2006-01-02T15:04:05Z ", DC_EPARSE},
        {"2006-01-02T15:04:05.Z", DC_EPARSE},
        {"2006-01-02T15:04:05,5Z", DC_EPARSE},
        {"2006-01-02T15:04:05ZZ", DC_EPARSE},
        {"+2006-01-02T15:04:05Z", DC_EPARSE},
        {"2006-01-02T15:04:05.5", DC_EPARSE},
        {"2262-04-11T23:47:16.854775808Z", DC_ERANGE},
        {"1677-09-21T00:12:43.145224191Z", DC_ERANGE},
        {"0000-01-01T00:00:00Z", DC_ERANGE},
        {"9999-12-31T23:59:59Z", DC_ERANGE},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        int64_t got = 0;
        struct dc_errbuf eb = {{0}};
        if (dc_rfc3339_parse(cases[i].in, &got, &eb) != DC_OK || got != cases[i].want)
            fail_msg("%s: got %lld want %lld (%s)", cases[i].in, (long long)got,
                     (long long)cases[i].want, eb.msg);
    }
    for (size_t i = 0; i < N(errs); i++) {
        int64_t got = 42;
        struct dc_errbuf eb = {{0}};
        int rv = dc_rfc3339_parse(errs[i].in, &got, &eb);
        if (rv != errs[i].want || got != 42 || eb.msg[0] == '\0')
            fail_msg("\"%s\": rv %d want %d", errs[i].in, rv, errs[i].want);
    }
}

static void test_rfc3339_format(void **state)
{
    static const struct fmt_case cases[] = {
        {0, "1970-01-01T00:00:00Z"},
        {-1, "1969-12-31T23:59:59.999999999Z"},
        {-SEC, "1969-12-31T23:59:59Z"},
        {1136214245 * SEC + 500 * MS, "2006-01-02T15:04:05.5Z"},
        {1136214245 * SEC + 120, "2006-01-02T15:04:05.00000012Z"},
        {951782400 * SEC, "2000-02-29T00:00:00Z"},
        {INT64_MAX, "2262-04-11T23:47:16.854775807Z"},
        {INT64_MIN, "1677-09-21T00:12:43.145224192Z"},
    };
    char out[DC_RFC3339_FMT_LEN];
    uint64_t seed = 12345;
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        assert_int_equal(dc_rfc3339_format(cases[i].in, out, sizeof(out)), DC_OK);
        assert_string_equal(out, cases[i].want);
    }
    assert_int_equal(dc_rfc3339_format(0, out, 21), DC_OK);
    assert_int_equal(dc_rfc3339_format(0, out, 20), DC_ETOOBIG);
    assert_string_equal(out, "");
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng_next(&seed);
        int64_t v = (int64_t)r, back = 0;
        if (r & 1)
            v -= v % SEC; /* whole seconds too */
        assert_int_equal(dc_rfc3339_format(v, out, sizeof(out)), DC_OK);
        if (dc_rfc3339_parse(out, &back, NULL) != DC_OK || back != v)
            fail_msg("%lld -> %s -> %lld", (long long)v, out, (long long)back);
    }
}

static void test_quantity_parse(void **state)
{
    static const struct dur_case cases[] = {
        {"4Mi", 4194304000},
        {"500m", 500},
        {"0.5", 500},
        {"100k", 100000000},
        {"1", 1000},
        {"0", 0},
        {"-0", 0},
        {"+1", 1000},
        {"-1", -1000},
        {"1e3", 1000000},
        {"1E3", 1000000},
        {"1e+3", 1000000},
        {"1e-3", 1},
        {"1.5e3", 1500000},
        {"1Ki", 1024000},
        {"4Ki", 4096000},
        {"1.5Gi", INT64_C(1610612736000)},
        {"1Ti", INT64_C(1099511627776000)},
        {"1Pi", INT64_C(1125899906842624000)},
        {"1n", 1},   /* below a milli: rounds up */
        {"-1n", -1}, /* away from zero */
        {"1u", 1},
        {"1500u", 2},
        {"1m", 1},
        {"1.5m", 2},
        {"0.0001", 1},
        {"123.456789", 123457},
        {"5.", 5000},
        {".5", 500},
        {"+.5", 500},
        {"2G", INT64_C(2000000000000)},
        {"3T", INT64_C(3000000000000000)},
        {"1P", INT64_C(1000000000000000000)},
        {"9P", INT64_C(9000000000000000000)},
        {"0.001Ki", 1024},
        {"0.0001Ki", 103}, /* 102.4 milli rounds up */
        {"0e999999999999", 0},
        {"1e-999999999", 1},
        {"0000000000000000000000000000001", 1000},
        {"0.1000000000000000000000000000000", 100},
        {"9223372036854775.807", INT64_MAX},
        {"-9223372036854775.808", INT64_MIN},
        {"100M", INT64_C(100000000000)},
    };
    static const struct err_case errs[] = {
        {"", DC_EPARSE},
        {".", DC_EPARSE},
        {"+", DC_EPARSE},
        {"Ki", DC_EPARSE},
        {"1K", DC_EPARSE},
        {"1KI", DC_EPARSE},
        {"1 Ki", DC_EPARSE},
        {" 1", DC_EPARSE},
        {"1 ", DC_EPARSE},
        {"1.2.3", DC_EPARSE},
        {"1e", DC_EPARSE},
        {"1e+", DC_EPARSE},
        {"1e3.5", DC_EPARSE},
        {"1Mib", DC_EPARSE},
        {"--1", DC_EPARSE},
        {"1x", DC_EPARSE},
        {"0x10", DC_EPARSE},
        {"1mi", DC_EPARSE},
        {"1E", DC_ERANGE},
        {"10E", DC_ERANGE},
        {"8Ei", DC_ERANGE},
        {"1e100", DC_ERANGE},
        {"9223372036854775.808", DC_ERANGE},
        {"-9223372036854775.809", DC_ERANGE},
        {"99999999999999999999999999", DC_ERANGE},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        int64_t got = 0;
        struct dc_errbuf eb = {{0}};
        if (dc_quantity_parse(cases[i].in, &got, &eb) != DC_OK || got != cases[i].want)
            fail_msg("%s: got %lld want %lld (%s)", cases[i].in, (long long)got,
                     (long long)cases[i].want, eb.msg);
    }
    for (size_t i = 0; i < N(errs); i++) {
        int64_t got = 42;
        struct dc_errbuf eb = {{0}};
        int rv = dc_quantity_parse(errs[i].in, &got, &eb);
        if (rv != errs[i].want || got != 42 || eb.msg[0] == '\0')
            fail_msg("\"%s\": rv %d want %d", errs[i].in, rv, errs[i].want);
    }
}

struct bytes_case {
    const char *in;
    uint64_t want;
};

static void test_quantity_bytes(void **state)
{
    static const struct bytes_case cases[] = {
        {"4Mi", 4194304},
        {"4Ki", 4096},
        {"0", 0},
        {"-0", 0},
        {"1.5", 2},
        {"100m", 1},
        {"1k", 1000},
        {"1Gi", 1073741824},
        {"15Ei", UINT64_C(17293822569102704640)},
        {"18446744073709551615", UINT64_MAX},
        {"1e3", 1000},
        {"1E", UINT64_C(1000000000000000000)},
        {"2.5Ki", 2560},
        {"0.1Ki", 103},
    };
    static const struct err_case errs[] = {
        {"-1", DC_ERANGE},
        {"-1m", DC_ERANGE},
        {"16Ei", DC_ERANGE},
        {"18446744073709551616", DC_ERANGE},
        {"18446744073709551615.1", DC_ERANGE},
        {"abc", DC_EPARSE},
        {"4MB", DC_EPARSE},
    };
    char big[DC_MAX_QUANTITY_LEN + 2];
    uint64_t got;
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct dc_errbuf eb = {{0}};
        got = 0;
        if (dc_quantity_bytes(cases[i].in, &got, &eb) != DC_OK || got != cases[i].want)
            fail_msg("%s: got %llu (%s)", cases[i].in, (unsigned long long)got, eb.msg);
    }
    for (size_t i = 0; i < N(errs); i++) {
        got = 42;
        if (dc_quantity_bytes(errs[i].in, &got, NULL) != errs[i].want || got != 42)
            fail_msg("\"%s\" wrongly handled", errs[i].in);
    }
    /* The length bound. */
    memset(big, '0', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(dc_quantity_bytes(big, &got, NULL), DC_ETOOBIG);
    big[DC_MAX_QUANTITY_LEN] = '\0';
    big[DC_MAX_QUANTITY_LEN - 1] = '7';
    assert_int_equal(dc_quantity_bytes(big, &got, NULL), DC_OK);
    assert_int_equal(got, 7);
}

static void test_clocks(void **state)
{
    int64_t a = dc_mono_ns(), b = dc_mono_ns();
    int64_t now = dc_now_ns();
    (void)state;
    assert_true(b >= a);
    assert_true(now > INT64_C(1600000000) * SEC); /* after September 2020 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parse_ok),
        cmocka_unit_test(test_duration_parse_errors),
        cmocka_unit_test(test_duration_messages),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_duration_round_trip),
        cmocka_unit_test(test_duration_ms_or_go),
        cmocka_unit_test(test_iso8601_ok),
        cmocka_unit_test(test_iso8601_errors),
        cmocka_unit_test(test_rfc3339_parse),
        cmocka_unit_test(test_rfc3339_format),
        cmocka_unit_test(test_quantity_parse),
        cmocka_unit_test(test_quantity_bytes),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
