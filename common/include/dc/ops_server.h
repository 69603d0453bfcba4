#ifndef DC_OPS_SERVER_H
#define DC_OPS_SERVER_H

/* The operational HTTP servers of a control-plane service: a health server answering
 * GET /healthz with 200 when the service is ready and 503 otherwise (empty body), and an
 * optional metrics server answering GET /metrics with a dc_metrics registry in the Prometheus
 * text format (500 when rendering fails). Anything else is the router's 404/405.
 *
 * Ownership: the registry is borrowed and must outlive the ops server. dc_ops_server_new builds
 * the routers without sockets (tests dispatch through them); dc_ops_server_start binds.
 *
 * Thread: dc_ops_server_set_ready and the handlers may run on any thread (an atomic flag);
 * _new, _start and _free must not race with each other. This module does not log: the caller
 * logs the bound ports (dc_ops_server_health_port, dc_ops_server_metrics_port). */

#include <stdbool.h>
#include <stdint.h>

#include "dc/err.h"
#include "dc/http_server.h"
#include "dc/metrics.h"

struct dc_ops_server;

/* Where to listen; "" or NULL address = all interfaces, port 0 = an ephemeral port. */
struct dc_ops_server_opts {
    const char *health_address;
    uint16_t health_port;
    bool enable_metrics; /* false: no metrics server */
    const char *metrics_address;
    uint16_t metrics_port;
    unsigned idle_timeout_s; /* close idle connections after this long; 0 = never */
};

/* Routers for `metrics` (borrowed), not ready, no sockets. Never NULL (aborts on OOM). */
struct dc_ops_server *dc_ops_server_new(struct dc_metrics *metrics);

/* Start the health server, then the metrics server when enabled, one thread each. Returns DC_OK
 * or the dc_http_server_start error prefixed with "healthz server" or "metrics server" (e.g.
 * DC_EEXIST, port in use); a server already started stays up until dc_ops_server_free. Call
 * once. */
int dc_ops_server_start(struct dc_ops_server *o, const struct dc_ops_server_opts *opts,
                        struct dc_errbuf *eb) DC_MUST_CHECK;

/* Set what /healthz reports (false until set). */
void dc_ops_server_set_ready(struct dc_ops_server *o, bool ready);
bool dc_ops_server_ready(const struct dc_ops_server *o);

/* The routers, for socketless tests. */
const struct dc_http_router *dc_ops_server_health_router(const struct dc_ops_server *o);
const struct dc_http_router *dc_ops_server_metrics_router(const struct dc_ops_server *o);

/* The bound ports; 0 when that server is not running. */
uint16_t dc_ops_server_health_port(const struct dc_ops_server *o);
uint16_t dc_ops_server_metrics_port(const struct dc_ops_server *o);

/* Stop the servers and free. NULL is a no-op. */
void dc_ops_server_free(struct dc_ops_server *o);

#endif
