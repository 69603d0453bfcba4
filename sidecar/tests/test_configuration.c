/* The configuration API (sidecar-api.md §9) over a fake store, dispatched through the real
 * router without sockets; the app callback goes through a real app channel to an in-process
 * HTTP server standing in for the app. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "../app_channel.h"
#include "../configuration.h"
#include "../runtime.h"

/* ---- a fake store ------------------------------------------------------------------------ */

static struct {
    pthread_mutex_t mu;
    sdc_cfg_update_fn *fn;
    void *ud;
    int nsubs;
    char last_md[128]; /* "name=value" of the last get's first metadata entry */
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int fake_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                     struct dc_errbuf *eb)
{
    (void)md;
    (void)ctx;
    (void)eb;
    *self = &fake;
    return DC_OK;
}

static int fake_get(void *self, const char *const *keys, size_t nkeys, const struct sdc_md *md,
                    struct dc_arena *a, struct sdc_cfg_item **items, size_t *n,
                    struct dc_errbuf *eb)
{
    static char mz[] = "z", ma[] = "a", vl[] = "last", vf[] = "first";
    static char *mdn[] = {mz, ma};
    static char *mdv[] = {vl, vf};
    const struct sdc_cfg_item table[] = {
        {.key = "a", .value = "1", .version = "v1", .md = {2, mdn, mdv}},
        {.key = "b", .value = "2", .version = ""},
    };
    (void)self;
    fake.last_md[0] = '\0';
    if (md->n > 0)
        snprintf(fake.last_md, sizeof(fake.last_md), "%s=%s", md->names[0], md->values[0]);
    *items = dc_arena_calloc(a, 2 * sizeof(**items));
    *n = 0;
    for (size_t t = 0; t < 2; t++) {
        bool want = nkeys == 0;
        for (size_t i = 0; i < nkeys; i++) {
            if (strcmp(keys[i], "boom") == 0)
                return dc_err_set(eb, DC_EIO, "broken");
            want = want || strcmp(keys[i], table[t].key) == 0;
        }
        if (want)
            (*items)[(*n)++] = table[t];
    }
    return DC_OK;
}

static int fake_subscribe(void *self, const char *const *keys, size_t nkeys,
                          const struct sdc_md *md, sdc_cfg_update_fn *fn, void *ud, void **handle,
                          struct dc_errbuf *eb)
{
    (void)self;
    (void)keys;
    (void)nkeys;
    if (sdc_md_get(md, "fail") != NULL)
        return dc_err_set(eb, DC_EIO, "nope");
    pthread_mutex_lock(&fake.mu);
    fake.fn = fn;
    fake.ud = ud;
    fake.nsubs++;
    pthread_mutex_unlock(&fake.mu);
    *handle = ud;
    return DC_OK;
}

static void fake_unsubscribe(void *self, void *handle)
{
    (void)self;
    pthread_mutex_lock(&fake.mu);
    if (fake.ud == handle) {
        fake.fn = NULL;
        fake.ud = NULL;
    }
    fake.nsubs--;
    pthread_mutex_unlock(&fake.mu);
}

static const struct sdc_configuration_ops fake_ops = {
    .base = {.init = fake_init},
    .get = fake_get,
    .subscribe = fake_subscribe,
    .unsubscribe = fake_unsubscribe,
};
static const struct sdc_component_type fake_type = {"configuration.fake", "v1",
                                                    SDC_CAT_CONFIGURATION, &fake_ops.base};

/* ---- the app ------------------------------------------------------------------------------ */

#define MAX_SEEN 8

static struct {
    pthread_mutex_t mu;
    int n;
    char path[MAX_SEEN][128];
    char body[MAX_SEEN][512];
    char ctype[MAX_SEEN][64];
} seen = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_app(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const char *ct = dc_http_request_header(req, "Content-Type");

    (void)ud;
    pthread_mutex_lock(&seen.mu);
    if (seen.n < MAX_SEEN) {
        dc_strlcpy(seen.path[seen.n], req->path, sizeof(seen.path[0]));
        dc_strlcpy(seen.body[seen.n], req->body, sizeof(seen.body[0]));
        dc_strlcpy(seen.ctype[seen.n], ct != NULL ? ct : "", sizeof(seen.ctype[0]));
        seen.n++;
    }
    pthread_mutex_unlock(&seen.mu);
    resp->status = 200;
}

/* ---- fixture ----------------------------------------------------------------------------- */

struct fx {
    struct sdc_config cfg;
    struct sdc_runtime rt;
    struct dc_component def;
    struct dc_http_router *r;
    struct dc_http_router *app_router;
    struct dc_http_server *app;
};

static int setup_common(void **state, bool store, bool app)
{
    struct fx *f = dc_xcalloc(1, sizeof(*f));
    struct dc_errbuf eb = {0};

    f->cfg.app_id = (char *)"app";
    f->cfg.app_port = -1;
    f->rt.cfg = &f->cfg;
    f->rt.comps.v = dc_xcalloc(1, sizeof(struct sdc_component));
    if (store) {
        struct sdc_component *sc = &f->rt.comps.v[0];
        f->def.meta.name = (char *)"fake";
        f->def.type = (char *)fake_type.type;
        sc->def = &f->def;
        sc->type = &fake_type;
        assert_int_equal(fake_type.ops->init(&sc->self, &sc->md, NULL, &eb), DC_OK);
        sc->ok = true;
        f->rt.comps.n = 1;
    }
    if (app) {
        struct dc_http_server_opts o = {.address = "127.0.0.1", .threads = 1};
        f->app_router = dc_http_router_new();
        dc_http_router_set_fallback(f->app_router, on_app, NULL);
        assert_int_equal(dc_http_server_start(&f->app, &o, f->app_router, &eb), DC_OK);
        f->cfg.app_port = dc_http_server_port(f->app);
        f->cfg.app_protocol = (char *)"http";
        f->cfg.app_channel_address = (char *)"127.0.0.1";
        f->cfg.max_body_size = 4 << 20;
        f->cfg.app_max_concurrency = -1;
        assert_int_equal(sdc_app_channel_new(&f->rt.app, &f->cfg, &eb), DC_OK);
    }
    seen.n = 0;
    f->r = dc_http_router_new();
    sdc_configuration_api_routes(f->r, &f->rt);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_common(state, true, true);
}

static int setup_noapp(void **state)
{
    return setup_common(state, true, false);
}

static int setup_empty(void **state)
{
    return setup_common(state, false, false);
}

static int teardown(void **state)
{
    struct fx *f = *state;

    sdc_configuration_stop(&f->rt);
    dc_http_router_free(f->r);
    sdc_app_channel_free(f->rt.app);
    dc_http_server_free(f->app);
    dc_http_router_free(f->app_router);
    sdc_components_close(&f->rt.comps);
    free(f);
    return 0;
}

/* GET `url` (path?query); "STATUS BODY" into `out`. */
static void get(struct fx *f, const char *url, char *out, size_t cap)
{
    struct dc_arena arena;
    struct dc_http_request req = {0};
    struct dc_http_response resp;
    const char *q = strchr(url, '?');

    dc_arena_init(&arena);
    req.method = "GET";
    req.path = q != NULL ? dc_arena_strndup(&arena, url, (size_t)(q - url)) : url;
    req.query = q != NULL ? q + 1 : "";
    req.body = "";
    req.arena = &arena;
    dc_http_response_init(&resp, &arena);
    (void)dc_http_router_dispatch(f->r, &req, &resp);
    snprintf(out, cap, "%d %s", resp.status, dc_buf_cstr(&resp.body));
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&arena);
}

static void expect(struct fx *f, const char *url, const char *want)
{
    char got[1024];

    get(f, url, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("GET %s:\n  got  %s\n  want %s", url, got, want);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_json_shapes(void **state)
{
    static char nb[] = "b", na[] = "a", v1[] = "1", v2[] = "2", v3[] = "3";
    static char *mdn[] = {nb, na, nb};
    static char *mdv[] = {v1, v2, v3};
    const struct sdc_cfg_item items[] = {
        {.key = "z", .value = "zv", .version = "3", .md = {3, mdn, mdv}},
        {.key = "a\"q", .value = "", .version = "", .md = {0}},
        {.key = "m", .value = "old"},
        {.key = "m", .value = "new"},
    };
    struct dc_buf b;

    (void)state;
    dc_buf_init(&b, 0);
    assert_int_equal(sdc_configuration_event_json("id-1", items, 4, &b), DC_OK);
    /* Keys sorted, one entry per key (the last wins), empty fields omitted, metadata sorted with
     * the last value of a repeated name, and json.Encoder's newline. */
    assert_string_equal(dc_buf_cstr(&b),
                        "{\"id\":\"id-1\",\"items\":{\"a\\\"q\":{},\"m\":{\"value\":"
                        "\"new\"},\"z\":{\"value\":\"zv\",\"version\":\"3\","
                        "\"metadata\":{\"a\":\"2\",\"b\":\"3\"}}}}\n");
    dc_buf_reset(&b);
    assert_int_equal(sdc_configuration_items_json(items, 0, &b), DC_OK);
    assert_string_equal(dc_buf_cstr(&b), "{}");
    dc_buf_cleanup(&b);
}

static void test_not_configured(void **state)
{
    struct fx *f = *state;

    expect(f, "/v1.0/configuration/fake?key=a",
           "500 {\"errorCode\":\"ERR_CONFIGURATION_STORE_NOT_CONFIGURED\",\"message\":"
           "\"configuration stores not configured\"}");
    expect(f, "/v1.0-alpha1/configuration/fake/subscribe",
           "500 {\"errorCode\":\"ERR_CONFIGURATION_STORE_NOT_CONFIGURED\",\"message\":"
           "\"configuration stores not configured\"}");
    expect(f, "/v1.0/configuration/fake/x/unsubscribe",
           "500 {\"errorCode\":\"ERR_CONFIGURATION_STORE_NOT_CONFIGURED\",\"message\":"
           "\"configuration stores not configured\"}");
}

static void test_get(void **state)
{
    struct fx *f = *state;

    expect(f, "/v1.0/configuration/fake?key=a",
           "200 {\"a\":{\"value\":\"1\",\"version\":\"v1\",\"metadata\":{\"a\":\"first\",\"z\":"
           "\"last\"}}}");
    expect(f, "/v1.0-alpha1/configuration/fake?key=b&key=a&metadata.k=v&metadata.k=w",
           "200 {\"a\":{\"value\":\"1\",\"version\":\"v1\",\"metadata\":{\"a\":\"first\",\"z\":"
           "\"last\"}},\"b\":{\"value\":\"2\"}}");
    assert_string_equal(fake.last_md, "k=v");
    expect(f, "/v1.0/configuration/fake",
           "200 {\"a\":{\"value\":\"1\",\"version\":\"v1\",\"metadata\":{\"a\":\"first\",\"z\":"
           "\"last\"}},\"b\":{\"value\":\"2\"}}");
    expect(f, "/v1.0/configuration/fake?key=none", "204 ");
    expect(f, "/v1.0/configuration/other?key=a",
           "400 {\"errorCode\":\"ERR_CONFIGURATION_STORE_NOT_FOUND\",\"message\":\"configuration "
           "store other not found\"}");
    expect(f, "/v1.0/configuration/fake?key=a&key=boom",
           "500 {\"errorCode\":\"ERR_CONFIGURATION_GET\",\"message\":\"failed to get [a boom] from "
           "Configuration store fake: broken\"}");
}

static void test_subscribe_without_app(void **state)
{
    struct fx *f = *state;

    expect(f, "/v1.0/configuration/fake/subscribe?key=a",
           "500 {\"errorCode\":\"ERR_APP_CHANNEL_NIL\",\"message\":\"app channel is not "
           "initialized. cannot subscribe to configuration updates\"}");
    expect(f, "/v1.0/configuration/other/subscribe?key=a",
           "400 {\"errorCode\":\"ERR_CONFIGURATION_STORE_NOT_FOUND\",\"message\":\"configuration "
           "store other not found\"}");
}

static void wait_seen(int n)
{
    int64_t t0 = dc_mono_ns();

    for (;;) {
        int have;
        pthread_mutex_lock(&seen.mu);
        have = seen.n;
        pthread_mutex_unlock(&seen.mu);
        if (have >= n)
            return;
        assert_true(dc_mono_ns() - t0 < 5000000000LL);
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
}

static void test_subscribe_deliver_unsubscribe(void **state)
{
    struct fx *f = *state;
    const struct sdc_cfg_item items[] = {
        {.key = "b", .value = "2", .version = "7"},
        {.key = "a b/c", .value = "x"},
    };
    char got[512], id[64], url[160], want[512];

    get(f, "/v1.0/configuration/fake/subscribe?key=a&key=b", got, sizeof(got));
    assert_int_equal(strncmp(got, "200 {\"id\":\"", 11), 0);
    assert_int_equal(strlen(got), 11 + 36 + 2);
    memcpy(id, got + 11, 36);
    id[36] = '\0';
    assert_non_null(fake.fn);

    /* The store reports a change of two keys: one POST per key, each with the whole event. */
    fake.fn(fake.ud, items, 2);
    wait_seen(2);
    assert_string_equal(seen.path[0], "/configuration/fake/b");
    assert_string_equal(seen.path[1], "/configuration/fake/a%20b%2Fc");
    snprintf(want, sizeof(want),
             "{\"id\":\"%s\",\"items\":{\"a b/c\":{\"value\":\"x\"},\"b\":{\"value\":\"2\","
             "\"version\":\"7\"}}}\n",
             id);
    assert_string_equal(seen.body[0], want);
    assert_string_equal(seen.body[1], want);
    assert_string_equal(seen.ctype[0], "application/json");

    snprintf(url, sizeof(url), "/v1.0-alpha1/configuration/fake/%s/unsubscribe", id);
    expect(f, url, "200 {\"ok\":true}");
    assert_null(fake.fn);
    snprintf(want, sizeof(want),
             "500 {\"message\":\"failed to unsubscribe to configuration request %s: subscription "
             "with id %s does not exist\"}",
             id, id);
    expect(f, url, want);
    expect(f, "/v1.0/configuration/other/x/unsubscribe",
           "400 {\"errorCode\":\"ERR_CONFIGURATION_STORE_NOT_FOUND\",\"message\":\"configuration "
           "store other not found\"}");
}

static void test_subscribe_failure_and_stop(void **state)
{
    struct fx *f = *state;
    char got[512];

    expect(f, "/v1.0/configuration/fake/subscribe?key=a&metadata.fail=1",
           "500 {\"errorCode\":\"ERR_CONFIGURATION_SUBSCRIBE\",\"message\":\"failed to subscribe "
           "[a] from Configuration store fake: nope\"}");
    get(f, "/v1.0/configuration/fake/subscribe", got, sizeof(got));
    assert_int_equal(strncmp(got, "200 ", 4), 0);
    get(f, "/v1.0/configuration/fake/subscribe", got, sizeof(got));
    assert_int_equal(strncmp(got, "200 ", 4), 0);
    assert_int_equal(fake.nsubs, 2);
    /* Shutdown stops what the API started. */
    sdc_configuration_stop(&f->rt);
    assert_int_equal(fake.nsubs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_shapes),
        cmocka_unit_test_setup_teardown(test_not_configured, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_get, setup_noapp, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_without_app, setup_noapp, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_deliver_unsubscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_failure_and_stop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
