/* Resiliency engine (sidecar-api.md §21): compiles the Resiliency resources into policies and
 * runs operations under them. The contract is in resiliency.h; the behaviour follows upstream's
 * pkg/resiliency, dapr/kit retry (cenkalti/backoff) and sony/gobreaker. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/limits.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "resiliency.h"
#include "trip_expr.h"

#define DEFAULT_RETRY_DURATION (5 * DC_NS_PER_SEC)
#define DEFAULT_MAX_INTERVAL (60 * DC_NS_PER_SEC)
#define DEFAULT_MAX_ELAPSED (15 * 60 * DC_NS_PER_SEC)
#define DEFAULT_INITIAL_INTERVAL (500 * DC_NS_PER_MS)
#define DEFAULT_BREAKER_TIMEOUT (60 * DC_NS_PER_SEC)
#define DEFAULT_APP_CACHE 100
#define DEFAULT_ACTOR_CACHE 5000
#define MAX_BUCKETS 4096
#define GRPC_UNAVAILABLE 14
#define GRPC_UNAUTHENTICATED 16

/* ---- compiled policies ---- */

struct code_range {
    int32_t lo, hi;
};

/* A matching list: unset matches every code; set with no ranges (",") matches none. */
struct codes {
    bool set;
    size_t n;
    struct code_range *r;
};

struct retry {
    char *name;
    bool exponential;
    int64_t duration_ns; /* constant */
    int64_t initial_ns;  /* exponential */
    int64_t max_interval_ns;
    int64_t max_elapsed_ns; /* 0 = no limit */
    double multiplier;
    double randomization;
    int64_t max_retries; /* -1 = unlimited */
    struct codes http, grpc;
};

struct breaker_tpl {
    char *name;
    uint32_t max_requests;
    int64_t interval_ns;   /* 0 = never reset the closed-state counts */
    int64_t timeout_ns;    /* open -> half-open */
    struct sdc_trip *trip; /* NULL = consecutiveFailures > 5 */
};

struct named_timeout {
    char *name;
    int64_t ns;
};

enum cb_state {
    CB_CLOSED = 0,
    CB_HALF_OPEN,
    CB_OPEN,
};

static const char *const state_names[] = {"closed", "half-open", "open"};

/* One breaker instance. State fields are guarded by `mu`; the cache fields by the cache's
 * mutex. */
struct breaker {
    pthread_mutex_t mu;
    const struct breaker_tpl *tpl;
    enum cb_state state;
    uint64_t generation;
    struct sdc_trip_counts counts;
    int64_t expiry_ns; /* 0 = none */

    struct breaker *prev, *next; /* LRU list, most recent first */
    struct breaker *hnext;       /* hash chain */
    uint64_t hash;
    int refs;
    bool evicted;
    char key[];
};

struct cb_cache {
    pthread_mutex_t mu;
    size_t cap, n, nbuckets;
    struct breaker **buckets; /* allocated on first use */
    struct breaker *head, *tail;
};

enum actor_scope {
    SCOPE_TYPE = 0,
    SCOPE_ID,
    SCOPE_BOTH,
};

struct sdc_res_policy {
    int64_t timeout_ns;           /* 0 = none */
    const struct retry *retry;    /* NULL = none */
    const struct breaker_tpl *cb; /* NULL = none */
    const struct retry *inner;    /* built-in service retries inside each attempt */
    bool filter_builtin;          /* `inner` retries only transport/Unavailable failures */
    enum actor_scope scope;
    struct cb_cache *cache; /* breakers of `cb`, by key; NULL without `cb` */
};

/* A named object of one kind during the merge, and a resolved target afterwards. */
struct entry {
    const char *name;
    size_t seq;
    void *obj;
    const struct dc_resiliency *from;
};

struct target {
    const char *name; /* points into the policy's owner entry */
    struct sdc_res_policy *p;
};

struct targets {
    struct target *t;
    size_t n;
};

enum {
    NBUILTIN = 5,
};

static const char *const builtin_names[NBUILTIN] = {
    SDC_RES_BUILTIN_SERVICE, SDC_RES_BUILTIN_ACTOR, SDC_RES_BUILTIN_ACTOR_REMINDER,
    SDC_RES_BUILTIN_INIT, SDC_RES_BUILTIN_ACTOR_NOT_FOUND};

struct sdc_resiliency {
    struct entry *timeouts, *retries, *breakers; /* sorted by name, unique */
    size_t ntimeouts, nretries, nbreakers;
    char **names; /* target names (owned) */
    size_t nnames;
    struct targets apps, actors, comp_in, comp_out;
    struct sdc_res_policy *def_app, *def_endpoint, *def_actor;
    struct sdc_res_policy *def_comp[SDC_CAT_COUNT + 1][2];
    struct sdc_res_policy *builtin[NBUILTIN];
};

static const struct sdc_res_policy empty_policy;

/* ---- errors ---- */

/* "<file>:<line>: Resiliency <name>: <field>: <problem>", the loader's format. */
static int res_fail(struct dc_errbuf *eb, const struct dc_resiliency *d, int line,
                    const char *field, const char *fmt, ...) DC_PRINTF(5, 6);

static int res_fail(struct dc_errbuf *eb, const struct dc_resiliency *d, int line,
                    const char *field, const char *fmt, ...)
{
    char problem[DC_ERRBUF_LEN];
    const char *name = d != NULL && d->meta.name != NULL ? d->meta.name : "?";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(problem, sizeof(problem), fmt, ap);
    va_end(ap);
    if (d != NULL && d->meta.file != NULL)
        return dc_err_set(eb, DC_EINVAL, "%s:%d: Resiliency %.64s: %s: %s", d->meta.file,
                          line > 0 ? line : d->meta.line, name, field, problem);
    return dc_err_set(eb, DC_EINVAL, "Resiliency %.64s: %s: %s", name, field, problem);
}

/* ---- compiling policies ---- */

static int parse_duration(const struct dc_resiliency *d, int line, const char *field,
                          const char *text, int64_t def, int64_t *ns, struct dc_errbuf *eb)
{
    struct dc_errbuf sub = {{0}};

    if (text == NULL) {
        *ns = def;
        return DC_OK;
    }
    if (dc_duration_parse_ms_or_go(text, ns, &sub) != DC_OK)
        return res_fail(eb, d, line, field, "%s", sub.msg);
    return DC_OK;
}

/* One "a" or "a-b" token of a code list, within [lo, hi]. */
static int parse_code_token(const char *s, size_t n, int32_t lo, int32_t hi, struct code_range *out)
{
    char buf[32];
    const char *dash;
    int64_t a, b;

    while (n > 0 && *s == ' ') {
        s++;
        n--;
    }
    while (n > 0 && s[n - 1] == ' ')
        n--;
    if (n >= sizeof(buf))
        return DC_EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    dash = strchr(buf, '-');
    if (dash != NULL) {
        buf[dash - buf] = '\0';
        if (dc_str_to_i64(buf, lo, hi, &a) != DC_OK || dc_str_to_i64(dash + 1, lo, hi, &b) != DC_OK)
            return DC_EINVAL;
    } else {
        if (dc_str_to_i64(buf, lo, hi, &a) != DC_OK)
            return DC_EINVAL;
        b = a;
    }
    if (b < a)
        return DC_EINVAL;
    out->lo = (int32_t)a;
    out->hi = (int32_t)b;
    return DC_OK;
}

/* "429,500-599": empty items are skipped, as upstream; "" leaves the list unset. */
static int parse_codes(const struct dc_resiliency *d, int line, const char *field, const char *text,
                       int32_t lo, int32_t hi, struct codes *out, struct dc_errbuf *eb)
{
    const char *s = text;

    if (text == NULL || text[0] == '\0')
        return DC_OK;
    out->set = true;
    out->r = dc_xcalloc(strlen(text) / 2 + 1, sizeof(*out->r));
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        size_t blank = strspn(s, " ");
        if (blank < n && parse_code_token(s, n, lo, hi, &out->r[out->n++]) != DC_OK)
            return res_fail(eb, d, line, field,
                            "invalid code or range \"%.*s\" (expected codes or a-b ranges "
                            "within %d-%d, like \"%s\")",
                            (int)(n > 32 ? 32 : n), s, (int)lo, (int)hi,
                            lo == 0 ? "1-4,8-11,13,14" : "429,500-599");
        if (comma == NULL)
            return DC_OK;
        s = comma + 1;
    }
}

static void retry_free(void *obj)
{
    struct retry *r = obj;

    if (r == NULL)
        return;
    free(r->name);
    free(r->http.r);
    free(r->grpc.r);
    free(r);
}

static void breaker_tpl_free(void *obj)
{
    struct breaker_tpl *b = obj;

    if (b == NULL)
        return;
    free(b->name);
    sdc_trip_free(b->trip);
    free(b);
}

static void timeout_free(void *obj)
{
    struct named_timeout *t = obj;

    if (t == NULL)
        return;
    free(t->name);
    free(t);
}

static bool is_builtin(const char *name)
{
    for (size_t i = 0; i < NBUILTIN; i++) {
        if (strcmp(name, builtin_names[i]) == 0)
            return true;
    }
    return false;
}

/* dapr/kit retry.DefaultConfig(). */
static struct retry *retry_defaults(const char *name)
{
    struct retry *r = dc_xcalloc(1, sizeof(*r));

    r->name = dc_xstrdup(name);
    r->duration_ns = DEFAULT_RETRY_DURATION;
    r->initial_ns = DEFAULT_INITIAL_INTERVAL;
    r->max_interval_ns = DEFAULT_MAX_INTERVAL;
    r->max_elapsed_ns = DEFAULT_MAX_ELAPSED;
    r->multiplier = 1.5;
    r->randomization = 0.5;
    r->max_retries = -1;
    return r;
}

static int compile_retry(const struct dc_resiliency *d, const struct dc_res_retry *in,
                         struct retry **out, struct dc_errbuf *eb)
{
    char field[256];
    struct retry *r = retry_defaults(in->name);
    int rv = DC_OK;

#define FIELD(f)                                                                                   \
    (snprintf(field, sizeof(field), "spec.policies.retries.%.64s%s", in->name, f), field)
    if (in->policy == NULL || strcmp(in->policy, "constant") == 0)
        r->exponential = false;
    else if (strcmp(in->policy, "exponential") == 0)
        r->exponential = true;
    else
        rv = res_fail(eb, d, in->line, FIELD(".policy"),
                      "unknown policy \"%.32s\" (expected constant or exponential)", in->policy);
    if (rv == DC_OK)
        rv = parse_duration(d, in->line, FIELD(".duration"), in->duration, DEFAULT_RETRY_DURATION,
                            &r->duration_ns, eb);
    if (rv == DC_OK)
        rv = parse_duration(d, in->line, FIELD(".maxInterval"), in->max_interval,
                            DEFAULT_MAX_INTERVAL, &r->max_interval_ns, eb);
    if (rv == DC_OK && in->max_retries < -1)
        rv = res_fail(eb, d, in->line, FIELD(".maxRetries"), "must be -1 (unlimited) or more");
    if (rv == DC_OK)
        rv = parse_codes(d, in->line, FIELD(".matching.httpStatusCodes"), in->match_http, 100, 599,
                         &r->http, eb);
    if (rv == DC_OK)
        rv = parse_codes(d, in->line, FIELD(".matching.gRPCStatusCodes"), in->match_grpc, 0, 16,
                         &r->grpc, eb);
#undef FIELD
    if (rv != DC_OK) {
        retry_free(r);
        return rv;
    }
    if (r->duration_ns < 0)
        r->duration_ns = 0;
    if (r->max_interval_ns < 0)
        r->max_interval_ns = 0;
    r->max_retries = in->max_retries;
    /* §21.6: a redefined built-in keeps at least 3 retries (upstream also turns -1 into 3). */
    if (is_builtin(in->name) && r->max_retries < 3) {
        DC_LOG(DC_LOG_WARN,
               "Attempted override of %s did not meet minimum retry count, resetting to 3.",
               in->name);
        r->max_retries = 3;
    }
    *out = r;
    return DC_OK;
}

static int compile_breaker(const struct dc_resiliency *d, const struct dc_res_breaker *in,
                           struct breaker_tpl **out, struct dc_errbuf *eb)
{
    char field[256];
    struct breaker_tpl *b = dc_xcalloc(1, sizeof(*b));
    struct dc_errbuf sub = {{0}};
    int rv;

#define FIELD(f)                                                                                   \
    (snprintf(field, sizeof(field), "spec.policies.circuitBreakers.%.64s%s", in->name, f), field)
    b->name = dc_xstrdup(in->name);
    /* gobreaker: 0 requests means 1, a non-positive interval never resets, a non-positive
     * timeout is 60s. */
    b->max_requests = in->max_requests <= 0           ? 1
                      : in->max_requests > UINT32_MAX ? UINT32_MAX
                                                      : (uint32_t)in->max_requests;
    rv = parse_duration(d, in->line, FIELD(".interval"), in->interval, 0, &b->interval_ns, eb);
    if (rv == DC_OK)
        rv = parse_duration(d, in->line, FIELD(".timeout"), in->timeout, DEFAULT_BREAKER_TIMEOUT,
                            &b->timeout_ns, eb);
    if (rv == DC_OK && in->trip != NULL && sdc_trip_compile(&b->trip, in->trip, &sub) != DC_OK)
        rv = res_fail(eb, d, in->line, FIELD(".trip"), "invalid expression \"%.64s\": %s", in->trip,
                      sub.msg);
#undef FIELD
    if (rv != DC_OK) {
        breaker_tpl_free(b);
        return rv;
    }
    if (b->interval_ns < 0)
        b->interval_ns = 0;
    if (b->timeout_ns <= 0)
        b->timeout_ns = DEFAULT_BREAKER_TIMEOUT;
    *out = b;
    return DC_OK;
}

/* ---- merging by name ---- */

static void push(struct entry **v, size_t *n, const char *name, void *obj,
                 const struct dc_resiliency *from)
{
    *v = dc_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n] = (struct entry){name, *n, obj, from};
    (*n)++;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort by name and keep the last definition of each name (upstream's map assignment). */
static void dedupe(struct entry *v, size_t *n, void (*free_fn)(void *), const char *kind)
{
    size_t j = 0;

    if (*n == 0)
        return;
    qsort(v, *n, sizeof(*v), entry_cmp);
    for (size_t i = 0; i < *n; i++) {
        if (i + 1 < *n && strcmp(v[i].name, v[i + 1].name) == 0) {
            if (v[i].from != NULL && v[i + 1].from != NULL)
                DC_LOG(DC_LOG_WARN,
                       "Resiliency %s: %s policy %s replaces the one defined in Resiliency %s",
                       v[i + 1].from->meta.name, kind, v[i].name, v[i].from->meta.name);
            free_fn(v[i].obj);
            continue;
        }
        v[j++] = v[i];
    }
    *n = j;
}

static int name_cmp(const void *key, const void *e)
{
    return strcmp(key, ((const struct entry *)e)->name);
}

static void *find(const struct entry *v, size_t n, const char *name)
{
    const struct entry *e = n > 0 ? bsearch(name, v, n, sizeof(*v), name_cmp) : NULL;

    return e != NULL ? e->obj : NULL;
}

/* The built-in retries (§21.6), entered first so that resources can redefine them. */
static void add_builtins(struct sdc_resiliency *r)
{
    for (size_t i = 0; i < NBUILTIN; i++) {
        struct retry *x = retry_defaults(builtin_names[i]);
        if (i == 0 || i == 1 || i == 4) { /* service, actor, actor not found: constant 1s */
            x->duration_ns = DC_NS_PER_SEC;
            x->max_retries = i == 4 ? 5 : 3;
        } else if (i == 2) { /* reminders: exponential, library defaults */
            x->exponential = true;
        } else { /* initialization */
            x->exponential = true;
            x->max_retries = 3;
            x->max_interval_ns = DC_NS_PER_SEC;
            x->max_elapsed_ns = 10 * DC_NS_PER_SEC;
        }
        push(&r->retries, &r->nretries, x->name, x, NULL);
    }
}

static int add_policies(struct sdc_resiliency *r, const struct dc_resiliency *d,
                        struct dc_errbuf *eb)
{
    int rv = DC_OK;

    for (size_t i = 0; rv == DC_OK && i < d->ntimeouts; i++) {
        struct named_timeout *t = dc_xcalloc(1, sizeof(*t));
        char field[256];
        t->name = dc_xstrdup(d->timeouts[i].name);
        snprintf(field, sizeof(field), "spec.policies.timeouts.%.64s", t->name);
        push(&r->timeouts, &r->ntimeouts, t->name, t, d);
        if (d->timeouts[i].duration == NULL)
            rv = res_fail(eb, d, d->timeouts[i].line, field, "a duration is required");
        else
            rv = parse_duration(d, d->timeouts[i].line, field, d->timeouts[i].duration, 0, &t->ns,
                                eb);
    }
    for (size_t i = 0; rv == DC_OK && i < d->nretries; i++) {
        struct retry *x = NULL;
        if (strcmp(d->retries[i].name, SDC_RES_BUILTIN_ACTOR_NOT_FOUND) == 0) {
            DC_LOG(DC_LOG_WARN,
                   "Attempted to override protected policy %s which is not "
                   "allowed. Ignoring provided policy and using default.",
                   d->retries[i].name);
            continue;
        }
        rv = compile_retry(d, &d->retries[i], &x, eb);
        if (rv == DC_OK)
            push(&r->retries, &r->nretries, x->name, x, d);
    }
    for (size_t i = 0; rv == DC_OK && i < d->nbreakers; i++) {
        struct breaker_tpl *b = NULL;
        rv = compile_breaker(d, &d->breakers[i], &b, eb);
        if (rv == DC_OK)
            push(&r->breakers, &r->nbreakers, b->name, b, d);
    }
    return rv;
}

/* ---- policies and targets ---- */

static struct sdc_res_policy *policy_new(int64_t timeout_ns, const struct retry *retry,
                                         const struct breaker_tpl *cb, size_t cache_cap)
{
    struct sdc_res_policy *p = dc_xcalloc(1, sizeof(*p));

    p->timeout_ns = timeout_ns > 0 ? timeout_ns : 0;
    p->retry = retry;
    p->cb = cb;
    if (cb != NULL) {
        p->cache = dc_xcalloc(1, sizeof(*p->cache));
        pthread_mutex_init(&p->cache->mu, NULL);
        p->cache->cap = cache_cap > 0 ? cache_cap : 1;
    }
    return p;
}

static void breaker_destroy(struct breaker *b)
{
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void policy_free(struct sdc_res_policy *p)
{
    if (p == NULL)
        return;
    if (p->cache != NULL) {
        for (struct breaker *b = p->cache->head, *nx; b != NULL; b = nx) {
            nx = b->next;
            breaker_destroy(b);
        }
        free(p->cache->buckets);
        pthread_mutex_destroy(&p->cache->mu);
        free(p->cache);
    }
    free(p);
}

/* Resolve one target's policy names against the merged sets. */
static int resolve(struct sdc_resiliency *r, const struct dc_resiliency *d, int line,
                   const char *path, const struct dc_res_policy_ref *ref, size_t cache_cap,
                   struct sdc_res_policy **out, struct dc_errbuf *eb)
{
    const struct named_timeout *t = NULL;
    const struct retry *x = NULL;
    const struct breaker_tpl *b = NULL;
    char field[256];

    if (ref->timeout != NULL) {
        t = find(r->timeouts, r->ntimeouts, ref->timeout);
        snprintf(field, sizeof(field), "%.160s.timeout", path);
        if (t == NULL)
            return res_fail(eb, d, line, field, "no timeout policy named \"%.64s\"", ref->timeout);
    }
    if (ref->retry != NULL) {
        x = find(r->retries, r->nretries, ref->retry);
        snprintf(field, sizeof(field), "%.160s.retry", path);
        if (x == NULL)
            return res_fail(eb, d, line, field, "no retry policy named \"%.64s\"", ref->retry);
    }
    if (ref->circuit_breaker != NULL) {
        b = find(r->breakers, r->nbreakers, ref->circuit_breaker);
        snprintf(field, sizeof(field), "%.160s.circuitBreaker", path);
        if (b == NULL)
            return res_fail(eb, d, line, field, "no circuit breaker named \"%.64s\"",
                            ref->circuit_breaker);
    }
    *out = policy_new(t != NULL ? t->ns : 0, x, b, cache_cap);
    return DC_OK;
}

/* A target during the merge: its definition, resolved once the merge is done. */
struct pending {
    const struct dc_resiliency *d;
    const char *name;
    const struct dc_res_policy_ref *ref;
    int line;
    int64_t cache;
    const char *scope;
};

static void pend(struct entry **v, size_t *n, const struct dc_resiliency *d, const char *name,
                 const struct dc_res_policy_ref *ref, int line, int64_t cache, const char *scope)
{
    struct pending *p = dc_xmalloc(sizeof(*p));

    *p = (struct pending){d, name, ref, line, cache, scope};
    push(v, n, name, p, d);
}

static void free_pending(struct entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].obj);
    free(v);
}

static int build_targets(struct sdc_resiliency *r, struct entry *v, size_t n, const char *kind,
                         const char *dir, size_t def_cache, struct targets *out,
                         struct dc_errbuf *eb)
{
    int rv = DC_OK;

    dedupe(v, &n, free, kind);
    out->t = dc_xcalloc(n + 1, sizeof(*out->t));
    for (size_t i = 0; i < n; i++) {
        const struct pending *pd = v[i].obj;
        char path[256];
        size_t cap = pd->cache > 0 ? (size_t)pd->cache : def_cache;
        if (rv == DC_OK) {
            snprintf(path, sizeof(path), "spec.targets.%s.%.64s%s", kind, pd->name, dir);
            rv = resolve(r, pd->d, pd->line, path, pd->ref, cap, &out->t[out->n].p, eb);
        }
        if (rv == DC_OK) {
            r->names = dc_xrealloc(r->names, (r->nnames + 1) * sizeof(*r->names));
            r->names[r->nnames] = dc_xstrdup(pd->name);
            out->t[out->n].name = r->names[r->nnames++];
            if (pd->scope != NULL)
                out->t[out->n].p->scope = strcmp(pd->scope, "type") == 0 ? SCOPE_TYPE
                                          : strcmp(pd->scope, "id") == 0 ? SCOPE_ID
                                                                         : SCOPE_BOTH;
            out->n++;
        }
    }
    free_pending(v, n);
    return rv;
}

static int add_targets(struct sdc_resiliency *r, const struct dc_resiliency *const *defs, size_t n,
                       struct dc_errbuf *eb)
{
    struct entry *apps = NULL, *actors = NULL, *cin = NULL, *cout = NULL;
    size_t napps = 0, nactors = 0, ncin = 0, ncout = 0;
    int rv;

    for (size_t k = 0; k < n; k++) {
        const struct dc_resiliency *d = defs[k];
        for (size_t i = 0; i < d->napps; i++)
            pend(&apps, &napps, d, d->apps[i].app_id, &d->apps[i].p, d->apps[i].line,
                 d->apps[i].cache_size, NULL);
        for (size_t i = 0; i < d->nactors; i++)
            pend(&actors, &nactors, d, d->actors[i].actor_type, &d->actors[i].p, d->actors[i].line,
                 d->actors[i].cache_size, d->actors[i].circuit_breaker_scope);
        /* A component target defines both directions: an unset one is empty (upstream). */
        for (size_t i = 0; i < d->ncomponents; i++) {
            const struct dc_res_component_target *c = &d->components[i];
            pend(&cin, &ncin, d, c->component, &c->inbound, c->line, 0, NULL);
            pend(&cout, &ncout, d, c->component, &c->outbound, c->line, 0, NULL);
        }
    }
    rv = build_targets(r, apps, napps, "apps", "", DEFAULT_APP_CACHE, &r->apps, eb);
    if (rv == DC_OK)
        rv = build_targets(r, actors, nactors, "actors", "", DEFAULT_ACTOR_CACHE, &r->actors, eb);
    else
        free_pending(actors, nactors);
    if (rv == DC_OK)
        rv = build_targets(r, cin, ncin, "components", ".inbound", DC_RES_COMPONENT_BREAKERS,
                           &r->comp_in, eb);
    else
        free_pending(cin, ncin);
    if (rv == DC_OK)
        rv = build_targets(r, cout, ncout, "components", ".outbound", DC_RES_COMPONENT_BREAKERS,
                           &r->comp_out, eb);
    else
        free_pending(cout, ncout);
    return rv;
}

/* ---- default policies (§21.5) ---- */

static const char *const cat_names[SDC_CAT_COUNT + 1] = {[SDC_CAT_STATE] = "Statestore",
                                                         [SDC_CAT_SECRETSTORES] = "Secretstore",
                                                         [SDC_CAT_PUBSUB] = "Pubsub",
                                                         [SDC_CAT_BINDINGS] = "Binding",
                                                         [SDC_CAT_CONFIGURATION] = "Configuration",
                                                         [SDC_CAT_LOCK] = "Lock",
                                                         [SDC_CAT_CRYPTO] = "Crypto",
                                                         [SDC_CAT_MIDDLEWARE] = "",
                                                         [SDC_CAT_COUNT] = ""};

/* The first of `levels` (then the global name) that `v` defines, as Default<level><what>. */
static void *find_default(const struct entry *v, size_t n, const char *const *levels,
                          size_t nlevels, const char *what)
{
    char name[128];

    for (size_t i = 0; i <= nlevels; i++) {
        void *o;
        snprintf(name, sizeof(name), "Default%s%sPolicy", i < nlevels ? levels[i] : "", what);
        o = find(v, n, name);
        if (o != NULL)
            return o;
    }
    return NULL;
}

static struct sdc_res_policy *default_policy(struct sdc_resiliency *r, const char *const *levels,
                                             size_t nlevels, size_t cache_cap)
{
    const struct named_timeout *t =
        find_default(r->timeouts, r->ntimeouts, levels, nlevels, "Timeout");

    return policy_new(
        t != NULL ? t->ns : 0, find_default(r->retries, r->nretries, levels, nlevels, "Retry"),
        find_default(r->breakers, r->nbreakers, levels, nlevels, "CircuitBreaker"), cache_cap);
}

static void build_defaults(struct sdc_resiliency *r)
{
    static const char *const app[] = {"App"}, *const actor[] = {"Actor"};
    static const char *const dirs[2] = {"Inbound", "Outbound"};

    r->def_app = default_policy(r, app, 1, DEFAULT_APP_CACHE);
    r->def_app->inner = find(r->retries, r->nretries, SDC_RES_BUILTIN_SERVICE);
    r->def_app->filter_builtin = true;
    r->def_endpoint = default_policy(r, app, 1, DEFAULT_APP_CACHE);
    r->def_actor = default_policy(r, actor, 1, DEFAULT_ACTOR_CACHE);
    for (size_t c = 0; c <= SDC_CAT_COUNT; c++) {
        for (size_t k = 0; k < 2; k++) {
            char l0[64], l1[64];
            const char *levels[3] = {l0, l1, "Component"};
            snprintf(l0, sizeof(l0), "%sComponent%s", cat_names[c], dirs[k]);
            snprintf(l1, sizeof(l1), "Component%s", dirs[k]);
            r->def_comp[c][k] = default_policy(r, levels, 3, DC_RES_COMPONENT_BREAKERS);
        }
    }
    for (size_t i = 0; i < NBUILTIN; i++)
        r->builtin[i] = policy_new(0, find(r->retries, r->nretries, builtin_names[i]), NULL, 0);
}

int sdc_resiliency_new(struct sdc_resiliency **out, const struct dc_resiliency *const *defs,
                       size_t n, struct dc_errbuf *eb)
{
    struct sdc_resiliency *r = dc_xcalloc(1, sizeof(*r));
    int rv = DC_OK;

    add_builtins(r);
    for (size_t i = 0; rv == DC_OK && i < n; i++) {
        DC_LOG(DC_LOG_INFO, "Loading Resiliency configuration: %s", defs[i]->meta.name);
        rv = add_policies(r, defs[i], eb);
    }
    dedupe(r->timeouts, &r->ntimeouts, timeout_free, "timeout");
    dedupe(r->retries, &r->nretries, retry_free, "retry");
    dedupe(r->breakers, &r->nbreakers, breaker_tpl_free, "circuit breaker");
    if (rv == DC_OK)
        rv = add_targets(r, defs, n, eb);
    if (rv != DC_OK) {
        sdc_resiliency_free(r);
        return rv;
    }
    build_defaults(r);
    *out = r;
    return DC_OK;
}

static void targets_free(struct targets *t)
{
    for (size_t i = 0; i < t->n; i++)
        policy_free(t->t[i].p);
    free(t->t);
}

void sdc_resiliency_free(struct sdc_resiliency *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->ntimeouts; i++)
        timeout_free(r->timeouts[i].obj);
    for (size_t i = 0; i < r->nretries; i++)
        retry_free(r->retries[i].obj);
    for (size_t i = 0; i < r->nbreakers; i++)
        breaker_tpl_free(r->breakers[i].obj);
    free(r->timeouts);
    free(r->retries);
    free(r->breakers);
    targets_free(&r->apps);
    targets_free(&r->actors);
    targets_free(&r->comp_in);
    targets_free(&r->comp_out);
    for (size_t i = 0; i < r->nnames; i++)
        free(r->names[i]);
    free(r->names);
    policy_free(r->def_app);
    policy_free(r->def_endpoint);
    policy_free(r->def_actor);
    for (size_t c = 0; c <= SDC_CAT_COUNT; c++) {
        policy_free(r->def_comp[c][0]);
        policy_free(r->def_comp[c][1]);
    }
    for (size_t i = 0; i < NBUILTIN; i++)
        policy_free(r->builtin[i]);
    free(r);
}

/* ---- lookups ---- */

static int target_cmp(const void *key, const void *t)
{
    return strcmp(key, ((const struct target *)t)->name);
}

static const struct sdc_res_policy *find_target(const struct targets *t, const char *name)
{
    const struct target *x;

    if (t->n == 0 || name == NULL)
        return NULL;
    x = bsearch(name, t->t, t->n, sizeof(*t->t), target_cmp);
    return x != NULL ? x->p : NULL;
}

const struct sdc_res_policy *sdc_resiliency_policy(struct sdc_resiliency *r,
                                                   enum sdc_res_target kind, const char *name,
                                                   enum sdc_category cat)
{
    const struct sdc_res_policy *p;
    size_t c = (unsigned)cat < SDC_CAT_COUNT ? (size_t)cat : SDC_CAT_COUNT;

    if (r == NULL)
        return &empty_policy;
    switch (kind) {
    case SDC_RES_APP:
        p = find_target(&r->apps, name);
        return p != NULL ? p : r->def_app;
    case SDC_RES_HTTP_ENDPOINT:
        p = find_target(&r->apps, name);
        return p != NULL ? p : r->def_endpoint;
    case SDC_RES_ACTOR:
        p = find_target(&r->actors, name);
        return p != NULL ? p : r->def_actor;
    case SDC_RES_COMPONENT_IN:
        p = find_target(&r->comp_in, name);
        return p != NULL ? p : r->def_comp[c][0];
    case SDC_RES_COMPONENT_OUT:
        p = find_target(&r->comp_out, name);
        return p != NULL ? p : r->def_comp[c][1];
    }
    return &empty_policy;
}

const struct sdc_res_policy *sdc_resiliency_builtin(struct sdc_resiliency *r, const char *name)
{
    for (size_t i = 0; r != NULL && name != NULL && i < NBUILTIN; i++) {
        if (strcmp(name, builtin_names[i]) == 0)
            return r->builtin[i];
    }
    return &empty_policy;
}

bool sdc_res_policy_empty(const struct sdc_res_policy *p)
{
    return p == NULL ||
           (p->timeout_ns == 0 && p->retry == NULL && p->cb == NULL && p->inner == NULL);
}

static bool retry_allows(const struct retry *x)
{
    return x != NULL && x->max_retries != 0;
}

bool sdc_res_policy_may_retry(const struct sdc_res_policy *p)
{
    return p != NULL && (retry_allows(p->retry) || retry_allows(p->inner));
}

const char *sdc_res_policy_actor_key(const struct sdc_res_policy *p, const char *type,
                                     const char *id, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    if (p != NULL && p->scope != SCOPE_TYPE && id != NULL)
        snprintf(buf, cap, "%s-%s", type, id);
    else
        dc_strlcpy(buf, type, cap);
    return buf;
}

/* ---- circuit breakers (sony/gobreaker semantics) ---- */

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void lru_unlink(struct cb_cache *c, struct breaker *b)
{
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        c->head = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
    else
        c->tail = b->prev;
    b->prev = b->next = NULL;
}

static void lru_push_front(struct cb_cache *c, struct breaker *b)
{
    b->prev = NULL;
    b->next = c->head;
    if (c->head != NULL)
        c->head->prev = b;
    c->head = b;
    if (c->tail == NULL)
        c->tail = b;
}

static void evict_tail(struct cb_cache *c)
{
    struct breaker *b = c->tail;
    struct breaker **pp = &c->buckets[b->hash & (c->nbuckets - 1)];

    while (*pp != b)
        pp = &(*pp)->hnext;
    *pp = b->hnext;
    lru_unlink(c, b);
    c->n--;
    b->evicted = true;
    if (b->refs == 0)
        breaker_destroy(b);
}

static void cb_new_generation(struct breaker *b, int64_t now);

/* The breaker for `key`, created on first use; the caller holds a reference until release. */
static struct breaker *breaker_acquire(struct cb_cache *c, const struct breaker_tpl *tpl,
                                       const char *key)
{
    uint64_t h = hash_key(key);
    struct breaker *b;
    size_t len;

    pthread_mutex_lock(&c->mu);
    if (c->buckets == NULL) {
        c->nbuckets = 16;
        while (c->nbuckets < c->cap && c->nbuckets < MAX_BUCKETS)
            c->nbuckets *= 2;
        c->buckets = dc_xcalloc(c->nbuckets, sizeof(*c->buckets));
    }
    for (b = c->buckets[h & (c->nbuckets - 1)]; b != NULL; b = b->hnext) {
        if (b->hash == h && strcmp(b->key, key) == 0)
            break;
    }
    if (b != NULL) {
        if (c->head != b) {
            lru_unlink(c, b);
            lru_push_front(c, b);
        }
    } else {
        len = strlen(key);
        b = dc_xcalloc(1, sizeof(*b) + len + 1);
        memcpy(b->key, key, len);
        pthread_mutex_init(&b->mu, NULL);
        b->tpl = tpl;
        cb_new_generation(b, dc_mono_ns()); /* starts the closed-state interval */
        b->hash = h;
        b->hnext = c->buckets[h & (c->nbuckets - 1)];
        c->buckets[h & (c->nbuckets - 1)] = b;
        lru_push_front(c, b);
        if (++c->n > c->cap)
            evict_tail(c);
    }
    b->refs++;
    pthread_mutex_unlock(&c->mu);
    return b;
}

static void breaker_release(struct cb_cache *c, struct breaker *b)
{
    pthread_mutex_lock(&c->mu);
    if (--b->refs == 0 && b->evicted)
        breaker_destroy(b);
    pthread_mutex_unlock(&c->mu);
}

static void cb_new_generation(struct breaker *b, int64_t now)
{
    b->generation++;
    memset(&b->counts, 0, sizeof(b->counts));
    switch (b->state) {
    case CB_CLOSED:
        b->expiry_ns = b->tpl->interval_ns > 0 ? now + b->tpl->interval_ns : 0;
        break;
    case CB_OPEN:
        b->expiry_ns = now + b->tpl->timeout_ns;
        break;
    case CB_HALF_OPEN:
        b->expiry_ns = 0;
        break;
    }
}

static void cb_set_state(struct breaker *b, enum cb_state st, int64_t now)
{
    enum cb_state prev = b->state;

    if (prev == st)
        return;
    b->state = st;
    cb_new_generation(b, now);
    DC_LOG(DC_LOG_INFO, "Circuit breaker \"%s-%s\" changed state from %s to %s", b->tpl->name,
           b->key, state_names[prev], state_names[st]);
}

static void cb_current(struct breaker *b, int64_t now)
{
    if (b->state == CB_CLOSED && b->expiry_ns != 0 && b->expiry_ns < now)
        cb_new_generation(b, now);
    else if (b->state == CB_OPEN && b->expiry_ns < now)
        cb_set_state(b, CB_HALF_OPEN, now);
}

/* Admit one request: DC_OK with its generation, or DC_EUNAVAIL with `eb` set. */
static int cb_before(struct breaker *b, uint64_t *gen, struct dc_errbuf *eb)
{
    int rv = DC_OK;

    pthread_mutex_lock(&b->mu);
    cb_current(b, dc_mono_ns());
    if (b->state == CB_OPEN)
        rv = dc_err_set(eb, DC_EUNAVAIL, "circuit breaker is open");
    else if (b->state == CB_HALF_OPEN && b->counts.requests >= b->tpl->max_requests)
        rv = dc_err_set(eb, DC_EUNAVAIL, "too many requests");
    else
        b->counts.requests++;
    *gen = b->generation;
    pthread_mutex_unlock(&b->mu);
    return rv;
}

static bool cb_trips(const struct breaker *b)
{
    if (b->tpl->trip == NULL)
        return b->counts.consecutive_failures > 5;
    return sdc_trip_eval(b->tpl->trip, &b->counts);
}

/* Record the outcome of a request admitted in generation `gen` (stale outcomes are ignored). */
static void cb_after(struct breaker *b, uint64_t gen, bool ok)
{
    int64_t now = dc_mono_ns();

    pthread_mutex_lock(&b->mu);
    cb_current(b, now);
    if (gen == b->generation) {
        if (ok) {
            b->counts.total_successes++;
            b->counts.consecutive_successes++;
            b->counts.consecutive_failures = 0;
            if (b->state == CB_HALF_OPEN && b->counts.consecutive_successes >= b->tpl->max_requests)
                cb_set_state(b, CB_CLOSED, now);
        } else if (b->state == CB_CLOSED) {
            b->counts.total_failures++;
            b->counts.consecutive_failures++;
            b->counts.consecutive_successes = 0;
            if (cb_trips(b))
                cb_set_state(b, CB_OPEN, now);
        } else if (b->state == CB_HALF_OPEN) {
            cb_set_state(b, CB_OPEN, now);
        }
    }
    pthread_mutex_unlock(&b->mu);
}

/* ---- retries (cenkalti/backoff as configured by dapr/kit) ---- */

static _Thread_local uint64_t rng_state;

/* A uniform double in [0, 1) from a per-thread xorshift64* generator. */
static double rand_unit(void)
{
    if (rng_state == 0)
        rng_state =
            (uint64_t)dc_mono_ns() ^ (uint64_t)(uintptr_t)&rng_state ^ 0x9E3779B97F4A7C15ull;
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

struct backoff {
    const struct retry *r;
    int64_t start_ns;
    int64_t cur_ns; /* exponential: the current (not randomised) interval */
    int64_t retries;
};

static void backoff_init(struct backoff *bo, const struct retry *r)
{
    bo->r = r;
    bo->start_ns = dc_mono_ns();
    bo->cur_ns = r->initial_ns;
    bo->retries = 0;
}

/* The wait before the next retry, or -1 to stop. */
static int64_t backoff_next(struct backoff *bo)
{
    const struct retry *r = bo->r;
    int64_t elapsed, next;
    double delta, lo, hi;

    if (r->max_retries >= 0 && bo->retries >= r->max_retries)
        return -1;
    bo->retries++;
    if (!r->exponential)
        return r->duration_ns;
    elapsed = dc_mono_ns() - bo->start_ns;
    delta = r->randomization * (double)bo->cur_ns;
    lo = (double)bo->cur_ns - delta;
    hi = (double)bo->cur_ns + delta;
    next = (int64_t)(lo + rand_unit() * (hi - lo + 1));
    if ((double)bo->cur_ns >= (double)r->max_interval_ns / r->multiplier)
        bo->cur_ns = r->max_interval_ns;
    else
        bo->cur_ns = (int64_t)((double)bo->cur_ns * r->multiplier);
    if (r->max_elapsed_ns > 0 && elapsed + next > r->max_elapsed_ns)
        return -1;
    return next;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts, rem;

    if (ns <= 0)
        return;
    ts.tv_sec = (time_t)(ns / DC_NS_PER_SEC);
    ts.tv_nsec = (long)(ns % DC_NS_PER_SEC);
    while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
        ts = rem;
}

static bool codes_match(const struct codes *c, int status)
{
    if (!c->set)
        return true;
    for (size_t i = 0; i < c->n; i++) {
        if (c->r[i].lo <= status && status <= c->r[i].hi)
            return true;
    }
    return false;
}

/* Whether a status counts as a failure: HTTP outside 200-399, gRPC other than OK. */
static bool status_failed(int status)
{
    if (status >= 0 && status <= 16)
        return status != 0;
    if (status >= 100 && status <= 599)
        return status < 200 || status > 399;
    return false;
}

static bool status_retriable(const struct retry *r, int status)
{
    if (status >= 0 && status <= 16)
        return codes_match(&r->grpc, status);
    if (status >= 100 && status <= 599)
        return codes_match(&r->http, status);
    return false;
}

/* DaprBuiltInServiceRetries inside one attempt: only the sidecar hop's Unavailable (transport
 * failure) and Unauthenticated are retried, within the attempt's deadline. */
static int run_inner(const struct retry *inner, int64_t deadline, sdc_res_attempt_fn *fn, void *ud,
                     int *status, struct dc_errbuf *eb)
{
    struct backoff bo;
    int rv;

    backoff_init(&bo, inner);
    for (;;) {
        int64_t wait;
        *status = -1;
        rv = fn(ud, deadline, status, eb);
        if (!(rv == DC_EUNAVAIL ||
              (rv == DC_OK && (*status == GRPC_UNAVAILABLE || *status == GRPC_UNAUTHENTICATED))))
            return rv;
        wait = backoff_next(&bo);
        if (wait < 0)
            return rv;
        if (deadline != 0 && dc_mono_ns() + wait >= deadline) {
            sleep_ns(deadline - dc_mono_ns());
            return rv; /* the caller turns it into a timeout */
        }
        sleep_ns(wait);
    }
}

/* One attempt under the timeout and the breaker. `*failed` and `*retriable` classify it. */
static int attempt(const struct sdc_res_policy *p, struct breaker *b, sdc_res_attempt_fn *fn,
                   void *ud, int *status, struct dc_errbuf *eb, bool *failed, bool *retriable)
{
    uint64_t gen = 0;
    int64_t deadline = 0;
    int rv;

    *status = -1;
    if (b != NULL && cb_before(b, &gen, eb) != DC_OK) {
        *failed = true;
        *retriable = false;
        return DC_EUNAVAIL;
    }
    if (p->timeout_ns > 0)
        deadline = dc_mono_ns() + p->timeout_ns;
    dc_err_clear(eb);
    if (p->inner != NULL) {
        rv = run_inner(p->inner, deadline, fn, ud, status, eb);
    } else {
        rv = fn(ud, deadline, status, eb);
    }
    if (deadline != 0 && (rv == DC_ETIMEDOUT || dc_mono_ns() > deadline)) {
        rv = dc_err_set(eb, DC_ETIMEDOUT, "context deadline exceeded");
        *status = -1;
    }
    if (rv != DC_OK) {
        *failed = true;
        *retriable = true;
    } else {
        *failed = (p->retry != NULL || p->cb != NULL) && status_failed(*status);
        *retriable = *failed && p->retry != NULL && status_retriable(p->retry, *status);
    }
    if (b != NULL)
        cb_after(b, gen, !*failed);
    return rv;
}

int sdc_resiliency_run(const struct sdc_res_policy *p, const char *breaker_key,
                       sdc_res_attempt_fn *fn, void *ud, int *status, struct dc_errbuf *eb)
{
    struct breaker *b = NULL;
    struct backoff bo;
    int local_status;
    int rv;

    if (status == NULL)
        status = &local_status;
    *status = -1;
    if (sdc_res_policy_empty(p))
        return fn(ud, 0, status, eb);
    if (p->cb != NULL)
        b = breaker_acquire(p->cache, p->cb, breaker_key != NULL ? breaker_key : "");
    if (p->retry != NULL)
        backoff_init(&bo, p->retry);
    for (;;) {
        bool failed, retriable;
        int64_t wait;
        rv = attempt(p, b, fn, ud, status, eb, &failed, &retriable);
        if (!failed || !retriable || p->retry == NULL)
            break;
        wait = backoff_next(&bo);
        if (wait < 0)
            break;
        sleep_ns(wait);
    }
    if (b != NULL)
        breaker_release(p->cache, b);
    return rv;
}
