/* Unit tests of dc/dl.h: a real library and symbol (libm's cos) called through the table, a
 * library that does not exist, a symbol that does not exist, an on_load hook that fails, the
 * outcome kept after the first call, and concurrent first use from several threads (one load,
 * one on_load, every thread gets the filled table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "dc/dl.h"

#define M_FUNCS(X) X(cos) X(sqrt)
struct m_api {
    M_FUNCS(DC_DL_FIELD)
};
#define M_SYM(fn) DC_DL_SYM(struct m_api, fn)
static const struct dc_dl_sym m_syms[] = {M_FUNCS(M_SYM)};

/* A table naming a symbol libm does not have; the type is borrowed from cos. */
struct bad_api {
    __typeof__(cos) *cos;
    __typeof__(cos) *dc_no_such_symbol;
};
static const struct dc_dl_sym bad_syms[] = {
    {"cos", offsetof(struct bad_api, cos)},
    {"dc_no_such_symbol", offsetof(struct bad_api, dc_no_such_symbol)},
};

static atomic_int on_load_calls;
static atomic_int on_load_fail;

static int count_on_load(void *table, struct dc_errbuf *eb)
{
    struct m_api *m = table;

    atomic_fetch_add(&on_load_calls, 1);
    /* The table is already filled when the hook runs. */
    if (m->sqrt == NULL || m->sqrt(16.0) != 4.0)
        return dc_err_set(eb, DC_EINTERNAL, "table not filled before on_load");
    if (atomic_load(&on_load_fail))
        return dc_err_set(eb, DC_EIO, "libm: init refused");
    return DC_OK;
}

static void test_real_library(void **state)
{
    static struct m_api m;
    static struct dc_dl lib = DC_DL_INIT("libm.so.6", m_syms, &m, NULL);
    struct dc_errbuf eb = {0};
    volatile double x = 0.0; /* not folded at compile time */

    (void)state;
    assert_null(m.cos);
    assert_int_equal(dc_dl_load(&lib, &eb), DC_OK);
    assert_non_null(m.cos);
    assert_true(m.cos(x) == 1.0);
    assert_true(m.sqrt(9.0) == 3.0);
    assert_true(dc_dl_is_mapped("libm.so.6"));
    /* Again: the same outcome without a second load. */
    assert_int_equal(dc_dl_load(&lib, NULL), DC_OK);
}

static void test_missing_library(void **state)
{
    static struct m_api m;
    static struct dc_dl lib = DC_DL_INIT("libdaprc-no-such-library.so.7", m_syms, &m, NULL);
    struct dc_errbuf eb = {0};

    (void)state;
    assert_false(dc_dl_is_mapped("libdaprc-no-such-library.so.7"));
    assert_int_equal(dc_dl_load(&lib, &eb), DC_ENOTFOUND);
    assert_non_null(strstr(eb.msg, "cannot load libdaprc-no-such-library.so.7: "));
    assert_null(m.cos);
    /* The failure is kept, with its message. */
    memset(&eb, 0, sizeof(eb));
    assert_int_equal(dc_dl_load(&lib, &eb), DC_ENOTFOUND);
    assert_non_null(strstr(eb.msg, "libdaprc-no-such-library.so.7"));
    assert_int_equal(dc_dl_load(&lib, NULL), DC_ENOTFOUND);
}

static void test_missing_symbol(void **state)
{
    static struct bad_api b;
    static struct dc_dl lib = DC_DL_INIT("libm.so.6", bad_syms, &b, NULL);
    struct dc_errbuf eb = {0};

    (void)state;
    assert_int_equal(dc_dl_load(&lib, &eb), DC_EIO);
    assert_non_null(strstr(eb.msg, "libm.so.6: missing symbol dc_no_such_symbol: "));
    memset(&eb, 0, sizeof(eb));
    assert_int_equal(dc_dl_load(&lib, &eb), DC_EIO);
    assert_non_null(strstr(eb.msg, "dc_no_such_symbol"));
}

static void test_on_load_failure(void **state)
{
    static struct m_api m;
    static struct dc_dl lib = DC_DL_INIT("libm.so.6", m_syms, &m, count_on_load);
    struct dc_errbuf eb = {0};

    (void)state;
    atomic_store(&on_load_calls, 0);
    atomic_store(&on_load_fail, 1);
    assert_int_equal(dc_dl_load(&lib, &eb), DC_EIO);
    assert_string_equal(eb.msg, "libm: init refused");
    atomic_store(&on_load_fail, 0);
    assert_int_equal(dc_dl_load(&lib, &eb), DC_EIO); /* not retried */
    assert_int_equal(atomic_load(&on_load_calls), 1);
}

#define N_THREADS 8

struct racer {
    struct dc_dl *lib;
    struct m_api *m;
    pthread_barrier_t *go;
    int rv;
    double got;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;

    pthread_barrier_wait(r->go);
    r->rv = dc_dl_load(r->lib, NULL);
    if (r->rv == DC_OK)
        r->got = r->m->cos(0.0) + r->m->sqrt(4.0);
    return NULL;
}

static void test_concurrent_first_use(void **state)
{
    static struct m_api m;
    static struct dc_dl lib = DC_DL_INIT("libm.so.6", m_syms, &m, count_on_load);
    pthread_barrier_t go;
    pthread_t t[N_THREADS];
    struct racer r[N_THREADS];
    int i;

    (void)state;
    atomic_store(&on_load_calls, 0);
    atomic_store(&on_load_fail, 0);
    assert_int_equal(pthread_barrier_init(&go, NULL, N_THREADS), 0);
    for (i = 0; i < N_THREADS; i++) {
        r[i] = (struct racer){&lib, &m, &go, DC_EINTERNAL, 0.0};
        assert_int_equal(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
    }
    for (i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(r[i].rv, DC_OK);
        assert_true(r[i].got == 3.0);
    }
    assert_int_equal(atomic_load(&on_load_calls), 1);
    pthread_barrier_destroy(&go);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_library),         cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_missing_symbol),       cmocka_unit_test(test_on_load_failure),
        cmocka_unit_test(test_concurrent_first_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
