#ifndef SDC_CRYPTO_H
#define SDC_CRYPTO_H

/* The cryptography building block (alpha; sidecar-api.md §11, §22.7): the crypto component
 * contract (the key-wrapping part of components-contrib's SubtleCrypto, in C) and the HTTP API
 * PUT /v1.0-alpha1/crypto/{name}/encrypt and /decrypt, which stream the request body through
 * the dapr.io/enc/v1 scheme (crypto_scheme.h) with the component wrapping the file key. */

#include <stddef.h>
#include <stdint.h>

#include "dc/buf.h"
#include "dc/err.h"
#include "dc/http_server.h"

#include "component.h"

struct sdc_runtime;

/* Operations of a crypto component type. Instances must be safe to call from many threads.
 *
 * wrap_key: encrypt the key material `pt` (`pt_len` bytes; the scheme's 32-byte file key) with
 * the component's key `key_name` and the algorithm `alg` (a JWA name such as "A256KW",
 * "A128CBC-NOPAD", "RSA-OAEP-256"), appending the wrapped bytes to `out`. `nonce` (may be
 * NULL, `nonce_len` 0) is the IV for algorithms that take one. Errors carry upstream's
 * messages in `eb` ("failed to retrieve the key encryption key: ...", "key cannot be used
 * with algorithm '...'", "failed to encrypt data: key type mismatch"...). Returns DC_OK,
 * DC_ENOTFOUND (no such key), DC_EINVAL (key/algorithm/op mismatch, bad key file),
 * DC_EINTERNAL (OpenSSL).
 *
 * unwrap_key: the reverse, appending the plaintext key material to `out`; same errors, and
 * DC_EPERM when the wrapped key does not authenticate or decrypt. */
struct sdc_crypto_ops {
    struct sdc_component_ops base;
    int (*wrap_key)(void *self, const char *alg, const char *key_name, const uint8_t *pt,
                    size_t pt_len, const uint8_t *nonce, size_t nonce_len, struct dc_buf *out,
                    struct dc_errbuf *eb);
    int (*unwrap_key)(void *self, const char *alg, const char *key_name, const uint8_t *ct,
                      size_t ct_len, const uint8_t *nonce, size_t nonce_len, struct dc_buf *out,
                      struct dc_errbuf *eb);
};

/* Register the crypto routes on the API router (one call from sdc_http_api_router). */
void sdc_crypto_api_routes(struct dc_http_router *r, struct sdc_runtime *rt);

#endif /* SDC_CRYPTO_H */
