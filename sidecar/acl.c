/* Service-invocation access control (sidecar-api.md §20.3): the Configuration's accessControl
 * compiled into one operation trie per caller policy, as upstream's pkg/config/acl_trie.go. */
#include "acl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/buf.h"
#include "dc/mem.h"
#include "dc/str.h"

/* Operations longer than this are normalised on the heap (rare: method paths are short). */
#define ACL_STACK_OP 2048

struct acl_rule {
    char **verbs;
    size_t nverbs;
    char *action;
};

/* One trie node: `seg` is "/<segment>" lower-cased; `rule` set when an operation ends here. */
struct acl_node {
    char *seg;
    size_t seglen;
    struct acl_rule *rule;
    struct acl_node **kids;
    size_t nkids;
};

struct acl_policy {
    char *app_id;
    char *namespace;
    char *trust_domain;
    char *default_action; /* NULL: none */
    struct acl_node root;
    struct acl_rule **rules; /* owned; nodes only point at them (shadowed ones included) */
    size_t nrules;
};

struct sdc_acl {
    bool allow_all;
    char *default_action;
    struct acl_policy *policies;
    size_t npolicies;
};

static bool is_allow(const char *action)
{
    return dc_str_eq_ci(action, "allow");
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ---- Trie construction ---------------------------------------------------------------- */

static struct acl_node *node_find_exact(struct acl_node *n, const char *seg, size_t len)
{
    for (size_t i = 0; i < n->nkids; i++) {
        if (n->kids[i]->seglen == len && memcmp(n->kids[i]->seg, seg, len) == 0)
            return n->kids[i];
    }
    return NULL;
}

static struct acl_node *node_add(struct acl_node *n, const char *seg, size_t len)
{
    struct acl_node *k = dc_xcalloc(1, sizeof(*k));

    k->seg = dc_xstrndup(seg, len);
    k->seglen = len;
    n->kids = dc_xrealloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
    n->kids[n->nkids++] = k;
    return k;
}

/* Upstream PutOperationAction: split on '/', each part becomes "/part"; intermediate nodes are
 * found exactly; the first rule registered on a node is kept. `name` has its leading '/'. */
static void trie_put(struct acl_node *root, const char *name, struct acl_rule *rule)
{
    struct acl_node *n = root;
    const char *p = name + 1; /* skip the leading '/' (parts[0] is "") */
    char *seg = dc_xmalloc(strlen(name) + 2);

    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
        bool last = slash == NULL;
        struct acl_node *k;

        seg[0] = '/';
        memcpy(seg + 1, p, len);
        seg[len + 1] = '\0';
        k = node_find_exact(n, seg, len + 1);
        if (k == NULL) {
            k = node_add(n, seg, len + 1);
            if (last)
                k->rule = rule;
        } else if (last && k->rule == NULL) {
            k->rule = rule;
        }
        if (last)
            break;
        n = k;
        p = slash + 1;
    }
    free(seg);
}

static void rule_free(struct acl_rule *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nverbs; i++)
        free(r->verbs[i]);
    free(r->verbs);
    free(r->action);
    free(r);
}

static void node_cleanup(struct acl_node *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        node_cleanup(n->kids[i]);
        free(n->kids[i]);
    }
    free(n->kids);
    free(n->seg);
}

/* ---- Trie search ---------------------------------------------------------------------- */

/* One segment of the checked operation: the virtual string "/" + s[0..len). */
struct seg {
    const char *s;
    size_t len;
};

static char seg_at(const struct seg *t, size_t i)
{
    return i == 0 ? '/' : lower(t->s[i - 1]);
}

/* Upstream isMatch: '*' in the pattern matches any run of characters (greedy glob). */
static bool glob_match(const struct seg *t, const char *pat, size_t plen)
{
    size_t tl = t->len + 1, ti = 0, pi = 0, star = (size_t)-1, mark = 0;

    while (ti < tl) {
        if (pi < plen && pat[pi] == '*') {
            star = pi++;
            mark = ti;
        } else if (pi < plen && pat[pi] == seg_at(t, ti)) {
            pi++;
            ti++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            ti = ++mark;
        } else {
            return false;
        }
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

static bool seg_equal(const struct seg *t, const struct acl_node *n)
{
    if (n->seglen != t->len + 1)
        return false;
    for (size_t i = 0; i < n->seglen; i++) {
        if (n->seg[i] != seg_at(t, i))
            return false;
    }
    return true;
}

/* Upstream findNodeWithWildcard: children in insertion order; exact, then the one-segment
 * wildcard (only for the last segment), the any-depth wildcard, or a glob. */
static const struct acl_node *find_kid(const struct acl_node *n, const struct seg *t, bool end)
{
    for (size_t i = 0; i < n->nkids; i++) {
        const struct acl_node *k = n->kids[i];

        if (seg_equal(t, k))
            return k;
        if (strcmp(k->seg, "/*") == 0) {
            if (end)
                return k;
            continue;
        }
        if (strcmp(k->seg, "/**") == 0)
            return k;
        if (glob_match(t, k->seg, k->seglen))
            return k;
    }
    return NULL;
}

static const struct acl_node *find_star_kid(const struct acl_node *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        if (strcmp(n->kids[i]->seg, "/*") == 0)
            return n->kids[i];
    }
    return NULL;
}

/* Upstream Trie.Search over `op` (leading '/' optional, compared lower-cased). */
static const struct acl_rule *trie_search(const struct acl_node *root, const char *op)
{
    const struct acl_node *n = root;
    const char *p = op[0] == '/' ? op + 1 : op;

    for (;;) {
        const char *slash = strchr(p, '/');
        struct seg t = {p, slash != NULL ? (size_t)(slash - p) : strlen(p)};
        bool end = slash == NULL;

        n = find_kid(n, &t, end);
        if (n == NULL)
            return NULL;
        if (n->rule != NULL) {
            bool single = dc_str_has_suffix(n->seg, "/*") && !dc_str_has_suffix(n->seg, "/**");
            if (end || !single)
                return n->rule;
        } else if (end) {
            const struct acl_node *w = find_star_kid(n);
            return w != NULL ? w->rule : NULL;
        }
        if (end)
            return NULL;
        p = slash + 1;
    }
}

/* ---- Normalisation (purell FlagsUsuallySafeGreedy | FlagRemoveDuplicateSlashes) --------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Decode %XX of unreserved characters, upper-case other escapes, collapse "//". */
static size_t norm_escapes_slashes(const char *in, char *out)
{
    size_t o = 0;

    for (size_t i = 0; in[i] != '\0'; i++) {
        char c = in[i];
        if (c == '%' && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
            int v = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);
            if (unreserved(v)) {
                c = (char)v;
            } else {
                out[o++] = '%';
                out[o++] = (char)(in[i + 1] >= 'a' ? in[i + 1] - 'a' + 'A' : in[i + 1]);
                c = (char)(in[i + 2] >= 'a' ? in[i + 2] - 'a' + 'A' : in[i + 2]);
            }
            i += 2;
        }
        if (c == '/' && o > 0 && out[o - 1] == '/')
            continue;
        out[o++] = c;
    }
    out[o] = '\0';
    return o;
}

/* RFC 3986 §5.2.4 remove_dot_segments, in place (the output never overtakes the input), then
 * drop one trailing '/' as purell's FlagRemoveTrailingSlash. */
static void norm_dots(char *s)
{
    char *in = s, *out = s;

    while (*in != '\0') {
        if (strncmp(in, "../", 3) == 0) {
            in += 3; /* A */
        } else if (strncmp(in, "./", 2) == 0) {
            in += 2; /* A */
        } else if (strncmp(in, "/./", 3) == 0) {
            in += 2; /* B: now at the second '/' */
        } else if (strcmp(in, "/.") == 0) {
            in += 1; /* B: replace with "/" */
            in[0] = '/';
        } else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
            /* C: replace with "/" and pop the last output segment. */
            if (in[3] == '/') {
                in += 3;
            } else {
                in += 2;
                in[0] = '/';
            }
            while (out > s && *--out != '/')
                ;
        } else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
            break; /* D */
        } else {
            do { /* E */
                *out++ = *in++;
            } while (*in != '\0' && *in != '/');
        }
    }
    *out = '\0';
    if (out > s && out[-1] == '/')
        out[-1] = '\0';
}

/* ---- Construction --------------------------------------------------------------------- */

static int check_policies(const struct dc_configuration *conf, struct dc_errbuf *eb)
{
    struct dc_buf td, ns;
    bool bad_td = false, bad_ns = false, bad_app = false;
    int rv = DC_OK;

    dc_buf_init(&td, 4096);
    dc_buf_init(&ns, 4096);
    for (size_t i = 0; i < conf->access_control.npolicies; i++) {
        const struct dc_acl_policy *p = &conf->access_control.policies[i];
        const char *app = p->app_id != NULL ? p->app_id : "";

        if (dc_str_empty(p->app_id))
            bad_app = true;
        if (dc_str_empty(p->trust_domain)) {
            if (dc_buf_appendf(&td, "%s%s", bad_td ? " " : "", app) != DC_OK)
                break;
            bad_td = true;
        }
        if (dc_str_empty(p->namespace)) {
            if (dc_buf_appendf(&ns, "%s%s", bad_ns ? " " : "", app) != DC_OK)
                break;
            bad_ns = true;
        }
    }
    if (bad_td || bad_ns || bad_app)
        rv = dc_err_set(eb, DC_EINVAL,
                        "invalid access control spec. missing trustdomain for apps: [%s], "
                        "missing namespace for apps: [%s], missing app name on at least one of "
                        "the app policies: %s",
                        dc_buf_cstr(&td), dc_buf_cstr(&ns), bad_app ? "true" : "false");
    dc_buf_cleanup(&td);
    dc_buf_cleanup(&ns);
    return rv;
}

static char *lower_dup_with_slash(const char *name)
{
    size_t n = strlen(name);
    bool add = name[0] != '/';
    char *s = dc_xmalloc(n + 2);
    size_t o = 0;

    if (add)
        s[o++] = '/';
    for (size_t i = 0; i < n; i++)
        s[o++] = lower(name[i]);
    s[o] = '\0';
    return s;
}

static void compile_policy(struct acl_policy *dst, const struct dc_acl_policy *src)
{
    dst->app_id = dc_xstrdup(src->app_id);
    dst->namespace = dc_xstrdup(src->namespace);
    dst->trust_domain = dc_xstrdup(src->trust_domain);
    dst->default_action =
        dc_str_empty(src->default_action) ? NULL : dc_xstrdup(src->default_action);
    dst->rules = dc_xcalloc(src->noperations + 1, sizeof(*dst->rules));
    for (size_t i = 0; i < src->noperations; i++) {
        const struct dc_acl_operation *op = &src->operations[i];
        struct acl_rule *r = dc_xcalloc(1, sizeof(*r));
        char *name = lower_dup_with_slash(op->name != NULL ? op->name : "");

        r->action = dc_xstrdup(op->action != NULL ? op->action : "");
        r->verbs = dc_xcalloc(op->nhttp_verbs + 1, sizeof(*r->verbs));
        for (size_t v = 0; v < op->nhttp_verbs; v++)
            r->verbs[r->nverbs++] = dc_xstrdup(op->http_verbs[v]);
        dst->rules[dst->nrules++] = r;
        trie_put(&dst->root, name, r);
        free(name);
    }
}

int sdc_acl_new(struct sdc_acl **out, const struct dc_configuration *conf, struct dc_errbuf *eb)
{
    struct sdc_acl *acl = dc_xcalloc(1, sizeof(*acl));
    int rv;

    *out = NULL;
    if (conf == NULL ||
        (dc_str_empty(conf->access_control.default_action) &&
         dc_str_empty(conf->access_control.trust_domain) && conf->access_control.npolicies == 0)) {
        acl->allow_all = true;
        *out = acl;
        return DC_OK;
    }
    rv = check_policies(conf, eb);
    if (rv != DC_OK) {
        free(acl);
        return rv;
    }
    if (!dc_str_empty(conf->access_control.default_action))
        acl->default_action = dc_xstrdup(conf->access_control.default_action);
    else
        acl->default_action = dc_xstrdup(conf->access_control.npolicies > 0 ? "deny" : "allow");
    acl->policies = dc_xcalloc(conf->access_control.npolicies + 1, sizeof(*acl->policies));
    for (size_t i = 0; i < conf->access_control.npolicies; i++)
        compile_policy(&acl->policies[acl->npolicies++], &conf->access_control.policies[i]);
    *out = acl;
    return DC_OK;
}

void sdc_acl_free(struct sdc_acl *acl)
{
    if (acl == NULL)
        return;
    for (size_t i = 0; i < acl->npolicies; i++) {
        struct acl_policy *p = &acl->policies[i];

        for (size_t r = 0; r < p->nrules; r++)
            rule_free(p->rules[r]);
        free(p->rules);
        node_cleanup(&p->root);
        free(p->app_id);
        free(p->namespace);
        free(p->trust_domain);
        free(p->default_action);
    }
    free(acl->policies);
    free(acl->default_action);
    free(acl);
}

/* ---- Evaluation ----------------------------------------------------------------------- */

static const struct acl_policy *find_policy(const struct sdc_acl *acl, const char *app,
                                            const char *ns)
{
    /* Upstream keys a map by appId||namespace: the last duplicate wins. */
    for (size_t i = acl->npolicies; i-- > 0;) {
        if (strcmp(acl->policies[i].app_id, app) == 0 &&
            strcmp(acl->policies[i].namespace, ns) == 0)
            return &acl->policies[i];
    }
    return NULL;
}

static const char *rule_verb_action(const struct acl_rule *r, const char *verb)
{
    for (size_t i = 0; i < r->nverbs; i++) {
        if (strcmp(r->verbs[i], verb) == 0)
            return r->action;
    }
    for (size_t i = 0; i < r->nverbs; i++) {
        if (strcmp(r->verbs[i], "*") == 0)
            return r->action;
    }
    return NULL;
}

static bool evaluate(const struct sdc_acl *acl, const struct sdc_caller *c, const char *op,
                     const char *verb)
{
    const char *action = acl->default_action;
    const struct acl_policy *p;
    const struct acl_rule *r;

    if (c == NULL || dc_str_empty(c->app_id) || c->namespace == NULL || c->trust_domain == NULL)
        return is_allow(action);
    p = find_policy(acl, c->app_id, c->namespace);
    if (p == NULL || strcmp(p->trust_domain, c->trust_domain) != 0)
        return is_allow(action);
    if (p->default_action != NULL)
        action = p->default_action;
    r = trie_search(&p->root, op);
    if (r != NULL) {
        if (dc_str_empty(verb)) {
            /* Upstream: verb NONE over HTTP takes the policy's own default ("" denies). */
            action = p->default_action != NULL ? p->default_action : "";
        } else {
            const char *va = rule_verb_action(r, verb);
            if (va != NULL)
                action = va;
        }
    }
    return is_allow(action);
}

bool sdc_acl_allowed(const struct sdc_acl *acl, const struct sdc_caller *caller,
                     const char *operation, const char *http_verb, char *why, size_t why_len)
{
    char stack[ACL_STACK_OP];
    char *op = stack;
    size_t n;
    bool ok;

    if (acl == NULL || acl->allow_all)
        return true;
    if (operation == NULL)
        operation = "";
    n = strlen(operation);
    if (n >= sizeof(stack))
        op = dc_xmalloc(n + 1);
    norm_escapes_slashes(operation, op);
    norm_dots(op);
    ok = evaluate(acl, caller, op, http_verb);
    if (!ok && why != NULL && why_len > 0) {
        bool known = caller != NULL && !dc_str_empty(caller->app_id) && caller->namespace != NULL &&
                     caller->trust_domain != NULL;
        snprintf(why, why_len,
                 "access control policy has denied access to id: %s%s%s%s%s%s operation: %s "
                 "verb: %s",
                 known ? "spiffe://" : "", known ? caller->trust_domain : "", known ? "/ns/" : "",
                 known ? caller->namespace : "", known ? "/" : "", known ? caller->app_id : "", op,
                 dc_str_empty(http_verb) ? "NONE" : http_verb);
    }
    if (op != stack)
        free(op);
    return ok;
}
