/* CloudEvent envelopes of daprd's pub/sub (sidecar-api.md §6.2, §6.6). */
#include "cloudevent.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "dc/base64.h"
#include "dc/json.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/rand.h"
#include "dc/str.h"
#include "dc/time.h"

#include "pubsub_json.h"

#define CE_TYPE "com.dapr.event.sent"
/* Room for the envelope's members other than the data and the strings counted separately
 * (names, id, times, trace context): a sizing hint, not a limit. */
#define CE_MEMBERS_SIZE 512

void sdc_uuid4(char out[37])
{
    dc_uuid4(out);
}

void sdc_media_type(const char *ct, char *out, size_t cap)
{
    size_t o = 0;

    if (cap == 0)
        return;
    for (; ct != NULL && *ct != '\0' && *ct != ';'; ct++) {
        if (isspace((unsigned char)*ct))
            continue;
        if (o + 1 < cap)
            out[o++] = (char)tolower((unsigned char)*ct);
    }
    out[o] = '\0';
}

/* Merge sort of a cJSON child list by key. */
static cJSON *merge_sorted(cJSON *a, cJSON *b)
{
    cJSON head = {0}, *t = &head;

    while (a != NULL && b != NULL) {
        if (strcmp(a->string, b->string) <= 0) {
            t->next = a;
            a = a->next;
        } else {
            t->next = b;
            b = b->next;
        }
        t = t->next;
    }
    t->next = a != NULL ? a : b;
    return head.next;
}

static cJSON *sort_list(cJSON *h)
{
    cJSON *slow = h, *fast, *second;

    if (h == NULL || h->next == NULL)
        return h;
    fast = h->next;
    while (fast != NULL && fast->next != NULL) {
        slow = slow->next;
        fast = fast->next->next;
    }
    second = slow->next;
    slow->next = NULL;
    return merge_sorted(sort_list(h), sort_list(second));
}

void sdc_json_sort_keys(cJSON *v)
{
    cJSON *c, *prev = NULL;

    if (v == NULL)
        return;
    for (c = v->child; c != NULL; c = c->next)
        sdc_json_sort_keys(c);
    if (!cJSON_IsObject(v) || v->child == NULL)
        return;
    v->child = sort_list(v->child);
    /* Rebuild the prev links (cJSON keeps child->prev pointing at the last item). */
    for (c = v->child; c != NULL; c = c->next) {
        c->prev = prev;
        prev = c;
    }
    v->child->prev = prev;
}

static const char *md_get(const struct sdc_md *md, const char *name)
{
    return md != NULL ? sdc_md_get(md, name) : NULL;
}

static const char *md_or(const struct sdc_md *md, const char *name, const char *def)
{
    const char *v = md_get(md, name);

    return !dc_str_empty(v) ? v : def;
}

/* The last second formatted by this thread: events of the same second share the text. */
static _Thread_local int64_t time_sec = INT64_MIN;
static _Thread_local char time_text[DC_RFC3339_FMT_LEN];

static void now_rfc3339(int64_t ns, char *out, size_t cap)
{
    int64_t sec = ns - ns % 1000000000LL;

    if (sec == time_sec && cap >= sizeof(time_text)) {
        memcpy(out, time_text, strlen(time_text) + 1);
        return;
    }
    if (dc_rfc3339_format(sec, out, cap) != DC_OK) {
        if (cap > 0)
            out[0] = '\0';
        return;
    }
    if (strlen(out) < sizeof(time_text)) {
        memcpy(time_text, out, strlen(out) + 1);
        time_sec = sec;
    }
}

/* The TTL from ttlInSeconds: DC_OK with *has false when absent. */
static int ttl_of(const struct sdc_md *md, bool *has, int64_t *secs, struct dc_errbuf *eb)
{
    const char *v = md_get(md, "ttlInSeconds");

    *has = false;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_str_to_i64(v, 0, INT32_MAX, secs) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "incorrect value for metadata 'ttlInSeconds': %s", v);
    *has = true;
    return DC_OK;
}

/* Go's encoder for strings: as dc_json_append_string. */
static int put_kv(struct dc_buf *b, const char *k, const char *v, bool comma)
{
    return dc_json_append_kv_string(b, k, v != NULL ? v : "", comma);
}

static size_t slen(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

static bool is_binary(const char *mt)
{
    return strcmp(mt, "application/octet-stream") == 0 ||
           strcmp(mt, "application/cloudevents+protobuf") == 0 ||
           strcmp(mt, "application/x-protobuf") == 0;
}

/* ---- application/json data ----
 *
 * The data of an application/json event is the payload as cJSON would print it after
 * dc_json_parse and sdc_json_sort_keys. sdc__ps_json_canon (pubsub_json.h) writes exactly that
 * without a cJSON tree for the common shapes of JSON and declines the rest, which take the
 * cJSON path: the bytes are the same either way. */

/* Sort `v`'s keys, print it into `out` and free it. */
static int append_tree(struct dc_buf *out, cJSON *v)
{
    char *text;
    int rv;

    sdc_json_sort_keys(v);
    text = dc_json_print(v);
    cJSON_Delete(v);
    rv = dc_buf_appends(out, text);
    free(text);
    return rv;
}

int sdc_json_append_sorted(struct dc_buf *out, const void *data, size_t len)
{
    cJSON *v = NULL;
    int rv = sdc__ps_json_canon(len > 0 ? data : "", len, out);

    if (rv != DC_EAGAIN)
        return rv;
    if (dc_json_parse(len > 0 ? data : "", len, len, &v, NULL) != DC_OK)
        return DC_EPARSE;
    return append_tree(out, v);
}

static int append_data(struct dc_buf *out, const char *mt, const struct sdc_ce_in *in)
{
    int rv;

    if (is_binary(mt)) {
        rv = dc_buf_appends(out, "\"data_base64\":\"");
        if (rv == DC_OK)
            rv = dc_base64_append(out, in->data, in->len);
        if (rv == DC_OK)
            rv = dc_buf_appendc(out, '"');
        return rv;
    }
    rv = dc_buf_appends(out, "\"data\":");
    if (rv != DC_OK)
        return rv;
    if (strcmp(mt, "application/json") == 0 && in->len > 0) {
        rv = sdc_json_append_sorted(out, in->data, in->len);
        if (rv != DC_EPARSE)
            return rv;
    }
    return dc_json_append_string(out, in->len > 0 ? in->data : "", in->len);
}

static int build_envelope(const struct sdc_ce_in *in, const char *ct, const char *mt,
                          struct dc_buf *out, struct dc_errbuf *eb)
{
    char id[37], now[DC_RFC3339_FMT_LEN], exp[DC_RFC3339_FMT_LEN];
    const char *tp, *ts, *subject;
    bool has_ttl = false;
    int64_t ttl = 0;
    int rv;

    rv = ttl_of(in->md, &has_ttl, &ttl, eb);
    if (rv != DC_OK)
        return rv;
    /* One allocation for the usual event: the data (base64 grows it by 4/3) and the members
     * around it, instead of doubling the buffer member by member. */
    if (out->max == 0) {
        rv = dc_buf_reserve(out, (is_binary(mt) ? in->len / 3 * 4 + 4 : in->len) + CE_MEMBERS_SIZE +
                                     slen(ct) + slen(in->topic) + slen(in->pubsub) +
                                     slen(in->app_id));
        if (rv != DC_OK)
            return rv;
    }
    sdc_uuid4(id);
    now_rfc3339(in->now_ns, now, sizeof(now));
    tp = md_or(in->md, "cloudevent.traceparent",
               md_or(in->md, "cloudevent.traceid", in->traceparent != NULL ? in->traceparent : ""));
    ts = md_or(in->md, "cloudevent.tracestate", in->tracestate != NULL ? in->tracestate : "");
    subject = md_get(in->md, "cloudevent.subject");

    rv = dc_buf_appendc(out, '{');
    if (rv == DC_OK)
        rv = append_data(out, mt, in);
    if (rv == DC_OK)
        rv = put_kv(out, "datacontenttype", ct, true);
    if (rv == DC_OK && has_ttl && in->add_expiration) {
        now_rfc3339(in->now_ns + ttl * 1000000000LL, exp, sizeof(exp));
        rv = put_kv(out, "expiration", exp, true);
    }
    if (rv == DC_OK)
        rv = put_kv(out, "id", md_or(in->md, "cloudevent.id", id), true);
    if (rv == DC_OK)
        rv = put_kv(out, "pubsubname", in->pubsub, true);
    if (rv == DC_OK)
        rv = put_kv(out, "source", md_or(in->md, "cloudevent.source", in->app_id), true);
    if (rv == DC_OK)
        rv = put_kv(out, "specversion", "1.0", true);
    if (rv == DC_OK && !dc_str_empty(subject))
        rv = put_kv(out, "subject", subject, true);
    if (rv == DC_OK)
        rv = put_kv(out, "time", now, true);
    if (rv == DC_OK)
        rv = put_kv(out, "topic", in->topic, true);
    if (rv == DC_OK)
        rv = put_kv(out, "traceid", tp, true);
    if (rv == DC_OK)
        rv = put_kv(out, "traceparent", tp, true);
    if (rv == DC_OK)
        rv = put_kv(out, "tracestate", ts, true);
    if (rv == DC_OK)
        rv = put_kv(out, "type", md_or(in->md, "cloudevent.type", CE_TYPE), true);
    if (rv == DC_OK)
        rv = dc_buf_appendc(out, '}');
    return rv;
}

static void set_str(cJSON *o, const char *k, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    cJSON_AddItemToObject(o, k, cJSON_CreateString(v != NULL ? v : ""));
}

static void default_str(cJSON *o, const char *k, const char *v)
{
    if (cJSON_GetObjectItemCaseSensitive(o, k) == NULL)
        cJSON_AddItemToObject(o, k, cJSON_CreateString(v != NULL ? v : ""));
}

/* A CloudEvent built by the app: completed and re-encoded (§6.2 rule 2). */
static int build_from_app(const struct sdc_ce_in *in, struct dc_buf *out, struct dc_errbuf *eb)
{
    char now[DC_RFC3339_FMT_LEN], exp[DC_RFC3339_FMT_LEN];
    const char *tp = md_or(in->md, "cloudevent.traceparent",
                           md_or(in->md, "cloudevent.traceid", in->traceparent));
    cJSON *o = NULL;
    bool has_ttl = false;
    int64_t ttl = 0;
    int rv;

    rv = ttl_of(in->md, &has_ttl, &ttl, eb);
    if (rv != DC_OK)
        return rv;
    rv = dc_json_parse(in->len > 0 ? in->data : "", in->len, in->len, &o, eb);
    if (rv != DC_OK || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return dc_err_set(eb, DC_EPARSE, "cannot create cloudevent");
    }
    now_rfc3339(in->now_ns, now, sizeof(now));
    default_str(o, "time", now);
    if (cJSON_GetObjectItemCaseSensitive(o, "traceid") == NULL) {
        set_str(o, "traceid", tp);
        set_str(o, "traceparent", tp);
    }
    default_str(o, "tracestate", md_or(in->md, "cloudevent.tracestate", in->tracestate));
    set_str(o, "topic", in->topic);
    set_str(o, "pubsubname", in->pubsub);
    default_str(o, "source", "Dapr");
    default_str(o, "type", CE_TYPE);
    default_str(o, "specversion", "1.0");
    if (has_ttl && in->add_expiration) {
        now_rfc3339(in->now_ns + ttl * 1000000000LL, exp, sizeof(exp));
        set_str(o, "expiration", exp);
    }
    return append_tree(out, o);
}

int sdc_cloudevent_build(const struct sdc_ce_in *in, struct dc_buf *out, struct dc_errbuf *eb)
{
    const char *ct = dc_str_empty(in->content_type) ? "text/plain" : in->content_type;
    char mt[128];

    sdc_media_type(ct, mt, sizeof(mt));
    if (strcmp(mt, "application/cloudevents+json") == 0)
        return build_from_app(in, out, eb);
    return build_envelope(in, ct, mt, out, eb);
}

int sdc_cloudevent_wrap_raw(const char *pubsub, const char *topic, const void *data, size_t len,
                            const struct sdc_md *md, struct dc_buf *out)
{
    static const char *const trace[] = {"traceid", "traceparent", "tracestate"};
    char id[37];
    int rv;

    sdc_uuid4(id);
    rv = dc_buf_appends(out, "{\"data_base64\":\"");
    if (rv == DC_OK)
        rv = dc_base64_append(out, data, len);
    if (rv == DC_OK)
        rv = dc_buf_appends(out, "\",\"datacontenttype\":\"application/octet-stream\"");
    if (rv == DC_OK)
        rv = put_kv(out, "id", id, true);
    if (rv == DC_OK)
        rv = put_kv(out, "pubsubname", pubsub, true);
    if (rv == DC_OK)
        rv = put_kv(out, "source", "Dapr", true);
    if (rv == DC_OK)
        rv = put_kv(out, "specversion", "1.0", true);
    if (rv == DC_OK)
        rv = put_kv(out, "topic", topic, true);
    for (size_t i = 0; i < 3 && rv == DC_OK; i++) {
        const char *v = md_get(md, trace[i]);
        if (v != NULL)
            rv = put_kv(out, trace[i], v, true);
    }
    if (rv == DC_OK)
        rv = put_kv(out, "type", CE_TYPE, true);
    if (rv == DC_OK)
        rv = dc_buf_appendc(out, '}');
    return rv;
}

int sdc_cloudevent_parse(const void *data, size_t len, size_t max_len, cJSON **out,
                         struct dc_errbuf *eb)
{
    cJSON *v = NULL;
    int rv = dc_json_parse(len > 0 ? data : "", len, max_len, &v, eb);

    if (rv != DC_OK)
        return rv;
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return dc_err_set(eb, DC_EPARSE, "cloud event is not a JSON object");
    }
    *out = v;
    return DC_OK;
}

bool sdc_cloudevent_expired(const cJSON *ev, int64_t now_ns)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "expiration");
    int64_t t;

    if (!cJSON_IsString(e) || dc_rfc3339_parse(e->valuestring, &t, NULL) != DC_OK)
        return false;
    return t <= now_ns;
}
