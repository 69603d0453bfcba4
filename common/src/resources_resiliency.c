/* Resiliency manifests (sidecar-api §21, control-plane §5): policies and the targets that name
 * them. Durations stay text; their syntax is checked (Go duration or bare milliseconds, as
 * upstream's resiliency parser accepts both). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"
#include "resources_int.h"

#define PATH_LEN 192

static const char *const retry_policies[] = {"constant", "exponential", NULL};
static const char *const breaker_scopes[] = {"id", "type", "both", NULL};

/* A single code or an "a-b" range inside [lo, hi]. */
static bool code_token_ok(const char *s, size_t n, long lo, long hi)
{
    char buf[32];
    char *end;
    long a, b;

    while (n > 0 && *s == ' ') {
        s++;
        n--;
    }
    while (n > 0 && s[n - 1] == ' ')
        n--;
    if (n == 0 || n >= sizeof(buf) || s[0] < '0' || s[0] > '9')
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    a = strtol(buf, &end, 10);
    b = a;
    if (*end == '-') {
        if (end[1] < '0' || end[1] > '9')
            return false;
        b = strtol(end + 1, &end, 10);
    }
    return *end == '\0' && a >= lo && b <= hi && a <= b;
}

/* Comma-separated codes and ranges, e.g. "429,500-599". */
static bool codes_ok(const char *s, long lo, long hi)
{
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        if (!code_token_ok(s, n, lo, hi))
            return false;
        if (comma == NULL)
            return true;
        s = comma + 1;
    }
}

static int read_matching(const struct dc__res_ctx *c, const struct dc_ynode *m, const char *path,
                         struct dc_res_retry *r)
{
    const struct dc_ynode *match;
    char sub[PATH_LEN];
    int rv = dc__res_map(c, m, path, "matching", DC__RES_OPTIONAL, &match);

    if (rv != DC_OK || match == NULL)
        return rv;
    dc__res_pathf(sub, sizeof(sub), "%s.matching", path);
    rv = dc__res_str(c, match, sub, "httpStatusCodes", DC__RES_OPTIONAL, &r->match_http);
    if (rv == DC_OK && r->match_http != NULL && !codes_ok(r->match_http, 100, 599))
        return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(match, "httpStatusCodes"), sub,
                            "httpStatusCodes",
                            "expected codes or ranges within 100-599, like \"429,500-599\"");
    if (rv == DC_OK)
        rv = dc__res_str(c, match, sub, "gRPCStatusCodes", DC__RES_OPTIONAL, &r->match_grpc);
    if (rv == DC_OK && r->match_grpc != NULL && !codes_ok(r->match_grpc, 0, 16))
        return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(match, "gRPCStatusCodes"), sub,
                            "gRPCStatusCodes",
                            "expected codes or ranges within 0-16, like \"1-4,8-11,13,14\"");
    return rv;
}

static int read_retry(const struct dc__res_ctx *c, const struct dc_ynode *m, const char *path,
                      struct dc_res_retry *r)
{
    int rv;

    r->max_retries = -1;
    if (m->type != DC_YNODE_MAP)
        return dc__res_fail(c, DC_EINVAL, m, path, NULL, "expected a map");
    rv = dc__res_str(c, m, path, "policy", DC__RES_OPTIONAL, &r->policy);
    if (rv == DC_OK)
        rv = dc__res_enum(c, m, path, "policy", r->policy, retry_policies);
    if (rv == DC_OK && r->policy == NULL)
        r->policy = dc_xstrdup("constant");
    if (rv == DC_OK)
        rv = dc__res_str(c, m, path, "duration", DC__RES_OPTIONAL, &r->duration);
    if (rv == DC_OK)
        rv = dc__res_duration(c, m, path, "duration", r->duration, true);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, path, "maxInterval", DC__RES_OPTIONAL, &r->max_interval);
    if (rv == DC_OK)
        rv = dc__res_duration(c, m, path, "maxInterval", r->max_interval, true);
    if (rv == DC_OK)
        rv = dc__res_int(c, m, path, "maxRetries", -1, INT32_MAX, &r->max_retries);
    if (rv == DC_OK)
        rv = read_matching(c, m, path, r);
    return rv;
}

static int read_breaker(const struct dc__res_ctx *c, const struct dc_ynode *m, const char *path,
                        struct dc_res_breaker *b)
{
    int rv;

    b->max_requests = 1;
    if (m->type != DC_YNODE_MAP)
        return dc__res_fail(c, DC_EINVAL, m, path, NULL, "expected a map");
    rv = dc__res_int(c, m, path, "maxRequests", 0, INT32_MAX, &b->max_requests);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, path, "interval", DC__RES_OPTIONAL, &b->interval);
    if (rv == DC_OK)
        rv = dc__res_duration(c, m, path, "interval", b->interval, true);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, path, "timeout", DC__RES_OPTIONAL, &b->timeout);
    if (rv == DC_OK)
        rv = dc__res_duration(c, m, path, "timeout", b->timeout, true);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, path, "trip", DC__RES_OPTIONAL, &b->trip);
    return rv;
}

static int read_policies(const struct dc__res_ctx *c, const struct dc_ynode *pol,
                         struct dc_resiliency *out)
{
    const struct dc_ynode *tmo, *ret, *cbs;
    char path[PATH_LEN];
    int rv;

    rv = dc__res_map(c, pol, "spec.policies", "timeouts", DC__RES_OPTIONAL, &tmo);
    for (size_t i = 0; rv == DC_OK && tmo != NULL && i < tmo->n; i++) {
        struct dc_res_timeout *t = dc__res_push(&out->timeouts, &out->ntimeouts, sizeof(*t));
        t->name = dc_xstrndup(tmo->pairs[i].key->text, tmo->pairs[i].key->len);
        t->line = tmo->pairs[i].key->line;
        rv = dc__res_str(c, tmo, "spec.policies.timeouts", t->name, DC__RES_REQUIRED, &t->duration);
        if (rv == DC_OK)
            rv = dc__res_duration(c, tmo, "spec.policies.timeouts", t->name, t->duration, true);
    }
    if (rv == DC_OK)
        rv = dc__res_map(c, pol, "spec.policies", "retries", DC__RES_OPTIONAL, &ret);
    for (size_t i = 0; rv == DC_OK && ret != NULL && i < ret->n; i++) {
        struct dc_res_retry *r = dc__res_push(&out->retries, &out->nretries, sizeof(*r));
        r->name = dc_xstrndup(ret->pairs[i].key->text, ret->pairs[i].key->len);
        r->line = ret->pairs[i].key->line;
        dc__res_pathf(path, sizeof(path), "spec.policies.retries.%s", r->name);
        rv = read_retry(c, ret->pairs[i].value, path, r);
    }
    if (rv == DC_OK)
        rv = dc__res_map(c, pol, "spec.policies", "circuitBreakers", DC__RES_OPTIONAL, &cbs);
    for (size_t i = 0; rv == DC_OK && cbs != NULL && i < cbs->n; i++) {
        struct dc_res_breaker *b = dc__res_push(&out->breakers, &out->nbreakers, sizeof(*b));
        b->name = dc_xstrndup(cbs->pairs[i].key->text, cbs->pairs[i].key->len);
        b->line = cbs->pairs[i].key->line;
        dc__res_pathf(path, sizeof(path), "spec.policies.circuitBreakers.%s", b->name);
        rv = read_breaker(c, cbs->pairs[i].value, path, b);
    }
    return rv;
}

static bool has_timeout(const struct dc_resiliency *r, const char *n)
{
    for (size_t i = 0; i < r->ntimeouts; i++) {
        if (strcmp(r->timeouts[i].name, n) == 0)
            return true;
    }
    return false;
}

static bool has_retry(const struct dc_resiliency *r, const char *n)
{
    for (size_t i = 0; i < r->nretries; i++) {
        if (strcmp(r->retries[i].name, n) == 0)
            return true;
    }
    return false;
}

static bool has_breaker(const struct dc_resiliency *r, const char *n)
{
    for (size_t i = 0; i < r->nbreakers; i++) {
        if (strcmp(r->breakers[i].name, n) == 0)
            return true;
    }
    return false;
}

/* timeout / retry / circuitBreaker of one target, each naming a defined policy. */
static int read_refs(const struct dc__res_ctx *c, const struct dc_ynode *m, const char *path,
                     const struct dc_resiliency *res, struct dc_res_policy_ref *p)
{
    char shown[64];
    int rv;

    if (m->type != DC_YNODE_MAP)
        return dc__res_fail(c, DC_EINVAL, m, path, NULL, "expected a map");
    rv = dc__res_str(c, m, path, "timeout", DC__RES_OPTIONAL, &p->timeout);
    if (rv == DC_OK && p->timeout != NULL && !has_timeout(res, p->timeout))
        return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(m, "timeout"), path, "timeout",
                            "no timeout policy named \"%s\" in spec.policies.timeouts",
                            dc__res_show(p->timeout, shown, sizeof(shown)));
    if (rv == DC_OK)
        rv = dc__res_str(c, m, path, "retry", DC__RES_OPTIONAL, &p->retry);
    if (rv == DC_OK && p->retry != NULL && !has_retry(res, p->retry))
        return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(m, "retry"), path, "retry",
                            "no retry policy named \"%s\" in spec.policies.retries",
                            dc__res_show(p->retry, shown, sizeof(shown)));
    if (rv == DC_OK)
        rv = dc__res_str(c, m, path, "circuitBreaker", DC__RES_OPTIONAL, &p->circuit_breaker);
    if (rv == DC_OK && p->circuit_breaker != NULL && !has_breaker(res, p->circuit_breaker))
        return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(m, "circuitBreaker"), path,
                            "circuitBreaker",
                            "no circuit breaker named \"%s\" in spec.policies.circuitBreakers",
                            dc__res_show(p->circuit_breaker, shown, sizeof(shown)));
    return rv;
}

static int read_apps(const struct dc__res_ctx *c, const struct dc_ynode *m,
                     struct dc_resiliency *out)
{
    char path[PATH_LEN];
    int rv = DC_OK;

    for (size_t i = 0; rv == DC_OK && m != NULL && i < m->n; i++) {
        struct dc_res_app_target *t = dc__res_push(&out->apps, &out->napps, sizeof(*t));
        const struct dc_ynode *v = m->pairs[i].value;
        t->app_id = dc_xstrndup(m->pairs[i].key->text, m->pairs[i].key->len);
        t->line = m->pairs[i].key->line;
        t->cache_size = 100;
        dc__res_pathf(path, sizeof(path), "spec.targets.apps.%s", t->app_id);
        rv = read_refs(c, v, path, out, &t->p);
        if (rv == DC_OK)
            rv = dc__res_int(c, v, path, "circuitBreakerCacheSize", 1, INT32_MAX, &t->cache_size);
    }
    return rv;
}

static int read_actors(const struct dc__res_ctx *c, const struct dc_ynode *m,
                       struct dc_resiliency *out)
{
    char path[PATH_LEN];
    int rv = DC_OK;

    for (size_t i = 0; rv == DC_OK && m != NULL && i < m->n; i++) {
        struct dc_res_actor_target *t = dc__res_push(&out->actors, &out->nactors, sizeof(*t));
        const struct dc_ynode *v = m->pairs[i].value;
        t->actor_type = dc_xstrndup(m->pairs[i].key->text, m->pairs[i].key->len);
        t->line = m->pairs[i].key->line;
        t->cache_size = 5000;
        dc__res_pathf(path, sizeof(path), "spec.targets.actors.%s", t->actor_type);
        rv = read_refs(c, v, path, out, &t->p);
        if (rv == DC_OK)
            rv = dc__res_str(c, v, path, "circuitBreakerScope", DC__RES_OPTIONAL,
                             &t->circuit_breaker_scope);
        if (rv == DC_OK)
            rv = dc__res_enum(c, v, path, "circuitBreakerScope", t->circuit_breaker_scope,
                              breaker_scopes);
        /* §21.3: the scope is required once a breaker is set. */
        if (rv == DC_OK && t->p.circuit_breaker != NULL && t->circuit_breaker_scope == NULL)
            return dc__res_fail(c, DC_EINVAL, v, path, "circuitBreakerScope",
                                "required with circuitBreaker (id, type or both)");
        if (rv == DC_OK)
            rv = dc__res_int(c, v, path, "circuitBreakerCacheSize", 1, INT32_MAX, &t->cache_size);
    }
    return rv;
}

static int read_components(const struct dc__res_ctx *c, const struct dc_ynode *m,
                           struct dc_resiliency *out)
{
    char path[PATH_LEN], sub[PATH_LEN];
    int rv = DC_OK;

    for (size_t i = 0; rv == DC_OK && m != NULL && i < m->n; i++) {
        struct dc_res_component_target *t =
            dc__res_push(&out->components, &out->ncomponents, sizeof(*t));
        const struct dc_ynode *v = m->pairs[i].value, *in, *outb;
        t->component = dc_xstrndup(m->pairs[i].key->text, m->pairs[i].key->len);
        t->line = m->pairs[i].key->line;
        dc__res_pathf(path, sizeof(path), "spec.targets.components.%s", t->component);
        if (v->type != DC_YNODE_MAP)
            return dc__res_fail(c, DC_EINVAL, v, path, NULL, "expected a map");
        rv = dc__res_map(c, v, path, "inbound", DC__RES_OPTIONAL, &in);
        if (rv == DC_OK && in != NULL) {
            dc__res_pathf(sub, sizeof(sub), "%s.inbound", path);
            rv = read_refs(c, in, sub, out, &t->inbound);
        }
        if (rv == DC_OK)
            rv = dc__res_map(c, v, path, "outbound", DC__RES_OPTIONAL, &outb);
        if (rv == DC_OK && outb != NULL) {
            dc__res_pathf(sub, sizeof(sub), "%s.outbound", path);
            rv = read_refs(c, outb, sub, out, &t->outbound);
        }
    }
    return rv;
}

int dc__res_read_resiliency(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                            struct dc_resiliency *out)
{
    const struct dc_ynode *pol, *tgt, *m;
    int rv;

    rv = dc__res_map(c, spec, "spec", "policies", DC__RES_REQUIRED, &pol);
    if (rv == DC_OK)
        rv = read_policies(c, pol, out);
    /* The CRD marks targets required; upstream's standalone loader does not, and a Resiliency
     * that only defines Default* policies is useful, so it is optional here. */
    if (rv == DC_OK)
        rv = dc__res_map(c, spec, "spec", "targets", DC__RES_OPTIONAL, &tgt);
    if (rv != DC_OK || tgt == NULL)
        return rv;
    rv = dc__res_map(c, tgt, "spec.targets", "apps", DC__RES_OPTIONAL, &m);
    if (rv == DC_OK)
        rv = read_apps(c, m, out);
    if (rv == DC_OK)
        rv = dc__res_map(c, tgt, "spec.targets", "actors", DC__RES_OPTIONAL, &m);
    if (rv == DC_OK)
        rv = read_actors(c, m, out);
    if (rv == DC_OK)
        rv = dc__res_map(c, tgt, "spec.targets", "components", DC__RES_OPTIONAL, &m);
    if (rv == DC_OK)
        rv = read_components(c, m, out);
    return rv;
}

static void refs_cleanup(struct dc_res_policy_ref *p)
{
    free(p->timeout);
    free(p->retry);
    free(p->circuit_breaker);
}

void dc__res_resiliency_cleanup(struct dc_resiliency *r)
{
    dc__res_meta_cleanup(&r->meta);
    for (size_t i = 0; i < r->ntimeouts; i++) {
        free(r->timeouts[i].name);
        free(r->timeouts[i].duration);
    }
    for (size_t i = 0; i < r->nretries; i++) {
        struct dc_res_retry *x = &r->retries[i];
        free(x->name);
        free(x->policy);
        free(x->duration);
        free(x->max_interval);
        free(x->match_http);
        free(x->match_grpc);
    }
    for (size_t i = 0; i < r->nbreakers; i++) {
        free(r->breakers[i].name);
        free(r->breakers[i].interval);
        free(r->breakers[i].timeout);
        free(r->breakers[i].trip);
    }
    for (size_t i = 0; i < r->napps; i++) {
        free(r->apps[i].app_id);
        refs_cleanup(&r->apps[i].p);
    }
    for (size_t i = 0; i < r->nactors; i++) {
        free(r->actors[i].actor_type);
        free(r->actors[i].circuit_breaker_scope);
        refs_cleanup(&r->actors[i].p);
    }
    for (size_t i = 0; i < r->ncomponents; i++) {
        free(r->components[i].component);
        refs_cleanup(&r->components[i].inbound);
        refs_cleanup(&r->components[i].outbound);
    }
    free(r->timeouts);
    free(r->retries);
    free(r->breakers);
    free(r->apps);
    free(r->actors);
    free(r->components);
    memset(r, 0, sizeof(*r));
}
