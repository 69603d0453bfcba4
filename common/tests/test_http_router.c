/* Unit tests of the socket-less router and the request/response helpers (http_router.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/http_server.h"
#include "dc/limits.h"
#include "dc/str.h"

int json_escape(struct dc_buf *b, const char *s, size_t n); /* DC_TESTABLE */

struct fixture {
    struct dc_http_router *r;
    struct dc_arena arena;
    struct dc_http_request req;
    struct dc_http_response resp;
};

/* Each handler writes its name into the body so tests see which one ran. */
static void h_name(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)req;
    assert_int_equal(dc_http_response_body(resp, ud, strlen(ud), "text/plain"), DC_OK);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct dc_http_router *r = dc_http_router_new();

    assert_non_null(f);
    /* A slice of daprd's table (sidecar-api.md). */
    assert_int_equal(
        dc_http_router_add(r, "GET", "/v1.0/state/{storeName}/{key}", h_name, (void *)"state-get"),
        DC_OK);
    assert_int_equal(dc_http_router_add(r, "DELETE", "/v1.0/state/{storeName}/{key}", h_name,
                                        (void *)"state-del"),
                     DC_OK);
    assert_int_equal(
        dc_http_router_add(r, "POST", "/v1.0/state/{storeName}", h_name, (void *)"state-save"),
        DC_OK);
    assert_int_equal(
        dc_http_router_add(r, "POST", "/v1.0/state/{storeName}/bulk", h_name, (void *)"state-bulk"),
        DC_OK);
    assert_int_equal(
        dc_http_router_add(r, NULL, "/v1.0/invoke/{id}/method/{method*}", h_name, (void *)"invoke"),
        DC_OK);
    assert_int_equal(dc_http_router_add(r, "GET", "/v1.0/healthz", h_name, (void *)"healthz"),
                     DC_OK);
    assert_int_equal(dc_http_router_add(r, "GET", "/v1.0/metadata", h_name, (void *)"meta-get"),
                     DC_OK);
    assert_int_equal(dc_http_router_add(r, "GET", "/v1.0/metadata/", h_name, (void *)"meta-slash"),
                     DC_OK);
    assert_int_equal(dc_http_router_add(r, "GET", "/", h_name, (void *)"root"), DC_OK);
    dc_http_router_set_fallback(r, h_name, (void *)"fallback");
    f->r = r;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    dc_http_response_cleanup(&f->resp);
    dc_arena_cleanup(&f->arena);
    dc_http_router_free(f->r);
    free(f);
    return 0;
}

/* Dispatch `method path?query` and return the body ("which handler"). */
static const char *run(struct fixture *f, const char *method, const char *target, int *rv)
{
    const char *q = strchr(target, '?');
    int rc;

    dc_http_response_cleanup(&f->resp);
    dc_arena_cleanup(&f->arena);
    memset(&f->req, 0, sizeof(f->req));
    f->req.arena = &f->arena;
    f->req.method = method;
    f->req.path = q != NULL ? dc_arena_strndup(&f->arena, target, (size_t)(q - target)) : target;
    f->req.query = q != NULL ? q + 1 : "";
    dc_http_response_init(&f->resp, &f->arena);
    rc = dc_http_router_dispatch(f->r, &f->req, &f->resp);
    if (rv != NULL)
        *rv = rc;
    return dc_buf_cstr(&f->resp.body);
}

static void test_literal_and_params(void **state)
{
    struct fixture *f = *state;
    int rv;

    assert_string_equal(run(f, "GET", "/v1.0/state/s1/k1", &rv), "state-get");
    assert_int_equal(rv, DC_OK);
    assert_string_equal(f->req.route, "/v1.0/state/{storeName}/{key}");
    assert_int_equal(f->req.n_params, 2);
    assert_string_equal(dc_http_request_param(&f->req, "storeName"), "s1");
    assert_string_equal(dc_http_request_param(&f->req, "key"), "k1");
    assert_null(dc_http_request_param(&f->req, "nope"));
    /* Literal "bulk" beats {key} for POST; for GET the param route still matches. */
    assert_string_equal(run(f, "POST", "/v1.0/state/s1/bulk", NULL), "state-bulk");
    assert_string_equal(run(f, "GET", "/v1.0/state/s1/bulk", NULL), "state-get");
    assert_string_equal(dc_http_request_param(&f->req, "key"), "bulk");
    assert_string_equal(run(f, "DELETE", "/v1.0/state/s1/k", NULL), "state-del");
    assert_string_equal(run(f, "POST", "/v1.0/state/s1", NULL), "state-save");
    assert_string_equal(run(f, "GET", "/", NULL), "root");
    assert_string_equal(run(f, "GET", "/v1.0/healthz", NULL), "healthz");
}

static void test_fallback(void **state)
{
    struct fixture *f = *state;
    int rv;

    /* Unknown path, wrong method, empty segment: all service invocation. */
    assert_string_equal(run(f, "GET", "/v1.0/nothing", &rv), "fallback");
    assert_int_equal(rv, DC_ENOTFOUND);
    assert_null(f->req.route);
    assert_int_equal(f->req.n_params, 0);
    assert_string_equal(run(f, "PUT", "/v1.0/state/s1/k1", NULL), "fallback");
    assert_string_equal(run(f, "GET", "/v1.0/healthz/extra", NULL), "fallback");
    assert_string_equal(run(f, "GET", "/v1.0/state//k", NULL), "fallback");
    assert_string_equal(run(f, "GET", "v1.0/healthz", NULL), "fallback");
    assert_string_equal(run(f, "GET", "", NULL), "fallback");
    assert_string_equal(run(f, "get", "/v1.0/healthz", NULL), "fallback");
}

static void test_no_fallback_404(void **state)
{
    struct fixture *f = *state;

    dc_http_router_set_fallback(f->r, NULL, NULL);
    assert_string_equal(run(f, "GET", "/x", NULL), "404 page not found\n");
    assert_int_equal(f->resp.status, 404);
    assert_string_equal(dc_http_response_header_get(&f->resp, "content-type"),
                        "text/plain; charset=utf-8");
}

static void test_rest_param(void **state)
{
    struct fixture *f = *state;

    assert_string_equal(run(f, "POST", "/v1.0/invoke/app/method/a/b/c", NULL), "invoke");
    assert_string_equal(dc_http_request_param(&f->req, "id"), "app");
    assert_string_equal(dc_http_request_param(&f->req, "method"), "a/b/c");
    /* Any method; rest keeps slashes; decoded value plus raw text. */
    assert_string_equal(run(f, "PATCH", "/v1.0/invoke/app/method/x%2Fy/z+w", NULL), "invoke");
    assert_string_equal(dc_http_request_param(&f->req, "method"), "x/y/z w");
    assert_string_equal(f->req.params[1].raw, "x%2Fy/z+w");
    /* A trailing slash gives an empty rest. */
    assert_string_equal(run(f, "GET", "/v1.0/invoke/app/method/", NULL), "invoke");
    assert_string_equal(dc_http_request_param(&f->req, "method"), "");
    assert_string_equal(run(f, "GET", "/v1.0/invoke/app/method", NULL), "fallback");
}

static void test_trailing_slash_and_dots(void **state)
{
    struct fixture *f = *state;

    assert_string_equal(run(f, "GET", "/v1.0/healthz/", NULL), "healthz");
    /* The path with the slash matches its own route first. */
    assert_string_equal(run(f, "GET", "/v1.0/metadata/", NULL), "meta-slash");
    assert_string_equal(run(f, "GET", "/v1.0/metadata", NULL), "meta-get");
    assert_string_equal(run(f, "GET", "//v1.0///healthz", NULL), "healthz");
    assert_string_equal(run(f, "GET", "/v1.0/./healthz", NULL), "healthz");
    assert_string_equal(run(f, "GET", "/v1.0/x/../healthz", NULL), "healthz");
    assert_string_equal(run(f, "GET", "/../../v1.0/healthz", NULL), "healthz");
    assert_string_equal(run(f, "GET", "/v1.0/state/s/k/", NULL), "state-get");
    assert_string_equal(dc_http_request_param(&f->req, "key"), "k");
    assert_string_equal(run(f, "GET", "/v1.0/state/s/k//", NULL), "state-get");
}

static void test_clean_path(void **state)
{
    struct dc_arena a = {0};
    static const char *const cases[][2] = {
        {"/", "/"},
        {"//", "/"},
        {"/a/b", "/a/b"},
        {"/a/b/", "/a/b/"},
        {"/a//b", "/a/b"},
        {"/a/./b", "/a/b"},
        {"/a/../b", "/b"},
        {"/..", "/"},
        {"/a/b/..", "/a"},
        {"/a/b/../", "/a/"},
        {"", "."},
        {"a/../..", ".."},
        {"/%2e%2e/x", "/%2e%2e/x"},
        {"/a/.", "/a"},
        {"/.../x", "/.../x"},
        {"/a/./", "/a/"},
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = dc_http_clean_path(&a, cases[i][0]);

        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("clean(%s) = %s, want %s", cases[i][0], got, cases[i][1]);
    }
    dc_arena_cleanup(&a);
}

static void test_param_decoding(void **state)
{
    struct fixture *f = *state;
    int rv;

    assert_string_equal(run(f, "GET", "/v1.0/state/my%20store/a+b%2Fc", NULL), "state-get");
    assert_string_equal(dc_http_request_param(&f->req, "storeName"), "my store");
    assert_string_equal(dc_http_request_param(&f->req, "key"), "a b/c");
    assert_string_equal(run(f, "GET", "/v1.0/state/s/a%00b", NULL), "state-get");
    assert_int_equal(f->req.params[1].value_len, 3);
    assert_memory_equal(f->req.params[1].value, "a\0b", 3);
    /* A bad escape answers Go's 400 without calling the handler. */
    assert_string_equal(run(f, "GET", "/v1.0/state/s/a%zzb", &rv), "invalid URL escape \"%zz\"\n");
    assert_int_equal(rv, DC_EPARSE);
    assert_int_equal(f->resp.status, 400);
    assert_string_equal(run(f, "GET", "/v1.0/state/s/ab%4", NULL), "invalid URL escape \"%4\"\n");
    assert_string_equal(run(f, "GET", "/v1.0/state/s/ab%", NULL), "invalid URL escape \"%\"\n");
}

static void test_query(void **state)
{
    struct fixture *f = *state;
    const struct dc_http_query_pair *p;
    size_t it = 0;

    run(f, "GET", "/v1.0/healthz?metadata.ttl=60&a=1&a=2&b+c=d%20e&bad=%zz&x;y=1&&=v&flag", NULL);
    assert_string_equal(f->req.query, "metadata.ttl=60&a=1&a=2&b+c=d%20e&bad=%zz&x;y=1&&=v&flag");
    assert_string_equal(dc_http_request_query(&f->req, "metadata.ttl"), "60");
    assert_string_equal(dc_http_request_query(&f->req, "a"), "1");
    assert_string_equal(dc_http_request_query(&f->req, "b c"), "d e");
    assert_null(dc_http_request_query(&f->req, "bad"));
    assert_null(dc_http_request_query(&f->req, "x;y"));
    assert_string_equal(dc_http_request_query(&f->req, ""), "v");
    assert_string_equal(dc_http_request_query(&f->req, "flag"), "");
    assert_true(dc_http_request_query_next(&f->req, &it, &p));
    assert_string_equal(p->name, "metadata.ttl");
    assert_true(dc_http_request_query_next(&f->req, &it, &p));
    assert_true(dc_http_request_query_next(&f->req, &it, &p));
    assert_string_equal(p->value, "2");
    assert_true(dc_http_request_query_next(&f->req, &it, &p));
    assert_true(dc_http_request_query_next(&f->req, &it, &p));
    assert_true(dc_http_request_query_next(&f->req, &it, &p));
    assert_false(dc_http_request_query_next(&f->req, &it, &p));
    run(f, "GET", "/v1.0/healthz", NULL);
    assert_null(dc_http_request_query(&f->req, "a"));
    it = 0;
    assert_false(dc_http_request_query_next(&f->req, &it, &p));
}

static void test_headers(void **state)
{
    struct fixture *f = *state;
    struct dc_http_header hs[] = {
        {"Content-Type", "application/json"},
        {"dapr-api-token", "t"},
        {"X-Multi", "1"},
        {"DAPR-API-TOKEN", "u"},
    };
    const char *n, *v;
    size_t it = 0;

    f->req.headers = hs;
    f->req.n_headers = 4;
    assert_string_equal(dc_http_request_header(&f->req, "content-type"), "application/json");
    assert_string_equal(dc_http_request_header(&f->req, "Dapr-Api-Token"), "t");
    assert_null(dc_http_request_header(&f->req, "absent"));
    assert_int_equal(dc_http_request_header_remove(&f->req, "dapr-api-token"), 2);
    assert_int_equal(f->req.n_headers, 2);
    assert_true(dc_http_request_header_next(&f->req, &it, &n, &v));
    assert_string_equal(n, "Content-Type");
    assert_true(dc_http_request_header_next(&f->req, &it, &n, &v));
    assert_string_equal(v, "1");
    assert_false(dc_http_request_header_next(&f->req, &it, &n, &v));
}

static bool pre_auth(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)ud;
    if (dc_str_eq(req->path, "/v1.0/healthz"))
        return false;
    resp->status = 401;
    assert_int_equal(
        dc_http_response_body(resp, "invalid api token\n", 18, "text/plain; charset=utf-8"), DC_OK);
    return true;
}

static void test_pre_hook(void **state)
{
    struct fixture *f = *state;
    int rv;

    dc_http_router_set_pre(f->r, pre_auth, NULL);
    assert_string_equal(run(f, "GET", "/v1.0/state/s/k", &rv), "invalid api token\n");
    assert_int_equal(rv, DC_OK);
    assert_int_equal(f->resp.status, 401);
    assert_null(f->req.route);
    assert_string_equal(run(f, "GET", "/v1.0/healthz", NULL), "healthz");
}

static void test_add_errors(void **state)
{
    struct fixture *f = *state;
    char big[512];
    size_t i, w = 0;

    assert_int_equal(dc_http_router_add(f->r, "GET", "v1.0/x", h_name, (void *)""), DC_EINVAL);
    assert_int_equal(dc_http_router_add(f->r, "GET", "/a/{x*}/b", h_name, (void *)""), DC_EINVAL);
    assert_int_equal(dc_http_router_add(f->r, "GET", "/a/{}", h_name, (void *)""), DC_EINVAL);
    assert_int_equal(dc_http_router_add(f->r, "GET", "/a/x{y}", h_name, (void *)""), DC_EINVAL);
    assert_int_equal(dc_http_router_add(f->r, "GET", "/a", NULL, NULL), DC_EINVAL);
    assert_int_equal(dc_http_router_add(f->r, "", "/a", h_name, (void *)""), DC_EINVAL);
    /* Same method + equivalent pattern (names differ) is a duplicate. */
    assert_int_equal(dc_http_router_add(f->r, "GET", "/v1.0/state/{a}/{b}", h_name, (void *)""),
                     DC_EEXIST);
    for (i = 0; i <= DC_HTTP_MAX_PARAMS; i++)
        w += (size_t)snprintf(big + w, sizeof(big) - w, "/{p%zu}", i);
    assert_int_equal(dc_http_router_add(f->r, "GET", big, h_name, (void *)""), DC_EINVAL);
    /* The failed adds left nothing that matches. */
    assert_string_equal(run(f, "GET", "/a/x/b", NULL), "fallback");
}

static void test_method_any_vs_exact(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(dc_http_router_add(f->r, NULL, "/v1.0/healthz", h_name, (void *)"any"), DC_OK);
    assert_string_equal(run(f, "GET", "/v1.0/healthz", NULL), "healthz");
    assert_string_equal(run(f, "POST", "/v1.0/healthz", NULL), "any");
}

static void test_error_body(void **state)
{
    struct fixture *f = *state;

    run(f, "GET", "/", NULL);
    dc_http_response_error(&f->resp, 500, "ERR_STATE_GET", "bad \"key\" <\x01>\n\xff\xe2\x80\xa8");
    assert_int_equal(f->resp.status, 500);
    assert_string_equal(dc_buf_cstr(&f->resp.body),
                        "{\"errorCode\":\"ERR_STATE_GET\",\"message\":\"bad \\\"key\\\" "
                        "\\u003c\\u0001\\u003e\\n\\ufffd\\u2028\"}");
    assert_string_equal(dc_http_response_header_get(&f->resp, "Content-Type"), "application/json");
    /* One Content-Type even after two body calls. */
    assert_int_equal(dc_http_response_body(&f->resp, "x", 1, "text/plain"), DC_OK);
    assert_int_equal(f->resp.n_headers, 1);
}

static void test_json_escape_utf8(void **state)
{
    struct dc_buf b = {0};
    (void)state;

    assert_int_equal(json_escape(&b, "h\xc3\xa9 \xf0\x9f\x98\x80 \xc3", 10), DC_OK);
    assert_string_equal(dc_buf_cstr(&b), "h\xc3\xa9 \xf0\x9f\x98\x80 \\ufffd");
    dc_buf_reset(&b);
    assert_int_equal(json_escape(&b, "\xed\xa0\x80&\\", 5), DC_OK); /* a surrogate */
    assert_string_equal(dc_buf_cstr(&b), "\\ufffd\\ufffd\\ufffd\\u0026\\\\");
    dc_buf_cleanup(&b);
}

/* Go's net/http.StatusText: its names (not RFC 9110's newer ones), "" for unnamed codes. */
static void test_status_text(void **state)
{
    (void)state;
    assert_string_equal(dc_http_status_text(200), "OK");
    assert_string_equal(dc_http_status_text(413), "Request Entity Too Large");
    assert_string_equal(dc_http_status_text(422), "Unprocessable Entity");
    assert_string_equal(dc_http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(dc_http_status_text(505), "HTTP Version Not Supported");
    assert_string_equal(dc_http_status_text(599), "");
    assert_string_equal(dc_http_status_text(0), "");
}

static void test_response_headers_grow(void **state)
{
    struct fixture *f = *state;
    char name[16];
    int i;

    run(f, "GET", "/", NULL);
    for (i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "X-H%d", i);
        dc_http_response_header(&f->resp, name, "v");
    }
    dc_http_response_header(&f->resp, "x-h3", "again");
    assert_int_equal(f->resp.n_headers, 42); /* 40 + Content-Type + dup */
    dc_http_response_header_set(&f->resp, "X-H3", "once");
    assert_int_equal(f->resp.n_headers, 41);
    assert_string_equal(dc_http_response_header_get(&f->resp, "x-h3"), "once");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_literal_and_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_fallback_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_param, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_slash_and_dots, setup, teardown),
        cmocka_unit_test(test_clean_path),
        cmocka_unit_test_setup_teardown(test_param_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pre_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_method_any_vs_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_body, setup, teardown),
        cmocka_unit_test(test_json_escape_utf8),
        cmocka_unit_test(test_status_text),
        cmocka_unit_test_setup_teardown(test_response_headers_grow, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
