/* Dapr resource loader: files and folders, document dispatch, metadata, and the small kinds
 * (Component, Subscription, HTTPEndpoint). Resiliency and Configuration have their own files.
 * Behaviour reference: upstream pkg/internal/loader/disk and the CRDs (control-plane §5). */
#include "dc/resources.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dc/buf.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "resources_int.h"

#define GROUP_PREFIX "dapr.io/"

enum kind {
    KIND_COMPONENT = 0,
    KIND_SUBSCRIPTION,
    KIND_RESILIENCY,
    KIND_HTTP_ENDPOINT,
    KIND_CONFIGURATION,
    KIND_UNKNOWN,
};

static const char *const kind_names[] = {"Component", "Subscription", "Resiliency", "HTTPEndpoint",
                                         "Configuration"};

/* ---- metadata ---- */

/* DNS-1123-ish, loosened for standalone mode where upstream checks nothing and people use
 * camelCase and underscores: 1..253 of [A-Za-z0-9._-], starting and ending alphanumeric. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && ch != '-' && ch != '.' && ch != '_')
            return false;
        if ((i == 0 || i == n - 1) && !alnum)
            return false;
    }
    return true;
}

static int read_meta(struct dc__res_ctx *c, const struct dc_ynode *doc, const char *api,
                     struct dc_res_meta *m)
{
    const struct dc_ynode *md;
    char shown[64];
    int rv;

    m->api_version = dc_xstrdup(api);
    m->kind = dc_xstrdup(c->kind);
    m->file = dc_xstrdup(c->file);
    m->line = c->line;
    rv = dc__res_map(c, doc, NULL, "metadata", DC__RES_REQUIRED, &md);
    if (rv == DC_OK)
        rv = dc__res_str(c, md, "metadata", "name", DC__RES_REQUIRED, &m->name);
    if (rv != DC_OK)
        return rv;
    if (!name_ok(m->name))
        return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(md, "name"), "metadata", "name",
                            "\"%s\" is not a valid name (letters, digits, '-', '.', '_'; "
                            "alphanumeric at both ends; at most 253)",
                            dc__res_show(m->name, shown, sizeof(shown)));
    c->name = m->name;
    rv = dc__res_str(c, md, "metadata", "namespace", DC__RES_OPTIONAL, &m->namespace);
    if (rv == DC_OK && m->namespace != NULL && !name_ok(m->namespace))
        return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(md, "namespace"), "metadata",
                            "namespace", "\"%s\" is not a valid namespace",
                            dc__res_show(m->namespace, shown, sizeof(shown)));
    if (rv == DC_OK)
        rv = dc__res_strlist(c, doc, NULL, "scopes", &m->scopes, &m->nscopes);
    return rv;
}

static int read_auth(const struct dc__res_ctx *c, const struct dc_ynode *doc, char **store)
{
    const struct dc_ynode *auth;
    int rv = dc__res_map(c, doc, NULL, "auth", DC__RES_OPTIONAL, &auth);

    if (rv == DC_OK && auth != NULL)
        rv = dc__res_str(c, auth, "auth", "secretStore", DC__RES_REQUIRED, store);
    return rv;
}

/* ---- Component ---- */

/* "<category>.<name>": dot-separated non-empty parts of [A-Za-z0-9_-]. */
static bool component_type_ok(const char *t)
{
    size_t n = strlen(t);
    bool dot = false;

    if (n == 0 || t[0] == '.' || t[n - 1] == '.' || strstr(t, "..") != NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (ch == '.')
            dot = true;
        else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return false;
    }
    return dot;
}

static int read_component(const struct dc__res_ctx *c, const struct dc_ynode *doc,
                          const struct dc_ynode *spec, struct dc_component *out)
{
    char shown[64];
    int rv;

    rv = read_auth(c, doc, &out->auth_secret_store);
    if (rv == DC_OK)
        rv = dc__res_str(c, spec, "spec", "type", DC__RES_REQUIRED, &out->type);
    if (rv != DC_OK)
        return rv;
    if (!component_type_ok(out->type))
        return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(spec, "type"), "spec", "type",
                            "\"%s\" is not of the form <category>.<name> (e.g. state.redis)",
                            dc__res_show(out->type, shown, sizeof(shown)));
    /* The CRD marks spec.version required; upstream's component registry needs it. */
    rv = dc__res_str(c, spec, "spec", "version", DC__RES_REQUIRED, &out->version);
    if (rv == DC_OK)
        rv = dc__res_str(c, spec, "spec", "initTimeout", DC__RES_OPTIONAL, &out->init_timeout);
    if (rv == DC_OK)
        rv = dc__res_duration(c, spec, "spec", "initTimeout", out->init_timeout, false);
    if (rv == DC_OK)
        rv = dc__res_bool(c, spec, "spec", "ignoreErrors", DC__RES_OPTIONAL, &out->ignore_errors);
    if (rv == DC_OK)
        rv = dc__res_nvlist(c, spec, "spec", "metadata", &out->metadata, &out->nmetadata);
    return rv;
}

static void component_cleanup(struct dc_component *x)
{
    dc__res_meta_cleanup(&x->meta);
    free(x->type);
    free(x->version);
    free(x->init_timeout);
    free(x->auth_secret_store);
    dc__res_nvs_free(x->metadata, x->nmetadata);
    memset(x, 0, sizeof(*x));
}

/* ---- Subscription ---- */

static int read_sub_metadata(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                             struct dc_subscription *out)
{
    const struct dc_ynode *md;
    int rv = dc__res_map(c, spec, "spec", "metadata", DC__RES_OPTIONAL, &md);

    if (rv != DC_OK || md == NULL)
        return rv;
    for (size_t i = 0; i < md->n; i++) {
        const struct dc_ynode *k = md->pairs[i].key;
        const struct dc_ynode *v = md->pairs[i].value;
        struct dc_nv *nv;
        if (v->type != DC_YNODE_SCALAR || strlen(v->text) != v->len)
            return dc__res_fail(c, DC_EINVAL, v, "spec.metadata", k->text, "expected a string");
        nv = dc__res_push(&out->metadata, &out->nmetadata, sizeof(*nv));
        nv->name = dc_xstrndup(k->text, k->len);
        nv->line = k->line;
        if (!dc_ynode_is_null(v)) {
            nv->value = dc_xstrndup(v->text, v->len);
            nv->value_set = true;
        }
    }
    return DC_OK;
}

static int read_sub_routes(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                           struct dc_subscription *out)
{
    const struct dc_ynode *routes, *rules;
    char path[64];
    int rv = dc__res_map(c, spec, "spec", "routes", DC__RES_REQUIRED, &routes);

    if (rv == DC_OK)
        rv =
            dc__res_str(c, routes, "spec.routes", "default", DC__RES_OPTIONAL, &out->default_route);
    if (rv == DC_OK)
        rv = dc__res_seq(c, routes, "spec.routes", "rules", &rules);
    if (rv != DC_OK)
        return rv;
    for (size_t i = 0; rules != NULL && i < rules->n; i++) {
        const struct dc_ynode *it = rules->items[i];
        struct dc_sub_rule *r = dc__res_push(&out->rules, &out->nrules, sizeof(*r));
        dc__res_pathf(path, sizeof(path), "spec.routes.rules[%zu]", i);
        r->line = it->line;
        if (it->type != DC_YNODE_MAP)
            return dc__res_fail(c, DC_EINVAL, it, path, NULL, "expected a map with match, path");
        rv = dc__res_str(c, it, path, "match", DC__RES_REQUIRED, &r->match);
        if (rv == DC_OK)
            rv = dc__res_str(c, it, path, "path", DC__RES_REQUIRED, &r->path);
        if (rv != DC_OK)
            return rv;
    }
    if (out->default_route == NULL && out->nrules == 0)
        return dc__res_fail(c, DC_EINVAL, routes, "spec", "routes",
                            "needs a default route or at least one rule");
    return DC_OK;
}

static int read_subscription(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                             struct dc_subscription *out)
{
    const struct dc_ynode *bulk;
    int rv;

    out->version = dc_str_eq(out->meta.api_version, "dapr.io/v2alpha1") ? 2 : 1;
    out->bulk_max_messages = 100;
    out->bulk_max_await_ms = 1000;
    rv = dc__res_str(c, spec, "spec", "pubsubname", DC__RES_REQUIRED, &out->pubsubname);
    if (rv == DC_OK)
        rv = dc__res_str(c, spec, "spec", "topic", DC__RES_REQUIRED, &out->topic);
    if (rv == DC_OK && out->version == 1)
        rv = dc__res_str(c, spec, "spec", "route", DC__RES_REQUIRED, &out->route);
    if (rv == DC_OK && out->version == 2)
        rv = read_sub_routes(c, spec, out);
    if (rv == DC_OK)
        rv = read_sub_metadata(c, spec, out);
    if (rv == DC_OK)
        rv = dc__res_str(c, spec, "spec", "deadLetterTopic", DC__RES_OPTIONAL,
                         &out->dead_letter_topic);
    if (rv == DC_OK)
        rv = dc__res_map(c, spec, "spec", "bulkSubscribe", DC__RES_OPTIONAL, &bulk);
    if (rv != DC_OK || bulk == NULL)
        return rv;
    rv = dc__res_bool(c, bulk, "spec.bulkSubscribe", "enabled", DC__RES_REQUIRED,
                      &out->bulk_enabled);
    if (rv == DC_OK)
        rv = dc__res_int(c, bulk, "spec.bulkSubscribe", "maxMessagesCount", 1, INT32_MAX,
                         &out->bulk_max_messages);
    if (rv == DC_OK)
        rv = dc__res_int(c, bulk, "spec.bulkSubscribe", "maxAwaitDurationMs", 0, INT32_MAX,
                         &out->bulk_max_await_ms);
    return rv;
}

static void subscription_cleanup(struct dc_subscription *x)
{
    dc__res_meta_cleanup(&x->meta);
    free(x->pubsubname);
    free(x->topic);
    free(x->route);
    free(x->default_route);
    for (size_t i = 0; i < x->nrules; i++) {
        free(x->rules[i].match);
        free(x->rules[i].path);
    }
    free(x->rules);
    dc__res_nvs_free(x->metadata, x->nmetadata);
    free(x->dead_letter_topic);
    memset(x, 0, sizeof(*x));
}

/* ---- HTTPEndpoint ---- */

static int read_http_endpoint(const struct dc__res_ctx *c, const struct dc_ynode *doc,
                              const struct dc_ynode *spec, struct dc_http_endpoint *out)
{
    static const char *const renegs[] = {"Never", "OnceAsClient", "FreelyAsClient", NULL};
    const struct dc_ynode *tls;
    char *reneg = NULL;
    char shown[64];
    int rv;

    rv = read_auth(c, doc, &out->auth_secret_store);
    if (rv == DC_OK)
        rv = dc__res_str(c, spec, "spec", "baseUrl", DC__RES_REQUIRED, &out->base_url);
    if (rv != DC_OK)
        return rv;
    if (!dc_str_has_prefix(out->base_url, "http://") &&
        !dc_str_has_prefix(out->base_url, "https://"))
        return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(spec, "baseUrl"), "spec", "baseUrl",
                            "\"%s\" is not an http:// or https:// URL",
                            dc__res_show(out->base_url, shown, sizeof(shown)));
    rv = dc__res_nvlist(c, spec, "spec", "headers", &out->headers, &out->nheaders);
    if (rv == DC_OK)
        rv = dc__res_map(c, spec, "spec", "clientTLS", DC__RES_OPTIONAL, &tls);
    if (rv != DC_OK)
        return rv;
    /* Present even without clientTLS, so consumers can read `name` uniformly. */
    rv = dc__res_value_or_secret(c, tls, "spec.clientTLS", "rootCA", &out->tls_root_ca);
    if (rv == DC_OK)
        rv =
            dc__res_value_or_secret(c, tls, "spec.clientTLS", "certificate", &out->tls_certificate);
    if (rv == DC_OK)
        rv = dc__res_value_or_secret(c, tls, "spec.clientTLS", "privateKey", &out->tls_private_key);
    if (rv == DC_OK)
        rv = dc__res_str(c, tls, "spec.clientTLS", "renegotiation", DC__RES_OPTIONAL, &reneg);
    if (rv == DC_OK)
        rv = dc__res_enum(c, tls, "spec.clientTLS", "renegotiation", reneg, renegs);
    if (rv == DC_OK && reneg != NULL)
        out->tls_renegotiation = strcmp(reneg, "Never") == 0 ? DC_TLS_RENEG_NEVER
                                 : strcmp(reneg, "OnceAsClient") == 0
                                     ? DC_TLS_RENEG_ONCE_AS_CLIENT
                                     : DC_TLS_RENEG_FREELY_AS_CLIENT;
    free(reneg);
    return rv;
}

static void http_endpoint_cleanup(struct dc_http_endpoint *x)
{
    dc__res_meta_cleanup(&x->meta);
    free(x->base_url);
    dc__res_nvs_free(x->headers, x->nheaders);
    free(x->auth_secret_store);
    dc__res_nv_cleanup(&x->tls_root_ca);
    dc__res_nv_cleanup(&x->tls_certificate);
    dc__res_nv_cleanup(&x->tls_private_key);
    memset(x, 0, sizeof(*x));
}

/* ---- dispatch ---- */

static enum kind kind_of(const char *k)
{
    for (int i = 0; i < KIND_UNKNOWN; i++) {
        if (strcmp(k, kind_names[i]) == 0)
            return (enum kind)i;
    }
    return KIND_UNKNOWN;
}

/* Text of a top-level scalar (apiVersion, kind), or NULL. */
static const char *top_scalar(const struct dc_ynode *doc, const char *key)
{
    const struct dc_ynode *n = dc_ynode_map_get(doc, key);

    if (n == NULL || n->type != DC_YNODE_SCALAR || dc_ynode_is_null(n) || strlen(n->text) != n->len)
        return NULL;
    return n->text;
}

static const struct dc_res_meta *meta_at(const struct dc_resources *r, enum kind k, size_t i)
{
    switch (k) {
    case KIND_COMPONENT:
        return &r->components[i].meta;
    case KIND_SUBSCRIPTION:
        return &r->subscriptions[i].meta;
    case KIND_RESILIENCY:
        return &r->resiliencies[i].meta;
    case KIND_HTTP_ENDPOINT:
        return &r->http_endpoints[i].meta;
    default:
        return &r->configurations[i].meta;
    }
}

static size_t *count_of(struct dc_resources *r, enum kind k)
{
    switch (k) {
    case KIND_COMPONENT:
        return &r->ncomponents;
    case KIND_SUBSCRIPTION:
        return &r->nsubscriptions;
    case KIND_RESILIENCY:
        return &r->nresiliencies;
    case KIND_HTTP_ENDPOINT:
        return &r->nhttp_endpoints;
    default:
        return &r->nconfigurations;
    }
}

/* Names are unique per kind and namespace (upstream keys its stores by name). */
static int check_duplicate(const struct dc__res_ctx *c, struct dc_resources *r, enum kind k,
                           const struct dc_ynode *doc)
{
    size_t n = *count_of(r, k);
    const struct dc_res_meta *last = meta_at(r, k, n - 1);

    for (size_t i = 0; i + 1 < n; i++) {
        const struct dc_res_meta *m = meta_at(r, k, i);
        if (strcmp(m->name, last->name) == 0 &&
            (m->namespace == last->namespace || dc_str_eq(m->namespace, last->namespace))) {
            const struct dc_ynode *md = dc_ynode_map_get(doc, "metadata");
            return dc__res_fail(c, DC_EEXIST, dc_ynode_map_get(md, "name"), "metadata", "name",
                                "duplicate name, already defined at %s:%d", m->file, m->line);
        }
    }
    return DC_OK;
}

static int load_doc(struct dc_resources *r, const char *file, const struct dc_ydoc *d,
                    struct dc_errbuf *eb)
{
    const struct dc_ynode *doc = d->root, *spec;
    const char *api = top_scalar(doc, "apiVersion");
    const char *kind = top_scalar(doc, "kind");
    struct dc__res_ctx c = {file, kind, NULL, d->line, eb};
    struct dc_res_meta *meta;
    enum kind k;
    size_t *count;
    char shown[64];
    int rv;

    if (doc->type != DC_YNODE_MAP || api == NULL || kind == NULL ||
        !dc_str_has_prefix(api, GROUP_PREFIX))
        return DC_OK; /* not a Dapr manifest: skipped, as upstream */
    k = kind_of(kind);
    if (k == KIND_UNKNOWN)
        return DC_OK; /* a Dapr kind this loader does not handle (MCPServer, ...) */
    if (strcmp(api, "dapr.io/v1alpha1") != 0 &&
        !(k == KIND_SUBSCRIPTION && strcmp(api, "dapr.io/v2alpha1") == 0))
        return dc__res_fail(&c, DC_EINVAL, dc_ynode_map_get(doc, "apiVersion"), NULL, "apiVersion",
                            "unsupported apiVersion \"%s\" (want dapr.io/v1alpha1%s)",
                            dc__res_show(api, shown, sizeof(shown)),
                            k == KIND_SUBSCRIPTION ? " or dapr.io/v2alpha1" : "");
    count = count_of(r, k);
    if (*count >= DC_MAX_RESOURCES)
        return dc__res_fail(&c, DC_ETOOBIG, NULL, NULL, "kind", "more than %d resources of a kind",
                            DC_MAX_RESOURCES);
    switch (k) {
    case KIND_COMPONENT:
        meta = &((struct dc_component *)dc__res_push(&r->components, count, sizeof(*r->components)))
                    ->meta;
        break;
    case KIND_SUBSCRIPTION:
        meta = &((struct dc_subscription *)dc__res_push(&r->subscriptions, count,
                                                        sizeof(*r->subscriptions)))
                    ->meta;
        break;
    case KIND_RESILIENCY:
        meta = &((struct dc_resiliency *)dc__res_push(&r->resiliencies, count,
                                                      sizeof(*r->resiliencies)))
                    ->meta;
        break;
    case KIND_HTTP_ENDPOINT:
        meta = &((struct dc_http_endpoint *)dc__res_push(&r->http_endpoints, count,
                                                         sizeof(*r->http_endpoints)))
                    ->meta;
        break;
    default:
        meta = &((struct dc_configuration *)dc__res_push(&r->configurations, count,
                                                         sizeof(*r->configurations)))
                    ->meta;
        break;
    }
    /* The element is counted already, so a failure below is released by cleanup. */
    rv = read_meta(&c, doc, api, meta);
    if (rv == DC_OK)
        rv = check_duplicate(&c, r, k, doc);
    if (rv == DC_OK)
        rv = dc__res_map(&c, doc, NULL, "spec",
                         k == KIND_CONFIGURATION ? DC__RES_OPTIONAL : DC__RES_REQUIRED, &spec);
    if (rv != DC_OK)
        return rv;
    switch (k) {
    case KIND_COMPONENT:
        return read_component(&c, doc, spec, &r->components[*count - 1]);
    case KIND_SUBSCRIPTION:
        return read_subscription(&c, spec, &r->subscriptions[*count - 1]);
    case KIND_RESILIENCY:
        return dc__res_read_resiliency(&c, spec, &r->resiliencies[*count - 1]);
    case KIND_HTTP_ENDPOINT:
        return read_http_endpoint(&c, doc, spec, &r->http_endpoints[*count - 1]);
    default:
        return dc__res_read_configuration(&c, spec, &r->configurations[*count - 1]);
    }
}

/* Turn the YAML layer's "line L column C: problem" into "file:L:C: problem". */
static void yaml_error_to_file(struct dc_errbuf *eb, const char *filename)
{
    char old[DC_ERRBUF_LEN];
    const char *p = old;
    long line = 0, col = 0;
    char *end;

    if (eb == NULL)
        return;
    memcpy(old, eb->msg, sizeof(old));
    if (strncmp(p, "line ", 5) == 0) {
        line = strtol(p + 5, &end, 10);
        p = end;
        if (strncmp(p, " column ", 8) == 0) {
            col = strtol(p + 8, &end, 10);
            p = end;
        }
        if (strncmp(p, ": ", 2) == 0)
            p += 2;
    }
    if (line <= 0)
        dc_err_set(eb, 0, "%s: %s", filename, p);
    else if (col <= 0)
        dc_err_set(eb, 0, "%s:%ld: %s", filename, line, p);
    else
        dc_err_set(eb, 0, "%s:%ld:%ld: %s", filename, line, col, p);
}

int dc_resources_load_buffer(struct dc_resources *r, const char *filename, const char *data,
                             size_t len, struct dc_errbuf *eb)
{
    struct dc_ystream ys;
    int rv;

    if (filename == NULL)
        filename = "(buffer)";
    rv = dc_yaml_parse(&ys, data, len, eb);
    if (rv != DC_OK) {
        yaml_error_to_file(eb, filename);
        return rv;
    }
    for (size_t i = 0; i < ys.ndocs && rv == DC_OK; i++)
        rv = load_doc(r, filename, &ys.docs[i], eb);
    dc_yaml_cleanup(&ys);
    return rv;
}

/* ---- files ---- */

static int read_file(const char *path, struct dc_buf *out, struct dc_errbuf *eb)
{
    char chunk[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rv = DC_OK;

    if (fd < 0)
        return dc_err_set(eb, DC_EIO, "%s: cannot open: %s", path, strerror(errno));
    dc_buf_init(out, DC_MAX_MANIFEST_FILE);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rv = dc_err_set(eb, DC_EIO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (dc_buf_append(out, chunk, (size_t)n) != DC_OK) {
            struct stat st;
            long long size = fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
            rv = dc_err_set(eb, DC_ETOOBIG, "%s:1: file too large (%lld bytes, limit %u MiB)", path,
                            size, DC_MAX_MANIFEST_FILE / (1024u * 1024u));
            break;
        }
    }
    close(fd);
    if (rv != DC_OK)
        dc_buf_cleanup(out);
    return rv;
}

static int load_file(struct dc_resources *r, const char *path, struct dc_errbuf *eb)
{
    struct dc_buf b = {0};
    int rv;

    if (r->nfiles >= DC_MAX_RESOURCE_FILES)
        return dc_err_set(eb, DC_ETOOBIG, "%s: more than %d resource files", path,
                          DC_MAX_RESOURCE_FILES);
    r->nfiles++;
    rv = read_file(path, &b, eb);
    if (rv == DC_OK)
        rv = dc_resources_load_buffer(r, path, b.data != NULL ? b.data : "", b.len, eb);
    dc_buf_cleanup(&b);
    return rv;
}

static bool manifest_name(const char *n)
{
    return n[0] != '.' && (dc_str_has_suffix(n, ".yaml") || dc_str_has_suffix(n, ".yml") ||
                           dc_str_has_suffix(n, ".json"));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(struct dc_resources *r, const char *path, struct dc_errbuf *eb)
{
    DIR *d = opendir(path);
    char **names = NULL;
    size_t n = 0;
    int rv = DC_OK;

    if (d == NULL)
        return dc_err_set(eb, DC_EIO, "%s: cannot open folder: %s", path, strerror(errno));
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (!manifest_name(e->d_name))
            continue;
        if (n + r->nfiles >= DC_MAX_RESOURCE_FILES) {
            rv = dc_err_set(eb, DC_ETOOBIG, "%s: more than %d resource files", path,
                            DC_MAX_RESOURCE_FILES);
            break;
        }
        *(char **)dc__res_push(&names, &n, sizeof(*names)) = dc_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n && rv == DC_OK; i++) {
        struct stat st;
        struct dc_buf full = {0};
        if (dc_buf_appendf(&full, "%s/%s", path, names[i]) != DC_OK) {
            rv = dc_err_set(eb, DC_ENOMEM, "%s: path too long", path);
        } else if (stat(dc_buf_cstr(&full), &st) == 0 && S_ISREG(st.st_mode)) {
            rv = load_file(r, dc_buf_cstr(&full), eb); /* folders named x.yaml are skipped */
        }
        dc_buf_cleanup(&full);
    }
    dc__res_strs_free(names, n);
    return rv;
}

int dc_resources_load_path(struct dc_resources *r, const char *path, struct dc_errbuf *eb)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return dc_err_set(eb, DC_EIO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return load_dir(r, path, eb);
    return load_file(r, path, eb);
}

void dc_resources_cleanup(struct dc_resources *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->ncomponents; i++)
        component_cleanup(&r->components[i]);
    for (size_t i = 0; i < r->nsubscriptions; i++)
        subscription_cleanup(&r->subscriptions[i]);
    for (size_t i = 0; i < r->nresiliencies; i++)
        dc__res_resiliency_cleanup(&r->resiliencies[i]);
    for (size_t i = 0; i < r->nhttp_endpoints; i++)
        http_endpoint_cleanup(&r->http_endpoints[i]);
    for (size_t i = 0; i < r->nconfigurations; i++)
        dc_configuration_cleanup(&r->configurations[i]);
    free(r->components);
    free(r->subscriptions);
    free(r->resiliencies);
    free(r->http_endpoints);
    free(r->configurations);
    memset(r, 0, sizeof(*r));
}

const struct dc_component *dc_resources_find_component(const struct dc_resources *r,
                                                       const char *name, const char *ns)
{
    for (size_t i = 0; r != NULL && i < r->ncomponents; i++) {
        const struct dc_res_meta *m = &r->components[i].meta;
        if (dc_str_eq(m->name, name) && (ns == NULL || dc_str_eq(m->namespace, ns)))
            return &r->components[i];
    }
    return NULL;
}
