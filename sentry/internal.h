#ifndef SNT_INTERNAL_H
#define SNT_INTERNAL_H

/* Helpers shared by the files of sentry/ (snt__ prefix); not part of the service's API. */

#include <pthread.h>
#include <stdbool.h>
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

/* ---- DER (der.c) ------------------------------------------------------------------------ */

#define SNT__DER_INTEGER 0x02
#define SNT__DER_BIT_STRING 0x03
#define SNT__DER_OCTET_STRING 0x04
#define SNT__DER_NULL 0x05
#define SNT__DER_OID 0x06
#define SNT__DER_UTC_TIME 0x17
#define SNT__DER_GENERALIZED_TIME 0x18
#define SNT__DER_SEQUENCE 0x30
#define SNT__DER_CTX_CONS_0 0xa0 /* [0] constructed */
#define SNT__DER_CTX_CONS_3 0xa3 /* [3] constructed */

/* A view of DER bytes (borrowed). */
struct snt__der {
    const unsigned char *p;
    size_t len;
};

/* Read the next element of `in` and advance past it. It must carry the single-byte tag `tag`
 * and a definite length in minimal DER form (at most 4 length bytes) that fits in `in`.
 * `val` (may be NULL) gets the contents, `tlv` (may be NULL) the whole element.
 * Returns DC_OK or DC_EPARSE (`in` unchanged). */
int snt__der_get(struct snt__der *in, unsigned char tag, struct snt__der *val,
                 struct snt__der *tlv);
bool snt__der_peek(const struct snt__der *in, unsigned char tag);
bool snt__der_eq(const struct snt__der *d, const void *p, size_t len);

/* A SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), views into the input. */
struct snt__spki {
    struct snt__der whole; /* the SEQUENCE element */
    struct snt__der alg;   /* algorithm OID contents */
    struct snt__der param; /* the parameters element, empty when absent */
    struct snt__der key;   /* subjectPublicKey bits (whole bytes, unused-bits octet dropped) */
};
/* Exactly one SubjectPublicKeyInfo, no trailing bytes. Returns DC_OK, DC_EPARSE. */
int snt__spki_read(const unsigned char *der, size_t len, struct snt__spki *out);

/* The parts of a PKCS#10 CertificationRequest (RFC 2986 §4), views into the input. */
struct snt__csr_der {
    struct snt__der info;      /* the whole certificationRequestInfo element: the signed bytes */
    struct snt__spki spki;     /* its subjectPKInfo */
    struct snt__der sig_alg;   /* signatureAlgorithm OID contents */
    struct snt__der sig_param; /* its parameters element, empty when absent */
    struct snt__der sig;       /* signature bits (whole bytes) */
};
/* Strict DER reader of one CertificationRequest, no trailing bytes: the structure of RFC 2986
 * (version INTEGER, subject SEQUENCE, SubjectPublicKeyInfo, attributes [0]); bounded by `len`.
 * Returns DC_OK, DC_EPARSE. */
int snt__csr_der_read(const unsigned char *der, size_t len, struct snt__csr_der *out);

/* Append one element (header and `len` bytes of `p`) to `b`. Returns DC_OK, DC_ETOOBIG. */
int snt__der_put(struct dc_buf *b, unsigned char tag, const void *p, size_t len);
/* Turn the bytes of `b` from `start` to the end into the contents of one element with `tag`.
 * Returns DC_OK, DC_ETOOBIG. */
int snt__der_wrap(struct dc_buf *b, size_t start, unsigned char tag);

/* The SubjectPublicKeyInfo DER of a parsed CSR, borrowed. */
struct snt_csr;
const struct snt__der *snt__csr_spki(const struct snt_csr *csr);

/* Add critical KeyUsage with the bits of RFC 5280 §4.2.1.3 set (bit numbers in `bits`). */
#define SNT__KU_DIGITAL_SIGNATURE (1u << 0)
#define SNT__KU_KEY_ENCIPHERMENT (1u << 2)
#define SNT__KU_KEY_CERT_SIGN (1u << 5)
#define SNT__KU_CRL_SIGN (1u << 6)
int snt__add_key_usage(X509 *cert, unsigned bits, struct dc_errbuf *eb);

/* What every workload certificate of one material shares (sign.c). */
struct snt__leaf_template {
    struct dc_buf issuer_name; /* DER of the issuer's subject */
    struct dc_buf sig_alg;     /* DER AlgorithmIdentifier of the issuer key's signatures */
    struct dc_buf aki;         /* DER of the AKI extension; empty when the issuer has no SKI */
    EVP_MD *md;                /* fetched signing digest; NULL for Ed25519 */
    EVP_MD *sha1;              /* fetched, for the SKI */
};
/* The largest workload certificate DER (SANs, images JSON, RSA-8192 key and signature). */
#define SNT__MAX_LEAF_DER (64u * 1024)
/* Prepare `t` for `issuer` and its `key`, signing with `md` (NULL for Ed25519).
 * Returns DC_OK, DC_ETLS. */
int snt__leaf_template_init(struct snt__leaf_template *t, X509 *issuer, EVP_PKEY *key,
                            const EVP_MD *md, struct dc_errbuf *eb);
void snt__leaf_template_free(struct snt__leaf_template *t);

/* The CA material, immutable once built; replaced as a whole on reload. */
struct snt__material {
    STACK_OF(X509) * anchors; /* self-signed roots */
    STACK_OF(X509) * chain;   /* [0] = issuer, then intermediates; never a root */
    EVP_PKEY *key;            /* the issuer key */
    const EVP_MD *md;         /* digest for signing with key (NULL for Ed25519) */
    struct snt__leaf_template leaf;
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
