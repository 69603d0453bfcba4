/* HTTP client on libcurl (contracts in dc/http_client.h).
 *
 * Easy handles are pooled and reset before each call; the connection and DNS caches live in a
 * CURLSH shared by all handles, guarded by one mutex per shared data kind, so a connection
 * opened by one thread is reused by the next call on any thread. */
#include "dc/http_client.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"

#define POOL_MAX 64
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_IDLE 64

struct dc_http_client {
    struct dc_http_client_opts o;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    pthread_mutex_t mu; /* guards idle */
    CURL *idle[POOL_MAX];
    size_t n_idle;
};

struct call_state {
    const struct dc_http_call *call;
    struct dc_http_result *res;
    CURL *h;
    bool too_big;
    bool head_done;
    int cb_rv;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

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

int dc_http_client_new(struct dc_http_client **out, const struct dc_http_client_opts *o,
                       struct dc_errbuf *eb)
{
    struct dc_http_client *c;
    size_t i;

    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return dc_err_set(eb, DC_EIO, "curl_global_init: %s", curl_easy_strerror(global_rc));
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
    c->share = curl_share_init();
    if (c->share == NULL ||
        curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        dc_http_client_free(c);
        return dc_err_set(eb, DC_EIO, "curl share setup failed");
    }
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

    st->head_done = true;
    (void)curl_easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &st->res->status);
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

static CURLcode on_ssl_ctx(CURL *h, void *ssl_ctx, void *ud)
{
    const struct call_state *st = ud;

    (void)h;
    return st->call->tls_ctx_fn(ssl_ctx, st->call->tls_ud) == 0 ? CURLE_OK : CURLE_SSL_CERTPROBLEM;
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
    if (rc == CURLE_OK && call->tls_ctx_fn != NULL) {
        rc = curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, st);
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

int dc_http_client_do(struct dc_http_client *c, const struct dc_http_call *call,
                      struct dc_http_result *res, struct dc_errbuf *eb)
{
    struct call_state st;
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
    if (build_headers(call, body, &hdrs) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "http: invalid request header");

    memset(&st, 0, sizeof(st));
    st.call = call;
    st.res = res;
    dc_buf_init(&res->body, call->on_body == NULL ? c->o.max_response : 0);
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
