/* Health and metrics servers of the control-plane services (dc/ops_server.h). */
#include "dc/ops_server.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "dc/buf.h"
#include "dc/mem.h"

struct dc_ops_server {
    struct dc_metrics *metrics;
    atomic_bool ready;
    struct dc_http_router *health_router, *metrics_router;
    struct dc_http_server *health_srv, *metrics_srv;
};

static void h_healthz(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct dc_ops_server *o = ud;

    (void)req;
    resp->status = atomic_load(&o->ready) ? 200 : 503;
}

static void h_metrics(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct dc_ops_server *o = ud;

    (void)req;
    if (dc_metrics_render(o->metrics, &resp->body) != DC_OK) {
        dc_buf_reset(&resp->body);
        resp->status = 500;
        return;
    }
    resp->status = 200;
    dc_http_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
}

struct dc_ops_server *dc_ops_server_new(struct dc_metrics *metrics)
{
    struct dc_ops_server *o = dc_xcalloc(1, sizeof(*o));
    int rv = DC_OK;

    o->metrics = metrics;
    atomic_init(&o->ready, false);
    o->health_router = dc_http_router_new();
    rv |= dc_http_router_add(o->health_router, "GET", "/healthz", h_healthz, o);
    o->metrics_router = dc_http_router_new();
    rv |= dc_http_router_add(o->metrics_router, "GET", "/metrics", h_metrics, o);
    DC_ASSERT(rv == DC_OK);
    return o;
}

static int start_one(struct dc_http_server **out, const char *addr, uint16_t port, unsigned idle_s,
                     const struct dc_http_router *r, const char *what, struct dc_errbuf *eb)
{
    struct dc_http_server_opts so = {0};
    int rv;

    so.address = addr != NULL ? addr : "";
    so.port = port;
    so.threads = 1;
    so.idle_timeout_s = idle_s;
    rv = dc_http_server_start(out, &so, r, eb);
    if (rv != DC_OK)
        dc_err_wrapf(eb, "%s server", what);
    return rv;
}

int dc_ops_server_start(struct dc_ops_server *o, const struct dc_ops_server_opts *opts,
                        struct dc_errbuf *eb)
{
    int rv;

    rv = start_one(&o->health_srv, opts->health_address, opts->health_port, opts->idle_timeout_s,
                   o->health_router, "healthz", eb);
    if (rv == DC_OK && opts->enable_metrics)
        rv = start_one(&o->metrics_srv, opts->metrics_address, opts->metrics_port,
                       opts->idle_timeout_s, o->metrics_router, "metrics", eb);
    return rv;
}

void dc_ops_server_set_ready(struct dc_ops_server *o, bool ready)
{
    atomic_store(&o->ready, ready);
}

bool dc_ops_server_ready(const struct dc_ops_server *o)
{
    return atomic_load(&o->ready);
}

const struct dc_http_router *dc_ops_server_health_router(const struct dc_ops_server *o)
{
    return o->health_router;
}

const struct dc_http_router *dc_ops_server_metrics_router(const struct dc_ops_server *o)
{
    return o->metrics_router;
}

uint16_t dc_ops_server_health_port(const struct dc_ops_server *o)
{
    return o->health_srv != NULL ? dc_http_server_port(o->health_srv) : 0;
}

uint16_t dc_ops_server_metrics_port(const struct dc_ops_server *o)
{
    return o->metrics_srv != NULL ? dc_http_server_port(o->metrics_srv) : 0;
}

void dc_ops_server_free(struct dc_ops_server *o)
{
    if (o == NULL)
        return;
    dc_http_server_free(o->health_srv);
    dc_http_server_free(o->metrics_srv);
    dc_http_router_free(o->health_router);
    dc_http_router_free(o->metrics_router);
    free(o);
}
