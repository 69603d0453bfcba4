/* libFuzzer target: the save handler's fast path (bodies read without cJSON, state_api.c)
 * against its cJSON path. The input is the body of POST /v1.0/state/rec (a metadata.* query
 * parameter when the first byte is odd); the store records every set it is given. Both paths
 * must answer the same status and body and give the store the same ops, byte for byte. */
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
static struct dc_component def;
static struct dc_http_router *router;
static struct dc_buf log_;

static int rec_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                    struct dc_errbuf *eb)
{
    (void)md;
    (void)ctx;
    (void)eb;
    *self = NULL;
    return DC_OK;
}

static void put(const void *p, size_t n)
{
    if (dc_buf_append(&log_, p, n) != DC_OK || dc_buf_appendc(&log_, '|') != DC_OK)
        abort();
}

static void puts_(const char *s)
{
    put(s != NULL ? s : "(null)", strlen(s != NULL ? s : "(null)"));
}

static int rec_set(void *self, const struct sdc_state_set *r, struct dc_errbuf *eb)
{
    char num[64];

    (void)self;
    puts_(r->key);
    puts_(r->etag);
    puts_(r->content_type);
    put(r->value, r->value_len);
    num[0] = (char)('0' + r->concurrency);
    num[1] = (char)('0' + r->consistency);
    num[2] = (char)('0' + r->has_ttl);
    put(num, 3);
    put(&r->ttl_s, sizeof(r->ttl_s));
    for (size_t i = 0; r->metadata != NULL && i < r->metadata->n; i++) {
        puts_(r->metadata->names[i]);
        puts_(r->metadata->values[i]);
    }
    if (strstr(r->key, "fail") != NULL)
        return dc_err_set(eb, DC_ECONFLICT, "etag mismatch for key %s", r->key);
    return DC_OK;
}

static const struct sdc_state_ops rec_ops = {
    .base = {.init = rec_init},
    .set = rec_set,
};
static const struct sdc_component_type rec_type = {"state.rec", "v1", SDC_CAT_STATE, &rec_ops.base};

static void setup(void)
{
    cfg.app_id = (char *)"fuzz";
    rt.cfg = &cfg;
    rt.comps.v = dc_xcalloc(1, sizeof(struct sdc_component));
    rt.comps.n = 1;
    def.meta.name = (char *)"rec";
    rt.comps.v[0].def = &def;
    rt.comps.v[0].type = &rec_type;
    rt.comps.v[0].ok = true;
    router = dc_http_router_new();
    sdc_state_api_routes(router, &rt);
}

/* One save with the fast path on or off: "status|body|log" (malloc'ed). */
static char *run(const uint8_t *data, size_t size, bool fast)
{
    struct dc_arena a;
    struct dc_http_request req = {0};
    struct dc_http_response resp;
    struct dc_buf out = {0};

    sdc__state_save_fast = fast;
    dc_buf_reset(&log_);
    dc_arena_init(&a);
    req.arena = &a;
    req.method = "POST";
    req.path = "/v1.0/state/rec";
    req.query = size > 0 && (data[0] & 1) ? "metadata.ttlInSeconds=5&metadata.x=y" : "";
    req.body = dc_arena_strndup(&a, (const char *)data, size);
    req.body_len = size;
    dc_http_response_init(&resp, &a);
    (void)dc_http_router_dispatch(router, &req, &resp);
    if (dc_buf_appendf(&out, "%d|", resp.status) != DC_OK ||
        dc_buf_append(&out, resp.body.data, resp.body.len) != DC_OK ||
        dc_buf_appendc(&out, '|') != DC_OK || dc_buf_append(&out, log_.data, log_.len) != DC_OK)
        abort();
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&a);
    return dc_buf_take(&out, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *slow, *fast;

    if (router == NULL)
        setup();
    slow = run(data, size, false);
    fast = run(data, size, true);
    if (strcmp(slow, fast) != 0)
        abort();
    free(slow);
    free(fast);
    return 0;
}
