/* The server's wire handling, driven byte by byte from raw sockets on 127.0.0.1: pipelining,
 * header blocks split across reads (and across buffer growth), chunked bodies with extensions
 * and trailers, Expect: 100-continue, HTTP/1.0, HEAD, malformed requests, the header-field
 * limit and the slowloris cut. Every read is bounded by SO_RCVTIMEO. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dc/http_server.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

struct fixture {
    struct dc_http_router *r;
    struct dc_http_server *s;
    uint16_t port;
};

static void h_echo(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const char *x = dc_http_request_header(req, "x-a");
    (void)ud;
    dc_http_response_header(resp, "X-Query", req->query);
    dc_http_response_header(resp, "X-A", x != NULL ? x : "-");
    dc_http_response_header(resp, "X-N", req->body_too_large ? "big" : "ok");
    assert_int_equal(dc_http_response_body(resp, req->body, req->body_len, "text/plain"), DC_OK);
}

static int setup_opts(void **state, unsigned idle)
{
    struct fixture *f = dc_xcalloc(1, sizeof(*f));
    struct dc_http_server_opts o = {
        .address = "127.0.0.1", .max_body = 64, .max_header = 8192, .idle_timeout_s = idle};
    struct dc_errbuf eb = {0};

    f->r = dc_http_router_new();
    assert_int_equal(dc_http_router_add(f->r, NULL, "/echo", h_echo, NULL), DC_OK);
    if (dc_http_server_start(&f->s, &o, f->r, &eb) != DC_OK)
        fail_msg("start: %s", eb.msg);
    f->port = dc_http_server_port(f->s);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_opts(state, 30);
}

static int setup_idle1(void **state)
{
    return setup_opts(state, 1);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    dc_http_server_free(f->s);
    dc_http_router_free(f->r);
    free(f);
    return 0;
}

static int dial(const struct fixture *f)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    struct timeval tv = {.tv_sec = 5};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    assert_true(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

        assert_true(k > 0);
        s += k;
        n -= (size_t)k;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Read one response (head, then Content-Length bytes unless `head_only`) into `out`, keeping
 * bytes beyond it for the next call in `rest`. Returns false when the connection closed first. */
struct reader {
    char buf[16384];
    size_t len;
};

static bool read_response(int fd, struct reader *rd, bool head_only, char *out, size_t cap)
{
    char *end;
    long body = 0;
    size_t need;

    for (;;) {
        rd->buf[rd->len] = '\0';
        end = strstr(rd->buf, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strstr(rd->buf, "Content-Length: ");

            body = head_only || cl == NULL || cl > end ? 0 : strtol(cl + 16, NULL, 10);
            need = (size_t)(end + 4 - rd->buf) + (size_t)body;
            if (rd->len >= need)
                break;
        }
        ssize_t k = recv(fd, rd->buf + rd->len, sizeof(rd->buf) - 1 - rd->len, 0);
        if (k <= 0)
            return false;
        rd->len += (size_t)k;
    }
    assert_true(need < cap);
    memcpy(out, rd->buf, need);
    out[need] = '\0';
    memmove(rd->buf, rd->buf + need, rd->len - need);
    rd->len -= need;
    return true;
}

/* True when the server closed the connection (EOF) within the socket's timeout. */
static bool closed_by_server(int fd)
{
    char c;

    return recv(fd, &c, 1, 0) == 0;
}

static void test_pipelined(void **state)
{
    struct fixture *f = *state;
    struct reader rd = {0};
    char resp[4096];
    int fd = dial(f);

    /* Three requests in one write; the last one has a body. */
    send_str(fd, "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /echo?n=2 HTTP/1.1\r\nHost: x\r\nX-A: two\r\n\r\n"
                 "POST /echo?n=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "X-Query: n=1\r\n"));
    assert_non_null(strstr(resp, "X-A: -\r\n"));
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "X-Query: n=2\r\n"));
    assert_non_null(strstr(resp, "X-A: two\r\n"));
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "X-Query: n=3\r\n"));
    assert_true(dc_str_has_suffix(resp, "\r\n\r\nhello"));
    assert_int_equal(rd.len, 0);
    close(fd);
}

/* No response may come while the request is incomplete (the server must wait for more). */
static void assert_silent(int fd)
{
    struct timeval tv = {.tv_usec = 100000}, back = {.tv_sec = 5};
    char c;

    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(recv(fd, &c, 1, 0), -1);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &back, sizeof(back)), 0);
}

static void test_split_head(void **state)
{
    struct fixture *f = *state;
    struct reader rd = {0};
    char resp[4096], *big = dc_xmalloc(6001);
    int fd = dial(f);

    /* A first request and the start of a second in one write, then the rest of the second in
     * pieces cut inside the target, a name and a value; its header block (~6 KB) outgrows the
     * connection's first buffer, so the buffer is compacted and grown under recorded fields. */
    memset(big, 'v', 6000);
    big[6000] = '\0';
    send_str(fd, "GET /echo?n=1 HTTP/1.1\r\n\r\nGET /ec");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "X-Query: n=1\r\n"));
    send_str(fd, "ho?n=2 HTTP/1.1\r\nX-Pad: ");
    assert_silent(fd);
    send_str(fd, big);
    send_str(fd, "\r\nX");
    assert_silent(fd);
    send_str(fd, "-A: sp");
    assert_silent(fd);
    send_str(fd, "lit  \r\n\r\n");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(resp, "X-Query: n=2\r\n"));
    assert_non_null(strstr(resp, "X-A: split\r\n")); /* trailing blanks trimmed */
    close(fd);
    free(big);
}

static void test_chunked_ext_trailers(void **state)
{
    struct fixture *f = *state;
    struct reader rd = {0};
    char resp[4096];
    int fd = dial(f);

    send_str(fd, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-A: head\r\n\r\n"
                 "3;ext=1;q=\"x\"\r\nabc\r\n2\r\nde\r\n0\r\nX-A: trailer\r\n\r\n"
                 "GET /echo?after HTTP/1.1\r\n\r\n");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "X-A: head\r\n"));
    assert_true(dc_str_has_suffix(resp, "\r\n\r\nabcde"));
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "X-Query: after\r\n"));
    /* Over max_body (64): the excess is read and dropped, then the handler runs. */
    send_str(fd, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 10; i++)
        send_str(fd, "10\r\n0123456789abcdef\r\n");
    send_str(fd, "0\r\n\r\n");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "X-N: big\r\n"));
    /* A bad chunk size: 400 and close. */
    send_str(fd, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "HTTP/1.1 400 "));
    assert_non_null(strstr(resp, "Connection: close\r\n"));
    assert_true(closed_by_server(fd));
    close(fd);
}

static void test_bad_requests(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "GET /echo HTTP/1.1\r\nNo colon here\r\n\r\n",
        "G@T /echo HTTP/1.1\r\n\r\n",
        "GET /echo HTTP/9.9\r\n\r\n", /* 505 */
        "GET /echo HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct reader rd = {0};
        char resp[4096];
        int fd = dial(f);

        send_str(fd, bad[i]);
        assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
        if (strstr(resp, i == 2 ? "HTTP/1.1 505 " : "HTTP/1.1 400 ") == NULL)
            fail_msg("request %zu: %s", i, resp);
        assert_true(closed_by_server(fd));
        close(fd);
    }
    assert_int_equal(dc_http_server_inflight(f->s), 0);
}

static void test_too_many_fields(void **state)
{
    struct fixture *f = *state;
    struct dc_http_server_opts o = {.address = "127.0.0.1", .max_header = 64 * 1024};
    struct dc_http_server *s = NULL;
    struct reader rd = {0};
    struct dc_buf req;
    char resp[4096];
    int fd;

    assert_int_equal(dc_http_server_start(&s, &o, f->r, NULL), DC_OK);
    f->port = dc_http_server_port(s);
    dc_buf_init(&req, 0);
    assert_int_equal(dc_buf_appends(&req, "GET /echo HTTP/1.1\r\n"), DC_OK);
    for (int i = 0; i <= DC_HTTP_MAX_REQUEST_HEADERS; i++)
        assert_int_equal(dc_buf_appendf(&req, "X-%d: v\r\n", i), DC_OK);
    assert_int_equal(dc_buf_appends(&req, "\r\n"), DC_OK);
    fd = dial(f);
    send_all(fd, req.data, req.len);
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "HTTP/1.1 431 "));
    assert_true(closed_by_server(fd));
    close(fd);
    dc_buf_cleanup(&req);
    dc_http_server_free(s);
}

static void test_expect_continue(void **state)
{
    struct fixture *f = *state;
    struct reader rd = {0};
    char resp[4096];
    int fd = dial(f);

    send_str(fd, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    assert_true(read_response(fd, &rd, true, resp, sizeof(resp)));
    assert_string_equal(resp, "HTTP/1.1 100 Continue\r\n\r\n");
    send_str(fd, "body");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
    assert_true(dc_str_has_suffix(resp, "\r\n\r\nbody"));
    /* Announced over the limit: no 100, the handler answers at once, the connection closes. */
    send_str(fd, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(resp, "X-N: big\r\n"));
    assert_non_null(strstr(resp, "Connection: close\r\n"));
    assert_true(closed_by_server(fd));
    close(fd);
}

static void test_http10_and_head(void **state)
{
    struct fixture *f = *state;
    struct reader rd = {0};
    char resp[4096];
    int fd = dial(f);

    /* 1.0 with keep-alive stays open and says so. */
    send_str(fd, "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_true(dc_str_has_prefix(resp, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(resp, "Connection: keep-alive\r\n"));
    /* HEAD: the length of the body that GET would send, no body; the next response parses. */
    send_str(fd, "HEAD /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc"
                 "GET /echo?last HTTP/1.0\r\n\r\n");
    assert_true(read_response(fd, &rd, true, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "Content-Length: 3\r\n"));
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "X-Query: last\r\n"));
    /* Plain 1.0 closes after the response. */
    assert_non_null(strstr(resp, "Connection: close\r\n"));
    assert_true(closed_by_server(fd));
    close(fd);
}

static void test_slowloris(void **state)
{
    struct fixture *f = *state;
    struct timespec gap = {0, 250 * 1000000L};
    int64_t t0 = dc_mono_ns(), dt;
    int fd = dial(f);
    bool closed = false;
    char c;

    /* One byte of a header value every 250 ms: every read is within the 1 s idle timeout, but
     * the header block is not complete within it, so the server closes. */
    send_str(fd, "GET /echo HTTP/1.1\r\nX-A: ");
    for (int i = 0; i < 16 && !closed; i++) {
        nanosleep(&gap, NULL); /* the trickle itself, not a synchronisation */
        if (send(fd, "a", 1, MSG_NOSIGNAL) < 0)
            closed = true;
        else if (recv(fd, &c, 1, MSG_DONTWAIT) == 0)
            closed = true;
    }
    dt = dc_mono_ns() - t0;
    assert_true(closed);
    assert_true(dt >= 900 * 1000000LL && dt < 2500 * 1000000LL);
    close(fd);
    assert_int_equal(dc_http_server_drain(f->s, 2000), DC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_ext_trailers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10_and_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slowloris, setup_idle1, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
