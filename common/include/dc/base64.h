#ifndef DC_BASE64_H
#define DC_BASE64_H

/* Base64 (RFC 4648) as Go's encoding/base64 does it, for every place daprc meets it: CloudEvent
 * data_base64, the crypto scheme's header, bindings' data, state values, JWT/JWK parts...
 *
 * dc_base64_append / dc_base64_decode are Go's base64.StdEncoding: standard alphabet, padded;
 * decoding skips '\r' and '\n' anywhere (as Go does) but requires correct padding and nothing
 * but newlines after it. Decoders with other rules (unpadded URL-safe JWT parts, whitespace-
 * tolerant kubeconfig data) use dc_base64_value for the alphabet. Pure and thread-safe. */

#include <stdbool.h>
#include <stddef.h>

#include "dc/buf.h"
#include "dc/err.h"

/* Append the padded standard encoding of `n` bytes at `p` to `b` (NUL-terminated after).
 * DC_OK or DC_ETOOBIG (`b` unchanged). */
int dc_base64_append(struct dc_buf *b, const void *p, size_t n) DC_MUST_CHECK;

/* Append the bytes `n` characters at `s` decode to. DC_OK; DC_EPARSE (bad character, bad
 * padding, data after it) with `*bad_at` (may be NULL) at the offending input byte; or
 * DC_ETOOBIG. On failure `b` is as it was. */
int dc_base64_decode(struct dc_buf *b, const char *s, size_t n, size_t *bad_at) DC_MUST_CHECK;

/* The 6-bit value of `c` in the standard alphabet (`url`: the URL-safe one, '-' and '_'),
 * or -1. */
int dc_base64_value(unsigned char c, bool url);

#endif /* DC_BASE64_H */
