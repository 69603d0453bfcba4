/* Typed-field readers shared by the resource kinds (see resources_int.h). */
#include "resources_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"
#include "dc/str.h"

void dc__res_pathf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

const char *dc__res_show(const char *s, char *buf, size_t size)
{
    size_t i = 0, max = size > 64 ? 60 : size - 4;

    if (s == NULL)
        return "(null)";
    for (; s[i] != '\0' && i < max; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

int dc__res_fail(const struct dc__res_ctx *c, int code, const struct dc_ynode *at, const char *path,
                 const char *key, const char *fmt, ...)
{
    char problem[DC_ERRBUF_LEN];
    char shown[64];
    const char *name = c->name != NULL ? dc__res_show(c->name, shown, sizeof(shown)) : NULL;
    va_list ap;

    if (c->eb == NULL)
        return code;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof(problem), fmt, ap);
    va_end(ap);
    dc_err_set(c->eb, code, "%s:%d: %s%s%s: %s%s%s: %s", c->file, at != NULL ? at->line : c->line,
               c->kind, name ? " " : "", name ? name : "", path != NULL ? path : "",
               path != NULL && key != NULL ? "." : "", key != NULL ? key : "", problem);
    /* One line, whatever the manifest's keys hold. */
    for (char *p = c->eb->msg; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
    return code;
}

static const char *type_name(const struct dc_ynode *n)
{
    return n->type == DC_YNODE_MAP ? "a map" : n->type == DC_YNODE_SEQ ? "a list" : "a scalar";
}

static int get_scalar(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                      const char *key, bool required, const struct dc_ynode **out)
{
    const struct dc_ynode *n = dc_ynode_map_get(map, key);

    *out = NULL;
    if (n == NULL || dc_ynode_is_null(n)) {
        if (required)
            return dc__res_fail(c, DC_EINVAL, n != NULL ? n : map, path, key, "required");
        return DC_OK;
    }
    if (n->type != DC_YNODE_SCALAR)
        return dc__res_fail(c, DC_EINVAL, n, path, key, "expected a scalar, got %s", type_name(n));
    *out = n;
    return DC_OK;
}

int dc__res_str(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                const char *key, bool required, char **out)
{
    const struct dc_ynode *n;
    int rv = get_scalar(c, map, path, key, required, &n);

    if (rv != DC_OK || n == NULL)
        return rv;
    if (strlen(n->text) != n->len)
        return dc__res_fail(c, DC_EINVAL, n, path, key, "contains a NUL character");
    if (required && n->len == 0)
        return dc__res_fail(c, DC_EINVAL, n, path, key, "must not be empty");
    free(*out);
    *out = dc_xstrndup(n->text, n->len);
    return DC_OK;
}

int dc__res_bool(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                 const char *key, bool required, bool *out)
{
    const struct dc_ynode *n;
    int rv = get_scalar(c, map, path, key, required, &n);

    if (rv != DC_OK || n == NULL)
        return rv;
    if (dc_ynode_bool(n, out) != DC_OK) {
        char shown[64];
        return dc__res_fail(c, DC_EINVAL, n, path, key, "expected true or false, got %s\"%s\"",
                            n->plain ? "" : "quoted ", dc__res_show(n->text, shown, sizeof(shown)));
    }
    return DC_OK;
}

int dc__res_int(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                const char *key, int64_t min, int64_t max, int64_t *out)
{
    const struct dc_ynode *n;
    int rv = get_scalar(c, map, path, key, false, &n);
    char shown[64];

    if (rv != DC_OK || n == NULL)
        return rv;
    rv = dc_ynode_int(n, min, max, out);
    if (rv == DC_ERANGE)
        return dc__res_fail(c, DC_EINVAL, n, path, key, "%s is outside [%lld, %lld]",
                            dc__res_show(n->text, shown, sizeof(shown)), (long long)min,
                            (long long)max);
    if (rv != DC_OK)
        return dc__res_fail(c, DC_EINVAL, n, path, key, "expected an integer, got %s\"%s\"",
                            n->plain ? "" : "quoted ", dc__res_show(n->text, shown, sizeof(shown)));
    return DC_OK;
}

static int get_container(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                         const char *key, bool required, enum dc_ynode_type type,
                         const struct dc_ynode **out)
{
    const struct dc_ynode *n = dc_ynode_map_get(map, key);

    *out = NULL;
    if (n == NULL || dc_ynode_is_null(n)) {
        if (required)
            return dc__res_fail(c, DC_EINVAL, n != NULL ? n : map, path, key, "required");
        return DC_OK;
    }
    if (n->type != type)
        return dc__res_fail(c, DC_EINVAL, n, path, key, "expected %s, got %s",
                            type == DC_YNODE_MAP ? "a map" : "a list", type_name(n));
    *out = n;
    return DC_OK;
}

int dc__res_map(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                const char *key, bool required, const struct dc_ynode **out)
{
    return get_container(c, map, path, key, required, DC_YNODE_MAP, out);
}

int dc__res_seq(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                const char *key, const struct dc_ynode **out)
{
    return get_container(c, map, path, key, false, DC_YNODE_SEQ, out);
}

void *dc__res_push(void *arrayp, size_t *n, size_t elem)
{
    char *arr;

    memcpy(&arr, arrayp, sizeof(arr));
    if ((*n & (*n - 1)) == 0) /* capacity doubles at powers of two */
        arr = dc_xrealloc(arr, (*n ? *n * 2 : 1) * elem);
    memset(arr + *n * elem, 0, elem);
    memcpy(arrayp, &arr, sizeof(arr));
    return arr + (*n)++ * elem;
}

int dc__res_strlist(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                    const char *key, char ***out, size_t *n)
{
    const struct dc_ynode *seq;
    char field[128];
    int rv = dc__res_seq(c, map, path, key, &seq);

    if (rv != DC_OK || seq == NULL)
        return rv;
    for (size_t i = 0; i < seq->n; i++) {
        const struct dc_ynode *it = seq->items[i];
        char **slot;
        if (it->type != DC_YNODE_SCALAR || strlen(it->text) != it->len) {
            dc__res_pathf(field, sizeof(field), "%s[%zu]", key, i);
            return dc__res_fail(c, DC_EINVAL, it, path, field, "expected a string");
        }
        slot = dc__res_push(out, n, sizeof(**out));
        *slot = dc_xstrndup(it->text, it->len);
    }
    return DC_OK;
}

/* Scalar text as upstream's DynamicValue.String() shows it: plain booleans and integers are
 * normalised through their JSON form; everything else keeps its text. */
static char *scalar_value_text(const struct dc_ynode *n)
{
    struct dc_yvalue v;
    char buf[32];

    dc_ynode_resolve(n, &v);
    if (v.kind == DC_YVALUE_BOOL)
        return dc_xstrdup(v.b ? "true" : "false");
    if (v.kind == DC_YVALUE_INT) {
        snprintf(buf, sizeof(buf), "%lld", (long long)v.i);
        return dc_xstrdup(buf);
    }
    return dc_xstrndup(n->text, n->len);
}

static int read_value(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                      struct dc_nv *nv)
{
    const struct dc_ynode *v = dc_ynode_map_get(map, "value");
    cJSON *j;

    if (v == NULL || dc_ynode_is_null(v))
        return DC_OK;
    if (v->type == DC_YNODE_SCALAR) {
        nv->value = scalar_value_text(v);
    } else {
        j = dc_ynode_to_json(v);
        nv->value = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        if (nv->value == NULL)
            return dc__res_fail(c, DC_ENOMEM, v, path, "value", "out of memory");
    }
    nv->value_set = true;
    return DC_OK;
}

static int read_secret_ref(const struct dc__res_ctx *c, const struct dc_ynode *map,
                           const char *path, struct dc_nv *nv)
{
    const struct dc_ynode *ref;
    char sub[160];
    int rv = dc__res_map(c, map, path, "secretKeyRef", false, &ref);

    if (rv != DC_OK || ref == NULL)
        return rv;
    dc__res_pathf(sub, sizeof(sub), "%s.secretKeyRef", path);
    rv = dc__res_str(c, ref, sub, "name", DC__RES_REQUIRED, &nv->secret_ref_name);
    if (rv == DC_OK)
        rv = dc__res_str(c, ref, sub, "key", DC__RES_OPTIONAL, &nv->secret_ref_key);
    return rv;
}

static int read_nv(const struct dc__res_ctx *c, const struct dc_ynode *it, const char *path,
                   struct dc_nv *nv)
{
    int rv;

    nv->line = it->line;
    if (it->type != DC_YNODE_MAP)
        return dc__res_fail(c, DC_EINVAL, it, path, NULL, "expected a map with name and value");
    rv = dc__res_str(c, it, path, "name", DC__RES_REQUIRED, &nv->name);
    if (rv == DC_OK)
        rv = read_value(c, it, path, nv);
    if (rv == DC_OK)
        rv = read_secret_ref(c, it, path, nv);
    if (rv == DC_OK)
        rv = dc__res_str(c, it, path, "envRef", DC__RES_OPTIONAL, &nv->env_ref);
    if (rv == DC_OK && nv->value_set + (nv->secret_ref_name != NULL) + (nv->env_ref != NULL) > 1)
        return dc__res_fail(c, DC_EINVAL, it, path, NULL,
                            "set only one of value, secretKeyRef and envRef");
    return rv;
}

int dc__res_nvlist(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                   const char *key, struct dc_nv **out, size_t *n)
{
    const struct dc_ynode *seq;
    char field[160];
    int rv = dc__res_seq(c, map, path, key, &seq);

    if (rv != DC_OK || seq == NULL)
        return rv;
    for (size_t i = 0; i < seq->n; i++) {
        struct dc_nv *nv = dc__res_push(out, n, sizeof(**out));
        dc__res_pathf(field, sizeof(field), "%s.%s[%zu]", path, key, i);
        rv = read_nv(c, seq->items[i], field, nv);
        if (rv != DC_OK)
            return rv;
    }
    return DC_OK;
}

int dc__res_value_or_secret(const struct dc__res_ctx *c, const struct dc_ynode *map,
                            const char *path, const char *key, struct dc_nv *out)
{
    const struct dc_ynode *m;
    char sub[160];
    int rv = dc__res_map(c, map, path, key, false, &m);

    out->name = dc_xstrdup(key);
    if (rv != DC_OK || m == NULL)
        return rv;
    out->line = m->line;
    dc__res_pathf(sub, sizeof(sub), "%s.%s", path, key);
    rv = read_value(c, m, sub, out);
    if (rv == DC_OK)
        rv = read_secret_ref(c, m, sub, out);
    if (rv == DC_OK && out->value_set && out->secret_ref_name != NULL)
        return dc__res_fail(c, DC_EINVAL, m, sub, NULL, "set only one of value and secretKeyRef");
    return rv;
}

int dc__res_enum(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                 const char *key, const char *value, const char *const *allowed)
{
    char list[128] = "";
    char shown[64];
    size_t used = 0;

    if (value == NULL)
        return DC_OK;
    for (const char *const *a = allowed; *a != NULL; a++) {
        if (strcmp(value, *a) == 0)
            return DC_OK;
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", a == allowed ? "" : ", ",
                                 *a);
        if (used >= sizeof(list))
            used = sizeof(list) - 1;
    }
    return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(map, key), path, key,
                        "\"%s\" is not one of: %s", dc__res_show(value, shown, sizeof(shown)),
                        list);
}

/* Go time.ParseDuration syntax: [-+]?([0-9]*(\.[0-9]*)?unit)+ or "0"; units ns us µs μs ms
 * s m h. */
bool dc__res_duration_ok(const char *s, bool allow_ms)
{
    static const char *const units[] = {"ns", "us", "\xc2\xb5s", "\xce\xbcs", "ms", "s", "m", "h"};
    const char *p = s;
    int64_t ms;

    if (allow_ms && dc_str_to_i64(s, 0, INT64_MAX, &ms) == DC_OK)
        return true;
    if (*p == '+' || *p == '-')
        p++;
    if (strcmp(p, "0") == 0)
        return true;
    if (*p == '\0')
        return false;
    while (*p != '\0') {
        size_t digits = 0, best = 0;
        while ((*p >= '0' && *p <= '9') || *p == '.')
            digits += *p++ != '.';
        if (digits == 0)
            return false;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t ul = strlen(units[i]);
            if (ul > best && strncmp(p, units[i], ul) == 0)
                best = ul;
        }
        if (best == 0)
            return false;
        p += best;
    }
    return true;
}

int dc__res_duration(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                     const char *key, const char *value, bool allow_ms)
{
    char shown[64];

    if (value == NULL || dc__res_duration_ok(value, allow_ms))
        return DC_OK;
    return dc__res_fail(c, DC_EINVAL, dc_ynode_map_get(map, key), path, key,
                        "\"%s\" is not a duration (like 5s, 1m30s, 500ms%s)",
                        dc__res_show(value, shown, sizeof(shown)),
                        allow_ms ? ", or milliseconds" : "");
}

void dc__res_nv_cleanup(struct dc_nv *nv)
{
    free(nv->name);
    free(nv->value);
    free(nv->secret_ref_name);
    free(nv->secret_ref_key);
    free(nv->env_ref);
    memset(nv, 0, sizeof(*nv));
}

void dc__res_nvs_free(struct dc_nv *nvs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dc__res_nv_cleanup(&nvs[i]);
    free(nvs);
}

void dc__res_strs_free(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void dc__res_meta_cleanup(struct dc_res_meta *m)
{
    free(m->api_version);
    free(m->kind);
    free(m->name);
    free(m->namespace);
    dc__res_strs_free(m->scopes, m->nscopes);
    free(m->file);
    memset(m, 0, sizeof(*m));
}
