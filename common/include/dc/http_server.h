#ifndef DC_HTTP_SERVER_H
#define DC_HTTP_SERVER_H

/* HTTP/1.1 server (http-parser, a thread per connection, OpenSSL for TLS), and the socket-less
 * router that it drives.
 *
 * The router (dc_http_router_*) is pure: it maps a method and a raw path to a handler and
 * extracts path parameters, following upstream daprd's rules (sidecar-api.md §1.2, §1.3):
 *   - patterns are "/v1.0/state/{storeName}/{key}": a {name} matches exactly one non-empty
 *     segment, a final {name*} matches the rest of the path including slashes;
 *   - routing uses the cleaned raw path: duplicate '/' and "." / ".." segments are removed;
 *     when nothing matches and the path ends in '/', one trailing '/' is stripped and routing
 *     is tried again;
 *   - literal segments beat {param} segments, which beat {rest*}; the search backtracks, and a
 *     route only matches when its method matches too;
 *   - parameter values are decoded with Go's url.QueryUnescape semantics ('+' is a space,
 *     "%zz" is an error); a decode error answers 400 text/plain without calling the handler;
 *   - an unknown path OR a known path with another method goes to the fallback handler
 *     (daprd's service invocation), without parameters.
 *
 * A router is built once (dc_http_router_add...) and then only read, so any number of server
 * threads may dispatch through it concurrently. The server owns no routes: several servers
 * (one per listen address, the metrics port...) may share one router. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/arena.h"
#include "dc/buf.h"
#include "dc/err.h"

/* One header, query pair or path parameter. Strings are NUL-terminated and borrowed from the
 * request's storage (or its arena); `value_len` counts the bytes before that NUL, which may
 * be fewer than strlen() would say when a decoded value contains "%00". */
struct dc_http_header {
    const char *name;
    const char *value;
};

struct dc_http_param {
    const char *name;  /* from the pattern, without braces or '*' */
    const char *value; /* decoded (query-unescape) */
    size_t value_len;
    const char *raw; /* the text as it appeared in the cleaned path */
};

struct dc_http_query_pair {
    const char *name;  /* decoded */
    const char *value; /* decoded */
    size_t value_len;
};

/* A request as the handler sees it. The server fills it; tests and fuzzers may build one by
 * hand (set method, path, query, headers, body and arena; leave the rest zero).
 * Everything stays valid until the response has been sent; `arena` is released then. */
struct dc_http_request {
    const char *method; /* "GET", "POST"... as received */
    const char *path;   /* raw, still percent-encoded, without the query */
    const char *query;  /* raw, without '?'; "" when absent */
    const char *body;   /* NUL-terminated for convenience; "" when empty */
    size_t body_len;
    /* The body was larger than the server's max_body: `body` holds at most a prefix (possibly
     * nothing). daprd answers upstream's error for it. */
    bool body_too_large;
    struct dc_arena *arena;         /* per-request memory; freed after the response is sent */
    struct dc_http_header *headers; /* as received, in order; names keep their case */
    size_t n_headers;
    /* Filled by dispatch: */
    const char *route; /* the matched pattern; NULL for the fallback or the pre hook */
    struct dc_http_param *params;
    size_t n_params;
    /* Private: */
    struct dc_http_query_pair *query_pairs_; /* parsed on first use */
    size_t n_query_pairs_;
    bool query_parsed_;
    void *conn_; /* the server connection; NULL for socket-less dispatch */
};

/* The response a handler fills. dispatch and the server initialise it with status 200, no
 * headers and an empty body (dc_http_response_init). A handler may also write straight into
 * `body` (dc_buf_append...) or replace `body` with a dc_buf it owns (the old one must be
 * cleaned up first); the server hands the storage to the socket without copying. */
struct dc_http_response {
    int status;
    struct dc_http_header *headers; /* arena-backed; names and values copied */
    size_t n_headers;
    size_t cap_headers_;
    struct dc_buf body;
    struct dc_arena *arena; /* the request's arena */
    /* Private (dc_http_stream_*): */
    int stream_; /* 0 = buffered; else how the streamed body travels */
    void *conn_; /* the server connection of a streamed response */
};

/* Handler: fills `resp` from `req`. Runs on the connection's thread; blocking is allowed (only
 * that connection waits). */
typedef void dc_http_handler_fn(struct dc_http_request *req, struct dc_http_response *resp,
                                void *ud);
/* Pre-routing hook (API-token auth, CORS...): return true when it answered the request
 * itself, false to continue with routing. May edit req->headers (e.g. remove a header with
 * dc_http_request_header_remove). */
typedef bool dc_http_pre_fn(struct dc_http_request *req, struct dc_http_response *resp, void *ud);

struct dc_http_router;

/* A new empty router; never NULL (aborts on OOM). Without a fallback, unmatched requests get
 * Go's "404 page not found\n" text/plain. */
struct dc_http_router *dc_http_router_new(void);
/* Free the router and its routes. NULL is a no-op. No server may still use it. */
void dc_http_router_free(struct dc_http_router *r);

/* Add a route. `method` NULL = any method; a route with an exact method wins over an
 * any-method route at the same pattern. `pattern` must start with '/'; a segment is either
 * literal text, "{name}" or, only as the last segment, "{name*}". Strings are copied; `ud` is
 * borrowed and passed to `fn`.
 * Returns DC_OK, DC_EINVAL (malformed pattern, more than DC_HTTP_MAX_PARAMS parameters) or
 * DC_EEXIST (same method and an equivalent pattern already registered). Not thread-safe:
 * call before any dispatch. */
int dc_http_router_add(struct dc_http_router *r, const char *method, const char *pattern,
                       dc_http_handler_fn *fn, void *ud) DC_MUST_CHECK;
/* Handler for unknown paths and wrong methods (replaces any previous one). */
void dc_http_router_set_fallback(struct dc_http_router *r, dc_http_handler_fn *fn, void *ud);
/* Hook called before routing on every request (replaces any previous one; NULL removes). */
void dc_http_router_set_pre(struct dc_http_router *r, dc_http_pre_fn *fn, void *ud);

/* Route `req` and run the pre hook, then the matching handler or the fallback, filling
 * `resp` (which must have been initialised with dc_http_response_init). `req->arena` must be
 * set. Fills req->route and req->params. Returns DC_OK when a route or the pre hook handled
 * it, DC_ENOTFOUND when the fallback (or the built-in 404) did, DC_EPARSE when a parameter
 * failed to decode (resp holds the 400). Thread-safe for concurrent calls. */
int dc_http_router_dispatch(const struct dc_http_router *r, struct dc_http_request *req,
                            struct dc_http_response *resp);

/* Clean `path` for routing into arena memory: collapse '/' runs, resolve "." and ".."
 * (never above the root), keep one trailing '/' if there was one. Exposed for tests and for
 * daprd's invocation handler, which cleans the method the same way. Never NULL. */
const char *dc_http_clean_path(struct dc_arena *a, const char *path);

/* Decode `s` (`n` bytes) with query-unescape rules into arena memory (NUL-terminated).
 * Returns DC_OK or DC_EPARSE with `*out` untouched; `*out_len` may be NULL. */
int dc_http_query_unescape(struct dc_arena *a, const char *s, size_t n, char **out,
                           size_t *out_len) DC_MUST_CHECK;

/* Request accessors. Returned strings are borrowed from the request. */

/* First header named `name` (ASCII case-insensitive) or NULL. */
const char *dc_http_request_header(const struct dc_http_request *req, const char *name);
/* Remove every header named `name` (case-insensitive); returns how many were removed. */
size_t dc_http_request_header_remove(struct dc_http_request *req, const char *name);
/* Iterate over all headers: start with *it = 0; false at the end. */
bool dc_http_request_header_next(const struct dc_http_request *req, size_t *it, const char **name,
                                 const char **value);
/* Value of path parameter `name` (decoded) or NULL when the route has no such parameter. */
const char *dc_http_request_param(const struct dc_http_request *req, const char *name);
/* First value of query parameter `name` (both decoded; exact, case-sensitive name) or NULL.
 * Parsing follows Go's url.ParseQuery: pairs split on '&', pairs with ';' or a bad escape are
 * skipped. The pairs are parsed once into the arena on first use. */
const char *dc_http_request_query(struct dc_http_request *req, const char *name);
/* Iterate over the decoded query pairs in order: start with *it = 0; false at the end. */
bool dc_http_request_query_next(struct dc_http_request *req, size_t *it,
                                const struct dc_http_query_pair **pair);

/* Certificate `i` of the chain the TLS client presented on this request's connection (0 = its
 * own certificate, then the intermediates it sent), in DER, borrowed from the TLS session (valid
 * until the response is sent). Only servers started with tls_client_ca_pem ask for one; the
 * chain is NOT verified by the server (the handshake only proved that the client holds the
 * leaf's private key). Returns DC_OK, DC_ENOTFOUND (plain HTTP, no certificate sent, `i` past
 * the chain, or a socket-less request). Thread-safe. */
int dc_http_request_peer_cert(const struct dc_http_request *req, size_t i, const uint8_t **der,
                              size_t *len) DC_MUST_CHECK;

/* Response helpers. */

/* Status 200, no headers, empty body without a size limit, memory from `arena`. */
void dc_http_response_init(struct dc_http_response *resp, struct dc_arena *arena);
/* Release the body storage (the server does this after sending). */
void dc_http_response_cleanup(struct dc_http_response *resp);
/* Append a header; `name` and `value` are copied into the arena. Headers that the server
 * computes itself (Content-Length, Transfer-Encoding, Date, Connection) are ignored when sent;
 * "Connection: close" makes the server close the connection after this response. */
void dc_http_response_header(struct dc_http_response *resp, const char *name, const char *value);
/* Replace every header named `name` (case-insensitive) with one `name: value`. */
void dc_http_response_header_set(struct dc_http_response *resp, const char *name,
                                 const char *value);
/* First response header named `name` (case-insensitive) or NULL. */
const char *dc_http_response_header_get(const struct dc_http_response *resp, const char *name);
/* Replace the body with a copy of `len` bytes at `data`, and set Content-Type when
 * `content_type` is not NULL. Returns DC_OK or DC_ETOOBIG (body limit set by the caller). */
int dc_http_response_body(struct dc_http_response *resp, const void *data, size_t len,
                          const char *content_type) DC_MUST_CHECK;
/* The reason phrase of `status` as Go's net/http.StatusText gives it ("OK", "Not Found",
 * "Request Entity Too Large"...), which upstream's servers send and its HTTP binding reports;
 * "" for a code Go does not name. Pure, any thread. */
const char *dc_http_status_text(int status);
/* Upstream's legacy JSON error: status, Content-Type application/json and
 * {"errorCode":"<code>","message":"<message>"} with both strings JSON-escaped (invalid UTF-8
 * is replaced by U+FFFD, as Go's encoder does). */
void dc_http_response_error(struct dc_http_response *resp, int status, const char *error_code,
                            const char *message);

/* Streaming responses. A handler that should not build the whole body first (a relayed
 * Server-Sent Events stream, a body larger than it may hold) sends the head at once and then
 * the body piece by piece, on its own thread, while the client reads:
 *
 *   rv = dc_http_stream_begin(req, resp, DC_HTTP_LENGTH_UNKNOWN);
 *   while (rv == DC_OK && (n = produce(piece)) > 0)
 *       rv = dc_http_stream_write(resp, piece, n);   (an error: stop producing)
 *   return;                                           (the server ends the body)
 *
 * Framing, decided by begin from `length` and the request:
 *   - length >= 0: "Content-Length: <length>"; the writes must add up to exactly that many bytes
 *     (fewer when the handler returns: the connection closes, so the client sees a short body);
 *   - DC_HTTP_LENGTH_UNKNOWN, HTTP/1.1 client: "Transfer-Encoding: chunked", one chunk per
 *     write, the last (empty) chunk sent when the handler returns;
 *   - DC_HTTP_LENGTH_UNKNOWN, HTTP/1.0 client: no length; the body ends when the connection
 *     closes after the handler returns;
 *   - HEAD requests and statuses without content (1xx, 204, 304): the head only (HEAD keeps a
 *     known Content-Length); writes succeed and send nothing.
 * Keep-alive continues after the response when the request and the framing allow it (as for
 * buffered responses, "Connection: close" from the handler, quiesce and certificate changes
 * close). Each write goes to the socket before it returns (TCP_NODELAY: at once); over TLS one
 * record per write up to 16 KiB. A write blocked longer than the server's idle_timeout_s fails.
 * The in-flight count (drain) covers the request until the body ended. */

/* `length` for a body whose size is not known when the head is sent. */
#define DC_HTTP_LENGTH_UNKNOWN (-1)

/* Send the response head: resp->status and resp->headers (filtered as for buffered responses),
 * then the framing above; a non-empty resp->body goes out as the first piece of the body (and
 * counts towards `length`). From then on the server looks at neither status, headers nor body
 * of `resp` again. Without a connection (socket-less dispatch: tests, fuzzers) nothing is sent
 * and the writes are appended to resp->body (up to its limit), so the caller gets a buffered
 * response. Returns DC_OK, DC_EINVAL (already begun, or length < -1) or DC_EIO (the client is
 * gone: stop producing; the connection closes when the handler returns). Only from the handler,
 * on its thread. */
int dc_http_stream_begin(struct dc_http_request *req, struct dc_http_response *resp,
                         int64_t length) DC_MUST_CHECK;
/* Send `len` bytes of the body (0: nothing). Returns DC_OK, DC_EINVAL (not begun, or past the
 * announced length: nothing sent, and the connection closes after the handler), DC_EIO (the
 * client is gone, or the write timed out: stop producing) or DC_ETOOBIG (socket-less, past
 * resp->body's limit). Only from the handler, on its thread. */
int dc_http_stream_write(struct dc_http_response *resp, const void *data, size_t len) DC_MUST_CHECK;
/* For a producer that blocks on something else between writes (a relayed stream waiting for
 * its source): the connection's socket while `resp` streams, to poll for POLLRDHUP (POLLHUP and
 * POLLERR come anyway), which says that the client left or that the server is stopping
 * (dc_http_server_free shuts the sockets down; a handler that waits for ever would hold it up).
 * Never read, write or close it; plain POLLIN may be a pipelined request. -1 before begin or
 * without a connection. */
int dc_http_stream_watch_fd(const struct dc_http_response *resp);
/* The body cannot be completed (its producer failed): when the handler returns the connection is
 * closed without ending the body properly (no last chunk; a Content-Length body stays short),
 * so the client sees an error instead of a body that looks whole. No-op before begin. */
void dc_http_stream_abort(struct dc_http_response *resp);

/* Server. */

struct dc_http_server_opts {
    const char *address;   /* host or IP to bind; NULL or "" = all interfaces (dual stack) */
    uint16_t port;         /* 0 = ephemeral, see dc_http_server_port */
    const char *unix_path; /* listen on this Unix socket instead of TCP (replaced if stale) */
    /* Request bodies above this many bytes set req->body_too_large; the handler still runs.
     * When Content-Length announces it, the handler runs before the body is read and the
     * connection closes after the response; otherwise the excess is read and dropped.
     * 0 = DC_DEFAULT_MAX_BODY. */
    size_t max_body;
    /* Header block limit (request line + header lines): over it the server answers 431 and
     * closes, as it does past DC_HTTP_MAX_REQUEST_HEADERS fields. 0 = DC_HTTP_DEFAULT_MAX_HEADER;
     * at most DC_HTTP_MAX_HEADER_CAP. Malformed requests get 400 and the connection closes. */
    size_t max_header;
    /* A hint only, kept for callers: every server runs one thread per connection (plus an
     * accept thread), so handlers may block freely whatever the value. */
    unsigned threads;
    /* Close connections idle this long (no byte received), and those whose header block is
     * not complete this long after its first byte (slowloris); 0 = never. */
    unsigned idle_timeout_s;
    /* HTTPS (OpenSSL, TLS 1.2 minimum): the PEM certificate chain (leaf first, then any
     * intermediates) and the PEM private key (RSA or EC, unencrypted), NUL-terminated, copied.
     * Both NULL (or "") = plain HTTP; one without the other is DC_EINVAL. No client certificates
     * are requested. Replace them later with dc_http_server_set_tls. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
    /* Mutual TLS (with the two above): PEM CA certificates; when set, the server asks every
     * client for a certificate (a CertificateRequest with these CAs' names as hints).
     * The server does NOT verify it and does not refuse connections without one: handlers read
     * it with dc_http_request_peer_cert and decide (daprd checks the chain against its trust
     * anchors, which may change without a restart). Copied; kept across dc_http_server_set_tls.
     * The handshake runs on the connection's thread, under idle_timeout_s. */
    const char *tls_client_ca_pem;
};

struct dc_http_server;

/* Bind, listen and start serving `r` (borrowed; must outlive the server) on internal
 * threads. On success `*out` is owned by the caller (dc_http_server_free).
 * Returns DC_OK, DC_EINVAL (bad options, unresolvable address, path too long), DC_EEXIST
 * (address already in use; the message names address and port), DC_EPERM (bind refused),
 * DC_ETLS (TLS asked for but the PEM does not parse or the key does not match the
 * certificate; the message says which) or DC_EIO. SIGPIPE: the server never raises it
 * (MSG_NOSIGNAL, TLS included).
 * Wire rules: HTTP/1.0 and 1.1 (the response uses the request's version); keep-alive unless
 * the request or the handler says "Connection: close" (1.0: only with "keep-alive");
 * pipelined requests are answered in order; "Expect: 100-continue" gets its interim response
 * before the body is read; HEAD answers carry Content-Length but no body; request trailers are
 * read and dropped. */
int dc_http_server_start(struct dc_http_server **out, const struct dc_http_server_opts *o,
                         const struct dc_http_router *r, struct dc_errbuf *eb) DC_MUST_CHECK;
/* Replace the certificate chain and key of a TLS server (e.g. after the files were rotated):
 * new connections get the new certificate at once; the listening socket stays open throughout,
 * so no connection is refused. Connections accepted before the change keep the old certificate
 * until they close; their next response carries "Connection: close", so clients move on to the
 * new one (none is cut in the middle of a request).
 * `cert_pem` and `key_pem` are copied. Returns DC_OK, DC_ETLS (unusable PEM or mismatched key:
 * the server keeps its current certificate), DC_EINVAL (not a TLS server, or quiesced) or
 * DC_EIO. Thread-safe (calls are serialised); not from a handler of this server. */
int dc_http_server_set_tls(struct dc_http_server *s, const char *cert_pem, const char *key_pem,
                           struct dc_errbuf *eb) DC_MUST_CHECK;
/* Check that `cert_pem` holds at least one certificate and `key_pem` the matching private key
 * (OpenSSL, no I/O). Returns DC_OK or DC_ETLS with the reason. The server runs it before it
 * builds a TLS context (start, set_tls), so its messages are the ones callers see; a plain-HTTP
 * server never calls it (libcrypto costs ~2.4 MB of resident pages once used). Pure; any
 * thread. */
int dc_http_tls_check(const char *cert_pem, const char *key_pem,
                      struct dc_errbuf *eb) DC_MUST_CHECK;
/* The bound TCP port (the ephemeral one when opts.port was 0); 0 for a Unix socket. */
uint16_t dc_http_server_port(const struct dc_http_server *s);
/* Stop accepting new connections and mark responses "Connection: close". Requests already
 * received keep being served. Idempotent. Thread-safe. */
void dc_http_server_quiesce(struct dc_http_server *s);
/* Wait until no request is in flight (received but its response not yet sent) or
 * `timeout_ms` passed (< 0 = forever). Returns DC_OK or DC_ETIMEDOUT. Thread-safe; call
 * after dc_http_server_quiesce for a graceful stop. */
int dc_http_server_drain(struct dc_http_server *s, int64_t timeout_ms);
/* Requests in flight right now (for tests and metrics). */
unsigned dc_http_server_inflight(const struct dc_http_server *s);
/* Stop the server: close the listener and every connection (idle ones at once), wait for
 * running handlers (their responses are not sent), free. NULL is a no-op. Must not be called
 * from a handler. */
void dc_http_server_free(struct dc_http_server *s);

#endif /* DC_HTTP_SERVER_H */
