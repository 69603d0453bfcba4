/* Unit tests of dc/base64.h: Go's StdEncoding round trips, its decoder's rules (newlines
 * skipped, padding required, nothing after it), and both alphabets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dc/base64.h"

static void test_round_trip(void **state)
{
    unsigned char in[300];
    (void)state;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof(in); n++) {
        struct dc_buf e = {0}, d = {0};
        assert_int_equal(dc_base64_append(&e, in, n), DC_OK);
        assert_int_equal(e.len, (n + 2) / 3 * 4);
        assert_int_equal(dc_base64_decode(&d, e.data != NULL ? e.data : "", e.len, NULL), DC_OK);
        assert_int_equal(d.len, n);
        if (n > 0)
            assert_memory_equal(d.data, in, n);
        dc_buf_cleanup(&e);
        dc_buf_cleanup(&d);
    }
}

/* RFC 4648 section 10 vectors, appended after existing content (the encoder writes into space it
 * reserved, so the prefix must survive). */
static void test_known_vectors(void **state)
{
    static const char *const want[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                       "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    (void)state;
    for (size_t n = 0; n < sizeof(want) / sizeof(want[0]); n++) {
        struct dc_buf e = {0};
        assert_int_equal(dc_buf_append(&e, "x:", 2), DC_OK);
        assert_int_equal(dc_base64_append(&e, "foobar", n), DC_OK);
        assert_int_equal(e.len, 2 + strlen(want[n]));
        assert_memory_equal(e.data, "x:", 2);
        assert_memory_equal(e.data + 2, want[n], strlen(want[n]));
        dc_buf_cleanup(&e);
    }
    struct dc_buf e = {0};
    assert_int_equal(dc_base64_append(&e, "\xfb\xff\xbf", 3), DC_OK);
    assert_int_equal(e.len, 4);
    assert_memory_equal(e.data, "+/+/", 4);
    dc_buf_cleanup(&e);
}

static void test_decode_rules(void **state)
{
    static const struct {
        const char *in;
        int rv;
        const char *out;
    } cases[] = {
        {"aGk=", DC_OK, "hi"},
        {"aGVs\nbG8=\r\n", DC_OK, "hello"},
        {"", DC_OK, ""},
        {"aGk", DC_EPARSE, NULL},
        {"hello", DC_EPARSE, NULL},
        {"aG=k", DC_EPARSE, NULL},
        {"aGk=aGk=", DC_EPARSE, NULL},
        {"a=Vs", DC_EPARSE, NULL},
        {"aGk-", DC_EPARSE, NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dc_buf b = {0};
        assert_int_equal(dc_buf_append(&b, "x", 1), DC_OK);
        assert_int_equal(dc_base64_decode(&b, cases[i].in, strlen(cases[i].in), NULL), cases[i].rv);
        if (cases[i].rv == DC_OK) {
            assert_int_equal(b.len, 1 + strlen(cases[i].out));
            assert_memory_equal(b.data + 1, cases[i].out, strlen(cases[i].out));
        } else {
            assert_int_equal(b.len, 1); /* unchanged on failure */
        }
        dc_buf_cleanup(&b);
    }
}

static void test_alphabets(void **state)
{
    (void)state;
    assert_int_equal(dc_base64_value('A', false), 0);
    assert_int_equal(dc_base64_value('z', false), 51);
    assert_int_equal(dc_base64_value('9', false), 61);
    assert_int_equal(dc_base64_value('+', false), 62);
    assert_int_equal(dc_base64_value('/', false), 63);
    assert_int_equal(dc_base64_value('-', false), -1);
    assert_int_equal(dc_base64_value('-', true), 62);
    assert_int_equal(dc_base64_value('_', true), 63);
    assert_int_equal(dc_base64_value('+', true), -1);
    assert_int_equal(dc_base64_value('=', false), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_decode_rules),
        cmocka_unit_test(test_alphabets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
