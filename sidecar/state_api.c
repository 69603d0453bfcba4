/* The state building block over HTTP (sidecar-api.md §5). */
#include "state_api.h"

#include "http_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "dc/json.h"
#include "dc/limits.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "pubsub_json.h"
#include "state_store.h"

#define SEP "||"
#define METADATA_PREFIX "metadata."

/* ---- small output helpers ---------------------------------------------------------------- */

/* Response bodies have no size limit (dc_http_response_init), so appends fail only on OOM,
 * which the dc_x* policy treats as fatal. */
static void put(struct dc_buf *b, const char *s)
{
    DC_ASSERT(dc_buf_appends(b, s) == DC_OK);
}

static void put_n(struct dc_buf *b, const void *p, size_t n)
{
    DC_ASSERT(dc_buf_append(b, p, n) == DC_OK);
}

static void put_str(struct dc_buf *b, const char *s)
{
    DC_ASSERT(dc_json_append_string(b, s, strlen(s)) == DC_OK);
}

static void put_kv(struct dc_buf *b, const char *k, const char *v, bool comma)
{
    DC_ASSERT(dc_json_append_kv_string(b, k, v, comma) == DC_OK);
}

/* ---- errors (§1.6, §1.7) ----------------------------------------------------------------- */

/* A dapr/kit error. Details are written in the order upstream's builder adds them
 * (BadRequest or Help, then ResourceInfo, then ErrorInfo); keys inside each object are
 * sorted, as Go's encoder writes maps. */
struct kit_err {
    int status;
    const char *code;   /* errorCode (the legacy tag) */
    const char *reason; /* ErrorInfo.reason */
    const char *store;  /* ResourceInfo{state, store}; NULL: none */
    const char *field;  /* BadRequest field violation (the key); NULL: none */
    bool help;          /* Help link to the supported state stores */
    const char *md_name[2];
    const char *md_value[2];
    size_t nmd;
};

static void kit_error(struct dc_http_response *resp, const struct kit_err *k, const char *msg)
{
    struct dc_buf *b = &resp->body;

    dc_buf_reset(b);
    put(b, "{\"details\":[");
    if (k->field != NULL) {
        put(b, "{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\",\"field_violations\":"
               "[{\"description\":");
        put_str(b, msg);
        put(b, ",\"field\":");
        put_str(b, k->field);
        put(b, "}]},");
    }
    if (k->help) {
        put(b, "{\"@type\":\"type.googleapis.com/google.rpc.Help\",\"links\":[{\"description\":"
               "\"Check the list of state stores and the features they support\",\"url\":"
               "\"https://docs.dapr.io/reference/components-reference/supported-state-stores/"
               "\"}]},");
    }
    if (k->store != NULL) {
        put(b, "{\"@type\":\"type.googleapis.com/google.rpc.ResourceInfo\",\"description\":\"\","
               "\"owner\":\"\",\"resource_name\":");
        put_str(b, k->store);
        put(b, ",\"resource_type\":\"state\"},");
    }
    put(b, "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"domain\":\"dapr.io\","
           "\"metadata\":");
    if (k->nmd == 0) {
        put(b, "null");
    } else {
        put(b, "{");
        for (size_t i = 0; i < k->nmd; i++)
            put_kv(b, k->md_name[i], k->md_value[i], i > 0);
        put(b, "}");
    }
    put(b, ",\"reason\":");
    put_str(b, k->reason);
    put(b, "}],\"errorCode\":");
    put_str(b, k->code);
    put(b, ",\"message\":");
    put_str(b, msg);
    put(b, "}");
    resp->status = k->status;
    dc_http_response_header_set(resp, "Content-Type", "application/json");
}

static void err_not_configured(struct dc_http_response *resp, const struct sdc_runtime *rt,
                               const char *store)
{
    struct kit_err k = {.status = 500,
                        .code = "ERR_STATE_STORE_NOT_CONFIGURED",
                        .reason = "DAPR_STATE_NOT_CONFIGURED",
                        .md_name = {"appID"},
                        .md_value = {rt->cfg->app_id},
                        .nmd = 1};
    char msg[DC_ERRBUF_LEN];

    snprintf(msg, sizeof(msg), "state store %s is not configured", store);
    kit_error(resp, &k, msg);
}

static void err_not_found(struct dc_http_response *resp, const struct sdc_runtime *rt,
                          const char *store)
{
    struct kit_err k = {.status = 400,
                        .code = "ERR_STATE_STORE_NOT_FOUND",
                        .reason = "DAPR_STATE_NOT_FOUND",
                        .md_name = {"appID"},
                        .md_value = {rt->cfg->app_id},
                        .nmd = 1};
    char msg[DC_ERRBUF_LEN];

    snprintf(msg, sizeof(msg), "state store %s is not found", store);
    kit_error(resp, &k, msg);
}

static void err_illegal_key(struct dc_http_response *resp, const char *store, const char *key,
                            const char *msg)
{
    struct kit_err k = {.status = 400,
                        .code = "ERR_MALFORMED_REQUEST",
                        .reason = "DAPR_STATE_ILLEGAL_KEY",
                        .store = store,
                        .field = key};

    kit_error(resp, &k, msg);
}

static void err_malformed(struct dc_http_response *resp, const char *msg)
{
    dc_http_response_error(resp, 400, "ERR_MALFORMED_REQUEST", msg);
}

/* "failed deserializing HTTP body: <why>" (messages.ErrMalformedRequest). */
static void err_deserialize(struct dc_http_response *resp, const char *why)
{
    char msg[DC_ERRBUF_LEN + 64];

    snprintf(msg, sizeof(msg), "failed deserializing HTTP body: %s", why);
    err_malformed(resp, msg);
}

/* ---- key prefixing (§5.2) ---------------------------------------------------------------- */

int sdc_state_check_component(const struct sdc_md *md, struct dc_errbuf *eb)
{
    const char *p = sdc_md_get(md, "keyPrefix");

    if (p != NULL && strstr(p, SEP) != NULL)
        return dc_err_set(eb, DC_EINVAL, "input key/keyPrefix '%s' can't contain '%s'", p, SEP);
    return DC_OK;
}

/* "<prefix>||<key>" in `a` (the hot case: no format parsing per request). */
static const char *join_key(struct dc_arena *a, const char *prefix, const char *key, size_t len)
{
    size_t pn = strlen(prefix);
    char *s = dc_arena_alloc(a, pn + 2 + len + 1);

    memcpy(s, prefix, pn);
    memcpy(s + pn, SEP, 2);
    memcpy(s + pn + 2, key, len);
    s[pn + 2 + len] = '\0';
    return s;
}

int sdc_state_key_modify(struct dc_arena *a, const struct sdc_md *md, const char *store_name,
                         const char *app_id, const char *ns, const char *key, size_t len,
                         const char **out, struct dc_errbuf *eb)
{
    const char *strategy = sdc_md_get_or(md, "keyPrefix", "appid");
    char *lower;

    if (memchr(key, '\0', len) != NULL || strlen(key) != len)
        return dc_err_set(eb, DC_EINVAL, "input key/keyPrefix can't contain NUL");
    if (!dc_utf8_valid(key, len))
        return dc_err_set(eb, DC_EINVAL, "input key/keyPrefix is not valid UTF-8");
    if (strstr(key, SEP) != NULL)
        return dc_err_set(eb, DC_EINVAL, "input key/keyPrefix '%s' can't contain '%s'", key, SEP);

    if (dc_str_eq_ci(strategy, "none")) {
        *out = key;
    } else if (dc_str_eq_ci(strategy, "name")) {
        *out = join_key(a, store_name, key, len);
    } else if (dc_str_eq_ci(strategy, "appid")) {
        *out = dc_str_empty(app_id) ? key : join_key(a, app_id, key, len);
    } else if (dc_str_eq_ci(strategy, "namespace")) {
        if (dc_str_empty(app_id))
            *out = key;
        else if (dc_str_empty(ns))
            *out = join_key(a, app_id, key, len);
        else
            *out = dc_arena_sprintf(a, "%s.%s" SEP "%s", ns, app_id, key);
    } else {
        /* A custom prefix is lower-cased, as upstream stores the strategy. */
        lower = dc_arena_strdup(a, strategy);
        for (char *p = lower; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        *out = join_key(a, lower, key, len);
    }
    return DC_OK;
}

const char *sdc_state_key_original(const char *stored)
{
    const char *p = strstr(stored, SEP);

    return p != NULL ? p + 2 : stored;
}

/* ---- request context --------------------------------------------------------------------- */

struct ctx {
    struct sdc_runtime *rt;
    struct dc_http_request *req;
    struct dc_http_response *resp;
    const char *store_name;
    struct sdc_component *sc;
    const struct sdc_state_ops *ops;
    struct sdc_md qmd; /* metadata.* query parameters (arena) */
};

/* Find the store of the request, answering upstream's errors when there is none. */
static bool ctx_open(struct ctx *c, struct sdc_runtime *rt, struct dc_http_request *req,
                     struct dc_http_response *resp)
{
    memset(c, 0, sizeof(*c));
    c->rt = rt;
    c->req = req;
    c->resp = resp;
    c->store_name = dc_http_request_param(req, "storeName");
    if (c->store_name == NULL)
        c->store_name = "";
    if (sdc_components_count(&rt->comps, SDC_CAT_STATE) == 0) {
        err_not_configured(resp, rt, c->store_name);
        return false;
    }
    c->sc = sdc_components_find(&rt->comps, SDC_CAT_STATE, c->store_name);
    if (c->sc == NULL) {
        err_not_found(resp, rt, c->store_name);
        return false;
    }
    c->ops = (const struct sdc_state_ops *)c->sc->type->ops;
    return true;
}

/* Set `name` in an arena-backed metadata list (exact names, as a Go map). */
static void md_put(struct sdc_md *md, size_t cap, const char *name, const char *value)
{
    for (size_t i = 0; i < md->n; i++) {
        if (strcmp(md->names[i], name) == 0) {
            md->values[i] = (char *)value;
            return;
        }
    }
    DC_ASSERT(md->n < cap);
    md->names[md->n] = (char *)name;
    md->values[md->n] = (char *)value;
    md->n++;
}

/* metadata.* query parameters (§1.4): the prefix removed, first value of each name. */
static void ctx_query_metadata(struct ctx *c)
{
    const struct dc_http_query_pair *p;
    size_t it = 0, n = 0;

    while (dc_http_request_query_next(c->req, &it, &p))
        if (dc_str_has_prefix(p->name, METADATA_PREFIX))
            n++;
    if (n == 0)
        return;
    c->qmd.names = dc_arena_alloc(c->req->arena, n * sizeof(char *));
    c->qmd.values = dc_arena_alloc(c->req->arena, n * sizeof(char *));
    it = 0;
    while (dc_http_request_query_next(c->req, &it, &p)) {
        const char *name = p->name + strlen(METADATA_PREFIX);
        if (!dc_str_has_prefix(p->name, METADATA_PREFIX) || sdc_md_get(&c->qmd, name) != NULL)
            continue;
        md_put(&c->qmd, n, name, p->value);
    }
}

/* The Go type name of a JSON value, for decode error messages. */
static const char *json_kind(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return "number";
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsBool(v))
        return "bool";
    if (cJSON_IsArray(v))
        return "array";
    return "object";
}

/* Whether a JSON number decodes into a Go int (int64): integral and within range. The range
 * is checked on the double first: converting one beyond int64_t (1e30) is undefined. */
static bool go_int(double d)
{
    return d >= -0x1p63 && d < 0x1p63 && d == (double)(int64_t)d;
}

/* Decode a map[string]string member `obj` (may be NULL or null) merged with the query
 * metadata, which wins (§1.4). */
static int decode_md(struct ctx *c, const cJSON *obj, const char *gostruct, struct sdc_md *out,
                     char *why, size_t whylen)
{
    size_t cap = c->qmd.n;
    const cJSON *it;

    memset(out, 0, sizeof(*out));
    if (obj != NULL && !cJSON_IsNull(obj)) {
        if (!cJSON_IsObject(obj)) {
            snprintf(why, whylen,
                     "json: cannot unmarshal %s into Go struct field %s.metadata of type "
                     "map[string]string",
                     json_kind(obj), gostruct);
            return DC_EINVAL;
        }
        cap += (size_t)cJSON_GetArraySize(obj);
    }
    if (cap == 0)
        return DC_OK;
    out->names = dc_arena_alloc(c->req->arena, cap * sizeof(char *));
    out->values = dc_arena_alloc(c->req->arena, cap * sizeof(char *));
    if (obj != NULL && cJSON_IsObject(obj)) {
        cJSON_ArrayForEach(it, obj)
        {
            if (cJSON_IsNull(it))
                continue;
            if (!cJSON_IsString(it)) {
                snprintf(why, whylen,
                         "json: cannot unmarshal %s into Go struct field %s.metadata of type "
                         "string",
                         json_kind(it), gostruct);
                return DC_EINVAL;
            }
            md_put(out, cap, it->string, it->valuestring);
        }
    }
    for (size_t i = 0; i < c->qmd.n; i++)
        md_put(out, cap, c->qmd.names[i], c->qmd.values[i]);
    return DC_OK;
}

/* A string member (absent or null: NULL). */
static int decode_str(const cJSON *obj, const char *name, const char *gostruct, const char **out,
                      char *why, size_t whylen)
{
    const cJSON *v = cJSON_GetObjectItem(obj, name);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return DC_OK;
    if (!cJSON_IsString(v)) {
        snprintf(why, whylen, "json: cannot unmarshal %s into Go struct field %s.%s of type string",
                 json_kind(v), gostruct, name);
        return DC_EINVAL;
    }
    *out = v->valuestring;
    return DC_OK;
}

/* Parse the request body as JSON. Answers the 400 itself and returns NULL on failure;
 * `prefixed` selects the "failed deserializing HTTP body: " form of the message. */
static cJSON *parse_body(struct ctx *c, bool prefixed)
{
    struct dc_errbuf eb = {0};
    cJSON *root = NULL;
    const char *why = eb.msg;

    if (c->req->body_too_large) {
        why = "http: request body too large";
    } else if (c->req->body_len == 0) {
        why = "EOF";
    } else if (dc_json_parse(c->req->body, c->req->body_len, DC_MAX_JSON_BODY, &root, &eb) ==
               DC_OK) {
        return root;
    }
    if (prefixed)
        err_deserialize(c->resp, why);
    else
        err_malformed(c->resp, why);
    return NULL;
}

/* ---- options, TTL and store errors ------------------------------------------------------- */

/* Check the option strings as components-contrib's CheckRequestOptions. */
static int parse_options(const char *concurrency, const char *consistency,
                         enum sdc_state_concurrency *conc, enum sdc_state_consistency *cons,
                         struct dc_errbuf *eb)
{
    *conc = SDC_STATE_LAST_WRITE;
    *cons = SDC_STATE_EVENTUAL;
    if (!dc_str_empty(consistency)) {
        if (strcmp(consistency, "strong") == 0)
            *cons = SDC_STATE_STRONG;
        else if (strcmp(consistency, "eventual") != 0)
            return dc_err_set(eb, DC_EINVAL, "unrecognized consistency model '%s'", consistency);
    }
    if (!dc_str_empty(concurrency)) {
        if (strcmp(concurrency, "first-write") == 0)
            *conc = SDC_STATE_FIRST_WRITE;
        else if (strcmp(concurrency, "last-write") != 0)
            return dc_err_set(eb, DC_EINVAL, "unrecognized concurrency model '%s'", concurrency);
    }
    return DC_OK;
}

/* metadata ttlInSeconds (§5.3), as components-contrib's ParseTTL. */
static int parse_ttl(const struct sdc_md *md, bool *has, int64_t *ttl, struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, "ttlInSeconds");

    *has = false;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_str_to_i64(v, INT64_MIN, INT64_MAX, ttl) != DC_OK)
        return dc_err_set(eb, DC_EINVAL,
                          "incorrect value for metadata 'ttlInSeconds': strconv.ParseInt: "
                          "parsing \"%s\": invalid syntax",
                          v);
    if (*ttl < -1 || *ttl > 2147483647)
        return dc_err_set(eb, DC_EINVAL,
                          "incorrect value for metadata 'ttlInSeconds': must be -1 or greater");
    *has = true;
    return DC_OK;
}

/* Status and message text of a failed save or delete (stateErrorResponse upstream). */
static int store_err_text(int rv, const struct dc_errbuf *eb, char *out, size_t len)
{
    const char *sep = eb->msg[0] != '\0' ? ": " : "";

    if (rv == DC_ECONFLICT) {
        snprintf(out, len, "possible etag mismatch. error from state store%s%s", sep, eb->msg);
        return 409;
    }
    if (rv == DC_EINVAL) {
        snprintf(out, len, "invalid etag value%s%s", sep, eb->msg);
        return 400;
    }
    snprintf(out, len, "%s", eb->msg[0] != '\0' ? eb->msg : dc_strerror(rv));
    return 500;
}

/* ---- GET /v1.0/state/{storeName}/{key} --------------------------------------------------- */

static bool key_param(struct ctx *c, const char **client, const char **stored)
{
    const struct dc_http_request *req = c->req;
    struct dc_errbuf eb = {0};

    *client = "";
    for (size_t i = 0; i < req->n_params; i++) {
        if (strcmp(req->params[i].name, "key") != 0)
            continue;
        *client = req->params[i].value;
        if (sdc_state_key_modify(req->arena, &c->sc->md, c->store_name, c->rt->cfg->app_id,
                                 c->rt->cfg->namespace, req->params[i].value,
                                 req->params[i].value_len, stored, &eb) != DC_OK) {
            err_illegal_key(c->resp, c->store_name, *client, eb.msg);
            return false;
        }
        return true;
    }
    err_malformed(c->resp, "missing key");
    return false;
}

static void set_expire_meta(struct dc_http_response *resp, int64_t expire_ms)
{
    char t[DC_RFC3339_FMT_LEN];

    if (expire_ms <= 0)
        return;
    /* time.RFC3339: whole seconds. Go canonicalises the header name. */
    if (dc_rfc3339_format((expire_ms / 1000) * DC_NS_PER_SEC, t, sizeof(t)) == DC_OK)
        dc_http_response_header(resp, "Metadata.ttlexpiretime", t);
}

static void on_get(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct ctx c;
    struct sdc_state_get g = {0};
    struct sdc_state_value v = {0};
    struct dc_errbuf eb = {0};
    const char *client, *cons;
    char msg[DC_ERRBUF_LEN * 2];
    int64_t t0;
    int rv;

    if (!ctx_open(&c, ud, req, resp) || !key_param(&c, &client, &g.key))
        return;
    ctx_query_metadata(&c);
    cons = dc_http_request_query(req, "consistency");
    g.consistency = dc_str_eq(cons, "strong") ? SDC_STATE_STRONG : SDC_STATE_EVENTUAL;
    g.metadata = &c.qmd;
    t0 = dc_mono_ns();
    rv = c.ops->get(c.sc->self, &g, &v, &eb);
    sdc_comp_metric(c.rt, SDC_CM_STATE, c.store_name, SDC_CM_GET, rv == DC_OK, t0);
    if (rv != DC_OK) {
        snprintf(msg, sizeof(msg), "fail to get %s from state store %s: %s", client, c.store_name,
                 eb.msg[0] != '\0' ? eb.msg : dc_strerror(rv));
        dc_http_response_error(resp, 500, "ERR_STATE_GET", msg);
        dc_buf_cleanup(&v.data);
        return;
    }
    if (!v.found) {
        resp->status = 204;
        dc_buf_cleanup(&v.data);
        return;
    }
    if (v.etag[0] != '\0')
        dc_http_response_header(resp, "Etag", v.etag);
    set_expire_meta(resp, v.expire_unix_ms);
    dc_http_response_header(resp, "Content-Type", "application/json");
    /* Hand the store's buffer to the response: no copy. */
    dc_buf_cleanup(&resp->body);
    resp->body = v.data;
    resp->status = 200;
}

/* ---- DELETE /v1.0/state/{storeName}/{key} ------------------------------------------------ */

static void on_delete(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct ctx c;
    struct sdc_state_del d = {0};
    struct dc_errbuf eb = {0};
    const char *client;
    char text[DC_ERRBUF_LEN * 2], msg[DC_ERRBUF_LEN * 3];
    int rv, status;

    if (!ctx_open(&c, ud, req, resp) || !key_param(&c, &client, &d.key))
        return;
    ctx_query_metadata(&c);
    d.metadata = &c.qmd;
    /* The presence of If-Match counts even when empty; an empty ETag means none. */
    d.etag = dc_http_request_header(req, "If-Match");
    if (d.etag != NULL && d.etag[0] == '\0')
        d.etag = NULL;
    rv = parse_options(dc_http_request_query(req, "concurrency"),
                       dc_http_request_query(req, "consistency"), &d.concurrency, &d.consistency,
                       &eb);
    if (rv == DC_OK) {
        int64_t t0 = dc_mono_ns();
        rv = c.ops->del(c.sc->self, &d, &eb);
        sdc_comp_metric(c.rt, SDC_CM_STATE, c.store_name, SDC_CM_DELETE, rv == DC_OK, t0);
    } else {
        rv = DC_EIO; /* an option error is the component's 500 upstream */
    }
    if (rv != DC_OK) {
        status = store_err_text(rv, &eb, text, sizeof(text));
        snprintf(msg, sizeof(msg), "failed deleting state with key %s: %s", client, text);
        dc_http_response_error(resp, status, "ERR_STATE_DELETE", msg);
        return;
    }
    resp->status = 204;
}

/* ---- save, and the SetRequest/DeleteRequest decoding shared with transactions ------------- */

struct op {
    const char *client_key;
    struct sdc_state_op op;
    const cJSON *value; /* UPSERT: the JSON value (NULL: null, unless `text` is set) */
    const char *text;   /* UPSERT: the value's JSON text when already known (arena), or NULL */
    size_t text_len;
    const char *conc; /* raw option strings, checked when the op runs */
    const char *cons;
};

/* The common part of decoding a SetRequest or DeleteRequest once its members are read: the
 * metadata (`md` a JSON object, or NULL: none), the stored key, the op. Returns as decode_op. */
static int decode_fill(struct ctx *c, const cJSON *md, bool upsert, const char *gostruct,
                       const char *key, const char *etag, const char *ctype, struct op *out,
                       char *why, size_t whylen)
{
    struct sdc_md *m = dc_arena_calloc(c->req->arena, sizeof(*m));
    struct dc_errbuf eb = {0};
    const char *stored;

    if (decode_md(c, md, gostruct, m, why, whylen) != DC_OK)
        return DC_EPARSE;
    if (key == NULL)
        key = "";
    out->client_key = key;
    if (sdc_state_key_modify(c->req->arena, &c->sc->md, c->store_name, c->rt->cfg->app_id,
                             c->rt->cfg->namespace, key, strlen(key), &stored, &eb) != DC_OK) {
        err_illegal_key(c->resp, c->store_name, key, eb.msg);
        return DC_EINVAL;
    }
    if (etag != NULL && etag[0] == '\0')
        etag = NULL;
    if (upsert) {
        out->op.kind = SDC_STATE_OP_UPSERT;
        out->op.set.key = stored;
        out->op.set.etag = etag;
        out->op.set.metadata = m;
        out->op.set.content_type = ctype != NULL ? ctype : sdc_md_get(m, "contentType");
    } else {
        out->op.kind = SDC_STATE_OP_DELETE;
        out->op.del.key = stored;
        out->op.del.etag = etag;
        out->op.del.metadata = m;
    }
    return DC_OK;
}

/* Decode one SetRequest (upsert) or DeleteRequest object. On a decode error `why` is set and
 * DC_EPARSE returned; on an illegal key the kit error is answered and DC_EINVAL returned. */
static int decode_op(struct ctx *c, const cJSON *o, bool upsert, const char *gostruct,
                     struct op *out, char *why, size_t whylen)
{
    const cJSON *opts, *v;
    const char *key, *etag, *ctype = NULL;
    int rv;

    memset(out, 0, sizeof(*out));
    if (decode_str(o, "key", gostruct, &key, why, whylen) != DC_OK ||
        decode_str(o, "etag", gostruct, &etag, why, whylen) != DC_OK ||
        (upsert && decode_str(o, "contentType", gostruct, &ctype, why, whylen) != DC_OK))
        return DC_EPARSE;
    opts = cJSON_GetObjectItem(o, "options");
    if (opts != NULL && !cJSON_IsNull(opts)) {
        if (!cJSON_IsObject(opts)) {
            snprintf(why, whylen,
                     "json: cannot unmarshal %s into Go struct field %s.options of type "
                     "state.%sStateOption",
                     json_kind(opts), gostruct, upsert ? "Set" : "Delete");
            return DC_EPARSE;
        }
        if (decode_str(opts, "concurrency", gostruct, &out->conc, why, whylen) != DC_OK ||
            decode_str(opts, "consistency", gostruct, &out->cons, why, whylen) != DC_OK)
            return DC_EPARSE;
    }
    rv = decode_fill(c, cJSON_GetObjectItem(o, "metadata"), upsert, gostruct, key, etag, ctype, out,
                     why, whylen);
    if (rv == DC_OK && upsert) {
        v = cJSON_GetObjectItem(o, "value");
        out->value = (v != NULL && !cJSON_IsNull(v)) ? v : NULL;
    }
    return rv;
}

/* Options and TTL of a decoded op, checked as the component would (a 500 upstream). For an
 * upsert the value is turned into its JSON text (arena). */
static int prepare_op(struct ctx *c, struct op *o, struct dc_errbuf *eb)
{
    struct sdc_state_set *s = &o->op.set;
    char *text;
    int rv;

    if (o->op.kind == SDC_STATE_OP_DELETE)
        return parse_options(o->conc, o->cons, &o->op.del.concurrency, &o->op.del.consistency, eb);
    rv = parse_options(o->conc, o->cons, &s->concurrency, &s->consistency, eb);
    if (rv == DC_OK)
        rv = parse_ttl(s->metadata, &s->has_ttl, &s->ttl_s, eb);
    if (rv != DC_OK)
        return rv;
    if (o->text != NULL) {
        s->value = o->text;
        s->value_len = o->text_len;
        return DC_OK;
    }
    if (o->value == NULL) {
        s->value = "null";
        s->value_len = 4;
        return DC_OK;
    }
    /* Values are stored as their JSON text (§5.3). */
    text = cJSON_PrintUnformatted(o->value);
    DC_ASSERT(text != NULL);
    s->value_len = strlen(text);
    s->value = dc_arena_strndup(c->req->arena, text, s->value_len);
    free(text);
    return DC_OK;
}

/* ---- save: the body without a cJSON tree ----
 *
 * The usual save body (an array of SetRequest objects with a plain string key, a value, maybe
 * an etag and a contentType) is read in one pass by the walk of pubsub_json.h, the value kept
 * as its JSON text when cJSON would print it back as written. Anything else (options or
 * metadata members, escapes in the strings read, values cJSON would rewrite, errors of any
 * kind) is declined before anything is answered and takes the cJSON path, so both give the
 * same ops, the same responses and the same bytes to the store. */

/* The SetRequest members the fast path reads; matched as cJSON_GetObjectItem does (first
 * member whose name equals case-insensitively). */
enum fast_member { FM_KEY = 0, FM_VALUE, FM_ETAG, FM_CTYPE, FM_OPTIONS, FM_METADATA, FM_N };

static const char *const fm_names[FM_N] = {"key",         "value",   "etag",
                                           "contentType", "options", "metadata"};

bool sdc__state_save_fast = true;

/* One SetRequest as read: spans into the body (p NULL: absent). */
struct fast_set {
    struct {
        const char *p;
        size_t n;
    } m[FM_N];
    bool value_ws; /* the value has whitespace between its tokens */
};

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int fast_member_of(const char *k, size_t n)
{
    for (int i = 0; i < FM_N; i++)
        if (strlen(fm_names[i]) == n && strncasecmp(fm_names[i], k, n) == 0)
            return i;
    return -1;
}

/* One SetRequest object at `*pp` (its '{'). False: decline. */
static bool fast_read_set(const char **pp, const char *end, struct fast_set *f)
{
    const char *p = skip_ws(*pp + 1, end);

    memset(f, 0, sizeof(*f));
    for (;;) {
        const char *k, *v;
        size_t kn;
        bool ws;
        int m;

        if (!sdc__json_plain_string(&p, end, &k, &kn))
            return false;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return false;
        p = skip_ws(p + 1, end);
        v = p;
        m = fast_member_of(k, kn);
        if (m >= 0 && f->m[m].p != NULL)
            m = -1; /* a later duplicate: cJSON_GetObjectItem finds the first */
        if (m == FM_KEY || m == FM_ETAG || m == FM_CTYPE) {
            const char *s;
            size_t sn;
            if (!sdc__json_plain_string(&p, end, &s, &sn))
                return false;
            f->m[m].p = s;
            f->m[m].n = sn;
        } else if (m == FM_OPTIONS || m == FM_METADATA) {
            if (end - p < 4 || memcmp(p, "null", 4) != 0)
                return false;
            p += 4;
            f->m[m].p = v;
        } else {
            if (!sdc__json_step(&p, end, 2, m == FM_VALUE, &ws))
                return false;
            if (m == FM_VALUE) {
                f->m[m].p = v;
                f->m[m].n = (size_t)(p - v);
                f->value_ws = ws;
            }
        }
        p = skip_ws(p, end);
        if (p < end && *p == '}')
            break;
        if (p >= end || *p != ',')
            return false;
        p = skip_ws(p + 1, end);
    }
    /* Keys are required (the slow path answers their absence). */
    if (f->m[FM_KEY].p == NULL || f->m[FM_KEY].n == 0)
        return false;
    *pp = p + 1;
    return true;
}

/* The whole save body as SetRequests into `*out` (arena, `*n` of them). False: decline, with
 * nothing answered. */
static bool fast_read_body(struct ctx *c, struct fast_set **out, size_t *n)
{
    const char *p = c->req->body, *end = p + c->req->body_len;
    struct fast_set *sets = NULL;
    size_t cap = 0;

    *n = 0;
    if (!sdc__state_save_fast || c->req->body_too_large || c->req->body_len == 0 ||
        c->req->body_len > DC_MAX_JSON_BODY)
        return false;
    p = skip_ws(p, end);
    if (p >= end || *p != '[')
        return false;
    p = skip_ws(p + 1, end);
    for (;;) {
        if (p >= end || *p != '{')
            return false; /* `[]` and non-objects included */
        if (*n == cap) {
            struct fast_set *grown;
            cap = cap == 0 ? 4 : cap * 2;
            grown = dc_arena_alloc(c->req->arena, cap * sizeof(*grown));
            if (*n > 0)
                memcpy(grown, sets, *n * sizeof(*grown));
            sets = grown;
        }
        if (!fast_read_set(&p, end, &sets[*n]))
            return false;
        (*n)++;
        p = skip_ws(p, end);
        if (p < end && *p == ']')
            break;
        if (p >= end || *p != ',')
            return false;
        p = skip_ws(p + 1, end);
    }
    if (skip_ws(p + 1, end) != end)
        return false;
    *out = sets;
    return true;
}

static const char *arena_span(struct ctx *c, const char *p, size_t n)
{
    return p != NULL ? dc_arena_strndup(c->req->arena, p, n) : NULL;
}

/* The ops of a body fast_read_body accepted, as decode_op would give them. DC_OK, or the
 * error already answered. */
static int fast_ops(struct ctx *c, const struct fast_set *sets, size_t n, struct op *ops)
{
    char why[DC_ERRBUF_LEN];

    ctx_query_metadata(c);
    for (size_t i = 0; i < n; i++) {
        const struct fast_set *f = &sets[i];
        struct op *o = &ops[i];
        int rv =
            decode_fill(c, NULL, true, "SetRequest", arena_span(c, f->m[FM_KEY].p, f->m[FM_KEY].n),
                        arena_span(c, f->m[FM_ETAG].p, f->m[FM_ETAG].n),
                        arena_span(c, f->m[FM_CTYPE].p, f->m[FM_CTYPE].n), o, why, sizeof(why));

        if (rv == DC_EPARSE)
            err_malformed(c->resp, why);
        if (rv != DC_OK)
            return rv;
        if (f->m[FM_VALUE].p == NULL) {
            o->text = "null";
            o->text_len = 4;
        } else if (!f->value_ws) {
            o->text = arena_span(c, f->m[FM_VALUE].p, f->m[FM_VALUE].n);
            o->text_len = f->m[FM_VALUE].n;
        } else {
            struct dc_buf b = {0};
            DC_ASSERT(sdc__json_compact(f->m[FM_VALUE].p, f->m[FM_VALUE].n, &b) == DC_OK);
            o->text = arena_span(c, b.data, b.len);
            o->text_len = b.len;
            dc_buf_cleanup(&b);
        }
    }
    return DC_OK;
}

/* The ops of a save body through cJSON. DC_OK with `*root` to free, or the error answered. */
static int slow_ops(struct ctx *c, cJSON **root, struct op **ops, size_t *n)
{
    char why[DC_ERRBUF_LEN];
    cJSON *it;
    size_t i = 0;

    *root = parse_body(c, false);
    if (*root == NULL)
        return DC_EPARSE;
    if (!cJSON_IsArray(*root)) {
        snprintf(why, sizeof(why),
                 "json: cannot unmarshal %s into Go value of type []state.SetRequest",
                 json_kind(*root));
        err_malformed(c->resp, why);
        return DC_EPARSE;
    }
    *n = (size_t)cJSON_GetArraySize(*root);
    if (*n == 0)
        return DC_OK;
    ctx_query_metadata(c);
    *ops = dc_arena_calloc(c->req->arena, *n * sizeof(**ops));
    cJSON_ArrayForEach(it, *root)
    {
        int rv;
        if (!cJSON_IsObject(it)) {
            snprintf(why, sizeof(why),
                     "json: cannot unmarshal %s into Go value of type state.SetRequest",
                     json_kind(it));
            err_malformed(c->resp, why);
            return DC_EPARSE;
        }
        rv = decode_op(c, it, true, "SetRequest", &(*ops)[i], why, sizeof(why));
        if (rv == DC_EPARSE)
            err_malformed(c->resp, why);
        if (rv != DC_OK)
            return rv;
        if ((*ops)[i].client_key[0] == '\0') {
            err_malformed(c->resp, "\"key\" is a required field");
            return DC_EPARSE;
        }
        i++;
    }
    return DC_OK;
}

/* POST/PUT /v1.0/state/{storeName} */
static void on_save(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct ctx c;
    int64_t t0;
    cJSON *root = NULL;
    struct fast_set *sets;
    struct op *ops = NULL;
    size_t n = 0;
    char text[DC_ERRBUF_LEN * 2], msg[DC_ERRBUF_LEN * 3];
    int status = 0, rv;

    if (!ctx_open(&c, ud, req, resp))
        return;
    if (fast_read_body(&c, &sets, &n)) {
        ops = dc_arena_calloc(req->arena, n * sizeof(*ops));
        rv = fast_ops(&c, sets, n, ops);
    } else {
        rv = slow_ops(&c, &root, &ops, &n);
    }
    if (rv != DC_OK)
        goto out;
    if (n == 0) {
        resp->status = 204;
        goto out;
    }
    /* Not atomic: every item is tried, the first failure is reported (upstream's bulk set). */
    t0 = dc_mono_ns();
    for (size_t i = 0; i < n; i++) {
        struct dc_errbuf eb = {0};
        int st;

        rv = prepare_op(&c, &ops[i], &eb);
        if (rv == DC_OK)
            rv = c.ops->set(c.sc->self, &ops[i].op.set, &eb);
        else
            rv = DC_EIO;
        if (rv == DC_OK || status != 0)
            continue;
        st = store_err_text(rv, &eb, text, sizeof(text));
        snprintf(msg, sizeof(msg), "failed saving state in state store %s: %s", c.store_name, text);
        status = st;
    }
    sdc_comp_metric(c.rt, SDC_CM_STATE, c.store_name, SDC_CM_SET, status == 0, t0);
    if (status != 0)
        dc_http_response_error(resp, status, "ERR_STATE_SAVE", msg);
    else
        resp->status = 204;
out:
    cJSON_Delete(root);
}

/* ---- POST/PUT /v1.0/state/{storeName}/bulk ----------------------------------------------- */

/* Append stored bytes as the raw JSON "data" (as json.RawMessage); bytes that are not JSON
 * (written by another client) are sent as a JSON string instead of breaking the document. */
static void put_raw_json(struct dc_buf *b, const char *p, size_t n)
{
    cJSON *probe = NULL;

    if (n > 0 && dc_json_parse(p, n, n, &probe, NULL) == DC_OK) {
        cJSON_Delete(probe);
        put_n(b, p, n);
        return;
    }
    DC_ASSERT(dc_json_append_string(b, p, n) == DC_OK);
}

static void on_bulk_get(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct ctx c;
    int64_t t0;
    cJSON *root;
    const cJSON *keys, *k, *par;
    struct sdc_md md;
    char why[DC_ERRBUF_LEN];
    size_t n;
    const char **stored;
    size_t i = 0;
    struct dc_buf *b = &resp->body;

    if (!ctx_open(&c, ud, req, resp))
        return;
    root = parse_body(&c, true);
    if (root == NULL)
        return;
    ctx_query_metadata(&c);
    if (!cJSON_IsObject(root)) {
        snprintf(why, sizeof(why),
                 "json: cannot unmarshal %s into Go value of type http.BulkGetRequest",
                 json_kind(root));
        err_deserialize(resp, why);
        goto out;
    }
    keys = cJSON_GetObjectItem(root, "keys");
    par = cJSON_GetObjectItem(root, "parallelism");
    if (keys != NULL && !cJSON_IsNull(keys) && !cJSON_IsArray(keys)) {
        snprintf(why, sizeof(why),
                 "json: cannot unmarshal %s into Go struct field BulkGetRequest.keys of type "
                 "[]string",
                 json_kind(keys));
        err_deserialize(resp, why);
        goto out;
    }
    if (par != NULL && !cJSON_IsNull(par) && (!cJSON_IsNumber(par) || !go_int(par->valuedouble))) {
        snprintf(why, sizeof(why),
                 "json: cannot unmarshal %s into Go struct field BulkGetRequest.parallelism of "
                 "type int",
                 cJSON_IsNumber(par) ? "number" : json_kind(par));
        err_deserialize(resp, why);
        goto out;
    }
    if (decode_md(&c, cJSON_GetObjectItem(root, "metadata"), "BulkGetRequest", &md, why,
                  sizeof(why)) != DC_OK) {
        err_deserialize(resp, why);
        goto out;
    }
    n = keys != NULL && cJSON_IsArray(keys) ? (size_t)cJSON_GetArraySize(keys) : 0;
    stored = dc_arena_calloc(req->arena, (n ? n : 1) * sizeof(*stored));
    /* Every key is checked before the store is asked anything. */
    cJSON_ArrayForEach(k, keys)
    {
        struct dc_errbuf eb = {0};
        if (!cJSON_IsString(k)) {
            snprintf(why, sizeof(why),
                     "json: cannot unmarshal %s into Go struct field BulkGetRequest.keys of "
                     "type string",
                     cJSON_IsNull(k) ? "null" : json_kind(k));
            err_deserialize(resp, why);
            goto out;
        }
        if (sdc_state_key_modify(req->arena, &c.sc->md, c.store_name, c.rt->cfg->app_id,
                                 c.rt->cfg->namespace, k->valuestring, strlen(k->valuestring),
                                 &stored[i], &eb) != DC_OK) {
            err_illegal_key(resp, c.store_name, k->valuestring, eb.msg);
            goto out;
        }
        i++;
    }
    /* The keys are read one after the other: "parallelism" is accepted, and the stores
     * we have answer from memory or one local file, where threads would only add cost. */
    dc_buf_reset(b);
    put(b, "[");
    i = 0;
    t0 = dc_mono_ns();
    cJSON_ArrayForEach(k, keys)
    {
        struct sdc_state_get g = {.key = stored[i], .metadata = &md};
        struct sdc_state_value v = {0};
        struct dc_errbuf eb = {0};
        int rv = c.ops->get(c.sc->self, &g, &v, &eb);

        put(b, i > 0 ? ",{\"key\":" : "{\"key\":");
        put_str(b, k->valuestring);
        if (rv != DC_OK) {
            put(b, ",\"error\":");
            put_str(b, eb.msg[0] != '\0' ? eb.msg : dc_strerror(rv));
        } else if (v.found) {
            put(b, ",\"data\":");
            put_raw_json(b, v.data.data != NULL ? v.data.data : "", v.data.len);
            if (v.etag[0] != '\0') {
                put(b, ",\"etag\":");
                put_str(b, v.etag);
            }
            if (v.expire_unix_ms > 0) {
                char t[DC_RFC3339_FMT_LEN];
                if (dc_rfc3339_format((v.expire_unix_ms / 1000) * DC_NS_PER_SEC, t, sizeof(t)) ==
                    DC_OK) {
                    put(b, ",\"metadata\":{");
                    put_kv(b, "ttlExpireTime", t, false);
                    put(b, "}");
                }
            }
        }
        put(b, "}");
        dc_buf_cleanup(&v.data);
        i++;
    }
    sdc_comp_metric(c.rt, SDC_CM_STATE, c.store_name, SDC_CM_BULK_GET, true, t0);
    put(b, "]\n"); /* json.Encoder ends with a newline */
    dc_http_response_header(resp, "Content-Type", "application/json");
    resp->status = 200;
out:
    cJSON_Delete(root);
}

/* ---- POST/PUT /v1.0/state/{storeName}/transaction ---------------------------------------- */

static void on_transaction(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct ctx c;
    int64_t t0;
    cJSON *root;
    const cJSON *opsj, *it;
    struct op *ops;
    struct sdc_state_op *flat;
    struct sdc_md txmd;
    struct dc_errbuf eb = {0};
    char why[DC_ERRBUF_LEN], msg[DC_ERRBUF_LEN * 2];
    size_t n, i = 0;
    int rv;

    if (!ctx_open(&c, ud, req, resp))
        return;
    if (c.ops->multi == NULL || !(c.ops->features & SDC_STATE_F_TRANSACTIONAL)) {
        struct kit_err k = {.status = 500,
                            .code = "ERR_STATE_STORE_NOT_SUPPORTED",
                            .reason = "DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED",
                            .store = c.store_name,
                            .help = true};
        snprintf(msg, sizeof(msg), "state store %s doesn't support transactions", c.store_name);
        kit_error(resp, &k, msg);
        return;
    }
    root = parse_body(&c, true);
    if (root == NULL)
        return;
    ctx_query_metadata(&c);
    if (!cJSON_IsObject(root)) {
        snprintf(why, sizeof(why),
                 "json: cannot unmarshal %s into Go value of type "
                 "http.stateTransactionRequestBody",
                 json_kind(root));
        err_deserialize(resp, why);
        goto out;
    }
    opsj = cJSON_GetObjectItem(root, "operations");
    if (opsj != NULL && !cJSON_IsNull(opsj) && !cJSON_IsArray(opsj)) {
        snprintf(why, sizeof(why),
                 "json: cannot unmarshal %s into Go struct field "
                 "stateTransactionRequestBody.operations of type "
                 "[]http.stateTransactionRequestBodyOperation",
                 json_kind(opsj));
        err_deserialize(resp, why);
        goto out;
    }
    if (decode_md(&c, cJSON_GetObjectItem(root, "metadata"), "stateTransactionRequestBody", &txmd,
                  why, sizeof(why)) != DC_OK) {
        err_deserialize(resp, why);
        goto out;
    }
    n = opsj != NULL && cJSON_IsArray(opsj) ? (size_t)cJSON_GetArraySize(opsj) : 0;
    if (n == 0) {
        resp->status = 204;
        goto out;
    }
    ops = dc_arena_calloc(req->arena, n * sizeof(*ops));
    cJSON_ArrayForEach(it, opsj)
    {
        const char *kind = NULL;
        const cJSON *r;
        bool upsert;

        if (!cJSON_IsObject(it)) {
            snprintf(why, sizeof(why),
                     "json: cannot unmarshal %s into Go value of type "
                     "http.stateTransactionRequestBodyOperation",
                     json_kind(it));
            err_deserialize(resp, why);
            goto out;
        }
        if (decode_str(it, "operation", "stateTransactionRequestBodyOperation", &kind, why,
                       sizeof(why)) != DC_OK) {
            err_deserialize(resp, why);
            goto out;
        }
        if (dc_str_eq(kind, "upsert")) {
            upsert = true;
        } else if (dc_str_eq(kind, "delete")) {
            upsert = false;
        } else {
            snprintf(msg, sizeof(msg), "operation type %s not supported", kind ? kind : "");
            dc_http_response_error(resp, 400, "ERR_NOT_SUPPORTED_STATE_OPERATION", msg);
            goto out;
        }
        r = cJSON_GetObjectItem(it, "request");
        if (r != NULL && !cJSON_IsNull(r) && !cJSON_IsObject(r)) {
            snprintf(why, sizeof(why), "'' expected a map, got '%s'", json_kind(r));
            err_deserialize(resp, why);
            goto out;
        }
        if (cJSON_IsNull(r))
            r = NULL; /* decodes as an empty request (cJSON lookups on NULL find nothing) */
        rv = decode_op(&c, r, upsert, upsert ? "SetRequest" : "DeleteRequest", &ops[i], why,
                       sizeof(why));
        if (rv == DC_EPARSE)
            err_deserialize(resp, why);
        if (rv != DC_OK)
            goto out;
        i++;
    }
    if (c.ops->multi_max_size > 0 && n > c.ops->multi_max_size) {
        char cur[24], max[24];
        struct kit_err k = {.status = 400,
                            .code = "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS",
                            .reason = "DAPR_STATE_TOO_MANY_TRANSACTIONS",
                            .store = c.store_name,
                            .md_name = {"currentOpsTransaction", "maxOpsPerTransaction"},
                            .md_value = {cur, max},
                            .nmd = 2};
        snprintf(cur, sizeof(cur), "%zu", n);
        snprintf(max, sizeof(max), "%zu", c.ops->multi_max_size);
        snprintf(msg, sizeof(msg),
                 "the transaction contains %zu operations, which is more than what the state "
                 "store supports: %zu",
                 n, c.ops->multi_max_size);
        kit_error(resp, &k, msg);
        goto out;
    }
    flat = dc_arena_alloc(req->arena, n * sizeof(*flat));
    for (i = 0; i < n; i++) {
        rv = prepare_op(&c, &ops[i], &eb);
        if (rv != DC_OK)
            goto failed;
        flat[i] = ops[i].op;
    }
    t0 = dc_mono_ns();
    rv = c.ops->multi(c.sc->self, flat, n, &eb);
    sdc_comp_metric(c.rt, SDC_CM_STATE, c.store_name, SDC_CM_TRANSACTION, rv == DC_OK, t0);
    if (rv == DC_OK) {
        resp->status = 204;
        goto out;
    }
failed:
    if (rv == DC_ECONFLICT && eb.msg[0] == '\0')
        dc_strlcpy(eb.msg, "possible etag mismatch. error from state store", sizeof(eb.msg));
    snprintf(msg, sizeof(msg), "error while executing state transaction: %s",
             eb.msg[0] != '\0' ? eb.msg : dc_strerror(rv));
    dc_http_response_error(resp, 500, "ERR_STATE_TRANSACTION", msg);
out:
    cJSON_Delete(root);
}

/* ---- POST/PUT /v1.0-alpha1/state/{storeName}/query --------------------------------------- */

static void query_failed(struct ctx *c, const char *why)
{
    struct kit_err k = {.status = 500,
                        .code = "ERR_STATE_QUERY",
                        .reason = "DAPR_STATE_QUERY_FAILED",
                        .store = c->store_name};
    char msg[DC_ERRBUF_LEN * 2];

    snprintf(msg, sizeof(msg), "state store %s query failed: %s", c->store_name, why);
    kit_error(c->resp, &k, msg);
}

static void on_query(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct ctx c;
    int64_t t0;
    struct dc_errbuf eb = {0};
    struct dc_buf out = {0};
    cJSON *q = NULL, *res = NULL, *results, *r;
    char *text;
    char why[DC_ERRBUF_LEN + 48];
    int rv;

    if (!ctx_open(&c, ud, req, resp))
        return;
    if (c.ops->query == NULL || !(c.ops->features & SDC_STATE_F_QUERY_API)) {
        struct kit_err k = {.status = 500,
                            .code = "ERR_STATE_STORE_NOT_SUPPORTED",
                            .reason = "DAPR_STATE_QUERYING_NOT_SUPPORTED",
                            .store = c.store_name};
        kit_error(resp, &k, "state store does not support querying");
        return;
    }
    if (req->body_too_large) {
        dc_http_response_error(resp, 400, "ERR_BODY_READ",
                               "failed to read request body: http: request body too large");
        return;
    }
    if (dc_json_parse(req->body, req->body_len, DC_MAX_JSON_BODY, &q, &eb) != DC_OK ||
        !cJSON_IsObject(q)) {
        snprintf(why, sizeof(why), "failed to parse JSON query body: %s",
                 eb.msg[0] != '\0' ? eb.msg : "not an object");
        query_failed(&c, why);
        goto out;
    }
    ctx_query_metadata(&c);
    t0 = dc_mono_ns();
    rv = c.ops->query(c.sc->self, req->body, req->body_len, &c.qmd, &out, &eb);
    sdc_comp_metric(c.rt, SDC_CM_STATE, c.store_name, SDC_CM_QUERY, rv == DC_OK, t0);
    if (rv != DC_OK) {
        query_failed(&c, eb.msg[0] != '\0' ? eb.msg : dc_strerror(rv));
        goto out;
    }
    if (dc_json_parse(out.data != NULL ? out.data : "", out.len, DC_MAX_JSON_BODY, &res, &eb) !=
        DC_OK) {
        query_failed(&c, "invalid response from the state store");
        goto out;
    }
    results = cJSON_GetObjectItem(res, "results");
    if (!cJSON_IsArray(results) || cJSON_GetArraySize(results) == 0) {
        resp->status = 204;
        goto out;
    }
    /* Keys go back to the client without their prefix (§5.2). */
    cJSON_ArrayForEach(r, results)
    {
        cJSON *k = cJSON_GetObjectItem(r, "key");
        if (cJSON_IsString(k)) {
            const char *orig = sdc_state_key_original(k->valuestring);
            char *copy = dc_arena_strdup(req->arena, orig);
            cJSON_SetValuestring(k, copy);
        }
    }
    text = cJSON_PrintUnformatted(res);
    DC_ASSERT(text != NULL);
    DC_ASSERT(dc_http_response_body(resp, text, strlen(text), "application/json") == DC_OK);
    free(text);
    resp->status = 200;
out:
    cJSON_Delete(q);
    cJSON_Delete(res);
    dc_buf_cleanup(&out);
}

/* ---- registration ------------------------------------------------------------------------ */

void sdc_state_api_routes(struct dc_http_router *r, struct sdc_runtime *rt)
{
    static const struct {
        const char *method;
        const char *pattern;
        dc_http_handler_fn *fn;
    } table[] = {
        {"GET", "/v1.0/state/{storeName}/{key}", on_get},
        {"DELETE", "/v1.0/state/{storeName}/{key}", on_delete},
        {"POST", "/v1.0/state/{storeName}", on_save},
        {"PUT", "/v1.0/state/{storeName}", on_save},
        {"POST", "/v1.0/state/{storeName}/bulk", on_bulk_get},
        {"PUT", "/v1.0/state/{storeName}/bulk", on_bulk_get},
        {"POST", "/v1.0/state/{storeName}/transaction", on_transaction},
        {"PUT", "/v1.0/state/{storeName}/transaction", on_transaction},
        {"POST", "/v1.0-alpha1/state/{storeName}/query", on_query},
        {"PUT", "/v1.0-alpha1/state/{storeName}/query", on_query},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        sdc_http_api_add(r, rt, table[i].method, table[i].pattern, table[i].fn);
}
