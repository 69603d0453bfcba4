/* A workload identity from sentry (contracts in dc/identity.h).
 *
 * One background thread owns everything that changes: it polls the anchors file, renews the
 * certificate when due (and retries with back-off while the old one is still valid), and
 * publishes immutable snapshots. Readers only take a reference to the current snapshot under a
 * mutex, so the request path never waits for sentry, a file or a key generation. */
#include "dc/identity.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dc/grpc.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "dapr/proto/sentry/v1/sentry.pb-c.h"

#define DEFAULT_STARTUP_TIMEOUT_MS 30000
#define DEFAULT_POLL_MS 1000
#define SIGN_TIMEOUT_MS 10000
#define RETRY_MAX_S 30
/* sentry's own identity (control-plane.md §2.3: its serving certificate is an SVID). */
#define SENTRY_APP_ID "dapr-sentry"
/* sentry's defaults: its --trust-domain, and the trust domain of ids without one. */
#define SENTRY_DEFAULT_TD "localhost"
#define PUBLIC_TD "public"

/* What identifies a version of the anchors file without reading it. */
struct file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool exists;
};

struct dc_identity {
    /* Options, copied. */
    char *sentry_address, *app_id, *ns, *td;
    char *anchors_file, *token_file;
    bool kubernetes;
    char *sentry_td, *sentry_ns;
    dc_identity_log_fn *log;
    void *log_ud;
    char **audiences;
    size_t n_audiences;
    int64_t poll_ms;

    pthread_mutex_t mu; /* guards cur, stop, renew_flag; cond signals them */
    pthread_cond_t cond;
    struct dc_svid *cur;
    atomic_uint_fast64_t gen;
    bool stop, renew_flag;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t cb_mu; /* serialises the listener's calls and replacement */
    dc_identity_change_fn *cb;
    void *cb_ud;

    /* Owned by the renewal thread (by dc_identity_start before it runs). */
    char *anchors_pem;
    X509_STORE *anchors;
    uint64_t anchors_gen;
    struct file_stamp stamp;
    struct dc_grpc_client *sentry; /* only during a request: renewals are hours apart */
    int64_t renew_at_s;
    unsigned failures;
};

/* A log line for the caller (common/ never logs itself). */
static void note(struct dc_identity *id, enum dc_log_level level, const char *fmt, ...)
    DC_PRINTF(3, 4);
static void note(struct dc_identity *id, enum dc_log_level level, const char *fmt, ...)
{
    char msg[4096]; /* longer lines (a long path and a long reason) are cut */
    va_list ap;

    if (id->log == NULL)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    id->log(level, msg, id->log_ud);
}

/* ---- snapshots ---------------------------------------------------------------------------- */

static void wipe_free(char *p)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, strlen(p));
        free(p);
    }
}

void dc_svid_release(struct dc_svid *svid)
{
    if (svid == NULL || atomic_fetch_sub(&svid->refs_, 1) != 1)
        return;
    free(svid->cert_pem);
    wipe_free(svid->key_pem);
    free(svid->anchors_pem);
    X509_STORE_free(svid->anchors);
    free(svid);
}

struct dc_svid *dc_identity_get(struct dc_identity *id)
{
    struct dc_svid *s;

    pthread_mutex_lock(&id->mu);
    s = id->cur;
    if (s != NULL)
        atomic_fetch_add(&s->refs_, 1);
    pthread_mutex_unlock(&id->mu);
    return s;
}

uint64_t dc_identity_generation(struct dc_identity *id)
{
    return atomic_load(&id->gen);
}

void dc_identity_on_change(struct dc_identity *id, dc_identity_change_fn *fn, void *ud)
{
    pthread_mutex_lock(&id->cb_mu);
    id->cb = fn;
    id->cb_ud = ud;
    pthread_mutex_unlock(&id->cb_mu);
}

void dc_identity_renew_now(struct dc_identity *id)
{
    pthread_mutex_lock(&id->mu);
    id->renew_flag = true;
    pthread_cond_signal(&id->cond);
    pthread_mutex_unlock(&id->mu);
}

/* Replace the current snapshot with `s` (its one reference moves in) and tell the listener. */
static void publish(struct dc_identity *id, struct dc_svid *s)
{
    struct dc_svid *old;

    pthread_mutex_lock(&id->mu);
    old = id->cur;
    s->generation = old != NULL ? old->generation + 1 : 1;
    id->cur = s;
    atomic_store(&id->gen, s->generation);
    atomic_fetch_add(&s->refs_, 1); /* for the listener below */
    pthread_mutex_unlock(&id->mu);
    dc_svid_release(old);
    pthread_mutex_lock(&id->cb_mu);
    if (id->cb != NULL)
        id->cb(s, id->cb_ud);
    pthread_mutex_unlock(&id->cb_mu);
    dc_svid_release(s);
}

/* ---- pure parts --------------------------------------------------------------------------- */

int64_t dc_identity_renew_at(int64_t not_before_s, int64_t not_after_s, int64_t received_s)
{
    int64_t start = not_before_s > received_s ? not_before_s : received_s;
    int64_t at = start + (not_after_s - start) / 2;

    return at < received_s + 1 ? received_s + 1 : at;
}

int64_t dc_identity_retry_at(int64_t now_s, unsigned failures, int64_t not_after_s)
{
    int64_t wait = 1;

    for (unsigned i = 1; i < failures && wait < RETRY_MAX_S; i++)
        wait *= 2;
    if (wait > RETRY_MAX_S)
        wait = RETRY_MAX_S;
    /* Keep a last try before the certificate runs out. */
    if (not_after_s - 1 > now_s && now_s + wait > not_after_s - 1)
        wait = not_after_s - 1 - now_s;
    return now_s + (wait < 1 ? 1 : wait);
}

int dc_identity_parse_anchors(const char *pem, size_t len, X509_STORE **out, struct dc_errbuf *eb)
{
    X509_STORE *st;
    BIO *b;
    X509 *x;
    size_t n = 0;
    int rv = DC_OK;

    if (len > DC_MAX_SNT_CRED_FILE)
        return dc_err_set(eb, DC_ETOOBIG, "trust anchors over %u bytes", DC_MAX_SNT_CRED_FILE);
    b = BIO_new_mem_buf(pem, (int)len);
    st = X509_STORE_new();
    if (b == NULL || st == NULL)
        abort();
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (++n > DC_MAX_SNT_CERTS) {
            rv = dc_err_set(eb, DC_ETOOBIG, "more than %d trust anchors", DC_MAX_SNT_CERTS);
        } else if (X509_STORE_add_cert(st, x) != 1) {
            /* A duplicate is harmless (both roots listed twice during a rotation). */
            ERR_clear_error();
        }
        X509_free(x);
        if (rv != DC_OK)
            break;
    }
    /* The loop ends with "no start line" at the end of the input. */
    ERR_clear_error();
    BIO_free(b);
    if (rv == DC_OK && n == 0)
        rv = dc_err_set(eb, DC_EPARSE, "no PEM certificate in the trust anchors");
    if (rv != DC_OK) {
        X509_STORE_free(st);
        return rv;
    }
    *out = st;
    return DC_OK;
}

int dc_identity_make_csr(EVP_PKEY *key, const char *td, const char *ns, const char *app_id,
                         struct dc_buf *out, struct dc_errbuf *eb)
{
    struct dc_spiffe_id sid;
    char uri[DC_SPIFFE_MAX_LEN + 1];
    int rv;

    rv = dc_spiffe_build(&sid, dc_str_empty(td) ? PUBLIC_TD : td, dc_str_empty(ns) ? "default" : ns,
                         app_id, eb);
    if (rv != DC_OK)
        return rv;
    if (dc_spiffe_format(&sid, uri, sizeof(uri)) < 0)
        return dc_err_set(eb, DC_ETOOBIG, "SPIFFE id too long");
    return dc_spiffe_csr_make(key, uri, out, eb);
}

bool dc_identity_x509_is(X509 *leaf, const char *td, const char *ns, const char *app_id)
{
    struct dc_spiffe_id sid;

    if (leaf == NULL || dc_spiffe_from_cert(leaf, &sid, NULL) != DC_OK)
        return false;
    return (td == NULL || strcmp(sid.trust_domain, td) == 0) && strcmp(sid.ns, ns) == 0 &&
           strcmp(sid.app_id, app_id) == 0;
}

static int64_t asn1_time_s(const ASN1_TIME *t)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

int dc_identity_check_chain(const char *chain_pem, size_t len, EVP_PKEY *key, X509_STORE *anchors,
                            const char *ns, const char *app_id, int64_t now_s,
                            struct dc_spiffe_id *id, int64_t *not_before_s, int64_t *not_after_s,
                            struct dc_errbuf *eb)
{
    BIO *b = BIO_new_mem_buf(chain_pem, (int)len);
    STACK_OF(X509) *rest = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 *leaf = NULL, *x;
    int rv;

    if (b == NULL || rest == NULL || ctx == NULL)
        abort();
    leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (leaf == NULL || len > DC_MAX_SNT_CRED_FILE) {
        rv = dc_err_set(eb, DC_EPARSE, "no PEM certificate in the signed chain");
        goto cleanup;
    }
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL && sk_X509_num(rest) < 16)
        sk_X509_push(rest, x);
    ERR_clear_error();
    if (key != NULL && X509_check_private_key(leaf, key) != 1) {
        rv = dc_err_set(eb, DC_EINVAL, "the signed certificate is not for our key");
        goto cleanup;
    }
    rv = dc_spiffe_from_cert(leaf, id, eb);
    if (rv != DC_OK)
        goto cleanup;
    if (strcmp(id->ns, ns) != 0 || strcmp(id->app_id, app_id) != 0) {
        rv = dc_err_set(eb, DC_EINVAL, "the signed certificate is for ns %s app %s", id->ns,
                        id->app_id);
        goto cleanup;
    }
    if (X509_STORE_CTX_init(ctx, anchors, leaf, rest) != 1)
        abort();
    if (now_s != 0)
        X509_STORE_CTX_set_time(ctx, 0, (time_t)now_s);
    if (X509_verify_cert(ctx) != 1) {
        rv = dc_err_set(eb, DC_ETLS, "the signed certificate does not chain to the anchors: %s",
                        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto cleanup;
    }
    *not_before_s = asn1_time_s(X509_get0_notBefore(leaf));
    *not_after_s = asn1_time_s(X509_get0_notAfter(leaf));
    rv = DC_OK;
cleanup:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(rest, X509_free);
    X509_free(leaf);
    BIO_free(b);
    return rv;
}

/* ---- files -------------------------------------------------------------------------------- */

static void file_stamp(const char *path, struct file_stamp *st)
{
    struct stat sb;

    memset(st, 0, sizeof(*st));
    if (stat(path, &sb) != 0)
        return;
    st->exists = true;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    st->size = sb.st_size;
    st->mtime = sb.st_mtim;
}

static bool stamp_eq(const struct file_stamp *a, const struct file_stamp *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Read a whole small file into a new NUL-terminated string. */
static int read_file(const char *path, size_t max, char **out, size_t *len, struct dc_errbuf *eb)
{
    FILE *f = fopen(path, "rb");
    struct dc_buf b;
    char chunk[4096];
    size_t n;
    int rv = DC_OK;

    if (f == NULL)
        return dc_err_set(eb, errno == ENOENT ? DC_ENOTFOUND : DC_EIO, "open %s: %s", path,
                          strerror(errno));
    dc_buf_init(&b, max);
    while (rv == DC_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rv = dc_buf_append(&b, chunk, n);
    if (rv == DC_OK && ferror(f))
        rv = dc_err_set(eb, DC_EIO, "read %s", path);
    else if (rv != DC_OK)
        dc_err_set(eb, rv, "%s is over %zu bytes", path, max);
    fclose(f);
    if (rv == DC_OK && dc_buf_appendc(&b, '\0') != DC_OK)
        rv = dc_err_set(eb, DC_ETOOBIG, "%s is over %zu bytes", path, max);
    if (rv != DC_OK) {
        dc_buf_cleanup(&b);
        return rv;
    }
    *len = b.len - 1;
    *out = dc_buf_take(&b, &n);
    return DC_OK;
}

/* Take `pem` (owned) as the new anchors when it parses. */
static int set_anchors(struct dc_identity *id, char *pem, size_t len, struct dc_errbuf *eb)
{
    X509_STORE *st;
    int rv = dc_identity_parse_anchors(pem, len, &st, eb);

    if (rv != DC_OK) {
        free(pem);
        return rv;
    }
    free(id->anchors_pem);
    X509_STORE_free(id->anchors);
    id->anchors_pem = pem;
    id->anchors = st;
    id->anchors_gen++;
    return DC_OK;
}

/* Re-read the anchors file when its stamp changed. Returns true when new anchors were taken. */
static bool anchors_file_changed(struct dc_identity *id)
{
    struct file_stamp st;
    struct dc_errbuf eb = {0};
    char *pem;
    size_t len;

    if (id->anchors_file == NULL)
        return false;
    file_stamp(id->anchors_file, &st);
    if (stamp_eq(&st, &id->stamp))
        return false;
    id->stamp = st;
    if (read_file(id->anchors_file, DC_MAX_SNT_CRED_FILE, &pem, &len, &eb) != DC_OK) {
        note(id, DC_LOG_WARN, "keeping the current trust anchors: %s", eb.msg);
        return false;
    }
    if (id->anchors_pem != NULL && strcmp(pem, id->anchors_pem) == 0) {
        free(pem);
        return false;
    }
    if (set_anchors(id, pem, len, &eb) != DC_OK) {
        /* A half-written file: the stamp changes again when the writer is done. */
        note(id, DC_LOG_WARN, "keeping the current trust anchors: %s: %s", id->anchors_file,
             eb.msg);
        return false;
    }
    note(id, DC_LOG_INFO, "trust anchors reloaded from %s", id->anchors_file);
    return true;
}

static int p256_key(EVP_PKEY **out, struct dc_errbuf *eb)
{
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (*out == NULL) {
        ERR_clear_error();
        return dc_err_set(eb, DC_ETLS, "generating a P-256 key");
    }
    return DC_OK;
}

/* ---- the sentry client -------------------------------------------------------------------- */

/* Verify sentry: the chain is OpenSSL's (the anchors), the leaf must be sentry's SVID. */
static int verify_sentry(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct dc_identity *id = ssl != NULL ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;

    if (!ok || X509_STORE_CTX_get_error_depth(xs) != 0)
        return ok;
    if (id == NULL || !dc_identity_x509_is(X509_STORE_CTX_get_current_cert(xs), id->sentry_td,
                                           id->sentry_ns, SENTRY_APP_ID)) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

/* A client for one request (its connection and loop thread are not kept between renewals,
 * which are hours apart), trusting the current anchors. */
static int sentry_client(struct dc_identity *id, struct dc_errbuf *eb)
{
    struct dc_grpc_client_opts o = {0};
    SSL_CTX *ctx;
    int rv;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        abort();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    X509_STORE_up_ref(id->anchors);
    SSL_CTX_set_cert_store(ctx, id->anchors);
    SSL_CTX_set_app_data(ctx, id);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_sentry);
    o.target = id->sentry_address;
    o.ssl_ctx = ctx;
    o.connect_timeout_ms = 5000;
    rv = dc_grpc_client_new(&id->sentry, &o, eb);
    SSL_CTX_free(ctx);
    return rv;
}

/* The token and validator (pkg/security/token): DAPR_SENTRY_TOKEN_FILE (jwks, or kubernetes in
 * Kubernetes mode); in Kubernetes mode the projected token, then the service account's;
 * self-hosted without a file: no token and no validator named (sentry's default). */
static int read_token(struct dc_identity *id, char **token, int *validator, struct dc_errbuf *eb)
{
    const char *paths[2] = {DC_IDENTITY_SENTRY_TOKEN_PATH, DC_IDENTITY_SA_TOKEN_PATH};
    size_t len;
    int rv;

    *token = NULL;
    *validator = DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_REQUEST__TOKEN_VALIDATOR__UNKNOWN;
    if (id->token_file != NULL) {
        rv = read_file(id->token_file, DC_MAX_SNT_TOKEN, token, &len, eb);
        if (rv != DC_OK)
            return rv;
        *validator =
            id->kubernetes
                ? DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_REQUEST__TOKEN_VALIDATOR__KUBERNETES
                : DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_REQUEST__TOKEN_VALIDATOR__JWKS;
        return DC_OK;
    }
    if (!id->kubernetes)
        return DC_OK;
    *validator = DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_REQUEST__TOKEN_VALIDATOR__KUBERNETES;
    for (size_t i = 0; i < 2; i++) {
        rv = read_file(paths[i], DC_MAX_SNT_TOKEN, token, &len, eb);
        if (rv != DC_ENOTFOUND)
            return rv;
    }
    return rv;
}

static char *key_pem(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long n;

    if (b == NULL || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1)
        abort();
    n = BIO_get_mem_data(b, &data);
    out = dc_xmalloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    OPENSSL_cleanse(data, (size_t)n);
    BIO_free(b);
    return out;
}

/* Build the snapshot of a verified chain. */
static struct dc_svid *new_svid(struct dc_identity *id, const ProtobufCBinaryData *chain,
                                EVP_PKEY *key, const struct dc_spiffe_id *sid, int64_t nb,
                                int64_t na)
{
    struct dc_svid *s = dc_xcalloc(1, sizeof(*s));

    atomic_init(&s->refs_, 1);
    s->cert_pem = dc_xmalloc(chain->len + 1);
    memcpy(s->cert_pem, chain->data, chain->len);
    s->cert_pem[chain->len] = '\0';
    s->key_pem = key_pem(key);
    s->anchors_pem = dc_xstrdup(id->anchors_pem);
    X509_STORE_up_ref(id->anchors);
    s->anchors = id->anchors;
    s->anchors_gen = id->anchors_gen;
    s->id = *sid;
    (void)dc_spiffe_format(sid, s->spiffe, sizeof(s->spiffe));
    s->not_before_s = nb;
    s->not_after_s = na;
    return s;
}

/* The same certificate and key with new anchors. */
static struct dc_svid *svid_with_anchors(struct dc_identity *id, const struct dc_svid *old)
{
    struct dc_svid *s = dc_xcalloc(1, sizeof(*s));

    atomic_init(&s->refs_, 1);
    s->cert_pem = dc_xstrdup(old->cert_pem);
    s->key_pem = dc_xstrdup(old->key_pem);
    s->anchors_pem = dc_xstrdup(id->anchors_pem);
    X509_STORE_up_ref(id->anchors);
    s->anchors = id->anchors;
    s->anchors_gen = id->anchors_gen;
    s->id = old->id;
    dc_strlcpy(s->spiffe, old->spiffe, sizeof(s->spiffe));
    s->not_before_s = old->not_before_s;
    s->not_after_s = old->not_after_s;
    return s;
}

/* One SignCertificate round: key, CSR, call, checks. On success `*out` is a new snapshot. */
static int fetch(struct dc_identity *id, struct dc_svid **out, struct dc_errbuf *eb)
{
    Dapr__Proto__Sentry__V1__SignCertificateRequest req =
        DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_REQUEST__INIT;
    Dapr__Proto__Sentry__V1__SignCertificateResponse *resp = NULL;
    struct dc_grpc_call_opts co = {0};
    struct dc_grpc_status st = {0};
    struct dc_spiffe_id sid;
    struct dc_buf csr;
    EVP_PKEY *key = NULL;
    char *token = NULL;
    int validator, rv;
    int64_t nb, na;

    dc_buf_init(&csr, DC_MAX_SNT_CSR);
    rv = sentry_client(id, eb);
    if (rv == DC_OK)
        rv = read_token(id, &token, &validator, eb);
    if (rv == DC_OK)
        rv = p256_key(&key, eb);
    if (rv == DC_OK)
        rv = dc_identity_make_csr(key, id->td, id->ns, id->app_id, &csr, eb);
    if (rv != DC_OK)
        goto cleanup;
    req.id = id->app_id;
    req.namespace_ = id->ns;
    req.trust_domain = id->td != NULL ? id->td : (char *)"";
    req.token = token != NULL ? token : (char *)"";
    req.token_validator =
        (Dapr__Proto__Sentry__V1__SignCertificateRequest__TokenValidator)validator;
    req.certificate_signing_request.data = (uint8_t *)csr.data;
    req.certificate_signing_request.len = csr.len;
    req.jwt_audiences = id->audiences;
    req.n_jwt_audiences = id->n_audiences;
    co.timeout_ms = SIGN_TIMEOUT_MS;
    rv =
        dc_grpc_client_unary_pb(id->sentry, &dapr__proto__sentry__v1__ca__descriptor,
                                "SignCertificate", &co, &req.base, (ProtobufCMessage **)&resp, &st);
    if (rv != DC_OK) {
        rv = dc_err_set(eb, rv, "sentry %s: %s: %s", id->sentry_address, dc_grpc_code_name(st.code),
                        st.message != NULL ? st.message : "");
        goto cleanup;
    }
    rv = dc_identity_check_chain((const char *)resp->workload_certificate.data,
                                 resp->workload_certificate.len, key, id->anchors, id->ns,
                                 id->app_id, 0, &sid, &nb, &na, eb);
    if (rv == DC_OK)
        *out = new_svid(id, &resp->workload_certificate, key, &sid, nb, na);
cleanup:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    dc_grpc_client_free(id->sentry);
    id->sentry = NULL;
    dc_grpc_status_cleanup(&st);
    dc_buf_cleanup(&csr);
    wipe_free(token);
    EVP_PKEY_free(key);
    return rv;
}

/* ---- the renewal thread ------------------------------------------------------------------- */

static int64_t now_s(void)
{
    return dc_now_ns() / 1000000000LL;
}

static void schedule(struct dc_identity *id, const struct dc_svid *s)
{
    id->failures = 0;
    id->renew_at_s = dc_identity_renew_at(s->not_before_s, s->not_after_s, now_s());
}

static void renew(struct dc_identity *id)
{
    struct dc_svid *s = NULL, *cur = dc_identity_get(id);
    struct dc_errbuf eb = {0};
    int rv = fetch(id, &s, &eb);

    if (rv == DC_OK) {
        note(id, DC_LOG_INFO, "certificate for %s renewed, valid until %lld", s->spiffe,
             (long long)s->not_after_s);
        schedule(id, s);
        publish(id, s);
    } else {
        id->failures++;
        id->renew_at_s = dc_identity_retry_at(now_s(), id->failures, cur->not_after_s);
        note(id, now_s() >= cur->not_after_s ? DC_LOG_ERROR : DC_LOG_WARN,
             "certificate renewal failed (attempt %u, next in %llds, current valid until "
             "%lld): %s",
             id->failures, (long long)(id->renew_at_s - now_s()), (long long)cur->not_after_s,
             eb.msg);
    }
    dc_svid_release(cur);
}

static void *thread_main(void *arg)
{
    struct dc_identity *id = arg;
    struct timespec ts;
    bool now;

    pthread_mutex_lock(&id->mu);
    while (!id->stop) {
        int64_t wait_ms = (id->renew_at_s - now_s()) * 1000;

        if (wait_ms > id->poll_ms)
            wait_ms = id->poll_ms;
        if (wait_ms > 0 && !id->renew_flag) {
            ts = dc_timespec_in(CLOCK_MONOTONIC, wait_ms * DC_NS_PER_MS);
            pthread_cond_timedwait(&id->cond, &id->mu, &ts);
            if (id->stop)
                break;
        }
        now = id->renew_flag;
        id->renew_flag = false;
        pthread_mutex_unlock(&id->mu);
        if (anchors_file_changed(id)) {
            struct dc_svid *cur = dc_identity_get(id);

            publish(id, svid_with_anchors(id, cur));
            dc_svid_release(cur);
        }
        if (now || now_s() >= id->renew_at_s)
            renew(id);
        pthread_mutex_lock(&id->mu);
    }
    pthread_mutex_unlock(&id->mu);
    return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return dc_str_empty(s) ? NULL : dc_xstrdup(s);
}

static int load_anchors(struct dc_identity *id, const struct dc_identity_opts *o,
                        struct dc_errbuf *eb)
{
    char *pem;
    size_t len;
    int rv;

    if (id->anchors_file != NULL) {
        file_stamp(id->anchors_file, &id->stamp);
        rv = read_file(id->anchors_file, DC_MAX_SNT_CRED_FILE, &pem, &len, eb);
        if (rv == DC_OK)
            rv = set_anchors(id, pem, len, eb);
        if (rv != DC_OK)
            dc_err_wrapf(eb, "trust anchors file %s", id->anchors_file);
        return rv;
    }
    if (dc_str_empty(o->anchors_pem))
        return dc_err_set(
            eb, DC_EINVAL,
            "mTLS needs trust anchors: DAPR_TRUST_ANCHORS or DAPR_TRUST_ANCHORS_FILE");
    rv = set_anchors(id, dc_xstrdup(o->anchors_pem), strlen(o->anchors_pem), eb);
    if (rv != DC_OK)
        dc_err_wrapf(eb, "DAPR_TRUST_ANCHORS");
    return rv;
}

/* The first certificate, retried until the deadline (sentry may start after daprd). */
static int first_certificate(struct dc_identity *id, int64_t timeout_ms, struct dc_errbuf *eb)
{
    int64_t deadline = dc_mono_ns() + timeout_ms * 1000000LL;
    struct dc_svid *s = NULL;
    unsigned tries = 0;
    int rv;

    for (;;) {
        struct timespec pause = {0, 200 * 1000000L};

        rv = fetch(id, &s, eb);
        if (rv == DC_OK)
            break;
        if (++tries == 1 || tries % 25 == 0)
            note(id, DC_LOG_WARN, "waiting for a certificate from sentry: %s", eb->msg);
        if (dc_mono_ns() >= deadline) {
            dc_err_wrapf(eb, "no workload certificate from sentry");
            return rv == DC_OK ? DC_ETIMEDOUT : rv;
        }
        (void)anchors_file_changed(id);
        nanosleep(&pause, NULL);
    }
    note(id, DC_LOG_INFO, "workload certificate for %s, valid until %lld", s->spiffe,
         (long long)s->not_after_s);
    schedule(id, s);
    publish(id, s);
    return DC_OK;
}

int dc_identity_start(struct dc_identity **out, const struct dc_identity_opts *o,
                      struct dc_errbuf *eb)
{
    struct dc_identity *id;
    pthread_condattr_t ca;
    int rv;

    if (o == NULL || dc_str_empty(o->sentry_address) || dc_str_empty(o->app_id))
        return dc_err_set(eb, DC_EINVAL, "mTLS needs --sentry-address and an app id");
    id = dc_xcalloc(1, sizeof(*id));
    id->sentry_address = dc_xstrdup(o->sentry_address);
    id->app_id = dc_xstrdup(o->app_id);
    id->ns = dc_xstrdup(dc_str_empty(o->ns) ? "default" : o->ns);
    id->td = dup_or_null(o->trust_domain);
    id->anchors_file = dup_or_null(o->anchors_file);
    id->token_file = dup_or_null(o->token_file);
    id->kubernetes = o->kubernetes;
    id->sentry_td =
        dc_xstrdup(dc_str_empty(o->cp_trust_domain) ? SENTRY_DEFAULT_TD : o->cp_trust_domain);
    id->sentry_ns = dc_xstrdup(dc_str_empty(o->cp_namespace) ? "default" : o->cp_namespace);
    id->poll_ms = o->anchors_poll_ms > 0 ? o->anchors_poll_ms : DEFAULT_POLL_MS;
    id->log = o->log;
    id->log_ud = o->log_ud;
    if (o->n_jwt_audiences > 0) {
        id->audiences = dc_xcalloc(o->n_jwt_audiences, sizeof(*id->audiences));
        for (size_t i = 0; i < o->n_jwt_audiences; i++)
            id->audiences[i] = dc_xstrdup(o->jwt_audiences[i]);
        id->n_audiences = o->n_jwt_audiences;
    }
    atomic_init(&id->gen, 0);
    pthread_mutex_init(&id->mu, NULL);
    pthread_mutex_init(&id->cb_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&id->cond, &ca);
    pthread_condattr_destroy(&ca);

    rv = load_anchors(id, o, eb);
    if (rv == DC_OK)
        rv = first_certificate(
            id, o->startup_timeout_ms > 0 ? o->startup_timeout_ms : DEFAULT_STARTUP_TIMEOUT_MS, eb);
    if (rv == DC_OK && pthread_create(&id->thread, NULL, thread_main, id) != 0)
        rv = dc_err_set(eb, DC_EIO, "cannot start the renewal thread");
    if (rv != DC_OK) {
        dc_identity_free(id);
        return rv;
    }
    id->thread_started = true;
    *out = id;
    return DC_OK;
}

void dc_identity_free(struct dc_identity *id)
{
    if (id == NULL)
        return;
    if (id->thread_started) {
        pthread_mutex_lock(&id->mu);
        id->stop = true;
        pthread_cond_signal(&id->cond);
        pthread_mutex_unlock(&id->mu);
        pthread_join(id->thread, NULL);
    }
    dc_grpc_client_free(id->sentry);
    dc_svid_release(id->cur);
    free(id->anchors_pem);
    X509_STORE_free(id->anchors);
    for (size_t i = 0; i < id->n_audiences; i++)
        free(id->audiences[i]);
    free(id->audiences);
    free(id->sentry_address);
    free(id->app_id);
    free(id->ns);
    free(id->td);
    free(id->anchors_file);
    free(id->token_file);
    free(id->sentry_td);
    free(id->sentry_ns);
    pthread_cond_destroy(&id->cond);
    pthread_mutex_destroy(&id->mu);
    pthread_mutex_destroy(&id->cb_mu);
    free(id);
}
