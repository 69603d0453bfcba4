/* The Dapr HTTP API routes of the foundation: health, metadata, shutdown, and the service
 * invocation fallback (building blocks add their routes in later modules). */
#include "http_api.h"

#include "http_mw.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "configuration.h"
#include "crypto.h"
#include "bindings.h"
#include "invoke.h"
#include "lock.h"
#include "pubsub_api.h"
#include "secrets.h"
#include "state_api.h"

/* Every route goes through one trampoline that runs the post-request middleware (metrics with
 * the route template as the path label, API logging, trace context). */
struct route {
    struct sdc_runtime *rt;
    dc_http_handler_fn *fn;
    const char *metric_path; /* the route template; NULL for the invocation fallback */
};

static void handle_observed(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const struct route *r = ud;
    int64_t t0 = dc_mono_ns();

    r->fn(req, resp, r->rt);
    sdc_http_mw_post(r->rt->http_mw, req, resp, r->metric_path, t0);
}

static struct route *new_route(struct sdc_runtime *rt, const char *pattern, dc_http_handler_fn *fn)
{
    /* Route records live as long as the process (routers are built once at startup; unit tests
     * build a few). They stay reachable from this list, so leak checkers stay quiet. */
    struct route_rec {
        struct route_rec *next;
        struct route r;
    };
    static struct route_rec *all;
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct route_rec *rec = dc_xcalloc(1, sizeof(*rec));

    rec->r = (struct route){.rt = rt, .fn = fn, .metric_path = pattern};
    pthread_mutex_lock(&mu);
    rec->next = all;
    all = rec;
    pthread_mutex_unlock(&mu);
    return &rec->r;
}

static void add(struct dc_http_router *router, struct sdc_runtime *rt, const char *method,
                const char *pattern, dc_http_handler_fn *fn)
{
    DC_ASSERT(dc_http_router_add(router, method, pattern, handle_observed,
                                 new_route(rt, pattern, fn)) == DC_OK);
}

void sdc_http_api_add(struct dc_http_router *router, struct sdc_runtime *rt, const char *method,
                      const char *pattern, dc_http_handler_fn *fn)
{
    add(router, rt, method, pattern, fn);
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
    sdc_crypto_api_routes(r, rt);
    sdc_secrets_api_routes(r, rt);
    sdc_state_api_routes(r, rt);
    sdc_lock_api_routes(r, rt);
    sdc_configuration_api_routes(r, rt);
    sdc_bindings_api_routes(r, rt);
    sdc_pubsub_api_routes(r, rt);
    /* Unmatched paths and methods are service invocations (§1.3). */
    dc_http_router_set_fallback(r, handle_observed, new_route(rt, NULL, sdc_invoke_http_handler));
    rt->http_mw = dc_xcalloc(1, sizeof(*rt->http_mw));
    sdc_http_mw_init(rt->http_mw, rt);
    dc_http_router_set_pre(r, sdc_http_mw_pre, rt->http_mw);
    return r;
}

struct dc_http_router *sdc_http_public_router(struct sdc_runtime *rt)
{
    struct dc_http_router *r = dc_http_router_new();

    /* Only health and metadata, without token auth, CORS or body limit (§1.1). */
    DC_ASSERT(dc_http_router_add(r, "GET", "/v1.0/healthz", on_healthz, rt) == DC_OK);
    DC_ASSERT(dc_http_router_add(r, "GET", "/v1.0/healthz/outbound", on_healthz_outbound, rt) ==
              DC_OK);
    DC_ASSERT(dc_http_router_add(r, "GET", "/v1.0/metadata", on_metadata_get, rt) == DC_OK);
    DC_ASSERT(dc_http_router_add(r, "PUT", "/v1.0/metadata/{key}", on_metadata_put, rt) == DC_OK);
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
