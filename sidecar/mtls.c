/* Mutual TLS of the internal invocation channel (contracts in mtls.h). */
#include "mtls.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

/* Verified client certificates remembered (direct-mapped by hash). */
#define CACHE_SLOTS 64
/* Intermediates taken from a client's chain. */
#define MAX_CHAIN 8

struct cache_entry {
    uint64_t hash;
    uint64_t anchors_gen;
    int64_t not_after_s;
    uint8_t *der; /* NULL: empty slot */
    size_t len;
    struct dc_spiffe_id id;
};

struct sdc_mtls {
    struct dc_identity *identity;
    struct dc_svid *server_svid; /* what sdc_mtls_server_opts handed out */
    pthread_mutex_t srv_mu;      /* guards srv (held during a swap) */
    struct dc_http_server *srv;
    uint64_t srv_gen; /* generation of the certificate srv presents */
    pthread_mutex_t cache_mu;
    struct cache_entry cache[CACHE_SLOTS];
};

/* ---- server ------------------------------------------------------------------------------- */

/* The identity published a new snapshot: a new certificate goes to the server. */
static void on_change(const struct dc_svid *svid, void *ud)
{
    struct sdc_mtls *m = ud;
    struct dc_errbuf eb = {0};

    pthread_mutex_lock(&m->srv_mu);
    if (m->srv != NULL && svid->generation > m->srv_gen) {
        /* An anchors-only change keeps the certificate: no swap needed. */
        if (dc_http_server_set_tls(m->srv, svid->cert_pem, svid->key_pem, &eb) == DC_OK)
            m->srv_gen = svid->generation;
        else
            DC_LOG(DC_LOG_ERROR, "mTLS: internal server keeps its old certificate: %s", eb.msg);
    }
    pthread_mutex_unlock(&m->srv_mu);
}

struct sdc_mtls *sdc_mtls_new(struct dc_identity *id)
{
    struct sdc_mtls *m = dc_xcalloc(1, sizeof(*m));

    m->identity = id;
    pthread_mutex_init(&m->srv_mu, NULL);
    pthread_mutex_init(&m->cache_mu, NULL);
    dc_identity_on_change(id, on_change, m);
    return m;
}

void sdc_mtls_free(struct sdc_mtls *m)
{
    if (m == NULL)
        return;
    dc_identity_on_change(m->identity, NULL, NULL);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        free(m->cache[i].der);
    dc_svid_release(m->server_svid);
    pthread_mutex_destroy(&m->srv_mu);
    pthread_mutex_destroy(&m->cache_mu);
    free(m);
}

void sdc_mtls_server_opts(struct sdc_mtls *m, struct dc_http_server_opts *o)
{
    dc_svid_release(m->server_svid);
    m->server_svid = dc_identity_get(m->identity);
    o->tls_cert_pem = m->server_svid->cert_pem;
    o->tls_key_pem = m->server_svid->key_pem;
    o->tls_client_ca_pem = m->server_svid->anchors_pem;
}

void sdc_mtls_attach_server(struct sdc_mtls *m, struct dc_http_server *srv)
{
    struct dc_svid *cur;

    pthread_mutex_lock(&m->srv_mu);
    m->srv = srv;
    m->srv_gen = m->server_svid != NULL ? m->server_svid->generation : 0;
    pthread_mutex_unlock(&m->srv_mu);
    if (srv == NULL)
        return;
    /* A renewal between sdc_mtls_server_opts and now published without a server to swap. */
    cur = dc_identity_get(m->identity);
    on_change(cur, m);
    dc_svid_release(cur);
}

/* The cache key of a DER certificate: FNV-1a (64 bits) of its length and last 64 bytes, which
 * are the signature (random for ECDSA, unique per certificate anyway); entries are compared in
 * full, so the hash only has to spread them. */
static uint64_t cert_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)n;
    size_t i = n > 64 ? n - 64 : 0;

    for (h *= 0x100000001b3ULL; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static bool cache_get(struct sdc_mtls *m, uint64_t h, const uint8_t *der, size_t len,
                      uint64_t anchors_gen, int64_t now_s, struct dc_spiffe_id *out)
{
    struct cache_entry *e = &m->cache[h % CACHE_SLOTS];
    bool hit;

    pthread_mutex_lock(&m->cache_mu);
    hit = e->der != NULL && e->hash == h && e->len == len && e->anchors_gen == anchors_gen &&
          now_s < e->not_after_s && memcmp(e->der, der, len) == 0;
    if (hit)
        *out = e->id;
    pthread_mutex_unlock(&m->cache_mu);
    return hit;
}

static void cache_put(struct sdc_mtls *m, uint64_t h, const uint8_t *der, size_t len,
                      uint64_t anchors_gen, int64_t not_after_s, const struct dc_spiffe_id *id)
{
    struct cache_entry *e = &m->cache[h % CACHE_SLOTS];
    uint8_t *copy = dc_xmalloc(len);
    uint8_t *old;

    memcpy(copy, der, len);
    pthread_mutex_lock(&m->cache_mu);
    old = e->der;
    e->der = copy;
    e->len = len;
    e->hash = h;
    e->anchors_gen = anchors_gen;
    e->not_after_s = not_after_s;
    e->id = *id;
    pthread_mutex_unlock(&m->cache_mu);
    free(old);
}

static X509 *der_cert(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;

    return d2i_X509(NULL, &p, (long)len);
}

/* Full verification of the client's chain against `anchors`. */
static int verify_chain(const struct dc_http_request *req, X509 *leaf, X509_STORE *anchors,
                        struct dc_errbuf *eb)
{
    STACK_OF(X509) *rest = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    const uint8_t *der;
    size_t len;
    int rv = DC_OK;

    if (rest == NULL || ctx == NULL)
        abort();
    for (size_t i = 1; i <= MAX_CHAIN && dc_http_request_peer_cert(req, i, &der, &len) == DC_OK;
         i++) {
        X509 *x = der_cert(der, len);

        if (x != NULL)
            sk_X509_push(rest, x);
    }
    if (X509_STORE_CTX_init(ctx, anchors, leaf, rest) != 1)
        abort();
    /* RFC 5280 §4.2.1.12: the leaf must allow TLS client authentication. */
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(ctx) != 1)
        rv = dc_err_set(eb, DC_EPERM, "client certificate rejected: %s",
                        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(rest, X509_free);
    return rv;
}

int sdc_mtls_peer(struct sdc_mtls *m, const struct dc_http_request *req, struct dc_spiffe_id *out,
                  struct dc_errbuf *eb)
{
    struct dc_svid *svid;
    const uint8_t *der;
    X509 *leaf = NULL;
    size_t len;
    uint64_t h;
    int64_t now = dc_now_ns() / 1000000000LL;
    int rv;

    if (dc_http_request_peer_cert(req, 0, &der, &len) != DC_OK)
        return dc_err_set(eb, DC_EPERM, "no client certificate (mutual TLS is required)");
    h = cert_hash(der, len);
    svid = dc_identity_get(m->identity);
    if (cache_get(m, h, der, len, svid->anchors_gen, now, out)) {
        dc_svid_release(svid);
        return DC_OK;
    }
    leaf = der_cert(der, len);
    if (leaf == NULL) {
        rv = dc_err_set(eb, DC_EPERM, "client certificate does not parse");
        goto cleanup;
    }
    rv = verify_chain(req, leaf, svid->anchors, eb);
    if (rv == DC_OK && dc_spiffe_from_cert(leaf, out, eb) != DC_OK)
        rv = dc_err_set(eb, DC_EPERM, "client certificate has no Dapr SPIFFE id");
    if (rv == DC_OK) {
        struct tm tm;
        int64_t not_after = 0;

        if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
            not_after = (int64_t)timegm(&tm);
        cache_put(m, h, der, len, svid->anchors_gen, not_after, out);
    }
cleanup:
    ERR_clear_error();
    X509_free(leaf);
    dc_svid_release(svid);
    return rv;
}

/* ---- client ------------------------------------------------------------------------------- */

/* The callee a connection must reach, kept on its SSL_CTX (the HTTP client makes one per
 * connection). */
struct expect {
    char ns[DC_SPIFFE_MAX_SEGMENT + 1];
    char app_id[DC_SPIFFE_MAX_SEGMENT + 1];
};

static int expect_idx = -1;
static pthread_once_t expect_once = PTHREAD_ONCE_INIT;

static void expect_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void expect_init(void)
{
    expect_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, expect_free);
}

static int verify_callee(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct expect *e =
        ssl != NULL ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), expect_idx) : NULL;

    if (!ok || X509_STORE_CTX_get_error_depth(xs) != 0)
        return ok;
    if (e == NULL ||
        !dc_identity_x509_is(X509_STORE_CTX_get_current_cert(xs), NULL, e->ns, e->app_id)) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

static int client_ctx(void *ssl_ctx, void *ud)
{
    struct expect *e = dc_xmalloc(sizeof(*e));

    memcpy(e, ud, sizeof(*e));
    pthread_once(&expect_once, expect_init);
    if (expect_idx < 0 || SSL_CTX_set_ex_data(ssl_ctx, expect_idx, e) != 1) {
        free(e);
        return DC_ETLS;
    }
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, verify_callee);
    return 0;
}

static void release_svid(void *arg)
{
    dc_svid_release(arg);
}

void sdc_mtls_client_call(struct sdc_mtls *m, struct dc_http_call *hc, const char *app_id,
                          const char *ns, struct dc_arena *a)
{
    struct dc_svid *svid = dc_identity_get(m->identity);
    struct expect *e = dc_arena_calloc(a, sizeof(*e));

    dc_arena_on_cleanup(a, release_svid, svid);
    dc_strlcpy(e->ns, ns, sizeof(e->ns));
    dc_strlcpy(e->app_id, app_id, sizeof(e->app_id));
    hc->tls_cert_pem = svid->cert_pem;
    hc->tls_key_pem = svid->key_pem;
    hc->tls_ca_pem = svid->anchors_pem;
    hc->tls_ctx_fn = client_ctx;
    hc->tls_ud = e;
}
