/* Unit tests of dc/metrics.h: exact exposition output, escaping, number formatting, the series
 * bound, registration errors and concurrent recording. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/buf.h"
#include "dc/limits.h"
#include "dc/metrics.h"

#define DROPPED_ZERO                                                                               \
    "# HELP dc_metrics_dropped_total Recordings dropped because a metric reached its series "      \
    "limit.\n"                                                                                     \
    "# TYPE dc_metrics_dropped_total counter\n"                                                    \
    "dc_metrics_dropped_total 0\n"

struct fixture {
    struct dc_metrics *m;
    struct dc_buf out;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->m = dc_metrics_new();
    dc_buf_init(&f->out, 64u * 1024 * 1024);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    dc_buf_cleanup(&f->out);
    dc_metrics_free(f->m);
    free(f);
    return 0;
}

/* Render the registry into the fixture's buffer and return it as a string. */
static const char *render(struct fixture *f)
{
    dc_buf_reset(&f->out);
    assert_int_equal(dc_metrics_render(f->m, &f->out), DC_OK);
    return dc_buf_cstr(&f->out);
}

static void test_render_exact(void **state)
{
    struct fixture *f = *state;
    const char *req_labels[] = {"app_id", "method"};
    const char *lat_labels[] = {"status"};
    const double bounds[] = {1, 2.5, 10};
    struct dc_metric *c, *g, *h, *unused;
    double v;

    c = dc_metrics_counter(f->m, "dapr_http_server_request_count", "The number of HTTP requests", 2,
                           req_labels);
    g = dc_metrics_gauge(f->m, "dapr_runtime_component_loaded",
                         "The number of successfully loaded components.", 0, NULL);
    unused = dc_metrics_counter(f->m, "unused_total", "Never recorded.", 1, lat_labels);
    h = dc_metrics_histogram(f->m, "dapr_http_server_latency", "HTTP request latency in ms.", 1,
                             lat_labels, 3, bounds);
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(unused);
    assert_non_null(h);

    dc_metric_inc(c, (const char *[]){"a", "GET"}, 1);
    dc_metric_inc(c, (const char *[]){"a", "POST"}, 1);
    dc_metric_inc(c, (const char *[]){"a", "GET"}, 1);
    dc_metric_set(g, NULL, 3);
    dc_metric_observe(h, (const char *[]){"200"}, 0.5);
    dc_metric_observe(h, (const char *[]){"200"}, 2.5); /* on a bound: counts in that bucket */
    dc_metric_observe(h, (const char *[]){"200"}, 7);
    dc_metric_observe(h, (const char *[]){"200"}, 100);

    assert_string_equal(
        render(f),
        "# HELP dapr_http_server_request_count The number of HTTP requests\n"
        "# TYPE dapr_http_server_request_count counter\n"
        "dapr_http_server_request_count{app_id=\"a\",method=\"GET\"} 2\n"
        "dapr_http_server_request_count{app_id=\"a\",method=\"POST\"} 1\n"
        "# HELP dapr_runtime_component_loaded The number of successfully loaded components.\n"
        "# TYPE dapr_runtime_component_loaded gauge\n"
        "dapr_runtime_component_loaded 3\n"
        "# HELP dapr_http_server_latency HTTP request latency in ms.\n"
        "# TYPE dapr_http_server_latency histogram\n"
        "dapr_http_server_latency_bucket{status=\"200\",le=\"1\"} 1\n"
        "dapr_http_server_latency_bucket{status=\"200\",le=\"2.5\"} 2\n"
        "dapr_http_server_latency_bucket{status=\"200\",le=\"10\"} 3\n"
        "dapr_http_server_latency_bucket{status=\"200\",le=\"+Inf\"} 4\n"
        "dapr_http_server_latency_sum{status=\"200\"} 110\n"
        "dapr_http_server_latency_count{status=\"200\"} 4\n" DROPPED_ZERO);

    assert_int_equal(dc_metric_get(c, (const char *[]){"a", "GET"}, &v), DC_OK);
    assert_true(v == 2);
    assert_int_equal(dc_metric_get(h, (const char *[]){"200"}, &v), DC_OK);
    assert_true(v == 4);
    assert_int_equal(dc_metric_get(c, (const char *[]){"b", "GET"}, &v), DC_ENOTFOUND);
    assert_int_equal(dc_metric_get(c, NULL, &v), DC_EINVAL);
    assert_int_equal(dc_metric_get(NULL, NULL, &v), DC_EINVAL);
}

static void test_render_unlabelled_histogram_and_empty(void **state)
{
    struct fixture *f = *state;
    struct dc_metric *h, *c;

    assert_string_equal(render(f), DROPPED_ZERO);
    h = dc_metrics_histogram(f->m, "h", NULL, 0, NULL, 0, NULL); /* only +Inf, no HELP */
    c = dc_metrics_counter(f->m, "c_total", "", 0, NULL);
    assert_non_null(h);
    assert_non_null(c);
    dc_metric_observe(h, NULL, 0.25);
    dc_metric_observe(h, NULL, NAN); /* ignored */
    assert_string_equal(render(f), "# TYPE h histogram\n"
                                   "h_bucket{le=\"+Inf\"} 1\n"
                                   "h_sum 0.25\n"
                                   "h_count 1\n"
                                   "# TYPE c_total counter\n"
                                   "c_total 0\n" DROPPED_ZERO);
}

static void test_escaping(void **state)
{
    struct fixture *f = *state;
    const char *labels[] = {"v"};
    struct dc_metric *c;

    c = dc_metrics_counter(f->m, "esc", "back\\slash \"quoted\"\nsecond line", 1, labels);
    assert_non_null(c);
    dc_metric_inc(c, (const char *[]){"a\\b\"c\nd"}, 1);
    dc_metric_inc(c, (const char *[]){"caf\xC3\xA9 \xE2\x82\xAC"}, 1); /* valid UTF-8 kept */
    dc_metric_inc(c, (const char *[]){"x\xFFy\xC3"}, 1);   /* invalid byte, cut sequence */
    dc_metric_inc(c, (const char *[]){"\xED\xA0\x80"}, 1); /* surrogate: 3 bad bytes */
    dc_metric_inc(c, (const char *[]){NULL}, 1);           /* NULL is "" */
    dc_metric_inc(c, (const char *[]){""}, 1);
    assert_string_equal(render(f), "# HELP esc back\\\\slash \"quoted\"\\nsecond line\n"
                                   "# TYPE esc counter\n"
                                   "esc{v=\"a\\\\b\\\"c\\nd\"} 1\n"
                                   "esc{v=\"caf\xC3\xA9 \xE2\x82\xAC\"} 1\n"
                                   "esc{v=\"x\xEF\xBF\xBDy\xEF\xBF\xBD\"} 1\n"
                                   "esc{v=\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"} 1\n"
                                   "esc{v=\"\"} 2\n" DROPPED_ZERO);
}

static void test_numbers(void **state)
{
    struct fixture *f = *state;
    const char *labels[] = {"k"};
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.1, "0.1"},
        {-3, "-3"},
        {1e20, "1e+20"},
        {2.5e-7, "2.5e-07"},
        {1234567, "1234567"},
        {-0.0, "0"},
        {123456789.125, "123456789.125"},
        {9007199254740993.0, "9007199254740992"}, /* 2^53 rounds; integral but past exact */
        {1.0 / 3, "0.3333333333333333"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    struct dc_metric *g = dc_metrics_gauge(f->m, "g", NULL, 1, labels);
    char want[4096];
    size_t off = 0;

    assert_non_null(g);
    off += (size_t)snprintf(want + off, sizeof(want) - off, "# TYPE g gauge\n");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char key[8];

        snprintf(key, sizeof(key), "%zu", i);
        dc_metric_set(g, (const char *[]){key}, cases[i].v);
        off += (size_t)snprintf(want + off, sizeof(want) - off, "g{k=\"%s\"} %s\n", key,
                                cases[i].want);
    }
    snprintf(want + off, sizeof(want) - off, "%s", DROPPED_ZERO);
    assert_string_equal(render(f), want);
}

static void test_counter_and_gauge_arithmetic(void **state)
{
    struct fixture *f = *state;
    struct dc_metric *c = dc_metrics_counter(f->m, "c", NULL, 0, NULL);
    struct dc_metric *g = dc_metrics_gauge(f->m, "g", NULL, 0, NULL);
    struct dc_metric *h = dc_metrics_histogram(f->m, "h", NULL, 0, NULL, 0, NULL);
    double v;

    dc_metric_inc(c, NULL, 2);
    dc_metric_inc(c, NULL, 0.5);
    dc_metric_inc(c, NULL, -1);  /* ignored: counters only go up */
    dc_metric_inc(c, NULL, NAN); /* ignored */
    assert_int_equal(dc_metric_get(c, NULL, &v), DC_OK);
    assert_true(v == 2.5);
    dc_metric_set(c, NULL, 100); /* wrong kind: no-op */
    dc_metric_observe(c, NULL, 1);
    dc_metric_inc(h, NULL, 1);
    dc_metric_set(h, NULL, 1);
    assert_int_equal(dc_metric_get(c, NULL, &v), DC_OK);
    assert_true(v == 2.5);
    assert_int_equal(dc_metric_get(h, NULL, &v), DC_OK);
    assert_true(v == 0);

    dc_metric_set(g, NULL, 10);
    dc_metric_inc(g, NULL, -2.5);
    dc_metric_inc(g, NULL, 1);
    assert_int_equal(dc_metric_get(g, NULL, &v), DC_OK);
    assert_true(v == 8.5);

    /* NULL metric and NULL values are no-ops rather than crashes. */
    dc_metric_inc(NULL, NULL, 1);
    dc_metric_set(NULL, NULL, 1);
    dc_metric_observe(NULL, NULL, 1);
    {
        const char *labels[] = {"a"};
        struct dc_metric *lc = dc_metrics_counter(f->m, "lc", NULL, 1, labels);

        dc_metric_inc(lc, NULL, 1);
        assert_int_equal(dc_metric_get(lc, (const char *[]){""}, &v), DC_ENOTFOUND);
    }
}

static void test_invalid_registration(void **state)
{
    struct fixture *f = *state;
    const char *ok[] = {"a", "b"};
    const char *dup[] = {"a", "a"};
    const char *le[] = {"le"};
    const char *reserved[] = {"__name__"};
    const char *colon[] = {"a:b"};
    const char *digit[] = {"1a"};
    const char *null_label[] = {NULL};
    const char *other[] = {"a", "c"};
    const double good[] = {1, 2};
    const double flat[] = {1, 1};
    const double down[] = {2, 1};
    const double nan[] = {1, NAN};
    const double inf[] = {1, INFINITY};
    const char *many[DC_METRICS_MAX_LABELS + 1];
    char names[DC_METRICS_MAX_LABELS + 1][8];
    struct dc_metric *c;

    for (size_t i = 0; i <= DC_METRICS_MAX_LABELS; i++) {
        snprintf(names[i], sizeof(names[i]), "l%zu", i);
        many[i] = names[i];
    }
    assert_null(dc_metrics_counter(f->m, "", NULL, 0, NULL));
    assert_null(dc_metrics_counter(f->m, NULL, NULL, 0, NULL));
    assert_null(dc_metrics_counter(f->m, "1abc", NULL, 0, NULL));
    assert_null(dc_metrics_counter(f->m, "a-b", NULL, 0, NULL));
    assert_null(dc_metrics_counter(f->m, "a b", NULL, 0, NULL));
    assert_null(dc_metrics_counter(f->m, "caf\xC3\xA9", NULL, 0, NULL));
    assert_null(dc_metrics_counter(f->m, "dc_metrics_dropped_total", NULL, 0, NULL));
    assert_null(dc_metrics_counter(NULL, "x", NULL, 0, NULL));
    assert_null(dc_metrics_counter(f->m, "x", NULL, 2, dup));
    assert_null(dc_metrics_counter(f->m, "x", NULL, 1, reserved));
    assert_null(dc_metrics_counter(f->m, "x", NULL, 1, colon));
    assert_null(dc_metrics_counter(f->m, "x", NULL, 1, digit));
    assert_null(dc_metrics_counter(f->m, "x", NULL, 1, null_label));
    assert_null(dc_metrics_counter(f->m, "x", NULL, 1, NULL));
    assert_null(dc_metrics_counter(f->m, "x", NULL, DC_METRICS_MAX_LABELS + 1, many));
    assert_non_null(dc_metrics_counter(f->m, "many", NULL, DC_METRICS_MAX_LABELS, many));
    assert_null(dc_metrics_histogram(f->m, "x", NULL, 1, le, 0, NULL));
    assert_non_null(dc_metrics_counter(f->m, "le_ok", NULL, 1, le)); /* only histograms */
    assert_null(dc_metrics_histogram(f->m, "x", NULL, 0, NULL, 2, flat));
    assert_null(dc_metrics_histogram(f->m, "x", NULL, 0, NULL, 2, down));
    assert_null(dc_metrics_histogram(f->m, "x", NULL, 0, NULL, 2, nan));
    assert_null(dc_metrics_histogram(f->m, "x", NULL, 0, NULL, 2, inf));
    assert_null(dc_metrics_histogram(f->m, "x", NULL, 0, NULL, 2, NULL));
    assert_null(dc_metrics_histogram(f->m, "x", NULL, 0, NULL, DC_METRICS_MAX_BUCKETS + 1, good));

    /* Colons are allowed in metric names; the same shape registered twice is the same metric,
     * whatever the help says. */
    c = dc_metrics_counter(f->m, "ns:x_total", "one", 2, ok);
    assert_non_null(c);
    assert_ptr_equal(dc_metrics_counter(f->m, "ns:x_total", "two", 2, ok), c);
    assert_null(dc_metrics_gauge(f->m, "ns:x_total", "one", 2, ok));
    assert_null(dc_metrics_counter(f->m, "ns:x_total", "one", 1, ok));
    assert_null(dc_metrics_counter(f->m, "ns:x_total", "one", 2, other));
    c = dc_metrics_histogram(f->m, "hist", NULL, 0, NULL, 2, good);
    assert_non_null(c);
    assert_ptr_equal(dc_metrics_histogram(f->m, "hist", NULL, 0, NULL, 2, good), c);
    assert_null(dc_metrics_histogram(f->m, "hist", NULL, 0, NULL, 1, good));
    assert_null(dc_metrics_histogram(f->m, "hist", NULL, 0, NULL, 2, (const double[]){1, 3}));
}

static void test_series_bound(void **state)
{
    struct fixture *f = *state;
    const char *labels[] = {"path"};
    struct dc_metric *c = dc_metrics_counter(f->m, "paths_total", NULL, 1, labels);
    char val[32];
    double v;

    assert_non_null(c);
    for (int i = 0; i < DC_METRICS_MAX_SERIES; i++) {
        snprintf(val, sizeof(val), "/p/%d", i);
        dc_metric_inc(c, (const char *[]){val}, 1);
    }
    assert_int_equal(dc_metrics_dropped(f->m), 0);
    dc_metric_inc(c, (const char *[]){"/new"}, 1);
    dc_metric_inc(c, (const char *[]){"/new2"}, 1);
    assert_int_equal(dc_metrics_dropped(f->m), 2);
    assert_int_equal(dc_metric_get(c, (const char *[]){"/new"}, &v), DC_ENOTFOUND);
    /* Existing series keep counting. */
    dc_metric_inc(c, (const char *[]){"/p/42"}, 1);
    assert_int_equal(dc_metric_get(c, (const char *[]){"/p/42"}, &v), DC_OK);
    assert_true(v == 2);
    assert_non_null(strstr(render(f), "\ndc_metrics_dropped_total 2\n"));
    assert_non_null(strstr(dc_buf_cstr(&f->out), "paths_total{path=\"/p/9999\"} 1\n"));
}

static void test_long_label_value_cut(void **state)
{
    struct fixture *f = *state;
    const char *labels[] = {"v"};
    struct dc_metric *c = dc_metrics_counter(f->m, "long", NULL, 1, labels);
    char a[DC_METRICS_MAX_LABEL_VALUE + 10], b[DC_METRICS_MAX_LABEL_VALUE + 10];
    char want[DC_METRICS_MAX_LABEL_VALUE + 64];
    double v;

    /* Two values that differ only after the limit are the same series. */
    memset(a, 'x', sizeof(a));
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[DC_METRICS_MAX_LABEL_VALUE + 2] = 'y';
    dc_metric_inc(c, (const char *[]){a}, 1);
    dc_metric_inc(c, (const char *[]){b}, 1);
    a[DC_METRICS_MAX_LABEL_VALUE] = '\0';
    assert_int_equal(dc_metric_get(c, (const char *[]){a}, &v), DC_OK);
    assert_true(v == 2);

    /* A 2-byte character straddling the limit goes entirely. */
    memset(b, 'z', sizeof(b));
    b[DC_METRICS_MAX_LABEL_VALUE - 1] = '\xC3';
    b[DC_METRICS_MAX_LABEL_VALUE] = '\xA9';
    b[sizeof(b) - 1] = '\0';
    dc_metric_inc(c, (const char *[]){b}, 1);
    b[DC_METRICS_MAX_LABEL_VALUE - 1] = '\0';
    assert_int_equal(dc_metric_get(c, (const char *[]){b}, &v), DC_OK);
    assert_true(v == 1);
    snprintf(want, sizeof(want), "long{v=\"%s\"} 1\n", b);
    assert_non_null(strstr(render(f), want));
}

static void test_render_too_big(void **state)
{
    struct fixture *f = *state;
    struct dc_buf small;

    assert_non_null(
        dc_metrics_gauge(f->m, "some_gauge", "A gauge with a long help text.", 0, NULL));
    dc_buf_init(&small, 40);
    assert_int_equal(dc_metrics_render(f->m, &small), DC_ETOOBIG);
    dc_buf_cleanup(&small);
}

static void test_default_buckets(void **state)
{
    struct fixture *f = *state;
    const char *labels[] = {"method"};
    struct dc_metric *h;

    assert_int_equal(DC_METRICS_LATENCY_MS_BUCKETS, 34);
    assert_true(dc_metrics_latency_ms_buckets[0] == 1);
    assert_true(dc_metrics_latency_ms_buckets[33] == 100000);
    assert_true(dc_metrics_size_bytes_buckets[0] == 1024);
    assert_true(dc_metrics_size_bytes_buckets[12] == 4294967296.0);
    h = dc_metrics_histogram(f->m, "lat", NULL, 1, labels, DC_METRICS_LATENCY_MS_BUCKETS,
                             dc_metrics_latency_ms_buckets);
    assert_non_null(h);
    assert_non_null(dc_metrics_histogram(f->m, "size", NULL, 0, NULL, DC_METRICS_SIZE_BYTES_BUCKETS,
                                         dc_metrics_size_bytes_buckets));
    dc_metric_observe(h, (const char *[]){"GET"}, 12);
    render(f);
    assert_non_null(strstr(dc_buf_cstr(&f->out), "lat_bucket{method=\"GET\",le=\"10\"} 0\n"
                                                 "lat_bucket{method=\"GET\",le=\"13\"} 1\n"));
    assert_non_null(strstr(dc_buf_cstr(&f->out), "size_bucket{le=\"4294967296\"} 0\n"));
}

/* ---- concurrency ---- */

#define THREADS 8
#define ITERS 50000

struct worker {
    struct dc_metric *c, *g, *h, *fresh;
    int id;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    const char *get[] = {"GET", "200"};
    const char *post[] = {"POST", "500"};
    char val[32];

    for (int i = 0; i < ITERS; i++) {
        dc_metric_inc(w->c, (i & 1) ? get : post, 1);
        dc_metric_inc(w->c, get, 0.5); /* exact in binary: the double CAS path */
        dc_metric_inc(w->g, NULL, (i & 1) ? 1 : -0.25);
        dc_metric_observe(w->h, get, (double)(i % 20));
        /* New series appear while others are being looked up lock-free. */
        snprintf(val, sizeof(val), "t%d-%d", w->id, i % 300);
        dc_metric_inc(w->fresh, (const char *[]){val, "x"}, 1);
    }
    return NULL;
}

static void *render_loop(void *arg)
{
    struct dc_metrics *m = arg;
    struct dc_buf b = {0};

    for (int i = 0; i < 50; i++) {
        dc_buf_reset(&b);
        if (dc_metrics_render(m, &b) != DC_OK)
            break;
    }
    dc_buf_cleanup(&b);
    return NULL;
}

static void test_concurrency(void **state)
{
    struct fixture *f = *state;
    const char *labels[] = {"method", "status"};
    const double bounds[] = {5, 10};
    struct worker w[THREADS];
    pthread_t tid[THREADS], rtid;
    struct dc_metric *c, *g, *h, *fresh;
    double v;

    c = dc_metrics_counter(f->m, "req_total", NULL, 2, labels);
    g = dc_metrics_gauge(f->m, "level", NULL, 0, NULL);
    h = dc_metrics_histogram(f->m, "lat", NULL, 2, labels, 2, bounds);
    fresh = dc_metrics_counter(f->m, "fresh_total", NULL, 2, labels);
    assert_int_equal(pthread_create(&rtid, NULL, render_loop, f->m), 0);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.c = c, .g = g, .h = h, .fresh = fresh, .id = i};
        assert_int_equal(pthread_create(&tid[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    assert_int_equal(pthread_join(rtid, NULL), 0);

    assert_int_equal(dc_metric_get(c, (const char *[]){"GET", "200"}, &v), DC_OK);
    assert_true(v == THREADS * (ITERS / 2) * 1.0 + THREADS * ITERS * 0.5);
    assert_int_equal(dc_metric_get(c, (const char *[]){"POST", "500"}, &v), DC_OK);
    assert_true(v == THREADS * (ITERS / 2));
    assert_int_equal(dc_metric_get(g, NULL, &v), DC_OK);
    assert_true(v == THREADS * (ITERS / 2) * (1 - 0.25));
    assert_int_equal(dc_metric_get(h, (const char *[]){"GET", "200"}, &v), DC_OK);
    assert_true(v == THREADS * ITERS);
    for (int t = 0; t < THREADS; t++) {
        for (int k = 0; k < 300; k += 37) {
            char val[32];

            snprintf(val, sizeof(val), "t%d-%d", t, k);
            assert_int_equal(dc_metric_get(fresh, (const char *[]){val, "x"}, &v), DC_OK);
            assert_true(v == ITERS / 300 + (k < ITERS % 300 ? 1 : 0));
        }
    }
    /* Buckets: i % 20 in 0..19, so 6 of 20 are <= 5, 11 of 20 <= 10; sum of 0..19 is 190. */
    render(f);
    assert_non_null(strstr(dc_buf_cstr(&f->out),
                           "lat_bucket{method=\"GET\",status=\"200\",le=\"5\"} 120000\n"
                           "lat_bucket{method=\"GET\",status=\"200\",le=\"10\"} 220000\n"
                           "lat_bucket{method=\"GET\",status=\"200\",le=\"+Inf\"} 400000\n"
                           "lat_sum{method=\"GET\",status=\"200\"} 3800000\n"
                           "lat_count{method=\"GET\",status=\"200\"} 400000\n"));
    assert_int_equal(dc_metrics_dropped(f->m), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_render_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_unlabelled_histogram_and_empty, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_and_gauge_arithmetic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_registration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_label_value_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
