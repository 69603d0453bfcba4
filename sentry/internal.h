#ifndef SNT_INTERNAL_H
#define SNT_INTERNAL_H

/* Helpers shared by the files of sentry/ (snt__ prefix); not part of the service's API. */

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "dc/buf.h"
#include "dc/err.h"

/* Drain the OpenSSL error queue into `eb` as "<what>: <first error>" and return `code`
 * (normally DC_ETLS). Always empties the queue so stale errors never show up later. */
int snt__ossl_err(struct dc_errbuf *eb, int code, const char *what);

/* The current time when `now_s` is 0, else `now_s`. */
int64_t snt__now(int64_t now_s);

/* Unix seconds of an ASN1_TIME; INT64_MIN when it cannot be converted. */
int64_t snt__asn1_time_unix(const ASN1_TIME *t);

/* Append `cert` as a PEM CERTIFICATE block to `out`. Returns DC_OK, DC_ETLS, DC_ETOOBIG. */
int snt__pem_append_cert(struct dc_buf *out, X509 *cert, struct dc_errbuf *eb);

/* A fresh random positive 128-bit serial number set on `cert` (cert.go serialNumber). */
int snt__set_random_serial(X509 *cert, struct dc_errbuf *eb);

/* The digest to sign with `key`: NULL for Ed25519, SHA-256 for P-256 and RSA, SHA-384/512 for
 * P-384/P-521 (what Go picks for the same issuer key). */
const EVP_MD *snt__sign_md(const EVP_PKEY *key);

/* Add the SKI extension (SHA-1 of the subjectPublicKey bits, RFC 5280 §4.2.1.2 method 1) and,
 * when `issuer` is not NULL and has an SKI, the AKI keyIdentifier. */
int snt__add_key_ids(X509 *cert, const X509 *issuer, struct dc_errbuf *eb);

/* Base64url without padding (RFC 7515 §2) decoding into a new buffer of at most `max` bytes.
 * Returns DC_OK, DC_EPARSE, DC_ETOOBIG. `*out` is freed with free(). */
int snt__b64url_decode(const char *s, size_t len, size_t max, unsigned char **out, size_t *out_len);

/* The SubjectPublicKeyInfo of a parsed CSR, borrowed. */
struct snt_csr;
const X509_PUBKEY *snt__csr_spki(const struct snt_csr *csr);

/* Add critical KeyUsage with the bits of RFC 5280 §4.2.1.3 set (bit numbers in `bits`). */
#define SNT__KU_DIGITAL_SIGNATURE (1u << 0)
#define SNT__KU_KEY_ENCIPHERMENT (1u << 2)
#define SNT__KU_KEY_CERT_SIGN (1u << 5)
#define SNT__KU_CRL_SIGN (1u << 6)
int snt__add_key_usage(X509 *cert, unsigned bits, struct dc_errbuf *eb);

/* The CA material, immutable once built; replaced as a whole on reload. */
struct snt__material {
    STACK_OF(X509) * anchors; /* self-signed roots */
    STACK_OF(X509) * chain;   /* [0] = issuer, then intermediates; never a root */
    EVP_PKEY *key;            /* the issuer key */
    const EVP_MD *md;         /* digest for signing with key (NULL for Ed25519) */
    struct dc_buf anchors_pem;
    struct dc_buf chain_pem;
    struct dc_buf key_pem; /* PKCS#8, wiped on free */
    int64_t root_not_after;
    int64_t issuer_not_after;
    int64_t cap_not_after;        /* earliest NotAfter of the issuer chain and its root */
    unsigned char src_digest[32]; /* SHA-256 of the source texts, for change detection */
};

struct snt_ca {
    pthread_rwlock_t lock;
    struct snt__material *m;
    char *paths[3]; /* ca, issuer cert, issuer key; NULL when not file-backed */
    int64_t now_s;  /* the configured clock for reloads (0 = current time) */
};

/* Read-lock `ca` and return its material; release with snt__ca_release. */
const struct snt__material *snt__ca_acquire(struct snt_ca *ca);
void snt__ca_release(struct snt_ca *ca);

#endif /* SNT_INTERNAL_H */
