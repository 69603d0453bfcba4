/* Integration tests of the server with the HTTP client (built-in path and libcurl), in process,
 * on 127.0.0.1 port 0 (and one Unix socket). Every wait is bounded; the only sleep is inside the
 * deliberately slow handler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dc/http_client.h"
#include "dc/http_server.h"
#include "dc/str.h"

#define SLOW_MS 400
#define STREAM_LEN (256u * 1024)

struct fixture {
    struct dc_http_router *r;
    struct dc_http_server *s;
    struct dc_http_client *c;
    char base[64];
    /* The slow handler announces that it started. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int slow_started;
};

static void h_echo(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const char *ct = dc_http_request_header(req, "content-type");
    const char *x = dc_http_request_header(req, "x-test");
    (void)ud;
    dc_http_response_header(resp, "X-Reply", "yes");
    dc_http_response_header(resp, "X-Method", req->method);
    dc_http_response_header(resp, "X-Query", req->query);
    dc_http_response_header(resp, "X-Test-Echo", x != NULL ? x : "(none)");
    dc_http_response_header(resp, "X-Path", req->path);
    assert_int_equal(dc_http_response_body(resp, req->body, req->body_len,
                                           ct != NULL ? ct : "application/octet-stream"),
                     DC_OK);
}

static void h_param(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const char *k = dc_http_request_param(req, "key");
    const char *m = dc_http_request_query(req, "metadata.ttl");
    (void)ud;
    assert_int_equal(dc_buf_appendf(&resp->body, "%s|%s", k, m != NULL ? m : "-"), DC_OK);
}

static void h_nocontent(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    assert_int_equal(dc_http_response_body(resp, "ignored", 7, "application/json"), DC_OK);
    resp->status = 204;
}

static void h_size(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)ud;
    if (req->body_too_large) {
        dc_http_response_error(resp, 400, "ERR_BODY_READ", "body too large");
        return;
    }
    assert_int_equal(dc_buf_appendf(&resp->body, "%zu", req->body_len), DC_OK);
}

static void h_slow(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct fixture *f = ud;
    struct timespec ts = {0, SLOW_MS * 1000000L};
    (void)req;
    pthread_mutex_lock(&f->mu);
    f->slow_started++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    nanosleep(&ts, NULL); /* the deliberately slow handler */
    assert_int_equal(dc_http_response_body(resp, "slow", 4, "text/plain"), DC_OK);
}

static void h_stream(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    size_t i;
    (void)req;
    (void)ud;
    assert_int_equal(dc_buf_reserve(&resp->body, STREAM_LEN), DC_OK);
    for (i = 0; i < STREAM_LEN; i++)
        resp->body.data[i] = (char)('a' + i % 26);
    resp->body.len = STREAM_LEN;
    resp->body.data[STREAM_LEN] = '\0';
}

static void h_fallback(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    dc_http_response_error(resp, 404, "ERR_DIRECT_INVOKE",
                           "failed getting app id either from the URL path or the header "
                           "dapr-app-id");
}

static void router_build(struct fixture *f)
{
    struct dc_http_router *r = dc_http_router_new();
    const char *methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
    size_t i;

    for (i = 0; i < 5; i++)
        assert_int_equal(dc_http_router_add(r, methods[i], "/echo", h_echo, NULL), DC_OK);
    assert_int_equal(dc_http_router_add(r, "GET", "/v1.0/state/{store}/{key}", h_param, NULL),
                     DC_OK);
    assert_int_equal(dc_http_router_add(r, "GET", "/nocontent", h_nocontent, NULL), DC_OK);
    assert_int_equal(dc_http_router_add(r, "POST", "/size", h_size, NULL), DC_OK);
    assert_int_equal(dc_http_router_add(r, "GET", "/slow", h_slow, f), DC_OK);
    assert_int_equal(dc_http_router_add(r, "GET", "/stream", h_stream, NULL), DC_OK);
    dc_http_router_set_fallback(r, h_fallback, NULL);
    f->r = r;
}

static void server_start(struct fixture *f, const struct dc_http_server_opts *o)
{
    struct dc_errbuf eb = {0};
    int rv = dc_http_server_start(&f->s, o, f->r, &eb);

    if (rv != DC_OK)
        fail_msg("server start: %s", eb.msg);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", dc_http_server_port(f->s));
}

static int setup_opts(void **state, unsigned threads)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct dc_http_server_opts o = {.address = "127.0.0.1",
                                    .max_body = 1024,
                                    .max_header = 4096,
                                    .threads = threads,
                                    .idle_timeout_s = 30};
    struct dc_http_client_opts co = {.connect_timeout_ms = 2000, .timeout_ms = 5000};

    assert_non_null(f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    router_build(f);
    server_start(f, &o);
    assert_int_equal(dc_http_client_new(&f->c, &co, NULL), DC_OK);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_opts(state, 0);
}

static int setup_epoll(void **state)
{
    return setup_opts(state, 2);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    dc_http_client_free(f->c);
    dc_http_server_free(f->s);
    dc_http_router_free(f->r);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

static int call(struct fixture *f, const char *method, const char *path, const char *body,
                const char *const *headers, struct dc_http_result *res)
{
    char url[256];
    struct dc_http_call c = {0};
    struct dc_errbuf eb = {0};
    int rv;

    snprintf(url, sizeof(url), "%s%s", f->base, path);
    c.method = method;
    c.url = url;
    c.headers = headers;
    c.body = body;
    c.body_len = body != NULL ? strlen(body) : 0;
    rv = dc_http_client_do(f->c, &c, res, &eb);
    if (rv != DC_OK)
        print_message("call %s %s: %s\n", method, path, eb.msg);
    return rv;
}

static void test_methods_and_headers(void **state)
{
    struct fixture *f = *state;
    const char *hdrs[] = {"X-Test: hello", "Content-Type: application/json", NULL};
    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    struct dc_http_result res = {0};
    size_t i;

    assert_int_equal(call(f, "GET", "/echo?a=1&b=x%20y", NULL, hdrs, &res), DC_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(dc_http_result_header(&res, "x-reply"), "yes");
    assert_string_equal(dc_http_result_header(&res, "X-Method"), "GET");
    assert_string_equal(dc_http_result_header(&res, "X-Query"), "a=1&b=x%20y");
    assert_string_equal(dc_http_result_header(&res, "X-Test-Echo"), "hello");
    assert_int_equal(res.body.len, 0);
    dc_http_result_cleanup(&res);

    for (i = 0; i < 4; i++) {
        assert_int_equal(call(f, methods[i], "/echo", "{\"k\":1}", hdrs, &res), DC_OK);
        assert_int_equal(res.status, 200);
        assert_string_equal(dc_http_result_header(&res, "X-Method"), methods[i]);
        assert_string_equal(dc_buf_cstr(&res.body), "{\"k\":1}");
        assert_string_equal(dc_http_result_header(&res, "Content-Type"), "application/json");
        assert_string_equal(dc_http_result_header(&res, "Content-Length"), "7");
        assert_int_equal(res.content_length, 7);
        dc_http_result_cleanup(&res);
    }
    /* POST without a body and without Content-Type: curl must not invent one. */
    assert_int_equal(call(f, "POST", "/echo", NULL, NULL, &res), DC_OK);
    assert_string_equal(dc_http_result_header(&res, "Content-Type"), "application/octet-stream");
    assert_string_equal(dc_http_result_header(&res, "X-Test-Echo"), "(none)");
    dc_http_result_cleanup(&res);
}

static void test_raw_path_and_params(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};

    assert_int_equal(call(f, "GET", "/v1.0/state/s/a%2Fb+c?metadata.ttl=60", NULL, NULL, &res),
                     DC_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(dc_buf_cstr(&res.body), "a/b c|60");
    dc_http_result_cleanup(&res);
    /* The path reaches the handler still encoded and with its dot segments. */
    assert_int_equal(call(f, "GET", "/x/../echo", NULL, NULL, &res), DC_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(dc_http_result_header(&res, "X-Path"), "/x/../echo");
    dc_http_result_cleanup(&res);
    assert_int_equal(call(f, "GET", "/v1.0/state/s/%zz", NULL, NULL, &res), DC_OK);
    assert_int_equal(res.status, 400);
    assert_string_equal(dc_buf_cstr(&res.body), "invalid URL escape \"%zz\"\n");
    dc_http_result_cleanup(&res);
    /* Wrong method and unknown path both reach the fallback. */
    assert_int_equal(call(f, "POST", "/v1.0/state/s/k", "x", NULL, &res), DC_OK);
    assert_int_equal(res.status, 404);
    assert_non_null(strstr(dc_buf_cstr(&res.body), "\"errorCode\":\"ERR_DIRECT_INVOKE\""));
    dc_http_result_cleanup(&res);
}

static void test_keepalive(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    int i;

    assert_int_equal(call(f, "GET", "/echo", NULL, NULL, &res), DC_OK);
    assert_int_equal(res.num_connects, 1);
    dc_http_result_cleanup(&res);
    for (i = 0; i < 3; i++) {
        assert_int_equal(call(f, "POST", "/echo", "abc", NULL, &res), DC_OK);
        assert_int_equal(res.status, 200);
        assert_int_equal(res.num_connects, 0);
        dc_http_result_cleanup(&res);
    }
}

static void test_no_content(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};

    assert_int_equal(call(f, "GET", "/nocontent", NULL, NULL, &res), DC_OK);
    assert_int_equal(res.status, 204);
    assert_int_equal(res.body.len, 0);
    assert_null(dc_http_result_header(&res, "Content-Type"));
    assert_null(dc_http_result_header(&res, "Content-Length"));
    dc_http_result_cleanup(&res);
    /* The connection is still usable afterwards. */
    assert_int_equal(call(f, "GET", "/echo", NULL, NULL, &res), DC_OK);
    assert_int_equal(res.num_connects, 0);
    dc_http_result_cleanup(&res);
}

static void test_body_limit(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    char big[2001];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(call(f, "POST", "/size", "0123456789", NULL, &res), DC_OK);
    assert_string_equal(dc_buf_cstr(&res.body), "10");
    dc_http_result_cleanup(&res);
    /* Announced by Content-Length: the handler answers before the body is read. */
    assert_int_equal(call(f, "POST", "/size", big, NULL, &res), DC_OK);
    assert_int_equal(res.status, 400);
    assert_non_null(strstr(dc_buf_cstr(&res.body), "ERR_BODY_READ"));
    dc_http_result_cleanup(&res);
    /* Chunked: the excess is read and dropped, then the handler runs. */
    assert_int_equal(call(f, "POST", "/size", big, chunked, &res), DC_OK);
    assert_int_equal(res.status, 400);
    dc_http_result_cleanup(&res);
    assert_int_equal(call(f, "POST", "/size", "12345", chunked, &res), DC_OK);
    assert_string_equal(dc_buf_cstr(&res.body), "5");
    dc_http_result_cleanup(&res);
}

static void test_header_limit(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    size_t sizes[] = {5000, 64 * 1024};
    const char *hdrs[2] = {NULL, NULL};
    char *h;
    size_t i;

    for (i = 0; i < 2; i++) {
        h = malloc(sizes[i] + 16);
        assert_non_null(h);
        memcpy(h, "X-Big: ", 7);
        memset(h + 7, 'a', sizes[i]);
        h[7 + sizes[i]] = '\0';
        hdrs[0] = h;
        assert_int_equal(call(f, "GET", "/echo", NULL, hdrs, &res), DC_OK);
        assert_int_equal(res.status, 431);
        dc_http_result_cleanup(&res);
        free(h);
    }
    /* Just under the limit passes. */
    h = malloc(3001);
    assert_non_null(h);
    memcpy(h, "X-Big: ", 7);
    memset(h + 7, 'a', 3000 - 7);
    h[3000] = '\0';
    hdrs[0] = h;
    assert_int_equal(call(f, "GET", "/echo", NULL, hdrs, &res), DC_OK);
    assert_int_equal(res.status, 200);
    dc_http_result_cleanup(&res);
    free(h);
}

/* A header limit well above the connection's first read buffer (the internal invocation
 * server's case): a block just under the limit, in many headers, needs the buffer to grow and
 * must pass; one over it is 431. Also checks that a keep-alive connection serves the next
 * request after such a block. */
static void test_header_limit_large(void **state)
{
    struct fixture *f = *state;
    struct dc_http_server_opts o = {.address = "127.0.0.1", .max_body = 1024, .max_header = 20480};
    struct dc_http_server *s = NULL;
    struct dc_http_result res = {0};
    struct dc_http_call c = {0};
    const char *hdrs[41] = {NULL};
    char url[128], *lines[40];
    size_t each[] = {480, 540}; /* 40 lines of ~490 / ~550 bytes: ~19.6 KiB / ~22 KiB */
    int expect[] = {200, 431};

    assert_int_equal(dc_http_server_start(&s, &o, f->r, NULL), DC_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", dc_http_server_port(s));
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < 40; i++) {
            lines[i] = malloc(each[k] + 32);
            assert_non_null(lines[i]);
            snprintf(lines[i], each[k] + 32, "X-Fill-%02zu: ", i);
            memset(lines[i] + strlen(lines[i]), 'b', each[k]);
            lines[i][11 + each[k]] = '\0';
            hdrs[i] = lines[i];
        }
        c.method = "GET";
        c.url = url;
        c.headers = hdrs;
        assert_int_equal(dc_http_client_do(f->c, &c, &res, NULL), DC_OK);
        assert_int_equal(res.status, expect[k]);
        dc_http_result_cleanup(&res);
        if (k == 0) {
            c.headers = NULL;
            assert_int_equal(dc_http_client_do(f->c, &c, &res, NULL), DC_OK);
            assert_int_equal(res.status, 200);
            dc_http_result_cleanup(&res);
        }
        for (size_t i = 0; i < 40; i++)
            free(lines[i]);
    }
    dc_http_server_free(s);
}

static void test_client_timeout(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    struct dc_http_call c = {0};
    struct dc_errbuf eb = {0};
    char url[128];

    snprintf(url, sizeof(url), "%s/slow", f->base);
    c.url = url;
    c.timeout_ms = 100;
    assert_int_equal(dc_http_client_do(f->c, &c, &res, &eb), DC_ETIMEDOUT);
    assert_true(eb.msg[0] != '\0');
    dc_http_result_cleanup(&res);
    assert_int_equal(dc_http_server_drain(f->s, 5000), DC_OK);
}

static void test_connection_refused(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    struct dc_http_call c = {0};
    struct dc_errbuf eb = {0};
    struct sockaddr_in sin = {0};
    socklen_t len = sizeof(sin);
    char url[128];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* A port bound but never listening refuses connections. */
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", ntohs(sin.sin_port));
    c.url = url;
    assert_int_equal(dc_http_client_do(f->c, &c, &res, &eb), DC_EUNAVAIL);
    dc_http_result_cleanup(&res);
    close(fd);
    c.url = "ftp://127.0.0.1/x";
    assert_int_equal(dc_http_client_do(f->c, &c, &res, &eb), DC_EINVAL);
    dc_http_result_cleanup(&res);
    c.url = "http://127.0.0.1/x";
    c.method = "GE T";
    assert_int_equal(dc_http_client_do(f->c, &c, &res, &eb), DC_EINVAL);
    dc_http_result_cleanup(&res);
}

struct sink {
    size_t bytes;
    size_t calls;
    long head_status;
    bool bad;
    size_t abort_after;
};

static int sink_head(const struct dc_http_result *res, void *ud)
{
    struct sink *s = ud;

    s->head_status = res->status;
    if (dc_http_result_header(res, "Content-Length") == NULL)
        s->bad = true;
    return 0;
}

static int sink_body(const void *data, size_t len, void *ud)
{
    struct sink *s = ud;
    const char *p = data;
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] != (char)('a' + (s->bytes + i) % 26))
            s->bad = true;
    }
    s->bytes += len;
    s->calls++;
    if (s->abort_after != 0 && s->bytes >= s->abort_after)
        return DC_ECANCELED;
    return 0;
}

static void test_streaming(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    struct dc_http_call c = {0};
    struct sink s = {0};
    char url[128];

    snprintf(url, sizeof(url), "%s/stream", f->base);
    c.url = url;
    c.on_head = sink_head;
    c.on_body = sink_body;
    c.ud = &s;
    assert_int_equal(dc_http_client_do(f->c, &c, &res, NULL), DC_OK);
    assert_int_equal(s.head_status, 200);
    assert_int_equal(s.bytes, STREAM_LEN);
    assert_true(s.calls > 1);
    assert_false(s.bad);
    assert_int_equal(res.body.len, 0);
    dc_http_result_cleanup(&res);

    memset(&s, 0, sizeof(s));
    s.abort_after = 1;
    assert_int_equal(dc_http_client_do(f->c, &c, &res, NULL), DC_ECANCELED);
    dc_http_result_cleanup(&res);
}

static void test_response_too_big(void **state)
{
    struct fixture *f = *state;
    struct dc_http_client *small;
    struct dc_http_client_opts co = {.max_response = 1000};
    struct dc_http_result res = {0};
    struct dc_http_call c = {0};
    char url[128];

    assert_int_equal(dc_http_client_new(&small, &co, NULL), DC_OK);
    snprintf(url, sizeof(url), "%s/stream", f->base);
    c.url = url;
    assert_int_equal(dc_http_client_do(small, &c, &res, NULL), DC_ETOOBIG);
    dc_http_result_cleanup(&res);
    dc_http_client_free(small);
}

static void *slow_caller(void *arg)
{
    struct fixture *f = arg;
    struct dc_http_result res = {0};
    long status = -1;

    if (call(f, "GET", "/slow", NULL, NULL, &res) == DC_OK)
        status = res.status;
    dc_http_result_cleanup(&res);
    return (void *)(intptr_t)status;
}

static void wait_slow_started(struct fixture *f, int n)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&f->mu);
    while (f->slow_started < n) {
        if (pthread_cond_timedwait(&f->cv, &f->mu, &deadline) != 0)
            break;
    }
    assert_int_equal(f->slow_started, n);
    pthread_mutex_unlock(&f->mu);
}

static void test_drain(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    pthread_t t;
    void *status;

    assert_int_equal(pthread_create(&t, NULL, slow_caller, f), 0);
    wait_slow_started(f, 1);
    assert_int_equal(dc_http_server_inflight(f->s), 1);
    dc_http_server_quiesce(f->s);
    dc_http_server_quiesce(f->s); /* idempotent */
    assert_int_equal(dc_http_server_drain(f->s, 10), DC_ETIMEDOUT);
    assert_int_equal(dc_http_server_drain(f->s, 5000), DC_OK);
    assert_int_equal(pthread_join(t, &status), 0);
    assert_int_equal((intptr_t)status, 200);
    /* New connections are refused now. */
    dc_http_client_free(f->c);
    assert_int_equal(dc_http_client_new(&f->c, NULL, NULL), DC_OK);
    assert_int_equal(call(f, "GET", "/echo", NULL, NULL, &res), DC_EUNAVAIL);
    dc_http_result_cleanup(&res);
}

static void test_concurrent_epoll(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    pthread_t t[4];
    void *status;
    int i;

    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, slow_caller, f), 0);
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &status), 0);
        assert_int_equal((intptr_t)status, 200);
    }
    assert_int_equal(call(f, "POST", "/echo", "z", NULL, &res), DC_OK);
    assert_string_equal(dc_buf_cstr(&res.body), "z");
    dc_http_result_cleanup(&res);
    assert_int_equal(dc_http_server_drain(f->s, 5000), DC_OK);
}

static void test_unix_socket(void **state)
{
    struct fixture *f = *state;
    struct dc_http_server *us = NULL;
    struct dc_http_server_opts o = {0};
    struct dc_http_result res = {0};
    struct dc_http_call c = {0};
    struct dc_errbuf eb = {0};
    char path[64];
    int i;

    snprintf(path, sizeof(path), "/tmp/dc-http-test-%d.sock", (int)getpid());
    o.unix_path = path;
    for (i = 0; i < 2; i++) { /* the second start replaces the stale socket */
        if (dc_http_server_start(&us, &o, f->r, &eb) != DC_OK)
            fail_msg("unix start: %s", eb.msg);
        assert_int_equal(dc_http_server_port(us), 0);
        c.url = "http://localhost/echo?u=1";
        c.unix_socket = path;
        assert_int_equal(dc_http_client_do(f->c, &c, &res, &eb), DC_OK);
        assert_int_equal(res.status, 200);
        assert_string_equal(dc_http_result_header(&res, "X-Query"), "u=1");
        dc_http_result_cleanup(&res);
        if (i == 0) {
            /* Leave the socket file behind, as a crash would. */
            int rv = rename(path, "/tmp/dc-http-test-keep.sock");

            assert_int_equal(rv, 0);
            dc_http_server_free(us);
            assert_int_equal(rename("/tmp/dc-http-test-keep.sock", path), 0);
        } else {
            dc_http_server_free(us);
        }
    }
    assert_int_not_equal(access(path, F_OK), 0);
}

static void test_address_in_use(void **state)
{
    struct fixture *f = *state;
    struct dc_http_server *s2 = NULL;
    struct dc_http_server_opts o = {.address = "127.0.0.1"};
    struct dc_errbuf eb = {0};
    char want[64];

    o.port = dc_http_server_port(f->s);
    assert_int_equal(dc_http_server_start(&s2, &o, f->r, &eb), DC_EEXIST);
    snprintf(want, sizeof(want), "127.0.0.1:%u", o.port);
    assert_non_null(strstr(eb.msg, want));
    o.address = "no-such-host.invalid";
    assert_int_not_equal(dc_http_server_start(&s2, &o, f->r, &eb), DC_OK);
    o.address = "[::1]";
    o.port = 0;
    if (dc_http_server_start(&s2, &o, f->r, &eb) == DC_OK) { /* IPv6 may be off */
        assert_true(dc_http_server_port(s2) != 0);
        dc_http_server_free(s2);
    }
}

/* ---- the built-in client against a scripted raw server ------------------------------------ */

struct raw_reply {
    const char *text;
    bool close_after; /* close the connection after writing (without saying so) */
};

struct raw_srv {
    int lfd;
    uint16_t port;
    pthread_t t;
    const struct raw_reply *replies;
    size_t n;
    int accepts;
    char req[4][2048]; /* the request heads received, in order */
};

static void *raw_thread(void *arg)
{
    struct raw_srv *rs = arg;
    int fd = -1;

    for (size_t i = 0; i < rs->n; i++) {
        char buf[4096];
        size_t len = 0;
        ssize_t k;
        const char *end = NULL, *cl;
        long body = 0;

        if (fd < 0) {
            fd = accept(rs->lfd, NULL, NULL);
            if (fd < 0)
                return NULL;
            rs->accepts++;
        }
        while (end == NULL && len < sizeof(buf) - 1) {
            k = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
            if (k <= 0)
                break;
            len += (size_t)k;
            buf[len] = '\0';
            end = strstr(buf, "\r\n\r\n");
        }
        if (end == NULL) { /* the client closed: take the next reply on a new connection */
            close(fd);
            fd = -1;
            i--;
            continue;
        }
        cl = strstr(buf, "Content-Length: ");
        if (cl != NULL && cl < end)
            body = strtol(cl + 16, NULL, 10);
        while ((long)(len - (size_t)(end + 4 - buf)) < body) {
            k = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
            if (k <= 0)
                break;
            len += (size_t)k;
        }
        if (i < 4)
            snprintf(rs->req[i], sizeof(rs->req[i]), "%.*s", (int)(end + 4 - buf), buf);
        if (send(fd, rs->replies[i].text, strlen(rs->replies[i].text), MSG_NOSIGNAL) < 0)
            break;
        if (rs->replies[i].close_after) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) {
        /* Wait for the client to close so that nothing is reset under it. */
        char c;
        while (recv(fd, &c, 1, 0) > 0)
            ;
        close(fd);
    }
    return NULL;
}

static void raw_start(struct raw_srv *rs, const struct raw_reply *replies, size_t n)
{
    struct sockaddr_in sin = {0};
    socklen_t len = sizeof(sin);

    memset(rs, 0, sizeof(*rs));
    rs->replies = replies;
    rs->n = n;
    rs->lfd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(rs->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(rs->lfd, 8), 0);
    assert_int_equal(getsockname(rs->lfd, (struct sockaddr *)&sin, &len), 0);
    rs->port = ntohs(sin.sin_port);
    assert_int_equal(pthread_create(&rs->t, NULL, raw_thread, rs), 0);
}

/* Free the client first (it closes its connections), then join. */
static void raw_stop(struct raw_srv *rs)
{
    pthread_join(rs->t, NULL);
    close(rs->lfd);
}

static int raw_call(struct dc_http_client *c, struct raw_srv *rs, const char *method,
                    const char *body, const char *const *hdrs, struct dc_http_result *res)
{
    char url[128];
    struct dc_http_call call = {0};

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/p?q=1", rs->port);
    call.method = method;
    call.url = url;
    call.headers = hdrs;
    call.body = body;
    call.body_len = body != NULL ? strlen(body) : 0;
    call.timeout_ms = 5000;
    dc_http_result_cleanup(res);
    return dc_http_client_do(c, &call, res, NULL);
}

static void test_builtin_client_framing(void **state)
{
    static const struct raw_reply replies[] = {
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n"
         "0\r\nX-Trailer: 1\r\n\r\n",
         false},
        {"HTTP/1.1 100 Continue\r\nX-Interim: a\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: "
         "2\r\n"
         "X-Final:  y \r\n\r\nok",
         false},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", false}, /* HEAD */
        {"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", true},
        {"HTTP/1.0 200 OK\r\n\r\nuntil close", true},
    };
    const char *hdrs[] = {"X-Empty;", "Expect:", "X-A: b", NULL};
    struct dc_http_client *c;
    struct dc_http_result res = {0};
    struct raw_srv rs;

    (void)state;
    raw_start(&rs, replies, 5);
    assert_int_equal(dc_http_client_new(&c, NULL, NULL), DC_OK);
    assert_int_equal(raw_call(c, &rs, "POST", "abc", hdrs, &res), DC_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body.len, 11);
    assert_memory_equal(res.body.data, "hello world", 11);
    assert_int_equal(res.num_connects, 1);
    assert_non_null(strstr(rs.req[0], "POST /p?q=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(rs.req[0], "\r\nX-Empty:\r\n"));
    assert_non_null(strstr(rs.req[0], "\r\nX-A: b\r\n"));
    assert_non_null(strstr(rs.req[0], "\r\nContent-Length: 3\r\n"));
    assert_null(strstr(rs.req[0], "Expect"));
    {
        char host[64];
        snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%u\r\n", rs.port);
        assert_non_null(strstr(rs.req[0], host));
    }

    assert_int_equal(raw_call(c, &rs, "GET", NULL, NULL, &res), DC_OK);
    assert_int_equal(res.status, 201);
    assert_int_equal(res.num_connects, 0); /* kept alive */
    assert_null(dc_http_result_header(&res, "X-Interim"));
    assert_string_equal(dc_http_result_header(&res, "X-Final"), "y");
    assert_int_equal(res.body.len, 2);
    assert_null(strstr(rs.req[1], "Content-Length"));

    assert_int_equal(raw_call(c, &rs, "HEAD", NULL, NULL, &res), DC_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body.len, 0);

    assert_int_equal(raw_call(c, &rs, "DELETE", NULL, NULL, &res), DC_OK);
    assert_int_equal(res.status, 204);
    assert_int_equal(res.num_connects, 0);

    assert_int_equal(raw_call(c, &rs, "GET", NULL, NULL, &res), DC_OK);
    assert_int_equal(res.num_connects, 1); /* the previous response said close */
    assert_int_equal(res.body.len, 11);
    assert_memory_equal(res.body.data, "until close", 11);
    dc_http_result_cleanup(&res);
    dc_http_client_free(c);
    raw_stop(&rs);
    assert_int_equal(rs.accepts, 2);
}

static void test_builtin_client_stale_and_errors(void **state)
{
    static const struct raw_reply replies[] = {
        /* keep-alive as far as the client knows, but the server closes it */
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", true},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb", false},
        {"HTTP/1.1 2xx bad\r\n\r\n", true},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true}, /* cut short */
    };
    const char *bad[] = {"X-Evil: a\r\nInjected: 1", NULL};
    struct dc_http_client *c;
    struct dc_http_result res = {0};
    struct raw_srv rs;

    (void)state;
    raw_start(&rs, replies, 4);
    assert_int_equal(dc_http_client_new(&c, NULL, NULL), DC_OK);
    assert_int_equal(raw_call(c, &rs, "POST", "x", NULL, &res), DC_OK);
    assert_int_equal(res.body.data[0], 'a');
    /* The pooled connection is dead: retried once on a new one. */
    assert_int_equal(raw_call(c, &rs, "POST", "y", NULL, &res), DC_OK);
    assert_int_equal(res.body.data[0], 'b');
    assert_int_equal(res.num_connects, 1);
    assert_int_equal(raw_call(c, &rs, "GET", NULL, bad, &res), DC_EINVAL);
    assert_int_equal(raw_call(c, &rs, "GET", NULL, NULL, &res), DC_EIO);
    assert_int_equal(raw_call(c, &rs, "GET", NULL, NULL, &res), DC_EIO);
    dc_http_result_cleanup(&res);
    dc_http_client_free(c);
    raw_stop(&rs);
}

/* A server may send a few interim 1xx responses (their headers are dropped), not an endless
 * stream of them: each one's headers are kept in the result's arena until the call ends. */
static void test_builtin_client_interim_bound(void **state)
{
    static const struct raw_reply replies[] = {
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
         false},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
         true},
    };
    struct dc_http_client *c;
    struct dc_http_result res = {0};
    struct dc_errbuf eb = {{0}};
    struct raw_srv rs;
    char url[128];
    struct dc_http_call call = {.url = url, .timeout_ms = 5000};

    (void)state;
    raw_start(&rs, replies, 2);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", rs.port);
    assert_int_equal(dc_http_client_new(&c, NULL, NULL), DC_OK);
    assert_int_equal(raw_call(c, &rs, "GET", NULL, NULL, &res), DC_OK); /* five: fine */
    assert_int_equal(res.status, 200);
    assert_null(dc_http_result_header(&res, "Link"));
    assert_int_equal(res.body.len, 2);
    dc_http_result_cleanup(&res);
    assert_int_equal(dc_http_client_do(c, &call, &res, &eb), DC_EIO); /* six: refused */
    assert_string_equal(eb.msg, "http: too many 1xx informational responses");
    dc_http_result_cleanup(&res);
    dc_http_client_free(c);
    raw_stop(&rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_methods_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_path_and_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, setup_epoll, teardown),
        cmocka_unit_test_setup_teardown(test_no_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup_epoll, teardown),
        cmocka_unit_test_setup_teardown(test_header_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_limit_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streaming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup_epoll, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_epoll, setup_epoll, teardown),
        cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_in_use, setup, teardown),
        cmocka_unit_test(test_builtin_client_framing),
        cmocka_unit_test(test_builtin_client_stale_and_errors),
        cmocka_unit_test(test_builtin_client_interim_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
