/* The CEL subset of subscription routing rules (match_expr.h): a recursive-descent parser into
 * a small tree, and a tree-walking evaluator over cJSON values. */
#include "match_expr.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/limits.h"
#include "dc/mem.h"

enum nkind {
    N_EVENT = 0,
    N_STR,
    N_INT,
    N_DBL,
    N_BOOL,
    N_NULL,
    N_LIST,
    N_FIELD,
    N_INDEX,
    N_NOT,
    N_NEG,
    N_AND,
    N_OR,
    N_CMP,
    N_IN,
    N_STARTS,
    N_ENDS,
    N_CONTAINS,
    N_SIZE,
    N_HAS,
};

enum cmpop { OP_EQ = 0, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

struct node {
    enum nkind kind;
    enum cmpop op;
    struct node *a, *b;
    struct node **items; /* N_LIST */
    size_t nitems;
    char *s; /* N_STR value, N_FIELD name */
    size_t slen;
    int64_t i;
    double d;
    bool bval;
};

struct sdc_match {
    struct node *root;
};

/* ---- parser ----------------------------------------------------------------------------- */

struct parser {
    const char *src;
    size_t pos;
    int depth;
    struct dc_errbuf *eb;
    int err; /* first error */
};

static struct node *mk(enum nkind k)
{
    struct node *n = dc_xcalloc(1, sizeof(*n));

    n->kind = k;
    return n;
}

static void node_free(struct node *n)
{
    if (n == NULL)
        return;
    node_free(n->a);
    node_free(n->b);
    for (size_t i = 0; i < n->nitems; i++)
        node_free(n->items[i]);
    free(n->items);
    free(n->s);
    free(n);
}

static struct node *fail(struct parser *p, const char *why)
{
    if (p->err == DC_OK)
        p->err = dc_err_set(p->eb, DC_EPARSE, "column %zu: %s", p->pos + 1, why);
    return NULL;
}

static void skip_ws(struct parser *p)
{
    while (p->src[p->pos] == ' ' || p->src[p->pos] == '\t' || p->src[p->pos] == '\n' ||
           p->src[p->pos] == '\r')
        p->pos++;
}

static bool accept(struct parser *p, const char *tok)
{
    size_t n = strlen(tok);

    skip_ws(p);
    if (strncmp(p->src + p->pos, tok, n) != 0)
        return false;
    /* "in" and words must not run into an identifier. */
    if (isalpha((unsigned char)tok[0]) &&
        (isalnum((unsigned char)p->src[p->pos + n]) || p->src[p->pos + n] == '_'))
        return false;
    /* "=" must not be mistaken for "==", "<" for "<=" etc.: callers try the longer first. */
    p->pos += n;
    return true;
}

static bool ident(struct parser *p, char *out, size_t cap)
{
    size_t n = 0;

    skip_ws(p);
    if (!isalpha((unsigned char)p->src[p->pos]) && p->src[p->pos] != '_')
        return false;
    while (isalnum((unsigned char)p->src[p->pos + n]) || p->src[p->pos + n] == '_')
        n++;
    if (n >= cap)
        return false;
    memcpy(out, p->src + p->pos, n);
    out[n] = '\0';
    p->pos += n;
    return true;
}

static struct node *parse_expr(struct parser *p);

static struct node *parse_string(struct parser *p, bool raw)
{
    char q = p->src[p->pos];
    struct node *n = mk(N_STR);
    size_t cap = 16, len = 0;

    n->s = dc_xmalloc(cap);
    p->pos++;
    for (;;) {
        char c = p->src[p->pos];
        if (c == '\0' || c == '\n') {
            node_free(n);
            return fail(p, "unterminated string literal");
        }
        p->pos++;
        if (c == q)
            break;
        if (c == '\\' && !raw) {
            char e = p->src[p->pos++];
            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case '\\':
            case '"':
            case '\'':
            case '`':
            case '?':
                c = e;
                break;
            default:
                node_free(n);
                p->pos--;
                return fail(p, "invalid escape sequence");
            }
        }
        if (len + 2 > cap) {
            cap *= 2;
            n->s = dc_xrealloc(n->s, cap);
        }
        n->s[len++] = c;
    }
    n->s[len] = '\0';
    n->slen = len;
    return n;
}

static struct node *parse_number(struct parser *p)
{
    const char *s = p->src + p->pos;
    size_t n = 0;
    bool dbl = false;
    char buf[64];
    struct node *r;

    while (isdigit((unsigned char)s[n]))
        n++;
    if (s[n] == '.' && isdigit((unsigned char)s[n + 1])) {
        dbl = true;
        n++;
        while (isdigit((unsigned char)s[n]))
            n++;
    }
    if (s[n] == 'e' || s[n] == 'E') {
        size_t m = n + 1;
        if (s[m] == '+' || s[m] == '-')
            m++;
        if (isdigit((unsigned char)s[m])) {
            dbl = true;
            n = m;
            while (isdigit((unsigned char)s[n]))
                n++;
        }
    }
    if (n >= sizeof(buf))
        return fail(p, "number literal too long");
    memcpy(buf, s, n);
    buf[n] = '\0';
    p->pos += n;
    if (s[n] == 'u' || s[n] == 'U')
        p->pos++; /* unsigned suffix: treated as an int */
    if (dbl) {
        r = mk(N_DBL);
        r->d = strtod(buf, NULL);
        return r;
    }
    r = mk(N_INT);
    {
        unsigned long long v = strtoull(buf, NULL, 10);
        if (v > (unsigned long long)INT64_MAX) {
            node_free(r);
            return fail(p, "integer literal out of range");
        }
        r->i = (int64_t)v;
    }
    return r;
}

static struct node *parse_args1(struct parser *p, const char *fname)
{
    struct node *a;

    if (!accept(p, "(")) {
        (void)fname;
        return fail(p, "expected '('");
    }
    a = parse_expr(p);
    if (a == NULL)
        return NULL;
    if (!accept(p, ")")) {
        node_free(a);
        return fail(p, "expected ')'");
    }
    return a;
}

static struct node *parse_primary(struct parser *p)
{
    char id[64];
    char c;
    struct node *n;

    skip_ws(p);
    c = p->src[p->pos];
    if (c == '"' || c == '\'')
        return parse_string(p, false);
    if ((c == 'r' || c == 'R') && (p->src[p->pos + 1] == '"' || p->src[p->pos + 1] == '\'')) {
        p->pos++;
        return parse_string(p, true);
    }
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)p->src[p->pos + 1])))
        return parse_number(p);
    if (accept(p, "(")) {
        n = parse_expr(p);
        if (n != NULL && !accept(p, ")")) {
            node_free(n);
            return fail(p, "expected ')'");
        }
        return n;
    }
    if (accept(p, "[")) {
        n = mk(N_LIST);
        if (accept(p, "]"))
            return n;
        for (;;) {
            struct node *it = parse_expr(p);
            if (it == NULL) {
                node_free(n);
                return NULL;
            }
            n->items = dc_xrealloc(n->items, (n->nitems + 1) * sizeof(*n->items));
            n->items[n->nitems++] = it;
            if (accept(p, "]"))
                return n;
            if (!accept(p, ",")) {
                node_free(n);
                return fail(p, "expected ',' or ']'");
            }
        }
    }
    if (!ident(p, id, sizeof(id)))
        return fail(p, "unexpected character or end of expression");
    if (strcmp(id, "event") == 0)
        return mk(N_EVENT);
    if (strcmp(id, "true") == 0 || strcmp(id, "false") == 0) {
        n = mk(N_BOOL);
        n->bval = id[0] == 't';
        return n;
    }
    if (strcmp(id, "null") == 0)
        return mk(N_NULL);
    if (strcmp(id, "has") == 0 || strcmp(id, "size") == 0) {
        bool has = id[0] == 'h';
        struct node *a = parse_args1(p, id);
        if (a == NULL)
            return NULL;
        if (has && a->kind != N_FIELD) {
            node_free(a);
            return fail(p, "invalid argument to has() macro");
        }
        n = mk(has ? N_HAS : N_SIZE);
        n->a = a;
        return n;
    }
    skip_ws(p);
    if (p->src[p->pos] == '(') {
        char msg[128];
        snprintf(msg, sizeof(msg), "undeclared reference to '%s'", id);
        return fail(p, msg);
    }
    {
        char msg[128];
        snprintf(msg, sizeof(msg), "undeclared reference to '%s' (only 'event' is declared)", id);
        return fail(p, msg);
    }
}

static struct node *parse_postfix(struct parser *p)
{
    struct node *n = parse_primary(p);
    char id[128];

    while (n != NULL) {
        if (accept(p, ".")) {
            struct node *f;
            if (!ident(p, id, sizeof(id))) {
                node_free(n);
                return fail(p, "expected a field name after '.'");
            }
            skip_ws(p);
            if (p->src[p->pos] == '(') {
                enum nkind k;
                if (strcmp(id, "startsWith") == 0)
                    k = N_STARTS;
                else if (strcmp(id, "endsWith") == 0)
                    k = N_ENDS;
                else if (strcmp(id, "contains") == 0)
                    k = N_CONTAINS;
                else if (strcmp(id, "size") == 0)
                    k = N_SIZE;
                else {
                    char msg[192];
                    node_free(n);
                    snprintf(msg, sizeof(msg), "unsupported function '%s'", id);
                    return fail(p, msg);
                }
                f = mk(k);
                f->a = n;
                if (k == N_SIZE) {
                    if (!accept(p, "(") || !accept(p, ")")) {
                        node_free(f);
                        return fail(p, "size() takes no argument");
                    }
                } else {
                    f->b = parse_args1(p, id);
                    if (f->b == NULL) {
                        node_free(f);
                        return NULL;
                    }
                }
                n = f;
                continue;
            }
            f = mk(N_FIELD);
            f->a = n;
            f->s = dc_xstrdup(id);
            f->slen = strlen(id);
            n = f;
        } else if (accept(p, "[")) {
            struct node *f = mk(N_INDEX);
            f->a = n;
            f->b = parse_expr(p);
            if (f->b == NULL) {
                node_free(f);
                return NULL;
            }
            if (!accept(p, "]")) {
                node_free(f);
                return fail(p, "expected ']'");
            }
            n = f;
        } else {
            break;
        }
    }
    return n;
}

static struct node *parse_unary(struct parser *p)
{
    struct node *n;
    enum nkind k;

    if (accept(p, "!"))
        k = N_NOT;
    else if (accept(p, "-"))
        k = N_NEG;
    else
        return parse_postfix(p);
    if (++p->depth > SDC_MATCH_MAX_DEPTH) {
        if (p->err == DC_OK)
            p->err = dc_err_set(p->eb, DC_ETOOBIG, "expression nested too deeply");
        return NULL;
    }
    n = mk(k);
    n->a = parse_unary(p);
    p->depth--;
    if (n->a == NULL) {
        node_free(n);
        return NULL;
    }
    return n;
}

static struct node *parse_rel(struct parser *p)
{
    static const struct {
        const char *tok;
        enum cmpop op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
               {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};
    struct node *l = parse_unary(p), *n;

    if (l == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (accept(p, ops[i].tok)) {
            n = mk(N_CMP);
            n->op = ops[i].op;
            goto rhs;
        }
    }
    if (accept(p, "in")) {
        n = mk(N_IN);
        goto rhs;
    }
    skip_ws(p);
    if (p->src[p->pos] == '=' && p->src[p->pos + 1] != '=')
        return node_free(l), fail(p, "unexpected '=' (use '==')");
    return l;
rhs:
    n->a = l;
    n->b = parse_unary(p);
    if (n->b == NULL) {
        node_free(n);
        return NULL;
    }
    return n;
}

static struct node *parse_bin(struct parser *p, bool is_or)
{
    struct node *l = is_or ? parse_bin(p, false) : parse_rel(p);

    while (l != NULL && accept(p, is_or ? "||" : "&&")) {
        struct node *n = mk(is_or ? N_OR : N_AND);
        n->a = l;
        n->b = is_or ? parse_bin(p, false) : parse_rel(p);
        if (n->b == NULL) {
            node_free(n);
            return NULL;
        }
        l = n;
    }
    return l;
}

static struct node *parse_expr(struct parser *p)
{
    struct node *n;

    if (++p->depth > SDC_MATCH_MAX_DEPTH) {
        if (p->err == DC_OK)
            p->err = dc_err_set(p->eb, DC_ETOOBIG, "expression nested too deeply");
        return NULL;
    }
    n = parse_bin(p, true);
    p->depth--;
    return n;
}

/* Literal result types that can never be boolean. */
static bool never_bool(const struct node *n)
{
    switch (n->kind) {
    case N_STR:
    case N_INT:
    case N_DBL:
    case N_NULL:
    case N_LIST:
    case N_SIZE:
    case N_NEG:
        return true;
    default:
        return false;
    }
}

int sdc_match_compile(struct sdc_match **out, const char *text, struct dc_errbuf *eb)
{
    struct parser p = {.src = text, .eb = eb};
    struct node *n;

    if (text == NULL || strlen(text) > SDC_MATCH_MAX_LEN)
        return dc_err_set(eb, DC_ETOOBIG, "match expression longer than %d bytes",
                          SDC_MATCH_MAX_LEN);
    n = parse_expr(&p);
    if (n != NULL) {
        skip_ws(&p);
        if (p.src[p.pos] != '\0') {
            node_free(n);
            n = fail(&p, "unexpected trailing input");
        } else if (never_bool(n)) {
            node_free(n);
            n = NULL;
            p.err = dc_err_set(eb, DC_EPARSE, "expression does not evaluate to a boolean");
        }
    }
    if (n == NULL)
        return p.err != DC_OK ? p.err : dc_err_set(eb, DC_EPARSE, "invalid expression");
    *out = dc_xcalloc(1, sizeof(**out));
    (*out)->root = n;
    return DC_OK;
}

void sdc_match_free(struct sdc_match *m)
{
    if (m == NULL)
        return;
    node_free(m->root);
    free(m);
}

/* ---- evaluation ------------------------------------------------------------------------- */

enum vtype { V_ERR = 0, V_NULL, V_BOOL, V_NUM, V_STR, V_JLIST, V_JMAP, V_LLIST };

struct val {
    enum vtype t;
    bool b;
    bool is_int; /* V_NUM from an int literal or size() */
    double d;
    const char *s;
    size_t slen;
    const cJSON *j;
    const struct node *ln; /* V_LLIST */
};

struct ectx {
    const cJSON *event;
    struct dc_errbuf *eb;
};

static struct val verr(struct ectx *c, const char *what, const char *arg)
{
    struct val v = {.t = V_ERR};

    if (c->eb != NULL && c->eb->msg[0] == '\0')
        dc_err_set(c->eb, DC_EINVAL, "%s%s", what, arg != NULL ? arg : "");
    return v;
}

static struct val from_json(const cJSON *j)
{
    struct val v = {0};

    if (cJSON_IsNull(j)) {
        v.t = V_NULL;
    } else if (cJSON_IsBool(j)) {
        v.t = V_BOOL;
        v.b = cJSON_IsTrue(j);
    } else if (cJSON_IsNumber(j)) {
        v.t = V_NUM;
        v.d = j->valuedouble;
    } else if (cJSON_IsString(j)) {
        v.t = V_STR;
        v.s = j->valuestring;
        v.slen = strlen(j->valuestring);
    } else if (cJSON_IsArray(j)) {
        v.t = V_JLIST;
        v.j = j;
    } else {
        v.t = V_JMAP;
        v.j = j;
    }
    return v;
}

static struct val eval(struct ectx *c, const struct node *n);

static struct val vbool(bool b)
{
    struct val v = {.t = V_BOOL, .b = b};

    return v;
}

static struct val vnum(double d, bool is_int)
{
    struct val v = {.t = V_NUM, .d = d, .is_int = is_int};

    return v;
}

static const cJSON *map_get(const cJSON *m, const char *k)
{
    /* Go maps hold one value per key; JSON objects with duplicates keep the last one. */
    const cJSON *found = NULL, *it;

    cJSON_ArrayForEach(it, m) if (it->string != NULL && strcmp(it->string, k) == 0) found = it;
    return found;
}

/* Equality as CEL: 1 equal, 0 not, -1 error. */
static int veq(struct ectx *c, struct val a, struct val b)
{
    if (a.t == V_NUM && b.t == V_NUM)
        return a.d == b.d;
    if (a.t != b.t) {
        if ((a.t == V_JLIST || a.t == V_LLIST) && (b.t == V_JLIST || b.t == V_LLIST))
            return -1;
        return 0;
    }
    switch (a.t) {
    case V_NULL:
        return 1;
    case V_BOOL:
        return a.b == b.b;
    case V_STR:
        return a.slen == b.slen && memcmp(a.s, b.s, a.slen) == 0;
    case V_JLIST:
    case V_JMAP:
        return cJSON_Compare(a.j, b.j, true) ? 1 : 0;
    default:
        (void)c;
        return -1;
    }
}

static struct val cmp(struct ectx *c, enum cmpop op, struct val a, struct val b)
{
    int r;

    if (op == OP_EQ || op == OP_NE) {
        r = veq(c, a, b);
        if (r < 0)
            return verr(c, "no matching overload for ", op == OP_EQ ? "==" : "!=");
        return vbool(op == OP_EQ ? r == 1 : r == 0);
    }
    if (a.t == V_NUM && b.t == V_NUM) {
        if (isnan(a.d) || isnan(b.d))
            return vbool(false);
        r = a.d < b.d ? -1 : a.d > b.d ? 1 : 0;
    } else if (a.t == V_STR && b.t == V_STR) {
        size_t m = a.slen < b.slen ? a.slen : b.slen;
        r = memcmp(a.s, b.s, m);
        if (r == 0)
            r = a.slen < b.slen ? -1 : a.slen > b.slen ? 1 : 0;
    } else if (a.t == V_BOOL && b.t == V_BOOL) {
        r = (int)a.b - (int)b.b;
    } else {
        return verr(c, "no matching overload for comparison", "");
    }
    switch (op) {
    case OP_LT:
        return vbool(r < 0);
    case OP_LE:
        return vbool(r <= 0);
    case OP_GT:
        return vbool(r > 0);
    default:
        return vbool(r >= 0);
    }
}

static struct val eval_in(struct ectx *c, struct val a, struct val b)
{
    if (b.t == V_JMAP) {
        if (a.t != V_STR)
            return verr(c, "no matching overload for 'in'", "");
        return vbool(map_get(b.j, a.s) != NULL);
    }
    if (b.t == V_JLIST) {
        const cJSON *it;
        cJSON_ArrayForEach(it, b.j) if (veq(c, a, from_json(it)) == 1) return vbool(true);
        return vbool(false);
    }
    if (b.t == V_LLIST) {
        for (size_t i = 0; i < b.ln->nitems; i++) {
            struct val e = eval(c, b.ln->items[i]);
            if (e.t == V_ERR)
                return e;
            if (veq(c, a, e) == 1)
                return vbool(true);
        }
        return vbool(false);
    }
    return verr(c, "no matching overload for 'in'", "");
}

static struct val eval_str_fn(struct ectx *c, const struct node *n)
{
    struct val s = eval(c, n->a), x;

    if (s.t == V_ERR)
        return s;
    x = eval(c, n->b);
    if (x.t == V_ERR)
        return x;
    if (s.t != V_STR || x.t != V_STR)
        return verr(c, "no matching overload for string function", "");
    if (x.slen > s.slen)
        return vbool(false);
    if (n->kind == N_STARTS)
        return vbool(memcmp(s.s, x.s, x.slen) == 0);
    if (n->kind == N_ENDS)
        return vbool(memcmp(s.s + s.slen - x.slen, x.s, x.slen) == 0);
    if (x.slen == 0)
        return vbool(true);
    for (size_t i = 0; i + x.slen <= s.slen; i++)
        if (memcmp(s.s + i, x.s, x.slen) == 0)
            return vbool(true);
    return vbool(false);
}

static struct val eval_size(struct ectx *c, struct val v)
{
    size_t n = 0;

    switch (v.t) {
    case V_STR:
        /* CEL counts code points. */
        for (size_t i = 0; i < v.slen; i++)
            n += ((unsigned char)v.s[i] & 0xc0) != 0x80;
        break;
    case V_JLIST:
    case V_JMAP:
        n = (size_t)cJSON_GetArraySize(v.j);
        break;
    case V_LLIST:
        n = v.ln->nitems;
        break;
    default:
        return verr(c, "no matching overload for 'size'", "");
    }
    return vnum((double)n, true);
}

static struct val eval_index(struct ectx *c, struct val a, struct val k)
{
    if (a.t == V_JMAP) {
        const cJSON *f;
        if (k.t != V_STR)
            return verr(c, "no matching overload for index", "");
        f = map_get(a.j, k.s);
        if (f == NULL)
            return verr(c, "no such key: ", k.s);
        return from_json(f);
    }
    if (a.t == V_JLIST || a.t == V_LLIST) {
        size_t len = a.t == V_JLIST ? (size_t)cJSON_GetArraySize(a.j) : a.ln->nitems;
        if (k.t != V_NUM || k.d != floor(k.d) || k.d < 0 || k.d >= (double)len)
            return verr(c, "index out of range", "");
        if (a.t == V_JLIST)
            return from_json(cJSON_GetArrayItem(a.j, (int)k.d));
        return eval(c, a.ln->items[(size_t)k.d]);
    }
    return verr(c, "no matching overload for index", "");
}

static struct val eval(struct ectx *c, const struct node *n)
{
    struct val a, b;

    switch (n->kind) {
    case N_EVENT:
        return from_json(c->event);
    case N_STR: {
        struct val v = {.t = V_STR, .s = n->s, .slen = n->slen};
        return v;
    }
    case N_INT:
        return vnum((double)n->i, true);
    case N_DBL:
        return vnum(n->d, false);
    case N_BOOL:
        return vbool(n->bval);
    case N_NULL: {
        struct val v = {.t = V_NULL};
        return v;
    }
    case N_LIST: {
        struct val v = {.t = V_LLIST, .ln = n};
        return v;
    }
    case N_FIELD:
        a = eval(c, n->a);
        if (a.t == V_ERR)
            return a;
        if (a.t != V_JMAP)
            return verr(c, "no such key: ", n->s);
        {
            const cJSON *f = map_get(a.j, n->s);
            if (f == NULL)
                return verr(c, "no such key: ", n->s);
            return from_json(f);
        }
    case N_HAS:
        a = eval(c, n->a->a);
        if (a.t == V_ERR)
            return a;
        if (a.t != V_JMAP)
            return verr(c, "invalid type for field selection", "");
        return vbool(map_get(a.j, n->a->s) != NULL);
    case N_INDEX:
        a = eval(c, n->a);
        if (a.t == V_ERR)
            return a;
        b = eval(c, n->b);
        if (b.t == V_ERR)
            return b;
        return eval_index(c, a, b);
    case N_NOT:
        a = eval(c, n->a);
        if (a.t == V_ERR)
            return a;
        if (a.t != V_BOOL)
            return verr(c, "no matching overload for '!'", "");
        return vbool(!a.b);
    case N_NEG:
        a = eval(c, n->a);
        if (a.t == V_ERR)
            return a;
        if (a.t != V_NUM)
            return verr(c, "no matching overload for '-'", "");
        return vnum(-a.d, a.is_int);
    case N_AND:
    case N_OR: {
        bool want = n->kind == N_OR; /* the value that decides */
        a = eval(c, n->a);
        if (a.t == V_BOOL && a.b == want)
            return a;
        b = eval(c, n->b);
        if (b.t == V_BOOL && b.b == want)
            return b;
        if (a.t == V_ERR)
            return a;
        if (b.t == V_ERR)
            return b;
        if (a.t != V_BOOL || b.t != V_BOOL)
            return verr(c, "no matching overload for ", want ? "||" : "&&");
        return vbool(!want);
    }
    case N_CMP:
    case N_IN:
        a = eval(c, n->a);
        if (a.t == V_ERR)
            return a;
        b = eval(c, n->b);
        if (b.t == V_ERR)
            return b;
        return n->kind == N_IN ? eval_in(c, a, b) : cmp(c, n->op, a, b);
    case N_STARTS:
    case N_ENDS:
    case N_CONTAINS:
        return eval_str_fn(c, n);
    case N_SIZE:
        a = eval(c, n->a);
        if (a.t == V_ERR)
            return a;
        return eval_size(c, a);
    }
    return verr(c, "invalid expression", "");
}

int sdc_match_eval(const struct sdc_match *m, const cJSON *event, struct dc_errbuf *eb)
{
    struct ectx c = {.event = event, .eb = eb};
    struct val v;

    if (eb != NULL)
        eb->msg[0] = '\0';
    v = eval(&c, m->root);
    if (v.t == V_ERR)
        return DC_EINVAL;
    if (v.t != V_BOOL)
        return dc_err_set(eb, DC_EINVAL, "expression did not evaluate to a boolean");
    return v.b ? 1 : 0;
}
