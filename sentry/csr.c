/* PKCS#10 certificate signing requests (RFC 2986): parsing and the checks of server.go. */

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "internal.h"
#include "sentry.h"

struct snt_csr {
    X509_REQ *req;
    EVP_PKEY *key; /* borrowed from req */
    enum snt_key_type type;
    int bits;
};

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

int snt_csr_parse(const void *data, size_t len, struct snt_csr **out, struct dc_errbuf *eb)
{
    struct snt_csr *c = NULL;
    unsigned char *pem_der = NULL;
    char *name = NULL;
    const unsigned char *p, *der;
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
    c = dc_xcalloc(1, sizeof(*c));
    p = der;
    c->req = d2i_X509_REQ(NULL, &p, der_len);
    if (c->req == NULL) {
        rv = snt__ossl_err(eb, DC_EPARSE, "invalid certificate signing request");
        goto out;
    }
    if (p != der + der_len) {
        rv = dc_err_set(eb, DC_EPARSE, "invalid certificate signing request: trailing data");
        goto out;
    }
    c->key = X509_REQ_get0_pubkey(c->req);
    if (c->key == NULL) {
        rv = snt__ossl_err(eb, DC_EPARSE, "certificate signing request public key");
        goto out;
    }
    rv = check_key(c, eb);
    if (rv != DC_OK)
        goto out;
    /* RFC 2986 §3: the request is signed with the subject's own key (Go's CheckSignature). */
    if (X509_REQ_verify(c->req, c->key) != 1) {
        rv = snt__ossl_err(eb, DC_EINVAL, "certificate signing request signature is invalid");
        goto out;
    }
    *out = c;
    c = NULL;
    rv = DC_OK;
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
    X509_REQ_free(csr->req);
    free(csr);
}

const X509_PUBKEY *snt__csr_spki(const struct snt_csr *csr)
{
    return X509_REQ_get_X509_PUBKEY(csr->req);
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

int snt_csr_make(EVP_PKEY *key, const char *uri, struct dc_buf *out, struct dc_errbuf *eb)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *sans = NULL;
    GENERAL_NAME *gn = NULL;
    ASN1_IA5STRING *ia5 = NULL;
    X509_EXTENSION *ext = NULL;
    BIO *bio = NULL;
    char *p;
    long n;
    int rv = DC_ETLS;

    if (req == NULL || X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_pubkey(req, key) != 1)
        goto out;
    if (uri != NULL) {
        sans = GENERAL_NAMES_new();
        gn = GENERAL_NAME_new();
        ia5 = ASN1_IA5STRING_new();
        if (sans == NULL || gn == NULL || ia5 == NULL ||
            ASN1_STRING_set(ia5, uri, (int)strlen(uri)) != 1)
            goto out;
        GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
        ia5 = NULL;
        if (sk_GENERAL_NAME_push(sans, gn) <= 0)
            goto out;
        gn = NULL;
        ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, sans);
        exts = sk_X509_EXTENSION_new_null();
        if (ext == NULL || exts == NULL || sk_X509_EXTENSION_push(exts, ext) <= 0)
            goto out;
        ext = NULL;
        if (X509_REQ_add_extensions(req, exts) != 1)
            goto out;
    }
    if (X509_REQ_sign(req, key, snt__sign_md(key)) <= 0)
        goto out;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509_REQ(bio, req) != 1)
        goto out;
    n = BIO_get_mem_data(bio, &p);
    rv = dc_buf_append(out, p, (size_t)n);
    if (rv != DC_OK)
        dc_err_set(eb, rv, "CSR output too big");
out:
    if (rv == DC_ETLS)
        snt__ossl_err(eb, rv, "making certificate signing request");
    BIO_free(bio);
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(sans);
    X509_REQ_free(req);
    return rv;
}
