/* SPIFFE ids: the SPIFFE-ID spec's rules and Dapr's /ns/<namespace>/<app-id> form. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "snt_test_util.h"

struct id_case {
    const char *uri;
    int rv;
    const char *td, *ns, *app;
};

static void test_parse_table(void **state)
{
    static const struct id_case cases[] = {
        {"spiffe://public/ns/default/myapp", DC_OK, "public", "default", "myapp"},
        {"spiffe://cluster.local/ns/dapr-system/dapr-sentry", DC_OK, "cluster.local", "dapr-system",
         "dapr-sentry"},
        {"spiffe://a_b-c.d/ns/N.s/App_1-x", DC_OK, "a_b-c.d", "N.s", "App_1-x"},
        /* Later segments are allowed and ignored (pkg/security/spiffe). */
        {"spiffe://td/ns/ns1/app/extra/more", DC_OK, "td", "ns1", "app"},
        {"", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://", DC_EINVAL, NULL, NULL, NULL},
        {"SPIFFE://td/ns/a/b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe:/td/ns/a/b", DC_EINVAL, NULL, NULL, NULL},
        {"https://td/ns/a/b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://TD/ns/a/b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td:8080/ns/a/b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://user@td/ns/a/b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe:///ns/a/b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns/a/b/", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns//b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns/./b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns/../b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns/a/b?x=1", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns/a/b#frag", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns/a/b%20c", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns/a/b c", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns/a", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/NS/a/b", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/app", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/", DC_EINVAL, NULL, NULL, NULL},
        {"spiffe://td/ns/a/\xc3\xa9", DC_EINVAL, NULL, NULL, NULL},
    };
    struct dc_spiffe_id id;
    struct dc_errbuf eb;
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&eb, 0, sizeof(eb));
        int rv = dc_spiffe_parse(cases[i].uri, strlen(cases[i].uri), &id, &eb);
        if (rv != cases[i].rv)
            fail_msg("%s: got %d (%s), want %d", cases[i].uri, rv, eb.msg, cases[i].rv);
        if (rv == DC_OK) {
            assert_string_equal(id.trust_domain, cases[i].td);
            assert_string_equal(id.ns, cases[i].ns);
            assert_string_equal(id.app_id, cases[i].app);
        } else {
            assert_true(eb.msg[0] != '\0');
        }
    }
}

static void test_generic_check(void **state)
{
    (void)state;
    /* Any SPIFFE id (not only Dapr's form) passes dc_spiffe_check. */
    assert_int_equal(dc_spiffe_check("spiffe://td", 11, NULL), DC_OK);
    assert_int_equal(dc_spiffe_check("spiffe://td/a", 13, NULL), DC_OK);
    assert_int_equal(dc_spiffe_check("spiffe://td/", 12, NULL), DC_EINVAL);
    /* Not NUL-terminated: only `len` bytes count. */
    assert_int_equal(dc_spiffe_check("spiffe://td/a/b?junk", 15, NULL), DC_OK);
}

static void test_lengths(void **state)
{
    char uri[DC_SPIFFE_MAX_LEN + 64];
    struct dc_spiffe_id id;
    size_t n;
    (void)state;

    /* Trust domain of 255 is fine, 256 is not (SPIFFE-ID §2.1). */
    memcpy(uri, "spiffe://", 9);
    memset(uri + 9, 'a', 255);
    memcpy(uri + 9 + 255, "/ns/x/y", 8);
    assert_int_equal(dc_spiffe_parse(uri, strlen(uri), &id, NULL), DC_OK);
    memset(uri + 9, 'a', 256);
    memcpy(uri + 9 + 256, "/ns/x/y", 8);
    assert_int_equal(dc_spiffe_parse(uri, strlen(uri), &id, NULL), DC_ETOOBIG);
    /* The whole id is bounded by 2048 bytes (§2.4). */
    memcpy(uri, "spiffe://td/ns/x/", 17);
    n = DC_SPIFFE_MAX_LEN + 1 - 17;
    memset(uri + 17, 'a', n);
    uri[17 + n] = '\0';
    assert_int_equal(dc_spiffe_check(uri, strlen(uri), NULL), DC_ETOOBIG);
    /* An app id longer than the struct holds is refused, not cut. */
    memset(uri + 17, 'a', 300);
    uri[17 + 300] = '\0';
    assert_int_equal(dc_spiffe_parse(uri, strlen(uri), &id, NULL), DC_ETOOBIG);
}

static void test_build_format(void **state)
{
    struct dc_spiffe_id id, back;
    char buf[DC_SPIFFE_MAX_LEN + 1];
    int n;
    (void)state;

    assert_int_equal(dc_spiffe_build(&id, "public", "default", "app1", NULL), DC_OK);
    n = dc_spiffe_format(&id, buf, sizeof(buf));
    assert_int_equal(n, (int)strlen("spiffe://public/ns/default/app1"));
    assert_string_equal(buf, "spiffe://public/ns/default/app1");
    assert_int_equal(dc_spiffe_parse(buf, (size_t)n, &back, NULL), DC_OK);
    assert_true(dc_spiffe_equal(&id, &back));
    assert_int_equal(dc_spiffe_format(&id, buf, 10), DC_ETOOBIG);

    assert_int_equal(dc_spiffe_build(&id, "", "default", "a", NULL), DC_EINVAL);
    assert_int_equal(dc_spiffe_build(&id, "td", "", "a", NULL), DC_EINVAL);
    assert_int_equal(dc_spiffe_build(&id, "td", "ns", "", NULL), DC_EINVAL);
    assert_int_equal(dc_spiffe_build(&id, "Td", "ns", "a", NULL), DC_EINVAL);
    assert_int_equal(dc_spiffe_build(&id, "td", "n/s", "a", NULL), DC_EINVAL);
    assert_int_equal(dc_spiffe_build(&id, "td", "ns", "..", NULL), DC_EINVAL);
    assert_int_equal(dc_spiffe_build(&id, NULL, "ns", "a", NULL), DC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_generic_check),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_build_format),
    };
    return cmocka_run_group_tests_name("sentry_spiffe", tests, NULL, NULL);
}
