/* Bindings over HTTP (sidecar-api.md §7): the output-binding endpoint and the input-binding
 * runner that delivers events to the app. The contract is in bindings.h. */
#include "bindings.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "dc/json.h"
#include "dc/limits.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "app_channel.h"
#include "http_api.h"
#include "resiliency.h"
#include "runtime.h"

#define METADATA_PREFIX "metadata."
#define ERR_INVOKE "ERR_INVOKE_OUTPUT_BINDING"

void sdc_binding_resp_cleanup(struct sdc_binding_resp *r)
{
    dc_buf_cleanup(&r->data);
    sdc_md_cleanup(&r->metadata);
    r->has_data = false;
}

/* ---- direction and route (§7.2, §22.1) ----------------------------------------------------- */

static const struct sdc_binding_ops *ops_of(const struct sdc_component *sc)
{
    if (sc == NULL || sc->type == NULL || sc->type->category != SDC_CAT_BINDINGS)
        return NULL;
    return (const struct sdc_binding_ops *)sc->type->ops;
}

/* Does the comma list `dir` name `what` (trimmed, case-insensitive)? */
static bool direction_has(const char *dir, const char *what)
{
    size_t wl = strlen(what);
    const char *p = dir;

    while (*p != '\0') {
        const char *e = strchr(p, ',');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (n > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == wl && strncasecmp(s, what, n) == 0)
            return true;
        if (e == NULL)
            break;
        p = e + 1;
    }
    return false;
}

bool sdc_binding_is_input(const struct sdc_component *sc, bool *explicit_input)
{
    const struct sdc_binding_ops *ops = ops_of(sc);
    const char *dir;
    bool named;

    if (explicit_input != NULL)
        *explicit_input = false;
    if (ops == NULL || ops->read == NULL)
        return false;
    dir = sdc_md_get(&sc->md, "direction");
    named = !dc_str_empty(dir) && direction_has(dir, "input");
    if (explicit_input != NULL)
        *explicit_input = named;
    return dc_str_empty(dir) || named;
}

bool sdc_binding_is_output(const struct sdc_component *sc)
{
    const struct sdc_binding_ops *ops = ops_of(sc);
    const char *dir;

    if (ops == NULL || ops->invoke == NULL)
        return false;
    dir = sdc_md_get(&sc->md, "direction");
    return dc_str_empty(dir) || direction_has(dir, "output");
}

const char *sdc_binding_route(const struct sdc_component *sc)
{
    const char *r = sdc_md_get(&sc->md, "route");

    while (r != NULL && *r == '/')
        r++; /* the app path is "/" + route */
    return dc_str_empty(r) ? sc->def->meta.name : r;
}

/* ---- Go-compatible JSON re-encoding ---------------------------------------------------------- */

int sdc_binding_json_string(struct dc_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    int rv = dc_buf_appendc(b, '"');

    for (; rv == DC_OK && *p != '\0'; p++) {
        unsigned char c = *p;
        char esc[7] = {'\\', 'u', '0', '0', 0, 0, 0};

        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            rv = dc_buf_append(b, esc, 2);
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            rv = dc_buf_append(b, esc, 2);
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            rv = dc_buf_append(b, esc, 6);
        } else if (c == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
            rv = dc_buf_appends(b, p[2] == 0xa8 ? "\\u2028" : "\\u2029");
            p += 2;
        } else {
            rv = dc_buf_appendc(b, (char)c);
        }
    }
    return rv == DC_OK ? dc_buf_appendc(b, '"') : rv;
}

/* strconv.FormatFloat(f, 'f' or 'e', -1, 64) as encoding/json picks it. */
static int put_go_number(struct dc_buf *b, double f)
{
    char e[40], digits[24], out[400];
    int p, exp, nd = 0;
    size_t o = 0;
    double a = fabs(f);

    if (!isfinite(f))
        return DC_ERANGE;
    if (f == 0)
        return dc_buf_appends(b, signbit(f) ? "-0" : "0");
    for (p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, f);
        if (strtod(e, NULL) == f)
            break;
    }
    /* e = [-]d[.ddd]e±XX: collect the digits and the exponent. */
    for (const char *q = e; *q != 'e'; q++)
        if (*q >= '0' && *q <= '9')
            digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    exp = (int)strtol(strchr(e, 'e') + 1, NULL, 10);
    if (f < 0)
        out[o++] = '-';
    if (a < 1e-6 || a >= 1e21) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)nd - 1);
            o += (size_t)nd - 1;
        }
        /* Go writes at least two exponent digits; encoding/json then turns e-07 into e-7. */
        if (exp < 0)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "e-%d", -exp);
        else
            o += (size_t)snprintf(out + o, sizeof(out) - o, "e+%02d", exp);
    } else if (exp < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp - 1; i++)
            out[o++] = '0';
        memcpy(out + o, digits, (size_t)nd);
        o += (size_t)nd;
    } else {
        for (int i = 0; i <= exp; i++)
            out[o++] = i < nd ? digits[i] : '0';
        if (nd > exp + 1) {
            out[o++] = '.';
            memcpy(out + o, digits + exp + 1, (size_t)(nd - exp - 1));
            o += (size_t)(nd - exp - 1);
        }
    }
    return dc_buf_append(b, out, o);
}

struct kid {
    const cJSON *n;
    size_t pos;
};

static int cmp_key(const void *a, const void *b)
{
    const struct kid *x = a, *y = b;
    int c = strcmp(x->n->string, y->n->string);

    /* Equal keys keep their document order (qsort is not stable). */
    if (c == 0)
        return x->pos < y->pos ? -1 : x->pos > y->pos;
    return c;
}

int sdc_binding_json_marshal(const struct cJSON *v, struct dc_buf *out)
{
    int rv = DC_OK;

    if (cJSON_IsNull(v))
        return dc_buf_appends(out, "null");
    if (cJSON_IsTrue(v))
        return dc_buf_appends(out, "true");
    if (cJSON_IsFalse(v))
        return dc_buf_appends(out, "false");
    if (cJSON_IsNumber(v))
        return put_go_number(out, v->valuedouble);
    if (cJSON_IsString(v))
        return sdc_binding_json_string(out, v->valuestring);
    if (cJSON_IsArray(v)) {
        rv = dc_buf_appendc(out, '[');
        for (const cJSON *c = v->child; c != NULL && rv == DC_OK; c = c->next) {
            if (c != v->child)
                rv = dc_buf_appendc(out, ',');
            if (rv == DC_OK)
                rv = sdc_binding_json_marshal(c, out);
        }
        return rv == DC_OK ? dc_buf_appendc(out, ']') : rv;
    }
    if (cJSON_IsObject(v)) {
        size_t n = 0, k = 0;
        struct kid *kids;

        for (const cJSON *c = v->child; c != NULL; c = c->next)
            n++;
        kids = dc_xcalloc(n + 1, sizeof(*kids));
        for (const cJSON *c = v->child; c != NULL; c = c->next, k++) {
            kids[k].n = c;
            kids[k].pos = k;
        }
        qsort(kids, n, sizeof(*kids), cmp_key);
        rv = dc_buf_appendc(out, '{');
        for (size_t i = 0, w = 0; i < n && rv == DC_OK; i++) {
            /* A Go map keeps the last of duplicate keys. */
            if (i + 1 < n && strcmp(kids[i].n->string, kids[i + 1].n->string) == 0)
                continue;
            if (w++ > 0)
                rv = dc_buf_appendc(out, ',');
            if (rv == DC_OK)
                rv = sdc_binding_json_string(out, kids[i].n->string);
            if (rv == DC_OK)
                rv = dc_buf_appendc(out, ':');
            if (rv == DC_OK)
                rv = sdc_binding_json_marshal(kids[i].n, out);
        }
        free(kids);
        return rv == DC_OK ? dc_buf_appendc(out, '}') : rv;
    }
    return DC_EINVAL;
}

/* ---- output bindings: POST/PUT /v1.0/bindings/{name} (§7.1) ------------------------------- */

/* Arena-backed request metadata with Go map semantics (exact names, last value wins). */
static void md_put(struct dc_arena *a, struct sdc_md *md, size_t *cap, const char *name,
                   const char *value)
{
    for (size_t i = 0; i < md->n; i++) {
        if (strcmp(md->names[i], name) == 0) {
            md->values[i] = (char *)value;
            return;
        }
    }
    if (md->n == *cap) {
        size_t nc = *cap == 0 ? 8 : *cap * 2;
        char **nn = dc_arena_alloc(a, nc * sizeof(char *));
        char **nv = dc_arena_alloc(a, nc * sizeof(char *));
        if (md->n > 0) {
            memcpy(nn, md->names, md->n * sizeof(char *));
            memcpy(nv, md->values, md->n * sizeof(char *));
        }
        md->names = nn;
        md->values = nv;
        *cap = nc;
    }
    md->names[md->n] = (char *)name;
    md->values[md->n] = (char *)value;
    md->n++;
}

static void respond_metadata_headers(struct dc_http_response *resp, const struct sdc_md *md)
{
    for (size_t i = 0; i < md->n; i++) {
        char *h = dc_arena_sprintf(resp->arena, METADATA_PREFIX "%s", md->names[i]);
        /* Header values cannot carry line breaks; drop such entries rather than split them. */
        if (strpbrk(md->values[i], "\r\n") != NULL || strpbrk(md->names[i], "\r\n: ") != NULL)
            continue;
        dc_http_response_header(resp, h, md->values[i]);
    }
}

struct out_call {
    const struct sdc_binding_ops *ops;
    void *self;
    const struct sdc_binding_req *req;
    struct sdc_binding_resp *resp;
};

static int out_attempt(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    struct out_call *c = ud;

    (void)deadline_ns;
    *status = -1;
    sdc_binding_resp_cleanup(c->resp);
    dc_buf_init(&c->resp->data, DC_BND_MAX_RESPONSE);
    return c->ops->invoke(c->self, c->req, c->resp, eb);
}

static bool op_supported(const struct sdc_binding_ops *ops, const char *op)
{
    for (const char *const *p = ops->operations; p != NULL && *p != NULL; p++)
        if (strcmp(*p, op) == 0)
            return true;
    return false;
}

static void invoke_error(struct dc_http_response *resp, const char *name, const char *msg)
{
    char *m = dc_arena_sprintf(resp->arena, "error invoking output binding %s: %s", name, msg);

    dc_http_response_error(resp, 500, ERR_INVOKE, m);
}

/* Parse the body into operation, re-encoded data and metadata; false when it answered 400. */
static bool parse_request(struct dc_http_request *req, struct dc_http_response *resp,
                          const char **op, struct dc_buf *data, struct sdc_md *md, size_t *mdcap)
{
    struct dc_errbuf eb = {0};
    cJSON *root = NULL;
    const cJSON *m = NULL, *d;
    const char *o = NULL;
    int rv;

    rv = dc_json_parse(req->body, req->body_len, DC_MAX_JSON_BODY, &root, &eb);
    if (rv == DC_OK && !cJSON_IsObject(root))
        rv = dc_err_set(&eb, DC_EINVAL,
                        "json: cannot unmarshal %s into Go value of type "
                        "http.OutputBindingRequest",
                        cJSON_IsArray(root)    ? "array"
                        : cJSON_IsString(root) ? "string"
                        : cJSON_IsNumber(root) ? "number"
                                               : "value");
    if (rv == DC_OK)
        rv = dc_json_get_string(root, "operation", false, &o, &eb);
    if (rv == DC_OK)
        rv = dc_json_get_object(root, "metadata", false, &m, &eb);
    for (const cJSON *c = m != NULL ? m->child : NULL; rv == DC_OK && c != NULL; c = c->next) {
        if (!cJSON_IsString(c) && !cJSON_IsNull(c)) {
            rv = dc_err_set(&eb, DC_EINVAL,
                            "json: cannot unmarshal into Go struct field "
                            "OutputBindingRequest.metadata of type string");
            break;
        }
        md_put(req->arena, md, mdcap, dc_arena_strdup(req->arena, c->string),
               dc_arena_strdup(req->arena, cJSON_IsString(c) ? c->valuestring : ""));
    }
    if (rv == DC_OK) {
        d = cJSON_GetObjectItemCaseSensitive(root, "data");
        rv = d == NULL ? dc_buf_appends(data, "null") : sdc_binding_json_marshal(d, data);
        if (rv == DC_ERANGE)
            dc_err_set(&eb, rv, "json: cannot unmarshal number into Go value of type float64");
        else if (rv != DC_OK)
            dc_err_set(&eb, rv, "request data too large");
    }
    if (rv != DC_OK) {
        char *msg = dc_arena_sprintf(req->arena, "failed deserializing HTTP body: %s", eb.msg);
        dc_http_response_error(resp, 400, "ERR_MALFORMED_REQUEST", msg);
        cJSON_Delete(root);
        return false;
    }
    *op = o != NULL ? dc_arena_strdup(req->arena, o) : "";
    cJSON_Delete(root);
    return true;
}

static void on_output(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *name = dc_http_request_param(req, "name");
    struct sdc_binding_resp out = {0};
    struct sdc_binding_req breq;
    struct sdc_component *sc;
    const struct sdc_binding_ops *ops;
    const struct dc_http_query_pair *qp;
    struct dc_errbuf eb = {0};
    struct dc_buf data;
    struct sdc_md md = {0};
    size_t mdcap = 0, it = 0;
    const char *op = NULL, *tp;
    int rv;

    if (name == NULL)
        name = "";
    dc_buf_init(&data, DC_MAX_JSON_BODY);
    if (!parse_request(req, resp, &op, &data, &md, &mdcap))
        goto out;
    /* metadata.* query parameters are merged in and win (§1.4). */
    while (dc_http_request_query_next(req, &it, &qp)) {
        if (!dc_str_has_prefix(qp->name, METADATA_PREFIX) || qp->name[9] == '\0')
            continue;
        /* A decoded %00 would silently cut the value short (file names!): refuse it. */
        if (strlen(qp->value) != qp->value_len || strlen(qp->name) < 9) {
            dc_http_response_error(
                resp, 400, "ERR_MALFORMED_REQUEST",
                dc_arena_sprintf(req->arena, "query parameter %s contains a NUL byte", qp->name));
            goto out;
        }
        md_put(req->arena, &md, &mdcap, qp->name + 9, qp->value);
    }
    /* The trace context of this request travels in the metadata (§7.1). */
    tp = dc_http_response_header_get(resp, "traceparent");
    if (tp != NULL)
        md_put(req->arena, &md, &mdcap, "traceparent", tp);
    if (dc_http_request_header(req, "tracestate") != NULL)
        md_put(req->arena, &md, &mdcap, "tracestate", dc_http_request_header(req, "tracestate"));
    if (dc_http_request_header(req, "baggage") != NULL)
        md_put(req->arena, &md, &mdcap, "baggage", dc_http_request_header(req, "baggage"));

    if (op[0] == '\0') {
        invoke_error(resp, name, "operation field is missing from request");
        goto out;
    }
    sc = sdc_components_find(&rt->comps, SDC_CAT_BINDINGS, name);
    ops = ops_of(sc);
    if (ops == NULL || !sdc_binding_is_output(sc)) {
        invoke_error(resp, name,
                     dc_arena_sprintf(req->arena, "couldn't find output binding %s", name));
        goto out;
    }
    if (!op_supported(ops, op)) {
        struct dc_buf l = {0};
        for (const char *const *p = ops->operations; *p != NULL; p++)
            if ((p != ops->operations && dc_buf_appendc(&l, ' ') != DC_OK) ||
                dc_buf_appends(&l, *p) != DC_OK)
                break;
        invoke_error(resp, name,
                     dc_arena_sprintf(req->arena,
                                      "binding %s does not support operation %s. supported "
                                      "operations:%s",
                                      name, op, dc_buf_cstr(&l)));
        dc_buf_cleanup(&l);
        goto out;
    }
    breq.operation = op;
    breq.data = data.data != NULL ? data.data : "null";
    breq.data_len = data.len;
    breq.metadata = &md;
    {
        struct out_call c = {ops, sc->self, &breq, &out};
        const struct sdc_res_policy *p =
            sdc_resiliency_policy(rt->resiliency, SDC_RES_COMPONENT_OUT, name, SDC_CAT_BINDINGS);
        int64_t t0 = dc_mono_ns();
        rv = sdc_resiliency_run(p, name, out_attempt, &c, NULL, &eb);
        sdc_comp_metric(rt, SDC_CM_OUTPUT_BINDING, name, op, rv == DC_OK, t0);
    }
    respond_metadata_headers(resp, &out.metadata);
    if (rv != DC_OK) {
        invoke_error(resp, name, eb.msg[0] != '\0' ? eb.msg : dc_strerror(rv));
        goto out;
    }
    if (!out.has_data) {
        resp->status = 204;
        goto out;
    }
    /* The component's bytes, always labelled JSON (§7.1). */
    resp->status = 200;
    dc_http_response_header_set(resp, "Content-Type", "application/json");
    dc_buf_cleanup(&resp->body);
    resp->body = out.data;
    memset(&out.data, 0, sizeof(out.data));
out:
    sdc_binding_resp_cleanup(&out);
    dc_buf_cleanup(&data);
}

void sdc_bindings_api_routes(struct dc_http_router *r, struct sdc_runtime *rt)
{
    sdc_http_api_add(r, rt, "POST", "/v1.0/bindings/{name}", on_output);
    sdc_http_api_add(r, rt, "PUT", "/v1.0/bindings/{name}", on_output);
}

/* ---- input bindings (§7.2) ---------------------------------------------------------------- */

struct in_binding {
    struct sdc_bindings *owner;
    struct sdc_component *sc;
    const struct sdc_binding_ops *ops;
    char *path; /* "/" + route */
    const struct sdc_res_policy *policy;
    bool started;
};

struct sdc_bindings {
    struct sdc_runtime *rt;
    struct in_binding *v;
    size_t n;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping; /* under mu */
};

struct deliver {
    struct in_binding *ib;
    const struct sdc_binding_event *ev;
    const char *const *headers;
    struct dc_buf *reply;
};

static int deliver_attempt(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    struct deliver *d = ud;
    struct sdc_app_call call = {0};
    struct dc_http_result res = {0};
    struct dc_arena a;
    int rv;

    *status = -1;
    if (!sdc_app_channel_healthy(d->ib->owner->rt->app))
        return dc_err_set(eb, DC_EUNAVAIL, "app is not in a healthy state");
    dc_arena_init(&a);
    call.method = "POST";
    call.path = d->ib->path;
    call.headers = d->headers;
    call.body = d->ev->data;
    call.body_len = d->ev->data_len;
    call.deadline_ns = deadline_ns;
    rv = sdc_app_channel_call(d->ib->owner->rt->app, &call, &a, &res, eb);
    if (rv == DC_OK) {
        *status = (int)res.status;
        if (d->reply != NULL) {
            dc_buf_reset(d->reply);
            if (dc_buf_append(d->reply, res.body.data != NULL ? res.body.data : "", res.body.len) !=
                DC_OK)
                dc_buf_reset(d->reply);
        }
        if (res.status != 200)
            rv = dc_err_set(eb, DC_EIO,
                            "fails to send binding event to http app channel, status code: %ld "
                            "body: %.*s",
                            res.status, (int)(res.body.len > 120 ? 120 : res.body.len),
                            res.body.data != NULL ? res.body.data : "");
    }
    dc_http_result_cleanup(&res);
    dc_arena_cleanup(&a);
    return rv;
}

/* The handler given to every input binding's `read`. */
static int deliver(void *ud, const struct sdc_binding_event *ev, struct dc_buf *reply,
                   struct dc_errbuf *eb)
{
    struct in_binding *ib = ud;
    size_t n = ev->metadata != NULL ? ev->metadata->n : 0, k = 0;
    const char **headers = dc_xcalloc(n + 2, sizeof(*headers));
    struct deliver d = {ib, ev, headers, reply};
    int64_t t0 = dc_mono_ns();
    int rv, status = -1;

    headers[k++] = "Content-Type: application/json";
    for (size_t i = 0; i < n; i++) {
        const char *name = ev->metadata->names[i], *val = ev->metadata->values[i];
        size_t len = strlen(name) + strlen(val) + 3;
        char *h;
        /* Header names and values cannot carry line breaks or colons in names. */
        if (name[0] == '\0' || strpbrk(name, "\r\n: \t") != NULL || strpbrk(val, "\r\n") != NULL)
            continue;
        h = dc_xmalloc(len);
        snprintf(h, len, "%s: %s", name, val);
        headers[k++] = h;
    }
    rv = sdc_resiliency_run(ib->policy, ib->sc->def->meta.name, deliver_attempt, &d, &status, eb);
    if (rv == DC_OK && status != 200)
        rv = DC_EIO;
    sdc_comp_metric(ib->owner->rt, SDC_CM_INPUT_BINDING, ib->sc->def->meta.name, NULL, rv == DC_OK,
                    t0);
    for (size_t i = 1; i < k; i++)
        free((char *)headers[i]);
    free(headers);
    return rv;
}

/* OPTIONS /<route>: 2xx or 405 means the app listens (§7.2). */
static bool probe(struct sdc_bindings *b, struct in_binding *ib)
{
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    struct sdc_app_call call = {0};
    struct dc_http_result res = {0};
    struct dc_errbuf eb = {0};
    struct dc_arena a;
    int64_t to = b->rt->cfg->app_binding_options_timeout_ns;
    bool ok = false;
    int rv;

    dc_arena_init(&a);
    call.method = "OPTIONS";
    call.path = ib->path;
    call.headers = hdrs;
    call.deadline_ns = dc_mono_ns() + (to > 0 ? to : 3 * DC_NS_PER_SEC);
    rv = sdc_app_channel_call(b->rt->app, &call, &a, &res, &eb);
    if (rv == DC_OK)
        ok = (res.status >= 200 && res.status < 300) || res.status == 405;
    else
        DC_LOG(DC_LOG_WARN, "binding %s: OPTIONS %s failed: %s", ib->sc->def->meta.name, ib->path,
               eb.msg);
    dc_http_result_cleanup(&res);
    dc_arena_cleanup(&a);
    return ok;
}

/* Wait until the app channel is up (or we are stopping); true when it is. */
static bool wait_app(struct sdc_bindings *b)
{
    pthread_mutex_lock(&b->mu);
    while (!b->stopping) {
        struct timespec ts;
        if (atomic_load(&b->rt->ready) && sdc_app_channel_healthy(b->rt->app))
            break;
        ts = dc_timespec_in(CLOCK_REALTIME, 50 * 1000000LL);
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    }
    bool go = !b->stopping;
    pthread_mutex_unlock(&b->mu);
    return go;
}

static void *runner(void *arg)
{
    struct sdc_bindings *b = arg;

    if (!wait_app(b))
        return NULL;
    for (size_t i = 0; i < b->n; i++) {
        struct in_binding *ib = &b->v[i];
        struct dc_errbuf eb = {0};
        bool explicit_input = false;

        (void)sdc_binding_is_input(ib->sc, &explicit_input);
        if (!explicit_input && !probe(b, ib)) {
            DC_LOG(DC_LOG_INFO, "app has not subscribed to binding %s.", ib->sc->def->meta.name);
            continue;
        }
        pthread_mutex_lock(&b->mu);
        if (b->stopping) {
            pthread_mutex_unlock(&b->mu);
            break;
        }
        /* Started under the lock so that sdc_bindings_free sees a consistent `started`. */
        if (ib->ops->read(ib->sc->self, deliver, ib, &eb) == DC_OK) {
            ib->started = true;
            DC_LOG(DC_LOG_INFO, "input binding %s started (route %s)", ib->sc->def->meta.name,
                   ib->path);
        } else {
            DC_LOG(DC_LOG_ERROR, "input binding %s failed to start: %s", ib->sc->def->meta.name,
                   eb.msg);
        }
        pthread_mutex_unlock(&b->mu);
    }
    return NULL;
}

int sdc_bindings_start(struct sdc_bindings **out, struct sdc_runtime *rt, struct dc_errbuf *eb)
{
    struct sdc_bindings *b = dc_xcalloc(1, sizeof(*b));
    size_t n = 0;

    b->rt = rt;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    for (size_t i = 0; i < rt->comps.n; i++)
        if (rt->comps.v[i].ok && sdc_binding_is_input(&rt->comps.v[i], NULL))
            n++;
    b->v = dc_xcalloc(n + 1, sizeof(*b->v));
    for (size_t i = 0; i < rt->comps.n; i++) {
        struct sdc_component *sc = &rt->comps.v[i];
        struct in_binding *ib;
        if (!sc->ok || !sdc_binding_is_input(sc, NULL))
            continue;
        ib = &b->v[b->n++];
        ib->owner = b;
        ib->sc = sc;
        ib->ops = ops_of(sc);
        ib->path = dc_xmalloc(strlen(sdc_binding_route(sc)) + 2);
        ib->path[0] = '/';
        memcpy(ib->path + 1, sdc_binding_route(sc), strlen(sdc_binding_route(sc)) + 1);
        ib->policy = sdc_resiliency_policy(rt->resiliency, SDC_RES_COMPONENT_IN, sc->def->meta.name,
                                           SDC_CAT_BINDINGS);
    }
    if (b->n > 0 && rt->app == NULL)
        DC_LOG(DC_LOG_INFO, "no app channel: %zu input binding(s) not started", b->n);
    if (b->n > 0 && rt->app != NULL) {
        if (pthread_create(&b->thread, NULL, runner, b) != 0) {
            sdc_bindings_free(b);
            return dc_err_set(eb, DC_EIO, "bindings: cannot start the input-binding thread");
        }
        b->thread_started = true;
    }
    *out = b;
    return DC_OK;
}

void sdc_bindings_free(struct sdc_bindings *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->mu);
    b->stopping = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (b->thread_started)
        pthread_join(b->thread, NULL);
    for (size_t i = 0; i < b->n; i++) {
        if (b->v[i].started && b->v[i].ops->stop != NULL)
            b->v[i].ops->stop(b->v[i].sc->self);
        free(b->v[i].path);
    }
    free(b->v);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}
