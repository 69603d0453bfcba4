/* pubsub.in-memory (v1): a broker inside the sidecar process (sidecar-api.md §22.4).
 *
 * Each subscription has a bounded FIFO queue and `concurrency` worker threads (component
 * metadata, default 10). publish copies the message into the queue of every subscription of
 * its topic (none: the message is dropped, as upstream's in-memory bus does). A worker calls
 * the handler and removes the message only after SUCCESS or DROP; on RETRY or an error it
 * waits backOffDuration (default 5s, as components-contrib's default retry) and calls again,
 * up to backOffMaxRetries redeliveries (-1, the default: forever), then drops it with an
 * error logged. Unsubscribe wakes the workers, waits for in-flight handler calls and frees
 * the queue (undelivered messages are lost: the broker is not durable). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/limits.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "pubsub.h"

#define MAX_WORKERS 64

struct qmsg {
    struct qmsg *next;
    struct sdc_md md;
    char id[24];
    size_t len;
    char data[];
};

struct sdc_pubsub_sub {
    struct mem *m;
    struct sdc_pubsub_sub *next; /* in m->subs */
    char *topic;
    sdc_pubsub_handler_fn *handler;
    void *ud;
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* a message was queued (idle workers wait on it) */
    pthread_cond_t bo_cv; /* stop (workers in a redelivery back-off wait on it) */
    struct qmsg *head, **tail;
    size_t n;
    size_t idle; /* workers waiting for a message */
    bool stop;
    pthread_t workers[MAX_WORKERS];
    size_t nworkers;
};

struct mem {
    pthread_rwlock_t mu; /* guards subs: publishers read it concurrently */
    struct sdc_pubsub_sub *subs;
    int64_t backoff_ns;
    int64_t max_retries;
    size_t concurrency;
    atomic_uint_fast64_t seq;
};

static int mem_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                    struct dc_errbuf *eb)
{
    struct mem *m = dc_xcalloc(1, sizeof(*m));
    const char *v;
    int64_t n;

    (void)ctx;
    m->backoff_ns = 5000000000LL;
    m->max_retries = -1;
    m->concurrency = 10;
    v = sdc_md_get(md, "backOffDuration");
    if (!dc_str_empty(v) && dc_duration_parse_ms_or_go(v, &m->backoff_ns, eb) != DC_OK)
        goto bad;
    v = sdc_md_get(md, "backOffMaxRetries");
    if (!dc_str_empty(v)) {
        if (dc_str_to_i64(v, -1, INT32_MAX, &m->max_retries) != DC_OK) {
            dc_err_set(eb, DC_EINVAL, "invalid backOffMaxRetries %s", v);
            goto bad;
        }
    }
    v = sdc_md_get(md, "concurrency");
    if (!dc_str_empty(v)) {
        if (dc_str_to_i64(v, 1, MAX_WORKERS, &n) != DC_OK) {
            dc_err_set(eb, DC_EINVAL, "invalid concurrency %s (1-%d)", v, MAX_WORKERS);
            goto bad;
        }
        m->concurrency = (size_t)n;
    }
    pthread_rwlock_init(&m->mu, NULL);
    *self = m;
    return DC_OK;
bad:
    free(m);
    return DC_EINVAL;
}

static void mem_close(void *self)
{
    struct mem *m = self;

    if (m == NULL)
        return;
    pthread_rwlock_destroy(&m->mu);
    free(m);
}

static struct qmsg *msg_new(struct mem *m, const struct sdc_pubsub_publish *p)
{
    struct qmsg *q = dc_xmalloc(sizeof(*q) + p->data_len + 1);
    uint64_t seq = atomic_fetch_add(&m->seq, 1) + 1;
    char digits[24];
    size_t n = 0;

    memset(q, 0, sizeof(*q));
    memcpy(q->data, p->data, p->data_len);
    q->data[p->data_len] = '\0';
    q->len = p->data_len;
    do {
        digits[n++] = (char)('0' + seq % 10);
        seq /= 10;
    } while (seq > 0);
    for (size_t i = 0; i < n; i++)
        q->id[i] = digits[n - 1 - i];
    q->id[n] = '\0';
    return q;
}

static void msg_free(struct qmsg *q)
{
    sdc_md_cleanup(&q->md);
    free(q);
}

static int mem_publish(void *self, const struct sdc_pubsub_publish *p, struct dc_errbuf *eb)
{
    struct mem *m = self;
    int rv = DC_OK;

    /* The copy is made before the queue lock: the lock covers only the linking, so that
     * publishers and the subscription's workers hold it briefly and rarely wait on it. */
    pthread_rwlock_rdlock(&m->mu);
    for (struct sdc_pubsub_sub *s = m->subs; s != NULL; s = s->next) {
        struct qmsg *q;
        if (strcmp(s->topic, p->topic) != 0)
            continue;
        q = msg_new(m, p);
        pthread_mutex_lock(&s->mu);
        if (s->n >= SDC_PUBSUB_MEMORY_MAX_QUEUE) {
            pthread_mutex_unlock(&s->mu);
            msg_free(q);
            rv = dc_err_set(eb, DC_EUNAVAIL, "in-memory queue of topic %s is full", p->topic);
            continue;
        }
        *s->tail = q;
        s->tail = &q->next;
        s->n++;
        if (s->idle > 0)
            pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_rwlock_unlock(&m->mu);
    return rv;
}

static int mem_bulk_publish(void *self, const struct sdc_pubsub_publish *msgs, size_t n,
                            int *results, struct dc_errbuf *eb)
{
    int first = DC_OK;

    for (size_t i = 0; i < n; i++) {
        results[i] = mem_publish(self, &msgs[i], eb);
        if (results[i] != DC_OK && first == DC_OK)
            first = results[i];
    }
    return first;
}

/* Wait up to `ns` or until stopped; false when stopped. Called with s->mu held. */
static bool backoff(struct sdc_pubsub_sub *s, int64_t ns)
{
    int64_t until = dc_now_ns() + ns;
    struct timespec ts = {.tv_sec = until / 1000000000LL, .tv_nsec = until % 1000000000LL};

    while (!s->stop)
        if (pthread_cond_timedwait(&s->bo_cv, &s->mu, &ts) != 0)
            break;
    return !s->stop;
}

/* Hand `q` to the handler until SUCCESS or DROP, redelivering after backOffDuration up to
 * backOffMaxRetries times; returns with s->mu not held. */
static void deliver(struct sdc_pubsub_sub *s, struct qmsg *q)
{
    struct mem *m = s->m;
    int64_t tries = 0;

    for (;;) {
        struct sdc_pubsub_msg msg = {.topic = s->topic,
                                     .data = q->data,
                                     .data_len = q->len,
                                     .metadata = &q->md,
                                     .id = q->id};
        int r = s->handler(s->ud, &msg);
        bool more;
        if (r == SDC_PUBSUB_SUCCESS || r == SDC_PUBSUB_DROP)
            return;
        if (m->max_retries >= 0 && tries >= m->max_retries) {
            DC_LOG(DC_LOG_ERROR, "in-memory pubsub: giving up on message %s of topic %s", q->id,
                   s->topic);
            return;
        }
        tries++;
        pthread_mutex_lock(&s->mu);
        more = backoff(s, m->backoff_ns);
        pthread_mutex_unlock(&s->mu);
        if (!more)
            return;
    }
}

static void *worker(void *arg)
{
    struct sdc_pubsub_sub *s = arg;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct qmsg *q;
        while (s->head == NULL && !s->stop) {
            s->idle++;
            pthread_cond_wait(&s->cv, &s->mu);
            s->idle--;
        }
        if (s->stop)
            break;
        q = s->head;
        s->head = q->next;
        if (s->head == NULL)
            s->tail = &s->head;
        s->n--;
        pthread_mutex_unlock(&s->mu);
        deliver(s, q);
        msg_free(q);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int mem_subscribe(void *self, const struct sdc_pubsub_subscribe *req,
                         struct sdc_pubsub_sub **out, struct dc_errbuf *eb)
{
    struct mem *m = self;
    struct sdc_pubsub_sub *s;

    if (dc_str_empty(req->topic) || req->handler == NULL)
        return dc_err_set(eb, DC_EINVAL, "topic and handler are required");
    s = dc_xcalloc(1, sizeof(*s));
    s->m = m;
    s->topic = dc_xstrdup(req->topic);
    s->handler = req->handler;
    s->ud = req->ud;
    s->tail = &s->head;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->bo_cv, NULL);
    for (size_t i = 0; i < m->concurrency; i++) {
        if (pthread_create(&s->workers[s->nworkers], NULL, worker, s) != 0)
            break;
        s->nworkers++;
    }
    if (s->nworkers == 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        pthread_cond_destroy(&s->bo_cv);
        free(s->topic);
        free(s);
        return dc_err_set(eb, DC_EIO, "cannot start in-memory subscription workers");
    }
    pthread_rwlock_wrlock(&m->mu);
    s->next = m->subs;
    m->subs = s;
    pthread_rwlock_unlock(&m->mu);
    *out = s;
    return DC_OK;
}

static void mem_unsubscribe(void *self, struct sdc_pubsub_sub *s)
{
    struct mem *m = self;
    struct sdc_pubsub_sub **pp;

    pthread_rwlock_wrlock(&m->mu);
    for (pp = &m->subs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    pthread_rwlock_unlock(&m->mu);
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_cond_broadcast(&s->bo_cv);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    while (s->head != NULL) {
        struct qmsg *q = s->head;
        s->head = q->next;
        msg_free(q);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->bo_cv);
    free(s->topic);
    free(s);
}

static const struct sdc_pubsub_ops mem_ops = {
    .base = {.init = mem_init, .close = mem_close},
    .features = 0,
    .publish = mem_publish,
    .bulk_publish = mem_bulk_publish,
    .subscribe = mem_subscribe,
    .unsubscribe = mem_unsubscribe,
};

const struct sdc_component_type sdc_type_pubsub_in_memory = {"pubsub.in-memory", "v1",
                                                             SDC_CAT_PUBSUB, &mem_ops.base};
