/* Fast JSON paths of the sidecar (pubsub_json.h): one recursive-descent walk of a JSON text
 * that either validates it (collecting a few top-level members), checks that cJSON prints it
 * back as it is written, or writes it in the form cJSON prints (after sdc_json_sort_keys, or
 * in member order). The walk is strict RFC 8259 and declines whatever it is not sure about, so
 * its "yes" is always a "yes" of dc_json_parse too. */
#include "pubsub_json.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/json.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"

/* One member of an object being written (canonical mode), as offsets into the output. */
struct mrec {
    size_t start; /* the key's opening quote */
    size_t end;   /* after the value */
    size_t key;   /* the key's first byte */
    size_t klen;
};

struct jw {
    const unsigned char *p, *end;
    struct dc_buf *out; /* output (canonical mode); NULL: none */
    bool canon;         /* canonical mode: accept only what cJSON prints back as written */
    bool sort;          /* canonical mode with `out`: objects written in key order */
    bool had_ws;        /* whitespace was skipped inside the value */
    unsigned depth;
    int rv; /* why the walk stopped: DC_EAGAIN (declined) or the output's error */
    /* canonical mode: members of the open objects, innermost last; reorder scratch */
    struct mrec *recs;
    size_t nrecs, caprecs;
    char *scratch;
    size_t capscratch;
    /* validate mode: wanted top-level members */
    struct sdc__ps_span *f;
    bool seen[SDC__PS_CE_NFIELDS];
};

/* The members sdc__ps_ce_scan collects, in enum sdc__ps_ce_field order. */
static const char *const ce_names[SDC__PS_CE_NFIELDS] = {"id", "expiration", "traceparent",
                                                         "traceid", "tracestate"};

static bool value(struct jw *j);

static bool decline(struct jw *j)
{
    j->rv = DC_EAGAIN;
    return false;
}

static bool emit(struct jw *j, const void *p, size_t n)
{
    int rv;

    if (j->out == NULL)
        return true;
    rv = dc_buf_append(j->out, p, n);
    if (rv != DC_OK) {
        j->rv = rv;
        return false;
    }
    return true;
}

static void ws(struct jw *j)
{
    const unsigned char *p = j->p;

    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
    j->had_ws |= j->p != p;
}

/* A string at j->p (its opening quote). `*vs`/`*vn` receive the bytes between the quotes and
 * `*esc` whether they hold an escape. Canonical mode accepts only the escapes cJSON prints
 * back identically and copies the string verbatim. */
static bool string(struct jw *j, const unsigned char **vs, size_t *vn, bool *esc)
{
    const unsigned char *s = j->p + 1, *e = j->end;

    *esc = false;
    for (;;) {
        unsigned char c;
        s += dc_json_plain_span((const char *)s, (size_t)(e - s));
        if (s >= e)
            return decline(j);
        c = *s;
        if (c == '"')
            break;
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            s++;
            continue;
        }
        if (c == '\\') {
            *esc = true;
            if (s + 1 >= e)
                return decline(j);
            c = s[1];
            if (c == '"' || c == '\\' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
                s += 2;
            } else if (c == '/' && !j->canon) {
                s += 2;
            } else if (c == 'u' && !j->canon) {
                int v = 0;
                if (e - s < 6)
                    return decline(j);
                for (int k = 2; k < 6; k++) {
                    if (!isxdigit(s[k]))
                        return decline(j);
                    v = v * 16 + (s[k] & 0xF) + (s[k] >> 6) * 9; /* '0'-'9', 'a'-'f', 'A'-'F' */
                }
                /* cJSON cuts strings at \u0000 and refuses lone surrogates: not ours to judge. */
                if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
                    return decline(j);
                s += 6;
            } else {
                return decline(j);
            }
            continue;
        }
        if (c < 0x20)
            return decline(j);
        {
            /* A run of non-ASCII bytes: whole UTF-8 sequences or invalid. */
            const unsigned char *r = s;
            while (r < e && *r >= 0x80)
                r++;
            if (!dc_utf8_valid((const char *)s, (size_t)(r - s)))
                return decline(j);
            s = r;
        }
    }
    *vs = j->p + 1;
    *vn = (size_t)(s - (j->p + 1));
    if (!emit(j, j->p, (size_t)(s + 1 - j->p)))
        return false;
    j->p = s + 1;
    return true;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A number. Canonical mode: only integers that cJSON prints back as they are written (no
 * "-0", at most 9 digits: within int range, printed with %d). */
static bool number(struct jw *j)
{
    const unsigned char *s = j->p, *e = j->end;
    size_t digits = 0;

    if (*s == '-')
        s++;
    if (s >= e || !is_digit(*s))
        return decline(j);
    if (*s == '0') {
        s++;
        digits = 1;
        if (j->canon && *j->p == '-')
            return decline(j);
    } else {
        while (s < e && is_digit(*s)) {
            s++;
            digits++;
        }
    }
    if (j->canon) {
        if (digits > 9 || (s < e && (*s == '.' || *s == 'e' || *s == 'E' || is_digit(*s))))
            return decline(j);
    } else {
        if (s < e && *s == '.') {
            s++;
            if (s >= e || !is_digit(*s))
                return decline(j);
            while (s < e && is_digit(*s))
                s++;
        }
        if (s < e && (*s == 'e' || *s == 'E')) {
            s++;
            if (s < e && (*s == '+' || *s == '-'))
                s++;
            if (s >= e || !is_digit(*s))
                return decline(j);
            while (s < e && is_digit(*s))
                s++;
        }
        /* cJSON reads at most 63 number characters. */
        if (s - j->p > 40)
            return decline(j);
    }
    if (!emit(j, j->p, (size_t)(s - j->p)))
        return false;
    j->p = s;
    return true;
}

static bool literal(struct jw *j, const char *w, size_t n)
{
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return decline(j);
    if (!emit(j, w, n))
        return false;
    j->p += n;
    return true;
}

/* strcmp order of two keys (cJSON's sort compares the decoded keys with strcmp). */
static int key_cmp(const char *base, const struct mrec *a, const struct mrec *b)
{
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(base + a->key, base + b->key, n);

    if (c != 0)
        return c;
    return a->klen < b->klen ? -1 : a->klen > b->klen;
}

/* Rewrite the members recs[base..nrecs) of the object just written in key order (stable, as
 * sdc_json_sort_keys' merge sort). */
static void sort_members(struct jw *j, size_t base)
{
    struct mrec *r = j->recs + base;
    size_t n = j->nrecs - base, from, to, pos;
    char *d = j->out->data;
    bool sorted = true;

    for (size_t i = 1; i < n && sorted; i++)
        sorted = key_cmp(d, &r[i - 1], &r[i]) <= 0;
    if (sorted)
        return;
    for (size_t i = 1; i < n; i++) {
        struct mrec x = r[i];
        size_t k = i;
        while (k > 0 && key_cmp(d, &r[k - 1], &x) > 0) {
            r[k] = r[k - 1];
            k--;
        }
        r[k] = x;
    }
    from = j->out->len, to = 0;
    for (size_t i = 0; i < n; i++) {
        from = r[i].start < from ? r[i].start : from;
        to = r[i].end > to ? r[i].end : to;
    }
    if (to - from > j->capscratch) {
        j->scratch = dc_xrealloc(j->scratch, to - from);
        j->capscratch = to - from;
    }
    memcpy(j->scratch, d + from, to - from);
    pos = from;
    for (size_t i = 0; i < n; i++) {
        size_t len = r[i].end - r[i].start;
        memcpy(d + pos, j->scratch + (r[i].start - from), len);
        pos += len;
        if (i + 1 < n)
            d[pos++] = ',';
    }
}

/* Whether top-level key `k` (no escapes) is a wanted CloudEvent field not seen yet. */
static int wanted(struct jw *j, const unsigned char *k, size_t n)
{
    for (int i = 0; i < SDC__PS_CE_NFIELDS; i++)
        if (!j->seen[i] && strncmp(ce_names[i], (const char *)k, n) == 0 && ce_names[i][n] == '\0')
            return i;
    return -1;
}

static bool member(struct jw *j)
{
    const unsigned char *ks, *vs;
    size_t kn, vn;
    bool kesc, vesc;
    struct mrec rec = {.start = j->out != NULL ? j->out->len : 0};
    int field = -1;

    if (j->p >= j->end || *j->p != '"')
        return decline(j);
    if (!string(j, &ks, &kn, &kesc))
        return false;
    if (kesc && (j->canon || (j->f != NULL && j->depth == 1)))
        return decline(j);
    rec.key = rec.start + 1;
    rec.klen = kn;
    if (j->f != NULL && j->depth == 1)
        field = wanted(j, ks, kn);
    ws(j);
    if (j->p >= j->end || *j->p != ':')
        return decline(j);
    j->p++;
    if (!emit(j, ":", 1))
        return false;
    ws(j);
    if (field >= 0 && j->p < j->end && *j->p == '"') {
        if (!string(j, &vs, &vn, &vesc))
            return false;
        if (vesc)
            return decline(j);
        j->f[field].p = (const char *)vs;
        j->f[field].len = vn;
    } else if (!value(j)) {
        return false;
    }
    if (field >= 0)
        j->seen[field] = true;
    if (j->sort) {
        rec.end = j->out->len;
        if (j->nrecs == j->caprecs) {
            j->caprecs = j->caprecs ? j->caprecs * 2 : 16;
            j->recs = dc_xrealloc(j->recs, j->caprecs * sizeof(*j->recs));
        }
        j->recs[j->nrecs++] = rec;
    }
    return true;
}

/* An array or an object at j->p: values or members between commas. Objects are written with
 * their members in key order. */
static bool container(struct jw *j)
{
    bool obj = *j->p == '{';
    const char *close = obj ? "}" : "]";
    size_t base = j->nrecs;

    if (!emit(j, j->p, 1))
        return false;
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == *close) {
        j->p++;
        return emit(j, close, 1);
    }
    for (;;) {
        if (!(obj ? member(j) : value(j)))
            return false;
        ws(j);
        if (j->p >= j->end)
            return decline(j);
        if (*j->p == *close)
            break;
        if (*j->p != ',')
            return decline(j);
        j->p++;
        if (!emit(j, ",", 1))
            return false;
        ws(j);
    }
    j->p++;
    if (obj && j->sort) {
        sort_members(j, base);
        j->nrecs = base;
    }
    return emit(j, close, 1);
}

static bool value(struct jw *j)
{
    const unsigned char *vs;
    size_t vn;
    bool esc, ok;

    if (j->p >= j->end)
        return decline(j);
    switch (*j->p) {
    case '{':
    case '[':
        if (++j->depth > DC_MAX_DOC_DEPTH)
            return decline(j);
        ok = container(j);
        j->depth--;
        return ok;
    case '"':
        return string(j, &vs, &vn, &esc);
    case 't':
        return literal(j, "true", 4);
    case 'f':
        return literal(j, "false", 5);
    case 'n':
        return literal(j, "null", 4);
    default:
        if (*j->p == '-' || is_digit(*j->p))
            return number(j);
        return decline(j);
    }
}

/* The whole document: one value between optional whitespace. */
static bool document(struct jw *j)
{
    ws(j);
    if (!value(j))
        return false;
    ws(j);
    return j->p == j->end ? true : decline(j);
}

/* Canonical mode over a whole document: append cJSON's compact text to `out`, objects in key
 * order when `sort`. */
static int canon_walk(const char *data, size_t len, struct dc_buf *out, bool sort)
{
    struct jw j = {.p = (const unsigned char *)data,
                   .end = (const unsigned char *)data + len,
                   .out = out,
                   .canon = true,
                   .sort = sort,
                   .rv = DC_OK};
    size_t mark = out->len;
    bool ok = len > 0 && document(&j);

    free(j.recs);
    free(j.scratch);
    if (ok)
        return DC_OK;
    out->len = mark;
    if (out->data != NULL)
        out->data[mark] = '\0';
    return j.rv != DC_OK ? j.rv : DC_EAGAIN;
}

int sdc__ps_json_canon(const char *data, size_t len, struct dc_buf *out)
{
    return canon_walk(data, len, out, true);
}

int sdc__json_compact(const char *data, size_t len, struct dc_buf *out)
{
    return canon_walk(data, len, out, false);
}

bool sdc__json_step(const char **p, const char *end, unsigned depth, bool prints_back, bool *had_ws)
{
    struct jw j = {.p = (const unsigned char *)*p,
                   .end = (const unsigned char *)end,
                   .canon = prints_back,
                   .depth = depth,
                   .rv = DC_OK};

    *had_ws = false;
    if (!value(&j))
        return false;
    *had_ws = j.had_ws;
    *p = (const char *)j.p;
    return true;
}

bool sdc__json_plain_string(const char **p, const char *end, const char **s, size_t *n)
{
    struct jw j = {.p = (const unsigned char *)*p, .end = (const unsigned char *)end, .rv = DC_OK};
    const unsigned char *vs;
    bool esc;

    if (j.p >= j.end || *j.p != '"' || !string(&j, &vs, n, &esc) || esc)
        return false;
    *s = (const char *)vs;
    *p = (const char *)j.p;
    return true;
}

bool sdc__ps_ce_scan(const char *data, size_t len, struct sdc__ps_span f[SDC__PS_CE_NFIELDS])
{
    struct jw j = {.p = (const unsigned char *)data,
                   .end = (const unsigned char *)data + len,
                   .f = f,
                   .rv = DC_OK};

    memset(f, 0, SDC__PS_CE_NFIELDS * sizeof(*f));
    ws(&j);
    if (j.p >= j.end || *j.p != '{')
        return false;
    return document(&j);
}

bool sdc__ps_reply_is_success(const char *body, size_t len)
{
    static const char ok[] = "{\"status\":\"SUCCESS\"}";

    if (body == NULL || len < sizeof(ok) - 1 || memcmp(body, ok, sizeof(ok) - 1) != 0)
        return false;
    for (size_t i = sizeof(ok) - 1; i < len; i++)
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\n' && body[i] != '\r')
            return false;
    return true;
}
