#ifndef SDC_CRYPTO_SCHEME_H
#define SDC_CRYPTO_SCHEME_H

/* The dapr.io/enc/v1 encryption scheme (sidecar-api.md §11; dapr/kit schemes/enc/v1/README.md),
 * byte-compatible with upstream in both directions.
 *
 * Ciphertext = header || segments. The header is three '\n'-terminated lines: "dapr.io/enc/v1",
 * the compact JSON manifest {"k":<key name, omitted when empty>,"kw":<wrap id>,"wfk":<base64
 * wrapped file key>,"cph":<cipher id>,"np":<base64 7-byte nonce prefix>}, and the standard
 * base64 of HMAC-SHA-256(HKDF-SHA-256(file key, salt empty, info "header"), first two lines).
 * The plaintext is cut into 64 KiB segments (the last may be shorter; none is empty, and an
 * empty plaintext has no segment at all), each sealed with AES-256-GCM or ChaCha20-Poly1305
 * under HKDF-SHA-256(file key, salt = nonce prefix, info "payload") with the 12-byte nonce
 * prefix || big-endian segment number || (1 on the last segment, else 0), tag appended.
 *
 * The stream API is push-based and bounded: a stream holds at most one segment (64 KiB + 16)
 * and, while decrypting, a header of at most 64 KiB, whatever the input size. Output is
 * appended to a caller's dc_buf; plaintext is only ever appended after its segment verified.
 *
 * Error messages are upstream's (the Go errors that daprd puts after "failed to perform
 * operation: "), so the HTTP layer can answer with them verbatim.
 *
 * Pure apart from OpenSSL (EVP, RAND_bytes for the file key and nonce prefix); thread-safe for
 * distinct streams. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/buf.h"
#include "dc/err.h"

#define SDC_ENC_SCHEME "dapr.io/enc/v1"
#define SDC_ENC_SEGMENT_SIZE 65536u /* plaintext bytes per segment */
#define SDC_ENC_TAG_SIZE 16u        /* AEAD tag appended to each segment */
#define SDC_ENC_FILE_KEY_SIZE 32u
#define SDC_ENC_NONCE_PREFIX_SIZE 7u
#define SDC_ENC_MAX_HEADER 65536u /* upstream refuses to write or look further for a header */

/* Key wrapping algorithms with their manifest ids (kit algorithms.go). */
enum sdc_enc_kw {
    SDC_ENC_KW_NONE = 0,
    SDC_ENC_KW_A256KW = 1,
    SDC_ENC_KW_A128CBC_NOPAD = 2,
    SDC_ENC_KW_A192CBC_NOPAD = 3,
    SDC_ENC_KW_A256CBC_NOPAD = 4,
    SDC_ENC_KW_RSA_OAEP_256 = 5,
};

/* Data encryption ciphers with their manifest ids (kit ciphers.go). */
enum sdc_enc_cipher {
    SDC_ENC_CIPHER_NONE = 0,
    SDC_ENC_CIPHER_AES_GCM = 1,
    SDC_ENC_CIPHER_CHACHA20_POLY1305 = 2,
};

/* The algorithm named `name` (exact, case-sensitive: "A256KW", "A128CBC-NOPAD",
 * "A192CBC-NOPAD", "A256CBC-NOPAD", "RSA-OAEP-256", and the aliases "AES" = A256KW and
 * "RSA" = RSA-OAEP-256), or SDC_ENC_KW_NONE. */
enum sdc_enc_kw sdc_enc_kw_parse(const char *name);
/* The canonical name of `kw` ("A256KW"...), or NULL for an unknown value. */
const char *sdc_enc_kw_name(enum sdc_enc_kw kw);
/* The cipher named `name` ("AES-GCM" or "CHACHA20-POLY1305", exact), or SDC_ENC_CIPHER_NONE. */
enum sdc_enc_cipher sdc_enc_cipher_parse(const char *name);

/* Wraps the file key `fk` (`fk_len` bytes) with the key `key_name` and the algorithm `alg`
 * (canonical name), appending the wrapped key to `out`. Returns DC_OK or an error with `eb`
 * holding the message upstream's component would give. Called once, from
 * sdc_enc_encrypt_new. */
typedef int sdc_enc_wrap_fn(void *ud, const char *alg, const char *key_name, const uint8_t *fk,
                            size_t fk_len, struct dc_buf *out, struct dc_errbuf *eb);
/* Unwraps `wfk` with the key `key_name` and `alg`, appending the file key to `out`. Failures
 * are deliberately not reported to the caller of the scheme (upstream hides them behind the
 * header MAC check), but `eb` is kept for the stream's debug message. */
typedef int sdc_enc_unwrap_fn(void *ud, const char *alg, const char *key_name, const uint8_t *wfk,
                              size_t wfk_len, struct dc_buf *out, struct dc_errbuf *eb);

struct sdc_enc_encrypt_opts {
    const char *key_name;            /* required: the wrapping key */
    const char *algorithm;           /* required: wrap algorithm name or alias */
    const char *cipher;              /* NULL or "" = AES-GCM */
    const char *decryption_key_name; /* NULL or "" = key_name; stored in the manifest */
    bool omit_key_name;              /* store no key name at all */
    sdc_enc_wrap_fn *wrap;
    void *ud;
};

struct sdc_enc_decrypt_opts {
    const char *key_name; /* NULL or "" = the manifest's key name */
    sdc_enc_unwrap_fn *unwrap;
    void *ud;
};

struct sdc_enc_stream;

/* Start encrypting: validate `o`, draw the file key, wrap it, and append the header to `dst`.
 * On success `*out` is a new stream owned by the caller (sdc_enc_free). `o` is borrowed for
 * this call only.
 * Returns DC_OK, DC_EINVAL (missing or unsupported option; wrap failure with the wrapper's
 * message after "failed to wrap the file key: "), DC_ETOOBIG (`dst` limit; header over 64 KiB)
 * or DC_EINTERNAL (OpenSSL). */
int sdc_enc_encrypt_new(struct sdc_enc_stream **out, const struct sdc_enc_encrypt_opts *o,
                        struct dc_buf *dst, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Start decrypting with `o` (borrowed for this call; the unwrap callback and its `ud` must
 * stay valid until the header has been consumed by sdc_enc_update/sdc_enc_final). On success
 * `*out` is a new stream owned by the caller. Returns DC_OK or DC_EINVAL (no unwrap fn). */
int sdc_enc_decrypt_new(struct sdc_enc_stream **out, const struct sdc_enc_decrypt_opts *o,
                        struct dc_errbuf *eb) DC_MUST_CHECK;

/* Feed `len` bytes of input; whatever output became final is appended to `dst`.
 * Returns DC_OK; for decryption DC_EPARSE (bad header or manifest), DC_ENOTFOUND (no key
 * name), DC_EPERM (header MAC mismatch: wrong key, or tampered header), DC_EIO (a segment
 * failed to authenticate); DC_ETOOBIG (`dst` limit) or DC_EINTERNAL (OpenSSL). After an error
 * the stream only accepts sdc_enc_free; `dst` keeps only verified output. */
int sdc_enc_update(struct sdc_enc_stream *s, const void *in, size_t len, struct dc_buf *dst,
                   struct dc_errbuf *eb) DC_MUST_CHECK;

/* End of input: seal or open the last segment into `dst`. Same errors as sdc_enc_update; a
 * decryption stream that ends inside its header fails with DC_EPARSE. */
int sdc_enc_final(struct sdc_enc_stream *s, struct dc_buf *dst, struct dc_errbuf *eb) DC_MUST_CHECK;

/* True once a decryption stream has accepted its header (then later failures are segment
 * failures, which upstream reports differently); always true for encryption streams. */
bool sdc_enc_header_done(const struct sdc_enc_stream *s);

/* Wipe and free. NULL is a no-op. */
void sdc_enc_free(struct sdc_enc_stream *s);

/* One-shot helpers over the stream API: the whole input at once. For decryption `*header_ok`
 * (may be NULL) tells whether a failure happened after the header was accepted. */
int sdc_enc_encrypt(const struct sdc_enc_encrypt_opts *o, const void *in, size_t len,
                    struct dc_buf *dst, struct dc_errbuf *eb) DC_MUST_CHECK;
int sdc_enc_decrypt(const struct sdc_enc_decrypt_opts *o, const void *in, size_t len,
                    struct dc_buf *dst, bool *header_ok, struct dc_errbuf *eb) DC_MUST_CHECK;

#endif /* SDC_CRYPTO_SCHEME_H */
