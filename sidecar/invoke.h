#ifndef SDC_INVOKE_H
#define SDC_INVOKE_H

/* Service invocation (sidecar-api.md §4): the HTTP API handler, the sidecar-to-sidecar internal
 * channel, and the pure addressing rules both use.
 *
 * Paths of a call:
 *   app A -> daprd A (HTTP API, this handler)
 *     - target is this app (same id and namespace): straight to the local app channel;
 *     - target is a full http(s):// URL or an HTTPEndpoint resource: an HTTP call to it;
 *     - otherwise: name resolution -> daprd B's internal channel
 *       (HTTP/1.1 on --dapr-internal-grpc-port: `<VERB> /dapr-internal/v1/invoke/<method>?<q>`
 *        with the caller identity in headers) -> B checks access control -> B's app channel.
 * Remote calls run under the app's resiliency policy; a connection refused by one instance is
 * reported to name resolution and the call moves to another instance at once.
 * Internal protocol headers (never reach an app):
 *   dapr-internal-caller-trust-domain  caller's trust domain (identity, with the two below)
 *   dapr-internal-callee-namespace     the namespace the caller addressed (checked)
 *   dapr-internal-timeout-ms           what is left of the caller's deadline
 *   dapr-internal-error                on a response: the callee sidecar itself failed (ACL
 *                                      denial, app unhealthy...); the value is the message.
 * and the public dapr-caller-app-id / dapr-caller-namespace / dapr-callee-app-id, which the app
 * receives too. Without --enable-mtls the callee trusts these headers (anyone who can reach the
 * internal port can claim any identity); with it the channel is HTTPS with client certificates
 * and the caller's identity is the SPIFFE id of its verified certificate (mtls.h). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/arena.h"
#include "dc/err.h"
#include "dc/http_server.h"

#include "runtime.h"

struct sdc_invoke;

/* ---- Addressing (pure: no I/O, no globals; arena memory for results) ---------------------- */

/* Find the target and the raw (still percent-encoded) method of an invocation (§4.1), in
 * upstream's order: the `dapr-app-id` header (`app_id_header`, may be NULL) with the cleaned
 * path as method; `Authorization: Basic base64("dapr-app-id:<id>")` (`authorization`, may be
 * NULL; user compared case-insensitively); the URL form /v1.0/invoke/<id>/method/<method...>
 * where <id> is query-unescaped. `raw_path` is the request path as received.
 * Returns DC_OK, or DC_ENOTFOUND when no (non-empty) target is given. */
int sdc_invoke_find_target(struct dc_arena *a, const char *raw_path, const char *app_id_header,
                           const char *authorization, const char **target,
                           const char **method) DC_MUST_CHECK;

/* Normalise a raw method (upstream's NormalizeMethod, applied to both the raw text and its
 * percent-decoding): '#', '?', NUL and control bytes are errors; "." and ".." segments (also
 * when percent-encoded) are resolved and leading ".." dropped; empty segments collapse; one
 * trailing '/' is kept. `*wire` is the result as it goes into a URL (escapes kept, bytes that
 * are not URL-safe percent-encoded); `*decoded` its decoding (for access control).
 * Returns DC_OK or DC_EINVAL with upstream's message in `eb`. */
int sdc_invoke_normalize_method(struct dc_arena *a, const char *raw, const char **wire,
                                const char **decoded, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Split an app id target: "app" (namespace NULL: the caller's own) or "app.namespace". Each part
 * must be 1-253 bytes of [A-Za-z0-9_-]. Returns DC_OK or DC_EINVAL ("invalid app id <id>"). */
int sdc_invoke_split_app_id(struct dc_arena *a, const char *target, const char **app_id,
                            const char **ns, struct dc_errbuf *eb) DC_MUST_CHECK;

/* True for the verbs upstream forwards (GET HEAD POST PUT DELETE OPTIONS TRACE PATCH). */
bool sdc_invoke_verb_ok(const char *verb);

/* True when request header `name` must not be forwarded to the next hop: hop-by-hop headers
 * (and those listed in `connection`, the request's Connection header, may be NULL), names
 * ending in "-bin", dapr-app-id, destination-app-id, dapr-api-token, the dapr-caller-* and
 * dapr-callee-app-id headers that the sidecar sets itself, dapr-internal-*, and the ones the
 * HTTP client computes (Host, Content-Length, Expect). */
bool sdc_invoke_header_dropped(const char *name, const char *connection);

/* True when response header `name` must not be passed back (hop-by-hop, dapr-internal-*). */
bool sdc_invoke_resp_header_dropped(const char *name, const char *connection);

/* ---- The runtime module ------------------------------------------------------------------- */

/* Set up invocation for `rt` (borrowed; outlives the module): clients for peers and external
 * URLs, the internal server's router, host address and name for X-Forwarded-*. Starts nothing.
 * `*out` is owned by the caller. Returns DC_OK or DC_EIO. */
int sdc_invoke_new(struct sdc_invoke **out, struct sdc_runtime *rt,
                   struct dc_errbuf *eb) DC_MUST_CHECK;

/* Start the internal server on --dapr-internal-grpc-port (or the port derived from the app id;
 * when that derived port is taken, an ephemeral one) and
 * --dapr-internal-grpc-listen-address. Returns what dc_http_server_start returns. */
int sdc_invoke_listen(struct sdc_invoke *inv, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The bound internal port (0 before sdc_invoke_listen): what name resolution must register. */
int sdc_invoke_internal_port(const struct sdc_invoke *inv);

/* Stop the internal server (waits for running handlers) and free. NULL is a no-op. The API
 * servers that call sdc_invoke_http_handler must be stopped first. */
void sdc_invoke_free(struct sdc_invoke *inv);

/* The Dapr HTTP API's fallback handler (§1.3): `ud` is the struct sdc_runtime. Any verb, any
 * unmatched path. Runs on a server thread; blocks for the duration of the call. */
void sdc_invoke_http_handler(struct dc_http_request *req, struct dc_http_response *resp, void *ud);

#endif /* SDC_INVOKE_H */
