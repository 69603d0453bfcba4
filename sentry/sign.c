/* Workload certificates (ca/bundle/cert.go GenerateWorkloadCert, ca.go SignIdentity) and the
 * control-plane DNS SANs (server.go). The issuer's EVP_PKEY is reused for every signature; the
 * only per-call work is building one X509, one signature and its PEM encoding. */

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "sentry.h"

void snt_signed_cleanup(struct snt_signed *s)
{
    dc_buf_cleanup(&s->chain);
    dc_buf_cleanup(&s->anchors);
    memset(s, 0, sizeof(*s));
}

static int push_name(GENERAL_NAMES *sans, int type, const char *value)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

    if (gn == NULL || ia5 == NULL || ASN1_STRING_set(ia5, value, (int)strlen(value)) != 1) {
        GENERAL_NAME_free(gn);
        ASN1_IA5STRING_free(ia5);
        return 0;
    }
    GENERAL_NAME_set0_value(gn, type, ia5);
    if (sk_GENERAL_NAME_push(sans, gn) <= 0) {
        GENERAL_NAME_free(gn);
        return 0;
    }
    return 1;
}

/* The SAN extension: the SPIFFE id, then the DNS names. RFC 5280 §4.2.1.6: with an empty
 * subject the extension MUST be critical (Go marks it so). */
static int add_sans(X509 *x, const char *uri, const struct snt_sign_opts *o)
{
    GENERAL_NAMES *sans = GENERAL_NAMES_new();
    size_t i;
    int ok = sans != NULL && push_name(sans, GEN_URI, uri);

    for (i = 0; ok && i < o->n_dns_sans; i++)
        ok = push_name(sans, GEN_DNS, o->dns_sans[i]);
    if (ok)
        ok = X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 1, X509V3_ADD_REPLACE) == 1;
    GENERAL_NAMES_free(sans);
    return ok;
}

static int add_eku(X509 *x)
{
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    int ok = eku != NULL;

    /* cert.go: ExtKeyUsage ServerAuth + ClientAuth (non-critical, as Go writes it). */
    if (ok)
        ok = sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) > 0 &&
             sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) > 0;
    if (ok)
        ok = X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_REPLACE) == 1;
    sk_ASN1_OBJECT_free(eku); /* the objects are static ones from OBJ_nid2obj */
    return ok;
}

/* images.go: the extension value is a DER OCTET STRING holding the JSON array. */
static int add_images(X509 *x, const char *json)
{
    ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new(), *outer = ASN1_OCTET_STRING_new();
    ASN1_OBJECT *obj = OBJ_txt2obj(SNT_OID_IMAGES, 1);
    X509_EXTENSION *ext = NULL;
    unsigned char *der = NULL;
    int len, ok;

    ok = inner != NULL && outer != NULL && obj != NULL &&
         ASN1_OCTET_STRING_set(inner, (const unsigned char *)json, (int)strlen(json)) == 1;
    if (ok) {
        len = i2d_ASN1_OCTET_STRING(inner, &der);
        ok = len > 0 && ASN1_OCTET_STRING_set(outer, der, len) == 1;
    }
    if (ok) {
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, outer);
        ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
    }
    X509_EXTENSION_free(ext);
    OPENSSL_free(der);
    ASN1_OBJECT_free(obj);
    ASN1_OCTET_STRING_free(inner);
    ASN1_OCTET_STRING_free(outer);
    return ok;
}

/* Copy the SubjectPublicKeyInfo of `src` into `x` field by field. X509_set_pubkey would re-encode
 * the key through an OpenSSL 3.0 encoder, which costs ~200 us per call; this costs ~1 us. */
static int copy_spki(X509 *x, const X509_PUBKEY *src)
{
    ASN1_OBJECT *alg = NULL, *aobj_dup = NULL;
    const unsigned char *bits = NULL;
    const ASN1_OBJECT *aobj;
    const void *pval;
    X509_ALGOR *algor = NULL;
    unsigned char *bits_dup = NULL;
    void *pval_dup = NULL;
    int len = 0, ptype;

    if (X509_PUBKEY_get0_param(&alg, &bits, &len, &algor, src) != 1 || len <= 0)
        return 0;
    X509_ALGOR_get0(&aobj, &ptype, &pval, algor);
    aobj_dup = OBJ_dup(aobj);
    bits_dup = OPENSSL_memdup(bits, (size_t)len);
    if (ptype == V_ASN1_OBJECT)
        pval_dup = OBJ_dup(pval);
    else if (ptype == V_ASN1_SEQUENCE)
        pval_dup = ASN1_STRING_dup(pval);
    else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
        goto fail; /* no other parameter encoding occurs for the key types accepted */
    if (aobj_dup == NULL || bits_dup == NULL || (ptype == V_ASN1_OBJECT && pval_dup == NULL) ||
        (ptype == V_ASN1_SEQUENCE && pval_dup == NULL))
        goto fail;
    if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), aobj_dup, ptype, pval_dup, bits_dup, len) !=
        1)
        goto fail;
    return 1;
fail:
    ASN1_OBJECT_free(aobj_dup);
    OPENSSL_free(bits_dup);
    if (ptype == V_ASN1_OBJECT)
        ASN1_OBJECT_free(pval_dup);
    else if (ptype == V_ASN1_SEQUENCE)
        ASN1_STRING_free(pval_dup);
    return 0;
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

static int build_leaf(X509 *x, const struct snt__material *m, const X509_PUBKEY *pub,
                      const struct snt_sign_opts *o, const char *uri, int64_t nb, int64_t na,
                      struct dc_errbuf *eb)
{
    X509 *issuer = sk_X509_value(m->chain, 0);
    int rv;

    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 || !copy_spki(x, pub) ||
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL || !add_sans(x, uri, o) ||
        !add_eku(x) || (o->images_json != NULL && !add_images(x, o->images_json)))
        return snt__ossl_err(eb, DC_ETLS, "building workload certificate");
    rv = snt__set_random_serial(x, eb);
    /* cert.go: KeyUsage DigitalSignature only, for every key type (TLS 1.3 and ECDHE suites
     * never use keyEncipherment). */
    if (rv == DC_OK)
        rv = snt__add_key_usage(x, SNT__KU_DIGITAL_SIGNATURE, eb);
    if (rv == DC_OK)
        rv = snt__add_key_ids(x, issuer, eb);
    if (rv == DC_OK && X509_sign(x, m->key, m->md) <= 0)
        rv = snt__ossl_err(eb, DC_ETLS, "signing workload certificate");
    return rv;
}

/* Sign for the public key `spki`, of key type `type` (checked by the callers). */
static int sign_spki(struct snt_ca *ca, const X509_PUBKEY *spki, const struct snt_sign_opts *opts,
                     struct snt_signed *out, struct dc_errbuf *eb)
{
    const struct snt__material *m;
    char uri[SNT_SPIFFE_MAX_LEN + 1];
    int64_t nb = 0, na = 0;
    X509 *x = NULL;
    int rv;

    if (opts == NULL || opts->id == NULL)
        return dc_err_set(eb, DC_EINVAL, "signing needs an identity");
    if (snt_spiffe_format(opts->id, uri, sizeof(uri)) < 0)
        return dc_err_set(eb, DC_EINVAL, "SPIFFE id too long");
    m = snt__ca_acquire(ca);
    rv = validity(m, opts, &nb, &na, eb);
    if (rv != DC_OK)
        goto out;
    x = X509_new();
    if (x == NULL) {
        rv = snt__ossl_err(eb, DC_ETLS, "X509_new");
        goto out;
    }
    rv = build_leaf(x, m, spki, opts, uri, nb, na, eb);
    if (rv != DC_OK)
        goto out;
    /* Response order (SignCertificateResponse): leaf, then the issuer chain; the anchors. */
    rv = snt__pem_append_cert(&out->chain, x, eb);
    if (rv == DC_OK && dc_buf_append(&out->chain, m->chain_pem.data, m->chain_pem.len) != DC_OK)
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
    X509_free(x);
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
    X509_PUBKEY *spki = NULL;
    int rv;

    if (pubkey == NULL || snt_key_classify(pubkey, NULL) < 0)
        return dc_err_set(eb, DC_EINVAL, "unsupported public key type");
    if (X509_PUBKEY_set(&spki, pubkey) != 1)
        return snt__ossl_err(eb, DC_ETLS, "encoding public key");
    rv = sign_spki(ca, spki, opts, out, eb);
    X509_PUBKEY_free(spki);
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
