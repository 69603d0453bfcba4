/* HTTP client (contracts in dc/http_client.h).
 *
 * Plain http:// calls (over TCP or a Unix socket) use a small built-in HTTP/1.1 client: one
 * pooled keep-alive connection per call, the request head and body in one sendmsg, the response
 * parsed in a per-connection buffer. Measured on the invocation benchmark (B1), libcurl's easy
 * interface cost ~25 us of CPU per call (reset + options, connection cache under the share lock,
 * its 16 KB buffers allocated per transfer, poll before every read), more than the rest of
 * the sidecar; the built-in path costs a few us over the syscalls themselves.
 *
 * https:// calls that bring their own CAs (tls_ca_pem: the sidecars' mutual TLS) take the same
 * built-in client with an OpenSSL session per pooled connection (one SSL_CTX per connection
 * from the call's certificate, key and CAs; reused only by calls with the same bytes). Through
 * libcurl they cost ~0.1 ms more per call than plain HTTP on the two-sidecar benchmark.
 *
 * Other https:// (and any URL the built-in parser does not accept) go through libcurl: easy handles
 * are pooled and reset before each call; the connection and DNS caches live in a CURLSH shared
 * by all handles, guarded by one mutex per shared data kind, so a connection opened by one
 * thread is reused by the next call on any thread. libcurl and the share are set up on the first
 * such call (curl_ready): libcurl.so.4 itself is loaded then (curl_api.h, dc/dl.h), so a process
 * that never makes such a call neither maps libcurl and its dependencies nor runs
 * curl_global_init (OpenSSL, libssh2, GSS-API: ~4 MB of library pages). */
/* POLLRDHUP. */
#define _GNU_SOURCE
#include "dc/http_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "curl_api.h"
#include "tls_sockbio.h"

#define POOL_MAX 64
/* Built-in client: initial read buffer of a connection, bound of a response head (status line,
 * headers, a chunk-size line), length of a pool key. */
#define FAST_BUF 16384
#define FAST_MAX_HEAD (256u * 1024)
#define FAST_KEY 400
#define FAST_MAX_INTERIM 5 /* 1xx responses before the final one (net/http's bound) */
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_IDLE 64

/* One keep-alive connection; idle ones wait in the client's list. `buf` is the read buffer
 * (and the request head while sending); it lives as long as the connection. */
struct fconn {
    struct fconn *next;
    int fd;           /* blocking; SO_RCVTIMEO/SO_SNDTIMEO carry the call's deadline */
    int64_t timeo_us; /* what the socket timeouts are set to (0 = none) */
    char *buf;
    size_t cap;
    /* https: the TLS session over fd (NULL: plain), the TLS material of the call that opened
     * it (copies; a call with other bytes never reuses the connection), and what the socket
     * BIO saw on its last read or write (errno, or end of stream). */
    SSL *ssl;
    char *tls_cert;
    char *tls_key;
    char *tls_ca;
    int (*tls_fn)(void *ssl_ctx, void *ud);
    struct dc__sockbio sb; /* TLS only: sb.fd = fd */
    char key[];            /* "tcp host port" or "unix path" */
};

struct dc_http_client {
    struct dc_http_client_opts o;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    pthread_mutex_t mu; /* guards idle and conns */
    CURL *idle[POOL_MAX];
    size_t n_idle;
    struct fconn *conns; /* built-in client: idle keep-alive connections, most recent first */
    unsigned n_conns;
};

struct call_state {
    const struct dc_http_call *call;
    struct dc_http_result *res;
    CURL *h;
    bool too_big;
    bool head_done;
    int cb_rv;
};

static void fconn_close(struct fconn *fc);

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    struct dc_http_client *c = ud;

    (void)h;
    (void)access;
    pthread_mutex_lock(&c->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    struct dc_http_client *c = ud;

    (void)h;
    pthread_mutex_unlock(&c->share_mu[data]);
}

/* Load and initialise libcurl once per process (dc__curl_load) and set up this client's share
 * once; DC_OK, DC_ENOTFOUND (no libcurl.so.4) or DC_EIO. */
static int curl_ready(struct dc_http_client *c, struct dc_errbuf *eb)
{
    CURLSH *sh;
    int rv;

    rv = dc__curl_load(eb);
    if (rv != DC_OK)
        return rv;
    pthread_mutex_lock(&c->mu);
    if (c->share != NULL)
        goto out;
    sh = curl_share_init();
    if (sh == NULL || curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        if (sh != NULL)
            curl_share_cleanup(sh);
        rv = dc_err_set(eb, DC_EIO, "curl share setup failed");
        goto out;
    }
    c->share = sh;
out:
    pthread_mutex_unlock(&c->mu);
    return rv;
}

int dc_http_client_new(struct dc_http_client **out, const struct dc_http_client_opts *o,
                       struct dc_errbuf *eb)
{
    struct dc_http_client *c;
    size_t i;

    (void)eb;
    c = dc_xcalloc(1, sizeof(*c));
    if (o != NULL)
        c->o = *o;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (c->o.max_response == 0)
        c->o.max_response = DC_DEFAULT_MAX_BODY;
    if (c->o.max_idle_conns == 0)
        c->o.max_idle_conns = DEFAULT_MAX_IDLE;
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_mu[i], NULL);
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return DC_OK;
}

void dc_http_client_free(struct dc_http_client *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->n_idle; i++)
        curl_easy_cleanup(c->idle[i]);
    while (c->conns != NULL) {
        struct fconn *fc = c->conns;

        c->conns = fc->next;
        fconn_close(fc);
    }
    if (c->share != NULL)
        curl_share_cleanup(c->share);
    pthread_mutex_destroy(&c->mu);
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_mu[i]);
    free(c);
}

static CURL *handle_get(struct dc_http_client *c)
{
    CURL *h = NULL;

    pthread_mutex_lock(&c->mu);
    if (c->n_idle > 0)
        h = c->idle[--c->n_idle];
    pthread_mutex_unlock(&c->mu);
    if (h != NULL) {
        curl_easy_reset(h); /* keeps the share and the live connections */
        return h;
    }
    h = curl_easy_init();
    if (h != NULL && curl_easy_setopt(h, CURLOPT_SHARE, c->share) != CURLE_OK) {
        curl_easy_cleanup(h);
        h = NULL;
    }
    return h;
}

static void handle_put(struct dc_http_client *c, CURL *h)
{
    pthread_mutex_lock(&c->mu);
    if (c->n_idle < POOL_MAX) {
        c->idle[c->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (h != NULL)
        curl_easy_cleanup(h);
}

static void result_add_header(struct dc_http_result *res, const char *name, size_t nlen,
                              const char *value, size_t vlen)
{
    if (res->n_headers == DC_HTTP_MAX_RESPONSE_HEADERS)
        return;
    if (res->n_headers == res->cap_headers_) {
        size_t cap = res->cap_headers_ ? res->cap_headers_ * 2 : 16;
        struct dc_http_header *h = dc_arena_alloc(&res->arena_, cap * sizeof(*h));

        if (res->n_headers > 0)
            memcpy(h, res->headers, res->n_headers * sizeof(*h));
        res->headers = h;
        res->cap_headers_ = cap;
    }
    res->headers[res->n_headers].name = dc_arena_strndup(&res->arena_, name, nlen);
    res->headers[res->n_headers].value = dc_arena_strndup(&res->arena_, value, vlen);
    res->n_headers++;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct call_state *st = ud;
    size_t n = size * nitems, nlen, v, e;
    const char *colon;

    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new status line (after a 1xx): forget the interim response's headers. */
        st->res->n_headers = 0;
        return n;
    }
    colon = memchr(buf, ':', n);
    if (colon == NULL || colon == buf || buf[0] == ' ' || buf[0] == '\t')
        return n; /* blank line, obsolete folding or junk */
    nlen = (size_t)(colon - buf);
    v = nlen + 1;
    e = n;
    while (v < e && (buf[v] == ' ' || buf[v] == '\t'))
        v++;
    while (e > v && isspace((unsigned char)buf[e - 1]))
        e--;
    result_add_header(st->res, buf, nlen, buf + v, e - v);
    return n;
}

static int run_head(struct call_state *st)
{
    int rv;

    curl_off_t cl = -1;

    st->head_done = true;
    (void)curl_easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &st->res->status);
    (void)curl_easy_getinfo(st->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    st->res->content_length = cl >= 0 ? (int64_t)cl : -1;
    if (st->call->on_head == NULL)
        return 0;
    rv = st->call->on_head(st->res, st->call->ud);
    if (rv != 0)
        st->cb_rv = rv;
    return rv;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct call_state *st = ud;
    size_t n = size * nmemb;
    int rv;

    if (!st->head_done && run_head(st) != 0)
        return 0;
    if (st->call->on_body != NULL) {
        rv = st->call->on_body(data, n, st->call->ud);
        if (rv != 0) {
            st->cb_rv = rv;
            return 0;
        }
        return n;
    }
    if (dc_buf_append(&st->res->body, data, n) != DC_OK) {
        st->too_big = true;
        return 0;
    }
    return n;
}

/* Translate a CURLcode once, here (house style §D). */
static int err_from_curl(CURLcode rc, const struct call_state *st, const char *detail,
                         struct dc_errbuf *eb)
{
    int code;

    switch (rc) {
    case CURLE_OK:
        return DC_OK;
    case CURLE_OPERATION_TIMEDOUT:
        code = DC_ETIMEDOUT;
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        code = DC_EUNAVAIL;
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        code = DC_EINVAL;
        break;
    case CURLE_FILESIZE_EXCEEDED:
        code = DC_ETOOBIG;
        break;
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
        if (st->too_big)
            code = DC_ETOOBIG;
        else if (st->cb_rv < 0 && st->cb_rv >= DC_EINTERNAL)
            code = st->cb_rv;
        else if (st->cb_rv != 0 || rc == CURLE_ABORTED_BY_CALLBACK)
            code = DC_ECANCELED;
        else
            code = DC_EIO;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        code = DC_ETLS;
        break;
    default:
        code = DC_EIO;
        break;
    }
    if (code == DC_ETOOBIG)
        return dc_err_set(eb, code, "http response body over %zu bytes", st->res->body.max);
    return dc_err_set(eb, code, "http: %s%s%s", curl_easy_strerror(rc),
                      detail[0] != '\0' ? ": " : "", detail);
}

static bool method_valid(const char *m)
{
    const char *p;

    if (m[0] == '\0')
        return false;
    for (p = m; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
            return false;
    }
    return true;
}

static bool has_header(const char *const *hs, const char *name)
{
    size_t n = strlen(name);

    for (; hs != NULL && *hs != NULL; hs++) {
        if (strncasecmp(*hs, name, n) == 0 && ((*hs)[n] == ':' || (*hs)[n] == ';'))
            return true;
    }
    return false;
}

/* Caller headers plus the removals that stop curl from adding its own. */
static int build_headers(const struct dc_http_call *call, bool sends_body, struct curl_slist **out)
{
    struct curl_slist *l = NULL, *t;
    const char *const *hs;

    for (hs = call->headers; hs != NULL && *hs != NULL; hs++) {
        if (strpbrk(*hs, "\r\n") != NULL)
            goto bad;
        t = curl_slist_append(l, *hs);
        if (t == NULL)
            goto bad;
        l = t;
    }
    if (!has_header(call->headers, "Expect")) {
        t = curl_slist_append(l, "Expect:");
        if (t == NULL)
            goto bad;
        l = t;
    }
    if (!has_header(call->headers, "Accept")) {
        t = curl_slist_append(l, "Accept:");
        if (t == NULL)
            goto bad;
        l = t;
    }
    if (sends_body && !has_header(call->headers, "Content-Type")) {
        t = curl_slist_append(l, "Content-Type:");
        if (t == NULL)
            goto bad;
        l = t;
    }
    *out = l;
    return DC_OK;
bad:
    curl_slist_free_all(l);
    return DC_EINVAL;
}

static CURLcode set_method(CURL *h, const struct dc_http_call *call, const char *m, bool body)
{
    CURLcode rc = CURLE_OK;

    if (strcmp(m, "HEAD") == 0)
        return curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (!body) {
        rc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        if (rc == CURLE_OK && strcmp(m, "GET") != 0)
            rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
        return rc;
    }
    rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, call->body_len > 0 ? call->body : "");
    if (rc == CURLE_OK && strcmp(m, "POST") != 0)
        rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    return rc;
}

/* The per-call TLS material of dc_http_call (blobs are copied by curl and compared when a
 * connection is picked for reuse). */
static CURLcode set_tls(struct call_state *st)
{
    const struct dc_http_call *call = st->call;
    CURL *h = st->h;
    struct curl_blob b = {0};
    CURLcode rc = CURLE_OK;

    b.flags = CURL_BLOB_COPY;
    if (call->tls_cert_pem != NULL && call->tls_key_pem != NULL) {
        b.data = (void *)(uintptr_t)call->tls_cert_pem;
        b.len = strlen(call->tls_cert_pem);
        rc = curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
        b.data = (void *)(uintptr_t)call->tls_key_pem;
        b.len = strlen(call->tls_key_pem);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
    }
    if (rc == CURLE_OK && call->tls_ca_pem != NULL) {
        b.data = (void *)(uintptr_t)call->tls_ca_pem;
        b.len = strlen(call->tls_ca_pem);
        rc = curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return rc;
}

static CURLcode set_options(struct dc_http_client *c, struct call_state *st,
                            struct curl_slist *hdrs, const char *m, bool body, char *errbuf)
{
    const struct dc_http_call *call = st->call;
    CURL *h = st->h;
    int64_t timeout = call->timeout_ms > 0 ? call->timeout_ms : c->o.timeout_ms;
    CURLcode rc;

    rc = curl_easy_setopt(h, CURLOPT_URL, call->url);
#define SET(opt, val)                                                                              \
    if (rc == CURLE_OK)                                                                            \
    rc = curl_easy_setopt(h, opt, val)
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_PATH_AS_IS, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)c->o.connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)(timeout > 0 ? timeout : 0));
    SET(CURLOPT_MAXCONNECTS, (long)c->o.max_idle_conns);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, st);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, st);
    SET(CURLOPT_HTTPHEADER, hdrs);
    if (call->on_body == NULL)
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->o.max_response);
    if (call->unix_socket != NULL)
        SET(CURLOPT_UNIX_SOCKET_PATH, call->unix_socket);
    if (c->o.insecure_skip_verify) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
#undef SET
    if (rc == CURLE_OK &&
        (call->tls_cert_pem != NULL || call->tls_ca_pem != NULL || call->tls_ctx_fn != NULL))
        rc = set_tls(st);
    if (rc == CURLE_OK)
        rc = set_method(h, call, m, body);
    return rc;
}

/* ---- the built-in HTTP/1.1 client (http://, Unix sockets, https:// with call CAs) ---------- */

/* A parsed http:// or https:// URL (pointers into the URL, lengths separate). */
struct furl {
    bool tls;         /* https:// */
    const char *host; /* without brackets */
    size_t host_len;
    const char *authority; /* for Host: as written in the URL */
    size_t authority_len;
    char port[8];
    const char *target; /* path and query, "/" when empty */
    size_t target_len;
};

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };

struct fx {
    struct dc_http_client *c;
    const struct dc_http_call *call;
    struct dc_http_result *res;
    struct fconn *conn;
    int64_t deadline; /* dc_mono_ns; 0 = none */
    size_t off, len;  /* unread bytes of conn->buf are [off, len) */
    bool head_done;
    bool keep_alive;
    bool got_bytes; /* any response byte seen (a stale reused connection has none) */
    int cb_rv;
    struct dc_errbuf *eb;
};

static bool url_char_ok(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f;
}

/* Accept only the plain cases: "http[s]://host[:port][/target]" without userinfo or fragment.
 * Anything else goes to libcurl. */
static bool url_parse(const char *url, struct furl *u)
{
    const char *p, *a, *end, *colon = NULL;
    size_t plen;

    if (strncasecmp(url, "http://", 7) == 0) {
        u->tls = false;
        a = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        u->tls = true;
        a = url + 8;
    } else {
        return false;
    }
    for (p = a; *p != '\0' && *p != '/' && *p != '?'; p++) {
        if (*p == '@' || *p == '#' || !url_char_ok((unsigned char)*p))
            return false;
    }
    end = p;
    if (end == a)
        return false;
    u->authority = a;
    u->authority_len = (size_t)(end - a);
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', (size_t)(end - a));
        if (rb == NULL)
            return false;
        u->host = a + 1;
        u->host_len = (size_t)(rb - a - 1);
        if (rb + 1 < end && rb[1] != ':')
            return false;
        colon = rb + 1 < end ? rb + 1 : NULL;
    } else {
        colon = memchr(a, ':', (size_t)(end - a));
        u->host = a;
        u->host_len = colon != NULL ? (size_t)(colon - a) : (size_t)(end - a);
    }
    if (u->host_len == 0)
        return false;
    if (colon != NULL) {
        plen = (size_t)(end - colon - 1);
        if (plen == 0 || plen >= sizeof(u->port))
            return false;
        memcpy(u->port, colon + 1, plen);
        u->port[plen] = '\0';
        for (size_t i = 0; i < plen; i++)
            if (u->port[i] < '0' || u->port[i] > '9')
                return false;
    } else {
        memcpy(u->port, u->tls ? "443" : "80", u->tls ? 4 : 3);
    }
    for (p = end; *p != '\0'; p++) {
        if (*p == '#' || !url_char_ok((unsigned char)*p))
            return false;
    }
    u->target = end;
    u->target_len = (size_t)(p - end);
    return true;
}

static void fconn_close(struct fconn *fc)
{
    if (fc == NULL)
        return;
    SSL_free(fc->ssl); /* no close_notify: the server sees the socket close */
    close(fc->fd);
    free(fc->tls_cert);
    free(fc->tls_key);
    free(fc->tls_ca);
    free(fc->buf);
    free(fc);
}

static bool str_same(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* May `call` reuse the TLS connection `fc` (opened with the same certificate, key, CAs and
 * hook)? */
static bool tls_same(const struct fconn *fc, const struct dc_http_call *call)
{
    return fc->tls_fn == call->tls_ctx_fn && str_same(fc->tls_cert, call->tls_cert_pem) &&
           str_same(fc->tls_key, call->tls_key_pem) && str_same(fc->tls_ca, call->tls_ca_pem);
}

/* An idle connection for `key` (and, over TLS, the call's TLS material) or NULL. Idle TLS
 * connections to the same place opened with other material are closed: after a rotation the
 * old certificate or anchors never come back, and they would hold pool slots. */
static struct fconn *pool_take(struct dc_http_client *c, const char *key,
                               const struct dc_http_call *call)
{
    struct fconn **pp, *fc = NULL, *stale = NULL, *next;

    pthread_mutex_lock(&c->mu);
    for (pp = &c->conns; *pp != NULL;) {
        struct fconn *cur = *pp;

        if (strcmp(cur->key, key) != 0) {
            pp = &cur->next;
            continue;
        }
        *pp = cur->next;
        c->n_conns--;
        if (cur->ssl == NULL || tls_same(cur, call)) {
            fc = cur;
            break;
        }
        cur->next = stale;
        stale = cur;
    }
    pthread_mutex_unlock(&c->mu);
    for (; stale != NULL; stale = next) {
        next = stale->next;
        fconn_close(stale);
    }
    return fc;
}

static void pool_put(struct dc_http_client *c, struct fconn *fc)
{
    pthread_mutex_lock(&c->mu);
    if (c->n_conns < c->o.max_idle_conns) {
        fc->next = c->conns;
        c->conns = fc;
        c->n_conns++;
        fc = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    fconn_close(fc);
}

/* Milliseconds left before the deadline for poll(): -1 = none, 0 = expired. */
static int left_ms(int64_t deadline)
{
    int64_t left;

    if (deadline == 0)
        return -1;
    left = deadline - dc_mono_ns();
    if (left <= 0)
        return 0;
    left = (left + 999999) / 1000000;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

static int wait_fd(struct fx *x, int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    int ms, n;

    for (;;) {
        ms = left_ms(deadline);
        if (ms == 0)
            return dc_err_set(x->eb, DC_ETIMEDOUT, "http: operation timed out");
        n = poll(&p, 1, ms);
        if (n > 0)
            return DC_OK;
        if (n == 0)
            return dc_err_set(x->eb, DC_ETIMEDOUT, "http: operation timed out");
        if (errno != EINTR)
            return dc_err_set(x->eb, DC_EIO, "http: poll: %s", strerror(errno));
    }
}

static int connect_one(struct fx *x, const struct sockaddr *sa, socklen_t salen, int *fd_out)
{
    int64_t cdl = dc_mono_ns() + x->c->o.connect_timeout_ms * 1000000;
    int fd, err = 0, one = 1, rv;
    socklen_t len = sizeof(err);

    if (x->deadline != 0 && x->deadline < cdl)
        cdl = x->deadline;
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return dc_err_set(x->eb, DC_EIO, "http: socket: %s", strerror(errno));
    if (sa->sa_family != AF_UNIX)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, salen) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            err = errno;
            goto fail;
        }
        rv = wait_fd(x, fd, POLLOUT, cdl);
        if (rv != DC_OK) {
            close(fd);
            return dc_err_set(x->eb, DC_ETIMEDOUT, "http: connection timed out");
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0)
            goto fail;
    }
    /* Blocking from now on: one recv per read instead of recv, poll, recv. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) & ~O_NONBLOCK) != 0) {
        err = errno;
        goto fail;
    }
    *fd_out = fd;
    return DC_OK;
fail:
    close(fd);
    if (err == ECONNREFUSED || err == ENOENT || err == ENETUNREACH || err == EHOSTUNREACH ||
        err == EADDRNOTAVAIL || err == ECONNRESET)
        return dc_err_set(x->eb, DC_EUNAVAIL, "http: couldn't connect to server: %s",
                          strerror(err));
    return dc_err_set(x->eb, DC_EIO, "http: connect: %s", strerror(err));
}

/* Set both socket timeouts of `fc` to `us` microseconds (0 = none). */
static int sock_timeo(struct fx *x, struct fconn *fc, int64_t us)
{
    struct timeval tv;

    if (us == fc->timeo_us)
        return DC_OK;
    tv.tv_sec = (time_t)(us / 1000000);
    tv.tv_usec = (suseconds_t)(us % 1000000);
    if (setsockopt(fc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        return dc_err_set(x->eb, DC_EIO, "http: setsockopt: %s", strerror(errno));
    fc->timeo_us = us;
    return DC_OK;
}

/* ---- TLS of the built-in client (OpenSSL) --------------------------------------------------
 * Used for https:// calls that bring their own CAs (tls_ca_pem: daprd's sidecar-to-sidecar
 * mTLS); other https:// calls keep libcurl (system CAs, host name verification). The socket
 * stays blocking under the same SO_RCVTIMEO/SO_SNDTIMEO deadlines as the plain path; OpenSSL
 * reads and writes it through the socket BIO of tls_sockbio.h (shared with the server), which
 * remembers errno and end of stream in fc->sb. */

/* The TLS failure of `fc` as DC_ETIMEDOUT (a socket timeout) or `code`, with OpenSSL's reason
 * (and the verification error, if any). Clears the thread's OpenSSL error queue. */
static int tls_fail(struct fx *x, struct fconn *fc, int code, const char *what)
{
    char reason[256] = "";
    unsigned long e = ERR_peek_last_error();
    long vr = fc->ssl != NULL ? SSL_get_verify_result(fc->ssl) : X509_V_OK;

    if (fc->sb.io_errno == EAGAIN || fc->sb.io_errno == EWOULDBLOCK) {
        ERR_clear_error();
        return dc_err_set(x->eb, DC_ETIMEDOUT, "http: operation timed out");
    }
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    else if (fc->sb.io_errno != 0)
        dc_strlcpy(reason, strerror(fc->sb.io_errno), sizeof(reason));
    else if (fc->sb.io_eof)
        dc_strlcpy(reason, "connection closed by peer", sizeof(reason));
    ERR_clear_error();
    if (vr != X509_V_OK)
        return dc_err_set(x->eb, code, "http: %s: %s (%s)", what, reason,
                          X509_verify_cert_error_string(vr));
    return dc_err_set(x->eb, code, "http: %s: %s", what, reason);
}

/* Load the call's certificate chain (leaf first), key and CAs into `ctx`. */
static bool tls_load(SSL_CTX *ctx, const struct dc_http_call *call)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    BIO *b = NULL;
    X509 *x509 = NULL;
    EVP_PKEY *key = NULL;
    bool ok = false;
    int n = 0;

    if (call->tls_cert_pem != NULL && call->tls_key_pem != NULL) {
        b = BIO_new_mem_buf(call->tls_cert_pem, -1);
        x509 = b != NULL ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
        if (x509 == NULL || SSL_CTX_use_certificate(ctx, x509) != 1)
            goto cleanup;
        X509_free(x509);
        while ((x509 = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
            if (SSL_CTX_add0_chain_cert(ctx, x509) != 1)
                goto cleanup;
            x509 = NULL; /* owned by ctx */
        }
        ERR_clear_error(); /* the end of the PEM text */
        BIO_free(b);
        b = BIO_new_mem_buf(call->tls_key_pem, -1);
        key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        if (key == NULL || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1)
            goto cleanup;
        BIO_free(b);
    }
    b = BIO_new_mem_buf(call->tls_ca_pem, -1);
    if (b == NULL || store == NULL)
        goto cleanup;
    while ((x509 = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x509) != 1)
            goto cleanup;
        X509_free(x509);
        x509 = NULL;
        n++;
    }
    ERR_clear_error();
    ok = n > 0;
cleanup:
    X509_free(x509);
    EVP_PKEY_free(key);
    BIO_free(b);
    return ok;
}

/* Is host[0, len) an IP address (no SNI then, as curl)? */
static bool host_is_ip(const char *host, size_t len)
{
    char tmp[64];
    unsigned char addr[16];

    if (len >= sizeof(tmp))
        return false;
    memcpy(tmp, host, len);
    tmp[len] = '\0';
    return inet_pton(AF_INET, tmp, addr) == 1 || inet_pton(AF_INET6, tmp, addr) == 1;
}

/* Handshake over fc->fd with the call's TLS material: the server's chain must verify to
 * tls_ca_pem (no host name check: the hook checks the peer's identity), then the material is
 * remembered in `fc` for reuse. DC_OK, DC_ETLS or DC_ETIMEDOUT. */
static int tls_open(struct fx *x, const struct furl *u, struct fconn *fc)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    const struct dc_http_call *call = x->call;
    int64_t us = x->c->o.connect_timeout_ms * 1000;
    char host[256];
    SSL_CTX *ctx;
    BIO *bio;
    int rv = DC_OK;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return tls_fail(x, fc, DC_ETLS, "SSL_CTX_new");
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || !tls_load(ctx, call)) {
        rv = tls_fail(x, fc, DC_ETLS, "bad client certificate, key or CAs");
        goto cleanup;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* One recv for a record's header and payload (and for the next record when it is there):
     * without it every record costs two. */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* Hooks keep data on the context (sdc_mtls's expected callee): one context per
     * connection, as libcurl does. */
    if (call->tls_ctx_fn != NULL && call->tls_ctx_fn(ctx, call->tls_ud) != 0) {
        ERR_clear_error();
        rv = dc_err_set(x->eb, DC_ETLS, "http: TLS connection refused by the context hook");
        goto cleanup;
    }
    fc->ssl = SSL_new(ctx);
    fc->sb.fd = fc->fd;
    bio = dc__sockbio_new(&fc->sb);
    if (fc->ssl == NULL || bio == NULL) {
        BIO_free(bio);
        rv = tls_fail(x, fc, DC_ETLS, "SSL_new");
        goto cleanup;
    }
    SSL_set_bio(fc->ssl, bio, bio);
    if (u->host_len < sizeof(host) && !host_is_ip(u->host, u->host_len)) {
        memcpy(host, u->host, u->host_len);
        host[u->host_len] = '\0';
        (void)SSL_set_tlsext_host_name(fc->ssl, host);
    }
    (void)SSL_set_alpn_protos(fc->ssl, alpn, sizeof(alpn) - 1);
    /* The handshake runs under the connect timeout (and the call's deadline). */
    if (x->deadline != 0) {
        int64_t left = (x->deadline - dc_mono_ns()) / 1000;

        if (left <= 0) {
            rv = dc_err_set(x->eb, DC_ETIMEDOUT, "http: operation timed out");
            goto cleanup;
        }
        if (left < us)
            us = left;
    }
    rv = sock_timeo(x, fc, us);
    if (rv != DC_OK)
        goto cleanup;
    ERR_clear_error();
    fc->sb.io_errno = 0;
    fc->sb.io_eof = false;
    if (SSL_connect(fc->ssl) != 1) {
        rv = tls_fail(x, fc, DC_ETLS, "TLS handshake failed");
        goto cleanup;
    }
    if (SSL_get0_peer_certificate(fc->ssl) == NULL || SSL_get_verify_result(fc->ssl) != X509_V_OK) {
        rv = tls_fail(x, fc, DC_ETLS, "server certificate not verified");
        goto cleanup;
    }
    fc->tls_cert = call->tls_cert_pem != NULL ? dc_xstrdup(call->tls_cert_pem) : NULL;
    fc->tls_key = call->tls_key_pem != NULL ? dc_xstrdup(call->tls_key_pem) : NULL;
    fc->tls_ca = dc_xstrdup(call->tls_ca_pem);
    fc->tls_fn = call->tls_ctx_fn;
cleanup:
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    return rv;
}

static int fconn_open(struct fx *x, const struct furl *u, const char *key, struct fconn **out)
{
    const char *sock = x->call->unix_socket;
    struct fconn *fc;
    int fd = -1, rv;

    if (sock != NULL) {
        struct sockaddr_un sun = {0};

        sun.sun_family = AF_UNIX;
        if (dc_strlcpy(sun.sun_path, sock, sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
            return dc_err_set(x->eb, DC_EINVAL, "http: unix socket path too long");
        rv = connect_one(x, (const struct sockaddr *)&sun, sizeof(sun), &fd);
    } else {
        struct addrinfo hints = {0}, *res = NULL, *ai;
        char host[256];
        int gai;

        if (u->host_len >= sizeof(host))
            return dc_err_set(x->eb, DC_EINVAL, "http: host name too long");
        memcpy(host, u->host, u->host_len);
        host[u->host_len] = '\0';
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
        gai = getaddrinfo(host, u->port, &hints, &res);
        if (gai != 0)
            return dc_err_set(x->eb, DC_EUNAVAIL, "http: couldn't resolve host name %s: %s", host,
                              gai_strerror(gai));
        rv = dc_err_set(x->eb, DC_EUNAVAIL, "http: couldn't connect to server");
        for (ai = res; ai != NULL; ai = ai->ai_next) {
            rv = connect_one(x, ai->ai_addr, ai->ai_addrlen, &fd);
            if (rv != DC_EUNAVAIL)
                break;
        }
        freeaddrinfo(res);
    }
    if (rv != DC_OK)
        return rv;
    fc = dc_xcalloc(1, sizeof(*fc) + strlen(key) + 1);
    fc->fd = fd;
    fc->cap = FAST_BUF;
    fc->buf = dc_xmalloc(fc->cap);
    memcpy(fc->key, key, strlen(key) + 1);
    if (u->tls && (rv = tls_open(x, u, fc)) != DC_OK) {
        fconn_close(fc);
        return rv;
    }
    *out = fc;
    return DC_OK;
}

/* Caller header line: "Name: value" sent as is, "Name;" sent with an empty value, "Name:" with
 * nothing after it (curl's "remove this header") skipped; the head's own fields are skipped. */
static bool head_header(struct dc_buf *b, const char *h, bool *has_host)
{
    const char *colon = strchr(h, ':'), *semi = strchr(h, ';');
    size_t nlen;
    const char *v;

    if (colon == NULL && semi != NULL && semi[1] == '\0') {
        nlen = (size_t)(semi - h);
        return nlen == 0 ||
               (dc_buf_append(b, h, nlen) == DC_OK && dc_buf_appends(b, ":\r\n") == DC_OK);
    }
    if (colon == NULL || colon == h)
        return true;
    nlen = (size_t)(colon - h);
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    if (*v == '\0')
        return true;
    if ((nlen == 14 && strncasecmp(h, "Content-Length", 14) == 0) ||
        (nlen == 17 && strncasecmp(h, "Transfer-Encoding", 17) == 0))
        return true;
    if (nlen == 4 && strncasecmp(h, "Host", 4) == 0)
        *has_host = true;
    return dc_buf_appends(b, h) == DC_OK && dc_buf_append(b, "\r\n", 2) == DC_OK;
}

static int build_head(struct fx *x, const struct furl *u, const char *m, bool body,
                      struct dc_buf *b)
{
    const char *const *hs;
    bool has_host = false;
    bool ok;

    ok = dc_buf_appends(b, m) == DC_OK && dc_buf_appendc(b, ' ') == DC_OK;
    if (u->target_len == 0 || u->target[0] == '?')
        ok = ok && dc_buf_appendc(b, '/') == DC_OK;
    ok = ok && dc_buf_append(b, u->target, u->target_len) == DC_OK &&
         dc_buf_appends(b, " HTTP/1.1\r\n") == DC_OK;
    for (hs = x->call->headers; ok && hs != NULL && *hs != NULL; hs++) {
        if (strpbrk(*hs, "\r\n") != NULL)
            return dc_err_set(x->eb, DC_EINVAL, "http: invalid request header");
        ok = head_header(b, *hs, &has_host);
    }
    if (ok && !has_host) {
        ok = dc_buf_appends(b, "Host: ") == DC_OK;
        size_t alen = u->authority_len;

        /* curl leaves the scheme's default port out of Host. */
        if (!u->tls && alen > 3 && memcmp(u->authority + alen - 3, ":80", 3) == 0)
            alen -= 3;
        else if (u->tls && alen > 4 && memcmp(u->authority + alen - 4, ":443", 4) == 0)
            alen -= 4;
        ok = ok && dc_buf_append(b, u->authority, alen) == DC_OK;
        ok = ok && dc_buf_append(b, "\r\n", 2) == DC_OK;
    }
    if (ok && body) {
        char num[24];
        size_t i = sizeof(num), v = x->call->body_len;

        /* Formatted by hand: vsnprintf was 3-4% of daprd-A's profile. */
        do {
            num[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        ok = dc_buf_appends(b, "Content-Length: ") == DC_OK &&
             dc_buf_append(b, num + i, sizeof(num) - i) == DC_OK &&
             dc_buf_append(b, "\r\n", 2) == DC_OK;
    }
    ok = ok && dc_buf_append(b, "\r\n", 2) == DC_OK;
    return ok ? DC_OK : dc_err_set(x->eb, DC_EINVAL, "http: request head too large");
}

/* Set the socket timeouts to what is left of the call's deadline (none without one). */
static int arm_timeout(struct fx *x)
{
    int64_t us = 0;

    if (x->deadline != 0) {
        us = (x->deadline - dc_mono_ns()) / 1000;
        if (us <= 0)
            return dc_err_set(x->eb, DC_ETIMEDOUT, "http: operation timed out");
    }
    return sock_timeo(x, x->conn, us);
}

/* SSL_write all of p[0, n) (blocking, no partial writes). */
static int tls_send(struct fx *x, const void *p, size_t n)
{
    struct fconn *fc = x->conn;
    int w;

    while (n > 0) {
        int chunk = n > (size_t)INT32_MAX ? INT32_MAX : (int)n;

        ERR_clear_error();
        fc->sb.io_errno = 0;
        fc->sb.io_eof = false;
        w = SSL_write(fc->ssl, p, chunk);
        if (w <= 0)
            return tls_fail(x, fc, DC_EIO, "send failed");
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return DC_OK;
}

static int send_all(struct fx *x, struct iovec *iov, size_t cnt)
{
    struct msghdr mh = {0};
    ssize_t n;
    size_t k;

    if (x->conn->ssl != NULL) {
        struct fconn *fc = x->conn;
        size_t total = 0, i;
        int rv = DC_OK;

        for (i = 0; i < cnt; i++)
            total += iov[i].iov_len;
        /* A small request goes out as one TLS record (the read buffer is free while sending). */
        if (total <= fc->cap) {
            for (i = 0, total = 0; i < cnt; i++) {
                if (iov[i].iov_len == 0)
                    continue; /* an absent body's base may be NULL */
                memcpy(fc->buf + total, iov[i].iov_base, iov[i].iov_len);
                total += iov[i].iov_len;
            }
            return tls_send(x, fc->buf, total);
        }
        for (i = 0; i < cnt && rv == DC_OK; i++)
            rv = tls_send(x, iov[i].iov_base, iov[i].iov_len);
        return rv;
    }
    while (cnt > 0) {
        if (iov[0].iov_len == 0) {
            iov++;
            cnt--;
            continue;
        }
        mh.msg_iov = iov;
        mh.msg_iovlen = cnt;
        n = sendmsg(x->conn->fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return dc_err_set(x->eb, DC_ETIMEDOUT, "http: operation timed out");
            return dc_err_set(x->eb, DC_EIO, "http: send failed: %s", strerror(errno));
        }
        while (n > 0 && cnt > 0) {
            k = (size_t)n < iov[0].iov_len ? (size_t)n : iov[0].iov_len;
            iov[0].iov_base = (char *)iov[0].iov_base + k;
            iov[0].iov_len -= k;
            n -= (ssize_t)k;
            if (iov[0].iov_len == 0) {
                iov++;
                cnt--;
            }
        }
    }
    return DC_OK;
}

/* recv() on the connection, through TLS when it has a session: the count, 0 at the end of the
 * stream (a TLS connection closed with or without close_notify), or -1 with errno (EPROTO for
 * a TLS error). */
static ssize_t conn_recv(struct fconn *fc, void *p, size_t n)
{
    int r;

    if (fc->ssl == NULL)
        return recv(fc->fd, p, n, 0);
    ERR_clear_error();
    fc->sb.io_errno = 0;
    fc->sb.io_eof = false;
    r = SSL_read(fc->ssl, p, n > (size_t)INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0)
        return r;
    r = SSL_get_error(fc->ssl, r);
    ERR_clear_error();
    if (r == SSL_ERROR_ZERO_RETURN || fc->sb.io_eof)
        return 0;
    errno = fc->sb.io_errno != 0 ? fc->sb.io_errno : EPROTO;
    return -1;
}

/* Wait until the connection has bytes to read while also watching call->watch_fd (set: see
 * watching). Returns DC_OK, DC_ECANCELED (the watched descriptor hung up) or DC_ETIMEDOUT. */
static int watch_wait(struct fx *x)
{
    struct fconn *fc = x->conn;
    struct pollfd pf[2] = {{.fd = fc->fd, .events = POLLIN},
                           {.fd = *x->call->watch_fd, .events = POLLRDHUP}};
    int n, ms;

    if (fc->ssl != NULL && SSL_has_pending(fc->ssl))
        return DC_OK;
    for (;;) {
        ms = -1;
        if (x->deadline != 0) {
            int64_t left = x->deadline - dc_mono_ns();

            if (left <= 0)
                return dc_err_set(x->eb, DC_ETIMEDOUT, "http: operation timed out");
            ms = left / 1000000 < INT32_MAX ? (int)(left / 1000000) + 1 : INT32_MAX;
        }
        n = poll(pf, 2, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dc_err_set(x->eb, DC_EIO, "http: poll failed: %s", strerror(errno));
        if ((pf[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0)
            return dc_err_set(x->eb, DC_ECANCELED, "http: the reader of the body is gone");
        if (pf[0].revents != 0)
            return DC_OK;
    }
}

/* Read more bytes into the buffer (compacting or growing it up to `limit`). Returns DC_OK,
 * DC_EAGAIN at EOF, or an error. */
static int fill(struct fx *x, size_t limit)
{
    struct fconn *fc = x->conn;
    ssize_t n;
    int rv;

    if (x->off > 0) {
        memmove(fc->buf, fc->buf + x->off, x->len - x->off);
        x->len -= x->off;
        x->off = 0;
    }
    if (x->len == fc->cap) {
        if (fc->cap >= limit)
            return dc_err_set(x->eb, DC_EIO, "http: response header block too large");
        fc->cap = fc->cap * 2 > limit ? limit : fc->cap * 2;
        fc->buf = dc_xrealloc(fc->buf, fc->cap);
    }
    for (;;) {
        if (x->deadline != 0 && (rv = arm_timeout(x)) != DC_OK)
            return rv;
        if (x->head_done && x->call->watch_fd != NULL && *x->call->watch_fd >= 0 &&
            (rv = watch_wait(x)) != DC_OK)
            return rv;
        n = conn_recv(fc, fc->buf + x->len, fc->cap - x->len);
        if (n > 0) {
            x->len += (size_t)n;
            x->got_bytes = true;
            return DC_OK;
        }
        if (n == 0)
            return DC_EAGAIN;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return dc_err_set(x->eb, DC_ETIMEDOUT, "http: operation timed out");
        if (errno == ECONNRESET && !x->got_bytes)
            return DC_EAGAIN;
        return dc_err_set(x->eb, DC_EIO, "http: recv failed: %s", strerror(errno));
    }
}

static int fx_head(struct fx *x)
{
    int rv;

    x->head_done = true;
    if (x->call->on_head == NULL)
        return DC_OK;
    rv = x->call->on_head(x->res, x->call->ud);
    if (rv != 0) {
        x->cb_rv = rv;
        return rv < 0 && rv >= DC_EINTERNAL ? rv : DC_ECANCELED;
    }
    return DC_OK;
}

static int deliver(struct fx *x, const char *p, size_t n)
{
    int rv;

    if (!x->head_done && (rv = fx_head(x)) != DC_OK)
        return dc_err_set(x->eb, rv, "http: aborted by callback");
    if (n == 0)
        return DC_OK;
    if (x->call->on_body != NULL) {
        rv = x->call->on_body(p, n, x->call->ud);
        if (rv != 0) {
            x->cb_rv = rv;
            return dc_err_set(x->eb, rv < 0 && rv >= DC_EINTERNAL ? rv : DC_ECANCELED,
                              "http: aborted by callback");
        }
        return DC_OK;
    }
    if (dc_buf_append(&x->res->body, p, n) != DC_OK)
        return dc_err_set(x->eb, DC_ETOOBIG, "http response body over %zu bytes", x->res->body.max);
    return DC_OK;
}

/* Does the comma-separated list v[0, n) contain `tok` (case-insensitive)? */
static bool span_has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0, s, e;

    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < n && v[i] != ',' && v[i] != ';')
            i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return true;
        while (i < n && v[i] != ',')
            i++;
    }
    return false;
}

/* Parse one header block at buf[off, end) (end just past the blank line). */
static int parse_head(struct fx *x, const char *p, const char *end, int *minor, bool *chunked,
                      int64_t *clen, bool *conn_close, bool *conn_keep)
{
    const char *eol, *colon, *v, *ve;
    size_t nlen, vlen;
    long status = 0;

    eol = memchr(p, '\n', (size_t)(end - p));
    if ((size_t)(eol - p) < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' ||
        p[8] != ' ')
        return dc_err_set(x->eb, DC_EIO, "http: malformed status line");
    *minor = p[7] - '0';
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return dc_err_set(x->eb, DC_EIO, "http: malformed status line");
        status = status * 10 + (p[i] - '0');
    }
    x->res->status = status;
    x->res->n_headers = 0;
    *chunked = false;
    *clen = -1;
    *conn_close = *conn_keep = false;
    for (p = eol + 1; p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        ve = eol;
        while (ve > p && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (ve == p)
            break; /* the blank line */
        colon = memchr(p, ':', (size_t)(ve - p));
        if (colon == NULL || colon == p || p[0] == ' ' || p[0] == '\t')
            continue;
        for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
            ;
        nlen = (size_t)(colon - p);
        vlen = (size_t)(ve - v);
        if (nlen == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
            int64_t n = 0;
            size_t i;

            for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9' && n < INT64_MAX / 10 - 10; i++)
                n = n * 10 + (v[i] - '0');
            if (i == 0 || i != vlen || (*clen >= 0 && *clen != n))
                return dc_err_set(x->eb, DC_EIO, "http: invalid Content-Length");
            *clen = n;
        } else if (nlen == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
            *chunked = span_has_token(v, vlen, "chunked");
        } else if (nlen == 10 && strncasecmp(p, "Connection", 10) == 0) {
            *conn_close = *conn_close || span_has_token(v, vlen, "close");
            *conn_keep = *conn_keep || span_has_token(v, vlen, "keep-alive");
        }
        result_add_header(x->res, p, nlen, v, vlen);
    }
    return DC_OK;
}

/* The end of the header block starting at buf[off], or NULL when incomplete. */
static const char *head_end(const char *p, const char *end)
{
    const char *q = p;

    while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
        q++;
        if (q < end && *q == '\n')
            return q + 1;
        if (q + 1 < end && q[0] == '\r' && q[1] == '\n')
            return q + 2;
        if (q >= end - 1)
            return NULL;
    }
    return NULL;
}

static int read_exact(struct fx *x, uint64_t n)
{
    int rv;

    while (n > 0) {
        size_t have = x->len - x->off, take;

        if (have == 0) {
            rv = fill(x, x->conn->cap);
            if (rv == DC_EAGAIN)
                return dc_err_set(x->eb, DC_EIO,
                                  "http: connection closed before the body "
                                  "ended");
            if (rv != DC_OK)
                return rv;
            continue;
        }
        take = have < n ? have : (size_t)n;
        rv = deliver(x, x->conn->buf + x->off, take);
        if (rv != DC_OK)
            return rv;
        x->off += take;
        n -= take;
    }
    return DC_OK;
}

/* One CRLF- (or LF-) terminated line at the read position; *line points into the buffer. */
static int read_line(struct fx *x, const char **line, size_t *len)
{
    const char *nl;
    int rv;

    for (;;) {
        nl = memchr(x->conn->buf + x->off, '\n', x->len - x->off);
        if (nl != NULL) {
            *line = x->conn->buf + x->off;
            *len = (size_t)(nl - *line);
            if (*len > 0 && (*line)[*len - 1] == '\r')
                (*len)--;
            x->off = (size_t)(nl - x->conn->buf) + 1;
            return DC_OK;
        }
        rv = fill(x, FAST_MAX_HEAD);
        if (rv == DC_EAGAIN)
            return dc_err_set(x->eb, DC_EIO, "http: connection closed in a chunked body");
        if (rv != DC_OK)
            return rv;
    }
}

static int read_chunked(struct fx *x)
{
    const char *line;
    size_t len, i;
    uint64_t size;
    int rv;

    for (;;) {
        rv = read_line(x, &line, &len);
        if (rv != DC_OK)
            return rv;
        size = 0;
        for (i = 0; i < len; i++) {
            int d = isdigit((unsigned char)line[i])    ? line[i] - '0'
                    : line[i] >= 'a' && line[i] <= 'f' ? line[i] - 'a' + 10
                    : line[i] >= 'A' && line[i] <= 'F' ? line[i] - 'A' + 10
                                                       : -1;
            if (d < 0)
                break;
            if (size > (UINT64_MAX >> 4))
                return dc_err_set(x->eb, DC_EIO, "http: bad chunk size");
            size = size * 16 + (uint64_t)d;
        }
        if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
            return dc_err_set(x->eb, DC_EIO, "http: bad chunk size");
        if (size == 0)
            break;
        rv = read_exact(x, size);
        if (rv == DC_OK)
            rv = read_line(x, &line, &len);
        if (rv != DC_OK)
            return rv;
        if (len != 0)
            return dc_err_set(x->eb, DC_EIO, "http: bad chunk end");
    }
    do { /* trailers up to the blank line */
        rv = read_line(x, &line, &len);
        if (rv != DC_OK)
            return rv;
    } while (len != 0);
    return DC_OK;
}

static int read_to_close(struct fx *x)
{
    int rv;

    for (;;) {
        if (x->len > x->off) {
            rv = deliver(x, x->conn->buf + x->off, x->len - x->off);
            if (rv != DC_OK)
                return rv;
            x->off = x->len;
        }
        rv = fill(x, x->conn->cap);
        if (rv == DC_EAGAIN)
            return DC_OK;
        if (rv != DC_OK)
            return rv;
    }
}

/* Read the response. DC_EAGAIN: the connection was closed before any byte (stale). */
static int read_response(struct fx *x, bool head_req)
{
    const char *end;
    int minor = 1, rv, interim = 0;
    bool chunked = false, cclose = false, ckeep = false;
    int64_t clen = -1;
    enum body_mode mode;

    for (;;) {
        while ((end = head_end(x->conn->buf + x->off, x->conn->buf + x->len)) == NULL) {
            rv = fill(x, FAST_MAX_HEAD);
            if (rv == DC_EAGAIN && (x->got_bytes || x->len > x->off))
                return dc_err_set(x->eb, DC_EIO,
                                  "http: connection closed in the response "
                                  "head");
            if (rv != DC_OK)
                return rv;
        }
        rv = parse_head(x, x->conn->buf + x->off, end, &minor, &chunked, &clen, &cclose, &ckeep);
        x->off = (size_t)(end - x->conn->buf);
        if (rv != DC_OK)
            return rv;
        if (x->res->status >= 200)
            break;
        if (x->res->status == 101) {
            cclose = true;
            break;
        }
        /* An interim 1xx response: its headers are forgotten (but stay in the result's
         * arena until the call ends), so a server may send only a few of them, as Go's. */
        if (++interim > FAST_MAX_INTERIM)
            return dc_err_set(x->eb, DC_EIO, "http: too many 1xx informational responses");
    }
    x->keep_alive = minor >= 1 ? !cclose : ckeep && !cclose;
    x->res->content_length = chunked ? -1 : clen;
    if (head_req || x->res->status < 200 || x->res->status == 204 || x->res->status == 304)
        mode = BODY_NONE;
    else if (chunked)
        mode = BODY_CHUNKED;
    else if (clen >= 0)
        mode = clen == 0 ? BODY_NONE : BODY_LENGTH;
    else
        mode = BODY_CLOSE;
    if (mode == BODY_LENGTH && x->call->on_body == NULL && (uint64_t)clen > x->res->body.max) {
        x->keep_alive = false;
        return dc_err_set(x->eb, DC_ETOOBIG, "http response body over %zu bytes", x->res->body.max);
    }
    if (mode == BODY_LENGTH && x->call->on_body == NULL &&
        dc_buf_reserve(&x->res->body, (size_t)clen) != DC_OK) {
        x->keep_alive = false;
        return dc_err_set(x->eb, DC_ETOOBIG, "http response body over %zu bytes", x->res->body.max);
    }
    /* The head before any body read (a relay passes it on before the first byte arrives). */
    if ((rv = fx_head(x)) != DC_OK) {
        x->keep_alive = false;
        return dc_err_set(x->eb, rv, "http: aborted by callback");
    }
    switch (mode) {
    case BODY_NONE:
        rv = DC_OK;
        break;
    case BODY_LENGTH:
        rv = read_exact(x, (uint64_t)clen);
        break;
    case BODY_CHUNKED:
        rv = read_chunked(x);
        break;
    case BODY_CLOSE:
        x->keep_alive = false;
        rv = read_to_close(x);
        break;
    }
    if (x->len != x->off || (x->conn->ssl != NULL && SSL_has_pending(x->conn->ssl)))
        x->keep_alive = false; /* bytes beyond the response: never reuse */
    return rv;
}

/* The pool key of a call: "unix <path>" or "tcp <host> <port>", "unixs"/"tcps" over TLS (no
 * format: every call builds it). False when it does not fit. */
static bool pool_key(char *key, size_t cap, const struct dc_http_call *call, const struct furl *u)
{
    const char *parts[4];
    size_t lens[4], n = 0, k, i;

    if (call->unix_socket != NULL) {
        parts[0] = u->tls ? "unixs " : "unix ";
        parts[1] = call->unix_socket;
        lens[1] = strlen(call->unix_socket);
        k = 2;
    } else {
        parts[0] = u->tls ? "tcps " : "tcp ";
        parts[1] = u->host;
        lens[1] = u->host_len;
        parts[2] = " ";
        parts[3] = u->port;
        lens[2] = 1;
        lens[3] = strlen(u->port);
        k = 4;
    }
    lens[0] = strlen(parts[0]);
    for (i = 0; i < k; i++) {
        if (lens[i] >= cap - n)
            return false;
        memcpy(key + n, parts[i], lens[i]);
        n += lens[i];
    }
    key[n] = '\0';
    return true;
}

static int fast_do(struct dc_http_client *c, const struct dc_http_call *call, const struct furl *u,
                   const char *m, bool body, struct dc_http_result *res, struct dc_errbuf *eb)
{
    struct fx x = {0};
    struct dc_buf head;
    char key[FAST_KEY];
    int64_t timeout = call->timeout_ms > 0 ? call->timeout_ms : c->o.timeout_ms;
    struct iovec iov[2];
    bool reused;
    int rv, tries;

    x.c = c;
    x.call = call;
    x.res = res;
    x.eb = eb;
    x.deadline = timeout > 0 ? dc_mono_ns() + timeout * 1000000 : 0;
    if (!pool_key(key, sizeof(key), call, u))
        return dc_err_set(eb, DC_EINVAL, "http: host name too long");
    dc_buf_init(&head, FAST_MAX_HEAD);
    rv = build_head(&x, u, m, body, &head);
    if (rv != DC_OK)
        goto out;
    for (tries = 0; tries < 2; tries++) {
        x.conn = pool_take(c, key, call);
        reused = x.conn != NULL;
        if (!reused) {
            rv = fconn_open(&x, u, key, &x.conn);
            if (rv != DC_OK)
                goto out;
            res->num_connects = 1;
        }
        x.off = x.len = 0;
        x.got_bytes = false;
        x.head_done = false;
        x.keep_alive = false;
        rv = arm_timeout(&x);
        if (rv != DC_OK) {
            pool_put(c, x.conn);
            x.conn = NULL;
            break;
        }
        iov[0].iov_base = head.data;
        iov[0].iov_len = head.len;
        iov[1].iov_base = (void *)call->body;
        iov[1].iov_len = body ? call->body_len : 0;
        rv = send_all(&x, iov, 2);
        if (rv == DC_OK)
            rv = read_response(&x, strcmp(m, "HEAD") == 0);
        if (rv == DC_OK && x.keep_alive) {
            pool_put(c, x.conn);
            x.conn = NULL;
            break;
        }
        fconn_close(x.conn);
        x.conn = NULL;
        /* A kept-alive connection the server had closed: nothing was read, so the request
         * was not processed; retry once on a new connection (as curl does). */
        if (!(reused && !x.got_bytes && (rv == DC_EAGAIN || rv == DC_EIO)))
            break;
        if (eb != NULL)
            eb->msg[0] = '\0';
    }
    if (rv == DC_EAGAIN)
        rv = dc_err_set(eb, DC_EIO, "http: empty reply from server");
out:
    dc_buf_cleanup(&head);
    return rv;
}

int dc_http_client_do(struct dc_http_client *c, const struct dc_http_call *call,
                      struct dc_http_result *res, struct dc_errbuf *eb)
{
    struct call_state st;
    struct furl u;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE];
    const char *m;
    bool body;
    CURLcode rc;
    int rv;

    if (c == NULL || call == NULL || res == NULL || call->url == NULL)
        return dc_err_set(eb, DC_EINVAL, "http: missing argument");
    m = call->method != NULL ? call->method : "GET";
    if (!method_valid(m))
        return dc_err_set(eb, DC_EINVAL, "http: invalid method");
    body = call->body_len > 0 || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
           strcmp(m, "PATCH") == 0;
    if (strcmp(m, "HEAD") == 0)
        body = false;
    dc_buf_init(&res->body, call->on_body == NULL ? c->o.max_response : 0);
    /* https:// with the call's own CAs (the sidecars' mTLS) takes the built-in client too. */
    if (url_parse(call->url, &u) &&
        (!u.tls || (call->tls_ca_pem != NULL && !c->o.insecure_skip_verify)))
        return fast_do(c, call, &u, m, body, res, eb);
    /* libcurl's SSL_CTX comes from its own (shared) OpenSSL, not the one linked into the
     * shipped binaries: a hook must not touch it. */
    if (call->tls_ctx_fn != NULL)
        return dc_err_set(eb, DC_EINVAL, "http: tls_ctx_fn needs tls_ca_pem and verification");
    rv = curl_ready(c, eb);
    if (rv != DC_OK)
        return rv;
    if (build_headers(call, body, &hdrs) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "http: invalid request header");
    memset(&st, 0, sizeof(st));
    st.call = call;
    st.res = res;
    st.h = handle_get(c);
    if (st.h == NULL) {
        curl_slist_free_all(hdrs);
        return dc_err_set(eb, DC_EIO, "http: curl_easy_init failed");
    }
    errbuf[0] = '\0';
    rc = set_options(c, &st, hdrs, m, body, errbuf);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(st.h);
    if (rc == CURLE_OK && !st.head_done && run_head(&st) != 0)
        rc = CURLE_ABORTED_BY_CALLBACK;
    if (!st.head_done)
        (void)curl_easy_getinfo(st.h, CURLINFO_RESPONSE_CODE, &res->status);
    (void)curl_easy_getinfo(st.h, CURLINFO_NUM_CONNECTS, &res->num_connects);
    rv = err_from_curl(rc, &st, errbuf, eb);
    /* The handle keeps pointers to this call's data until its next reset; nothing uses
     * them before that. */
    handle_put(c, st.h);
    curl_slist_free_all(hdrs);
    return rv;
}

const char *dc_http_result_header(const struct dc_http_result *res, const char *name)
{
    size_t i;

    for (i = 0; i < res->n_headers; i++) {
        if (dc_str_eq_ci(res->headers[i].name, name))
            return res->headers[i].value;
    }
    return NULL;
}

void dc_http_result_cleanup(struct dc_http_result *res)
{
    dc_buf_cleanup(&res->body);
    dc_arena_cleanup(&res->arena_);
    memset(res, 0, sizeof(*res));
}

#ifdef DC_FUZZING
/* Fuzzing entry (common/fuzz/fuzz_http_client.c): the built-in client's response reader over
 * a socketpair holding `data` as the server's bytes, then end of stream. data[0] picks the
 * request (HEAD or not), whether the body is streamed, the buffered body limit and the read
 * buffer's first size (small sizes exercise compaction and growth). */
int dc__http_client_fuzz(const uint8_t *data, size_t len);

static int fz_body(const void *p, size_t n, void *ud)
{
    size_t *total = ud;

    (void)p;
    *total += n;
    return *total > 100000 ? 1 : 0;
}

int dc__http_client_fuzz(const uint8_t *data, size_t len)
{
    struct dc_http_call call = {.method = "GET"};
    struct dc_http_result res = {0};
    struct dc_errbuf eb = {{0}};
    struct fx x = {0};
    size_t streamed = 0;
    int sv[2], rv, sz = 1 << 20;
    uint8_t f;

    if (len < 1 || len > 65536)
        return 0;
    f = data[0];
    data++, len--;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    if ((len > 0 && write(sv[0], data, len) != (ssize_t)len) || shutdown(sv[0], SHUT_WR) != 0) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    if (f & 2) {
        call.on_body = fz_body;
        call.ud = &streamed;
    }
    dc_buf_init(&res.body, call.on_body == NULL ? (size_t)64 << ((f >> 2) & 7) : 0);
    x.call = &call;
    x.res = &res;
    x.eb = &eb;
    x.conn = dc_xcalloc(1, sizeof(*x.conn) + 1);
    x.conn->fd = sv[1];
    x.conn->cap = (size_t)(f >> 5) * 7 + 1;
    x.conn->buf = dc_xmalloc(x.conn->cap);
    rv = read_response(&x, (f & 1) != 0);
    if ((rv != DC_OK && rv != DC_EAGAIN && eb.msg[0] == '\0') || x.off > x.len ||
        x.len > x.conn->cap || res.body.len > res.body.max ||
        res.n_headers > DC_HTTP_MAX_RESPONSE_HEADERS ||
        (rv == DC_OK && x.keep_alive && x.off != x.len))
        abort();
    fconn_close(x.conn);
    close(sv[0]);
    dc_http_result_cleanup(&res);
    return 0;
}
#endif
