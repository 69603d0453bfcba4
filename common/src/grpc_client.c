/* gRPC client: one lazily (re)connected HTTP/2 connection per client (TLS with ALPN h2, or h2c
 * with prior knowledge), request submission, response status, keepalive pings, blocking unary. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/x509v3.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "grpc_int.h"

struct dc_grpc_client {
    struct dc__grpc_loop loop;
    struct dc_grpc_client_opts o;
    char *target, *host, *port, *authority, *server_name;
    SSL_CTX *ctx;
    struct dc__grpc_conn *conn;  /* the one new calls go to; NULL when none or draining */
    struct dc__grpc_conn *conns; /* every live connection */
    bool closing;
};

static void client_wake(void *owner);

static int split_target(struct dc_grpc_client *c, const char *t, struct dc_errbuf *eb)
{
    const char *colon;

    if (t[0] == '[') {
        const char *end = strchr(t, ']');
        if (end == NULL || end[1] != ':')
            return dc_err_set(eb, DC_EINVAL, "bad target \"%s\"", t);
        c->host = dc_xstrndup(t + 1, (size_t)(end - t - 1));
        c->port = dc_xstrdup(end + 2);
    } else {
        colon = strrchr(t, ':');
        if (colon == NULL || colon == t)
            return dc_err_set(eb, DC_EINVAL, "bad target \"%s\" (want host:port)", t);
        c->host = dc_xstrndup(t, (size_t)(colon - t));
        c->port = dc_xstrdup(colon + 1);
    }
    if (c->port[0] == '\0')
        return dc_err_set(eb, DC_EINVAL, "bad target \"%s\" (no port)", t);
    return DC_OK;
}

static void client_free_fields(struct dc_grpc_client *c)
{
    free(c->target);
    free(c->host);
    free(c->port);
    free(c->authority);
    free(c->server_name);
    SSL_CTX_free(c->ctx);
    free(c);
}

int dc_grpc_client_new(struct dc_grpc_client **out, const struct dc_grpc_client_opts *opts,
                       struct dc_errbuf *eb)
{
    struct dc_grpc_client *c;
    int rv;

    if (opts == NULL || opts->target == NULL)
        return dc_err_set(eb, DC_EINVAL, "no target");
    c = dc_xcalloc(1, sizeof(*c));
    c->o = *opts;
    c->target = dc_xstrdup(opts->target);
    rv = split_target(c, c->target, eb);
    if (rv != DC_OK) {
        client_free_fields(c);
        return rv;
    }
    c->authority = dc_xstrdup(opts->authority ? opts->authority : opts->target);
    c->server_name = opts->server_name ? dc_xstrdup(opts->server_name) : NULL;
    if (opts->ssl_ctx != NULL) {
        c->ctx = opts->ssl_ctx;
        SSL_CTX_up_ref(c->ctx);
    }
    c->o.target = c->o.authority = c->o.server_name = NULL;
    c->o.ssl_ctx = NULL;
    if (c->o.max_recv_msg == 0)
        c->o.max_recv_msg = DC_GRPC_DEFAULT_MAX_MSG;
    if (c->o.max_send_msg == 0)
        c->o.max_send_msg = DC_GRPC_DEFAULT_MAX_MSG;
    if (c->o.initial_window == 0)
        c->o.initial_window = DC_GRPC_DEFAULT_WINDOW;
    if (c->o.connect_timeout_ms == 0)
        c->o.connect_timeout_ms = 10000;
    if (c->o.keepalive_timeout_ms == 0)
        c->o.keepalive_timeout_ms = 20000;
    rv = dc__grpc_loop_init(&c->loop, client_wake, c, eb);
    if (rv == DC_OK)
        rv = dc__grpc_loop_start(&c->loop, eb);
    if (rv != DC_OK) {
        dc__grpc_loop_cleanup(&c->loop);
        client_free_fields(c);
        return rv;
    }
    *out = c;
    return DC_OK;
}

int dc_grpc_client_set_ssl_ctx(struct dc_grpc_client *c, SSL_CTX *ctx)
{
    SSL_CTX *old;

    if (ctx == NULL)
        return DC_EINVAL;
    SSL_CTX_up_ref(ctx);
    dc__grpc_lock(&c->loop);
    old = c->ctx;
    c->ctx = ctx;
    dc__grpc_unlock(&c->loop);
    SSL_CTX_free(old);
    return DC_OK;
}

/* ---- connection ---- */

static void ka_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dc__grpc_conn *c = arg;
    struct dc__grpc_loop *l = c->loop;

    (void)fd;
    (void)what;
    dc__grpc_lock(l);
    if (c->ping_outstanding) {
        /* No PING ACK in time: the peer or the path is gone; nothing more can be sent. */
        c->closing = true;
        c->connected = false;
        dc__grpc_conn_flush(c);
    }
    dc__grpc_unlock(l);
}

static void ka_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dc__grpc_conn *c = arg;
    struct dc_grpc_client *cl = c->owner;
    struct timeval tv;

    (void)fd;
    (void)what;
    dc__grpc_lock(&cl->loop);
    if (c->connected && !c->closing && !c->ping_outstanding &&
        (c->ncalls > 0 || cl->o.keepalive_without_calls)) {
        if (nghttp2_submit_ping(c->ng, NGHTTP2_FLAG_NONE, NULL) == 0) {
            c->ping_outstanding = true;
            tv.tv_sec = cl->o.keepalive_timeout_ms / 1000;
            tv.tv_usec = (cl->o.keepalive_timeout_ms % 1000) * 1000;
            evtimer_add(c->ka_timeout_ev, &tv);
            dc__grpc_conn_flush(c);
        }
    }
    dc__grpc_unlock(&cl->loop);
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dc__grpc_conn *c = arg;
    struct dc__grpc_loop *l = c->loop;

    (void)fd;
    (void)what;
    dc__grpc_lock(l);
    if (!c->connected) {
        c->closing = true;
        dc__grpc_conn_flush(c);
    }
    dc__grpc_unlock(l);
}

static struct dc__grpc_conn *connect_new(struct dc_grpc_client *cl, char *why, size_t whylen)
{
    struct addrinfo hints, *res = NULL;
    struct bufferevent *bev;
    struct dc__grpc_conn *c;
    struct timeval tv;
    SSL *ssl = NULL;
    char ip[INET6_ADDRSTRLEN] = "";
    int rv, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rv = getaddrinfo(cl->host, cl->port, &hints, &res);
    if (rv != 0 || res == NULL) {
        snprintf(why, whylen, "cannot resolve %s: %s", cl->host, gai_strerror(rv));
        return NULL;
    }
    if (cl->ctx != NULL) {
        ssl = SSL_new(cl->ctx);
        DC_ASSERT(ssl != NULL);
        (void)SSL_set_alpn_protos(ssl, (const unsigned char *)"\x02h2", 3);
        if (cl->server_name != NULL) {
            (void)SSL_set_tlsext_host_name(ssl, cl->server_name);
            if (SSL_CTX_get_verify_mode(cl->ctx) & SSL_VERIFY_PEER)
                (void)SSL_set1_host(ssl, cl->server_name);
        }
        bev = bufferevent_openssl_socket_new(cl->loop.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    } else {
        bev = bufferevent_socket_new(cl->loop.base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    DC_ASSERT(bev != NULL);
    c = dc__grpc_conn_new(&cl->loop, false, cl, bev, ssl);
    c->window = cl->o.initial_window;
    c->max_recv = cl->o.max_recv_msg;
    c->max_send = cl->o.max_send_msg;
    if (res->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr, ip,
                  sizeof(ip));
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr, ip, sizeof(ip));
    snprintf(c->peer, sizeof(c->peer), res->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip,
             cl->port);
    c->next = cl->conns;
    if (cl->conns != NULL)
        cl->conns->prev = c;
    cl->conns = c;
    if (dc__grpc_conn_session(c, 0) != DC_OK ||
        bufferevent_socket_connect(bev, res->ai_addr, (int)res->ai_addrlen) != 0) {
        freeaddrinfo(res);
        snprintf(why, whylen, "cannot connect to %s", cl->target);
        c->closing = true;
        return c; /* freed by the caller's flush; calls attached to it fail UNAVAILABLE */
    }
    freeaddrinfo(res);
    (void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->connect_ev = evtimer_new(cl->loop.base, connect_timeout_cb, c);
    tv.tv_sec = cl->o.connect_timeout_ms / 1000;
    tv.tv_usec = (cl->o.connect_timeout_ms % 1000) * 1000;
    evtimer_add(c->connect_ev, &tv);
    if (cl->o.keepalive_time_ms > 0) {
        c->ka_ev = event_new(cl->loop.base, -1, EV_PERSIST, ka_cb, c);
        c->ka_timeout_ev = evtimer_new(cl->loop.base, ka_timeout_cb, c);
        tv.tv_sec = cl->o.keepalive_time_ms / 1000;
        tv.tv_usec = (cl->o.keepalive_time_ms % 1000) * 1000;
        event_add(c->ka_ev, &tv);
    }
    cl->conn = c;
    return c;
}

void dc__grpc_client_conn_gone(struct dc__grpc_conn *c)
{
    struct dc_grpc_client *cl = c->owner;

    if (cl->conn == c)
        cl->conn = NULL;
    if (!c->freed)
        return; /* GOAWAY: running calls go on, new ones get a new connection */
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (cl->conns == c)
        cl->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
}

/* ---- calls ---- */

static void submit(struct dc_grpc_client *cl, struct dc_grpc_call *call)
{
    struct dc__grpc_hdrs h = {0};
    nghttp2_data_provider prd;
    struct dc__grpc_conn *conn = cl->conn;
    char timeout[DC_GRPC_TIMEOUT_LEN], why[160] = "";
    int32_t id;

    call->submitted = true;
    if (conn == NULL || conn->closing || conn->draining)
        conn = connect_new(cl, why, sizeof(why));
    if (conn == NULL) {
        dc__grpc_call_complete(call, DC_GRPC_UNAVAILABLE, why);
        return;
    }
    dc__grpc_hdrs_add(&h, ":method", "POST", 4);
    dc__grpc_hdrs_add(&h, ":scheme", cl->ctx ? "https" : "http", cl->ctx ? 5 : 4);
    dc__grpc_hdrs_add(&h, ":path", call->method, strlen(call->method));
    dc__grpc_hdrs_add(&h, ":authority", cl->authority, strlen(cl->authority));
    dc__grpc_hdrs_add(&h, "content-type", "application/grpc", 16);
    dc__grpc_hdrs_add(&h, "te", "trailers", 8);
    dc__grpc_hdrs_add(&h, "user-agent", "grpc-c-daprc/" DC_VERSION,
                      strlen("grpc-c-daprc/" DC_VERSION));
    if (call->deadline_ms >= 0) {
        int64_t left = call->deadline_ms - dc__grpc_now_ms();
        dc_grpc_timeout_format(left > 0 ? left : 1, timeout);
        dc__grpc_hdrs_add(&h, "grpc-timeout", timeout, strlen(timeout));
    }
    dc__grpc_hdrs_add_md(&h, &call->req_md);
    prd.source.ptr = call;
    prd.read_callback = dc__grpc_data_read;
    id = nghttp2_submit_request(conn->ng, NULL, h.nv, h.n, &prd, call);
    dc__grpc_hdrs_free(&h);
    if (id < 0) {
        dc__grpc_call_complete(call, DC_GRPC_UNAVAILABLE, nghttp2_strerror(id));
        return;
    }
    dc__grpc_call_attach(call, conn, id);
    dc__grpc_call_start_deadline(call);
}

void dc__grpc_client_process(struct dc_grpc_call *call)
{
    struct dc_grpc_client *cl = call->loop->owner;

    if (!call->submitted) {
        if (call->done)
            return;
        if (call->cancel_req || cl->closing) {
            call->submitted = true;
            dc__grpc_call_complete(call, call->cancel_req ? call->fin_code : DC_GRPC_CANCELLED,
                                   call->cancel_req ? call->fin_msg : "client closed");
            return;
        }
        submit(cl, call);
        if (call->conn != NULL && call->conn->closing)
            dc__grpc_conn_flush(call->conn);
        return;
    }
    if (call->conn == NULL || call->stream_closed)
        return;
    if (call->cancel_req && !call->rst_sent) {
        call->rst_sent = true;
        (void)nghttp2_submit_rst_stream(call->conn->ng, NGHTTP2_FLAG_NONE, call->stream_id,
                                        NGHTTP2_CANCEL);
        dc__grpc_call_complete(call, call->fin_code, call->fin_msg);
    } else if (call->deferred && (call->qh != NULL || call->send_closed)) {
        call->deferred = false;
        (void)nghttp2_session_resume_data(call->conn->ng, call->stream_id);
    }
}

static int http_to_grpc(int status)
{
    /* grpc/doc/http-grpc-status-mapping.md */
    switch (status) {
    case 400:
        return DC_GRPC_INTERNAL;
    case 401:
        return DC_GRPC_UNAUTHENTICATED;
    case 403:
        return DC_GRPC_PERMISSION_DENIED;
    case 404:
        return DC_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return DC_GRPC_UNAVAILABLE;
    default:
        return DC_GRPC_UNKNOWN;
    }
}

void dc__grpc_client_headers_done(struct dc_grpc_call *call, bool end_stream)
{
    bool first = !call->got_headers;

    call->got_headers = true;
    if (call->done)
        return;
    if (first && call->http_status != 200) {
        (void)dc__grpc_set_error_status(call, http_to_grpc(call->http_status),
                                        "unexpected HTTP status code received from server: %d",
                                        call->http_status);
        return;
    }
    if (first && !call->ct_ok && !call->st_pending) {
        (void)dc__grpc_set_error_status(call, DC_GRPC_UNKNOWN,
                                        "unexpected content-type in the response");
        return;
    }
    if (call->bad_encoding) {
        (void)dc__grpc_set_error_status(call, DC_GRPC_INTERNAL,
                                        "grpc: compressed response (identity only)");
        return;
    }
    if (!end_stream)
        return;
    if (!call->st_pending) {
        (void)dc__grpc_set_error_status(call, DC_GRPC_INTERNAL,
                                        "server closed the stream without a grpc-status");
        return;
    }
    call->rx_eos = true;
    dc__grpc_call_pump(call);
}

int dc_grpc_call_close_send(struct dc_grpc_call *call)
{
    int rv = DC_OK;

    dc__grpc_lock(call->loop);
    if (call->server)
        rv = DC_EINVAL;
    else if (call->done)
        rv = DC_ECANCELED;
    else if (!call->send_closed) {
        call->send_closed = true;
        dc__grpc_kick(call);
    }
    dc__grpc_unlock(call->loop);
    return rv;
}

static int start(struct dc_grpc_client *cl, const char *method,
                 const struct dc_grpc_call_opts *opts, const struct dc_grpc_ops *ops, void *ud,
                 struct dc_buf *uresp, struct dc_grpc_call **out)
{
    struct dc_grpc_call *call;

    if (method == NULL || method[0] != '/' || strlen(method) > DC_GRPC_MAX_PATH)
        return DC_EINVAL;
    call = dc__grpc_call_new(&cl->loop, false);
    call->method = dc_xstrdup(method);
    if (ops != NULL)
        call->ops = *ops;
    call->ud = ud;
    call->uresp = uresp;
    call->max_recv = cl->o.max_recv_msg;
    call->max_send = cl->o.max_send_msg;
    dc_buf_init(&call->rx, (size_t)cl->o.initial_window * 2 + 16384);
    dc_grpc_decoder_init(&call->dec, cl->o.max_recv_msg);
    if (opts != NULL) {
        dc_grpc_md_copy(&call->req_md, opts->md);
        if (opts->timeout_ms > 0) {
            call->timeout_ms = opts->timeout_ms;
            call->deadline_ms = dc__grpc_now_ms() + opts->timeout_ms;
        }
    }
    dc__grpc_lock(&cl->loop);
    if (cl->closing) {
        dc__grpc_unlock(&cl->loop);
        dc_grpc_call_unref(call);
        return DC_ECANCELED;
    }
    dc__grpc_kick(call);
    dc__grpc_unlock(&cl->loop);
    *out = call;
    return DC_OK;
}

int dc_grpc_client_start(struct dc_grpc_client *c, const char *method,
                         const struct dc_grpc_call_opts *opts, const struct dc_grpc_ops *ops,
                         void *ud, struct dc_grpc_call **out)
{
    return start(c, method, opts, ops, ud, NULL, out);
}

int dc_grpc_client_unary(struct dc_grpc_client *c, const char *method,
                         const struct dc_grpc_call_opts *opts, const void *req, size_t len,
                         struct dc_buf *resp, struct dc_grpc_status *st)
{
    struct dc_grpc_call *call;
    int rv, code;

    if (dc__grpc_on_loop(&c->loop) || resp == NULL)
        return DC_EINVAL;
    rv = start(c, method, opts, NULL, NULL, resp, &call);
    if (rv != DC_OK)
        return rv;
    dc__grpc_lock(&c->loop);
    rv = dc_grpc_call_send(call, req, len);
    if (rv == DC_ETOOBIG)
        (void)dc__grpc_set_error_status(call, DC_GRPC_RESOURCE_EXHAUSTED,
                                        "grpc: trying to send message larger than max (%zu vs. "
                                        "%zu)",
                                        len, call->max_send);
    else
        (void)dc_grpc_call_close_send(call);
    while (!call->done)
        pthread_cond_wait(&c->loop.cv, &c->loop.mu);
    code = call->st.code;
    if (code == DC_GRPC_OK && call->uresp_count != 1)
        code = DC_GRPC_INTERNAL;
    if (st != NULL) {
        st->code = code;
        st->message = call->st.message ? dc_xstrdup(call->st.message)
                      : code != call->st.code
                          ? dc_xstrdup(call->uresp_count == 0 ? "no response message"
                                                              : "more than one response")
                          : NULL;
        dc_grpc_md_copy(&st->trailers, &call->st.trailers);
    }
    dc__grpc_unlock(&c->loop);
    dc_grpc_call_unref(call);
    return dc_grpc_code_to_err(code);
}

/* ---- teardown ---- */

static void client_wake(void *owner)
{
    struct dc_grpc_client *cl = owner;

    if (!cl->closing)
        return;
    while (cl->conns != NULL) {
        struct dc__grpc_conn *c = cl->conns;
        for (struct dc_grpc_call *call = c->calls; call != NULL; call = call->cnext)
            dc__grpc_call_complete(call, DC_GRPC_CANCELLED, "client closed");
        c->connected = false;
        c->closing = true;
        dc__grpc_conn_flush(c);
    }
    event_base_loopbreak(cl->loop.base);
}

void dc_grpc_client_free(struct dc_grpc_client *c)
{
    struct dc_grpc_call *call;

    if (c == NULL)
        return;
    DC_ASSERT(!dc__grpc_on_loop(&c->loop));
    dc__grpc_lock(&c->loop);
    c->closing = true;
    dc__grpc_wake(&c->loop);
    dc__grpc_unlock(&c->loop);
    pthread_join(c->loop.thread, NULL);
    c->loop.running = false;
    dc__grpc_lock(&c->loop);
    while (c->loop.kick_head != NULL) {
        call = c->loop.kick_head;
        c->loop.kick_head = call->knext;
        call->kicked = false;
        if (!call->submitted)
            dc__grpc_call_complete(call, DC_GRPC_CANCELLED, "client closed");
        dc_grpc_call_unref(call);
    }
    c->loop.kick_tail = NULL;
    dc__grpc_unlock(&c->loop);
    dc__grpc_loop_cleanup(&c->loop);
    client_free_fields(c);
}
