/* Pub/sub HTTP API (sidecar-api.md §6.1-6.4): publish, bulk publish, topic scoping, and the
 * block's set-up and teardown. */
#include "pubsub_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/base64.h"
#include "dc/json.h"
#include "dc/limits.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "cloudevent.h"
#include "http_api.h"
#include "http_mw.h"
#include "pubsub_json.h"

/* ---- scoping (§6.4) ------------------------------------------------------------------------ */

static void topics_add(struct sdc__ps_topics *t, const char *s, size_t n)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->v[i]) == n && memcmp(t->v[i], s, n) == 0)
            return;
    t->v = dc_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
    t->v[t->n++] = dc_xstrndup(s, n);
}

/* Split `list` ("t1,t2", blanks removed) into `t`, keeping empty items as upstream does. */
static void topics_split(struct sdc__ps_topics *t, const char *list)
{
    const char *p = list;

    t->set = true;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        topics_add(t, p, n);
        if (e == NULL)
            break;
        p = e + 1;
    }
}

static char *strip_blanks(const char *s)
{
    char *o = dc_xstrdup(s), *w = o;

    for (const char *r = s; *r != '\0'; r++)
        if (*r != ' ')
            *w++ = *r;
    *w = '\0';
    return o;
}

/* publishingScopes / subscriptionScopes: "app1=t1,t2;app2=t3" -> the topics of `app_id`. */
static void scoped_topics(struct sdc__ps_topics *t, const char *value, const char *app_id)
{
    char *v, *p;

    if (dc_str_empty(value))
        return;
    v = strip_blanks(value);
    p = v;
    for (;;) {
        char *e = strchr(p, ';');
        char *eq;
        if (e != NULL)
            *e = '\0';
        eq = strchr(p, '=');
        if (eq != NULL)
            *eq = '\0';
        if (strcmp(p, app_id) == 0) {
            if (eq != NULL)
                topics_split(t, eq + 1);
            else
                t->set = true;
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
    free(v);
}

static void plain_topics(struct sdc__ps_topics *t, const char *value)
{
    char *v;

    if (dc_str_empty(value))
        return;
    v = strip_blanks(value);
    topics_split(t, v);
    free(v);
}

static void topics_free(struct sdc__ps_topics *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    memset(t, 0, sizeof(*t));
}

static bool topics_has(const struct sdc__ps_topics *t, const char *topic)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i], topic) == 0)
            return true;
    return false;
}

bool sdc__ps_topic_allowed(const struct sdc__ps_comp *c, const char *topic, bool publish)
{
    const struct sdc__ps_topics *scoped = publish ? &c->pub : &c->sub;
    bool prot;

    if (c->allowed.n > 0 && !topics_has(&c->allowed, topic))
        return false;
    prot = topics_has(&c->protected_, topic);
    if (scoped->n == 0 && !prot)
        return true;
    return topics_has(scoped, topic);
}

/* Fill `c`'s scoping from its metadata. */
DC_TESTABLE void comp_scoping(struct sdc__ps_comp *c, const struct sdc_md *md, const char *app_id)
{
    scoped_topics(&c->pub, sdc_md_get(md, "publishingScopes"), app_id);
    scoped_topics(&c->sub, sdc_md_get(md, "subscriptionScopes"), app_id);
    plain_topics(&c->allowed, sdc_md_get(md, "allowedTopics"));
    plain_topics(&c->protected_, sdc_md_get(md, "protectedTopics"));
}

DC_TESTABLE void comp_scoping_cleanup(struct sdc__ps_comp *c)
{
    topics_free(&c->pub);
    topics_free(&c->sub);
    topics_free(&c->allowed);
    topics_free(&c->protected_);
}

struct sdc__ps_comp *sdc__ps_comp_find(struct sdc_pubsub_rt *ps, const char *name)
{
    for (size_t i = 0; ps != NULL && i < ps->ncomps; i++)
        if (strcmp(ps->comps[i].name, name) == 0)
            return &ps->comps[i];
    return NULL;
}

/* ---- errors (§1.6, §1.7): kit errors with ErrorInfo then ResourceInfo -------------------- */

struct kit {
    int status;
    const char *code;
    const char *reason;
    const char *pubsub; /* ResourceInfo name; NULL: none */
    const char *md_k[2];
    const char *md_v[2];
    size_t nmd;
};

static void put(struct dc_buf *b, const char *s)
{
    DC_ASSERT(dc_buf_appends(b, s) == DC_OK);
}

static void put_str(struct dc_buf *b, const char *s)
{
    DC_ASSERT(dc_json_append_string(b, s, strlen(s)) == DC_OK);
}

static void kit_error(struct dc_http_response *resp, const struct kit *k, const char *msg)
{
    struct dc_buf *b = &resp->body;

    dc_buf_reset(b);
    put(b, "{\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
           "\"domain\":\"dapr.io\",\"metadata\":");
    if (k->nmd == 0) {
        put(b, "null");
    } else {
        put(b, "{");
        for (size_t i = 0; i < k->nmd; i++)
            DC_ASSERT(dc_json_append_kv_string(b, k->md_k[i], k->md_v[i], i > 0) == DC_OK);
        put(b, "}");
    }
    put(b, ",\"reason\":");
    put_str(b, k->reason);
    put(b, "}");
    if (k->pubsub != NULL) {
        put(b, ",{\"@type\":\"type.googleapis.com/google.rpc.ResourceInfo\",\"description\":");
        put_str(b, msg);
        put(b, ",\"owner\":\"\",\"resource_name\":");
        put_str(b, k->pubsub);
        put(b, ",\"resource_type\":\"pubsub\"}");
    }
    put(b, "],\"errorCode\":");
    put_str(b, k->code);
    put(b, ",\"message\":");
    put_str(b, msg);
    put(b, "}");
    resp->status = k->status;
    dc_http_response_header_set(resp, "Content-Type", "application/json");
}

static void err_app(struct dc_http_response *resp, const struct sdc_runtime *rt, int status,
                    const char *code, const char *reason, const char *pubsub, const char *msg)
{
    struct kit k = {.status = status,
                    .code = code,
                    .reason = reason,
                    .pubsub = pubsub,
                    .md_k = {"appID"},
                    .md_v = {rt->cfg->app_id},
                    .nmd = 1};

    kit_error(resp, &k, msg);
}

static void err_topic(struct dc_http_response *resp, int status, const char *code,
                      const char *reason, const char *pubsub, const char *topic, const char *error,
                      const char *msg)
{
    struct kit k = {.status = status,
                    .code = code,
                    .reason = reason,
                    .pubsub = pubsub,
                    .md_k = {"error", "topic"},
                    .md_v = {error, topic},
                    .nmd = 2};

    kit_error(resp, &k, msg);
}

/* ---- publish (§6.1, §6.2) ------------------------------------------------------------------ */

/* The metadata.* query parameters, prefix removed (first value wins). */
static void query_md(struct dc_http_request *req, struct sdc_md *md)
{
    const struct dc_http_query_pair *qp;
    size_t it = 0;

    while (dc_http_request_query_next(req, &it, &qp)) {
        if (strncmp(qp->name, "metadata.", 9) == 0 && qp->name[9] != '\0' &&
            sdc_md_get(md, qp->name + 9) == NULL)
            sdc_md_set(md, qp->name + 9, qp->value);
    }
}

/* rawPayload as Go's strconv.ParseBool; DC_EINVAL with upstream's text in `why`. */
static int raw_payload(const struct sdc_md *md, bool *raw, char *why, size_t cap)
{
    const char *v = sdc_md_get(md, "rawPayload");

    *raw = false;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_str_to_bool(v, raw) != DC_OK) {
        snprintf(why, cap, "strconv.ParseBool: parsing \"%.64s\": invalid syntax", v);
        return DC_EINVAL;
    }
    return DC_OK;
}

struct pub_attempt {
    struct sdc__ps_comp *c;
    const struct sdc_pubsub_publish *msg;
};

static int pub_attempt(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    struct pub_attempt *a = ud;

    (void)deadline_ns;
    *status = -1;
    return a->c->ops->publish(a->c->c->self, a->msg, eb);
}

static int publish_one(struct sdc_pubsub_rt *ps, struct sdc__ps_comp *c,
                       const struct sdc_pubsub_publish *msg, struct dc_errbuf *eb)
{
    const struct sdc_res_policy *p =
        sdc_resiliency_policy(ps->rt->resiliency, SDC_RES_COMPONENT_OUT, c->name, SDC_CAT_PUBSUB);
    struct pub_attempt a = {.c = c, .msg = msg};
    int64_t t0 = dc_mono_ns();
    int rv;

    if (sdc_res_policy_empty(p))
        rv = c->ops->publish(c->c->self, msg, eb);
    else
        rv = sdc_resiliency_run(p, c->name, pub_attempt, &a, NULL, eb);
    sdc_comp_metric_pubsub(ps->rt, SDC_CM_PUBSUB_EGRESS, c->name, msg->topic, rv == DC_OK, NULL,
                           t0);
    return rv;
}

int sdc__ps_publish_raw(struct sdc_pubsub_rt *ps, struct sdc__ps_comp *c, const char *topic,
                        const void *data, size_t len, const char *content_type,
                        const struct sdc_md *md, struct dc_errbuf *eb)
{
    struct sdc_pubsub_publish msg = {.topic = topic,
                                     .data = data,
                                     .data_len = len,
                                     .content_type = content_type,
                                     .metadata = md};

    return publish_one(ps, c, &msg, eb);
}

static bool tracing_on(const struct sdc_runtime *rt)
{
    return rt->http_mw != NULL && rt->http_mw->tracing;
}

/* Resolve the component of a publish request, answering the error when there is none. */
static struct sdc__ps_comp *resolve(struct sdc_runtime *rt, struct dc_http_response *resp,
                                    const char *name, bool bulk)
{
    struct sdc__ps_comp *c;
    char msg[DC_ERRBUF_LEN];

    if (rt->pubsub == NULL || rt->pubsub->ncomps == 0) {
        err_app(resp, rt, 400, "ERR_PUBSUB_NOT_CONFIGURED", "DAPR_PUBSUB_NOT_CONFIGURED", name,
                "pubsub is not configured");
        return NULL;
    }
    c = sdc__ps_comp_find(rt->pubsub, name);
    if (c != NULL)
        return c;
    if (bulk) {
        snprintf(msg, sizeof(msg), "pubsub '%s' not found", name);
        err_topic(resp, 400, "ERR_PUBSUB_NOT_FOUND", "DAPR_PUBSUB_TEST_NOT_FOUND", name, "",
                  "pubsub not found", msg);
    } else {
        snprintf(msg, sizeof(msg), "pubsub %s not found", name);
        err_app(resp, rt, 404, "ERR_PUBSUB_NOT_FOUND", "DAPR_PUBSUB_NOT_FOUND", name, msg);
    }
    return NULL;
}

static bool check_topic(struct sdc_runtime *rt, struct dc_http_response *resp,
                        struct sdc__ps_comp *c, const char *topic)
{
    char msg[DC_ERRBUF_LEN];

    if (dc_str_empty(topic)) {
        snprintf(msg, sizeof(msg), "topic is empty in pubsub %s", c->name);
        err_app(resp, rt, 404, "ERR_TOPIC_NAME_EMPTY", "DAPR_PUBSUB_TOPIC_NAME_EMPTY", c->name,
                msg);
        return false;
    }
    if (!sdc__ps_topic_allowed(c, topic, true)) {
        snprintf(msg, sizeof(msg), "topic %s is not allowed for app id %s", topic, rt->cfg->app_id);
        err_topic(resp, 403, "ERR_PUBSUB_FORBIDDEN", "DAPR_PUBSUB_FORBIDDEN", c->name, topic, msg,
                  msg);
        return false;
    }
    return true;
}

static void on_publish(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *name = dc_http_request_param(req, "pubsubname");
    const char *topic = dc_http_request_param(req, "topic");
    const char *ct = dc_http_request_header(req, "Content-Type");
    struct sdc_md md = {0};
    struct dc_errbuf eb = {0};
    struct dc_buf ev = {0};
    struct sdc__ps_comp *c;
    struct sdc_pubsub_publish msg = {0};
    char why[160], emsg[DC_ERRBUF_LEN * 2];
    bool raw;
    int rv;

    c = resolve(rt, resp, name, false);
    if (c == NULL || !check_topic(rt, resp, c, topic))
        return;
    query_md(req, &md);
    if (raw_payload(&md, &raw, why, sizeof(why)) != DC_OK) {
        snprintf(emsg, sizeof(emsg), "failed deserializing metadata. Error: %s", why);
        err_app(resp, rt, 400, "ERR_PUBSUB_REQUEST_METADATA",
                "DAPR_PUBSUB_METADATA_DESERIALIZATION", c->name, emsg);
        goto out;
    }
    msg.topic = topic;
    msg.metadata = &md;
    msg.content_type = ct;
    if (raw) {
        msg.data = req->body;
        msg.data_len = req->body_len;
    } else {
        struct sdc_ce_in in = {
            .app_id = rt->cfg->app_id,
            .pubsub = c->name,
            .topic = topic,
            .content_type = ct,
            .data = req->body,
            .len = req->body_len,
            .md = &md,
            .traceparent = tracing_on(rt) ? dc_http_request_header(req, "traceparent") : NULL,
            .tracestate = tracing_on(rt) ? dc_http_request_header(req, "tracestate") : NULL,
            .now_ns = dc_now_ns(),
            .add_expiration = !(c->ops->features & SDC_PUBSUB_F_MESSAGE_TTL),
        };
        rv = sdc_cloudevent_build(&in, &ev, &eb);
        if (rv == DC_EINVAL) {
            snprintf(emsg, sizeof(emsg), "failed deserializing metadata. Error: %s", eb.msg);
            err_app(resp, rt, 400, "ERR_PUBSUB_REQUEST_METADATA",
                    "DAPR_PUBSUB_METADATA_DESERIALIZATION", c->name, emsg);
            goto out;
        }
        if (rv != DC_OK) {
            err_app(resp, rt, 500, "ERR_PUBSUB_CLOUD_EVENTS_SER",
                    "DAPR_PUBSUB_CLOUD_EVENT_CREATION", c->name, "cannot create cloudevent");
            goto out;
        }
        msg.data = ev.data;
        msg.data_len = ev.len;
        msg.content_type = "application/cloudevents+json";
    }
    dc_err_clear(&eb);
    rv = publish_one(rt->pubsub, c, &msg, &eb);
    if (rv != DC_OK) {
        snprintf(emsg, sizeof(emsg), "error when publishing to topic %s in pubsub %s: %s", topic,
                 c->name, eb.msg[0] != '\0' ? eb.msg : dc_strerror(rv));
        err_topic(resp, 500, "ERR_PUBSUB_PUBLISH_MESSAGE", "DAPR_PUBSUB_PUBLISH_MESSAGE", c->name,
                  topic, eb.msg[0] != '\0' ? eb.msg : dc_strerror(rv), emsg);
        goto out;
    }
    resp->status = 204;
out:
    dc_buf_cleanup(&ev);
    sdc_md_cleanup(&md);
}

/* ---- bulk publish (§6.3) ------------------------------------------------------------------- */

struct bulk_entry {
    const char *entry_id;
    struct dc_buf data; /* the bytes to publish */
    struct sdc_md md;
    const char *ct;
};

static void bulk_err(struct dc_http_response *resp, const char *reason, const char *pubsub,
                     const char *topic, const char *msg)
{
    struct kit k = {.status = 400,
                    .code = "ERR_PUBSUB_EVENTS_SER",
                    .reason = reason,
                    .pubsub = pubsub,
                    .md_k = {"error", "topic"},
                    .md_v = {msg, topic},
                    .nmd = 2};

    kit_error(resp, &k, msg);
}

/* The bytes of one entry's `event` by its content type; DC_EINVAL with `why` on mismatch. */
static int entry_bytes(const cJSON *ev, const char *ct, struct dc_buf *out, char *why, size_t cap)
{
    char mt[128];

    sdc_media_type(ct, mt, sizeof(mt));
    if (strcmp(mt, "application/octet-stream") == 0) {
        if (!cJSON_IsString(ev) ||
            dc_base64_decode(out, ev->valuestring, strlen(ev->valuestring), NULL) != DC_OK) {
            snprintf(why, cap, "event must be a base64 string for content type %s", ct);
            return DC_EINVAL;
        }
        return DC_OK;
    }
    if (dc_str_has_prefix(mt, "text/") || strcmp(mt, "application/xml") == 0) {
        if (!cJSON_IsString(ev)) {
            snprintf(why, cap, "event must be a string for content type %s", ct);
            return DC_EINVAL;
        }
        return dc_buf_appends(out, ev->valuestring);
    }
    if (strcmp(mt, "application/json") == 0 || strcmp(mt, "application/cloudevents+json") == 0) {
        char *t = dc_json_print(ev);
        int rv = dc_buf_appends(out, t);
        free(t);
        return rv;
    }
    snprintf(why, cap, "unsupported content type %s for the event", ct);
    return DC_EINVAL;
}

static void bulk_failed(struct dc_http_response *resp, struct bulk_entry *e, size_t n,
                        const int *res, char (*errs)[DC_ERRBUF_LEN])
{
    struct dc_buf *b = &resp->body;
    bool first = true;

    dc_buf_reset(b);
    put(b, "{\"failedEntries\":[");
    for (size_t i = 0; i < n; i++) {
        if (res[i] == DC_OK)
            continue;
        put(b, first ? "{" : ",{");
        first = false;
        DC_ASSERT(dc_json_append_kv_string(b, "entryId", e[i].entry_id, false) == DC_OK);
        DC_ASSERT(dc_json_append_kv_string(b, "error", errs[i], true) == DC_OK);
        put(b, "}");
    }
    put(b, "],\"errorCode\":\"ERR_PUBSUB_PUBLISH_MESSAGE\"}");
    resp->status = 500;
    dc_http_response_header_set(resp, "Content-Type", "application/json");
    dc_http_response_header_set(resp, "metadata.responseData", dc_buf_cstr(b));
    for (size_t i = 0; i < n; i++)
        if (res[i] != DC_OK) {
            dc_http_response_header_set(resp, "metadata.error", errs[i]);
            break;
        }
}

static void on_bulk_publish(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    const char *name = dc_http_request_param(req, "pubsubname");
    const char *topic = dc_http_request_param(req, "topic");
    struct sdc__ps_comp *c;
    struct sdc_md qmd = {0};
    struct dc_errbuf eb = {0};
    cJSON *arr = NULL;
    struct bulk_entry *e = NULL;
    struct sdc_pubsub_publish *msgs = NULL;
    int *res = NULL;
    char(*errs)[DC_ERRBUF_LEN] = NULL;
    size_t n = 0;
    char why[DC_ERRBUF_LEN], emsg[DC_ERRBUF_LEN * 2];
    bool raw, failed = false;
    const cJSON *it;

    c = resolve(rt, resp, name, true);
    if (c == NULL || !check_topic(rt, resp, c, topic))
        return;
    query_md(req, &qmd);
    if (raw_payload(&qmd, &raw, why, sizeof(why)) != DC_OK) {
        snprintf(emsg, sizeof(emsg), "failed deserializing metadata. Error: %s", why);
        err_app(resp, rt, 400, "ERR_PUBSUB_REQUEST_METADATA",
                "DAPR_PUBSUB_METADATA_DESERIALIZATION", c->name, emsg);
        goto out;
    }
    if (dc_json_parse(req->body, req->body_len, req->body_len + 1, &arr, &eb) != DC_OK ||
        !cJSON_IsArray(arr)) {
        snprintf(emsg, sizeof(emsg),
                 "error when unmarshaling the request for topic %s pubsub %s: %s", topic, c->name,
                 eb.msg[0] != '\0' ? eb.msg : "the body must be a JSON array");
        bulk_err(resp, "DAPR_PUBSUB_UNMARSHAL_EVENTS", c->name, topic, emsg);
        goto out;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    if (n > SDC_PUBSUB_MAX_BULK_ENTRIES) {
        snprintf(emsg, sizeof(emsg),
                 "error when unmarshaling the request for topic %s pubsub %s: "
                 "more than %d entries",
                 topic, c->name, SDC_PUBSUB_MAX_BULK_ENTRIES);
        bulk_err(resp, "DAPR_PUBSUB_UNMARSHAL_EVENTS", c->name, topic, emsg);
        n = 0;
        goto out;
    }
    e = dc_xcalloc(n + 1, sizeof(*e));
    msgs = dc_xcalloc(n + 1, sizeof(*msgs));
    res = dc_xcalloc(n + 1, sizeof(*res));
    errs = dc_xcalloc(n + 1, sizeof(*errs));
    n = 0;
    /* Go's decoder matches field names case-insensitively: so does cJSON_GetObjectItem. */
    cJSON_ArrayForEach(it, arr)
    {
        struct bulk_entry *x = &e[n++];
        const cJSON *id = cJSON_GetObjectItem(it, "entryId");
        const cJSON *ev = cJSON_GetObjectItem(it, "event");
        const cJSON *ct = cJSON_GetObjectItem(it, "contentType");
        const cJSON *md = cJSON_GetObjectItem(it, "metadata");
        const cJSON *m;

        if (!cJSON_IsObject(it) || !cJSON_IsString(id) || id->valuestring[0] == '\0') {
            snprintf(emsg, sizeof(emsg),
                     "error when unmarshaling the request for topic %s "
                     "pubsub %s: entryId is duplicated or not present for entry",
                     topic, c->name);
            bulk_err(resp, "DAPR_PUBSUB_UNMARSHAL_EVENTS", c->name, topic, emsg);
            goto out;
        }
        x->entry_id = id->valuestring;
        for (size_t k = 0; k + 1 < n; k++)
            if (strcmp(e[k].entry_id, x->entry_id) == 0) {
                snprintf(emsg, sizeof(emsg),
                         "error when unmarshaling the request for topic %s "
                         "pubsub %s: entryId is duplicated or not present for entry",
                         topic, c->name);
                bulk_err(resp, "DAPR_PUBSUB_UNMARSHAL_EVENTS", c->name, topic, emsg);
                goto out;
            }
        x->ct = cJSON_IsString(ct) && ct->valuestring[0] != '\0'
                    ? ct->valuestring
                    : (cJSON_IsString(ev) ? "text/plain" : "application/json");
        cJSON_ArrayForEach(m, md) if (cJSON_IsString(m))
            sdc_md_set(&x->md, m->string, m->valuestring);
        for (size_t k = 0; k < qmd.n; k++)
            if (sdc_md_get(&x->md, qmd.names[k]) == NULL)
                sdc_md_set(&x->md, qmd.names[k], qmd.values[k]);
        if (ev == NULL || entry_bytes(ev, x->ct, &x->data, why, sizeof(why)) != DC_OK) {
            snprintf(emsg, sizeof(emsg),
                     "error marshaling events to bytes for topic %s pubsub "
                     "%s. error: %s",
                     topic, c->name, ev == NULL ? "event is missing" : why);
            bulk_err(resp, "DAPR_PUBSUB_MARSHAL_EVENTS", c->name, topic, emsg);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        bool eraw = raw;
        msgs[i].topic = topic;
        msgs[i].metadata = &e[i].md;
        msgs[i].content_type = e[i].ct;
        if (raw_payload(&e[i].md, &eraw, why, sizeof(why)) != DC_OK)
            eraw = raw;
        if (!eraw) {
            struct dc_buf ev = {0};
            struct sdc_ce_in in = {
                .app_id = rt->cfg->app_id,
                .pubsub = c->name,
                .topic = topic,
                .content_type = e[i].ct,
                .data = e[i].data.data,
                .len = e[i].data.len,
                .md = &e[i].md,
                .traceparent = tracing_on(rt) ? dc_http_request_header(req, "traceparent") : NULL,
                .tracestate = tracing_on(rt) ? dc_http_request_header(req, "tracestate") : NULL,
                .now_ns = dc_now_ns(),
                .add_expiration = !(c->ops->features & SDC_PUBSUB_F_MESSAGE_TTL),
            };
            if (sdc_cloudevent_build(&in, &ev, &eb) != DC_OK) {
                dc_buf_cleanup(&ev);
                err_app(resp, rt, 500, "ERR_PUBSUB_CLOUD_EVENTS_SER",
                        "DAPR_PUBSUB_CLOUD_EVENT_CREATION", c->name, "cannot create cloudevent");
                goto out;
            }
            dc_buf_cleanup(&e[i].data);
            e[i].data = ev;
            msgs[i].content_type = "application/cloudevents+json";
        }
        msgs[i].data = e[i].data.data != NULL ? e[i].data.data : "";
        msgs[i].data_len = e[i].data.len;
    }
    if (c->ops->bulk_publish != NULL) {
        if (c->ops->bulk_publish(c->c->self, msgs, n, res, &eb) != DC_OK) {
            for (size_t i = 0; i < n; i++)
                if (res[i] != DC_OK) {
                    dc_strlcpy(errs[i], eb.msg[0] != '\0' ? eb.msg : dc_strerror(res[i]),
                               DC_ERRBUF_LEN);
                    failed = true;
                }
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            struct dc_errbuf one = {0};
            res[i] = publish_one(rt->pubsub, c, &msgs[i], &one);
            if (res[i] != DC_OK) {
                dc_strlcpy(errs[i], one.msg[0] != '\0' ? one.msg : dc_strerror(res[i]),
                           DC_ERRBUF_LEN);
                failed = true;
            }
        }
    }
    if (failed)
        bulk_failed(resp, e, n, res, errs);
    else
        resp->status = 204;
out:
    for (size_t i = 0; i < n; i++) {
        dc_buf_cleanup(&e[i].data);
        sdc_md_cleanup(&e[i].md);
    }
    free(e);
    free(msgs);
    free(res);
    free(errs);
    cJSON_Delete(arr);
    sdc_md_cleanup(&qmd);
}

void sdc_pubsub_api_routes(struct dc_http_router *r, struct sdc_runtime *rt)
{
    static const char *const methods[] = {"POST", "PUT"};

    for (size_t i = 0; i < 2; i++) {
        sdc_http_api_add(r, rt, methods[i], "/v1.0/publish/{pubsubname}/{topic*}", on_publish);
        sdc_http_api_add(r, rt, methods[i], "/v1.0-alpha1/publish/bulk/{pubsubname}/{topic*}",
                         on_bulk_publish);
        sdc_http_api_add(r, rt, methods[i], "/v1.0/publish/bulk/{pubsubname}/{topic*}",
                         on_bulk_publish);
    }
}

/* ---- set-up ------------------------------------------------------------------------------- */

int sdc_pubsub_init(struct sdc_runtime *rt, struct dc_errbuf *eb)
{
    struct sdc_pubsub_rt *ps = dc_xcalloc(1, sizeof(*ps));
    size_t n = sdc_components_count(&rt->comps, SDC_CAT_PUBSUB);
    int rv;

    ps->rt = rt;
    pthread_mutex_init(&ps->mu, NULL);
    pthread_mutex_init(&ps->inflight_mu, NULL);
    pthread_cond_init(&ps->inflight_cv, NULL);
    ps->max_inflight = SDC_PUBSUB_MAX_INFLIGHT;
    ps->comps = dc_xcalloc(n + 1, sizeof(*ps->comps));
    for (size_t i = 0; i < rt->comps.n; i++) {
        struct sdc_component *sc = &rt->comps.v[i];
        struct sdc__ps_comp *c;
        if (!sc->ok || sc->type == NULL || sc->type->category != SDC_CAT_PUBSUB || ps->ncomps >= n)
            continue;
        c = &ps->comps[ps->ncomps++];
        c->c = sc;
        c->ops = sdc_pubsub_ops_of(sc);
        c->name = sc->def->meta.name;
        comp_scoping(c, &sc->md, rt->cfg->app_id);
    }
    rt->pubsub = ps;
    /* Declarative subscriptions compile now so that a bad rule stops daprd with its location. */
    for (size_t i = 0; i < rt->nsubscriptions; i++) {
        const struct dc_subscription *d = rt->subscriptions[i];
        struct sdc__ps_sub *s = dc_xcalloc(1, sizeof(*s));
        const char *def = d->version == 1 ? d->route : d->default_route;
        size_t nr = d->nrules + (dc_str_empty(def) ? 0 : 1);

        s->ps = ps;
        s->type = SDC__PS_DECLARATIVE;
        s->pubsub = dc_xstrdup(d->pubsubname != NULL ? d->pubsubname : "");
        s->topic = dc_xstrdup(d->topic != NULL ? d->topic : "");
        s->dead_letter = d->dead_letter_topic != NULL ? dc_xstrdup(d->dead_letter_topic) : NULL;
        s->bulk = d->bulk_enabled;
        s->bulk_max_n = d->bulk_max_messages > 0 ? d->bulk_max_messages : 100;
        s->bulk_max_await_ms = d->bulk_max_await_ms > 0 ? d->bulk_max_await_ms : 1000;
        for (size_t k = 0; k < d->nmetadata; k++)
            sdc_md_set(&s->md, d->metadata[k].name,
                       d->metadata[k].value != NULL ? d->metadata[k].value : "");
        s->rules = dc_xcalloc(nr + 1, sizeof(*s->rules));
        for (size_t k = 0; k < d->nrules; k++) {
            s->rules[s->nrules].match =
                dc_str_empty(d->rules[k].match) ? NULL : dc_xstrdup(d->rules[k].match);
            s->rules[s->nrules++].path = dc_xstrdup(d->rules[k].path ? d->rules[k].path : "");
        }
        if (!dc_str_empty(def))
            s->rules[s->nrules++].path = dc_xstrdup(def);
        rv = sdc__ps_sub_compile(s, eb);
        if (rv != DC_OK) {
            int line = d->meta.line;
            /* Point at the rule that failed when there is one. */
            for (size_t k = 0; k < s->nrules && k < d->nrules; k++)
                if (s->rules[k].match != NULL && s->rules[k].m == NULL) {
                    line = d->rules[k].line > 0 ? d->rules[k].line : line;
                    break;
                }
            dc_err_wrapf(eb, "%s:%d: Subscription %s", d->meta.file ? d->meta.file : "", line,
                         d->meta.name ? d->meta.name : "");
            sdc__ps_sub_free(s);
            return rv;
        }
        ps->subs = dc_xrealloc(ps->subs, (ps->nsubs + 1) * sizeof(*ps->subs));
        ps->subs[ps->nsubs++] = s;
    }
    if (pthread_create(&ps->thread, NULL, sdc__ps_thread, ps) != 0)
        return dc_err_set(eb, DC_EIO, "pubsub: cannot start the subscription thread");
    ps->thread_started = true;
    return DC_OK;
}

void sdc_pubsub_free(struct sdc_pubsub_rt *ps)
{
    if (ps == NULL)
        return;
    atomic_store(&ps->stop, true);
    if (ps->thread_started)
        pthread_join(ps->thread, NULL);
    for (size_t i = 0; i < ps->nsubs; i++) {
        struct sdc__ps_sub *s = ps->subs[i];
        if (s->handle != NULL && s->comp != NULL)
            s->comp->ops->unsubscribe(s->comp->c->self, s->handle);
        s->handle = NULL;
    }
    for (size_t i = 0; i < ps->nsubs; i++)
        sdc__ps_sub_free(ps->subs[i]);
    free(ps->subs);
    for (size_t i = 0; i < ps->ncomps; i++)
        comp_scoping_cleanup(&ps->comps[i]);
    free(ps->comps);
    pthread_mutex_destroy(&ps->mu);
    pthread_mutex_destroy(&ps->inflight_mu);
    pthread_cond_destroy(&ps->inflight_cv);
    if (ps->rt != NULL && ps->rt->pubsub == ps)
        ps->rt->pubsub = NULL;
    free(ps);
}
