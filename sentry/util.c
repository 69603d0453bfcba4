/* OpenSSL glue shared by the files of sentry/: errors, time, PEM, serials, key identifiers,
 * key generation and classification, base64url. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "dc/base64.h"
#include "dc/mem.h"
#include "internal.h"
#include "sentry.h"

int snt__ossl_err(struct dc_errbuf *eb, int code, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[200];

    if (e == 0) {
        ERR_clear_error();
        return dc_err_set(eb, code, "%s", what);
    }
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return dc_err_set(eb, code, "%s: %s", what, buf);
}

int64_t snt__now(int64_t now_s)
{
    return now_s != 0 ? now_s : (int64_t)time(NULL);
}

int64_t snt__asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return INT64_MIN;
    return (int64_t)timegm(&tm);
}

int snt__pem_append_cert(struct dc_buf *out, X509 *cert, struct dc_errbuf *eb)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;
    int rv;

    if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1) {
        BIO_free(bio);
        return snt__ossl_err(eb, DC_ETLS, "encoding certificate");
    }
    n = BIO_get_mem_data(bio, &p);
    rv = dc_buf_append(out, p, (size_t)n);
    BIO_free(bio);
    if (rv != DC_OK)
        return dc_err_set(eb, rv, "PEM output too big");
    return DC_OK;
}

int snt__set_random_serial(X509 *cert, struct dc_errbuf *eb)
{
    BIGNUM *bn = BN_new();
    ASN1_INTEGER *ai = NULL;
    int rv = DC_ETLS;

    /* cert.go: uniform in [0, 2^128); zero is redrawn since RFC 5280 §4.1.2.2 wants a positive
     * serial. */
    do {
        if (bn == NULL || BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1)
            goto out;
    } while (BN_is_zero(bn));
    ai = BN_to_ASN1_INTEGER(bn, NULL);
    if (ai == NULL || X509_set_serialNumber(cert, ai) != 1)
        goto out;
    rv = DC_OK;
out:
    if (rv != DC_OK)
        snt__ossl_err(eb, rv, "serial number");
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return rv;
}

const EVP_MD *snt__sign_md(const EVP_PKEY *key)
{
    int bits = 0;

    switch (snt_key_classify(key, &bits)) {
    case SNT_KEY_ED25519:
        return NULL;
    case SNT_KEY_EC_OTHER:
        return bits > 384 ? EVP_sha512() : EVP_sha384();
    default:
        return EVP_sha256();
    }
}

int snt__add_key_ids(X509 *cert, const X509 *issuer, struct dc_errbuf *eb)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    AUTHORITY_KEYID *aki = NULL;
    const ASN1_OCTET_STRING *iski;
    int rv = DC_ETLS;

    /* RFC 5280 §4.2.1.2 (1): SHA-1 of the BIT STRING subjectPublicKey; Go does the same. */
    if (ski == NULL || X509_pubkey_digest(cert, EVP_sha1(), md, &md_len) != 1 ||
        ASN1_OCTET_STRING_set(ski, md, (int)md_len) != 1 ||
        X509_add1_ext_i2d(cert, NID_subject_key_identifier, ski, 0, X509V3_ADD_REPLACE) != 1)
        goto out;
    iski = issuer != NULL ? X509_get0_subject_key_id((X509 *)issuer) : NULL;
    if (iski != NULL) {
        aki = AUTHORITY_KEYID_new();
        if (aki == NULL)
            goto out;
        aki->keyid = ASN1_OCTET_STRING_dup(iski);
        if (aki->keyid == NULL ||
            X509_add1_ext_i2d(cert, NID_authority_key_identifier, aki, 0, X509V3_ADD_REPLACE) != 1)
            goto out;
    }
    rv = DC_OK;
out:
    if (rv != DC_OK)
        snt__ossl_err(eb, rv, "key identifiers");
    AUTHORITY_KEYID_free(aki);
    ASN1_OCTET_STRING_free(ski);
    return rv;
}

int snt_key_classify(const EVP_PKEY *key, int *bits)
{
    char group[64];
    size_t glen = 0;

    if (bits != NULL)
        *bits = key != NULL ? EVP_PKEY_get_bits(key) : 0;
    if (key == NULL)
        return -1;
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
        return SNT_KEY_ED25519;
    case EVP_PKEY_RSA:
        return SNT_KEY_RSA;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) != 1) {
            ERR_clear_error();
            return -1;
        }
        if (strcmp(group, "prime256v1") == 0)
            return SNT_KEY_EC_P256;
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "secp521r1") == 0)
            return SNT_KEY_EC_OTHER;
        return -1;
    default:
        return -1;
    }
}

int snt_key_generate(enum snt_key_type type, EVP_PKEY **out, struct dc_errbuf *eb)
{
    EVP_PKEY *k = NULL;

    switch (type) {
    case SNT_KEY_EC_P256:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case SNT_KEY_ED25519:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case SNT_KEY_RSA:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    default:
        return dc_err_set(eb, DC_EINVAL, "unsupported key type %d", (int)type);
    }
    if (k == NULL)
        return snt__ossl_err(eb, DC_ETLS, "generating key");
    *out = k;
    return DC_OK;
}

int snt__b64url_decode(const char *s, size_t len, size_t max, unsigned char **out, size_t *out_len)
{
    unsigned char *buf;
    size_t i, n = 0;
    unsigned acc = 0;
    int bits = 0, v;

    /* RFC 7515 §2 / RFC 4648 §5: no padding, no whitespace; a length of 1 mod 4 is invalid. */
    if (len % 4 == 1)
        return DC_EPARSE;
    if (len / 4 * 3 + 3 > max)
        return DC_ETOOBIG;
    buf = dc_xmalloc(len / 4 * 3 + 3);
    for (i = 0; i < len; i++) {
        v = dc_base64_value((unsigned char)s[i], true);
        if (v < 0) {
            free(buf);
            return DC_EPARSE;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Non-canonical encodings (leftover bits set) are refused. */
    if (acc != 0) {
        free(buf);
        return DC_EPARSE;
    }
    *out = buf;
    *out_len = n;
    return DC_OK;
}

int snt_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
                          struct dc_errbuf *eb)
{
    size_t plen = strlen(path);
    char *tmp = dc_xmalloc(plen + 16);
    const char *p = data;
    ssize_t w;
    int fd;

    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    fd = mkstemp(tmp);
    if (fd < 0) {
        dc_err_set(eb, DC_EIO, "creating %s: %s", tmp, strerror(errno));
        free(tmp);
        return DC_EIO;
    }
    if (fchmod(fd, (mode_t)mode) != 0)
        goto fail;
    while (len > 0) {
        w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    return DC_OK;
fail:
    dc_err_set(eb, DC_EIO, "writing %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return DC_EIO;
}
