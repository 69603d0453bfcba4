/* Unit tests of the small core modules: err, buf, arena, str, log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc/arena.h"
#include "dc/buf.h"
#include "dc/err.h"
#include "dc/log.h"
#include "dc/str.h"

static void test_err_table(void **state)
{
    (void)state;
    assert_string_equal(dc_strerror(DC_OK), "ok");
    assert_string_equal(dc_strerror(DC_ETOOBIG), "too big");
    assert_string_equal(dc_strerror(12345), "unknown error");
}

static void test_err_wrap(void **state)
{
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(dc_err_set(&eb, DC_EPARSE, "line %d", 3), DC_EPARSE);
    dc_err_wrapf(&eb, "file %s", "a.yaml");
    assert_string_equal(eb.msg, "file a.yaml: line 3");
    dc_err_clear(&eb);
    dc_err_wrapf(&eb, "only");
    assert_string_equal(eb.msg, "only");
    assert_int_equal(dc_err_set(NULL, DC_EIO, "x"), DC_EIO);
    dc_err_wrapf(NULL, "nothing");
}

static void test_buf_limits(void **state)
{
    struct dc_buf b;
    (void)state;
    dc_buf_init(&b, 10);
    assert_int_equal(dc_buf_appends(&b, "hello"), DC_OK);
    assert_int_equal(dc_buf_appendf(&b, "%d", 12345), DC_OK);
    assert_int_equal(b.len, 10);
    assert_string_equal(dc_buf_cstr(&b), "hello12345");
    assert_int_equal(dc_buf_appendc(&b, 'x'), DC_ETOOBIG);
    assert_string_equal(dc_buf_cstr(&b), "hello12345");
    dc_buf_reset(&b);
    assert_string_equal(dc_buf_cstr(&b), "");
    dc_buf_cleanup(&b);
    assert_int_equal(b.max, 10);
}

static void test_buf_zero_and_take(void **state)
{
    struct dc_buf b = {0};
    size_t len;
    char *p;
    (void)state;
    assert_string_equal(dc_buf_cstr(&b), "");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(dc_buf_appendf(&b, "%03d", i % 1000), DC_OK);
    assert_int_equal(b.len, 3000);
    p = dc_buf_take(&b, &len);
    assert_int_equal(len, 3000);
    assert_memory_equal(p + 2997, "999", 3);
    assert_null(b.data);
    free(p);
    p = dc_buf_take(&b, NULL);
    assert_string_equal(p, "");
    free(p);
}

static int cleanups_run;
static void count_cleanup(void *arg)
{
    int *order = arg;
    *order = ++cleanups_run;
}

static void test_arena(void **state)
{
    struct dc_arena a;
    int first = 0, second = 0;
    (void)state;
    dc_arena_init(&a);
    char *s = dc_arena_strdup(&a, "abc");
    assert_string_equal(s, "abc");
    char *big = dc_arena_alloc(&a, 100000);
    memset(big, 1, 100000);
    for (int i = 0; i < 1000; i++) {
        int *p = dc_arena_calloc(&a, sizeof(int) * 4);
        assert_int_equal(p[3], 0);
        assert_int_equal(((uintptr_t)p) % _Alignof(max_align_t), 0);
    }
    assert_string_equal(dc_arena_sprintf(&a, "%s-%d", s, 7), "abc-7");
    dc_arena_on_cleanup(&a, count_cleanup, &first);
    dc_arena_on_cleanup(&a, count_cleanup, &second);
    cleanups_run = 0;
    dc_arena_cleanup(&a);
    assert_int_equal(second, 1); /* last registered runs first */
    assert_int_equal(first, 2);
    assert_null(a.chunks);
}

static void test_str(void **state)
{
    char small[4];
    int64_t v;
    bool b;
    (void)state;
    assert_int_equal(dc_strlcpy(small, "abcdef", sizeof(small)), 6);
    assert_string_equal(small, "abc");
    assert_true(dc_str_eq_ci("Hello", "hELLO"));
    assert_true(dc_str_eq(NULL, NULL));
    assert_false(dc_str_eq("a", NULL));
    assert_true(dc_str_has_prefix("v1.0/state", "v1.0/"));
    assert_true(dc_str_has_suffix("a.yaml", ".yaml"));
    assert_false(dc_str_has_suffix("a", ".yaml"));
    assert_int_equal(dc_str_to_i64("3500", 0, 65535, &v), DC_OK);
    assert_int_equal(v, 3500);
    assert_int_equal(dc_str_to_i64("70000", 0, 65535, &v), DC_ERANGE);
    assert_int_equal(dc_str_to_i64("12x", 0, 65535, &v), DC_EINVAL);
    assert_int_equal(dc_str_to_i64(" 1", 0, 65535, &v), DC_EINVAL);
    assert_int_equal(dc_str_to_i64("", 0, 65535, &v), DC_EINVAL);
    assert_int_equal(dc_str_to_bool("True", &b), DC_OK);
    assert_true(b);
    assert_int_equal(dc_str_to_bool("0", &b), DC_OK);
    assert_false(b);
    assert_int_equal(dc_str_to_bool("yes", &b), DC_EINVAL);
    assert_true(dc_str_truthy("YES"));
    assert_false(dc_str_truthy("nope"));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(dc_utf8_valid("plain", 5));
    assert_true(dc_utf8_valid("caf\xc3\xa9", 5));
    assert_true(dc_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(dc_utf8_valid("\xc3", 1));         /* truncated */
    assert_false(dc_utf8_valid("\xc0\xaf", 2));     /* overlong */
    assert_false(dc_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(dc_utf8_valid("\xff", 1));
}

static void read_log(int fd, char *out, size_t cap)
{
    ssize_t n = read(fd, out, cap - 1);
    assert_true(n > 0);
    out[n] = '\0';
}

static void test_log_json_and_text(void **state)
{
    int fds[2];
    char line[4096];
    enum dc_log_level lv;
    (void)state;
    assert_int_equal(pipe(fds), 0);
    dc_log_set_fd(fds[1]);
    dc_log_setup(DC_LOG_INFO, true, "dapr.runtime", "myapp");
    DC_LOG(DC_LOG_DEBUG, "hidden");
    DC_LOG(DC_LOG_INFO, "hello \"world\"\n");
    read_log(fds[0], line, sizeof(line));
    assert_non_null(strstr(line, "\"app_id\":\"myapp\""));
    assert_non_null(strstr(line, "\"level\":\"info\""));
    assert_non_null(strstr(line, "\"msg\":\"hello \\\"world\\\"\\n\""));
    assert_non_null(strstr(line, "\"scope\":\"dapr.runtime\""));
    assert_non_null(strstr(line, "\"type\":\"log\""));
    assert_non_null(strstr(line, "\"ver\":\""));
    assert_non_null(strstr(line, "\"time\":\""));
    assert_int_equal(line[0], '{');
    assert_string_equal(line + strlen(line) - 2, "}\n");

    dc_log_setup(DC_LOG_DEBUG, false, "dapr.runtime", "myapp");
    DC_LOG(DC_LOG_WARN, "plain words");
    read_log(fds[0], line, sizeof(line));
    assert_true(dc_str_has_prefix(line, "time=\""));
    assert_non_null(strstr(line, " level=warning msg=\"plain words\" app_id=myapp"));

    assert_int_equal(dc_log_level_parse("WARN", &lv), DC_OK);
    assert_int_equal(lv, DC_LOG_WARN);
    assert_int_equal(dc_log_level_parse("verbose", &lv), DC_EINVAL);
    dc_log_set_fd(2);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table),  cmocka_unit_test(test_err_wrap),
        cmocka_unit_test(test_buf_limits), cmocka_unit_test(test_buf_zero_and_take),
        cmocka_unit_test(test_arena),      cmocka_unit_test(test_str),
        cmocka_unit_test(test_utf8),       cmocka_unit_test(test_log_json_and_text),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
