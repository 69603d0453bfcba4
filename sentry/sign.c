/* Workload certificates (ca/bundle/cert.go GenerateWorkloadCert, ca.go SignIdentity) and the
 * control-plane DNS SANs (server.go). The issuer's EVP_PKEY, its name and signature algorithm
 * are prepared once per material; the per-call work is assembling the DER of one certificate,
 * one signature and its PEM encoding. */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "sentry.h"

void snt_signed_cleanup(struct snt_signed *s)
{
    dc_buf_cleanup(&s->chain);
    dc_buf_cleanup(&s->anchors);
    memset(s, 0, sizeof(*s));
}

/* ---- the leaf template: what every certificate of one material shares --------------------
 * The TBSCertificate is assembled as DER directly: building it with X509_* objects and
 * extension methods, then i2d and PEM through BIOs, cost more than the signature itself. */

/* 2.5.29.37 ExtKeyUsage, non-critical (as Go writes it): serverAuth, clientAuth. */
static const unsigned char EXT_EKU[] = {
    0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x16, 0x30, 0x14, 0x06, 0x08, 0x2b, 0x06, 0x01,
    0x05, 0x05, 0x07, 0x03, 0x01, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02};
/* 2.5.29.15 KeyUsage, critical, digitalSignature only (cert.go, for every key type: TLS 1.3 and
 * ECDHE suites never use keyEncipherment). */
static const unsigned char EXT_KU[] = {0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01,
                                       0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x07, 0x80};
static const unsigned char OID_SAN[] = {0x06, 0x03, 0x55, 0x1d, 0x11};
static const unsigned char OID_SKI[] = {0x06, 0x03, 0x55, 0x1d, 0x0e};
static const unsigned char OID_AKI[] = {0x06, 0x03, 0x55, 0x1d, 0x23};
/* SNT_OID_IMAGES, 1.3.6.1.4.1.57683.100.1 (tested against OBJ_txt2obj). */
static const unsigned char OID_IMAGES[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
                                           0x01, 0x83, 0xc2, 0x53, 0x64, 0x01};
static const unsigned char CRITICAL[] = {0x01, 0x01, 0xff};
static const unsigned char VERSION_3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
static const unsigned char EMPTY_NAME[] = {0x30, 0x00};

void snt__leaf_template_free(struct snt__leaf_template *t)
{
    dc_buf_cleanup(&t->issuer_name);
    dc_buf_cleanup(&t->sig_alg);
    dc_buf_cleanup(&t->aki);
    EVP_MD_free(t->md);
    EVP_MD_free(t->sha1);
    memset(t, 0, sizeof(*t));
}

int snt__leaf_template_init(struct snt__leaf_template *t, X509 *issuer, EVP_PKEY *key,
                            const EVP_MD *md, struct dc_errbuf *eb)
{
    unsigned char alg[128], *der = NULL;
    OSSL_PARAM params[2];
    EVP_MD_CTX *ctx = NULL;
    const ASN1_OCTET_STRING *ski;
    size_t start;
    int len, rv = DC_ETLS;

    memset(t, 0, sizeof(*t));
    t->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (md != NULL)
        t->md = EVP_MD_fetch(NULL, EVP_MD_get0_name(md), NULL);
    if (t->sha1 == NULL || (md != NULL && t->md == NULL))
        goto out;
    len = i2d_X509_NAME(X509_get_subject_name(issuer), &der);
    if (len <= 0 || dc_buf_append(&t->issuer_name, der, (size_t)len) != DC_OK)
        goto out;
    /* The AlgorithmIdentifier the provider reports for this key and digest: what X509_sign
     * would write. */
    ctx = EVP_MD_CTX_new();
    params[0] =
        OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, alg, sizeof(alg));
    params[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL ||
        EVP_DigestSignInit_ex(ctx, NULL, md != NULL ? EVP_MD_get0_name(md) : NULL, NULL, NULL, key,
                              NULL) != 1 ||
        EVP_PKEY_CTX_get_params(EVP_MD_CTX_get_pkey_ctx(ctx), params) != 1 ||
        !OSSL_PARAM_modified(&params[0]) || params[0].return_size == 0 ||
        dc_buf_append(&t->sig_alg, alg, params[0].return_size) != DC_OK)
        goto out;
    /* AKI = the issuer's SKI: SEQUENCE { [0] keyIdentifier }. */
    ski = X509_get0_subject_key_id(issuer);
    if (ski != NULL) {
        start = t->aki.len;
        if (dc_buf_append(&t->aki, OID_AKI, sizeof(OID_AKI)) != DC_OK)
            goto out;
        len = (int)t->aki.len;
        if (snt__der_put(&t->aki, 0x80, ASN1_STRING_get0_data(ski),
                         (size_t)ASN1_STRING_length(ski)) != DC_OK ||
            snt__der_wrap(&t->aki, (size_t)len, SNT__DER_SEQUENCE) != DC_OK ||
            snt__der_wrap(&t->aki, (size_t)len, SNT__DER_OCTET_STRING) != DC_OK ||
            snt__der_wrap(&t->aki, start, SNT__DER_SEQUENCE) != DC_OK)
            goto out;
    }
    rv = DC_OK;
out:
    if (rv != DC_OK) {
        snt__ossl_err(eb, rv, "preparing the workload certificate template");
        snt__leaf_template_free(t);
    }
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return rv;
}

/* ---- one certificate --------------------------------------------------------------------- */

/* A fresh random positive 128-bit serial (cert.go: uniform in [0, 2^128), zero redrawn since
 * RFC 5280 §4.1.2.2 wants a positive serial), as a DER INTEGER. */
static int put_serial(struct dc_buf *b)
{
    unsigned char r[17];
    size_t i;

    do {
        if (RAND_bytes(r + 1, 16) != 1)
            return DC_ETLS;
        for (i = 1; i < 17 && r[i] == 0; i++)
            ;
    } while (i == 17);
    /* Minimal form: no leading zero octets; one 0x00 in front of a set top bit. */
    if (r[i] & 0x80) {
        i--;
        r[i] = 0;
    }
    return snt__der_put(b, SNT__DER_INTEGER, r + i, 17 - i);
}

static void put_digits(char *p, int v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (and before 1950). */
static int put_time(struct dc_buf *b, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char s[16];
    int year, off;

    if (gmtime_r(&tt, &tm) == NULL)
        return DC_ERANGE;
    year = tm.tm_year + 1900;
    if (year < 0 || year > 9999)
        return DC_ERANGE;
    off = year >= 1950 && year < 2050 ? 2 : 4;
    put_digits(s, off == 2 ? year % 100 : year, off);
    put_digits(s + off, tm.tm_mon + 1, 2);
    put_digits(s + off + 2, tm.tm_mday, 2);
    put_digits(s + off + 4, tm.tm_hour, 2);
    put_digits(s + off + 6, tm.tm_min, 2);
    put_digits(s + off + 8, tm.tm_sec, 2);
    s[off + 10] = 'Z';
    return snt__der_put(b, off == 2 ? SNT__DER_UTC_TIME : SNT__DER_GENERALIZED_TIME, s,
                        (size_t)off + 11);
}

/* The SAN extension: the SPIFFE id, then the DNS names. RFC 5280 §4.2.1.6: with an empty
 * subject the extension MUST be critical (Go marks it so). */
static int put_sans(struct dc_buf *b, const char *uri, const struct snt_sign_opts *o)
{
    size_t start = b->len, names;
    size_t i;
    int rv;

    rv = dc_buf_append(b, OID_SAN, sizeof(OID_SAN));
    if (rv == DC_OK)
        rv = dc_buf_append(b, CRITICAL, sizeof(CRITICAL));
    names = b->len;
    if (rv == DC_OK)
        rv = snt__der_put(b, 0x86, uri, strlen(uri)); /* [6] uniformResourceIdentifier */
    for (i = 0; rv == DC_OK && i < o->n_dns_sans; i++)
        rv = snt__der_put(b, 0x82, o->dns_sans[i], strlen(o->dns_sans[i])); /* [2] dNSName */
    if (rv == DC_OK)
        rv = snt__der_wrap(b, names, SNT__DER_SEQUENCE);
    if (rv == DC_OK)
        rv = snt__der_wrap(b, names, SNT__DER_OCTET_STRING);
    if (rv == DC_OK)
        rv = snt__der_wrap(b, start, SNT__DER_SEQUENCE);
    return rv;
}

/* images.go: non-critical; the extension value is a DER OCTET STRING holding the JSON array. */
static int put_images(struct dc_buf *b, const char *json)
{
    size_t start = b->len, val;
    int rv = dc_buf_append(b, OID_IMAGES, sizeof(OID_IMAGES));

    val = b->len;
    if (rv == DC_OK)
        rv = snt__der_put(b, SNT__DER_OCTET_STRING, json, strlen(json));
    if (rv == DC_OK)
        rv = snt__der_wrap(b, val, SNT__DER_OCTET_STRING);
    if (rv == DC_OK)
        rv = snt__der_wrap(b, start, SNT__DER_SEQUENCE);
    return rv;
}

/* SKI: SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1; Go does the same). */
static int put_ski(struct dc_buf *b, const struct snt__leaf_template *t,
                   const struct snt__spki *spki)
{
    unsigned char md[EVP_MAX_MD_SIZE], v[2 + EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    size_t start = b->len;
    int rv;

    if (EVP_Digest(spki->key.p, spki->key.len, md, &md_len, t->sha1, NULL) != 1)
        return DC_ETLS;
    v[0] = SNT__DER_OCTET_STRING;
    v[1] = (unsigned char)md_len;
    memcpy(v + 2, md, md_len);
    rv = dc_buf_append(b, OID_SKI, sizeof(OID_SKI));
    if (rv == DC_OK)
        rv = snt__der_put(b, SNT__DER_OCTET_STRING, v, 2 + (size_t)md_len);
    if (rv == DC_OK)
        rv = snt__der_wrap(b, start, SNT__DER_SEQUENCE);
    return rv;
}

/* The TBSCertificate (RFC 5280 §4.1) into `b`. Extensions in the order of the X509_* builder
 * this replaces: SAN, EKU, images, KU, SKI, AKI. */
static int put_tbs(struct dc_buf *b, const struct snt__leaf_template *t,
                   const struct snt__spki *spki, const struct snt_sign_opts *o, const char *uri,
                   int64_t nb, int64_t na)
{
    size_t validity, exts;
    int rv;

    rv = dc_buf_append(b, VERSION_3, sizeof(VERSION_3));
    if (rv == DC_OK)
        rv = put_serial(b);
    if (rv == DC_OK)
        rv = dc_buf_append(b, t->sig_alg.data, t->sig_alg.len);
    if (rv == DC_OK)
        rv = dc_buf_append(b, t->issuer_name.data, t->issuer_name.len);
    validity = b->len;
    if (rv == DC_OK)
        rv = put_time(b, nb);
    if (rv == DC_OK)
        rv = put_time(b, na);
    if (rv == DC_OK)
        rv = snt__der_wrap(b, validity, SNT__DER_SEQUENCE);
    if (rv == DC_OK)
        rv = dc_buf_append(b, EMPTY_NAME, sizeof(EMPTY_NAME));
    if (rv == DC_OK)
        rv = dc_buf_append(b, spki->whole.p, spki->whole.len);
    exts = b->len;
    if (rv == DC_OK)
        rv = put_sans(b, uri, o);
    if (rv == DC_OK)
        rv = dc_buf_append(b, EXT_EKU, sizeof(EXT_EKU));
    if (rv == DC_OK && o->images_json != NULL)
        rv = put_images(b, o->images_json);
    if (rv == DC_OK)
        rv = dc_buf_append(b, EXT_KU, sizeof(EXT_KU));
    if (rv == DC_OK)
        rv = put_ski(b, t, spki);
    if (rv == DC_OK && t->aki.len > 0)
        rv = dc_buf_append(b, t->aki.data, t->aki.len);
    if (rv == DC_OK)
        rv = snt__der_wrap(b, exts, SNT__DER_SEQUENCE);
    if (rv == DC_OK)
        rv = snt__der_wrap(b, exts, SNT__DER_CTX_CONS_3);
    if (rv == DC_OK)
        rv = snt__der_wrap(b, 0, SNT__DER_SEQUENCE);
    return rv;
}

/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }:
 * sign the TBSCertificate in `b` with the issuer key and complete `b`. */
static int sign_tbs(struct dc_buf *b, const struct snt__material *m)
{
    unsigned char sig[1 + 1024]; /* the unused-bits octet, then up to RSA-8192 or ECDSA */
    size_t sig_len = sizeof(sig) - 1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rv = DC_ETLS;

    if (ctx == NULL ||
        EVP_DigestSignInit_ex(ctx, NULL, m->leaf.md != NULL ? EVP_MD_get0_name(m->leaf.md) : NULL,
                              NULL, NULL, m->key, NULL) != 1 ||
        EVP_DigestSign(ctx, sig + 1, &sig_len, (const unsigned char *)b->data, b->len) != 1)
        goto out;
    sig[0] = 0;
    rv = dc_buf_append(b, m->leaf.sig_alg.data, m->leaf.sig_alg.len);
    if (rv == DC_OK)
        rv = snt__der_put(b, SNT__DER_BIT_STRING, sig, sig_len + 1);
    if (rv == DC_OK)
        rv = snt__der_wrap(b, 0, SNT__DER_SEQUENCE);
out:
    EVP_MD_CTX_free(ctx);
    return rv;
}

/* Append `der` as a PEM CERTIFICATE block (RFC 7468: 64 characters a line). */
static int pem_append(struct dc_buf *out, const struct dc_buf *der)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----\n";
    static const char end[] = "-----END CERTIFICATE-----\n";
    size_t lines = (der->len + 47) / 48, i, n;
    unsigned char *p;
    int rv;

    rv = dc_buf_reserve(out, sizeof(begin) + sizeof(end) + lines * 65);
    if (rv != DC_OK)
        return rv;
    rv = dc_buf_append(out, begin, sizeof(begin) - 1);
    for (i = 0; rv == DC_OK && i < der->len; i += 48) {
        n = der->len - i < 48 ? der->len - i : 48;
        p = (unsigned char *)out->data + out->len;
        out->len += (size_t)EVP_EncodeBlock(p, (const unsigned char *)der->data + i, (int)n);
        out->data[out->len++] = '\n';
        out->data[out->len] = '\0';
    }
    if (rv == DC_OK)
        rv = dc_buf_append(out, end, sizeof(end) - 1);
    return rv;
}

/* Validity: back-dated by the skew, and never past the issuer chain (upstream #8557). */
static int validity(const struct snt__material *m, const struct snt_sign_opts *o, int64_t *nb,
                    int64_t *na, struct dc_errbuf *eb)
{
    int64_t now = snt__now(o->now_s);
    int64_t ttl = o->ttl_s > 0 ? o->ttl_s : SNT_DEFAULT_WORKLOAD_TTL_S;
    int64_t skew = o->skew_s >= 0 ? o->skew_s : SNT_DEFAULT_CLOCK_SKEW_S;

    if (m->cap_not_after <= now)
        return dc_err_set(eb, DC_ERANGE, "issuer certificate expired at %lld",
                          (long long)m->cap_not_after);
    *nb = now - skew;
    *na = now + ttl;
    if (*na > m->cap_not_after)
        *na = m->cap_not_after;
    return DC_OK;
}

/* Sign for the public key of the SubjectPublicKeyInfo `spki_der` (checked by the callers). */
static int sign_spki(struct snt_ca *ca, const struct snt__der *spki_der,
                     const struct snt_sign_opts *opts, struct snt_signed *out, struct dc_errbuf *eb)
{
    const struct snt__material *m;
    char uri[DC_SPIFFE_MAX_LEN + 1];
    struct snt__spki spki;
    struct dc_buf der;
    int64_t nb = 0, na = 0;
    int rv;

    if (opts == NULL || opts->id == NULL)
        return dc_err_set(eb, DC_EINVAL, "signing needs an identity");
    if (dc_spiffe_format(opts->id, uri, sizeof(uri)) < 0)
        return dc_err_set(eb, DC_EINVAL, "SPIFFE id too long");
    if (snt__spki_read(spki_der->p, spki_der->len, &spki) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "malformed public key");
    dc_buf_init(&der, SNT__MAX_LEAF_DER);
    m = snt__ca_acquire(ca);
    rv = validity(m, opts, &nb, &na, eb);
    if (rv != DC_OK)
        goto out;
    rv = put_tbs(&der, &m->leaf, &spki, opts, uri, nb, na);
    if (rv == DC_OK)
        rv = sign_tbs(&der, m);
    if (rv == DC_ETOOBIG) {
        dc_err_set(eb, rv, "workload certificate larger than %u bytes", SNT__MAX_LEAF_DER);
        goto out;
    }
    if (rv != DC_OK) {
        rv = snt__ossl_err(eb, DC_ETLS, "signing workload certificate");
        goto out;
    }
    /* Response order (SignCertificateResponse): leaf, then the issuer chain; the anchors. */
    if (pem_append(&out->chain, &der) != DC_OK ||
        dc_buf_append(&out->chain, m->chain_pem.data, m->chain_pem.len) != DC_OK)
        rv = dc_err_set(eb, DC_ETOOBIG, "certificate chain too big");
    if (rv == DC_OK &&
        dc_buf_append(&out->anchors, m->anchors_pem.data, m->anchors_pem.len) != DC_OK)
        rv = dc_err_set(eb, DC_ETOOBIG, "trust anchors too big");
    if (rv != DC_OK) {
        snt_signed_cleanup(out);
        goto out;
    }
    out->not_before_s = nb;
    out->not_after_s = na;
out:
    snt__ca_release(ca);
    dc_buf_cleanup(&der);
    return rv;
}

int snt_ca_sign_csr(struct snt_ca *ca, const struct snt_csr *csr, const struct snt_sign_opts *opts,
                    struct snt_signed *out, struct dc_errbuf *eb)
{
    if (csr == NULL)
        return dc_err_set(eb, DC_EINVAL, "signing needs a CSR");
    return sign_spki(ca, snt__csr_spki(csr), opts, out, eb);
}

int snt_ca_sign(struct snt_ca *ca, EVP_PKEY *pubkey, const struct snt_sign_opts *opts,
                struct snt_signed *out, struct dc_errbuf *eb)
{
    struct snt__der d;
    unsigned char *der = NULL;
    int len, rv;

    if (pubkey == NULL || snt_key_classify(pubkey, NULL) < 0)
        return dc_err_set(eb, DC_EINVAL, "unsupported public key type");
    len = i2d_PUBKEY(pubkey, &der);
    if (len <= 0)
        return snt__ossl_err(eb, DC_ETLS, "encoding public key");
    d.p = der;
    d.len = (size_t)len;
    rv = sign_spki(ca, &d, opts, out, eb);
    OPENSSL_free(der);
    return rv;
}

int snt_control_plane_dns_sans(const char *app_id, const char *ns, const char *sentry_ns,
                               const char *cluster_domain, char (*names)[256], size_t max)
{
    size_t n = 0;
    int i, len;

    if (app_id == NULL || ns == NULL || sentry_ns == NULL || strcmp(ns, sentry_ns) != 0)
        return 0;
    if (cluster_domain == NULL || *cluster_domain == '\0')
        cluster_domain = "cluster.local";
    if (strcmp(app_id, "dapr-injector") == 0 || strcmp(app_id, "dapr-operator") == 0) {
        if (max < 1)
            return DC_ETOOBIG;
        len = snprintf(names[0], 256, "%s.%s.svc",
                       app_id[5] == 'i' ? "dapr-sidecar-injector" : "dapr-webhook", ns);
        return len > 0 && len < 256 ? 1 : DC_ETOOBIG;
    }
    if (strcmp(app_id, "dapr-scheduler") != 0)
        return 0;
    for (i = 0; i < 3; i++) {
        if (n >= max)
            return DC_ETOOBIG;
        len = snprintf(names[n], 256, "dapr-scheduler-server-%d.dapr-scheduler-server.%s.svc.%s", i,
                       ns, cluster_domain);
        if (len <= 0 || len >= 256)
            return DC_ETOOBIG;
        n++;
    }
    return (int)n;
}
