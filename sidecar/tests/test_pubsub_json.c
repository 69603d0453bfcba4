/* Unit tests of the pub/sub fast paths (pubsub_json.c): each must give exactly what the cJSON
 * slow path gives, or decline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dc/json.h"
#include "dc/str.h"

#include "../cloudevent.h"
#include "../pubsub_json.h"

#define NOW 1727784000000000000LL /* 2024-10-01T12:00:00Z */

/* The slow path of sdc__ps_json_canon: parse, sort keys, print. NULL when it does not parse. */
static char *reference(const char *s, size_t n)
{
    cJSON *v = NULL;
    char *t;

    if (dc_json_parse(s, n, n, &v, NULL) != DC_OK)
        return NULL;
    sdc_json_sort_keys(v);
    t = dc_json_print(v);
    cJSON_Delete(v);
    return t;
}

/* Check the fast path against the reference; returns whether it handled `s`. */
static bool canon_agrees(const char *s, size_t n)
{
    struct dc_buf b = {0};
    char *ref = reference(s, n);
    int rv;

    assert_int_equal(dc_buf_append(&b, "pre", 3), DC_OK);
    rv = sdc__ps_json_canon(s, n, &b);
    if (rv == DC_OK) {
        if (ref == NULL)
            fail_msg("fast path accepted what dc_json_parse refuses: %.*s", (int)n, s);
        if (strcmp(b.data + 3, ref) != 0)
            fail_msg("fast path differs for %.*s:\n  fast %s\n  slow %s", (int)n, s, b.data + 3,
                     ref);
    } else {
        assert_int_equal(rv, DC_EAGAIN);
        assert_int_equal(b.len, 3); /* unchanged */
        assert_string_equal(b.data, "pre");
    }
    free(ref);
    dc_buf_cleanup(&b);
    return rv == DC_OK;
}

static bool canon_agrees_s(const char *s)
{
    return canon_agrees(s, strlen(s));
}

static void test_canon_handled(void **state)
{
    static const char *const handled[] = {
        "{\"t\":\"00000000000000000000\",\"p\":\"abc\"}",
        "{\"b\":1,\"a\":{\"z\":[1,{\"y\":true,\"x\":null}],\"c\":false},\"a\":2}",
        " { \"k\" : [ 1 , -2 , 0 , 123456789 ] ,\n\t\"j\" : \"\" } \r\n",
        ("{\"e\":\"q\\\"b\\\\s\\b\\f\\n\\r\\t\",\"d\":\"h\xc3\xa9llo \xe2\x82\xac "
         "\xf0\x9f\x98\x80\"}"),
        "{\"ab\":1,\"a\":2,\"\":3,\"b\":4,\"aa\":5,\"\xc3\xa9\":6,\"z\":7}",
        "[]",
        "{}",
        "[{\"b\":{},\"a\":[]}]",
        "\"str\"",
        "42",
        "-7",
        "0",
        "true",
        "null",
        "{\"dup\":2,\"a\":0,\"dup\":1,\"dup\":3}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        if (!canon_agrees_s(handled[i]))
            fail_msg("fast path declined %s", handled[i]);
}

static void test_canon_declined(void **state)
{
    static const char *const declined[] = {
        "",
        "   ",
        "{\"a\":1.5}",
        "{\"a\":1e3}",
        "{\"a\":-0}",
        "{\"a\":1234567890}",
        "{\"a\":01}",
        "{\"a\":\"\\u0041\"}",
        "{\"a\":\"\\/\"}",
        "{\"\\u0061\":1}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":1,}",
        "[1,]",
        "{\"a\" 1}",
        "{\"a\":tru}",
        "{\"a\":1}x",
        "{\"a\":\"\x80\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"x\ty\"}",
        "\xef\xbb\xbf{}",
        "{\"a\":[1,2}",
        "{'a':1}",
        "{\"a\":+1}",
        "{\"a\":.5}",
        "{\"a\":NaN}",
        "{\"a\":\"unterminated}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++)
        if (canon_agrees_s(declined[i]))
            fail_msg("fast path accepted %s", declined[i]);
}

static void test_canon_depth(void **state)
{
    char deep[2 * 70 + 1];
    size_t n;

    (void)state;
    for (n = 0; n < 64; n++)
        deep[n] = '[';
    for (size_t i = 0; i < 64; i++)
        deep[n++] = ']';
    assert_true(canon_agrees(deep, n)); /* DC_MAX_DOC_DEPTH levels: accepted by both */
    for (n = 0; n < 65; n++)
        deep[n] = '[';
    for (size_t i = 0; i < 65; i++)
        deep[n++] = ']';
    assert_false(canon_agrees(deep, n));
}

/* Special bytes at every position of a long string: the 8-byte skip must not miss them. */
static void test_canon_long_strings(void **state)
{
    static const char *const special[] = {"\\n",  "\\\"",    "\xc3\xa9", "\x01", "\"",
                                          "\x7f", "\\u0041", "\xff",     "\x1f", "\\"};
    char doc[128];

    (void)state;
    for (size_t k = 0; k < sizeof(special) / sizeof(special[0]); k++) {
        for (size_t at = 0; at < 24; at++) {
            int n = snprintf(doc, sizeof(doc), "{\"k\":\"%.*s%s%.*s\"}", (int)at,
                             "abcdefghijklmnopqrstuvwxyz", special[k], (int)(24 - at),
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
            bool handled = canon_agrees(doc, (size_t)n);
            /* the valid, canonical ones must be handled */
            if (k <= 2 || k == 5)
                assert_true(handled);
            else
                assert_false(handled);
        }
    }
}

/* Random documents built from JSON fragments, then randomly mutated: whatever the fast path
 * accepts must match the slow path. */
static void test_canon_random(void **state)
{
    static const char *const frag[] = {
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"a\"",
        "\"b\"",
        "\"ab\"",
        "\"\"",
        "1",
        "-2",
        "0",
        "10",
        "1.5",
        "true",
        "null",
        "false",
        " ",
        "\n",
        "\"\\n\"",
        "\"\\u00e9\"",
        "\"\xc3\xa9\"",
        "\"\\\"\"",
        "123456789",
        "\"a\":1",
        "\"b\":[]",
    };
    char doc[256];
    unsigned seed = 12345, handled = 0;

    (void)state;
    for (int it = 0; it < 200000; it++) {
        size_t n = 0, parts;
        seed = seed * 1103515245u + 12345u;
        parts = 1 + (seed >> 16) % 24;
        for (size_t k = 0; k < parts; k++) {
            const char *f;
            seed = seed * 1103515245u + 12345u;
            f = frag[(seed >> 16) % (sizeof(frag) / sizeof(frag[0]))];
            if (n + strlen(f) >= sizeof(doc))
                break;
            memcpy(doc + n, f, strlen(f));
            n += strlen(f);
        }
        seed = seed * 1103515245u + 12345u;
        if (n > 0 && (seed >> 16) % 4 == 0)
            doc[(seed >> 8) % n] = (char)(seed >> 20);
        handled += canon_agrees(doc, n);
    }
    /* The generator makes enough valid documents for the comparison to mean something. */
    assert_true(handled > 1000);
}

static const char *tree_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* sdc__ps_ce_scan against sdc_cloudevent_parse + member lookups. */
static bool scan_agrees(const char *s)
{
    static const char *const names[SDC__PS_CE_NFIELDS] = {"id", "expiration", "traceparent",
                                                          "traceid", "tracestate"};
    struct sdc__ps_span f[SDC__PS_CE_NFIELDS];
    size_t n = strlen(s);
    cJSON *o = NULL;
    bool ok = sdc__ps_ce_scan(s, n, f);
    int prv = sdc_cloudevent_parse(s, n, n + 1, &o, NULL);

    if (ok) {
        if (prv != DC_OK)
            fail_msg("scan accepted what the parser refuses: %s", s);
        for (int k = 0; k < SDC__PS_CE_NFIELDS; k++) {
            const char *want = tree_str(o, names[k]);
            if (want == NULL) {
                assert_null(f[k].p);
            } else {
                assert_non_null(f[k].p);
                assert_int_equal(f[k].len, strlen(want));
                assert_memory_equal(f[k].p, want, f[k].len);
            }
        }
    }
    cJSON_Delete(o);
    return ok;
}

static void test_ce_scan(void **state)
{
    (void)state;
    assert_true(scan_agrees("{\"data\":{\"x\":[1,2.5e3,{\"\\u00e9\":\"\\/\"}]},\"id\":\"abc\","
                            "\"expiration\":\"2024-10-01T12:00:00Z\",\"traceparent\":\"00-a\","
                            "\"traceid\":\"t\",\"tracestate\":\"k=v\",\"type\":\"x\"}"));
    assert_true(scan_agrees("{\"id\":1,\"id\":\"second\"}")); /* first wins: not a string */
    assert_true(scan_agrees("{\"id\":\"first\",\"id\":\"second\",\"traceid\":null}"));
    assert_true(scan_agrees(" {} "));
    assert_true(scan_agrees("{\"data\":\"\\u00e9\\ud83d\"}") == false); /* lone surrogate */
    assert_false(scan_agrees("{\"id\":\"a\\nb\"}"));                    /* wanted, escaped */
    assert_false(scan_agrees("{\"\\u0069d\":\"x\"}"));                  /* top key escaped */
    assert_false(scan_agrees("[1]"));
    assert_false(scan_agrees("\"x\""));
    assert_false(scan_agrees("{\"a\":1"));
    assert_false(scan_agrees("{\"a\":1}}"));
    assert_false(scan_agrees("{\"a\":1e}"));
    assert_false(scan_agrees("{\"a\":\"\\u0000\"}"));
    assert_false(scan_agrees("{\"a\":12345678901234567890123456789012345678901234567890}"));
    assert_false(scan_agrees(""));
}

static void test_reply(void **state)
{
    (void)state;
    assert_true(sdc__ps_reply_is_success("{\"status\":\"SUCCESS\"}", 20));
    assert_true(sdc__ps_reply_is_success("{\"status\":\"SUCCESS\"}\n", 21));
    assert_false(sdc__ps_reply_is_success("{\"status\":\"SUCCESS\"}x", 21));
    assert_false(sdc__ps_reply_is_success("{\"status\":\"SUCCES", 17));
    assert_false(sdc__ps_reply_is_success("{\"status\":\"RETRY\"}", 18));
    assert_false(sdc__ps_reply_is_success(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canon_handled),
        cmocka_unit_test(test_canon_declined),
        cmocka_unit_test(test_canon_depth),
        cmocka_unit_test(test_canon_random),
        cmocka_unit_test(test_canon_long_strings),
        cmocka_unit_test(test_ce_scan),
        cmocka_unit_test(test_reply),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
