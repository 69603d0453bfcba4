/* The configuration HTTP API and the app callback (sidecar-api.md §9; upstream
 * pkg/api/http/http.go onGetConfiguration, onSubscribeConfiguration, onUnsubscribeConfiguration
 * and configurationEventHandler). The store types live in configuration_redis.c and
 * configuration_postgres.c.
 *
 * Subscriptions made through the API are kept in one process-wide list (id -> store and the
 * store's handle); the id is a UUID made here, as upstream's stores make one. Each change event
 * a store reports is POSTed to the app once per changed key, under the component's inbound
 * resiliency policy, on the store's own thread. */
#include "configuration.h"

#include "http_api.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/json.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/rand.h"
#include "dc/str.h"
#include "dc/time.h"

#include "app_channel.h"
#include "resiliency.h"
#include "runtime.h"

#define METADATA_PREFIX "metadata."

struct cfg_sub {
    struct cfg_sub *next;
    struct sdc_runtime *rt;
    struct sdc_component *sc;
    char *store;
    char id[37];
    void *handle;
};

static pthread_mutex_t subs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cfg_sub *subs;

/* ---- JSON ---------------------------------------------------------------------------------- */

static int cmp_item(const void *a, const void *b)
{
    return strcmp((*(const struct sdc_cfg_item *const *)a)->key,
                  (*(const struct sdc_cfg_item *const *)b)->key);
}

static int cmp_idx(const void *a, const void *b, void *md)
{
    const struct sdc_md *m = md;
    return strcmp(m->names[*(const size_t *)a], m->names[*(const size_t *)b]);
}

/* Sort `idx[0..n)` by metadata name (insertion sort: item metadata is small). */
static void sort_md(const struct sdc_md *md, size_t *idx)
{
    for (size_t i = 0; i < md->n; i++)
        idx[i] = i;
    for (size_t i = 1; i < md->n; i++)
        for (size_t j = i; j > 0 && cmp_idx(&idx[j - 1], &idx[j], (void *)(uintptr_t)md) > 0; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
}

/* configuration.Item: value, version, metadata, each omitted when empty. */
static int append_item(struct dc_buf *b, const struct sdc_cfg_item *it)
{
    bool comma = false;
    int rv = dc_buf_appendc(b, '{');

    if (rv == DC_OK && !dc_str_empty(it->value)) {
        rv = dc_json_append_kv_string(b, "value", it->value, comma);
        comma = true;
    }
    if (rv == DC_OK && !dc_str_empty(it->version)) {
        rv = dc_json_append_kv_string(b, "version", it->version, comma);
        comma = true;
    }
    if (rv == DC_OK && it->md.n > 0) {
        size_t *idx = dc_xmalloc(it->md.n * sizeof(*idx));
        size_t out = 0;

        sort_md(&it->md, idx);
        rv = dc_buf_appends(b, comma ? ",\"metadata\":{" : "\"metadata\":{");
        for (size_t i = 0; i < it->md.n && rv == DC_OK; i++) {
            /* A Go map holds each name once: the last value wins. */
            if (i + 1 < it->md.n && strcmp(it->md.names[idx[i]], it->md.names[idx[i + 1]]) == 0)
                continue;
            rv =
                dc_json_append_kv_string(b, it->md.names[idx[i]], it->md.values[idx[i]], out++ > 0);
        }
        if (rv == DC_OK)
            rv = dc_buf_appendc(b, '}');
        free(idx);
    }
    if (rv == DC_OK)
        rv = dc_buf_appendc(b, '}');
    return rv;
}

int sdc_configuration_items_json(const struct sdc_cfg_item *items, size_t n, struct dc_buf *out)
{
    const struct sdc_cfg_item **v = n > 0 ? dc_xmalloc(n * sizeof(*v)) : NULL;
    size_t written = 0;
    int rv;

    for (size_t i = 0; i < n; i++)
        v[i] = &items[i];
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_item);
    rv = dc_buf_appendc(out, '{');
    for (size_t i = 0; i < n && rv == DC_OK; i++) {
        /* One entry per key; the last item of a key wins, as assigning into a Go map. */
        if (i + 1 < n && strcmp(v[i]->key, v[i + 1]->key) == 0)
            continue;
        if (written++ > 0)
            rv = dc_buf_appendc(out, ',');
        if (rv == DC_OK)
            rv = dc_json_append_string(out, v[i]->key, strlen(v[i]->key));
        if (rv == DC_OK)
            rv = dc_buf_appendc(out, ':');
        if (rv == DC_OK)
            rv = append_item(out, v[i]);
    }
    if (rv == DC_OK)
        rv = dc_buf_appendc(out, '}');
    free(v);
    return rv;
}

int sdc_configuration_event_json(const char *id, const struct sdc_cfg_item *items, size_t n,
                                 struct dc_buf *out)
{
    int rv = dc_buf_appends(out, "{\"id\":");

    if (rv == DC_OK)
        rv = dc_json_append_string(out, id, strlen(id));
    if (rv == DC_OK)
        rv = dc_buf_appends(out, ",\"items\":");
    if (rv == DC_OK)
        rv = sdc_configuration_items_json(items, n, out);
    if (rv == DC_OK)
        rv = dc_buf_appends(out, "}\n");
    return rv;
}

/* ---- the app callback ---------------------------------------------------------------------- */

struct deliver {
    struct cfg_sub *sub;
    const char *path;
    const struct dc_buf *body;
    struct dc_arena *arena;
};

static int deliver_attempt(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    struct deliver *d = ud;
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    struct sdc_app_call call = {
        .method = "POST",
        .path = d->path,
        .headers = headers,
        .body = d->body->data,
        .body_len = d->body->len,
        .deadline_ns = deadline_ns,
    };
    struct dc_http_result res = {0};
    int rv = sdc_app_channel_call(d->sub->rt->app, &call, d->arena, &res, eb);

    if (rv == DC_OK) {
        *status = (int)res.status;
        /* Only 200 counts as delivered (upstream). */
        if (res.status != 200)
            rv = dc_err_set(eb, DC_EIO,
                            "error sending configuration item to application, status %ld",
                            res.status);
    }
    dc_http_result_cleanup(&res);
    return rv;
}

/* "/configuration/<store>/<key>" with both segments percent-encoded beyond the unreserved
 * characters, so any key makes a valid request line. */
static const char *callback_path(struct dc_arena *a, const char *store, const char *key)
{
    struct dc_buf b;
    const char *segs[2] = {store, key};
    const char *path;

    dc_buf_init(&b, 0);
    DC_ASSERT(dc_buf_appends(&b, "/configuration") == DC_OK);
    for (int s = 0; s < 2; s++) {
        DC_ASSERT(dc_buf_appendc(&b, '/') == DC_OK);
        for (const unsigned char *p = (const unsigned char *)segs[s]; *p != '\0'; p++) {
            if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '.' || *p == '_' || *p == '~')
                DC_ASSERT(dc_buf_appendc(&b, (char)*p) == DC_OK);
            else
                DC_ASSERT(dc_buf_appendf(&b, "%%%02X", *p) == DC_OK);
        }
    }
    path = dc_arena_strndup(a, b.data, b.len);
    dc_buf_cleanup(&b);
    return path;
}

static void on_update(void *ud, const struct sdc_cfg_item *items, size_t n)
{
    struct cfg_sub *sub = ud;
    const struct sdc_res_policy *pol = sdc_resiliency_policy(
        sub->rt->resiliency, SDC_RES_COMPONENT_IN, sub->store, SDC_CAT_CONFIGURATION);
    struct dc_buf body;
    struct dc_arena arena;

    dc_buf_init(&body, 0);
    dc_arena_init(&arena);
    if (sdc_configuration_event_json(sub->id, items, n, &body) != DC_OK)
        goto out;
    /* One POST per changed key, each with the whole event (§9). */
    for (size_t i = 0; i < n; i++) {
        struct deliver d = {sub, callback_path(&arena, sub->store, items[i].key), &body, &arena};
        struct dc_errbuf eb = {0};
        bool dup = false;

        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(items[j].key, items[i].key) == 0;
        if (dup)
            continue;
        if (sdc_resiliency_run(pol, sub->store, deliver_attempt, &d, NULL, &eb) != DC_OK)
            DC_LOG(DC_LOG_ERROR, "error sending configuration item to the app: %s", eb.msg);
    }
out:
    dc_arena_cleanup(&arena);
    dc_buf_cleanup(&body);
}

/* ---- HTTP handlers ------------------------------------------------------------------------- */

/* The metadata.* query parameters, prefix removed, first value of each name (§1.4). */
static void request_metadata(struct dc_http_request *req, struct sdc_md *md)
{
    const struct dc_http_query_pair *p;
    size_t it = 0, cap = 0;

    memset(md, 0, sizeof(*md));
    while (dc_http_request_query_next(req, &it, &p))
        cap += dc_str_has_prefix(p->name, METADATA_PREFIX);
    if (cap == 0)
        return;
    md->names = dc_arena_alloc(req->arena, cap * sizeof(*md->names));
    md->values = dc_arena_alloc(req->arena, cap * sizeof(*md->values));
    it = 0;
    while (dc_http_request_query_next(req, &it, &p)) {
        const char *name = p->name + strlen(METADATA_PREFIX);
        bool dup = false;

        if (!dc_str_has_prefix(p->name, METADATA_PREFIX))
            continue;
        for (size_t i = 0; i < md->n && !dup; i++)
            dup = strcmp(md->names[i], name) == 0;
        if (dup)
            continue;
        md->names[md->n] = (char *)(uintptr_t)name;
        md->values[md->n] = (char *)(uintptr_t)p->value;
        md->n++;
    }
}

/* Every `key` query parameter, in order, in arena memory. */
static const char **request_keys(struct dc_http_request *req, size_t *n)
{
    const struct dc_http_query_pair *p;
    const char **keys;
    size_t it = 0, cap = 0;

    while (dc_http_request_query_next(req, &it, &p))
        cap += strcmp(p->name, "key") == 0;
    keys = dc_arena_alloc(req->arena, (cap + 1) * sizeof(*keys));
    *n = 0;
    it = 0;
    while (dc_http_request_query_next(req, &it, &p))
        if (strcmp(p->name, "key") == 0)
            keys[(*n)++] = p->value;
    return keys;
}

/* Go's %s of a []string: "[a b c]". */
static const char *keys_text(struct dc_arena *a, const char *const *keys, size_t n)
{
    struct dc_buf b;
    const char *s;

    dc_buf_init(&b, 0);
    DC_ASSERT(dc_buf_appendc(&b, '[') == DC_OK);
    for (size_t i = 0; i < n; i++)
        DC_ASSERT(dc_buf_appendf(&b, i > 0 ? " %s" : "%s", keys[i]) == DC_OK);
    DC_ASSERT(dc_buf_appendc(&b, ']') == DC_OK);
    s = dc_arena_strndup(a, b.data, b.len);
    dc_buf_cleanup(&b);
    return s;
}

/* getConfigurationStoreWithRequestValidation: 500 without stores, 400 for an unknown one. */
static struct sdc_component *find_store(struct sdc_runtime *rt, struct dc_http_response *resp,
                                        const char *name)
{
    struct sdc_component *sc;

    if (sdc_components_count(&rt->comps, SDC_CAT_CONFIGURATION) == 0) {
        dc_http_response_error(resp, 500, "ERR_CONFIGURATION_STORE_NOT_CONFIGURED",
                               "configuration stores not configured");
        return NULL;
    }
    sc = sdc_components_find(&rt->comps, SDC_CAT_CONFIGURATION, name);
    if (sc == NULL)
        dc_http_response_error(
            resp, 400, "ERR_CONFIGURATION_STORE_NOT_FOUND",
            dc_arena_sprintf(resp->arena, "configuration store %s not found", name));
    return sc;
}

static const struct sdc_configuration_ops *ops_of(const struct sdc_component *sc)
{
    return (const struct sdc_configuration_ops *)sc->type->ops;
}

static void respond_json(struct dc_http_response *resp, int status, const void *data, size_t len)
{
    if (dc_http_response_body(resp, data, len, "application/json") != DC_OK) {
        resp->status = 500;
        return;
    }
    resp->status = status;
}

/* GET /v1.0/configuration/{storeName} */
static void on_get(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *store = dc_http_request_param(req, "storeName");
    struct sdc_component *sc = find_store(rt, resp, store);
    struct sdc_cfg_item *items = NULL;
    struct dc_errbuf eb = {0};
    int64_t t0;
    int rv;
    struct sdc_md md;
    const char **keys;
    size_t nkeys, n = 0;
    struct dc_buf b;

    if (sc == NULL)
        return;
    request_metadata(req, &md);
    keys = request_keys(req, &nkeys);
    t0 = dc_mono_ns();
    rv = ops_of(sc)->get(sc->self, keys, nkeys, &md, req->arena, &items, &n, &eb);
    sdc_comp_metric(rt, SDC_CM_CONFIGURATION, store, SDC_CM_GET, rv == DC_OK, t0);
    if (rv != DC_OK) {
        dc_http_response_error(resp, 500, "ERR_CONFIGURATION_GET",
                               dc_arena_sprintf(resp->arena,
                                                "failed to get %s from Configuration store %s: %s",
                                                keys_text(req->arena, keys, nkeys), store, eb.msg));
        return;
    }
    if (n == 0) {
        resp->status = 204;
        return;
    }
    dc_buf_init(&b, 0);
    if (sdc_configuration_items_json(items, n, &b) != DC_OK)
        resp->status = 500;
    else
        respond_json(resp, 200, b.data, b.len);
    dc_buf_cleanup(&b);
}

static void sub_free(struct cfg_sub *s)
{
    if (s == NULL)
        return;
    free(s->store);
    free(s);
}

/* GET /v1.0/configuration/{storeName}/subscribe */
static void on_subscribe(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *store = dc_http_request_param(req, "storeName");
    struct sdc_component *sc = find_store(rt, resp, store);
    struct dc_errbuf eb = {0};
    struct cfg_sub *sub;
    struct sdc_md md;
    const char **keys;
    size_t nkeys;
    char body[64];
    int64_t t0;
    int rv;

    if (sc == NULL)
        return;
    if (rt->app == NULL) {
        dc_http_response_error(resp, 500, "ERR_APP_CHANNEL_NIL",
                               "app channel is not initialized. cannot subscribe to "
                               "configuration updates");
        return;
    }
    request_metadata(req, &md);
    keys = request_keys(req, &nkeys);
    sub = dc_xcalloc(1, sizeof(*sub));
    sub->rt = rt;
    sub->sc = sc;
    sub->store = dc_xstrdup(store);
    dc_uuid4(sub->id);
    t0 = dc_mono_ns();
    rv = ops_of(sc)->subscribe(sc->self, keys, nkeys, &md, on_update, sub, &sub->handle, &eb);
    sdc_comp_metric(rt, SDC_CM_CONFIGURATION, store, SDC_CM_SUBSCRIBE, rv == DC_OK, t0);
    if (rv != DC_OK) {
        dc_http_response_error(
            resp, 500, "ERR_CONFIGURATION_SUBSCRIBE",
            dc_arena_sprintf(resp->arena, "failed to subscribe %s from Configuration store %s: %s",
                             keys_text(req->arena, keys, nkeys), store, eb.msg));
        sub_free(sub);
        return;
    }
    pthread_mutex_lock(&subs_mu);
    sub->next = subs;
    subs = sub;
    pthread_mutex_unlock(&subs_mu);
    snprintf(body, sizeof(body), "{\"id\":\"%s\"}", sub->id);
    respond_json(resp, 200, body, strlen(body));
}

/* GET /v1.0/configuration/{storeName}/{configurationSubscribeID}/unsubscribe */
static void on_unsubscribe(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *store = dc_http_request_param(req, "storeName");
    const char *id = dc_http_request_param(req, "configurationSubscribeID");
    struct sdc_component *sc = find_store(rt, resp, store);
    struct cfg_sub *sub = NULL;
    struct dc_buf b;
    int64_t t0;

    if (sc == NULL)
        return;
    pthread_mutex_lock(&subs_mu);
    for (struct cfg_sub **pp = &subs; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->rt == rt && (*pp)->sc == sc && strcmp((*pp)->id, id) == 0) {
            sub = *pp;
            *pp = sub->next;
            break;
        }
    }
    pthread_mutex_unlock(&subs_mu);
    if (sub == NULL) {
        /* UnsubscribeConfigurationResponse{Ok: false, Message} with `ok` omitempty. */
        const char *msg = dc_arena_sprintf(
            req->arena,
            "failed to unsubscribe to configuration request %s: subscription with id %s does "
            "not exist",
            id, id);
        dc_buf_init(&b, 0);
        if (dc_buf_appends(&b, "{\"message\":") == DC_OK &&
            dc_json_append_string(&b, msg, strlen(msg)) == DC_OK &&
            dc_buf_appendc(&b, '}') == DC_OK)
            respond_json(resp, 500, b.data, b.len);
        else
            resp->status = 500;
        dc_buf_cleanup(&b);
        return;
    }
    t0 = dc_mono_ns();
    ops_of(sc)->unsubscribe(sc->self, sub->handle);
    sdc_comp_metric(rt, SDC_CM_CONFIGURATION, sub->store, SDC_CM_UNSUBSCRIBE, true, t0);
    sub_free(sub);
    respond_json(resp, 200, "{\"ok\":true}", 11);
}

void sdc_configuration_stop(struct sdc_runtime *rt)
{
    struct cfg_sub *mine = NULL;

    pthread_mutex_lock(&subs_mu);
    for (struct cfg_sub **pp = &subs; *pp != NULL;) {
        struct cfg_sub *s = *pp;
        if (s->rt == rt) {
            *pp = s->next;
            s->next = mine;
            mine = s;
        } else {
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&subs_mu);
    while (mine != NULL) {
        struct cfg_sub *next = mine->next;
        ops_of(mine->sc)->unsubscribe(mine->sc->self, mine->handle);
        sub_free(mine);
        mine = next;
    }
}

void sdc_configuration_api_routes(struct dc_http_router *r, struct sdc_runtime *rt)
{
    /* Literals: the route keeps the pattern as its metrics label. */
    static const struct {
        const char *pattern;
        dc_http_handler_fn *fn;
    } table[] = {
        {"/v1.0/configuration/{storeName}", on_get},
        {"/v1.0-alpha1/configuration/{storeName}", on_get},
        {"/v1.0/configuration/{storeName}/subscribe", on_subscribe},
        {"/v1.0-alpha1/configuration/{storeName}/subscribe", on_subscribe},
        {"/v1.0/configuration/{storeName}/{configurationSubscribeID}/unsubscribe", on_unsubscribe},
        {"/v1.0-alpha1/configuration/{storeName}/{configurationSubscribeID}/unsubscribe",
         on_unsubscribe},
    };

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        sdc_http_api_add(r, rt, "GET", table[i].pattern, table[i].fn);
}
