/* Table-driven command-line flags (dc/flags.h). */
#include "dc/flags.h"

#include <stdlib.h>
#include <string.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

/* Longest piece of a user's value or flag name quoted in an error message. */
#define FLAG_QUOTE_MAX 64

void dc_strlist_add_csv(struct dc_strlist *l, const char *csv)
{
    const char *p = csv;

    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0) {
            l->v = dc_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
            l->v[l->n++] = dc_xstrndup(p, n);
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
}

void dc_strlist_clear(struct dc_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool takes_no_value(enum dc_flag_type t)
{
    return t == DC_FLAG_BOOL || t == DC_FLAG_TRIBOOL || t == DC_FLAG_IGNORED_BOOL;
}

/* Store `v` in an integer field of `size` bytes (callers checked the range). */
static int store_int(void *p, size_t size, int64_t v)
{
    int16_t i16 = (int16_t)v;
    int32_t i32 = (int32_t)v;

    switch (size) {
    case 2:
        memcpy(p, &i16, 2);
        return DC_OK;
    case 4:
        memcpy(p, &i32, 4);
        return DC_OK;
    case 8:
        memcpy(p, &v, 8);
        return DC_OK;
    default:
        return DC_EINVAL;
    }
}

/* Convert `v` into the field of `f`. The reason of a failure goes to `eb` without the flag
 * name (the caller adds it). */
static int set_value(const struct dc_flag *f, void *opts, const char *v, struct dc_errbuf *eb)
{
    void *p = (char *)opts + f->off;
    int64_t i, lo, hi;
    uint64_t u;
    bool b;

    switch (f->type) {
    case DC_FLAG_STRING:
        memcpy(p, &v, sizeof(v));
        return DC_OK;
    case DC_FLAG_STRING_DUP:
        free(*(char **)p);
        *(char **)p = dc_xstrdup(v);
        return DC_OK;
    case DC_FLAG_PORT:
        if (v[0] == '\0' && f->size > 2)
            return store_int(p, f->size, -1);
        if (dc_str_to_i64(v, 0, 65535, &i) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid port \"%.*s\" (want 0-65535)", FLAG_QUOTE_MAX,
                              v);
        return store_int(p, f->size, i);
    case DC_FLAG_INT:
        lo = f->min;
        hi = f->max;
        if (lo == 0 && hi == 0) {
            lo = INT32_MIN;
            hi = INT32_MAX;
        }
        if (dc_str_to_i64(v, lo, hi, &i) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid integer \"%.*s\" (want %lld-%lld)",
                              FLAG_QUOTE_MAX, v, (long long)lo, (long long)hi);
        return store_int(p, f->size, i);
    case DC_FLAG_BOOL:
    case DC_FLAG_IGNORED_BOOL:
        if (dc_str_to_bool(v, &b) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid boolean \"%.*s\"", FLAG_QUOTE_MAX, v);
        if (f->type == DC_FLAG_BOOL)
            *(bool *)p = b;
        return DC_OK;
    case DC_FLAG_TRIBOOL:
        if (v[0] == '\0') {
            *(int *)p = -1;
            return DC_OK;
        }
        if (dc_str_to_bool(v, &b) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid boolean \"%.*s\"", FLAG_QUOTE_MAX, v);
        *(int *)p = b ? 1 : 0;
        return DC_OK;
    case DC_FLAG_LOGLEVEL:
        if (dc_log_level_parse(v, p) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid log level \"%.*s\"", FLAG_QUOTE_MAX, v);
        return DC_OK;
    case DC_FLAG_DURATION:
        if (v[0] == '\0') {
            *(int64_t *)p = -1;
            return DC_OK;
        }
        return dc_duration_parse(v, p, eb) == DC_OK ? DC_OK : DC_EINVAL;
    case DC_FLAG_QUANTITY:
        if (dc_quantity_bytes(v, &u, eb) != DC_OK)
            return DC_EINVAL;
        *(uint64_t *)p = u;
        return DC_OK;
    case DC_FLAG_SCALED:
        if (dc_str_to_i64(v, 0, INT64_C(1) << 20, &i) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid size \"%.*s\"", FLAG_QUOTE_MAX, v);
        *(uint64_t *)p = (uint64_t)i << f->shift;
        return DC_OK;
    case DC_FLAG_LIST:
        dc_strlist_add_csv(p, v);
        return DC_OK;
    case DC_FLAG_IGNORED:
        return DC_OK;
    }
    return dc_err_set(eb, DC_EINVAL, "bad flag type");
}

void dc_flags_defaults(const struct dc_flag *tab, size_t n, void *opts)
{
    for (size_t i = 0; i < n; i++) {
        const struct dc_flag *f = &tab[i];

        if (f->type == DC_FLAG_TRIBOOL && f->def == NULL) {
            *(int *)(void *)((char *)opts + f->off) = -1;
            continue;
        }
        if (f->def == NULL || (f->attrs & DC_FLAG_WEAK) != 0 || f->type == DC_FLAG_LIST ||
            f->type == DC_FLAG_IGNORED || f->type == DC_FLAG_IGNORED_BOOL)
            continue;
        if (set_value(f, opts, f->def, NULL) != DC_OK)
            DC_ASSERT(!"bad default in a flag table");
    }
}

static const struct dc_flag *find(const struct dc_flag *tab, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(tab[i].name) == len && memcmp(tab[i].name, name, len) == 0)
            return &tab[i];
    return NULL;
}

/* True when an entry other than `f`, not weak, for the same field was given. */
static bool strong_sibling_given(const struct dc_flag *tab, size_t n, const struct dc_flag *f,
                                 const bool *given)
{
    for (size_t i = 0; i < n; i++)
        if (&tab[i] != f && tab[i].off == f->off && (tab[i].attrs & DC_FLAG_WEAK) == 0 &&
            tab[i].type != DC_FLAG_IGNORED && tab[i].type != DC_FLAG_IGNORED_BOOL && given[i])
            return true;
    return false;
}

int dc_flags_parse(const struct dc_flag *tab, size_t n, void *opts, int argc,
                   const char *const *argv, bool *given, bool *help, struct dc_errbuf *eb)
{
    bool *seen = dc_xcalloc(n > 0 ? n : 1, sizeof(*seen));
    int rv = DC_OK;

    if (help != NULL)
        *help = false;
    for (int k = 1; k < argc; k++) {
        const char *arg = argv[k], *name, *eq, *val;
        const struct dc_flag *f;
        struct dc_errbuf leb = {{0}};
        size_t len;

        if (arg[0] != '-' || arg[1] == '\0') {
            rv = dc_err_set(eb, DC_EINVAL, "unexpected argument \"%.*s\"", FLAG_QUOTE_MAX, arg);
            goto cleanup;
        }
        name = arg + (arg[1] == '-' ? 2 : 1);
        if (help != NULL && (strcmp(name, "h") == 0 || strcmp(name, "help") == 0)) {
            *help = true;
            goto cleanup;
        }
        eq = strchr(name, '=');
        len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        f = find(tab, n, name, len);
        if (f == NULL) {
            rv = dc_err_set(eb, DC_EINVAL, "unknown flag: --%.*s",
                            (int)(len > FLAG_QUOTE_MAX ? FLAG_QUOTE_MAX : len), name);
            goto cleanup;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (takes_no_value(f->type)) {
            val = "true";
        } else if (k + 1 < argc) {
            val = argv[++k];
        } else {
            rv = dc_err_set(eb, DC_EINVAL, "flag needs an argument: --%s", f->name);
            goto cleanup;
        }
        seen[f - tab] = true;
        if ((f->attrs & DC_FLAG_WEAK) != 0 && strong_sibling_given(tab, n, f, seen))
            continue;
        if (set_value(f, opts, val, &leb) != DC_OK) {
            rv = dc_err_set(eb, DC_EINVAL, "invalid value for --%s: %s", f->name, leb.msg);
            goto cleanup;
        }
    }
cleanup:
    if (given != NULL)
        memcpy(given, seen, n * sizeof(*given));
    free(seen);
    return rv;
}

void dc_flags_cleanup(const struct dc_flag *tab, size_t n, void *opts)
{
    for (size_t i = 0; i < n; i++) {
        void *p = (char *)opts + tab[i].off;

        if (tab[i].type == DC_FLAG_STRING_DUP) {
            free(*(char **)p);
            *(char **)p = NULL;
        } else if (tab[i].type == DC_FLAG_LIST) {
            dc_strlist_clear(p);
        }
    }
}

void dc_flags_usage(FILE *out, const struct dc_flag *tab, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct dc_flag *f = &tab[i];

        fprintf(out, "  --%s%s\n        %s", f->name, takes_no_value(f->type) ? "" : " value",
                f->help);
        if (f->def != NULL && f->def[0] != '\0')
            fprintf(out, " (default %s)", f->def);
        fputc('\n', out);
    }
    fprintf(out, "  -h, --help\n        Print this help and exit\n");
}
