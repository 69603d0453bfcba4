/* libFuzzer target: the request decoding of the HTTP API blocks other than state (which has
 * fuzz_sdc_state_api) behind the real router: distributed lock (over lock.in-memory), output
 * bindings (body decoded before the binding is looked up; none is loaded), publish and bulk
 * publish (over pubsub.in-memory, no subscribers) and configuration (no store).
 *
 * Input: "METHOD\nPATH[?QUERY]\nCONTENT-TYPE\nBODY". Every request runs through dispatch and
 * its response must have a sane status. The components are recreated every few thousand runs
 * so that fuzzed locks do not pile up. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/arena.h"
#include "dc/http_server.h"
#include "dc/log.h"
#include "dc/mem.h"

#include "../bindings.h"
#include "../configuration.h"
#include "../lock.h"
#include "../pubsub_api.h"
#include "../runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sdc_config cfg;
static struct sdc_runtime rt;
static struct dc_component defs[2];
static struct dc_http_router *router;
static unsigned runs;

static void comps_open(void)
{
    static const char *const names[] = {"lk", "ps"};
    static const char *const types[] = {"lock.in-memory", "pubsub.in-memory"};
    struct dc_errbuf eb = {{0}};

    rt.comps.v = dc_xcalloc(2, sizeof(struct sdc_component));
    rt.comps.n = 2;
    for (size_t i = 0; i < 2; i++) {
        struct sdc_component *sc = &rt.comps.v[i];
        struct sdc_init_ctx ctx = {.name = names[i], .app_id = "fuzz"};
        defs[i].meta.name = (char *)names[i];
        sc->def = &defs[i];
        sc->type = sdc_component_type_find(types[i], "v1");
        if (sc->type == NULL || sc->type->ops->init(&sc->self, &sc->md, &ctx, NULL) != DC_OK)
            abort();
        sc->ok = true;
    }
    if (sdc_pubsub_init(&rt, &eb) != DC_OK)
        abort();
}

static void comps_close(void)
{
    sdc_pubsub_free(rt.pubsub);
    sdc_components_close(&rt.comps);
}

static void setup(void)
{
    dc_log_threshold = DC_LOG_FATAL;
    cfg.app_id = (char *)"fuzz";
    rt.cfg = &cfg;
    comps_open();
    router = dc_http_router_new();
    sdc_lock_api_routes(router, &rt);
    sdc_bindings_api_routes(router, &rt);
    sdc_pubsub_api_routes(router, &rt);
    sdc_configuration_api_routes(router, &rt);
}

/* The next line of the input (up to '\n'), NUL-terminated in the arena. */
static const char *line(struct dc_arena *a, const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = dc_arena_strndup(a, (const char *)*p, n);

    *p += n + (nl != NULL);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    struct dc_arena a;
    struct dc_http_request req = {0};
    struct dc_http_response resp;
    struct dc_http_header h;
    const char *path, *q, *ct;

    if (router == NULL)
        setup();
    if (++runs % 5000 == 0) {
        comps_close();
        comps_open();
    }
    dc_arena_init(&a);
    req.arena = &a;
    req.method = line(&a, &p, end);
    path = line(&a, &p, end);
    ct = line(&a, &p, end);
    q = strchr(path, '?');
    req.path = q != NULL ? dc_arena_strndup(&a, path, (size_t)(q - path)) : path;
    req.query = q != NULL ? q + 1 : "";
    if (req.path[0] != '/')
        req.path = "/v1.0-alpha1/lock/lk";
    if (ct[0] != '\0') {
        h.name = "Content-Type";
        h.value = ct;
        req.headers = &h;
        req.n_headers = 1;
    }
    req.body = dc_arena_strndup(&a, (const char *)p, (size_t)(end - p));
    req.body_len = (size_t)(end - p);
    dc_http_response_init(&resp, &a);
    (void)dc_http_router_dispatch(router, &req, &resp);
    if (resp.status < 200 || resp.status > 599)
        abort();
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&a);
    return 0;
}
