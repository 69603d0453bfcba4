/* libFuzzer target: the state API handlers (sidecar-api.md §5) behind the real router, over a
 * state.in-memory store (default key prefix) and one with keyPrefix none.
 *
 * Input: "METHOD\nPATH[?QUERY]\n[If-Match value]\nBODY". Every request runs through dispatch
 * and its response is checked for a sane status. The stores are recreated every few thousand
 * runs so that fuzzed writes do not pile up. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/arena.h"
#include "dc/http_server.h"
#include "dc/mem.h"

#include "../state_api.h"
#include "../state_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sdc_config cfg;
static struct sdc_runtime rt;
static struct dc_component defs[2];
static struct dc_http_router *router;
static unsigned runs;

static void stores_open(void)
{
    static const char *const names[] = {"mem", "none"};
    const struct sdc_component_type *t = sdc_component_type_find("state.in-memory", "v1");

    rt.comps.v = dc_xcalloc(2, sizeof(struct sdc_component));
    rt.comps.n = 2;
    for (size_t i = 0; i < 2; i++) {
        struct sdc_component *sc = &rt.comps.v[i];
        struct sdc_init_ctx ctx = {.name = names[i], .app_id = "fuzz"};
        defs[i].meta.name = (char *)names[i];
        sc->def = &defs[i];
        sc->type = t;
        if (i == 1)
            sdc_md_set(&sc->md, "keyPrefix", "none");
        if (t->ops->init(&sc->self, &sc->md, &ctx, NULL) != DC_OK)
            abort();
        sc->ok = true;
    }
}

static void setup(void)
{
    cfg.app_id = (char *)"fuzz";
    rt.cfg = &cfg;
    stores_open();
    router = dc_http_router_new();
    sdc_state_api_routes(router, &rt);
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
    const char *path, *q, *etag;

    if (router == NULL)
        setup();
    if (++runs % 5000 == 0) {
        sdc_components_close(&rt.comps);
        stores_open();
    }
    dc_arena_init(&a);
    req.arena = &a;
    req.method = line(&a, &p, end);
    path = line(&a, &p, end);
    etag = line(&a, &p, end);
    q = strchr(path, '?');
    req.path = q != NULL ? dc_arena_strndup(&a, path, (size_t)(q - path)) : path;
    req.query = q != NULL ? q + 1 : "";
    if (req.path[0] != '/')
        req.path = "/v1.0/state/mem";
    if (etag[0] != '\0') {
        h.name = "If-Match";
        h.value = etag;
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
