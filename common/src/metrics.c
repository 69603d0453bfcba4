/* Prometheus metrics registry (see dc/metrics.h and docs/internals/metrics.md).
 *
 * Each metric keeps its series twice: in a fixed hash table of atomic chain heads, which the
 * recording hot path scans without locks, and in a creation-order list, which only the metric's
 * mutex guards and which rendering walks. Series are never removed before dc_metrics_free, so
 * a lock-free reader can never see a freed series. A new series is fully built, then published
 * with a release store at the head of its chain; readers load chain pointers with acquire. */
#include "dc/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"

/* Chains stay short for the few dozen series of a normal metric; even at DC_METRICS_MAX_SERIES
 * they average about 40, and reaching that needs the attacker-driven case the bound is for. */
#define HASH_BUCKETS 256
#define DROPPED_NAME "dc_metrics_dropped_total"
#define DROPPED_HELP "Recordings dropped because a metric reached its series limit."
/* Longest number rendered: "%.17g" of a double is at most 24 bytes. */
#define NUM_LEN 32
/* 2^53: below it every integer is exact in a double. */
#define EXACT_INT_LIMIT 9007199254740992.0

const double dc_metrics_latency_ms_buckets[DC_METRICS_LATENCY_MS_BUCKETS] = {
    1,   2,   3,   4,   5,   6,   8,   10,  13,  16,  20,   25,   30,   40,    50,    65,    80,
    100, 130, 160, 200, 250, 300, 400, 500, 650, 800, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
};

const double dc_metrics_size_bytes_buckets[DC_METRICS_SIZE_BYTES_BUCKETS] = {
    1024.0,    2048.0,     4096.0,     16384.0,     65536.0,      262144.0,     1048576.0,
    4194304.0, 16777216.0, 67108864.0, 268435456.0, 1073741824.0, 4294967296.0,
};

enum kind {
    KIND_COUNTER = 0,
    KIND_GAUGE,
    KIND_HISTOGRAM,
};

struct label_value {
    char *s;
    size_t len;
};

struct series {
    _Atomic(struct series *) hnext; /* hash chain, published with release */
    struct series *onext;           /* creation order; guarded by the metric's mutex */
    uint64_t hash;
    _Atomic uint64_t ival;    /* counter: integral increments */
    _Atomic uint64_t dbits;   /* counter: other increments; gauge: value; histogram: sum */
    _Atomic uint64_t *counts; /* histogram: nbuckets + 1 counts, not cumulative; last is +Inf */
    struct label_value vals[];
};

struct dc_metric {
    struct dc_metric *next; /* registration order; guarded by the registry's mutex */
    struct dc_metrics *reg;
    enum kind kind;
    char *name;
    char *help;
    size_t nlabels;
    char **labels;
    size_t nbuckets;
    double *bounds;
    char (*le)[NUM_LEN]; /* bounds formatted once for the le label */
    pthread_mutex_t mu;  /* guards series creation and the order list below */
    size_t nseries;
    struct series *first, *last;
    struct series *single; /* the one series of a metric without labels */
    _Atomic(struct series *) table[HASH_BUCKETS];
};

struct dc_metrics {
    pthread_mutex_t mu; /* guards the metric list */
    struct dc_metric *first, *last;
    struct dc_metric *dropped; /* not in the list: rendered last, name reserved */
};

/* A label set being looked up: the values as cut to DC_METRICS_MAX_LABEL_VALUE, and its hash. */
struct key {
    const char *s[DC_METRICS_MAX_LABELS];
    size_t len[DC_METRICS_MAX_LABELS];
    uint64_t hash;
};

static uint64_t d2u(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static double u2d(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);

    while (!atomic_compare_exchange_weak_explicit(p, &old, d2u(u2d(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* ---- names ---- */

static bool is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Prometheus data model: metric names match [a-zA-Z_:][a-zA-Z0-9_:]*. */
static bool valid_metric_name(const char *s)
{
    if (s == NULL || !(is_alpha_(s[0]) || s[0] == ':'))
        return false;
    for (size_t i = 1; s[i] != '\0'; i++) {
        if (!is_alpha_(s[i]) && !is_digit(s[i]) && s[i] != ':')
            return false;
    }
    return true;
}

/* Label names match [a-zA-Z_][a-zA-Z0-9_]*; names starting with "__" are reserved. */
static bool valid_label_name(const char *s)
{
    if (s == NULL || !is_alpha_(s[0]) || dc_str_has_prefix(s, "__"))
        return false;
    for (size_t i = 1; s[i] != '\0'; i++) {
        if (!is_alpha_(s[i]) && !is_digit(s[i]))
            return false;
    }
    return true;
}

static bool valid_labels(enum kind kind, size_t nlabels, const char *const *labels)
{
    if (nlabels > DC_METRICS_MAX_LABELS || (nlabels > 0 && labels == NULL))
        return false;
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_label_name(labels[i]))
            return false;
        if (kind == KIND_HISTOGRAM && strcmp(labels[i], "le") == 0)
            return false;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(labels[i], labels[j]) == 0)
                return false;
        }
    }
    return true;
}

static bool valid_bounds(size_t nb, const double *bounds)
{
    if (nb > DC_METRICS_MAX_BUCKETS || (nb > 0 && bounds == NULL))
        return false;
    for (size_t i = 0; i < nb; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return false;
    }
    return true;
}

/* ---- numbers ---- */

/* Format `v` as the exposition format expects; returns the length. */
static size_t fmt_num(char buf[NUM_LEN], double v)
{
    if (isnan(v))
        return dc_strlcpy(buf, "NaN", NUM_LEN);
    if (isinf(v))
        return dc_strlcpy(buf, v > 0 ? "+Inf" : "-Inf", NUM_LEN);
    if (v > -EXACT_INT_LIMIT && v < EXACT_INT_LIMIT && (double)(int64_t)v == v)
        return (size_t)snprintf(buf, NUM_LEN, "%" PRId64, (int64_t)v);
    /* The shortest precision that reads back to the same double, as Go's 'g' with -1. */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, NUM_LEN, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return strlen(buf);
}

/* ---- series lookup ---- */

/* Length of `s` cut to DC_METRICS_MAX_LABEL_VALUE without splitting a UTF-8 character. */
static size_t cut_len(const char *s)
{
    size_t n = strnlen(s, DC_METRICS_MAX_LABEL_VALUE + 1);

    if (n <= DC_METRICS_MAX_LABEL_VALUE)
        return n;
    n = DC_METRICS_MAX_LABEL_VALUE;
    /* s[n] is the first byte cut off; while it continues a character, that character started
     * before n and must go too (at most 3 continuation bytes). */
    for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; k++)
        n--;
    return n;
}

/* FNV-1a 64 over the values, each followed by a 0xFF byte (never in UTF-8) as separator. */
static void key_make(const struct dc_metric *mt, const char *const *vals, struct key *k)
{
    uint64_t h = 14695981039346656037ull;

    for (size_t i = 0; i < mt->nlabels; i++) {
        const char *s = vals[i] != NULL ? vals[i] : "";
        size_t len = cut_len(s);

        k->s[i] = s;
        k->len[i] = len;
        for (size_t j = 0; j < len; j++) {
            h ^= (unsigned char)s[j];
            h *= 1099511628211ull;
        }
        h ^= 0xFF;
        h *= 1099511628211ull;
    }
    k->hash = h;
}

static bool series_matches(const struct series *s, const struct key *k, size_t nlabels)
{
    if (s->hash != k->hash)
        return false;
    for (size_t i = 0; i < nlabels; i++) {
        if (s->vals[i].len != k->len[i] || memcmp(s->vals[i].s, k->s[i], k->len[i]) != 0)
            return false;
    }
    return true;
}

static struct series *find(struct dc_metric *mt, const struct key *k)
{
    struct series *s;

    s = atomic_load_explicit(&mt->table[k->hash % HASH_BUCKETS], memory_order_acquire);
    while (s != NULL) {
        if (series_matches(s, k, mt->nlabels))
            return s;
        s = atomic_load_explicit(&s->hnext, memory_order_acquire);
    }
    return NULL;
}

static struct series *series_new(const struct dc_metric *mt, const struct key *k)
{
    struct series *s = dc_xcalloc(1, sizeof(*s) + mt->nlabels * sizeof(s->vals[0]));

    atomic_init(&s->hnext, NULL);
    atomic_init(&s->ival, 0);
    atomic_init(&s->dbits, d2u(0.0));
    s->hash = k->hash;
    for (size_t i = 0; i < mt->nlabels; i++) {
        s->vals[i].s = dc_xstrndup(k->s[i], k->len[i]);
        s->vals[i].len = k->len[i];
    }
    if (mt->kind == KIND_HISTOGRAM) {
        s->counts = dc_xcalloc(mt->nbuckets + 1, sizeof(s->counts[0]));
        for (size_t i = 0; i <= mt->nbuckets; i++)
            atomic_init(&s->counts[i], 0);
    }
    return s;
}

static void series_free(struct series *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(s->vals[i].s);
    free((void *)s->counts);
    free(s);
}

/* Link a new series into the order list and publish it in its chain. Metric mutex held. */
static void series_link(struct dc_metric *mt, struct series *s)
{
    _Atomic(struct series *) *head = &mt->table[s->hash % HASH_BUCKETS];

    atomic_store_explicit(&s->hnext, atomic_load_explicit(head, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(head, s, memory_order_release);
    if (mt->last != NULL)
        mt->last->onext = s;
    else
        mt->first = s;
    mt->last = s;
    mt->nseries++;
}

/* The series of `vals`, created when `create` is set and the bound allows; NULL otherwise. */
static struct series *series_get(struct dc_metric *mt, const char *const *vals, bool create)
{
    struct series *s;
    struct key k;
    bool dropped = false;

    if (mt->nlabels == 0)
        return mt->single;
    if (vals == NULL)
        return NULL;
    key_make(mt, vals, &k);
    s = find(mt, &k);
    if (s != NULL || !create)
        return s;

    pthread_mutex_lock(&mt->mu);
    s = find(mt, &k); /* another thread may have created it meanwhile */
    if (s == NULL && mt->nseries >= DC_METRICS_MAX_SERIES) {
        dropped = true;
    } else if (s == NULL) {
        s = series_new(mt, &k);
        series_link(mt, s);
    }
    pthread_mutex_unlock(&mt->mu);
    if (dropped)
        atomic_fetch_add_explicit(&mt->reg->dropped->single->ival, 1, memory_order_relaxed);
    return s;
}

/* ---- recording ---- */

void dc_metric_inc(struct dc_metric *c, const char *const *label_values, double v)
{
    struct series *s;

    if (c == NULL || c->kind == KIND_HISTOGRAM)
        return;
    if (c->kind == KIND_COUNTER && !(v >= 0)) /* also rejects NaN */
        return;
    s = series_get(c, label_values, true);
    if (s == NULL)
        return;
    if (c->kind == KIND_COUNTER && v < EXACT_INT_LIMIT && (double)(uint64_t)v == v)
        atomic_fetch_add_explicit(&s->ival, (uint64_t)v, memory_order_relaxed);
    else
        atomic_add_double(&s->dbits, v);
}

void dc_metric_set(struct dc_metric *g, const char *const *label_values, double v)
{
    struct series *s;

    if (g == NULL || g->kind != KIND_GAUGE)
        return;
    s = series_get(g, label_values, true);
    if (s != NULL)
        atomic_store_explicit(&s->dbits, d2u(v), memory_order_relaxed);
}

/* Index of the first bound >= v, or nb for +Inf. */
static size_t bucket_index(const double *bounds, size_t nb, double v)
{
    size_t lo = 0, hi = nb;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v <= bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void dc_metric_observe(struct dc_metric *h, const char *const *label_values, double v)
{
    struct series *s;

    if (h == NULL || h->kind != KIND_HISTOGRAM || isnan(v))
        return;
    s = series_get(h, label_values, true);
    if (s == NULL)
        return;
    atomic_fetch_add_explicit(&s->counts[bucket_index(h->bounds, h->nbuckets, v)], 1,
                              memory_order_relaxed);
    atomic_add_double(&s->dbits, v);
}

static uint64_t hist_count(const struct dc_metric *mt, struct series *s)
{
    uint64_t n = 0;

    for (size_t i = 0; i <= mt->nbuckets; i++)
        n += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
    return n;
}

int dc_metric_get(struct dc_metric *mt, const char *const *label_values, double *out)
{
    struct series *s;

    if (mt == NULL || (mt->nlabels > 0 && label_values == NULL))
        return DC_EINVAL;
    s = series_get(mt, label_values, false);
    if (s == NULL)
        return DC_ENOTFOUND;
    if (mt->kind == KIND_HISTOGRAM)
        *out = (double)hist_count(mt, s);
    else if (mt->kind == KIND_COUNTER)
        *out = (double)atomic_load_explicit(&s->ival, memory_order_relaxed) +
               u2d(atomic_load_explicit(&s->dbits, memory_order_relaxed));
    else
        *out = u2d(atomic_load_explicit(&s->dbits, memory_order_relaxed));
    return DC_OK;
}

uint64_t dc_metrics_dropped(struct dc_metrics *m)
{
    return atomic_load_explicit(&m->dropped->single->ival, memory_order_relaxed);
}

/* ---- registration ---- */

static bool same_shape(const struct dc_metric *mt, enum kind kind, size_t nlabels,
                       const char *const *labels, size_t nb, const double *bounds)
{
    if (mt->kind != kind || mt->nlabels != nlabels)
        return false;
    for (size_t i = 0; i < nlabels; i++) {
        if (strcmp(mt->labels[i], labels[i]) != 0)
            return false;
    }
    if (kind != KIND_HISTOGRAM)
        return true;
    if (mt->nbuckets != nb)
        return false;
    for (size_t i = 0; i < nb; i++) {
        if (mt->bounds[i] != bounds[i])
            return false;
    }
    return true;
}

static struct dc_metric *metric_new(struct dc_metrics *m, enum kind kind, const char *name,
                                    const char *help, size_t nlabels, const char *const *labels,
                                    size_t nb, const double *bounds)
{
    struct dc_metric *mt = dc_xcalloc(1, sizeof(*mt));
    struct key empty = {.hash = 0};
    int rc;

    mt->reg = m;
    mt->kind = kind;
    mt->name = dc_xstrdup(name);
    mt->help = dc_xstrdup(help != NULL ? help : "");
    mt->nlabels = nlabels;
    mt->labels = dc_xcalloc(nlabels, sizeof(mt->labels[0]));
    for (size_t i = 0; i < nlabels; i++)
        mt->labels[i] = dc_xstrdup(labels[i]);
    if (kind == KIND_HISTOGRAM) {
        mt->nbuckets = nb;
        mt->bounds = dc_xcalloc(nb, sizeof(mt->bounds[0]));
        mt->le = dc_xcalloc(nb, sizeof(mt->le[0]));
        for (size_t i = 0; i < nb; i++) {
            mt->bounds[i] = bounds[i];
            fmt_num(mt->le[i], bounds[i]);
        }
    }
    rc = pthread_mutex_init(&mt->mu, NULL);
    DC_ASSERT(rc == 0); /* cannot fail with default attributes on Linux */
    for (size_t i = 0; i < HASH_BUCKETS; i++)
        atomic_init(&mt->table[i], NULL);
    if (nlabels == 0) {
        mt->single = series_new(mt, &empty);
        series_link(mt, mt->single);
    }
    return mt;
}

static void metric_free(struct dc_metric *mt)
{
    struct series *s, *next;

    for (s = mt->first; s != NULL; s = next) {
        next = s->onext;
        series_free(s, mt->nlabels);
    }
    for (size_t i = 0; i < mt->nlabels; i++)
        free(mt->labels[i]);
    free(mt->labels);
    free(mt->bounds);
    free(mt->le);
    free(mt->name);
    free(mt->help);
    pthread_mutex_destroy(&mt->mu);
    free(mt);
}

static struct dc_metric *metric_register(struct dc_metrics *m, enum kind kind, const char *name,
                                         const char *help, size_t nlabels,
                                         const char *const *labels, size_t nb, const double *bounds)
{
    struct dc_metric *mt;

    if (m == NULL || !valid_metric_name(name) || strcmp(name, DROPPED_NAME) == 0 ||
        !valid_labels(kind, nlabels, labels) || !valid_bounds(nb, bounds))
        return NULL;
    pthread_mutex_lock(&m->mu);
    for (mt = m->first; mt != NULL; mt = mt->next) {
        if (strcmp(mt->name, name) == 0)
            break;
    }
    if (mt != NULL) {
        if (!same_shape(mt, kind, nlabels, labels, nb, bounds))
            mt = NULL;
    } else {
        mt = metric_new(m, kind, name, help, nlabels, labels, nb, bounds);
        if (m->last != NULL)
            m->last->next = mt;
        else
            m->first = mt;
        m->last = mt;
    }
    pthread_mutex_unlock(&m->mu);
    return mt;
}

struct dc_metric *dc_metrics_counter(struct dc_metrics *m, const char *name, const char *help,
                                     size_t nlabels, const char *const *label_names)
{
    return metric_register(m, KIND_COUNTER, name, help, nlabels, label_names, 0, NULL);
}

struct dc_metric *dc_metrics_gauge(struct dc_metrics *m, const char *name, const char *help,
                                   size_t nlabels, const char *const *label_names)
{
    return metric_register(m, KIND_GAUGE, name, help, nlabels, label_names, 0, NULL);
}

struct dc_metric *dc_metrics_histogram(struct dc_metrics *m, const char *name, const char *help,
                                       size_t nlabels, const char *const *label_names,
                                       size_t nbuckets, const double *upper_bounds)
{
    return metric_register(m, KIND_HISTOGRAM, name, help, nlabels, label_names, nbuckets,
                           upper_bounds);
}

struct dc_metrics *dc_metrics_new(void)
{
    struct dc_metrics *m = dc_xcalloc(1, sizeof(*m));
    int rc = pthread_mutex_init(&m->mu, NULL);

    DC_ASSERT(rc == 0);
    m->dropped = metric_new(m, KIND_COUNTER, DROPPED_NAME, DROPPED_HELP, 0, NULL, 0, NULL);
    return m;
}

void dc_metrics_free(struct dc_metrics *m)
{
    struct dc_metric *mt, *next;

    if (m == NULL)
        return;
    for (mt = m->first; mt != NULL; mt = next) {
        next = mt->next;
        metric_free(mt);
    }
    metric_free(m->dropped);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- rendering ---- */

/* Append `s` with \\ and \n escaped, and also \" when `quote` (label values). Invalid UTF-8
 * becomes U+FFFD so that scrapers that validate label values accept the page. */
static int put_escaped(struct dc_buf *out, const char *s, size_t n, bool quote)
{
    size_t i = 0;
    int rv = DC_OK;

    while (i < n && rv == DC_OK) {
        unsigned char c = (unsigned char)s[i];
        size_t run = i, len;

        while (run < n && (unsigned char)s[run] < 0x80 && s[run] != '\\' && s[run] != '\n' &&
               !(quote && s[run] == '"'))
            run++;
        if (run > i) {
            rv = dc_buf_append(out, s + i, run - i);
            i = run;
            continue;
        }
        if (c == '\\' || c == '\n' || c == '"') {
            rv = dc_buf_appends(out, c == '\\' ? "\\\\" : c == '\n' ? "\\n" : "\\\"");
            i++;
            continue;
        }
        len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (len > 1 && n - i >= len && dc_utf8_valid(s + i, len)) {
            rv = dc_buf_append(out, s + i, len);
            i += len;
        } else {
            rv = dc_buf_appends(out, "\xEF\xBF\xBD");
            i++;
        }
    }
    return rv;
}

/* `{a="x",b="y"}`, with le="..." appended when `le` is set; nothing without labels. */
static int put_labels(struct dc_buf *out, const struct dc_metric *mt, const struct series *s,
                      const char *le)
{
    int rv = DC_OK;

    if (mt->nlabels == 0 && le == NULL)
        return DC_OK;
    rv = dc_buf_appendc(out, '{');
    for (size_t i = 0; i < mt->nlabels && rv == DC_OK; i++) {
        rv = dc_buf_appendf(out, "%s%s=\"", i > 0 ? "," : "", mt->labels[i]);
        if (rv == DC_OK)
            rv = put_escaped(out, s->vals[i].s, s->vals[i].len, true);
        if (rv == DC_OK)
            rv = dc_buf_appendc(out, '"');
    }
    if (rv == DC_OK && le != NULL)
        rv = dc_buf_appendf(out, "%sle=\"%s\"", mt->nlabels > 0 ? "," : "", le);
    if (rv == DC_OK)
        rv = dc_buf_appendc(out, '}');
    return rv;
}

/* One sample line: name+suffix, labels, value. `num` is the formatted value. */
static int put_sample(struct dc_buf *out, const struct dc_metric *mt, const char *suffix,
                      const struct series *s, const char *le, const char *num)
{
    int rv = dc_buf_appendf(out, "%s%s", mt->name, suffix);

    if (rv == DC_OK)
        rv = put_labels(out, mt, s, le);
    if (rv == DC_OK)
        rv = dc_buf_appendf(out, " %s\n", num);
    return rv;
}

static int put_histogram(struct dc_buf *out, const struct dc_metric *mt, struct series *s)
{
    char num[NUM_LEN];
    uint64_t cum = 0;
    int rv = DC_OK;

    for (size_t i = 0; i <= mt->nbuckets && rv == DC_OK; i++) {
        cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        snprintf(num, sizeof(num), "%" PRIu64, cum);
        rv = put_sample(out, mt, "_bucket", s, i < mt->nbuckets ? mt->le[i] : "+Inf", num);
    }
    if (rv == DC_OK) {
        fmt_num(num, u2d(atomic_load_explicit(&s->dbits, memory_order_relaxed)));
        rv = put_sample(out, mt, "_sum", s, NULL, num);
    }
    if (rv == DC_OK) {
        snprintf(num, sizeof(num), "%" PRIu64, cum);
        rv = put_sample(out, mt, "_count", s, NULL, num);
    }
    return rv;
}

static int put_series(struct dc_buf *out, const struct dc_metric *mt, struct series *s)
{
    char num[NUM_LEN];
    uint64_t iv, db;

    if (mt->kind == KIND_HISTOGRAM)
        return put_histogram(out, mt, s);
    iv = atomic_load_explicit(&s->ival, memory_order_relaxed);
    db = atomic_load_explicit(&s->dbits, memory_order_relaxed);
    if (mt->kind == KIND_COUNTER && db == d2u(0.0))
        snprintf(num, sizeof(num), "%" PRIu64, iv); /* exact even past 2^53 */
    else if (mt->kind == KIND_COUNTER)
        fmt_num(num, (double)iv + u2d(db));
    else
        fmt_num(num, u2d(db));
    return put_sample(out, mt, "", s, NULL, num);
}

static int render_metric(struct dc_buf *out, struct dc_metric *mt)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    int rv = DC_OK;

    pthread_mutex_lock(&mt->mu);
    if (mt->first == NULL)
        goto out;
    if (mt->help[0] != '\0') {
        rv = dc_buf_appendf(out, "# HELP %s ", mt->name);
        if (rv == DC_OK)
            rv = put_escaped(out, mt->help, strlen(mt->help), false);
        if (rv == DC_OK)
            rv = dc_buf_appendc(out, '\n');
    }
    if (rv == DC_OK)
        rv = dc_buf_appendf(out, "# TYPE %s %s\n", mt->name, types[mt->kind]);
    for (struct series *s = mt->first; s != NULL && rv == DC_OK; s = s->onext)
        rv = put_series(out, mt, s);
out:
    pthread_mutex_unlock(&mt->mu);
    return rv;
}

int dc_metrics_render(struct dc_metrics *m, struct dc_buf *out)
{
    int rv = DC_OK;

    /* The registry mutex is held throughout so the list cannot change; recording never takes
     * it, and registration is rare. */
    pthread_mutex_lock(&m->mu);
    for (struct dc_metric *mt = m->first; mt != NULL && rv == DC_OK; mt = mt->next)
        rv = render_metric(out, mt);
    pthread_mutex_unlock(&m->mu);
    if (rv == DC_OK)
        rv = render_metric(out, m->dropped);
    return rv;
}
