/* HTTP/1.1 server: http-parser for the wire, a thread per connection, blocking sockets
 * (contracts in dc/http_server.h, design in docs/internals/http.md).
 *
 * An accept thread polls the listening socket and a wake-up pipe; each accepted connection gets a
 * thread that runs conn_main: (TLS handshake,) then read into the connection's buffer,
 * parse with http-parser, and at each message boundary dispatch through the router and write the
 * response head and body with one sendmsg. The parser is paused in its callbacks at the points
 * where the connection must act (headers of an over-limit body, Expect: 100-continue, the end
 * of a message), so pipelined requests already in the buffer are parsed without another read.
 *
 * Request memory: the callbacks record the target and header fields as offsets into the
 * connection's buffer (which may move while it grows); when the header block is complete they are
 * copied into the request's arena in one block, so the buffer is free again for the body and the
 * next request. The body goes into a dc_buf bounded by max_body; with a Content-Length, the socket
 * is read straight into that buffer (no copy through the connection's buffer).
 *
 * Streamed responses (dc_http_stream_*): the handler sends the head and then each piece of the
 * body itself, from the connection's thread, through the connection (conn.st*); when it returns,
 * dispatch ends the body (last chunk) or closes the connection.
 *
 * Stop: quiesce wakes and joins the accept thread, then closes the listener; free also shuts
 * down every connection's socket (blocked reads return), waits until the last connection has
 * unregistered and joins the threads. A connection thread that ends hands itself to the accept
 * thread (a list, and a byte in the reap pipe when the list was empty), which joins it at once;
 * after quiesce the list waits for free. */
/* accept4 and pipe2 (close-on-exec without a race). */
#define _GNU_SOURCE
#include "dc/http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <openssl/err.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"
#include "http_server_int.h"
#include "tls_sockbio.h"

/* First size of a connection's read buffer; it grows while a header block is incomplete. */
#define CONN_BUF_MIN 4096u
/* Room kept free for one read; below it the buffer is compacted or grown first. */
#define READ_MIN 1024u
/* TLS: a response head and body up to this size go out in one SSL_write (one record). */
#define TLS_ONE_WRITE 16384u

struct dc_http_server {
    const struct dc_http_router *router;
    size_t max_body;
    size_t max_header;
    uint16_t port;
    unsigned idle_timeout_s;
    char *unix_path;  /* unlinked at free */
    int lfd;          /* listening socket; -1 once closed */
    int wake[2];      /* a byte in wake[1] stops the accept thread */
    int reap_pipe[2]; /* a byte in [1]: finished connection threads to join (non-blocking) */
    pthread_t acceptor;
    bool acceptor_running;
    bool tls;
    char *client_ca;        /* mutual TLS: kept across dc_http_server_set_tls */
    SSL_CTX *ctx;           /* for new connections; guarded by mu */
    atomic_uint tls_gen;    /* certificate changes so far; each TLS connection records its own */
    pthread_mutex_t ctl_mu; /* serialises set_tls, quiesce and free's listener close */
    atomic_bool quiesced;
    atomic_uint inflight;
    pthread_mutex_t mu;  /* guards conns, nconns, stopping, ctx; the conditions below */
    pthread_cond_t idle; /* inflight reached 0 */
    pthread_cond_t gone; /* nconns reached 0 */
    struct conn *conns;
    unsigned nconns;
    bool stopping;
    /* Connection threads that have finished, to be joined by the accept thread or free (so
     * that nothing of theirs, OpenSSL's per-thread state included, outlives
     * dc_http_server_free). */
    pthread_t *done;
    size_t ndone, capdone;
};

struct span {
    size_t off, len; /* in conn.buf */
};

struct hspan {
    struct span name, value;
};

/* What the parser paused for (set by the callbacks). */
enum conn_event {
    EV_NONE = 0,
    EV_COMPLETE, /* a whole request */
    EV_EARLY,    /* Content-Length over max_body: answer before reading the body */
    EV_CONTINUE, /* Expect: 100-continue: say so before reading the body */
    EV_CUT,      /* a chunked body went on far past max_body: answer and close */
};

/* How a streamed response's body travels (dc_http_response.stream_). */
enum stream_mode {
    ST_NONE = 0, /* a buffered response */
    ST_LENGTH,   /* Content-Length: the writes as they come */
    ST_CHUNKED,  /* a chunk per write, the last one after the handler */
    ST_CLOSE,    /* HTTP/1.0 without a length: raw bytes, then close */
    ST_DISCARD,  /* HEAD or a status without content: writes send nothing */
    ST_BUFFERED, /* socket-less dispatch: writes append to resp->body */
};

enum conn_phase {
    PH_IDLE = 0, /* between requests */
    PH_HEAD,     /* request line or header fields incomplete */
    PH_BODY,     /* header block done, body being read */
};

struct conn {
    struct dc_http_server *s;
    struct conn *prev, *next;
    int fd;
    SSL *ssl;              /* TLS only */
    struct dc__sockbio sb; /* TLS only: what its BIO reads and writes (sb.fd = fd) */
    bool inline_;          /* runs on a caller's thread (dc__http_conn_run), not its own */
    unsigned gen;          /* the certificate generation it was accepted under */
    http_parser p;
    char *buf; /* read buffer: bytes [off, len) are not parsed yet */
    size_t cap, len, off;
    size_t exec_base; /* offset the current http_parser_execute call started at */
    enum conn_phase phase;
    enum conn_event ev;
    size_t head_off;     /* where the current message started in buf */
    int64_t head_end_ns; /* the header block must be complete by then (idle timeout) */
    bool timeout_cut;    /* SO_RCVTIMEO currently shortened to head_end_ns */
    int err_status;      /* 400 / 431 decided by a callback */
    bool counted;        /* the current request is in s->inflight */
    bool keep_alive;
    bool http10;
    bool head_method;
    bool close_req; /* the current request's response must close the connection */
    /* The current streamed response, if any (dc_http_stream_*). */
    uint64_t st_left; /* ST_LENGTH: bytes still to send */
    bool st_close;    /* close after the body (said in the head) */
    bool st_failed;   /* a write failed, overran or the body was aborted: close, no last chunk */
    /* The current request's target and fields, as offsets while the header block is read. */
    struct span url;
    struct hspan *hs;
    size_t nh, hcap;
    bool last_was_value;
    uint64_t body_seen; /* body bytes received, kept or not */
    struct dc_arena arena;
    struct dc_http_request req;
    struct dc_buf body;
    struct dc_buf out; /* the response head being written */
};

static int cb_message_begin(http_parser *p);
static int cb_url(http_parser *p, const char *at, size_t n);
static int cb_header_field(http_parser *p, const char *at, size_t n);
static int cb_header_value(http_parser *p, const char *at, size_t n);
static int cb_headers_complete(http_parser *p);
static int cb_body(http_parser *p, const char *at, size_t n);
static int cb_message_complete(http_parser *p);

static const http_parser_settings settings = {
    .on_message_begin = cb_message_begin,
    .on_url = cb_url,
    .on_header_field = cb_header_field,
    .on_header_value = cb_header_value,
    .on_headers_complete = cb_headers_complete,
    .on_body = cb_body,
    .on_message_complete = cb_message_complete,
};

/* ---- parsing ---------------------------------------------------------------------------- */

static size_t buf_off(const struct conn *c, const char *at)
{
    return (size_t)(at - c->buf);
}

static int cb_message_begin(http_parser *p)
{
    struct conn *c = p->data;

    c->phase = PH_HEAD;
    c->head_off = c->exec_base;
    c->head_end_ns =
        c->s->idle_timeout_s > 0 ? dc_mono_ns() + (int64_t)c->s->idle_timeout_s * 1000000000 : 0;
    c->url.off = c->url.len = 0;
    c->nh = 0;
    c->last_was_value = false;
    c->body_seen = 0;
    c->err_status = 0;
    memset(&c->req, 0, sizeof(c->req));
    c->req.arena = &c->arena;
    c->req.conn_ = c;
    c->counted = true;
    atomic_fetch_add(&c->s->inflight, 1);
    return 0;
}

/* Pieces of one element are contiguous in the buffer unless something (obs-fold) came between:
 * such messages are refused (RFC 9112 §5.2 allows it). */
static int extend(struct conn *c, struct span *sp, const char *at, size_t n)
{
    if (sp->len == 0) {
        sp->off = buf_off(c, at);
    } else if (sp->off + sp->len != buf_off(c, at)) {
        c->err_status = 400;
        return -1;
    }
    sp->len += n;
    return 0;
}

static int cb_url(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    return extend(c, &c->url, at, n);
}

static int cb_header_field(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    if (c->phase != PH_HEAD)
        return 0; /* trailer fields of a chunked body: read and dropped */
    if (c->nh == 0 || c->last_was_value) {
        if (c->nh == DC_HTTP_MAX_REQUEST_HEADERS) {
            c->err_status = 431;
            return -1;
        }
        if (c->nh == c->hcap) {
            c->hcap = c->hcap != 0 ? c->hcap * 2 : 16;
            c->hs = dc_xrealloc(c->hs, c->hcap * sizeof(*c->hs));
        }
        memset(&c->hs[c->nh++], 0, sizeof(*c->hs));
        c->last_was_value = false;
    }
    return extend(c, &c->hs[c->nh - 1].name, at, n);
}

static int cb_header_value(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    if (c->phase != PH_HEAD || c->nh == 0)
        return 0;
    c->last_was_value = true;
    return extend(c, &c->hs[c->nh - 1].value, at, n);
}

/* Copy the target and the fields into the arena, NUL-terminated, in one block. */
static void build_request(struct conn *c)
{
    size_t total = c->url.len + 1, i;
    struct dc_http_header *h;
    const char *q;
    char *blk, *path;

    for (i = 0; i < c->nh; i++)
        total += c->hs[i].name.len + c->hs[i].value.len + 2;
    blk = dc_arena_alloc(&c->arena, total);
    h = c->nh > 0 ? dc_arena_alloc(&c->arena, c->nh * sizeof(*h)) : NULL;
    path = blk;
    memcpy(blk, c->buf + c->url.off, c->url.len);
    blk[c->url.len] = '\0';
    blk += c->url.len + 1;
    for (i = 0; i < c->nh; i++) {
        struct span v = c->hs[i].value;

        /* http-parser skips the blanks before a value, not those after it. */
        while (v.len > 0 && (c->buf[v.off + v.len - 1] == ' ' || c->buf[v.off + v.len - 1] == '\t'))
            v.len--;
        h[i].name = blk;
        memcpy(blk, c->buf + c->hs[i].name.off, c->hs[i].name.len);
        blk[c->hs[i].name.len] = '\0';
        blk += c->hs[i].name.len + 1;
        h[i].value = blk;
        memcpy(blk, c->buf + v.off, v.len);
        blk[v.len] = '\0';
        blk += v.len + 1;
    }
    /* The raw target, still percent-encoded, split at the first '?' (sidecar-api.md §1.2). */
    q = strchr(path, '?');
    if (q != NULL) {
        path[q - path] = '\0';
        c->req.query = q + 1;
    } else {
        c->req.query = "";
    }
    c->req.path = path;
    c->req.method = http_method_str((enum http_method)c->p.method);
    c->req.headers = h;
    c->req.n_headers = c->nh;
}

/* The header block as the old limit counted it: request line and "name: value\r\n" lines. */
static size_t head_size(const struct conn *c)
{
    size_t n = strlen(c->req.method) + c->url.len + 12, i;

    for (i = 0; i < c->nh; i++)
        n += c->hs[i].name.len + c->hs[i].value.len + 4;
    return n + 2;
}

static int cb_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    const char *expect;
    bool has_body;

    build_request(c);
    c->phase = PH_BODY;
    if (p->http_major != 1) {
        c->err_status = 505; /* as Go's server */
        return -1;
    }
    c->keep_alive = http_should_keep_alive(p) != 0;
    c->http10 = p->http_major == 1 && p->http_minor == 0;
    c->head_method = p->method == HTTP_HEAD;
    if (head_size(c) > c->s->max_header) {
        c->err_status = 431;
        return -1;
    }
    dc_buf_init(&c->body, c->s->max_body);
    has_body =
        (p->flags & F_CHUNKED) != 0 || (p->content_length > 0 && p->content_length != ULLONG_MAX);
    if (p->content_length != ULLONG_MAX && p->content_length > c->s->max_body) {
        /* Answer before reading the body and close afterwards, like Go's server after a
         * MaxBytesReader error. */
        c->req.body_too_large = true;
        c->ev = EV_EARLY;
        http_parser_pause(p, 1);
        return 0;
    }
    if (p->content_length != ULLONG_MAX && p->content_length > 0 &&
        dc_buf_reserve(&c->body, (size_t)p->content_length) != DC_OK)
        c->req.body_too_large = true;
    expect = dc_http_request_header(&c->req, "Expect");
    if (has_body && !c->http10 && expect != NULL && dc_str_eq_ci(expect, "100-continue")) {
        c->ev = EV_CONTINUE;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int cb_body(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    c->body_seen += n;
    if (c->req.body_too_large) {
        /* Past the limit the bytes are read and dropped, but not for ever. */
        if (c->body_seen > c->s->max_body && c->body_seen - c->s->max_body > DC_HTTP_MAX_DISCARD) {
            c->ev = EV_CUT;
            http_parser_pause(p, 1);
        }
        return 0;
    }
    if (c->body.data != NULL && at == c->body.data + c->body.len && c->body.len + n < c->body.cap) {
        c->body.len += n; /* read straight into the body (read_body) */
        c->body.data[c->body.len] = '\0';
    } else if (dc_buf_append(&c->body, at, n) != DC_OK) {
        c->req.body_too_large = true;
    }
    return 0;
}

static int cb_message_complete(http_parser *p)
{
    struct conn *c = p->data;

    c->ev = EV_COMPLETE;
    http_parser_pause(p, 1);
    return 0;
}

/* ---- responses -------------------------------------------------------------------------- */

/* The reason phrase of the status line, as Go's server writes it. */
static const char *reason(int status, char *buf, size_t n)
{
    const char *t = dc_http_status_text(status);

    if (t[0] != '\0')
        return t;
    snprintf(buf, n, "status code %d", status);
    return buf;
}

/* "Date: <IMF-fixdate>\r\n", formatted once per second per thread. */
static const char *date_line(void)
{
    static _Thread_local time_t last = -1;
    static _Thread_local char line[48];
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;

    if (now != last && gmtime_r(&now, &tm) != NULL) {
        snprintf(line, sizeof(line), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        last = now;
    }
    return line;
}

/* Headers whose wire form the server owns, or that would let a handler split the response. */
static bool header_sendable(const struct dc_http_header *h, bool no_body)
{
    if (h->name[0] == '\0' || strpbrk(h->name, "\r\n:") != NULL ||
        strpbrk(h->value, "\r\n") != NULL)
        return false;
    if (dc_str_eq_ci(h->name, "Content-Length") || dc_str_eq_ci(h->name, "Transfer-Encoding") ||
        dc_str_eq_ci(h->name, "Date") || dc_str_eq_ci(h->name, "Connection"))
        return false;
    if (no_body && dc_str_eq_ci(h->name, "Content-Type"))
        return false;
    return true;
}

static void put(struct dc_buf *b, const char *s, size_t n)
{
    /* The head buffer has no limit: only memory can fail, and dc_buf aborts then. */
    (void)!dc_buf_append(b, s, n);
}

static void puts_(struct dc_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Write all of `iov` (plain: one sendmsg per attempt; TLS: one SSL_write per piece, head and a
 * small body merged first so they travel in one record). */
static bool conn_write(struct conn *c, struct iovec *iov, int n)
{
    if (c->ssl != NULL) {
        for (int i = 0; i < n; i++) {
            if (iov[i].iov_len > 0 && SSL_write(c->ssl, iov[i].iov_base, (int)iov[i].iov_len) <= 0)
                return false;
        }
        return true;
    }
    while (n > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);

        if (k < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return true;
}

/* The status sent for `status` (out of range: 500). */
static int wire_status(int status)
{
    return status < 100 || status > 999 ? 500 : status;
}

/* RFC 9110 §15.3.5 / §15.4.5: no content for 1xx, 204 and 304. */
static bool status_no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* Must the connection close after `resp` (`close_after`: the server decided so already)? */
static bool must_close(const struct conn *c, const struct dc_http_response *resp, bool close_after)
{
    struct dc_http_server *s = c->s;

    for (size_t i = 0; i < resp->n_headers; i++) {
        if (dc_str_eq_ci(resp->headers[i].name, "Connection") &&
            dc_str_eq_ci(resp->headers[i].value, "close"))
            close_after = true;
    }
    return close_after || !c->keep_alive || atomic_load(&s->quiesced) ||
           (c->ssl != NULL && c->gen != atomic_load(&s->tls_gen));
}

/* The response head into c->out: status line, the handler's headers, `framing` (a whole header
 * line or ""), Date and Connection. */
static void put_head(struct conn *c, const struct dc_http_response *resp, int status, bool no_body,
                     const char *framing, bool close_after)
{
    char num[24], rbuf[24];

    dc_buf_reset(&c->out);
    snprintf(num, sizeof(num), " %d ", status);
    puts_(&c->out, c->http10 ? "HTTP/1.0" : "HTTP/1.1");
    puts_(&c->out, num);
    puts_(&c->out, reason(status, rbuf, sizeof(rbuf)));
    put(&c->out, "\r\n", 2);
    for (size_t i = 0; i < resp->n_headers; i++) {
        const struct dc_http_header *h = &resp->headers[i];

        if (!header_sendable(h, no_body))
            continue;
        puts_(&c->out, h->name);
        put(&c->out, ": ", 2);
        puts_(&c->out, h->value);
        put(&c->out, "\r\n", 2);
    }
    puts_(&c->out, framing);
    puts_(&c->out, date_line());
    if (close_after)
        puts_(&c->out, "Connection: close\r\n");
    else if (c->http10)
        puts_(&c->out, "Connection: keep-alive\r\n");
    put(&c->out, "\r\n", 2);
}

/* Send `resp`; returns true when the connection stays open. */
static bool send_response(struct conn *c, struct dc_http_response *resp, bool close_after)
{
    int status = wire_status(resp->status);
    bool no_body = status_no_body(status);
    struct iovec iov[2];
    char framing[48];
    int n;

    close_after = must_close(c, resp, close_after);
    framing[0] = '\0';
    if (!no_body)
        snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", resp->body.len);
    put_head(c, resp, status, no_body, framing, close_after);
    n = 1;
    if (!no_body && !c->head_method && resp->body.len > 0) {
        if (c->ssl != NULL && c->out.len + resp->body.len <= TLS_ONE_WRITE) {
            put(&c->out, resp->body.data, resp->body.len);
        } else {
            iov[1].iov_base = resp->body.data;
            iov[1].iov_len = resp->body.len;
            n = 2;
        }
    }
    iov[0].iov_base = c->out.data;
    iov[0].iov_len = c->out.len;
    if (!conn_write(c, iov, n))
        return false;
    /* The head buffer keeps its storage between requests unless one was unusually large. */
    if (c->out.cap > 4 * TLS_ONE_WRITE)
        dc_buf_cleanup(&c->out);
    return !close_after;
}

/* The request is over (answered, or the connection is gone): release it. */
static void end_request(struct conn *c)
{
    struct dc_http_server *s = c->s;

    dc_arena_cleanup(&c->arena);
    dc_buf_cleanup(&c->body);
    c->phase = PH_IDLE;
    c->ev = EV_NONE;
    if (c->counted) {
        c->counted = false;
        if (atomic_fetch_sub(&s->inflight, 1) == 1) {
            pthread_mutex_lock(&s->mu);
            pthread_cond_broadcast(&s->idle);
            pthread_mutex_unlock(&s->mu);
        }
    }
}

/* ---- streamed responses ------------------------------------------------------------------ */

/* One chunk of a chunked body (TLS: one record when it fits). */
static bool write_chunk(struct conn *c, const void *data, size_t len)
{
    char line[24];
    struct iovec iov[3];
    int n = snprintf(line, sizeof(line), "%zx\r\n", len);

    if (c->ssl != NULL && len <= TLS_ONE_WRITE) {
        dc_buf_reset(&c->out);
        put(&c->out, line, (size_t)n);
        put(&c->out, data, len);
        put(&c->out, "\r\n", 2);
        iov[0].iov_base = c->out.data;
        iov[0].iov_len = c->out.len;
        return conn_write(c, iov, 1);
    }
    iov[0].iov_base = line;
    iov[0].iov_len = (size_t)n;
    iov[1].iov_base = (void *)data;
    iov[1].iov_len = len;
    iov[2].iov_base = (void *)"\r\n";
    iov[2].iov_len = 2;
    return conn_write(c, iov, 3);
}

int dc_http_stream_begin(struct dc_http_request *req, struct dc_http_response *resp, int64_t length)
{
    struct conn *c = req->conn_;
    char framing[48];
    struct iovec iov;
    enum stream_mode mode;
    int status, rv;
    bool no_body;

    if (resp->stream_ != ST_NONE || length < DC_HTTP_LENGTH_UNKNOWN)
        return DC_EINVAL;
    if (c == NULL) {
        resp->stream_ = ST_BUFFERED;
        return DC_OK;
    }
    status = wire_status(resp->status);
    no_body = status_no_body(status);
    c->st_left = 0;
    c->st_failed = false;
    c->st_close = must_close(c, resp, c->close_req);
    framing[0] = '\0';
    if (no_body) {
        mode = ST_DISCARD;
    } else if (length >= 0) {
        snprintf(framing, sizeof(framing), "Content-Length: %lld\r\n", (long long)length);
        mode = c->head_method ? ST_DISCARD : ST_LENGTH;
        c->st_left = (uint64_t)length;
    } else if (c->head_method) {
        mode = ST_DISCARD;
    } else if (c->http10) {
        mode = ST_CLOSE; /* HTTP/1.0 has no chunks: the close ends the body */
        c->st_close = true;
    } else {
        dc_strlcpy(framing, "Transfer-Encoding: chunked\r\n", sizeof(framing));
        mode = ST_CHUNKED;
    }
    resp->stream_ = (int)mode;
    resp->conn_ = c;
    put_head(c, resp, status, no_body, framing, c->st_close);
    iov.iov_base = c->out.data;
    iov.iov_len = c->out.len;
    if (!conn_write(c, &iov, 1)) {
        c->st_failed = true;
        return DC_EIO;
    }
    if (resp->body.len == 0)
        return DC_OK;
    rv = dc_http_stream_write(resp, resp->body.data, resp->body.len);
    dc_buf_reset(&resp->body);
    return rv;
}

int dc_http_stream_write(struct dc_http_response *resp, const void *data, size_t len)
{
    struct conn *c = resp->conn_;
    struct iovec iov;
    bool ok;

    switch ((enum stream_mode)resp->stream_) {
    case ST_NONE:
        return DC_EINVAL;
    case ST_BUFFERED:
        return dc_buf_append(&resp->body, data, len);
    case ST_DISCARD:
        return DC_OK;
    case ST_LENGTH:
    case ST_CHUNKED:
    case ST_CLOSE:
        break;
    }
    if (c->st_failed)
        return DC_EIO;
    if (len == 0)
        return DC_OK;
    if (resp->stream_ == ST_LENGTH) {
        if (len > c->st_left) {
            c->st_failed = true;
            return DC_EINVAL;
        }
        c->st_left -= len;
    }
    if (resp->stream_ == ST_CHUNKED) {
        ok = write_chunk(c, data, len);
    } else {
        iov.iov_base = (void *)data;
        iov.iov_len = len;
        ok = conn_write(c, &iov, 1);
    }
    if (!ok) {
        c->st_failed = true;
        return DC_EIO;
    }
    return DC_OK;
}

int dc_http_stream_watch_fd(const struct dc_http_response *resp)
{
    const struct conn *c = resp->conn_;

    return c != NULL ? c->fd : -1;
}

void dc_http_stream_abort(struct dc_http_response *resp)
{
    struct conn *c = resp->conn_;

    if (c != NULL && resp->stream_ != ST_NONE && resp->stream_ != ST_BUFFERED)
        c->st_failed = true;
}

/* The handler of a streamed response returned: end the body. True when the connection stays
 * open. */
static bool stream_end(struct conn *c, enum stream_mode mode)
{
    static const char last[] = "0\r\n\r\n";
    struct iovec iov;

    if (c->st_failed || mode == ST_CLOSE || (mode == ST_LENGTH && c->st_left > 0))
        return false;
    if (mode == ST_CHUNKED) {
        iov.iov_base = (void *)last;
        iov.iov_len = sizeof(last) - 1;
        if (!conn_write(c, &iov, 1))
            return false;
    }
    if (c->out.cap > 4 * TLS_ONE_WRITE)
        dc_buf_cleanup(&c->out);
    return !c->st_close && !atomic_load(&c->s->quiesced);
}

static bool dispatch(struct conn *c, bool close_after)
{
    struct dc_http_response resp;
    bool keep;

    c->req.body = c->body.len > 0 ? c->body.data : "";
    c->req.body_len = c->body.len;
    c->close_req = close_after;
    dc_http_response_init(&resp, &c->arena);
    (void)dc_http_router_dispatch(c->s->router, &c->req, &resp);
    if (resp.stream_ != ST_NONE)
        keep = stream_end(c, (enum stream_mode)resp.stream_);
    else
        keep = send_response(c, &resp, close_after);
    dc_http_response_cleanup(&resp);
    end_request(c);
    return keep;
}

/* A request the server refuses itself (malformed, header block too large); always closes. */
static void reply_error(struct conn *c, int status)
{
    struct dc_http_response resp;
    char text[64], rbuf[24];

    snprintf(text, sizeof(text), "%d %s", status, reason(status, rbuf, sizeof(rbuf)));
    if (c->req.method == NULL) {
        c->http10 = false;
        c->head_method = false;
    }
    dc_http_response_init(&resp, &c->arena);
    resp.status = status;
    if (dc_http_response_body(&resp, text, strlen(text), "text/plain; charset=utf-8") == DC_OK)
        (void)send_response(c, &resp, true);
    dc_http_response_cleanup(&resp);
    end_request(c);
}

/* ---- the connection loop ---------------------------------------------------------------- */

static ssize_t conn_read(struct conn *c, char *dst, size_t n)
{
    ssize_t k;

    if (n > INT_MAX)
        n = INT_MAX;
    if (c->ssl != NULL)
        return SSL_read(c->ssl, dst, (int)n);
    do
        k = recv(c->fd, dst, n, 0);
    while (k < 0 && errno == EINTR);
    return k;
}

static void set_rcvtimeo(int fd, int64_t ns)
{
    struct timeval tv = {.tv_sec = (time_t)(ns / 1000000000),
                         .tv_usec = (suseconds_t)(ns % 1000000000 / 1000)};

    if (ns > 0 && tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Move the bytes still needed to the front of the buffer (offsets follow). */
static void compact(struct conn *c)
{
    size_t keep = c->phase == PH_HEAD ? c->head_off : c->off, i;

    if (keep == 0)
        return;
    memmove(c->buf, c->buf + keep, c->len - keep);
    c->len -= keep;
    c->off -= keep;
    if (c->phase == PH_HEAD) {
        c->head_off = 0;
        if (c->url.len > 0)
            c->url.off -= keep;
        for (i = 0; i < c->nh; i++) {
            if (c->hs[i].name.len > 0)
                c->hs[i].name.off -= keep;
            if (c->hs[i].value.len > 0)
                c->hs[i].value.off -= keep;
        }
    }
}

/* Parse buf[off, len) up to the next event or the end; false: the connection must close. */
static bool parse_buffered(struct conn *c, const char *data, size_t len, size_t *used)
{
    size_t n;
    enum http_errno e;

    c->ev = EV_NONE;
    n = http_parser_execute(&c->p, &settings, data, len);
    *used = n;
    e = HTTP_PARSER_ERRNO(&c->p);
    if (e == HPE_PAUSED) {
        http_parser_pause(&c->p, 0);
        return true;
    }
    if (e == HPE_OK)
        return true;
    if (c->err_status == 0)
        c->err_status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
    return false;
}

/* Act on the event the parser paused for; false: close the connection. */
static bool on_event(struct conn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct iovec iov;

    switch (c->ev) {
    case EV_COMPLETE:
        return dispatch(c, false);
    case EV_EARLY:
    case EV_CUT:
        (void)dispatch(c, true);
        return false;
    case EV_CONTINUE:
        iov.iov_base = (void *)cont;
        iov.iov_len = sizeof(cont) - 1;
        return conn_write(c, &iov, 1);
    case EV_NONE:
        break;
    }
    return true;
}

/* Read straight into the body buffer when the rest of a Content-Length body is expected and
 * nothing is buffered: no copy through the connection's buffer. */
static bool read_body(struct conn *c)
{
    size_t want = (size_t)c->p.content_length, used;
    ssize_t k;

    if (want > c->body.cap - c->body.len - 1)
        want = c->body.cap - c->body.len - 1;
    k = conn_read(c, c->body.data + c->body.len, want);
    if (k <= 0)
        return false;
    if (!parse_buffered(c, c->body.data + c->body.len, (size_t)k, &used))
        return false;
    return on_event(c);
}

/* Read more bytes into the connection buffer; false: closed, timed out or failed. */
static bool read_more(struct conn *c)
{
    size_t limit = c->s->max_header + CONN_BUF_MIN;
    ssize_t k;

    if (c->off == c->len && c->phase != PH_HEAD)
        c->off = c->len = 0;
    if (c->cap - c->len < READ_MIN)
        compact(c);
    if (c->cap - c->len < READ_MIN) {
        size_t ncap = c->cap * 2;

        if (c->phase == PH_HEAD && c->len > limit) {
            c->err_status = 431;
            return false;
        }
        c->buf = dc_xrealloc(c->buf, ncap);
        c->cap = ncap;
    }
    if (c->phase == PH_HEAD && c->head_end_ns > 0) {
        /* Slow header blocks (slowloris): the whole block within the idle timeout. */
        int64_t left = c->head_end_ns - dc_mono_ns();

        if (left <= 0)
            return false;
        set_rcvtimeo(c->fd, left);
        c->timeout_cut = true;
    } else if (c->timeout_cut) {
        set_rcvtimeo(c->fd, (int64_t)c->s->idle_timeout_s * 1000000000);
        c->timeout_cut = false;
    }
    k = conn_read(c, c->buf + c->len, c->cap - c->len - 1);
    if (k <= 0)
        return false;
    c->len += (size_t)k;
    return true;
}

static void conn_serve(struct conn *c)
{
    size_t used;

    for (;;) {
        if (c->off < c->len) {
            c->exec_base = c->off;
            if (!parse_buffered(c, c->buf + c->off, c->len - c->off, &used)) {
                reply_error(c, c->err_status);
                return;
            }
            c->off += used;
            if (c->ev != EV_NONE) {
                if (!on_event(c))
                    return;
                continue;
            }
            if (c->phase == PH_HEAD && c->len - c->head_off > c->s->max_header) {
                reply_error(c, 431);
                return;
            }
        }
        if (c->phase == PH_BODY && c->off == c->len && !c->req.body_too_large &&
            (c->p.flags & F_CHUNKED) == 0 && c->p.content_length > 0 &&
            c->p.content_length != ULLONG_MAX && c->body.len + 1 < c->body.cap) {
            if (!read_body(c))
                return;
            continue;
        }
        if (!read_more(c)) {
            if (c->err_status != 0)
                reply_error(c, c->err_status);
            return;
        }
    }
}

static bool tls_start(struct conn *c)
{
    struct dc_http_server *s = c->s;
    SSL_CTX *ctx;
    BIO *bio;

    pthread_mutex_lock(&s->mu);
    ctx = s->ctx;
    SSL_CTX_up_ref(ctx);
    c->gen = atomic_load(&s->tls_gen);
    pthread_mutex_unlock(&s->mu);
    c->ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    c->sb.fd = c->fd;
    bio = dc__sockbio_new(&c->sb);
    if (c->ssl == NULL || bio == NULL) {
        BIO_free(bio);
        return false;
    }
    SSL_set_bio(c->ssl, bio, bio);
    return SSL_accept(c->ssl) == 1;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct dc_http_server *s = c->s;

    if (s->idle_timeout_s > 0) {
        struct timeval tv = {.tv_sec = (time_t)s->idle_timeout_s};

        (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    c->cap = CONN_BUF_MIN;
    c->buf = dc_xmalloc(c->cap);
    http_parser_init(&c->p, HTTP_REQUEST);
    c->p.data = c;
    dc_arena_init(&c->arena);
    dc_buf_init(&c->out, 0);
    if (!s->tls || tls_start(c))
        conn_serve(c);
    end_request(c);
    /* Release everything before unregistering: dc_http_server_free returns as soon as the last
     * connection has unregistered, and the process may exit right after. */
    if (c->ssl != NULL) {
        ERR_clear_error();
        SSL_free(c->ssl);
    }
    free(c->buf);
    free(c->hs);
    dc_buf_cleanup(&c->out);

    pthread_mutex_lock(&s->mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    close(c->fd); /* under mu: free() shuts down the sockets of registered connections */
    if (!c->inline_) {
        if (s->ndone == s->capdone) {
            s->capdone = s->capdone != 0 ? s->capdone * 2 : 16;
            s->done = dc_xrealloc(s->done, s->capdone * sizeof(*s->done));
        }
        s->done[s->ndone++] = pthread_self();
        /* The accept thread joins the list after reading the pipe, so one byte per non-empty
         * list is enough (and a full pipe loses nothing). */
        if (s->ndone == 1)
            (void)!write(s->reap_pipe[1], "r", 1);
    }
    if (--s->nconns == 0)
        pthread_cond_broadcast(&s->gone);
    pthread_mutex_unlock(&s->mu);
    /* `s` may be gone now. */
    free(c);
    return NULL;
}

int dc_http_request_peer_cert(const struct dc_http_request *req, size_t i, const uint8_t **der,
                              size_t *len)
{
    const struct conn *c;

    if (req == NULL || req->conn_ == NULL || req->arena == NULL)
        return DC_ENOTFOUND;
    c = req->conn_;
    if (c->ssl == NULL)
        return DC_ENOTFOUND;
    return dc__http_tls_peer_der(c->ssl, i, req->arena, der, len);
}

/* ---- accepting -------------------------------------------------------------------------- */

/* Register a connection on `fd`; NULL (fd closed) when the server is stopping or full. */
static struct conn *conn_new(struct dc_http_server *s, int fd)
{
    struct conn *c;

    pthread_mutex_lock(&s->mu);
    if (s->stopping || s->nconns >= DC_HTTP_MAX_CONNS) {
        pthread_mutex_unlock(&s->mu);
        close(fd);
        return NULL;
    }
    c = dc_xcalloc(1, sizeof(*c));
    c->s = s;
    c->fd = fd;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    pthread_mutex_unlock(&s->mu);
    return c;
}

static void conn_start(struct dc_http_server *s, int fd, bool tcp)
{
    struct conn *c = conn_new(s, fd);
    pthread_t t;
    int one = 1, rv;

    if (c == NULL)
        return;
    if (tcp)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rv = pthread_create(&t, NULL, conn_main, c);
    if (rv != 0) {
        /* No thread: run conn_main here on a dead socket; it unregisters, closes, frees. */
        c->inline_ = true;
        (void)shutdown(fd, SHUT_RDWR);
        (void)conn_main(c);
    }
}

/* Join the connection threads that have finished (they are exiting or gone). */
static void reap(struct dc_http_server *s)
{
    pthread_t *done;
    size_t n;

    pthread_mutex_lock(&s->mu);
    done = s->done;
    n = s->ndone;
    s->done = NULL;
    s->ndone = s->capdone = 0;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++)
        pthread_join(done[i], NULL);
    free(done);
}

void dc__http_server_threads(struct dc_http_server *s, unsigned *conns, size_t *unjoined)
{
    pthread_mutex_lock(&s->mu);
    *conns = s->nconns;
    *unjoined = s->ndone;
    pthread_mutex_unlock(&s->mu);
}

void dc__http_conn_run(struct dc_http_server *s, int fd)
{
    struct conn *c = conn_new(s, fd);

    if (c != NULL) {
        c->inline_ = true;
        (void)conn_main(c);
    }
}

static void *accept_main(void *arg)
{
    struct dc_http_server *s = arg;
    bool tcp = s->unix_path == NULL;

    for (;;) {
        struct pollfd pf[3] = {{.fd = s->lfd, .events = POLLIN},
                               {.fd = s->wake[0], .events = POLLIN},
                               {.fd = s->reap_pipe[0], .events = POLLIN}};
        int fd;

        if (poll(pf, 3, -1) < 0 && errno != EINTR)
            break;
        if (pf[1].revents != 0)
            break;
        if (pf[2].revents != 0) {
            char drain[64];

            /* Read first, then take the list: a thread that ends in between writes again. */
            while (read(s->reap_pipe[0], drain, sizeof(drain)) > 0)
                ;
            reap(s);
        }
        if ((pf[0].revents & POLLIN) == 0)
            continue;
        fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_start(s, fd, tcp);
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors or memory: back off a little (or stop when woken). */
            pf[1].revents = 0;
            if (poll(&pf[1], 1, 100) > 0)
                break;
        }
    }
    return NULL;
}

/* Listening sockets. */

static int bind_error(int err, const char *what, struct dc_errbuf *eb)
{
    if (err == EADDRINUSE)
        return dc_err_set(eb, DC_EEXIST, "listen on %s: address already in use", what);
    if (err == EACCES || err == EPERM)
        return dc_err_set(eb, DC_EPERM, "listen on %s: %s", what, strerror(err));
    if (err == EADDRNOTAVAIL || err == EAFNOSUPPORT)
        return dc_err_set(eb, DC_EINVAL, "listen on %s: %s", what, strerror(err));
    return dc_err_set(eb, DC_EIO, "listen on %s: %s", what, strerror(err));
}

static int listen_on(const struct sockaddr *sa, socklen_t salen, int *fd_out)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1, zero = 0, err;

    if (fd < 0)
        return errno;
    if (sa->sa_family != AF_UNIX)
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, sa, salen) != 0 || listen(fd, SOMAXCONN) != 0) {
        err = errno;
        close(fd);
        return err;
    }
    *fd_out = fd;
    return 0;
}

static int listen_tcp(const char *address, uint16_t port, int *fd_out, uint16_t *bound,
                      struct dc_errbuf *eb)
{
    char host[256], what[300], portstr[8];
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    size_t n = address != NULL ? strlen(address) : 0;
    int err = EADDRNOTAVAIL, gai;

    /* "[::1]" is accepted as well as "::1". */
    if (n >= 2 && address[0] == '[' && address[n - 1] == ']') {
        address++;
        n -= 2;
    }
    if (n >= sizeof(host))
        return dc_err_set(eb, DC_EINVAL, "listen address too long");
    memcpy(host, address != NULL ? address : "", n);
    host[n] = '\0';
    snprintf(what, sizeof(what), "%s:%u", n > 0 ? host : "*", (unsigned)port);
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (n == 0)
        hints.ai_family = AF_INET6; /* all interfaces: one dual-stack socket */
    gai = getaddrinfo(n > 0 ? host : NULL, portstr, &hints, &res);
    if (gai != 0 && n == 0) {
        hints.ai_family = AF_INET;
        gai = getaddrinfo(NULL, portstr, &hints, &res);
    }
    if (gai != 0)
        return dc_err_set(eb, DC_EINVAL, "listen on %s: %s", what, gai_strerror(gai));
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        err = listen_on(ai->ai_addr, ai->ai_addrlen, fd_out);
        if (err == 0)
            break;
    }
    if (err == EAFNOSUPPORT && n == 0) {
        struct sockaddr_in sin;

        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        err = listen_on((const struct sockaddr *)&sin, sizeof(sin), fd_out);
    }
    freeaddrinfo(res);
    if (err != 0)
        return bind_error(err, what, eb);
    if (getsockname(*fd_out, (struct sockaddr *)&ss, &sslen) == 0)
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    return DC_OK;
}

static int listen_unix(const char *path, int *fd_out, struct dc_errbuf *eb)
{
    struct sockaddr_un sun;
    struct stat st;
    int err;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (dc_strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
        return dc_err_set(eb, DC_EINVAL, "unix socket path too long: %s", path);
    /* A socket left by a previous run would make bind fail; never remove anything else. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        (void)unlink(path);
    err = listen_on((const struct sockaddr *)&sun, sizeof(sun), fd_out);
    if (err != 0)
        return bind_error(err, path, eb);
    return DC_OK;
}

/* http-parser's own bound on a header block (and on chunk lines and trailers) is process-wide;
 * it only ever grows, to the largest max_header of any server, so ours is the one that counts. */
static void parser_limit(size_t max_header)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static size_t cur = HTTP_MAX_HEADER_SIZE;
    size_t want = max_header + CONN_BUF_MIN;

    pthread_mutex_lock(&mu);
    if (want > cur && want <= UINT32_MAX) {
        http_parser_set_max_header_size((uint32_t)want);
        cur = want;
    }
    pthread_mutex_unlock(&mu);
}

int dc_http_server_start(struct dc_http_server **out, const struct dc_http_server_opts *o,
                         const struct dc_http_router *r, struct dc_errbuf *eb)
{
    struct dc_http_server *s;
    pthread_condattr_t ca;
    int rv;

    if (out == NULL || o == NULL || r == NULL)
        return dc_err_set(eb, DC_EINVAL, "http server: missing argument");
    s = dc_xcalloc(1, sizeof(*s));
    s->router = r;
    s->lfd = -1;
    s->wake[0] = s->wake[1] = -1;
    s->reap_pipe[0] = s->reap_pipe[1] = -1;
    s->max_body = o->max_body != 0 ? o->max_body : DC_DEFAULT_MAX_BODY;
    s->max_header = o->max_header != 0 ? o->max_header : DC_HTTP_DEFAULT_MAX_HEADER;
    if (s->max_header > DC_HTTP_MAX_HEADER_CAP)
        s->max_header = DC_HTTP_MAX_HEADER_CAP;
    s->idle_timeout_s = o->idle_timeout_s;
    atomic_init(&s->quiesced, false);
    atomic_init(&s->tls_gen, 0);
    atomic_init(&s->inflight, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->ctl_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->idle, &ca);
    pthread_cond_init(&s->gone, &ca);
    pthread_condattr_destroy(&ca);
    parser_limit(s->max_header);

    if (!dc_str_empty(o->tls_cert_pem) || !dc_str_empty(o->tls_key_pem)) {
        if (dc_str_empty(o->tls_cert_pem) || dc_str_empty(o->tls_key_pem)) {
            rv = dc_err_set(eb, DC_EINVAL, "http server: TLS needs both a certificate and a key");
            goto err;
        }
        if (!dc_str_empty(o->tls_client_ca_pem))
            s->client_ca = dc_xstrdup(o->tls_client_ca_pem);
        s->ctx = dc__http_tls_ctx_new(o->tls_cert_pem, o->tls_key_pem, s->client_ca, eb);
        if (s->ctx == NULL) {
            rv = DC_ETLS;
            goto err;
        }
        s->tls = true;
    }
    if (!dc_str_empty(o->unix_path)) {
        rv = listen_unix(o->unix_path, &s->lfd, eb);
        if (rv == DC_OK)
            s->unix_path = dc_xstrdup(o->unix_path);
    } else {
        rv = listen_tcp(o->address, o->port, &s->lfd, &s->port, eb);
    }
    if (rv != DC_OK)
        goto err;
    if (pipe2(s->wake, O_CLOEXEC) != 0 || pipe2(s->reap_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        rv = dc_err_set(eb, DC_EIO, "http server: pipe: %s", strerror(errno));
        goto err;
    }
    if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0) {
        rv = dc_err_set(eb, DC_EIO, "http server: cannot start the accept thread");
        goto err;
    }
    s->acceptor_running = true;
    *out = s;
    return DC_OK;

err:
    dc_http_server_free(s);
    return rv;
}

int dc_http_server_set_tls(struct dc_http_server *s, const char *cert_pem, const char *key_pem,
                           struct dc_errbuf *eb)
{
    SSL_CTX *ctx, *old;
    int rv = DC_OK;

    if (s == NULL || !s->tls)
        return dc_err_set(eb, DC_EINVAL, "http server: not serving TLS");
    if (dc_str_empty(cert_pem) || dc_str_empty(key_pem))
        return dc_err_set(eb, DC_ETLS, "tls: certificate and key are both required");
    pthread_mutex_lock(&s->ctl_mu);
    if (atomic_load(&s->quiesced)) {
        rv = dc_err_set(eb, DC_EINVAL, "http server: quiesced");
        goto cleanup;
    }
    ctx = dc__http_tls_ctx_new(cert_pem, key_pem, s->client_ca, eb);
    if (ctx == NULL) {
        rv = DC_ETLS;
        goto cleanup;
    }
    /* Connections hold their own reference to the context they were accepted with. */
    pthread_mutex_lock(&s->mu);
    old = s->ctx;
    s->ctx = ctx;
    atomic_fetch_add(&s->tls_gen, 1);
    pthread_mutex_unlock(&s->mu);
    SSL_CTX_free(old);
cleanup:
    pthread_mutex_unlock(&s->ctl_mu);
    return rv;
}

uint16_t dc_http_server_port(const struct dc_http_server *s)
{
    return s->port;
}

/* Stop accepting: wake and join the accept thread, then close the listener (so connections
 * made after this are refused, not left in a backlog). Under ctl_mu. */
static void stop_listener(struct dc_http_server *s)
{
    if (s->acceptor_running) {
        while (write(s->wake[1], "x", 1) < 0 && errno == EINTR)
            ;
        pthread_join(s->acceptor, NULL);
        s->acceptor_running = false;
    }
    if (s->lfd >= 0) {
        close(s->lfd);
        s->lfd = -1;
    }
}

void dc_http_server_quiesce(struct dc_http_server *s)
{
    atomic_store(&s->quiesced, true);
    pthread_mutex_lock(&s->ctl_mu);
    stop_listener(s);
    pthread_mutex_unlock(&s->ctl_mu);
}

int dc_http_server_drain(struct dc_http_server *s, int64_t timeout_ms)
{
    struct timespec deadline = dc_timespec_in(CLOCK_MONOTONIC, timeout_ms * 1000000);
    int rv = DC_OK;

    pthread_mutex_lock(&s->mu);
    while (atomic_load(&s->inflight) > 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&s->idle, &s->mu);
        } else if (pthread_cond_timedwait(&s->idle, &s->mu, &deadline) == ETIMEDOUT) {
            rv = atomic_load(&s->inflight) > 0 ? DC_ETIMEDOUT : DC_OK;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rv;
}

unsigned dc_http_server_inflight(const struct dc_http_server *s)
{
    struct dc_http_server *m = (struct dc_http_server *)s; /* atomic_load wants non-const */

    return atomic_load(&m->inflight);
}

void dc_http_server_free(struct dc_http_server *s)
{
    struct conn *c;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->ctl_mu);
    stop_listener(s);
    pthread_mutex_unlock(&s->ctl_mu);
    /* Wake every connection thread (blocked reads return, writes fail), then wait for them:
     * handlers still running finish first. */
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    for (c = s->conns; c != NULL; c = c->next)
        (void)shutdown(c->fd, SHUT_RDWR);
    while (s->nconns > 0)
        pthread_cond_wait(&s->gone, &s->mu);
    pthread_mutex_unlock(&s->mu);
    reap(s);
    if (s->ctx != NULL)
        SSL_CTX_free(s->ctx);
    free(s->client_ca);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    if (s->reap_pipe[0] >= 0)
        close(s->reap_pipe[0]);
    if (s->reap_pipe[1] >= 0)
        close(s->reap_pipe[1]);
    if (s->unix_path != NULL) {
        (void)unlink(s->unix_path);
        free(s->unix_path);
    }
    pthread_cond_destroy(&s->idle);
    pthread_cond_destroy(&s->gone);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->ctl_mu);
    free(s);
}
