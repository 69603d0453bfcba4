/* Start-up and shutdown of the daprd process (sidecar-api.md §1.1, §17.3). */
#include "sidecar.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "acl.h"
#include "app_channel.h"
#include "configuration.h"
#include "bindings.h"
#include "http_api.h"
#include "identity.h"
#include "invoke.h"
#include "nameres.h"
#include "pubsub_api.h"
#include "resiliency.h"
#include "runtime.h"

#define MAX_LISTENERS 16

struct sdc_sidecar {
    const struct sdc_config *cfg;
    struct sdc_runtime rt;
    struct dc_http_router *api_router;
    struct dc_http_router *metrics_router;
    struct dc_http_router *public_router;
    struct dc_http_server *api[MAX_LISTENERS];
    size_t napi;
    struct dc_http_server *public_srv;
    struct dc_http_server *metrics_srv;
};

/* Process-wide memory settings, before any thread or SQLite connection exists (measured with
 * smaps of daprd-A during bench/invoke.sh, docs/benchmarks.md "Memory"):
 * - One malloc arena for every thread. glibc gives each thread that allocates an arena of its
 *   own (up to 8 per core), and daprd runs a thread per HTTP connection: at 1000 req/s over 16
 *   connections the extra arenas held 0.15-0.35 MB, while futex calls stayed at ~0.01 per
 *   request with one arena (the per-thread tcache serves small blocks without the lock).
 *   MALLOC_ARENA_MAX or a glibc.malloc tunable in the environment wins.
 * - No bulk page-cache allocation per SQLite connection: SQLite otherwise carves 20 pages
 *   (~87 KB, all touched) for each connection on its first read, while the name-resolution
 *   registry needs a handful; pages are then allocated one by one as a cache grows. */
static void memory_setup(void)
{
    const char *t = getenv("GLIBC_TUNABLES");

    if (getenv("MALLOC_ARENA_MAX") == NULL && (t == NULL || strstr(t, "arena_max") == NULL))
        (void)mallopt(M_ARENA_MAX, 1);
    /* SQLITE_MISUSE once SQLite is initialised (a second sidecar in one test process): the
     * default then stays, which is only a little more memory. */
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0);
}

static void server_opts(const struct sdc_config *cfg, struct dc_http_server_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_body = (size_t)cfg->max_body_size;
    /* Go tolerates about 4 KiB beyond MaxHeaderBytes before answering 431 (§1.1). */
    o->max_header = (size_t)cfg->read_buffer_size + 4096;
    o->threads = 0; /* a thread per connection: handlers may block on backends */
    o->idle_timeout_s = 0;
}

static int start_api(struct sdc_sidecar *s, struct dc_errbuf *eb)
{
    const struct sdc_config *cfg = s->cfg;
    struct dc_http_server_opts o;
    char sock[512];
    int rv, last = DC_OK;

    server_opts(cfg, &o);
    if (!dc_str_empty(cfg->unix_domain_socket)) {
        /* With --unix-domain-socket the API listens only there (§1.1). */
        snprintf(sock, sizeof(sock), "%s/dapr-%s-http.socket", cfg->unix_domain_socket,
                 cfg->app_id);
        o.unix_path = sock;
        rv = dc_http_server_start(&s->api[0], &o, s->api_router, eb);
        if (rv == DC_OK) {
            s->napi = 1;
            DC_LOG(DC_LOG_INFO, "HTTP server listening on %s", sock);
        }
        return rv;
    }
    o.port = (uint16_t)cfg->dapr_http_port;
    if (cfg->listen_addresses.n == 0) {
        o.address = NULL;
        rv = dc_http_server_start(&s->api[0], &o, s->api_router, eb);
        if (rv == DC_OK) {
            s->napi = 1;
            DC_LOG(DC_LOG_INFO, "HTTP server listening on port %d", cfg->dapr_http_port);
        }
        return rv;
    }
    /* Upstream continues when at least one address binds. */
    for (size_t i = 0; i < cfg->listen_addresses.n && s->napi < MAX_LISTENERS; i++) {
        struct dc_errbuf one = {0};

        o.address = cfg->listen_addresses.v[i];
        rv = dc_http_server_start(&s->api[s->napi], &o, s->api_router, &one);
        if (rv != DC_OK) {
            DC_LOG(DC_LOG_WARN, "failed to listen on %s:%d: %s", o.address, cfg->dapr_http_port,
                   one.msg);
            last = rv;
            *eb = one;
            continue;
        }
        DC_LOG(DC_LOG_INFO, "HTTP server listening on %s:%d", o.address, cfg->dapr_http_port);
        s->napi++;
    }
    return s->napi > 0 ? DC_OK : last;
}

static int start_aux(struct sdc_sidecar *s, struct dc_errbuf *eb)
{
    const struct sdc_config *cfg = s->cfg;
    struct dc_http_server_opts o;
    int rv;

    if (cfg->dapr_public_port >= 0) {
        server_opts(cfg, &o);
        o.threads = 1;
        o.address =
            dc_str_empty(cfg->dapr_public_listen_address) ? NULL : cfg->dapr_public_listen_address;
        o.port = (uint16_t)cfg->dapr_public_port;
        /* The public port serves health and metadata without token auth (§1.1). */
        s->public_router = sdc_http_public_router(&s->rt);
        rv = dc_http_server_start(&s->public_srv, &o, s->public_router, eb);
        if (rv != DC_OK)
            return rv;
    }
    if (cfg->enable_metrics) {
        server_opts(cfg, &o);
        o.threads = 1;
        o.address = cfg->metrics_listen_address;
        o.port = (uint16_t)cfg->metrics_port;
        rv = dc_http_server_start(&s->metrics_srv, &o, s->metrics_router, eb);
        if (rv != DC_OK) {
            dc_err_wrapf(eb, "metrics server");
            return rv;
        }
        DC_LOG(DC_LOG_INFO, "metrics server started on %s:%d/metrics", cfg->metrics_listen_address,
               cfg->metrics_port);
    }
    return DC_OK;
}

int sdc_sidecar_start(struct sdc_sidecar **out, const struct sdc_config *cfg, struct dc_errbuf *eb)
{
    struct sdc_sidecar *s = dc_xcalloc(1, sizeof(*s));
    int64_t t0 = dc_mono_ns();
    int rv;

    s->cfg = cfg;
    memory_setup();
    DC_LOG(DC_LOG_INFO, "starting daprc runtime -- version %s", sdc_runtime_version());
    rv = sdc_runtime_init(&s->rt, cfg, eb);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_components_load(&s->rt.comps, &s->rt, eb);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_pubsub_init(&s->rt, eb);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_acl_new(&s->rt.acl, s->rt.have_conf ? &s->rt.conf : NULL, eb);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_nameres_start(&s->rt, eb);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_resiliency_new(&s->rt.resiliency, s->rt.resiliencies, s->rt.nresiliencies, eb);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_app_channel_new(&s->rt.app, cfg, eb);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_identity_runtime_start(&s->rt, eb);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_invoke_new(&s->rt.invoke, &s->rt, eb);
    if (rv != DC_OK)
        goto fail;
    s->api_router = sdc_http_api_router(&s->rt);
    s->metrics_router = sdc_http_metrics_router(&s->rt);
    rv = start_aux(s, eb);
    if (rv != DC_OK)
        goto fail;
    rv = start_api(s, eb);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_invoke_listen(s->rt.invoke, eb);
    if (rv != DC_OK)
        goto fail;
    atomic_store(&s->rt.outbound_ready, true);
    /* Ready once the app port is open (at once without --app-port), §17.3. */
    rv = sdc_app_channel_start(s->rt.app, &s->rt.ready);
    if (rv != DC_OK)
        goto fail;
    rv = sdc_bindings_start(&s->rt.bindings, &s->rt, eb);
    if (rv != DC_OK)
        goto fail;
    DC_LOG(DC_LOG_INFO, "dapr initialized. Status: Running. Init Elapsed %.1fms",
           (double)(dc_mono_ns() - t0) / 1e6);
    *out = s;
    return DC_OK;
fail:
    sdc_sidecar_free(s);
    return rv;
}

bool sdc_sidecar_force_requested(const struct sdc_sidecar *s)
{
    return atomic_load(&s->rt.force_shutdown);
}

int sdc_sidecar_shutdown(struct sdc_sidecar *s)
{
    int64_t deadline = dc_mono_ns() + s->cfg->graceful_shutdown_seconds * 1000000000LL;
    int rv = DC_OK;

    atomic_store(&s->rt.ready, false);
    for (size_t i = 0; i < s->napi; i++)
        dc_http_server_quiesce(s->api[i]);
    for (size_t i = 0; i < s->napi; i++) {
        int64_t left = (deadline - dc_mono_ns()) / 1000000;
        if (dc_http_server_drain(s->api[i], left > 0 ? left : 0) != DC_OK)
            rv = DC_ETIMEDOUT;
    }
    return rv;
}

void sdc_sidecar_free(struct sdc_sidecar *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->napi; i++)
        dc_http_server_free(s->api[i]);
    dc_http_server_free(s->public_srv);
    dc_http_server_free(s->metrics_srv);
    dc_http_router_free(s->api_router);
    dc_http_router_free(s->metrics_router);
    dc_http_router_free(s->public_router);
    sdc_configuration_stop(&s->rt);
    sdc_bindings_free(s->rt.bindings);
    sdc_pubsub_free(s->rt.pubsub);
    sdc_invoke_free(s->rt.invoke);
    dc_identity_free(s->rt.identity);
    sdc_app_channel_free(s->rt.app);
    sdc_nameres_free(s->rt.nameres);
    sdc_acl_free(s->rt.acl);
    sdc_runtime_cleanup(&s->rt);
    free(s);
}
