/* The sentry service: bootstrap, gRPC SignCertificate over TLS, reload, health, metrics
 * (service.h). */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "dapr/proto/sentry/v1/sentry.pb-c.h"
#include "dc/buf.h"
#include "dc/grpc.h"
#include "dc/http_server.h"
#include "dc/k8s.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/ops_server.h"
#include "dc/str.h"
#include "dc/time.h"

#include "kube.h"

#define SNT_SENTRY_APP_ID "dapr-sentry"
#define SNT_SIGN_METHOD "SignCertificate"
/* Largest SignCertificateRequest accepted: a CSR and a token at their limits, with room. */
#define SNT_MAX_REQUEST (DC_MAX_SNT_CSR + DC_MAX_SNT_TOKEN + 64u * 1024)
/* Repeat the expiry warning this often while it applies. */
#define SNT_WARN_EVERY_S (24 * 3600)

struct snt_service {
    const struct snt_flags *flags;
    bool kube;
    char ns[64]; /* Kubernetes namespaces are DNS labels (<= 63) */
    char td[DC_SPIFFE_MAX_TD + 1];
    char sentry_id[DC_SPIFFE_MAX_LEN + 1];
    struct snt_mtls_config mtls;
    cJSON *conf; /* the Configuration the mtls strings borrow from (may be NULL) */
    unsigned enabled;
    enum snt_validator default_v;
    struct snt_jwks *jwks;
    struct snt_ca *ca;
    const char *cred_keys[3]; /* basenames: ca.crt, issuer.crt, issuer.key */
    char cred_paths[3][4096]; /* files watched in Kubernetes mode */
    struct dc_k8s_client *k8s;
    /* metrics */
    struct dc_metrics *metrics;
    struct dc_metric *m_received, *m_success, *m_failure, *m_server_failed, *m_changed;
    struct dc_metric *m_issuer_expiry, *m_root_expiry, *m_server_expiry;
    /* servers */
    struct dc_grpc_server *grpc;
    struct dc_ops_server *ops;                   /* /healthz (readiness) and /metrics */
    int64_t server_not_before, server_not_after; /* serving certificate (watcher thread) */
    int64_t last_warn;
    /* watcher */
    pthread_t watcher;
    bool watcher_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
};

/* ---- metrics ---------------------------------------------------------------------------- */

static void metrics_register(struct snt_service *s)
{
    static const char *const l_reason[] = {"reason"};

    s->metrics = dc_metrics_new();
    s->m_received = dc_metrics_counter(s->metrics, "dapr_sentry_cert_sign_request_received_total",
                                       "The number of CSRs received.", 0, NULL);
    s->m_success = dc_metrics_counter(s->metrics, "dapr_sentry_cert_sign_success_total",
                                      "The number of certificates issued successfully.", 0, NULL);
    s->m_failure =
        dc_metrics_counter(s->metrics, "dapr_sentry_cert_sign_failure_total",
                           "The number of errors occurred when signing the CSR.", 1, l_reason);
    s->m_server_failed =
        dc_metrics_counter(s->metrics, "dapr_sentry_servercert_issue_failed_total",
                           "The number of server TLS certificate issuance failures.", 1, l_reason);
    s->m_changed = dc_metrics_counter(s->metrics, "dapr_sentry_issuercert_changed_total",
                                      "The number of issuer cert updates, when issuer cert or key "
                                      "is changed",
                                      0, NULL);
    s->m_issuer_expiry = dc_metrics_gauge(
        s->metrics, "dapr_sentry_issuercert_expiry_timestamp",
        "The unix timestamp, in seconds, when issuer/root cert will expire.", 0, NULL);
    s->m_root_expiry = dc_metrics_gauge(
        s->metrics, "dapr_sentry_rootcert_expiry_timestamp",
        "The unix timestamp, in seconds, when the root cert will expire (daprc).", 0, NULL);
    s->m_server_expiry = dc_metrics_gauge(
        s->metrics, "dapr_sentry_servercert_expiry_timestamp",
        "The unix timestamp, in seconds, when sentry's serving cert will expire (daprc).", 0, NULL);
}

static void sign_failed(struct snt_service *s, const char *reason)
{
    dc_metric_inc(s->m_failure, &reason, 1);
}

static void expiry_update(struct snt_service *s, bool force_warn)
{
    struct snt_ca_expiry e;
    int64_t now = (int64_t)time(NULL);
    unsigned mask;

    snt_ca_get_expiry(s->ca, &e);
    dc_metric_set(s->m_issuer_expiry, NULL, (double)e.issuer_not_after_s);
    dc_metric_set(s->m_root_expiry, NULL, (double)e.root_not_after_s);
    mask = snt_ca_expiry_check(s->ca, now, SNT_EXPIRY_WARN_WINDOW_S);
    if (mask == 0 || (!force_warn && now - s->last_warn < SNT_WARN_EVERY_S))
        return;
    s->last_warn = now;
    if (mask & SNT_EXPIRY_ROOT)
        DC_LOG(DC_LOG_WARN,
               "root certificate expires in %lld days (%lld); rotate the trust anchors",
               (long long)((e.root_not_after_s - now) / 86400), (long long)e.root_not_after_s);
    if (mask & SNT_EXPIRY_ISSUER)
        DC_LOG(DC_LOG_WARN, "issuer certificate expires in %lld days (%lld); rotate the issuer",
               (long long)((e.issuer_not_after_s - now) / 86400), (long long)e.issuer_not_after_s);
}

/* ---- signing ---------------------------------------------------------------------------- */

static int validate(struct snt_service *s, enum snt_validator v, const struct snt_request *req,
                    struct snt_validation *res, struct snt__kube_lookup *kl, struct dc_errbuf *eb)
{
    struct snt_k8s_opts ko;

    switch (v) {
    case SNT_VALIDATOR_INSECURE:
        return snt_validate_insecure(req, res, eb);
    case SNT_VALIDATOR_KUBERNETES:
        if (s->k8s == NULL)
            return dc_err_set(eb, DC_EPERM, "kubernetes validator has no API access");
        snt__kube_lookup(s->k8s, req, s->sentry_id, kl);
        ko.control_plane_ns = s->ns;
        ko.control_plane_td = s->td;
        return snt_validate_kubernetes(req, &ko, &kl->facts, res, eb);
    case SNT_VALIDATOR_JWKS:
        if (s->jwks == NULL)
            return dc_err_set(eb, DC_EPERM, "jwks validator has no key set");
        return snt_validate_jwks(req, s->jwks, s->sentry_id, 0, res, eb);
    case SNT_VALIDATOR_UNKNOWN:
        break;
    }
    return dc_err_set(eb, DC_EINVAL, "unknown validator");
}

int snt_service_sign(struct snt_service *s, const struct snt_request *req, const uint8_t *csr,
                     size_t csr_len, struct snt_signed *out, struct dc_errbuf *eb)
{
    struct snt__kube_lookup kl = {0};
    struct snt_validation res;
    struct dc_spiffe_id id;
    struct snt_sign_opts so = {0};
    struct snt_csr *c = NULL;
    enum snt_validator v;
    char dns[3][256];
    const char *dnsp[3] = {dns[0], dns[1], dns[2]};
    int n, code = DC_GRPC_OK;

    dc_metric_inc(s->m_received, NULL, 1);
    if ((unsigned)req->validator > SNT_VALIDATOR_JWKS ||
        snt_validator_select(req->validator, s->enabled, s->default_v, &v, eb) != DC_OK) {
        if ((unsigned)req->validator > SNT_VALIDATOR_JWKS)
            dc_err_set(eb, DC_EINVAL, "unknown token validator %d", (int)req->validator);
        sign_failed(s, "validator");
        return DC_GRPC_INVALID_ARGUMENT;
    }
    if (validate(s, v, req, &res, &kl, eb) != DC_OK) {
        snt__kube_lookup_cleanup(&kl);
        sign_failed(s, "req_id_validation");
        return DC_GRPC_PERMISSION_DENIED;
    }
    if (snt_csr_parse(csr, csr_len, &c, eb) != DC_OK) {
        dc_err_wrapf(eb, "failed to parse certificate signing request");
        sign_failed(s, "cert_parse");
        code = DC_GRPC_INVALID_ARGUMENT;
        goto cleanup;
    }
    if (dc_spiffe_build(&id, res.trust_domain, req->ns, req->id, eb) != DC_OK) {
        sign_failed(s, "req_id_validation");
        code = DC_GRPC_INVALID_ARGUMENT;
        goto cleanup;
    }
    n = snt_control_plane_dns_sans(req->id, req->ns, s->ns, NULL, dns, 3);
    so.id = &id;
    so.dns_sans = dnsp;
    so.n_dns_sans = n > 0 ? (size_t)n : 0;
    so.ttl_s = s->mtls.workload_ttl_s;
    so.skew_s = s->mtls.skew_s;
    if (snt_ca_sign_csr(s->ca, c, &so, out, eb) != DC_OK) {
        DC_LOG(DC_LOG_ERROR, "error signing identity for %s/%s: %s", req->ns, req->id, eb->msg);
        dc_err_wrapf(eb, "failed to sign certificate");
        sign_failed(s, "cert_sign");
        code = DC_GRPC_INTERNAL;
        goto cleanup;
    }
    dc_metric_inc(s->m_success, NULL, 1);
cleanup:
    snt_csr_free(c);
    snt__kube_lookup_cleanup(&kl);
    return code;
}

static void h_sign(struct dc_grpc_call *call, const ProtobufCMessage *m, void *ud)
{
    const Dapr__Proto__Sentry__V1__SignCertificateRequest *r = (const void *)m;
    Dapr__Proto__Sentry__V1__SignCertificateResponse resp =
        DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ProtobufCBinaryData anchors;
    struct snt_service *s = ud;
    struct snt_signed out = {0};
    struct dc_errbuf eb = {0};
    struct snt_request req;
    int code;

    req.id = r->id;
    req.token = r->token;
    req.trust_domain = r->trust_domain;
    req.ns = r->namespace_;
    req.csr_len = r->certificate_signing_request.len;
    req.validator = (enum snt_validator)r->token_validator;
    code = snt_service_sign(s, &req, r->certificate_signing_request.data,
                            r->certificate_signing_request.len, &out, &eb);
    if (code != DC_GRPC_OK) {
        DC_LOG(DC_LOG_DEBUG, "SignCertificate %s/%s: %s: %s", req.ns, req.id,
               dc_grpc_code_name(code), eb.msg);
        (void)dc_grpc_call_finish(call, code, eb.msg);
        return;
    }
    resp.workload_certificate.data = (uint8_t *)out.chain.data;
    resp.workload_certificate.len = out.chain.len;
    anchors.data = (uint8_t *)out.anchors.data;
    anchors.len = out.anchors.len;
    resp.n_trust_chain_certificates = 1;
    resp.trust_chain_certificates = &anchors;
    ts.seconds = out.not_after_s;
    resp.valid_until = &ts;
    (void)dc_grpc_call_reply_pb(call, &resp.base);
    snt_signed_cleanup(&out);
}

/* ---- serving certificate ---------------------------------------------------------------- */

/* A TLS server context with a fresh P-256 key and a certificate for sentry's own SPIFFE id and
 * DNS names, signed by the current issuer (upstream signs its serving SVID in memory too). */
static SSL_CTX *serving_ctx(struct snt_service *s, struct dc_errbuf *eb)
{
    char dns[4][256];
    const char *dnsp[4] = {dns[0], dns[1], dns[2], "localhost"};
    struct snt_sign_opts so = {0};
    struct snt_signed out = {0};
    struct dc_spiffe_id id;
    EVP_PKEY *key = NULL;
    SSL_CTX *ctx = NULL;
    X509 *x = NULL;
    BIO *bio = NULL;
    bool first = true;

    snprintf(dns[0], sizeof(dns[0]), "%s", SNT_SENTRY_APP_ID);
    snprintf(dns[1], sizeof(dns[1]), "%s.%s.svc", SNT_SENTRY_APP_ID, s->ns);
    snprintf(dns[2], sizeof(dns[2]), "%s.%s.svc.cluster.local", SNT_SENTRY_APP_ID, s->ns);
    if (dc_spiffe_build(&id, s->td, s->ns, SNT_SENTRY_APP_ID, eb) != DC_OK ||
        snt_key_generate(SNT_KEY_EC_P256, &key, eb) != DC_OK)
        goto fail;
    so.id = &id;
    so.dns_sans = dnsp;
    so.n_dns_sans = 4;
    so.ttl_s = s->mtls.workload_ttl_s;
    so.skew_s = s->mtls.skew_s;
    if (snt_ca_sign(s->ca, key, &so, &out, eb) != DC_OK)
        goto fail;
    ctx = SSL_CTX_new(TLS_server_method());
    bio = BIO_new_mem_buf(out.chain.data, (int)out.chain.len);
    if (ctx == NULL || bio == NULL)
        goto tls_fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (first ? SSL_CTX_use_certificate(ctx, x) != 1 : SSL_CTX_add0_chain_cert(ctx, x) != 1)
            goto tls_fail;
        if (first)
            X509_free(x);
        x = NULL;
        first = false;
    }
    ERR_clear_error(); /* the end of the PEM text */
    if (first || SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        goto tls_fail;
    s->server_not_before = out.not_before_s;
    s->server_not_after = out.not_after_s;
    dc_metric_set(s->m_server_expiry, NULL, (double)out.not_after_s);
    BIO_free(bio);
    EVP_PKEY_free(key);
    snt_signed_cleanup(&out);
    return ctx;
tls_fail : {
    const char *why = ERR_reason_error_string(ERR_get_error());

    dc_err_set(eb, DC_ETLS, "building the TLS context: %s", why != NULL ? why : "unknown");
    ERR_clear_error();
}
fail : {
    const char *reason = "sign";
    dc_metric_inc(s->m_server_failed, &reason, 1);
}
    X509_free(x);
    BIO_free(bio);
    SSL_CTX_free(ctx);
    EVP_PKEY_free(key);
    snt_signed_cleanup(&out);
    return NULL;
}

static int renew_serving(struct snt_service *s, struct dc_errbuf *eb)
{
    SSL_CTX *ctx = serving_ctx(s, eb);
    int rv;

    if (ctx == NULL)
        return DC_ETLS;
    rv = dc_grpc_server_set_ssl_ctx(s->grpc, ctx);
    SSL_CTX_free(ctx);
    return rv;
}

/* ---- bootstrap -------------------------------------------------------------------------- */

static const char *base_name(const char *p)
{
    const char *b = strrchr(p, '/');

    return b != NULL ? b + 1 : p;
}

static void cred_path(const struct snt_flags *f, const char *name, char *out, size_t cap)
{
    if (name[0] == '/')
        dc_strlcpy(out, name, cap);
    else
        snprintf(out, cap, "%s/%s", f->issuer_credentials, name);
}

static void ca_config(struct snt_service *s, struct snt_ca_config *cc)
{
    const struct snt_flags *f = s->flags;

    memset(cc, 0, sizeof(*cc));
    cc->creds_dir = f->issuer_credentials;
    cc->ca_filename = f->issuer_ca_filename;
    cc->cert_filename = f->issuer_certificate_filename;
    cc->key_filename = f->issuer_key_filename;
    cc->trust_domain = s->td;
    cc->ns = s->ns;
    cc->key_type = strcmp(f->ca_key_type, "ed25519") == 0 ? SNT_KEY_ED25519 : SNT_KEY_EC_P256;
    cc->skew_s = s->mtls.skew_s;
}

static int ca_bootstrap_kube(struct snt_service *s, struct dc_errbuf *eb)
{
    struct snt__kube_bundle b = {0};
    struct snt_ca_config cc;
    struct dc_buf anchors, chain, key;
    int rv;

    rv = snt__kube_bundle_read(s->k8s, s->ns, s->cred_keys, &b, eb);
    if (rv != DC_OK)
        return rv;
    if (b.present) {
        rv = snt_ca_load_pem(&s->ca, b.ca, strlen(b.ca), b.cert, strlen(b.cert), b.key,
                             strlen(b.key), 0, eb);
        snt__kube_bundle_cleanup(&b);
        if (rv == DC_OK)
            DC_LOG(DC_LOG_INFO, "Root and issuer certs loaded from Secret %s/%s", s->ns,
                   SNT_TRUST_BUNDLE_NAME);
        return rv;
    }
    snt__kube_bundle_cleanup(&b);
    DC_LOG(DC_LOG_INFO, "Root and issuer certs not found in Secret %s/%s: generating them", s->ns,
           SNT_TRUST_BUNDLE_NAME);
    ca_config(s, &cc);
    rv = snt_ca_generate(&s->ca, &cc, eb);
    if (rv != DC_OK)
        return rv;
    dc_buf_init(&anchors, DC_MAX_SNT_CRED_FILE);
    dc_buf_init(&chain, DC_MAX_SNT_CRED_FILE);
    dc_buf_init(&key, DC_MAX_SNT_CRED_FILE);
    rv = snt_ca_get_pem(s->ca, &anchors, &chain, &key, eb);
    if (rv == DC_OK)
        rv = snt__kube_bundle_write(s->k8s, s->ns, s->cred_keys, dc_buf_cstr(&anchors),
                                    dc_buf_cstr(&chain), dc_buf_cstr(&key), eb);
    if (key.data != NULL)
        OPENSSL_cleanse(key.data, key.cap);
    dc_buf_cleanup(&anchors);
    dc_buf_cleanup(&chain);
    dc_buf_cleanup(&key);
    if (rv == DC_OK)
        DC_LOG(DC_LOG_INFO,
               "Root and issuer certs stored in Secret %s/%s, ca.crt in ConfigMap %s/%s", s->ns,
               SNT_TRUST_BUNDLE_NAME, s->ns, SNT_TRUST_BUNDLE_NAME);
    return rv;
}

static int ca_bootstrap(struct snt_service *s, struct dc_errbuf *eb)
{
    struct snt_ca_config cc;
    bool generated = false;
    int rv;

    if (s->kube)
        return ca_bootstrap_kube(s, eb);
    ca_config(s, &cc);
    rv = snt_ca_open(&s->ca, &cc, &generated, eb);
    if (rv == DC_OK)
        DC_LOG(DC_LOG_INFO, "Root and issuer certs %s %s (trust bundle: %s)",
               generated ? "generated and stored in" : "loaded from", s->flags->issuer_credentials,
               s->cred_paths[0]);
    return rv;
}

static int load_config(struct snt_service *s, struct dc_errbuf *eb)
{
    struct dc_errbuf leb = {0};
    int rv;

    if (s->kube && s->k8s != NULL)
        rv = snt__kube_config_get(s->k8s, s->ns, s->flags->config, &s->conf, &leb);
    else if (access(s->flags->config, R_OK) == 0)
        rv = snt_config_file_read(s->flags->config, &s->conf, &leb);
    else
        rv = dc_err_set(&leb, DC_ENOTFOUND, "%s: no such file", s->flags->config);
    if (rv == DC_OK && snt_mtls_config_from_json(s->conf, &s->mtls, &leb) != DC_OK)
        rv = DC_EINVAL;
    if (rv != DC_OK) {
        /* config.go: fall back to the defaults on any error. */
        DC_LOG(DC_LOG_WARN, "Configuration %s: %s; using the defaults", s->flags->config, leb.msg);
        if (snt_mtls_config_from_json(NULL, &s->mtls, NULL) != DC_OK)
            return dc_err_set(eb, DC_EINTERNAL, "default configuration");
    }
    return DC_OK;
}

static int read_small_file(const char *path, struct dc_buf *out, struct dc_errbuf *eb)
{
    char chunk[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rv = DC_OK;

    if (fd < 0)
        return dc_err_set(eb, errno == ENOENT ? DC_ENOTFOUND : DC_EIO, "%s: %s", path,
                          strerror(errno));
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                rv = dc_err_set(eb, DC_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        if (dc_buf_append(out, chunk, (size_t)n) != DC_OK) {
            rv = dc_err_set(eb, DC_ETOOBIG, "%s: too large", path);
            break;
        }
    }
    close(fd);
    return rv;
}

static int load_validators(struct snt_service *s, struct dc_errbuf *eb)
{
    struct dc_buf b;
    const char *src;
    int rv;

    rv = snt_validators_configure(s->kube, s->mtls.validators, s->mtls.n_validators, &s->enabled,
                                  &s->default_v, eb);
    if (rv != DC_OK || !(s->enabled & SNT_VALIDATOR_BIT(SNT_VALIDATOR_JWKS)))
        return rv;
    src = s->mtls.jwks_source;
    if (dc_str_empty(src))
        return dc_err_set(eb, DC_EINVAL, "jwks validator: options.source is required");
    if (strncmp(src, "http://", 7) == 0 || strncmp(src, "https://", 8) == 0)
        return dc_err_set(eb, DC_EUNSUPPORTED, "jwks validator: URL sources are not supported");
    if (src[0] == '{')
        return snt_jwks_parse(src, strlen(src), &s->jwks, eb);
    dc_buf_init(&b, DC_MAX_SNT_JWKS);
    rv = read_small_file(src, &b, eb);
    if (rv == DC_OK)
        rv = snt_jwks_parse(b.data != NULL ? b.data : "", b.len, &s->jwks, eb);
    dc_buf_cleanup(&b);
    if (rv != DC_OK)
        dc_err_wrapf(eb, "jwks validator");
    return rv;
}

/* ---- watcher ---------------------------------------------------------------------------- */

/* Kubernetes mode: kubelet updates the mounted Secret; read the three files when they exist. */
static int reload_files(struct snt_service *s, bool *changed, struct dc_errbuf *eb)
{
    struct dc_buf b[3];
    int i, rv = DC_OK;

    *changed = false;
    for (i = 0; i < 3; i++)
        dc_buf_init(&b[i], DC_MAX_SNT_CRED_FILE);
    for (i = 0; i < 3 && rv == DC_OK; i++)
        rv = read_small_file(s->cred_paths[i], &b[i], eb);
    if (rv == DC_OK)
        rv = snt_ca_update_pem(s->ca, dc_buf_cstr(&b[0]), b[0].len, dc_buf_cstr(&b[1]), b[1].len,
                               dc_buf_cstr(&b[2]), b[2].len, 0, changed, eb);
    else if (rv == DC_ENOTFOUND)
        rv = DC_OK; /* not mounted: nothing to watch */
    for (i = 0; i < 3; i++) {
        if (b[i].data != NULL)
            OPENSSL_cleanse(b[i].data, b[i].cap);
        dc_buf_cleanup(&b[i]);
    }
    return rv;
}

static void watch_once(struct snt_service *s, int *last_err)
{
    struct dc_errbuf eb = {0};
    bool changed = false;
    int64_t now = (int64_t)time(NULL);
    int rv;

    rv = s->kube ? reload_files(s, &changed, &eb) : snt_ca_reload(s->ca, &changed, &eb);
    if (rv != DC_OK) {
        /* A rotation in progress fails until the set is complete: say it once per error. */
        if (rv != *last_err)
            DC_LOG(DC_LOG_WARN, "issuer credentials not reloaded yet: %s", eb.msg);
        *last_err = rv;
    } else {
        *last_err = DC_OK;
    }
    if (changed) {
        DC_LOG(DC_LOG_INFO, "Issuer credentials changed; reloading");
        dc_metric_inc(s->m_changed, NULL, 1);
        expiry_update(s, true);
    }
    /* Renew the serving certificate on an issuer change and at half its life. */
    if (changed || now >= s->server_not_before + (s->server_not_after - s->server_not_before) / 2) {
        if (renew_serving(s, &eb) != DC_OK)
            DC_LOG(DC_LOG_ERROR, "serving certificate not renewed: %s", eb.msg);
        else
            DC_LOG(DC_LOG_DEBUG, "serving certificate renewed");
    }
    expiry_update(s, false);
}

static void *watcher_main(void *arg)
{
    struct snt_service *s = arg;
    struct timespec ts;
    int last_err = DC_OK;

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        ts = dc_timespec_in(CLOCK_REALTIME, s->flags->poll_ms * DC_NS_PER_MS);
        (void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->mu);
        watch_once(s, &last_err);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- health and metrics ----------------------------------------------------------------- */

static int ops_start(struct snt_service *s, const struct snt_flags *f, struct dc_errbuf *eb)
{
    struct dc_ops_server_opts o = {.health_address = f->healthz_listen_address,
                                   .health_port = f->healthz_port,
                                   .enable_metrics = f->enable_metrics,
                                   .metrics_address = f->metrics_listen_address,
                                   .metrics_port = f->metrics_port,
                                   .idle_timeout_s = 120};
    int rv = dc_ops_server_start(s->ops, &o, eb);

    if (rv != DC_OK)
        return rv;
    DC_LOG(DC_LOG_INFO, "healthz server listening on %s:%u",
           dc_str_empty(o.health_address) ? "*" : o.health_address,
           (unsigned)dc_ops_server_health_port(s->ops));
    if (o.enable_metrics)
        DC_LOG(DC_LOG_INFO, "metrics server listening on %s:%u",
               dc_str_empty(o.metrics_address) ? "*" : o.metrics_address,
               (unsigned)dc_ops_server_metrics_port(s->ops));
    return DC_OK;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

int snt_service_new(struct snt_service **out, const struct snt_flags *f, struct dc_errbuf *eb)
{
    struct snt_service *s;
    const char *ns = getenv("NAMESPACE");
    int i;

    *out = NULL;
    if (dc_str_empty(ns))
        ns = "default";
    if (strlen(ns) > 63 || dc_spiffe_segment_check(ns, strlen(ns), eb) != DC_OK) {
        dc_err_set(eb, DC_EINVAL, "NAMESPACE \"%.80s\" is not a namespace name", ns);
        return DC_EINVAL;
    }
    s = dc_xcalloc(1, sizeof(*s));
    s->flags = f;
    s->kube = snt_flags_kubernetes(f, NULL);
    dc_strlcpy(s->ns, ns, sizeof(s->ns));
    s->cred_keys[0] = base_name(f->issuer_ca_filename);
    s->cred_keys[1] = base_name(f->issuer_certificate_filename);
    s->cred_keys[2] = base_name(f->issuer_key_filename);
    cred_path(f, f->issuer_ca_filename, s->cred_paths[0], sizeof(s->cred_paths[0]));
    cred_path(f, f->issuer_certificate_filename, s->cred_paths[1], sizeof(s->cred_paths[1]));
    cred_path(f, f->issuer_key_filename, s->cred_paths[2], sizeof(s->cred_paths[2]));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    metrics_register(s);
    s->ops = dc_ops_server_new(s->metrics);
    for (i = 0; i < 3; i++)
        DC_ASSERT(s->cred_keys[i][0] != '\0');
    *out = s;
    return DC_OK;
}

static int k8s_start(struct snt_service *s, struct dc_errbuf *eb)
{
    struct dc_k8s_config kc = {0};
    int rv;

    rv = dc_k8s_config_load(&kc, s->flags->kubeconfig, NULL, eb);
    if (rv != DC_OK) {
        dc_k8s_config_cleanup(&kc);
        dc_err_wrapf(eb, "Kubernetes mode needs API access");
        return rv;
    }
    rv = dc_k8s_client_new(&s->k8s, &kc, eb);
    if (rv == DC_OK)
        DC_LOG(DC_LOG_INFO, "Kubernetes API server %s", kc.server);
    dc_k8s_config_cleanup(&kc);
    if (rv == DC_OK)
        dc_k8s_client_set_timeout(s->k8s, 10000);
    return rv;
}

static unsigned worker_count(const struct snt_flags *f)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (f->workers > 0)
        return f->workers;
    return n < 2 ? 2 : (unsigned)n;
}

static int grpc_start(struct snt_service *s, struct dc_errbuf *eb)
{
    struct dc_grpc_server_opts o = {0};
    const char *addr = s->flags->listen_address;
    int rv;

    o.ssl_ctx = serving_ctx(s, eb);
    if (o.ssl_ctx == NULL)
        return DC_ETLS;
    o.max_recv_msg = SNT_MAX_REQUEST;
    o.workers = worker_count(s->flags);
    rv = dc_grpc_server_new(&s->grpc, &o, eb);
    SSL_CTX_free(o.ssl_ctx);
    if (rv == DC_OK)
        rv = dc_grpc_server_add_pb_unary(s->grpc, &dapr__proto__sentry__v1__ca__descriptor,
                                         SNT_SIGN_METHOD, h_sign, s, DC_GRPC_WORKER, eb);
    if (rv == DC_OK)
        rv = dc_grpc_server_listen(s->grpc, dc_str_empty(addr) ? "0.0.0.0" : addr, s->flags->port,
                                   eb);
    if (rv == DC_OK)
        rv = dc_grpc_server_start(s->grpc, eb);
    if (rv == DC_OK)
        DC_LOG(DC_LOG_INFO, "Sentry gRPC server listening on %s:%d (TLS, %u workers, id %s)",
               dc_str_empty(addr) ? "*" : addr, dc_grpc_server_port(s->grpc), o.workers,
               s->sentry_id);
    else
        dc_err_wrapf(eb, "gRPC server");
    return rv;
}

static int identity_setup(struct snt_service *s, struct dc_errbuf *eb)
{
    struct dc_spiffe_id id;
    const char *td = s->flags->trust_domain;

    /* The flag overrides the Configuration (§2.1); without it the Configuration's
     * controlPlaneTrustDomain applies when one was read, else the flag's default. */
    if (!s->flags->trust_domain_set && s->conf != NULL &&
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s->conf, "spec"),
                                             "mtls"),
            "controlPlaneTrustDomain") != NULL)
        td = s->mtls.control_plane_td;
    dc_strlcpy(s->td, td, sizeof(s->td));
    if (dc_spiffe_build(&id, s->td, s->ns, SNT_SENTRY_APP_ID, eb) != DC_OK ||
        dc_spiffe_format(&id, s->sentry_id, sizeof(s->sentry_id)) < 0)
        return dc_err_set(eb, DC_EINVAL, "sentry's SPIFFE id: %s", eb != NULL ? eb->msg : "");
    return DC_OK;
}

int snt_service_start(struct snt_service *s, struct dc_errbuf *eb)
{
    const struct snt_flags *f = s->flags;
    int rv = DC_OK;

    DC_LOG(DC_LOG_INFO, "Sentry mode: %s, namespace %s", s->kube ? "kubernetes" : "standalone",
           s->ns);
    if (s->kube)
        rv = k8s_start(s, eb);
    if (rv == DC_OK)
        rv = load_config(s, eb);
    if (rv == DC_OK)
        rv = identity_setup(s, eb);
    if (rv == DC_OK)
        rv = load_validators(s, eb);
    if (rv != DC_OK)
        return rv;
    DC_LOG(DC_LOG_INFO, "Workload certificate TTL %llds, allowed clock skew %llds, trust domain %s",
           (long long)s->mtls.workload_ttl_s, (long long)s->mtls.skew_s, s->td);
    rv = ca_bootstrap(s, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "CA");
        return rv;
    }
    expiry_update(s, true);
    rv = ops_start(s, f, eb);
    if (rv == DC_OK)
        rv = grpc_start(s, eb);
    if (rv != DC_OK)
        return rv;
    if (pthread_create(&s->watcher, NULL, watcher_main, s) != 0)
        return dc_err_set(eb, DC_EINTERNAL, "cannot start the credentials watcher");
    s->watcher_started = true;
    dc_ops_server_set_ready(s->ops, true);
    return DC_OK;
}

void snt_service_shutdown(struct snt_service *s, int64_t grace_ms)
{
    dc_ops_server_set_ready(s->ops, false);
    if (s->grpc != NULL)
        dc_grpc_server_shutdown(s->grpc, grace_ms);
}

void snt_service_free(struct snt_service *s)
{
    if (s == NULL)
        return;
    if (s->watcher_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->watcher, NULL);
    }
    dc_grpc_server_free(s->grpc);
    dc_ops_server_free(s->ops);
    dc_k8s_client_free(s->k8s);
    snt_ca_free(s->ca);
    snt_jwks_free(s->jwks);
    cJSON_Delete(s->conf);
    dc_metrics_free(s->metrics);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

struct dc_metrics *snt_service_metrics(struct snt_service *s)
{
    return s->metrics;
}

struct snt_ca *snt_service_ca(struct snt_service *s)
{
    return s->ca;
}

int snt_service_port(const struct snt_service *s)
{
    return s->grpc != NULL ? dc_grpc_server_port(s->grpc) : 0;
}
