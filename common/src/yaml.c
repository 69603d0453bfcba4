/* Bounded YAML node tree on libyaml's event parser (see dc/yaml.h for the contract).
 *
 * The builder keeps a stack of open containers. Each child is appended to a temporary heap
 * vector of its container; when the container closes, the vector is copied into the stream's
 * arena. Anchors live in a small per-document hash table; an alias points at the anchored
 * node, and the document's node budget is charged with that node's expanded weight. */
#include "dc/yaml.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "dc/limits.h"
#include "dc/mem.h"

#define TAG_PREFIX "tag:yaml.org,2002:"
#define ANCHOR_BUCKETS 1024u

struct anchor {
    struct anchor *next;
    const char *name;
    struct dc_ynode *node;
};

struct frame {
    struct dc_ynode *node;
    struct dc_ynode *key; /* maps: key waiting for its value */
    void *vec;            /* struct dc_ypair[] or struct dc_ynode *[] */
    size_t n, cap;
    const char *anchor; /* registered when the container closes (no self-reference) */
};

struct builder {
    struct dc_ystream *s;
    struct frame stack[DC_MAX_DOC_DEPTH];
    int depth;
    size_t doc_nodes;
    struct anchor *anchors[ANCHOR_BUCKETS];
    struct dc_ynode *root;
    struct dc_errbuf *eb;
};

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;

    while (*s != '\0')
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % ANCHOR_BUCKETS;
}

static int mark_line(const yaml_mark_t *m)
{
    return m->line >= (size_t)INT32_MAX ? INT32_MAX : (int)m->line + 1;
}

static int mark_col(const yaml_mark_t *m)
{
    return m->column >= (size_t)INT32_MAX ? INT32_MAX : (int)m->column + 1;
}

/* Translate libyaml's error once, at the boundary (house style §D). */
static int err_from_yaml(const yaml_parser_t *p, const char *data, size_t len, struct dc_errbuf *eb)
{
    const char *problem = p->problem != NULL ? p->problem : "unknown libyaml error";

    if (p->error == YAML_MEMORY_ERROR)
        return dc_err_set(eb, DC_ENOMEM, "out of memory while parsing YAML");
    if (p->error == YAML_READER_ERROR) {
        /* Encoding errors carry a byte offset, not a mark: count lines ourselves. */
        size_t off = p->problem_offset < len ? p->problem_offset : len;
        int line = 1;
        for (size_t i = 0; i < off; i++)
            line += data[i] == '\n';
        return dc_err_set(eb, DC_EPARSE, "line %d: %s (byte offset %zu)", line, problem, off);
    }
    if (p->context != NULL)
        return dc_err_set(eb, DC_EPARSE, "line %d column %d: %s %s", mark_line(&p->problem_mark),
                          mark_col(&p->problem_mark), p->context, problem);
    return dc_err_set(eb, DC_EPARSE, "line %d column %d: %s", mark_line(&p->problem_mark),
                      mark_col(&p->problem_mark), problem);
}

static struct dc_ynode *new_node(struct builder *b, enum dc_ynode_type type, const yaml_mark_t *m)
{
    struct dc_ynode *n = dc_arena_calloc(&b->s->arena, sizeof(*n));

    n->type = type;
    n->line = mark_line(m);
    n->column = mark_col(m);
    n->weight = 1;
    n->height = 1;
    return n;
}

static int charge(struct builder *b, const struct dc_ynode *n, size_t weight)
{
    if (weight > DC_MAX_YAML_NODES - b->doc_nodes)
        return dc_err_set(b->eb, DC_ETOOBIG,
                          "line %d column %d: document expands to more than %d nodes "
                          "(alias bomb?)",
                          n->line, n->column, DC_MAX_YAML_NODES);
    b->doc_nodes += weight;
    return DC_OK;
}

static void register_anchor(struct builder *b, const char *name, struct dc_ynode *n)
{
    struct anchor *a;
    unsigned h;

    if (name == NULL)
        return;
    h = hash_str(name);
    a = dc_arena_calloc(&b->s->arena, sizeof(*a));
    a->name = name;
    a->node = n;
    a->next = b->anchors[h]; /* newest first: a redefined anchor wins (YAML 1.2 §3.2.2.2) */
    b->anchors[h] = a;
}

static struct dc_ynode *find_anchor(const struct builder *b, const char *name)
{
    for (const struct anchor *a = b->anchors[hash_str(name)]; a != NULL; a = a->next) {
        if (strcmp(a->name, name) == 0)
            return a->node;
    }
    return NULL;
}

static int key_cmp(const struct dc_ynode *a, const struct dc_ynode *b)
{
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return memcmp(a->text, b->text, a->len);
}

static int pair_cmp(const void *pa, const void *pb)
{
    const struct dc_ypair *a = pa, *b = pb;
    int c = key_cmp(a->key, b->key);

    if (c != 0)
        return c;
    return a->key->line != b->key->line ? (a->key->line < b->key->line ? -1 : 1)
                                        : (a->key->column < b->key->column ? -1 : 1);
}

static int dup_error(struct builder *b, const struct dc_ynode *first, const struct dc_ynode *dup)
{
    const char *txt = dup->len > 64 || memchr(dup->text, '\n', dup->len) ? "(long key)" : dup->text;

    return dc_err_set(b->eb, DC_EPARSE,
                      "line %d column %d: duplicate key \"%s\" (first at line %d)", dup->line,
                      dup->column, txt, first->line);
}

/* Duplicate keys: quadratic for small maps, sorted copy for large ones. */
static int check_dups(struct builder *b, const struct dc_ypair *pairs, size_t n)
{
    struct dc_ypair *tmp;

    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            for (size_t j = 0; j < i; j++) {
                if (key_cmp(pairs[i].key, pairs[j].key) == 0)
                    return dup_error(b, pairs[j].key, pairs[i].key);
            }
        }
        return DC_OK;
    }
    tmp = dc_xmalloc(n * sizeof(*tmp));
    memcpy(tmp, pairs, n * sizeof(*tmp));
    qsort(tmp, n, sizeof(*tmp), pair_cmp);
    for (size_t i = 1; i < n; i++) {
        if (key_cmp(tmp[i].key, tmp[i - 1].key) == 0) {
            int rv = dup_error(b, tmp[i - 1].key, tmp[i].key);
            free(tmp);
            return rv;
        }
    }
    free(tmp);
    return DC_OK;
}

static void vec_push(struct frame *f, const void *elem, size_t size)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->vec = dc_xrealloc(f->vec, f->cap * size);
    }
    memcpy((char *)f->vec + f->n * size, elem, size);
    f->n++;
}

/* Attach a finished node (new or aliased) to the open container, or make it the root. */
static int attach(struct builder *b, struct dc_ynode *n)
{
    struct frame *f;

    if (b->depth == 0) {
        b->root = n;
        return DC_OK;
    }
    f = &b->stack[b->depth - 1];
    if (b->depth + n->height > DC_MAX_DOC_DEPTH)
        return dc_err_set(b->eb, DC_ETOOBIG, "line %d column %d: nesting deeper than %d levels",
                          n->line, n->column, DC_MAX_DOC_DEPTH);
    if (f->node->type == DC_YNODE_SEQ) {
        vec_push(f, &n, sizeof(n));
    } else if (f->key == NULL) {
        if (n->type != DC_YNODE_SCALAR)
            return dc_err_set(b->eb, DC_EPARSE, "line %d column %d: map keys must be scalars",
                              n->line, n->column);
        f->key = n;
        return DC_OK;
    } else {
        struct dc_ypair p = {f->key, n};
        vec_push(f, &p, sizeof(p));
        f->key = NULL;
        f->node->weight += p.key->weight;
    }
    f->node->weight += n->weight;
    if (n->height + 1 > f->node->height)
        f->node->height = n->height + 1;
    return DC_OK;
}

static const char *dup_anchor(struct builder *b, const yaml_char_t *anchor)
{
    return anchor == NULL ? NULL : dc_arena_strdup(&b->s->arena, (const char *)anchor);
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    struct dc_ynode *n = new_node(b, DC_YNODE_SCALAR, &ev->start_mark);
    int rv;

    n->text =
        dc_arena_strndup(&b->s->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    n->len = ev->data.scalar.length;
    n->tag = ev->data.scalar.tag == NULL
                 ? NULL
                 : dc_arena_strdup(&b->s->arena, (const char *)ev->data.scalar.tag);
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && n->tag == NULL;
    rv = charge(b, n, 1);
    if (rv != DC_OK)
        return rv;
    register_anchor(b, dup_anchor(b, ev->data.scalar.anchor), n);
    return attach(b, n);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    struct dc_ynode *n = find_anchor(b, name);
    int rv;

    if (n == NULL)
        return dc_err_set(b->eb, DC_EPARSE, "line %d column %d: undefined alias \"%.64s\"",
                          mark_line(&ev->start_mark), mark_col(&ev->start_mark), name);
    rv = charge(b, n, n->weight);
    if (rv != DC_OK) {
        /* Report where the alias is, not where the anchor was. */
        return dc_err_set(b->eb, DC_ETOOBIG,
                          "line %d column %d: document expands to more than %d nodes "
                          "(alias bomb?)",
                          mark_line(&ev->start_mark), mark_col(&ev->start_mark), DC_MAX_YAML_NODES);
    }
    return attach(b, n);
}

static int on_start(struct builder *b, const yaml_event_t *ev, enum dc_ynode_type type)
{
    struct dc_ynode *n = new_node(b, type, &ev->start_mark);
    const yaml_char_t *anchor =
        type == DC_YNODE_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    struct frame *f;
    int rv;

    if (b->depth >= DC_MAX_DOC_DEPTH)
        return dc_err_set(b->eb, DC_ETOOBIG, "line %d column %d: nesting deeper than %d levels",
                          n->line, n->column, DC_MAX_DOC_DEPTH);
    rv = charge(b, n, 1);
    if (rv != DC_OK)
        return rv;
    f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = n;
    f->anchor = dup_anchor(b, anchor);
    return DC_OK;
}

static int on_end(struct builder *b)
{
    struct frame *f = &b->stack[b->depth - 1];
    struct dc_ynode *n = f->node;
    int rv = DC_OK;

    n->n = f->n;
    if (n->type == DC_YNODE_MAP && f->n > 0) {
        rv = check_dups(b, f->vec, f->n);
        n->pairs = dc_arena_alloc(&b->s->arena, f->n * sizeof(*n->pairs));
        memcpy(n->pairs, f->vec, f->n * sizeof(*n->pairs));
    } else if (n->type == DC_YNODE_SEQ && f->n > 0) {
        n->items = dc_arena_alloc(&b->s->arena, f->n * sizeof(*n->items));
        memcpy(n->items, f->vec, f->n * sizeof(*n->items));
    }
    free(f->vec);
    f->vec = NULL;
    b->depth--;
    if (rv != DC_OK)
        return rv;
    register_anchor(b, f->anchor, n);
    return attach(b, n);
}

static void builder_reset(struct builder *b)
{
    while (b->depth > 0) {
        free(b->stack[b->depth - 1].vec);
        b->depth--;
    }
    memset(b->anchors, 0, sizeof(b->anchors));
    b->doc_nodes = 0;
    b->root = NULL;
}

static void add_doc(struct dc_ystream *s, struct dc_ynode *root)
{
    if (root == NULL || (root->type == DC_YNODE_SCALAR && dc_ynode_is_null(root)))
        return;                           /* empty document: a lone `---` */
    if ((s->ndocs & (s->ndocs - 1)) == 0) /* grow at powers of two */
        s->docs = dc_xrealloc(s->docs, (s->ndocs ? s->ndocs * 2 : 1) * sizeof(*s->docs));
    s->docs[s->ndocs].root = root;
    s->docs[s->ndocs].line = root->line;
    s->ndocs++;
}

static int handle_event(struct builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        builder_reset(b);
        return DC_OK;
    case YAML_DOCUMENT_END_EVENT:
        add_doc(b->s, b->root);
        builder_reset(b);
        return DC_OK;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, DC_YNODE_MAP);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, DC_YNODE_SEQ);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        return on_end(b);
    default:
        return DC_OK;
    }
}

int dc_yaml_parse(struct dc_ystream *out, const char *data, size_t len, struct dc_errbuf *eb)
{
    yaml_parser_t parser;
    struct builder *b;
    int rv = DC_OK;
    bool done = false;

    memset(out, 0, sizeof(*out));
    if (data == NULL)
        data = ""; /* libyaml asserts on a NULL input even when len is 0 */
    if (len > DC_MAX_MANIFEST_FILE)
        return dc_err_set(eb, DC_ETOOBIG, "line 1: file too large (%zu bytes, limit %u MiB)", len,
                          DC_MAX_MANIFEST_FILE / (1024u * 1024u));
    if (!yaml_parser_initialize(&parser))
        return dc_err_set(eb, DC_ENOMEM, "out of memory initialising libyaml");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    b = dc_xcalloc(1, sizeof(*b));
    b->s = out;
    b->eb = eb;
    while (!done && rv == DC_OK) {
        yaml_event_t ev;

        if (!yaml_parser_parse(&parser, &ev)) {
            rv = err_from_yaml(&parser, data, len, eb);
            break;
        }
        rv = handle_event(b, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    builder_reset(b);
    free(b);
    yaml_parser_delete(&parser);
    if (rv != DC_OK)
        dc_yaml_cleanup(out);
    return rv;
}

void dc_yaml_cleanup(struct dc_ystream *s)
{
    if (s == NULL)
        return;
    dc_arena_cleanup(&s->arena);
    free(s->docs);
    memset(s, 0, sizeof(*s));
}

const struct dc_ynode *dc_ynode_map_get(const struct dc_ynode *map, const char *key)
{
    size_t klen;

    if (map == NULL || map->type != DC_YNODE_MAP || key == NULL)
        return NULL;
    klen = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const struct dc_ynode *k = map->pairs[i].key;
        if (k->len == klen && memcmp(k->text, key, klen) == 0)
            return map->pairs[i].value;
    }
    return NULL;
}

/* ---- scalar typing (go-yaml v2 resolve.go semantics, re-derived from the YAML 1.1 types) ---- */

static bool in_list(const char *s, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(s, *list) == 0)
            return true;
    }
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};

static bool tag_is(const struct dc_ynode *n, const char *suffix)
{
    size_t pl = sizeof(TAG_PREFIX) - 1;

    return n->tag != NULL && strncmp(n->tag, TAG_PREFIX, pl) == 0 &&
           strcmp(n->tag + pl, suffix) == 0;
}

static int digit_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/* Go strconv.ParseInt(s, 0, 64) on text without underscores. */
static bool parse_go_int(const char *s, int64_t *out)
{
    bool neg = false;
    unsigned base = 10;
    uint64_t v = 0, lim;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        s += 2;
    } else if (s[0] == '0' && s[1] != '\0') {
        base = 8;
        s++;
    }
    if (*s == '\0')
        return false;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s != '\0'; s++) {
        unsigned d = (unsigned)digit_val(*s);
        if (d >= base || v > (lim - d) / base)
            return false;
        v = v * base + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* YAML 1.1 float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? plus .inf/.nan forms. */
static bool parse_yaml_float(const char *s, double *out)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nan_words[] = {".nan", ".NaN", ".NAN", NULL};
    const char *p = s;
    size_t intd = 0, fracd = 0;

    if (in_list(s, inf) || in_list(s, ninf) || in_list(s, nan_words)) {
        *out = in_list(s, nan_words) ? NAN : in_list(s, ninf) ? -INFINITY : INFINITY;
        return true;
    }
    if (*p == '+' || *p == '-')
        p++;
    while (*p >= '0' && *p <= '9') {
        p++;
        intd++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            fracd++;
        }
    }
    if (intd == 0 && fracd == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        size_t expd = 0;
        p++;
        if (*p == '+' || *p == '-')
            p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            expd++;
        }
        if (expd == 0)
            return false;
    }
    if (*p != '\0')
        return false;
    *out = strtod(s, NULL);
    return true;
}

/* Copy `n`'s text without `_` separators into `buf`; false when it does not fit. */
static bool strip_underscores(const struct dc_ynode *n, char *buf, size_t size)
{
    size_t j = 0;

    if (n->len >= size || memchr(n->text, '\0', n->len) != NULL)
        return false;
    for (size_t i = 0; i < n->len; i++) {
        if (n->text[i] != '_')
            buf[j++] = n->text[i];
    }
    buf[j] = '\0';
    return true;
}

static bool resolve_number(const struct dc_ynode *n, bool want_int, bool want_float,
                           struct dc_yvalue *out)
{
    char buf[128];

    if (!strip_underscores(n, buf, sizeof(buf)))
        return false;
    if (want_int && parse_go_int(buf, &out->i)) {
        out->kind = DC_YVALUE_INT;
        return true;
    }
    if (want_float && parse_yaml_float(buf, &out->f)) {
        out->kind = DC_YVALUE_FLOAT;
        return true;
    }
    return false;
}

bool dc_ynode_is_null(const struct dc_ynode *n)
{
    if (n == NULL)
        return true;
    if (n->type != DC_YNODE_SCALAR)
        return false;
    if (tag_is(n, "null"))
        return true;
    return n->plain && strlen(n->text) == n->len && in_list(n->text, null_words);
}

void dc_ynode_resolve(const struct dc_ynode *n, struct dc_yvalue *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = DC_YVALUE_STRING;
    if (n == NULL || dc_ynode_is_null(n)) {
        out->kind = DC_YVALUE_NULL;
        return;
    }
    if (n->type != DC_YNODE_SCALAR || tag_is(n, "str") || strlen(n->text) != n->len)
        return;
    if (n->plain || tag_is(n, "bool")) {
        if (in_list(n->text, true_words) || in_list(n->text, false_words)) {
            out->kind = DC_YVALUE_BOOL;
            out->b = in_list(n->text, true_words);
            return;
        }
    }
    if (n->plain || tag_is(n, "int") || tag_is(n, "float"))
        (void)resolve_number(n, n->plain || tag_is(n, "int"), n->plain || tag_is(n, "float"), out);
}

int dc_ynode_bool(const struct dc_ynode *n, bool *out)
{
    struct dc_yvalue v;

    dc_ynode_resolve(n, &v);
    if (v.kind != DC_YVALUE_BOOL)
        return DC_EINVAL;
    *out = v.b;
    return DC_OK;
}

int dc_ynode_int(const struct dc_ynode *n, int64_t min, int64_t max, int64_t *out)
{
    struct dc_yvalue v;

    dc_ynode_resolve(n, &v);
    if (v.kind != DC_YVALUE_INT)
        return DC_EINVAL;
    if (v.i < min || v.i > max)
        return DC_ERANGE;
    *out = v.i;
    return DC_OK;
}

static cJSON *scalar_to_json(const struct dc_ynode *n)
{
    struct dc_yvalue v;

    dc_ynode_resolve(n, &v);
    switch (v.kind) {
    case DC_YVALUE_NULL:
        return cJSON_CreateNull();
    case DC_YVALUE_BOOL:
        return cJSON_CreateBool(v.b);
    case DC_YVALUE_INT:
        return cJSON_CreateNumber((double)v.i);
    case DC_YVALUE_FLOAT:
        if (isfinite(v.f))
            return cJSON_CreateNumber(v.f);
        return cJSON_CreateString(n->text);
    default:
        return cJSON_CreateString(n->text);
    }
}

cJSON *dc_ynode_to_json(const struct dc_ynode *n)
{
    cJSON *out;

    if (n == NULL)
        return cJSON_CreateNull();
    if (n->type == DC_YNODE_SCALAR)
        return scalar_to_json(n);
    out = n->type == DC_YNODE_MAP ? cJSON_CreateObject() : cJSON_CreateArray();
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n->n; i++) {
        cJSON *child = dc_ynode_to_json(n->type == DC_YNODE_MAP ? n->pairs[i].value : n->items[i]);
        if (child == NULL) {
            cJSON_Delete(out);
            return NULL;
        }
        if (n->type == DC_YNODE_MAP)
            cJSON_AddItemToObject(out, n->pairs[i].key->text, child);
        else
            cJSON_AddItemToArray(out, child);
    }
    return out;
}
