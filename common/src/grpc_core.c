/* The machinery shared by the gRPC server and client: the loop thread and its wake-up, worker
 * threads, calls (send queues, receive pump, completion), and HTTP/2 connections over
 * bufferevents (nghttp2 sessions fed from and flushed to the socket with back-pressure).
 * Locking rules: grpc_int.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/thread.h>
#include <openssl/x509.h>

#include "dc/mem.h"
#include "dc/time.h"
#include "grpc_int.h"

/* ---- loop ---- */

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rv;

static void evthread_setup(void)
{
    evthread_rv = evthread_use_pthreads();
}

int64_t dc__grpc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dc__grpc_lock(struct dc__grpc_loop *l)
{
    DC_ASSERT(pthread_mutex_lock(&l->mu) == 0);
}

void dc__grpc_unlock(struct dc__grpc_loop *l)
{
    DC_ASSERT(pthread_mutex_unlock(&l->mu) == 0);
}

bool dc__grpc_on_loop(struct dc__grpc_loop *l)
{
    return l->running && pthread_equal(pthread_self(), l->thread);
}

static void process_kick(struct dc_grpc_call *call)
{
    struct dc__grpc_conn *conn;

    if (call->server)
        dc__grpc_server_process(call);
    else
        dc__grpc_client_process(call);
    if (call->resume_req) {
        call->resume_req = false;
        dc__grpc_call_pump(call);
    }
    if (call->writable_pending) {
        call->writable_pending = false;
        if (!call->done && call->ops.on_writable != NULL)
            call->ops.on_writable(call, call->ud);
    }
    conn = call->conn;
    if (conn != NULL)
        dc__grpc_conn_flush(conn);
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dc__grpc_loop *l = arg;
    struct dc_grpc_call *call;

    (void)fd;
    (void)what;
    dc__grpc_lock(l);
    while (l->kick_head != NULL) {
        call = l->kick_head;
        l->kick_head = call->knext;
        if (l->kick_head == NULL)
            l->kick_tail = NULL;
        call->knext = NULL;
        call->kicked = false;
        process_kick(call);
        dc_grpc_call_unref(call);
    }
    if (l->on_wake != NULL)
        l->on_wake(l->owner);
    dc__grpc_unlock(l);
}

int dc__grpc_loop_init(struct dc__grpc_loop *l, void (*on_wake)(void *), void *owner,
                       struct dc_errbuf *eb)
{
    pthread_mutexattr_t a;

    memset(l, 0, sizeof(*l));
    pthread_once(&evthread_once, evthread_setup);
    if (evthread_rv != 0)
        return dc_err_set(eb, DC_EIO, "libevent: no pthreads support");
    l->base = event_base_new();
    if (l->base == NULL)
        return dc_err_set(eb, DC_EIO, "libevent: event_base_new failed");
    l->wake = event_new(l->base, -1, 0, wake_cb, l);
    DC_ASSERT(l->wake != NULL);
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&l->mu, &a);
    pthread_mutexattr_destroy(&a);
    pthread_cond_init(&l->cv, NULL);
    pthread_mutex_init(&l->jmu, NULL);
    pthread_cond_init(&l->jcv, NULL);
    l->on_wake = on_wake;
    l->owner = owner;
    return DC_OK;
}

static void *loop_main(void *arg)
{
    struct dc__grpc_loop *l = arg;
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* libevent finalizes freed bufferevents (and closes their sockets) in deferred callbacks:
     * run what the break left pending. */
    event_base_loop(l->base, EVLOOP_NONBLOCK);
    return NULL;
}

int dc__grpc_loop_start(struct dc__grpc_loop *l, struct dc_errbuf *eb)
{
    dc__grpc_lock(l);
    l->running = true;
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
        l->running = false;
        dc__grpc_unlock(l);
        return dc_err_set(eb, DC_EIO, "cannot start the gRPC loop thread");
    }
    dc__grpc_unlock(l);
    return DC_OK;
}

void dc__grpc_loop_stop(struct dc__grpc_loop *l)
{
    if (!l->running)
        return;
    event_base_loopbreak(l->base);
    pthread_join(l->thread, NULL);
    l->running = false;
}

void dc__grpc_loop_cleanup(struct dc__grpc_loop *l)
{
    if (l->base == NULL)
        return;
    event_free(l->wake);
    event_base_free(l->base);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->jmu);
    pthread_cond_destroy(&l->jcv);
    free(l->workers);
    memset(l, 0, sizeof(*l));
}

void dc__grpc_wake(struct dc__grpc_loop *l)
{
    event_active(l->wake, EV_READ, 0);
}

void dc__grpc_kick(struct dc_grpc_call *call)
{
    struct dc__grpc_loop *l = call->loop;

    if (!call->kicked) {
        call->kicked = true;
        call->refs++;
        if (l->kick_tail != NULL)
            l->kick_tail->knext = call;
        else
            l->kick_head = call;
        l->kick_tail = call;
    }
    dc__grpc_wake(l);
}

/* ---- workers: run unary handlers flagged DC_GRPC_WORKER ---- */

struct dc__grpc_job {
    struct dc__grpc_job *next;
    struct dc_grpc_call *call;
};

static void *worker_main(void *arg)
{
    struct dc__grpc_loop *l = arg;
    struct dc__grpc_job *j;

    for (;;) {
        pthread_mutex_lock(&l->jmu);
        while (l->jhead == NULL && !l->jstop)
            pthread_cond_wait(&l->jcv, &l->jmu);
        j = l->jhead;
        if (j == NULL) {
            pthread_mutex_unlock(&l->jmu);
            return NULL;
        }
        l->jhead = j->next;
        if (l->jhead == NULL)
            l->jtail = NULL;
        pthread_mutex_unlock(&l->jmu);
        dc__grpc_run_unary(j->call);
        dc_grpc_call_unref(j->call);
        free(j);
    }
}

int dc__grpc_workers_start(struct dc__grpc_loop *l, unsigned n, struct dc_errbuf *eb)
{
    l->workers = dc_xcalloc(n ? n : 1, sizeof(*l->workers));
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&l->workers[i], NULL, worker_main, l) != 0) {
            dc__grpc_workers_stop(l);
            return dc_err_set(eb, DC_EIO, "cannot start gRPC worker threads");
        }
        l->nworkers++;
    }
    return DC_OK;
}

/* Stop after the queue is empty: queued handlers still run (their calls are done by then and
 * their finish returns DC_ECANCELED). */
void dc__grpc_workers_stop(struct dc__grpc_loop *l)
{
    pthread_mutex_lock(&l->jmu);
    l->jstop = true;
    pthread_cond_broadcast(&l->jcv);
    pthread_mutex_unlock(&l->jmu);
    for (unsigned i = 0; i < l->nworkers; i++)
        pthread_join(l->workers[i], NULL);
    l->nworkers = 0;
}

void dc__grpc_worker_submit(struct dc__grpc_loop *l, struct dc_grpc_call *call)
{
    struct dc__grpc_job *j = dc_xcalloc(1, sizeof(*j));

    dc_grpc_call_ref(call);
    j->call = call;
    pthread_mutex_lock(&l->jmu);
    if (l->jtail != NULL)
        l->jtail->next = j;
    else
        l->jhead = j;
    l->jtail = j;
    pthread_cond_signal(&l->jcv);
    pthread_mutex_unlock(&l->jmu);
}

/* ---- calls ---- */

struct dc_grpc_call *dc__grpc_call_new(struct dc__grpc_loop *l, bool server)
{
    struct dc_grpc_call *call = dc_xcalloc(1, sizeof(*call));

    call->loop = l;
    call->server = server;
    call->refs = 1;
    call->stream_id = -1;
    call->timeout_ms = -1;
    call->deadline_ms = -1;
    return call;
}

static void call_free(struct dc_grpc_call *call)
{
    DC_ASSERT(call->conn == NULL && call->deadline_ev == NULL);
    dc__grpc_call_drop_queue(call);
    free(call->method);
    free(call->authority);
    dc_grpc_md_cleanup(&call->md);
    dc_grpc_md_cleanup(&call->resp_md);
    dc_grpc_md_cleanup(&call->req_md);
    dc_grpc_md_cleanup(&call->fin_md);
    free(call->fin_msg);
    X509_free(call->peer_cert);
    dc_buf_cleanup(&call->rx);
    dc_grpc_decoder_cleanup(&call->dec);
    free(call->ureq);
    dc_grpc_status_cleanup(&call->st);
    free(call);
}

void dc_grpc_call_ref(struct dc_grpc_call *call)
{
    dc__grpc_lock(call->loop);
    call->refs++;
    dc__grpc_unlock(call->loop);
}

void dc_grpc_call_unref(struct dc_grpc_call *call)
{
    struct dc__grpc_loop *l;
    bool last;

    if (call == NULL)
        return;
    l = call->loop;
    dc__grpc_lock(l);
    DC_ASSERT(call->refs > 0);
    last = --call->refs == 0;
    if (last)
        call_free(call);
    dc__grpc_unlock(l);
}

void dc_grpc_call_set_data(struct dc_grpc_call *call, void *data)
{
    dc__grpc_lock(call->loop);
    call->data = data;
    dc__grpc_unlock(call->loop);
}

void *dc_grpc_call_get_data(struct dc_grpc_call *call)
{
    void *d;
    dc__grpc_lock(call->loop);
    d = call->data;
    dc__grpc_unlock(call->loop);
    return d;
}

const char *dc_grpc_call_method(const struct dc_grpc_call *call)
{
    return call->method ? call->method : "";
}

const struct dc_grpc_metadata *dc_grpc_call_metadata(const struct dc_grpc_call *call)
{
    return &call->md;
}

int64_t dc_grpc_call_time_left_ms(const struct dc_grpc_call *call)
{
    int64_t left;

    if (call->deadline_ms < 0)
        return -1;
    left = call->deadline_ms - dc__grpc_now_ms();
    return left > 0 ? left : 0;
}

X509 *dc_grpc_call_peer_cert(struct dc_grpc_call *call)
{
    X509 *x = NULL;

    dc__grpc_lock(call->loop);
    if (call->peer_cert == NULL && call->conn != NULL && call->conn->peer_cert != NULL) {
        X509_up_ref(call->conn->peer_cert);
        call->peer_cert = call->conn->peer_cert;
    }
    if (call->peer_cert != NULL && X509_up_ref(call->peer_cert) == 1)
        x = call->peer_cert;
    dc__grpc_unlock(call->loop);
    return x;
}

void dc_grpc_call_peer_addr(const struct dc_grpc_call *call, char *out, size_t outlen)
{
    if (outlen > 0)
        (void)snprintf(out, outlen, "%s", call->peer);
}

bool dc_grpc_call_is_done(struct dc_grpc_call *call)
{
    bool d;
    dc__grpc_lock(call->loop);
    d = call->done;
    dc__grpc_unlock(call->loop);
    return d;
}

void dc__grpc_call_drop_queue(struct dc_grpc_call *call)
{
    while (call->qh != NULL) {
        struct dc__grpc_chunk *c = call->qh;
        call->qh = c->next;
        free(c);
    }
    call->qt = NULL;
    call->qbytes = 0;
}

static int call_send_locked(struct dc_grpc_call *call, const void *msg, size_t len)
{
    struct dc__grpc_chunk *c;

    if (call->done)
        return DC_ECANCELED;
    if (call->send_closed)
        return DC_EINVAL;
    if (len > call->max_send || len > UINT32_MAX)
        return DC_ETOOBIG;
    if (call->qbytes > 0 && call->qbytes + len + 5 > DC_GRPC_SEND_HIWAT) {
        call->want_writable = true;
        return DC_EAGAIN;
    }
    c = dc_xmalloc(sizeof(*c) + len + 5);
    c->next = NULL;
    c->len = len + 5;
    c->off = 0;
    c->data[0] = 0; /* Compressed-Flag: identity */
    c->data[1] = (uint8_t)(len >> 24);
    c->data[2] = (uint8_t)(len >> 16);
    c->data[3] = (uint8_t)(len >> 8);
    c->data[4] = (uint8_t)len;
    if (len > 0)
        memcpy(c->data + 5, msg, len);
    if (call->qt != NULL)
        call->qt->next = c;
    else
        call->qh = c;
    call->qt = c;
    call->qbytes += c->len;
    dc__grpc_kick(call);
    return DC_OK;
}

int dc_grpc_call_send(struct dc_grpc_call *call, const void *msg, size_t len)
{
    int rv;
    dc__grpc_lock(call->loop);
    rv = call_send_locked(call, msg, len);
    dc__grpc_unlock(call->loop);
    return rv;
}

int dc_grpc_call_send_wait(struct dc_grpc_call *call, const void *msg, size_t len,
                           int64_t timeout_ms)
{
    struct dc__grpc_loop *l = call->loop;
    struct timespec ts;
    int rv;

    if (dc__grpc_on_loop(l))
        return DC_EINVAL;
    ts = dc_timespec_in(CLOCK_REALTIME, timeout_ms >= 0 ? timeout_ms * 1000000 : 0);
    dc__grpc_lock(l);
    for (;;) {
        rv = call_send_locked(call, msg, len);
        if (rv != DC_EAGAIN)
            break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&l->cv, &l->mu);
        } else if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) != 0) {
            rv = call_send_locked(call, msg, len);
            if (rv == DC_EAGAIN)
                rv = DC_ETIMEDOUT;
            break;
        }
    }
    dc__grpc_unlock(l);
    return rv;
}

void dc_grpc_call_pause_recv(struct dc_grpc_call *call)
{
    dc__grpc_lock(call->loop);
    call->paused = true;
    dc__grpc_unlock(call->loop);
}

void dc_grpc_call_resume_recv(struct dc_grpc_call *call)
{
    dc__grpc_lock(call->loop);
    if (call->paused) {
        call->paused = false;
        call->resume_req = true;
        dc__grpc_kick(call);
    }
    dc__grpc_unlock(call->loop);
}

void dc_grpc_call_cancel(struct dc_grpc_call *call, const char *why)
{
    dc__grpc_lock(call->loop);
    if (!call->done && !call->cancel_req) {
        call->cancel_req = true;
        call->fin_code = DC_GRPC_CANCELLED;
        free(call->fin_msg);
        call->fin_msg = dc_xstrdup(why ? why : "call cancelled");
        dc__grpc_kick(call);
    }
    dc__grpc_unlock(call->loop);
}

/* Stream-level consumption: gives the peer its window back for bytes we no longer hold. */
static void consume(struct dc_grpc_call *call, size_t n)
{
    if (n > 0 && call->conn != NULL && !call->stream_closed)
        (void)nghttp2_session_consume_stream(call->conn->ng, call->stream_id, n);
}

void dc__grpc_call_complete(struct dc_grpc_call *call, int code, const char *msg)
{
    if (call->done)
        return;
    call->done = true;
    if (!call->st_pending) {
        call->st.code = code;
        free(call->st.message);
        call->st.message = msg ? dc_xstrdup(msg) : NULL;
    }
    dc__grpc_call_drop_queue(call);
    if (call->deadline_ev != NULL)
        event_del(call->deadline_ev);
    pthread_cond_broadcast(&call->loop->cv);
    if (!call->done_delivered) {
        call->done_delivered = true;
        if (call->ops.on_done != NULL)
            call->ops.on_done(call, &call->st, call->ud);
    }
}

int dc__grpc_set_error_status(struct dc_grpc_call *call, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (call->done)
        return DC_ECANCELED;
    if (call->server) {
        /* Send the status in trailers (dropping queued messages), then complete. */
        dc__grpc_call_drop_queue(call);
        call->fin_req = true;
        call->send_closed = true;
        call->fin_code = code;
        free(call->fin_msg);
        call->fin_msg = dc_xstrdup(msg);
        dc__grpc_server_process(call);
    } else {
        call->cancel_req = true;
        call->fin_code = code;
        free(call->fin_msg);
        call->fin_msg = dc_xstrdup(msg);
        dc__grpc_client_process(call);
    }
    dc__grpc_call_complete(call, code, msg);
    if (call->conn != NULL)
        dc__grpc_kick(call); /* flush from the loop's top level */
    return DC_OK;
}

void dc__grpc_deliver_message(struct dc_grpc_call *call, uint8_t *msg, size_t len)
{
    if (call->unary) {
        /* unary: keep the first request */
        if (++call->ureq_count == 1) {
            call->ureq = msg;
            call->ureq_len = len;
            return;
        }
    } else if (call->uresp != NULL) {
        if (++call->uresp_count == 1 && dc_buf_append(call->uresp, msg, len) != DC_OK)
            (void)dc__grpc_set_error_status(call, DC_GRPC_RESOURCE_EXHAUSTED,
                                            "response larger than the buffer limit");
    } else if (call->ops.on_message != NULL) {
        call->ops.on_message(call, msg, len, call->ud);
    }
    free(msg);
}

void dc__grpc_call_pump(struct dc_grpc_call *call)
{
    uint8_t *msg;
    size_t used, mlen, avail;
    int rv;

    if (call->delivering)
        return;
    call->delivering = true;
    dc_grpc_call_ref(call);
    for (;;) {
        avail = call->rx.len - call->rx_off;
        if (call->done) {
            consume(call, avail);
            dc_buf_reset(&call->rx);
            call->rx_off = 0;
            break;
        }
        if (call->paused)
            break;
        /* rx.data is NULL until a DATA frame came (a request ended by its HEADERS frame):
         * NULL + 0 is undefined, so no offset is applied to it. */
        rv = dc_grpc_decoder_feed(&call->dec,
                                  avail > 0 ? (const uint8_t *)call->rx.data + call->rx_off : NULL,
                                  avail, &used, &msg, &mlen);
        call->rx_off += used;
        consume(call, used);
        if (rv == DC_ETOOBIG) {
            (void)dc__grpc_set_error_status(call, DC_GRPC_RESOURCE_EXHAUSTED,
                                            "grpc: received message larger than max (%zu vs. %zu)",
                                            mlen, call->max_recv);
            continue;
        }
        if (rv != DC_OK) {
            (void)dc__grpc_set_error_status(call,
                                            call->server ? DC_GRPC_UNIMPLEMENTED : DC_GRPC_INTERNAL,
                                            "grpc: compressed message without grpc-encoding");
            continue;
        }
        if (msg != NULL) {
            dc__grpc_deliver_message(call, msg, mlen);
            continue;
        }
        if (call->rx_eos) {
            if (!dc_grpc_decoder_idle(&call->dec)) {
                (void)dc__grpc_set_error_status(call, DC_GRPC_INTERNAL,
                                                "stream ended in the middle of a message");
                continue;
            }
            if (!call->half_close_done) {
                call->half_close_done = true;
                dc__grpc_deliver_half_close(call);
            }
            if (!call->server && call->st_pending)
                dc__grpc_call_complete(call, call->st.code, NULL);
        }
        break;
    }
    if (call->rx_off > 0 && call->rx_off == call->rx.len) {
        dc_buf_reset(&call->rx);
        call->rx_off = 0;
    } else if (call->rx_off > 64 * 1024) {
        memmove(call->rx.data, call->rx.data + call->rx_off, call->rx.len - call->rx_off);
        call->rx.len -= call->rx_off;
        call->rx_off = 0;
    }
    call->delivering = false;
    dc_grpc_call_unref(call);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dc_grpc_call *call = arg;
    struct dc__grpc_loop *l = call->loop;

    (void)fd;
    (void)what;
    dc__grpc_lock(l);
    dc_grpc_call_ref(call);
    if (!call->done)
        (void)dc__grpc_set_error_status(call, DC_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
    dc_grpc_call_unref(call);
    dc__grpc_unlock(l);
}

void dc__grpc_call_start_deadline(struct dc_grpc_call *call)
{
    struct timeval tv;

    int64_t left;

    if (call->timeout_ms < 0 || call->deadline_ev != NULL)
        return;
    if (call->deadline_ms < 0)
        call->deadline_ms = dc__grpc_now_ms() + call->timeout_ms;
    left = call->deadline_ms - dc__grpc_now_ms();
    if (left < 0)
        left = 0;
    call->deadline_ev = evtimer_new(call->loop->base, deadline_cb, call);
    DC_ASSERT(call->deadline_ev != NULL);
    tv.tv_sec = left / 1000;
    tv.tv_usec = (left % 1000) * 1000;
    evtimer_add(call->deadline_ev, &tv);
}

void dc__grpc_call_attach(struct dc_grpc_call *call, struct dc__grpc_conn *conn, int32_t id)
{
    call->conn = conn;
    call->stream_id = id;
    call->refs++; /* the connection's */
    call->cnext = conn->calls;
    call->cprev = NULL;
    if (conn->calls != NULL)
        conn->calls->cprev = call;
    conn->calls = call;
    conn->ncalls++;
    snprintf(call->peer, sizeof(call->peer), "%s", conn->peer);
}

void dc__grpc_call_detach(struct dc_grpc_call *call)
{
    struct dc__grpc_conn *conn = call->conn;

    if (conn == NULL)
        return;
    if (call->cprev != NULL)
        call->cprev->cnext = call->cnext;
    else
        conn->calls = call->cnext;
    if (call->cnext != NULL)
        call->cnext->cprev = call->cprev;
    call->cnext = call->cprev = NULL;
    conn->ncalls--;
    if (!call->stream_closed && call->stream_id > 0 && conn->ng != NULL)
        (void)nghttp2_session_set_stream_user_data(conn->ng, call->stream_id, NULL);
    call->stream_closed = true;
    if (call->peer_cert == NULL && conn->peer_cert != NULL && X509_up_ref(conn->peer_cert) == 1)
        call->peer_cert = conn->peer_cert;
    call->conn = NULL;
    if (call->deadline_ev != NULL) {
        event_free(call->deadline_ev);
        call->deadline_ev = NULL;
    }
    dc_grpc_call_unref(call);
}

ssize_t dc__grpc_data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct dc_grpc_call *call = src->ptr;
    size_t n = 0, take;

    (void)ng;
    (void)id;
    (void)ud;
    while (n < len && call->qh != NULL) {
        struct dc__grpc_chunk *c = call->qh;
        take = c->len - c->off;
        if (take > len - n)
            take = len - n;
        memcpy(buf + n, c->data + c->off, take);
        c->off += take;
        n += take;
        call->qbytes -= take;
        if (c->off == c->len) {
            call->qh = c->next;
            if (call->qh == NULL)
                call->qt = NULL;
            free(c);
        }
    }
    if (n > 0) {
        pthread_cond_broadcast(&call->loop->cv);
        if (call->want_writable && call->qbytes <= DC_GRPC_SEND_HIWAT / 2) {
            call->want_writable = false;
            call->writable_pending = true;
            dc__grpc_kick(call);
        }
    }
    if (call->qh == NULL && call->send_closed) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (call->server) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (dc__grpc_server_trailers(call) != 0)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        return (ssize_t)n;
    }
    if (n == 0) {
        call->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* ---- connections ---- */

static int gcode_from_h2(uint32_t err)
{
    /* PROTOCOL-HTTP2.md "Errors": HTTP/2 error codes seen by a client. */
    switch (err) {
    case NGHTTP2_REFUSED_STREAM:
        return DC_GRPC_UNAVAILABLE;
    case NGHTTP2_CANCEL:
        return DC_GRPC_CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM:
        return DC_GRPC_RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY:
        return DC_GRPC_PERMISSION_DENIED;
    default:
        return DC_GRPC_INTERNAL;
    }
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct dc__grpc_conn *c = ud;

    (void)ng;
    if (c->server && f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        return dc__grpc_server_begin_headers(c, f->hd.stream_id);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct dc_grpc_call *call = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);

    (void)flags;
    (void)ud;
    if (call == NULL)
        return 0;
    return dc__grpc_on_header(call, f, name, namelen, value, valuelen);
}

static void on_ping(struct dc__grpc_conn *c, const nghttp2_frame *f)
{
    int64_t now = dc__grpc_now_ms();

    if (!c->server) {
        if (f->hd.flags & NGHTTP2_FLAG_ACK) {
            c->ping_outstanding = false;
            if (c->ka_timeout_ev != NULL)
                event_del(c->ka_timeout_ev);
        }
        return;
    }
    if (f->hd.flags & NGHTTP2_FLAG_ACK)
        return;
    /* Loose ping policy (grpc-go's keepalive EnforcementPolicy in spirit): a ping that follows
     * another one sooner than the minimum interval, with nothing sent in between, is a strike;
     * the third strike ends the connection with ENHANCE_YOUR_CALM "too_many_pings". */
    if (c->last_ping_ms > 0 && now - c->last_ping_ms < (int64_t)c->min_ping_ms &&
        !c->sent_since_ping) {
        if (++c->strikes > 2)
            dc__grpc_conn_close(c, NGHTTP2_ENHANCE_YOUR_CALM, "too_many_pings");
    }
    c->last_ping_ms = now;
    c->sent_since_ping = false;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct dc__grpc_conn *c = ud;
    struct dc_grpc_call *call;

    switch (f->hd.type) {
    case NGHTTP2_PING:
        on_ping(c, f);
        return 0;
    case NGHTTP2_GOAWAY:
        c->draining = true;
        if (!c->server)
            dc__grpc_client_conn_gone(c);
        return 0;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
        break;
    default:
        return 0;
    }
    call = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (call == NULL)
        return 0;
    dc_grpc_call_ref(call);
    if (f->hd.type == NGHTTP2_HEADERS) {
        if (c->server)
            dc__grpc_server_headers_done(call);
        else
            dc__grpc_client_headers_done(call, (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
    }
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (c->server || f->hd.type == NGHTTP2_DATA)) {
        call->rx_eos = true;
        dc__grpc_call_pump(call);
    }
    dc_grpc_call_unref(call);
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct dc_grpc_call *call = nghttp2_session_get_stream_user_data(ng, id);

    (void)flags;
    (void)ud;
    (void)nghttp2_session_consume_connection(ng, len);
    if (call == NULL || call->done ||
        (call->server && call->m == NULL && call->ops.on_message == NULL)) {
        (void)nghttp2_session_consume_stream(ng, id, len);
        return 0;
    }
    /* Bounded by the stream window we advertise: nghttp2 rejects DATA beyond it. */
    if (dc_buf_append(&call->rx, data, len) != DC_OK)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    dc_grpc_call_ref(call);
    dc__grpc_call_pump(call);
    dc_grpc_call_unref(call);
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct dc__grpc_conn *c = ud;
    struct dc_grpc_call *call;

    if (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA)
        c->sent_since_ping = true;
    if (!c->server || f->hd.type != NGHTTP2_HEADERS || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    call = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (call == NULL)
        return 0;
    /* The status is on the wire: the server call is complete. A client still sending gets
     * RST_STREAM NO_ERROR (RFC 9113 §8.1) so it stops. */
    dc__grpc_call_complete(call, call->fin_code, call->fin_msg);
    if (!call->rx_eos && !call->rst_sent) {
        call->rst_sent = true;
        (void)nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t err, void *ud)
{
    struct dc_grpc_call *call = nghttp2_session_get_stream_user_data(ng, id);

    (void)ud;
    if (call == NULL)
        return 0;
    dc_grpc_call_ref(call);
    call->stream_closed = true;
    if (call->server) {
        dc__grpc_call_complete(call, DC_GRPC_CANCELLED,
                               err == NGHTTP2_CANCEL ? "call cancelled by the client"
                                                     : "stream reset by the client");
    } else if (call->st_pending) {
        call->rx_eos = true;
        dc__grpc_call_pump(call);
    } else if (!call->done) {
        char msg[96];
        if (err == NGHTTP2_NO_ERROR)
            snprintf(msg, sizeof(msg), "server closed the stream without sending trailers");
        else
            snprintf(msg, sizeof(msg), "stream terminated by RST_STREAM with error code: %u", err);
        dc__grpc_call_complete(
            call, err == NGHTTP2_NO_ERROR ? DC_GRPC_INTERNAL : gcode_from_h2(err), msg);
    }
    /* A client call whose status waits for paused messages stays readable after detaching. */
    dc__grpc_call_detach(call);
    dc_grpc_call_unref(call);
    return 0;
}

struct dc__grpc_conn *dc__grpc_conn_new(struct dc__grpc_loop *l, bool server, void *owner,
                                        struct bufferevent *bev, SSL *ssl)
{
    struct dc__grpc_conn *c = dc_xcalloc(1, sizeof(*c));

    c->loop = l;
    c->server = server;
    c->owner = owner;
    c->bev = bev;
    c->ssl = ssl;
    return c;
}

static void conn_readcb(struct bufferevent *bev, void *arg);
static void conn_writecb(struct bufferevent *bev, void *arg);
static void conn_eventcb(struct bufferevent *bev, short what, void *arg);

int dc__grpc_conn_session(struct dc__grpc_conn *c, uint32_t max_streams)
{
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    nghttp2_settings_entry s[4];
    size_t ns = 0;
    int rv;

    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_option_new(&opt);
    /* We give window back ourselves, as the application consumes (flow control, grpc.h). */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_send_header_block_length(opt, 2 * DC_GRPC_MAX_METADATA);
    if (c->server)
        rv = nghttp2_session_server_new2(&c->ng, cb, c, opt);
    else
        rv = nghttp2_session_client_new2(&c->ng, cb, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0)
        return DC_ENOMEM;
    s[ns++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->window};
    s[ns++] =
        (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 2 * DC_GRPC_MAX_METADATA};
    if (c->server)
        s[ns++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams};
    else
        s[ns++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, s, ns) != 0)
        return DC_ENOMEM;
    /* Connection window: 16 MiB; stream windows bound what each call holds. */
    (void)nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, 16 * 1024 * 1024);
    bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, DC_GRPC_CONN_OUT_HIWAT / 2, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    return DC_OK;
}

static void conn_free(struct dc__grpc_conn *c)
{
    struct dc_grpc_call *call;

    c->freed = true;
    while (c->calls != NULL) {
        call = c->calls;
        dc_grpc_call_ref(call);
        call->stream_closed = true;
        if (c->server)
            dc__grpc_call_complete(call, DC_GRPC_CANCELLED, "connection closed");
        else if (call->st_pending)
            call->rx_eos = true;
        else
            dc__grpc_call_complete(call, DC_GRPC_UNAVAILABLE, "connection closed");
        dc__grpc_call_detach(call);
        if (call->st_pending)
            dc__grpc_call_pump(call);
        dc_grpc_call_unref(call);
    }
    if (c->server)
        dc__grpc_server_conn_gone(c);
    else
        dc__grpc_client_conn_gone(c);
    if (c->ka_ev != NULL)
        event_free(c->ka_ev);
    if (c->ka_timeout_ev != NULL)
        event_free(c->ka_timeout_ev);
    if (c->connect_ev != NULL)
        event_free(c->connect_ev);
    nghttp2_session_del(c->ng);
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    X509_free(c->peer_cert);
    free(c);
}

void dc__grpc_conn_close(struct dc__grpc_conn *c, int code, const char *why)
{
    if (c->closing)
        return;
    if (c->ng != NULL && c->connected)
        (void)nghttp2_session_terminate_session2(
            c->ng, nghttp2_session_get_last_proc_stream_id(c->ng), (uint32_t)code);
    (void)why;
    c->closing = true;
    c->draining = true;
}

void dc__grpc_conn_maybe_close(struct dc__grpc_conn *c)
{
    dc__grpc_conn_flush(c);
}

void dc__grpc_conn_flush(struct dc__grpc_conn *c)
{
    struct evbuffer *out;
    const uint8_t *d;
    ssize_t n;

    if (c->freed)
        return;
    out = bufferevent_get_output(c->bev);
    if (c->connected) {
        while (evbuffer_get_length(out) < DC_GRPC_CONN_OUT_HIWAT) {
            n = nghttp2_session_mem_send(c->ng, &d);
            if (n < 0) {
                c->closing = true;
                evbuffer_drain(out, evbuffer_get_length(out));
                break;
            }
            if (n == 0)
                break;
            bufferevent_write(c->bev, d, (size_t)n);
        }
    }
    if (!c->closing && c->connected &&
        ((!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) ||
         (c->draining && c->ncalls == 0 && !nghttp2_session_want_write(c->ng))))
        c->closing = true;
    if (!c->closing)
        return;
    if (evbuffer_get_length(out) == 0 || !c->connected) {
        conn_free(c);
        return;
    }
    c->close_when_flushed = true;
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_disable(c->bev, EV_READ);
}

static void conn_readcb(struct bufferevent *bev, void *arg)
{
    struct dc__grpc_conn *c = arg;
    struct dc__grpc_loop *l = c->loop;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    ssize_t rv;

    dc__grpc_lock(l);
    len = evbuffer_get_length(in);
    if (!c->closing && len > 0) {
        rv = nghttp2_session_mem_recv(c->ng, evbuffer_pullup(in, -1), len);
        if (rv < 0) {
            c->closing = true;
            c->connected = c->connected && rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC;
        }
    }
    evbuffer_drain(in, len);
    dc__grpc_conn_flush(c);
    dc__grpc_unlock(l);
}

static void conn_writecb(struct bufferevent *bev, void *arg)
{
    struct dc__grpc_conn *c = arg;
    struct dc__grpc_loop *l = c->loop;

    (void)bev;
    dc__grpc_lock(l);
    dc__grpc_conn_flush(c);
    dc__grpc_unlock(l);
}

static void conn_connected(struct dc__grpc_conn *c)
{
    const unsigned char *alpn = NULL;
    unsigned alpnlen = 0;

    if (c->ssl != NULL) {
        SSL_get0_alpn_selected(c->ssl, &alpn, &alpnlen);
        /* RFC 9113 §3.2: h2 over TLS is negotiated with ALPN. A peer that negotiated another
         * protocol is refused; one that sent no ALPN at all is taken as prior knowledge. */
        if (alpnlen > 0 && (alpnlen != 2 || memcmp(alpn, "h2", 2) != 0)) {
            c->closing = true;
            return;
        }
        c->peer_cert = SSL_get1_peer_certificate(c->ssl);
    }
    c->connected = true;
    if (c->connect_ev != NULL)
        event_del(c->connect_ev);
}

static void conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
    struct dc__grpc_conn *c = arg;
    struct dc__grpc_loop *l = c->loop;

    (void)bev;
    dc__grpc_lock(l);
    if (what & BEV_EVENT_CONNECTED) {
        conn_connected(c);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        c->closing = true;
        c->connected = false; /* nothing more can be written */
    }
    dc__grpc_conn_flush(c);
    dc__grpc_unlock(l);
}
