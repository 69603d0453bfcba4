/* Unit tests of dc/pool.h: lazy opening up to the bound, LIFO reuse, waiting when exhausted
 * (timeout and hand-over), 'broken' closing every idle connection, connect failures releasing
 * their slot, and many threads hammering a small pool without exceeding it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "dc/pool.h"

/* Fake connections: heap ints carrying a serial number; the counters check the bound. */
struct fake {
    atomic_int next_id;
    atomic_int live;     /* connections currently existing */
    atomic_int max_live; /* high-water mark */
    atomic_int closed;
    atomic_int fail_next; /* > 0: that many connects fail */
    atomic_int in_use;    /* borrowed at once (thread test) */
    atomic_int max_in_use;
};

static int fake_connect(void *ud, void **conn, struct dc_errbuf *eb)
{
    struct fake *f = ud;
    int *c;
    int live;

    if (atomic_load(&f->fail_next) > 0) {
        atomic_fetch_sub(&f->fail_next, 1);
        return dc_err_set(eb, DC_EUNAVAIL, "fake: connection refused");
    }
    c = malloc(sizeof(*c));
    assert_non_null(c);
    *c = atomic_fetch_add(&f->next_id, 1) + 1;
    live = atomic_fetch_add(&f->live, 1) + 1;
    for (int m = atomic_load(&f->max_live); live > m;)
        if (atomic_compare_exchange_weak(&f->max_live, &m, live))
            break;
    *conn = c;
    return DC_OK;
}

static void fake_close(void *ud, void *conn)
{
    struct fake *f = ud;

    assert_non_null(conn);
    atomic_fetch_sub(&f->live, 1);
    atomic_fetch_add(&f->closed, 1);
    free(conn);
}

static struct dc_pool *mkpool(struct fake *f, size_t max, int64_t wait_ms)
{
    struct dc_pool_config cfg = {max, wait_ms, fake_connect, fake_close, f};
    struct dc_pool *p = NULL;

    assert_int_equal(dc_pool_new(&p, &cfg, NULL), DC_OK);
    return p;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_invalid_config(void **state)
{
    struct fake f = {0};
    struct dc_pool_config cfg = {0, 100, fake_connect, fake_close, &f};
    struct dc_pool *p = NULL;
    struct dc_errbuf eb = {0};

    (void)state;
    assert_int_equal(dc_pool_new(&p, &cfg, &eb), DC_EINVAL);
    cfg.max_size = 1;
    cfg.close = NULL;
    assert_int_equal(dc_pool_new(&p, &cfg, &eb), DC_EINVAL);
    assert_int_equal(dc_pool_new(&p, NULL, &eb), DC_EINVAL);
    assert_null(p);
    dc_pool_free(NULL);
}

static void test_lazy_and_reuse(void **state)
{
    struct fake f = {0};
    struct dc_pool *p = mkpool(&f, 3, 100);
    void *a, *b, *c;
    bool fresh;

    (void)state;
    assert_int_equal(atomic_load(&f.live), 0);
    assert_int_equal(dc_pool_get(p, &a, &fresh, NULL), DC_OK);
    assert_true(fresh);
    assert_int_equal(dc_pool_get(p, &b, &fresh, NULL), DC_OK);
    assert_true(fresh);
    assert_int_equal(dc_pool_open_count(p), 2);
    dc_pool_put(p, a, false);
    dc_pool_put(p, b, false);
    assert_int_equal(dc_pool_idle_count(p), 2);
    /* LIFO: the last one returned comes back first, and nothing new is opened. */
    assert_int_equal(dc_pool_get(p, &c, &fresh, NULL), DC_OK);
    assert_false(fresh);
    assert_ptr_equal(c, b);
    dc_pool_put(p, c, false);
    assert_int_equal(atomic_load(&f.next_id), 2);
    dc_pool_free(p);
    assert_int_equal(atomic_load(&f.live), 0);
    assert_int_equal(atomic_load(&f.closed), 2);
}

static void test_exhausted_timeout(void **state)
{
    struct fake f = {0};
    struct dc_pool *p = mkpool(&f, 2, 150);
    struct dc_errbuf eb = {0};
    void *a, *b, *c = NULL;
    int64_t t0;

    (void)state;
    assert_int_equal(dc_pool_get(p, &a, NULL, NULL), DC_OK);
    assert_int_equal(dc_pool_get(p, &b, NULL, NULL), DC_OK);
    t0 = now_ms();
    assert_int_equal(dc_pool_get(p, &c, NULL, &eb), DC_EUNAVAIL);
    assert_true(now_ms() - t0 >= 140);
    assert_string_equal(eb.msg, "connection pool timeout");
    assert_null(c);
    assert_int_equal(atomic_load(&f.max_live), 2);
    dc_pool_put(p, a, false);
    dc_pool_put(p, b, false);
    dc_pool_free(p);
}

static void test_no_wait(void **state)
{
    struct fake f = {0};
    struct dc_pool *p = mkpool(&f, 1, 0);
    void *a, *b;
    int64_t t0;

    (void)state;
    assert_int_equal(dc_pool_get(p, &a, NULL, NULL), DC_OK);
    t0 = now_ms();
    assert_int_equal(dc_pool_get(p, &b, NULL, NULL), DC_EUNAVAIL);
    assert_true(now_ms() - t0 < 50);
    dc_pool_put(p, a, false);
    dc_pool_free(p);
}

struct handover {
    struct dc_pool *p;
    void *got;
    int rv;
};

static void *waiter(void *arg)
{
    struct handover *h = arg;

    h->rv = dc_pool_get(h->p, &h->got, NULL, NULL);
    return NULL;
}

static void test_wait_handover(void **state)
{
    struct fake f = {0};
    struct dc_pool *p = mkpool(&f, 1, 5000);
    struct handover h = {p, NULL, -1};
    struct timespec d = {0, 50 * 1000000};
    pthread_t t;
    void *a;

    (void)state;
    assert_int_equal(dc_pool_get(p, &a, NULL, NULL), DC_OK);
    assert_int_equal(pthread_create(&t, NULL, waiter, &h), 0);
    nanosleep(&d, NULL);
    dc_pool_put(p, a, false);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(h.rv, DC_OK);
    assert_ptr_equal(h.got, a);
    dc_pool_put(p, h.got, false);
    assert_int_equal(atomic_load(&f.next_id), 1);
    dc_pool_free(p);
}

static void test_broken_closes_idle(void **state)
{
    struct fake f = {0};
    struct dc_pool *p = mkpool(&f, 4, 100);
    void *c[4], *n;
    bool fresh;

    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(dc_pool_get(p, &c[i], NULL, NULL), DC_OK);
    dc_pool_put(p, c[0], false);
    dc_pool_put(p, c[1], false);
    /* c[2] broke: it and the two idle ones go; c[3], still borrowed, stays. */
    dc_pool_put(p, c[2], true);
    assert_int_equal(atomic_load(&f.closed), 3);
    assert_int_equal(dc_pool_idle_count(p), 0);
    assert_int_equal(dc_pool_open_count(p), 1);
    assert_int_equal(dc_pool_get(p, &n, &fresh, NULL), DC_OK);
    assert_true(fresh);
    dc_pool_put(p, n, false);
    dc_pool_put(p, c[3], false);
    dc_pool_drain(p);
    assert_int_equal(dc_pool_open_count(p), 0);
    assert_int_equal(atomic_load(&f.live), 0);
    dc_pool_free(p);
}

static void test_connect_failure_frees_slot(void **state)
{
    struct fake f = {0};
    struct dc_pool *p = mkpool(&f, 1, 100);
    struct dc_errbuf eb = {0};
    void *a;

    (void)state;
    atomic_store(&f.fail_next, 2);
    assert_int_equal(dc_pool_get(p, &a, NULL, &eb), DC_EUNAVAIL);
    assert_string_equal(eb.msg, "fake: connection refused");
    assert_int_equal(dc_pool_get(p, &a, NULL, &eb), DC_EUNAVAIL);
    assert_int_equal(dc_pool_open_count(p), 0);
    assert_int_equal(dc_pool_get(p, &a, NULL, NULL), DC_OK);
    dc_pool_put(p, a, false);
    dc_pool_free(p);
}

#define N_THREADS 8
#define N_ROUNDS 2000

struct hammer {
    struct dc_pool *p;
    struct fake *f;
    unsigned seed;
    int failures;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;

    for (int i = 0; i < N_ROUNDS; i++) {
        void *c;
        int in;
        if (dc_pool_get(h->p, &c, NULL, NULL) != DC_OK) {
            h->failures++;
            continue;
        }
        in = atomic_fetch_add(&h->f->in_use, 1) + 1;
        for (int m = atomic_load(&h->f->max_in_use); in > m;)
            if (atomic_compare_exchange_weak(&h->f->max_in_use, &m, in))
                break;
        atomic_fetch_sub(&h->f->in_use, 1);
        dc_pool_put(h->p, c, rand_r(&h->seed) % 97 == 0);
    }
    return NULL;
}

static void test_threads_bound(void **state)
{
    struct fake f = {0};
    struct dc_pool *p = mkpool(&f, 3, 10000);
    struct hammer h[N_THREADS];
    pthread_t t[N_THREADS];

    (void)state;
    for (int i = 0; i < N_THREADS; i++) {
        h[i] = (struct hammer){p, &f, (unsigned)i * 7919u + 1u, 0};
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(h[i].failures, 0);
    }
    assert_true(atomic_load(&f.max_live) <= 3);
    assert_true(atomic_load(&f.max_in_use) <= 3);
    assert_int_equal(dc_pool_open_count(p), dc_pool_idle_count(p));
    dc_pool_free(p);
    assert_int_equal(atomic_load(&f.live), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_config),
        cmocka_unit_test(test_lazy_and_reuse),
        cmocka_unit_test(test_exhausted_timeout),
        cmocka_unit_test(test_no_wait),
        cmocka_unit_test(test_wait_handover),
        cmocka_unit_test(test_broken_closes_idle),
        cmocka_unit_test(test_connect_failure_frees_slot),
        cmocka_unit_test(test_threads_bound),
    };

    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
