/* Delivery of pub/sub messages to the app (sidecar-api.md §6.6, §6.7): routing, expiry, the
 * app's SUCCESS/RETRY/DROP and HTTP status semantics, dead letters, redelivery under the
 * component's inbound resiliency policy, and the bound on concurrent deliveries. */
#include "pubsub_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/arena.h"
#include "dc/json.h"
#include "dc/limits.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/rand.h"
#include "dc/str.h"
#include "dc/time.h"

#include "app_channel.h"
#include "cloudevent.h"
#include "http_mw.h"
#include "pubsub_json.h"

enum sdc_pubsub_status sdc__ps_app_status(const char *body, size_t len)
{
    cJSON *o = NULL;
    const cJSON *st;
    enum sdc_pubsub_status r = SDC_PUBSUB_SUCCESS;

    /* Empty or non-JSON bodies are a success (§6.6). */
    if (sdc__ps_reply_is_success(body, len))
        return SDC_PUBSUB_SUCCESS;
    if (len == 0 || dc_json_parse(body, len, len, &o, NULL) != DC_OK)
        return SDC_PUBSUB_SUCCESS;
    st = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "status") : NULL;
    if (cJSON_IsString(st) && st->valuestring[0] != '\0') {
        if (dc_str_eq_ci(st->valuestring, "SUCCESS"))
            r = SDC_PUBSUB_SUCCESS;
        else if (dc_str_eq_ci(st->valuestring, "DROP"))
            r = SDC_PUBSUB_DROP;
        else
            r = SDC_PUBSUB_RETRY; /* RETRY and any unknown status */
    }
    cJSON_Delete(o);
    return r;
}

int sdc__ps_route(const struct sdc__ps_sub *s, const cJSON *event, const char **path,
                  struct dc_errbuf *eb)
{
    *path = NULL;
    for (size_t i = 0; i < s->nrules; i++) {
        int r;
        if (s->rules[i].m == NULL) {
            *path = s->rules[i].path;
            return DC_OK;
        }
        r = sdc_match_eval(s->rules[i].m, event, eb);
        if (r < 0)
            return r;
        if (r == 1) {
            *path = s->rules[i].path;
            return DC_OK;
        }
    }
    return DC_OK;
}

/* ---- the bound on deliveries in flight ------------------------------------------------------ */

static bool inflight_acquire(struct sdc_pubsub_rt *ps)
{
    pthread_mutex_lock(&ps->inflight_mu);
    while (ps->inflight >= ps->max_inflight && !atomic_load(&ps->stop))
        pthread_cond_wait(&ps->inflight_cv, &ps->inflight_mu);
    if (atomic_load(&ps->stop)) {
        pthread_mutex_unlock(&ps->inflight_mu);
        return false;
    }
    ps->inflight++;
    pthread_mutex_unlock(&ps->inflight_mu);
    return true;
}

static void inflight_release(struct sdc_pubsub_rt *ps)
{
    pthread_mutex_lock(&ps->inflight_mu);
    ps->inflight--;
    pthread_cond_signal(&ps->inflight_cv);
    pthread_mutex_unlock(&ps->inflight_mu);
}

/* ---- one delivery --------------------------------------------------------------------------- */

struct post {
    struct sdc__ps_sub *s;
    const struct sdc_pubsub_msg *msg;
    const char *path;
    const char *content_type;
    const void *body;
    size_t len;
    const char *traceparent; /* the event's */
    const char *tracestate;
    struct dc_arena *arena;
    enum sdc_pubsub_status decision;
    int status;          /* last HTTP status, -1 for none */
    struct dc_buf reply; /* bulk: the reply body */
    bool keep_reply;
};

static bool header_safe(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

/* "name: value" in the arena (printf-free: this runs for every delivery). */
static const char *header(struct dc_arena *a, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    char *h = dc_arena_alloc(a, nl + 2 + vl + 1);

    memcpy(h, name, nl);
    memcpy(h + nl, ": ", 2);
    memcpy(h + nl + 2, value, vl + 1);
    return h;
}

static const char **build_headers(struct post *p)
{
    const struct sdc_md *md = p->msg->metadata;
    size_t n = 0, cap = 6 + (md != NULL ? md->n : 0);
    const char **h = dc_arena_alloc(p->arena, cap * sizeof(*h));
    char trace_id[33], flags[3];

    h[n++] = header(p->arena, "Content-Type", p->content_type);
    h[n++] = header(p->arena, "pubsubName", p->s->pubsub);
    for (size_t i = 0; md != NULL && i < md->n; i++) {
        if (dc_str_eq_ci(md->names[i], SDC_PUBSUB_MD_PUBSUB_NAME) ||
            dc_str_eq_ci(md->names[i], "content-type") || !header_safe(md->names[i]) ||
            !header_safe(md->values[i]) || md->names[i][0] == '\0' ||
            strchr(md->names[i], ':') != NULL)
            continue;
        h[n++] = header(p->arena, md->names[i], md->values[i]);
    }
    /* A new span under the event's trace (§6.6). */
    if (sdc_traceparent_parse(p->traceparent, trace_id, flags)) {
        unsigned char r[8];
        char span[17];
        static const char hexd[] = "0123456789abcdef";
        if (dc_rand_bytes(r, sizeof(r)) == DC_OK) {
            for (size_t i = 0; i < 8; i++) {
                span[2 * i] = hexd[r[i] >> 4];
                span[2 * i + 1] = hexd[r[i] & 15];
            }
            span[16] = '\0';
            h[n++] = dc_arena_sprintf(p->arena, "traceparent: 00-%s-%s-%s", trace_id, span, flags);
            if (!dc_str_empty(p->tracestate) && header_safe(p->tracestate))
                h[n++] = header(p->arena, "tracestate", p->tracestate);
        }
    }
    h[n] = NULL;
    return h;
}

static int post_attempt(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    struct post *p = ud;
    struct sdc_app_call call = {.method = "POST",
                                .path = p->path,
                                .body = p->body,
                                .body_len = p->len,
                                .deadline_ns = deadline_ns};
    struct dc_http_result res = {0};
    int rv;

    *status = -1;
    p->decision = SDC_PUBSUB_RETRY;
    if (atomic_load(&p->s->ps->stop))
        return dc_err_set(eb, DC_ECANCELED, "shutting down");
    if (!sdc_app_channel_healthy(p->s->ps->rt->app))
        return dc_err_set(eb, DC_EUNAVAIL, "app is not in a healthy state");
    call.headers = build_headers(p);
    rv = sdc_app_channel_call(p->s->ps->rt->app, &call, p->arena, &res, eb);
    if (rv != DC_OK) {
        dc_http_result_cleanup(&res);
        return rv;
    }
    p->status = (int)res.status;
    if (res.status >= 200 && res.status <= 299) {
        if (p->keep_reply) {
            dc_buf_reset(&p->reply);
            if (dc_buf_append(&p->reply, res.body.data != NULL ? res.body.data : "",
                              res.body.len) != DC_OK)
                dc_buf_reset(&p->reply);
            p->decision = SDC_PUBSUB_SUCCESS;
            *status = 200;
            dc_http_result_cleanup(&res);
            return DC_OK;
        }
        p->decision = sdc__ps_app_status(res.body.data, res.body.len);
        dc_http_result_cleanup(&res);
        if (p->decision == SDC_PUBSUB_RETRY)
            return dc_err_set(eb, DC_EAGAIN,
                              "RETRY status returned from app while processing pub/sub event");
        *status = 200;
        return DC_OK;
    }
    dc_http_result_cleanup(&res);
    if (p->status == 404) {
        /* Not retriable: the event is dropped (§6.6). */
        p->decision = SDC_PUBSUB_DROP;
        dc_err_set(eb, DC_ENOTFOUND,
                   "non-retriable error returned from app while processing "
                   "pub/sub event: status code 404");
        *status = 200;
        return DC_OK;
    }
    dc_err_set(eb, DC_EIO,
               "retriable error returned from app while processing pub/sub event, "
               "status code: %d",
               p->status);
    *status = p->status;
    return DC_OK;
}

/* POST to the app under the inbound policy. Returns the decision. */
static enum sdc_pubsub_status post_to_app(struct post *p, struct dc_errbuf *eb)
{
    int status = -1;
    int rv = sdc_resiliency_run(p->s->policy, p->s->pubsub, post_attempt, p, &status, eb);

    if (rv != DC_OK)
        return SDC_PUBSUB_RETRY;
    if (p->decision != SDC_PUBSUB_RETRY)
        return p->decision;
    return SDC_PUBSUB_RETRY;
}

/* Copy the original message to the dead-letter topic. DC_OK when there is none. */
static int dead_letter(struct sdc__ps_sub *s, const struct sdc_pubsub_msg *msg)
{
    struct dc_errbuf eb = {0};
    int rv;

    if (dc_str_empty(s->dead_letter) || s->comp == NULL)
        return DC_ENOTFOUND;
    rv = sdc__ps_publish_raw(s->ps, s->comp, s->dead_letter, msg->data, msg->data_len,
                             "application/cloudevents+json", msg->metadata, &eb);
    if (rv != DC_OK)
        DC_LOG(DC_LOG_ERROR, "failed to publish to dead letter topic %s on pubsub %s: %s",
               s->dead_letter, s->pubsub, eb.msg);
    return rv;
}

/* A failed delivery: dead-lettered and acknowledged when possible, else left for redelivery. */
static int give_up(struct sdc__ps_sub *s, const struct sdc_pubsub_msg *msg, int on_no_dl)
{
    int rv = dead_letter(s, msg);

    if (rv == DC_OK)
        return SDC_PUBSUB_DROP;
    return rv == DC_ENOTFOUND ? on_no_dl : SDC_PUBSUB_RETRY;
}

static const char *ev_str(const cJSON *ev, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* What delivery reads of an event besides routing: from the fast scan or the cJSON tree. */
struct evinfo {
    const char *id, *expiration, *traceparent, *traceid, *tracestate;
};

static const char *span_str(struct dc_arena *a, const struct sdc__ps_span *sp)
{
    return sp->p != NULL ? dc_arena_strndup(a, sp->p, sp->len) : NULL;
}

/* Whether routing `s`'s events needs the event as a tree (a rule with a match comes first). */
static bool needs_tree(const struct sdc__ps_sub *s)
{
    return s->nrules > 0 && s->rules[0].m != NULL;
}

/* The event without a cJSON tree (sdc__ps_ce_scan); false: parse it. */
static bool scan_event(struct dc_arena *a, const void *body, size_t len, struct evinfo *ei)
{
    struct sdc__ps_span f[SDC__PS_CE_NFIELDS];

    if (!sdc__ps_ce_scan(body, len, f))
        return false;
    ei->id = span_str(a, &f[SDC__PS_CE_ID]);
    ei->expiration = span_str(a, &f[SDC__PS_CE_EXPIRATION]);
    ei->traceparent = span_str(a, &f[SDC__PS_CE_TRACEPARENT]);
    ei->traceid = span_str(a, &f[SDC__PS_CE_TRACEID]);
    ei->tracestate = span_str(a, &f[SDC__PS_CE_TRACESTATE]);
    return true;
}

/* sdc_cloudevent_expired on the event's `expiration` member. */
static bool expired(const char *expiration, int64_t now_ns)
{
    int64_t t;

    return expiration != NULL && dc_rfc3339_parse(expiration, &t, NULL) == DC_OK && t <= now_ns;
}

static int deliver_one(struct sdc__ps_sub *s, const struct sdc_pubsub_msg *msg)
{
    struct dc_buf raw = {0};
    struct dc_errbuf eb = {0};
    struct dc_arena arena;
    cJSON *ev = NULL;
    const void *body = msg->data;
    size_t len = msg->data_len;
    const char *path = NULL;
    struct evinfo ei = {0};
    struct post p = {0};
    int64_t t0;
    int r;

    dc_arena_init(&arena);
    if (s->raw_payload) {
        if (sdc_cloudevent_wrap_raw(s->pubsub, s->topic, msg->data, msg->data_len, msg->metadata,
                                    &raw) != DC_OK) {
            r = SDC_PUBSUB_RETRY;
            goto out;
        }
        body = raw.data;
        len = raw.len;
    }
    if (!needs_tree(s) && scan_event(&arena, body, len, &ei)) {
        path = s->nrules > 0 ? s->rules[0].path : NULL;
    } else {
        if (sdc_cloudevent_parse(body, len, len + 1, &ev, &eb) != DC_OK) {
            DC_LOG(DC_LOG_ERROR, "error deserializing cloud event in pubsub %s and topic %s: %s",
                   s->pubsub, s->topic, eb.msg);
            r = give_up(s, msg, SDC_PUBSUB_RETRY);
            goto out;
        }
        ei.id = ev_str(ev, "id");
        ei.expiration = ev_str(ev, "expiration");
        ei.traceparent = ev_str(ev, "traceparent");
        ei.traceid = ev_str(ev, "traceid");
        ei.tracestate = ev_str(ev, "tracestate");
    }
    if (expired(ei.expiration, dc_now_ns())) {
        DC_LOG(DC_LOG_WARN, "dropping expired pub/sub event %s as of %s", ei.id ? ei.id : "",
               ei.expiration);
        r = give_up(s, msg, SDC_PUBSUB_DROP);
        goto out;
    }
    if (ev != NULL && sdc__ps_route(s, ev, &path, &eb) != DC_OK) {
        DC_LOG(DC_LOG_ERROR, "error evaluating routing rules of topic %s: %s", s->topic, eb.msg);
        r = SDC_PUBSUB_RETRY;
        goto out;
    }
    if (path == NULL) {
        /* No rule matches: acknowledged without delivery (dead-lettered if configured). */
        DC_LOG(DC_LOG_DEBUG, "no matching route for event in pubsub %s and topic %s", s->pubsub,
               s->topic);
        r = give_up(s, msg, SDC_PUBSUB_SUCCESS);
        if (r == SDC_PUBSUB_DROP)
            r = SDC_PUBSUB_SUCCESS;
        goto out;
    }
    p.s = s;
    p.msg = msg;
    p.path = path;
    p.content_type = "application/cloudevents+json";
    p.body = body;
    p.len = len;
    p.traceparent = ei.traceparent != NULL ? ei.traceparent : ei.traceid;
    p.tracestate = ei.tracestate;
    p.arena = &arena;
    p.status = -1;
    t0 = dc_mono_ns();
    r = post_to_app(&p, &eb);
    sdc_comp_metric_pubsub(s->ps->rt, SDC_CM_PUBSUB_INGRESS, s->pubsub, s->topic, true,
                           r == SDC_PUBSUB_SUCCESS ? "success"
                           : r == SDC_PUBSUB_DROP  ? "drop"
                                                   : "retry",
                           t0);
    if (r == SDC_PUBSUB_DROP) {
        DC_LOG(DC_LOG_WARN, "DROP status returned from app while processing pub/sub event %s",
               ei.id ? ei.id : "");
        (void)dead_letter(s, msg);
    } else if (r == SDC_PUBSUB_RETRY) {
        DC_LOG(DC_LOG_WARN, "delivery of event %s to %s failed: %s", ei.id ? ei.id : "", path,
               eb.msg);
        r = give_up(s, msg, SDC_PUBSUB_RETRY);
    }
out:
    cJSON_Delete(ev);
    dc_arena_cleanup(&arena);
    dc_buf_cleanup(&raw);
    return r;
}

/* ---- bulk subscribe (§6.7) ------------------------------------------------------------------ */

struct bentry {
    const struct sdc_pubsub_msg *msg;
    char id[37];
    int result;
    bool done;
    struct bentry *next;
};

struct sdc__ps_bulk {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct bentry *head; /* the batch being filled */
    struct bentry **tail;
    size_t n;
    uint64_t gen; /* bumped at each take */
};

void sdc__ps_bulk_free(struct sdc__ps_sub *s)
{
    if (s->batch == NULL)
        return;
    pthread_mutex_destroy(&s->batch->mu);
    pthread_cond_destroy(&s->batch->cv);
    free(s->batch);
    s->batch = NULL;
}

static struct sdc__ps_bulk *batch_of(struct sdc__ps_sub *s)
{
    static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

    pthread_mutex_lock(&init_mu);
    if (s->batch == NULL) {
        s->batch = dc_xcalloc(1, sizeof(*s->batch));
        pthread_mutex_init(&s->batch->mu, NULL);
        pthread_cond_init(&s->batch->cv, NULL);
        s->batch->tail = &s->batch->head;
    }
    pthread_mutex_unlock(&init_mu);
    return s->batch;
}

/* Deliver the entries of one batch as one request, filling each entry's result. */
static void deliver_batch(struct sdc__ps_sub *s, struct bentry *list)
{
    struct dc_buf body = {0};
    struct dc_errbuf eb = {0};
    struct dc_arena arena;
    struct post p = {0};
    const char *path = NULL;
    char id[37];
    bool first = true;
    cJSON *reply = NULL;
    struct sdc_pubsub_msg none = {0};
    enum sdc_pubsub_status r;

    sdc_uuid4(id);
    DC_ASSERT(dc_buf_appendf(&body, "{\"entries\":[") == DC_OK);
    for (struct bentry *e = list; e != NULL; e = e->next) {
        cJSON *ev = NULL;
        const char *pth = NULL;
        char *text;
        e->result = SDC_PUBSUB_RETRY;
        sdc_uuid4(e->id);
        if (sdc_cloudevent_parse(e->msg->data, e->msg->data_len, e->msg->data_len + 1, &ev, NULL) !=
            DC_OK) {
            e->result = give_up(s, e->msg, SDC_PUBSUB_RETRY);
            e->id[0] = '\0';
            continue;
        }
        if (sdc_cloudevent_expired(ev, dc_now_ns()) || sdc__ps_route(s, ev, &pth, NULL) != DC_OK ||
            pth == NULL) {
            e->result = sdc_cloudevent_expired(ev, dc_now_ns())
                            ? give_up(s, e->msg, SDC_PUBSUB_DROP)
                            : (pth == NULL ? SDC_PUBSUB_SUCCESS : SDC_PUBSUB_RETRY);
            if (e->result == SDC_PUBSUB_DROP && pth == NULL)
                e->result = SDC_PUBSUB_SUCCESS;
            cJSON_Delete(ev);
            e->id[0] = '\0';
            continue;
        }
        if (path == NULL)
            path = pth; /* one request per batch: the first entry's route */
        text = dc_json_print(ev);
        cJSON_Delete(ev);
        DC_ASSERT(dc_buf_appendf(&body,
                                 "%s{\"contentType\":\"application/cloudevents+json\","
                                 "\"entryId\":\"%s\",\"event\":%s,\"metadata\":{}}",
                                 first ? "" : ",", e->id, text) == DC_OK);
        free(text);
        first = false;
    }
    if (path == NULL) {
        dc_buf_cleanup(&body);
        return;
    }
    DC_ASSERT(dc_buf_appendf(&body, "],\"id\":\"%s\",\"metadata\":{},\"pubsubname\":", id) ==
              DC_OK);
    DC_ASSERT(dc_json_append_string(&body, s->pubsub, strlen(s->pubsub)) == DC_OK);
    DC_ASSERT(dc_buf_appends(&body, ",\"topic\":") == DC_OK);
    DC_ASSERT(dc_json_append_string(&body, s->topic, strlen(s->topic)) == DC_OK);
    DC_ASSERT(dc_buf_appends(&body, ",\"type\":\"com.dapr.event.sent.bulk\"}") == DC_OK);

    dc_arena_init(&arena);
    p.s = s;
    p.msg = &none;
    p.path = path;
    p.content_type = "application/json";
    p.body = body.data;
    p.len = body.len;
    p.arena = &arena;
    p.status = -1;
    p.keep_reply = true;
    r = post_to_app(&p, &eb);
    if (r == SDC_PUBSUB_SUCCESS && p.reply.len > 0 &&
        dc_json_parse(p.reply.data, p.reply.len, p.reply.len, &reply, NULL) != DC_OK)
        reply = NULL; /* undecodable reply: every entry is retried */
    for (struct bentry *e = list; e != NULL; e = e->next) {
        const cJSON *st, *it;
        enum sdc_pubsub_status er = SDC_PUBSUB_RETRY;
        if (e->id[0] == '\0')
            continue;
        if (r == SDC_PUBSUB_DROP) {
            er = SDC_PUBSUB_DROP; /* 404: all dropped */
        } else if (r == SDC_PUBSUB_SUCCESS) {
            /* Missing entries or unknown statuses are retried. */
            st = cJSON_GetObjectItemCaseSensitive(reply, "statuses");
            cJSON_ArrayForEach(it, st)
            {
                const char *eid = ev_str(it, "entryId"), *sv = ev_str(it, "status");
                if (eid == NULL || strcmp(eid, e->id) != 0 || sv == NULL)
                    continue;
                if (dc_str_eq_ci(sv, "SUCCESS"))
                    er = SDC_PUBSUB_SUCCESS;
                else if (dc_str_eq_ci(sv, "DROP"))
                    er = SDC_PUBSUB_DROP;
                break;
            }
        }
        if (er == SDC_PUBSUB_DROP)
            (void)dead_letter(s, e->msg);
        else if (er == SDC_PUBSUB_RETRY)
            er = (enum sdc_pubsub_status)give_up(s, e->msg, SDC_PUBSUB_RETRY);
        e->result = er;
    }
    cJSON_Delete(reply);
    dc_buf_cleanup(&p.reply);
    dc_arena_cleanup(&arena);
    dc_buf_cleanup(&body);
}

/* Take the current batch (under b->mu) and deliver it outside the lock. */
static void flush(struct sdc__ps_sub *s, struct sdc__ps_bulk *b)
{
    struct bentry *list = b->head;

    b->head = NULL;
    b->tail = &b->head;
    b->n = 0;
    b->gen++;
    pthread_mutex_unlock(&b->mu);
    deliver_batch(s, list);
    pthread_mutex_lock(&b->mu);
    for (struct bentry *e = list; e != NULL; e = e->next)
        e->done = true;
    pthread_cond_broadcast(&b->cv);
}

static int handle_bulk(struct sdc__ps_sub *s, const struct sdc_pubsub_msg *msg)
{
    struct sdc__ps_bulk *b = batch_of(s);
    struct bentry e = {.msg = msg, .result = SDC_PUBSUB_RETRY};
    int64_t deadline = dc_now_ns() + s->bulk_max_await_ms * 1000000LL;
    uint64_t gen;

    pthread_mutex_lock(&b->mu);
    *b->tail = &e;
    b->tail = &e.next;
    b->n++;
    gen = b->gen;
    if ((int64_t)b->n >= s->bulk_max_n) {
        flush(s, b);
    } else if (b->n == 1) {
        /* The first entry's thread waits out maxAwaitDurationMs, then sends what it has. */
        struct timespec ts = {.tv_sec = deadline / 1000000000LL,
                              .tv_nsec = deadline % 1000000000LL};
        while (!e.done && b->gen == gen && !atomic_load(&s->ps->stop))
            if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) != 0)
                break;
        if (!e.done && b->gen == gen)
            flush(s, b);
    }
    while (!e.done)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    return e.result;
}

int sdc__ps_handle(void *ud, const struct sdc_pubsub_msg *msg)
{
    struct sdc__ps_sub *s = ud;
    int r;

    if (!inflight_acquire(s->ps))
        return SDC_PUBSUB_RETRY;
    if (s->bulk) {
        inflight_release(s->ps);
        return handle_bulk(s, msg);
    }
    r = deliver_one(s, msg);
    inflight_release(s->ps);
    return r;
}
