/* The secrets building block: HTTP API, secret scopes and secretKeyRef resolution (§8, §20.4,
 * §22.1). The store types live in secret_file.c and secret_env.c. */
#include "secrets.h"

#include "http_api.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dc/buf.h"
#include "dc/json.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "runtime.h"

#define METADATA_PREFIX "metadata."

/* ---- scopes (§20.4) ------------------------------------------------------------------------ */

static bool list_has(char *const *list, size_t n, const char *key, size_t key_len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == key_len && memcmp(list[i], key, key_len) == 0)
            return true;
    return false;
}

bool sdc_secrets_allowed(const struct sdc_runtime *rt, const char *store, const char *key,
                         size_t key_len)
{
    const struct dc_cfg_secret_scope *s = NULL;

    if (!rt->have_conf)
        return true;
    /* Upstream keys the scopes by store name; a repeated storeName is a Configuration error
     * there, here the first one wins. */
    for (size_t i = 0; i < rt->conf.nsecret_scopes && s == NULL; i++)
        if (dc_str_eq(rt->conf.secret_scopes[i].store_name, store))
            s = &rt->conf.secret_scopes[i];
    if (s == NULL)
        return true;
    /* pkg/config SecretsScope.IsSecretAllowed: a non-empty allow list alone decides. */
    if (s->nallowed > 0)
        return list_has(s->allowed, s->nallowed, key, key_len);
    if (list_has(s->denied, s->ndenied, key, key_len))
        return false;
    return !dc_str_eq_ci(s->default_access, "deny");
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* The metadata.* query parameters, prefix removed, first value of each name (§1.4), in arena
 * memory. Names compare case-sensitively here (Go map keys). */
static void request_metadata(struct dc_http_request *req, struct sdc_md *md)
{
    const struct dc_http_query_pair *p;
    size_t it = 0, cap = 0;

    memset(md, 0, sizeof(*md));
    while (dc_http_request_query_next(req, &it, &p))
        if (dc_str_has_prefix(p->name, METADATA_PREFIX))
            cap++;
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
        /* sdc_md holds mutable pointers for the loader's sake; nothing writes through them. */
        md->names[md->n] = (char *)(uintptr_t)name;
        md->values[md->n] = (char *)(uintptr_t)p->value;
        md->n++;
    }
}

/* Append `s` quoted as Go's %q (strconv.Quote) does for printable text: quotes and backslashes
 * escaped, control bytes as \n \t \r or \xNN, bytes of invalid UTF-8 as \xNN. */
static void go_quote(struct dc_buf *b, const char *s, size_t n)
{
    DC_ASSERT(dc_buf_appendc(b, '"') == DC_OK);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = 1;

        if (c >= 0x80) {
            len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            if (i + len > n || len == 1 || !dc_utf8_valid(s + i, len)) {
                DC_ASSERT(dc_buf_appendf(b, "\\x%02x", c) == DC_OK);
                i++;
                continue;
            }
            DC_ASSERT(dc_buf_append(b, s + i, len) == DC_OK);
        } else if (c == '"' || c == '\\') {
            DC_ASSERT(dc_buf_appendf(b, "\\%c", c) == DC_OK);
        } else if (c == '\n') {
            DC_ASSERT(dc_buf_appends(b, "\\n") == DC_OK);
        } else if (c == '\t') {
            DC_ASSERT(dc_buf_appends(b, "\\t") == DC_OK);
        } else if (c == '\r') {
            DC_ASSERT(dc_buf_appends(b, "\\r") == DC_OK);
        } else if (c < 0x20 || c == 0x7f) {
            DC_ASSERT(dc_buf_appendf(b, "\\x%02x", c) == DC_OK);
        } else {
            DC_ASSERT(dc_buf_appendc(b, (char)c) == DC_OK);
        }
        i += len;
    }
    DC_ASSERT(dc_buf_appendc(b, '"') == DC_OK);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const struct sdc_secret_kv *)a)->key, ((const struct sdc_secret_kv *)b)->key);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct sdc_secret_entry *)a)->name,
                  ((const struct sdc_secret_entry *)b)->name);
}

/* Append {"k":"v",...} with the keys sorted and unique, as Go encodes a map[string]string. */
static int append_secret_json(struct dc_buf *b, const struct sdc_secret *s, struct dc_arena *a)
{
    const struct sdc_secret_kv *kv = s->kv;
    int rv;

    if (s->n > 1) {
        struct sdc_secret_kv *sorted = dc_arena_alloc(a, s->n * sizeof(*sorted));
        memcpy(sorted, s->kv, s->n * sizeof(*sorted));
        qsort(sorted, s->n, sizeof(*sorted), cmp_kv);
        kv = sorted;
    }
    rv = dc_buf_appendc(b, '{');
    for (size_t i = 0, out = 0; i < s->n && rv == DC_OK; i++) {
        if (i > 0 && strcmp(kv[i].key, kv[i - 1].key) == 0)
            continue;
        rv = dc_json_append_kv_string(b, kv[i].key, kv[i].value, out++ > 0);
    }
    if (rv == DC_OK)
        rv = dc_buf_appendc(b, '}');
    return rv;
}

static void respond_json(struct dc_http_response *resp)
{
    resp->status = 200;
    dc_http_response_header_set(resp, "Content-Type", "application/json");
}

/* The store named `name`, or NULL after answering upstream's error (§8: no stores at all is
 * 500, an unknown name 401). */
static struct sdc_component *find_store(struct sdc_runtime *rt, struct dc_http_response *resp,
                                        const char *name)
{
    struct sdc_component *sc;

    if (sdc_components_count(&rt->comps, SDC_CAT_SECRETSTORES) == 0) {
        dc_http_response_error(resp, 500, "ERR_SECRET_STORES_NOT_CONFIGURED",
                               "secret store is not configured");
        return NULL;
    }
    sc = sdc_components_find(&rt->comps, SDC_CAT_SECRETSTORES, name);
    if (sc == NULL)
        dc_http_response_error(
            resp, 401, "ERR_SECRET_STORE_NOT_FOUND",
            dc_arena_sprintf(resp->arena, "failed finding secret store with key %s", name));
    return sc;
}

static const struct sdc_secret_ops *ops_of(const struct sdc_component *sc)
{
    return (const struct sdc_secret_ops *)sc->type->ops;
}

/* ---- HTTP handlers (§8) ------------------------------------------------------------------- */

/* GET /v1.0/secrets/{secretStoreName}/{key} */
static void on_get(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *store = dc_http_request_param(req, "secretStoreName");
    const char *key = NULL;
    size_t key_len = 0;
    struct sdc_component *sc;
    struct sdc_secret out = {0};
    struct dc_errbuf eb = {{0}};
    struct sdc_md md;
    int rv;

    for (size_t i = 0; i < req->n_params; i++) {
        if (strcmp(req->params[i].name, "key") == 0) {
            key = req->params[i].value;
            key_len = req->params[i].value_len;
        }
    }
    DC_ASSERT(store != NULL && key != NULL);
    sc = find_store(rt, resp, store);
    if (sc == NULL)
        return;
    if (!sdc_secrets_allowed(rt, store, key, key_len)) {
        struct dc_buf m = {0};

        DC_ASSERT(dc_buf_appends(&m, "access denied by policy to get ") == DC_OK);
        go_quote(&m, key, key_len);
        DC_ASSERT(dc_buf_appends(&m, " from ") == DC_OK);
        go_quote(&m, store, strlen(store));
        dc_http_response_error(resp, 403, "ERR_PERMISSION_DENIED", dc_buf_cstr(&m));
        dc_buf_cleanup(&m);
        return;
    }
    if (memchr(key, '\0', key_len) != NULL) {
        /* A decoded %00: the stores take C strings, so no secret can have this name. */
        rv = dc_err_set(&eb, DC_ENOTFOUND, "secret name contains a NUL byte");
    } else {
        int64_t t0 = dc_mono_ns();
        request_metadata(req, &md);
        rv = ops_of(sc)->get(sc->self, key, &md, req->arena, &out, &eb);
        sdc_comp_metric(rt, SDC_CM_SECRET, store, SDC_CM_GET, rv == DC_OK, t0);
    }
    if (rv != DC_OK) {
        dc_http_response_error(resp, 500, "ERR_SECRET_GET",
                               dc_arena_sprintf(resp->arena,
                                                "failed getting secret with key %s from secret "
                                                "store %s: %s",
                                                key, store, eb.msg));
        return;
    }
    if (out.none) {
        resp->status = 204;
        return;
    }
    dc_buf_reset(&resp->body);
    if (append_secret_json(&resp->body, &out, req->arena) != DC_OK) {
        dc_http_response_error(resp, 500, "ERR_SECRET_GET", "secret too large to encode");
        return;
    }
    respond_json(resp);
}

/* GET /v1.0/secrets/{secretStoreName}/bulk: every secret the scopes allow. */
static void on_bulk(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *store = dc_http_request_param(req, "secretStoreName");
    struct sdc_component *sc;
    struct sdc_secret_bulk out = {0};
    const struct sdc_secret_entry *v;
    struct dc_errbuf eb = {{0}};
    struct sdc_md md;
    size_t written = 0;
    int64_t t0;
    int rv;

    DC_ASSERT(store != NULL);
    sc = find_store(rt, resp, store);
    if (sc == NULL)
        return;
    request_metadata(req, &md);
    t0 = dc_mono_ns();
    rv = ops_of(sc)->bulk_get(sc->self, &md, req->arena, &out, &eb);
    sdc_comp_metric(rt, SDC_CM_SECRET, store, SDC_CM_BULK_GET, rv == DC_OK, t0);
    if (rv != DC_OK) {
        dc_http_response_error(resp, 500, "ERR_SECRET_GET",
                               dc_arena_sprintf(resp->arena,
                                                "failed getting secrets from secret store %s: %s",
                                                store, eb.msg));
        return;
    }
    if (out.none) {
        resp->status = 204;
        return;
    }
    v = out.v;
    if (out.n > 1) {
        struct sdc_secret_entry *sorted = dc_arena_alloc(req->arena, out.n * sizeof(*sorted));
        memcpy(sorted, out.v, out.n * sizeof(*sorted));
        qsort(sorted, out.n, sizeof(*sorted), cmp_entry);
        v = sorted;
    }
    dc_buf_reset(&resp->body);
    rv = dc_buf_appendc(&resp->body, '{');
    for (size_t i = 0; i < out.n && rv == DC_OK; i++) {
        if (i > 0 && strcmp(v[i].name, v[i - 1].name) == 0)
            continue;
        if (!sdc_secrets_allowed(rt, store, v[i].name, strlen(v[i].name)))
            continue;
        if (written++ > 0)
            rv = dc_buf_appendc(&resp->body, ',');
        if (rv == DC_OK)
            rv = dc_json_append_string(&resp->body, v[i].name, strlen(v[i].name));
        if (rv == DC_OK)
            rv = dc_buf_appendc(&resp->body, ':');
        if (rv == DC_OK)
            rv = append_secret_json(&resp->body, &v[i].data, req->arena);
    }
    if (rv == DC_OK)
        rv = dc_buf_appendc(&resp->body, '}');
    if (rv != DC_OK) {
        dc_http_response_error(resp, 500, "ERR_SECRET_GET", "secrets too large to encode");
        return;
    }
    respond_json(resp);
}

void sdc_secrets_api_routes(struct dc_http_router *r, struct sdc_runtime *rt)
{
    /* The literal "bulk" beats {key}: a secret named "bulk" cannot be read singly (§8). */
    sdc_http_api_add(r, rt, "GET", "/v1.0/secrets/{secretStoreName}/bulk", on_bulk);
    sdc_http_api_add(r, rt, "GET", "/v1.0/secrets/{secretStoreName}/{key}", on_get);
}

/* ---- secretKeyRef (§22.1) ----------------------------------------------------------------- */

int sdc_secrets_resolve_ref(struct sdc_runtime *rt, const char *store, const char *name,
                            const char *key, char **out, struct dc_errbuf *eb)
{
    struct dc_arena a;
    struct sdc_component *sc;
    struct sdc_secret s = {0};
    struct sdc_md md = {0};
    char *md_names[1] = {(char *)(uintptr_t) "namespace"};
    char *md_values[1];
    const char *ns = rt->cfg->namespace != NULL ? rt->cfg->namespace : "";
    int rv;

    if (dc_str_empty(key))
        key = name;
    if (dc_str_empty(store)) {
        /* authSecretStoreOrDefault: only Kubernetes mode has a default store. */
        if (!dc_str_eq(rt->cfg->mode, "kubernetes"))
            return dc_err_set(eb, DC_EINVAL,
                              "secretKeyRef %s: the component has no auth.secretStore (there is "
                              "no default secret store in %s mode)",
                              name, rt->cfg->mode != NULL ? rt->cfg->mode : "standalone");
        store = "kubernetes";
    }
    sc = sdc_components_find(&rt->comps, SDC_CAT_SECRETSTORES, store);
    if (sc == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "secretKeyRef %s: secret store %s is not loaded", name,
                          store);
    /* Upstream passes the resource's namespace; components here live in the sidecar's. */
    md_values[0] = (char *)(uintptr_t)ns;
    md.n = 1;
    md.names = md_names;
    md.values = md_values;
    dc_arena_init(&a);
    rv = ops_of(sc)->get(sc->self, name, &md, &a, &s, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "secretKeyRef %s from secret store %s", name, store);
        goto out;
    }
    rv = DC_ENOTFOUND;
    for (size_t i = 0; i < s.n; i++) {
        if (strcmp(s.kv[i].key, key) == 0) {
            *out = dc_xstrdup(s.kv[i].value != NULL ? s.kv[i].value : "");
            rv = DC_OK;
            break;
        }
    }
    if (rv != DC_OK)
        dc_err_set(eb, rv, "secretKeyRef %s from secret store %s: the secret has no key %s", name,
                   store, key);
out:
    dc_arena_cleanup(&a);
    return rv;
}

unsigned sdc_secrets_features(const struct sdc_component *sc)
{
    if (sc == NULL || !sc->ok || sc->type == NULL || sc->type->category != SDC_CAT_SECRETSTORES)
        return 0;
    if (ops_of(sc)->features == NULL)
        return 0;
    return ops_of(sc)->features(sc->self);
}
