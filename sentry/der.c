/* A strict DER reader and a small DER writer (X.690 §10): just what the CSR reader and the
 * workload certificate builder need. Single-byte tags only; definite lengths in minimal form. */

#include <string.h>

#include "internal.h"

int snt__der_get(struct snt__der *in, unsigned char tag, struct snt__der *val, struct snt__der *tlv)
{
    const unsigned char *p = in->p;
    size_t avail = in->len, hdr = 2, len, n, i;

    if (avail < 2 || p[0] != tag)
        return DC_EPARSE;
    len = p[1];
    if (len & 0x80) {
        /* Long form: 1..4 length bytes (no input is near 4 GiB), no leading zero byte, and
         * only for lengths the short form cannot hold. 0x80 (indefinite) is BER, not DER. */
        n = len & 0x7f;
        if (n == 0 || n > 4 || avail - 2 < n || p[2] == 0)
            return DC_EPARSE;
        for (len = 0, i = 0; i < n; i++)
            len = (len << 8) | p[2 + i];
        if (len < 0x80)
            return DC_EPARSE;
        hdr += n;
    }
    if (len > avail - hdr)
        return DC_EPARSE;
    if (val != NULL) {
        val->p = p + hdr;
        val->len = len;
    }
    if (tlv != NULL) {
        tlv->p = p;
        tlv->len = hdr + len;
    }
    in->p += hdr + len;
    in->len -= hdr + len;
    return DC_OK;
}

bool snt__der_peek(const struct snt__der *in, unsigned char tag)
{
    return in->len > 0 && in->p[0] == tag;
}

bool snt__der_eq(const struct snt__der *d, const void *p, size_t len)
{
    return d->len == len && memcmp(d->p, p, len) == 0;
}

/* An AlgorithmIdentifier: SEQUENCE { OBJECT IDENTIFIER, parameters ANY OPTIONAL }. */
static int get_alg(struct snt__der *in, struct snt__der *oid, struct snt__der *param)
{
    struct snt__der seq;
    int rv = snt__der_get(in, SNT__DER_SEQUENCE, &seq, NULL);

    if (rv == DC_OK)
        rv = snt__der_get(&seq, SNT__DER_OID, oid, NULL);
    if (rv != DC_OK || oid->len == 0)
        return DC_EPARSE;
    param->p = seq.p;
    param->len = seq.len; /* the whole parameters element, or empty */
    if (seq.len > 0 && (seq.p[0] & 0x1f) == 0x1f)
        return DC_EPARSE; /* multi-byte tags never occur in the algorithms accepted */
    if (seq.len > 0) {
        struct snt__der any = seq;

        /* Exactly one element of any (single-byte) tag. */
        if (snt__der_get(&any, seq.p[0], NULL, NULL) != DC_OK || any.len != 0)
            return DC_EPARSE;
    }
    return DC_OK;
}

/* A BIT STRING holding whole bytes: the unused-bits count must be 0. */
static int get_bits(struct snt__der *in, struct snt__der *bits)
{
    struct snt__der v;

    if (snt__der_get(in, SNT__DER_BIT_STRING, &v, NULL) != DC_OK || v.len < 2 || v.p[0] != 0)
        return DC_EPARSE;
    bits->p = v.p + 1;
    bits->len = v.len - 1;
    return DC_OK;
}

int snt__spki_read(const unsigned char *der, size_t len, struct snt__spki *out)
{
    struct snt__der in = {der, len}, seq;

    memset(out, 0, sizeof(*out));
    if (snt__der_get(&in, SNT__DER_SEQUENCE, &seq, &out->whole) != DC_OK || in.len != 0 ||
        get_alg(&seq, &out->alg, &out->param) != DC_OK || get_bits(&seq, &out->key) != DC_OK ||
        seq.len != 0)
        return DC_EPARSE;
    return DC_OK;
}

int snt__csr_der_read(const unsigned char *der, size_t len, struct snt__csr_der *out)
{
    struct snt__der in = {der, len}, req, info, ver, spki;

    memset(out, 0, sizeof(*out));
    /* RFC 2986 §4: CertificationRequest ::= SEQUENCE { certificationRequestInfo,
     * signatureAlgorithm AlgorithmIdentifier, signature BIT STRING }. */
    if (snt__der_get(&in, SNT__DER_SEQUENCE, &req, NULL) != DC_OK || in.len != 0)
        return DC_EPARSE;
    if (snt__der_get(&req, SNT__DER_SEQUENCE, &info, &out->info) != DC_OK ||
        get_alg(&req, &out->sig_alg, &out->sig_param) != DC_OK ||
        get_bits(&req, &out->sig) != DC_OK || req.len != 0)
        return DC_EPARSE;
    /* CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name,
     * subjectPKInfo SubjectPublicKeyInfo, attributes [0] IMPLICIT SET OF Attribute }.
     * The version's value, the subject and the attributes are not used (as upstream). */
    if (snt__der_get(&info, SNT__DER_INTEGER, &ver, NULL) != DC_OK || ver.len == 0 ||
        snt__der_get(&info, SNT__DER_SEQUENCE, NULL, NULL) != DC_OK ||
        snt__der_get(&info, SNT__DER_SEQUENCE, NULL, &spki) != DC_OK ||
        snt__der_get(&info, SNT__DER_CTX_CONS_0, NULL, NULL) != DC_OK || info.len != 0)
        return DC_EPARSE;
    return snt__spki_read(spki.p, spki.len, &out->spki);
}

/* ---- writer ------------------------------------------------------------------------------ */

static size_t hdr_len(size_t len)
{
    return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : 6;
}

static void hdr_write(unsigned char *p, unsigned char tag, size_t len)
{
    size_t n = hdr_len(len) - 2, i;

    p[0] = tag;
    if (n == 0) {
        p[1] = (unsigned char)len;
        return;
    }
    p[1] = (unsigned char)(0x80 | n);
    for (i = 0; i < n; i++)
        p[2 + i] = (unsigned char)(len >> (8 * (n - 1 - i)));
}

int snt__der_put(struct dc_buf *b, unsigned char tag, const void *p, size_t len)
{
    unsigned char h[6];

    hdr_write(h, tag, len);
    if (dc_buf_append(b, h, hdr_len(len)) != DC_OK || dc_buf_append(b, p, len) != DC_OK)
        return DC_ETOOBIG;
    return DC_OK;
}

int snt__der_wrap(struct dc_buf *b, size_t start, unsigned char tag)
{
    size_t len = b->len - start, h = hdr_len(len);

    if (dc_buf_reserve(b, h) != DC_OK)
        return DC_ETOOBIG;
    memmove(b->data + start + h, b->data + start, len);
    hdr_write((unsigned char *)b->data + start, tag, len);
    b->len += h;
    b->data[b->len] = '\0';
    return DC_OK;
}
