/* Unit tests of dc/rand.h: UUID v4 text, no repeats across the per-thread pool's refills,
 * random bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/rand.h"

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

static int cmp_uuid(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* 1000 ids span about 60 refills of the 16-id pool: none repeats. */
static void test_uuid4_unique(void **state)
{
    static char ids[1000][DC_UUID_LEN];

    (void)state;
    for (size_t i = 0; i < 1000; i++)
        dc_uuid4(ids[i]);
    qsort(ids, 1000, DC_UUID_LEN, cmp_uuid);
    for (size_t i = 1; i < 1000; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
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
        cmocka_unit_test(test_uuid4_format),
        cmocka_unit_test(test_uuid4_unique),
        cmocka_unit_test(test_rand_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
