/* PKCS#10 certificate signing requests (RFC 2986): parsing and the checks of server.go. */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "internal.h"
#include "sentry.h"

struct snt_csr {
    EVP_PKEY *key; /* owned */
    unsigned char *spki;
    size_t spki_len;
    struct snt__der spki_der; /* view of spki */
    enum snt_key_type type;
    int bits;
};

/* ---- the P-256 path: no decoder, no per-call key generation -------------------------------
 * OpenSSL 3.0's d2i_X509_REQ decodes the public key through the decoder framework (about a
 * million instructions and many lock round trips per call). For the request daprd sends (a P-256
 * key, ecdsa-with-SHA256) the key is instead a copy of a template P-256 key with the request's
 * point set (EVP_PKEY_set1_encoded_public_key, which refuses points not on the curve), and the
 * signature is verified over the raw certificationRequestInfo bytes. */

static const unsigned char OID_EC_PUBLIC_KEY[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const unsigned char PARAM_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char OID_ECDSA_SHA256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

/* The P-256 generator in uncompressed form: a valid point for the template key. */
static const unsigned char P256_G[65] = {
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5,
    0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4,
    0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a,
    0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33,
    0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};

static pthread_once_t p256_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *p256_template; /* NULL: the P-256 path is off, every CSR takes the generic one */
static EVP_MD *p256_sha256;

static void p256_init(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[3];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0);
    params[1] =
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)P256_G, sizeof(P256_G));
    params[2] = OSSL_PARAM_construct_end();
    p256_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (ctx == NULL || p256_sha256 == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &p256_template, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(p256_template);
        p256_template = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
}

static bool p256_shape(const struct snt__csr_der *d)
{
    return snt__der_eq(&d->spki.alg, OID_EC_PUBLIC_KEY, sizeof(OID_EC_PUBLIC_KEY)) &&
           snt__der_eq(&d->spki.param, PARAM_P256, sizeof(PARAM_P256)) && d->spki.key.len == 65 &&
           d->spki.key.p[0] == 0x04 &&
           snt__der_eq(&d->sig_alg, OID_ECDSA_SHA256, sizeof(OID_ECDSA_SHA256)) &&
           d->sig_param.len == 0;
}

static int p256_verify(struct snt_csr *c, const struct snt__csr_der *d, struct dc_errbuf *eb)
{
    unsigned char md[32];
    unsigned int md_len = 0;
    EVP_PKEY_CTX *ctx = NULL;
    int rv;

    c->key = EVP_PKEY_dup(p256_template);
    if (c->key == NULL)
        return snt__ossl_err(eb, DC_ETLS, "certificate signing request public key");
    if (EVP_PKEY_set1_encoded_public_key(c->key, d->spki.key.p, d->spki.key.len) != 1)
        return snt__ossl_err(eb, DC_EINVAL, "certificate signing request public key is invalid");
    c->type = SNT_KEY_EC_P256;
    c->bits = 256;
    rv = DC_OK;
    /* RFC 2986 §3: the request is signed with the subject's own key (Go's CheckSignature). */
    if (EVP_Digest(d->info.p, d->info.len, md, &md_len, p256_sha256, NULL) != 1 ||
        (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, c->key, NULL)) == NULL ||
        EVP_PKEY_verify_init(ctx) != 1 ||
        EVP_PKEY_verify(ctx, d->sig.p, d->sig.len, md, md_len) != 1)
        rv = snt__ossl_err(eb, DC_EINVAL, "certificate signing request signature is invalid");
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

/* True when `needle` (NUL-terminated) occurs in the first `len` bytes of `data`. */
static bool contains(const void *data, size_t len, const char *needle)
{
    const char *d = data;
    size_t n = strlen(needle), i;

    for (i = 0; i + n <= len; i++)
        if (d[i] == needle[0] && memcmp(d + i, needle, n) == 0)
            return true;
    return false;
}

/* Find the first PEM block (as Go's pem.Decode, text before "-----BEGIN" is skipped) and return
 * its label and DER content. DC_ENOTFOUND when the input holds no PEM block. */
static int pem_first_block(const void *data, size_t len, char **name, unsigned char **der,
                           long *der_len)
{
    BIO *bio;
    char *header = NULL;
    int ok;

    if (!contains(data, len, "-----BEGIN "))
        return DC_ENOTFOUND;
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL)
        return DC_ETLS;
    ok = PEM_read_bio(bio, name, &header, der, der_len);
    BIO_free(bio);
    OPENSSL_free(header);
    ERR_clear_error();
    return ok == 1 ? DC_OK : DC_EPARSE;
}

static int check_key(struct snt_csr *c, struct dc_errbuf *eb)
{
    int type = snt_key_classify(c->key, &c->bits);

    switch (type) {
    case SNT_KEY_EC_P256:
    case SNT_KEY_ED25519:
        break;
    case SNT_KEY_RSA:
        if (c->bits < 2048)
            return dc_err_set(eb, DC_EINVAL, "RSA key of %d bits is too small (minimum 2048)",
                              c->bits);
        if (c->bits > DC_MAX_SNT_RSA_BITS)
            return dc_err_set(eb, DC_EINVAL, "RSA key of %d bits is too large (maximum %d)",
                              c->bits, DC_MAX_SNT_RSA_BITS);
        break;
    default:
        return dc_err_set(eb, DC_EINVAL,
                          "unsupported public key type (want ECDSA P-256, Ed25519 or RSA)");
    }
    c->type = (enum snt_key_type)type;
    return DC_OK;
}

/* Any other request (Ed25519, RSA, other curves or digests): OpenSSL's own reader. */
static int generic_verify(struct snt_csr *c, const unsigned char *der, size_t len,
                          struct dc_errbuf *eb)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    int rv;

    if (req == NULL || p != der + len) {
        rv = snt__ossl_err(eb, DC_EPARSE, "invalid certificate signing request");
        goto out;
    }
    c->key = X509_REQ_get0_pubkey(req);
    if (c->key == NULL) {
        rv = snt__ossl_err(eb, DC_EPARSE, "certificate signing request public key");
        goto out;
    }
    if (EVP_PKEY_up_ref(c->key) != 1) {
        c->key = NULL;
        rv = snt__ossl_err(eb, DC_ETLS, "certificate signing request public key");
        goto out;
    }
    rv = check_key(c, eb);
    if (rv != DC_OK)
        goto out;
    /* RFC 2986 §3: the request is signed with the subject's own key (Go's CheckSignature). */
    if (X509_REQ_verify(req, c->key) != 1)
        rv = snt__ossl_err(eb, DC_EINVAL, "certificate signing request signature is invalid");
out:
    X509_REQ_free(req);
    return rv;
}

int snt_csr_parse(const void *data, size_t len, struct snt_csr **out, struct dc_errbuf *eb)
{
    struct snt_csr *c = NULL;
    struct snt__csr_der d;
    unsigned char *pem_der = NULL;
    char *name = NULL;
    const unsigned char *der;
    long der_len;
    int rv;

    if (data == NULL || len == 0)
        return dc_err_set(eb, DC_EPARSE, "invalid certificate signing request: empty");
    if (len > DC_MAX_SNT_CSR)
        return dc_err_set(eb, DC_ETOOBIG, "certificate signing request larger than %u bytes",
                          DC_MAX_SNT_CSR);
    rv = pem_first_block(data, len, &name, &pem_der, &der_len);
    if (rv == DC_OK) {
        /* server.go: "CERTIFICATE" was the label daprd < 1.12 put on its CSRs. */
        if (strcmp(name, "CERTIFICATE REQUEST") != 0 && strcmp(name, "CERTIFICATE") != 0) {
            rv = dc_err_set(eb, DC_EPARSE, "invalid certificate signing request type \"%.64s\"",
                            name);
            goto out;
        }
        der = pem_der;
    } else if (rv == DC_ENOTFOUND) {
        der = data;
        der_len = (long)len;
    } else {
        rv = dc_err_set(eb, DC_EPARSE, "invalid certificate signing request: bad PEM");
        goto out;
    }
    /* Strict DER first, for every key type (Go's parser is strict DER too); it also refuses
     * trailing data ("x509: trailing data"). */
    if (der_len <= 0 || snt__csr_der_read(der, (size_t)der_len, &d) != DC_OK) {
        rv = dc_err_set(eb, DC_EPARSE, "invalid certificate signing request: malformed DER");
        goto out;
    }
    c = dc_xcalloc(1, sizeof(*c));
    c->spki_len = d.spki.whole.len;
    c->spki = dc_xmalloc(c->spki_len);
    memcpy(c->spki, d.spki.whole.p, c->spki_len);
    c->spki_der.p = c->spki;
    c->spki_der.len = c->spki_len;
    (void)pthread_once(&p256_once, p256_init);
    if (p256_template != NULL && p256_shape(&d))
        rv = p256_verify(c, &d, eb);
    else
        rv = generic_verify(c, der, (size_t)der_len, eb);
    if (rv != DC_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    snt_csr_free(c);
    OPENSSL_free(pem_der);
    OPENSSL_free(name);
    return rv;
}

void snt_csr_free(struct snt_csr *csr)
{
    if (csr == NULL)
        return;
    EVP_PKEY_free(csr->key);
    free(csr->spki);
    free(csr);
}

const struct snt__der *snt__csr_spki(const struct snt_csr *csr)
{
    return &csr->spki_der;
}

EVP_PKEY *snt_csr_pubkey(const struct snt_csr *csr)
{
    return csr->key;
}

enum snt_key_type snt_csr_key_type(const struct snt_csr *csr)
{
    return csr->type;
}

int snt_csr_key_bits(const struct snt_csr *csr)
{
    return csr->bits;
}
