/* The Dapr HTTP API routes of the foundation: health, metadata, shutdown, and the service
 * invocation fallback (building blocks add their routes in later modules). */
#include "http_api.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/log.h"
#include "dc/str.h"
#include "dc/time.h"

#include "invoke.h"

/* Every route goes through one trampoline that records upstream's HTTP server metrics. */
struct route {
    struct sdc_runtime *rt;
    dc_http_handler_fn *fn;
    const char *metric_path; /* the route template: bounded label cardinality */
};

static void handle_metered(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const struct route *r = ud;
    int64_t t0 = dc_mono_ns();
    char status[8];
    const char *labels[4];

    r->fn(req, resp, r->rt);
    snprintf(status, sizeof(status), "%d", resp->status);
    labels[0] = r->rt->cfg->app_id;
    labels[1] = req->method;
    labels[2] = r->metric_path;
    labels[3] = status;
    dc_metric_inc(r->rt->m_http_count, labels, 1);
    dc_metric_observe(r->rt->m_http_latency, labels, (double)(dc_mono_ns() - t0) / 1e6);
}

static void add(struct dc_http_router *router, struct sdc_runtime *rt, const char *method,
                const char *pattern, dc_http_handler_fn *fn)
{
    /* Route records live as long as the process: the router is built once at startup. */
    static struct route routes[32];
    static size_t nroutes;

    DC_ASSERT(nroutes < sizeof(routes) / sizeof(routes[0]));
    routes[nroutes] = (struct route){.rt = rt, .fn = fn, .metric_path = pattern};
    DC_ASSERT(dc_http_router_add(router, method, pattern, handle_metered, &routes[nroutes]) ==
              DC_OK);
    nroutes++;
}

/* GET /v1.0/healthz: 204 once the sidecar is fully ready (§2). */
static void on_healthz(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *appid = dc_http_request_query(req, "appid");

    if (appid != NULL && !dc_str_eq(appid, rt->cfg->app_id)) {
        dc_http_response_error(resp, 500, "ERR_HEALTH_APPID_NOT_MATCH",
                               "dapr app-id does not match");
        return;
    }
    if (!atomic_load(&rt->ready)) {
        dc_http_response_error(resp, 500, "ERR_HEALTH_NOT_READY", "dapr is not ready");
        return;
    }
    resp->status = 204;
}

/* GET /v1.0/healthz/outbound: components and API up, app not required. */
static void on_healthz_outbound(struct dc_http_request *req, struct dc_http_response *resp,
                                void *ud)
{
    struct sdc_runtime *rt = ud;

    (void)req;
    if (!atomic_load(&rt->outbound_ready)) {
        dc_http_response_error(resp, 500, "ERR_OUTBOUND_HEALTH_NOT_READY", "dapr is not ready");
        return;
    }
    resp->status = 204;
}

static void on_metadata_get(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    struct dc_buf b = {0};

    (void)req;
    if (sdc_runtime_metadata_json(rt, &b) != DC_OK ||
        dc_http_response_body(resp, b.data, b.len, "application/json") != DC_OK) {
        dc_http_response_error(resp, 500, "ERR_METADATA_GET", "failed to get metadata");
    } else {
        resp->status = 200;
    }
    dc_buf_cleanup(&b);
}

static void on_metadata_put(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *key = dc_http_request_param(req, "key");

    if (req->body_too_large) {
        dc_http_response_error(resp, 400, "ERR_BODY_READ", "request body too large");
        return;
    }
    if (sdc_runtime_set_extended(rt, key, req->body != NULL ? req->body : "", req->body_len) !=
        DC_OK) {
        dc_http_response_error(resp, 400, "ERR_BAD_REQUEST", "too many metadata attributes");
        return;
    }
    resp->status = 204;
}

/* POST /v1.0/shutdown: answer 204, then shut down gracefully (§15). */
static void on_shutdown(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *force = dc_http_request_header(req, "dapr-force-shutdown");

    resp->status = 204;
    sdc_runtime_request_shutdown(rt, force != NULL && dc_str_eq_ci(force, "true"));
}

struct dc_http_router *sdc_http_api_router(struct sdc_runtime *rt)
{
    struct dc_http_router *r = dc_http_router_new();

    add(r, rt, "GET", "/v1.0/healthz", on_healthz);
    add(r, rt, "GET", "/v1.0/healthz/outbound", on_healthz_outbound);
    add(r, rt, "GET", "/v1.0/metadata", on_metadata_get);
    add(r, rt, "PUT", "/v1.0/metadata/{key}", on_metadata_put);
    add(r, rt, "POST", "/v1.0/shutdown", on_shutdown);
    /* Building blocks register their routes here, one line each. */
    /* Anything unmatched is a service invocation (§1.3). */
    dc_http_router_set_fallback(r, sdc_invoke_http_handler, rt);
    return r;
}

static void on_metrics(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    struct dc_buf b = {0};

    (void)req;
    if (dc_metrics_render(rt->metrics, &b) != DC_OK ||
        dc_http_response_body(resp, b.data, b.len, "text/plain; version=0.0.4; charset=utf-8") !=
            DC_OK) {
        resp->status = 500;
    } else {
        resp->status = 200;
    }
    dc_buf_cleanup(&b);
}

struct dc_http_router *sdc_http_metrics_router(struct sdc_runtime *rt)
{
    struct dc_http_router *r = dc_http_router_new();

    DC_ASSERT(dc_http_router_add(r, "GET", "/metrics", on_metrics, rt) == DC_OK);
    return r;
}
