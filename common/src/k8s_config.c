/* Kubernetes client configuration: kubeconfig files (libyaml) and in-cluster service accounts.
 *
 * The kubeconfig is read into a small node tree (mappings, sequences, scalars; aliases refused)
 * and walked for the fields client-go's clientcmd uses: current-context, contexts[].context.
 * {cluster, user, namespace}, clusters[].cluster.{server, certificate-authority(-data),
 * insecure-skip-tls-verify}, users[].user.{token, tokenFile, client-certificate(-data),
 * client-key(-data)}. As in clientcmd, inline data wins over a file and `token` over `tokenFile`.
 */
#include "dc/k8s.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "dc/base64.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "k8s_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers shared with the other k8s files (declared in k8s_internal.h). */

int k8s_read_file(const char *path, size_t max, char **out, size_t *len, struct dc_errbuf *eb)
{
    FILE *f;
    struct stat st;
    char *data = NULL;
    size_t n = 0, cap = 0;
    int rv = DC_OK;

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL)
        return dc_err_set(eb, DC_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        rv = dc_err_set(eb, DC_EIO, "%s: is a directory", path);
        goto out;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            if (cap > max) {
                rv = dc_err_set(eb, DC_ETOOBIG, "%s: larger than %zu bytes", path, max);
                goto out;
            }
            cap = cap == 0 ? 4096 : cap * 2;
            data = dc_xrealloc(data, cap + 1);
        }
        got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        rv = dc_err_set(eb, DC_EIO, "%s: read error", path);
        goto out;
    }
    if (n > max) {
        rv = dc_err_set(eb, DC_ETOOBIG, "%s: larger than %zu bytes", path, max);
        goto out;
    }
    if (data == NULL)
        data = dc_xmalloc(1);
    data[n] = '\0';
    *out = data;
    data = NULL;
    if (len != NULL)
        *len = n;
out:
    fclose(f);
    free(data);
    return rv;
}

int k8s_base64_decode(const char *in, size_t n, char **out, size_t *out_len)
{
    char *buf = dc_xmalloc(n / 4 * 3 + 4);
    size_t o = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        int v;
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        v = dc_base64_value(c, false);
        if (v < 0 || pad > 0)
            goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* 6 leftover bits can never be a valid encoding; 2 or 4 are the padded tail. */
    if (bits >= 6 || pad > 2)
        goto bad;
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return DC_OK;
bad:
    free(buf);
    return DC_EPARSE;
}

void k8s_free_secret(char *s)
{
    if (s == NULL)
        return;
    /* volatile so the wipe is not optimised away before free. */
    for (volatile char *p = s; *p != '\0'; p++)
        *p = '\0';
    free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* A minimal YAML node tree. */

enum ynode_kind { YN_SCALAR, YN_MAP, YN_SEQ };

struct ynode {
    enum ynode_kind kind;
    char *scalar;         /* YN_SCALAR */
    struct ynode **items; /* YN_MAP: key, value, key, value...; YN_SEQ: the entries */
    size_t n, cap;
};

struct ytree {
    yaml_parser_t parser;
    size_t nodes;
    struct dc_errbuf *eb;
};

static void ynode_free(struct ynode *y)
{
    if (y == NULL)
        return;
    for (size_t i = 0; i < y->n; i++)
        ynode_free(y->items[i]);
    free(y->items);
    free(y->scalar);
    free(y);
}

static void ynode_push(struct ynode *y, struct ynode *child)
{
    if (y->n == y->cap) {
        y->cap = y->cap == 0 ? 8 : y->cap * 2;
        y->items = dc_xrealloc(y->items, y->cap * sizeof(*y->items));
    }
    y->items[y->n++] = child;
}

static int ytree_next(struct ytree *t, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&t->parser, ev))
        return dc_err_set(t->eb, DC_EPARSE, "kubeconfig: line %zu: %s",
                          t->parser.problem_mark.line + 1,
                          t->parser.problem != NULL ? t->parser.problem : "syntax error");
    return DC_OK;
}

/* Build the node that starts with `ev` (consumed). */
static int ytree_node(struct ytree *t, yaml_event_t *ev, int depth, struct ynode **out)
{
    struct ynode *y;
    yaml_event_type_t end;
    int rv;

    *out = NULL;
    if (++t->nodes > DC_MAX_K8S_KUBECONFIG_NODES)
        return dc_err_set(t->eb, DC_ETOOBIG, "kubeconfig: more than %d nodes",
                          DC_MAX_K8S_KUBECONFIG_NODES);
    if (depth > DC_MAX_DOC_DEPTH)
        return dc_err_set(t->eb, DC_ETOOBIG, "kubeconfig: nested deeper than %d", DC_MAX_DOC_DEPTH);
    y = dc_xcalloc(1, sizeof(*y));
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        y->kind = YN_SCALAR;
        y->scalar = dc_xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        *out = y;
        return DC_OK;
    case YAML_MAPPING_START_EVENT:
        y->kind = YN_MAP;
        end = YAML_MAPPING_END_EVENT;
        break;
    case YAML_SEQUENCE_START_EVENT:
        y->kind = YN_SEQ;
        end = YAML_SEQUENCE_END_EVENT;
        break;
    case YAML_ALIAS_EVENT:
        free(y);
        return dc_err_set(t->eb, DC_EUNSUPPORTED, "kubeconfig: YAML aliases are not supported");
    default:
        free(y);
        return dc_err_set(t->eb, DC_EPARSE, "kubeconfig: unexpected YAML event");
    }
    for (;;) {
        yaml_event_t child_ev;
        struct ynode *child;
        rv = ytree_next(t, &child_ev);
        if (rv != DC_OK)
            goto fail;
        if (child_ev.type == end) {
            yaml_event_delete(&child_ev);
            break;
        }
        rv = ytree_node(t, &child_ev, depth + 1, &child);
        yaml_event_delete(&child_ev);
        if (rv != DC_OK)
            goto fail;
        ynode_push(y, child);
    }
    if (y->kind == YN_MAP && y->n % 2 != 0) {
        rv = dc_err_set(t->eb, DC_EPARSE, "kubeconfig: odd mapping");
        goto fail;
    }
    *out = y;
    return DC_OK;
fail:
    ynode_free(y);
    return rv;
}

/* Parse the first document of `text`. An empty stream gives an empty mapping. */
static int ytree_parse(const char *text, size_t len, struct ynode **out, struct dc_errbuf *eb)
{
    struct ytree t = {.eb = eb};
    yaml_event_t ev;
    int rv;

    *out = NULL;
    if (!yaml_parser_initialize(&t.parser))
        return dc_err_set(eb, DC_ENOMEM, "kubeconfig: yaml parser");
    yaml_parser_set_input_string(&t.parser, (const unsigned char *)text, len);
    for (;;) {
        rv = ytree_next(&t, &ev);
        if (rv != DC_OK)
            goto out;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            *out = dc_xcalloc(1, sizeof(**out));
            (*out)->kind = YN_MAP;
            goto out;
        }
        if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        rv = ytree_node(&t, &ev, 0, out);
        yaml_event_delete(&ev);
        goto out;
    }
out:
    yaml_parser_delete(&t.parser);
    return rv;
}

static const struct ynode *ymap_get(const struct ynode *y, const char *key)
{
    if (y == NULL || y->kind != YN_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < y->n; i += 2)
        if (y->items[i]->kind == YN_SCALAR && strcmp(y->items[i]->scalar, key) == 0)
            return y->items[i + 1];
    return NULL;
}

/* The scalar under `key`, NULL when absent, empty or YAML null. */
static const char *ymap_str(const struct ynode *y, const char *key)
{
    const struct ynode *v = ymap_get(y, key);

    if (v == NULL || v->kind != YN_SCALAR || v->scalar[0] == '\0' ||
        strcmp(v->scalar, "null") == 0 || strcmp(v->scalar, "~") == 0)
        return NULL;
    return v->scalar;
}

/* In the list `list_key` of named entries ({name: N, <field>: {...}}), the <field> of entry N. */
static const struct ynode *ynamed(const struct ynode *root, const char *list_key, const char *name,
                                  const char *field)
{
    const struct ynode *list = ymap_get(root, list_key);

    if (list == NULL || list->kind != YN_SEQ)
        return NULL;
    for (size_t i = 0; i < list->n; i++) {
        const char *n = ymap_str(list->items[i], "name");
        if (n != NULL && strcmp(n, name) == 0) {
            const struct ynode *v = ymap_get(list->items[i], field);
            return v != NULL && v->kind == YN_MAP ? v : NULL;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Kubeconfig */

static char *resolve_path(const char *base_dir, const char *path)
{
    struct dc_buf b = {0};

    if (path[0] == '/' || dc_str_empty(base_dir))
        return dc_xstrdup(path);
    if (dc_buf_appendf(&b, "%s/%s", base_dir, path) != DC_OK)
        return dc_xstrdup(path); /* unbounded buffer: cannot fail */
    return dc_buf_take(&b, NULL);
}

/* Credential from inline base64 `data` or else from file `file`; *out NULL when neither. */
static int load_cred(const char *what, const char *data, const char *file, const char *base_dir,
                     char **out, struct dc_errbuf *eb)
{
    size_t len;
    int rv;

    *out = NULL;
    if (data != NULL) {
        rv = k8s_base64_decode(data, strlen(data), out, &len);
        if (rv != DC_OK)
            return dc_err_set(eb, rv, "kubeconfig: %s-data: invalid base64", what);
        return DC_OK;
    }
    if (file != NULL) {
        char *p = resolve_path(base_dir, file);
        rv = k8s_read_file(p, DC_MAX_K8S_CRED_FILE, out, &len, eb);
        free(p);
        if (rv != DC_OK)
            dc_err_wrapf(eb, "kubeconfig: %s", what);
        return rv;
    }
    return DC_OK;
}

static int kc_cluster(struct dc_k8s_config *cfg, const struct ynode *cl, const char *base_dir,
                      struct dc_errbuf *eb)
{
    const char *server = ymap_str(cl, "server");
    const char *insecure = ymap_str(cl, "insecure-skip-tls-verify");
    size_t n;

    if (server == NULL)
        return dc_err_set(eb, DC_EPARSE, "kubeconfig: cluster has no server");
    cfg->server = dc_xstrdup(server);
    n = strlen(cfg->server);
    while (n > 0 && cfg->server[n - 1] == '/')
        cfg->server[--n] = '\0';
    if (insecure != NULL && dc_str_to_bool(insecure, &cfg->insecure) != DC_OK)
        return dc_err_set(eb, DC_EPARSE, "kubeconfig: insecure-skip-tls-verify: not a bool");
    return load_cred("certificate-authority", ymap_str(cl, "certificate-authority-data"),
                     ymap_str(cl, "certificate-authority"), base_dir, &cfg->ca_pem, eb);
}

static int kc_user(struct dc_k8s_config *cfg, const struct ynode *u, const char *base_dir,
                   struct dc_errbuf *eb)
{
    const char *token = ymap_str(u, "token");
    const char *token_file = ymap_str(u, "tokenFile");
    int rv;

    rv = load_cred("client-certificate", ymap_str(u, "client-certificate-data"),
                   ymap_str(u, "client-certificate"), base_dir, &cfg->cert_pem, eb);
    if (rv != DC_OK)
        return rv;
    rv = load_cred("client-key", ymap_str(u, "client-key-data"), ymap_str(u, "client-key"),
                   base_dir, &cfg->key_pem, eb);
    if (rv != DC_OK)
        return rv;
    if ((cfg->cert_pem == NULL) != (cfg->key_pem == NULL))
        return dc_err_set(eb, DC_EPARSE,
                          "kubeconfig: client certificate and key must be given together");
    if (token != NULL)
        cfg->token = dc_xstrdup(token);
    else if (token_file != NULL)
        cfg->token_file = resolve_path(base_dir, token_file);
    if (cfg->token == NULL && cfg->token_file == NULL && cfg->cert_pem == NULL &&
        (ymap_get(u, "exec") != NULL || ymap_get(u, "auth-provider") != NULL))
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "kubeconfig: exec and auth-provider credentials are not supported");
    return DC_OK;
}

static int kc_walk(struct dc_k8s_config *cfg, const struct ynode *root, const char *context,
                   const char *base_dir, struct dc_errbuf *eb)
{
    const struct ynode *ctx, *cl, *u;
    const char *ctx_name = context, *cl_name, *u_name, *ns;
    int rv;

    if (root->kind != YN_MAP)
        return dc_err_set(eb, DC_EPARSE, "kubeconfig: not a mapping");
    if (dc_str_empty(ctx_name))
        ctx_name = ymap_str(root, "current-context");
    if (ctx_name == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "kubeconfig: no current-context");
    ctx = ynamed(root, "contexts", ctx_name, "context");
    if (ctx == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "kubeconfig: context \"%s\" not found", ctx_name);
    cfg->context = dc_xstrdup(ctx_name);
    cl_name = ymap_str(ctx, "cluster");
    u_name = ymap_str(ctx, "user");
    ns = ymap_str(ctx, "namespace");
    cfg->namespace = dc_xstrdup(ns != NULL ? ns : "default");
    cl = cl_name != NULL ? ynamed(root, "clusters", cl_name, "cluster") : NULL;
    if (cl == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "kubeconfig: cluster \"%s\" not found",
                          cl_name != NULL ? cl_name : "");
    rv = kc_cluster(cfg, cl, base_dir, eb);
    if (rv != DC_OK || u_name == NULL)
        return rv; /* no user: anonymous */
    u = ynamed(root, "users", u_name, "user");
    if (u == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "kubeconfig: user \"%s\" not found", u_name);
    return kc_user(cfg, u, base_dir, eb);
}

int dc_k8s_config_from_kubeconfig_text(struct dc_k8s_config *cfg, const char *text, size_t len,
                                       const char *context, const char *base_dir,
                                       struct dc_errbuf *eb)
{
    struct ynode *root = NULL;
    int rv;

    memset(cfg, 0, sizeof(*cfg));
    if (len > DC_MAX_K8S_KUBECONFIG)
        return dc_err_set(eb, DC_ETOOBIG, "kubeconfig: larger than %u bytes",
                          DC_MAX_K8S_KUBECONFIG);
    rv = ytree_parse(text, len, &root, eb);
    if (rv == DC_OK)
        rv = kc_walk(cfg, root, context, base_dir, eb);
    ynode_free(root);
    if (rv != DC_OK)
        dc_k8s_config_cleanup(cfg);
    return rv;
}

int dc_k8s_config_from_kubeconfig(struct dc_k8s_config *cfg, const char *path, const char *context,
                                  struct dc_errbuf *eb)
{
    char *text = NULL, *dir;
    const char *slash;
    size_t len;
    int rv;

    memset(cfg, 0, sizeof(*cfg));
    rv = k8s_read_file(path, DC_MAX_K8S_KUBECONFIG, &text, &len, eb);
    if (rv != DC_OK)
        return rv;
    slash = strrchr(path, '/');
    dir = slash != NULL ? dc_xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    rv = dc_k8s_config_from_kubeconfig_text(cfg, text, len, context, dir, eb);
    if (rv != DC_OK)
        dc_err_wrapf(eb, "%s", path);
    free(dir);
    free(text);
    return rv;
}

/* ------------------------------------------------------------------------------------------ */
/* In-cluster */

int dc_k8s_config_in_cluster(struct dc_k8s_config *cfg, const char *sa_dir, struct dc_errbuf *eb)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    struct dc_buf b = {0};
    char *ns = NULL;
    int rv;

    memset(cfg, 0, sizeof(*cfg));
    if (dc_str_empty(host) || dc_str_empty(port))
        return dc_err_set(eb, DC_ENOTFOUND, "not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset");
    if (sa_dir == NULL)
        sa_dir = DC_K8S_SA_DIR;
    /* An IPv6 literal needs brackets in a URL. */
    if (strchr(host, ':') != NULL)
        rv = dc_buf_appendf(&b, "https://[%s]:%s", host, port);
    else
        rv = dc_buf_appendf(&b, "https://%s:%s", host, port);
    if (rv != DC_OK)
        goto fail;
    cfg->server = dc_buf_take(&b, NULL);
    rv = dc_buf_appendf(&b, "%s/token", sa_dir);
    if (rv != DC_OK)
        goto fail;
    cfg->token_file = dc_buf_take(&b, NULL);
    if (access(cfg->token_file, R_OK) != 0) {
        rv = dc_err_set(eb, DC_EIO, "%s: %s", cfg->token_file, strerror(errno));
        goto fail;
    }
    rv = dc_buf_appendf(&b, "%s/ca.crt", sa_dir);
    if (rv == DC_OK)
        rv = k8s_read_file(dc_buf_cstr(&b), DC_MAX_K8S_CRED_FILE, &cfg->ca_pem, NULL, eb);
    dc_buf_cleanup(&b);
    if (rv != DC_OK)
        goto fail;
    rv = dc_buf_appendf(&b, "%s/namespace", sa_dir);
    if (rv == DC_OK && k8s_read_file(dc_buf_cstr(&b), 253 + 2, &ns, NULL, NULL) == DC_OK) {
        size_t n = strlen(ns);
        while (n > 0 && (ns[n - 1] == '\n' || ns[n - 1] == ' ' || ns[n - 1] == '\r'))
            ns[--n] = '\0';
    }
    dc_buf_cleanup(&b);
    cfg->namespace = !dc_str_empty(ns) ? ns : dc_xstrdup("default");
    if (cfg->namespace != ns)
        free(ns);
    return DC_OK;
fail:
    dc_buf_cleanup(&b);
    dc_k8s_config_cleanup(cfg);
    return rv;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int dc_k8s_config_load(struct dc_k8s_config *cfg, const char *kubeconfig, const char *context,
                       struct dc_errbuf *eb)
{
    const char *env = getenv("KUBECONFIG");
    const char *home = getenv("HOME");
    struct dc_buf b = {0};
    int rv;

    if (!dc_str_empty(kubeconfig))
        return dc_k8s_config_from_kubeconfig(cfg, kubeconfig, context, eb);
    if (!dc_str_empty(env)) {
        const char *p = env;
        while (*p != '\0') {
            const char *end = strchr(p, ':');
            size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
            char *one = dc_xstrndup(p, n);
            if (n > 0 && file_exists(one)) {
                rv = dc_k8s_config_from_kubeconfig(cfg, one, context, eb);
                free(one);
                return rv;
            }
            free(one);
            p += n;
            if (*p == ':')
                p++;
        }
    }
    rv = dc_k8s_config_in_cluster(cfg, NULL, eb);
    if (rv != DC_ENOTFOUND)
        return rv;
    if (!dc_str_empty(home) && dc_buf_appendf(&b, "%s/.kube/config", home) == DC_OK &&
        file_exists(dc_buf_cstr(&b))) {
        rv = dc_k8s_config_from_kubeconfig(cfg, dc_buf_cstr(&b), context, eb);
        dc_buf_cleanup(&b);
        return rv;
    }
    dc_buf_cleanup(&b);
    return dc_err_set(eb, DC_ENOTFOUND,
                      "no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not "
                      "in a cluster");
}

void dc_k8s_config_cleanup(struct dc_k8s_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->server);
    free(cfg->namespace);
    free(cfg->ca_pem);
    free(cfg->cert_pem);
    k8s_free_secret(cfg->key_pem);
    k8s_free_secret(cfg->token);
    free(cfg->token_file);
    free(cfg->context);
    memset(cfg, 0, sizeof(*cfg));
}
