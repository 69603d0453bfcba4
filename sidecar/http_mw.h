#ifndef SDC_HTTP_MW_H
#define SDC_HTTP_MW_H

/* Cross-cutting behaviour of the Dapr HTTP API (sidecar-api.md §1.2): body limit, CORS, API token
 * auth (before routing), and after each request its metrics, API log line and trace context.
 * Settings are computed once at startup; the functions are thread-safe. */

#include <stdbool.h>
#include <stdint.h>

#include "dc/http_server.h"

#include "runtime.h"

struct sdc_http_mw {
    struct sdc_runtime *rt;
    const char *api_token; /* DAPR_API_TOKEN or NULL */
    char **origins;        /* --allowed-origins list; NULL: CORS off */
    size_t norigins;
    bool cors_any;        /* "*" */
    bool api_logging;     /* --enable-api-logging or logging.apiLogging.enabled */
    bool log_omit_health; /* logging.apiLogging.omitHealthChecks */
    bool log_obfuscate;   /* logging.apiLogging.obfuscateURLs: log the route template */
    bool tracing;         /* tracing.samplingRate > 0 */
};

/* Compute the settings from the flags, environment and Configuration of `rt`. */
void sdc_http_mw_init(struct sdc_http_mw *mw, struct sdc_runtime *rt);
void sdc_http_mw_cleanup(struct sdc_http_mw *mw);

/* The router's pre hook (ud = struct sdc_http_mw): answers oversize bodies (400 ERR_BODY_READ),
 * CORS preflights, and requests without the right dapr-api-token (401 "invalid api token\n";
 * GET /v1.0/healthz and /v1.0/healthz/outbound are exempt); strips dapr-api-token otherwise. */
bool sdc_http_mw_pre(struct dc_http_request *req, struct dc_http_response *resp, void *ud);

/* After a handler ran: metrics with `route` as the path label (NULL: the fallback, labelled
 * by its method only), the API log line, the response traceparent. `t0` is dc_mono_ns() at
 * the start. `mw` NULL (a router built without the middleware, in tests) does nothing. */
void sdc_http_mw_post(struct sdc_http_mw *mw, struct dc_http_request *req,
                      struct dc_http_response *resp, const char *route, int64_t t0);

/* W3C trace context: parse a traceparent header ("00-<trace 32 hex>-<span 16 hex>-<flags 2
 * hex>"); true when valid. `trace_id` gets 33 bytes, `flags` 3. */
bool sdc_traceparent_parse(const char *tp, char *trace_id, char *flags);

#endif /* SDC_HTTP_MW_H */
