/* The CA's root and issuer: load and check (ca/validate.go), generate (ca/bundle/cert.go),
 * store (ca/selfhosted.go), reload, expiry. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "internal.h"
#include "sentry.h"

/* ---- material ---------------------------------------------------------------------------- */

static void material_free(struct snt__material *m)
{
    if (m == NULL)
        return;
    sk_X509_pop_free(m->anchors, X509_free);
    sk_X509_pop_free(m->chain, X509_free);
    EVP_PKEY_free(m->key);
    snt__leaf_template_free(&m->leaf);
    dc_buf_cleanup(&m->anchors_pem);
    dc_buf_cleanup(&m->chain_pem);
    if (m->key_pem.data != NULL)
        OPENSSL_cleanse(m->key_pem.data, m->key_pem.len);
    dc_buf_cleanup(&m->key_pem);
    free(m);
}

/* SHA-256 over the three texts, each prefixed with its length so boundaries count. */
static void source_digest(const char *a, size_t al, const char *b, size_t bl, const char *c,
                          size_t cl, unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const char *p[3] = {a, b, c};
    size_t l[3] = {al, bl, cl};
    uint64_t n;
    unsigned int len = 32;
    int i;

    DC_ASSERT(ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
    for (i = 0; i < 3; i++) {
        n = l[i];
        DC_ASSERT(EVP_DigestUpdate(ctx, &n, sizeof(n)) == 1);
        DC_ASSERT(EVP_DigestUpdate(ctx, p[i], l[i]) == 1);
    }
    DC_ASSERT(EVP_DigestFinal_ex(ctx, out, &len) == 1);
    EVP_MD_CTX_free(ctx);
}

static bool self_signed(X509 *cert)
{
    bool ok = X509_verify(cert, X509_get0_pubkey(cert)) == 1;

    ERR_clear_error();
    return ok;
}

/* Every "CERTIFICATE" block of `pem` into a new stack (at least one). */
static int parse_certs(const char *pem, size_t len, const char *what, STACK_OF(X509) * *out,
                       struct dc_errbuf *eb)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    const unsigned char *p;
    long der_len;
    X509 *x;
    int rv = DC_OK;

    if (sk == NULL || bio == NULL) {
        rv = snt__ossl_err(eb, DC_ETLS, what);
        goto out;
    }
    while (PEM_read_bio(bio, &name, &header, &der, &der_len) == 1) {
        if (strcmp(name, "CERTIFICATE") != 0) {
            rv = dc_err_set(eb, DC_EPARSE, "%s: unexpected PEM block \"%.64s\"", what, name);
            goto out;
        }
        p = der;
        x = d2i_X509(NULL, &p, der_len);
        if (x == NULL || p != der + der_len) {
            X509_free(x);
            rv = snt__ossl_err(eb, DC_EPARSE, what);
            goto out;
        }
        if (sk_X509_num(sk) >= DC_MAX_SNT_CERTS || sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            rv =
                dc_err_set(eb, DC_ETOOBIG, "%s: more than %d certificates", what, DC_MAX_SNT_CERTS);
            goto out;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        name = header = NULL;
        der = NULL;
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    if (sk_X509_num(sk) == 0)
        rv = dc_err_set(eb, DC_EPARSE, "%s: no PEM certificates found", what);
out:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(bio);
    if (rv != DC_OK) {
        sk_X509_pop_free(sk, X509_free);
        return rv;
    }
    *out = sk;
    return DC_OK;
}

/* Never prompt for a pass phrase: an encrypted key is an error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int parse_key(const char *pem, size_t len, EVP_PKEY **out, struct dc_errbuf *eb)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = NULL;

    if (bio != NULL)
        k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (k == NULL)
        return snt__ossl_err(eb, DC_EPARSE, "failed to decode issuer key");
    if (snt_key_classify(k, NULL) < 0) {
        EVP_PKEY_free(k);
        return dc_err_set(eb, DC_EINVAL, "unsupported issuer key type");
    }
    *out = k;
    return DC_OK;
}

/* The issuer chain must verify to one of the anchors at `now`; record the expiries. */
static int verify_chain(struct snt__material *m, int64_t now, struct dc_errbuf *eb)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = NULL;
    STACK_OF(X509) * path;
    int64_t t;
    int i, err, rv = DC_ETLS;

    if (store == NULL || ctx == NULL)
        goto out;
    for (i = 0; i < sk_X509_num(m->anchors); i++)
        if (X509_STORE_add_cert(store, sk_X509_value(m->anchors, i)) != 1)
            goto out;
    untrusted = sk_X509_new_null();
    if (untrusted == NULL)
        goto out;
    for (i = 1; i < sk_X509_num(m->chain); i++)
        if (sk_X509_push(untrusted, sk_X509_value(m->chain, i)) <= 0)
            goto out;
    if (X509_STORE_CTX_init(ctx, store, sk_X509_value(m->chain, 0), untrusted) != 1)
        goto out;
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)now);
    if (X509_verify_cert(ctx) != 1) {
        err = X509_STORE_CTX_get_error(ctx);
        rv = (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID)
                 ? DC_ERANGE
                 : DC_EINVAL;
        ERR_clear_error();
        dc_err_set(eb, rv, "issuer chain does not belong to trust anchors: %s",
                   X509_verify_cert_error_string(err));
        goto out;
    }
    path = X509_STORE_CTX_get0_chain(ctx);
    m->cap_not_after = INT64_MAX;
    for (i = 0; i < sk_X509_num(path); i++) {
        t = snt__asn1_time_unix(X509_get0_notAfter(sk_X509_value(path, i)));
        if (t < m->cap_not_after)
            m->cap_not_after = t;
    }
    m->root_not_after = snt__asn1_time_unix(X509_get0_notAfter(sk_X509_value(path, i - 1)));
    m->issuer_not_after = snt__asn1_time_unix(X509_get0_notAfter(sk_X509_value(m->chain, 0)));
    rv = DC_OK;
out:
    if (rv == DC_ETLS)
        snt__ossl_err(eb, rv, "verifying issuer chain");
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rv;
}

/* Re-encode anchors, chain and key: strips PEM comments and a trailing root (validate.go). */
static int encode_material(struct snt__material *m, struct dc_errbuf *eb)
{
    BIO *bio;
    char *p;
    long n;
    int i, rv = DC_OK;

    dc_buf_init(&m->anchors_pem, 0);
    dc_buf_init(&m->chain_pem, 0);
    dc_buf_init(&m->key_pem, 0);
    for (i = 0; rv == DC_OK && i < sk_X509_num(m->anchors); i++)
        rv = snt__pem_append_cert(&m->anchors_pem, sk_X509_value(m->anchors, i), eb);
    for (i = 0; rv == DC_OK && i < sk_X509_num(m->chain); i++)
        rv = snt__pem_append_cert(&m->chain_pem, sk_X509_value(m->chain, i), eb);
    if (rv != DC_OK)
        return rv;
    bio = BIO_new(BIO_s_secmem());
    if (bio == NULL || PEM_write_bio_PrivateKey(bio, m->key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return snt__ossl_err(eb, DC_ETLS, "encoding issuer key");
    }
    n = BIO_get_mem_data(bio, &p);
    rv = dc_buf_append(&m->key_pem, p, (size_t)n);
    BIO_free(bio);
    return rv;
}

static int material_from_pem(struct snt__material **out, const char *ca_pem, size_t ca_len,
                             const char *iss_pem, size_t iss_len, const char *key_pem,
                             size_t key_len, int64_t now, struct dc_errbuf *eb)
{
    struct snt__material *m = dc_xcalloc(1, sizeof(*m));
    X509 *last;
    int i, rv;

    /* An empty dc_buf has a NULL pointer; BIO_new_mem_buf wants a real one. */
    ca_pem = ca_pem != NULL ? ca_pem : "";
    iss_pem = iss_pem != NULL ? iss_pem : "";
    key_pem = key_pem != NULL ? key_pem : "";

    if (ca_len > DC_MAX_SNT_CRED_FILE || iss_len > DC_MAX_SNT_CRED_FILE ||
        key_len > DC_MAX_SNT_CRED_FILE) {
        rv = dc_err_set(eb, DC_ETOOBIG, "issuer credentials larger than %u bytes",
                        DC_MAX_SNT_CRED_FILE);
        goto out;
    }
    rv = parse_certs(ca_pem, ca_len, "failed to decode trust anchors", &m->anchors, eb);
    if (rv != DC_OK)
        goto out;
    for (i = 0; i < sk_X509_num(m->anchors); i++) {
        if (!self_signed(sk_X509_value(m->anchors, i)) ||
            X509_check_ca(sk_X509_value(m->anchors, i)) == 0) {
            rv = dc_err_set(eb, DC_EINVAL, "certificate in trust anchor is not self-signed");
            goto out;
        }
    }
    rv = parse_certs(iss_pem, iss_len, "failed to decode issuer chain", &m->chain, eb);
    if (rv != DC_OK)
        goto out;
    /* validate.go: a trailing self-signed root is not part of the issuer chain. */
    last = sk_X509_value(m->chain, sk_X509_num(m->chain) - 1);
    if (sk_X509_num(m->chain) > 1 && self_signed(last))
        X509_free(sk_X509_pop(m->chain));
    /* Stricter than validate.go, whose check passes unless all three CA signs are missing:
     * a certificate that is not a CA would give leaves that no peer accepts. */
    if (X509_check_ca(sk_X509_value(m->chain, 0)) == 0) {
        rv = dc_err_set(eb, DC_EINVAL, "intermediate certificate is not valid for signing");
        goto out;
    }
    rv = parse_key(key_pem, key_len, &m->key, eb);
    if (rv != DC_OK)
        goto out;
    if (EVP_PKEY_eq(m->key, X509_get0_pubkey(sk_X509_value(m->chain, 0))) != 1) {
        ERR_clear_error();
        rv = dc_err_set(eb, DC_EINVAL, "issuer key does not match issuer certificate");
        goto out;
    }
    m->md = snt__sign_md(m->key);
    rv = verify_chain(m, snt__now(now), eb);
    if (rv != DC_OK)
        goto out;
    rv = snt__leaf_template_init(&m->leaf, sk_X509_value(m->chain, 0), m->key, m->md, eb);
    if (rv != DC_OK)
        goto out;
    rv = encode_material(m, eb);
    if (rv != DC_OK)
        goto out;
    source_digest(ca_pem, ca_len, iss_pem, iss_len, key_pem, key_len, m->src_digest);
    *out = m;
    return DC_OK;
out:
    material_free(m);
    return rv;
}

/* ---- the CA object ----------------------------------------------------------------------- */

static struct snt_ca *ca_new(struct snt__material *m)
{
    struct snt_ca *ca = dc_xcalloc(1, sizeof(*ca));

    DC_ASSERT(pthread_rwlock_init(&ca->lock, NULL) == 0);
    ca->m = m;
    return ca;
}

const struct snt__material *snt__ca_acquire(struct snt_ca *ca)
{
    DC_ASSERT(pthread_rwlock_rdlock(&ca->lock) == 0);
    return ca->m;
}

void snt__ca_release(struct snt_ca *ca)
{
    DC_ASSERT(pthread_rwlock_unlock(&ca->lock) == 0);
}

int snt_ca_load_pem(struct snt_ca **out, const char *ca_pem, size_t ca_len, const char *issuer_pem,
                    size_t issuer_len, const char *key_pem, size_t key_len, int64_t now_s,
                    struct dc_errbuf *eb)
{
    struct snt__material *m;
    int rv;

    rv = material_from_pem(&m, ca_pem, ca_len, issuer_pem, issuer_len, key_pem, key_len, now_s, eb);
    if (rv != DC_OK)
        return rv;
    *out = ca_new(m);
    return DC_OK;
}

void snt_ca_free(struct snt_ca *ca)
{
    int i;

    if (ca == NULL)
        return;
    material_free(ca->m);
    for (i = 0; i < 3; i++)
        free(ca->paths[i]);
    pthread_rwlock_destroy(&ca->lock);
    free(ca);
}

int snt_ca_get_pem(struct snt_ca *ca, struct dc_buf *anchors, struct dc_buf *chain,
                   struct dc_buf *key, struct dc_errbuf *eb)
{
    const struct snt__material *m = snt__ca_acquire(ca);
    int rv = DC_OK;

    if (anchors != NULL)
        rv = dc_buf_append(anchors, m->anchors_pem.data, m->anchors_pem.len);
    if (rv == DC_OK && chain != NULL)
        rv = dc_buf_append(chain, m->chain_pem.data, m->chain_pem.len);
    if (rv == DC_OK && key != NULL)
        rv = dc_buf_append(key, m->key_pem.data, m->key_pem.len);
    snt__ca_release(ca);
    if (rv != DC_OK)
        return dc_err_set(eb, rv, "CA material does not fit the buffer");
    return DC_OK;
}

int snt_ca_update_pem(struct snt_ca *ca, const char *ca_pem, size_t ca_len, const char *issuer_pem,
                      size_t issuer_len, const char *key_pem, size_t key_len, int64_t now_s,
                      bool *changed, struct dc_errbuf *eb)
{
    struct snt__material *m, *old;
    unsigned char digest[32];
    bool same;
    int rv;

    *changed = false;
    source_digest(ca_pem, ca_len, issuer_pem, issuer_len, key_pem, key_len, digest);
    same = memcmp(snt__ca_acquire(ca)->src_digest, digest, sizeof(digest)) == 0;
    snt__ca_release(ca);
    if (same)
        return DC_OK;
    rv = material_from_pem(&m, ca_pem, ca_len, issuer_pem, issuer_len, key_pem, key_len, now_s, eb);
    if (rv != DC_OK)
        return rv;
    DC_ASSERT(pthread_rwlock_wrlock(&ca->lock) == 0);
    old = ca->m;
    ca->m = m;
    DC_ASSERT(pthread_rwlock_unlock(&ca->lock) == 0);
    material_free(old);
    *changed = true;
    return DC_OK;
}

void snt_ca_get_expiry(struct snt_ca *ca, struct snt_ca_expiry *out)
{
    const struct snt__material *m = snt__ca_acquire(ca);

    out->root_not_after_s = m->root_not_after;
    out->issuer_not_after_s = m->issuer_not_after;
    snt__ca_release(ca);
}

unsigned snt_ca_expiry_check(struct snt_ca *ca, int64_t now_s, int64_t window_s)
{
    struct snt_ca_expiry e;
    int64_t limit = snt__now(now_s) + window_s;
    unsigned mask = 0;

    snt_ca_get_expiry(ca, &e);
    if (e.root_not_after_s < limit)
        mask |= SNT_EXPIRY_ROOT;
    if (e.issuer_not_after_s < limit)
        mask |= SNT_EXPIRY_ISSUER;
    return mask;
}

/* ---- generation -------------------------------------------------------------------------- */

int snt__add_key_usage(X509 *cert, unsigned bits, struct dc_errbuf *eb)
{
    ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
    int i, ok = bs != NULL;

    for (i = 0; ok && i < 9; i++)
        if (bits & (1u << i))
            ok = ASN1_BIT_STRING_set_bit(bs, i, 1) == 1;
    /* RFC 5280 §4.2.1.3: "conforming CAs SHOULD mark this extension as critical" (Go does). */
    if (ok)
        ok = X509_add1_ext_i2d(cert, NID_key_usage, bs, 1, X509V3_ADD_REPLACE) == 1;
    ASN1_BIT_STRING_free(bs);
    return ok ? DC_OK : snt__ossl_err(eb, DC_ETLS, "key usage");
}

static int add_basic_ca(X509 *cert, struct dc_errbuf *eb)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    int ok = bc != NULL;

    /* CA:TRUE without pathLenConstraint (Go: MaxPathLen 0 and MaxPathLenZero false). */
    if (ok) {
        bc->ca = 0xff;
        ok = X509_add1_ext_i2d(cert, NID_basic_constraints, bc, 1, X509V3_ADD_REPLACE) == 1;
    }
    BASIC_CONSTRAINTS_free(bc);
    return ok ? DC_OK : snt__ossl_err(eb, DC_ETLS, "basic constraints");
}

/* A CA certificate with subject O=`org`, signed by `signer_key` (`signer` NULL: self-signed). */
static int make_ca_cert(X509 **out, const char *org, EVP_PKEY *key, X509 *signer,
                        EVP_PKEY *signer_key, unsigned ku, int64_t now, int64_t skew, int64_t ttl,
                        struct dc_errbuf *eb)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    int rv = DC_ETLS;

    if (x == NULL || name == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1,
                                   0) != 1 ||
        X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, signer != NULL ? X509_get_subject_name(signer) : name) != 1 ||
        X509_set_pubkey(x, key) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(now - skew)) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(now + ttl)) == NULL)
        goto out;
    rv = snt__set_random_serial(x, eb);
    if (rv == DC_OK)
        rv = snt__add_key_usage(x, ku, eb);
    if (rv == DC_OK)
        rv = add_basic_ca(x, eb);
    if (rv == DC_OK)
        rv = snt__add_key_ids(x, signer, eb);
    if (rv != DC_OK)
        goto out;
    rv = DC_ETLS;
    if (X509_sign(x, signer_key, snt__sign_md(signer_key)) <= 0)
        goto out;
    *out = x;
    x = NULL;
    rv = DC_OK;
out:
    if (rv == DC_ETLS)
        snt__ossl_err(eb, rv, "making CA certificate");
    X509_NAME_free(name);
    X509_free(x);
    return rv;
}

/* The PEM texts of a new root, issuer and issuer key. */
static int generate_pem(const struct snt_ca_config *cfg, struct dc_buf *ca, struct dc_buf *iss,
                        struct dc_buf *key, struct dc_errbuf *eb)
{
    const char *td = cfg->trust_domain != NULL ? cfg->trust_domain : SNT_DEFAULT_TRUST_DOMAIN;
    const char *ns = cfg->ns != NULL ? cfg->ns : "default";
    int64_t now = snt__now(cfg->now_s);
    int64_t ttl = cfg->ca_ttl_s > 0 ? cfg->ca_ttl_s : SNT_DEFAULT_CA_TTL_S;
    int64_t skew = cfg->skew_s > 0 ? cfg->skew_s : 0;
    EVP_PKEY *root_key = NULL, *iss_key = NULL;
    X509 *root = NULL, *issuer = NULL;
    struct dc_spiffe_id sid;
    char org[DC_SPIFFE_MAX_LEN + 1];
    BIO *bio = NULL;
    char *p;
    long n;
    int rv;

    if (cfg->key_type != SNT_KEY_EC_P256 && cfg->key_type != SNT_KEY_ED25519)
        return dc_err_set(eb, DC_EINVAL, "CA key type must be P-256 or Ed25519");
    /* cert.go: the issuer's subject O is Sentry's SPIFFE id. */
    rv = dc_spiffe_build(&sid, td, ns, "dapr-sentry", eb);
    if (rv != DC_OK)
        return rv;
    DC_ASSERT(dc_spiffe_format(&sid, org, sizeof(org)) > 0);
    rv = snt_key_generate(cfg->key_type, &root_key, eb);
    if (rv == DC_OK)
        rv = snt_key_generate(cfg->key_type, &iss_key, eb);
    if (rv == DC_OK)
        rv = make_ca_cert(&root, td, root_key, NULL, root_key,
                          SNT__KU_DIGITAL_SIGNATURE | SNT__KU_KEY_CERT_SIGN, now, skew, ttl, eb);
    if (rv == DC_OK)
        rv = make_ca_cert(&issuer, org, iss_key, root, root_key,
                          SNT__KU_DIGITAL_SIGNATURE | SNT__KU_KEY_CERT_SIGN | SNT__KU_CRL_SIGN, now,
                          skew, ttl, eb);
    if (rv == DC_OK)
        rv = snt__pem_append_cert(ca, root, eb);
    if (rv == DC_OK)
        rv = snt__pem_append_cert(iss, issuer, eb);
    if (rv != DC_OK)
        goto out;
    /* The root key is used once and never stored (bundle.go). */
    bio = BIO_new(BIO_s_secmem());
    if (bio == NULL || PEM_write_bio_PrivateKey(bio, iss_key, NULL, NULL, 0, NULL, NULL) != 1) {
        rv = snt__ossl_err(eb, DC_ETLS, "encoding issuer key");
        goto out;
    }
    n = BIO_get_mem_data(bio, &p);
    rv = dc_buf_append(key, p, (size_t)n);
out:
    BIO_free(bio);
    X509_free(root);
    X509_free(issuer);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(iss_key);
    return rv;
}

static void wipe_buf(struct dc_buf *b)
{
    if (b->data != NULL)
        OPENSSL_cleanse(b->data, b->len);
    dc_buf_cleanup(b);
}

int snt_ca_generate(struct snt_ca **out, const struct snt_ca_config *cfg, struct dc_errbuf *eb)
{
    struct dc_buf ca = {0}, iss = {0}, key = {0};
    int rv;

    rv = generate_pem(cfg, &ca, &iss, &key, eb);
    if (rv == DC_OK)
        rv = snt_ca_load_pem(out, ca.data, ca.len, iss.data, iss.len, key.data, key.len, cfg->now_s,
                             eb);
    dc_buf_cleanup(&ca);
    dc_buf_cleanup(&iss);
    wipe_buf(&key);
    return rv;
}

/* ---- files ------------------------------------------------------------------------------- */

static char *join_path(const char *dir, const char *name, const char *dflt)
{
    size_t dl, nl;
    char *p;

    if (name == NULL || *name == '\0')
        name = dflt;
    /* options.go: an absolute file name overrides the folder. */
    if (name[0] == '/' || dir == NULL || *dir == '\0')
        return dc_xstrdup(name);
    dl = strlen(dir);
    nl = strlen(name);
    p = dc_xmalloc(dl + nl + 2);
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, name, nl + 1);
    return p;
}

/* Read a whole file of at most DC_MAX_SNT_CRED_FILE bytes. */
static int read_file(const char *path, struct dc_buf *out, struct dc_errbuf *eb)
{
    char chunk[4096];
    ssize_t n;
    int fd, rv = DC_OK;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dc_err_set(eb, errno == ENOENT ? DC_ENOTFOUND : DC_EIO, "opening %s: %s", path,
                          strerror(errno));
    dc_buf_init(out, DC_MAX_SNT_CRED_FILE);
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rv = dc_err_set(eb, DC_EIO, "reading %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (dc_buf_append(out, chunk, (size_t)n) != DC_OK) {
            rv = dc_err_set(eb, DC_ETOOBIG, "%s is larger than %u bytes", path,
                            DC_MAX_SNT_CRED_FILE);
            break;
        }
    }
    OPENSSL_cleanse(chunk, sizeof(chunk));
    close(fd);
    if (rv != DC_OK)
        wipe_buf(out);
    return rv;
}

static int read_files(char *const paths[3], struct dc_buf bufs[3], struct dc_errbuf *eb)
{
    int i, rv = DC_OK;

    for (i = 0; i < 3 && rv == DC_OK; i++)
        rv = read_file(paths[i], &bufs[i], eb);
    return rv;
}

static void free_bufs(struct dc_buf bufs[3])
{
    int i;

    for (i = 0; i < 3; i++)
        wipe_buf(&bufs[i]);
}

static int mkdir_p(const char *dir, struct dc_errbuf *eb)
{
    char *p = dc_xstrdup(dir), *s;
    int rv = DC_OK;

    for (s = p + 1; rv == DC_OK; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            rv = dc_err_set(eb, DC_EIO, "creating %s: %s", p, strerror(errno));
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return rv;
}

static int store_files(const struct snt_ca_config *cfg, char *const paths[3], struct dc_buf bufs[3],
                       struct dc_errbuf *eb)
{
    static const unsigned modes[3] = {0644, 0644, 0600};
    int i, rv = DC_OK;

    if (cfg->creds_dir != NULL && *cfg->creds_dir != '\0')
        rv = mkdir_p(cfg->creds_dir, eb);
    /* The key and the issuer first, ca.crt last: a watcher that sees ca.crt sees a full set. */
    for (i = 2; i >= 0 && rv == DC_OK; i--)
        rv = snt_write_file_atomic(paths[i], bufs[i].data, bufs[i].len, modes[i], eb);
    return rv;
}

int snt_ca_open(struct snt_ca **out, const struct snt_ca_config *cfg, bool *generated,
                struct dc_errbuf *eb)
{
    char *paths[3];
    struct dc_buf bufs[3] = {{0}};
    struct snt_ca *ca = NULL;
    bool gen = false;
    int i, rv;

    paths[0] = join_path(cfg->creds_dir, cfg->ca_filename, SNT_DEFAULT_CA_FILENAME);
    paths[1] = join_path(cfg->creds_dir, cfg->cert_filename, SNT_DEFAULT_CERT_FILENAME);
    paths[2] = join_path(cfg->creds_dir, cfg->key_filename, SNT_DEFAULT_KEY_FILENAME);
    rv = read_files(paths, bufs, eb);
    if (rv == DC_ENOTFOUND) {
        /* selfhosted.go: any missing file means no CA; make one and store it. */
        free_bufs(bufs);
        dc_err_clear(eb);
        gen = true;
        rv = generate_pem(cfg, &bufs[0], &bufs[1], &bufs[2], eb);
        if (rv == DC_OK)
            rv = store_files(cfg, paths, bufs, eb);
    }
    if (rv == DC_OK)
        rv = snt_ca_load_pem(&ca, bufs[0].data, bufs[0].len, bufs[1].data, bufs[1].len,
                             bufs[2].data, bufs[2].len, cfg->now_s, eb);
    free_bufs(bufs);
    if (rv != DC_OK) {
        for (i = 0; i < 3; i++)
            free(paths[i]);
        return rv;
    }
    for (i = 0; i < 3; i++)
        ca->paths[i] = paths[i];
    ca->now_s = cfg->now_s;
    if (generated != NULL)
        *generated = gen;
    *out = ca;
    return DC_OK;
}

int snt_ca_reload(struct snt_ca *ca, bool *changed, struct dc_errbuf *eb)
{
    struct dc_buf bufs[3] = {{0}};
    int rv;

    *changed = false;
    if (ca->paths[0] == NULL)
        return dc_err_set(eb, DC_EINVAL, "CA is not backed by files");
    rv = read_files(ca->paths, bufs, eb);
    if (rv == DC_OK)
        rv = snt_ca_update_pem(ca, bufs[0].data, bufs[0].len, bufs[1].data, bufs[1].len,
                               bufs[2].data, bufs[2].len, ca->now_s, changed, eb);
    free_bufs(bufs);
    return rv;
}
