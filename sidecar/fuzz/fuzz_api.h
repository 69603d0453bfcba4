/* For the HTTP API fuzz targets: the runtime's components, and a request read from the input
 * "METHOD\nPATH[?QUERY]\nHEADER-VALUE\nBODY", its strings in an arena. The header (named by the
 * caller, e.g. If-Match) is sent when its line is not empty; a path that does not start with
 * '/' becomes `default_path`. */
#ifndef SDC_FUZZ_API_H
#define SDC_FUZZ_API_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/arena.h"
#include "dc/http_server.h"
#include "dc/mem.h"

#include "../runtime.h"

/* The next line of the input (up to '\n'), NUL-terminated in the arena. */
static inline const char *fuzz_req_line(struct dc_arena *a, const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = dc_arena_strndup(a, (const char *)*p, n);

    *p += n + (nl != NULL);
    return s;
}

static inline void fuzz_req_build(struct dc_http_request *req, struct dc_http_header *h,
                                  struct dc_arena *a, const uint8_t *data, size_t size,
                                  const char *header_name, const char *default_path)
{
    const uint8_t *p = data, *end = data + size;
    const char *path, *q, *hv;

    memset(req, 0, sizeof(*req));
    req->arena = a;
    req->method = fuzz_req_line(a, &p, end);
    path = fuzz_req_line(a, &p, end);
    hv = fuzz_req_line(a, &p, end);
    q = strchr(path, '?');
    req->path = q != NULL ? dc_arena_strndup(a, path, (size_t)(q - path)) : path;
    req->query = q != NULL ? q + 1 : "";
    if (req->path[0] != '/')
        req->path = default_path;
    if (hv[0] != '\0') {
        h->name = header_name;
        h->value = hv;
        req->headers = h;
        req->n_headers = 1;
    }
    req->body = dc_arena_strndup(a, (const char *)p, (size_t)(end - p));
    req->body_len = (size_t)(end - p);
}

/* Dispatch the request read from the input through `r`; abort on a status outside 200-599. */
static inline void fuzz_req_run(struct dc_http_router *r, const uint8_t *data, size_t size,
                                const char *header_name, const char *default_path)
{
    struct dc_arena a;
    struct dc_http_request req;
    struct dc_http_response resp;
    struct dc_http_header h;

    dc_arena_init(&a);
    fuzz_req_build(&req, &h, &a, data, size, header_name, default_path);
    dc_http_response_init(&resp, &a);
    (void)dc_http_router_dispatch(r, &req, &resp);
    if (resp.status < 200 || resp.status > 599)
        abort();
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&a);
}

/* rt->comps: `n` components named names[i] of types[i] (version v1), not initialised yet (set
 * their metadata now); `defs` holds their resources and outlives them. */
static inline void fuzz_comps_new(struct sdc_runtime *rt, struct dc_component *defs, size_t n,
                                  const char *const *names, const char *const *types)
{
    rt->comps.v = dc_xcalloc(n, sizeof(struct sdc_component));
    rt->comps.n = n;
    for (size_t i = 0; i < n; i++) {
        defs[i].meta.name = (char *)names[i];
        rt->comps.v[i].def = &defs[i];
        rt->comps.v[i].type = sdc_component_type_find(types[i], "v1");
        if (rt->comps.v[i].type == NULL)
            abort();
    }
}

/* Initialise every component of rt->comps (app id "fuzz"); abort when one fails. */
static inline void fuzz_comps_init(struct sdc_runtime *rt)
{
    for (size_t i = 0; i < rt->comps.n; i++) {
        struct sdc_component *sc = &rt->comps.v[i];
        struct sdc_init_ctx ctx = {.name = sc->def->meta.name, .app_id = "fuzz"};
        if (sc->type->ops->init(&sc->self, &sc->md, &ctx, NULL) != DC_OK)
            abort();
        sc->ok = true;
    }
}

#endif /* SDC_FUZZ_API_H */
