/* Shared Redis settings, connections and the pooled client (see redis_conn.h). */
#include "redis_conn.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/sds.h>

#include "dc/buf.h"
#include "dc/mem.h"
#include "dc/pool.h"
#include "dc/str.h"
#include "dc/time.h"

#define RD_BACKOFF_MIN_MS 8   /* go-redis MinRetryBackoff */
#define RD_BACKOFF_MAX_MS 512 /* go-redis MaxRetryBackoff */

#define RD_MAX_INFLIGHT 2 /* batches on the wire at once, each on its own pooled connection */
#define RD_BATCH_MAX 128  /* calls written in one batch */

/* One sdc_redis_run call queued for the pipeline (on its caller's stack). */
struct rd_call {
    const struct sdc_redis_cmd *cmds;
    size_t n;
    redisReply **rep;
    struct dc_errbuf *eb;
    int rv;
    bool fresh;     /* its batch ran on a just-opened connection */
    bool io;        /* it failed on a connection (not while connecting) */
    bool taken;     /* a leader took it into a batch: it can no longer leave the queue */
    bool done;      /* rv, rep and eb are final */
    bool lead;      /* handed the leader role: send the queue's next batch */
    unsigned posts; /* wake-ups promised (under mu), each a sem_post on `sem` after unlocking */
    sem_t sem;
    struct rd_call *next;
};

/* Auto-pipelining: concurrent calls queue under `mu`; a caller that finds fewer than
 * RD_MAX_INFLIGHT batches in flight becomes a leader, takes the queue (up to RD_BATCH_MAX
 * calls), writes every command of the batch at once on one pooled connection and reads the
 * replies in order, handing each call its own. When the batch is done the leader passes its
 * role to the first call still queued, if any. */
struct sdc_redis {
    struct sdc_redis_opts o;
    struct dc_pool *pool; /* of redisContext */
    int64_t dial_ms;      /* for new pooled connections (capped during init) */
    pthread_mutex_t mu;
    struct rd_call *head, *tail;
    unsigned leaders; /* batches in flight, plus leader roles handed on but not yet taken up */
};

/* ---- metadata ---- */

int sdc_redis_md_int(const struct sdc_md *md, const char *name, int64_t def, int64_t min,
                     int64_t max, int64_t *out, const char *label, struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, name);

    *out = def;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_str_to_i64(v, min, max, out) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "%s: invalid %s %s", label, name, v);
    return DC_OK;
}

int sdc_redis_md_duration_ms(const struct sdc_md *md, const char *name, int64_t def_ms,
                             int64_t *out_ms, const char *label, struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, name);
    int64_t ns;

    *out_ms = def_ms;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_duration_parse_ms_or_go(v, &ns, NULL) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "%s: invalid %s %s", label, name, v);
    *out_ms = ns < 0 ? -1 : ns / 1000000;
    return DC_OK;
}

static struct timeval ms_tv(int64_t ms)
{
    struct timeval tv = {0, 0};

    if (ms > 0) {
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    }
    return tv;
}

static int parse_host(struct sdc_redis_opts *o, const char *v, const char *label,
                      struct dc_errbuf *eb)
{
    const char *colon;
    int64_t port = SDC_REDIS_DEFAULT_PORT;
    size_t hlen;

    if (strchr(v, ',') != NULL)
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "%s: several hosts in redisHost need redisType cluster, "
                          "which is not supported",
                          label);
    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (end == NULL)
            return dc_err_set(eb, DC_EINVAL, "%s: invalid redisHost %s", label, v);
        hlen = (size_t)(end - v - 1);
        v++;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(v, ':');
        hlen = colon != NULL ? (size_t)(colon - v) : strlen(v);
    }
    if (colon != NULL && dc_str_to_i64(colon + 1, 1, 65535, &port) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "%s: invalid port in redisHost %s", label, v);
    if (hlen == 0 || hlen >= sizeof(o->host))
        return dc_err_set(eb, DC_EINVAL, "%s: invalid redisHost %s", label, v);
    memcpy(o->host, v, hlen);
    o->host[hlen] = '\0';
    o->port = (int)port;
    return DC_OK;
}

int sdc_redis_opts_parse(struct sdc_redis_opts *o, const struct sdc_md *md, const char *label,
                         struct dc_errbuf *eb)
{
    const char *host = sdc_md_get(md, "redisHost");
    const char *type = sdc_md_get(md, "redisType");
    int64_t pool;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int rv;

    memset(o, 0, sizeof(*o));
    if (dc_str_empty(host))
        return dc_err_set(eb, DC_EINVAL, "%s: redisHost is required", label);
    if (!dc_str_empty(type) && strcasecmp(type, "node") != 0)
        return dc_err_set(eb, DC_EUNSUPPORTED, "%s: redisType %s is not supported", label, type);
    if (dc_str_truthy(sdc_md_get(md, "failover")))
        return dc_err_set(eb, DC_EUNSUPPORTED, "%s: failover (Sentinel) is not supported", label);
    if (dc_str_truthy(sdc_md_get(md, "enableTLS")))
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "%s: enableTLS is not supported: Debian's hiredis 0.14 "
                          "has no TLS (hiredis_ssl)",
                          label);
    rv = parse_host(o, host, label, eb);
    if (rv == DC_OK)
        rv = sdc_redis_md_int(md, "redisDB", 0, 0, 1 << 20, &o->db, label, eb);
    if (rv == DC_OK)
        rv = sdc_redis_md_int(md, "redisMaxRetries", 3, -1, 100, &o->max_retries, label, eb);
    if (rv == DC_OK)
        rv = sdc_redis_md_duration_ms(md, "dialTimeout", 5000, &o->dial_ms, label, eb);
    if (rv == DC_OK)
        rv = sdc_redis_md_duration_ms(md, "readTimeout", 3000, &o->read_ms, label, eb);
    if (rv == DC_OK)
        rv = sdc_redis_md_duration_ms(md, "writeTimeout", o->read_ms, &o->write_ms, label, eb);
    if (rv == DC_OK)
        rv = sdc_redis_md_int(md, "poolSize", 10 * (ncpu > 0 ? ncpu : 1), 1, 100000, &pool, label,
                              eb);
    if (rv != DC_OK)
        return rv;
    if (o->max_retries < 0)
        o->max_retries = 0;
    if (o->dial_ms <= 0)
        o->dial_ms = 5000;
    o->dial_tv = ms_tv(o->dial_ms);
    /* hiredis has one socket timeout for both directions: the larger one applies. */
    o->io_tv = ms_tv(o->read_ms < 0 || o->write_ms < 0
                         ? 0
                         : (o->read_ms > o->write_ms ? o->read_ms : o->write_ms));
    o->pool_wait_ms = (o->read_ms > 0 ? o->read_ms : 3000) + 1000; /* go-redis PoolTimeout */
    o->pool_size = (size_t)pool;
    if (!dc_str_empty(sdc_md_get(md, "redisPassword")))
        o->password = dc_xstrdup(sdc_md_get(md, "redisPassword"));
    if (!dc_str_empty(sdc_md_get(md, "redisUsername")))
        o->username = dc_xstrdup(sdc_md_get(md, "redisUsername"));
    return DC_OK;
}

void sdc_redis_opts_cleanup(struct sdc_redis_opts *o)
{
    free(o->username);
    if (o->password != NULL) {
        memset(o->password, 0, strlen(o->password));
        free(o->password);
    }
    o->username = NULL;
    o->password = NULL;
}

/* ---- connections ---- */

bool sdc_redis_reply_is_err(const redisReply *r, const char *prefix)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           strncmp(r->str, prefix, strlen(prefix)) == 0;
}

bool sdc_redis_reply_unavailable(const redisReply *r)
{
    return sdc_redis_reply_is_err(r, "LOADING") || sdc_redis_reply_is_err(r, "MASTERDOWN") ||
           sdc_redis_reply_is_err(r, "TRYAGAIN") || sdc_redis_reply_is_err(r, "BUSY ");
}

int sdc_redis_replies(redisContext *c, size_t n, redisReply **rep, bool *broken,
                      struct dc_errbuf *eb)
{
    size_t got = 0;

    for (; got < n; got++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK)
            goto io;
        rep[got] = r;
    }
    return DC_OK;
io:
    for (size_t i = 0; i < got; i++)
        freeReplyObject(rep[i]);
    *broken = true;
    return dc_err_set(eb, DC_EUNAVAIL, "redis: %s",
                      c->err == REDIS_ERR_IO && errno == EAGAIN ? "i/o timeout" : c->errstr);
}

int sdc_redis_roundtrip(redisContext *c, const struct sdc_redis_cmd *cmds, size_t n,
                        redisReply **rep, bool *broken, struct dc_errbuf *eb)
{
    for (size_t i = 0; i < n; i++)
        if (redisAppendCommandArgv(c, cmds[i].argc, cmds[i].argv, cmds[i].lens) != REDIS_OK) {
            *broken = true;
            return dc_err_set(eb, DC_EUNAVAIL, "redis: %s", c->errstr);
        }
    return sdc_redis_replies(c, n, rep, broken, eb);
}

static int conn_cmd(redisContext *c, int argc, const char **argv, struct dc_errbuf *eb)
{
    struct sdc_redis_cmd cmd = {argc, argv, NULL};
    redisReply *r = NULL;
    bool broken = false;
    int rv = sdc_redis_roundtrip(c, &cmd, 1, &r, &broken, eb);

    if (rv != DC_OK || r == NULL)
        return rv;
    if (r->type == REDIS_REPLY_ERROR)
        rv = dc_err_set(eb, sdc_redis_reply_unavailable(r) ? DC_EUNAVAIL : DC_EIO, "redis: %s %s",
                        argv[0], r->str);
    freeReplyObject(r);
    return rv;
}

int sdc_redis_connect(const struct sdc_redis_opts *o, int64_t dial_ms, redisContext **out,
                      struct dc_errbuf *eb)
{
    redisContext *c =
        redisConnectWithTimeout(o->host, o->port, dial_ms > 0 ? ms_tv(dial_ms) : o->dial_tv);
    char db[24];
    int rv;

    if (c == NULL)
        return dc_err_set(eb, DC_ENOMEM, "redis: cannot allocate a context");
    if (c->err != 0) {
        rv = dc_err_set(eb, DC_EUNAVAIL, "redis: dial tcp %s:%d: %s", o->host, o->port, c->errstr);
        redisFree(c);
        return rv;
    }
    if ((o->io_tv.tv_sec != 0 || o->io_tv.tv_usec != 0) && redisSetTimeout(c, o->io_tv) != REDIS_OK)
        goto io;
    (void)redisEnableKeepAlive(c);
    if (o->password != NULL) {
        const char *argv[3] = {"AUTH", o->username, o->password};
        rv = o->username != NULL ? conn_cmd(c, 3, argv, eb)
                                 : conn_cmd(c, 2, (const char *[]){"AUTH", o->password}, eb);
        if (rv != DC_OK)
            goto fail;
    }
    if (o->db != 0) {
        snprintf(db, sizeof(db), "%lld", (long long)o->db);
        rv = conn_cmd(c, 2, (const char *[]){"SELECT", db}, eb);
        if (rv != DC_OK)
            goto fail;
    }
    *out = c;
    return DC_OK;
io:
    rv = dc_err_set(eb, DC_EUNAVAIL, "redis: %s", c->errstr);
fail:
    redisFree(c);
    return rv;
}

/* ---- pooled client ---- */

static int pool_connect(void *ud, void **conn, struct dc_errbuf *eb)
{
    struct sdc_redis *r = ud;

    return sdc_redis_connect(&r->o, r->dial_ms, (redisContext **)conn, eb);
}

static void pool_close(void *ud, void *conn)
{
    (void)ud;
    redisFree(conn);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms % 1000) * 1000000)};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Write "<prefix><n>\r\n" (RESP array or bulk string header) at `w`; returns its end. */
static char *resp_header(char *w, char prefix, size_t n)
{
    char t[24];
    size_t i = sizeof(t);

    do {
        t[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    *w++ = prefix;
    memcpy(w, t + i, sizeof(t) - i);
    w += sizeof(t) - i;
    *w++ = '\r';
    *w++ = '\n';
    return w;
}

static size_t arg_len(const struct sdc_redis_cmd *cmd, int i)
{
    return cmd->lens != NULL ? cmd->lens[i] : strlen(cmd->argv[i]);
}

/* Bytes of `cmd` as RESP: at most 23 per header (a size_t in decimal, prefix, CRLF). */
static size_t resp_bound(const struct sdc_redis_cmd *cmd)
{
    size_t n = 23;

    for (int i = 0; i < cmd->argc; i++)
        n += 23 + arg_len(cmd, i) + 2;
    return n;
}

/* Append `cmd` as RESP (an array of bulk strings) to `b`, which has room for resp_bound bytes:
 * what redisAppendCommandArgv writes, without hiredis' sds formatting per argument. */
static void resp_append(struct dc_buf *b, const struct sdc_redis_cmd *cmd)
{
    char *w = resp_header(b->data + b->len, '*', (size_t)cmd->argc);

    for (int i = 0; i < cmd->argc; i++) {
        size_t len = arg_len(cmd, i);
        w = resp_header(w, '$', len);
        memcpy(w, cmd->argv[i], len);
        w += len;
        *w++ = '\r';
        *w++ = '\n';
    }
    b->len = (size_t)(w - b->data);
    b->data[b->len] = '\0';
}

/* Send `n` bytes of commands on `c`: straight to its socket (blocking, within the socket
 * timeout set at connect) when hiredis has nothing queued, which saves copying the batch into
 * hiredis' output buffer; redisGetReply then only reads. DC_EUNAVAIL: `c` is broken. */
static int conn_write(redisContext *c, const char *p, size_t n, struct dc_errbuf *eb)
{
    char why[96];

    if (c->obuf != NULL && sdslen(c->obuf) != 0) {
        if (redisAppendFormattedCommand(c, p, n) != REDIS_OK)
            return dc_err_set(eb, DC_EUNAVAIL, "redis: %s", c->errstr);
        return DC_OK;
    }
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w >= 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return dc_err_set(eb, DC_EUNAVAIL, "redis: i/o timeout");
        if (strerror_r(errno, why, sizeof(why)) != 0)
            dc_strlcpy(why, "write failed", sizeof(why));
        return dc_err_set(eb, DC_EUNAVAIL, "redis: %s", why);
    }
    return DC_OK;
}

/* Run one batch of `n` calls on one pooled connection: every command written at once, then the
 * replies read in order. Calls whose replies were all read before a connection failure
 * succeed; the others get the failure. */
static void run_batch(struct sdc_redis *r, struct rd_call **calls, size_t n)
{
    void *c = NULL;
    bool fresh = false, broken = false;
    struct dc_errbuf e = {0};
    struct dc_buf out = {0};
    size_t i = 0;
    int rv = dc_pool_get(r->pool, &c, &fresh, &e);

    if (rv != DC_OK) {
        for (size_t k = 0; k < n; k++)
            calls[k]->rv = dc_err_set(calls[k]->eb, rv, "%s", e.msg);
        return;
    }
    {
        size_t need = 0;
        for (size_t k = 0; k < n; k++)
            for (size_t j = 0; j < calls[k]->n; j++)
                need += resp_bound(&calls[k]->cmds[j]);
        rv = dc_buf_reserve(&out, need);
    }
    for (size_t k = 0; k < n && rv == DC_OK; k++)
        for (size_t j = 0; j < calls[k]->n; j++)
            resp_append(&out, &calls[k]->cmds[j]);
    if (rv != DC_OK)
        rv = dc_err_set(&e, DC_EUNAVAIL, "redis: commands too large");
    else if (out.len > 0)
        rv = conn_write(c, out.data, out.len, &e);
    dc_buf_cleanup(&out);
    for (; i < n && rv == DC_OK; i++) {
        rv = sdc_redis_replies(c, calls[i]->n, calls[i]->rep, &broken, &e);
        calls[i]->rv = DC_OK;
    }
    if (rv != DC_OK) {
        broken = true;
        i -= i > 0 ? 1 : 0; /* the call whose replies failed, and every later one */
    }
    for (size_t k = 0; k < n; k++) {
        calls[k]->fresh = fresh;
        calls[k]->io = true;
        if (rv != DC_OK && k >= i)
            calls[k]->rv = dc_err_set(calls[k]->eb, rv, "%s", e.msg);
    }
    dc_pool_put(r->pool, c, broken);
}

/* Unlink `call` from the queue (under mu); it must not have been taken. */
static void queue_remove(struct sdc_redis *r, struct rd_call *call)
{
    struct rd_call **pp = &r->head, *prev = NULL;

    while (*pp != NULL && *pp != call) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return;
    *pp = call->next;
    if (r->tail == call)
        r->tail = prev;
}

/* Promise `c` a wake-up (under mu); the caller posts it after unlocking. A call returns only
 * once it has consumed every post promised to it, so a post never reaches a finished call. */
static struct rd_call *promise(struct rd_call *c)
{
    c->posts++;
    return c;
}

/* One turn as leader (under mu, released meanwhile): send the queue's first calls as a batch,
 * complete them, and hand the role to the first queued call without one (or give it back).
 * A role handed to a call that another leader then took into its batch may find the queue
 * empty: the role is given back. */
static void lead_batch(struct sdc_redis *r, struct rd_call *self)
{
    struct rd_call *batch[RD_BATCH_MAX], *wake[RD_BATCH_MAX + 1];
    size_t n, nw = 0;

    self->lead = false;
    for (n = 0; n < RD_BATCH_MAX && r->head != NULL; n++) {
        batch[n] = r->head;
        batch[n]->taken = true;
        r->head = r->head->next;
    }
    if (r->head == NULL)
        r->tail = NULL;
    if (n == 0) {
        r->leaders--;
        return;
    }
    pthread_mutex_unlock(&r->mu);
    run_batch(r, batch, n);
    pthread_mutex_lock(&r->mu);
    for (size_t k = 0; k < n; k++) {
        batch[k]->done = true;
        if (batch[k] != self)
            wake[nw++] = promise(batch[k]);
    }
    {
        struct rd_call *q = r->head;
        while (q != NULL && q->lead)
            q = q->next;
        if (q != NULL) {
            q->lead = true;
            if (q != self)
                wake[nw++] = promise(q);
        } else {
            r->leaders--;
        }
    }
    pthread_mutex_unlock(&r->mu);
    for (size_t k = 0; k < nw; k++)
        sem_post(&wake[k]->sem);
    pthread_mutex_lock(&r->mu);
}

/* Wait for a post on `c` (not under mu); false when `until` (CLOCK_REALTIME, may be NULL)
 * passed first. */
static bool wait_post(struct rd_call *c, const struct timespec *until)
{
    for (;;) {
        if ((until != NULL ? sem_timedwait(&c->sem, until) : sem_wait(&c->sem)) == 0)
            return true;
        if (errno == ETIMEDOUT)
            return false;
    }
}

/* Queue `call` and wait until it is done, leading batches whenever handed the role. */
static void submit(struct sdc_redis *r, struct rd_call *call)
{
    struct timespec until = dc_timespec_in(CLOCK_REALTIME, r->o.pool_wait_ms * DC_NS_PER_MS);
    unsigned consumed = 0;
    bool expired = false;

    sem_init(&call->sem, 0, 0);
    pthread_mutex_lock(&r->mu);
    call->next = NULL;
    if (r->tail != NULL)
        r->tail->next = call;
    else
        r->head = call;
    r->tail = call;
    if (r->leaders < RD_MAX_INFLIGHT) {
        r->leaders++;
        call->lead = true;
    }
    for (;;) {
        bool got, timed;
        if (call->lead) {
            lead_batch(r, call);
            continue;
        }
        if (call->done && consumed == call->posts)
            break;
        /* Once taken into a batch, a call waits for it: batches are bounded by timeouts. */
        timed = !expired && !call->taken && !call->done;
        pthread_mutex_unlock(&r->mu);
        got = wait_post(call, timed ? &until : NULL);
        pthread_mutex_lock(&r->mu);
        if (got) {
            consumed++;
            continue;
        }
        expired = true;
        if (!call->taken && !call->lead && !call->done) {
            /* Still queued behind batches that do not finish: give up as a pool would. */
            queue_remove(r, call);
            call->rv = dc_err_set(call->eb, DC_EUNAVAIL, "connection pool timeout");
            call->io = false;
            call->done = true;
        }
    }
    pthread_mutex_unlock(&r->mu);
    sem_destroy(&call->sem);
}

static int run_retries(struct sdc_redis *r, const struct sdc_redis_cmd *cmds, size_t n,
                       redisReply **rep, int64_t max_retries, struct dc_errbuf *eb)
{
    int64_t backoff = RD_BACKOFF_MIN_MS;
    int64_t retries = 0;
    int stale = 0;

    for (;;) {
        struct rd_call call = {.cmds = cmds, .n = n, .rep = rep, .eb = eb};
        int rv;

        submit(r, &call);
        rv = call.rv;
        if (rv == DC_OK)
            return DC_OK;
        /* A pooled connection that died while idle: try again at once on a new one. */
        if (call.io && !call.fresh && stale++ < 2)
            continue;
        if (rv != DC_EUNAVAIL || retries++ >= max_retries)
            return rv;
        sleep_ms(backoff);
        backoff = backoff * 2 > RD_BACKOFF_MAX_MS ? RD_BACKOFF_MAX_MS : backoff * 2;
    }
}

int sdc_redis_run(struct sdc_redis *r, const struct sdc_redis_cmd *cmds, size_t n, redisReply **rep,
                  struct dc_errbuf *eb)
{
    return run_retries(r, cmds, n, rep, r->o.max_retries, eb);
}

int sdc_redis_cmd(struct sdc_redis *r, redisReply **out, struct dc_errbuf *eb, int argc,
                  const char **argv)
{
    struct sdc_redis_cmd cmd = {argc, argv, NULL};
    redisReply *rep = NULL;
    int rv = sdc_redis_run(r, &cmd, 1, &rep, eb);

    if (rv != DC_OK)
        return rv;
    if (rep->type == REDIS_REPLY_ERROR) {
        rv = dc_err_set(eb, sdc_redis_reply_unavailable(rep) ? DC_EUNAVAIL : DC_EIO,
                        "redis: %s: %s", argv[0], rep->str);
        freeReplyObject(rep);
        return rv;
    }
    if (out != NULL)
        *out = rep;
    else
        freeReplyObject(rep);
    return DC_OK;
}

size_t sdc_redis_queued(struct sdc_redis *r)
{
    size_t n = 0;

    pthread_mutex_lock(&r->mu);
    for (const struct rd_call *c = r->head; c != NULL; c = c->next)
        n++;
    pthread_mutex_unlock(&r->mu);
    return n;
}

const struct sdc_redis_opts *sdc_redis_opts(const struct sdc_redis *r)
{
    return &r->o;
}

void sdc_redis_close(struct sdc_redis *r)
{
    if (r == NULL)
        return;
    dc_pool_free(r->pool);
    sdc_redis_opts_cleanup(&r->o);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int sdc_redis_open(struct sdc_redis **out, const struct sdc_md *md, const char *label,
                   int64_t init_timeout_ms, bool no_ping, struct dc_errbuf *eb)
{
    struct sdc_redis *r = dc_xcalloc(1, sizeof(*r));
    struct dc_pool_config pc = {0, 0, pool_connect, pool_close, r};
    int rv;

    pthread_mutex_init(&r->mu, NULL);
    rv = sdc_redis_opts_parse(&r->o, md, label, eb);
    if (rv != DC_OK) {
        sdc_redis_close(r);
        return rv;
    }
    pc.max_size = r->o.pool_size;
    pc.wait_ms = r->o.pool_wait_ms;
    rv = dc_pool_new(&r->pool, &pc, eb);
    if (rv != DC_OK)
        goto fail;
    if (!no_ping) {
        /* The first connection within the init timeout; no retries beyond it. */
        const char *argv[1] = {"PING"};
        struct sdc_redis_cmd cmd = {1, argv, NULL};
        redisReply *rep;

        r->dial_ms = init_timeout_ms > 0 && init_timeout_ms < r->o.dial_ms ? init_timeout_ms : 0;
        rv = run_retries(r, &cmd, 1, &rep, 0, eb);
        r->dial_ms = 0;
        if (rv == DC_OK) {
            if (rep->type == REDIS_REPLY_ERROR)
                rv = dc_err_set(eb, sdc_redis_reply_unavailable(rep) ? DC_EUNAVAIL : DC_EIO,
                                "redis: PING: %s", rep->str);
            freeReplyObject(rep);
        }
        if (rv != DC_OK) {
            dc_err_wrapf(eb, "%s: error connecting to redis at %s:%d", label, r->o.host, r->o.port);
            goto fail;
        }
    }
    *out = r;
    return DC_OK;
fail:
    sdc_redis_close(r);
    return rv;
}
