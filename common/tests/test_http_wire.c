/* The server's wire handling, driven byte by byte from raw sockets on 127.0.0.1: pipelining,
 * header blocks split across reads (and across buffer growth), chunked bodies with extensions
 * and trailers, Expect: 100-continue, HTTP/1.0, HEAD, malformed requests, the header-field
 * limit and the slowloris cut; streamed responses (chunked, Content-Length, HTTP/1.0, HEAD, a
 * client gone mid-stream, socket-less dispatch). Every read is bounded by SO_RCVTIMEO. */
/* POLLRDHUP. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../src/http_server_int.h"
#include "dc/http_client.h"
#include "dc/http_server.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

/* What the /stream handler shares with the test thread. */
struct stream_ctl {
    int gate[2]; /* the handler waits for a byte in gate[1] where the query says gate=1 */
    int done[2]; /* the handler writes a byte here when it ends */
    int result;  /* the last stream call's return code */
};

struct fixture {
    struct dc_http_router *r;
    struct dc_http_server *s;
    uint16_t port;
    struct stream_ctl ctl;
};

/* Wait up to 5 s for a byte on `fd`; false on timeout. */
static bool wait_byte(int fd)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    char c;

    return poll(&pf, 1, 5000) == 1 && read(fd, &c, 1) == 1;
}

static const char *const pieces[] = {"one\n", "two\n", "three\n"}; /* 14 bytes */

/* /stream?len=<n>&gate=1&pre=1&flood=1&status=<s>: a streamed response of `pieces` (the first
 * through resp->body with pre=1), announced as len bytes (absent: unknown), waiting for the
 * test's byte after the first piece with gate=1; flood=1 writes 1 KiB pieces until a write
 * fails. The last return code goes to ctl->result, then a byte to ctl->done. */
static void h_stream(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct stream_ctl *ctl = ud;
    const char *len = dc_http_request_query(req, "len");
    const char *st = dc_http_request_query(req, "status");
    int64_t n = DC_HTTP_LENGTH_UNKNOWN;
    size_t i = 0;
    int rv;

    if (len != NULL)
        assert_int_equal(dc_str_to_i64(len, 0, 1 << 20, &n), DC_OK);
    resp->status = st != NULL ? (int)strtol(st, NULL, 10) : 200;
    dc_http_response_header(resp, "X-S", "1");
    dc_http_response_header(resp, "Content-Type", "text/event-stream");
    if (dc_http_request_query(req, "pre") != NULL) {
        assert_int_equal(dc_buf_appends(&resp->body, pieces[0]), DC_OK);
        i = 1;
    }
    rv = dc_http_stream_begin(req, resp, n);
    assert_int_equal(dc_http_stream_begin(req, resp, n), DC_EINVAL); /* only once */
    if (dc_http_request_query(req, "flood") != NULL) {
        char kb[1024];

        memset(kb, 'f', sizeof(kb));
        for (int k = 0; k < 100000 && rv == DC_OK; k++)
            rv = dc_http_stream_write(resp, kb, sizeof(kb));
    }
    for (; i < 3 && rv == DC_OK; i++) {
        if (i == 1 && dc_http_request_query(req, "gate") != NULL)
            assert_true(wait_byte(ctl->gate[0]));
        rv = dc_http_stream_write(resp, pieces[i], strlen(pieces[i]));
    }
    ctl->result = rv;
    assert_int_equal(write(ctl->done[1], "d", 1), 1);
}

static void h_echo(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const char *x = dc_http_request_header(req, "x-a");
    (void)ud;
    dc_http_response_header(resp, "X-Query", req->query);
    dc_http_response_header(resp, "X-A", x != NULL ? x : "-");
    dc_http_response_header(resp, "X-N", req->body_too_large ? "big" : "ok");
    assert_int_equal(dc_http_response_body(resp, req->body, req->body_len, "text/plain"), DC_OK);
}

/* /watch: one piece, then wait (up to 10 s) for the watch descriptor to report that the client
 * left or the server stops; ctl->result = 1 when it did. */
static void h_watch(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct stream_ctl *ctl = ud;
    struct pollfd pf = {.events = POLLRDHUP};

    assert_int_equal(dc_http_stream_watch_fd(resp), -1);
    assert_int_equal(dc_http_stream_begin(req, resp, DC_HTTP_LENGTH_UNKNOWN), DC_OK);
    assert_int_equal(dc_http_stream_write(resp, "w\n", 2), DC_OK);
    pf.fd = dc_http_stream_watch_fd(resp);
    assert_true(pf.fd >= 0);
    ctl->result = poll(&pf, 1, 10000) == 1 && (pf.revents & (POLLRDHUP | POLLHUP)) != 0;
    assert_int_equal(write(ctl->done[1], "d", 1), 1);
}

static int setup_opts(void **state, unsigned idle)
{
    struct fixture *f = dc_xcalloc(1, sizeof(*f));
    struct dc_http_server_opts o = {
        .address = "127.0.0.1", .max_body = 64, .max_header = 8192, .idle_timeout_s = idle};
    struct dc_errbuf eb = {0};

    f->r = dc_http_router_new();
    assert_int_equal(dc_http_router_add(f->r, NULL, "/echo", h_echo, NULL), DC_OK);
    assert_int_equal(pipe(f->ctl.gate), 0);
    assert_int_equal(pipe(f->ctl.done), 0);
    assert_int_equal(dc_http_router_add(f->r, NULL, "/stream", h_stream, &f->ctl), DC_OK);
    assert_int_equal(dc_http_router_add(f->r, NULL, "/watch", h_watch, &f->ctl), DC_OK);
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
    for (int i = 0; i < 2; i++) {
        close(f->ctl.gate[i]);
        close(f->ctl.done[i]);
    }
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

/* Make `rd` hold at least `n` bytes; false when the connection closed first. */
static bool fill_to(int fd, struct reader *rd, size_t n)
{
    while (rd->len < n) {
        ssize_t k = recv(fd, rd->buf + rd->len, sizeof(rd->buf) - 1 - rd->len, 0);

        if (k <= 0)
            break;
        rd->len += (size_t)k;
    }
    rd->buf[rd->len] = '\0';
    return rd->len >= n;
}

/* Move the first `n` bytes of `rd` to `out` (NUL-terminated). */
static void take(struct reader *rd, size_t n, char *out, size_t cap)
{
    assert_true(n < cap);
    memcpy(out, rd->buf, n);
    out[n] = '\0';
    memmove(rd->buf, rd->buf + n, rd->len - n);
    rd->len -= n;
    rd->buf[rd->len] = '\0';
}

/* The next line (without CRLF) into `out`; false when the connection closed first. */
static bool read_line(int fd, struct reader *rd, char *out, size_t cap)
{
    char *eol;

    rd->buf[rd->len] = '\0';
    while ((eol = strstr(rd->buf, "\r\n")) == NULL) {
        if (!fill_to(fd, rd, rd->len + 1))
            return false;
    }
    take(rd, (size_t)(eol - rd->buf) + 2, out, cap);
    out[strlen(out) - 2] = '\0';
    return true;
}

/* The head through its blank line into `out`. */
static bool read_head(int fd, struct reader *rd, char *out, size_t cap)
{
    char *end;

    rd->buf[rd->len] = '\0';
    while ((end = strstr(rd->buf, "\r\n\r\n")) == NULL) {
        if (!fill_to(fd, rd, rd->len + 1))
            return false;
    }
    take(rd, (size_t)(end - rd->buf) + 4, out, cap);
    return true;
}

/* One chunk of a chunked body into `out`; its size, or -1 (closed, malformed). */
static long read_chunk(int fd, struct reader *rd, char *out, size_t cap)
{
    char line[64], crlf[4];
    long n;

    if (!read_line(fd, rd, line, sizeof(line)))
        return -1;
    n = strtol(line, NULL, 16);
    if (n < 0 || !fill_to(fd, rd, (size_t)n + 2))
        return -1;
    take(rd, (size_t)n, out, cap);
    take(rd, 2, crlf, sizeof(crlf));
    return strcmp(crlf, "\r\n") == 0 ? n : -1;
}

static void test_stream_chunked(void **state)
{
    struct fixture *f = *state;
    struct reader rd = {0};
    char head[4096], data[256];
    int fd = dial(f);

    /* The first piece arrives while the handler still waits for the gate. */
    send_str(fd, "GET /stream?gate=1&pre=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_head(fd, &rd, head, sizeof(head)));
    assert_true(dc_str_has_prefix(head, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(head, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(head, "X-S: 1\r\n"));
    assert_null(strstr(head, "Content-Length"));
    assert_null(strstr(head, "Connection: close"));
    assert_int_equal(read_chunk(fd, &rd, data, sizeof(data)), 4);
    assert_string_equal(data, "one\n");
    assert_int_equal(dc_http_server_inflight(f->s), 1);
    assert_int_equal(write(f->ctl.gate[1], "g", 1), 1);
    assert_int_equal(read_chunk(fd, &rd, data, sizeof(data)), 4);
    assert_string_equal(data, "two\n");
    assert_int_equal(read_chunk(fd, &rd, data, sizeof(data)), 6);
    assert_string_equal(data, "three\n");
    assert_int_equal(read_chunk(fd, &rd, data, sizeof(data)), 0); /* and no trailers */
    assert_true(wait_byte(f->ctl.done[0]));
    assert_int_equal(f->ctl.result, DC_OK);
    /* Keep-alive: the next request on the same connection is answered. */
    send_str(fd, "GET /echo?again HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_response(fd, &rd, false, head, sizeof(head)));
    assert_non_null(strstr(head, "X-Query: again\r\n"));
    assert_int_equal(rd.len, 0);
    close(fd);
}

static void test_stream_length(void **state)
{
    struct fixture *f = *state;
    struct reader rd = {0};
    char resp[4096];
    int fd = dial(f);

    /* Exactly the announced length: a normal keep-alive response. */
    send_str(fd, "GET /stream?len=14 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "Content-Length: 14\r\n"));
    assert_null(strstr(resp, "Transfer-Encoding"));
    assert_true(dc_str_has_suffix(resp, "\r\n\r\none\ntwo\nthree\n"));
    assert_true(wait_byte(f->ctl.done[0]));
    assert_int_equal(f->ctl.result, DC_OK);
    /* Over the announced length: the write is refused, the body stays short, then close. */
    send_str(fd, "GET /stream?len=6 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_head(fd, &rd, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "Content-Length: 6\r\n"));
    assert_true(wait_byte(f->ctl.done[0]));
    assert_int_equal(f->ctl.result, DC_EINVAL);
    assert_true(fill_to(fd, &rd, 4));
    assert_false(fill_to(fd, &rd, 5)); /* "one\n", then the close */
    close(fd);
    /* Shorter than announced: the close tells the client. */
    fd = dial(f);
    rd.len = 0;
    send_str(fd, "GET /stream?len=20 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_head(fd, &rd, resp, sizeof(resp)));
    assert_false(fill_to(fd, &rd, 20));
    assert_int_equal(rd.len, 14);
    close(fd);
    assert_true(wait_byte(f->ctl.done[0]));
}

static void test_stream_http10_head(void **state)
{
    struct fixture *f = *state;
    struct reader rd = {0};
    char resp[4096];
    int fd = dial(f);

    /* HTTP/1.0, unknown length: raw bytes delimited by the close. */
    send_str(fd, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_true(read_head(fd, &rd, resp, sizeof(resp)));
    assert_true(dc_str_has_prefix(resp, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(resp, "Connection: close\r\n"));
    assert_null(strstr(resp, "Transfer-Encoding"));
    assert_null(strstr(resp, "Content-Length"));
    assert_false(fill_to(fd, &rd, sizeof(rd.buf) - 1));
    assert_string_equal(rd.buf, "one\ntwo\nthree\n");
    close(fd);
    assert_true(wait_byte(f->ctl.done[0]));
    /* HEAD: the head only (with a known length), writes succeed, keep-alive goes on; then a
     * 204 with a streamed "body" sends none. */
    fd = dial(f);
    rd.len = 0;
    send_str(fd, "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                 "HEAD /stream?len=14 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /stream?status=204 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /echo?last HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_head(fd, &rd, resp, sizeof(resp)));
    assert_null(strstr(resp, "Transfer-Encoding"));
    assert_null(strstr(resp, "Content-Length"));
    assert_true(read_head(fd, &rd, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "Content-Length: 14\r\n"));
    assert_true(read_head(fd, &rd, resp, sizeof(resp)));
    assert_true(dc_str_has_prefix(resp, "HTTP/1.1 204 No Content\r\n"));
    assert_null(strstr(resp, "Content-Type"));
    assert_true(read_response(fd, &rd, false, resp, sizeof(resp)));
    assert_non_null(strstr(resp, "X-Query: last\r\n"));
    for (int i = 0; i < 3; i++) {
        assert_true(wait_byte(f->ctl.done[0]));
        assert_int_equal(f->ctl.result, DC_OK);
    }
    close(fd);
}

/* A new connection that asked for `target` and read the head and the first chunk (`first`
 * bytes) of its streamed response. */
static int open_stream(const struct fixture *f, const char *target, long first)
{
    struct reader rd = {0};
    char head[4096], data[2048], req[128];
    int fd = dial(f);

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    send_str(fd, req);
    assert_true(read_head(fd, &rd, head, sizeof(head)));
    assert_int_equal(read_chunk(fd, &rd, data, sizeof(data)), first);
    return fd;
}

static void test_stream_client_gone(void **state)
{
    struct fixture *f = *state;
    int fd = open_stream(f, "/stream?flood=1", 1024);

    /* The client reads the first chunk and leaves: the handler's writes fail (it stops), the
     * server closes the connection and the request is no longer in flight. */
    close(fd);
    assert_true(wait_byte(f->ctl.done[0]));
    assert_int_equal(f->ctl.result, DC_EIO);
    assert_int_equal(dc_http_server_drain(f->s, 2000), DC_OK);
}

static void test_stream_socketless(void **state)
{
    struct stream_ctl ctl = {0};
    struct dc_http_router *r = dc_http_router_new();
    struct dc_http_request req = {0};
    struct dc_http_response resp;
    struct dc_arena a;

    (void)state;
    assert_int_equal(pipe(ctl.done), 0);
    assert_int_equal(dc_http_router_add(r, NULL, "/stream", h_stream, &ctl), DC_OK);
    dc_arena_init(&a);
    req.method = "GET";
    req.path = "/stream";
    req.query = "pre=1";
    req.arena = &a;
    dc_http_response_init(&resp, &a);
    assert_int_equal(dc_http_router_dispatch(r, &req, &resp), DC_OK);
    /* Without a connection the pieces are a buffered body. */
    assert_int_equal(ctl.result, DC_OK);
    assert_int_equal(resp.body.len, 14);
    assert_memory_equal(resp.body.data, "one\ntwo\nthree\n", 14);
    assert_string_equal(dc_http_response_header_get(&resp, "X-S"), "1");
    /* Writes before begin are refused; abort before begin is a no-op. */
    dc_http_response_cleanup(&resp);
    dc_http_response_init(&resp, &a);
    dc_http_stream_abort(&resp);
    assert_int_equal(dc_http_stream_write(&resp, "x", 1), DC_EINVAL);
    assert_int_equal(dc_http_stream_begin(&req, &resp, -2), DC_EINVAL);
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&a);
    dc_http_router_free(r);
    close(ctl.done[0]);
    close(ctl.done[1]);
}

static void test_stream_watch(void **state)
{
    struct fixture *f = *state;
    int fd = open_stream(f, "/watch", 2);

    /* The client leaves while the producer waits for something else. */
    close(fd);
    assert_true(wait_byte(f->ctl.done[0]));
    assert_int_equal(f->ctl.result, 1);
    /* The server stops (free) while the producer waits: it is woken, so free returns. */
    fd = open_stream(f, "/watch", 2);
    dc_http_server_free(f->s);
    f->s = NULL;
    assert_true(wait_byte(f->ctl.done[0]));
    assert_int_equal(f->ctl.result, 1);
    close(fd);
}

/* The client side of a relay: the body sink closes the peer of the watched descriptor after
 * the first piece, while the server's handler holds the rest back. */
struct watch_sink {
    int peer;
    size_t got;
};

static int watch_body(const void *data, size_t len, void *ud)
{
    struct watch_sink *w = ud;

    (void)data;
    w->got += len;
    if (w->peer >= 0) {
        close(w->peer);
        w->peer = -1;
    }
    return 0;
}

static void test_client_watch(void **state)
{
    struct fixture *f = *state;
    struct dc_http_client *cl;
    struct dc_http_call call = {0};
    struct dc_http_result res = {0};
    struct dc_errbuf eb = {0};
    struct watch_sink w;
    char url[64];
    int sv[2], watch;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    w.peer = sv[1];
    w.got = 0;
    watch = sv[0];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/stream?gate=1", (unsigned)f->port);
    assert_int_equal(dc_http_client_new(&cl, NULL, &eb), DC_OK);
    call.url = url;
    call.on_body = watch_body;
    call.ud = &w;
    call.watch_fd = &watch;
    /* Without the watch this call would wait for the gate (5 s) and then succeed. */
    assert_int_equal(dc_http_client_do(cl, &call, &res, &eb), DC_ECANCELED);
    assert_int_equal(w.got, 4);
    assert_int_equal(write(f->ctl.gate[1], "g", 1), 1);
    assert_true(wait_byte(f->ctl.done[0]));
    dc_http_result_cleanup(&res);
    dc_http_client_free(cl);
    close(sv[0]);
}

static void test_threads_joined(void **state)
{
    struct fixture *f = *state;
    struct reader rd = {0};
    char resp[4096];
    unsigned conns = 1;
    size_t unjoined = 1;
    int fd[3];

    /* Connections that end have their threads joined without waiting for the next accept. */
    for (int i = 0; i < 3; i++) {
        fd[i] = dial(f);
        send_str(fd[i], "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
        rd.len = 0;
        assert_true(read_response(fd[i], &rd, false, resp, sizeof(resp)));
    }
    for (int i = 0; i < 3; i++)
        close(fd[i]);
    for (int i = 0; i < 500 && (conns > 0 || unjoined > 0); i++) {
        struct timespec poll_gap = {0, 10 * 1000000L}; /* polling a state, bounded */

        dc__http_server_threads(f->s, &conns, &unjoined);
        if (conns > 0 || unjoined > 0)
            nanosleep(&poll_gap, NULL);
    }
    assert_int_equal(conns, 0);
    assert_int_equal(unjoined, 0);
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
        cmocka_unit_test_setup_teardown(test_stream_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_http10_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_client_gone, setup, teardown),
        cmocka_unit_test(test_stream_socketless),
        cmocka_unit_test_setup_teardown(test_threads_joined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_watch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
