/* The state HTTP API (sidecar-api.md §5) over state.in-memory and state.sqlite, dispatched
 * through the real router without sockets. */
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
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "../state_api.h"
#include "../state_store.h"

/* ---- a fake store: query API, and transactions limited to 2 operations ------------------ */

static int fake_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                     struct dc_errbuf *eb)
{
    (void)md;
    (void)ctx;
    (void)eb;
    *self = NULL;
    return DC_OK;
}

static int fake_get(void *self, const struct sdc_state_get *req, struct sdc_state_value *out,
                    struct dc_errbuf *eb)
{
    (void)self;
    (void)req;
    (void)eb;
    out->found = false;
    return DC_OK;
}

static int fake_set(void *self, const struct sdc_state_set *req, struct dc_errbuf *eb)
{
    (void)self;
    (void)req;
    return dc_err_set(eb, DC_EUNAVAIL, "backend down");
}

static int fake_del(void *self, const struct sdc_state_del *req, struct dc_errbuf *eb)
{
    (void)self;
    (void)req;
    (void)eb;
    return DC_OK;
}

static int fake_multi(void *self, const struct sdc_state_op *ops, size_t n, struct dc_errbuf *eb)
{
    (void)self;
    (void)ops;
    (void)n;
    (void)eb;
    return DC_OK;
}

static int fake_query(void *self, const char *query, size_t len, const struct sdc_md *metadata,
                      struct dc_buf *out, struct dc_errbuf *eb)
{
    (void)self;
    (void)len;
    (void)metadata;
    if (strstr(query, "\"empty\"") != NULL)
        return dc_buf_appends(out, "{\"results\":[]}");
    if (strstr(query, "\"fail\"") != NULL)
        return dc_err_set(eb, DC_EIO, "boom");
    return dc_buf_appends(out, "{\"results\":[{\"key\":\"app||k1\",\"data\":{\"a\":1},\"etag\":"
                               "\"3\"}],\"token\":\"1\"}");
}

static const struct sdc_state_ops fake_q_ops = {
    .base = {.init = fake_init},
    .features = SDC_STATE_F_QUERY_API,
    .get = fake_get,
    .set = fake_set,
    .del = fake_del,
    .query = fake_query,
};
static const struct sdc_state_ops fake_tx_ops = {
    .base = {.init = fake_init},
    .features = SDC_STATE_F_TRANSACTIONAL,
    .get = fake_get,
    .set = fake_set,
    .del = fake_del,
    .multi = fake_multi,
    .multi_max_size = 2,
};
/* A store recording every set it is given as text, to compare the save paths. */
static struct dc_buf rec_log;

static int rec_set(void *self, const struct sdc_state_set *r, struct dc_errbuf *eb)
{
    (void)self;
    assert_int_equal(dc_buf_appendf(&rec_log,
                                    "set key=%s etag=%s ct=%s conc=%d cons=%d ttl=%d/%lld", r->key,
                                    r->etag ? r->etag : "-",
                                    r->content_type ? r->content_type : "-", (int)r->concurrency,
                                    (int)r->consistency, (int)r->has_ttl, (long long)r->ttl_s),
                     DC_OK);
    for (size_t i = 0; r->metadata != NULL && i < r->metadata->n; i++)
        assert_int_equal(
            dc_buf_appendf(&rec_log, " md[%s]=%s", r->metadata->names[i], r->metadata->values[i]),
            DC_OK);
    assert_int_equal(dc_buf_appendf(&rec_log, " len=%zu value=", r->value_len), DC_OK);
    assert_int_equal(dc_buf_append(&rec_log, r->value, r->value_len), DC_OK);
    assert_int_equal(dc_buf_appendc(&rec_log, '\n'), DC_OK);
    if (strstr(r->key, "fail") != NULL)
        return dc_err_set(eb, DC_ECONFLICT, "etag mismatch for key %s", r->key);
    return DC_OK;
}

static const struct sdc_state_ops rec_ops = {
    .base = {.init = fake_init},
    .get = fake_get,
    .set = rec_set,
    .del = fake_del,
};
static const struct sdc_component_type rec_type = {"state.rec", "v1", SDC_CAT_STATE, &rec_ops.base};
static const struct sdc_component_type fake_q = {"state.fakeq", "v1", SDC_CAT_STATE,
                                                 &fake_q_ops.base};
static const struct sdc_component_type fake_tx = {"state.faketx", "v1", SDC_CAT_STATE,
                                                  &fake_tx_ops.base};

/* ---- fixture ----------------------------------------------------------------------------- */

#define MAX_STORES 10

struct fx {
    struct sdc_config cfg;
    struct sdc_runtime rt;
    struct dc_component defs[MAX_STORES];
    struct dc_http_router *r;
    char db[128];
};

static void add_store(struct fx *f, const char *name, const struct sdc_component_type *type,
                      const char *md_name, const char *md_value)
{
    struct sdc_components *cs = &f->rt.comps;
    struct sdc_component *sc = &cs->v[cs->n];
    struct sdc_init_ctx ctx = {.name = name, .app_id = "app", .timeout_ms = 5000};
    struct dc_errbuf eb = {0};

    f->defs[cs->n].meta.name = (char *)name;
    f->defs[cs->n].type = (char *)type->type;
    sc->def = &f->defs[cs->n];
    sc->type = type;
    if (md_name != NULL)
        sdc_md_set(&sc->md, md_name, md_value);
    assert_int_equal(type->ops->init(&sc->self, &sc->md, &ctx, &eb), DC_OK);
    sc->ok = true;
    cs->n++;
}

static int setup_common(void **state, bool stores)
{
    struct fx *f = dc_xcalloc(1, sizeof(*f));

    f->cfg.app_id = (char *)"app";
    f->cfg.namespace = (char *)"prod";
    f->rt.cfg = &f->cfg;
    f->rt.comps.v = dc_xcalloc(MAX_STORES, sizeof(struct sdc_component));
    if (stores) {
        snprintf(f->db, sizeof(f->db), "/tmp/test_state_api.%d.db", (int)getpid());
        unlink(f->db);
        add_store(f, "mem", sdc_component_type_find("state.in-memory", "v1"), NULL, NULL);
        add_store(f, "sq", sdc_component_type_find("state.sqlite", "v1"), "connectionString",
                  f->db);
        add_store(f, "none", sdc_component_type_find("state.in-memory", "v1"), "keyPrefix", "none");
        add_store(f, "named", sdc_component_type_find("state.in-memory", "v1"), "keyPrefix",
                  "name");
        add_store(f, "custom", sdc_component_type_find("state.in-memory", "v1"), "keyPrefix",
                  "MyPrefix");
        add_store(f, "ns", sdc_component_type_find("state.in-memory", "v1"), "keyPrefix",
                  "namespace");
        add_store(f, "fakeq", &fake_q, NULL, NULL);
        add_store(f, "faketx", &fake_tx, NULL, NULL);
        add_store(f, "rec", &rec_type, NULL, NULL);
    }
    /* The state routes alone: http_api.c keeps a fixed table of its own routes. */
    f->r = dc_http_router_new();
    sdc_state_api_routes(f->r, &f->rt);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_common(state, true);
}

static int setup_empty(void **state)
{
    return setup_common(state, false);
}

static int teardown(void **state)
{
    struct fx *f = *state;

    dc_http_router_free(f->r);
    sdc_components_close(&f->rt.comps);
    if (f->db[0] != '\0') {
        char p[160];
        unlink(f->db);
        snprintf(p, sizeof(p), "%s-wal", f->db);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", f->db);
        unlink(p);
    }
    free(f);
    return 0;
}

/* One dispatched request and its response. */
struct call {
    struct dc_arena arena;
    struct dc_http_request req;
    struct dc_http_response resp;
    struct dc_http_header hdr[2];
    int rv;
};

static struct call *do_call_n(struct fx *f, const char *method, const char *url, const char *body,
                              size_t len, const char *hname, const char *hvalue)
{
    struct call *c = dc_xcalloc(1, sizeof(*c));
    const char *q = strchr(url, '?');

    dc_arena_init(&c->arena);
    c->req.method = method;
    c->req.path = q != NULL ? dc_arena_strndup(&c->arena, url, (size_t)(q - url)) : url;
    c->req.query = q != NULL ? q + 1 : "";
    c->req.body = body != NULL ? body : "";
    c->req.body_len = len;
    c->req.arena = &c->arena;
    if (hname != NULL) {
        c->hdr[0].name = hname;
        c->hdr[0].value = hvalue;
        c->req.headers = c->hdr;
        c->req.n_headers = 1;
    }
    dc_http_response_init(&c->resp, &c->arena);
    c->rv = dc_http_router_dispatch(f->r, &c->req, &c->resp);
    return c;
}

static struct call *do_call(struct fx *f, const char *method, const char *url, const char *body)
{
    return do_call_n(f, method, url, body, body != NULL ? strlen(body) : 0, NULL, NULL);
}

static void done(struct call *c)
{
    dc_http_response_cleanup(&c->resp);
    dc_arena_cleanup(&c->arena);
    free(c);
}

static const char *body_of(struct call *c)
{
    return dc_buf_cstr(&c->resp.body);
}

/* Status and errorCode of a call, then free it. */
static void expect(struct fx *f, const char *method, const char *url, const char *body, int status,
                   const char *code)
{
    struct call *c = do_call(f, method, url, body);

    if (c->resp.status != status || (code != NULL && strstr(body_of(c), code) == NULL))
        fail_msg("%s %s %s: got %d %s, want %d %s", method, url, body ? body : "", c->resp.status,
                 body_of(c), status, code ? code : "");
    done(c);
}

/* The kit error's ErrorInfo reason. */
static void expect_reason(struct call *c, const char *code, const char *reason)
{
    cJSON *j = cJSON_Parse(body_of(c));
    const cJSON *d, *it;
    bool found = false;

    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "errorCode")->valuestring, code);
    d = cJSON_GetObjectItem(j, "details");
    cJSON_ArrayForEach(it, d)
    {
        const cJSON *t = cJSON_GetObjectItem(it, "@type");
        if (strcmp(t->valuestring, "type.googleapis.com/google.rpc.ErrorInfo") == 0) {
            assert_string_equal(cJSON_GetObjectItem(it, "reason")->valuestring, reason);
            assert_string_equal(cJSON_GetObjectItem(it, "domain")->valuestring, "dapr.io");
            found = true;
        }
    }
    assert_true(found);
    cJSON_Delete(j);
}

/* Read a stored key straight from the store named `store`. */
static bool stored(struct fx *f, const char *store, const char *key, char *val, size_t cap)
{
    struct sdc_component *sc = sdc_components_find(&f->rt.comps, SDC_CAT_STATE, store);
    const struct sdc_state_ops *ops = (const struct sdc_state_ops *)sc->type->ops;
    struct sdc_state_get g = {.key = key};
    struct sdc_state_value v = {0};
    bool found;

    assert_int_equal(ops->get(sc->self, &g, &v, NULL), DC_OK);
    found = v.found;
    if (val != NULL)
        dc_strlcpy(val, found ? dc_buf_cstr(&v.data) : "", cap);
    dc_buf_cleanup(&v.data);
    return found;
}

static const char *const stores[] = {"mem", "sq"};

/* A URL for one store (a macro keeps the format literal for -Wformat-nonliteral). */
#define url(buf, n, fmt, store) (snprintf((buf), (n), fmt, (store)), (buf))

/* ---- tests ------------------------------------------------------------------------------- */

static void test_not_configured(void **state)
{
    struct fx *f = *state;
    struct call *c = do_call(f, "GET", "/v1.0/state/mem/k", NULL);

    assert_int_equal(c->resp.status, 500);
    expect_reason(c, "ERR_STATE_STORE_NOT_CONFIGURED", "DAPR_STATE_NOT_CONFIGURED");
    assert_non_null(strstr(body_of(c), "\"metadata\":{\"appID\":\"app\"}"));
    assert_non_null(strstr(body_of(c), "state store mem is not configured"));
    done(c);
}

static void test_not_found(void **state)
{
    struct fx *f = *state;
    struct call *c = do_call(f, "POST", "/v1.0/state/nope", "[]");

    assert_int_equal(c->resp.status, 400);
    expect_reason(c, "ERR_STATE_STORE_NOT_FOUND", "DAPR_STATE_NOT_FOUND");
    assert_non_null(strstr(body_of(c), "state store nope is not found"));
    done(c);
}

static void test_roundtrip(void **state)
{
    struct fx *f = *state;
    char u[128];

    for (size_t i = 0; i < 2; i++) {
        const char *s = stores[i];
        struct call *c;

        expect(f, "POST", url(u, sizeof(u), "/v1.0/state/%s", s),
               "[{\"key\":\"k\",\"value\":{\"a\":[1,2.5,\"x\"]}},{\"key\":\"n\",\"value\":42},"
               "{\"key\":\"s\",\"value\":\"str\"}]",
               204, NULL);
        expect(f, "PUT", url(u, sizeof(u), "/v1.0/state/%s", s), "[]", 204, NULL);
        c = do_call(f, "GET", url(u, sizeof(u), "/v1.0/state/%s/k", s), NULL);
        assert_int_equal(c->resp.status, 200);
        assert_string_equal(body_of(c), "{\"a\":[1,2.5,\"x\"]}");
        assert_non_null(dc_http_response_header_get(&c->resp, "ETag"));
        assert_string_equal(dc_http_response_header_get(&c->resp, "Content-Type"),
                            "application/json");
        assert_null(dc_http_response_header_get(&c->resp, "Metadata.ttlExpireTime"));
        done(c);
        c = do_call(f, "GET", url(u, sizeof(u), "/v1.0/state/%s/s", s), NULL);
        assert_string_equal(body_of(c), "\"str\"");
        done(c);
        c = do_call(f, "GET", url(u, sizeof(u), "/v1.0/state/%s/n", s), NULL);
        assert_string_equal(body_of(c), "42");
        done(c);
        expect(f, "GET", url(u, sizeof(u), "/v1.0/state/%s/missing", s), NULL, 204, NULL);
        expect(f, "DELETE", url(u, sizeof(u), "/v1.0/state/%s/k", s), NULL, 204, NULL);
        expect(f, "DELETE", url(u, sizeof(u), "/v1.0/state/%s/k", s), NULL, 204, NULL);
        expect(f, "GET", url(u, sizeof(u), "/v1.0/state/%s/k", s), NULL, 204, NULL);
        /* A key with '/' and spaces goes through percent-encoding; ".." is just a key. */
        expect(f, "POST", url(u, sizeof(u), "/v1.0/state/%s", s),
               "[{\"key\":\"a/b c\",\"value\":1},{\"key\":\"..\",\"value\":2}]", 204, NULL);
        c = do_call(f, "GET", url(u, sizeof(u), "/v1.0/state/%s/a%%2Fb+c", s), NULL);
        assert_string_equal(body_of(c), "1");
        done(c);
        c = do_call(f, "GET", url(u, sizeof(u), "/v1.0/state/%s/%%2E%%2E", s), NULL);
        assert_string_equal(body_of(c), "2");
        done(c);
    }
}

static char *get_etag(struct fx *f, const char *u, char *out, size_t n)
{
    struct call *c = do_call(f, "GET", u, NULL);
    const char *e = dc_http_response_header_get(&c->resp, "ETag");

    assert_non_null(e);
    dc_strlcpy(out, e, n);
    done(c);
    return out;
}

static void test_etags(void **state)
{
    struct fx *f = *state;
    char u[128], g[128], body[256], etag[80];

    for (size_t i = 0; i < 2; i++) {
        const char *s = stores[i];
        struct call *c;

        url(u, sizeof(u), "/v1.0/state/%s", s);
        url(g, sizeof(g), "/v1.0/state/%s/e", s);
        expect(f, "POST", u, "[{\"key\":\"e\",\"value\":1}]", 204, NULL);
        get_etag(f, g, etag, sizeof(etag));
        expect(f, "POST", u, "[{\"key\":\"e\",\"value\":2,\"etag\":\"nope\"}]", 409,
               "possible etag mismatch");
        expect(f, "POST", u, "[{\"key\":\"missing\",\"value\":2,\"etag\":\"1\"}]", 409,
               "ERR_STATE_SAVE");
        snprintf(body, sizeof(body), "[{\"key\":\"e\",\"value\":3,\"etag\":\"%s\"}]", etag);
        expect(f, "POST", u, body, 204, NULL);
        /* The old ETag is stale now. */
        expect(f, "POST", u, body, 409, "ERR_STATE_SAVE");
        /* Delete with If-Match. */
        c = do_call_n(f, "DELETE", g, NULL, 0, "If-Match", etag);
        assert_int_equal(c->resp.status, 409);
        assert_non_null(strstr(body_of(c), "ERR_STATE_DELETE"));
        assert_non_null(strstr(body_of(c), "failed deleting state with key e: "));
        done(c);
        get_etag(f, g, etag, sizeof(etag));
        c = do_call_n(f, "DELETE", g, NULL, 0, "If-Match", etag);
        assert_int_equal(c->resp.status, 204);
        done(c);
        expect(f, "GET", g, NULL, 204, NULL);
        /* An empty If-Match is no ETag. */
        c = do_call_n(f, "DELETE", g, NULL, 0, "If-Match", "");
        assert_int_equal(c->resp.status, 204);
        done(c);
        /* Bad options are the component's 500. */
        expect(f, "POST", u,
               "[{\"key\":\"e\",\"value\":1,\"options\":{\"concurrency\":\"sometimes\"}}]", 500,
               "unrecognized concurrency model 'sometimes'");
        url(g, sizeof(g), "/v1.0/state/%s/e?consistency=loose", s);
        expect(f, "DELETE", g, NULL, 500, "unrecognized consistency model 'loose'");
    }
}

static void test_first_write(void **state)
{
    struct fx *f = *state;
    char u[128], g[128], body[256], etag[80];
    const char *fw = "[{\"key\":\"fw\",\"value\":1,\"options\":{\"concurrency\":\"first-write\"}}]";

    for (size_t i = 0; i < 2; i++) {
        const char *s = stores[i];

        url(u, sizeof(u), "/v1.0/state/%s", s);
        url(g, sizeof(g), "/v1.0/state/%s/fw", s);
        expect(f, "POST", u, fw, 204, NULL);
        expect(f, "POST", u, fw, 409, "ERR_STATE_SAVE");
        get_etag(f, g, etag, sizeof(etag));
        snprintf(body, sizeof(body),
                 "[{\"key\":\"fw\",\"value\":2,\"etag\":\"%s\",\"options\":{\"concurrency\":"
                 "\"first-write\",\"consistency\":\"strong\"}}]",
                 etag);
        expect(f, "POST", u, body, 204, NULL);
        /* last-write without ETag always wins. */
        expect(f, "POST", u, "[{\"key\":\"fw\",\"value\":3}]", 204, NULL);
    }
}

struct racer {
    struct fx *f;
    const char *url;
    int status;
};

static void *race(void *p)
{
    struct racer *r = p;
    struct call *c = do_call(r->f, "POST", r->url,
                             "[{\"key\":\"race\",\"value\":1,\"options\":{\"concurrency\":"
                             "\"first-write\"}}]");

    r->status = c->resp.status;
    done(c);
    return NULL;
}

static void test_first_write_concurrent(void **state)
{
    struct fx *f = *state;

    for (size_t i = 0; i < 2; i++) {
        struct racer r[16];
        pthread_t t[16];
        char u[128];
        int ok = 0, conflict = 0;

        url(u, sizeof(u), "/v1.0/state/%s", stores[i]);
        for (int k = 0; k < 16; k++) {
            r[k] = (struct racer){.f = f, .url = u};
            assert_int_equal(pthread_create(&t[k], NULL, race, &r[k]), 0);
        }
        for (int k = 0; k < 16; k++) {
            pthread_join(t[k], NULL);
            ok += r[k].status == 204;
            conflict += r[k].status == 409;
        }
        assert_int_equal(ok, 1);
        assert_int_equal(conflict, 15);
    }
}

static void test_ttl(void **state)
{
    struct fx *f = *state;
    char u[128], g[128];

    for (size_t i = 0; i < 2; i++) {
        const char *s = stores[i];
        struct call *c;
        int64_t deadline = dc_mono_ns() + 5 * DC_NS_PER_SEC;
        int status = 200;

        url(u, sizeof(u), "/v1.0/state/%s", s);
        url(g, sizeof(g), "/v1.0/state/%s/ttl", s);
        expect(f, "POST", u,
               "[{\"key\":\"ttl\",\"value\":1,\"metadata\":{\"ttlInSeconds\":\"1\"}}]", 204, NULL);
        c = do_call(f, "GET", g, NULL);
        assert_int_equal(c->resp.status, 200);
        assert_non_null(dc_http_response_header_get(&c->resp, "metadata.ttlExpireTime"));
        done(c);
        while (status == 200 && dc_mono_ns() < deadline) {
            struct timespec ts = {0, 50 * 1000000};
            c = do_call(f, "GET", g, NULL);
            status = c->resp.status;
            done(c);
            if (status == 200)
                nanosleep(&ts, NULL);
        }
        assert_int_equal(status, 204);
        /* An expired key is absent for first-write too. */
        expect(f, "POST", u,
               "[{\"key\":\"ttl\",\"value\":2,\"options\":{\"concurrency\":\"first-write\"}}]", 204,
               NULL);
        /* Query metadata wins over the body's: -1 clears the TTL. */
        url(u, sizeof(u), "/v1.0/state/%s?metadata.ttlInSeconds=-1", s);
        expect(f, "POST", u,
               "[{\"key\":\"ttl\",\"value\":1,\"metadata\":{\"ttlInSeconds\":\"100\"}}]", 204,
               NULL);
        c = do_call(f, "GET", g, NULL);
        assert_null(dc_http_response_header_get(&c->resp, "metadata.ttlExpireTime"));
        done(c);
        url(u, sizeof(u), "/v1.0/state/%s", s);
        expect(f, "POST", u,
               "[{\"key\":\"ttl\",\"value\":1,\"metadata\":{\"ttlInSeconds\":\"x\"}}]", 500,
               "incorrect value for metadata 'ttlInSeconds'");
        expect(f, "POST", u,
               "[{\"key\":\"ttl\",\"value\":1,\"metadata\":{\"ttlInSeconds\":\"-2\"}}]", 500,
               "ERR_STATE_SAVE");
    }
}

static void test_transaction(void **state)
{
    struct fx *f = *state;
    char u[128], t[128], body[512], etag[80], g[128];

    for (size_t i = 0; i < 2; i++) {
        const char *s = stores[i];

        url(u, sizeof(u), "/v1.0/state/%s", s);
        url(t, sizeof(t), "/v1.0/state/%s/transaction", s);
        expect(f, "POST", u, "[{\"key\":\"c\",\"value\":1}]", 204, NULL);
        expect(
            f, "POST", t,
            "{\"operations\":[{\"operation\":\"upsert\",\"request\":{\"key\":\"a\",\"value\":"
            "\"A\"}},{\"operation\":\"upsert\",\"request\":{\"key\":\"b\",\"value\":2}},"
            "{\"operation\":\"delete\",\"request\":{\"key\":\"c\"}}],\"metadata\":{\"x\":\"y\"}}",
            204, NULL);
        assert_true(stored(f, s, "app||a", NULL, 0));
        assert_true(stored(f, s, "app||b", NULL, 0));
        assert_false(stored(f, s, "app||c", NULL, 0));
        /* A failing transaction leaves nothing behind: the ETag of the last op is stale. */
        expect(f, "POST", t,
               "{\"operations\":[{\"operation\":\"upsert\",\"request\":{\"key\":\"x1\",\"value\":"
               "1}},{\"operation\":\"delete\",\"request\":{\"key\":\"a\"}},{\"operation\":"
               "\"upsert\",\"request\":{\"key\":\"b\",\"value\":3,\"etag\":\"stale\"}}]}",
               500, "ERR_STATE_TRANSACTION");
        assert_false(stored(f, s, "app||x1", NULL, 0));
        assert_true(stored(f, s, "app||a", NULL, 0));
        /* With the right ETag it applies. */
        url(g, sizeof(g), "/v1.0/state/%s/b", s);
        get_etag(f, g, etag, sizeof(etag));
        snprintf(body, sizeof(body),
                 "{\"operations\":[{\"operation\":\"upsert\",\"request\":{\"key\":\"x1\","
                 "\"value\":1}},{\"operation\":\"delete\",\"request\":{\"key\":\"b\",\"etag\":"
                 "\"%s\"}}]}",
                 etag);
        expect(f, "PUT", t, body, 204, NULL);
        assert_true(stored(f, s, "app||x1", NULL, 0));
        assert_false(stored(f, s, "app||b", NULL, 0));
        expect(f, "POST", t, "{\"operations\":[]}", 204, NULL);
        expect(f, "POST", t, "{}", 204, NULL);
        expect(f, "POST", t, "{\"operations\":[{\"operation\":\"merge\",\"request\":{}}]}", 400,
               "ERR_NOT_SUPPORTED_STATE_OPERATION");
        expect(f, "POST", t, "{\"operations\":{}}", 400, "ERR_MALFORMED_REQUEST");
        expect(f, "POST", t, "{\"operations\":[{\"operation\":\"upsert\",\"request\":7}]}", 400,
               "ERR_MALFORMED_REQUEST");
        expect(f, "POST", t,
               "{\"operations\":[{\"operation\":\"upsert\",\"request\":{\"key\":\"a||b\"}}]}", 400,
               "DAPR_STATE_ILLEGAL_KEY");
        expect(f, "POST", t,
               "{\"operations\":[{\"operation\":\"upsert\",\"request\":{\"key\":\"q\","
               "\"metadata\":{\"ttlInSeconds\":\"zz\"}}}]}",
               500, "error while executing state transaction: incorrect value");
    }
}

static void test_transaction_limits(void **state)
{
    struct fx *f = *state;
    struct call *c;

    c = do_call(f, "POST", "/v1.0/state/fakeq/transaction", "{}");
    assert_int_equal(c->resp.status, 500);
    expect_reason(c, "ERR_STATE_STORE_NOT_SUPPORTED", "DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED");
    assert_non_null(strstr(body_of(c), "google.rpc.Help"));
    done(c);
    c = do_call(f, "POST", "/v1.0/state/faketx/transaction",
                "{\"operations\":[{\"operation\":\"delete\",\"request\":{\"key\":\"a\"}},"
                "{\"operation\":\"delete\",\"request\":{\"key\":\"b\"}},"
                "{\"operation\":\"delete\",\"request\":{\"key\":\"c\"}}]}");
    assert_int_equal(c->resp.status, 400);
    expect_reason(c, "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS", "DAPR_STATE_TOO_MANY_TRANSACTIONS");
    assert_non_null(strstr(body_of(c), "\"currentOpsTransaction\":\"3\""));
    done(c);
    /* A store that is down: 500 with the component's message. */
    expect(f, "POST", "/v1.0/state/fakeq", "[{\"key\":\"a\",\"value\":1}]", 500,
           "failed saving state in state store fakeq: backend down");
}

static void test_bulk_get(void **state)
{
    struct fx *f = *state;
    char u[128], b[128];

    for (size_t i = 0; i < 2; i++) {
        const char *s = stores[i];
        struct call *c;
        cJSON *j, *e;

        url(u, sizeof(u), "/v1.0/state/%s", s);
        url(b, sizeof(b), "/v1.0/state/%s/bulk", s);
        expect(f, "POST", u,
               "[{\"key\":\"b1\",\"value\":{\"x\":1}},{\"key\":\"b2\",\"value\":\"two\","
               "\"metadata\":{\"ttlInSeconds\":\"100\"}}]",
               204, NULL);
        c = do_call(f, "POST", b, "{\"keys\":[\"b2\",\"nope\",\"b1\"],\"parallelism\":4}");
        assert_int_equal(c->resp.status, 200);
        j = cJSON_Parse(body_of(c));
        assert_int_equal(cJSON_GetArraySize(j), 3);
        e = cJSON_GetArrayItem(j, 0);
        assert_string_equal(cJSON_GetObjectItem(e, "key")->valuestring, "b2");
        assert_string_equal(cJSON_GetObjectItem(e, "data")->valuestring, "two");
        assert_non_null(cJSON_GetObjectItem(e, "etag"));
        assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "ttlExpireTime"));
        e = cJSON_GetArrayItem(j, 1);
        assert_string_equal(cJSON_GetObjectItem(e, "key")->valuestring, "nope");
        assert_int_equal(cJSON_GetArraySize(e), 1);
        e = cJSON_GetArrayItem(j, 2);
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "data"), "x")->valueint, 1);
        cJSON_Delete(j);
        done(c);
        c = do_call(f, "PUT", b, "{\"keys\":[]}");
        assert_int_equal(c->resp.status, 200);
        assert_string_equal(body_of(c), "[]\n");
        done(c);
        expect(f, "POST", b, "{\"keys\":\"b1\"}", 400, "ERR_MALFORMED_REQUEST");
        expect(f, "POST", b, "{\"keys\":[1]}", 400, "ERR_MALFORMED_REQUEST");
        expect(f, "POST", b, "{\"keys\":[\"a\"],\"parallelism\":\"x\"}", 400,
               "ERR_MALFORMED_REQUEST");
        /* Beyond int64 (fuzz_sdc_state_api: the conversion was undefined) or fractional. */
        expect(f, "POST", b, "{\"keys\":[\"a\"],\"parallelism\":1e30}", 400,
               "ERR_MALFORMED_REQUEST");
        expect(f, "POST", b, "{\"keys\":[\"a\"],\"parallelism\":-9223372036854775809e3}", 400,
               "ERR_MALFORMED_REQUEST");
        expect(f, "POST", b, "{\"keys\":[\"a\"],\"parallelism\":1.5}", 400,
               "ERR_MALFORMED_REQUEST");
        c = do_call(f, "POST", b, "{\"keys\":[],\"parallelism\":-9223372036854775808}");
        assert_int_equal(c->resp.status, 200);
        done(c);
        expect(f, "POST", b, "{\"keys\":[\"a||b\"]}", 400, "DAPR_STATE_ILLEGAL_KEY");
        expect(f, "POST", b, "[", 400, "failed deserializing HTTP body");
    }
}

static void test_key_prefix(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *store;
        const char *key;
    } cases[] = {
        {"mem", "app||pk"},         {"none", "pk"},         {"named", "named||pk"},
        {"custom", "myprefix||pk"}, {"ns", "prod.app||pk"},
    };
    char u[128], b[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct call *c;

        url(u, sizeof(u), "/v1.0/state/%s", cases[i].store);
        expect(f, "POST", u, "[{\"key\":\"pk\",\"value\":5}]", 204, NULL);
        assert_true(stored(f, cases[i].store, cases[i].key, NULL, 0));
        url(b, sizeof(b), "/v1.0/state/%s/bulk", cases[i].store);
        c = do_call(f, "POST", b, "{\"keys\":[\"pk\"]}");
        assert_non_null(strstr(body_of(c), "[{\"key\":\"pk\",\"data\":5"));
        done(c);
    }
    assert_string_equal(sdc_state_key_original("app||a||b"), "a||b");
    assert_string_equal(sdc_state_key_original("plain"), "plain");
    {
        struct sdc_md md = {0};
        struct dc_errbuf eb = {0};
        sdc_md_set(&md, "keyPrefix", "a||b");
        assert_int_equal(sdc_state_check_component(&md, &eb), DC_EINVAL);
        sdc_md_cleanup(&md);
    }
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    struct call *c;

    expect(f, "POST", "/v1.0/state/mem", "{", 400, "ERR_MALFORMED_REQUEST");
    expect(f, "POST", "/v1.0/state/mem", "", 400, "ERR_MALFORMED_REQUEST");
    expect(f, "POST", "/v1.0/state/mem", "{\"key\":\"a\"}", 400, "cannot unmarshal object");
    expect(f, "POST", "/v1.0/state/mem", "[1]", 400, "ERR_MALFORMED_REQUEST");
    expect(f, "POST", "/v1.0/state/mem", "[{\"key\":7,\"value\":1}]", 400,
           "SetRequest.key of type string");
    expect(f, "POST", "/v1.0/state/mem", "[{\"value\":1}]", 400, "\\\"key\\\" is a required field");
    expect(f, "POST", "/v1.0/state/mem", "[{\"key\":\"a\",\"etag\":1}]", 400,
           "ERR_MALFORMED_REQUEST");
    expect(f, "POST", "/v1.0/state/mem", "[{\"key\":\"a\",\"metadata\":{\"x\":1}}]", 400,
           "ERR_MALFORMED_REQUEST");
    expect(f, "POST", "/v1.0/state/mem", "[{\"key\":\"a\",\"metadata\":[]}]", 400,
           "ERR_MALFORMED_REQUEST");
    expect(f, "POST", "/v1.0/state/mem", "[{\"key\":\"a\",\"options\":\"x\"}]", 400,
           "ERR_MALFORMED_REQUEST");
    /* NUL inside a JSON key: refused by the strict parser. */
    expect(f, "POST", "/v1.0/state/mem", "[{\"key\":\"a\\u0000b\",\"value\":1}]", 400,
           "ERR_MALFORMED_REQUEST");
    /* Invalid UTF-8 inside JSON. */
    expect(f, "POST", "/v1.0/state/mem", "[{\"key\":\"a\xff\",\"value\":1}]", 400,
           "ERR_MALFORMED_REQUEST");
    c = do_call(f, "POST", "/v1.0/state/mem", "[{\"key\":\"a||b\",\"value\":1}]");
    assert_int_equal(c->resp.status, 400);
    expect_reason(c, "ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY");
    assert_non_null(strstr(body_of(c), "\"field\":\"a||b\""));
    done(c);
    /* Path keys: "||", NUL and invalid UTF-8 after percent-decoding. */
    c = do_call(f, "GET", "/v1.0/state/mem/a%7C%7Cb", NULL);
    assert_int_equal(c->resp.status, 400);
    expect_reason(c, "ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY");
    done(c);
    c = do_call(f, "GET", "/v1.0/state/mem/a%00b", NULL);
    assert_int_equal(c->resp.status, 400);
    expect_reason(c, "ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY");
    done(c);
    c = do_call(f, "DELETE", "/v1.0/state/sq/a%FFb", NULL);
    assert_int_equal(c->resp.status, 400);
    expect_reason(c, "ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY");
    done(c);
    /* ".." as a path segment is cleaned away by the router: not a state route. */
    c = do_call(f, "GET", "/v1.0/state/mem/..", NULL);
    assert_int_equal(c->rv, DC_ENOTFOUND);
    done(c);
    /* A body over --max-body-size. */
    c = dc_xcalloc(1, sizeof(*c));
    dc_arena_init(&c->arena);
    c->req = (struct dc_http_request){.method = "POST",
                                      .path = "/v1.0/state/mem",
                                      .query = "",
                                      .body = "[",
                                      .body_len = 1,
                                      .body_too_large = true,
                                      .arena = &c->arena};
    dc_http_response_init(&c->resp, &c->arena);
    (void)dc_http_router_dispatch(f->r, &c->req, &c->resp);
    assert_int_equal(c->resp.status, 400);
    assert_non_null(strstr(body_of(c), "ERR_MALFORMED_REQUEST"));
    done(c);
    /* Deep nesting and big documents stay bounded errors. */
    {
        size_t n = 100000;
        char *deep = dc_xmalloc(2 * n + 1);
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        deep[2 * n] = '\0';
        expect(f, "POST", "/v1.0/state/mem", deep, 400, "ERR_MALFORMED_REQUEST");
        free(deep);
    }
}

/* The save handler's fast path (bodies read without cJSON) against its cJSON path: the same
 * status, response body and ops given to the store, on bodies it takes and bodies it declines. */
static void test_save_fast_path(void **state)
{
    static const char *const bodies[] = {
        "[{\"key\":\"k\",\"value\":\"v\"}]",
        "[{\"key\":\"k\",\"value\":{\"a\":[1,2,\"x\"],\"b\":{}}}]",
        " [ { \"key\" : \"k\" , \"value\" : { \"b\" : [ 1 , { } ] , \"a\" : true } } ] \n",
        "[{\"key\":\"k\",\"value\":{\"z\":1,\"a\":2,\"z\":3}}]",
        "[{\"key\":\"k\",\"value\":\"q\\\"b\\\\n\\n\\t\\r\\b\\f\"}]",
        "[{\"key\":\"k\",\"value\":\"\\/\\u00e9\"}]",
        "[{\"key\":\"k\",\"value\":\"\xc3\xa9\xe2\x80\xa8\"}]",
        "[{\"key\":\"k\",\"value\":[0,-1,123456789,1234567890,1.5,-0,1e2,1E+2,0.0]}]",
        "[{\"key\":\"k\",\"value\":-0}]",
        "[{\"key\":\"k\",\"value\":null},{\"key\":\"k2\"}]",
        "[{\"value\":1,\"KEY\":\"upper\",\"key\":\"second\"}]",
        "[{\"key\":\"k\",\"Value\":1,\"value\":2}]",
        "[{\"key\":\"k\",\"value\":1,\"etag\":\"7\",\"contentType\":\"text/plain\"}]",
        "[{\"key\":\"k\",\"value\":1,\"etag\":\"\",\"ContentType\":\"a/b\"}]",
        "[{\"key\":\"k\",\"value\":1,\"metadata\":null,\"options\":null}]",
        "[{\"key\":\"k\",\"value\":1,\"metadata\":{\"ttlInSeconds\":\"5\"}}]",
        "[{\"key\":\"k\",\"value\":1,\"options\":{\"concurrency\":\"first-write\"}}]",
        "[{\"key\":\"k\",\"value\":1,\"extra\":[{\"x\":\"\\u0041\"}],\"n\":1e300}]",
        "[{\"key\":\"a\\u0062\",\"value\":1}]",
        "[{\"key\":\"fail1\",\"value\":1},{\"key\":\"ok\",\"value\":2}]",
        "[{\"key\":\"a||b\",\"value\":1}]",
        "[{\"key\":\"ok\",\"value\":1},{\"key\":\"\",\"value\":1}]",
        "[{\"key\":\"k\",\"value\":1},7]",
        "[{\"key\":\"k\",\"value\":1}]x",
        "[{\"key\":\"k\",\"value\":1,}]",
        "[{\"key\":\"k\",\"value\":01}]",
        "[{\"key\":\"k\",\"value\":\"\xff\"}]",
        "[{\"key\":\"k\",\"value\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]",
        "[{\"key\":\"k\",\"value\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]",
        "[]",
        "{\"key\":\"k\"}",
    };
    static const char *const urls[] = {"/v1.0/state/rec", "/v1.0/state/rec?metadata.a=1"};
    struct fx *f = *state;

    for (size_t u = 0; u < 2; u++) {
        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
            char *want_log, *want_body;
            int want_status;
            struct call *c;

            sdc__state_save_fast = false;
            dc_buf_reset(&rec_log);
            c = do_call(f, "POST", urls[u], bodies[i]);
            want_status = c->resp.status;
            want_body = dc_xstrdup(body_of(c));
            want_log = dc_xstrdup(dc_buf_cstr(&rec_log));
            done(c);
            sdc__state_save_fast = true;
            dc_buf_reset(&rec_log);
            c = do_call(f, "POST", urls[u], bodies[i]);
            if (c->resp.status != want_status || strcmp(body_of(c), want_body) != 0 ||
                strcmp(dc_buf_cstr(&rec_log), want_log) != 0)
                fail_msg("%s: fast %d %s\n%s\ncJSON %d %s\n%s", bodies[i], c->resp.status,
                         body_of(c), dc_buf_cstr(&rec_log), want_status, want_body, want_log);
            done(c);
            free(want_body);
            free(want_log);
        }
    }
    /* The fast path did run: a stored value keeps the body's bytes (compacted). */
    dc_buf_reset(&rec_log);
    expect(f, "POST", "/v1.0/state/rec", "[{\"key\":\"k\",\"value\": { \"a\" : 1 } }]", 204, NULL);
    assert_non_null(strstr(dc_buf_cstr(&rec_log), "len=7 value={\"a\":1}\n"));
    dc_buf_cleanup(&rec_log);
}

static void test_query(void **state)
{
    struct fx *f = *state;
    struct call *c;

    c = do_call(f, "POST", "/v1.0-alpha1/state/mem/query", "{}");
    assert_int_equal(c->resp.status, 500);
    expect_reason(c, "ERR_STATE_STORE_NOT_SUPPORTED", "DAPR_STATE_QUERYING_NOT_SUPPORTED");
    done(c);
    c = do_call(f, "POST", "/v1.0-alpha1/state/fakeq/query", "{\"filter\":{}}");
    assert_int_equal(c->resp.status, 200);
    assert_non_null(strstr(body_of(c), "\"key\":\"k1\""));
    assert_non_null(strstr(body_of(c), "\"token\":\"1\""));
    done(c);
    expect(f, "PUT", "/v1.0-alpha1/state/fakeq/query", "{\"empty\":1}", 204, NULL);
    c = do_call(f, "POST", "/v1.0-alpha1/state/fakeq/query", "{\"fail\":1}");
    assert_int_equal(c->resp.status, 500);
    expect_reason(c, "ERR_STATE_QUERY", "DAPR_STATE_QUERY_FAILED");
    done(c);
    c = do_call(f, "POST", "/v1.0-alpha1/state/fakeq/query", "nope");
    expect_reason(c, "ERR_STATE_QUERY", "DAPR_STATE_QUERY_FAILED");
    done(c);
}

static void test_sqlite_persists(void **state)
{
    struct fx *f = *state;
    const struct sdc_component_type *t = sdc_component_type_find("state.sqlite3", "v1");
    struct sdc_md md = {0};
    struct sdc_init_ctx ctx = {.name = "x", .app_id = "app"};
    struct dc_errbuf eb = {0};
    void *self = NULL;
    const struct sdc_state_ops *ops;
    struct sdc_state_get g = {.key = "app||persist"};
    struct sdc_state_value v = {0};

    assert_non_null(t);
    ops = (const struct sdc_state_ops *)t->ops;
    expect(f, "POST", "/v1.0/state/sq", "[{\"key\":\"persist\",\"value\":[1]}]", 204, NULL);
    /* A second connection to the same file (another sidecar) reads what the first wrote. */
    sdc_md_set(&md, "connectionString", f->db);
    assert_int_equal(ops->base.init(&self, &md, &ctx, &eb), DC_OK);
    assert_int_equal(ops->get(self, &g, &v, &eb), DC_OK);
    assert_true(v.found);
    assert_string_equal(dc_buf_cstr(&v.data), "[1]");
    assert_int_equal(strlen(v.etag), 36);
    dc_buf_cleanup(&v.data);
    ops->base.close(self);
    sdc_md_cleanup(&md);
    /* Bad metadata fails init. */
    sdc_md_set(&md, "connectionString", f->db);
    sdc_md_set(&md, "tableName", "x; drop");
    assert_int_equal(ops->base.init(&self, &md, &ctx, &eb), DC_EINVAL);
    sdc_md_cleanup(&md);
    assert_int_equal(ops->base.init(&self, &md, &ctx, &eb), DC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_not_configured, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_etags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_write_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transaction_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_fast_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_persists, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
