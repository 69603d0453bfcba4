/* Loading, scoping and the metadata API of the sidecar runtime. */
#include "runtime.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "bindings.h"
#include "comp_metrics.h"
#include "http_mw.h"
#include "pubsub.h"
#include "pubsub_api.h"
#include "secrets.h"
#include "resiliency.h"
#include "state_store.h"

#define MAX_EXTENDED 1000

const char *sdc_runtime_version(void)
{
    return DC_VERSION;
}

/* A resource applies to this app when its scopes are empty or name the app id, and (when the
 * sidecar has a NAMESPACE) when it has no namespace or the same one. */
static bool applies(const struct sdc_runtime *rt, const struct dc_res_meta *m)
{
    const char *ns = rt->cfg->namespace;
    bool scoped = m->nscopes == 0;

    if (!dc_str_empty(ns) && !dc_str_empty(m->namespace) && strcmp(ns, m->namespace) != 0)
        return false;
    for (size_t i = 0; i < m->nscopes && !scoped; i++)
        scoped = dc_str_eq(m->scopes[i], rt->cfg->app_id);
    return scoped;
}

/* Keep pointers to the elements of `arr` (n elements of `size` bytes, each starting with a
 * struct dc_res_meta) that apply to this app. */
static const void **filter(const struct sdc_runtime *rt, const void *arr, size_t n, size_t size,
                           size_t *out_n)
{
    const void **v = dc_xcalloc(n ? n : 1, sizeof(*v));
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        const void *el = (const char *)arr + i * size;
        if (applies(rt, (const struct dc_res_meta *)el))
            v[k++] = el;
    }
    *out_n = k;
    return v;
}

static int load_config(struct sdc_runtime *rt, struct dc_errbuf *eb)
{
    const struct dc_strlist *paths = &rt->cfg->config_paths;
    int rv;

    if (paths->n == 0)
        return DC_OK;
    /* Standalone mode merges the files in order; the last one wins. Our loader reads one
     * Configuration per file, so the last file is authoritative and earlier ones are
     * validated only. */
    for (size_t i = 0; i < paths->n; i++) {
        if (rt->have_conf)
            dc_configuration_cleanup(&rt->conf);
        rv = dc_configuration_load_file(&rt->conf, paths->v[i], eb);
        if (rv != DC_OK)
            return rv;
        rt->have_conf = true;
    }
    return DC_OK;
}

static void setup_metrics(struct sdc_runtime *rt)
{
    static const char *const http_labels[] = {"app_id", "method", "path", "status"};
    static const char *const lat_labels[] = {"app_id", "method", "path", "status"};

    /* Without a metrics server nothing would ever read them: no registry, and every
     * recording is a no-op on NULL metrics. */
    if (!rt->cfg->enable_metrics)
        return;
    rt->metrics = dc_metrics_new();
    rt->m_http_count =
        dc_metrics_counter(rt->metrics, "dapr_http_server_request_count",
                           "Number of HTTP requests started in server.", 4, http_labels);
    rt->m_http_latency = dc_metrics_histogram(
        rt->metrics, "dapr_http_server_latency",
        "HTTP request end-to-end latency in server (milliseconds).", 4, lat_labels,
        DC_METRICS_LATENCY_MS_BUCKETS, dc_metrics_latency_ms_buckets);
    sdc_comp_metrics_setup(rt);
}

static int check_components(const struct sdc_runtime *rt, struct dc_errbuf *eb)
{
    for (size_t i = 0; i < rt->ncomponents; i++) {
        const struct dc_component *c = rt->components[i];
        int64_t ns;

        if (!dc_str_empty(c->init_timeout) &&
            dc_duration_parse(c->init_timeout, &ns, eb) != DC_OK) {
            dc_err_wrapf(eb, "%s:%d: Component %s: spec.initTimeout", c->meta.file, c->meta.line,
                         c->meta.name);
            return DC_EINVAL;
        }
    }
    return DC_OK;
}

int sdc_runtime_init(struct sdc_runtime *rt, const struct sdc_config *cfg, struct dc_errbuf *eb)
{
    int rv;

    memset(rt, 0, sizeof(*rt));
    rt->cfg = cfg;
    pthread_mutex_init(&rt->lock, NULL);
    atomic_init(&rt->outbound_ready, false);
    atomic_init(&rt->ready, false);
    atomic_init(&rt->shutdown_requested, false);
    atomic_init(&rt->force_shutdown, false);

    rv = load_config(rt, eb);
    if (rv != DC_OK)
        return rv;
    for (size_t i = 0; i < cfg->resources_paths.n; i++) {
        rv = dc_resources_load_path(&rt->res, cfg->resources_paths.v[i], eb);
        if (rv != DC_OK)
            return rv;
    }
    rt->components = (const struct dc_component **)filter(
        rt, rt->res.components, rt->res.ncomponents, sizeof(*rt->res.components), &rt->ncomponents);
    rt->subscriptions = (const struct dc_subscription **)filter(
        rt, rt->res.subscriptions, rt->res.nsubscriptions, sizeof(*rt->res.subscriptions),
        &rt->nsubscriptions);
    rt->http_endpoints = (const struct dc_http_endpoint **)filter(
        rt, rt->res.http_endpoints, rt->res.nhttp_endpoints, sizeof(*rt->res.http_endpoints),
        &rt->nhttp_endpoints);
    rt->resiliencies =
        (const struct dc_resiliency **)filter(rt, rt->res.resiliencies, rt->res.nresiliencies,
                                              sizeof(*rt->res.resiliencies), &rt->nresiliencies);
    rv = check_components(rt, eb);
    if (rv != DC_OK)
        return rv;
    setup_metrics(rt);
    return DC_OK;
}

void sdc_runtime_cleanup(struct sdc_runtime *rt)
{
    free(rt->components);
    free(rt->subscriptions);
    free(rt->http_endpoints);
    free(rt->resiliencies);
    sdc_components_close(&rt->comps);
    if (rt->http_mw != NULL) {
        sdc_http_mw_cleanup(rt->http_mw);
        free(rt->http_mw);
    }
    sdc_resiliency_free(rt->resiliency);
    for (size_t i = 0; i < rt->nextended; i++) {
        free(rt->extended[i].key);
        free(rt->extended[i].value);
    }
    free(rt->extended);
    dc_resources_cleanup(&rt->res);
    if (rt->have_conf)
        dc_configuration_cleanup(&rt->conf);
    dc_metrics_free(rt->metrics);
    pthread_mutex_destroy(&rt->lock);
    memset(rt, 0, sizeof(*rt));
}

int sdc_runtime_set_extended(struct sdc_runtime *rt, const char *key, const char *value, size_t len)
{
    int rv = DC_OK;
    size_t i;

    pthread_mutex_lock(&rt->lock);
    for (i = 0; i < rt->nextended; i++)
        if (strcmp(rt->extended[i].key, key) == 0)
            break;
    if (i == rt->nextended) {
        if (rt->nextended >= MAX_EXTENDED) {
            rv = DC_ETOOBIG;
            goto out;
        }
        rt->extended = dc_xrealloc(rt->extended, (rt->nextended + 1) * sizeof(*rt->extended));
        rt->extended[i].key = dc_xstrdup(key);
        rt->extended[i].value = NULL;
        rt->nextended++;
    }
    free(rt->extended[i].value);
    rt->extended[i].value = dc_xstrndup(value, len);
out:
    pthread_mutex_unlock(&rt->lock);
    return rv;
}

int sdc_runtime_secret_ref(struct sdc_runtime *rt, const char *store, const char *name,
                           const char *key, char **out, struct dc_errbuf *eb)
{
    return sdc_secrets_resolve_ref(rt, store, name, key, out, eb);
}

void sdc_runtime_request_shutdown(struct sdc_runtime *rt, bool force)
{
    if (force)
        atomic_store(&rt->force_shutdown, true);
    atomic_store(&rt->shutdown_requested, true);
    kill(getpid(), SIGTERM);
}

/* ---- GET /v1.0/metadata ------------------------------------------------------------------ */

struct cap_name {
    unsigned bit;
    const char *name;
};

static const struct cap_name state_caps[] = {
    {SDC_STATE_F_ETAG, "ETAG"},
    {SDC_STATE_F_TRANSACTIONAL, "TRANSACTIONAL"},
    {SDC_STATE_F_QUERY_API, "QUERY_API"},
    {SDC_STATE_F_TTL, "TTL"},
    {SDC_STATE_F_DELETE_WITH_PREFIX, "DELETE_WITH_PREFIX"},
    {SDC_STATE_F_PARTITION_KEY, "PARTITION_KEY"},
    {SDC_STATE_F_KEYS_LIKE, "KEYS_LIKE"},
    {0, NULL},
};

static const struct cap_name pubsub_caps[] = {
    {SDC_PUBSUB_F_MESSAGE_TTL, "MESSAGE_TTL"},
    {SDC_PUBSUB_F_SUBSCRIBE_WILDCARDS, "SUBSCRIBE_WILDCARDS"},
    {SDC_PUBSUB_F_BULK_PUBLISH, "BULK_PUBSUB"},
    {SDC_PUBSUB_F_BULK_SUBSCRIBE, "BULK_SUBSCRIBE_IMMEDIATE"},
    {0, NULL},
};

/* Append `name` to o's "capabilities" array, creating it (upstream omits an empty one). */
static void add_cap(cJSON *o, const char *name)
{
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "capabilities");

    if (arr == NULL)
        arr = cJSON_AddArrayToObject(o, "capabilities");
    cJSON_AddItemToArray(arr, cJSON_CreateString(name));
}

static void add_caps(cJSON *o, unsigned features, const struct cap_name *names)
{
    for (; names->name != NULL; names++)
        if (features & names->bit)
            add_cap(o, names->name);
}

/* Capability strings of a loaded component (§3.1). */
static void add_capabilities(cJSON *o, const struct sdc_component *sc)
{
    unsigned f;

    if (sc->type == NULL)
        return;
    switch (sc->type->category) {
    case SDC_CAT_SECRETSTORES:
        if (sdc_secrets_features(sc) & SDC_SECRET_F_MULTIPLE_KEY_VALUES)
            add_cap(o, "MULTIPLE_KEY_VALUES_PER_SECRET");
        break;
    case SDC_CAT_STATE:
        f = ((const struct sdc_state_ops *)sc->type->ops)->features;
        add_caps(o, f, state_caps);
        /* A store with ETags and transactions can hold actor state. */
        if ((f & SDC_STATE_F_ETAG) && (f & SDC_STATE_F_TRANSACTIONAL))
            add_cap(o, "ACTOR");
        break;
    case SDC_CAT_PUBSUB:
        add_caps(o, ((const struct sdc_pubsub_ops *)sc->type->ops)->features, pubsub_caps);
        break;
    case SDC_CAT_BINDINGS: {
        const struct sdc_binding_ops *ops = (const struct sdc_binding_ops *)sc->type->ops;
        if (ops->read != NULL)
            add_cap(o, "INPUT_BINDING");
        if (ops->invoke != NULL)
            add_cap(o, "OUTPUT_BINDING");
        break;
    }
    default:
        break;
    }
}

static void add_components(cJSON *root, const struct sdc_runtime *rt)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "components");

    for (size_t i = 0; i < rt->comps.n; i++) {
        const struct sdc_component *sc = &rt->comps.v[i];
        const struct dc_component *c = sc->def;
        cJSON *o;

        if (!sc->ok)
            continue;
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->meta.name);
        cJSON_AddStringToObject(o, "type", c->type);
        cJSON_AddStringToObject(o, "version", c->version != NULL ? c->version : "");
        add_capabilities(o, sc);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_subscriptions(cJSON *root, const struct sdc_runtime *rt)
{
    cJSON *arr;

    if (rt->pubsub != NULL) {
        sdc_pubsub_metadata(rt->pubsub, root); /* declarative and programmatic */
        return;
    }
    if (rt->nsubscriptions == 0)
        return;
    arr = cJSON_AddArrayToObject(root, "subscriptions");
    for (size_t i = 0; i < rt->nsubscriptions; i++) {
        const struct dc_subscription *s = rt->subscriptions[i];
        cJSON *o = cJSON_CreateObject(), *md, *rules;
        const char *def = s->version == 1 ? s->route : s->default_route;

        cJSON_AddStringToObject(o, "pubsubname", s->pubsubname);
        cJSON_AddStringToObject(o, "topic", s->topic);
        if (s->nmetadata > 0) {
            md = cJSON_AddObjectToObject(o, "metadata");
            for (size_t k = 0; k < s->nmetadata; k++)
                cJSON_AddStringToObject(md, s->metadata[k].name,
                                        s->metadata[k].value != NULL ? s->metadata[k].value : "");
        }
        rules = cJSON_AddArrayToObject(o, "rules");
        for (size_t k = 0; k < s->nrules; k++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "match", s->rules[k].match);
            cJSON_AddStringToObject(r, "path", s->rules[k].path);
            cJSON_AddItemToArray(rules, r);
        }
        if (!dc_str_empty(def)) {
            /* The default route is the rule without a match. */
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "path", def);
            cJSON_AddItemToArray(rules, r);
        }
        cJSON_AddStringToObject(o, "deadLetterTopic",
                                s->dead_letter_topic != NULL ? s->dead_letter_topic : "");
        cJSON_AddStringToObject(o, "type", "DECLARATIVE");
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_named(cJSON *root, const char *key, const struct dc_res_meta *const *v, size_t n)
{
    cJSON *arr;

    if (n == 0)
        return;
    arr = cJSON_AddArrayToObject(root, key);
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", v[i]->name);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_app_connection(cJSON *root, const struct sdc_config *cfg)
{
    cJSON *o = cJSON_AddObjectToObject(root, "appConnectionProperties");
    char d[48];

    if (cfg->app_port > 0)
        cJSON_AddNumberToObject(o, "port", cfg->app_port);
    cJSON_AddStringToObject(o, "protocol", cfg->app_protocol);
    cJSON_AddStringToObject(o, "channelAddress", cfg->app_channel_address);
    if (cfg->app_max_concurrency > 0)
        cJSON_AddNumberToObject(o, "maxConcurrency", (double)cfg->app_max_concurrency);
    if (cfg->enable_app_health_check) {
        cJSON *h = cJSON_AddObjectToObject(o, "health");
        if (strcmp(cfg->app_protocol, "http") == 0 || strcmp(cfg->app_protocol, "https") == 0 ||
            strcmp(cfg->app_protocol, "h2c") == 0)
            cJSON_AddStringToObject(h, "healthCheckPath", cfg->app_health_check_path);
        if (dc_duration_format(cfg->app_health_probe_interval_s * 1000000000LL, d, sizeof(d)) ==
            DC_OK)
            cJSON_AddStringToObject(h, "healthProbeInterval", d);
        if (dc_duration_format(cfg->app_health_probe_timeout_ms * 1000000LL, d, sizeof(d)) == DC_OK)
            cJSON_AddStringToObject(h, "healthProbeTimeout", d);
        cJSON_AddNumberToObject(h, "healthThreshold", (double)cfg->app_health_threshold);
    }
}

static void add_features(cJSON *root, const struct sdc_runtime *rt)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "enabledFeatures");

    if (!rt->have_conf) {
        /* Upstream's built-in defaults. */
        cJSON_AddItemToArray(arr, cJSON_CreateString("HotReload"));
        cJSON_AddItemToArray(arr, cJSON_CreateString("WorkflowsRemoteActivityReminder"));
        return;
    }
    for (size_t i = 0; i < rt->conf.nfeatures; i++)
        if (rt->conf.features[i].enabled)
            cJSON_AddItemToArray(arr, cJSON_CreateString(rt->conf.features[i].name));
}

int sdc_runtime_metadata_json(struct sdc_runtime *rt, struct dc_buf *out)
{
    cJSON *root = cJSON_CreateObject(), *ext, *actors;
    char *text;
    int rv;

    cJSON_AddStringToObject(root, "id", rt->cfg->app_id);
    cJSON_AddStringToObject(root, "runtimeVersion", sdc_runtime_version());
    add_features(root, rt);
    add_components(root, rt);
    ext = cJSON_AddObjectToObject(root, "extended");
    pthread_mutex_lock(&rt->lock);
    for (size_t i = 0; i < rt->nextended; i++)
        cJSON_AddStringToObject(ext, rt->extended[i].key, rt->extended[i].value);
    pthread_mutex_unlock(&rt->lock);
    cJSON_DeleteItemFromObjectCaseSensitive(ext, "daprRuntimeVersion");
    cJSON_AddStringToObject(ext, "daprRuntimeVersion", sdc_runtime_version());
    add_subscriptions(root, rt);
    add_named(root, "httpEndpoints", (const struct dc_res_meta *const *)rt->http_endpoints,
              rt->nhttp_endpoints);
    add_app_connection(root, rt->cfg);
    actors = cJSON_AddObjectToObject(root, "actorRuntime");
    cJSON_AddStringToObject(actors, "runtimeStatus",
                            rt->cfg->placement_addresses.n > 0 ? "INITIALIZING" : "DISABLED");
    cJSON_AddBoolToObject(actors, "hostReady", false);
    if (rt->cfg->placement_addresses.n > 0)
        cJSON_AddStringToObject(actors, "placement", "placement: disconnected");
    add_named(root, "resiliencies", (const struct dc_res_meta *const *)rt->resiliencies,
              rt->nresiliencies);

    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL)
        return DC_ENOMEM;
    rv = dc_buf_appends(out, text);
    free(text);
    return rv;
}
