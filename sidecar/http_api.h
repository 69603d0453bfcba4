#ifndef SDC_HTTP_API_H
#define SDC_HTTP_API_H

/* daprd's Dapr HTTP API (sidecar-api.md §1-3, §15): routes on a dc_http_router, served by one
 * dc_http_server per listen address. Handlers only translate between HTTP and the runtime. */

#include "dc/err.h"
#include "dc/http_server.h"

#include "runtime.h"

/* Build the API router for `rt` (borrowed; must outlive the router). */
struct dc_http_router *sdc_http_api_router(struct sdc_runtime *rt);

/* Register a building block's route: the handler gets `rt` as its user data and runs inside
 * the API's middleware (metrics, logging, tracing). For use by the blocks' *_routes(). */
void sdc_http_api_add(struct dc_http_router *router, struct sdc_runtime *rt, const char *method,
                      const char *pattern, dc_http_handler_fn *fn);

/* Build the public-port router (--dapr-public-port): health and metadata only. */
struct dc_http_router *sdc_http_public_router(struct sdc_runtime *rt);

/* Build the metrics router: GET /metrics renders rt->metrics. */
struct dc_http_router *sdc_http_metrics_router(struct sdc_runtime *rt);

#endif /* SDC_HTTP_API_H */
