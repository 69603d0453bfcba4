/* The informer: list + watch loop on its own thread, an object cache keyed by "ns/name". */
#include "dc/k8s_informer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "k8s_internal.h"

#define INF_DEFAULT_PAGE 500
#define INF_DEFAULT_BACKOFF_MS 800
#define INF_DEFAULT_BACKOFF_MAX_MS 30000

/* ------------------------------------------------------------------------------------------ */
/* Cache: a chained hash table. Only the informer thread mutates it; everyone reads under mu. */

struct cache_entry {
    char *key;
    cJSON *obj;
    unsigned gen; /* the list that last saw it (relist diff) */
    struct cache_entry *next;
};

struct cache {
    struct cache_entry **b;
    size_t nb, n;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct cache_entry **cache_slot(struct cache *c, const char *key)
{
    struct cache_entry **pp;

    if (c->nb == 0)
        return NULL;
    for (pp = &c->b[fnv1a(key) % c->nb]; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->key, key) == 0)
            return pp;
    return pp;
}

static void cache_grow(struct cache *c)
{
    size_t nb = c->nb == 0 ? 64 : c->nb * 2;
    struct cache_entry **b = dc_xcalloc(nb, sizeof(*b));

    for (size_t i = 0; i < c->nb; i++) {
        struct cache_entry *e = c->b[i], *next;
        for (; e != NULL; e = next) {
            size_t j = fnv1a(e->key) % nb;
            next = e->next;
            e->next = b[j];
            b[j] = e;
        }
    }
    free(c->b);
    c->b = b;
    c->nb = nb;
}

static struct cache_entry *cache_find(struct cache *c, const char *key)
{
    struct cache_entry **pp = cache_slot(c, key);
    return pp != NULL ? *pp : NULL;
}

/* Insert or replace; returns the replaced object (caller frees) or NULL. Takes `obj`. */
static cJSON *cache_put(struct cache *c, const char *key, cJSON *obj, unsigned gen)
{
    struct cache_entry **pp, *e;
    cJSON *old;

    if (c->n + 1 > c->nb * 3 / 4)
        cache_grow(c);
    pp = cache_slot(c, key);
    if (*pp != NULL) {
        old = (*pp)->obj;
        (*pp)->obj = obj;
        (*pp)->gen = gen;
        return old;
    }
    e = dc_xcalloc(1, sizeof(*e));
    e->key = dc_xstrdup(key);
    e->obj = obj;
    e->gen = gen;
    *pp = e;
    c->n++;
    return NULL;
}

/* Remove; returns the object (caller frees) or NULL. */
static cJSON *cache_del(struct cache *c, const char *key)
{
    struct cache_entry **pp = cache_slot(c, key), *e;
    cJSON *obj;

    if (pp == NULL || *pp == NULL)
        return NULL;
    e = *pp;
    *pp = e->next;
    obj = e->obj;
    free(e->key);
    free(e);
    c->n--;
    return obj;
}

static void cache_cleanup(struct cache *c)
{
    for (size_t i = 0; i < c->nb; i++) {
        struct cache_entry *e = c->b[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            cJSON_Delete(e->obj);
            free(e->key);
            free(e);
        }
    }
    free(c->b);
    memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------------------------------------ */

struct dc_k8s_informer {
    struct dc_k8s_client *client;
    struct dc_k8s_informer_opts o; /* strings below own the copies */
    char *group, *version, *plural, *ns, *lsel, *fsel;
    struct dc_k8s_informer_handlers h;
    struct dc_k8s_cancel *cancel;
    pthread_t thread;
    pthread_mutex_t mu; /* guards cache and synced */
    struct cache cache;
    bool synced;
    unsigned lists;
    char *rv; /* last seen resourceVersion (informer thread only) */
    long backoff_ms;
};

static void make_key(struct dc_buf *k, const cJSON *obj)
{
    const char *ns = dc_k8s_obj_namespace(obj);
    const char *name = dc_k8s_obj_name(obj);

    dc_buf_reset(k);
    if (dc_buf_appendf(k, "%s/%s", ns != NULL ? ns : "", name != NULL ? name : "") != DC_OK)
        dc_buf_reset(k);
}

static void set_rv(struct dc_k8s_informer *inf, const char *rv)
{
    if (rv == NULL)
        return;
    free(inf->rv);
    inf->rv = dc_xstrdup(rv);
}

static void report(struct dc_k8s_informer *inf, int err, const struct dc_errbuf *eb)
{
    if (inf->h.on_error != NULL)
        inf->h.on_error(inf->h.arg, err, eb->msg[0] != '\0' ? eb->msg : dc_strerror(err));
}

/* Apply one object from a list or an ADDED/MODIFIED event; takes `obj`. */
static void apply_upsert(struct dc_k8s_informer *inf, cJSON *obj, unsigned gen)
{
    struct dc_buf key = {0};
    cJSON *old;

    make_key(&key, obj);
    pthread_mutex_lock(&inf->mu);
    old = cache_put(&inf->cache, dc_buf_cstr(&key), obj, gen);
    pthread_mutex_unlock(&inf->mu);
    dc_buf_cleanup(&key);
    if (old == NULL) {
        if (inf->h.on_add != NULL)
            inf->h.on_add(inf->h.arg, obj);
    } else if (!dc_str_eq(dc_k8s_obj_rv(old), dc_k8s_obj_rv(obj))) {
        if (inf->h.on_update != NULL)
            inf->h.on_update(inf->h.arg, old, obj);
    }
    cJSON_Delete(old);
}

static void apply_delete(struct dc_k8s_informer *inf, const cJSON *obj)
{
    struct dc_buf key = {0};
    cJSON *old;

    make_key(&key, obj);
    pthread_mutex_lock(&inf->mu);
    old = cache_del(&inf->cache, dc_buf_cstr(&key));
    pthread_mutex_unlock(&inf->mu);
    dc_buf_cleanup(&key);
    /* The event's copy is the final state; report it even if we never saw the object. */
    if (inf->h.on_delete != NULL)
        inf->h.on_delete(inf->h.arg, obj);
    cJSON_Delete(old);
}

/* A copy of metadata.<key> of a List, NULL when absent or empty. */
static char *strdup_meta(const cJSON *list, const char *key)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(list, "metadata");
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, key));

    return dc_str_empty(v) ? NULL : dc_xstrdup(v);
}

/* LIST every page into one array; nothing is applied until the whole list arrived. */
static int list_all(struct dc_k8s_informer *inf, cJSON **items_out, char **rv_out,
                    struct dc_errbuf *eb)
{
    struct dc_k8s_list_opts lo = {
        .label_selector = inf->lsel, .field_selector = inf->fsel, .limit = inf->o.page_limit};
    cJSON *items = cJSON_CreateArray(), *page = NULL, *it;
    char *rv = NULL, *cont = NULL;
    int err;

    for (;;) {
        lo.continue_token = cont;
        err = dc_k8s_list(inf->client, &inf->o.res, inf->ns, &lo, &page, eb);
        free(cont);
        cont = NULL;
        if (err == DC_ERANGE && lo.continue_token != NULL) {
            /* The continue token expired mid-way: start over with a fresh snapshot. */
            cJSON_Delete(items);
            items = cJSON_CreateArray();
            free(rv);
            rv = NULL;
            continue;
        }
        if (err != DC_OK)
            goto fail;
        if (rv == NULL)
            rv = strdup_meta(page, "resourceVersion");
        cont = strdup_meta(page, "continue");
        it = cJSON_DetachItemFromObjectCaseSensitive(page, "items");
        while (cJSON_IsArray(it) && cJSON_GetArraySize(it) > 0)
            cJSON_AddItemToArray(items, cJSON_DetachItemFromArray(it, 0));
        cJSON_Delete(it);
        cJSON_Delete(page);
        page = NULL;
        if (dc_k8s_cancel_fired(inf->cancel)) {
            err = DC_ECANCELED;
            goto fail;
        }
        if (cont == NULL)
            break;
    }
    if (rv == NULL) {
        err = dc_err_set(eb, DC_EPARSE, "list: no metadata.resourceVersion");
        goto fail;
    }
    *items_out = items;
    *rv_out = rv;
    return DC_OK;
fail:
    cJSON_Delete(items);
    free(rv);
    free(cont);
    return err;
}

/* Relist: apply the list as a diff against the cache. */
static int relist(struct dc_k8s_informer *inf, struct dc_errbuf *eb)
{
    cJSON *items = NULL, *obj;
    char *rv = NULL, **stale;
    size_t nstale = 0;
    unsigned gen;
    int err = list_all(inf, &items, &rv, eb);

    if (err != DC_OK)
        return err;
    gen = ++inf->lists;
    while (cJSON_GetArraySize(items) > 0) {
        obj = cJSON_DetachItemFromArray(items, 0);
        if (cJSON_IsObject(obj) && dc_k8s_obj_name(obj) != NULL)
            apply_upsert(inf, obj, gen);
        else
            cJSON_Delete(obj);
    }
    cJSON_Delete(items);
    /* Whatever this list did not return is gone: collect the keys in one pass, then delete. */
    pthread_mutex_lock(&inf->mu);
    stale = dc_xcalloc(inf->cache.n + 1, sizeof(*stale));
    for (size_t i = 0; i < inf->cache.nb; i++)
        for (struct cache_entry *e = inf->cache.b[i]; e != NULL; e = e->next)
            if (e->gen != gen)
                stale[nstale++] = dc_xstrdup(e->key);
    pthread_mutex_unlock(&inf->mu);
    for (size_t i = 0; i < nstale; i++) {
        pthread_mutex_lock(&inf->mu);
        obj = cache_del(&inf->cache, stale[i]);
        pthread_mutex_unlock(&inf->mu);
        free(stale[i]);
        if (obj != NULL && inf->h.on_delete != NULL)
            inf->h.on_delete(inf->h.arg, obj);
        cJSON_Delete(obj);
    }
    free(stale);
    free(inf->rv);
    inf->rv = rv;
    pthread_mutex_lock(&inf->mu);
    inf->synced = true;
    pthread_mutex_unlock(&inf->mu);
    if (inf->h.on_synced != NULL)
        inf->h.on_synced(inf->h.arg, gen);
    return DC_OK;
}

struct watch_state {
    struct dc_k8s_informer *inf;
    unsigned events;
};

static int on_event(void *arg, enum dc_k8s_event_type type, cJSON *object, cJSON *event)
{
    struct watch_state *ws = arg;
    struct dc_k8s_informer *inf = ws->inf;
    const cJSON *code;

    ws->events++;
    switch (type) {
    case DC_K8S_ADDED:
    case DC_K8S_MODIFIED:
        set_rv(inf, dc_k8s_obj_rv(object));
        apply_upsert(inf, cJSON_DetachItemViaPointer(event, object), inf->lists);
        return DC_OK;
    case DC_K8S_DELETED:
        set_rv(inf, dc_k8s_obj_rv(object));
        apply_delete(inf, object);
        return DC_OK;
    case DC_K8S_BOOKMARK:
        set_rv(inf, dc_k8s_obj_rv(object));
        return DC_OK;
    case DC_K8S_ERROR:
        code = cJSON_GetObjectItemCaseSensitive(object, "code");
        /* valueint: cJSON saturates it to int's range (casting valuedouble, e.g. 6e24, is
         * undefined behaviour; found by fuzz_k8s_watch once UBSan halted). */
        return dc_k8s_err_from_status(
            cJSON_IsNumber(code) ? (long)code->valueint : 500,
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(object, "reason")));
    }
    return DC_EPARSE;
}

static long watch_timeout(const struct dc_k8s_informer *inf)
{
    if (inf->o.watch_timeout_s > 0)
        return inf->o.watch_timeout_s;
    /* client-go: minWatchTimeout (5 min) times 1..2, so watches of many clients spread out. */
    return 300 + (long)(k8s_now_ms() % 300);
}

static void backoff(struct dc_k8s_informer *inf)
{
    dc_k8s_cancel_sleep(inf->cancel, inf->backoff_ms);
    inf->backoff_ms *= 2;
    if (inf->backoff_ms > inf->o.backoff_max_ms)
        inf->backoff_ms = inf->o.backoff_max_ms;
}

/* Watch until a relist is needed (DC_ERANGE) or the informer stops (DC_ECANCELED). */
static int watch_loop(struct dc_k8s_informer *inf)
{
    for (;;) {
        struct dc_errbuf eb = {0};
        struct watch_state ws = {.inf = inf};
        struct dc_k8s_watch_opts wo = {.label_selector = inf->lsel,
                                       .field_selector = inf->fsel,
                                       .resource_version = inf->rv,
                                       .bookmarks = true,
                                       .timeout_seconds = watch_timeout(inf)};
        int64_t started = k8s_now_ms();
        int err =
            dc_k8s_watch(inf->client, &inf->o.res, inf->ns, &wo, on_event, &ws, inf->cancel, &eb);
        if (err == DC_ECANCELED || dc_k8s_cancel_fired(inf->cancel))
            return DC_ECANCELED;
        if (err == DC_ERANGE)
            return err;
        if (ws.events > 0)
            inf->backoff_ms = inf->o.backoff_initial_ms;
        if (err == DC_OK && (ws.events > 0 || k8s_now_ms() - started >= 1000))
            continue; /* the server ended the watch: resume from the last rv */
        if (err == DC_OK) {
            /* Ended at once with nothing to say: do not spin on a misbehaving server. */
            backoff(inf);
            continue;
        }
        report(inf, err, &eb);
        backoff(inf);
    }
}

static void *informer_main(void *arg)
{
    struct dc_k8s_informer *inf = arg;

    while (!dc_k8s_cancel_fired(inf->cancel)) {
        struct dc_errbuf eb = {0};
        int err = relist(inf, &eb);
        if (err == DC_ECANCELED || dc_k8s_cancel_fired(inf->cancel))
            break;
        if (err != DC_OK) {
            report(inf, err, &eb);
            backoff(inf);
            continue;
        }
        inf->backoff_ms = inf->o.backoff_initial_ms;
        if (watch_loop(inf) == DC_ECANCELED)
            break;
    }
    return NULL;
}

static char *dup_opt(const char *s)
{
    return dc_str_empty(s) ? NULL : dc_xstrdup(s);
}

int dc_k8s_informer_start(struct dc_k8s_informer **out, struct dc_k8s_client *c,
                          const struct dc_k8s_informer_opts *opts,
                          const struct dc_k8s_informer_handlers *h, struct dc_errbuf *eb)
{
    struct dc_k8s_informer *inf;

    *out = NULL;
    if (c == NULL || opts == NULL || dc_str_empty(opts->res.version) ||
        dc_str_empty(opts->res.plural))
        return dc_err_set(eb, DC_EINVAL, "informer: resource version and plural required");
    inf = dc_xcalloc(1, sizeof(*inf));
    inf->client = c;
    inf->o = *opts;
    inf->group = dc_xstrdup(opts->res.group != NULL ? opts->res.group : "");
    inf->version = dc_xstrdup(opts->res.version);
    inf->plural = dc_xstrdup(opts->res.plural);
    inf->o.res.group = inf->group;
    inf->o.res.version = inf->version;
    inf->o.res.plural = inf->plural;
    inf->ns = dup_opt(opts->ns);
    inf->lsel = dup_opt(opts->label_selector);
    inf->fsel = dup_opt(opts->field_selector);
    if (inf->o.page_limit <= 0)
        inf->o.page_limit = INF_DEFAULT_PAGE;
    if (inf->o.backoff_initial_ms <= 0)
        inf->o.backoff_initial_ms = INF_DEFAULT_BACKOFF_MS;
    if (inf->o.backoff_max_ms <= 0)
        inf->o.backoff_max_ms = INF_DEFAULT_BACKOFF_MAX_MS;
    inf->backoff_ms = inf->o.backoff_initial_ms;
    if (h != NULL)
        inf->h = *h;
    inf->cancel = dc_k8s_cancel_new();
    pthread_mutex_init(&inf->mu, NULL);
    if (pthread_create(&inf->thread, NULL, informer_main, inf) != 0) {
        inf->thread = pthread_self(); /* nothing to join */
        dc_k8s_cancel_fire(inf->cancel);
        dc_k8s_informer_stop(inf);
        return dc_err_set(eb, DC_EIO, "informer: cannot start thread");
    }
    *out = inf;
    return DC_OK;
}

void dc_k8s_informer_stop(struct dc_k8s_informer *inf)
{
    if (inf == NULL)
        return;
    DC_ASSERT(!pthread_equal(inf->thread, pthread_self()) || dc_k8s_cancel_fired(inf->cancel));
    dc_k8s_cancel_fire(inf->cancel);
    if (!pthread_equal(inf->thread, pthread_self()))
        pthread_join(inf->thread, NULL);
    cache_cleanup(&inf->cache);
    pthread_mutex_destroy(&inf->mu);
    dc_k8s_cancel_free(inf->cancel);
    free(inf->group);
    free(inf->version);
    free(inf->plural);
    free(inf->ns);
    free(inf->lsel);
    free(inf->fsel);
    free(inf->rv);
    free(inf);
}

bool dc_k8s_informer_has_synced(struct dc_k8s_informer *inf)
{
    bool s;

    pthread_mutex_lock(&inf->mu);
    s = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return s;
}

cJSON *dc_k8s_informer_get(struct dc_k8s_informer *inf, const char *ns, const char *name)
{
    struct dc_buf key = {0};
    struct cache_entry *e;
    cJSON *copy = NULL;

    if (name == NULL || dc_buf_appendf(&key, "%s/%s", ns != NULL ? ns : "", name) != DC_OK)
        return NULL;
    pthread_mutex_lock(&inf->mu);
    e = cache_find(&inf->cache, dc_buf_cstr(&key));
    if (e != NULL)
        copy = cJSON_Duplicate(e->obj, true);
    pthread_mutex_unlock(&inf->mu);
    dc_buf_cleanup(&key);
    return copy;
}

cJSON *dc_k8s_informer_list(struct dc_k8s_informer *inf)
{
    cJSON *arr = cJSON_CreateArray();

    pthread_mutex_lock(&inf->mu);
    for (size_t i = 0; i < inf->cache.nb; i++)
        for (struct cache_entry *e = inf->cache.b[i]; e != NULL; e = e->next)
            cJSON_AddItemToArray(arr, cJSON_Duplicate(e->obj, true));
    pthread_mutex_unlock(&inf->mu);
    return arr;
}

size_t dc_k8s_informer_count(struct dc_k8s_informer *inf)
{
    size_t n;

    pthread_mutex_lock(&inf->mu);
    n = inf->cache.n;
    pthread_mutex_unlock(&inf->mu);
    return n;
}
