/* Unit tests of dc/ops_server.h: /healthz readiness, /metrics rendering, ports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dc/arena.h"
#include "dc/ops_server.h"
#include "dc/str.h"

struct reply {
    int status;
    char body[4096];
    char ct[128];
};

static void call(const struct dc_http_router *r, const char *method, const char *path,
                 struct reply *out)
{
    struct dc_arena a;
    struct dc_http_request req = {0};
    struct dc_http_response resp;
    const char *ct;

    dc_arena_init(&a);
    req.method = method;
    req.path = path;
    req.query = "";
    req.body = "";
    req.arena = &a;
    dc_http_response_init(&resp, &a);
    (void)dc_http_router_dispatch(r, &req, &resp);
    out->status = resp.status;
    dc_strlcpy(out->body, dc_buf_cstr(&resp.body), sizeof(out->body));
    ct = dc_http_response_header_get(&resp, "Content-Type");
    dc_strlcpy(out->ct, ct != NULL ? ct : "", sizeof(out->ct));
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&a);
}

static void test_routes(void **state)
{
    struct dc_metrics *m = dc_metrics_new();
    struct dc_metric *c = dc_metrics_counter(m, "x_total", "x", 0, NULL);
    struct dc_ops_server *o = dc_ops_server_new(m);
    struct reply r;

    (void)state;
    assert_non_null(c);
    call(dc_ops_server_health_router(o), "GET", "/healthz", &r);
    assert_int_equal(r.status, 503);
    assert_false(dc_ops_server_ready(o));
    dc_ops_server_set_ready(o, true);
    assert_true(dc_ops_server_ready(o));
    call(dc_ops_server_health_router(o), "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    call(dc_ops_server_health_router(o), "GET", "/metrics", &r);
    assert_int_equal(r.status, 404);
    dc_metric_inc(c, NULL, 1);
    call(dc_ops_server_metrics_router(o), "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "x_total 1\n"));
    assert_string_equal(r.ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_int_equal(dc_ops_server_health_port(o), 0);
    dc_ops_server_free(o);
    dc_metrics_free(m);
    dc_ops_server_free(NULL);
}

static void test_start(void **state)
{
    struct dc_metrics *m = dc_metrics_new();
    struct dc_ops_server *o = dc_ops_server_new(m), *o2 = dc_ops_server_new(m);
    struct dc_ops_server_opts opts = {.health_address = "127.0.0.1",
                                      .enable_metrics = true,
                                      .metrics_address = "127.0.0.1",
                                      .idle_timeout_s = 5};
    struct dc_errbuf eb = {{0}};

    (void)state;
    assert_int_equal(dc_ops_server_start(o, &opts, &eb), DC_OK);
    assert_int_not_equal(dc_ops_server_health_port(o), 0);
    assert_int_not_equal(dc_ops_server_metrics_port(o), 0);
    /* The same health port again: refused, named. */
    opts.health_port = dc_ops_server_health_port(o);
    opts.enable_metrics = false;
    assert_int_not_equal(dc_ops_server_start(o2, &opts, &eb), DC_OK);
    assert_non_null(strstr(eb.msg, "healthz server"));
    assert_int_equal(dc_ops_server_metrics_port(o2), 0);
    dc_ops_server_free(o2);
    dc_ops_server_free(o);
    dc_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
