#ifndef DC_GRPC_H
#define DC_GRPC_H

/* gRPC over HTTP/2 (nghttp2) on TLS with ALPN "h2" (OpenSSL) or cleartext h2c with prior
 * knowledge, on a libevent loop. Server and client; unary, server-streaming, client-streaming and
 * bidirectional calls. docs/internals/grpc.md has the design; this header is the contract.
 *
 * THREADING. Every dc_grpc_server and dc_grpc_client owns one libevent loop running on its own
 * thread (started by dc_grpc_server_start / dc_grpc_client_new). All callbacks (struct
 * dc_grpc_ops, unary handlers not flagged DC_GRPC_WORKER) run on that loop thread and must not
 * block. A server may also own a pool of worker threads (opts.workers): unary handlers registered
 * with DC_GRPC_WORKER run there and may block on backends. Every dc_grpc_call_* function is
 * thread-safe and may be called from any thread, including from inside a callback; work that
 * touches the connection is handed to the loop thread and the loop is woken. The functions
 * documented "not on the loop thread" block and return DC_EINVAL when called there.
 *
 * CALL LIFETIME. A struct dc_grpc_call is reference counted. Inside a callback the call is
 * borrowed for the duration of the callback. To keep it beyond (for example to hand it to another
 * thread), take a reference with dc_grpc_call_ref and drop it with dc_grpc_call_unref. A unary
 * handler owns one reference until it finishes the call (dc_grpc_call_reply / _finish), so it
 * needs no ref of its own. Once a call is done (status known: finished, cancelled, deadline,
 * connection lost) every send/finish returns DC_ECANCELED, and ops->on_done has run exactly once.
 *
 * FLOW CONTROL. Nothing is buffered without bound. Receive: at most the HTTP/2 stream window
 * (opts.initial_window) of undelivered bytes plus one partial message (<= max_recv_msg) per call;
 * while the application has paused receiving (dc_grpc_call_pause_recv) no window is granted to
 * the peer. Send: each call queues at most DC_GRPC_SEND_HIWAT bytes (always at least one
 * message); past that dc_grpc_call_send returns DC_EAGAIN and ops->on_writable fires once the
 * queue drained; dc_grpc_call_send_wait blocks instead. The socket output buffer is kept under
 * DC_GRPC_CONN_OUT_HIWAT, so a peer that does not read stops the queues from draining.
 *
 * Messages are bytes (a serialized protobuf). The protobuf-c wrappers at the end of this header
 * (dc_grpc_*_pb) encode and decode with generated message descriptors. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <protobuf-c/protobuf-c.h>

#include "dc/buf.h"
#include "dc/err.h"
#include "dc/limits.h"

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum dc_grpc_code {
    DC_GRPC_OK = 0,
    DC_GRPC_CANCELLED = 1,
    DC_GRPC_UNKNOWN = 2,
    DC_GRPC_INVALID_ARGUMENT = 3,
    DC_GRPC_DEADLINE_EXCEEDED = 4,
    DC_GRPC_NOT_FOUND = 5,
    DC_GRPC_ALREADY_EXISTS = 6,
    DC_GRPC_PERMISSION_DENIED = 7,
    DC_GRPC_RESOURCE_EXHAUSTED = 8,
    DC_GRPC_FAILED_PRECONDITION = 9,
    DC_GRPC_ABORTED = 10,
    DC_GRPC_OUT_OF_RANGE = 11,
    DC_GRPC_UNIMPLEMENTED = 12,
    DC_GRPC_INTERNAL = 13,
    DC_GRPC_UNAVAILABLE = 14,
    DC_GRPC_DATA_LOSS = 15,
    DC_GRPC_UNAUTHENTICATED = 16,
};

/* "OK", "CANCELLED", ... ("UNKNOWN_CODE" outside 0..16). Static string. */
const char *dc_grpc_code_name(int code);
/* The DC_E* code nearest to a gRPC code: OK->DC_OK, DEADLINE_EXCEEDED->DC_ETIMEDOUT,
 * NOT_FOUND->DC_ENOTFOUND, UNAVAILABLE->DC_EUNAVAIL, PERMISSION_DENIED and UNAUTHENTICATED->
 * DC_EPERM, INVALID_ARGUMENT->DC_EINVAL, RESOURCE_EXHAUSTED->DC_ETOOBIG, CANCELLED->DC_ECANCELED,
 * ALREADY_EXISTS->DC_EEXIST, UNIMPLEMENTED->DC_EUNSUPPORTED, others DC_EIO. */
int dc_grpc_code_to_err(int code);

/* ---- Metadata ------------------------------------------------------------------------------ */

/* One metadata entry. Keys are lower-case. Values of keys ending in "-bin" are raw bytes (base64
 * on the wire, encoded and decoded here); other values are printable ASCII (0x20..0x7e). `value`
 * is always NUL-terminated beyond `value_len`. */
struct dc_grpc_md_entry {
    char *key;
    char *value;
    size_t value_len;
};

/* A list of entries in order; duplicates allowed. Public so callers embed it; all-zero is an
 * empty list. Owns its strings. */
struct dc_grpc_metadata {
    struct dc_grpc_md_entry *v;
    size_t n;
    size_t cap;
};

/* Append a copy of key/value. Returns DC_EINVAL for a key that is not a valid gRPC metadata key
 * (lower-case [0-9a-z_.-]) or is reserved (":*", "grpc-*", content-type, te), or for a non-bin
 * value with bytes outside 0x20..0x7e; DC_ETOOBIG past DC_GRPC_MAX_METADATA total bytes. */
int dc_grpc_md_add(struct dc_grpc_metadata *md, const char *key, const void *value, size_t len,
                   struct dc_errbuf *eb) DC_MUST_CHECK;
/* First value of `key` (NULL when absent); `*len` (may be NULL) gets its length. Borrowed. */
const char *dc_grpc_md_get(const struct dc_grpc_metadata *md, const char *key, size_t *len);
/* Deep copy of `src` appended to `dst`. */
void dc_grpc_md_copy(struct dc_grpc_metadata *dst, const struct dc_grpc_metadata *src);
void dc_grpc_md_cleanup(struct dc_grpc_metadata *md);

/* The outcome of a call. All-zero is {OK, no message}. Owns message and trailers. */
struct dc_grpc_status {
    int code;                         /* enum dc_grpc_code */
    char *message;                    /* decoded grpc-message, NULL when none */
    struct dc_grpc_metadata trailers; /* custom trailing metadata (client side) */
};
void dc_grpc_status_cleanup(struct dc_grpc_status *st);

/* ---- Calls (server and client) -------------------------------------------------------------- */

struct dc_grpc_call;

/* Callbacks of a streaming call, all on the loop thread, all optional. `ud` is the pointer given
 * at registration (server) or call start (client); per-call state goes in dc_grpc_call_set_data.
 * - on_start (server only): the request headers arrived; metadata, deadline and peer are known.
 * - on_message: one whole message; `msg` is borrowed for the callback. No other message is
 *   delivered while the callback runs, nor while receiving is paused.
 * - on_half_close: the peer will send no more messages (after the last on_message).
 * - on_writable: the send queue drained after dc_grpc_call_send returned DC_EAGAIN.
 * - on_done: the call ended with `st` (borrowed); the last callback. Server: the status sent, or
 *   CANCELLED (peer reset or connection lost) or DEADLINE_EXCEEDED. Client: the status received
 *   with trailers, or a local one (DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE,
 *   RESOURCE_EXHAUSTED for an oversized message, INTERNAL for a protocol violation). */
struct dc_grpc_ops {
    void (*on_start)(struct dc_grpc_call *call, void *ud);
    void (*on_message)(struct dc_grpc_call *call, const uint8_t *msg, size_t len, void *ud);
    void (*on_half_close)(struct dc_grpc_call *call, void *ud);
    void (*on_writable)(struct dc_grpc_call *call, void *ud);
    void (*on_done)(struct dc_grpc_call *call, const struct dc_grpc_status *st, void *ud);
};

void dc_grpc_call_ref(struct dc_grpc_call *call);
/* Drop a reference; the call is freed with the last one. NULL is a no-op. */
void dc_grpc_call_unref(struct dc_grpc_call *call);

/* Per-call application pointer (not freed by the layer). Any thread. */
void dc_grpc_call_set_data(struct dc_grpc_call *call, void *data);
void *dc_grpc_call_get_data(struct dc_grpc_call *call);

/* Method path "/pkg.Service/Method". Borrowed for the life of the call. */
const char *dc_grpc_call_method(const struct dc_grpc_call *call);
/* Server: request metadata. Client: response header metadata (empty until they arrive; read it
 * from on_message/on_done). Borrowed for the life of the call; stable once on_start (server) or
 * the first on_message/on_done (client) ran. */
const struct dc_grpc_metadata *dc_grpc_call_metadata(const struct dc_grpc_call *call);
/* Milliseconds left before the call's deadline (0 when passed), or -1 without a deadline. */
int64_t dc_grpc_call_time_left_ms(const struct dc_grpc_call *call);
/* The peer's TLS leaf certificate with a new reference (X509_free it), or NULL (h2c, no client
 * certificate). The server keeps its copy for the life of the call, so workers may ask. */
X509 *dc_grpc_call_peer_cert(struct dc_grpc_call *call);
/* "ip:port" of the peer ("" when unknown). Copies into `out`. */
void dc_grpc_call_peer_addr(const struct dc_grpc_call *call, char *out, size_t outlen);
/* True once the call's status is final (on_done ran or is about to). */
bool dc_grpc_call_is_done(struct dc_grpc_call *call);

/* Queue one message. `msg` is copied. Returns DC_OK; DC_EAGAIN when the send queue is over
 * DC_GRPC_SEND_HIWAT (nothing queued; on_writable follows); DC_ETOOBIG when len exceeds the
 * max_send_msg option; DC_ECANCELED when the call is done; DC_EINVAL after finish/close_send. */
int dc_grpc_call_send(struct dc_grpc_call *call, const void *msg, size_t len) DC_MUST_CHECK;
/* Like dc_grpc_call_send but waits up to `timeout_ms` (< 0: no limit) for room. Not on the loop
 * thread. DC_ETIMEDOUT when no room came in time. */
int dc_grpc_call_send_wait(struct dc_grpc_call *call, const void *msg, size_t len,
                           int64_t timeout_ms) DC_MUST_CHECK;
/* Stop/resume delivering messages (and granting flow-control window) for this call. */
void dc_grpc_call_pause_recv(struct dc_grpc_call *call);
void dc_grpc_call_resume_recv(struct dc_grpc_call *call);
/* Cancel the call: RST_STREAM CANCEL to the peer; status CANCELLED (with `why` as message when
 * non-NULL). No-op on a done call. */
void dc_grpc_call_cancel(struct dc_grpc_call *call, const char *why);

/* Server: response header metadata, sent with the first message or the status. Copied. Only
 * before the first send/finish (DC_EINVAL after). */
int dc_grpc_call_set_response_md(struct dc_grpc_call *call, const struct dc_grpc_metadata *md);
/* Server: end the call with `code` and `msg` (may be NULL; percent-encoded on the wire) and
 * optional trailing metadata (copied), after the queued messages. Once per call: DC_EINVAL on a
 * second finish, DC_ECANCELED when the call is already done. */
int dc_grpc_call_finish(struct dc_grpc_call *call, int code, const char *msg);
int dc_grpc_call_finish_md(struct dc_grpc_call *call, int code, const char *msg,
                           const struct dc_grpc_metadata *trailers);
/* Server, unary: send `resp` then finish OK (finish RESOURCE_EXHAUSTED when oversized). */
int dc_grpc_call_reply(struct dc_grpc_call *call, const void *resp, size_t len);
/* Client: half-close (no more messages). */
int dc_grpc_call_close_send(struct dc_grpc_call *call);

/* ---- Server --------------------------------------------------------------------------------- */

struct dc_grpc_server;

struct dc_grpc_server_opts {
    /* TLS when non-NULL: the layer takes its own reference, installs an ALPN callback selecting
     * "h2" (connections without h2 are refused) and never changes anything else. Cleartext h2c
     * (prior knowledge, no Upgrade) when NULL. */
    SSL_CTX *ssl_ctx;
    size_t max_recv_msg;             /* 0: DC_GRPC_DEFAULT_MAX_MSG */
    size_t max_send_msg;             /* 0: DC_GRPC_DEFAULT_MAX_MSG */
    uint32_t max_concurrent_streams; /* 0: 100 */
    uint32_t initial_window;         /* per-stream receive window; 0: DC_GRPC_DEFAULT_WINDOW */
    uint32_t min_ping_interval_ms;   /* pings closer than this without data between them are
                                      * strikes; the third strike gets GOAWAY ENHANCE_YOUR_CALM
                                      * "too_many_pings"; 0: 5000 */
    unsigned workers;                /* worker threads for DC_GRPC_WORKER handlers; 0: none */
};

/* Unary handler: `req` (borrowed for the call of the handler) is the one request message. Must
 * end the call exactly once, now or later, from any thread, with dc_grpc_call_reply or
 * dc_grpc_call_finish; the layer keeps the call alive until then. */
typedef void dc_grpc_unary_fn(struct dc_grpc_call *call, const uint8_t *req, size_t len, void *ud);

/* Registration flags. */
#define DC_GRPC_WORKER 0x1u /* run the unary handler on a worker thread (opts.workers > 0) */

/* New server, not listening yet. `opts` may be NULL (h2c, defaults). Returns DC_OK or DC_EINVAL
 * (DC_GRPC_WORKER needs workers), DC_EIO (libevent). */
int dc_grpc_server_new(struct dc_grpc_server **out, const struct dc_grpc_server_opts *opts,
                       struct dc_errbuf *eb) DC_MUST_CHECK;
/* Register a method before dc_grpc_server_start. `method` is "/pkg.Service/Method" (copied).
 * Unknown methods get UNIMPLEMENTED. DC_EEXIST for a duplicate, DC_EINVAL after start or for
 * DC_GRPC_WORKER without workers. */
int dc_grpc_server_add_unary(struct dc_grpc_server *srv, const char *method, dc_grpc_unary_fn *fn,
                             void *ud, unsigned flags, struct dc_errbuf *eb) DC_MUST_CHECK;
/* Register a streaming (any shape) method whose callbacks run on the loop thread. `ops` is
 * copied. The handler ends the call with dc_grpc_call_finish. */
int dc_grpc_server_add_stream(struct dc_grpc_server *srv, const char *method,
                              const struct dc_grpc_ops *ops, void *ud,
                              struct dc_errbuf *eb) DC_MUST_CHECK;
/* Bind and listen on `host` ("127.0.0.1", "0.0.0.0", "::", NULL = all IPv4) and `port` (0 picks
 * one; read it with dc_grpc_server_port). Before start. DC_EIO on bind failure. */
int dc_grpc_server_listen(struct dc_grpc_server *srv, const char *host, int port,
                          struct dc_errbuf *eb) DC_MUST_CHECK;
int dc_grpc_server_port(const struct dc_grpc_server *srv);
/* Replace the TLS context for new connections (live ones keep theirs); takes a reference. Any
 * thread. DC_EINVAL on a cleartext server. For certificate rotation. */
int dc_grpc_server_set_ssl_ctx(struct dc_grpc_server *srv, SSL_CTX *ctx);
/* Start the loop thread (and workers). DC_EINVAL when not listening or already started. */
int dc_grpc_server_start(struct dc_grpc_server *srv, struct dc_errbuf *eb) DC_MUST_CHECK;
/* Graceful shutdown, blocking, not on the loop thread: stop accepting connections, send GOAWAY
 * (no new streams), let running calls finish for up to `grace_ms`, then cancel the rest
 * (CANCELLED), close every connection, stop the loop and join the workers (a worker blocked in a
 * handler is waited for). Idempotent. */
void dc_grpc_server_shutdown(struct dc_grpc_server *srv, int64_t grace_ms);
/* Shutdown with no grace if still running, then free. NULL is a no-op. */
void dc_grpc_server_free(struct dc_grpc_server *srv);

/* ---- Client --------------------------------------------------------------------------------- */

struct dc_grpc_client;

struct dc_grpc_client_opts {
    const char *target;            /* "host:port" or "[v6]:port"; required; copied */
    SSL_CTX *ssl_ctx;              /* TLS when non-NULL (reference taken; ALPN h2 set per
                                    * connection; verification is the context's); h2c when NULL */
    const char *server_name;       /* TLS: SNI and, when the context verifies peers, the host name
                                    * checked (SSL_set1_host); NULL: none. Copied. */
    const char *authority;         /* :authority; NULL: target */
    size_t max_recv_msg;           /* 0: DC_GRPC_DEFAULT_MAX_MSG */
    size_t max_send_msg;           /* 0: DC_GRPC_DEFAULT_MAX_MSG */
    uint32_t initial_window;       /* 0: DC_GRPC_DEFAULT_WINDOW */
    uint32_t connect_timeout_ms;   /* 0: 10000 */
    uint32_t keepalive_time_ms;    /* send a PING after this long; 0: no keepalive */
    uint32_t keepalive_timeout_ms; /* close the connection (calls: UNAVAILABLE) when the ACK has
                                    * not come within this; 0: 20000 */
    bool keepalive_without_calls;  /* ping even with no call in flight */
};

/* Per-call options; NULL means none. */
struct dc_grpc_call_opts {
    int64_t timeout_ms;                /* deadline from now (grpc-timeout); <= 0: none */
    const struct dc_grpc_metadata *md; /* request metadata, copied */
};

/* New client with its loop thread running. Connects lazily on the first call and again after the
 * connection is lost or the server sent GOAWAY. Returns DC_OK, DC_EINVAL (target). The name is
 * resolved (getaddrinfo) on the loop thread at connect time. */
int dc_grpc_client_new(struct dc_grpc_client **out, const struct dc_grpc_client_opts *opts,
                       struct dc_errbuf *eb) DC_MUST_CHECK;
/* Replace the TLS context for future connections (reference taken). Any thread. */
int dc_grpc_client_set_ssl_ctx(struct dc_grpc_client *c, SSL_CTX *ctx);
/* Cancel every call (on_done CANCELLED), close, join the loop thread, free. Not on the loop
 * thread. NULL is a no-op. */
void dc_grpc_client_free(struct dc_grpc_client *c);

/* Start a call of any shape. `ops` is copied, `ud` passed to its callbacks. On DC_OK `*out` holds
 * a reference the caller must drop with dc_grpc_call_unref (also after on_done). Send messages
 * with dc_grpc_call_send and end the request side with dc_grpc_call_close_send. Any thread.
 * Returns DC_OK, DC_EINVAL (method, metadata), DC_ECANCELED (client being freed). */
int dc_grpc_client_start(struct dc_grpc_client *c, const char *method,
                         const struct dc_grpc_call_opts *opts, const struct dc_grpc_ops *ops,
                         void *ud, struct dc_grpc_call **out) DC_MUST_CHECK;

/* Blocking unary call, not on the loop thread. `req` borrowed; the response message is appended
 * to `resp` (its limit applies on top of max_recv_msg). `st` (may be NULL) receives the status;
 * the caller cleans it up. Returns DC_OK when the status is OK, else dc_grpc_code_to_err(code)
 * (the status says more), or DC_EINVAL when called on the loop thread. */
int dc_grpc_client_unary(struct dc_grpc_client *c, const char *method,
                         const struct dc_grpc_call_opts *opts, const void *req, size_t len,
                         struct dc_buf *resp, struct dc_grpc_status *st) DC_MUST_CHECK;

/* ---- Wire helpers (exposed for tests, fuzzing and diagnostics) ------------------------------ */

/* Length-prefixed message decoder (gRPC over HTTP/2: 1 byte compressed flag, 4 bytes big-endian
 * length, message). Caller storage; all-zero plus dc_grpc_decoder_init is valid. */
struct dc_grpc_decoder {
    uint8_t hdr[5];
    size_t hdr_have;
    uint8_t *msg; /* current message, owned */
    size_t msg_len;
    size_t msg_have;
    size_t max;  /* largest accepted message */
    bool in_msg; /* header complete, collecting the body */
};
void dc_grpc_decoder_init(struct dc_grpc_decoder *d, size_t max);
void dc_grpc_decoder_cleanup(struct dc_grpc_decoder *d);
/* Consume bytes from `data` until one message is complete or the input ends; `*used` gets the
 * count consumed. On DC_OK with `*msg` non-NULL a whole message was completed: the caller owns
 * `*msg` (free(); a 0-length message is a 1-byte allocation) and `*msg_len`. Errors: DC_ETOOBIG
 * (declared length over max: `*msg_len` gets it), DC_EUNSUPPORTED (compressed flag set). After an
 * error the decoder must not be fed again. */
int dc_grpc_decoder_feed(struct dc_grpc_decoder *d, const uint8_t *data, size_t len, size_t *used,
                         uint8_t **msg, size_t *msg_len) DC_MUST_CHECK;
/* True when no partial message is buffered (a clean end of stream). */
bool dc_grpc_decoder_idle(const struct dc_grpc_decoder *d);

/* Parse a grpc-timeout value ("1S", "250m", up to 8 digits and one of H M S m u n) into ms,
 * rounded up (1n -> 1 ms). DC_EPARSE when malformed. */
int dc_grpc_timeout_parse(const char *s, int64_t *ms) DC_MUST_CHECK;
/* Format `ms` (> 0) as a grpc-timeout value with at most 8 digits, choosing the finest unit that
 * fits. `out` needs DC_GRPC_TIMEOUT_LEN bytes. */
#define DC_GRPC_TIMEOUT_LEN 24
void dc_grpc_timeout_format(int64_t ms, char *out);

/* Percent-encode a grpc-message (bytes outside 0x20..0x7e and '%' become %XX) into `out`
 * (reset first). DC_ETOOBIG past the buffer limit. */
int dc_grpc_message_encode(const char *msg, struct dc_buf *out) DC_MUST_CHECK;
/* Decode a percent-encoded grpc-message; malformed escapes are kept literally. New string,
 * caller frees. */
char *dc_grpc_message_decode(const char *s, size_t len);

/* Base64 (standard alphabet) for -bin metadata. Encode pads; decode accepts padded and unpadded
 * input. Results are new allocations (caller frees; decode NUL-terminates). Decode returns NULL
 * on malformed input. */
char *dc_grpc_b64_encode(const void *p, size_t len, size_t *out_len);
uint8_t *dc_grpc_b64_decode(const char *s, size_t len, size_t *out_len);

/* ---- protobuf-c wrappers -------------------------------------------------------------------- */

/* "/<service full name>/<method name>" of method `name` of a protoc-c service descriptor, into
 * `out` (DC_ENOTFOUND when the service has no such method, DC_ETOOBIG when out is short). */
int dc_grpc_pb_method_path(const ProtobufCServiceDescriptor *svc, const char *name, char *out,
                           size_t outlen) DC_MUST_CHECK;

/* Unary handler with decoded messages: `req` is a message of the method's input type, owned by
 * the layer and freed after the handler returns (copy what you keep). Reply with
 * dc_grpc_call_reply_pb or end with dc_grpc_call_finish, exactly once, from any thread. */
typedef void dc_grpc_pb_unary_fn(struct dc_grpc_call *call, const ProtobufCMessage *req, void *ud);

/* Register method `name` of `svc` (both static protoc-c data) as a typed unary method. A request
 * that does not decode gets INTERNAL ("grpc: error unmarshalling request"). Flags as
 * dc_grpc_server_add_unary. DC_ENOTFOUND when `svc` has no such method. */
int dc_grpc_server_add_pb_unary(struct dc_grpc_server *srv, const ProtobufCServiceDescriptor *svc,
                                const char *name, dc_grpc_pb_unary_fn *fn, void *ud, unsigned flags,
                                struct dc_errbuf *eb) DC_MUST_CHECK;

/* Serialize `msg` and send it (dc_grpc_call_send's results). */
int dc_grpc_call_send_pb(struct dc_grpc_call *call, const ProtobufCMessage *msg) DC_MUST_CHECK;
/* Serialize `resp` and reply OK (dc_grpc_call_reply). */
int dc_grpc_call_reply_pb(struct dc_grpc_call *call, const ProtobufCMessage *resp);

/* Decode `len` bytes as a message of `desc`. On DC_OK `*out` is owned by the caller
 * (protobuf_c_message_free_unpacked(*out, NULL)). DC_EPARSE when the bytes do not decode. */
int dc_grpc_pb_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      ProtobufCMessage **out) DC_MUST_CHECK;

/* Blocking typed unary call of method `name` of `svc` (not on the loop thread): `req` must be of
 * the method's input type; on DC_OK `*resp` is a new message of its output type (free with
 * protobuf_c_message_free_unpacked). Other results as dc_grpc_client_unary, plus DC_ENOTFOUND
 * (no such method) and DC_EPARSE (the response does not decode; `st` says INTERNAL). */
int dc_grpc_client_unary_pb(struct dc_grpc_client *c, const ProtobufCServiceDescriptor *svc,
                            const char *name, const struct dc_grpc_call_opts *opts,
                            const ProtobufCMessage *req, ProtobufCMessage **resp,
                            struct dc_grpc_status *st) DC_MUST_CHECK;

#endif /* DC_GRPC_H */
