/* Workload certificates: fields, TTL, back-dating, the issuer cap, chain order, verification
 * with OpenSSL against the anchors, expired issuer, DNS SANs, the images extension. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "snt_test_util.h"
#include "../internal.h"

struct signed_leaf {
    struct snt_signed out;
    STACK_OF(X509) * chain;
    X509 *leaf;
};

static int sign(struct snt_ca *ca, EVP_PKEY *k, const struct snt_sign_opts *o,
                struct signed_leaf *s, struct dc_errbuf *eb)
{
    int rv;

    memset(s, 0, sizeof(*s));
    rv = snt_ca_sign(ca, k, o, &s->out, eb);
    if (rv == DC_OK) {
        s->chain = test_pem_certs(s->out.chain.data, s->out.chain.len);
        s->leaf = sk_X509_value(s->chain, 0);
    }
    return rv;
}

static void leaf_free(struct signed_leaf *s)
{
    sk_X509_pop_free(s->chain, X509_free);
    snt_signed_cleanup(&s->out);
}

/* X509_verify_cert of the leaf against the anchors of the response, with the rest of the
 * chain as untrusted intermediates, at time `at`, for purpose `purpose`. */
static int verify(const struct signed_leaf *s, int64_t at, int purpose)
{
    STACK_OF(X509) *anchors = test_pem_certs(s->out.anchors.data, s->out.anchors.len);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int i, ok, err;

    for (i = 0; i < sk_X509_num(anchors); i++)
        X509_STORE_add_cert(store, sk_X509_value(anchors, i));
    for (i = 1; i < sk_X509_num(s->chain); i++)
        sk_X509_push(untrusted, sk_X509_value(s->chain, i));
    X509_STORE_CTX_init(ctx, store, s->leaf, untrusted);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)at);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    ok = X509_verify_cert(ctx);
    err = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
    sk_X509_pop_free(anchors, X509_free);
    return ok == 1 ? X509_V_OK : err;
}

static void check_leaf(enum snt_key_type ca_type, enum snt_key_type leaf_type)
{
    struct snt_ca *ca = test_ca(ca_type, T0, 0);
    EVP_PKEY *k = test_key(leaf_type);
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id, got;
    struct signed_leaf s, s2;
    struct dc_errbuf eb = {0};
    struct dc_buf issuer_pem = {0};
    X509_EXTENSION *ext;
    BIGNUM *bn;

    assert_int_equal(dc_spiffe_build(&id, "public", "default", "myapp", NULL), DC_OK);
    o.id = &id;
    o.now_s = T0 + 3600;
    o.skew_s = -1; /* default 15m */
    assert_int_equal(sign(ca, k, &o, &s, &eb), DC_OK);

    /* Chain order: leaf, then the issuer; the anchors are the root. */
    assert_int_equal(sk_X509_num(s.chain), 2);
    assert_int_equal(snt_ca_get_pem(ca, NULL, &issuer_pem, NULL, NULL), DC_OK);
    assert_non_null(strstr(s.out.chain.data, issuer_pem.data));
    assert_true(strstr(s.out.chain.data, issuer_pem.data) > s.out.chain.data);
    assert_int_equal(X509_check_issued(sk_X509_value(s.chain, 1), s.leaf), X509_V_OK);
    dc_buf_cleanup(&issuer_pem);

    /* Verifies with OpenSSL as a TLS client and as a TLS server certificate. */
    assert_int_equal(verify(&s, T0 + 3600, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    assert_int_equal(verify(&s, T0 + 3600, X509_PURPOSE_SSL_SERVER), X509_V_OK);

    /* Times: back-dated by 15m, 24h TTL. */
    assert_int_equal(s.out.not_before_s, T0 + 3600 - 15 * 60);
    assert_int_equal(s.out.not_after_s, T0 + 3600 + 24 * 3600);
    assert_int_equal(test_time(X509_get0_notBefore(s.leaf)), s.out.not_before_s);
    assert_int_equal(test_time(X509_get0_notAfter(s.leaf)), s.out.not_after_s);
    assert_int_equal(verify(&s, T0 + 3600 - 10 * 60, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    assert_int_equal(verify(&s, T0 + 3600 + 25 * 3600, X509_PURPOSE_SSL_CLIENT),
                     X509_V_ERR_CERT_HAS_EXPIRED);

    /* Fields: v3, empty subject, single critical URI SAN, KU, EKU, SKI, AKI = issuer SKI. */
    assert_int_equal(X509_get_version(s.leaf), X509_VERSION_3);
    assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(s.leaf)), 0);
    assert_int_equal(dc_spiffe_from_cert(s.leaf, &got, &eb), DC_OK);
    assert_true(dc_spiffe_equal(&got, &id));
    ext = X509_get_ext(s.leaf, X509_get_ext_by_NID(s.leaf, NID_subject_alt_name, -1));
    assert_true(X509_EXTENSION_get_critical(ext));
    assert_int_equal(X509_get_key_usage(s.leaf), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_extended_key_usage(s.leaf), XKU_SSL_SERVER | XKU_SSL_CLIENT);
    assert_int_equal(X509_check_ca(s.leaf), 0);
    assert_non_null(X509_get0_subject_key_id(s.leaf));
    assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(s.leaf),
                                           X509_get0_subject_key_id(sk_X509_value(s.chain, 1))),
                     0);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(s.leaf), k), 1);
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(s.leaf), NULL);
    assert_true(BN_num_bits(bn) <= 128 && !BN_is_negative(bn) && !BN_is_zero(bn));
    BN_free(bn);

    /* Serials differ between two certificates. */
    assert_int_equal(sign(ca, k, &o, &s2, &eb), DC_OK);
    assert_int_not_equal(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(s.leaf), X509_get0_serialNumber(s2.leaf)), 0);
    leaf_free(&s2);

    leaf_free(&s);
    EVP_PKEY_free(k);
    snt_ca_free(ca);
}

static void test_p256_ca_p256_leaf(void **state)
{
    (void)state;
    check_leaf(SNT_KEY_EC_P256, SNT_KEY_EC_P256);
}

static void test_p256_ca_ed25519_leaf(void **state)
{
    (void)state;
    check_leaf(SNT_KEY_EC_P256, SNT_KEY_ED25519);
}

static void test_ed25519_ca_rsa_leaf(void **state)
{
    (void)state;
    check_leaf(SNT_KEY_ED25519, SNT_KEY_RSA);
}

static void test_ttl_skew_and_cap(void **state)
{
    struct snt_ca *ca = test_ca(SNT_KEY_EC_P256, T0, 10 * DAY); /* CA ends at T0 + 10d */
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct signed_leaf s;
    struct dc_errbuf eb = {0};
    (void)state;

    assert_int_equal(dc_spiffe_build(&id, "public", "ns1", "a", NULL), DC_OK);
    o.id = &id;

    /* Custom TTL and skew; zero skew is allowed. */
    o.now_s = T0;
    o.ttl_s = 3600;
    o.skew_s = 0;
    assert_int_equal(sign(ca, k, &o, &s, &eb), DC_OK);
    assert_int_equal(s.out.not_before_s, T0);
    assert_int_equal(s.out.not_after_s, T0 + 3600);
    leaf_free(&s);
    o.skew_s = 120;
    assert_int_equal(sign(ca, k, &o, &s, &eb), DC_OK);
    assert_int_equal(s.out.not_before_s, T0 - 120);
    leaf_free(&s);

    /* Twelve hours before the issuer expires, a 24h certificate ends with the issuer
     * (upstream #8557 would issue one valid 12h past its issuer). */
    o.now_s = T0 + 10 * DAY - 12 * 3600;
    o.ttl_s = 0; /* default 24h */
    assert_int_equal(sign(ca, k, &o, &s, &eb), DC_OK);
    assert_int_equal(s.out.not_after_s, T0 + 10 * DAY);
    assert_int_equal(test_time(X509_get0_notAfter(s.leaf)), T0 + 10 * DAY);
    assert_int_equal(verify(&s, o.now_s, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    leaf_free(&s);

    /* Expired issuer: refused. */
    o.now_s = T0 + 10 * DAY;
    assert_int_equal(sign(ca, k, &o, &s, &eb), DC_ERANGE);
    assert_non_null(strstr(eb.msg, "expired"));
    assert_null(s.out.chain.data);
    o.now_s = T0 + 20 * DAY;
    assert_int_equal(sign(ca, k, &o, &s, &eb), DC_ERANGE);

    EVP_PKEY_free(k);
    snt_ca_free(ca);
}

/* A CA certificate valid [nb, na) for `key`, signed by `signer_key` (self-signed when `signer`
 * is NULL), made with plain OpenSSL calls. */
static X509 *make_ca(const char *org, EVP_PKEY *key, X509 *signer, EVP_PKEY *signer_key, int64_t nb,
                     int64_t na)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, signer != NULL ? X509_get_subject_name(signer) : name);
    X509_set_pubkey(x, key);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb);
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na);
    X509V3_set_ctx(&ctx, signer != NULL ? signer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_nconf(NULL, &ctx, "basicConstraints", "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_nconf(NULL, &ctx, "keyUsage", "critical,keyCertSign,digitalSignature");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, signer_key, EVP_sha256()) > 0);
    X509_NAME_free(name);
    return x;
}

static void test_cap_by_root(void **state)
{
    /* A root that ends (T0 + 5d) before its issuer (T0 + 10d): leaves end with the root. */
    EVP_PKEY *rk = test_key(SNT_KEY_EC_P256), *ik = test_key(SNT_KEY_EC_P256);
    EVP_PKEY *k = test_key(SNT_KEY_ED25519);
    X509 *root = make_ca("root", rk, NULL, rk, T0 - DAY, T0 + 5 * DAY);
    X509 *iss = make_ca("issuer", ik, root, rk, T0 - DAY, T0 + 10 * DAY);
    struct dc_buf a = {0}, c = {0}, kp = {0};
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct snt_ca *ca = NULL;
    struct snt_ca_expiry e;
    struct signed_leaf s;
    struct dc_errbuf eb = {0};
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;
    (void)state;

    assert_int_equal(PEM_write_bio_PrivateKey(bio, ik, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &p);
    assert_int_equal(dc_buf_append(&kp, p, (size_t)n), DC_OK);
    BIO_free(bio);
    assert_int_equal(dc_buf_append(&a, "", 0), DC_OK);
    assert_int_equal(snt__pem_append_cert(&a, root, NULL), DC_OK);
    assert_int_equal(snt__pem_append_cert(&c, iss, NULL), DC_OK);
    if (snt_ca_load_pem(&ca, a.data, a.len, c.data, c.len, kp.data, kp.len, T0, &eb) != DC_OK)
        fail_msg("load: %s", eb.msg);
    snt_ca_get_expiry(ca, &e);
    assert_int_equal(e.root_not_after_s, T0 + 5 * DAY);
    assert_int_equal(e.issuer_not_after_s, T0 + 10 * DAY);
    assert_int_equal(snt_ca_expiry_check(ca, T0, SNT_EXPIRY_WARN_WINDOW_S),
                     SNT_EXPIRY_ROOT | SNT_EXPIRY_ISSUER);
    assert_int_equal(snt_ca_expiry_check(ca, T0, 6 * DAY), SNT_EXPIRY_ROOT);
    assert_int_equal(snt_ca_expiry_check(ca, T0, DAY), 0);

    assert_int_equal(dc_spiffe_build(&id, "public", "ns1", "a", NULL), DC_OK);
    o.id = &id;
    o.now_s = T0 + 5 * DAY - 3600;
    assert_int_equal(sign(ca, k, &o, &s, &eb), DC_OK);
    assert_int_equal(s.out.not_after_s, T0 + 5 * DAY);
    leaf_free(&s);
    o.now_s = T0 + 5 * DAY;
    assert_int_equal(sign(ca, k, &o, &s, &eb), DC_ERANGE);

    dc_buf_cleanup(&a);
    dc_buf_cleanup(&c);
    dc_buf_cleanup(&kp);
    X509_free(root);
    X509_free(iss);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(k);
    snt_ca_free(ca);
}

/* A CA of root `rk` and issuer `ik` (made with plain OpenSSL, valid T0-1d..T0+40y). */
static struct snt_ca *load_ca(EVP_PKEY *rk, EVP_PKEY *ik)
{
    X509 *root = make_ca("root", rk, NULL, rk, T0 - DAY, T0 + 40 * 365 * DAY);
    X509 *iss = make_ca("issuer", ik, root, rk, T0 - DAY, T0 + 40 * 365 * DAY);
    struct dc_buf a = {0}, c = {0}, kp = {0};
    struct snt_ca *ca = NULL;
    struct dc_errbuf eb = {0};
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;

    assert_int_equal(PEM_write_bio_PrivateKey(bio, ik, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &p);
    assert_int_equal(dc_buf_append(&kp, p, (size_t)n), DC_OK);
    BIO_free(bio);
    assert_int_equal(snt__pem_append_cert(&a, root, NULL), DC_OK);
    assert_int_equal(snt__pem_append_cert(&c, iss, NULL), DC_OK);
    if (snt_ca_load_pem(&ca, a.data, a.len, c.data, c.len, kp.data, kp.len, T0, &eb) != DC_OK)
        fail_msg("load: %s", eb.msg);
    dc_buf_cleanup(&a);
    dc_buf_cleanup(&c);
    dc_buf_cleanup(&kp);
    X509_free(root);
    X509_free(iss);
    return ca;
}

/* Issuers with RSA and P-384 keys: the signature algorithm of the leaf is the one X509_sign
 * would pick (sha256WithRSAEncryption, ecdsa-with-SHA384), for the CSR and the key path. */
static void test_issuer_key_types(void **state)
{
    static const struct {
        const char *type;
        int nid;
    } cases[] = {{"RSA", NID_sha256WithRSAEncryption}, {"EC", NID_ecdsa_with_SHA384}};
    EVP_PKEY *rk = test_key(SNT_KEY_EC_P256), *k = test_key(SNT_KEY_EC_P256), *ik;
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct signed_leaf s;
    struct snt_csr *csr = NULL;
    struct dc_buf pem = {0};
    struct dc_errbuf eb = {0};
    struct snt_ca *ca;
    size_t i;
    (void)state;

    assert_int_equal(dc_spiffe_build(&id, "public", "ns1", "a", NULL), DC_OK);
    o.id = &id;
    o.now_s = T0;
    assert_int_equal(dc_spiffe_csr_make(k, NULL, &pem, &eb), DC_OK);
    assert_int_equal(snt_csr_parse(pem.data, pem.len, &csr, &eb), DC_OK);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ik = i == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                    : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        ca = load_ca(rk, ik);
        assert_int_equal(sign(ca, k, &o, &s, &eb), DC_OK);
        assert_int_equal(X509_get_signature_nid(s.leaf), cases[i].nid);
        assert_int_equal(verify(&s, T0, X509_PURPOSE_SSL_SERVER), X509_V_OK);
        /* No SKI on this issuer: no AKI on the leaf. */
        assert_null(X509_get0_authority_key_id(s.leaf));
        leaf_free(&s);
        memset(&s, 0, sizeof(s));
        assert_int_equal(snt_ca_sign_csr(ca, csr, &o, &s.out, &eb), DC_OK);
        s.chain = test_pem_certs(s.out.chain.data, s.out.chain.len);
        s.leaf = sk_X509_value(s.chain, 0);
        assert_int_equal(verify(&s, T0, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(s.leaf), k), 1);
        leaf_free(&s);
        snt_ca_free(ca);
        EVP_PKEY_free(ik);
    }
    snt_csr_free(csr);
    dc_buf_cleanup(&pem);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(k);
    (void)cases[0].type;
}

/* The DER the builder writes: times as RFC 5280 wants them (UTCTime through 2049,
 * GeneralizedTime from 2050), serials in minimal form (every one parses; OpenSSL refuses
 * padded INTEGERs), the SKI = SHA-1 of the key bits, and the same bytes when re-encoded. */
static void test_leaf_der(void **state)
{
    EVP_PKEY *rk = test_key(SNT_KEY_EC_P256), *ik = test_key(SNT_KEY_EC_P256);
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    struct snt_ca *ca = load_ca(rk, ik);
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct signed_leaf s;
    struct dc_errbuf eb = {0};
    unsigned char md[EVP_MAX_MD_SIZE], *der = NULL, *der2 = NULL;
    unsigned int md_len = 0;
    const ASN1_OCTET_STRING *ski;
    struct snt__der all, outer, tbs;
    BIGNUM *bn;
    X509 *copy;
    int i, len, len2;
    (void)state;

    assert_int_equal(dc_spiffe_build(&id, "public", "ns1", "a", NULL), DC_OK);
    o.id = &id;
    o.now_s = T0;
    o.ttl_s = 25 * 365 * DAY; /* ends in 2054 */
    assert_int_equal(sign(ca, k, &o, &s, &eb), DC_OK);
    assert_int_equal(ASN1_STRING_type(X509_get0_notBefore(s.leaf)), V_ASN1_UTCTIME);
    assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(s.leaf)), V_ASN1_GENERALIZEDTIME);
    assert_int_equal(test_time(X509_get0_notBefore(s.leaf)), s.out.not_before_s);
    assert_int_equal(test_time(X509_get0_notAfter(s.leaf)), s.out.not_after_s);
    assert_int_equal(verify(&s, T0 + 20 * 365 * DAY, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    ski = X509_get0_subject_key_id(s.leaf);
    assert_int_equal(X509_pubkey_digest(s.leaf, EVP_sha1(), md, &md_len), 1);
    assert_int_equal(ASN1_STRING_length(ski), (int)md_len);
    assert_memory_equal(ASN1_STRING_get0_data(ski), md, md_len);
    /* Our bytes are canonical DER: OpenSSL re-encoding the parsed TBSCertificate from its
     * fields (a modified certificate is re-encoded) gives the same bytes. */
    len = i2d_X509(s.leaf, &der); /* the bytes as received */
    assert_true(len > 0);
    copy = X509_dup(s.leaf);
    assert_int_equal(X509_set_version(copy, X509_VERSION_3), 1); /* marks it modified */
    len2 = i2d_re_X509_tbs(copy, &der2);
    all.p = der;
    all.len = (size_t)len;
    assert_int_equal(snt__der_get(&all, SNT__DER_SEQUENCE, &outer, NULL), DC_OK);
    assert_int_equal(snt__der_get(&outer, SNT__DER_SEQUENCE, NULL, &tbs), DC_OK);
    assert_int_equal((int)tbs.len, len2);
    assert_memory_equal(tbs.p, der2, tbs.len);
    X509_free(copy);
    OPENSSL_free(der);
    OPENSSL_free(der2);
    leaf_free(&s);

    o.ttl_s = 0;
    for (i = 0; i < 200; i++) {
        assert_int_equal(sign(ca, k, &o, &s, &eb), DC_OK);
        assert_non_null(s.leaf);
        bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(s.leaf), NULL);
        assert_true(BN_num_bits(bn) <= 128 && !BN_is_negative(bn) && !BN_is_zero(bn));
        BN_free(bn);
        leaf_free(&s);
    }
    snt_ca_free(ca);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(k);
}

static void test_other_ca_refused(void **state)
{
    struct snt_ca *ca1 = test_ca(SNT_KEY_EC_P256, 0, 0), *ca2 = test_ca(SNT_KEY_EC_P256, 0, 0);
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct signed_leaf s1, s2;
    (void)state;

    assert_int_equal(dc_spiffe_build(&id, "public", "ns1", "a", NULL), DC_OK);
    o.id = &id;
    assert_int_equal(sign(ca1, k, &o, &s1, NULL), DC_OK);
    assert_int_equal(sign(ca2, k, &o, &s2, NULL), DC_OK);
    /* s1's leaf checked against s2's anchors. */
    snt_signed_cleanup(&s1.out);
    assert_int_equal(dc_buf_append(&s1.out.anchors, s2.out.anchors.data, s2.out.anchors.len),
                     DC_OK);
    assert_int_not_equal(verify(&s1, time(NULL), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    leaf_free(&s1);
    leaf_free(&s2);
    EVP_PKEY_free(k);
    snt_ca_free(ca1);
    snt_ca_free(ca2);
}

static void test_dns_sans_and_images(void **state)
{
    struct snt_ca *ca = test_ca(SNT_KEY_EC_P256, 0, 0);
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct signed_leaf s;
    char names[4][256];
    const char *dns[4];
    GENERAL_NAMES *sans;
    ASN1_OBJECT *obj;
    const ASN1_OCTET_STRING *val;
    const unsigned char *p;
    ASN1_OCTET_STRING *inner;
    int n, i, idx;
    (void)state;

    n = snt_control_plane_dns_sans("dapr-scheduler", "dapr-system", "dapr-system", NULL, names, 4);
    assert_int_equal(n, 3);
    assert_string_equal(names[2], "dapr-scheduler-server-2.dapr-scheduler-server.dapr-system.svc."
                                  "cluster.local");
    assert_int_equal(snt_control_plane_dns_sans("dapr-scheduler", "dapr-system", "dapr-system",
                                                "corp", names, 2),
                     DC_ETOOBIG);
    assert_int_equal(snt_control_plane_dns_sans("dapr-injector", "cp", "cp", NULL, names, 4), 1);
    assert_string_equal(names[0], "dapr-sidecar-injector.cp.svc");
    assert_int_equal(snt_control_plane_dns_sans("dapr-operator", "cp", "cp", NULL, names, 4), 1);
    assert_string_equal(names[0], "dapr-webhook.cp.svc");
    /* Other namespace or other ids: none. */
    assert_int_equal(snt_control_plane_dns_sans("dapr-operator", "x", "cp", NULL, names, 4), 0);
    assert_int_equal(snt_control_plane_dns_sans("dapr-sentry", "cp", "cp", NULL, names, 4), 0);
    assert_int_equal(snt_control_plane_dns_sans("myapp", "cp", "cp", NULL, names, 4), 0);

    n = snt_control_plane_dns_sans("dapr-scheduler", "cp", "cp", "c.local", names, 4);
    for (i = 0; i < n; i++)
        dns[i] = names[i];
    assert_int_equal(dc_spiffe_build(&id, "cluster.local", "cp", "dapr-scheduler", NULL), DC_OK);
    o.id = &id;
    o.dns_sans = dns;
    o.n_dns_sans = (size_t)n;
    o.images_json = "[{\"role\":\"daprd\",\"containerName\":\"daprd\",\"image\":\"d:1\"}]";
    assert_int_equal(sign(ca, k, &o, &s, NULL), DC_OK);
    sans = X509_get_ext_d2i(s.leaf, NID_subject_alt_name, NULL, NULL);
    assert_int_equal(sk_GENERAL_NAME_num(sans), 4);
    assert_int_equal(sk_GENERAL_NAME_value(sans, 0)->type, GEN_URI);
    assert_int_equal(sk_GENERAL_NAME_value(sans, 1)->type, GEN_DNS);
    GENERAL_NAMES_free(sans);
    assert_int_equal(X509_check_host(s.leaf, names[1], 0, 0, NULL), 1);

    /* The images extension: non-critical, a DER OCTET STRING holding the JSON. */
    obj = OBJ_txt2obj(SNT_OID_IMAGES, 1);
    idx = X509_get_ext_by_OBJ(s.leaf, obj, -1);
    ASN1_OBJECT_free(obj);
    assert_true(idx >= 0);
    assert_false(X509_EXTENSION_get_critical(X509_get_ext(s.leaf, idx)));
    val = X509_EXTENSION_get_data(X509_get_ext(s.leaf, idx));
    p = ASN1_STRING_get0_data(val);
    inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(val));
    assert_non_null(inner);
    assert_int_equal(ASN1_STRING_length(inner), (int)strlen(o.images_json));
    assert_memory_equal(ASN1_STRING_get0_data(inner), o.images_json, strlen(o.images_json));
    ASN1_OCTET_STRING_free(inner);
    /* OpenSSL does not know the OID, but it is non-critical: the chain still verifies. */
    assert_int_equal(verify(&s, time(NULL), X509_PURPOSE_SSL_SERVER), X509_V_OK);

    leaf_free(&s);
    EVP_PKEY_free(k);
    snt_ca_free(ca);
}

static void test_sign_refusals(void **state)
{
    struct snt_ca *ca = test_ca(SNT_KEY_EC_P256, 0, 0);
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct snt_signed out = {0};
    (void)state;

    assert_int_equal(snt_ca_sign(ca, k, &o, &out, NULL), DC_EINVAL); /* no id */
    assert_int_equal(dc_spiffe_build(&id, "public", "ns1", "a", NULL), DC_OK);
    o.id = &id;
    assert_int_equal(snt_ca_sign(ca, NULL, &o, &out, NULL), DC_EINVAL);
    assert_int_equal(snt_ca_sign(ca, x25519, &o, &out, NULL), DC_EINVAL);
    /* P-384 is allowed for issuers, so snt_ca_sign accepts it; the CSR check refuses it. */
    assert_int_equal(snt_ca_sign(ca, p384, &o, &out, NULL), DC_OK);
    snt_signed_cleanup(&out);
    EVP_PKEY_free(x25519);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(k);
    snt_ca_free(ca);
}

/* Rotation overlap: a leaf from the new CA verifies against old+new anchors. */
static void test_rotation_overlap(void **state)
{
    struct snt_ca *old = test_ca(SNT_KEY_EC_P256, 0, 0), *fresh = test_ca(SNT_KEY_ED25519, 0, 0);
    struct dc_buf a1 = {0}, a2 = {0}, c2 = {0}, k2 = {0}, both = {0};
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct snt_ca *ca = NULL;
    struct signed_leaf s;
    STACK_OF(X509) * anchors;
    (void)state;

    assert_int_equal(snt_ca_get_pem(old, &a1, NULL, NULL, NULL), DC_OK);
    assert_int_equal(snt_ca_get_pem(fresh, &a2, &c2, &k2, NULL), DC_OK);
    assert_int_equal(dc_buf_append(&both, a1.data, a1.len), DC_OK);
    assert_int_equal(dc_buf_append(&both, a2.data, a2.len), DC_OK);
    assert_int_equal(
        snt_ca_load_pem(&ca, both.data, both.len, c2.data, c2.len, k2.data, k2.len, 0, NULL),
        DC_OK);
    assert_int_equal(dc_spiffe_build(&id, "public", "ns1", "a", NULL), DC_OK);
    o.id = &id;
    assert_int_equal(sign(ca, k, &o, &s, NULL), DC_OK);
    anchors = test_pem_certs(s.out.anchors.data, s.out.anchors.len);
    assert_int_equal(sk_X509_num(anchors), 2); /* every anchor, in file order */
    sk_X509_pop_free(anchors, X509_free);
    assert_int_equal(verify(&s, time(NULL), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    leaf_free(&s);
    dc_buf_cleanup(&a1);
    dc_buf_cleanup(&a2);
    dc_buf_cleanup(&c2);
    dc_buf_cleanup(&k2);
    dc_buf_cleanup(&both);
    EVP_PKEY_free(k);
    snt_ca_free(ca);
    snt_ca_free(old);
    snt_ca_free(fresh);
}

static void test_from_cert_refusals(void **state)
{
    X509 *x = X509_new();
    GENERAL_NAMES *sans = GENERAL_NAMES_new();
    struct dc_spiffe_id id;
    const char *uris[] = {"spiffe://a/ns/b/c", "spiffe://a/ns/b/d"};
    int i;
    (void)state;

    assert_int_equal(dc_spiffe_from_cert(x, &id, NULL), DC_ENOTFOUND);
    for (i = 0; i < 2; i++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
        ASN1_STRING_set(ia5, uris[i], -1);
        GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
        sk_GENERAL_NAME_push(sans, gn);
    }
    X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 1, X509V3_ADD_REPLACE);
    /* X509-SVID §2: exactly one URI SAN. */
    assert_int_equal(dc_spiffe_from_cert(x, &id, NULL), DC_EINVAL);
    GENERAL_NAMES_free(sans);
    X509_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p256_ca_p256_leaf),   cmocka_unit_test(test_p256_ca_ed25519_leaf),
        cmocka_unit_test(test_ed25519_ca_rsa_leaf), cmocka_unit_test(test_ttl_skew_and_cap),
        cmocka_unit_test(test_cap_by_root),         cmocka_unit_test(test_other_ca_refused),
        cmocka_unit_test(test_dns_sans_and_images), cmocka_unit_test(test_sign_refusals),
        cmocka_unit_test(test_rotation_overlap),    cmocka_unit_test(test_from_cert_refusals),
        cmocka_unit_test(test_issuer_key_types),    cmocka_unit_test(test_leaf_der),
    };
    return cmocka_run_group_tests_name("sentry_sign", tests, NULL, NULL);
}
