/* Unit tests of dc/json.h: strict bounded parsing, typed getters, string encoding, printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/buf.h"
#include "dc/json.h"
#include "dc/limits.h"
#include "dc/str.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define LIT(s) s, sizeof(s) - 1

/* Parse a string literal (embedded NULs kept) with a generous limit. */
static int parse_lit(const char *s, size_t n, cJSON **out, struct dc_errbuf *eb)
{
    return dc_json_parse(s, n, 1u << 20, out, eb);
}

static void test_parse_ok(void **state)
{
    static const struct {
        const char *in;
        const char *printed;
    } cases[] = {
        {"{}", "{}"},
        {"[]", "[]"},
        {" \t\r\n{\"a\" : 1 , \"b\":[true,false,null]}\n ", "{\"a\":1,\"b\":[true,false,null]}"},
        {"null", "null"},
        {"true", "true"},
        {"\"x\"", "\"x\""},
        {"-0", "-0"},
        {"0", "0"},
        {"1e5", "100000"},
        {"1E+2", "100"},
        {"-1.5e-3", "-0.0015"},
        {"[0.5,10,-3]", "[0.5,10,-3]"},
        {"\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"",
         "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\""},
        {"\"a\\\"b\\\\c\\/d\\n\"", "\"a\\\"b\\\\c/d\\n\""},
        {"\"[[[[{{{{\\\"]]]\"", "\"[[[[{{{{\\\"]]]\""},
        {"{\"k\":\"-01.\"}", "{\"k\":\"-01.\"}"},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        cJSON *root = NULL;
        struct dc_errbuf eb = {{0}};
        char *p;
        if (parse_lit(cases[i].in, strlen(cases[i].in), &root, &eb) != DC_OK)
            fail_msg("%s: %s", cases[i].in, eb.msg);
        p = dc_json_print(root);
        assert_string_equal(p, cases[i].printed);
        free(p);
        cJSON_Delete(root);
    }
    assert_null(dc_json_print(NULL));
}

struct perr {
    const char *in;
    size_t len;
    const char *msg; /* expected message */
};

static void test_parse_errors(void **state)
{
    static const struct perr cases[] = {
        {LIT(""), "invalid JSON at offset 0 (line 1, column 1): unexpected end of input"},
        {LIT("{"), "invalid JSON at offset 1 (line 1, column 2): unexpected end of input"},
        {LIT("{\"a\":1} x"), "invalid JSON at offset 8 (line 1, column 9): syntax error"},
        {LIT("{}{}"), "invalid JSON at offset 2 (line 1, column 3): syntax error"},
        {LIT("[1,]"), "invalid JSON at offset 3 (line 1, column 4): syntax error"},
        {LIT("01"), "invalid JSON at offset 0 (line 1, column 1): invalid number"},
        {LIT("[1.]"), "invalid JSON at offset 1 (line 1, column 2): invalid number"},
        {LIT("[1.e5]"), "invalid JSON at offset 1 (line 1, column 2): invalid number"},
        {LIT("[1e]"), "invalid JSON at offset 1 (line 1, column 2): invalid number"},
        {LIT("[-]"), "invalid JSON at offset 1 (line 1, column 2): invalid number"},
        {LIT("[--1]"), "invalid JSON at offset 1 (line 1, column 2): invalid number"},
        {LIT("[1-2]"), "invalid JSON at offset 1 (line 1, column 2): invalid number"},
        {LIT("[.5]"), "invalid JSON at offset 1 (line 1, column 2): syntax error"},
        {LIT("[+1]"), "invalid JSON at offset 1 (line 1, column 2): syntax error"},
        {LIT("\"\xff\""), "invalid JSON at offset 1 (line 1, column 2): invalid UTF-8 in string"},
        {LIT("\"\xed\xa0\x80\""),
         "invalid JSON at offset 1 (line 1, column 2): invalid UTF-8 in string"},
        {LIT("\"\xe2\x82\""),
         "invalid JSON at offset 1 (line 1, column 2): invalid UTF-8 in string"},
        {LIT("\"a\x01\""),
         "invalid JSON at offset 2 (line 1, column 3): control character in string"},
        {LIT("\"a\nb\""),
         "invalid JSON at offset 2 (line 1, column 3): control character in string"},
        {LIT("\"a\\u0000b\""),
         "invalid JSON at offset 2 (line 1, column 3): \\u0000 in strings is not supported"},
        {LIT("\"\\u12g4\""), "invalid JSON at offset 1 (line 1, column 2): invalid \\u escape"},
        {LIT("\"\\u12"), "invalid JSON at offset 1 (line 1, column 2): invalid \\u escape"},
        {LIT("\"\\x\""), "invalid JSON at offset 1 (line 1, column 2): invalid escape"},
        {LIT("[\"abc"), "invalid JSON at offset 1 (line 1, column 2): unterminated string"},
        {LIT("\"abc\\"), "invalid JSON at offset 0 (line 1, column 1): unterminated string"},
        {LIT("\xef\xbb\xbf{}"), "invalid JSON at offset 0 (line 1, column 1): unexpected byte"},
        {LIT("\x01{}"), "invalid JSON at offset 0 (line 1, column 1): unexpected byte"},
        {LIT("{}\0"), "invalid JSON at offset 2 (line 1, column 3): unexpected byte"},
        {LIT("{}\0garbage"), "invalid JSON at offset 2 (line 1, column 3): unexpected byte"},
        {LIT("{\n  \"a\": 1,\n  \"b\": tru\n}"),
         "invalid JSON at offset 19 (line 3, column 8): syntax error"},
        {LIT("\"\\ud800\""), "invalid JSON at offset 1 (line 1, column 2): syntax error"},
        {LIT("{\"a\" 1}"), "invalid JSON at offset 5 (line 1, column 6): syntax error"},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        cJSON *root = (cJSON *)&root; /* sentinel: must stay untouched */
        struct dc_errbuf eb = {{0}};
        int rv = parse_lit(cases[i].in, cases[i].len, &root, &eb);
        if (rv != DC_EPARSE || root != (cJSON *)&root)
            fail_msg("case %zu (%s): rv %d", i, cases[i].in, rv);
        if (strcmp(eb.msg, cases[i].msg) != 0)
            fail_msg("case %zu: got \"%s\"\n want \"%s\"", i, eb.msg, cases[i].msg);
    }
}

static char *nested(int depth, const char *open, const char *inner, const char *close)
{
    size_t n = strlen(open) * (size_t)depth + strlen(inner) + strlen(close) * (size_t)depth + 1;
    char *s = malloc(n), *w = s;
    assert_non_null(s);
    for (int i = 0; i < depth; i++, w += strlen(open))
        memcpy(w, open, strlen(open));
    memcpy(w, inner, strlen(inner));
    w += strlen(inner);
    for (int i = 0; i < depth; i++, w += strlen(close))
        memcpy(w, close, strlen(close));
    *w = '\0';
    return s;
}

static void test_parse_depth_and_limits(void **state)
{
    struct dc_errbuf eb = {{0}};
    cJSON *root = NULL;
    char *s;
    (void)state;

    s = nested(DC_MAX_DOC_DEPTH, "[", "1", "]");
    assert_int_equal(parse_lit(s, strlen(s), &root, &eb), DC_OK);
    cJSON_Delete(root);
    free(s);
    s = nested(DC_MAX_DOC_DEPTH + 1, "[", "1", "]");
    assert_int_equal(parse_lit(s, strlen(s), &root, &eb), DC_EPARSE);
    assert_string_equal(eb.msg, "invalid JSON at offset 64 (line 1, column 65): nesting deeper "
                                "than 64");
    free(s);
    s = nested(DC_MAX_DOC_DEPTH, "{\"a\":", "{}", "}");
    assert_int_equal(parse_lit(s, strlen(s), &root, &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "nesting deeper than 64"));
    free(s);
    /* Far deeper than cJSON's own limit: rejected by the pre-scan without recursion. */
    s = nested(100000, "[", "", "]");
    assert_int_equal(parse_lit(s, strlen(s), &root, &eb), DC_EPARSE);
    free(s);
    /* Siblings do not add depth. */
    s = nested(DC_MAX_DOC_DEPTH - 2, "[", "[],[],[[]],{}", "]");
    assert_int_equal(parse_lit(s, strlen(s), &root, &eb), DC_OK);
    cJSON_Delete(root);
    free(s);

    assert_int_equal(dc_json_parse("[1, 2]", 6, 5, &root, &eb), DC_ETOOBIG);
    assert_string_equal(eb.msg, "JSON document of 6 bytes exceeds the limit of 5");
    assert_int_equal(dc_json_parse("[1, 2]", 6, 6, &root, NULL), DC_OK);
    cJSON_Delete(root);
}

static void test_parse_not_terminated(void **state)
{
    /* Exactly-sized heap copies: ASan flags any read past len. */
    static const char *const docs[] = {
        "[1]", "{\"a\":\"b\"}", "123", "\"abc", "12.", "tru", "{\"a\":[1,2,{\"b\":null}]}"};
    (void)state;
    for (size_t i = 0; i < N(docs); i++) {
        size_t n = strlen(docs[i]);
        char *p = malloc(n);
        cJSON *root = NULL;
        assert_non_null(p);
        memcpy(p, docs[i], n);
        if (dc_json_parse(p, n, n, &root, NULL) == DC_OK)
            cJSON_Delete(root);
        free(p);
    }
    /* A prefix of a longer buffer is parsed alone. */
    {
        cJSON *root = NULL;
        assert_int_equal(dc_json_parse("[1]xyz", 3, 100, &root, NULL), DC_OK);
        cJSON_Delete(root);
        assert_int_equal(dc_json_parse("123456", 3, 100, &root, NULL), DC_OK);
        assert_true(cJSON_IsNumber(root) && root->valuedouble == 123.0);
        cJSON_Delete(root);
    }
}

static void test_getters(void **state)
{
    static const char doc[] = "{\"s\":\"x\",\"i\":42,\"f\":1.5,\"b\":true,\"o\":{\"k\":1},"
                              "\"a\":[1],\"n\":null,\"big\":1e300,\"neg\":-7,"
                              "\"huge\":9007199254740992,\"edge\":-9007199254740991,"
                              "\"S\":\"upper\",\"s\":\"dup\"}";
    struct dc_errbuf eb = {{0}};
    cJSON *root = NULL;
    const char *str;
    const cJSON *sub;
    int64_t iv;
    double dv;
    bool bv;
    (void)state;

    assert_int_equal(parse_lit(doc, sizeof(doc) - 1, &root, &eb), DC_OK);

    assert_int_equal(dc_json_get_string(root, "s", true, &str, &eb), DC_OK);
    assert_string_equal(str, "x"); /* first duplicate wins */
    assert_int_equal(dc_json_get_string(root, "S", true, &str, &eb), DC_OK);
    assert_string_equal(str, "upper");
    assert_int_equal(dc_json_get_string(root, "i", false, &str, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "field \"i\" must be a string");
    assert_int_equal(dc_json_get_string(root, "zz", false, &str, &eb), DC_OK);
    assert_null(str);
    assert_int_equal(dc_json_get_string(root, "n", false, &str, &eb), DC_OK);
    assert_null(str);
    assert_int_equal(dc_json_get_string(root, "zz", true, &str, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "field \"zz\" is required");
    assert_int_equal(dc_json_get_string(root, "n", true, &str, &eb), DC_EINVAL);

    assert_int_equal(dc_json_get_int(root, "i", true, 0, 100, &iv, &eb), DC_OK);
    assert_int_equal(iv, 42);
    assert_int_equal(dc_json_get_int(root, "neg", true, INT64_MIN, INT64_MAX, &iv, &eb), DC_OK);
    assert_int_equal(iv, -7);
    assert_int_equal(dc_json_get_int(root, "edge", true, INT64_MIN, INT64_MAX, &iv, &eb), DC_OK);
    assert_int_equal(iv, -INT64_C(9007199254740991));
    iv = 99;
    assert_int_equal(dc_json_get_int(root, "i", true, 0, 10, &iv, &eb), DC_ERANGE);
    assert_string_equal(eb.msg, "field \"i\" must be between 0 and 10");
    assert_int_equal(iv, 99);
    assert_int_equal(dc_json_get_int(root, "f", true, 0, 10, &iv, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "field \"f\" must be an integer");
    assert_int_equal(dc_json_get_int(root, "s", true, 0, 10, &iv, &eb), DC_EINVAL);
    assert_int_equal(dc_json_get_int(root, "big", true, INT64_MIN, INT64_MAX, &iv, &eb), DC_ERANGE);
    assert_int_equal(dc_json_get_int(root, "huge", true, INT64_MIN, INT64_MAX, &iv, &eb),
                     DC_ERANGE);
    assert_int_equal(dc_json_get_int(root, "zz", false, 0, 10, &iv, &eb), DC_OK);
    assert_int_equal(iv, 99); /* default kept */

    assert_int_equal(dc_json_get_double(root, "f", true, &dv, &eb), DC_OK);
    assert_true(dv == 1.5);
    assert_int_equal(dc_json_get_double(root, "i", true, &dv, &eb), DC_OK);
    assert_true(dv == 42.0);
    assert_int_equal(dc_json_get_double(root, "b", true, &dv, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "field \"b\" must be a number");

    bv = false;
    assert_int_equal(dc_json_get_bool(root, "b", true, &bv, &eb), DC_OK);
    assert_true(bv);
    assert_int_equal(dc_json_get_bool(root, "i", true, &bv, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "field \"i\" must be a boolean");
    assert_int_equal(dc_json_get_bool(root, "zz", false, &bv, &eb), DC_OK);
    assert_true(bv);

    assert_int_equal(dc_json_get_object(root, "o", true, &sub, &eb), DC_OK);
    assert_int_equal(dc_json_get_int(sub, "k", true, 0, 5, &iv, &eb), DC_OK);
    assert_int_equal(iv, 1);
    assert_int_equal(dc_json_get_object(root, "a", true, &sub, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "field \"a\" must be an object");
    assert_null(sub);
    assert_int_equal(dc_json_get_array(root, "a", true, &sub, &eb), DC_OK);
    assert_int_equal(cJSON_GetArraySize(sub), 1);
    assert_int_equal(dc_json_get_array(root, "o", true, &sub, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "field \"o\" must be an array");
    assert_int_equal(dc_json_get_array(root, "zz", false, &sub, NULL), DC_OK);
    assert_null(sub);

    /* Not an object. */
    assert_int_equal(dc_json_get_array(root, "a", true, &sub, &eb), DC_OK);
    assert_int_equal(dc_json_get_string(sub, "x", false, &str, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "cannot read field \"x\": not a JSON object");
    assert_int_equal(dc_json_get_string(NULL, "x", false, &str, NULL), DC_EINVAL);
    cJSON_Delete(root);
}

static void test_append_string(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {LIT(""), "\"\""},
        {LIT("plain text"), "\"plain text\""},
        {LIT("a\"b\\c/"), "\"a\\\"b\\\\c/\""},
        {LIT("\n\t\r\b\f"), "\"\\n\\t\\r\\b\\f\""},
        {LIT("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\""},
        {LIT("a\0b"), "\"a\\u0000b\""},
        {LIT("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
         "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {LIT("\xff"), "\"\\ufffd\""},
        {LIT("a\xe2\x82"), "\"a\\ufffd\\ufffd\""},
        {LIT("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\""},
        {LIT("\xc0\xaf"), "\"\\ufffd\\ufffd\""},
        {LIT("x\xe2\x80\xa8y\xe2\x80\xa9"), "\"x\\u2028y\\u2029\""},
        {LIT("<&>"), "\"<&>\""},
    };
    struct dc_buf b;
    (void)state;
    dc_buf_init(&b, 4096);
    for (size_t i = 0; i < N(cases); i++) {
        dc_buf_reset(&b);
        assert_int_equal(dc_json_append_string(&b, cases[i].in, cases[i].len), DC_OK);
        assert_string_equal(dc_buf_cstr(&b), cases[i].want);
    }
    dc_buf_cleanup(&b);

    /* Failure leaves the buffer as it was. */
    dc_buf_init(&b, 10);
    assert_int_equal(dc_buf_appends(&b, "[1,"), DC_OK);
    assert_int_equal(dc_json_append_string(&b, LIT("abcdefgh")), DC_ETOOBIG);
    assert_string_equal(dc_buf_cstr(&b), "[1,");
    assert_int_equal(dc_json_append_string(&b, LIT("\n\n\n")), DC_ETOOBIG);
    assert_string_equal(dc_buf_cstr(&b), "[1,");
    assert_int_equal(dc_json_append_string(&b, LIT("ab")), DC_OK);
    assert_string_equal(dc_buf_cstr(&b), "[1,\"ab\"");
    dc_buf_cleanup(&b);
}

/* dc_json_plain_span stops at the first byte a string literal must look at, wherever it sits
 * relative to the 8- or 16-byte blocks. */
static void test_plain_span(void **state)
{
    static const unsigned char stops[] = {'"', '\\', 0x00, 0x1f, 0x80, 0xff, '\n'};
    char s[41];
    (void)state;
    memset(s, 'a', sizeof(s));
    s[40] = '~';
    assert_int_equal(dc_json_plain_span(s, 41), 41);
    assert_int_equal(dc_json_plain_span(s, 0), 0);
    for (size_t k = 0; k < sizeof(stops); k++) {
        for (size_t at = 0; at < 41; at++) {
            s[at] = (char)stops[k];
            assert_int_equal(dc_json_plain_span(s, 41), at);
            assert_int_equal(dc_json_plain_span(s, at), at);
            s[at] = 'a';
        }
    }
}

static void test_append_kv(void **state)
{
    struct dc_buf b = {0};
    (void)state;
    assert_int_equal(dc_buf_appendc(&b, '{'), DC_OK);
    assert_int_equal(dc_json_append_kv_string(&b, "a", "1", false), DC_OK);
    assert_int_equal(dc_json_append_kv_string(&b, "q\"", "x\ny", true), DC_OK);
    assert_int_equal(dc_json_append_kv_string(&b, "n", NULL, true), DC_OK);
    assert_int_equal(dc_buf_appendc(&b, '}'), DC_OK);
    assert_string_equal(dc_buf_cstr(&b), "{\"a\":\"1\",\"q\\\"\":\"x\\ny\",\"n\":null}");
    dc_buf_cleanup(&b);

    dc_buf_init(&b, 8);
    assert_int_equal(dc_json_append_kv_string(&b, "key", "value", true), DC_ETOOBIG);
    assert_int_equal(b.len, 0);
    dc_buf_cleanup(&b);
}

/* Encoding arbitrary bytes always yields a JSON string that parses; valid UTF-8 without NUL
 * comes back byte for byte. */
static void test_encode_parse_round_trip(void **state)
{
    uint64_t seed = 88172645463325252u;
    struct dc_buf b = {0};
    unsigned char in[64];
    (void)state;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)(iter % 40);
        cJSON *root = NULL;
        struct dc_errbuf eb = {{0}};
        for (size_t i = 0; i < n; i++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            /* Bias towards ASCII and UTF-8 lead/continuation bytes. */
            if (iter & 1)
                in[i] = (unsigned char)(seed % 256);
            else
                in[i] = (unsigned char)"a\"\\\n\xc3\xa9\xe2\x82\xac"[seed % 9];
        }
        dc_buf_reset(&b);
        assert_int_equal(dc_json_append_string(&b, (const char *)in, n), DC_OK);
        if (memchr(in, 0, n) != NULL) { /* \u0000 is refused by the parser */
            assert_int_equal(dc_json_parse(b.data, b.len, b.len, &root, NULL), DC_EPARSE);
            continue;
        }
        if (dc_json_parse(b.data, b.len, b.len, &root, &eb) != DC_OK)
            fail_msg("encoded output did not parse: %s (%s)", dc_buf_cstr(&b), eb.msg);
        assert_true(cJSON_IsString(root));
        if (dc_utf8_valid((const char *)in, n)) {
            assert_int_equal(strlen(root->valuestring), n);
            assert_memory_equal(root->valuestring, in, n);
        }
        cJSON_Delete(root);
    }
    dc_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_depth_and_limits),
        cmocka_unit_test(test_parse_not_terminated),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_append_string),
        cmocka_unit_test(test_plain_span),
        cmocka_unit_test(test_append_kv),
        cmocka_unit_test(test_encode_parse_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
