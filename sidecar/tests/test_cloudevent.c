/* Unit tests of sdc_json_append_sorted (cloudevent.h): its output must be byte for byte what
 * dc_json_parse + sdc_json_sort_keys + dc_json_print give, on the fast path's subset and off it
 * (escapes, numbers, nesting, malformed input), for hand-picked and generated documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dc/json.h"
#include "dc/limits.h"

#include "../cloudevent.h"

/* The reference: cJSON's tree, sorted, printed. NULL when dc_json_parse refuses the input. */
static char *reference(const char *doc, size_t len)
{
    cJSON *v = NULL;
    char *text;

    if (dc_json_parse(len > 0 ? doc : "", len, len, &v, NULL) != DC_OK)
        return NULL;
    sdc_json_sort_keys(v);
    text = dc_json_print(v);
    cJSON_Delete(v);
    return text;
}

/* Compare with the reference; the output is appended after existing content. */
static void check_doc(const char *doc, size_t len)
{
    struct dc_buf b = {0};
    char *want = reference(doc, len);
    int rv;

    assert_int_equal(dc_buf_append(&b, "pre:", 4), DC_OK);
    rv = sdc_json_append_sorted(&b, doc, len);
    if (want == NULL) {
        if (rv != DC_EPARSE)
            fail_msg("accepted what dc_json_parse refuses: %.*s", (int)len, doc);
        assert_int_equal(b.len, 4);
    } else {
        if (rv != DC_OK)
            fail_msg("refused %.*s (%d)", (int)len, doc, rv);
        if (b.len != 4 + strlen(want) || memcmp(b.data + 4, want, strlen(want)) != 0)
            fail_msg("input  %.*s\nwant   %s\ngot    %s", (int)len, doc, want, b.data + 4);
        assert_int_equal(b.data[b.len], '\0');
    }
    free(want);
    dc_buf_cleanup(&b);
}

static void check(const char *doc)
{
    check_doc(doc, strlen(doc));
}

static void test_subset(void **state)
{
    (void)state;
    check("{\"t\":\"x\",\"p\":\"y\"}");
    check(" { \"b\" : 1 , \"a\" : [ true , false , null , -7 , 0 , 123456789 ] } \n");
    check("{\"a\":1,\"a\":2,\"A\":3,\"a\":0}"); /* duplicates keep their order */
    check("{\"ab\":1,\"a\":2,\"abc\":3,\"\":4}");
    check("{}");
    check("[]");
    check("[ ]");
    check("{ }");
    check("\"just a string\"");
    check("42");
    check("-42");
    check("true");
    check("null");
    check("[{\"z\":{\"y\":[1,{\"d\":1,\"c\":2}],\"x\":\"\"}},[[[]]]]");
    check("{\"s\":\"tab\\t nl\\n cr\\r bs\\\\ q\\\" b\\b f\\f\"}");
    check("{\"\xc3\xa9t\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\",\"e\":1}");
    check("{\"k10\":1,\"k9\":2,\"k1\":3,\"k2\":4,\"k3\":5,\"k4\":6,\"k5\":7,\"k6\":8,\"k7\":9,"
          "\"k8\":10,\"k0\":11}");
}

static void test_off_subset(void **state)
{
    (void)state;
    /* Valid JSON that cJSON prints differently: the slow path must give the same bytes. */
    check("{\"a\":1.50,\"b\":1e3,\"c\":-0,\"d\":1234567890,\"e\":12345678901234567890}");
    check("{\"a\":0.1,\"b\":-2.5E-3,\"c\":2147483647,\"d\":-2147483648,\"e\":2147483648}");
    check("{\"s\":\"\\/ \\u00e9 \\u20ac \\ud83d\\ude00 \\u0001\"}");
    check("{\"k\\n\":1,\"k\":2,\"A\":3}"); /* an escaped key */
    check("{\"k\\u0041\":1,\"kB\":2}");
    /* Not JSON (or not what dc_json_parse accepts). */
    check("");
    check("   ");
    check("{");
    check("{\"a\":1,}");
    check("[1,]");
    check("[1 2]");
    check("{\"a\" 1}");
    check("{1:2}");
    check("01");
    check("1.");
    check("-");
    check("+1");
    check("tru");
    check("truex");
    check("nul");
    check("\"unterminated");
    check("\"ctl \x01\"");
    check("\"bad \xc3\x28\"");
    check("\"\xed\xa0\x80\""); /* a UTF-16 surrogate in UTF-8 */
    check("\"\\x\"");
    check("\"\\u12\"");
    check("\"\\u0000\"");
    check("{} {}");
    check("[1]]");
    check("\xef\xbb\xbf{}"); /* BOM */
    check("{\"a\":1}\x01");
    check_doc("[1,\0 2]", 7);
}

static void test_depth(void **state)
{
    char doc[2 * (DC_MAX_DOC_DEPTH + 2) + 1];

    (void)state;
    for (size_t depth = DC_MAX_DOC_DEPTH - 1; depth <= DC_MAX_DOC_DEPTH + 1; depth++) {
        memset(doc, '[', depth);
        memset(doc + depth, ']', depth);
        check_doc(doc, 2 * depth);
    }
}

/* ---- generated documents ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void ws(struct dc_buf *b)
{
    static const char *const w[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    assert_int_equal(dc_buf_appends(b, w[rnd(7)]), DC_OK);
}

static void gen_string(struct dc_buf *b, bool key)
{
    static const char *const parts[] = {
        "a",   "b",    "A",    "z",   "0",   " ",       "\xc3\xa9", "\xe2\x82\xac",
        "\\n", "\\\"", "\\\\", "\\t", "\\/", "\\u0041", "~",        "\x7f"};
    unsigned n = rnd(4);

    assert_int_equal(dc_buf_appendc(b, '"'), DC_OK);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(dc_buf_appends(b, parts[rnd(key ? 8 + 4 : 16)]), DC_OK);
    assert_int_equal(dc_buf_appendc(b, '"'), DC_OK);
}

static void gen_value(struct dc_buf *b, unsigned depth)
{
    static const char *const scalars[] = {"0",          "1",    "-1",    "123456789",
                                          "-987654321", "true", "false", "null",
                                          "1.5",        "1e2",  "-0",    "1234567890"};
    unsigned k = rnd(depth < 5 ? 10 : 6);

    if (k < 4) {
        assert_int_equal(dc_buf_appends(b, scalars[rnd(12)]), DC_OK);
    } else if (k < 6) {
        gen_string(b, false);
    } else {
        bool obj = k < 8;
        unsigned n = rnd(5);
        assert_int_equal(dc_buf_appendc(b, obj ? '{' : '['), DC_OK);
        for (unsigned i = 0; i < n; i++) {
            ws(b);
            if (obj) {
                gen_string(b, true);
                ws(b);
                assert_int_equal(dc_buf_appendc(b, ':'), DC_OK);
                ws(b);
            }
            gen_value(b, depth + 1);
            ws(b);
            if (i + 1 < n)
                assert_int_equal(dc_buf_appendc(b, ','), DC_OK);
        }
        ws(b);
        assert_int_equal(dc_buf_appendc(b, obj ? '}' : ']'), DC_OK);
    }
}

static void test_generated(void **state)
{
    struct dc_buf b = {0};

    (void)state;
    for (int i = 0; i < 3000; i++) {
        dc_buf_reset(&b);
        ws(&b);
        gen_value(&b, 0);
        ws(&b);
        check_doc(b.data, b.len);
        /* And a damaged copy: one byte dropped. */
        if (b.len > 1) {
            size_t cut = rnd((unsigned)b.len);
            memmove(b.data + cut, b.data + cut + 1, b.len - cut - 1);
            check_doc(b.data, b.len - 1);
        }
    }
    dc_buf_cleanup(&b);
}

/* The event built for an application/json payload carries the re-encoded data. */
static void test_envelope_data(void **state)
{
    static const char body[] = "{ \"t\": \"0\", \"p\": [1, {\"b\": 2, \"a\": 3}] }";
    struct sdc_md md = {0};
    struct sdc_ce_in in = {.app_id = "app",
                           .pubsub = "ps",
                           .topic = "t",
                           .content_type = "application/json",
                           .data = body,
                           .len = sizeof(body) - 1,
                           .md = &md,
                           .now_ns = 1};
    struct dc_buf b = {0};

    (void)state;
    sdc_md_set(&md, "cloudevent.id", "id1");
    assert_int_equal(sdc_cloudevent_build(&in, &b, NULL), DC_OK);
    assert_string_equal(b.data,
                        "{\"data\":{\"p\":[1,{\"a\":3,\"b\":2}],\"t\":\"0\"},"
                        "\"datacontenttype\":\"application/json\",\"id\":\"id1\","
                        "\"pubsubname\":\"ps\",\"source\":\"app\",\"specversion\":\"1.0\","
                        "\"time\":\"1970-01-01T00:00:00Z\",\"topic\":\"t\",\"traceid\":\"\","
                        "\"traceparent\":\"\",\"tracestate\":\"\","
                        "\"type\":\"com.dapr.event.sent\"}");
    dc_buf_cleanup(&b);
    sdc_md_cleanup(&md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subset),        cmocka_unit_test(test_off_subset),
        cmocka_unit_test(test_depth),         cmocka_unit_test(test_generated),
        cmocka_unit_test(test_envelope_data),
    };

    return cmocka_run_group_tests_name("cloudevent", tests, NULL, NULL);
}
