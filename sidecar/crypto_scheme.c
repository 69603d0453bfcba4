/* dapr.io/enc/v1 (see crypto_scheme.h). Derived from the published description
 * (dapr/kit schemes/enc/v1/README.md) and checked against upstream's test vectors in
 * sidecar/tests/test_crypto.c; docs/internals/crypto.md lists the observable details that
 * follow upstream's implementation rather than the README. */
#include "crypto_scheme.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "dc/base64.h"
#include "dc/json.h"
#include "dc/mem.h"
#include "dc/str.h"

#define SEG_PT SDC_ENC_SEGMENT_SIZE
#define SEG_CT (SDC_ENC_SEGMENT_SIZE + SDC_ENC_TAG_SIZE)
#define KEY_LEN 32u
#define MAC_LEN 32u
#define NONCE_LEN 12u

enum phase {
    PH_HEADER = 0, /* decrypt: collecting the three header lines */
    PH_BODY,       /* segments */
    PH_DONE,       /* final called */
    PH_FAILED,
};

struct sdc_enc_stream {
    bool decrypt;
    enum phase phase;
    enum sdc_enc_cipher cipher;
    uint8_t payload_key[KEY_LEN];
    uint8_t nonce_prefix[SDC_ENC_NONCE_PREFIX_SIZE];
    uint32_t counter; /* number of the segment being filled */
    EVP_CIPHER_CTX *ctx;
    /* Decrypt: header bytes seen so far (at most SDC_ENC_MAX_HEADER). */
    struct dc_buf hdr;
    size_t hdr_scanned; /* bytes of `hdr` already scanned for newlines */
    size_t nl[3];       /* offsets of the newlines found */
    unsigned nnl;
    char *key_name; /* decrypt: override from the options (owned) */
    sdc_enc_unwrap_fn *unwrap;
    void *ud;
    /* The segment being filled: plaintext (encrypt) or ciphertext (decrypt). */
    uint8_t *seg;
    size_t seg_len;
};

/* ---- names ---------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum sdc_enc_kw kw;
} kw_names[] = {
    {"A256KW", SDC_ENC_KW_A256KW},
    {"A128CBC-NOPAD", SDC_ENC_KW_A128CBC_NOPAD},
    {"A192CBC-NOPAD", SDC_ENC_KW_A192CBC_NOPAD},
    {"A256CBC-NOPAD", SDC_ENC_KW_A256CBC_NOPAD},
    {"RSA-OAEP-256", SDC_ENC_KW_RSA_OAEP_256},
    {"AES", SDC_ENC_KW_A256KW},       /* alias */
    {"RSA", SDC_ENC_KW_RSA_OAEP_256}, /* alias */
};

enum sdc_enc_kw sdc_enc_kw_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(kw_names) / sizeof(kw_names[0]); i++)
        if (strcmp(name, kw_names[i].name) == 0)
            return kw_names[i].kw;
    return SDC_ENC_KW_NONE;
}

const char *sdc_enc_kw_name(enum sdc_enc_kw kw)
{
    /* The first five entries are the canonical names, in id order. */
    if (kw < SDC_ENC_KW_A256KW || kw > SDC_ENC_KW_RSA_OAEP_256)
        return NULL;
    return kw_names[kw - 1].name;
}

enum sdc_enc_cipher sdc_enc_cipher_parse(const char *name)
{
    if (dc_str_eq(name, "AES-GCM"))
        return SDC_ENC_CIPHER_AES_GCM;
    if (dc_str_eq(name, "CHACHA20-POLY1305"))
        return SDC_ENC_CIPHER_CHACHA20_POLY1305;
    return SDC_ENC_CIPHER_NONE;
}

/* ---- primitives ----------------------------------------------------------------------------- */

/* HKDF-SHA-256 (RFC 5869) of `ikm`, salt and info, KEY_LEN bytes into `out`. */
static int hkdf(uint8_t out[KEY_LEN], const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
                size_t salt_len, const char *info)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5], *p = params;
    /* An empty salt means "no salt" (HashLen zeros), as Go's hkdf.New with nil. */
    static const uint8_t nokey = 0;
    int rv = DC_EINTERNAL;

    if (kdf == NULL)
        return DC_EINTERNAL;
    kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == NULL)
        goto out;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                             (void *)(ikm_len > 0 ? ikm : &nokey), ikm_len);
    if (salt_len > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
    *p = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, out, KEY_LEN, params) == 1)
        rv = DC_OK;
out:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rv;
}

/* HMAC-SHA-256 over the first two header lines with the header key derived from `fk`. */
static int header_mac(uint8_t mac[MAC_LEN], const uint8_t *fk, size_t fk_len, const char *msg,
                      size_t msg_len)
{
    uint8_t hk[KEY_LEN];
    size_t outlen = 0;
    int rv = hkdf(hk, fk, fk_len, NULL, 0, "header");

    if (rv == DC_OK &&
        (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hk, sizeof(hk), (const unsigned char *)msg,
                   msg_len, mac, MAC_LEN, &outlen) == NULL ||
         outlen != MAC_LEN))
        rv = DC_EINTERNAL;
    OPENSSL_cleanse(hk, sizeof(hk));
    return rv;
}

static const EVP_CIPHER *evp_cipher(enum sdc_enc_cipher c)
{
    return c == SDC_ENC_CIPHER_CHACHA20_POLY1305 ? EVP_chacha20_poly1305() : EVP_aes_256_gcm();
}

static void segment_nonce(const struct sdc_enc_stream *s, bool last, uint8_t nonce[NONCE_LEN])
{
    memcpy(nonce, s->nonce_prefix, SDC_ENC_NONCE_PREFIX_SIZE);
    nonce[7] = (uint8_t)(s->counter >> 24);
    nonce[8] = (uint8_t)(s->counter >> 16);
    nonce[9] = (uint8_t)(s->counter >> 8);
    nonce[10] = (uint8_t)s->counter;
    nonce[11] = last ? 1 : 0;
}

/* Derive the payload key and set up the AEAD context of `s`. */
static int stream_keys(struct sdc_enc_stream *s, const uint8_t *fk, size_t fk_len)
{
    int rv =
        hkdf(s->payload_key, fk, fk_len, s->nonce_prefix, SDC_ENC_NONCE_PREFIX_SIZE, "payload");

    if (rv != DC_OK)
        return rv;
    s->ctx = EVP_CIPHER_CTX_new();
    if (s->ctx == NULL ||
        EVP_CipherInit_ex(s->ctx, evp_cipher(s->cipher), NULL, NULL, NULL, s->decrypt ? 0 : 1) !=
            1 ||
        EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL) != 1)
        return DC_EINTERNAL;
    return DC_OK;
}

/* Seal (encrypt) or open (decrypt) the buffered segment into `dst`. */
static int process_segment(struct sdc_enc_stream *s, bool last, struct dc_buf *dst,
                           struct dc_errbuf *eb)
{
    uint8_t nonce[NONCE_LEN];
    size_t in_len = s->seg_len, out_len, orig = dst->len;
    int outl = 0, finl = 0, rv;
    uint8_t *o;

    if (s->decrypt && in_len < SDC_ENC_TAG_SIZE)
        goto auth;
    out_len = s->decrypt ? in_len - SDC_ENC_TAG_SIZE : in_len + SDC_ENC_TAG_SIZE;
    rv = dc_buf_reserve(dst, out_len);
    if (rv != DC_OK)
        return dc_err_set(eb, rv, "output too large");
    o = (uint8_t *)dst->data + dst->len;
    segment_nonce(s, last, nonce);
    if (EVP_CipherInit_ex(s->ctx, NULL, NULL, s->payload_key, nonce, -1) != 1)
        return dc_err_set(eb, DC_EINTERNAL, "failed to create cipher");
    if (s->decrypt) {
        size_t ct_len = in_len - SDC_ENC_TAG_SIZE;
        if (EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, SDC_ENC_TAG_SIZE, s->seg + ct_len) !=
                1 ||
            EVP_CipherUpdate(s->ctx, o, &outl, s->seg, (int)ct_len) != 1 ||
            EVP_CipherFinal_ex(s->ctx, o + outl, &finl) != 1) {
            OPENSSL_cleanse(o, ct_len);
            goto auth;
        }
    } else {
        if (EVP_CipherUpdate(s->ctx, o, &outl, s->seg, (int)in_len) != 1 ||
            EVP_CipherFinal_ex(s->ctx, o + outl, &finl) != 1 ||
            EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, SDC_ENC_TAG_SIZE, o + in_len) != 1)
            return dc_err_set(eb, DC_EINTERNAL, "error processing segment %u: encryption failed",
                              (unsigned)s->counter);
        OPENSSL_cleanse(s->seg, in_len);
    }
    dst->len += out_len;
    dst->data[dst->len] = '\0';
    s->seg_len = 0;
    return DC_OK;
auth:
    dst->len = orig;
    return dc_err_set(eb, DC_EIO, "error processing segment %u: failed to decrypt segment",
                      (unsigned)s->counter);
}

/* ---- encryption ----------------------------------------------------------------------------- */

/* Append `s` as a JSON string literal the way Go's encoding/json does by default: HTML-unsafe
 * '<', '>' and '&' escaped as \u003c..., U+2028/U+2029 escaped, invalid UTF-8 as \ufffd. */
static bool html_unsafe(char c)
{
    return c == '<' || c == '>' || c == '&';
}

static int append_go_json_string(struct dc_buf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    int rv = dc_buf_appendc(b, '"');

    while (i < n && rv == DC_OK) {
        struct dc_buf tmp = {0};
        size_t j = i;

        if (html_unsafe(s[i])) {
            rv = dc_buf_appendf(b, "\\u00%02x", (unsigned char)s[i]);
            i++;
            continue;
        }
        /* A run without HTML characters (they are ASCII, so no UTF-8 sequence is split) goes
         * through the shared encoder; its quotes are dropped. */
        while (j < n && !html_unsafe(s[j]))
            j++;
        rv = dc_json_append_string(&tmp, s + i, j - i);
        if (rv == DC_OK)
            rv = dc_buf_append(b, tmp.data + 1, tmp.len - 2);
        dc_buf_cleanup(&tmp);
        i = j;
    }
    if (rv == DC_OK)
        rv = dc_buf_appendc(b, '"');
    return rv;
}

static int write_header(struct dc_buf *dst, const char *key_name, enum sdc_enc_kw kw,
                        const uint8_t *wfk, size_t wfk_len, enum sdc_enc_cipher cph,
                        const uint8_t *np, const uint8_t *fk, struct dc_errbuf *eb)
{
    struct dc_buf h = {0};
    uint8_t mac[MAC_LEN];
    int rv;

    dc_buf_init(&h, SDC_ENC_MAX_HEADER);
    rv = dc_buf_appends(&h, SDC_ENC_SCHEME "\n{");
    /* Field order and omitempty on "k" as upstream's Manifest struct. */
    if (rv == DC_OK && !dc_str_empty(key_name)) {
        rv = dc_buf_appends(&h, "\"k\":");
        if (rv == DC_OK)
            rv = append_go_json_string(&h, key_name);
        if (rv == DC_OK)
            rv = dc_buf_appendc(&h, ',');
    }
    if (rv == DC_OK)
        rv = dc_buf_appendf(&h, "\"kw\":%d,\"wfk\":\"", (int)kw);
    if (rv == DC_OK)
        rv = dc_base64_append(&h, wfk, wfk_len);
    if (rv == DC_OK)
        rv = dc_buf_appendf(&h, "\",\"cph\":%d,\"np\":\"", (int)cph);
    if (rv == DC_OK)
        rv = dc_base64_append(&h, np, SDC_ENC_NONCE_PREFIX_SIZE);
    if (rv == DC_OK)
        rv = dc_buf_appends(&h, "\"}\n");
    if (rv == DC_OK)
        rv = header_mac(mac, fk, SDC_ENC_FILE_KEY_SIZE, h.data, h.len);
    if (rv == DC_OK)
        rv = dc_base64_append(&h, mac, MAC_LEN);
    if (rv == DC_OK)
        rv = dc_buf_appendc(&h, '\n');
    if (rv == DC_ETOOBIG) {
        rv = dc_err_set(eb, DC_ETOOBIG, "failed to sign header: header is too long");
        goto out;
    }
    if (rv != DC_OK) {
        rv = dc_err_set(eb, rv, "failed to sign header");
        goto out;
    }
    rv = dc_buf_append(dst, h.data, h.len);
    if (rv != DC_OK)
        dc_err_set(eb, rv, "output too large");
out:
    dc_buf_cleanup(&h);
    return rv;
}

static struct sdc_enc_stream *stream_new(bool decrypt)
{
    struct sdc_enc_stream *s = dc_xcalloc(1, sizeof(*s));

    s->decrypt = decrypt;
    s->seg = dc_xmalloc(SEG_CT);
    dc_buf_init(&s->hdr, SDC_ENC_MAX_HEADER);
    return s;
}

int sdc_enc_encrypt_new(struct sdc_enc_stream **out, const struct sdc_enc_encrypt_opts *o,
                        struct dc_buf *dst, struct dc_errbuf *eb)
{
    struct sdc_enc_stream *s = NULL;
    struct dc_buf wfk = {0};
    struct dc_errbuf web = {{0}};
    uint8_t rnd[SDC_ENC_FILE_KEY_SIZE + SDC_ENC_NONCE_PREFIX_SIZE];
    enum sdc_enc_kw kw;
    const char *name;
    int rv;

    /* Option checks in upstream's order (Encrypt in scheme.go). */
    if (o->wrap == NULL)
        return dc_err_set(eb, DC_EINVAL, "option WrapKeyFn is required");
    if (dc_str_empty(o->key_name))
        return dc_err_set(eb, DC_EINVAL, "option KeyName is required");
    if (dc_str_empty(o->algorithm))
        return dc_err_set(eb, DC_EINVAL, "option Algorithm is required");
    kw = sdc_enc_kw_parse(o->algorithm);
    if (kw == SDC_ENC_KW_NONE)
        return dc_err_set(eb, DC_EINVAL,
                          "option Algorithm is not valid: algorithm %s is not supported",
                          o->algorithm);
    s = stream_new(false);
    s->cipher = SDC_ENC_CIPHER_AES_GCM;
    if (o->cipher != NULL && o->cipher[0] != '\0') {
        s->cipher = sdc_enc_cipher_parse(o->cipher);
        if (s->cipher == SDC_ENC_CIPHER_NONE) {
            rv = dc_err_set(eb, DC_EINVAL, "option Cipher is not valid: cipher %s is not supported",
                            o->cipher);
            goto fail;
        }
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        rv = dc_err_set(eb, DC_EINTERNAL, "failed to generate file key");
        goto fail;
    }
    memcpy(s->nonce_prefix, rnd + SDC_ENC_FILE_KEY_SIZE, SDC_ENC_NONCE_PREFIX_SIZE);
    dc_buf_init(&wfk, SDC_ENC_MAX_HEADER);
    rv = o->wrap(o->ud, sdc_enc_kw_name(kw), o->key_name, rnd, SDC_ENC_FILE_KEY_SIZE, &wfk, &web);
    if (rv != DC_OK) {
        rv = dc_err_set(eb, DC_EINVAL, "failed to wrap the file key: %s", web.msg);
        goto fail;
    }
    name = o->omit_key_name                        ? ""
           : !dc_str_empty(o->decryption_key_name) ? o->decryption_key_name
                                                   : o->key_name;
    rv = write_header(dst, name, kw, (const uint8_t *)wfk.data, wfk.len, s->cipher, s->nonce_prefix,
                      rnd, eb);
    if (rv == DC_OK)
        rv = stream_keys(s, rnd, SDC_ENC_FILE_KEY_SIZE);
    if (rv != DC_OK)
        goto fail;
    s->phase = PH_BODY;
    *out = s;
    rv = DC_OK;
    goto out;
fail:
    sdc_enc_free(s);
out:
    OPENSSL_cleanse(rnd, sizeof(rnd));
    dc_buf_cleanup(&wfk);
    return rv;
}

/* ---- decryption: header --------------------------------------------------------------------- */

int sdc_enc_decrypt_new(struct sdc_enc_stream **out, const struct sdc_enc_decrypt_opts *o,
                        struct dc_errbuf *eb)
{
    struct sdc_enc_stream *s;

    if (o->unwrap == NULL)
        return dc_err_set(eb, DC_EINVAL, "option UnwrapKeyFn is required");
    s = stream_new(true);
    s->unwrap = o->unwrap;
    s->ud = o->ud;
    if (!dc_str_empty(o->key_name))
        s->key_name = dc_xstrdup(o->key_name);
    *out = s;
    return DC_OK;
}

/* A decoded manifest (kit manifest.go), fields as Go's json.Unmarshal would fill them. */
struct manifest {
    const char *key_name;
    enum sdc_enc_kw kw;
    enum sdc_enc_cipher cph;
    struct dc_buf wfk;
    struct dc_buf np;
};

/* Decode a manifest id: Go's UnmarshalJSON on the raw number token, which strconv.Atoi must
 * accept (so only integral values), then the id table. */
static int manifest_id(const cJSON *v, int max, int *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= max) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return DC_EPARSE;
    *out = (int)v->valuedouble;
    return DC_OK;
}

/* Go's []byte JSON field: a base64 string, or null for nothing. */
static int manifest_bytes(const cJSON *v, struct dc_buf *b)
{
    dc_buf_reset(b);
    if (cJSON_IsNull(v))
        return DC_OK;
    if (!cJSON_IsString(v))
        return DC_EPARSE;
    return dc_base64_decode(b, v->valuestring, strlen(v->valuestring), NULL);
}

/* Parse and validate the manifest (json.Unmarshal then Manifest.Validate). Keys match
 * case-insensitively and the last duplicate wins, as encoding/json; unknown keys are ignored. */
static int manifest_parse(const char *text, size_t len, struct manifest *m, cJSON **root)
{
    const cJSON *c;
    int id, rv;

    if (dc_json_parse(text, len, SDC_ENC_MAX_HEADER, root, NULL) != DC_OK || !cJSON_IsObject(*root))
        return DC_EPARSE;
    cJSON_ArrayForEach(c, *root)
    {
        if (strcasecmp(c->string, "k") == 0) {
            if (cJSON_IsNull(c))
                continue;
            if (!cJSON_IsString(c))
                return DC_EPARSE;
            m->key_name = c->valuestring;
        } else if (strcasecmp(c->string, "kw") == 0) {
            rv = manifest_id(c, SDC_ENC_KW_RSA_OAEP_256, &id);
            if (rv != DC_OK)
                return rv;
            m->kw = (enum sdc_enc_kw)id;
        } else if (strcasecmp(c->string, "cph") == 0) {
            rv = manifest_id(c, SDC_ENC_CIPHER_CHACHA20_POLY1305, &id);
            if (rv != DC_OK)
                return rv;
            m->cph = (enum sdc_enc_cipher)id;
        } else if (strcasecmp(c->string, "wfk") == 0) {
            if (manifest_bytes(c, &m->wfk) != DC_OK)
                return DC_EPARSE;
        } else if (strcasecmp(c->string, "np") == 0) {
            if (manifest_bytes(c, &m->np) != DC_OK)
                return DC_EPARSE;
        }
    }
    if (m->kw == SDC_ENC_KW_NONE || m->wfk.len == 0 || m->cph == SDC_ENC_CIPHER_NONE ||
        m->np.len != SDC_ENC_NONCE_PREFIX_SIZE)
        return DC_EPARSE;
    return DC_OK;
}

/* The three header lines are complete: check the manifest and its MAC, unwrap the file key. */
static int header_accept(struct sdc_enc_stream *s, struct dc_errbuf *eb)
{
    const char *h = s->hdr.data;
    const char *man = h + s->nl[0] + 1, *mac_b64 = h + s->nl[1] + 1;
    size_t man_len = s->nl[1] - s->nl[0] - 1, mac_len = s->nl[2] - s->nl[1] - 1, bad = 0;
    struct manifest m = {0};
    struct dc_buf fk = {0}, mac = {0};
    struct dc_errbuf ueb = {{0}};
    uint8_t want[MAC_LEN];
    const char *key_name;
    cJSON *root = NULL;
    int rv;

    dc_buf_init(&m.wfk, SDC_ENC_MAX_HEADER);
    dc_buf_init(&m.np, SDC_ENC_MAX_HEADER);
    dc_buf_init(&fk, SDC_ENC_MAX_HEADER);
    dc_buf_init(&mac, SDC_ENC_MAX_HEADER);
    if (manifest_parse(man, man_len, &m, &root) != DC_OK) {
        /* Upstream hides the detail on purpose. */
        rv = dc_err_set(eb, DC_EPARSE, "invalid header: invalid manifest");
        goto out;
    }
    key_name = s->key_name != NULL ? s->key_name : m.key_name;
    if (dc_str_empty(key_name)) {
        rv = dc_err_set(eb, DC_ENOTFOUND,
                        "document's manifest does not contain a key name, "
                        "and no key name was provided");
        goto out;
    }
    s->cipher = m.cph;
    memcpy(s->nonce_prefix, m.np.data, SDC_ENC_NONCE_PREFIX_SIZE);
    /* An unwrap failure is not reported: the MAC check below fails with an all-zero key, so
     * that a missing key and a wrong key look the same (upstream's Decrypt). */
    if (s->unwrap(s->ud, sdc_enc_kw_name(m.kw), key_name, (const uint8_t *)m.wfk.data, m.wfk.len,
                  &fk, &ueb) != DC_OK ||
        fk.len == 0) {
        static const uint8_t zero[SDC_ENC_FILE_KEY_SIZE];
        dc_buf_reset(&fk);
        DC_ASSERT(dc_buf_append(&fk, zero, sizeof(zero)) == DC_OK);
    }
    if (dc_base64_decode(&mac, mac_b64, mac_len, &bad) != DC_OK) {
        rv = dc_err_set(eb, DC_EPARSE,
                        "failed to decode header's signature: illegal base64 data at input "
                        "byte %zu",
                        bad);
        goto out;
    }
    rv = header_mac(want, (const uint8_t *)fk.data, fk.len, h, s->nl[1] + 1);
    if (rv != DC_OK) {
        dc_err_set(eb, rv, "failed to compute the header's signature");
        goto out;
    }
    if (mac.len != MAC_LEN || CRYPTO_memcmp(want, mac.data, MAC_LEN) != 0) {
        rv = dc_err_set(eb, DC_EPERM, "failed to validate the document's signature");
        goto out;
    }
    rv = stream_keys(s, (const uint8_t *)fk.data, fk.len);
    if (rv != DC_OK)
        dc_err_set(eb, rv, "failed to set up the cipher");
out:
    if (fk.data != NULL)
        OPENSSL_cleanse(fk.data, fk.cap);
    dc_buf_cleanup(&fk);
    dc_buf_cleanup(&mac);
    dc_buf_cleanup(&m.wfk);
    dc_buf_cleanup(&m.np);
    cJSON_Delete(root);
    return rv;
}

/* Scan newly added header bytes (kit readHeader): the first line must be the scheme name, no
 * line may be empty, and the header ends at the third newline within the first 64 KiB.
 * Sets `*done` once the header is complete. */
static int header_scan(struct sdc_enc_stream *s, bool *done, struct dc_errbuf *eb)
{
    const char *h = s->hdr.data;

    for (size_t i = s->hdr_scanned; i < s->hdr.len && s->nnl < 3; i++) {
        size_t start = s->nnl == 0 ? 0 : s->nl[s->nnl - 1] + 1;
        if (h[i] != '\n')
            continue;
        if (i <= start)
            return dc_err_set(eb, DC_EPARSE, "invalid header: invalid format");
        if (s->nnl == 0 &&
            (i != strlen(SDC_ENC_SCHEME) || memcmp(h, SDC_ENC_SCHEME, strlen(SDC_ENC_SCHEME)) != 0))
            return dc_err_set(eb, DC_EPARSE, "invalid header: unsupported scheme");
        s->nl[s->nnl++] = i;
    }
    s->hdr_scanned = s->hdr.len;
    *done = s->nnl == 3;
    return DC_OK;
}

/* The reasons upstream gives for an incomplete header, in its order. */
static int header_incomplete(const struct sdc_enc_stream *s, struct dc_errbuf *eb)
{
    if (s->nnl < 1)
        return dc_err_set(eb, DC_EPARSE, "invalid header: scheme name not found");
    if (s->nnl < 2)
        return dc_err_set(eb, DC_EPARSE, "invalid header: manifest not found");
    return dc_err_set(eb, DC_EPARSE, "invalid header: message authentication code not found");
}

/* ---- streaming ------------------------------------------------------------------------------ */

static int body_update(struct sdc_enc_stream *s, const uint8_t *in, size_t len, struct dc_buf *dst,
                       struct dc_errbuf *eb)
{
    size_t cap = s->decrypt ? SEG_CT : SEG_PT;

    while (len > 0) {
        size_t take;
        if (s->seg_len == cap) {
            /* More input follows a full segment, so that one was not the last. */
            int rv = process_segment(s, false, dst, eb);
            if (rv != DC_OK)
                return rv;
            if (s->counter == UINT32_MAX)
                return dc_err_set(eb, DC_ETOOBIG, "input stream is too large");
            s->counter++;
        }
        take = cap - s->seg_len < len ? cap - s->seg_len : len;
        memcpy(s->seg + s->seg_len, in, take);
        s->seg_len += take;
        in += take;
        len -= take;
    }
    return DC_OK;
}

int sdc_enc_update(struct sdc_enc_stream *s, const void *in, size_t len, struct dc_buf *dst,
                   struct dc_errbuf *eb)
{
    const uint8_t *p = in;
    int rv = DC_OK;

    if (s->phase == PH_FAILED || s->phase == PH_DONE)
        return dc_err_set(eb, DC_EINVAL, "stream is closed");
    if (s->phase == PH_HEADER) {
        size_t room = SDC_ENC_MAX_HEADER - s->hdr.len, take = len < room ? len : room;
        bool done = false;

        DC_ASSERT(dc_buf_append(&s->hdr, p, take) == DC_OK);
        rv = header_scan(s, &done, eb);
        if (rv == DC_OK && !done && s->hdr.len == SDC_ENC_MAX_HEADER)
            rv = header_incomplete(s, eb); /* upstream stops looking after 64 KiB */
        if (rv != DC_OK || !done)
            goto out;
        rv = header_accept(s, eb);
        if (rv != DC_OK)
            goto out;
        s->phase = PH_BODY;
        /* What followed the header in this chunk and the rest of the input are segments. */
        rv = body_update(s, (const uint8_t *)s->hdr.data + s->nl[2] + 1, s->hdr.len - s->nl[2] - 1,
                         dst, eb);
        p += take;
        len -= take;
        dc_buf_cleanup(&s->hdr);
        if (rv != DC_OK)
            goto out;
    }
    rv = body_update(s, p, len, dst, eb);
out:
    if (rv != DC_OK)
        s->phase = PH_FAILED;
    return rv;
}

int sdc_enc_final(struct sdc_enc_stream *s, struct dc_buf *dst, struct dc_errbuf *eb)
{
    int rv = DC_OK;

    if (s->phase == PH_FAILED || s->phase == PH_DONE)
        return dc_err_set(eb, DC_EINVAL, "stream is closed");
    if (s->phase == PH_HEADER) {
        s->phase = PH_FAILED;
        return header_incomplete(s, eb);
    }
    /* An empty plaintext has no segment; otherwise the buffered one is the last. */
    if (s->seg_len > 0)
        rv = process_segment(s, true, dst, eb);
    s->phase = rv == DC_OK ? PH_DONE : PH_FAILED;
    return rv;
}

bool sdc_enc_header_done(const struct sdc_enc_stream *s)
{
    return !s->decrypt || (s->phase != PH_HEADER && s->ctx != NULL);
}

void sdc_enc_free(struct sdc_enc_stream *s)
{
    if (s == NULL)
        return;
    EVP_CIPHER_CTX_free(s->ctx);
    OPENSSL_cleanse(s->payload_key, sizeof(s->payload_key));
    OPENSSL_cleanse(s->seg, SEG_CT);
    free(s->seg);
    dc_buf_cleanup(&s->hdr);
    free(s->key_name);
    free(s);
}

int sdc_enc_encrypt(const struct sdc_enc_encrypt_opts *o, const void *in, size_t len,
                    struct dc_buf *dst, struct dc_errbuf *eb)
{
    struct sdc_enc_stream *s = NULL;
    int rv = sdc_enc_encrypt_new(&s, o, dst, eb);

    if (rv == DC_OK)
        rv = sdc_enc_update(s, in, len, dst, eb);
    if (rv == DC_OK)
        rv = sdc_enc_final(s, dst, eb);
    sdc_enc_free(s);
    return rv;
}

int sdc_enc_decrypt(const struct sdc_enc_decrypt_opts *o, const void *in, size_t len,
                    struct dc_buf *dst, bool *header_ok, struct dc_errbuf *eb)
{
    struct sdc_enc_stream *s = NULL;
    int rv = sdc_enc_decrypt_new(&s, o, eb);

    if (rv == DC_OK)
        rv = sdc_enc_update(s, in, len, dst, eb);
    if (rv == DC_OK)
        rv = sdc_enc_final(s, dst, eb);
    if (header_ok != NULL)
        *header_ok = s != NULL && sdc_enc_header_done(s);
    sdc_enc_free(s);
    return rv;
}
