/* crypto.dapr.localstorage v1 (sidecar-api.md §22.7; components-contrib crypto/localstorage):
 * keys are files in the folder given by the `path` metadata, and the key name is the file name
 * inside it, extension included. A key file is read and parsed on every use (as upstream, so
 * replacing a file rotates the key), bounded by DC_CRYPTO_MAX_KEY_FILE.
 *
 * Formats, chosen by extension as upstream (dapr/kit crypto.ParseKey):
 *   .json  one JWK: kty "oct" (k), "RSA" (n, e and optionally d, p, q, dp, dq, qi), "EC"
 *          (crv, x, y, d) or "OKP" (crv, x, d); "alg", "use" and "key_ops" restrict its use;
 *   .pem   a PEM private key (PKCS#8, PKCS#1, SEC1), public key (PKIX, PKCS#1) or certificate;
 *   other  guessed: '{' and not 16/24/32 bytes long = JWK, "-----" = PEM, else a symmetric key
 *          given as unpadded base64 (standard, then URL alphabet) or as the raw bytes.
 * Key wrapping (kit crypto.Encrypt/Decrypt): A256KW (RFC 3394 AES key wrap, 32-byte oct key),
 * A128CBC-NOPAD/A192CBC-NOPAD/A256CBC-NOPAD (oct key of 16/24/32 bytes and a 16-byte IV) and
 * RSA-OAEP-256 (OAEP with SHA-256 and MGF1-SHA-256, no label). EC and OKP keys load but
 * cannot wrap ("key type mismatch"), as upstream. */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dc/base64.h"
#include "dc/json.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"

struct ls_store {
    char *path;
};

enum kty {
    KTY_OCT = 0,
    KTY_RSA,
    KTY_EC,
    KTY_OKP,
};

/* A parsed key; everything owned. */
struct ls_key {
    enum kty kty;
    struct dc_buf oct; /* symmetric key bytes */
    EVP_PKEY *pkey;    /* RSA keys */
    bool priv;
    char *alg;  /* JWK "alg", NULL when absent */
    char *use;  /* JWK "use" */
    char **ops; /* JWK "key_ops" */
    size_t nops;
};

static void key_cleanup(struct ls_key *k)
{
    if (k->oct.data != NULL)
        OPENSSL_cleanse(k->oct.data, k->oct.cap);
    dc_buf_cleanup(&k->oct);
    EVP_PKEY_free(k->pkey);
    free(k->alg);
    free(k->use);
    for (size_t i = 0; i < k->nops; i++)
        free(k->ops[i]);
    free(k->ops);
    memset(k, 0, sizeof(*k));
}

/* ---- base64 as jwx and Go decode it --------------------------------------------------------- */

/* Unpadded base64 of the given alphabet (Go's RawStdEncoding/RawURLEncoding): '\r' and '\n'
 * are skipped, '=' is invalid, a lone trailing symbol is invalid. Appends to `b`. */
static int b64_raw_decode(struct dc_buf *b, const char *s, size_t n, bool url)
{
    size_t orig = b->len;
    uint32_t acc = 0;
    int bits = 0, nsym = 0;

    for (size_t i = 0; i < n; i++) {
        int v;
        if (s[i] == '\r' || s[i] == '\n')
            continue;
        v = dc_base64_value((unsigned char)s[i], url);
        if (v < 0)
            goto bad;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        nsym++;
        if (bits >= 8) {
            bits -= 8;
            if (dc_buf_appendc(b, (char)(acc >> bits & 0xff)) != DC_OK)
                goto bad;
        }
    }
    if (nsym % 4 == 1)
        goto bad;
    return DC_OK;
bad:
    b->len = orig;
    return DC_EPARSE;
}

/* A JWK binary member: base64url, padded or not; the standard alphabet is accepted too. */
static int jwk_bytes(const cJSON *v, struct dc_buf *b)
{
    size_t n;

    if (!cJSON_IsString(v))
        return DC_EPARSE;
    n = strlen(v->valuestring);
    while (n > 0 && v->valuestring[n - 1] == '=')
        n--;
    dc_buf_reset(b);
    if (b64_raw_decode(b, v->valuestring, n, true) == DC_OK)
        return DC_OK;
    return b64_raw_decode(b, v->valuestring, n, false);
}

/* ---- JWK ------------------------------------------------------------------------------------ */

static int jwk_bn(OSSL_PARAM_BLD *bld, const cJSON *jwk, const char *field, const char *param,
                  bool required, BIGNUM **bns, size_t *nbn)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwk, field);
    struct dc_buf b = {0};
    BIGNUM *bn;
    int rv = DC_EPARSE;

    if (v == NULL)
        return required ? DC_EPARSE : DC_ENOTFOUND;
    dc_buf_init(&b, DC_CRYPTO_MAX_KEY_FILE);
    if (jwk_bytes(v, &b) != DC_OK || b.len == 0)
        goto out;
    bn = BN_bin2bn((const unsigned char *)b.data, (int)b.len, NULL);
    if (bn == NULL)
        goto out;
    bns[(*nbn)++] = bn;
    if (OSSL_PARAM_BLD_push_BN(bld, param, bn) == 1)
        rv = DC_OK;
out:
    if (b.data != NULL)
        OPENSSL_cleanse(b.data, b.cap);
    dc_buf_cleanup(&b);
    return rv;
}

/* An RSA JWK into an EVP_PKEY (public, or private when "d" is present). */
static int jwk_rsa(const cJSON *jwk, struct ls_key *k, struct dc_errbuf *eb)
{
    static const struct {
        const char *field, *param;
    } priv[] = {
        {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},       {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},
        {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},    {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2},
        {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
    };
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *bns[8];
    size_t nbn = 0;
    int rv = DC_EPARSE, r;

    if (bld == NULL)
        return dc_err_set(eb, DC_EINTERNAL, "out of memory");
    if (jwk_bn(bld, jwk, "n", OSSL_PKEY_PARAM_RSA_N, true, bns, &nbn) != DC_OK ||
        jwk_bn(bld, jwk, "e", OSSL_PKEY_PARAM_RSA_E, true, bns, &nbn) != DC_OK) {
        dc_err_set(eb, DC_EPARSE, "failed to parse RSA key: invalid or missing 'n' or 'e'");
        goto out;
    }
    r = jwk_bn(bld, jwk, "d", OSSL_PKEY_PARAM_RSA_D, false, bns, &nbn);
    if (r == DC_EPARSE) {
        dc_err_set(eb, DC_EPARSE, "failed to parse RSA key: invalid 'd'");
        goto out;
    }
    k->priv = r == DC_OK;
    /* The CRT values are optional and used only when all of them are present. */
    if (k->priv && cJSON_GetObjectItemCaseSensitive(jwk, "p") != NULL &&
        cJSON_GetObjectItemCaseSensitive(jwk, "q") != NULL &&
        cJSON_GetObjectItemCaseSensitive(jwk, "dp") != NULL &&
        cJSON_GetObjectItemCaseSensitive(jwk, "dq") != NULL &&
        cJSON_GetObjectItemCaseSensitive(jwk, "qi") != NULL)
        for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
            if (jwk_bn(bld, jwk, priv[i].field, priv[i].param, true, bns, &nbn) != DC_OK) {
                dc_err_set(eb, DC_EPARSE, "failed to parse RSA key: invalid '%s'", priv[i].field);
                goto out;
            }
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k->pkey, k->priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) != 1) {
        dc_err_set(eb, DC_EPARSE, "failed to parse RSA key");
        goto out;
    }
    k->kty = KTY_RSA;
    rv = DC_OK;
out:
    for (size_t i = 0; i < nbn; i++)
        BN_clear_free(bns[i]);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

/* Size of one coordinate of an EC or OKP curve, or 0 for an unknown curve. */
static size_t curve_size(const char *crv)
{
    static const struct {
        const char *name;
        size_t size;
    } curves[] = {
        {"P-256", 32},  {"P-384", 48}, {"P-521", 66}, {"Ed25519", 32},
        {"X25519", 32}, {"Ed448", 57}, {"X448", 56},
    };

    for (size_t i = 0; crv != NULL && i < sizeof(curves) / sizeof(curves[0]); i++)
        if (strcmp(crv, curves[i].name) == 0)
            return curves[i].size;
    return 0;
}

/* EC and OKP keys are only checked for shape: this API cannot use them for wrapping. */
static int jwk_curve(const cJSON *jwk, bool ec, struct ls_key *k, struct dc_errbuf *eb)
{
    const cJSON *crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
    const char *fields[] = {"x", ec ? "y" : NULL, "d"};
    size_t size = cJSON_IsString(crv) ? curve_size(crv->valuestring) : 0;
    struct dc_buf b = {0};
    int rv = DC_OK;

    if (size == 0 || ec != (strncmp(crv->valuestring, "P-", 2) == 0))
        return dc_err_set(eb, DC_EPARSE, "failed to parse key: invalid or unsupported 'crv'");
    dc_buf_init(&b, DC_CRYPTO_MAX_KEY_FILE);
    for (size_t i = 0; i < 3 && rv == DC_OK; i++) {
        const cJSON *v;
        if (fields[i] == NULL)
            continue;
        v = cJSON_GetObjectItemCaseSensitive(jwk, fields[i]);
        if (v == NULL && i == 2)
            break;
        if (v == NULL || jwk_bytes(v, &b) != DC_OK || b.len == 0 || b.len > size)
            rv = dc_err_set(eb, DC_EPARSE, "failed to parse key: invalid or missing '%s'",
                            fields[i]);
        else if (i == 2)
            k->priv = true;
    }
    if (b.data != NULL)
        OPENSSL_cleanse(b.data, b.cap);
    dc_buf_cleanup(&b);
    k->kty = ec ? KTY_EC : KTY_OKP;
    return rv;
}

static char *opt_string(const cJSON *jwk, const char *name, int *rv)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwk, name);

    if (v == NULL || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v)) {
        *rv = DC_EPARSE;
        return NULL;
    }
    return v->valuestring[0] != '\0' ? dc_xstrdup(v->valuestring) : NULL;
}

static int parse_jwk(const char *data, size_t len, struct ls_key *k, struct dc_errbuf *eb)
{
    cJSON *jwk = NULL;
    const cJSON *kty, *ops;
    int rv = DC_OK;

    if (dc_json_parse(data, len, DC_CRYPTO_MAX_KEY_FILE, &jwk, eb) != DC_OK) {
        rv = DC_EPARSE;
        goto out;
    }
    kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
    if (!cJSON_IsObject(jwk) || !cJSON_IsString(kty)) {
        rv = dc_err_set(eb, DC_EPARSE, "failed to parse key: invalid key type");
        goto out;
    }
    k->alg = opt_string(jwk, "alg", &rv);
    k->use = opt_string(jwk, "use", &rv);
    ops = cJSON_GetObjectItemCaseSensitive(jwk, "key_ops");
    if (cJSON_IsArray(ops)) {
        const cJSON *o;
        k->ops = dc_xcalloc((size_t)cJSON_GetArraySize(ops) + 1, sizeof(*k->ops));
        cJSON_ArrayForEach(o, ops)
        {
            if (!cJSON_IsString(o))
                rv = DC_EPARSE;
            else
                k->ops[k->nops++] = dc_xstrdup(o->valuestring);
        }
    } else if (ops != NULL && !cJSON_IsNull(ops)) {
        rv = DC_EPARSE;
    }
    if (rv != DC_OK) {
        rv = dc_err_set(eb, DC_EPARSE, "failed to parse key: invalid 'alg', 'use' or 'key_ops'");
        goto out;
    }
    if (strcmp(kty->valuestring, "oct") == 0) {
        const cJSON *kv = cJSON_GetObjectItemCaseSensitive(jwk, "k");
        dc_buf_init(&k->oct, DC_CRYPTO_MAX_KEY_FILE);
        k->kty = KTY_OCT;
        if (kv == NULL || jwk_bytes(kv, &k->oct) != DC_OK || k->oct.len == 0)
            rv = dc_err_set(eb, DC_EPARSE, "failed to parse key: invalid or missing 'k'");
    } else if (strcmp(kty->valuestring, "RSA") == 0) {
        rv = jwk_rsa(jwk, k, eb);
    } else if (strcmp(kty->valuestring, "EC") == 0 || strcmp(kty->valuestring, "OKP") == 0) {
        rv = jwk_curve(jwk, kty->valuestring[0] == 'E', k, eb);
    } else {
        rv = dc_err_set(eb, DC_EPARSE, "invalid key type");
    }
out:
    cJSON_Delete(jwk);
    return rv;
}

/* ---- PEM ------------------------------------------------------------------------------------ */

static int parse_pem(const char *data, size_t len, struct ls_key *k, struct dc_errbuf *eb)
{
    static const char cert[] = "-----BEGIN CERTIFICATE-----";
    OSSL_DECODER_CTX *dctx = NULL;
    const unsigned char *p = (const unsigned char *)data;
    size_t left = len;
    BIGNUM *d = NULL;
    int id, rv = DC_EPARSE;

    if (len >= sizeof(cert) - 1 && memcmp(data, cert, sizeof(cert) - 1) == 0) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        k->pkey = x != NULL ? X509_get_pubkey(x) : NULL;
        X509_free(x);
        BIO_free(bio);
    } else {
        /* Any structure the PEM label names; no passphrase (encrypted keys fail). */
        dctx = OSSL_DECODER_CTX_new_for_pkey(&k->pkey, "PEM", NULL, NULL, 0, NULL, NULL);
        if (dctx == NULL || OSSL_DECODER_from_data(dctx, &p, &left) != 1) {
            EVP_PKEY_free(k->pkey);
            k->pkey = NULL;
        }
    }
    if (k->pkey == NULL) {
        dc_err_set(eb, DC_EPARSE, "failed to parse PEM-encoded key");
        goto out;
    }
    id = EVP_PKEY_get_base_id(k->pkey);
    if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
        k->kty = KTY_RSA;
        k->priv = EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_D, &d) == 1;
    } else if (id == EVP_PKEY_EC) {
        k->kty = KTY_EC;
    } else if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_X25519 || id == EVP_PKEY_ED448 ||
               id == EVP_PKEY_X448) {
        k->kty = KTY_OKP;
    } else {
        dc_err_set(eb, DC_EPARSE, "invalid key type");
        goto out;
    }
    rv = DC_OK;
out:
    BN_clear_free(d);
    OSSL_DECODER_CTX_free(dctx);
    return rv;
}

/* ---- loading -------------------------------------------------------------------------------- */

/* kit crypto.ParseKey: by content type (from the extension), else by a guess. */
static int parse_key(const char *data, size_t len, const char *ext, struct ls_key *k,
                     struct dc_errbuf *eb)
{
    if (len == 0)
        return dc_err_set(eb, DC_EPARSE, "key is empty");
    if (dc_str_eq_ci(ext, ".json"))
        return parse_jwk(data, len, k, eb);
    if (dc_str_eq_ci(ext, ".pem"))
        return parse_pem(data, len, k, eb);
    if (data[0] == '{' && len != 16 && len != 24 && len != 32)
        return parse_jwk(data, len, k, eb);
    if (len > 10 && memcmp(data, "-----", 5) == 0)
        return parse_pem(data, len, k, eb);
    /* A symmetric key: unpadded base64 (trailing '=' trimmed), URL base64, else raw bytes. */
    {
        size_t n = len;
        dc_buf_init(&k->oct, DC_CRYPTO_MAX_KEY_FILE);
        k->kty = KTY_OCT;
        while (n > 0 && data[n - 1] == '=')
            n--;
        if (b64_raw_decode(&k->oct, data, n, false) == DC_OK ||
            b64_raw_decode(&k->oct, data, n, true) == DC_OK)
            return DC_OK;
        return dc_buf_append(&k->oct, data, len);
    }
}

/* Read the key file `name` under the store's folder and parse it. */
static int load_key(const struct ls_store *st, const char *name, struct ls_key *k,
                    struct dc_errbuf *eb)
{
    struct dc_buf path = {0}, data = {0};
    const char *base, *ext;
    struct stat sb;
    int fd = -1, rv;

    memset(k, 0, sizeof(*k));
    /* Upstream refuses any ".." in the name; other names are joined below the folder. */
    if (strstr(name, "..") != NULL)
        return dc_err_set(eb, DC_EINVAL, "invalid key path: cannot contain '..'");
    while (*name == '/')
        name++;
    rv = dc_buf_appendf(&path, "%s/%s", st->path, name);
    DC_ASSERT(rv == DC_OK);
    fd = open(path.data, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        /* Go's os.ReadFile: "open <path>: <errno text>", or "read <path>: is a directory". */
        int e = fd < 0 || !S_ISDIR(sb.st_mode) ? errno : EISDIR;
        char msg[128];
        if (fd >= 0 && !S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
            e = EINVAL;
        dc_strlcpy(msg, strerror(e), sizeof(msg));
        if (msg[0] >= 'A' && msg[0] <= 'Z')
            msg[0] = (char)(msg[0] - 'A' + 'a');
        rv = dc_err_set(eb, DC_ENOTFOUND, "failed to load key '%s': %s %s: %s", name,
                        fd < 0 ? "open" : "read", path.data, msg);
        goto out;
    }
    if (sb.st_size > (off_t)DC_CRYPTO_MAX_KEY_FILE) {
        rv = dc_err_set(eb, DC_ETOOBIG, "failed to load key '%s': file larger than %u bytes", name,
                        DC_CRYPTO_MAX_KEY_FILE);
        goto out;
    }
    dc_buf_init(&data, DC_CRYPTO_MAX_KEY_FILE);
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && dc_buf_append(&data, chunk, (size_t)n) != DC_OK)) {
            rv = dc_err_set(eb, DC_EIO, "failed to load key '%s': read error", name);
            OPENSSL_cleanse(chunk, sizeof(chunk));
            goto out;
        }
        OPENSSL_cleanse(chunk, sizeof(chunk));
        if (n == 0)
            break;
    }
    base = strrchr(path.data, '/');
    ext = strrchr(base != NULL ? base : path.data, '.');
    rv = parse_key(data.data != NULL ? data.data : "", data.len, ext, k, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "failed to parse key from secret");
        key_cleanup(k);
        rv = DC_EINVAL;
    }
out:
    if (fd >= 0)
        close(fd);
    if (data.data != NULL)
        OPENSSL_cleanse(data.data, data.cap);
    dc_buf_cleanup(&data);
    dc_buf_cleanup(&path);
    return rv;
}

/* components-contrib KeyCanPerformOperation / KeyCanPerformAlgorithm. */
static bool key_allows(const struct ls_key *k, const char *op, const char *alg,
                       struct dc_errbuf *eb)
{
    bool listed = k->nops == 0;

    for (size_t i = 0; i < k->nops && !listed; i++)
        listed = strcmp(k->ops[i], op) == 0;
    if (!listed || (k->use != NULL && strcmp(k->use, "enc") != 0)) {
        dc_err_set(eb, DC_EINVAL, "key cannot perform the '%s' operation", op);
        return false;
    }
    if (k->alg != NULL && strcmp(k->alg, alg) != 0) {
        dc_err_set(eb, DC_EINVAL, "key cannot be used with algorithm '%s'", alg);
        return false;
    }
    return true;
}

/* ---- wrapping ------------------------------------------------------------------------------- */

/* Expected oct key size of an AES algorithm name ("A128..." = 16), 0 otherwise. */
static size_t aes_key_size(const char *alg)
{
    if (strncmp(alg, "A128", 4) == 0)
        return 16;
    if (strncmp(alg, "A192", 4) == 0)
        return 24;
    if (strncmp(alg, "A256", 4) == 0)
        return 32;
    return 0;
}

static const EVP_CIPHER *aes_cipher(size_t key_size, bool kw)
{
    switch (key_size) {
    case 16:
        return kw ? EVP_aes_128_wrap() : EVP_aes_128_cbc();
    case 24:
        return kw ? EVP_aes_192_wrap() : EVP_aes_192_cbc();
    default:
        return kw ? EVP_aes_256_wrap() : EVP_aes_256_cbc();
    }
}

/* AES key wrap (RFC 3394, default IV) or AES-CBC without padding, one shot into `out`. */
static int aes_op(const struct ls_key *k, bool kw, bool enc, const uint8_t *iv, const uint8_t *in,
                  size_t len, struct dc_buf *out, struct dc_errbuf *eb)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, finl = 0, rv = DC_EINTERNAL;
    uint8_t *o;

    if (ctx == NULL || dc_buf_reserve(out, len + 16) != DC_OK)
        goto out;
    o = (uint8_t *)out->data + out->len;
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex(ctx, aes_cipher(k->oct.len, kw), NULL, (const unsigned char *)k->oct.data,
                          iv, enc ? 1 : 0) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
        EVP_CipherUpdate(ctx, o, &outl, in, (int)len) != 1 ||
        EVP_CipherFinal_ex(ctx, o + outl, &finl) != 1) {
        rv = enc ? dc_err_set(eb, DC_EINTERNAL, "encryption failed")
                 : dc_err_set(eb, DC_EPERM, "crypto/aeskw: integrity check failed");
        goto out;
    }
    out->len += (size_t)(outl + finl);
    out->data[out->len] = '\0';
    rv = DC_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rv;
}

/* RSA-OAEP with SHA-256 for both the digest and MGF1, empty label (Go's rsa.EncryptOAEP). */
static int rsa_op(const struct ls_key *k, bool enc, const uint8_t *in, size_t len,
                  struct dc_buf *out, struct dc_errbuf *eb)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    size_t olen = 0;
    int rv = DC_EINTERNAL;

    if (ctx == NULL || (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
        (enc ? EVP_PKEY_encrypt(ctx, NULL, &olen, in, len)
             : EVP_PKEY_decrypt(ctx, NULL, &olen, in, len)) != 1 ||
        dc_buf_reserve(out, olen) != DC_OK) {
        dc_err_set(eb, DC_EINTERNAL, "RSA setup failed");
        goto out;
    }
    if ((enc ? EVP_PKEY_encrypt(ctx, (uint8_t *)out->data + out->len, &olen, in, len)
             : EVP_PKEY_decrypt(ctx, (uint8_t *)out->data + out->len, &olen, in, len)) != 1) {
        rv = dc_err_set(eb, enc ? DC_EINTERNAL : DC_EPERM,
                        enc ? "crypto/rsa: encryption error" : "crypto/rsa: decryption error");
        goto out;
    }
    out->len += olen;
    out->data[out->len] = '\0';
    rv = DC_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

/* kit crypto.Encrypt/Decrypt for the algorithms the scheme uses. */
static int key_op(const struct ls_key *k, bool enc, const char *alg, const uint8_t *in, size_t len,
                  const uint8_t *nonce, size_t nonce_len, struct dc_buf *out, struct dc_errbuf *eb)
{
    bool kw =
        strcmp(alg, "A256KW") == 0 || strcmp(alg, "A128KW") == 0 || strcmp(alg, "A192KW") == 0;
    bool cbc = strcmp(alg, "A128CBC-NOPAD") == 0 || strcmp(alg, "A192CBC-NOPAD") == 0 ||
               strcmp(alg, "A256CBC-NOPAD") == 0;

    if (kw || cbc) {
        if (k->kty != KTY_OCT || k->oct.len != aes_key_size(alg))
            return dc_err_set(eb, DC_EINVAL, "key type mismatch");
        if (cbc && (nonce == NULL || nonce_len != 16))
            return dc_err_set(eb, DC_EINVAL, "invalid nonce");
        if (cbc && len % 16 != 0)
            return dc_err_set(eb, DC_EINVAL,
                              enc ? "invalid plaintext length" : "invalid ciphertext length");
        return aes_op(k, kw, enc, cbc ? nonce : NULL, in, len, out, eb);
    }
    if (strcmp(alg, "RSA-OAEP-256") == 0) {
        if (k->kty != KTY_RSA || (!enc && !k->priv))
            return dc_err_set(eb, DC_EINVAL, "key type mismatch");
        return rsa_op(k, enc, in, len, out, eb);
    }
    return dc_err_set(eb, DC_EINVAL, "unsupported algorithm");
}

/* LocalCryptoBaseComponent.WrapKey / UnwrapKey. */
static int wrap_common(void *self, bool wrap, const char *alg, const char *key_name,
                       const uint8_t *in, size_t len, const uint8_t *nonce, size_t nonce_len,
                       struct dc_buf *out, struct dc_errbuf *eb)
{
    struct ls_key k;
    int rv = load_key(self, key_name, &k, eb);

    if (rv != DC_OK) {
        dc_err_wrapf(eb, "failed to retrieve the key encryption key");
        return rv;
    }
    if (!key_allows(&k, wrap ? "wrapKey" : "unwrapKey", alg, eb)) {
        rv = DC_EINVAL;
        goto out;
    }
    rv = key_op(&k, wrap, alg, in, len, nonce, nonce_len, out, eb);
    if (rv != DC_OK)
        dc_err_wrapf(eb, wrap ? "failed to encrypt data" : "failed to decrypt data");
out:
    key_cleanup(&k);
    return rv;
}

static int ls_wrap(void *self, const char *alg, const char *key_name, const uint8_t *pt,
                   size_t pt_len, const uint8_t *nonce, size_t nonce_len, struct dc_buf *out,
                   struct dc_errbuf *eb)
{
    return wrap_common(self, true, alg, key_name, pt, pt_len, nonce, nonce_len, out, eb);
}

static int ls_unwrap(void *self, const char *alg, const char *key_name, const uint8_t *ct,
                     size_t ct_len, const uint8_t *nonce, size_t nonce_len, struct dc_buf *out,
                     struct dc_errbuf *eb)
{
    return wrap_common(self, false, alg, key_name, ct, ct_len, nonce, nonce_len, out, eb);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static int ls_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    const char *path = sdc_md_get(md, "path");
    struct ls_store *st;
    struct stat sb;
    size_t n;

    (void)ctx;
    if (dc_str_empty(path))
        return dc_err_set(eb, DC_EINVAL, "metadata property 'path' is required");
    if (stat(path, &sb) != 0)
        return dc_err_set(eb, DC_EINVAL, "could not stat path '%s': %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return dc_err_set(eb, DC_EINVAL, "path '%s' is not a directory", path);
    st = dc_xcalloc(1, sizeof(*st));
    st->path = dc_xstrdup(path);
    /* filepath.Clean's effect that matters for the joined names: no trailing slash. */
    n = strlen(st->path);
    while (n > 1 && st->path[n - 1] == '/')
        st->path[--n] = '\0';
    *self = st;
    return DC_OK;
}

static void ls_close(void *self)
{
    struct ls_store *st = self;

    if (st == NULL)
        return;
    free(st->path);
    free(st);
}

static const struct sdc_crypto_ops ls_ops = {
    .base = {.init = ls_init, .close = ls_close},
    .wrap_key = ls_wrap,
    .unwrap_key = ls_unwrap,
};

const struct sdc_component_type sdc_type_crypto_dapr_localstorage = {
    "crypto.dapr.localstorage", "v1", SDC_CAT_CRYPTO, &ls_ops.base};
