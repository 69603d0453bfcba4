/* The jwks validator: JWKS parsing, ES256/RS256/EdDSA verification, audience, subject, times. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>

#include "snt_test_util.h"

#define SENTRY_ID "spiffe://cluster.local/ns/dapr-system/dapr-sentry"

static void b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
    unsigned char tmp[2048];
    int m = EVP_EncodeBlock(tmp, in, (int)n);
    size_t i, o = 0;

    for (i = 0; i < (size_t)m && tmp[i] != '=' && o + 1 < cap; i++)
        out[o++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
    out[o] = '\0';
}

static void b64s(const char *s, char *out, size_t cap)
{
    b64url((const unsigned char *)s, strlen(s), out, cap);
}

/* The public JWK of `k` with `kid`. */
static void jwk_of(EVP_PKEY *k, const char *kid, char *out, size_t cap)
{
    unsigned char buf[1024];
    char x[600], y[100];
    size_t len = 0;
    BIGNUM *n = NULL, *e = NULL;

    switch (snt_key_classify(k, NULL)) {
    case SNT_KEY_EC_P256:
        assert_int_equal(
            EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len), 1);
        b64url(buf + 1, 32, x, sizeof(x));
        b64url(buf + 33, 32, y, sizeof(y));
        snprintf(out, cap,
                 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", kid,
                 x, y);
        break;
    case SNT_KEY_ED25519:
        len = 32;
        assert_int_equal(EVP_PKEY_get_raw_public_key(k, buf, &len), 1);
        b64url(buf, 32, x, sizeof(x));
        snprintf(out, cap, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"%s\",\"x\":\"%s\"}", kid,
                 x);
        break;
    default:
        assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
        len = (size_t)BN_bn2bin(n, buf);
        b64url(buf, len, x, sizeof(x));
        len = (size_t)BN_bn2bin(e, buf);
        b64url(buf, len, y, sizeof(y));
        snprintf(out, cap,
                 "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}", kid,
                 x, y);
        BN_free(n);
        BN_free(e);
    }
}

/* A compact JWS of `payload` signed by `k`, header {"alg":alg,"kid":kid}. */
static char *sign_jwt(EVP_PKEY *k, const char *alg, const char *kid, const char *payload)
{
    static char tok[4096];
    char hdr[128], h[256], p[2048];
    unsigned char sig[600], raw[64];
    size_t sl = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int type = snt_key_classify(k, NULL);
    size_t n;

    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
    b64s(hdr, h, sizeof(h));
    b64s(payload, p, sizeof(p));
    n = (size_t)snprintf(tok, sizeof(tok), "%s.%s", h, p);
    assert_int_equal(
        EVP_DigestSignInit(ctx, NULL, type == SNT_KEY_ED25519 ? NULL : EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (unsigned char *)tok, n), 1);
    EVP_MD_CTX_free(ctx);
    if (type == SNT_KEY_EC_P256) {
        const unsigned char *q = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sl);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        memcpy(sig, raw, 64);
        sl = 64;
    }
    tok[n++] = '.';
    b64url(sig, sl, tok + n, sizeof(tok) - n);
    return tok;
}

struct fixture {
    EVP_PKEY *ec, *ed, *rsa, *other;
    struct snt_jwks *set;
};

static int setup(void **state)
{
    static struct fixture f;
    char a[1024], b[512], c[1024], doc[4096];

    f.ec = test_key(SNT_KEY_EC_P256);
    f.ed = test_key(SNT_KEY_ED25519);
    f.rsa = test_key(SNT_KEY_RSA);
    f.other = test_key(SNT_KEY_EC_P256);
    jwk_of(f.ec, "ec1", a, sizeof(a));
    jwk_of(f.ed, "ed1", b, sizeof(b));
    jwk_of(f.rsa, "rsa1", c, sizeof(c));
    snprintf(doc, sizeof(doc),
             "{\"keys\":[%s,%s,%s,{\"kty\":\"oct\",\"k\":\"AAAA\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"},"
             "{\"kty\":\"EC\",\"use\":\"enc\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}",
             a, b, c);
    if (snt_jwks_parse(doc, strlen(doc), &f.set, NULL) != DC_OK)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    snt_jwks_free(f->set);
    EVP_PKEY_free(f->ec);
    EVP_PKEY_free(f->ed);
    EVP_PKEY_free(f->rsa);
    EVP_PKEY_free(f->other);
    return 0;
}

static char *claims(const char *aud, const char *sub, long long exp)
{
    static char buf[512];

    snprintf(buf, sizeof(buf), "{\"aud\":%s,\"sub\":\"%s\",\"exp\":%lld,\"iat\":%lld}", aud, sub,
             exp, (long long)T0 - 60);
    return buf;
}

static int validate(struct fixture *f, const char *token, struct dc_errbuf *eb)
{
    struct snt_request r = {.id = "app1", .ns = "default", .csr_len = 1, .token = token};
    struct snt_validation res;

    memset(eb, 0, sizeof(*eb));
    return snt_validate_jwks(&r, f->set, SENTRY_ID, T0, &res, eb);
}

#define SUB "spiffe://public/ns/default/app1"
#define AUD "[\"x\",\"" SENTRY_ID "\"]"

static void test_parse(void **state)
{
    struct fixture *f = *state;
    struct snt_jwks *s = NULL;

    /* Three usable keys; oct, P-384 and "use":"enc" are skipped. */
    assert_int_equal(snt_jwks_count(f->set), 3);
    assert_int_equal(snt_jwks_parse("nope", 4, &s, NULL), DC_EPARSE);
    assert_int_equal(snt_jwks_parse("{}", 2, &s, NULL), DC_EPARSE);
    assert_int_equal(snt_jwks_parse("{\"keys\":[]}", 11, &s, NULL), DC_EINVAL);
    {
        static const char small[] = "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}";
        /* A 17-bit modulus is not a usable key. */
        assert_int_equal(snt_jwks_parse(small, sizeof(small) - 1, &s, NULL), DC_EINVAL);
    }
}

static void test_each_alg(void **state)
{
    struct fixture *f = *state;
    struct dc_errbuf eb;
    const char *c = claims(AUD, SUB, T0 + 600);

    assert_int_equal(validate(f, sign_jwt(f->ec, "ES256", "ec1", c), &eb), DC_OK);
    assert_int_equal(validate(f, sign_jwt(f->ed, "EdDSA", "ed1", c), &eb), DC_OK);
    assert_int_equal(validate(f, sign_jwt(f->rsa, "RS256", "rsa1", c), &eb), DC_OK);
    /* A single-string audience. */
    assert_int_equal(
        validate(f, sign_jwt(f->ec, "ES256", "ec1", claims("\"" SENTRY_ID "\"", SUB, T0 + 1)), &eb),
        DC_OK);
}

static void test_refusals(void **state)
{
    struct fixture *f = *state;
    struct dc_errbuf eb;
    const char *c = claims(AUD, SUB, T0 + 600);
    char *tok;

    /* Unknown key, wrong kid, alg/key confusion, alg none. */
    assert_int_equal(validate(f, sign_jwt(f->other, "ES256", "ec1", c), &eb), DC_EPERM);
    assert_int_equal(validate(f, sign_jwt(f->ec, "ES256", "ed1", c), &eb), DC_EPERM);
    assert_int_equal(validate(f, sign_jwt(f->ed, "ES256", "ec1", c), &eb), DC_EPERM);
    assert_int_equal(validate(f, sign_jwt(f->ec, "none", "ec1", c), &eb), DC_EPERM);
    assert_non_null(strstr(eb.msg, "unsupported JWS algorithm"));
    /* A tampered signature. */
    tok = sign_jwt(f->rsa, "RS256", "rsa1", c);
    tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(validate(f, tok, &eb), DC_EPERM);
    /* No token, garbage. */
    assert_int_equal(validate(f, NULL, &eb), DC_EPERM);
    assert_string_equal(eb.msg, "token is required");
    assert_int_equal(validate(f, "a.b.c.d", &eb), DC_EPERM);
    /* Audience, subject. */
    assert_int_equal(
        validate(f, sign_jwt(f->ec, "ES256", "ec1", claims("[\"x\"]", SUB, T0 + 60)), &eb),
        DC_EPERM);
    assert_non_null(strstr(eb.msg, "audience"));
    assert_int_equal(validate(f,
                              sign_jwt(f->ec, "ES256", "ec1",
                                       claims(AUD, "spiffe://public/ns/default/other", T0 + 60)),
                              &eb),
                     DC_EPERM);
    assert_non_null(strstr(eb.msg, "subject"));
    /* Expiry with 5 minutes of skew either way. */
    assert_int_equal(validate(f, sign_jwt(f->ec, "ES256", "ec1", claims(AUD, SUB, T0 - 299)), &eb),
                     DC_OK);
    assert_int_equal(validate(f, sign_jwt(f->ec, "ES256", "ec1", claims(AUD, SUB, T0 - 301)), &eb),
                     DC_EPERM);
    assert_non_null(strstr(eb.msg, "expired"));
    assert_int_equal(
        validate(f,
                 sign_jwt(f->ec, "ES256", "ec1",
                          "{\"aud\":\"" SENTRY_ID "\",\"sub\":\"" SUB "\",\"exp\":1999999999,"
                          "\"nbf\":1893456400}"),
                 &eb),
        DC_EPERM);
    assert_int_equal(
        validate(f,
                 sign_jwt(f->ec, "ES256", "ec1", "{\"aud\":\"" SENTRY_ID "\",\"sub\":\"" SUB "\"}"),
                 &eb),
        DC_EPERM); /* no exp */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_each_alg),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests_name("sentry_jwks", tests, setup, teardown);
}
