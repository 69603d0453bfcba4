/* HTTP/1.1 server on libmicrohttpd (contracts in dc/http_server.h).
 *
 * One request goes through MHD like this:
 *   uri_cb       request line parsed: allocate the request context (arena, raw target)
 *   on_request   1st call: headers known; enforce max_header (431) and an announced
 *                over-limit body (handler runs at once)
 *                next calls: body chunks, appended to a dc_buf bounded by max_body
 *                last call: dispatch through the router, queue the response
 *   completed_cb response sent or connection gone: free the context
 * The raw target comes from MHD's URI log callback, which sees it before MHD unescapes the
 * path and splits the query (the router needs the still-encoded path, sidecar-api.md §1.2).
 * We create the listen socket ourselves so bind errors are precise and Unix sockets work.
 *
 * TLS: MHD's GnuTLS support with the PEM in memory. MHD 0.9.75 cannot swap the certificate of a
 * running daemon without MHD_OPTION_HTTPS_CERT_CALLBACK, which would make libdc call GnuTLS
 * directly (link it, and manage the lifetime of certificates that handshakes still use). So a
 * certificate change starts a second daemon on a dup() of the listening socket with the new
 * PEM, then quiesces the old one (it stops accepting; its connections carry on) and keeps it as
 * "retired" until the next change or dc_http_server_free. The socket is never closed, so no
 * client sees a refused connection. */
#include "dc/http_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"

/* MHD's per-connection pool holds the read buffer (half of the pool at first, grown while a
 * header block is incomplete), the parsed header entries and the response header block, so it
 * needs room beyond the header limit. MHD zeroes the whole pool after every request
 * (MHD_pool_reset), so its size is paid per request: B1 measured 32 KiB + 16 KiB of memset per
 * call on a 32 KiB pool. */
#define POOL_MIN (16u * 1024)

struct dc_http_server {
    struct MHD_Daemon *d;
    const struct dc_http_router *router;
    size_t max_body;
    size_t max_header;
    uint16_t port;
    unsigned threads;
    unsigned idle_timeout_s;
    char *unix_path; /* unlinked at free */
    /* TLS: the PEM of the running daemon (MHD reads it at start; kept for the daemon's life),
     * and the daemon replaced by the last dc_http_server_set_tls with its PEM. */
    bool tls;
    char *cert, *key;
    struct MHD_Daemon *retired;
    char *retired_cert, *retired_key;
    char *client_ca;        /* mutual TLS: MHD_OPTION_HTTPS_MEM_TRUST of every daemon */
    atomic_uint tls_gen;    /* daemons started so far - 1; each connection records its own */
    pthread_mutex_t tls_mu; /* serialises dc_http_server_set_tls; taken before mu */
    atomic_bool quiesced;
    pthread_mutex_t mu; /* guards inflight, listen_closed and log */
    pthread_cond_t idle;
    unsigned inflight;
    bool listen_closed;
    char log[DC_ERRBUF_LEN]; /* MHD's last message, for start errors */
};

struct req_ctx {
    struct dc_http_server *s;
    struct dc_arena arena;
    struct dc_http_request req;
    struct dc_buf body;
    bool started;
    bool responded;
    bool retired; /* arrived on a daemon replaced by dc_http_server_set_tls */
};

static void log_cb(void *cls, const char *fmt, va_list ap) DC_PRINTF(2, 0);

static void log_cb(void *cls, const char *fmt, va_list ap)
{
    struct dc_http_server *s = cls;
    size_t n;

    /* common/ does not log: keep the last message for dc_http_server_start's errbuf. */
    pthread_mutex_lock(&s->mu);
    vsnprintf(s->log, sizeof(s->log), fmt, ap);
    n = strlen(s->log);
    while (n > 0 && (s->log[n - 1] == '\n' || s->log[n - 1] == '\r'))
        s->log[--n] = '\0';
    pthread_mutex_unlock(&s->mu);
}

static size_t unescape_noop(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* Each connection records the generation of the daemon that accepted it (the daemon's
 * closure is the generation number itself). */
static void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    (void)conn;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        *socket_context = cls;
}

/* True when `conn` belongs to a daemon that dc_http_server_set_tls replaced: its responses
 * close the connection, so clients move to the new certificate before the next change stops
 * that daemon (which would cut requests in flight). */
static bool on_retired_daemon(struct dc_http_server *s, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    uintptr_t gen = ci != NULL ? (uintptr_t)ci->socket_context : 0;

    return gen != atomic_load(&s->tls_gen);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct dc_http_server *s = cls;
    struct req_ctx *c = dc_xcalloc(1, sizeof(*c));
    const char *q = strchr(uri, '?');

    c->s = s;
    dc_buf_init(&c->body, s->max_body);
    c->req.arena = &c->arena;
    if (q != NULL) {
        c->req.path = dc_arena_strndup(&c->arena, uri, (size_t)(q - uri));
        c->req.query = dc_arena_strdup(&c->arena, q + 1);
    } else {
        c->req.path = dc_arena_strdup(&c->arena, uri);
        c->req.query = "";
    }
    c->req.conn_ = conn;
    pthread_mutex_lock(&s->mu);
    s->inflight++;
    pthread_mutex_unlock(&s->mu);
    if (s->tls)
        c->retired = on_retired_daemon(s, conn);
    return c;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct dc_http_server *s = cls;
    struct req_ctx *c = *con_cls;

    (void)conn;
    (void)toe;
    if (c == NULL)
        return;
    *con_cls = NULL;
    dc_arena_cleanup(&c->arena);
    dc_buf_cleanup(&c->body);
    free(c);
    pthread_mutex_lock(&s->mu);
    if (--s->inflight == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

struct header_walk {
    struct dc_http_header *h;
    size_t n, cap;
    size_t bytes;
};

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    struct header_walk *w = cls;

    (void)kind;
    if (w->n < w->cap) {
        w->h[w->n].name = key;
        w->h[w->n].value = value != NULL ? value : "";
        w->n++;
    }
    w->bytes += key_size + value_size + 4; /* ": " and CRLF */
    return MHD_YES;
}

/* Headers whose wire form MHD owns, or that would let a handler split the response. */
static bool header_sendable(const struct dc_http_header *h, bool no_body)
{
    if (strpbrk(h->name, "\r\n:") != NULL || strpbrk(h->value, "\r\n") != NULL ||
        h->name[0] == '\0')
        return false;
    if (dc_str_eq_ci(h->name, "Content-Length") || dc_str_eq_ci(h->name, "Transfer-Encoding") ||
        dc_str_eq_ci(h->name, "Date"))
        return false;
    if (dc_str_eq_ci(h->name, "Connection"))
        return dc_str_eq_ci(h->value, "close");
    if (no_body && dc_str_eq_ci(h->name, "Content-Type"))
        return false;
    return true;
}

static enum MHD_Result send_response(struct req_ctx *c, struct MHD_Connection *conn,
                                     struct dc_http_response *resp)
{
    struct MHD_Response *r;
    int status = resp->status;
    bool no_body;
    enum MHD_Result ret;
    size_t i;

    if (status < 100 || status > 999)
        status = 500;
    /* RFC 9110 §15.3.5 / §15.4.5: no content for 1xx, 204 and 304. */
    no_body = status < 200 || status == 204 || status == 304;
    if (no_body || resp->body.len == 0) {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        dc_http_response_cleanup(resp);
    } else {
        size_t len = resp->body.len;
        char *data = dc_buf_take(&resp->body, &len);

        r = MHD_create_response_from_buffer_with_free_callback(len, data, free);
        if (r == NULL)
            free(data);
    }
    if (r == NULL)
        return MHD_NO;
    for (i = 0; i < resp->n_headers; i++) {
        if (header_sendable(&resp->headers[i], no_body))
            (void)MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    }
    if (atomic_load(&c->s->quiesced) || c->retired)
        (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    c->responded = true;
    ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result dispatch(struct req_ctx *c, struct MHD_Connection *conn)
{
    struct dc_http_response resp;
    enum MHD_Result ret;

    c->req.body = c->body.len > 0 ? c->body.data : "";
    c->req.body_len = c->body.len;
    dc_http_response_init(&resp, &c->arena);
    (void)dc_http_router_dispatch(c->s->router, &c->req, &resp);
    ret = send_response(c, conn, &resp);
    dc_http_response_cleanup(&resp);
    return ret;
}

static enum MHD_Result reply_text(struct req_ctx *c, struct MHD_Connection *conn, int status,
                                  const char *text)
{
    struct dc_http_response resp;
    enum MHD_Result ret;

    dc_http_response_init(&resp, &c->arena);
    resp.status = status;
    if (dc_http_response_body(&resp, text, strlen(text), "text/plain; charset=utf-8") != DC_OK)
        return MHD_NO;
    dc_http_response_header(&resp, "Connection", "close");
    ret = send_response(c, conn, &resp);
    dc_http_response_cleanup(&resp);
    return ret;
}

/* First call: the header block is complete. */
static enum MHD_Result on_headers(struct req_ctx *c, struct MHD_Connection *conn,
                                  const char *method, const char *version)
{
    struct header_walk w = {0};
    int count = MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL);
    const char *cl;
    int64_t len;

    c->started = true;
    c->req.method = method;
    w.cap = count > 0 ? (size_t)count : 0;
    w.h = w.cap > 0 ? dc_arena_alloc(&c->arena, w.cap * sizeof(*w.h)) : NULL;
    w.bytes = strlen(method) + strlen(c->req.path) + strlen(c->req.query) + strlen(version) + 6;
    (void)MHD_get_connection_values_n(conn, MHD_HEADER_KIND, header_cb, &w);
    c->req.headers = w.h;
    c->req.n_headers = w.n;
    if (w.bytes > c->s->max_header)
        return reply_text(c, conn, 431, "431 Request Header Fields Too Large");

    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && dc_str_to_i64(cl, 0, INT64_MAX, &len) == DC_OK) {
        if ((uint64_t)len > c->s->max_body) {
            /* Answer now without reading the body: MHD discards it and closes afterwards,
             * like Go's server after a MaxBytesReader error. */
            c->req.body_too_large = true;
            return dispatch(c, conn);
        }
        if (len > 0 && dc_buf_reserve(&c->body, (size_t)len) != DC_OK)
            c->req.body_too_large = true;
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct req_ctx *c = *con_cls;

    if (c == NULL) {
        /* MHD always calls uri_cb first; keep going if a future version does not. */
        c = uri_cb(cls, url, conn);
        *con_cls = c;
    }
    if (!c->started)
        return on_headers(c, conn, method, version);
    if (*upload_data_size > 0) {
        /* Past the limit, keep reading but drop the bytes; the prefix stays. */
        if (!c->req.body_too_large &&
            dc_buf_append(&c->body, upload_data, *upload_data_size) != DC_OK)
            c->req.body_too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->responded)
        return MHD_YES;
    return dispatch(c, conn);
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

/* TLS material check with OpenSSL, used only to explain a refusal: GnuTLS (inside MHD) validates
 * the PEM and the key match itself but reports only "Failed to initialize TLS support", and
 * running OpenSSL's PEM and X509 code on every start would make libcrypto resident (~2.4 MB). */
int dc_http_tls_check(const char *cert_pem, const char *key_pem, struct dc_errbuf *eb)
{
    BIO *b = NULL;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    int rv = DC_ETLS;

    if (dc_str_empty(cert_pem) || dc_str_empty(key_pem))
        return dc_err_set(eb, DC_ETLS, "tls: certificate and key are both required");
    b = BIO_new_mem_buf(cert_pem, -1);
    if (b == NULL || (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
        dc_err_set(eb, DC_ETLS, "tls: no PEM certificate in the certificate data");
        goto cleanup;
    }
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, -1);
    if (b == NULL || (k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
        dc_err_set(eb, DC_ETLS, "tls: no unencrypted PEM private key in the key data");
        goto cleanup;
    }
    if (X509_check_private_key(x, k) != 1) {
        dc_err_set(eb, DC_ETLS, "tls: the private key does not match the certificate");
        goto cleanup;
    }
    rv = DC_OK;
cleanup:
    ERR_clear_error();
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(b);
    return rv;
}

static struct MHD_Daemon *start_mhd(struct dc_http_server *s, int fd, char *cert, char *key,
                                    unsigned gen)
{
    unsigned int flags = MHD_USE_ITC | MHD_USE_ERROR_LOG;
    size_t pool = s->max_header + s->max_header / 2 + 8192;
    unsigned int timeout = s->idle_timeout_s;
    /* Passed through MHD_OPTION_ARRAY so that one call shape serves both protocols. */
    struct MHD_OptionItem tls[4] = {{MHD_OPTION_END, 0, NULL}};

    if (pool < POOL_MIN)
        pool = POOL_MIN;
    if (s->threads == 0)
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
    else
        flags |= MHD_USE_EPOLL_INTERNAL_THREAD;
    if (cert != NULL) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
        tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
        if (s->client_ca != NULL)
            tls[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, s->client_ca};
    }
#define COMMON_OPTS                                                                                \
    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, s,                          \
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s, MHD_OPTION_EXTERNAL_LOGGER, log_cb, s,       \
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_noop, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,     \
        pool, MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_NOTIFY_CONNECTION, conn_notify,   \
        (void *)(uintptr_t)gen, MHD_OPTION_ARRAY, tls
    if (s->threads > 1)
        return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, COMMON_OPTS,
                                MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->threads,
                                MHD_OPTION_END);
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, COMMON_OPTS, MHD_OPTION_END);
#undef COMMON_OPTS
}

int dc_http_server_start(struct dc_http_server **out, const struct dc_http_server_opts *o,
                         const struct dc_http_router *r, struct dc_errbuf *eb)
{
    struct dc_http_server *s;
    pthread_condattr_t ca;
    int fd = -1, rv;

    if (out == NULL || o == NULL || r == NULL)
        return dc_err_set(eb, DC_EINVAL, "http server: missing argument");
    s = dc_xcalloc(1, sizeof(*s));
    s->router = r;
    s->max_body = o->max_body != 0 ? o->max_body : DC_DEFAULT_MAX_BODY;
    s->max_header = o->max_header != 0 ? o->max_header : DC_HTTP_DEFAULT_MAX_HEADER;
    s->threads = o->threads;
    s->idle_timeout_s = o->idle_timeout_s;
    atomic_init(&s->quiesced, false);
    atomic_init(&s->tls_gen, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->tls_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->idle, &ca);
    pthread_condattr_destroy(&ca);

    if (!dc_str_empty(o->tls_cert_pem) || !dc_str_empty(o->tls_key_pem)) {
        if (dc_str_empty(o->tls_cert_pem) || dc_str_empty(o->tls_key_pem)) {
            rv = dc_err_set(eb, DC_EINVAL, "http server: TLS needs both a certificate and a key");
            goto err;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            rv = dc_err_set(eb, DC_ETLS, "http server: libmicrohttpd was built without TLS");
            goto err;
        }
        s->tls = true;
        s->cert = dc_xstrdup(o->tls_cert_pem);
        s->key = dc_xstrdup(o->tls_key_pem);
        if (!dc_str_empty(o->tls_client_ca_pem))
            s->client_ca = dc_xstrdup(o->tls_client_ca_pem);
    }
    if (!dc_str_empty(o->unix_path)) {
        rv = listen_unix(o->unix_path, &fd, eb);
        if (rv == DC_OK)
            s->unix_path = dc_xstrdup(o->unix_path);
    } else {
        rv = listen_tcp(o->address, o->port, &fd, &s->port, eb);
    }
    if (rv != DC_OK)
        goto err;
    s->d = start_mhd(s, fd, s->cert, s->key, 0);
    if (s->d == NULL) {
        close(fd);
        if (s->tls && dc_http_tls_check(s->cert, s->key, eb) != DC_OK) {
            rv = DC_ETLS; /* the PEM is the reason; eb says which part */
            goto err;
        }
        rv = dc_err_set(eb, s->tls ? DC_ETLS : DC_EIO,
                        "http server: libmicrohttpd failed to start%s%s",
                        s->log[0] != '\0' ? ": " : "", s->log);
        goto err;
    }
    *out = s;
    return DC_OK;

err:
    dc_http_server_free(s);
    return rv;
}

static void free_pem(char *p)
{
    if (p != NULL) {
        /* The key must not linger in freed memory. */
        memset(p, 0, strlen(p));
        free(p);
    }
}

int dc_http_server_set_tls(struct dc_http_server *s, const char *cert_pem, const char *key_pem,
                           struct dc_errbuf *eb)
{
    struct MHD_Daemon *nd = NULL, *old = NULL, *stale = NULL;
    const union MHD_DaemonInfo *info;
    char *cert = NULL, *key = NULL, *stale_cert = NULL, *stale_key = NULL;
    MHD_socket lfd;
    int fd = -1, rv;

    if (s == NULL || !s->tls)
        return dc_err_set(eb, DC_EINVAL, "http server: not serving TLS");
    if (dc_str_empty(cert_pem) || dc_str_empty(key_pem))
        return dc_err_set(eb, DC_ETLS, "tls: certificate and key are both required");
    pthread_mutex_lock(&s->tls_mu);
    if (atomic_load(&s->quiesced)) {
        rv = dc_err_set(eb, DC_EINVAL, "http server: quiesced");
        goto cleanup;
    }
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_LISTEN_FD);
    if (info == NULL || (fd = dup(info->listen_fd)) < 0) {
        rv = dc_err_set(eb, DC_EIO, "http server: cannot duplicate the listening socket");
        goto cleanup;
    }
    cert = dc_xstrdup(cert_pem);
    key = dc_xstrdup(key_pem);
    nd = start_mhd(s, fd, cert, key, atomic_load(&s->tls_gen) + 1);
    if (nd == NULL) {
        close(fd);
        rv = DC_ETLS;
        if (dc_http_tls_check(cert, key, eb) == DC_OK) {
            pthread_mutex_lock(&s->mu);
            dc_err_set(eb, DC_ETLS, "http server: new certificate refused%s%s",
                       s->log[0] != '\0' ? ": " : "", s->log);
            pthread_mutex_unlock(&s->mu);
        }
        goto cleanup;
    }
    /* Swap: from here on s->d is the new daemon. A quiesce that ran meanwhile closed the old
     * listener only; close the new one too. */
    pthread_mutex_lock(&s->mu);
    old = s->d;
    s->d = nd;
    atomic_fetch_add(&s->tls_gen, 1);
    if (s->listen_closed) {
        lfd = MHD_quiesce_daemon(nd);
        if (lfd != MHD_INVALID_SOCKET)
            close(lfd);
    }
    pthread_mutex_unlock(&s->mu);
    lfd = MHD_quiesce_daemon(old);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    stale = s->retired;
    stale_cert = s->retired_cert;
    stale_key = s->retired_key;
    s->retired = old;
    s->retired_cert = s->cert;
    s->retired_key = s->key;
    s->cert = cert;
    s->key = key;
    cert = key = NULL;
    rv = DC_OK;
cleanup:
    pthread_mutex_unlock(&s->tls_mu);
    /* Outside the locks: stopping waits for handlers, whose completion takes s->mu. */
    if (stale != NULL)
        MHD_stop_daemon(stale);
    free_pem(stale_cert);
    free_pem(stale_key);
    free_pem(cert);
    free_pem(key);
    return rv;
}

uint16_t dc_http_server_port(const struct dc_http_server *s)
{
    return s->port;
}

void dc_http_server_quiesce(struct dc_http_server *s)
{
    MHD_socket fd;

    pthread_mutex_lock(&s->mu);
    atomic_store(&s->quiesced, true);
    if (!s->listen_closed && s->d != NULL) {
        s->listen_closed = true;
        fd = MHD_quiesce_daemon(s->d);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    pthread_mutex_unlock(&s->mu);
}

int dc_http_server_drain(struct dc_http_server *s, int64_t timeout_ms)
{
    struct timespec deadline;
    int rv = DC_OK;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += (time_t)(timeout_ms / 1000);
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&s->mu);
    while (s->inflight > 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&s->idle, &s->mu);
        } else if (pthread_cond_timedwait(&s->idle, &s->mu, &deadline) == ETIMEDOUT) {
            rv = s->inflight > 0 ? DC_ETIMEDOUT : DC_OK;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rv;
}

unsigned dc_http_server_inflight(const struct dc_http_server *s)
{
    struct dc_http_server *m = (struct dc_http_server *)s; /* the lock only */
    unsigned n;

    pthread_mutex_lock(&m->mu);
    n = m->inflight;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void dc_http_server_free(struct dc_http_server *s)
{
    if (s == NULL)
        return;
    if (s->d != NULL)
        MHD_stop_daemon(s->d);
    if (s->retired != NULL)
        MHD_stop_daemon(s->retired);
    free_pem(s->cert);
    free_pem(s->key);
    free_pem(s->retired_cert);
    free_pem(s->retired_key);
    free(s->client_ca);
    if (s->unix_path != NULL) {
        (void)unlink(s->unix_path);
        free(s->unix_path);
    }
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->tls_mu);
    free(s);
}
