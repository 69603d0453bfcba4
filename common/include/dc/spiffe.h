#ifndef DC_SPIFFE_H
#define DC_SPIFFE_H

/* SPIFFE ids in Dapr's form spiffe://<trust-domain>/ns/<namespace>/<app-id> (SPIFFE-ID spec §2,
 * §2.1-2.3), the id of an X.509-SVID, and a CSR carrying one: what sentry checks and signs and
 * what every workload identity client (dc/identity.h: daprd, the injector) asks for. Pure
 * functions, reentrant. */

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dc/buf.h"
#include "dc/err.h"

/* Longest SPIFFE id (SPIFFE-ID spec §2.4: URIs up to 2048 bytes) and trust domain (§2.1). */
#define DC_SPIFFE_MAX_LEN 2048
#define DC_SPIFFE_MAX_TD 255
/* Longest namespace or app id kept in struct dc_spiffe_id (longer ones are DC_ETOOBIG). */
#define DC_SPIFFE_MAX_SEGMENT 255

struct dc_spiffe_id {
    char trust_domain[DC_SPIFFE_MAX_TD + 1];
    char ns[DC_SPIFFE_MAX_SEGMENT + 1];
    char app_id[DC_SPIFFE_MAX_SEGMENT + 1];
};

/* Check a trust domain name: 1-255 characters of [a-z0-9._-] (spec §2.1: lower case only, no
 * port, no user info). Returns DC_OK, DC_EINVAL, DC_ETOOBIG. */
int dc_spiffe_td_check(const char *td, size_t len, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Check one path segment: non-empty, not "." or "..", characters [a-zA-Z0-9._-] (spec §2.2).
 * Returns DC_OK, DC_EINVAL. */
int dc_spiffe_segment_check(const char *seg, size_t len, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Check any SPIFFE id: scheme "spiffe://" (lower case), trust domain, optional path of valid
 * segments, no trailing "/", no query, fragment, percent-encoding, port or user info, at most
 * DC_SPIFFE_MAX_LEN bytes. `uri` need not be NUL-terminated. Returns DC_OK, DC_EINVAL,
 * DC_ETOOBIG. */
int dc_spiffe_check(const char *uri, size_t len, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Parse a Dapr SPIFFE id. After dc_spiffe_check, the path must be /ns/<namespace>/<app-id>;
 * further segments are accepted and ignored, as upstream (pkg/security/spiffe FromGRPCContext)
 * keeps room for future identifiers. `*out` is filled only on success.
 * Returns DC_OK, DC_EINVAL (malformed), DC_ETOOBIG (over the limits above). */
int dc_spiffe_parse(const char *uri, size_t len, struct dc_spiffe_id *out,
                    struct dc_errbuf *eb) DC_MUST_CHECK;

/* Build an id from its parts after checking each (trust domain rules, segment rules). The
 * strings are copied. Returns DC_OK, DC_EINVAL, DC_ETOOBIG. */
int dc_spiffe_build(struct dc_spiffe_id *out, const char *td, const char *ns, const char *app_id,
                    struct dc_errbuf *eb) DC_MUST_CHECK;

/* Write "spiffe://<td>/ns/<ns>/<app-id>" into `out` (capacity `cap`, NUL-terminated).
 * Returns the length, or DC_ETOOBIG when it does not fit. */
int dc_spiffe_format(const struct dc_spiffe_id *id, char *out, size_t cap);

/* True when both ids are equal (trust domain, namespace and app id). */
bool dc_spiffe_equal(const struct dc_spiffe_id *a, const struct dc_spiffe_id *b);

/* The SPIFFE id of an X.509-SVID (SPIFFE X509-SVID spec §2: exactly one URI SAN, which must be a
 * SPIFFE id; here also of Dapr form). `cert` is borrowed. For daprd's peer checks.
 * Returns DC_OK, DC_ENOTFOUND (no URI SAN), DC_EINVAL (several URI SANs, malformed id). */
int dc_spiffe_from_cert(const X509 *cert, struct dc_spiffe_id *out,
                        struct dc_errbuf *eb) DC_MUST_CHECK;

/* Make a CSR for `key` (PEM, appended to `out`), with the SPIFFE id `uri` (may be NULL) as URI
 * SAN. For identity clients and tests. Returns DC_OK, DC_ETLS, DC_ETOOBIG (buffer limit). */
int dc_spiffe_csr_make(EVP_PKEY *key, const char *uri, struct dc_buf *out,
                       struct dc_errbuf *eb) DC_MUST_CHECK;

#endif /* DC_SPIFFE_H */
