/* Unit tests of dc/flags.h: syntax, every type, defaults, errors, usage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/flags.h"
#include "dc/log.h"

struct opts {
    const char *s;
    char *dup;
    int port;
    uint16_t port16;
    int64_t i64;
    unsigned workers;
    bool b;
    int tri;
    enum dc_log_level level;
    int64_t dur;
    uint64_t bytes;
    struct dc_strlist list;
};

static const struct dc_flag tab[] = {
    DC_FLAG_DEF(struct opts, "s", DC_FLAG_STRING, s, "sdef", "a string"),
    DC_FLAG_DEF(struct opts, "dup", DC_FLAG_STRING_DUP, dup, "ddef", "an owned string"),
    DC_FLAG_DEF(struct opts, "port", DC_FLAG_PORT, port, "", "a port"),
    DC_FLAG_DEF(struct opts, "port16", DC_FLAG_PORT, port16, "4000", "a small port"),
    DC_FLAG_DEF(struct opts, "i", DC_FLAG_INT, i64, "-1", "an int"),
    DC_FLAG_DEF_INT(struct opts, "workers", workers, 0, 1024, NULL, "bounded"),
    DC_FLAG_DEF(struct opts, "b", DC_FLAG_BOOL, b, "true", "a bool"),
    DC_FLAG_DEF(struct opts, "tri", DC_FLAG_TRIBOOL, tri, NULL, "a tri-bool"),
    DC_FLAG_DEF(struct opts, "log-level", DC_FLAG_LOGLEVEL, level, "info", "a level"),
    DC_FLAG_DEF(struct opts, "dur", DC_FLAG_DURATION, dur, "3s", "a duration"),
    DC_FLAG_DEF(struct opts, "size", DC_FLAG_QUANTITY, bytes, "4Mi", "a quantity"),
    {.name = "size-mb",
     .type = DC_FLAG_SCALED,
     .off = offsetof(struct opts, bytes),
     .size = sizeof(uint64_t),
     .def = "4",
     .help = "deprecated MB",
     .shift = 20,
     .attrs = DC_FLAG_WEAK},
    DC_FLAG_DEF(struct opts, "list", DC_FLAG_LIST, list, NULL, "a list"),
    DC_FLAG_DEF(struct opts, "alias", DC_FLAG_LIST, list, NULL, "alias of --list"),
    DC_FLAG_DEF_IGNORED("old", false, "ignored"),
    DC_FLAG_DEF_IGNORED("old-bool", true, "ignored bool"),
};
#define N (sizeof(tab) / sizeof(tab[0]))

static int parse(struct opts *o, struct dc_errbuf *eb, bool *given, bool *help, int argc,
                 const char *const *argv)
{
    memset(o, 0, sizeof(*o));
    dc_flags_defaults(tab, N, o);
    return dc_flags_parse(tab, N, o, argc, argv, given, help, eb);
}

static void test_defaults(void **state)
{
    const char *argv[] = {"p"};
    struct dc_errbuf eb = {{0}};
    struct opts o;
    bool help = true;

    (void)state;
    assert_int_equal(parse(&o, &eb, NULL, &help, 1, argv), DC_OK);
    assert_false(help);
    assert_string_equal(o.s, "sdef");
    assert_string_equal(o.dup, "ddef");
    assert_int_equal(o.port, -1);
    assert_int_equal(o.port16, 4000);
    assert_int_equal(o.i64, -1);
    assert_int_equal(o.workers, 0);
    assert_true(o.b);
    assert_int_equal(o.tri, -1);
    assert_int_equal(o.level, DC_LOG_INFO);
    assert_int_equal(o.dur, INT64_C(3000000000));
    assert_int_equal(o.bytes, 4u << 20);
    assert_int_equal(o.list.n, 0);
    dc_flags_cleanup(tab, N, &o);
    assert_null(o.dup);
}

static void test_values(void **state)
{
    const char *argv[] = {"p",         "--s",    "x",           "-dup=y",    "--port=0",
                          "-port16",   "65535",  "--i",         "-7",        "--workers=1024",
                          "--b=false", "--tri",  "--log-level", "debug",     "--dur",
                          "1m",        "--size", "1Ki",         "--list",    " a, b ,,c",
                          "--alias=d", "--old",  "v",           "--old-bool"};
    struct dc_errbuf eb = {{0}};
    bool given[N];
    struct opts o;

    (void)state;
    assert_int_equal(parse(&o, &eb, given, NULL, 24, argv), DC_OK);
    assert_string_equal(o.s, "x");
    assert_string_equal(o.dup, "y");
    assert_int_equal(o.port, 0);
    assert_int_equal(o.port16, 65535);
    assert_int_equal(o.i64, -7);
    assert_int_equal(o.workers, 1024);
    assert_false(o.b);
    assert_int_equal(o.tri, 1);
    assert_int_equal(o.level, DC_LOG_DEBUG);
    assert_int_equal(o.dur, INT64_C(60000000000));
    assert_int_equal(o.bytes, 1024);
    assert_int_equal(o.list.n, 4);
    assert_string_equal(o.list.v[0], "a");
    assert_string_equal(o.list.v[1], "b");
    assert_string_equal(o.list.v[2], "c");
    assert_string_equal(o.list.v[3], "d");
    assert_true(given[0]);
    assert_false(given[11]); /* size-mb */
    dc_flags_cleanup(tab, N, &o);
    assert_int_equal(o.list.n, 0);
}

static void test_weak(void **state)
{
    const char *a1[] = {"p", "--size", "1Ki", "--size-mb", "2"};
    const char *a2[] = {"p", "--size-mb", "2", "--size", "1Ki"};
    const char *a3[] = {"p", "--size-mb", "2"};
    struct dc_errbuf eb = {{0}};
    struct opts o;

    (void)state;
    assert_int_equal(parse(&o, &eb, NULL, NULL, 5, a1), DC_OK);
    assert_int_equal(o.bytes, 1024);
    dc_flags_cleanup(tab, N, &o);
    assert_int_equal(parse(&o, &eb, NULL, NULL, 5, a2), DC_OK);
    assert_int_equal(o.bytes, 1024);
    dc_flags_cleanup(tab, N, &o);
    assert_int_equal(parse(&o, &eb, NULL, NULL, 3, a3), DC_OK);
    assert_int_equal(o.bytes, 2u << 20);
    dc_flags_cleanup(tab, N, &o);
}

static void expect_err(int argc, const char *const *argv, const char *msg)
{
    struct dc_errbuf eb = {{0}};
    struct opts o;

    assert_int_equal(parse(&o, &eb, NULL, NULL, argc, argv), DC_EINVAL);
    if (strncmp(eb.msg, msg, strlen(msg)) != 0)
        fail_msg("got \"%s\", want a message starting with \"%s\"", eb.msg, msg);
    dc_flags_cleanup(tab, N, &o);
}

static void test_errors(void **state)
{
    const char *a1[] = {"p", "--nope"};
    const char *a2[] = {"p", "--port"};
    const char *a3[] = {"p", "--port", "70000"};
    const char *a4[] = {"p", "--port16="};
    const char *a5[] = {"p", "--b=maybe"};
    const char *a6[] = {"p", "--log-level", "loud"};
    const char *a7[] = {"p", "--dur", "10"};
    const char *a8[] = {"p", "--size", "4Zi"};
    const char *a9[] = {"p", "stray"};
    const char *a10[] = {"p", "--workers", "1025"};
    const char *a11[] = {"p", "--nope=1"};
    const char *a12[] = {"p", "-"};
    const char *a13[] = {"p", "--help"};

    (void)state;
    expect_err(2, a1, "unknown flag: --nope");
    expect_err(2, a2, "flag needs an argument: --port");
    expect_err(3, a3, "invalid value for --port: invalid port \"70000\"");
    expect_err(2, a4, "invalid value for --port16: ");
    expect_err(2, a5, "invalid value for --b: invalid boolean \"maybe\"");
    expect_err(3, a6, "invalid value for --log-level: ");
    expect_err(3, a7, "invalid value for --dur: ");
    expect_err(3, a8, "invalid value for --size: ");
    expect_err(2, a9, "unexpected argument \"stray\"");
    expect_err(3, a10, "invalid value for --workers: ");
    expect_err(2, a11, "unknown flag: --nope");
    expect_err(2, a12, "unexpected argument \"-\"");
    expect_err(2, a13, "unknown flag: --help"); /* no help pointer: an ordinary unknown flag */
}

static void test_help(void **state)
{
    const char *a1[] = {"p", "--b", "-h", "--nope"};
    const char *a2[] = {"p", "-help"};
    struct dc_errbuf eb = {{0}};
    struct opts o;
    bool help = false;

    (void)state;
    assert_int_equal(parse(&o, &eb, NULL, &help, 4, a1), DC_OK);
    assert_true(help);
    dc_flags_cleanup(tab, N, &o);
    help = false;
    assert_int_equal(parse(&o, &eb, NULL, &help, 2, a2), DC_OK);
    assert_true(help);
    dc_flags_cleanup(tab, N, &o);
}

static void test_usage(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    assert_non_null(f);
    dc_flags_usage(f, tab, N);
    fclose(f);
    assert_non_null(strstr(text, "  --s value\n        a string (default sdef)\n"));
    assert_non_null(strstr(text, "  --b\n        a bool (default true)\n"));
    assert_non_null(strstr(text, "  --port value\n        a port\n"));
    assert_non_null(strstr(text, "  -h, --help\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_values),
        cmocka_unit_test(test_weak),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help),     cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
