/* CSR parsing and checks (server.go): PEM/DER, labels, signatures, key types, bounds; requested
 * SANs and key usages never reach the certificate. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/rsa.h>

#include "dc/limits.h"
#include "snt_test_util.h"

static char *make_csr_pem(EVP_PKEY *key, const char *uri, size_t *len)
{
    struct dc_buf b = {0};
    struct dc_errbuf eb = {0};

    if (snt_csr_make(key, uri, &b, &eb) != DC_OK)
        fail_msg("snt_csr_make: %s", eb.msg);
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
    struct snt_spiffe_id id;
    struct dc_errbuf eb = {0};
    STACK_OF(X509) * chain;
    GENERAL_NAMES *sans;
    X509 *leaf;
    size_t len;
    char *pem = greedy_csr(k, &len);
    (void)state;

    assert_int_equal(snt_csr_parse(pem, len, &csr, &eb), DC_OK);
    assert_int_equal(snt_spiffe_build(&id, "public", "default", "app", NULL), DC_OK);
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
    };
    return cmocka_run_group_tests_name("sentry_csr", tests, NULL, NULL);
}
