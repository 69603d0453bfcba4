/* pubsub.redis v1: Redis Streams (sidecar-api.md §22.4), as upstream's components-contrib
 * redis streams pub/sub, so upstream sidecars and daprd can share topics:
 *
 *   - a topic is a stream; a message is an entry with the fields `data` (the message bytes)
 *     and, when the publish request has metadata, `metadata` (that metadata as a JSON object
 *     of strings, handed back as message metadata on delivery);
 *   - XADD with MAXLEN ~ maxLenApprox when set, else MINID ~ now-streamTTL when set;
 *   - the consumer group and the consumer name are both consumerID (default: the app id); the
 *     group is created at "0" (a new group reads the stream from its start) with MKSTREAM;
 *   - each subscription has one reader thread (its own connection, XREADGROUP ... BLOCK
 *     readTimeout COUNT <free queue slots> ... >) feeding a queue of queueDepth entries drained
 *     by `concurrency` worker threads that call the handler;
 *   - XACK only after the handler returned SUCCESS or DROP; RETRY and errors leave the entry
 *     pending;
 *   - every redeliverInterval (0: never) the reader lists the group's pending entries
 *     (XPENDING, queueDepth at a time) and XCLAIMs those idle for processingTimeout or longer,
 *     which brings back entries of dead consumers (and of our own handlers that returned
 *     RETRY); entries still queued or being handled here are skipped, so they are not
 *     delivered twice by this process. Pending entries whose stream entry was deleted (MAXLEN
 *     trimming) are XACKed, as upstream does.
 *
 * Outages: init does not fail when Redis is unreachable (a warning is logged), publish then
 * fails with DC_EUNAVAIL, and readers reconnect with a backoff of 100 ms doubling to 5 s,
 * recreating the group when the server lost it (NOGROUP). An XACK that fails leaves the entry
 * pending; it is redelivered after processingTimeout. Nothing is acknowledged that was not
 * handled.
 *
 * Differences from upstream: init succeeds without a reachable server (upstream fails init);
 * entries are never claimed twice by the process that holds them; enableTLS, cluster and
 * failover are refused (redis_conn.h). */
#include "pubsub.h"
#include "redis_conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dc/buf.h"
#include "dc/json.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#define RPS_ID_MAX 64 /* stream entry ids: "<ms>-<seq>", at most 41 characters */
#define RPS_BACKOFF_MIN_MS 100
#define RPS_BACKOFF_MAX_MS 5000
#define RPS_RECLAIM_ROUNDS 16 /* XPENDING/XCLAIM rounds per reclaim pass */

struct rps {
    struct sdc_redis *r;
    char *name;     /* component name, for logs */
    char *consumer; /* consumer group = consumer name */
    int64_t redeliver_ms;
    int64_t processing_ms;
    int64_t max_len;       /* 0: none */
    int64_t stream_ttl_ms; /* 0: none */
    size_t queue_depth;
    size_t concurrency;
    int64_t block_ms;
};

struct rps_entry {
    char id[RPS_ID_MAX];
    char *data;
    size_t len;
    struct sdc_md md;
};

struct sdc_pubsub_sub {
    struct rps *ps;
    char *topic;
    sdc_pubsub_handler_fn *handler;
    void *ud;

    pthread_mutex_t mu;
    pthread_cond_t nonempty; /* workers wait here */
    pthread_cond_t nonfull;  /* the reader waits here; also its backoff sleeps */
    struct rps_entry *q;     /* ring of ps->queue_depth */
    size_t head, count;
    char (*busy)[RPS_ID_MAX]; /* per worker: the id being handled ("" idle) */
    bool stopping;
    redisContext *rc; /* the reader's connection; shut down by unsubscribe */

    pthread_t reader;
    bool reader_started;
    pthread_t *workers;
    size_t nworkers;
};

/* ---- metadata ---- */

/* Upstream decodes these time.Duration fields with the kit's hook: a Go duration, or a bare
 * integer of seconds. */
static int md_go_or_seconds(const struct sdc_md *md, const char *name, int64_t def_ms,
                            int64_t *out_ms, struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, name);
    int64_t n;

    *out_ms = def_ms;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_str_to_i64(v, 0, INT64_MAX / 1000, &n) == DC_OK) {
        *out_ms = n * 1000;
        return DC_OK;
    }
    if (dc_duration_parse(v, &n, NULL) != DC_OK || n < 0)
        return dc_err_set(eb, DC_EINVAL, "redis pubsub: invalid %s %s", name, v);
    *out_ms = n / 1000000;
    return DC_OK;
}

static int parse_metadata(struct rps *ps, const struct sdc_md *md, const char *app_id,
                          struct dc_errbuf *eb)
{
    const char *consumer = sdc_md_get(md, "consumerID");
    int64_t qd, conc;
    int rv;

    if (dc_str_empty(consumer))
        consumer = app_id;
    if (dc_str_empty(consumer))
        return dc_err_set(eb, DC_EINVAL, "redis pubsub: consumerID is required without app id");
    rv = md_go_or_seconds(md, "redeliverInterval", 60000, &ps->redeliver_ms, eb);
    if (rv == DC_OK)
        rv = md_go_or_seconds(md, "processingTimeout", 15000, &ps->processing_ms, eb);
    if (rv == DC_OK)
        rv = md_go_or_seconds(md, "streamTTL", 0, &ps->stream_ttl_ms, eb);
    if (rv == DC_OK)
        rv =
            sdc_redis_md_int(md, "maxLenApprox", 0, 0, INT64_MAX, &ps->max_len, "redis pubsub", eb);
    if (rv == DC_OK)
        rv = sdc_redis_md_int(md, "queueDepth", 100, 1, 100000, &qd, "redis pubsub", eb);
    if (rv == DC_OK)
        rv = sdc_redis_md_int(md, "concurrency", 10, 1, 1000, &conc, "redis pubsub", eb);
    if (rv != DC_OK)
        return rv;
    ps->queue_depth = (size_t)qd;
    ps->concurrency = (size_t)conc;
    ps->consumer = dc_xstrdup(consumer);
    return DC_OK;
}

/* ---- publish ---- */

/* The metadata field: a JSON object of strings. */
static int metadata_json(const struct sdc_md *md, struct dc_buf *out)
{
    int rv = dc_buf_appendc(out, '{');

    for (size_t i = 0; md != NULL && i < md->n && rv == DC_OK; i++)
        rv = dc_json_append_kv_string(out, md->names[i], md->values[i], i > 0);
    if (rv == DC_OK)
        rv = dc_buf_appendc(out, '}');
    return rv;
}

/* Build the XADD arguments of `m` into argv/lens (at most 10); returns their count or a
 * negative DC_E* code. `trim` and `mdj` hold storage the arguments point into. */
static int xadd_args(const struct rps *ps, const struct sdc_pubsub_publish *m, const char **argv,
                     size_t *lens, char trim[24], struct dc_buf *mdj, struct dc_errbuf *eb)
{
    int argc = 0;

#define ARG(p, n) (argv[argc] = (p), lens[argc] = (n), argc++)
#define ARGS(p) ARG((p), strlen(p))
    if (dc_str_empty(m->topic))
        return dc_err_set(eb, DC_EINVAL, "redis pubsub: topic is empty");
    ARGS("XADD");
    ARGS(m->topic);
    if (ps->max_len > 0 || ps->stream_ttl_ms > 0) {
        /* go-redis: MAXLEN wins over MINID. */
        int64_t v = ps->max_len > 0 ? ps->max_len : dc_now_ns() / 1000000 - ps->stream_ttl_ms;
        snprintf(trim, 24, "%lld", (long long)v);
        ARGS(ps->max_len > 0 ? "MAXLEN" : "MINID");
        ARGS("~");
        ARGS(trim);
    }
    ARGS("*");
    ARGS("data");
    ARG(m->data != NULL ? (const char *)m->data : "", m->data != NULL ? m->data_len : 0);
    if (m->metadata != NULL && m->metadata->n > 0) {
        if (metadata_json(m->metadata, mdj) != DC_OK)
            return dc_err_set(eb, DC_ETOOBIG, "redis pubsub: metadata too large");
        ARGS("metadata");
        ARG(dc_buf_cstr(mdj), mdj->len);
    }
#undef ARGS
#undef ARG
    return argc;
}

static int xadd_result(redisReply *rep, const char *topic, struct dc_errbuf *eb)
{
    int rv = DC_OK;

    if (rep->type == REDIS_REPLY_ERROR)
        rv = dc_err_set(eb, sdc_redis_reply_unavailable(rep) ? DC_EUNAVAIL : DC_EIO,
                        "redis streams: error from publish: %s (stream %s)", rep->str, topic);
    freeReplyObject(rep);
    return rv;
}

static int rps_publish(void *self, const struct sdc_pubsub_publish *m, struct dc_errbuf *eb)
{
    struct rps *ps = self;
    const char *argv[10];
    size_t lens[10];
    char trim[24];
    struct dc_buf mdj = {0};
    struct sdc_redis_cmd cmd;
    redisReply *rep = NULL;
    int argc = xadd_args(ps, m, argv, lens, trim, &mdj, eb);
    int rv;

    if (argc < 0) {
        rv = argc;
        goto out;
    }
    cmd = (struct sdc_redis_cmd){argc, argv, lens};
    rv = sdc_redis_run(ps->r, &cmd, 1, &rep, eb);
    if (rv == DC_OK)
        rv = xadd_result(rep, m->topic, eb);
out:
    dc_buf_cleanup(&mdj);
    return rv;
}

/* One pipeline of XADDs. A connection failure retries the whole pipeline (entries may then be
 * stored twice: at-least-once). */
static int rps_bulk_publish(void *self, const struct sdc_pubsub_publish *msgs, size_t n,
                            int *results, struct dc_errbuf *eb)
{
    struct rps *ps = self;
    struct sdc_redis_cmd *cmds = dc_xcalloc(n + 1, sizeof(*cmds));
    const char **av = dc_xcalloc((n + 1) * 10, sizeof(*av));
    size_t *lens = dc_xcalloc((n + 1) * 10, sizeof(*lens));
    char(*trim)[24] = dc_xcalloc(n + 1, sizeof(*trim));
    struct dc_buf *mdj = dc_xcalloc(n + 1, sizeof(*mdj));
    redisReply **rep = dc_xcalloc(n + 1, sizeof(*rep));
    size_t *idx = dc_xcalloc(n + 1, sizeof(*idx));
    size_t nc = 0;
    int first = DC_OK;
    int rv;

    for (size_t i = 0; i < n; i++) {
        struct dc_errbuf e = {0};
        int argc = xadd_args(ps, &msgs[i], av + nc * 10, lens + nc * 10, trim[nc], &mdj[nc], &e);
        if (argc < 0) {
            results[i] = argc;
            if (first == DC_OK) {
                first = argc;
                dc_err_set(eb, argc, "%s", e.msg);
            }
            continue;
        }
        cmds[nc] = (struct sdc_redis_cmd){argc, av + nc * 10, lens + nc * 10};
        idx[nc++] = i;
    }
    rv = nc > 0 ? sdc_redis_run(ps->r, cmds, nc, rep, eb) : DC_OK;
    for (size_t j = 0; j < nc; j++) {
        if (rv != DC_OK) {
            results[idx[j]] = rv;
            continue;
        }
        struct dc_errbuf e = {0};
        results[idx[j]] = xadd_result(rep[j], msgs[idx[j]].topic, &e);
        if (results[idx[j]] != DC_OK && first == DC_OK) {
            first = results[idx[j]];
            dc_err_set(eb, first, "%s", e.msg);
        }
    }
    if (rv != DC_OK && first == DC_OK)
        first = rv;
    for (size_t j = 0; j <= n; j++)
        dc_buf_cleanup(&mdj[j]);
    free(idx);
    free(rep);
    free(mdj);
    free(trim);
    free(lens);
    free(av);
    free(cmds);
    return first;
}

/* ---- subscription: queue ---- */

static void entry_free(struct rps_entry *e)
{
    free(e->data);
    e->data = NULL;
    sdc_md_cleanup(&e->md);
    memset(&e->md, 0, sizeof(e->md));
}

/* Whether `id` is queued or being handled here (under mu). */
static bool held_locked(const struct sdc_pubsub_sub *s, const char *id)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->q[(s->head + i) % s->ps->queue_depth].id, id) == 0)
            return true;
    for (size_t i = 0; i < s->nworkers; i++)
        if (strcmp(s->busy[i], id) == 0)
            return true;
    return false;
}

/* Decode the metadata field (a JSON object of strings) into `md`; anything else is ignored. */
static void metadata_from_json(const char *p, size_t n, struct sdc_md *md)
{
    cJSON *root = NULL;
    const cJSON *it;

    if (dc_json_parse(p, n, n, &root, NULL) != DC_OK)
        return;
    cJSON_ArrayForEach(it, root)
    {
        if (cJSON_IsString(it) && it->string != NULL)
            sdc_md_set(md, it->string, it->valuestring);
    }
    cJSON_Delete(root);
}

/* Fill `e` from a stream entry reply [id, [field, value, ...]]. Returns false for an entry
 * without its fields (deleted from the stream). */
static bool entry_from_reply(const redisReply *r, struct rps_entry *e)
{
    const redisReply *id, *f;

    memset(e, 0, sizeof(*e));
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return false;
    id = r->element[0];
    f = r->element[1];
    if (id->type != REDIS_REPLY_STRING || id->len == 0 || id->len >= RPS_ID_MAX)
        return false;
    memcpy(e->id, id->str, id->len);
    if (f->type != REDIS_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (k->len == 4 && memcmp(k->str, "data", 4) == 0 && e->data == NULL) {
            e->data = dc_xmalloc(v->len + 1);
            memcpy(e->data, v->str, v->len);
            e->data[v->len] = '\0';
            e->len = v->len;
        } else if (k->len == 8 && memcmp(k->str, "metadata", 8) == 0) {
            metadata_from_json(v->str, v->len, &e->md);
        }
    }
    if (e->data == NULL) /* no data field: delivered as empty bytes, as upstream */
        e->data = dc_xcalloc(1, 1);
    return true;
}

/* Queue `e` (moved), waiting for room. Returns false when stopping (`e` freed). */
static bool enqueue(struct sdc_pubsub_sub *s, struct rps_entry *e)
{
    pthread_mutex_lock(&s->mu);
    while (s->count == s->ps->queue_depth && !s->stopping)
        pthread_cond_wait(&s->nonfull, &s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        entry_free(e);
        return false;
    }
    s->q[(s->head + s->count) % s->ps->queue_depth] = *e;
    s->count++;
    pthread_cond_signal(&s->nonempty);
    pthread_mutex_unlock(&s->mu);
    return true;
}

/* ---- subscription: workers ---- */

static void ack(struct sdc_pubsub_sub *s, const char *id)
{
    const char *argv[4] = {"XACK", s->topic, s->ps->consumer, id};
    struct dc_errbuf eb = {0};

    if (sdc_redis_cmd(s->ps->r, NULL, &eb, 4, argv) != DC_OK)
        DC_LOG(DC_LOG_ERROR,
               "redis streams: error acknowledging message %s on stream %s (it stays pending "
               "and is redelivered): %s",
               id, s->topic, eb.msg);
}

struct worker_arg {
    struct sdc_pubsub_sub *s;
    size_t slot;
};

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct sdc_pubsub_sub *s = wa->s;
    size_t slot = wa->slot;

    free(wa);
    for (;;) {
        struct rps_entry e;
        struct sdc_pubsub_msg m;
        int st;

        pthread_mutex_lock(&s->mu);
        while (s->count == 0 && !s->stopping)
            pthread_cond_wait(&s->nonempty, &s->mu);
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        e = s->q[s->head];
        s->head = (s->head + 1) % s->ps->queue_depth;
        s->count--;
        memcpy(s->busy[slot], e.id, RPS_ID_MAX);
        pthread_cond_signal(&s->nonfull);
        pthread_mutex_unlock(&s->mu);

        m = (struct sdc_pubsub_msg){s->topic, e.data, e.len, &e.md, e.id};
        st = s->handler(s->ud, &m);
        if (st == SDC_PUBSUB_SUCCESS || st == SDC_PUBSUB_DROP)
            ack(s, e.id);
        pthread_mutex_lock(&s->mu);
        s->busy[slot][0] = '\0';
        pthread_mutex_unlock(&s->mu);
        entry_free(&e);
    }
    return NULL;
}

/* ---- subscription: reader ---- */

/* Sleep `ms` unless stopping first. Returns false when stopping. */
static bool pause_ms(struct sdc_pubsub_sub *s, int64_t ms)
{
    struct timespec until;
    bool stop;

    until = dc_timespec_in(CLOCK_MONOTONIC, ms * DC_NS_PER_MS);
    pthread_mutex_lock(&s->mu);
    while (!s->stopping && pthread_cond_timedwait(&s->nonfull, &s->mu, &until) != ETIMEDOUT) {
    }
    stop = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return !stop;
}

/* Run one command on the reader's connection. DC_EUNAVAIL: the connection is gone. */
static int reader_cmd(struct sdc_pubsub_sub *s, int argc, const char **argv, redisReply **rep,
                      struct dc_errbuf *eb)
{
    struct sdc_redis_cmd cmd = {argc, argv, NULL};
    bool broken = false;

    return sdc_redis_roundtrip(s->rc, &cmd, 1, rep, &broken, eb);
}

static int create_group(struct sdc_pubsub_sub *s, struct dc_errbuf *eb)
{
    const char *argv[6] = {"XGROUP", "CREATE", s->topic, s->ps->consumer, "0", "MKSTREAM"};
    redisReply *rep;
    int rv = reader_cmd(s, 6, argv, &rep, eb);

    if (rv != DC_OK)
        return rv;
    if (rep->type == REDIS_REPLY_ERROR && !sdc_redis_reply_is_err(rep, "BUSYGROUP"))
        rv = dc_err_set(eb, sdc_redis_reply_unavailable(rep) ? DC_EUNAVAIL : DC_EIO,
                        "redis streams: error creating consumer group %s on stream %s: %s",
                        s->ps->consumer, s->topic, rep->str);
    freeReplyObject(rep);
    return rv;
}

/* Queue the entries of an XCLAIM or XREADGROUP entry list; entries whose stream entry is gone
 * are acknowledged. Returns false when stopping. */
static bool queue_entries(struct sdc_pubsub_sub *s, const redisReply *list, const char *const *ids)
{
    for (size_t i = 0; i < list->elements; i++) {
        struct rps_entry e;
        if (!entry_from_reply(list->element[i], &e)) {
            entry_free(&e);
            if (ids != NULL && e.id[0] == '\0' && list->element[i]->type == REDIS_REPLY_NIL)
                ack(s, ids[i]);
            else if (e.id[0] != '\0')
                ack(s, e.id);
            continue;
        }
        if (!enqueue(s, &e))
            return false;
    }
    return true;
}

/* One reclaim pass (see the file comment). DC_EUNAVAIL: the connection is gone. */
static int reclaim(struct sdc_pubsub_sub *s, struct dc_errbuf *eb)
{
    char count[24], idle[24];
    int rv = DC_OK;

    snprintf(count, sizeof(count), "%zu", s->ps->queue_depth);
    snprintf(idle, sizeof(idle), "%lld", (long long)s->ps->processing_ms);
    for (int round = 0; round < RPS_RECLAIM_ROUNDS && rv == DC_OK; round++) {
        const char *pa[6] = {"XPENDING", s->topic, s->ps->consumer, "-", "+", count};
        const char **ca = NULL;
        const char **ids;
        redisReply *pend = NULL, *claimed = NULL;
        size_t n = 0;

        rv = reader_cmd(s, 6, pa, &pend, eb);
        if (rv != DC_OK)
            break;
        if (pend->type != REDIS_REPLY_ARRAY) {
            if (sdc_redis_reply_is_err(pend, "NOGROUP"))
                rv = dc_err_set(eb, DC_ENOTFOUND, "NOGROUP");
            freeReplyObject(pend);
            break;
        }
        ca = dc_xcalloc(5 + pend->elements, sizeof(*ca));
        ids = ca + 5;
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < pend->elements; i++) {
            const redisReply *p = pend->element[i];
            if (p->type != REDIS_REPLY_ARRAY || p->elements < 4 ||
                p->element[0]->type != REDIS_REPLY_STRING ||
                p->element[2]->type != REDIS_REPLY_INTEGER)
                continue;
            if (p->element[2]->integer < s->ps->processing_ms || held_locked(s, p->element[0]->str))
                continue;
            ids[n++] = p->element[0]->str;
        }
        pthread_mutex_unlock(&s->mu);
        if (n > 0) {
            ca[0] = "XCLAIM";
            ca[1] = s->topic;
            ca[2] = s->ps->consumer;
            ca[3] = s->ps->consumer;
            ca[4] = idle;
            rv = reader_cmd(s, (int)(5 + n), ca, &claimed, eb);
        }
        if (rv == DC_OK && claimed != NULL && claimed->type == REDIS_REPLY_ARRAY) {
            DC_LOG(DC_LOG_DEBUG, "redis streams: reclaimed %zu pending messages of stream %s",
                   claimed->elements, s->topic);
            if (!queue_entries(s, claimed, claimed->elements == n ? ids : NULL))
                rv = DC_ECANCELED;
        }
        if (claimed != NULL)
            freeReplyObject(claimed);
        free(ca);
        freeReplyObject(pend);
        if (n == 0)
            break;
    }
    return rv;
}

static void reader_disconnect(struct sdc_pubsub_sub *s)
{
    redisContext *c;

    pthread_mutex_lock(&s->mu);
    c = s->rc;
    s->rc = NULL;
    pthread_mutex_unlock(&s->mu);
    if (c != NULL)
        redisFree(c);
}

static void *reader_main(void *arg)
{
    struct sdc_pubsub_sub *s = arg;
    const struct sdc_redis_opts *o = sdc_redis_opts(s->ps->r);
    int64_t backoff = RPS_BACKOFF_MIN_MS;
    int64_t last_reclaim = INT64_MIN / 2;
    bool group = false, down = false;
    char block[24];

    snprintf(block, sizeof(block), "%lld", (long long)s->ps->block_ms);
    for (;;) {
        struct dc_errbuf eb = {0};
        redisReply *rep = NULL;
        char count[24];
        size_t room;
        int rv = DC_OK;

        pthread_mutex_lock(&s->mu);
        while (!s->stopping && s->count == s->ps->queue_depth)
            pthread_cond_wait(&s->nonfull, &s->mu);
        room = s->ps->queue_depth - s->count;
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        pthread_mutex_unlock(&s->mu);

        if (s->rc == NULL) {
            redisContext *c = NULL;
            /* The socket timeout must outlast BLOCK. */
            struct timeval tv = {(time_t)((s->ps->block_ms + 2000) / 1000), 0};
            rv = sdc_redis_connect(o, 0, &c, &eb);
            if (rv == DC_OK && redisSetTimeout(c, tv) != REDIS_OK) {
                redisFree(c);
                rv = dc_err_set(&eb, DC_EUNAVAIL, "redis: cannot set the socket timeout");
            }
            if (rv == DC_OK) {
                pthread_mutex_lock(&s->mu);
                s->rc = c;
                if (s->stopping)
                    shutdown(c->fd, SHUT_RDWR);
                pthread_mutex_unlock(&s->mu);
            }
        }
        if (rv == DC_OK && !group) {
            rv = create_group(s, &eb);
            group = rv == DC_OK;
        }
        if (rv == DC_OK && s->ps->redeliver_ms > 0 &&
            dc_mono_ns() / 1000000 - last_reclaim >= s->ps->redeliver_ms) {
            rv = reclaim(s, &eb);
            if (rv == DC_ECANCELED)
                break;
            if (rv == DC_ENOTFOUND) {
                group = false;
                continue;
            }
            if (rv == DC_OK)
                last_reclaim = dc_mono_ns() / 1000000;
        }
        if (rv == DC_OK) {
            const char *argv[10] = {"XREADGROUP", "GROUP", s->ps->consumer, s->ps->consumer,
                                    "COUNT",      count,   "BLOCK",         block,
                                    "STREAMS",    s->topic};
            const char *full[11];
            snprintf(count, sizeof(count), "%zu", room);
            memcpy(full, argv, sizeof(argv));
            full[10] = ">";
            rv = reader_cmd(s, 11, full, &rep, &eb);
        }
        if (rv == DC_OK && rep->type == REDIS_REPLY_ERROR) {
            if (sdc_redis_reply_is_err(rep, "NOGROUP"))
                group = false; /* the server lost it (restart without persistence) */
            else
                rv = dc_err_set(&eb, DC_EIO, "redis streams: error reading from stream %s: %s",
                                s->topic, rep->str);
        } else if (rv == DC_OK && rep->type == REDIS_REPLY_ARRAY) {
            /* [[stream, [entries]]] */
            for (size_t i = 0; i < rep->elements; i++) {
                const redisReply *st = rep->element[i];
                if (st->type == REDIS_REPLY_ARRAY && st->elements == 2 &&
                    st->element[1]->type == REDIS_REPLY_ARRAY &&
                    !queue_entries(s, st->element[1], NULL))
                    break;
            }
        }
        if (rep != NULL)
            freeReplyObject(rep);
        if (rv == DC_OK) {
            if (down)
                DC_LOG(DC_LOG_INFO, "redis streams: reading stream %s again", s->topic);
            down = false;
            backoff = RPS_BACKOFF_MIN_MS;
            continue;
        }
        pthread_mutex_lock(&s->mu);
        bool stop = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        if (!down)
            DC_LOG(DC_LOG_ERROR, "redis streams: error reading from stream %s (retrying): %s",
                   s->topic, eb.msg);
        down = true;
        if (rv == DC_EUNAVAIL) {
            reader_disconnect(s);
            group = false;
        }
        if (!pause_ms(s, backoff))
            break;
        backoff = backoff * 2 > RPS_BACKOFF_MAX_MS ? RPS_BACKOFF_MAX_MS : backoff * 2;
    }
    reader_disconnect(s);
    return NULL;
}

/* ---- subscribe / unsubscribe ---- */

static void sub_free(struct sdc_pubsub_sub *s)
{
    for (size_t i = 0; i < s->count; i++)
        entry_free(&s->q[(s->head + i) % s->ps->queue_depth]);
    pthread_cond_destroy(&s->nonempty);
    pthread_cond_destroy(&s->nonfull);
    pthread_mutex_destroy(&s->mu);
    free(s->workers);
    free(s->busy);
    free(s->q);
    free(s->topic);
    free(s);
}

static void rps_unsubscribe(void *self, struct sdc_pubsub_sub *s)
{
    (void)self;
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    if (s->rc != NULL) /* wake a blocked XREADGROUP */
        shutdown(s->rc->fd, SHUT_RDWR);
    pthread_cond_broadcast(&s->nonempty);
    pthread_cond_broadcast(&s->nonfull);
    pthread_mutex_unlock(&s->mu);
    if (s->reader_started)
        pthread_join(s->reader, NULL);
    for (size_t i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    /* Queued entries were never handled: they stay pending and are redelivered. */
    sub_free(s);
}

static int rps_subscribe(void *self, const struct sdc_pubsub_subscribe *req,
                         struct sdc_pubsub_sub **out, struct dc_errbuf *eb)
{
    struct rps *ps = self;
    struct sdc_pubsub_sub *s;
    pthread_condattr_t ca;

    if (req == NULL || dc_str_empty(req->topic) || req->handler == NULL)
        return dc_err_set(eb, DC_EINVAL, "redis pubsub: topic and handler are required");
    s = dc_xcalloc(1, sizeof(*s));
    s->ps = ps;
    s->topic = dc_xstrdup(req->topic);
    s->handler = req->handler;
    s->ud = req->ud;
    s->q = dc_xcalloc(ps->queue_depth, sizeof(*s->q));
    s->busy = dc_xcalloc(ps->concurrency, sizeof(*s->busy));
    s->workers = dc_xcalloc(ps->concurrency, sizeof(*s->workers));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->nonempty, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->nonfull, &ca);
    pthread_condattr_destroy(&ca);
    for (size_t i = 0; i < ps->concurrency; i++) {
        struct worker_arg *wa = dc_xcalloc(1, sizeof(*wa));
        wa->s = s;
        wa->slot = i;
        if (pthread_create(&s->workers[i], NULL, worker_main, wa) != 0) {
            free(wa);
            goto fail;
        }
        s->nworkers++;
    }
    if (pthread_create(&s->reader, NULL, reader_main, s) != 0)
        goto fail;
    s->reader_started = true;
    *out = s;
    return DC_OK;
fail:
    rps_unsubscribe(self, s);
    return dc_err_set(eb, DC_EIO, "redis pubsub: cannot start subscription threads");
}

/* ---- lifecycle ---- */

static void rps_close(void *self)
{
    struct rps *ps = self;

    if (ps == NULL)
        return;
    sdc_redis_close(ps->r);
    free(ps->consumer);
    free(ps->name);
    free(ps);
}

static int rps_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                    struct dc_errbuf *eb)
{
    struct rps *ps = dc_xcalloc(1, sizeof(*ps));
    const struct sdc_redis_opts *o;
    struct dc_errbuf pe = {0};
    redisContext *c = NULL;
    int rv;

    ps->name = dc_xstrdup(ctx != NULL && ctx->name != NULL ? ctx->name : "pubsub");
    rv = parse_metadata(ps, md, ctx != NULL ? ctx->app_id : NULL, eb);
    if (rv == DC_OK)
        rv = sdc_redis_open(&ps->r, md, "redis pubsub", 0, true, eb);
    if (rv != DC_OK) {
        rps_close(ps);
        return rv;
    }
    o = sdc_redis_opts(ps->r);
    ps->block_ms = o->read_ms > 0 ? o->read_ms : 3000;
    /* Reachability is only reported: publish fails and readers retry until Redis is there. */
    rv = sdc_redis_connect(o, ctx != NULL ? ctx->timeout_ms : 0, &c, &pe);
    if (rv == DC_OK)
        redisFree(c);
    else
        DC_LOG(DC_LOG_WARN,
               "redis pubsub %s: redis at %s:%d is not reachable yet (%s); publishing fails and "
               "subscriptions keep retrying until it is",
               ps->name, o->host, o->port, pe.msg);
    *self = ps;
    return DC_OK;
}

static const struct sdc_pubsub_ops redis_ops = {
    .base = {.init = rps_init, .close = rps_close},
    .features = 0,
    .publish = rps_publish,
    .bulk_publish = rps_bulk_publish,
    .subscribe = rps_subscribe,
    .unsubscribe = rps_unsubscribe,
};

const struct sdc_component_type sdc_type_pubsub_redis = {"pubsub.redis", "v1", SDC_CAT_PUBSUB,
                                                         &redis_ops.base};
