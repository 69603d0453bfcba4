/* dapr.io/enc/v1 and crypto.dapr.localstorage: upstream's own test vectors, a vector made by
 * an independent implementation (tests/integration/crypto_vectors.py on python3-cryptography),
 * round trips for every cipher and key type at the segment boundaries, streaming in odd
 * chunks, tampering, truncation, wrong keys and header errors with upstream's messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dc/base64.h"
#include "dc/buf.h"
#include "dc/mem.h"
#include "dc/str.h"

#include "../crypto.h"
#include "../crypto_scheme.h"

extern const struct sdc_component_type sdc_type_crypto_dapr_localstorage;

#define SEG SDC_ENC_SEGMENT_SIZE

static char tmpdir[64];
static void *store;

/* ---- helpers -------------------------------------------------------------------------------- */

static void write_file(const char *name, const void *data, size_t len)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_str(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}

static void unhex(struct dc_buf *b, const char *hex)
{
    for (size_t i = 0; hex[i] != '\0'; i += 2) {
        unsigned v;
        assert_int_equal(sscanf(hex + i, "%2x", &v), 1);
        assert_int_equal(dc_buf_appendc(b, (char)v), DC_OK);
    }
}

/* Identity "wrapping", as upstream's scheme tests do: the wrapped key is the file key. */
static int id_wrap(void *ud, const char *alg, const char *key_name, const uint8_t *fk,
                   size_t fk_len, struct dc_buf *out, struct dc_errbuf *eb)
{
    (void)ud, (void)alg, (void)key_name, (void)eb;
    return dc_buf_append(out, fk, fk_len);
}

static int id_unwrap(void *ud, const char *alg, const char *key_name, const uint8_t *wfk,
                     size_t wfk_len, struct dc_buf *out, struct dc_errbuf *eb)
{
    (void)ud, (void)alg, (void)key_name, (void)eb;
    return dc_buf_append(out, wfk, wfk_len);
}

static const struct sdc_crypto_ops *ls_ops(void)
{
    return (const struct sdc_crypto_ops *)sdc_type_crypto_dapr_localstorage.ops;
}

static int ls_wrap(void *ud, const char *alg, const char *key_name, const uint8_t *fk,
                   size_t fk_len, struct dc_buf *out, struct dc_errbuf *eb)
{
    return ls_ops()->wrap_key(ud, alg, key_name, fk, fk_len, NULL, 0, out, eb);
}

static int ls_unwrap(void *ud, const char *alg, const char *key_name, const uint8_t *wfk,
                     size_t wfk_len, struct dc_buf *out, struct dc_errbuf *eb)
{
    return ls_ops()->unwrap_key(ud, alg, key_name, wfk, wfk_len, NULL, 0, out, eb);
}

static uint8_t *pattern(size_t n)
{
    uint8_t *p = dc_xmalloc(n + 1);

    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + n);
    return p;
}

static int decrypt_buf(const struct sdc_enc_decrypt_opts *o, const struct dc_buf *in,
                       struct dc_buf *out, bool *header_ok, struct dc_errbuf *eb)
{
    return sdc_enc_decrypt(o, in->data, in->len, out, header_ok, eb);
}

/* ---- fixtures ------------------------------------------------------------------------------- */

static void gen_rsa(void)
{
    EVP_PKEY *pk = EVP_RSA_gen(2048);
    BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
    char *p;
    long n;

    assert_non_null(pk);
    assert_int_equal(PEM_write_bio_PrivateKey(priv, pk, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(PEM_write_bio_PUBKEY(pub, pk), 1);
    n = BIO_get_mem_data(priv, &p);
    write_file("rsa.pem", p, (size_t)n);
    n = BIO_get_mem_data(pub, &p);
    write_file("rsa-pub.pem", p, (size_t)n);
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(pk);
}

static void gen_ec(void)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    long n;

    assert_int_equal(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(b, &p);
    write_file("ec.pem", p, (size_t)n);
    BIO_free(b);
    EVP_PKEY_free(pk);
}

static int setup(void **state)
{
    struct sdc_md md = {0};
    struct sdc_init_ctx ctx = {.name = "ls"};
    struct dc_errbuf eb = {{0}};
    (void)state;

    dc_strlcpy(tmpdir, "/tmp/test_crypto_XXXXXX", sizeof(tmpdir));
    assert_non_null(mkdtemp(tmpdir));
    /* bytes 0..31 and 32..63 as oct JWKs; the first is what crypto_vectors.py uses. */
    write_str("oct256.json",
              "{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}");
    write_str("caf\xc3\xa9.json",
              "{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}");
    write_str("other.json",
              "{\"kty\":\"oct\",\"k\":\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\"}");
    write_str("oct128.json", "{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODw\"}");
    write_str("kwonly.json", "{\"kty\":\"oct\",\"alg\":\"A128KW\","
                             "\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}");
    write_str("signonly.json", "{\"kty\":\"oct\",\"key_ops\":[\"sign\"],"
                               "\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}");
    /* No extension: unpadded base64 of bytes 0..31, with a trailing newline. */
    write_str("rawb64", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n");
    write_str("bad.json", "{\"kty\":\"oct\"}");
    gen_rsa();
    gen_ec();
    sdc_md_set(&md, "path", tmpdir);
    assert_int_equal(ls_ops()->base.init(&store, &md, &ctx, &eb), DC_OK);
    sdc_md_cleanup(&md);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;

    ls_ops()->base.close(store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* ---- upstream and independent vectors ------------------------------------------------------- */

/* dapr/kit schemes/enc/v1/testdata/empty-message.enc, verbatim: the header alone, made by
 * upstream's Go code with identity wrapping (wfk = file key). */
static const char upstream_empty[] =
    "dapr.io/enc/v1\n"
    "{\"k\":\"mykey\",\"kw\":1,\"wfk\":\"rvjwqyMa8txW979ZL9wglb7f+UG1kW+/hDqvP3/ib+Q=\",\"cph\":1,"
    "\"np\":\"gZ/UVI2JlQ==\"}\n"
    "zB+rESjb3gR5guGfmxukQ//ApfW6a55WOxo6k0x89kE=\n";

/* dapr/kit crypto/schemes/enc/v1/testdata/single-segment.enc ("hello world"): its header as
 * published, and its 27-byte segment (11 bytes + tag) recovered from the published file. */
static const char upstream_single_hdr[] =
    "dapr.io/enc/v1\n"
    "{\"k\":\"mykey\",\"kw\":1,\"wfk\":\"QOei+iFHWhaO6f9iETClF46OP2xi7Hsi3lJM/j+twtU=\",\"cph\":1,"
    "\"np\":\"lPBnJHkXPA==\"}\n"
    "FUxdF/MUKkEdzzytE5fUf8k7gEm5nZiiN8H4ACE3NEg=\n";
static const char upstream_single_seg[] = "ce406324de80708c7f2084e1b51c4b778f7d3620a1ef8ad3e98e26";

/* Made by crypto_vectors.py: A256KW with oct256.json, ChaCha20-Poly1305, key name "café.json"
 * which Python's json module writes as "caf\u00e9.json" (Go would write the UTF-8): the MAC
 * covers those exact bytes. */
static const char python_vector[] =
    "646170722e696f2f656e632f76310a7b226b223a226361665c75303065392e6a736f6e222c226b77223a312c"
    "2277666b223a226149752f62494b5a745542416d6f4346714c41386e653868533178786a58696533346a6777"
    "472b4435354e61424736763051455671673d3d222c22637068223a322c226e70223a224e5a5353316d453069"
    "673d3d227d0a38517463696c51392f6741716154773862477147626667595869524d51327338624448423573"
    "6b764739553d0a1233169ff8608bc37a69e1232ba1296f709862aed2cbf645a71b07a264e35b7408383a4466"
    "1761601667a23ace61";

static void test_upstream_vectors(void **state)
{
    struct sdc_enc_decrypt_opts o = {.unwrap = id_unwrap};
    struct dc_buf in = {0}, out = {0};
    struct dc_errbuf eb = {{0}};
    bool hok = false;
    (void)state;

    assert_int_equal(sdc_enc_decrypt(&o, upstream_empty, strlen(upstream_empty), &out, &hok, &eb),
                     DC_OK);
    assert_int_equal(out.len, 0);
    assert_true(hok);

    assert_int_equal(dc_buf_appends(&in, upstream_single_hdr), DC_OK);
    unhex(&in, upstream_single_seg);
    assert_int_equal(decrypt_buf(&o, &in, &out, NULL, &eb), DC_OK);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.data, "hello world", 11);

    /* The key name can be overridden (the identity unwrap ignores it). */
    o.key_name = "anotherkey";
    dc_buf_reset(&out);
    assert_int_equal(decrypt_buf(&o, &in, &out, NULL, &eb), DC_OK);

    /* A different file key fails the header MAC, as upstream's "unwrapping key returns a
     * different key" test. */
    in.data[strlen("dapr.io/enc/v1\n{\"k\":\"mykey\",\"kw\":1,\"wfk\":\"")] = 'A';
    dc_buf_reset(&out);
    assert_int_equal(decrypt_buf(&o, &in, &out, &hok, &eb), DC_EPERM);
    assert_string_equal(eb.msg, "failed to validate the document's signature");
    assert_false(hok);
    dc_buf_cleanup(&in);
    dc_buf_cleanup(&out);
}

static void test_python_vector(void **state)
{
    struct sdc_enc_decrypt_opts o = {.unwrap = ls_unwrap, .ud = store};
    struct dc_buf in = {0}, out = {0};
    struct dc_errbuf eb = {{0}};
    (void)state;

    unhex(&in, python_vector);
    assert_int_equal(decrypt_buf(&o, &in, &out, NULL, &eb), DC_OK);
    assert_int_equal(out.len, strlen("hello from python-cryptography"));
    assert_memory_equal(out.data, "hello from python-cryptography", out.len);
    /* With another key the unwrap fails silently and the MAC check reports it. */
    o.key_name = "other.json";
    dc_buf_reset(&out);
    assert_int_equal(decrypt_buf(&o, &in, &out, NULL, &eb), DC_EPERM);
    assert_string_equal(eb.msg, "failed to validate the document's signature");
    dc_buf_cleanup(&in);
    dc_buf_cleanup(&out);
}

/* ---- round trips ---------------------------------------------------------------------------- */

static const size_t sizes[] = {0, 1, 11, SEG - 1, SEG, SEG + 1, 2 * SEG, 3 * SEG + 5};

static size_t header_len(const struct dc_buf *b)
{
    const char *p = b->data;
    for (int i = 0; i < 3; i++)
        p = (const char *)memchr(p, '\n', b->len - (size_t)(p - b->data)) + 1;
    return (size_t)(p - b->data);
}

static void round_trip(const char *key, const char *alg, const char *cipher, size_t n, size_t chunk)
{
    struct sdc_enc_encrypt_opts eo = {
        .key_name = key, .algorithm = alg, .cipher = cipher, .wrap = ls_wrap, .ud = store};
    struct sdc_enc_decrypt_opts dopts = {.unwrap = ls_unwrap, .ud = store};
    struct sdc_enc_stream *s = NULL;
    struct dc_buf enc = {0}, dec = {0};
    struct dc_errbuf eb = {{0}};
    uint8_t *pt = pattern(n);
    size_t nseg = (n + SEG - 1) / SEG;

    assert_int_equal(sdc_enc_encrypt(&eo, pt, n, &enc, &eb), DC_OK);
    assert_int_equal(enc.len, header_len(&enc) + n + nseg * SDC_ENC_TAG_SIZE);
    /* Decrypt in `chunk`-sized pushes. */
    assert_int_equal(sdc_enc_decrypt_new(&s, &dopts, &eb), DC_OK);
    for (size_t off = 0; off < enc.len; off += chunk) {
        size_t take = enc.len - off < chunk ? enc.len - off : chunk;
        assert_int_equal(sdc_enc_update(s, enc.data + off, take, &dec, &eb), DC_OK);
        /* Bounded: never more than one segment behind. */
        assert_true(dec.len + SEG >= (off + take > header_len(&enc)
                                          ? (off + take - header_len(&enc)) / (SEG + 16) * SEG
                                          : 0));
    }
    assert_int_equal(sdc_enc_final(s, &dec, &eb), DC_OK);
    sdc_enc_free(s);
    assert_int_equal(dec.len, n);
    if (n > 0)
        assert_memory_equal(dec.data, pt, n);
    free(pt);
    dc_buf_cleanup(&enc);
    dc_buf_cleanup(&dec);
}

static void test_round_trips(void **state)
{
    static const char *ciphers[] = {NULL, "AES-GCM", "CHACHA20-POLY1305"};
    (void)state;

    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            round_trip("oct256.json", "A256KW", ciphers[c], sizes[i], 1u << 20);
            round_trip("rsa.pem", "RSA-OAEP-256", ciphers[c], sizes[i], 4093);
        }
    /* Aliases, a JWK with an alg, a raw base64 key file, and byte-by-byte streaming. */
    round_trip("oct256.json", "AES", NULL, 100, 1);
    round_trip("rsa.pem", "RSA", "CHACHA20-POLY1305", SEG + 1, 65552);
    round_trip("rawb64", "A256KW", NULL, 5, 3);
}

static void test_manifest_and_key_names(void **state)
{
    struct sdc_enc_encrypt_opts eo = {.key_name = "rsa-pub.pem",
                                      .algorithm = "RSA-OAEP-256",
                                      .decryption_key_name = "rsa.pem",
                                      .wrap = ls_wrap,
                                      .ud = store};
    struct sdc_enc_decrypt_opts dopts = {.unwrap = ls_unwrap, .ud = store};
    struct dc_buf enc = {0}, dec = {0};
    struct dc_errbuf eb = {{0}};
    (void)state;

    /* Encrypt with the public key, the manifest names the private key for decryption. */
    assert_int_equal(sdc_enc_encrypt(&eo, "x", 1, &enc, &eb), DC_OK);
    assert_non_null(strstr(enc.data, "\n{\"k\":\"rsa.pem\",\"kw\":5,\"wfk\":\""));
    assert_int_equal(decrypt_buf(&dopts, &enc, &dec, NULL, &eb), DC_OK);
    assert_int_equal(dec.len, 1);
    /* The public key cannot unwrap. */
    dopts.key_name = "rsa-pub.pem";
    assert_int_equal(decrypt_buf(&dopts, &enc, &dec, NULL, &eb), DC_EPERM);

    /* Omitted key name: "k" is absent and decryption needs one. */
    dc_buf_reset(&enc);
    eo.key_name = "oct256.json";
    eo.algorithm = "A256KW";
    eo.omit_key_name = true;
    eo.cipher = "CHACHA20-POLY1305";
    assert_int_equal(sdc_enc_encrypt(&eo, "abc", 3, &enc, &eb), DC_OK);
    assert_non_null(strstr(enc.data, "\n{\"kw\":1,\"wfk\":\""));
    assert_non_null(strstr(enc.data, "\",\"cph\":2,\"np\":\""));
    dopts.key_name = NULL;
    assert_int_equal(decrypt_buf(&dopts, &enc, &dec, NULL, &eb), DC_ENOTFOUND);
    assert_string_equal(eb.msg, "document's manifest does not contain a key name, and no key "
                                "name was provided");
    dopts.key_name = "oct256.json";
    dc_buf_reset(&dec);
    assert_int_equal(decrypt_buf(&dopts, &enc, &dec, NULL, &eb), DC_OK);
    assert_int_equal(dec.len, 3);

    /* Go's encoder escapes HTML characters in the key name. */
    dc_buf_reset(&enc);
    eo.wrap = id_wrap;
    eo.omit_key_name = false;
    eo.decryption_key_name = "a<b>&c";
    assert_int_equal(sdc_enc_encrypt(&eo, "", 0, &enc, &eb), DC_OK);
    assert_non_null(strstr(enc.data, "{\"k\":\"a\\u003cb\\u003e\\u0026c\",\"kw\":1,"));
    dc_buf_cleanup(&enc);
    dc_buf_cleanup(&dec);
}

/* ---- tampering and truncation --------------------------------------------------------------- */

static void expect_decrypt(const struct dc_buf *in, int want, bool want_hok, const char *msg)
{
    struct sdc_enc_decrypt_opts o = {.unwrap = ls_unwrap, .ud = store};
    struct dc_buf out = {0};
    struct dc_errbuf eb = {{0}};
    bool hok = !want_hok;

    assert_int_equal(decrypt_buf(&o, in, &out, &hok, &eb), want);
    assert_int_equal(hok, want_hok);
    if (msg != NULL)
        assert_string_equal(eb.msg, msg);
    /* On failure only whole, verified segments were written. */
    if (want != DC_OK)
        assert_int_equal(out.len % SEG, 0);
    dc_buf_cleanup(&out);
}

static void test_tampering(void **state)
{
    struct sdc_enc_encrypt_opts eo = {
        .key_name = "oct256.json", .algorithm = "A256KW", .wrap = ls_wrap, .ud = store};
    struct dc_buf enc = {0}, t = {0};
    struct dc_errbuf eb = {{0}};
    uint8_t *pt = pattern(2 * SEG + 10);
    size_t h, s1;
    (void)state;

    assert_int_equal(sdc_enc_encrypt(&eo, pt, 2 * SEG + 10, &enc, &eb), DC_OK);
    h = header_len(&enc);
    s1 = h + SEG + 16;
    /* A flipped bit in each segment, in the manifest, in the MAC. */
    for (int seg = 0; seg < 3; seg++) {
        char msg[80];
        dc_buf_reset(&t);
        assert_int_equal(dc_buf_append(&t, enc.data, enc.len), DC_OK);
        t.data[h + (size_t)seg * (SEG + 16) + 5] ^= 1;
        snprintf(msg, sizeof(msg), "error processing segment %d: failed to decrypt segment", seg);
        expect_decrypt(&t, DC_EIO, true, msg);
    }
    dc_buf_reset(&t);
    assert_int_equal(dc_buf_append(&t, enc.data, enc.len), DC_OK);
    /* Swap for another base64 symbol carrying different bits (a flipped bit could give a
     * non-base64 byte, or touch only the ignored bits of the last symbol). */
    {
        size_t at = strlen("dapr.io/enc/v1\n{\"k\":\"oct256.json\",\"kw\":1,\"wfk\":\"") + 3;
        char orig = t.data[at];
        t.data[at] = orig == 'A' ? 'B' : 'A';
        expect_decrypt(&t, DC_EPERM, false, "failed to validate the document's signature");
        t.data[at] = orig;
        t.data[h - 10] = t.data[h - 10] == 'A' ? 'B' : 'A';
        expect_decrypt(&t, DC_EPERM, false, "failed to validate the document's signature");
    }

    /* Truncations: at a segment boundary (the remaining last segment was sealed as not last),
     * inside a segment, inside the tag, everything after the header (like upstream, an empty
     * document then decrypts to nothing), inside the header. */
    dc_buf_reset(&t);
    assert_int_equal(dc_buf_append(&t, enc.data, s1), DC_OK);
    expect_decrypt(&t, DC_EIO, true, "error processing segment 0: failed to decrypt segment");
    t.len = s1 + 100;
    memcpy(t.data, enc.data, t.len);
    expect_decrypt(&t, DC_EIO, true, "error processing segment 1: failed to decrypt segment");
    t.len = enc.len - 1;
    memcpy(t.data, enc.data, t.len);
    expect_decrypt(&t, DC_EIO, true, "error processing segment 2: failed to decrypt segment");
    t.len = h + 10;
    expect_decrypt(&t, DC_EIO, true, "error processing segment 0: failed to decrypt segment");
    t.len = h;
    expect_decrypt(&t, DC_OK, true, NULL);
    t.len = h - 1;
    expect_decrypt(&t, DC_EPARSE, false, "invalid header: message authentication code not found");

    /* Two full segments swapped. */
    dc_buf_reset(&t);
    assert_int_equal(dc_buf_append(&t, enc.data, enc.len), DC_OK);
    memcpy(t.data + h, enc.data + s1, SEG + 16);
    memcpy(t.data + s1, enc.data + h, SEG + 16);
    expect_decrypt(&t, DC_EIO, true, "error processing segment 0: failed to decrypt segment");
    free(pt);
    dc_buf_cleanup(&enc);
    dc_buf_cleanup(&t);
}

static void test_header_errors(void **state)
{
    static const struct {
        const char *in;
        int rv;
        const char *msg;
    } cases[] = {
        {"", DC_EPARSE, "invalid header: scheme name not found"},
        {"foo", DC_EPARSE, "invalid header: scheme name not found"},
        {"invalidscheme\nfoo", DC_EPARSE, "invalid header: unsupported scheme"},
        {"\n", DC_EPARSE, "invalid header: invalid format"},
        {"dapr.io/enc/v1\n\n", DC_EPARSE, "invalid header: invalid format"},
        {"dapr.io/enc/v1\n{}", DC_EPARSE, "invalid header: manifest not found"},
        {"dapr.io/enc/v1\nnotjson\nAAAA\n", DC_EPARSE, "invalid header: invalid manifest"},
        {"dapr.io/enc/v1\n{\"wk\":\"foo\"}\nAAAA\n", DC_EPARSE, "invalid header: invalid manifest"},
        /* Unknown ids, a 6-byte nonce prefix, an empty wfk, a string id. */
        {"dapr.io/enc/v1\n{\"kw\":6,\"wfk\":\"AA==\",\"cph\":1,\"np\":\"AAAAAAAAAA==\"}\nA\n",
         DC_EPARSE, "invalid header: invalid manifest"},
        {"dapr.io/enc/v1\n{\"kw\":1,\"wfk\":\"AA==\",\"cph\":3,\"np\":\"AAAAAAAAAA==\"}\nA\n",
         DC_EPARSE, "invalid header: invalid manifest"},
        {"dapr.io/enc/v1\n{\"kw\":1,\"wfk\":\"AA==\",\"cph\":1,\"np\":\"AAAAAAAA\"}\nA\n",
         DC_EPARSE, "invalid header: invalid manifest"},
        {"dapr.io/enc/v1\n{\"kw\":1,\"wfk\":\"\",\"cph\":1,\"np\":\"AAAAAAAAAA==\"}\nA\n",
         DC_EPARSE, "invalid header: invalid manifest"},
        {"dapr.io/enc/v1\n{\"kw\":\"1\",\"wfk\":\"AA==\",\"cph\":1,\"np\":\"AAAAAAAAAA==\"}\nA\n",
         DC_EPARSE, "invalid header: invalid manifest"},
        {"dapr.io/enc/v1\n{\"kw\":1,\"wfk\":\"AA==\",\"cph\":1,\"np\":\"AAAAAAAAAA==\"}\nA\n",
         DC_ENOTFOUND,
         "document's manifest does not contain a key name, and no key name was "
         "provided"},
        /* Keys match case-insensitively, as Go's decoder; a MAC that is not base64. */
        {"dapr.io/enc/v1\n{\"K\":\"x\",\"KW\":1,\"WFK\":\"AA==\",\"Cph\":1,\"nP\":\"AAAAAAAAAA==\"}"
         "\n!!!!\n",
         DC_EPARSE, "failed to decode header's signature: illegal base64 data at input byte 0"},
        {"dapr.io/enc/v1\n{\"k\":\"x\",\"kw\":1,\"wfk\":\"AA==\",\"cph\":1,\"np\":\"AAAAAAAAAA==\"}"
         "\nAAAA\n",
         DC_EPERM, "failed to validate the document's signature"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sdc_enc_decrypt_opts o = {.unwrap = id_unwrap};
        struct dc_buf out = {0};
        struct dc_errbuf eb = {{0}};
        int rv = sdc_enc_decrypt(&o, cases[i].in, strlen(cases[i].in), &out, NULL, &eb);
        if (rv != cases[i].rv || strcmp(eb.msg, cases[i].msg) != 0)
            fail_msg("case %zu: %d %s", i, rv, eb.msg);
        dc_buf_cleanup(&out);
    }
}

static void test_header_limit(void **state)
{
    struct sdc_enc_decrypt_opts o = {.unwrap = id_unwrap};
    struct dc_buf in = {0}, out = {0};
    struct dc_errbuf eb = {{0}};
    (void)state;

    /* No third newline within 64 KiB: upstream stops looking. */
    assert_int_equal(dc_buf_appends(&in, "dapr.io/enc/v1\n{"), DC_OK);
    while (in.len < SDC_ENC_MAX_HEADER + 10)
        assert_int_equal(dc_buf_appendc(&in, ' '), DC_OK);
    assert_int_equal(dc_buf_appends(&in, "}\nAAAA\n"), DC_OK);
    assert_int_equal(decrypt_buf(&o, &in, &out, NULL, &eb), DC_EPARSE);
    assert_string_equal(eb.msg, "invalid header: manifest not found");
    dc_buf_cleanup(&in);
    dc_buf_cleanup(&out);
}

/* ---- options and keys ----------------------------------------------------------------------- */

static void expect_encrypt(const char *key, const char *alg, const char *cipher, int want,
                           const char *msg)
{
    struct sdc_enc_encrypt_opts eo = {
        .key_name = key, .algorithm = alg, .cipher = cipher, .wrap = ls_wrap, .ud = store};
    struct dc_buf enc = {0};
    struct dc_errbuf eb = {{0}};
    int rv = sdc_enc_encrypt(&eo, "x", 1, &enc, &eb);

    if (rv != want || (msg != NULL && strcmp(eb.msg, msg) != 0))
        fail_msg("%s/%s: %d %s", key, alg, rv, eb.msg);
    if (want != DC_OK)
        assert_int_equal(enc.len, 0);
    dc_buf_cleanup(&enc);
}

static void test_options_and_keys(void **state)
{
    char msg[512];
    (void)state;

    expect_encrypt("oct256.json", "a256kw", NULL, DC_EINVAL,
                   "option Algorithm is not valid: algorithm a256kw is not supported");
    expect_encrypt("oct256.json", "A256KW", "AES-CBC", DC_EINVAL,
                   "option Cipher is not valid: cipher AES-CBC is not supported");
    expect_encrypt("", "A256KW", NULL, DC_EINVAL, "option KeyName is required");
    expect_encrypt("x", "", NULL, DC_EINVAL, "option Algorithm is required");
    /* Upstream's scheme passes no IV, so the CBC algorithms cannot wrap (kit crypto). */
    expect_encrypt("oct256.json", "A256CBC-NOPAD", NULL, DC_EINVAL,
                   "failed to wrap the file key: failed to encrypt data: invalid nonce");
    expect_encrypt("oct128.json", "A128CBC-NOPAD", NULL, DC_EINVAL,
                   "failed to wrap the file key: failed to encrypt data: invalid nonce");
    expect_encrypt("oct128.json", "A256KW", NULL, DC_EINVAL,
                   "failed to wrap the file key: failed to encrypt data: key type mismatch");
    expect_encrypt("rsa.pem", "A256KW", NULL, DC_EINVAL,
                   "failed to wrap the file key: failed to encrypt data: key type mismatch");
    expect_encrypt("ec.pem", "RSA-OAEP-256", NULL, DC_EINVAL,
                   "failed to wrap the file key: failed to encrypt data: key type mismatch");
    expect_encrypt("oct256.json", "RSA-OAEP-256", NULL, DC_EINVAL,
                   "failed to wrap the file key: failed to encrypt data: key type mismatch");
    expect_encrypt("kwonly.json", "A256KW", NULL, DC_EINVAL,
                   "failed to wrap the file key: key cannot be used with algorithm 'A256KW'");
    expect_encrypt("signonly.json", "A256KW", NULL, DC_EINVAL,
                   "failed to wrap the file key: key cannot perform the 'wrapKey' operation");
    expect_encrypt("../etc/passwd", "A256KW", NULL, DC_EINVAL,
                   "failed to wrap the file key: failed to retrieve the key encryption key: "
                   "invalid key path: cannot contain '..'");
    snprintf(msg, sizeof(msg),
             "failed to wrap the file key: failed to retrieve the key encryption key: failed "
             "to load key 'nope.pem': open %s/nope.pem: no such file or directory",
             tmpdir);
    expect_encrypt("nope.pem", "A256KW", NULL, DC_EINVAL, msg);
    expect_encrypt("bad.json", "A256KW", NULL, DC_EINVAL, NULL);
    expect_encrypt("oct256.json", "A256KW", "CHACHA20-POLY1305", DC_OK, NULL);
}

static void test_localstorage_init(void **state)
{
    struct sdc_md md = {0};
    struct sdc_init_ctx ctx = {.name = "x"};
    struct dc_errbuf eb = {{0}};
    void *self = NULL;
    char file[128];
    (void)state;

    assert_int_equal(ls_ops()->base.init(&self, &md, &ctx, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "metadata property 'path' is required");
    snprintf(file, sizeof(file), "%s/oct256.json", tmpdir);
    sdc_md_set(&md, "path", file);
    assert_int_equal(ls_ops()->base.init(&self, &md, &ctx, &eb), DC_EINVAL);
    sdc_md_set(&md, "path", "/nonexistent/dir");
    assert_int_equal(ls_ops()->base.init(&self, &md, &ctx, &eb), DC_EINVAL);
    sdc_md_cleanup(&md);
}

static void test_base64(void **state)
{
    static const struct {
        const char *in, *out;
        int rv;
    } cases[] = {
        {"", "", DC_OK},
        {"Zg==", "f", DC_OK},
        {"Zm8=", "fo", DC_OK},
        {"Zm9v", "foo", DC_OK},
        {"Zm\r\n9v\n", "foo", DC_OK},
        {"Zg", NULL, DC_EPARSE},
        {"Zg=", NULL, DC_EPARSE},
        {"Zg==Zg==", NULL, DC_EPARSE},
        {"Z===", NULL, DC_EPARSE},
        {"Zm9v!", NULL, DC_EPARSE},
    };
    struct dc_buf b = {0};
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dc_buf_reset(&b);
        assert_int_equal(dc_base64_decode(&b, cases[i].in, strlen(cases[i].in), NULL), cases[i].rv);
        if (cases[i].out != NULL) {
            assert_int_equal(b.len, strlen(cases[i].out));
            assert_memory_equal(dc_buf_cstr(&b), cases[i].out, b.len);
        }
    }
    dc_buf_reset(&b);
    assert_int_equal(dc_base64_append(&b, (const uint8_t *)"fo", 2), DC_OK);
    assert_string_equal(dc_buf_cstr(&b), "Zm8=");
    dc_buf_cleanup(&b);
    assert_int_equal(sdc_enc_kw_parse("RSA"), SDC_ENC_KW_RSA_OAEP_256);
    assert_string_equal(sdc_enc_kw_name(SDC_ENC_KW_A192CBC_NOPAD), "A192CBC-NOPAD");
    assert_null(sdc_enc_kw_name(SDC_ENC_KW_NONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_vectors),  cmocka_unit_test(test_python_vector),
        cmocka_unit_test(test_round_trips),       cmocka_unit_test(test_manifest_and_key_names),
        cmocka_unit_test(test_tampering),         cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_header_limit),      cmocka_unit_test(test_options_and_keys),
        cmocka_unit_test(test_localstorage_init), cmocka_unit_test(test_base64),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
