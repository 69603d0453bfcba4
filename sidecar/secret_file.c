/* secretstores.local.file v1 (sidecar-api.md §22.6): secrets from a JSON file read once at init.
 *
 * Metadata: secretsFile (required; a relative path is relative to daprd's working directory),
 * nestedSeparator (default ":"), multiValued (default false; truthy strings as upstream's
 * metadata decoder: 1 t true y yes on).
 *
 * Single-valued (default): the document is flattened; every leaf is one secret whose name is
 * the path of keys (array indexes as decimal numbers) joined by the separator, and whose data is
 * {"<name>": "<value>"}. Multi-valued: each top-level member is one secret: a string gives
 * {"<name>": "<value>"}, an object is flattened into the secret's key/value pairs; members of
 * other types are skipped (as upstream).
 *
 * Leaf values: strings as they are; true/false; numbers in their shortest round-trip decimal
 * form; null as "". (Upstream formats non-string leaves with Go's %s verb, which yields text such
 * as "%!s(float64=42)"; no client can rely on that.) With duplicate names the last one in the
 * document wins, as with Go's JSON decoder for duplicate keys. The store is immutable after init,
 * so get and bulk_get return borrowed strings and need no lock. */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dc/buf.h"
#include "dc/json.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"

/* One secret. Multi-valued stores own `name` and every string of `kv`; single-valued stores own
 * the strings through `flat` and each secret points at one element of it. */
struct file_secret {
    const char *name;
    struct sdc_secret_kv *kv;
    size_t n;
    size_t seq; /* document order, for "last wins" while loading */
};

struct file_store {
    struct file_secret *v; /* sorted by name, names unique */
    size_t n;
    struct sdc_secret_kv *flat; /* single-valued: every (name, value), sorted */
    size_t nflat;
    bool multi_valued;
};

/* A growing list of (key, value) pairs collected while flattening; strings owned. `seq` keeps
 * document order through the (unstable) qsort so that the last duplicate wins. */
struct pair {
    struct sdc_secret_kv kv;
    size_t seq;
};

struct pairs {
    struct pair *v;
    size_t n, cap;
};

static void kv_free(struct sdc_secret_kv *kv)
{
    free((char *)(uintptr_t)kv->key);
    free((char *)(uintptr_t)kv->value);
}

static void pairs_push(struct pairs *p, const char *key, const char *value)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->v = dc_xrealloc(p->v, p->cap * sizeof(*p->v));
    }
    p->v[p->n].kv.key = dc_xstrdup(key);
    p->v[p->n].kv.value = dc_xstrdup(value);
    p->v[p->n].seq = p->n;
    p->n++;
}

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->kv.key, y->kv.key);

    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Turn `p` into an array of unique keys sorted by key, where the last occurrence of a key in
 * document order wins. `p` is consumed. */
static struct sdc_secret_kv *pairs_finish(struct pairs *p, size_t *n_out)
{
    struct sdc_secret_kv *kv = dc_xcalloc(p->n ? p->n : 1, sizeof(*kv));
    size_t n = 0;

    if (p->n > 1)
        qsort(p->v, p->n, sizeof(*p->v), cmp_pair);
    for (size_t i = 0; i < p->n; i++) {
        if (i + 1 < p->n && strcmp(p->v[i].kv.key, p->v[i + 1].kv.key) == 0)
            kv_free(&p->v[i].kv);
        else
            kv[n++] = p->v[i].kv;
    }
    free(p->v);
    memset(p, 0, sizeof(*p));
    *n_out = n;
    return kv;
}

/* Shortest decimal text that reads back as `d`. */
static void format_number(double d, char *out, size_t size)
{
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && (double)(int64_t)d == d) {
        snprintf(out, size, "%" PRId64, (int64_t)d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static void truncate_path(struct dc_buf *path, size_t len)
{
    path->len = len;
    if (path->data != NULL)
        path->data[len] = '\0';
}

/* Flatten `node` under `path` (the keys so far, joined by `sep`) into `out`. Recursion depth is
 * bounded by dc_json_parse (DC_MAX_DOC_DEPTH). */
static void flatten(const cJSON *node, struct dc_buf *path, const char *sep, struct pairs *out)
{
    size_t mark = path->len;
    char num[40];
    size_t idx = 0;

    if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        for (const cJSON *c = node->child; c != NULL; c = c->next, idx++) {
            if (mark > 0)
                DC_ASSERT(dc_buf_appends(path, sep) == DC_OK);
            if (cJSON_IsObject(node)) {
                DC_ASSERT(dc_buf_appends(path, c->string) == DC_OK);
            } else {
                snprintf(num, sizeof(num), "%zu", idx);
                DC_ASSERT(dc_buf_appends(path, num) == DC_OK);
            }
            flatten(c, path, sep, out);
            truncate_path(path, mark);
        }
        return;
    }
    if (cJSON_IsString(node)) {
        pairs_push(out, dc_buf_cstr(path), node->valuestring);
    } else if (cJSON_IsBool(node)) {
        pairs_push(out, dc_buf_cstr(path), cJSON_IsTrue(node) ? "true" : "false");
    } else if (cJSON_IsNumber(node)) {
        format_number(node->valuedouble, num, sizeof(num));
        pairs_push(out, dc_buf_cstr(path), num);
    } else {
        pairs_push(out, dc_buf_cstr(path), ""); /* null */
    }
}

static void secret_free(struct file_secret *s)
{
    for (size_t k = 0; k < s->n; k++)
        kv_free(&s->kv[k]);
    free(s->kv);
    free((char *)(uintptr_t)s->name);
}

static void store_free(struct file_store *s)
{
    if (s == NULL)
        return;
    if (s->multi_valued) {
        for (size_t i = 0; i < s->n; i++)
            secret_free(&s->v[i]);
    } else {
        for (size_t i = 0; i < s->nflat; i++)
            kv_free(&s->flat[i]);
    }
    free(s->flat);
    free(s->v);
    free(s);
}

static int cmp_secret(const void *a, const void *b)
{
    const struct file_secret *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Single-valued: every leaf of the document is a secret {"<path>": "<value>"}. */
static void load_single(struct file_store *s, const cJSON *doc, const char *sep)
{
    struct pairs p = {0};
    struct dc_buf path = {0};

    if (cJSON_IsObject(doc))
        flatten(doc, &path, sep, &p);
    dc_buf_cleanup(&path);
    s->flat = pairs_finish(&p, &s->nflat);
    s->v = dc_xcalloc(s->nflat ? s->nflat : 1, sizeof(*s->v));
    s->n = s->nflat;
    for (size_t i = 0; i < s->nflat; i++)
        s->v[i] = (struct file_secret){.name = s->flat[i].key, .kv = &s->flat[i], .n = 1};
}

/* Multi-valued: each top-level string or object member is a secret. */
static void load_multi(struct file_store *s, const cJSON *doc, const char *sep)
{
    size_t cap = (size_t)cJSON_GetArraySize(doc), n = 0, seq = 0;

    s->v = dc_xcalloc(cap ? cap : 1, sizeof(*s->v));
    for (const cJSON *c = doc->child; c != NULL; c = c->next, seq++) {
        struct file_secret *fs = &s->v[n];

        if (cJSON_IsString(c)) {
            fs->kv = dc_xcalloc(1, sizeof(*fs->kv));
            fs->kv[0].key = dc_xstrdup(c->string);
            fs->kv[0].value = dc_xstrdup(c->valuestring);
            fs->n = 1;
        } else if (cJSON_IsObject(c)) {
            struct pairs p = {0};
            struct dc_buf path = {0};

            flatten(c, &path, sep, &p);
            dc_buf_cleanup(&path);
            fs->kv = pairs_finish(&p, &fs->n);
        } else {
            continue; /* upstream keeps only strings and objects */
        }
        fs->name = dc_xstrdup(c->string);
        fs->seq = seq;
        n++;
    }
    if (n > 1)
        qsort(s->v, n, sizeof(*s->v), cmp_secret);
    s->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && strcmp(s->v[i].name, s->v[i + 1].name) == 0)
            secret_free(&s->v[i]);
        else
            s->v[s->n++] = s->v[i];
    }
    s->multi_valued = true;
}

static int read_whole(const char *path, struct dc_buf *b, struct dc_errbuf *eb)
{
    char chunk[16384];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rv = DC_OK;

    if (fd == -1)
        return dc_err_set(eb, DC_EIO, "secretsFile %s: %s", path, strerror(errno));
    if (fstat(fd, &st) == -1) {
        rv = dc_err_set(eb, DC_EIO, "secretsFile %s: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rv = dc_err_set(eb, DC_EIO, "secretsFile %s: is a directory", path);
        goto out;
    }
    dc_buf_init(b, DC_MAX_SECRETS_FILE);
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof(chunk));
        if (got == 0)
            break;
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1) {
            rv = dc_err_set(eb, DC_EIO, "secretsFile %s: %s", path, strerror(errno));
            goto out;
        }
        if (dc_buf_append(b, chunk, (size_t)got) != DC_OK) {
            rv = dc_err_set(eb, DC_ETOOBIG, "secretsFile %s: larger than %u bytes", path,
                            DC_MAX_SECRETS_FILE);
            goto out;
        }
    }
out:
    close(fd);
    return rv;
}

static int file_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                     struct dc_errbuf *eb)
{
    const char *file = sdc_md_get(md, "secretsFile");
    const char *sep = sdc_md_get_or(md, "nestedSeparator", ":");
    bool multi = dc_str_truthy(sdc_md_get(md, "multiValued"));
    struct file_store *s = NULL;
    struct dc_buf text = {0};
    cJSON *doc = NULL;
    int rv;

    (void)ctx;
    if (dc_str_empty(file))
        return dc_err_set(eb, DC_EINVAL, "missing local secrets file in metadata");
    rv = read_whole(file, &text, eb);
    if (rv != DC_OK)
        goto out;
    rv = dc_json_parse(text.data != NULL ? text.data : "", text.len, DC_MAX_SECRETS_FILE, &doc, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "secretsFile %s", file);
        goto out;
    }
    /* Go decodes the file into a map: null is an empty map, anything but an object an error. */
    if (!cJSON_IsObject(doc) && !cJSON_IsNull(doc)) {
        rv = dc_err_set(eb, DC_EPARSE, "secretsFile %s: the top level must be a JSON object", file);
        goto out;
    }
    s = dc_xcalloc(1, sizeof(*s));
    if (multi)
        load_multi(s, doc, sep);
    else
        load_single(s, doc, sep);
    *self = s;
out:
    cJSON_Delete(doc);
    dc_buf_cleanup(&text);
    return rv;
}

static void file_close(void *self)
{
    store_free(self);
}

static unsigned file_features(const void *self)
{
    const struct file_store *s = self;

    return s->multi_valued ? SDC_SECRET_F_MULTIPLE_KEY_VALUES : 0;
}

static const struct file_secret *lookup(const struct file_store *s, const char *name)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid].name, name);
        if (c == 0)
            return &s->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int file_get(void *self, const char *name, const struct sdc_md *md, struct dc_arena *a,
                    struct sdc_secret *out, struct dc_errbuf *eb)
{
    const struct file_secret *fs = lookup(self, name);

    (void)md;
    (void)a;
    if (fs == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "secret %s not found", name);
    *out = (struct sdc_secret){.kv = fs->kv, .n = fs->n};
    return DC_OK;
}

static int file_bulk_get(void *self, const struct sdc_md *md, struct dc_arena *a,
                         struct sdc_secret_bulk *out, struct dc_errbuf *eb)
{
    const struct file_store *s = self;
    struct sdc_secret_entry *v = NULL;

    (void)md;
    (void)eb;
    if (s->n > 0)
        v = dc_arena_alloc(a, s->n * sizeof(*v));
    for (size_t i = 0; i < s->n; i++)
        v[i] = (struct sdc_secret_entry){.name = s->v[i].name,
                                         .data = {.kv = s->v[i].kv, .n = s->v[i].n}};
    *out = (struct sdc_secret_bulk){.v = v, .n = s->n};
    return DC_OK;
}

static const struct sdc_secret_ops file_ops = {
    .base = {.init = file_init, .close = file_close},
    .features = file_features,
    .get = file_get,
    .bulk_get = file_bulk_get,
};

const struct sdc_component_type sdc_type_secretstores_local_file = {
    "secretstores.local.file", "v1", SDC_CAT_SECRETSTORES, &file_ops.base};
