/* The jwks validator (validator/jwks/jwks.go): JSON Web Key Sets (RFC 7517/7518), compact JWS
 * verification (RFC 7515) with ES256, RS256 and EdDSA (RFC 8037), and the claim checks. */

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "dc/json.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "internal.h"
#include "sentry.h"

/* jwks.go: tokens are accepted within 5 minutes of clock skew. */
#define JWT_SKEW_S 300

struct jwk {
    char kid[128];
    enum snt_key_type type;
    EVP_PKEY *key;
};

struct snt_jwks {
    size_t n;
    struct jwk keys[DC_MAX_SNT_JWKS_KEYS];
};

/* Decode member `name` of `obj` (base64url) into a new buffer of exactly `want` bytes (0 = any
 * length up to 1024). */
static unsigned char *member_b64(const cJSON *obj, const char *name, size_t want, size_t *len)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
    unsigned char *out = NULL;

    if (s == NULL || snt__b64url_decode(s, strlen(s), 1024, &out, len) != DC_OK)
        return NULL;
    if (*len == 0 || (want != 0 && *len != want)) {
        free(out);
        return NULL;
    }
    return out;
}

static EVP_PKEY *fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *k = NULL;

    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
        k = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return k;
}

/* RFC 7518 §6.2.1: crv P-256, x and y of 32 bytes. */
static EVP_PKEY *ec_key(const cJSON *jwk)
{
    unsigned char pub[65], *x, *y;
    size_t xl = 0, yl = 0;
    OSSL_PARAM_BLD *bld;
    EVP_PKEY *k = NULL;

    if (!dc_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "crv")), "P-256"))
        return NULL;
    x = member_b64(jwk, "x", 32, &xl);
    y = member_b64(jwk, "y", 32, &yl);
    bld = OSSL_PARAM_BLD_new();
    if (x != NULL && y != NULL && bld != NULL) {
        pub[0] = 0x04; /* SEC 1 §2.3.3 uncompressed point */
        memcpy(pub + 1, x, 32);
        memcpy(pub + 33, y, 32);
        if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ==
                1 &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) == 1)
            k = fromdata("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return k;
}

/* RFC 7518 §6.3.1: n and e, big-endian; at least 2048 bits as for CSRs. */
static EVP_PKEY *rsa_key(const cJSON *jwk)
{
    size_t nl = 0, el = 0;
    unsigned char *n = member_b64(jwk, "n", 0, &nl), *e = member_b64(jwk, "e", 0, &el);
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *k = NULL;

    if (n != NULL && e != NULL && bld != NULL) {
        bn = BN_bin2bn(n, (int)nl, NULL);
        be = BN_bin2bn(e, (int)el, NULL);
        if (bn != NULL && be != NULL && BN_num_bits(bn) >= 2048 &&
            BN_num_bits(bn) <= DC_MAX_SNT_RSA_BITS &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
            k = fromdata("RSA", bld);
    }
    BN_free(bn);
    BN_free(be);
    OSSL_PARAM_BLD_free(bld);
    free(n);
    free(e);
    return k;
}

/* RFC 8037 §2: kty OKP, crv Ed25519, x of 32 bytes. */
static EVP_PKEY *okp_key(const cJSON *jwk)
{
    size_t xl = 0;
    unsigned char *x;
    EVP_PKEY *k = NULL;

    if (!dc_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "crv")), "Ed25519"))
        return NULL;
    x = member_b64(jwk, "x", 32, &xl);
    if (x != NULL)
        k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
    free(x);
    return k;
}

static void add_key(struct snt_jwks *set, const cJSON *jwk)
{
    const char *kty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "kty"));
    const char *use = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "use"));
    const char *kid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "kid"));
    struct jwk *k = &set->keys[set->n];

    /* RFC 7517 §4.2: keys meant for encryption do not verify signatures. */
    if (use != NULL && strcmp(use, "sig") != 0)
        return;
    if (dc_str_eq(kty, "EC")) {
        k->key = ec_key(jwk);
        k->type = SNT_KEY_EC_P256;
    } else if (dc_str_eq(kty, "RSA")) {
        k->key = rsa_key(jwk);
        k->type = SNT_KEY_RSA;
    } else if (dc_str_eq(kty, "OKP")) {
        k->key = okp_key(jwk);
        k->type = SNT_KEY_ED25519;
    }
    ERR_clear_error();
    if (k->key == NULL)
        return;
    dc_strlcpy(k->kid, kid != NULL ? kid : "", sizeof(k->kid));
    set->n++;
}

int snt_jwks_parse(const char *json, size_t len, struct snt_jwks **out, struct dc_errbuf *eb)
{
    const cJSON *keys, *jwk;
    struct snt_jwks *set;
    cJSON *doc;
    int rv;

    rv = dc_json_parse(json, len, DC_MAX_SNT_JWKS, &doc, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "JWKS");
        return rv;
    }
    keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    if (!cJSON_IsArray(keys)) {
        cJSON_Delete(doc);
        return dc_err_set(eb, DC_EPARSE, "JWKS: \"keys\" must be an array");
    }
    set = dc_xcalloc(1, sizeof(*set));
    cJSON_ArrayForEach(jwk, keys)
    {
        if (set->n >= DC_MAX_SNT_JWKS_KEYS)
            break;
        if (cJSON_IsObject(jwk))
            add_key(set, jwk);
    }
    cJSON_Delete(doc);
    if (set->n == 0) {
        snt_jwks_free(set);
        return dc_err_set(eb, DC_EINVAL, "JWKS has no usable key (EC P-256, RSA, Ed25519)");
    }
    *out = set;
    return DC_OK;
}

void snt_jwks_free(struct snt_jwks *jwks)
{
    size_t i;

    if (jwks == NULL)
        return;
    for (i = 0; i < jwks->n; i++)
        EVP_PKEY_free(jwks->keys[i].key);
    free(jwks);
}

size_t snt_jwks_count(const struct snt_jwks *jwks)
{
    return jwks->n;
}

/* RFC 7518 §3.4: ES256 signatures are R || S (32 bytes each); OpenSSL wants DER. */
static unsigned char *es256_to_der(const unsigned char *sig, size_t len, size_t *der_len)
{
    ECDSA_SIG *s;
    BIGNUM *r, *sv;
    unsigned char *der = NULL;
    int n;

    if (len != 64)
        return NULL;
    s = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    sv = BN_bin2bn(sig + 32, 32, NULL);
    if (s == NULL || r == NULL || sv == NULL || ECDSA_SIG_set0(s, r, sv) != 1) {
        BN_free(r);
        BN_free(sv);
        ECDSA_SIG_free(s);
        return NULL;
    }
    n = i2d_ECDSA_SIG(s, &der);
    ECDSA_SIG_free(s);
    if (n <= 0)
        return NULL;
    *der_len = (size_t)n;
    return der;
}

static bool verify_with(EVP_PKEY *key, const EVP_MD *md, const char *input, size_t input_len,
                        const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok;

    ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
         EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* The key type and digest of a JWS "alg"; -1 when not supported. */
static int alg_type(const char *alg, const EVP_MD **md)
{
    *md = EVP_sha256();
    if (dc_str_eq(alg, "ES256"))
        return SNT_KEY_EC_P256;
    if (dc_str_eq(alg, "RS256"))
        return SNT_KEY_RSA;
    *md = NULL;
    if (dc_str_eq(alg, "EdDSA"))
        return SNT_KEY_ED25519;
    return -1;
}

/* Try every key of the right type (and kid, when the header names one). */
static int verify_sig(const struct snt_jwks *jwks, int type, const EVP_MD *md, const char *kid,
                      const char *input, size_t input_len, const unsigned char *sig, size_t sig_len,
                      struct dc_errbuf *eb)
{
    unsigned char *der = NULL;
    size_t der_len = 0, i;
    bool ok = false;

    if (type == SNT_KEY_EC_P256) {
        der = es256_to_der(sig, sig_len, &der_len);
        if (der == NULL)
            return dc_err_set(eb, DC_EPERM, "failed to verify token: bad ES256 signature");
        sig = der;
        sig_len = der_len;
    }
    for (i = 0; i < jwks->n && !ok; i++) {
        if ((int)jwks->keys[i].type != type)
            continue;
        if (kid != NULL && strcmp(kid, jwks->keys[i].kid) != 0)
            continue;
        ok = verify_with(jwks->keys[i].key, md, input, input_len, sig, sig_len);
    }
    OPENSSL_free(der);
    return ok ? DC_OK : dc_err_set(eb, DC_EPERM, "failed to verify token signature");
}

int snt_jwt_verify(const struct snt_jwks *jwks, const char *token, struct dc_buf *payload,
                   struct dc_errbuf *eb)
{
    const char *d1, *d2, *alg, *kid;
    unsigned char *hdr_raw = NULL, *sig = NULL, *body = NULL;
    size_t len, hl = 0, sl = 0, bl = 0;
    const EVP_MD *md;
    cJSON *hdr = NULL;
    int type, rv = DC_EPARSE;

    len = token != NULL ? strnlen(token, DC_MAX_SNT_TOKEN + 1) : 0;
    if (len == 0 || len > DC_MAX_SNT_TOKEN)
        return dc_err_set(eb, DC_EPARSE, "token is empty or too large");
    d1 = memchr(token, '.', len);
    d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
        return dc_err_set(eb, DC_EPARSE, "token is not a compact JWS");
    if (snt__b64url_decode(token, (size_t)(d1 - token), len, &hdr_raw, &hl) != DC_OK ||
        snt__b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), len, &body, &bl) != DC_OK ||
        snt__b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), len, &sig, &sl) != DC_OK ||
        dc_json_parse((const char *)hdr_raw, hl, len, &hdr, NULL) != DC_OK) {
        rv = dc_err_set(eb, DC_EPARSE, "token is not a valid JWS");
        goto out;
    }
    alg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdr, "alg"));
    kid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdr, "kid"));
    type = alg_type(alg, &md);
    if (type < 0) {
        rv = dc_err_set(eb, DC_EUNSUPPORTED, "unsupported JWS algorithm \"%.32s\"",
                        alg != NULL ? alg : "");
        goto out;
    }
    rv = verify_sig(jwks, type, md, kid, token, (size_t)(d2 - token), sig, sl, eb);
    if (rv == DC_OK && dc_buf_append(payload, body, bl) != DC_OK)
        rv = dc_err_set(eb, DC_ETOOBIG, "token payload too large");
out:
    cJSON_Delete(hdr);
    free(hdr_raw);
    free(body);
    free(sig);
    return rv;
}

static bool aud_contains(const cJSON *aud, const char *want)
{
    const cJSON *a;

    /* RFC 7519 §4.1.3: a string or an array of strings. */
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    cJSON_ArrayForEach(a, aud)
    {
        if (cJSON_IsString(a) && strcmp(a->valuestring, want) == 0)
            return true;
    }
    return false;
}

/* exp / nbf / iat within JWT_SKEW_S of now (RFC 7519 §4.1.4-4.1.6). */
static int check_times(const cJSON *claims, int64_t now, struct dc_errbuf *eb)
{
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    const cJSON *iat = cJSON_GetObjectItemCaseSensitive(claims, "iat");

    if (!cJSON_IsNumber(exp))
        return dc_err_set(eb, DC_EPERM, "token has no \"exp\" claim");
    if ((double)now > exp->valuedouble + JWT_SKEW_S)
        return dc_err_set(eb, DC_EPERM, "\"exp\" not satisfied: token has expired");
    if (cJSON_IsNumber(nbf) && (double)now < nbf->valuedouble - JWT_SKEW_S)
        return dc_err_set(eb, DC_EPERM, "\"nbf\" not satisfied: token is not valid yet");
    if (cJSON_IsNumber(iat) && (double)now < iat->valuedouble - JWT_SKEW_S)
        return dc_err_set(eb, DC_EPERM, "\"iat\" not satisfied: token issued in the future");
    return DC_OK;
}

int snt_validate_jwks(const struct snt_request *req, const struct snt_jwks *jwks,
                      const char *sentry_id, int64_t now_s, struct snt_validation *res,
                      struct dc_errbuf *eb)
{
    struct dc_buf payload = {0};
    struct dc_spiffe_id id;
    char want[DC_SPIFFE_MAX_LEN + 1];
    const char *sub;
    cJSON *claims = NULL;
    int rv;

    if (dc_str_empty(sentry_id))
        return dc_err_set(eb, DC_EINVAL, "jwks validator needs Sentry's SPIFFE id");
    rv = snt_validate_common(req, res, eb);
    if (rv != DC_OK)
        return rv;
    if (dc_str_empty(req->token))
        return dc_err_set(eb, DC_EPERM, "token is required");
    rv = snt_jwt_verify(jwks, req->token, &payload, eb);
    if (rv == DC_OK &&
        dc_json_parse(payload.data, payload.len, DC_MAX_SNT_TOKEN, &claims, NULL) != DC_OK)
        rv = dc_err_set(eb, DC_EPARSE, "token payload is not JSON");
    dc_buf_cleanup(&payload);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "failed to validate token");
        return DC_EPERM;
    }
    rv = check_times(claims, snt__now(now_s), eb);
    if (rv == DC_OK && !aud_contains(cJSON_GetObjectItemCaseSensitive(claims, "aud"), sentry_id))
        rv = dc_err_set(eb, DC_EPERM, "token audience does not contain \"%.200s\"", sentry_id);
    if (rv == DC_OK) {
        /* jwks.go: sub must be the SPIFFE id the certificate will carry. */
        if (dc_spiffe_build(&id, res->trust_domain, req->ns, req->id, eb) != DC_OK ||
            dc_spiffe_format(&id, want, sizeof(want)) < 0) {
            rv = DC_EPERM;
        } else {
            sub = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, "sub"));
            if (!dc_str_eq(sub, want))
                rv = dc_err_set(eb, DC_EPERM, "token subject \"%.200s\" does not match \"%s\"",
                                sub != NULL ? sub : "", want);
        }
    }
    cJSON_Delete(claims);
    return rv;
}
