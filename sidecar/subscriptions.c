/* Subscriptions (sidecar-api.md §6.5): declarative Subscription resources (compiled at start),
 * programmatic ones from GET /dapr/subscribe once the app is reachable, scoping, and the
 * subscriptions of /v1.0/metadata. */
#include "pubsub_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/arena.h"
#include "dc/json.h"
#include "dc/limits.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "app_channel.h"

void sdc__ps_sub_free(struct sdc__ps_sub *s)
{
    if (s == NULL)
        return;
    sdc__ps_bulk_free(s);
    for (size_t i = 0; i < s->nrules; i++) {
        free(s->rules[i].match);
        free(s->rules[i].path);
        sdc_match_free(s->rules[i].m);
    }
    free(s->rules);
    free(s->pubsub);
    free(s->topic);
    free(s->dead_letter);
    sdc_md_cleanup(&s->md);
    free(s);
}

int sdc__ps_sub_compile(struct sdc__ps_sub *s, struct dc_errbuf *eb)
{
    const char *raw;

    if (s->nrules == 0)
        return dc_err_set(eb, DC_EINVAL, "topic %s: no route or rules", s->topic);
    if (s->nrules > SDC_PUBSUB_MAX_RULES)
        return dc_err_set(eb, DC_ETOOBIG, "more than %d rules", SDC_PUBSUB_MAX_RULES);
    for (size_t i = 0; i < s->nrules; i++) {
        struct sdc__ps_rule *r = &s->rules[i];
        /* The delivery path gets its leading '/' (§6.6). */
        if (r->path[0] != '/') {
            size_t n = strlen(r->path);
            char *p = dc_xmalloc(n + 2);
            p[0] = '/';
            memcpy(p + 1, r->path, n + 1);
            free(r->path);
            r->path = p;
        }
        if (r->match != NULL) {
            int rv = sdc_match_compile(&r->m, r->match, eb);
            if (rv != DC_OK) {
                dc_err_wrapf(eb, "routing rule %zu (match \"%.80s\") does not parse", i + 1,
                             r->match);
                return rv;
            }
        }
    }
    raw = sdc_md_get(&s->md, "rawPayload");
    s->raw_payload = raw != NULL && dc_str_truthy(raw);
    return DC_OK;
}

static void add_rule(struct sdc__ps_sub *s, const char *match, const char *path)
{
    s->rules = dc_xrealloc(s->rules, (s->nrules + 1) * sizeof(*s->rules));
    s->rules[s->nrules].match = match != NULL && match[0] != '\0' ? dc_xstrdup(match) : NULL;
    s->rules[s->nrules].m = NULL;
    s->rules[s->nrules].path = dc_xstrdup(path != NULL ? path : "");
    s->nrules++;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k); /* case-insensitive, as Go's decoder */

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A bulkSubscribe number (int32 upstream): `def` when absent or below 1, at most `max` (the
 * double is compared before it is converted: 1e30 does not fit an int64_t). */
static int64_t bulk_num(const cJSON *v, int64_t def, int64_t max)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1))
        return def;
    return v->valuedouble >= (double)max ? max : (int64_t)v->valuedouble;
}

/* One item of the GET /dapr/subscribe array (v1 and v2 shapes). NULL when it is skipped. */
static struct sdc__ps_sub *parse_item(struct sdc_pubsub_rt *ps, const cJSON *it)
{
    struct sdc__ps_sub *s;
    const cJSON *routes, *rules, *r, *md, *bulk;
    struct dc_errbuf eb = {0};
    const char *def;

    if (!cJSON_IsObject(it))
        return NULL;
    s = dc_xcalloc(1, sizeof(*s));
    s->ps = ps;
    s->type = SDC__PS_PROGRAMMATIC;
    s->pubsub = dc_xstrdup(jstr(it, "pubsubname") ? jstr(it, "pubsubname") : "");
    s->topic = dc_xstrdup(jstr(it, "topic") ? jstr(it, "topic") : "");
    if (jstr(it, "deadLetterTopic") != NULL)
        s->dead_letter = dc_xstrdup(jstr(it, "deadLetterTopic"));
    routes = cJSON_GetObjectItem(it, "routes");
    rules = cJSON_GetObjectItem(routes, "rules");
    cJSON_ArrayForEach(r, rules) if (cJSON_IsObject(r))
        add_rule(s, jstr(r, "match"), jstr(r, "path"));
    def = jstr(routes, "default");
    if (dc_str_empty(def))
        def = jstr(it, "route");
    if (!dc_str_empty(def))
        add_rule(s, NULL, def);
    md = cJSON_GetObjectItem(it, "metadata");
    cJSON_ArrayForEach(r, md) if (cJSON_IsString(r)) sdc_md_set(&s->md, r->string, r->valuestring);
    bulk = cJSON_GetObjectItem(it, "bulkSubscribe");
    s->bulk = cJSON_IsTrue(cJSON_GetObjectItem(bulk, "enabled"));
    s->bulk_max_n = bulk_num(cJSON_GetObjectItem(bulk, "maxMessagesCount"), 100, 10000);
    s->bulk_max_await_ms =
        bulk_num(cJSON_GetObjectItem(bulk, "maxAwaitDurationMs"), 1000, INT32_MAX);
    if (s->nrules == 0) {
        /* Upstream discards items that end with zero rules. */
        sdc__ps_sub_free(s);
        return NULL;
    }
    if (sdc__ps_sub_compile(s, &eb) != DC_OK) {
        DC_LOG(DC_LOG_ERROR, "error loading subscription to topic %s on pubsub %s: %s", s->topic,
               s->pubsub, eb.msg);
        sdc__ps_sub_free(s);
        return NULL;
    }
    return s;
}

int sdc__ps_parse_programmatic(struct sdc_pubsub_rt *ps, const char *body, size_t len,
                               struct sdc__ps_sub ***out, size_t *n, struct dc_errbuf *eb)
{
    cJSON *arr = NULL;
    const cJSON *it;
    int rv = dc_json_parse(body, len, SDC_PUBSUB_MAX_SUBSCRIBE_BODY, &arr, eb);

    if (rv != DC_OK)
        return rv;
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return dc_err_set(eb, DC_EPARSE, "the subscriptions are not a JSON array");
    }
    cJSON_ArrayForEach(it, arr)
    {
        struct sdc__ps_sub *s;
        if (*n >= SDC_PUBSUB_MAX_SUBSCRIPTIONS)
            break;
        s = parse_item(ps, it);
        if (s == NULL)
            continue;
        *out = dc_xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = s;
    }
    cJSON_Delete(arr);
    return DC_OK;
}

/* ---- GET /dapr/subscribe ------------------------------------------------------------------ */

struct sub_call {
    struct sdc_pubsub_rt *ps;
    struct dc_arena arena;
    struct dc_http_result res;
};

static int sub_attempt(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    struct sub_call *c = ud;
    const char *hdrs[3];
    char appid[300];
    struct sdc_app_call call = {.method = "GET", .path = "/dapr/subscribe"};
    int rv;

    if (atomic_load(&c->ps->stop))
        return dc_err_set(eb, DC_ECANCELED, "shutting down");
    snprintf(appid, sizeof(appid), "Dapr-App-Id: %s", c->ps->rt->cfg->app_id);
    hdrs[0] = "Content-Type: application/json";
    hdrs[1] = appid;
    hdrs[2] = NULL;
    call.headers = hdrs;
    call.deadline_ns = deadline_ns;
    dc_http_result_cleanup(&c->res);
    memset(&c->res, 0, sizeof(c->res));
    rv = sdc_app_channel_call(c->ps->rt->app, &call, &c->arena, &c->res, eb);
    *status = rv == DC_OK ? c->res.status : -1;
    /* 404 means "no programmatic subscriptions": not a failure to retry. */
    if (rv == DC_OK && c->res.status == 404)
        *status = 200;
    return rv;
}

static void load_programmatic(struct sdc_pubsub_rt *ps, struct sdc__ps_sub ***out, size_t *n)
{
    struct sub_call c = {.ps = ps};
    struct dc_errbuf eb = {0};
    int status = -1, rv;

    dc_arena_init(&c.arena);
    rv = sdc_resiliency_run(sdc_resiliency_builtin(ps->rt->resiliency, SDC_RES_BUILTIN_INIT), "",
                            sub_attempt, &c, &status, &eb);
    if (rv != DC_OK) {
        DC_LOG(DC_LOG_ERROR, "error getting topic list from app: %s", eb.msg);
    } else if (c.res.status == 404) {
        DC_LOG(DC_LOG_DEBUG, "app has no programmatic subscriptions");
    } else if (c.res.status < 200 || c.res.status > 299) {
        DC_LOG(DC_LOG_ERROR, "app returned http status code %d from subscription endpoint",
               (int)c.res.status);
    } else if (sdc__ps_parse_programmatic(ps, c.res.body.data != NULL ? c.res.body.data : "",
                                          c.res.body.len, out, n, &eb) != DC_OK) {
        DC_LOG(DC_LOG_ERROR, "error decoding subscriptions from app: %s", eb.msg);
    }
    dc_http_result_cleanup(&c.res);
    dc_arena_cleanup(&c.arena);
}

static bool is_dup(struct sdc_pubsub_rt *ps, const struct sdc__ps_sub *s)
{
    for (size_t i = 0; i < ps->nsubs; i++)
        if (strcmp(ps->subs[i]->pubsub, s->pubsub) == 0 &&
            strcmp(ps->subs[i]->topic, s->topic) == 0)
            return true;
    return false;
}

/* Subscribe `s` to its broker; false (logged) when it cannot be. */
static bool start_sub(struct sdc_pubsub_rt *ps, struct sdc__ps_sub *s)
{
    struct sdc_pubsub_subscribe req = {
        .topic = s->topic, .metadata = &s->md, .handler = sdc__ps_handle, .ud = s};
    struct dc_errbuf eb = {0};

    s->comp = sdc__ps_comp_find(ps, s->pubsub);
    if (s->comp == NULL) {
        DC_LOG(DC_LOG_WARN, "subscription to topic %s: pubsub %s not found", s->topic, s->pubsub);
        return false;
    }
    if (!sdc__ps_topic_allowed(s->comp, s->topic, false)) {
        DC_LOG(DC_LOG_WARN, "subscription to topic %s on pubsub %s is not allowed for app id %s",
               s->topic, s->pubsub, ps->rt->cfg->app_id);
        return false;
    }
    s->policy =
        sdc_resiliency_policy(ps->rt->resiliency, SDC_RES_COMPONENT_IN, s->pubsub, SDC_CAT_PUBSUB);
    if (s->comp->ops->subscribe(s->comp->c->self, &req, &s->handle, &eb) != DC_OK) {
        DC_LOG(DC_LOG_ERROR, "failed to subscribe to topic %s on pubsub %s: %s", s->topic,
               s->pubsub, eb.msg);
        s->handle = NULL;
        return false;
    }
    DC_LOG(DC_LOG_INFO, "subscribed to topic %s on pubsub %s (%s)", s->topic, s->pubsub,
           s->type == SDC__PS_DECLARATIVE ? "declarative" : "programmatic");
    return true;
}

void *sdc__ps_thread(void *arg)
{
    struct sdc_pubsub_rt *ps = arg;
    struct sdc__ps_sub **prog = NULL, **keep;
    size_t nprog = 0, nkeep = 0;
    struct timespec ts = {0, 20 * 1000000L};

    /* Subscriptions start once the app port is open (§17.3); without an app, never. */
    while (!atomic_load(&ps->stop) && !atomic_load(&ps->rt->ready))
        nanosleep(&ts, NULL);
    if (atomic_load(&ps->stop) || ps->rt->app == NULL)
        return NULL;
    while (!atomic_load(&ps->stop) && !sdc_app_channel_healthy(ps->rt->app))
        nanosleep(&ts, NULL);
    if (atomic_load(&ps->stop))
        return NULL;
    load_programmatic(ps, &prog, &nprog);
    pthread_mutex_lock(&ps->mu);
    for (size_t i = 0; i < nprog; i++) {
        if (is_dup(ps, prog[i])) {
            DC_LOG(DC_LOG_WARN, "duplicate subscription to topic %s on pubsub %s ignored",
                   prog[i]->topic, prog[i]->pubsub);
            sdc__ps_sub_free(prog[i]);
            continue;
        }
        ps->subs = dc_xrealloc(ps->subs, (ps->nsubs + 1) * sizeof(*ps->subs));
        ps->subs[ps->nsubs++] = prog[i];
    }
    free(prog);
    pthread_mutex_unlock(&ps->mu);
    /* Subscriptions that cannot start are dropped (and so not listed in the metadata). */
    keep = dc_xcalloc(ps->nsubs + 1, sizeof(*keep));
    for (size_t i = 0; i < ps->nsubs && !atomic_load(&ps->stop); i++) {
        if (start_sub(ps, ps->subs[i]))
            keep[nkeep++] = ps->subs[i];
        else
            ps->subs[i]->comp = NULL;
    }
    pthread_mutex_lock(&ps->mu);
    for (size_t i = 0; i < ps->nsubs; i++) {
        bool kept = false;
        for (size_t k = 0; k < nkeep; k++)
            kept = kept || keep[k] == ps->subs[i];
        if (!kept && ps->subs[i]->handle == NULL)
            sdc__ps_sub_free(ps->subs[i]);
    }
    free(ps->subs);
    ps->subs = keep;
    ps->nsubs = nkeep;
    pthread_mutex_unlock(&ps->mu);
    return NULL;
}

/* ---- /v1.0/metadata ------------------------------------------------------------------------ */

void sdc_pubsub_metadata(struct sdc_pubsub_rt *ps, cJSON *root)
{
    cJSON *arr;

    if (ps == NULL)
        return;
    pthread_mutex_lock(&ps->mu);
    if (ps->nsubs == 0) {
        pthread_mutex_unlock(&ps->mu);
        return;
    }
    arr = cJSON_AddArrayToObject(root, "subscriptions");
    for (size_t i = 0; i < ps->nsubs; i++) {
        const struct sdc__ps_sub *s = ps->subs[i];
        cJSON *o = cJSON_CreateObject(), *rules;

        cJSON_AddStringToObject(o, "pubsubname", s->pubsub);
        cJSON_AddStringToObject(o, "topic", s->topic);
        if (s->md.n > 0) {
            cJSON *md = cJSON_AddObjectToObject(o, "metadata");
            for (size_t k = 0; k < s->md.n; k++)
                cJSON_AddStringToObject(md, s->md.names[k], s->md.values[k]);
        }
        rules = cJSON_AddArrayToObject(o, "rules");
        for (size_t k = 0; k < s->nrules; k++) {
            cJSON *r = cJSON_CreateObject();
            if (s->rules[k].match != NULL)
                cJSON_AddStringToObject(r, "match", s->rules[k].match);
            cJSON_AddStringToObject(r, "path", s->rules[k].path);
            cJSON_AddItemToArray(rules, r);
        }
        cJSON_AddStringToObject(o, "deadLetterTopic", s->dead_letter != NULL ? s->dead_letter : "");
        cJSON_AddStringToObject(o, "type",
                                s->type == SDC__PS_DECLARATIVE ? "DECLARATIVE" : "PROGRAMMATIC");
        cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&ps->mu);
}
