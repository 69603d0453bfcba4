/* gRPC server: listener, TLS/h2c connections, request routing, responses and trailers, unary
 * dispatch (loop or worker threads), GOAWAY and draining on shutdown. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "grpc_int.h"

struct dc__grpc_method {
    struct dc__grpc_method *next;
    char *path;
    dc_grpc_unary_fn *ufn;
    struct dc_grpc_ops ops;
    void *ud;
    void *ud_owned; /* freed with the server */
    unsigned flags;
};

struct dc_grpc_server {
    struct dc__grpc_loop loop;
    struct dc_grpc_server_opts o;
    SSL_CTX *ctx;
    struct dc__grpc_method *methods;
    struct evconnlistener *lis;
    int port;
    bool started, shutdown_req, shutting, stopped;
    int64_t grace_ms;
    struct event *grace_ev;
    struct dc__grpc_conn *conns;
};

static void server_wake(void *owner);

/* RFC 7301: choose "h2"; a client that offers ALPN without it is refused. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char h2[] = "\x02h2";
    unsigned char *o;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&o, outlen, h2, 3, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

int dc_grpc_server_new(struct dc_grpc_server **out, const struct dc_grpc_server_opts *opts,
                       struct dc_errbuf *eb)
{
    struct dc_grpc_server *s = dc_xcalloc(1, sizeof(*s));
    int rv;

    if (opts != NULL)
        s->o = *opts;
    if (s->o.max_recv_msg == 0)
        s->o.max_recv_msg = DC_GRPC_DEFAULT_MAX_MSG;
    if (s->o.max_send_msg == 0)
        s->o.max_send_msg = DC_GRPC_DEFAULT_MAX_MSG;
    if (s->o.max_concurrent_streams == 0)
        s->o.max_concurrent_streams = 100;
    if (s->o.initial_window == 0)
        s->o.initial_window = DC_GRPC_DEFAULT_WINDOW;
    if (s->o.min_ping_interval_ms == 0)
        s->o.min_ping_interval_ms = 5000;
    rv = dc__grpc_loop_init(&s->loop, server_wake, s, eb);
    if (rv != DC_OK) {
        free(s);
        return rv;
    }
    if (s->o.ssl_ctx != NULL) {
        s->ctx = s->o.ssl_ctx;
        SSL_CTX_up_ref(s->ctx);
        SSL_CTX_set_alpn_select_cb(s->ctx, alpn_select, NULL);
    }
    s->o.ssl_ctx = NULL;
    *out = s;
    return DC_OK;
}

static struct dc__grpc_method *find_method(struct dc_grpc_server *s, const char *path)
{
    for (struct dc__grpc_method *m = s->methods; m != NULL; m = m->next) {
        if (strcmp(m->path, path) == 0)
            return m;
    }
    return NULL;
}

static int add_method(struct dc_grpc_server *s, const char *path, struct dc__grpc_method *tmpl,
                      struct dc_errbuf *eb)
{
    struct dc__grpc_method *m;

    if (s->started)
        return dc_err_set(eb, DC_EINVAL, "methods must be added before the server starts");
    if (path == NULL || path[0] != '/' || strchr(path + 1, '/') == NULL ||
        strlen(path) > DC_GRPC_MAX_PATH)
        return dc_err_set(eb, DC_EINVAL, "bad method path \"%s\"", path ? path : "");
    if ((tmpl->flags & DC_GRPC_WORKER) && s->o.workers == 0)
        return dc_err_set(eb, DC_EINVAL, "DC_GRPC_WORKER needs worker threads");
    if (find_method(s, path) != NULL)
        return dc_err_set(eb, DC_EEXIST, "method %s registered twice", path);
    m = dc_xcalloc(1, sizeof(*m));
    *m = *tmpl;
    m->path = dc_xstrdup(path);
    m->next = s->methods;
    s->methods = m;
    return DC_OK;
}

int dc__grpc_server_add_unary_owned(struct dc_grpc_server *srv, const char *method,
                                    dc_grpc_unary_fn *fn, void *ud, void *ud_owned, unsigned flags,
                                    struct dc_errbuf *eb);

int dc__grpc_server_add_unary_owned(struct dc_grpc_server *srv, const char *method,
                                    dc_grpc_unary_fn *fn, void *ud, void *ud_owned, unsigned flags,
                                    struct dc_errbuf *eb)
{
    struct dc__grpc_method t = {.ufn = fn, .ud = ud, .ud_owned = ud_owned, .flags = flags};
    return add_method(srv, method, &t, eb);
}

int dc_grpc_server_add_unary(struct dc_grpc_server *srv, const char *method, dc_grpc_unary_fn *fn,
                             void *ud, unsigned flags, struct dc_errbuf *eb)
{
    struct dc__grpc_method t = {.ufn = fn, .ud = ud, .flags = flags};
    return add_method(srv, method, &t, eb);
}

int dc_grpc_server_add_stream(struct dc_grpc_server *srv, const char *method,
                              const struct dc_grpc_ops *ops, void *ud, struct dc_errbuf *eb)
{
    struct dc__grpc_method t = {.ops = *ops, .ud = ud};
    return add_method(srv, method, &t, eb);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg);

int dc_grpc_server_listen(struct dc_grpc_server *srv, const char *host, int port,
                          struct dc_errbuf *eb)
{
    struct sockaddr_storage ss;
    int salen = sizeof(ss);

    if (srv->lis != NULL || srv->started)
        return dc_err_set(eb, DC_EINVAL, "already listening");
    memset(&ss, 0, sizeof(ss));
    if (port < 0 || port > 65535)
        return dc_err_set(eb, DC_EINVAL, "bad port %d", port);
    if (host == NULL)
        host = "0.0.0.0";
    if (strchr(host, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return dc_err_set(eb, DC_EINVAL, "bad listen address \"%s\"", host);
        salen = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return dc_err_set(eb, DC_EINVAL, "bad listen address \"%s\"", host);
        salen = sizeof(*s4);
    }
    srv->lis =
        evconnlistener_new_bind(srv->loop.base, accept_cb, srv,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                128, (struct sockaddr *)&ss, salen);
    if (srv->lis == NULL)
        return dc_err_set(eb, DC_EIO, "cannot listen on %s:%d", host, port);
    salen = sizeof(ss);
    if (getsockname(evconnlistener_get_fd(srv->lis), (struct sockaddr *)&ss, (socklen_t *)&salen) ==
        0)
        srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    return DC_OK;
}

int dc_grpc_server_port(const struct dc_grpc_server *srv)
{
    return srv->port;
}

int dc_grpc_server_set_ssl_ctx(struct dc_grpc_server *srv, SSL_CTX *ctx)
{
    SSL_CTX *old;

    if (ctx == NULL)
        return DC_EINVAL;
    dc__grpc_lock(&srv->loop);
    if (srv->ctx == NULL) {
        dc__grpc_unlock(&srv->loop);
        return DC_EINVAL;
    }
    SSL_CTX_up_ref(ctx);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    old = srv->ctx;
    srv->ctx = ctx;
    dc__grpc_unlock(&srv->loop);
    SSL_CTX_free(old);
    return DC_OK;
}

int dc_grpc_server_start(struct dc_grpc_server *srv, struct dc_errbuf *eb)
{
    int rv;

    if (srv->lis == NULL || srv->started)
        return dc_err_set(eb, DC_EINVAL, "server not listening or already started");
    if (srv->o.workers > 0) {
        rv = dc__grpc_workers_start(&srv->loop, srv->o.workers, eb);
        if (rv != DC_OK)
            return rv;
    }
    rv = dc__grpc_loop_start(&srv->loop, eb);
    if (rv != DC_OK) {
        dc__grpc_workers_stop(&srv->loop);
        return rv;
    }
    srv->started = true;
    return DC_OK;
}

static void peer_string(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "";

    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(s4->sin_port));
    }
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct dc_grpc_server *s = arg;
    struct dc__grpc_conn *c;
    struct bufferevent *bev;
    SSL *ssl = NULL;
    int one = 1;

    (void)lis;
    (void)salen;
    dc__grpc_lock(&s->loop);
    if (s->shutting) {
        evutil_closesocket(fd);
        goto out;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (s->ctx != NULL) {
        ssl = SSL_new(s->ctx);
        if (ssl == NULL) {
            evutil_closesocket(fd);
            goto out;
        }
        bev = bufferevent_openssl_socket_new(s->loop.base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    } else {
        bev = bufferevent_socket_new(s->loop.base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev == NULL) {
        SSL_free(ssl);
        evutil_closesocket(fd);
        goto out;
    }
    c = dc__grpc_conn_new(&s->loop, true, s, bev, ssl);
    c->window = s->o.initial_window;
    c->max_recv = s->o.max_recv_msg;
    c->max_send = s->o.max_send_msg;
    c->min_ping_ms = s->o.min_ping_interval_ms;
    peer_string(sa, c->peer, sizeof(c->peer));
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    if (dc__grpc_conn_session(c, s->o.max_concurrent_streams) != DC_OK) {
        c->closing = true;
    } else if (ssl == NULL) {
        c->connected = true;
    }
    dc__grpc_conn_flush(c);
out:
    dc__grpc_unlock(&s->loop);
}

int dc__grpc_server_begin_headers(struct dc__grpc_conn *c, int32_t id)
{
    struct dc_grpc_call *call = dc__grpc_call_new(c->loop, true);

    dc__grpc_call_attach(call, c, id);
    call->refs--; /* only the connection's reference remains */
    call->max_recv = c->max_recv;
    call->max_send = c->max_send;
    dc_buf_init(&call->rx, (size_t)c->window * 2 + 16384);
    dc_grpc_decoder_init(&call->dec, c->max_recv);
    (void)nghttp2_session_set_stream_user_data(c->ng, id, call);
    return 0;
}

/* Send a non-200 HTTP response (PROTOCOL-HTTP2.md: 415 for a content-type that is not gRPC). */
static void http_error(struct dc_grpc_call *call, const char *status)
{
    struct dc__grpc_hdrs h = {0};

    dc__grpc_hdrs_add(&h, ":status", status, strlen(status));
    dc__grpc_hdrs_add(&h, "grpc-status", "2", 1);
    (void)nghttp2_submit_response(call->conn->ng, call->stream_id, h.nv, h.n, NULL);
    dc__grpc_hdrs_free(&h);
    call->headers_sent = true;
    call->fin_req = true;
    call->send_closed = true;
    call->fin_code = DC_GRPC_UNKNOWN;
    dc__grpc_call_complete(call, DC_GRPC_UNKNOWN, "bad request");
}

static void route(struct dc_grpc_call *call, struct dc_grpc_server *s)
{
    const struct dc__grpc_method *m;
    const char *slash;

    if (call->bad_request || call->method == NULL) {
        http_error(call, call->bad_request && call->method ? "405" : "400");
        return;
    }
    if (!call->ct_ok) {
        http_error(call, "415");
        return;
    }
    if (call->bad_encoding) {
        (void)dc__grpc_set_error_status(call, DC_GRPC_UNIMPLEMENTED,
                                        "grpc: compression is not supported (identity only)");
        return;
    }
    m = find_method(s, call->method);
    if (m == NULL) {
        slash = strrchr(call->method, '/');
        bool svc_known = false;
        for (const struct dc__grpc_method *x = s->methods; x != NULL && slash != NULL;
             x = x->next) {
            if (strncmp(x->path, call->method, (size_t)(slash - call->method) + 1) == 0)
                svc_known = true;
        }
        if (svc_known)
            (void)dc__grpc_set_error_status(call, DC_GRPC_UNIMPLEMENTED,
                                            "unknown method %s for service %.*s", slash + 1,
                                            (int)(slash - call->method - 1), call->method + 1);
        else
            (void)dc__grpc_set_error_status(call, DC_GRPC_UNIMPLEMENTED, "unknown service %.*s",
                                            slash ? (int)(slash - call->method - 1) : 0,
                                            call->method + 1);
        return;
    }
    call->m = m;
    call->unary = m->ufn != NULL;
    call->ops = m->ops;
    call->ud = m->ud;
    dc__grpc_call_start_deadline(call);
    if (call->ops.on_start != NULL)
        call->ops.on_start(call, call->ud);
}

void dc__grpc_server_headers_done(struct dc_grpc_call *call)
{
    if (call->m != NULL || call->done || call->conn == NULL)
        return;
    route(call, call->conn->owner);
}

void dc__grpc_run_unary(struct dc_grpc_call *call)
{
    call->m->ufn(call, call->ureq, call->ureq_len, call->m->ud);
}

void dc__grpc_deliver_half_close(struct dc_grpc_call *call)
{
    if (!call->unary) {
        if (call->ops.on_half_close != NULL)
            call->ops.on_half_close(call, call->ud);
        return;
    }
    if (call->ureq_count != 1) {
        (void)dc__grpc_set_error_status(call, DC_GRPC_INTERNAL,
                                        call->ureq_count == 0
                                            ? "grpc: no request message for a unary method"
                                            : "grpc: more than one request for a unary method");
        return;
    }
    call->unary_hold = true;
    call->refs++;
    if (call->m->flags & DC_GRPC_WORKER)
        dc__grpc_worker_submit(call->loop, call);
    else
        dc__grpc_run_unary(call);
}

static void add_status(struct dc__grpc_hdrs *h, struct dc_grpc_call *call, char *code,
                       struct dc_buf *msg)
{
    snprintf(code, 16, "%d", call->fin_code);
    dc__grpc_hdrs_add(h, "grpc-status", code, strlen(code));
    if (call->fin_msg != NULL && call->fin_msg[0] != '\0' &&
        dc_grpc_message_encode(call->fin_msg, msg) == DC_OK)
        dc__grpc_hdrs_add(h, "grpc-message", msg->data, msg->len);
    dc__grpc_hdrs_add_md(h, &call->fin_md);
}

int dc__grpc_server_trailers(struct dc_grpc_call *call)
{
    struct dc__grpc_hdrs h = {0};
    struct dc_buf msg;
    char code[16];
    int rv;

    dc_buf_init(&msg, 3 * 4096 + 16);
    add_status(&h, call, code, &msg);
    rv = nghttp2_submit_trailer(call->conn->ng, call->stream_id, h.nv, h.n);
    dc__grpc_hdrs_free(&h);
    dc_buf_cleanup(&msg);
    return rv;
}

void dc__grpc_server_process(struct dc_grpc_call *call)
{
    struct dc__grpc_hdrs h = {0};
    nghttp2_data_provider prd;
    nghttp2_session *ng;
    struct dc_buf msg;
    char code[16];

    if (call->conn == NULL || call->stream_closed)
        return;
    ng = call->conn->ng;
    if (call->cancel_req && !call->rst_sent) {
        call->rst_sent = true;
        (void)nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
        dc__grpc_call_complete(call, DC_GRPC_CANCELLED, call->fin_msg);
        return;
    }
    if (call->rst_sent)
        return;
    if (!call->headers_sent && (call->qh != NULL || call->fin_req)) {
        call->headers_sent = true;
        dc__grpc_hdrs_add(&h, ":status", "200", 3);
        dc__grpc_hdrs_add(&h, "content-type", "application/grpc", 16);
        dc__grpc_hdrs_add(&h, "grpc-accept-encoding", "identity", 8);
        dc__grpc_hdrs_add_md(&h, &call->resp_md);
        if (call->qh == NULL) {
            /* Trailers-Only: the status rides on the only HEADERS frame, with END_STREAM. */
            dc_buf_init(&msg, 3 * 4096 + 16);
            add_status(&h, call, code, &msg);
            (void)nghttp2_submit_response(ng, call->stream_id, h.nv, h.n, NULL);
            dc_buf_cleanup(&msg);
        } else {
            prd.source.ptr = call;
            prd.read_callback = dc__grpc_data_read;
            (void)nghttp2_submit_response(ng, call->stream_id, h.nv, h.n, &prd);
        }
        dc__grpc_hdrs_free(&h);
    } else if (call->headers_sent && call->deferred && (call->qh != NULL || call->send_closed)) {
        call->deferred = false;
        (void)nghttp2_session_resume_data(ng, call->stream_id);
    }
}

int dc_grpc_call_set_response_md(struct dc_grpc_call *call, const struct dc_grpc_metadata *md)
{
    int rv = DC_OK;

    dc__grpc_lock(call->loop);
    if (!call->server || call->headers_sent || call->fin_req || call->qh != NULL)
        rv = DC_EINVAL;
    else
        dc_grpc_md_copy(&call->resp_md, md);
    dc__grpc_unlock(call->loop);
    return rv;
}

int dc_grpc_call_finish_md(struct dc_grpc_call *call, int code, const char *msg,
                           const struct dc_grpc_metadata *trailers)
{
    bool drop;
    int rv = DC_OK;

    dc__grpc_lock(call->loop);
    drop = call->unary_hold;
    call->unary_hold = false;
    if (!call->server) {
        rv = DC_EINVAL;
    } else if (call->done) {
        rv = DC_ECANCELED;
    } else if (call->fin_req) {
        rv = DC_EINVAL;
    } else {
        call->fin_req = true;
        call->send_closed = true;
        call->fin_code = code;
        call->fin_msg = msg ? dc_xstrdup(msg) : NULL;
        dc_grpc_md_copy(&call->fin_md, trailers);
        dc__grpc_kick(call);
    }
    dc__grpc_unlock(call->loop);
    if (drop)
        dc_grpc_call_unref(call);
    return rv;
}

int dc_grpc_call_finish(struct dc_grpc_call *call, int code, const char *msg)
{
    return dc_grpc_call_finish_md(call, code, msg, NULL);
}

int dc_grpc_call_reply(struct dc_grpc_call *call, const void *resp, size_t len)
{
    int rv;

    dc__grpc_lock(call->loop);
    rv = dc_grpc_call_send(call, resp, len);
    if (rv == DC_ETOOBIG)
        rv = dc_grpc_call_finish(call, DC_GRPC_RESOURCE_EXHAUSTED,
                                 "grpc: trying to send message larger than max");
    else if (rv == DC_OK || rv == DC_EAGAIN)
        rv = dc_grpc_call_finish(call, DC_GRPC_OK, NULL);
    else
        (void)dc_grpc_call_finish(call, DC_GRPC_OK, NULL); /* drops the unary hold */
    dc__grpc_unlock(call->loop);
    return rv;
}

/* ---- shutdown ---- */

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dc_grpc_server *s = arg;
    struct dc__grpc_conn *c, *next;

    (void)fd;
    (void)what;
    dc__grpc_lock(&s->loop);
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        for (struct dc_grpc_call *call = c->calls; call != NULL; call = call->cnext) {
            if (!call->rst_sent && !call->stream_closed) {
                call->rst_sent = true;
                (void)nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, call->stream_id,
                                                NGHTTP2_CANCEL);
            }
            dc__grpc_call_complete(call, DC_GRPC_CANCELLED, "server shutting down");
        }
        dc__grpc_conn_close(c, NGHTTP2_NO_ERROR, "shutdown");
        dc__grpc_conn_flush(c);
    }
    /* Peers that do not read their GOAWAY get no more time. */
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        c->connected = false;
        dc__grpc_conn_flush(c);
    }
    dc__grpc_unlock(&s->loop);
}

static void server_wake(void *owner)
{
    struct dc_grpc_server *s = owner;
    struct dc__grpc_conn *c, *next;
    struct timeval tv;

    if (!s->shutdown_req || s->shutting)
        return;
    s->shutting = true;
    if (s->lis != NULL) {
        evconnlistener_free(s->lis);
        s->lis = NULL;
    }
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        c->draining = true;
        if (c->connected && !c->closing)
            (void)nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                                        nghttp2_session_get_last_proc_stream_id(c->ng),
                                        NGHTTP2_NO_ERROR, NULL, 0);
        dc__grpc_conn_flush(c);
    }
    if (s->conns == NULL) {
        event_base_loopbreak(s->loop.base);
        return;
    }
    s->grace_ev = evtimer_new(s->loop.base, grace_cb, s);
    tv.tv_sec = s->grace_ms / 1000;
    tv.tv_usec = (s->grace_ms % 1000) * 1000;
    evtimer_add(s->grace_ev, &tv);
}

void dc__grpc_server_conn_gone(struct dc__grpc_conn *c)
{
    struct dc_grpc_server *s = c->owner;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (s->shutting && s->conns == NULL)
        event_base_loopbreak(s->loop.base);
}

void dc_grpc_server_shutdown(struct dc_grpc_server *srv, int64_t grace_ms)
{
    if (srv == NULL || srv->stopped)
        return;
    if (srv->started) {
        DC_ASSERT(!dc__grpc_on_loop(&srv->loop));
        dc__grpc_lock(&srv->loop);
        srv->shutdown_req = true;
        srv->grace_ms = grace_ms > 0 ? grace_ms : 0;
        dc__grpc_wake(&srv->loop);
        dc__grpc_unlock(&srv->loop);
        pthread_join(srv->loop.thread, NULL);
        srv->loop.running = false;
        dc__grpc_workers_stop(&srv->loop);
    }
    srv->stopped = true;
}

void dc_grpc_server_free(struct dc_grpc_server *srv)
{
    struct dc__grpc_method *m;
    struct dc_grpc_call *call;

    if (srv == NULL)
        return;
    dc_grpc_server_shutdown(srv, 0);
    /* Kicks queued after the loop stopped (late finishes from workers) hold references. */
    while (srv->loop.kick_head != NULL) {
        call = srv->loop.kick_head;
        srv->loop.kick_head = call->knext;
        call->kicked = false;
        dc_grpc_call_unref(call);
    }
    while (srv->conns != NULL) {
        srv->conns->connected = false;
        srv->conns->closing = true;
        dc__grpc_conn_flush(srv->conns);
    }
    if (srv->lis != NULL)
        evconnlistener_free(srv->lis);
    if (srv->grace_ev != NULL)
        event_free(srv->grace_ev);
    while (srv->methods != NULL) {
        m = srv->methods;
        srv->methods = m->next;
        free(m->path);
        free(m->ud_owned);
        free(m);
    }
    SSL_CTX_free(srv->ctx);
    dc__grpc_loop_cleanup(&srv->loop);
    free(srv);
}

#ifdef DC_FUZZING
/* Fuzzing entry (common/fuzz/fuzz_grpc_frame.c): one server connection over a bufferevent pair,
 * no thread, fed `data` as if read from the socket; the handlers echo on the loop thread. */
#include <event2/bufferevent.h>

int dc__grpc_server_fuzz(const uint8_t *data, size_t len);

static void fz_unary(struct dc_grpc_call *call, const uint8_t *req, size_t len, void *ud)
{
    (void)ud;
    (void)dc_grpc_call_reply(call, req, len);
}

static void fz_msg(struct dc_grpc_call *call, const uint8_t *msg, size_t len, void *ud)
{
    (void)ud;
    if (dc_grpc_call_send(call, msg, len) == DC_EAGAIN)
        dc_grpc_call_pause_recv(call);
}

static void fz_half(struct dc_grpc_call *call, void *ud)
{
    (void)ud;
    (void)dc_grpc_call_finish(call, DC_GRPC_OK, "done %");
}

int dc__grpc_server_fuzz(const uint8_t *data, size_t len)
{
    static const struct dc_grpc_ops ops = {.on_message = fz_msg, .on_half_close = fz_half};
    struct dc_grpc_server_opts o = {.max_recv_msg = 64 * 1024, .initial_window = 65535};
    struct dc_grpc_server *s;
    struct bufferevent *pair[2];
    struct dc__grpc_conn *c;
    ssize_t rv;

    if (dc_grpc_server_new(&s, &o, NULL) != DC_OK)
        return 0;
    if (dc_grpc_server_add_unary(s, "/daprc.test.v1.Echo/Unary", fz_unary, NULL, 0, NULL) !=
            DC_OK ||
        dc_grpc_server_add_stream(s, "/daprc.test.v1.Echo/BidiStream", &ops, NULL, NULL) != DC_OK)
        abort();
    DC_ASSERT(bufferevent_pair_new(s->loop.base, 0, pair) == 0);
    c = dc__grpc_conn_new(&s->loop, true, s, pair[0], NULL);
    c->window = o.initial_window;
    c->max_recv = o.max_recv_msg;
    c->max_send = DC_GRPC_DEFAULT_MAX_MSG;
    c->min_ping_ms = 5000;
    c->next = s->conns;
    s->conns = c;
    DC_ASSERT(dc__grpc_conn_session(c, 100) == DC_OK);
    c->connected = true;
    dc__grpc_lock(&s->loop);
    rv = nghttp2_session_mem_recv(c->ng, data, len);
    if (rv < 0)
        c->closing = true;
    dc__grpc_conn_flush(c);
    dc__grpc_unlock(&s->loop);
    /* kicks (sends, finishes) and output, single-threaded */
    for (int i = 0; i < 8; i++)
        event_base_loop(s->loop.base, EVLOOP_NONBLOCK);
    dc__grpc_lock(&s->loop);
    while (s->conns != NULL) {
        s->conns->connected = false;
        s->conns->closing = true;
        dc__grpc_conn_flush(s->conns);
    }
    dc__grpc_unlock(&s->loop);
    bufferevent_free(pair[1]);
    event_base_loop(s->loop.base, EVLOOP_NONBLOCK);
    dc_grpc_server_free(s);
    return 0;
}
#endif
