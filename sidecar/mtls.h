#ifndef SDC_MTLS_H
#define SDC_MTLS_H

/* Mutual TLS on the sidecar-to-sidecar channel (invoke.c's internal server and client), with
 * the workload identity of identity.h:
 *   - server: presents the current certificate (rotated with dc_http_server_set_tls), asks
 *     every caller for its certificate, verifies the chain against the current trust anchors
 *     and takes the caller's identity from its SPIFFE id (sidecar-api.md §20.3) - never from
 *     a header;
 *   - client: presents the current certificate, trusts only the anchors and requires the
 *     callee's SPIFFE id to name the app and namespace it meant to call (any trust domain, as
 *     upstream's GRPCDialOptionMTLSUnknownTrustDomain).
 * Verified client certificates are remembered (by their exact bytes, for the current anchors
 * and until they expire), so a keep-alive caller costs one hash and one memcmp per request. */

#include <stdbool.h>
#include <stddef.h>

#include "dc/arena.h"
#include "dc/err.h"
#include "dc/http_client.h"
#include "dc/http_server.h"

#include "dc/identity.h"

struct sdc_mtls;

/* New, using `id` (borrowed; must outlive the object). Never NULL. */
struct sdc_mtls *sdc_mtls_new(struct dc_identity *id);

/* Detach from the server (waits for a certificate swap in progress) and free. NULL is a
 * no-op. */
void sdc_mtls_free(struct sdc_mtls *m);

/* Fill the TLS fields of the internal server's options: certificate chain, key and the anchors
 * as client CA list. The strings stay valid until sdc_mtls_free. */
void sdc_mtls_server_opts(struct sdc_mtls *m, struct dc_http_server_opts *o);

/* From now on swap `srv`'s certificate whenever the identity publishes a new one (on the
 * identity's thread). NULL detaches; when it returns no swap is running. */
void sdc_mtls_attach_server(struct sdc_mtls *m, struct dc_http_server *srv);

/* The verified identity of the caller of `req` (a request of the internal server). Returns
 * DC_OK, or DC_EPERM with the reason (no certificate, does not chain to the anchors, expired,
 * no SPIFFE id). Thread-safe; runs on server threads. */
int sdc_mtls_peer(struct sdc_mtls *m, const struct dc_http_request *req, struct dc_spiffe_id *out,
                  struct dc_errbuf *eb) DC_MUST_CHECK;

/* Fill the TLS fields of `hc` for a call to the sidecar of `app_id` in `ns`: the current
 * certificate (a snapshot reference released when `a` is cleaned up), the anchors, and the
 * check of the callee's SPIFFE id. Strings are copied into `a`. Thread-safe. */
void sdc_mtls_client_call(struct sdc_mtls *m, struct dc_http_call *hc, const char *app_id,
                          const char *ns, struct dc_arena *a);

#endif /* SDC_MTLS_H */
