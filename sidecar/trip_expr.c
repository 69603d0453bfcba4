/* Circuit-breaker trip expressions: a recursive-descent parser into a flat node array and a
 * recursive evaluator. The grammar and the CEL rules kept are in trip_expr.h. */
#include <stdlib.h>
#include <string.h>

#include "dc/limits.h"
#include "dc/mem.h"

#include "trip_expr.h"

enum op {
    OP_INT = 0,
    OP_BOOL,
    OP_VAR,
    OP_NOT,
    OP_NEG,
    OP_AND,
    OP_OR,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_EQ,
    OP_NE,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
};

enum type {
    TY_INT = 0,
    TY_BOOL,
};

struct node {
    uint8_t op;
    uint8_t type;
    int32_t a, b; /* operand nodes */
    int64_t v;    /* literal value, or variable index */
};

struct sdc_trip {
    struct node *nodes;
    int32_t root;
};

enum tok {
    TK_END = 0,
    TK_INT,
    TK_IDENT,
    TK_LPAREN,
    TK_RPAREN,
    TK_NOT,
    TK_AND,
    TK_OR,
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE,
    TK_EQ,
    TK_NE,
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
    TK_PERCENT,
};

struct parser {
    const char *s;
    size_t pos;   /* just past the current token */
    size_t start; /* offset of the current token */
    enum tok tok;
    int64_t ival; /* TK_INT */
    size_t ilen;  /* TK_IDENT length */
    int depth;
    struct node *nodes;
    int32_t n;
    struct dc_errbuf *eb;
    int rv; /* first error */
};

static const char *const var_names[] = {"requests", "totalSuccesses", "totalFailures",
                                        "consecutiveSuccesses", "consecutiveFailures"};
#define NVARS (sizeof(var_names) / sizeof(var_names[0]))

static int fail(struct parser *p, int code, const char *what)
{
    if (p->rv == DC_OK)
        p->rv = dc_err_set(p->eb, code, "%s at column %zu", what, p->start + 1);
    return p->rv;
}

static bool is_ident(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static int lex_int(struct parser *p)
{
    int64_t v = 0;

    while (p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        int d = p->s[p->pos++] - '0';
        if (v > (INT64_MAX - d) / 10)
            return fail(p, DC_EPARSE, "integer literal out of range");
        v = v * 10 + d;
    }
    /* CEL unsigned literal suffix; the value is compared as a number either way. */
    if (p->s[p->pos] == 'u' || p->s[p->pos] == 'U')
        p->pos++;
    if (is_ident(p->s[p->pos], false))
        return fail(p, DC_EPARSE, "malformed number");
    p->tok = TK_INT;
    p->ival = v;
    return DC_OK;
}

/* Two-character operators first, then single characters. */
static int lex_op(struct parser *p)
{
    static const struct {
        const char *text;
        enum tok tok;
    } ops[] = {{"&&", TK_AND},  {"||", TK_OR},  {"<=", TK_LE},    {">=", TK_GE},
               {"==", TK_EQ},   {"!=", TK_NE},  {"(", TK_LPAREN}, {")", TK_RPAREN},
               {"!", TK_NOT},   {"<", TK_LT},   {">", TK_GT},     {"+", TK_PLUS},
               {"-", TK_MINUS}, {"*", TK_STAR}, {"/", TK_SLASH},  {"%", TK_PERCENT}};

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i].text);
        if (strncmp(p->s + p->pos, ops[i].text, n) == 0) {
            p->pos += n;
            p->tok = ops[i].tok;
            return DC_OK;
        }
    }
    if (p->s[p->pos] == '=')
        return fail(p, DC_EPARSE, "unexpected '=' (use == to compare)");
    if (p->s[p->pos] == '&' || p->s[p->pos] == '|')
        return fail(p, DC_EPARSE, "unexpected single '&' or '|' (use && or ||)");
    return fail(p, DC_EPARSE, "unexpected character");
}

static int next(struct parser *p)
{
    char c;

    if (p->rv != DC_OK)
        return p->rv;
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
           p->s[p->pos] == '\r')
        p->pos++;
    p->start = p->pos;
    c = p->s[p->pos];
    if (c == '\0') {
        p->tok = TK_END;
        return DC_OK;
    }
    if (c >= '0' && c <= '9')
        return lex_int(p);
    if (is_ident(c, true)) {
        while (is_ident(p->s[p->pos], false))
            p->pos++;
        p->tok = TK_IDENT;
        p->ilen = p->pos - p->start;
        return DC_OK;
    }
    return lex_op(p);
}

static int32_t add_node(struct parser *p, enum op op, enum type type, int32_t a, int32_t b,
                        int64_t v)
{
    struct node *nd = &p->nodes[p->n];

    nd->op = (uint8_t)op;
    nd->type = (uint8_t)type;
    nd->a = a;
    nd->b = b;
    nd->v = v;
    return p->n++;
}

static int32_t parse_or(struct parser *p);

static bool ident_is(const struct parser *p, const char *w)
{
    return strlen(w) == p->ilen && strncmp(p->s + p->start, w, p->ilen) == 0;
}

static int32_t parse_ident(struct parser *p)
{
    int32_t r = -1;

    if (ident_is(p, "true") || ident_is(p, "false")) {
        r = add_node(p, OP_BOOL, TY_BOOL, -1, -1, ident_is(p, "true"));
    } else {
        for (size_t i = 0; i < NVARS; i++) {
            if (ident_is(p, var_names[i]))
                r = add_node(p, OP_VAR, TY_INT, -1, -1, (int64_t)i);
        }
        if (r < 0) {
            fail(p, DC_EPARSE,
                 "unknown variable (expected requests, totalSuccesses, "
                 "totalFailures, consecutiveSuccesses or consecutiveFailures)");
            return -1;
        }
    }
    next(p);
    return r;
}

static int32_t parse_primary(struct parser *p)
{
    int32_t r;

    switch (p->tok) {
    case TK_INT:
        r = add_node(p, OP_INT, TY_INT, -1, -1, p->ival);
        next(p);
        return r;
    case TK_IDENT:
        return parse_ident(p);
    case TK_LPAREN:
        next(p);
        r = parse_or(p);
        if (p->rv != DC_OK)
            return -1;
        if (p->tok != TK_RPAREN) {
            fail(p, DC_EPARSE, "expected ')'");
            return -1;
        }
        next(p);
        return r;
    case TK_END:
        fail(p, DC_EPARSE, "unexpected end of expression");
        return -1;
    default:
        fail(p, DC_EPARSE, "expected a number, a variable or '('");
        return -1;
    }
}

/* Recursion through '(' '!' and '-' is bounded by the depth limit. */
static bool enter(struct parser *p)
{
    if (++p->depth > DC_RES_MAX_TRIP_DEPTH) {
        fail(p, DC_ETOOBIG, "expression nested too deeply");
        return false;
    }
    return true;
}

static int32_t need(struct parser *p, int32_t n, enum type want, const char *what)
{
    if (p->rv != DC_OK || n < 0)
        return -1;
    if (p->nodes[n].type != want) {
        fail(p, DC_EPARSE, what);
        return -1;
    }
    return n;
}

static int32_t parse_unary(struct parser *p)
{
    int32_t r;

    if (!enter(p))
        return -1;
    if (p->tok == TK_MINUS) {
        next(p);
        r = need(p, parse_unary(p), TY_INT, "'-' needs an integer");
        r = r < 0 ? -1 : add_node(p, OP_NEG, TY_INT, r, -1, 0);
    } else if (p->tok == TK_NOT) {
        next(p);
        r = need(p, parse_unary(p), TY_BOOL, "'!' needs a boolean");
        r = r < 0 ? -1 : add_node(p, OP_NOT, TY_BOOL, r, -1, 0);
    } else {
        r = parse_primary(p);
    }
    p->depth--;
    return r;
}

static int32_t parse_binary_int(struct parser *p, int32_t (*sub)(struct parser *),
                                const enum tok *toks, const enum op *ops, size_t nops)
{
    int32_t l = sub(p);

    for (;;) {
        size_t i;
        int32_t r;
        for (i = 0; i < nops && p->tok != toks[i]; i++)
            ;
        if (i == nops || p->rv != DC_OK || l < 0)
            return p->rv == DC_OK ? l : -1;
        if (need(p, l, TY_INT, "arithmetic needs integers") < 0)
            return -1;
        next(p);
        r = need(p, sub(p), TY_INT, "arithmetic needs integers");
        if (r < 0)
            return -1;
        l = add_node(p, ops[i], TY_INT, l, r, 0);
    }
}

static int32_t parse_product(struct parser *p)
{
    static const enum tok toks[] = {TK_STAR, TK_SLASH, TK_PERCENT};
    static const enum op ops[] = {OP_MUL, OP_DIV, OP_MOD};

    return parse_binary_int(p, parse_unary, toks, ops, 3);
}

static int32_t parse_sum(struct parser *p)
{
    static const enum tok toks[] = {TK_PLUS, TK_MINUS};
    static const enum op ops[] = {OP_ADD, OP_SUB};

    return parse_binary_int(p, parse_product, toks, ops, 2);
}

/* Relations associate to the left, as CEL's grammar; the types make `1 < 2 < 3` an error. */
static int32_t parse_cmp(struct parser *p)
{
    static const enum tok toks[] = {TK_LT, TK_LE, TK_GT, TK_GE, TK_EQ, TK_NE};
    static const enum op ops[] = {OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE};
    int32_t l = parse_sum(p), r;

    for (;;) {
        size_t i;
        if (p->rv != DC_OK || l < 0)
            return -1;
        for (i = 0; i < 6 && p->tok != toks[i]; i++)
            ;
        if (i == 6)
            return l;
        next(p);
        r = parse_sum(p);
        if (p->rv != DC_OK || r < 0)
            return -1;
        if (p->nodes[l].type != p->nodes[r].type ||
            (p->nodes[l].type == TY_BOOL && ops[i] != OP_EQ && ops[i] != OP_NE)) {
            fail(p, DC_EPARSE, "comparison needs two integers (or two booleans for == and !=)");
            return -1;
        }
        l = add_node(p, ops[i], TY_BOOL, l, r, 0);
    }
}

static int32_t parse_logic(struct parser *p, int32_t (*sub)(struct parser *), enum tok tok,
                           enum op op)
{
    const char *msg = op == OP_AND ? "&& needs booleans" : "|| needs booleans";
    int32_t l = sub(p);

    while (p->rv == DC_OK && l >= 0 && p->tok == tok) {
        int32_t r;
        if (need(p, l, TY_BOOL, msg) < 0)
            return -1;
        next(p);
        r = need(p, sub(p), TY_BOOL, msg);
        if (r < 0)
            return -1;
        l = add_node(p, op, TY_BOOL, l, r, 0);
    }
    return p->rv == DC_OK ? l : -1;
}

static int32_t parse_and(struct parser *p)
{
    return parse_logic(p, parse_cmp, TK_AND, OP_AND);
}

static int32_t parse_or(struct parser *p)
{
    int32_t r;

    if (!enter(p))
        return -1;
    r = parse_logic(p, parse_and, TK_OR, OP_OR);
    p->depth--;
    return r;
}

int sdc_trip_compile(struct sdc_trip **out, const char *text, struct dc_errbuf *eb)
{
    struct parser p = {.s = text, .eb = eb};
    size_t len = strlen(text);
    int32_t root;

    if (len > DC_RES_MAX_TRIP_LEN)
        return dc_err_set(eb, DC_ETOOBIG, "longer than %d bytes", DC_RES_MAX_TRIP_LEN);
    /* Every node comes from a distinct token, and a token is at least one byte. */
    p.nodes = dc_xcalloc(len + 1, sizeof(*p.nodes));
    next(&p);
    root = parse_or(&p);
    if (p.rv == DC_OK && p.tok != TK_END)
        fail(&p, DC_EPARSE, "unexpected text after the expression");
    if (p.rv == DC_OK && root >= 0 && p.nodes[root].type != TY_BOOL) {
        p.start = 0;
        fail(&p, DC_EPARSE, "the expression must be a boolean, like consecutiveFailures > 5");
    }
    if (p.rv != DC_OK) {
        free(p.nodes);
        return p.rv;
    }
    *out = dc_xcalloc(1, sizeof(**out));
    (*out)->nodes = p.nodes;
    (*out)->root = root;
    return DC_OK;
}

static int64_t var_value(const struct sdc_trip_counts *c, int64_t i)
{
    switch (i) {
    case 0:
        return c->requests;
    case 1:
        return c->total_successes;
    case 2:
        return c->total_failures;
    case 3:
        return c->consecutive_successes;
    default:
        return c->consecutive_failures;
    }
}

static bool arith(enum op op, int64_t a, int64_t b, int64_t *r)
{
    switch (op) {
    case OP_ADD:
        return !__builtin_add_overflow(a, b, r);
    case OP_SUB:
        return !__builtin_sub_overflow(a, b, r);
    case OP_MUL:
        return !__builtin_mul_overflow(a, b, r);
    case OP_DIV:
    case OP_MOD:
        if (b == 0 || (a == INT64_MIN && b == -1))
            return false;
        *r = op == OP_DIV ? a / b : a % b;
        return true;
    default:
        return false;
    }
}

static bool compare(enum op op, int64_t a, int64_t b)
{
    switch (op) {
    case OP_LT:
        return a < b;
    case OP_LE:
        return a <= b;
    case OP_GT:
        return a > b;
    case OP_GE:
        return a >= b;
    case OP_EQ:
        return a == b;
    default:
        return a != b;
    }
}

/* Evaluate node `i` into `*v` (booleans as 0/1). Returns false on an evaluation error. The
 * recursion depth is bounded by the parse depth (DC_RES_MAX_TRIP_DEPTH levels, plus the binary
 * chains, which are left-nested and as deep as the expression is long: at most
 * DC_RES_MAX_TRIP_LEN). */
static bool eval(const struct node *n, int32_t i, const struct sdc_trip_counts *c, int64_t *v)
{
    const struct node *nd = &n[i];
    int64_t a, b;
    bool oka, okb;

    switch ((enum op)nd->op) {
    case OP_INT:
    case OP_BOOL:
        *v = nd->v;
        return true;
    case OP_VAR:
        *v = var_value(c, nd->v);
        return true;
    case OP_NOT:
        if (!eval(n, nd->a, c, &a))
            return false;
        *v = !a;
        return true;
    case OP_NEG:
        if (!eval(n, nd->a, c, &a) || a == INT64_MIN)
            return false;
        *v = -a;
        return true;
    case OP_AND:
    case OP_OR:
        /* CEL: the side that decides the result wins over an error on the other side. */
        oka = eval(n, nd->a, c, &a);
        if (oka && (nd->op == OP_AND ? a == 0 : a != 0)) {
            *v = a;
            return true;
        }
        okb = eval(n, nd->b, c, &b);
        if (okb && (nd->op == OP_AND ? b == 0 : b != 0)) {
            *v = b;
            return true;
        }
        *v = b;
        return oka && okb;
    default:
        break;
    }
    if (!eval(n, nd->a, c, &a) || !eval(n, nd->b, c, &b))
        return false;
    if (nd->op >= OP_ADD)
        return arith((enum op)nd->op, a, b, v);
    *v = compare((enum op)nd->op, a, b);
    return true;
}

bool sdc_trip_eval(const struct sdc_trip *t, const struct sdc_trip_counts *c)
{
    int64_t v = 0;

    return eval(t->nodes, t->root, c, &v) && v != 0;
}

void sdc_trip_free(struct sdc_trip *t)
{
    if (t == NULL)
        return;
    free(t->nodes);
    free(t);
}
