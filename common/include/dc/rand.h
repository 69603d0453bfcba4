#ifndef DC_RAND_H
#define DC_RAND_H

/* Random bytes and ids from the kernel (getrandom(2)), for the places that need unpredictable
 * ids but no key material: UUIDs of events and registrations, trace and span ids. They keep OpenSSL
 * out of a sidecar that does not use TLS or the crypto API: initialising libcrypto makes ~3.5 MB of
 * its pages resident (docs/benchmarks.md, "Memory"). Keys, nonces of ciphers and anything an
 * attacker must not predict together with a key stay on OpenSSL (RAND_bytes).
 *
 * Every function is thread-safe and allocates nothing. */

#include <stddef.h>
#include <stdint.h>

#include "dc/err.h"

#define DC_UUID_LEN 37 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" and the NUL */

/* Fill `buf` with `n` bytes from the kernel's CSPRNG (getrandom, blocking only until the pool
 * is first initialised at boot). Returns DC_OK, or DC_EIO when the kernel refuses (no
 * getrandom); `buf` is then unspecified. */
int dc_rand_bytes(void *buf, size_t n) DC_MUST_CHECK;

/* 64 random bits; if the kernel refuses, a mix of the clocks and the pid (unique, not
 * unpredictable). */
uint64_t dc_rand64(void);

/* A random (version 4) UUID in lower-case text, as Go's uuid.NewString(); falls back as
 * dc_rand64 does. Always NUL-terminated. The bytes come from a per-thread pool refilled from
 * the kernel every 16 ids (one syscall per 16 events); a process must not fork after drawing
 * ids (the child would repeat its parent's). */
void dc_uuid4(char out[DC_UUID_LEN]);

#endif
