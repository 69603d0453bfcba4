/* Unit tests of dc/rand.h: SHA-256 against FIPS 180-4 vectors and OpenSSL at every length
 * around the block boundaries, UUID v4 text, random bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dc/rand.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void test_sha256_vectors(void **state)
{
    unsigned char md[DC_SHA256_LEN];
    char h[2 * DC_SHA256_LEN + 1];
    char *mil;

    (void)state;
    dc_sha256("", 0, md);
    hex(md, sizeof(md), h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    dc_sha256("abc", 3, md);
    hex(md, sizeof(md), h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    dc_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, md);
    hex(md, sizeof(md), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    mil = malloc(1000000);
    assert_non_null(mil);
    memset(mil, 'a', 1000000);
    dc_sha256(mil, 1000000, md);
    free(mil);
    hex(md, sizeof(md), h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_matches_openssl(void **state)
{
    unsigned char in[300], want[EVP_MAX_MD_SIZE], got[DC_SHA256_LEN];
    unsigned int wlen = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 131 + 7);
    for (size_t n = 0; n <= sizeof(in); n++) {
        assert_int_equal(EVP_Digest(in, n, want, &wlen, EVP_sha256(), NULL), 1);
        assert_int_equal(wlen, DC_SHA256_LEN);
        dc_sha256(in, n, got);
        if (memcmp(want, got, DC_SHA256_LEN) != 0)
            fail_msg("SHA-256 differs from OpenSSL at length %zu", n);
    }
}

static void test_uuid4_format(void **state)
{
    char a[DC_UUID_LEN], b[DC_UUID_LEN];

    (void)state;
    dc_uuid4(a);
    dc_uuid4(b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", a[i]));
    }
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
}

static void test_rand_bytes(void **state)
{
    unsigned char a[4096], b[4096];

    (void)state;
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    assert_int_equal(dc_rand_bytes(a, sizeof(a)), DC_OK);
    assert_int_equal(dc_rand_bytes(b, sizeof(b)), DC_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(dc_rand_bytes(a, 0), DC_OK);
    assert_true(dc_rand64() != dc_rand64());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_matches_openssl),
        cmocka_unit_test(test_uuid4_format),
        cmocka_unit_test(test_rand_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
