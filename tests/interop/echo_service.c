/* daprc.test.v1.Echo on the dc_grpc server, for common/tests/test_grpc.c and the grpc-echo
 * interop binary (both #include this file).
 *   Unary         worker thread; sleep_ms, status_code/status_message, response_size
 *   ServerStream  `count` responses after the request (back-pressure through on_writable)
 *   ClientStream  one response: index = messages received, total_bytes = payload bytes
 *   BidiStream    echoes each message (pausing receive while the send queue is full) */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daprc/test/v1/echo.pb-c.h"
#include "dc/grpc.h"
#include "dc/mem.h"

#ifdef ECHO_COUNTERS
#define ECHO_COUNT(x) atomic_fetch_add(&(x), 1)
#else
#define ECHO_COUNT(x) ((void)0)
#endif

static void echo_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int echo_send_resp(struct dc_grpc_call *call, const char *message, size_t size,
                          int32_t index, int64_t total)
{
    Daprc__Test__V1__EchoResponse r = DAPRC__TEST__V1__ECHO_RESPONSE__INIT;
    uint8_t *payload = size ? dc_xcalloc(1, size) : NULL;
    int rv;

    r.message = (char *)(uintptr_t)(message ? message : "");
    r.payload.data = payload;
    r.payload.len = size;
    for (size_t i = 0; i < size; i++)
        payload[i] = (uint8_t)(i * 7 + (size_t)index);
    r.index = index;
    r.total_bytes = total;
    rv = dc_grpc_call_send_pb(call, &r.base);
    free(payload);
    return rv;
}

static void echo_unary(struct dc_grpc_call *call, const ProtobufCMessage *m, void *ud)
{
    const Daprc__Test__V1__EchoRequest *req = (const Daprc__Test__V1__EchoRequest *)m;
    Daprc__Test__V1__EchoResponse r = DAPRC__TEST__V1__ECHO_RESPONSE__INIT;
    const char *who;
    uint8_t *payload = NULL;

    (void)ud;
    if (req->sleep_ms > 0)
        echo_sleep_ms(req->sleep_ms);
    if (req->status_code != 0) {
        (void)dc_grpc_call_finish(call, req->status_code, req->status_message);
        return;
    }
    /* Echo metadata "x-echo" back as a trailer, and "x-bin-bin" as a response header. */
    who = dc_grpc_md_get(dc_grpc_call_metadata(call), "x-echo", NULL);
    r.message = req->message;
    if (who != NULL)
        r.message = (char *)(uintptr_t)who;
    if (req->response_size > 0) {
        payload = dc_xcalloc(1, (size_t)req->response_size);
        r.payload.data = payload;
        r.payload.len = (size_t)req->response_size;
    } else {
        r.payload = req->payload;
    }
    r.total_bytes = (int64_t)req->payload.len;
    {
        size_t blen;
        const char *bin = dc_grpc_md_get(dc_grpc_call_metadata(call), "x-bin-bin", &blen);
        if (bin != NULL) {
            struct dc_grpc_metadata md = {0};
            if (dc_grpc_md_add(&md, "x-bin-bin", bin, blen, NULL) == DC_OK)
                (void)dc_grpc_call_set_response_md(call, &md);
            dc_grpc_md_cleanup(&md);
        }
    }
    (void)dc_grpc_call_reply_pb(call, &r.base);
    free(payload);
}

struct echo_stream {
    Daprc__Test__V1__EchoRequest *req; /* ServerStream: the request */
    int32_t next;
    int32_t count;
    int64_t total;
    int pending; /* Bidi: messages waiting for room */
    char *pending_msg;
    size_t pending_size;
    bool half_closed;
};

static struct echo_stream *es_get(struct dc_grpc_call *call)
{
    struct echo_stream *s = dc_grpc_call_get_data(call);
    if (s == NULL) {
        s = dc_xcalloc(1, sizeof(*s));
        dc_grpc_call_set_data(call, s);
    }
    return s;
}

static void es_done(struct dc_grpc_call *call, const struct dc_grpc_status *st, void *ud)
{
    struct echo_stream *s = dc_grpc_call_get_data(call);

    (void)ud;
    if (st->code == DC_GRPC_CANCELLED)
        ECHO_COUNT(echo_done_cancel);
    if (s == NULL)
        return;
    if (s->req != NULL)
        protobuf_c_message_free_unpacked(&s->req->base, NULL);
    free(s->pending_msg);
    free(s);
    dc_grpc_call_set_data(call, NULL);
}

static Daprc__Test__V1__EchoRequest *es_decode(struct dc_grpc_call *call, const uint8_t *msg,
                                               size_t len)
{
    ProtobufCMessage *m;
    if (dc_grpc_pb_decode(&daprc__test__v1__echo_request__descriptor, msg, len, &m) != DC_OK) {
        (void)dc_grpc_call_finish(call, DC_GRPC_INTERNAL, "grpc: error unmarshalling request");
        return NULL;
    }
    return (Daprc__Test__V1__EchoRequest *)m;
}

/* ServerStream: produce until the queue is full, continue in on_writable. */
static void ss_produce(struct dc_grpc_call *call)
{
    struct echo_stream *s = es_get(call);
    int rv;

    while (s->req != NULL && s->next < s->req->count) {
        rv = echo_send_resp(call, s->req->message, (size_t)s->req->response_size, s->next, 0);
        if (rv == DC_EAGAIN)
            return;
        if (rv != DC_OK)
            return;
        ECHO_COUNT(echo_ss_sent);
        s->next++;
    }
    if (s->req != NULL && s->half_closed)
        (void)dc_grpc_call_finish(call, s->req->status_code, s->req->status_message);
}

static void ss_message(struct dc_grpc_call *call, const uint8_t *msg, size_t len, void *ud)
{
    struct echo_stream *s = es_get(call);
    (void)ud;
    if (s->req == NULL)
        s->req = es_decode(call, msg, len);
}

static void ss_half_close(struct dc_grpc_call *call, void *ud)
{
    struct echo_stream *s = es_get(call);
    (void)ud;
    s->half_closed = true;
    if (s->req == NULL) {
        (void)dc_grpc_call_finish(call, DC_GRPC_INVALID_ARGUMENT, "no request");
        return;
    }
    ss_produce(call);
}

static void ss_writable(struct dc_grpc_call *call, void *ud)
{
    (void)ud;
    ss_produce(call);
}

static void cs_message(struct dc_grpc_call *call, const uint8_t *msg, size_t len, void *ud)
{
    struct echo_stream *s = es_get(call);
    Daprc__Test__V1__EchoRequest *r = es_decode(call, msg, len);

    (void)ud;
    if (r == NULL)
        return;
    s->count++;
    s->total += (int64_t)r->payload.len;
    if (r->status_code != 0)
        (void)dc_grpc_call_finish(call, r->status_code, r->status_message);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void cs_half_close(struct dc_grpc_call *call, void *ud)
{
    struct echo_stream *s = es_get(call);
    (void)ud;
    if (echo_send_resp(call, "done", 0, s->count, s->total) == DC_OK)
        (void)dc_grpc_call_finish(call, DC_GRPC_OK, NULL);
}

static void bidi_flush(struct dc_grpc_call *call)
{
    struct echo_stream *s = es_get(call);

    if (s->pending) {
        if (echo_send_resp(call, s->pending_msg, s->pending_size, s->count, 0) == DC_EAGAIN)
            return;
        s->pending = 0;
        s->count++;
        dc_grpc_call_resume_recv(call);
    }
    if (s->half_closed)
        (void)dc_grpc_call_finish(call, DC_GRPC_OK, NULL);
}

static void bidi_message(struct dc_grpc_call *call, const uint8_t *msg, size_t len, void *ud)
{
    struct echo_stream *s = es_get(call);
    Daprc__Test__V1__EchoRequest *r = es_decode(call, msg, len);
    size_t size;

    (void)ud;
    if (r == NULL)
        return;
    if (r->status_code != 0) {
        (void)dc_grpc_call_finish(call, r->status_code, r->status_message);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return;
    }
    size = r->response_size > 0 ? (size_t)r->response_size : 0;
    if (echo_send_resp(call, r->message, size, s->count, 0) == DC_EAGAIN) {
        /* The peer is not reading: hold this one and stop reading until there is room. */
        s->pending = 1;
        free(s->pending_msg);
        s->pending_msg = dc_xstrdup(r->message);
        s->pending_size = size;
        dc_grpc_call_pause_recv(call);
    } else {
        s->count++;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void bidi_half_close(struct dc_grpc_call *call, void *ud)
{
    struct echo_stream *s = es_get(call);
    (void)ud;
    s->half_closed = true;
    if (!s->pending)
        (void)dc_grpc_call_finish(call, DC_GRPC_OK, NULL);
}

static void bidi_writable(struct dc_grpc_call *call, void *ud)
{
    (void)ud;
    bidi_flush(call);
}

/* Register the four methods. */
static int echo_register(struct dc_grpc_server *srv, struct dc_errbuf *eb)
{
    static const struct dc_grpc_ops ss = {.on_message = ss_message,
                                          .on_half_close = ss_half_close,
                                          .on_writable = ss_writable,
                                          .on_done = es_done};
    static const struct dc_grpc_ops cs = {
        .on_message = cs_message, .on_half_close = cs_half_close, .on_done = es_done};
    static const struct dc_grpc_ops bidi = {.on_message = bidi_message,
                                            .on_half_close = bidi_half_close,
                                            .on_writable = bidi_writable,
                                            .on_done = es_done};
    int rv;

    rv = dc_grpc_server_add_pb_unary(srv, &daprc__test__v1__echo__descriptor, "Unary", echo_unary,
                                     NULL, DC_GRPC_WORKER, eb);
    if (rv == DC_OK)
        rv = dc_grpc_server_add_stream(srv, "/daprc.test.v1.Echo/ServerStream", &ss, NULL, eb);
    if (rv == DC_OK)
        rv = dc_grpc_server_add_stream(srv, "/daprc.test.v1.Echo/ClientStream", &cs, NULL, eb);
    if (rv == DC_OK)
        rv = dc_grpc_server_add_stream(srv, "/daprc.test.v1.Echo/BidiStream", &bidi, NULL, eb);
    return rv;
}
