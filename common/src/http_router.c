/* Socket-less HTTP routing and the request/response helpers (contracts in dc/http_server.h).
 *
 * Routes live in a segment trie: each node has literal children, at most one {param} child
 * and at most one {rest*} child. Matching is a depth-first search that tries literals, then
 * the parameter, then the rest, and backtracks when a branch has no route for the method,
 * as chi (upstream daprd's router) does. The search allocates nothing: parameter values are
 * kept as spans of the cleaned path until a route is chosen. */
#include "dc/http_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"

struct route_ep {
    struct route_ep *next;
    char *method; /* NULL = any */
    char *pattern;
    dc_http_handler_fn *fn;
    void *ud;
    char *names[DC_HTTP_MAX_PARAMS];
    size_t n_names;
};

struct route_node {
    char *lit; /* this node's literal segment (for literal children) */
    size_t lit_len;
    struct route_node **lits;
    size_t n_lits;
    struct route_node *param;
    struct route_node *rest;
    struct route_ep *eps;
};

struct dc_http_router {
    struct route_node root;
    dc_http_handler_fn *fallback;
    void *fallback_ud;
    dc_http_pre_fn *pre;
    void *pre_ud;
};

struct span {
    size_t off, len;
};

struct match {
    const char *path;
    size_t len;
    const char *method;
    struct span spans[DC_HTTP_MAX_PARAMS];
    size_t n;
    const struct route_ep *ep;
};

struct dc_http_router *dc_http_router_new(void)
{
    return dc_xcalloc(1, sizeof(struct dc_http_router));
}

static void node_free_children(struct route_node *n)
{
    struct route_ep *e, *next;
    size_t i;

    for (i = 0; i < n->n_lits; i++) {
        node_free_children(n->lits[i]);
        free(n->lits[i]);
    }
    free(n->lits);
    if (n->param != NULL) {
        node_free_children(n->param);
        free(n->param);
    }
    if (n->rest != NULL) {
        node_free_children(n->rest);
        free(n->rest);
    }
    for (e = n->eps; e != NULL; e = next) {
        next = e->next;
        free(e->method);
        free(e->pattern);
        for (i = 0; i < e->n_names; i++)
            free(e->names[i]);
        free(e);
    }
    free(n->lit);
}

void dc_http_router_free(struct dc_http_router *r)
{
    if (r == NULL)
        return;
    node_free_children(&r->root);
    free(r);
}

static struct route_node *child_literal(struct route_node *n, const char *seg, size_t len)
{
    struct route_node *c;
    size_t i;

    for (i = 0; i < n->n_lits; i++) {
        c = n->lits[i];
        if (c->lit_len == len && memcmp(c->lit, seg, len) == 0)
            return c;
    }
    c = dc_xcalloc(1, sizeof(*c));
    c->lit = dc_xstrndup(seg, len);
    c->lit_len = len;
    n->lits = dc_xrealloc(n->lits, (n->n_lits + 1) * sizeof(*n->lits));
    n->lits[n->n_lits++] = c;
    return c;
}

static struct route_node *child_new(struct route_node **slot)
{
    if (*slot == NULL)
        *slot = dc_xcalloc(1, sizeof(**slot));
    return *slot;
}

/* Walk (creating) the trie path of `pattern`, collecting parameter names into `ep`. */
static int pattern_insert(struct route_node *root, const char *pattern, struct route_ep *ep,
                          struct route_node **out)
{
    struct route_node *n = root;
    const char *p = pattern + 1;

    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);

        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            const char *name = p + 1;
            size_t nlen = len - 2;
            bool rest = nlen > 0 && name[nlen - 1] == '*';

            if (rest)
                nlen--;
            if (nlen == 0 || memchr(name, '{', nlen) != NULL || memchr(name, '}', nlen) != NULL ||
                ep->n_names == DC_HTTP_MAX_PARAMS)
                return DC_EINVAL;
            if (rest && slash != NULL)
                return DC_EINVAL; /* {x*} only as the last segment */
            ep->names[ep->n_names++] = dc_xstrndup(name, nlen);
            n = child_new(rest ? &n->rest : &n->param);
        } else {
            if (memchr(p, '{', len) != NULL || memchr(p, '}', len) != NULL)
                return DC_EINVAL;
            n = child_literal(n, p, len);
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    *out = n;
    return DC_OK;
}

int dc_http_router_add(struct dc_http_router *r, const char *method, const char *pattern,
                       dc_http_handler_fn *fn, void *ud)
{
    struct route_ep *ep, *e;
    struct route_node *n;
    size_t i;
    int rv;

    if (r == NULL || pattern == NULL || pattern[0] != '/' || fn == NULL ||
        (method != NULL && method[0] == '\0'))
        return DC_EINVAL;
    ep = dc_xcalloc(1, sizeof(*ep));
    rv = pattern_insert(&r->root, pattern, ep, &n);
    if (rv == DC_OK) {
        for (e = n->eps; e != NULL; e = e->next) {
            if (dc_str_eq(e->method, method)) {
                rv = DC_EEXIST;
                break;
            }
        }
    }
    if (rv != DC_OK) {
        /* Nodes created on the way stay in the trie; they are empty and never match. */
        for (i = 0; i < ep->n_names; i++)
            free(ep->names[i]);
        free(ep);
        return rv;
    }
    ep->method = dc_xstrdup(method);
    ep->pattern = dc_xstrdup(pattern);
    ep->fn = fn;
    ep->ud = ud;
    ep->next = n->eps;
    n->eps = ep;
    return DC_OK;
}

void dc_http_router_set_fallback(struct dc_http_router *r, dc_http_handler_fn *fn, void *ud)
{
    r->fallback = fn;
    r->fallback_ud = ud;
}

void dc_http_router_set_pre(struct dc_http_router *r, dc_http_pre_fn *fn, void *ud)
{
    r->pre = fn;
    r->pre_ud = ud;
}

/* The route for `method` at `n`: an exact method first, else an any-method route. */
static const struct route_ep *node_endpoint(const struct route_node *n, const char *method)
{
    const struct route_ep *e, *any = NULL;

    for (e = n->eps; e != NULL; e = e->next) {
        if (e->method == NULL) {
            if (any == NULL)
                any = e;
        } else if (strcmp(e->method, method) == 0) {
            return e;
        }
    }
    return any;
}

/* `pos` is the start of the next segment, or len + 1 when the path is consumed. The depth
 * of the recursion is bounded by the depth of the trie, not by the path. */
static bool match_node(const struct route_node *n, struct match *m, size_t pos)
{
    const char *seg, *slash;
    size_t seglen, next, i;
    const struct route_ep *ep;

    if (pos > m->len) {
        ep = node_endpoint(n, m->method);
        if (ep != NULL)
            m->ep = ep;
        return ep != NULL;
    }
    seg = m->path + pos;
    slash = memchr(seg, '/', m->len - pos);
    seglen = slash != NULL ? (size_t)(slash - seg) : m->len - pos;
    next = pos + seglen + 1;
    for (i = 0; i < n->n_lits; i++) {
        const struct route_node *c = n->lits[i];

        if (c->lit_len == seglen && memcmp(c->lit, seg, seglen) == 0 && match_node(c, m, next))
            return true;
    }
    if (n->param != NULL && seglen > 0 && m->n < DC_HTTP_MAX_PARAMS) {
        m->spans[m->n].off = pos;
        m->spans[m->n].len = seglen;
        m->n++;
        if (match_node(n->param, m, next))
            return true;
        m->n--;
    }
    if (n->rest != NULL && m->n < DC_HTTP_MAX_PARAMS) {
        ep = node_endpoint(n->rest, m->method);
        if (ep != NULL) {
            m->spans[m->n].off = pos;
            m->spans[m->n].len = m->len - pos;
            m->n++;
            m->ep = ep;
            return true;
        }
    }
    return false;
}

const char *dc_http_clean_path(struct dc_arena *a, const char *path)
{
    size_t n = strlen(path), r = 0, w = 0, dotdot;
    bool rooted = n > 0 && path[0] == '/';
    bool trailing = n > 1 && path[n - 1] == '/';
    char *out = dc_arena_alloc(a, n + 3);

    /* Go's path.Clean, except that a trailing '/' survives (the router strips it later only
     * when the path with it matches nothing). */
    if (rooted) {
        out[w++] = '/';
        r = 1;
    }
    dotdot = w;
    while (r < n) {
        if (path[r] == '/') {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            r++;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            while (r < n && path[r] != '/')
                out[w++] = path[r++];
        }
    }
    if (w == 0)
        out[w++] = '.';
    if (trailing && w > 1 && out[w - 1] != '/')
        out[w++] = '/';
    out[w] = '\0';
    return out;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Go's url.QueryUnescape. On a bad escape `*bad` is its offset in `s`. */
static int unescape(struct dc_arena *a, const char *s, size_t n, char **out, size_t *out_len,
                    size_t *bad)
{
    size_t i, w = 0;
    char *o;

    for (i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n || hexval((unsigned char)s[i + 1]) < 0 ||
                hexval((unsigned char)s[i + 2]) < 0) {
                *bad = i;
                return DC_EPARSE;
            }
            i += 2;
        }
    }
    o = dc_arena_alloc(a, n + 1);
    for (i = 0; i < n; i++) {
        if (s[i] == '%') {
            o[w++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else if (s[i] == '+') {
            o[w++] = ' ';
        } else {
            o[w++] = s[i];
        }
    }
    o[w] = '\0';
    *out = o;
    if (out_len != NULL)
        *out_len = w;
    return DC_OK;
}

int dc_http_query_unescape(struct dc_arena *a, const char *s, size_t n, char **out, size_t *out_len)
{
    size_t bad;

    return unescape(a, s, n, out, out_len, &bad);
}

/* The 400 that Go's http.Error would send for url.EscapeError. */
static void bad_escape(struct dc_http_response *resp, const char *s, size_t n)
{
    struct dc_buf *b = &resp->body;
    size_t i;
    int rv;

    dc_buf_reset(b);
    rv = dc_buf_appends(b, "invalid URL escape \"");
    for (i = 0; i < n && i < 3 && rv == DC_OK; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\')
            rv = dc_buf_appendf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            rv = dc_buf_appendf(b, "\\x%02x", c);
        else
            rv = dc_buf_appendc(b, (char)c);
    }
    if (rv == DC_OK)
        rv = dc_buf_appends(b, "\"\n");
    (void)rv; /* a body limit this small is the caller's choice */
    resp->status = 400;
    dc_http_response_header_set(resp, "Content-Type", "text/plain; charset=utf-8");
    dc_http_response_header_set(resp, "X-Content-Type-Options", "nosniff");
}

static int not_found(struct dc_http_request *req, struct dc_http_response *resp,
                     const struct dc_http_router *r)
{
    if (r->fallback != NULL) {
        r->fallback(req, resp, r->fallback_ud);
    } else {
        resp->status = 404;
        if (dc_http_response_body(resp, "404 page not found\n", 19, "text/plain; charset=utf-8") !=
            DC_OK)
            resp->status = 404;
    }
    return DC_ENOTFOUND;
}

int dc_http_router_dispatch(const struct dc_http_router *r, struct dc_http_request *req,
                            struct dc_http_response *resp)
{
    struct match m;
    const char *clean;
    struct dc_http_param *params;
    size_t i;
    bool found = false;

    DC_ASSERT(req->arena != NULL && req->method != NULL && req->path != NULL);
    if (req->query == NULL)
        req->query = "";
    if (req->body == NULL)
        req->body = "";
    req->route = NULL;
    req->params = NULL;
    req->n_params = 0;
    if (r->pre != NULL && r->pre(req, resp, r->pre_ud))
        return DC_OK;

    clean = dc_http_clean_path(req->arena, req->path);
    memset(&m, 0, sizeof(m));
    m.path = clean;
    m.len = strlen(clean);
    m.method = req->method;
    if (clean[0] == '/') {
        found = match_node(&r->root, &m, 1);
        if (!found && m.len > 1 && clean[m.len - 1] == '/') {
            m.len--;
            m.n = 0;
            found = match_node(&r->root, &m, 1);
        }
    }
    if (!found)
        return not_found(req, resp, r);

    DC_ASSERT(m.n == m.ep->n_names);
    params = m.n > 0 ? dc_arena_alloc(req->arena, m.n * sizeof(*params)) : NULL;
    for (i = 0; i < m.n; i++) {
        const char *raw = clean + m.spans[i].off;
        char *val;
        size_t bad;

        if (unescape(req->arena, raw, m.spans[i].len, &val, &params[i].value_len, &bad) != DC_OK) {
            bad_escape(resp, raw + bad, m.spans[i].len - bad);
            return DC_EPARSE;
        }
        params[i].name = m.ep->names[i];
        params[i].value = val;
        params[i].raw = dc_arena_strndup(req->arena, raw, m.spans[i].len);
    }
    req->params = params;
    req->n_params = m.n;
    req->route = m.ep->pattern;
    m.ep->fn(req, resp, m.ep->ud);
    return DC_OK;
}

/* Request accessors. */

const char *dc_http_request_header(const struct dc_http_request *req, const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    /* The first byte, case folded, filters out most names before strcasecmp (daprd looks up
     * several headers per request; a filter only: equal names always pass it). */
    for (i = 0; i < req->n_headers; i++) {
        if ((req->headers[i].name[0] | 0x20) == (name[0] | 0x20) &&
            dc_str_eq_ci(req->headers[i].name, name))
            return req->headers[i].value;
    }
    return NULL;
}

size_t dc_http_request_header_remove(struct dc_http_request *req, const char *name)
{
    size_t i, w = 0, removed;

    for (i = 0; i < req->n_headers; i++) {
        if (!dc_str_eq_ci(req->headers[i].name, name))
            req->headers[w++] = req->headers[i];
    }
    removed = req->n_headers - w;
    req->n_headers = w;
    return removed;
}

bool dc_http_request_header_next(const struct dc_http_request *req, size_t *it, const char **name,
                                 const char **value)
{
    if (*it >= req->n_headers)
        return false;
    *name = req->headers[*it].name;
    *value = req->headers[*it].value;
    (*it)++;
    return true;
}

const char *dc_http_request_param(const struct dc_http_request *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->n_params; i++) {
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    }
    return NULL;
}

/* Go's url.ParseQuery: split on '&', skip pieces with ';' and pieces that fail to decode. */
static void query_parse(struct dc_http_request *req)
{
    const char *q = req->query != NULL ? req->query : "";
    size_t cap = 1, n = 0;
    const char *p;
    struct dc_http_query_pair *pairs;

    req->query_parsed_ = true;
    if (q[0] == '\0')
        return;
    for (p = q; *p != '\0'; p++)
        cap += *p == '&';
    pairs = dc_arena_alloc(req->arena, cap * sizeof(*pairs));
    p = q;
    for (;;) {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq != NULL ? (size_t)(eq - p) : len;
        char *k, *v;
        size_t bad;

        if (len > 0 && memchr(p, ';', len) == NULL &&
            unescape(req->arena, p, klen, &k, NULL, &bad) == DC_OK &&
            unescape(req->arena, eq != NULL ? eq + 1 : p + len, eq != NULL ? len - klen - 1 : 0, &v,
                     &pairs[n].value_len, &bad) == DC_OK) {
            pairs[n].name = k;
            pairs[n].value = v;
            n++;
        }
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    req->query_pairs_ = pairs;
    req->n_query_pairs_ = n;
}

const char *dc_http_request_query(struct dc_http_request *req, const char *name)
{
    size_t i;

    if (!req->query_parsed_)
        query_parse(req);
    for (i = 0; i < req->n_query_pairs_; i++) {
        if (strcmp(req->query_pairs_[i].name, name) == 0)
            return req->query_pairs_[i].value;
    }
    return NULL;
}

bool dc_http_request_query_next(struct dc_http_request *req, size_t *it,
                                const struct dc_http_query_pair **pair)
{
    if (!req->query_parsed_)
        query_parse(req);
    if (*it >= req->n_query_pairs_)
        return false;
    *pair = &req->query_pairs_[*it];
    (*it)++;
    return true;
}

/* Response helpers. */

void dc_http_response_init(struct dc_http_response *resp, struct dc_arena *arena)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    resp->arena = arena;
}

void dc_http_response_cleanup(struct dc_http_response *resp)
{
    dc_buf_cleanup(&resp->body);
}

void dc_http_response_header(struct dc_http_response *resp, const char *name, const char *value)
{
    if (resp->n_headers == resp->cap_headers_) {
        size_t cap = resp->cap_headers_ ? resp->cap_headers_ * 2 : 8;
        struct dc_http_header *h = dc_arena_alloc(resp->arena, cap * sizeof(*h));

        /* The old array stays in the arena until the request ends. */
        if (resp->n_headers > 0)
            memcpy(h, resp->headers, resp->n_headers * sizeof(*h));
        resp->headers = h;
        resp->cap_headers_ = cap;
    }
    resp->headers[resp->n_headers].name = dc_arena_strdup(resp->arena, name);
    resp->headers[resp->n_headers].value = dc_arena_strdup(resp->arena, value);
    resp->n_headers++;
}

void dc_http_response_header_set(struct dc_http_response *resp, const char *name, const char *value)
{
    size_t i, w = 0;

    for (i = 0; i < resp->n_headers; i++) {
        if (!dc_str_eq_ci(resp->headers[i].name, name))
            resp->headers[w++] = resp->headers[i];
    }
    resp->n_headers = w;
    dc_http_response_header(resp, name, value);
}

const char *dc_http_response_header_get(const struct dc_http_response *resp, const char *name)
{
    size_t i;

    for (i = 0; i < resp->n_headers; i++) {
        if (dc_str_eq_ci(resp->headers[i].name, name))
            return resp->headers[i].value;
    }
    return NULL;
}

int dc_http_response_body(struct dc_http_response *resp, const void *data, size_t len,
                          const char *content_type)
{
    int rv;

    dc_buf_reset(&resp->body);
    rv = dc_buf_append(&resp->body, data, len);
    if (rv != DC_OK)
        return rv;
    if (content_type != NULL)
        dc_http_response_header_set(resp, "Content-Type", content_type);
    return DC_OK;
}

/* Bytes in the UTF-8 sequence starting with lead byte `c` (0 = never a lead byte). */
static size_t utf8_seq_len(unsigned char c)
{
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

DC_TESTABLE int json_escape(struct dc_buf *b, const char *s, size_t n);

/* JSON string content as Go's encoding/json writes it with HTML escaping on. */
DC_TESTABLE int json_escape(struct dc_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    int rv = DC_OK;

    while (i < n && rv == DC_OK) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x80) {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};

            if (c == '"' || c == '\\')
                rv = dc_buf_appendf(b, "\\%c", c);
            else if (c == '\n')
                rv = dc_buf_appends(b, "\\n");
            else if (c == '\r')
                rv = dc_buf_appends(b, "\\r");
            else if (c == '\t')
                rv = dc_buf_appends(b, "\\t");
            else if (c == '\b')
                rv = dc_buf_appends(b, "\\b");
            else if (c == '\f')
                rv = dc_buf_appends(b, "\\f");
            else if (c < 0x20 || c == '<' || c == '>' || c == '&')
                rv = dc_buf_appends(b, esc);
            else
                rv = dc_buf_appendc(b, (char)c);
            i++;
            continue;
        }
        {
            size_t len = utf8_seq_len(c);

            if (len == 0 || i + len > n || !dc_utf8_valid(s + i, len)) {
                rv = dc_buf_appends(b, "\\ufffd");
                i++;
            } else if (len == 3 && c == 0xe2 && (unsigned char)s[i + 1] == 0x80 &&
                       ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
                rv = dc_buf_appends(b, (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
                i += 3;
            } else {
                rv = dc_buf_append(b, s + i, len);
                i += len;
            }
        }
    }
    return rv;
}

const char *dc_http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 102:
        return "Processing";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 207:
        return "Multi-Status";
    case 208:
        return "Already Reported";
    case 226:
        return "IM Used";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Request Entity Too Large";
    case 414:
        return "Request URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Requested Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 418:
        return "I'm a teapot";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Entity";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 506:
        return "Variant Also Negotiates";
    case 507:
        return "Insufficient Storage";
    case 508:
        return "Loop Detected";
    case 510:
        return "Not Extended";
    case 511:
        return "Network Authentication Required";
    default:
        return "";
    }
}

void dc_http_response_error(struct dc_http_response *resp, int status, const char *error_code,
                            const char *message)
{
    struct dc_buf *b = &resp->body;
    int rv;

    resp->status = status;
    dc_buf_reset(b);
    rv = dc_buf_appends(b, "{\"errorCode\":\"");
    if (rv == DC_OK)
        rv = json_escape(b, error_code != NULL ? error_code : "",
                         error_code != NULL ? strlen(error_code) : 0);
    if (rv == DC_OK)
        rv = dc_buf_appends(b, "\",\"message\":\"");
    if (rv == DC_OK)
        rv = json_escape(b, message != NULL ? message : "", message != NULL ? strlen(message) : 0);
    if (rv == DC_OK)
        rv = dc_buf_appends(b, "\"}");
    if (rv != DC_OK)
        dc_buf_reset(b); /* only with a caller-imposed body limit */
    dc_http_response_header_set(resp, "Content-Type", "application/json");
}
