#ifndef DC_HTTP_CLIENT_H
#define DC_HTTP_CLIENT_H

/* HTTP client for the sidecar->app channel, sidecar-to-sidecar calls, HTTPEndpoint targets and
 * the control plane. http:// and https:// with the call's own CAs (tls_ca_pem, OpenSSL) use a
 * built-in HTTP/1.1 client with a pool of keep-alive connections; other URLs use libcurl.
 *
 * One dc_http_client is shared by every thread: calls borrow a curl easy handle from a
 * mutex-guarded pool, and all handles share one connection cache and DNS cache (CURLSH), so
 * keep-alive connections are reused across threads. Redirects are not followed, responses are
 * not decoded (no Accept-Encoding), proxies from the environment are ignored, and curl adds no
 * headers of its own (no Accept, no Expect: 100-continue, no default Content-Type). Signals
 * are never used (CURLOPT_NOSIGNAL), and SIGPIPE is not raised (MSG_NOSIGNAL). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/arena.h"
#include "dc/buf.h"
#include "dc/err.h"
#include "dc/http_server.h" /* struct dc_http_header */

struct dc_http_client_opts {
    int64_t connect_timeout_ms; /* 0 = 10 s */
    int64_t timeout_ms;         /* whole call; 0 = none (a call may set its own) */
    size_t max_response;        /* buffered response bodies; 0 = DC_DEFAULT_MAX_BODY */
    unsigned max_idle_conns;    /* keep-alive connections kept in the cache; 0 = 64 */
    /* https:// without certificate or host name verification (daprd's --app-protocol https
     * talks to the app this way, as upstream does). Off by default. */
    bool insecure_skip_verify;
};

struct dc_http_client;

/* Create a client; `o` may be NULL for defaults. On success `*out` is owned by the caller.
 * Returns DC_OK. Thread-safe. libcurl is loaded (dc/dl.h) and initialised on the first call
 * that needs it (an https:// URL without its own CAs), not here: a process that only makes
 * plain HTTP or mTLS calls never maps it; that first call returns DC_ENOTFOUND if
 * libcurl.so.4 is missing, DC_EIO if it cannot initialise. */
int dc_http_client_new(struct dc_http_client **out, const struct dc_http_client_opts *o,
                       struct dc_errbuf *eb) DC_MUST_CHECK;
/* Close every connection and free. NULL is a no-op. No call may be running. */
void dc_http_client_free(struct dc_http_client *c);

struct dc_http_result;

/* Streaming body sink: return 0 to continue, non-zero to abort the call (dc_http_client_do
 * then returns that value when it is a negative DC_E* code, else DC_ECANCELED). */
typedef int dc_http_body_fn(const void *data, size_t len, void *ud);
/* Called once, when status and headers of the final response are known, before any byte of
 * its body is read (libcurl: before the first body byte is delivered, or at the end when there
 * is none). Return non-zero to abort, as above. */
typedef int dc_http_head_fn(const struct dc_http_result *res, void *ud);

struct dc_http_call {
    const char *method;         /* NULL = "GET" */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* NULL-terminated "Name: value" list, may be NULL */
    const void *body;           /* sent when body_len > 0, or always for POST/PUT/PATCH */
    size_t body_len;
    int64_t timeout_ms;       /* 0 = the client's default */
    dc_http_head_fn *on_head; /* optional */
    dc_http_body_fn *on_body; /* optional: when set the body is streamed, not buffered */
    void *ud;                 /* for on_head and on_body */
    const char *unix_socket;  /* optional: connect to this Unix socket (URL host unused) */
    /* TLS of https:// calls (daprd's mutual TLS between sidecars); all optional, borrowed for
     * the call:
     *  - tls_cert_pem / tls_key_pem: the chain (leaf first) and key presented to the server;
     *  - tls_ca_pem: the only CAs the server's chain may verify to (instead of the system
     *    bundle); host name verification is then off: check the peer's identity in tls_ctx_fn;
     *  - tls_ctx_fn: run with each new connection's OpenSSL SSL_CTX (as void *, one per
     *    connection, SSL_VERIFY_PEER already set) and tls_ud before its handshake (e.g. to
     *    install a verify callback); non-zero refuses the connection (DC_ETLS). Only with
     *    tls_ca_pem and without insecure_skip_verify (DC_EINVAL otherwise): libcurl's
     *    contexts belong to the shared OpenSSL it loads, not to the one linked into the
     *    binaries.
     * With tls_ca_pem (and without insecure_skip_verify) the call takes the built-in client:
     * TLS 1.2 or 1.3, ALPN http/1.1, SNI unless the host is an IP address.
     * A keep-alive connection is reused only by calls with the same certificate, key, CA bytes
     * and tls_ctx_fn, so a rotated certificate or new anchors take effect on new connections
     * (idle connections opened with other material are closed when such a call comes). */
    const char *tls_cert_pem;
    const char *tls_key_pem;
    const char *tls_ca_pem;
    int (*tls_ctx_fn)(void *ssl_ctx, void *ud);
    void *tls_ud;
    /* Optional (built-in client only): while the body is read, whenever `*watch_fd` is >= 0
     * (it may change from on_head on, e.g. to dc_http_stream_watch_fd of the response being
     * relayed), a read that would block also polls that descriptor and fails the call with
     * DC_ECANCELED as soon as it reports POLLRDHUP, POLLHUP or POLLERR: a relay blocked on an
     * idle source then notices that its own reader left or its server is stopping. */
    const int *watch_fd;
};

/* The response. All-zero before the call; release with dc_http_result_cleanup. */
struct dc_http_result {
    long status;
    struct dc_buf body;             /* empty when on_body was set */
    struct dc_http_header *headers; /* final response's headers in order, values trimmed */
    size_t n_headers;
    long num_connects; /* new connections this call opened (0 = reused keep-alive) */
    /* The final response's Content-Length, known from on_head on; -1 when it has none (a body
     * in chunks or delimited by the close) or a chunked Transfer-Encoding overrides it. */
    int64_t content_length;
    /* Private: */
    struct dc_arena arena_;
    size_t cap_headers_;
};

/* Perform one request and wait for the whole response.
 * `call` and its strings are borrowed for the call. `res` must be all-zero or cleaned up; it
 * is filled even on error as far as the response got.
 * Returns DC_OK for any HTTP status; DC_ETIMEDOUT; DC_EUNAVAIL (connection refused, host not
 * resolved); DC_ETOOBIG (buffered body over max_response); DC_EINVAL (bad URL or method);
 * DC_ETLS; DC_ECANCELED or the callback's code (a callback aborted); DC_EIO otherwise.
 * Thread-safe: any number of threads may call concurrently on one client. Blocks. */
int dc_http_client_do(struct dc_http_client *c, const struct dc_http_call *call,
                      struct dc_http_result *res, struct dc_errbuf *eb) DC_MUST_CHECK;

/* First response header named `name` (ASCII case-insensitive) or NULL. */
const char *dc_http_result_header(const struct dc_http_result *res, const char *name);
/* Release everything `res` holds; it is all-zero afterwards. */
void dc_http_result_cleanup(struct dc_http_result *res);

#endif /* DC_HTTP_CLIENT_H */
