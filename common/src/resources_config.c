/* Configuration manifests (sidecar-api §20) and daprd's --config file loading. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/buf.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "resources_int.h"

#define PATH_LEN 128

static const char *const actions[] = {"allow", "deny", NULL};
static const char *const protocols[] = {"http", "grpc", NULL};

static int read_tracing(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                        struct dc_configuration *out)
{
    static const char *const otel_protocols[] = {"grpc", "http", NULL};
    const struct dc_ynode *t, *z, *o;
    int rv = dc__res_map(c, spec, "spec", "tracing", DC__RES_OPTIONAL, &t);

    if (rv != DC_OK || t == NULL)
        return rv;
    out->tracing.set = true;
    out->tracing.otel_is_secure = true;
    rv = dc__res_str(c, t, "spec.tracing", "samplingRate", DC__RES_OPTIONAL,
                     &out->tracing.sampling_rate);
    if (rv == DC_OK)
        rv =
            dc__res_bool(c, t, "spec.tracing", "stdout", DC__RES_OPTIONAL, &out->tracing.to_stdout);
    if (rv == DC_OK)
        rv = dc__res_map(c, t, "spec.tracing", "zipkin", DC__RES_OPTIONAL, &z);
    if (rv == DC_OK && z != NULL)
        rv = dc__res_str(c, z, "spec.tracing.zipkin", "endpointAddress", DC__RES_REQUIRED,
                         &out->tracing.zipkin_endpoint);
    if (rv == DC_OK)
        rv = dc__res_map(c, t, "spec.tracing", "otel", DC__RES_OPTIONAL, &o);
    if (rv != DC_OK || o == NULL)
        return rv;
    rv = dc__res_str(c, o, "spec.tracing.otel", "endpointAddress", DC__RES_REQUIRED,
                     &out->tracing.otel_endpoint);
    if (rv == DC_OK)
        rv = dc__res_str(c, o, "spec.tracing.otel", "protocol", DC__RES_OPTIONAL,
                         &out->tracing.otel_protocol);
    if (rv == DC_OK)
        rv = dc__res_enum(c, o, "spec.tracing.otel", "protocol", out->tracing.otel_protocol,
                          otel_protocols);
    if (rv == DC_OK)
        rv = dc__res_bool(c, o, "spec.tracing.otel", "isSecure", DC__RES_OPTIONAL,
                          &out->tracing.otel_is_secure);
    if (rv == DC_OK)
        rv = dc__res_str(c, o, "spec.tracing.otel", "timeout", DC__RES_OPTIONAL,
                         &out->tracing.otel_timeout);
    if (rv == DC_OK)
        rv = dc__res_duration(c, o, "spec.tracing.otel", "timeout", out->tracing.otel_timeout,
                              false);
    if (rv == DC_OK)
        rv = dc__res_nvlist(c, o, "spec.tracing.otel", "headers", &out->tracing.otel_headers,
                            &out->tracing.notel_headers);
    return rv;
}

static int read_metric(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                       struct dc_configuration *out)
{
    const struct dc_ynode *m;
    const char *key = dc_ynode_is_null(dc_ynode_map_get(spec, "metric")) ? "metrics" : "metric";
    bool enabled;
    int rv = dc__res_map(c, spec, "spec", key, DC__RES_OPTIONAL, &m);

    if (rv != DC_OK || m == NULL || dc_ynode_map_get(m, "enabled") == NULL)
        return rv;
    rv = dc__res_bool(c, m, strcmp(key, "metrics") == 0 ? "spec.metrics" : "spec.metric", "enabled",
                      DC__RES_REQUIRED, &enabled);
    if (rv == DC_OK)
        out->metric_enabled = enabled ? DC_TRI_TRUE : DC_TRI_FALSE;
    return rv;
}

static int read_mtls(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                     struct dc_configuration *out)
{
    const struct dc_ynode *m;
    int rv = dc__res_map(c, spec, "spec", "mtls", DC__RES_OPTIONAL, &m);

    if (rv != DC_OK || m == NULL)
        return rv;
    out->mtls.set = true;
    rv = dc__res_bool(c, m, "spec.mtls", "enabled", DC__RES_OPTIONAL, &out->mtls.enabled);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, "spec.mtls", "workloadCertTTL", DC__RES_OPTIONAL,
                         &out->mtls.workload_cert_ttl);
    if (rv == DC_OK)
        rv = dc__res_duration(c, m, "spec.mtls", "workloadCertTTL", out->mtls.workload_cert_ttl,
                              false);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, "spec.mtls", "allowedClockSkew", DC__RES_OPTIONAL,
                         &out->mtls.allowed_clock_skew);
    if (rv == DC_OK)
        rv = dc__res_duration(c, m, "spec.mtls", "allowedClockSkew", out->mtls.allowed_clock_skew,
                              false);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, "spec.mtls", "sentryAddress", DC__RES_OPTIONAL,
                         &out->mtls.sentry_address);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, "spec.mtls", "controlPlaneTrustDomain", DC__RES_OPTIONAL,
                         &out->mtls.control_plane_trust_domain);
    return rv;
}

/* A list of maps at map[key]: calls `fn` for each with the path "<path>.<key>[i]". */
typedef int dc__item_fn(const struct dc__res_ctx *c, const struct dc_ynode *it, const char *path,
                        void *arg);

static int each_map(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                    const char *key, dc__item_fn *fn, void *arg)
{
    const struct dc_ynode *seq;
    char sub[PATH_LEN];
    int rv = dc__res_seq(c, map, path, key, &seq);

    for (size_t i = 0; rv == DC_OK && seq != NULL && i < seq->n; i++) {
        dc__res_pathf(sub, sizeof(sub), "%s.%s[%zu]", path, key, i);
        if (seq->items[i]->type != DC_YNODE_MAP)
            return dc__res_fail(c, DC_EINVAL, seq->items[i], sub, NULL, "expected a map");
        rv = fn(c, seq->items[i], sub, arg);
    }
    return rv;
}

static int secret_scope_item(const struct dc__res_ctx *c, const struct dc_ynode *it,
                             const char *path, void *arg)
{
    struct dc_configuration *out = arg;
    struct dc_cfg_secret_scope *s =
        dc__res_push(&out->secret_scopes, &out->nsecret_scopes, sizeof(*s));
    int rv;

    s->line = it->line;
    rv = dc__res_str(c, it, path, "storeName", DC__RES_REQUIRED, &s->store_name);
    if (rv == DC_OK)
        rv = dc__res_str(c, it, path, "defaultAccess", DC__RES_OPTIONAL, &s->default_access);
    if (rv == DC_OK)
        rv = dc__res_enum(c, it, path, "defaultAccess", s->default_access, actions);
    if (rv == DC_OK)
        rv = dc__res_strlist(c, it, path, "allowedSecrets", &s->allowed, &s->nallowed);
    if (rv == DC_OK)
        rv = dc__res_strlist(c, it, path, "deniedSecrets", &s->denied, &s->ndenied);
    return rv;
}

static int operation_item(const struct dc__res_ctx *c, const struct dc_ynode *it, const char *path,
                          void *arg)
{
    struct dc_acl_policy *p = arg;
    struct dc_acl_operation *op = dc__res_push(&p->operations, &p->noperations, sizeof(*op));
    int rv;

    op->line = it->line;
    rv = dc__res_str(c, it, path, "name", DC__RES_REQUIRED, &op->name);
    if (rv == DC_OK)
        rv = dc__res_strlist(c, it, path, "httpVerb", &op->http_verbs, &op->nhttp_verbs);
    if (rv == DC_OK)
        rv = dc__res_str(c, it, path, "action", DC__RES_REQUIRED, &op->action);
    if (rv == DC_OK)
        rv = dc__res_enum(c, it, path, "action", op->action, actions);
    return rv;
}

/* §20.3: each policy requires appId, trustDomain and namespace. */
static int policy_item(const struct dc__res_ctx *c, const struct dc_ynode *it, const char *path,
                       void *arg)
{
    struct dc_configuration *out = arg;
    struct dc_acl_policy *p =
        dc__res_push(&out->access_control.policies, &out->access_control.npolicies, sizeof(*p));
    int rv;

    p->line = it->line;
    rv = dc__res_str(c, it, path, "appId", DC__RES_REQUIRED, &p->app_id);
    if (rv == DC_OK)
        rv = dc__res_str(c, it, path, "defaultAction", DC__RES_OPTIONAL, &p->default_action);
    if (rv == DC_OK)
        rv = dc__res_enum(c, it, path, "defaultAction", p->default_action, actions);
    if (rv == DC_OK)
        rv = dc__res_str(c, it, path, "trustDomain", DC__RES_REQUIRED, &p->trust_domain);
    if (rv == DC_OK)
        rv = dc__res_str(c, it, path, "namespace", DC__RES_REQUIRED, &p->namespace);
    if (rv == DC_OK)
        rv = each_map(c, it, path, "operations", operation_item, p);
    return rv;
}

static int read_acl(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                    struct dc_configuration *out)
{
    const struct dc_ynode *m;
    int rv = dc__res_map(c, spec, "spec", "accessControl", DC__RES_OPTIONAL, &m);

    if (rv != DC_OK || m == NULL)
        return rv;
    out->access_control.set = true;
    rv = dc__res_str(c, m, "spec.accessControl", "defaultAction", DC__RES_OPTIONAL,
                     &out->access_control.default_action);
    if (rv == DC_OK)
        rv = dc__res_enum(c, m, "spec.accessControl", "defaultAction",
                          out->access_control.default_action, actions);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, "spec.accessControl", "trustDomain", DC__RES_OPTIONAL,
                         &out->access_control.trust_domain);
    if (rv == DC_OK)
        rv = each_map(c, m, "spec.accessControl", "policies", policy_item, out);
    return rv;
}

static int read_name_resolution(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                                struct dc_configuration *out)
{
    const struct dc_ynode *m, *conf;
    int rv = dc__res_map(c, spec, "spec", "nameResolution", DC__RES_OPTIONAL, &m);

    if (rv != DC_OK || m == NULL)
        return rv;
    rv = dc__res_str(c, m, "spec.nameResolution", "component", DC__RES_OPTIONAL,
                     &out->name_resolution.component);
    if (rv == DC_OK)
        rv = dc__res_str(c, m, "spec.nameResolution", "version", DC__RES_OPTIONAL,
                         &out->name_resolution.version);
    if (rv != DC_OK)
        return rv;
    conf = dc_ynode_map_get(m, "configuration");
    if (conf != NULL && !dc_ynode_is_null(conf)) {
        out->name_resolution.configuration = dc_ynode_to_json(conf);
        if (out->name_resolution.configuration == NULL)
            return dc__res_fail(c, DC_ENOMEM, conf, "spec.nameResolution", "configuration",
                                "out of memory");
    }
    return DC_OK;
}

static int feature_item(const struct dc__res_ctx *c, const struct dc_ynode *it, const char *path,
                        void *arg)
{
    struct dc_configuration *out = arg;
    struct dc_feature *f = dc__res_push(&out->features, &out->nfeatures, sizeof(*f));
    int rv = dc__res_str(c, it, path, "name", DC__RES_REQUIRED, &f->name);

    if (rv == DC_OK)
        rv = dc__res_bool(c, it, path, "enabled", DC__RES_REQUIRED, &f->enabled);
    return rv;
}

struct rule_list {
    struct dc_api_rule **rules;
    size_t *n;
};

static int api_rule_item(const struct dc__res_ctx *c, const struct dc_ynode *it, const char *path,
                         void *arg)
{
    struct rule_list *l = arg;
    struct dc_api_rule *r = dc__res_push(l->rules, l->n, sizeof(*r));
    int rv = dc__res_str(c, it, path, "name", DC__RES_REQUIRED, &r->name);

    if (rv == DC_OK)
        rv = dc__res_str(c, it, path, "version", DC__RES_REQUIRED, &r->version);
    if (rv == DC_OK)
        rv = dc__res_str(c, it, path, "protocol", DC__RES_OPTIONAL, &r->protocol);
    if (rv == DC_OK)
        rv = dc__res_enum(c, it, path, "protocol", r->protocol, protocols);
    return rv;
}

static int read_api(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                    struct dc_configuration *out)
{
    const struct dc_ynode *m;
    struct rule_list allowed = {&out->api_allowed, &out->napi_allowed};
    struct rule_list denied = {&out->api_denied, &out->napi_denied};
    int rv = dc__res_map(c, spec, "spec", "api", DC__RES_OPTIONAL, &m);

    if (rv == DC_OK && m != NULL)
        rv = each_map(c, m, "spec.api", "allowed", api_rule_item, &allowed);
    if (rv == DC_OK && m != NULL)
        rv = each_map(c, m, "spec.api", "denied", api_rule_item, &denied);
    return rv;
}

struct handler_list {
    struct dc_pipeline_handler **h;
    size_t *n;
};

static int handler_item(const struct dc__res_ctx *c, const struct dc_ynode *it, const char *path,
                        void *arg)
{
    struct handler_list *l = arg;
    struct dc_pipeline_handler *h = dc__res_push(l->h, l->n, sizeof(*h));
    int rv = dc__res_str(c, it, path, "name", DC__RES_REQUIRED, &h->name);

    if (rv == DC_OK)
        rv = dc__res_str(c, it, path, "type", DC__RES_REQUIRED, &h->type);
    return rv;
}

static int read_pipeline(const struct dc__res_ctx *c, const struct dc_ynode *spec, const char *key,
                         struct dc_pipeline_handler **h, size_t *n)
{
    const struct dc_ynode *m;
    struct handler_list l = {h, n};
    char path[PATH_LEN];
    int rv = dc__res_map(c, spec, "spec", key, DC__RES_OPTIONAL, &m);

    dc__res_pathf(path, sizeof(path), "spec.%s", key);
    if (rv == DC_OK && m != NULL)
        rv = each_map(c, m, path, "handlers", handler_item, &l);
    return rv;
}

static int read_logging(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                        struct dc_configuration *out)
{
    const struct dc_ynode *l, *a;
    bool enabled;
    int rv = dc__res_map(c, spec, "spec", "logging", DC__RES_OPTIONAL, &l);

    if (rv == DC_OK && l != NULL)
        rv = dc__res_map(c, l, "spec.logging", "apiLogging", DC__RES_OPTIONAL, &a);
    if (rv != DC_OK || l == NULL || a == NULL)
        return rv;
    if (!dc_ynode_is_null(dc_ynode_map_get(a, "enabled"))) {
        rv = dc__res_bool(c, a, "spec.logging.apiLogging", "enabled", DC__RES_REQUIRED, &enabled);
        out->api_logging.enabled = enabled ? DC_TRI_TRUE : DC_TRI_FALSE;
    }
    if (rv == DC_OK)
        rv = dc__res_bool(c, a, "spec.logging.apiLogging", "obfuscateURLs", DC__RES_OPTIONAL,
                          &out->api_logging.obfuscate_urls);
    if (rv == DC_OK)
        rv = dc__res_bool(c, a, "spec.logging.apiLogging", "omitHealthChecks", DC__RES_OPTIONAL,
                          &out->api_logging.omit_health_checks);
    return rv;
}

int dc__res_read_configuration(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                               struct dc_configuration *out)
{
    const struct dc_ynode *m;
    int rv;

    if (spec == NULL)
        return DC_OK; /* a Configuration without spec is all defaults */
    out->spec = dc_ynode_to_json(spec);
    if (out->spec == NULL)
        return dc__res_fail(c, DC_ENOMEM, spec, "spec", NULL, "out of memory");
    rv = read_tracing(c, spec, out);
    if (rv == DC_OK)
        rv = read_metric(c, spec, out);
    if (rv == DC_OK)
        rv = read_mtls(c, spec, out);
    if (rv == DC_OK)
        rv = dc__res_map(c, spec, "spec", "secrets", DC__RES_OPTIONAL, &m);
    if (rv == DC_OK && m != NULL)
        rv = each_map(c, m, "spec.secrets", "scopes", secret_scope_item, out);
    if (rv == DC_OK)
        rv = read_acl(c, spec, out);
    if (rv == DC_OK)
        rv = read_name_resolution(c, spec, out);
    if (rv == DC_OK)
        rv = each_map(c, spec, "spec", "features", feature_item, out);
    if (rv == DC_OK)
        rv = read_api(c, spec, out);
    if (rv == DC_OK)
        rv = read_pipeline(c, spec, "httpPipeline", &out->http_pipeline, &out->nhttp_pipeline);
    if (rv == DC_OK)
        rv = read_pipeline(c, spec, "appHttpPipeline", &out->app_http_pipeline,
                           &out->napp_http_pipeline);
    if (rv == DC_OK)
        rv = read_logging(c, spec, out);
    if (rv == DC_OK)
        rv = dc__res_map(c, spec, "spec", "components", DC__RES_OPTIONAL, &m);
    if (rv == DC_OK && m != NULL)
        rv = dc__res_strlist(c, m, "spec.components", "deny", &out->components_deny,
                             &out->ncomponents_deny);
    return rv;
}

static void rules_free(struct dc_api_rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].name);
        free(r[i].version);
        free(r[i].protocol);
    }
    free(r);
}

static void handlers_free(struct dc_pipeline_handler *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].type);
    }
    free(h);
}

static void acl_free(struct dc_configuration *c)
{
    for (size_t i = 0; i < c->access_control.npolicies; i++) {
        struct dc_acl_policy *p = &c->access_control.policies[i];
        for (size_t j = 0; j < p->noperations; j++) {
            free(p->operations[j].name);
            dc__res_strs_free(p->operations[j].http_verbs, p->operations[j].nhttp_verbs);
            free(p->operations[j].action);
        }
        free(p->operations);
        free(p->app_id);
        free(p->default_action);
        free(p->trust_domain);
        free(p->namespace);
    }
    free(c->access_control.policies);
    free(c->access_control.default_action);
    free(c->access_control.trust_domain);
}

void dc_configuration_cleanup(struct dc_configuration *c)
{
    if (c == NULL)
        return;
    dc__res_meta_cleanup(&c->meta);
    free(c->tracing.sampling_rate);
    free(c->tracing.zipkin_endpoint);
    free(c->tracing.otel_endpoint);
    free(c->tracing.otel_protocol);
    free(c->tracing.otel_timeout);
    dc__res_nvs_free(c->tracing.otel_headers, c->tracing.notel_headers);
    free(c->mtls.workload_cert_ttl);
    free(c->mtls.allowed_clock_skew);
    free(c->mtls.sentry_address);
    free(c->mtls.control_plane_trust_domain);
    for (size_t i = 0; i < c->nsecret_scopes; i++) {
        free(c->secret_scopes[i].store_name);
        free(c->secret_scopes[i].default_access);
        dc__res_strs_free(c->secret_scopes[i].allowed, c->secret_scopes[i].nallowed);
        dc__res_strs_free(c->secret_scopes[i].denied, c->secret_scopes[i].ndenied);
    }
    free(c->secret_scopes);
    acl_free(c);
    free(c->name_resolution.component);
    free(c->name_resolution.version);
    cJSON_Delete(c->name_resolution.configuration);
    for (size_t i = 0; i < c->nfeatures; i++)
        free(c->features[i].name);
    free(c->features);
    rules_free(c->api_allowed, c->napi_allowed);
    rules_free(c->api_denied, c->napi_denied);
    handlers_free(c->http_pipeline, c->nhttp_pipeline);
    handlers_free(c->app_http_pipeline, c->napp_http_pipeline);
    dc__res_strs_free(c->components_deny, c->ncomponents_deny);
    cJSON_Delete(c->spec);
    memset(c, 0, sizeof(*c));
}

/* ---- daprd --config ---- */

static bool shell_special(char ch)
{
    return strchr("*#$@!?-", ch) != NULL || (ch >= '0' && ch <= '9');
}

static bool name_char(char ch)
{
    return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9');
}

static int append_env(struct dc_buf *out, const char *name, size_t n)
{
    char key[256];
    const char *v;

    if (n == 0 || n >= sizeof(key))
        return DC_OK;
    memcpy(key, name, n);
    key[n] = '\0';
    v = getenv(key);
    return v != NULL ? dc_buf_appends(out, v) : DC_OK;
}

/* Go os.ExpandEnv: $NAME, ${NAME}, $<special char>; a `$` not followed by a name stays; bad
 * ${...} syntax is dropped. Unset variables expand to nothing. */
DC_TESTABLE int dc__res_expand_env(const char *in, size_t len, struct dc_buf *out)
{
    size_t i = 0;
    int rv = DC_OK;

    while (i < len && rv == DC_OK) {
        size_t j = i;
        while (j < len && in[j] != '$')
            j++;
        rv = dc_buf_append(out, in + i, j - i);
        if (rv != DC_OK || j >= len)
            break;
        i = j + 1; /* past '$' */
        if (i < len && in[i] == '{') {
            size_t k = i + 1;
            if (k + 1 < len && shell_special(in[k]) && in[k + 1] == '}') {
                rv = append_env(out, in + k, 1);
                i = k + 2;
                continue;
            }
            while (k < len && in[k] != '}')
                k++;
            if (k >= len) {
                i += 1; /* no closing brace: drop "${" */
                continue;
            }
            rv = append_env(out, in + i + 1, k - i - 1); /* "${}" expands to nothing */
            i = k + 1;
        } else if (i < len && shell_special(in[i])) {
            rv = append_env(out, in + i, 1);
            i++;
        } else if (i < len && name_char(in[i])) {
            size_t k = i;
            while (k < len && name_char(in[k]))
                k++;
            rv = append_env(out, in + i, k - i);
            i = k;
        } else {
            rv = dc_buf_appendc(out, '$');
        }
    }
    return rv;
}

static void add_default_feature(struct dc_configuration *c, const char *name)
{
    struct dc_feature *f;

    for (size_t i = 0; i < c->nfeatures; i++) {
        if (strcmp(c->features[i].name, name) == 0)
            return;
    }
    f = dc__res_push(&c->features, &c->nfeatures, sizeof(*f));
    f->name = dc_xstrdup(name);
    f->enabled = true;
}

/* Standalone defaults (upstream LoadDefaultConfiguration), applied under the file's values. */
static void apply_defaults(struct dc_configuration *c)
{
    if (c->metric_enabled == DC_TRI_UNSET)
        c->metric_enabled = DC_TRI_TRUE;
    if (!c->tracing.set)
        c->tracing.otel_is_secure = true;
    if (c->access_control.default_action == NULL)
        c->access_control.default_action = dc_xstrdup("allow");
    if (c->access_control.trust_domain == NULL)
        c->access_control.trust_domain = dc_xstrdup("public");
    add_default_feature(c, "HotReload");
    add_default_feature(c, "WorkflowsRemoteActivityReminder");
}

int dc_configuration_load_file(struct dc_configuration *out, const char *path, struct dc_errbuf *eb)
{
    struct dc_resources r = {0};
    struct dc_buf raw = {0}, expanded;
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;
    int rv = DC_OK;

    memset(out, 0, sizeof(*out));
    if (f == NULL)
        return dc_err_set(eb, DC_EIO, "%s: cannot open", path);
    dc_buf_init(&raw, DC_MAX_MANIFEST_FILE);
    dc_buf_init(&expanded, DC_MAX_MANIFEST_FILE);
    while (rv == DC_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rv = dc_buf_append(&raw, chunk, n);
    if (rv == DC_OK && ferror(f))
        rv = dc_err_set(eb, DC_EIO, "%s: read error", path);
    else if (rv != DC_OK)
        rv = dc_err_set(eb, rv, "%s:1: file too large (limit %u MiB)", path,
                        DC_MAX_MANIFEST_FILE / (1024u * 1024u));
    fclose(f);
    if (rv == DC_OK &&
        dc__res_expand_env(raw.data != NULL ? raw.data : "", raw.len, &expanded) != DC_OK)
        rv = dc_err_set(eb, DC_ETOOBIG,
                        "%s:1: file too large after expanding variables (limit "
                        "%u MiB)",
                        path, DC_MAX_MANIFEST_FILE / (1024u * 1024u));
    if (rv == DC_OK)
        rv = dc_resources_load_buffer(&r, path, dc_buf_cstr(&expanded), expanded.len, eb);
    if (rv == DC_OK && r.nconfigurations == 0)
        rv = dc_err_set(eb, DC_ENOTFOUND,
                        "%s: no Configuration (apiVersion dapr.io/v1alpha1) "
                        "in the file",
                        path);
    if (rv == DC_OK) {
        *out = r.configurations[0];
        memset(&r.configurations[0], 0, sizeof(r.configurations[0]));
        apply_defaults(out);
    }
    dc_resources_cleanup(&r);
    dc_buf_cleanup(&raw);
    dc_buf_cleanup(&expanded);
    return rv;
}
