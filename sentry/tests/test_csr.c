/* CSR parsing and checks (server.go): PEM/DER, labels, signatures, key types, bounds; requested
 * SANs and key usages never reach the certificate. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/rsa.h>

#include <openssl/core_names.h>

#include "dc/limits.h"
#include "snt_test_util.h"
#include "../internal.h"

static char *make_csr_pem(EVP_PKEY *key, const char *uri, size_t *len)
{
    struct dc_buf b = {0};
    struct dc_errbuf eb = {0};

    if (dc_spiffe_csr_make(key, uri, &b, &eb) != DC_OK)
        fail_msg("dc_spiffe_csr_make: %s", eb.msg);
    return dc_buf_take(&b, len);
}

/* PEM -> DER of a CSR. */
static unsigned char *pem_to_der(const char *pem, size_t len, int *der_len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    unsigned char *der = NULL;

    assert_non_null(req);
    *der_len = i2d_X509_REQ(req, &der);
    assert_true(*der_len > 0);
    X509_REQ_free(req);
    BIO_free(bio);
    return der;
}

static void check_good(enum snt_key_type type, int bits)
{
    EVP_PKEY *k = test_key(type);
    struct snt_csr *csr = NULL;
    struct dc_errbuf eb = {0};
    unsigned char *der;
    char *pem;
    size_t len;
    int der_len;

    pem = make_csr_pem(k, "spiffe://public/ns/default/app", &len);
    assert_int_equal(snt_csr_parse(pem, len, &csr, &eb), DC_OK);
    assert_int_equal(snt_csr_key_type(csr), type);
    assert_int_equal(snt_csr_key_bits(csr), bits);
    assert_int_equal(EVP_PKEY_eq(snt_csr_pubkey(csr), k), 1);
    snt_csr_free(csr);

    /* The same request as DER. */
    der = pem_to_der(pem, len, &der_len);
    assert_int_equal(snt_csr_parse(der, (size_t)der_len, &csr, &eb), DC_OK);
    snt_csr_free(csr);

    /* DER with a trailing byte (Go: "x509: trailing data"). */
    der = OPENSSL_realloc(der, (size_t)der_len + 1);
    der[der_len] = 0;
    assert_int_equal(snt_csr_parse(der, (size_t)der_len + 1, &csr, &eb), DC_EPARSE);

    /* A flipped bit in the signature (the last byte of the DER). */
    der[der_len - 1] ^= 0x01;
    assert_int_equal(snt_csr_parse(der, (size_t)der_len, &csr, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "signature"));
    /* A flipped bit in the signed part (inside the public key). */
    der[der_len - 1] ^= 0x01;
    der[der_len / 3] ^= 0x40;
    assert_int_not_equal(snt_csr_parse(der, (size_t)der_len, &csr, &eb), DC_OK);

    OPENSSL_free(der);
    free(pem);
    EVP_PKEY_free(k);
}

#define DC_ERR_ANY 1 /* expect_parse: any error */

static void test_good_p256(void **state)
{
    (void)state;
    check_good(SNT_KEY_EC_P256, 256);
}

static void test_good_ed25519(void **state)
{
    (void)state;
    check_good(SNT_KEY_ED25519, 256);
}

static void test_good_rsa(void **state)
{
    (void)state;
    check_good(SNT_KEY_RSA, 2048);
}

static void test_bad_key_types(void **state)
{
    EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    struct snt_csr *csr = NULL;
    struct dc_errbuf eb = {0};
    char *pem;
    size_t len;
    (void)state;

    pem = make_csr_pem(rsa1024, NULL, &len);
    assert_int_equal(snt_csr_parse(pem, len, &csr, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "too small"));
    free(pem);
    pem = make_csr_pem(p384, NULL, &len);
    assert_int_equal(snt_csr_parse(pem, len, &csr, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "unsupported"));
    free(pem);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(p384);
}

static void test_labels(void **state)
{
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    struct snt_csr *csr = NULL;
    struct dc_errbuf eb = {0};
    char *pem, *txt;
    size_t len;
    (void)state;

    pem = make_csr_pem(k, NULL, &len);
    /* Text before the block is skipped, as Go's pem.Decode does. */
    txt = malloc(len + 32);
    memcpy(txt, "a comment line\n", 15);
    memcpy(txt + 15, pem, len);
    assert_int_equal(snt_csr_parse(txt, len + 15, &csr, &eb), DC_OK);
    snt_csr_free(csr);
    free(txt);

    /* "-----BEGIN CERTIFICATE REQUEST-----" -> legacy "CERTIFICATE" label (daprd < 1.12). */
    txt = malloc(len + 1);
    {
        size_t out = 0, i = 0;

        while (i < len) {
            if (strncmp(pem + i, " REQUEST-----", 13) == 0) {
                memcpy(txt + out, "-----", 5);
                out += 5;
                i += 13;
            } else {
                txt[out++] = pem[i++];
            }
        }
        assert_int_equal(snt_csr_parse(txt, out, &csr, &eb), DC_OK);
        snt_csr_free(csr);
    }
    free(txt);

    /* Any other label is refused. */
    {
        static const char other[] =
            "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert_int_equal(snt_csr_parse(other, sizeof(other) - 1, &csr, &eb), DC_EPARSE);
        assert_non_null(strstr(eb.msg, "PRIVATE KEY"));
    }
    free(pem);
    EVP_PKEY_free(k);
}

static void test_garbage(void **state)
{
    static const char *const bad[] = {
        "hello",
        "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n",
        "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n",
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n",
        "\x30\x82\xff\xff",
        "\x30\x03\x02\x01\x01",
    };
    struct snt_csr *csr = NULL;
    size_t i;
    char *big;
    (void)state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(snt_csr_parse(bad[i], strlen(bad[i]), &csr, NULL), DC_EPARSE);
    assert_int_equal(snt_csr_parse("", 0, &csr, NULL), DC_EPARSE);
    assert_int_equal(snt_csr_parse(NULL, 0, &csr, NULL), DC_EPARSE);
    big = calloc(1, DC_MAX_SNT_CSR + 1);
    assert_int_equal(snt_csr_parse(big, DC_MAX_SNT_CSR + 1, &csr, NULL), DC_ETOOBIG);
    free(big);
}

/* A CSR asking for much more than it may get: extra SANs of every kind, CA:TRUE, keyCertSign,
 * and codeSigning. Upstream uses only the key, and so do we. */
static char *greedy_csr(EVP_PKEY *k, size_t *len)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509V3_CTX ctx;
    BIO *bio = BIO_new(BIO_s_mem());
    X509_NAME *name = X509_NAME_new();
    static const char *const conf[][2] = {
        {"subjectAltName", "URI:spiffe://evil/ns/kube-system/admin,DNS:evil.example,"
                           "IP:10.0.0.1,email:a@b.c,URI:spiffe://public/ns/default/other"},
        {"basicConstraints", "critical,CA:TRUE"},
        {"keyUsage", "critical,keyCertSign,cRLSign,digitalSignature"},
        {"extendedKeyUsage", "codeSigning"},
    };
    char *p, *out;
    long n;
    size_t i;

    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"root", -1, -1, 0);
    X509_REQ_set_subject_name(req, name);
    X509_REQ_set_pubkey(req, k);
    X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
    for (i = 0; i < sizeof(conf) / sizeof(conf[0]); i++)
        sk_X509_EXTENSION_push(exts, X509V3_EXT_nconf(NULL, &ctx, conf[i][0], conf[i][1]));
    X509_REQ_add_extensions(req, exts);
    assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
    PEM_write_bio_X509_REQ(bio, req);
    n = BIO_get_mem_data(bio, &p);
    out = malloc((size_t)n);
    memcpy(out, p, (size_t)n);
    *len = (size_t)n;
    BIO_free(bio);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return out;
}

static void test_requested_extensions_ignored(void **state)
{
    struct snt_ca *ca = test_ca(SNT_KEY_EC_P256, 0, 0);
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    struct snt_csr *csr = NULL;
    struct snt_signed out = {0};
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct dc_errbuf eb = {0};
    STACK_OF(X509) * chain;
    GENERAL_NAMES *sans;
    X509 *leaf;
    size_t len;
    char *pem = greedy_csr(k, &len);
    (void)state;

    assert_int_equal(snt_csr_parse(pem, len, &csr, &eb), DC_OK);
    assert_int_equal(dc_spiffe_build(&id, "public", "default", "app", NULL), DC_OK);
    o.id = &id;
    assert_int_equal(snt_ca_sign_csr(ca, csr, &o, &out, &eb), DC_OK);
    chain = test_pem_certs(out.chain.data, out.chain.len);
    leaf = sk_X509_value(chain, 0);
    /* Only the SPIFFE id, nothing requested. */
    sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
    assert_int_equal(sk_GENERAL_NAME_value(sans, 0)->type, GEN_URI);
    GENERAL_NAMES_free(sans);
    /* Not a CA, only digitalSignature, only serverAuth+clientAuth; empty subject. */
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_int_equal(X509_get_ext_by_NID(leaf, NID_basic_constraints, -1), -1);
    assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER | XKU_SSL_CLIENT);
    assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(leaf)), 0);
    sk_X509_pop_free(chain, X509_free);
    snt_signed_cleanup(&out);
    snt_csr_free(csr);
    free(pem);
    EVP_PKEY_free(k);
    snt_ca_free(ca);
}

/* ---- the strict DER reader and the writer ------------------------------------------------- */

static int der_get1(const unsigned char *p, size_t len, unsigned char tag, size_t *val_len)
{
    struct snt__der in = {p, len}, v;
    int rv = snt__der_get(&in, tag, &v, NULL);

    if (rv == DC_OK) {
        assert_ptr_equal(in.p, v.p + v.len);
        *val_len = v.len;
    } else {
        /* `in` is unchanged on error. */
        assert_ptr_equal(in.p, p);
        assert_int_equal(in.len, len);
    }
    return rv;
}

static void test_der_reader(void **state)
{
    static const unsigned char short_form[] = {0x04, 0x02, 0xaa, 0xbb, 0x05, 0x00};
    static const unsigned char non_minimal[] = {0x04, 0x81, 0x05, 1, 2, 3, 4, 5};
    static const unsigned char indefinite[] = {0x30, 0x80, 0x05, 0x00, 0x00, 0x00};
    static const unsigned char five_bytes[] = {0x04, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01, 0xaa};
    static const unsigned char huge[] = {0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 0xaa};
    static const unsigned char huge2[] = {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30, 0x00};
    static const unsigned char truncated[] = {0x04, 0x03, 0xaa, 0xbb};
    static const unsigned char cut_header[] = {0x04, 0x82, 0x01};
    unsigned char buf[300];
    size_t n = 0;
    (void)state;

    assert_int_equal(der_get1(short_form, sizeof(short_form), 0x04, &n), DC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(der_get1(short_form, sizeof(short_form), 0x30, &n), DC_EPARSE);
    assert_int_equal(der_get1(short_form, 1, 0x04, &n), DC_EPARSE);
    assert_int_equal(der_get1(non_minimal, sizeof(non_minimal), 0x04, &n), DC_EPARSE);
    assert_int_equal(der_get1(indefinite, sizeof(indefinite), 0x30, &n), DC_EPARSE);
    assert_int_equal(der_get1(five_bytes, sizeof(five_bytes), 0x04, &n), DC_EPARSE);
    assert_int_equal(der_get1(huge, sizeof(huge), 0x04, &n), DC_EPARSE);
    assert_int_equal(der_get1(huge2, sizeof(huge2), 0x30, &n), DC_EPARSE);
    assert_int_equal(der_get1(truncated, sizeof(truncated), 0x04, &n), DC_EPARSE);
    assert_int_equal(der_get1(cut_header, sizeof(cut_header), 0x04, &n), DC_EPARSE);

    /* Long form: 0x81 only from 128, 0x82 only from 256, never a leading zero byte. */
    memset(buf, 0xee, sizeof(buf));
    buf[0] = 0x04;
    buf[1] = 0x81;
    buf[2] = 0x80;
    assert_int_equal(der_get1(buf, 3 + 128, 0x04, &n), DC_OK);
    assert_int_equal(n, 128);
    assert_int_equal(der_get1(buf, 3 + 127, 0x04, &n), DC_EPARSE);
    buf[1] = 0x82;
    buf[2] = 0x00;
    buf[3] = 0x80;
    assert_int_equal(der_get1(buf, 4 + 128, 0x04, &n), DC_EPARSE);
    buf[2] = 0x01;
    buf[3] = 0x00;
    assert_int_equal(der_get1(buf, 4 + 256, 0x04, &n), DC_OK);
    assert_int_equal(n, 256);
}

static void test_der_writer(void **state)
{
    static const size_t lens[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 70000};
    struct dc_buf b = {0};
    struct snt__der in, v;
    unsigned char *content = malloc(70000);
    size_t i;
    (void)state;

    for (i = 0; i < 70000; i++)
        content[i] = (unsigned char)(i * 7);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        /* put, and wrap around what was put: both read back with the strict reader. */
        dc_buf_reset(&b);
        assert_int_equal(dc_buf_append(&b, "x", 1), DC_OK);
        assert_int_equal(snt__der_put(&b, SNT__DER_OCTET_STRING, content, lens[i]), DC_OK);
        assert_int_equal(snt__der_wrap(&b, 1, SNT__DER_SEQUENCE), DC_OK);
        in.p = (const unsigned char *)b.data + 1;
        in.len = b.len - 1;
        assert_int_equal(snt__der_get(&in, SNT__DER_SEQUENCE, &v, NULL), DC_OK);
        assert_int_equal(in.len, 0);
        in = v;
        assert_int_equal(snt__der_get(&in, SNT__DER_OCTET_STRING, &v, NULL), DC_OK);
        assert_int_equal(in.len, 0);
        assert_int_equal(v.len, lens[i]);
        if (lens[i] > 0)
            assert_memory_equal(v.p, content, lens[i]);
    }
    dc_buf_cleanup(&b);
    free(content);
}

static unsigned char *p256_csr_der(EVP_PKEY *k, int *der_len)
{
    size_t len;
    char *pem = make_csr_pem(k, "spiffe://public/ns/default/app", &len);
    unsigned char *der = pem_to_der(pem, len, der_len);

    free(pem);
    return der;
}

/* Parse `der` (len bytes) and expect `want`. */
static void expect_parse(const unsigned char *der, size_t len, int want, const char *msg)
{
    struct snt_csr *csr = NULL;
    struct dc_errbuf eb = {0};
    int rv = snt_csr_parse(der, len, &csr, &eb);

    if (want == DC_OK) {
        assert_int_equal(rv, DC_OK);
    } else {
        assert_int_not_equal(rv, DC_OK);
        assert_null(csr);
        if (want != DC_ERR_ANY)
            assert_int_equal(rv, want);
        if (msg != NULL && strstr(eb.msg, msg) == NULL)
            fail_msg("error \"%s\" does not contain \"%s\"", eb.msg, msg);
    }
    snt_csr_free(csr);
}

static void test_csr_der_strict(void **state)
{
    static const unsigned char ec_oid[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    struct snt__csr_der d;
    unsigned char *der, *cp;
    size_t hdr;
    int der_len, i;
    (void)state;

    der = p256_csr_der(k, &der_len);
    assert_int_equal(snt__csr_der_read(der, (size_t)der_len, &d), DC_OK);
    assert_int_equal(d.info.p[0], 0x30);
    assert_true(snt__der_eq(&d.spki.alg, ec_oid, sizeof(ec_oid)));
    assert_int_equal(d.spki.key.len, 65);
    assert_int_equal(d.sig_param.len, 0);
    /* The signed bytes end where the signature algorithm starts. */
    assert_true(d.info.p + d.info.len < d.sig_alg.p);

    /* Every truncation is refused. */
    for (i = 0; i < der_len; i++) {
        assert_int_equal(snt__csr_der_read(der, (size_t)i, &d), DC_EPARSE);
        expect_parse(der, (size_t)i, DC_EPARSE, NULL);
    }
    assert_int_equal(snt__csr_der_read(der, (size_t)der_len, &d), DC_OK);

    cp = malloc((size_t)der_len + 8);
    /* Outer length one too long: with a trailing byte inside, and without the byte. The
     * request is a few hundred bytes, so its length takes one or two long-form bytes. */
    assert_true(der[1] == 0x81 || der[1] == 0x82);
    hdr = der[1] == 0x81 ? 3 : 4;
    memcpy(cp, der, (size_t)der_len);
    cp[hdr - 1]++; /* the length's low byte; no carry for these lengths */
    assert_int_not_equal(cp[hdr - 1], 0);
    cp[der_len] = 0;
    expect_parse(cp, (size_t)der_len + 1, DC_EPARSE, "malformed");
    expect_parse(cp, (size_t)der_len, DC_EPARSE, "malformed");

    /* The same outer length in a non-minimal form (one more length byte, a leading zero). */
    cp[0] = 0x30;
    cp[1] = (unsigned char)(der[1] + 1);
    cp[2] = 0;
    memcpy(cp + 3, der + 2, (size_t)der_len - 2);
    expect_parse(cp, (size_t)der_len + 1, DC_EPARSE, "malformed");

    /* Signature BIT STRING with unused bits. */
    memcpy(cp, der, (size_t)der_len);
    cp[d.sig.p - der - 1] = 1;
    expect_parse(cp, (size_t)der_len, DC_EPARSE, "malformed");

    /* Wrong signature algorithm OID (ecdsa-with-SHA384): not the P-256 path, and the signature
     * does not verify on the generic one. */
    memcpy(cp, der, (size_t)der_len);
    cp[d.sig_alg.p - der + d.sig_alg.len - 1] = 0x03;
    expect_parse(cp, (size_t)der_len, DC_EINVAL, "signature");

    /* Wrong curve OID (1.2.840.10045.3.1.8, unknown): refused. */
    memcpy(cp, der, (size_t)der_len);
    cp[d.spki.param.p - der + d.spki.param.len - 1] = 0x08;
    expect_parse(cp, (size_t)der_len, DC_ERR_ANY, NULL);

    /* Wrong key algorithm OID (1.2.840.10045.2.2): refused. */
    memcpy(cp, der, (size_t)der_len);
    cp[d.spki.alg.p - der + d.spki.alg.len - 1] = 0x02;
    expect_parse(cp, (size_t)der_len, DC_ERR_ANY, NULL);

    /* A point that is not on the curve: refused before any signature check. */
    memcpy(cp, der, (size_t)der_len);
    cp[d.spki.key.p - der + 5] ^= 0x01;
    expect_parse(cp, (size_t)der_len, DC_EINVAL, "public key is invalid");

    /* A trailing element (a NULL) after the attributes inside certificationRequestInfo is
     * refused by the reader, before any signature check. */
    {
        size_t info_off = (size_t)(d.info.p - der), info_len = d.info.len;
        size_t ihdr = d.info.p[1] == 0x81 ? 3 : d.info.p[1] == 0x82 ? 4 : 2;
        size_t rest = (size_t)der_len - info_off - info_len;
        struct dc_buf b = {0};

        /* Rebuild: outer SEQUENCE { info + NULL, the rest }. */
        assert_int_equal(dc_buf_append(&b, d.info.p + ihdr, info_len - ihdr), DC_OK);
        assert_int_equal(dc_buf_append(&b, "\x05\x00", 2), DC_OK);
        assert_int_equal(snt__der_wrap(&b, 0, SNT__DER_SEQUENCE), DC_OK);
        assert_int_equal(dc_buf_append(&b, d.info.p + info_len, rest), DC_OK);
        assert_int_equal(snt__der_wrap(&b, 0, SNT__DER_SEQUENCE), DC_OK);
        assert_int_equal(snt__csr_der_read((const unsigned char *)b.data, b.len, &d), DC_EPARSE);
        expect_parse((const unsigned char *)b.data, b.len, DC_EPARSE, "malformed");
        dc_buf_cleanup(&b);
    }

    /* Huge lengths at the top. */
    expect_parse((const unsigned char *)"\x30\x84\xff\xff\xff\xf0\x30\x00", 8, DC_EPARSE, NULL);
    expect_parse((const unsigned char *)"\x30\x88\x00\x00\x00\x00\x00\x00\x00\x02\x05\x00", 12,
                 DC_EPARSE, NULL);

    free(cp);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
}

/* A P-256 key with a compressed point is not the fast path's shape: the generic path still
 * accepts it (as before), and signing keeps the request's key. */
static void test_p256_compressed_point(void **state)
{
    EVP_PKEY *k = test_key(SNT_KEY_EC_P256);
    struct snt_ca *ca = test_ca(SNT_KEY_EC_P256, 0, 0);
    struct dc_spiffe_id id;
    struct snt_sign_opts o = {.id = &id};
    struct snt_signed out = {0};
    struct snt_csr *csr = NULL;
    struct dc_errbuf eb = {0};
    STACK_OF(X509) * chain;
    char *pem;
    size_t len;
    (void)state;

    assert_int_equal(
        EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
        1);
    pem = make_csr_pem(k, NULL, &len);
    assert_int_equal(snt_csr_parse(pem, len, &csr, &eb), DC_OK);
    assert_int_equal(snt_csr_key_type(csr), SNT_KEY_EC_P256);
    assert_int_equal(EVP_PKEY_eq(snt_csr_pubkey(csr), k), 1);
    assert_int_equal(dc_spiffe_build(&id, "public", "default", "app", NULL), DC_OK);
    assert_int_equal(snt_ca_sign_csr(ca, csr, &o, &out, &eb), DC_OK);
    chain = test_pem_certs(out.chain.data, out.chain.len);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(chain, 0)), k), 1);
    sk_X509_pop_free(chain, X509_free);
    snt_signed_cleanup(&out);
    snt_csr_free(csr);
    snt_ca_free(ca);
    free(pem);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_p256),
        cmocka_unit_test(test_good_ed25519),
        cmocka_unit_test(test_good_rsa),
        cmocka_unit_test(test_bad_key_types),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_requested_extensions_ignored),
        cmocka_unit_test(test_der_reader),
        cmocka_unit_test(test_der_writer),
        cmocka_unit_test(test_csr_der_strict),
        cmocka_unit_test(test_p256_compressed_point),
    };
    return cmocka_run_group_tests_name("sentry_csr", tests, NULL, NULL);
}
