/* Kubernetes API client: transfers over libcurl, token rotation, Status -> DC_E* mapping, the
 * cancel token, and the CRUD helpers. Watches are in k8s_watch.c. libcurl is loaded by the first
 * dc_k8s_client_new (curl_api.h). */
#include "dc/k8s.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"
#include "k8s_internal.h"

#ifndef DC_VERSION
#define DC_VERSION "0.0.0"
#endif

#define K8S_DEFAULT_TIMEOUT_MS 30000L
#define K8S_DEFAULT_TOKEN_CHECK_MS 60000L
#define K8S_CONNECT_TIMEOUT_MS 10000L

struct dc_k8s_client {
    struct dc_k8s_config cfg;
    long timeout_ms;
    long token_check_ms;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    pthread_mutex_t token_mu; /* guards the token fields below */
    char *token;              /* current bearer token (from cfg.token or cfg.token_file) */
    int64_t token_checked_ms;
    struct timespec token_mtime;
};

int64_t k8s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------------ */
/* Status -> error */

int dc_k8s_err_from_status(long http_code, const char *reason)
{
    static const struct {
        const char *reason;
        int err;
    } by_reason[] = {
        {"NotFound", DC_ENOTFOUND},
        {"AlreadyExists", DC_EEXIST},
        {"Conflict", DC_ECONFLICT},
        {"Invalid", DC_EINVAL},
        {"BadRequest", DC_EINVAL},
        {"Unauthorized", DC_EPERM},
        {"Forbidden", DC_EPERM},
        {"Expired", DC_ERANGE},
        {"Gone", DC_ERANGE},
        {"MethodNotAllowed", DC_EUNSUPPORTED},
        {"UnsupportedMediaType", DC_EUNSUPPORTED},
        {"NotAcceptable", DC_EUNSUPPORTED},
        {"RequestEntityTooLarge", DC_ETOOBIG},
        {"TooManyRequests", DC_EUNAVAIL},
        {"ServiceUnavailable", DC_EUNAVAIL},
        {"Timeout", DC_ETIMEDOUT},
        {"ServerTimeout", DC_ETIMEDOUT},
        {"InternalError", DC_EINTERNAL},
    };

    if (http_code >= 200 && http_code < 300)
        return DC_OK;
    if (!dc_str_empty(reason))
        for (size_t i = 0; i < sizeof(by_reason) / sizeof(by_reason[0]); i++)
            if (strcmp(reason, by_reason[i].reason) == 0)
                return by_reason[i].err;
    switch (http_code) {
    case 400:
    case 422:
        return DC_EINVAL;
    case 401:
    case 403:
        return DC_EPERM;
    case 404:
        return DC_ENOTFOUND;
    case 405:
    case 406:
    case 415:
        return DC_EUNSUPPORTED;
    case 409:
        return DC_ECONFLICT;
    case 410:
        return DC_ERANGE;
    case 413:
        return DC_ETOOBIG;
    case 429:
        return DC_EUNAVAIL;
    case 500:
        return DC_EINTERNAL;
    case 504:
        return DC_ETIMEDOUT;
    default:
        return http_code >= 500 ? DC_EUNAVAIL : DC_EINVAL;
    }
}

int dc_k8s_status_error(long http_code, const char *body, size_t len, struct dc_errbuf *eb)
{
    cJSON *st = body != NULL && len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
    const char *reason = NULL, *message = NULL;
    int rv;

    if (cJSON_IsObject(st)) {
        reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "reason"));
        message = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "message"));
    }
    rv = dc_k8s_err_from_status(http_code, reason);
    if (rv == DC_OK)
        rv = DC_EINTERNAL; /* only called for failures */
    if (message != NULL || reason != NULL)
        dc_err_set(eb, rv, "%s: %s (HTTP %ld)", reason != NULL ? reason : "Failure",
                   message != NULL ? message : "", http_code);
    else
        dc_err_set(eb, rv, "HTTP %ld: %.*s", http_code, (int)(len > 200 ? 200 : len),
                   body != NULL ? body : "");
    cJSON_Delete(st);
    return rv;
}

/* ------------------------------------------------------------------------------------------ */
/* Cancel token */

struct k8s_cancel_reg {
    CURLM *multi;
    struct k8s_cancel_reg *next;
};

struct dc_k8s_cancel {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool fired;
    struct k8s_cancel_reg *regs;
};

struct dc_k8s_cancel *dc_k8s_cancel_new(void)
{
    struct dc_k8s_cancel *c = dc_xcalloc(1, sizeof(*c));
    pthread_condattr_t ca;

    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&c->fired, false);
    return c;
}

void dc_k8s_cancel_free(struct dc_k8s_cancel *c)
{
    if (c == NULL)
        return;
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void dc_k8s_cancel_fire(struct dc_k8s_cancel *c)
{
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->fired, true);
    for (struct k8s_cancel_reg *r = c->regs; r != NULL; r = r->next)
        curl_multi_wakeup(r->multi);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

bool dc_k8s_cancel_fired(const struct dc_k8s_cancel *c)
{
    return c != NULL && atomic_load(&c->fired);
}

int dc_k8s_cancel_sleep(struct dc_k8s_cancel *c, long ms)
{
    struct timespec ts;

    if (c == NULL) {
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        return DC_OK;
    }
    ts = dc_timespec_in(CLOCK_MONOTONIC, ms * DC_NS_PER_MS);
    pthread_mutex_lock(&c->mu);
    while (!atomic_load(&c->fired))
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&c->mu);
    return atomic_load(&c->fired) ? DC_ECANCELED : DC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Client */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
    struct dc_k8s_client *c = arg;
    (void)h;
    (void)access;
    pthread_mutex_lock(&c->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
    struct dc_k8s_client *c = arg;
    (void)h;
    pthread_mutex_unlock(&c->share_mu[data]);
}

static char *strdup_or_null(const char *s)
{
    return s != NULL ? dc_xstrdup(s) : NULL;
}

/* Re-read the token file when forced, or when its mtime changed and the check is due. Returns
 * true when the token changed. Caller holds token_mu. */
static bool token_refresh_locked(struct dc_k8s_client *c, bool force)
{
    struct stat st;
    char *tok = NULL;
    size_t n;
    int64_t now = k8s_now_ms();
    bool changed;

    if (c->cfg.token_file == NULL)
        return false;
    if (!force && c->token != NULL && now - c->token_checked_ms < c->token_check_ms)
        return false;
    c->token_checked_ms = now;
    if (stat(c->cfg.token_file, &st) != 0)
        return false; /* keep the old token; the server will say 401 if it is stale */
    if (!force && c->token != NULL && st.st_mtim.tv_sec == c->token_mtime.tv_sec &&
        st.st_mtim.tv_nsec == c->token_mtime.tv_nsec)
        return false;
    if (k8s_read_file(c->cfg.token_file, DC_MAX_K8S_CRED_FILE, &tok, &n, NULL) != DC_OK)
        return false;
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        tok[--n] = '\0';
    c->token_mtime = st.st_mtim;
    changed = !dc_str_eq(tok, c->token);
    k8s_free_secret(c->token);
    c->token = tok;
    return changed;
}

bool k8s_client_token_reload(struct dc_k8s_client *c)
{
    bool changed;

    pthread_mutex_lock(&c->token_mu);
    changed = token_refresh_locked(c, true);
    pthread_mutex_unlock(&c->token_mu);
    return changed;
}

int dc_k8s_client_new(struct dc_k8s_client **out, const struct dc_k8s_config *cfg,
                      struct dc_errbuf *eb)
{
    struct dc_k8s_client *c;
    int rv;

    *out = NULL;
    if (cfg == NULL || dc_str_empty(cfg->server))
        return dc_err_set(eb, DC_EINVAL, "k8s client: no server");
    if (!dc_str_has_prefix(cfg->server, "https://") && !dc_str_has_prefix(cfg->server, "http://"))
        return dc_err_set(eb, DC_EINVAL, "k8s client: server \"%s\" is not an http(s) URL",
                          cfg->server);
    rv = dc__curl_load(eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "k8s client");
        return rv;
    }
    c = dc_xcalloc(1, sizeof(*c));
    c->cfg.server = dc_xstrdup(cfg->server);
    c->cfg.namespace = dc_xstrdup(!dc_str_empty(cfg->namespace) ? cfg->namespace : "default");
    c->cfg.ca_pem = strdup_or_null(cfg->ca_pem);
    c->cfg.cert_pem = strdup_or_null(cfg->cert_pem);
    c->cfg.key_pem = strdup_or_null(cfg->key_pem);
    c->cfg.token = strdup_or_null(cfg->token);
    c->cfg.token_file = strdup_or_null(cfg->token_file);
    c->cfg.context = strdup_or_null(cfg->context);
    c->cfg.insecure = cfg->insecure;
    c->timeout_ms = K8S_DEFAULT_TIMEOUT_MS;
    c->token_check_ms = K8S_DEFAULT_TOKEN_CHECK_MS;
    pthread_mutex_init(&c->token_mu, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_mu[i], NULL);
    c->share = curl_share_init();
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    if (c->cfg.token != NULL) {
        c->token = dc_xstrdup(c->cfg.token);
    } else if (c->cfg.token_file != NULL) {
        struct dc_errbuf tmp = {0};
        char *probe = NULL;
        rv = k8s_read_file(c->cfg.token_file, DC_MAX_K8S_CRED_FILE, &probe, NULL, &tmp);
        k8s_free_secret(probe);
        if (rv != DC_OK) {
            dc_k8s_client_free(c);
            return dc_err_set(eb, rv, "k8s client: token file: %s", tmp.msg);
        }
        token_refresh_locked(c, true);
    }
    *out = c;
    return DC_OK;
}

void dc_k8s_client_free(struct dc_k8s_client *c)
{
    if (c == NULL)
        return;
    curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_mu[i]);
    pthread_mutex_destroy(&c->token_mu);
    k8s_free_secret(c->token);
    dc_k8s_config_cleanup(&c->cfg);
    free(c);
}

const char *dc_k8s_client_namespace(const struct dc_k8s_client *c)
{
    return c->cfg.namespace;
}

void dc_k8s_client_set_timeout(struct dc_k8s_client *c, long ms)
{
    c->timeout_ms = ms;
}

void dc_k8s_client_set_token_check(struct dc_k8s_client *c, long ms)
{
    c->token_check_ms = ms;
}

/* ------------------------------------------------------------------------------------------ */
/* Transfers */

int k8s_append_escaped(struct dc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rv = DC_OK;

    for (; *s != '\0' && rv == DC_OK; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            rv = dc_buf_appendc(b, (char)ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rv = dc_buf_append(b, e, 3);
        }
    }
    return rv;
}

static size_t xfer_write(char *p, size_t size, size_t nmemb, void *arg)
{
    struct k8s_xfer *x = arg;
    size_t n = size * nmemb;
    long code = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    if (x->sink != NULL && code >= 200 && code < 300) {
        x->sink_rv = x->sink(x, p, n);
        return x->sink_rv == DC_OK ? n : 0;
    }
    if (dc_buf_append(&x->resp, p, n) != DC_OK) {
        x->sink_rv = dc_err_set(x->eb, DC_ETOOBIG, "response larger than %zu bytes", x->resp.max);
        return 0;
    }
    return n;
}

static void add_header(struct k8s_xfer *x, const char *name, const char *value)
{
    struct dc_buf h = {0};

    if (dc_buf_appendf(&h, "%s: %s", name, value) == DC_OK)
        x->headers = curl_slist_append(x->headers, dc_buf_cstr(&h));
    /* The buffer may hold the token: wipe it. */
    if (h.data != NULL)
        memset(h.data, 0, h.cap);
    dc_buf_cleanup(&h);
}

static void xfer_tls(struct k8s_xfer *x, const struct dc_k8s_client *c)
{
    struct curl_blob blob;

    if (c->cfg.insecure) {
        curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (c->cfg.ca_pem != NULL) {
        /* The cluster CA replaces the system store, as in client-go. */
        blob.data = c->cfg.ca_pem;
        blob.len = strlen(c->cfg.ca_pem);
        blob.flags = CURL_BLOB_COPY;
        curl_easy_setopt(x->easy, CURLOPT_CAINFO_BLOB, &blob);
        curl_easy_setopt(x->easy, CURLOPT_CAPATH, NULL);
    }
    if (c->cfg.cert_pem != NULL && c->cfg.key_pem != NULL) {
        blob.data = c->cfg.cert_pem;
        blob.len = strlen(c->cfg.cert_pem);
        blob.flags = CURL_BLOB_COPY;
        curl_easy_setopt(x->easy, CURLOPT_SSLCERT_BLOB, &blob);
        curl_easy_setopt(x->easy, CURLOPT_SSLCERTTYPE, "PEM");
        blob.data = c->cfg.key_pem;
        blob.len = strlen(c->cfg.key_pem);
        curl_easy_setopt(x->easy, CURLOPT_SSLKEY_BLOB, &blob);
        curl_easy_setopt(x->easy, CURLOPT_SSLKEYTYPE, "PEM");
    }
}

void k8s_xfer_init(struct k8s_xfer *x, struct dc_k8s_client *c, const char *method,
                   const char *path_query, const char *content_type, const char *body,
                   size_t body_len, bool watch, long stall_s)
{
    struct dc_buf url = {0};
    char *token = NULL;

    memset(x, 0, sizeof(*x));
    dc_buf_init(&x->resp, DC_MAX_K8S_RESPONSE);
    x->easy = curl_easy_init();
    DC_ASSERT(x->easy != NULL);
    DC_ASSERT(dc_buf_appendf(&url, "%s%s", c->cfg.server, path_query) == DC_OK);
    curl_easy_setopt(x->easy, CURLOPT_URL, dc_buf_cstr(&url));
    dc_buf_cleanup(&url);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_SHARE, c->share);
    curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(x->easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "daprc/" DC_VERSION);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, K8S_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, xfer_write);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    if (watch) {
        curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_TIME, stall_s);
    } else if (c->timeout_ms > 0) {
        curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    }
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, body);
    }
    x->headers = curl_slist_append(x->headers, "Accept: application/json");
    if (content_type != NULL)
        add_header(x, "Content-Type", content_type);
    /* No "Expect: 100-continue" round trip on bodies. */
    x->headers = curl_slist_append(x->headers, "Expect:");
    pthread_mutex_lock(&c->token_mu);
    token_refresh_locked(c, false);
    if (c->token != NULL)
        token = dc_xstrdup(c->token);
    pthread_mutex_unlock(&c->token_mu);
    if (token != NULL) {
        struct dc_buf v = {0};
        if (dc_buf_appendf(&v, "Bearer %s", token) == DC_OK)
            add_header(x, "Authorization", dc_buf_cstr(&v));
        if (v.data != NULL)
            memset(v.data, 0, v.cap);
        dc_buf_cleanup(&v);
        k8s_free_secret(token);
    }
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    xfer_tls(x, c);
}

static int map_curl(CURLcode cc, struct dc_errbuf *eb)
{
    const char *msg = curl_easy_strerror(cc);

    switch (cc) {
    case CURLE_OK:
        return DC_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return dc_err_set(eb, DC_ETIMEDOUT, "k8s: %s", msg);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return dc_err_set(eb, DC_EUNAVAIL, "k8s: %s", msg);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return dc_err_set(eb, DC_ETLS, "k8s: %s", msg);
    default:
        return dc_err_set(eb, DC_EIO, "k8s: %s", msg);
    }
}

int k8s_xfer_run(struct k8s_xfer *x, struct dc_k8s_cancel *cancel, struct dc_errbuf *eb)
{
    CURLM *m = curl_multi_init();
    struct k8s_cancel_reg reg = {.multi = m};
    CURLMsg *msg;
    CURLcode cc = CURLE_OK;
    int running = 1, left, rv = DC_OK;

    x->eb = eb;
    curl_multi_add_handle(m, x->easy);
    if (cancel != NULL) {
        pthread_mutex_lock(&cancel->mu);
        reg.next = cancel->regs;
        cancel->regs = &reg;
        pthread_mutex_unlock(&cancel->mu);
    }
    while (running) {
        if (dc_k8s_cancel_fired(cancel)) {
            rv = dc_err_set(eb, DC_ECANCELED, "k8s: canceled");
            break;
        }
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            rv = dc_err_set(eb, DC_EIO, "k8s: curl_multi_perform failed");
            break;
        }
        if (running && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) {
            rv = dc_err_set(eb, DC_EIO, "k8s: curl_multi_poll failed");
            break;
        }
    }
    if (cancel != NULL) {
        pthread_mutex_lock(&cancel->mu);
        for (struct k8s_cancel_reg **pp = &cancel->regs; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == &reg) {
                *pp = reg.next;
                break;
            }
        }
        pthread_mutex_unlock(&cancel->mu);
    }
    if (rv == DC_OK) {
        while ((msg = curl_multi_info_read(m, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE)
                cc = msg->data.result;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->http_code);
        if (cc == CURLE_WRITE_ERROR && x->sink_rv != DC_OK)
            rv = x->sink_rv; /* the sink already wrote eb */
        else
            rv = map_curl(cc, eb);
    }
    curl_multi_remove_handle(m, x->easy);
    curl_multi_cleanup(m);
    return rv;
}

void k8s_xfer_cleanup(struct k8s_xfer *x)
{
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    dc_buf_cleanup(&x->resp);
    memset(x, 0, sizeof(*x));
}

int dc_k8s_request(struct dc_k8s_client *c, const char *method, const char *path_query,
                   const char *content_type, const char *body, size_t body_len,
                   struct dc_k8s_cancel *cancel, cJSON **out, long *http_code, struct dc_errbuf *eb)
{
    struct k8s_xfer x;
    int rv;

    if (out != NULL)
        *out = NULL;
    for (int attempt = 0;; attempt++) {
        k8s_xfer_init(&x, c, method, path_query, content_type, body, body_len, false, 0);
        rv = k8s_xfer_run(&x, cancel, eb);
        if (http_code != NULL)
            *http_code = x.http_code;
        /* A rotated token: the file changed under us. Re-read it and retry once. */
        if (rv == DC_OK && x.http_code == 401 && attempt == 0 && k8s_client_token_reload(c)) {
            k8s_xfer_cleanup(&x);
            continue;
        }
        break;
    }
    if (rv != DC_OK)
        goto out;
    if (x.http_code < 200 || x.http_code >= 300) {
        rv = dc_k8s_status_error(x.http_code, x.resp.data, x.resp.len, eb);
        goto out;
    }
    if (out != NULL && x.resp.len > 0) {
        *out = cJSON_ParseWithLength(x.resp.data, x.resp.len);
        if (*out == NULL)
            rv = dc_err_set(eb, DC_EPARSE, "k8s: %s %s: response is not JSON", method, path_query);
    }
out:
    k8s_xfer_cleanup(&x);
    return rv;
}

/* ------------------------------------------------------------------------------------------ */
/* Paths and helpers */

int dc_k8s_path(struct dc_buf *out, const struct dc_k8s_resource *res, const char *ns,
                const char *name, const char *sub)
{
    int rv;

    if (res == NULL || dc_str_empty(res->version) || dc_str_empty(res->plural))
        return DC_EINVAL;
    if (dc_str_empty(res->group))
        rv = dc_buf_appendf(out, "/api/%s", res->version);
    else
        rv = dc_buf_appendf(out, "/apis/%s/%s", res->group, res->version);
    if (rv == DC_OK && res->namespaced && !dc_str_empty(ns)) {
        rv = dc_buf_appends(out, "/namespaces/");
        if (rv == DC_OK)
            rv = k8s_append_escaped(out, ns);
    }
    if (rv == DC_OK)
        rv = dc_buf_appendf(out, "/%s", res->plural);
    if (rv == DC_OK && !dc_str_empty(name)) {
        rv = dc_buf_appendc(out, '/');
        if (rv == DC_OK)
            rv = k8s_append_escaped(out, name);
        if (rv == DC_OK && !dc_str_empty(sub))
            rv = dc_buf_appendf(out, "/%s", sub);
    }
    return rv;
}

static int with_path(struct dc_buf *p, const struct dc_k8s_resource *res, const char *ns,
                     const char *name, const char *sub, struct dc_errbuf *eb)
{
    dc_buf_init(p, 0);
    if (dc_k8s_path(p, res, ns, name, sub) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "k8s: bad resource");
    return DC_OK;
}

static int query_param(struct dc_buf *p, char *sep, const char *key, const char *value)
{
    int rv;

    if (value == NULL)
        return DC_OK;
    rv = dc_buf_appendf(p, "%c%s=", *sep, key);
    *sep = '&';
    return rv == DC_OK ? k8s_append_escaped(p, value) : rv;
}

int dc_k8s_get(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
               const char *name, cJSON **out, struct dc_errbuf *eb)
{
    struct dc_buf p;
    int rv = with_path(&p, res, ns, name, NULL, eb);

    if (rv == DC_OK)
        rv = dc_k8s_request(c, "GET", dc_buf_cstr(&p), NULL, NULL, 0, NULL, out, NULL, eb);
    dc_buf_cleanup(&p);
    return rv;
}

int dc_k8s_list(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                const struct dc_k8s_list_opts *opts, cJSON **out, struct dc_errbuf *eb)
{
    struct dc_buf p;
    char sep = '?', lim[32];
    int rv = with_path(&p, res, ns, NULL, NULL, eb);

    if (rv == DC_OK && opts != NULL) {
        rv = query_param(&p, &sep, "labelSelector", opts->label_selector);
        if (rv == DC_OK)
            rv = query_param(&p, &sep, "fieldSelector", opts->field_selector);
        if (rv == DC_OK)
            rv = query_param(&p, &sep, "resourceVersion", opts->resource_version);
        if (rv == DC_OK)
            rv = query_param(&p, &sep, "continue", opts->continue_token);
        snprintf(lim, sizeof(lim), "%ld", opts->limit);
        if (rv == DC_OK && opts->limit > 0)
            rv = query_param(&p, &sep, "limit", lim);
    }
    if (rv == DC_OK)
        rv = dc_k8s_request(c, "GET", dc_buf_cstr(&p), NULL, NULL, 0, NULL, out, NULL, eb);
    dc_buf_cleanup(&p);
    return rv;
}

static int send_obj(struct dc_k8s_client *c, const char *method, const char *path,
                    const char *ctype, const cJSON *obj, cJSON **out, struct dc_errbuf *eb)
{
    char *body = cJSON_PrintUnformatted(obj);
    int rv;

    if (body == NULL)
        return dc_err_set(eb, DC_EINVAL, "k8s: object cannot be serialised");
    rv = dc_k8s_request(c, method, path, ctype, body, strlen(body), NULL, out, NULL, eb);
    cJSON_free(body);
    return rv;
}

int dc_k8s_create(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                  const cJSON *obj, cJSON **out, struct dc_errbuf *eb)
{
    struct dc_buf p;
    int rv = with_path(&p, res, ns, NULL, NULL, eb);

    if (rv == DC_OK)
        rv = send_obj(c, "POST", dc_buf_cstr(&p), "application/json", obj, out, eb);
    dc_buf_cleanup(&p);
    return rv;
}

int dc_k8s_update(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                  const char *name, const cJSON *obj, cJSON **out, struct dc_errbuf *eb)
{
    struct dc_buf p;
    int rv = with_path(&p, res, ns, name, NULL, eb);

    if (rv == DC_OK)
        rv = send_obj(c, "PUT", dc_buf_cstr(&p), "application/json", obj, out, eb);
    dc_buf_cleanup(&p);
    return rv;
}

int dc_k8s_patch(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                 const char *name, enum dc_k8s_patch_type type, const char *patch,
                 const struct dc_k8s_patch_opts *opts, cJSON **out, struct dc_errbuf *eb)
{
    static const char *const ctypes[] = {
        [DC_K8S_PATCH_JSON] = "application/json-patch+json",
        [DC_K8S_PATCH_MERGE] = "application/merge-patch+json",
        [DC_K8S_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
        [DC_K8S_PATCH_APPLY] = "application/apply-patch+yaml",
    };
    struct dc_buf p;
    char sep = '?';
    int rv;

    if ((unsigned)type > DC_K8S_PATCH_APPLY || patch == NULL)
        return dc_err_set(eb, DC_EINVAL, "k8s: bad patch");
    if (type == DC_K8S_PATCH_APPLY && (opts == NULL || dc_str_empty(opts->field_manager)))
        return dc_err_set(eb, DC_EINVAL, "k8s: server-side apply needs a field manager");
    rv = with_path(&p, res, ns, name, opts != NULL ? opts->sub : NULL, eb);
    if (rv == DC_OK && opts != NULL) {
        rv = query_param(&p, &sep, "fieldManager", opts->field_manager);
        if (rv == DC_OK && type == DC_K8S_PATCH_APPLY)
            rv = query_param(&p, &sep, "force", opts->force ? "true" : "false");
    }
    if (rv == DC_OK)
        rv = dc_k8s_request(c, "PATCH", dc_buf_cstr(&p), ctypes[type], patch, strlen(patch), NULL,
                            out, NULL, eb);
    dc_buf_cleanup(&p);
    return rv;
}

int dc_k8s_delete(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                  const char *name, cJSON **out, struct dc_errbuf *eb)
{
    static const char opts[] =
        "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"propagationPolicy\":\"Background\"}";
    struct dc_buf p;
    int rv = with_path(&p, res, ns, name, NULL, eb);

    if (rv == DC_OK)
        rv = dc_k8s_request(c, "DELETE", dc_buf_cstr(&p), "application/json", opts,
                            sizeof(opts) - 1, NULL, out, NULL, eb);
    dc_buf_cleanup(&p);
    return rv;
}

static const char *meta_str(const cJSON *obj, const char *key)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, key));
}

const char *dc_k8s_obj_name(const cJSON *obj)
{
    return meta_str(obj, "name");
}

const char *dc_k8s_obj_namespace(const cJSON *obj)
{
    return meta_str(obj, "namespace");
}

const char *dc_k8s_obj_rv(const cJSON *obj)
{
    return meta_str(obj, "resourceVersion");
}
