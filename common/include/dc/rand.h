#ifndef DC_RAND_H
#define DC_RAND_H

/* Random bytes and ids from the kernel (getrandom(2)), and a small SHA-256, for the places that
 * need unpredictable ids or a stable digest but no key material: UUIDs of events and
 * registrations, trace and span ids, the stable internal port. They keep OpenSSL out of a
 * sidecar that does not use TLS or the crypto API: initialising libcrypto makes ~3.5 MB of its
 * pages resident (docs/benchmarks.md, "Memory"). Keys, nonces of ciphers and anything an
 * attacker must not predict together with a key stay on OpenSSL (RAND_bytes).
 *
 * Every function is thread-safe and allocates nothing. */

#include <stddef.h>
#include <stdint.h>

#include "dc/err.h"

#define DC_UUID_LEN 37 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" and the NUL */
#define DC_SHA256_LEN 32

/* Fill `buf` with `n` bytes from the kernel's CSPRNG (getrandom, blocking only until the pool
 * is first initialised at boot). Returns DC_OK, or DC_EIO when the kernel refuses (no
 * getrandom); `buf` is then unspecified. */
int dc_rand_bytes(void *buf, size_t n) DC_MUST_CHECK;

/* 64 random bits; if the kernel refuses, a mix of the clocks and the pid (unique, not
 * unpredictable). */
uint64_t dc_rand64(void);

/* A random (version 4) UUID in lower-case text, as Go's uuid.NewString(); falls back as
 * dc_rand64 does. Always NUL-terminated. */
void dc_uuid4(char out[DC_UUID_LEN]);

/* SHA-256 (FIPS 180-4) of `len` bytes at `data` into `md`. Meant for digests that are
 * identifiers (the stable internal port); security code keeps using OpenSSL. */
void dc_sha256(const void *data, size_t len, unsigned char md[DC_SHA256_LEN]);

#endif
