/* configuration.redis v1 (sidecar-api.md §9, §22.7), as components-contrib configuration/redis:
 *
 * - an item is a Redis string "value||version" (no "||": the whole string is the value and the
 *   version is empty); other key types are skipped;
 * - get with no keys SCANs the whole database; values come with MGET;
 * - subscribe opens a dedicated connection per subscription and SUBSCRIBEs to
 *   __keyspace@<db>__:<key> for each key (PSUBSCRIBE __keyspace@<db>__:* for all keys); the
 *   server must emit keyspace events (notify-keyspace-events with K and A or $g); like upstream
 *   we turn them on with CONFIG SET when they are off, best effort;
 * - on a notification for key k the item is read again and reported; a key that is gone (del,
 *   expired) is reported as an empty item;
 * - a listener whose connection breaks redials every 500 ms and subscribes again (changes made
 *   while it was away are not replayed).
 * The listener waits in poll() on the socket and on a pipe that unsubscribe writes to, so
 * unsubscribing is immediate. */
#include "configuration.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"

#include "redis_conn.h"

#define RCFG_SEP "||"
#define RCFG_SCAN_MAX 100000 /* keys one get-all may return */
#define RCFG_REDIAL_MS 500

struct rcfg_sub;

struct rcfg_store {
    struct sdc_redis *rc;
    pthread_mutex_t mu;
    struct rcfg_sub *subs;
    char prefix[48]; /* "__keyspace@<db>__:" */
};

struct rcfg_sub {
    struct rcfg_sub *next;
    struct rcfg_store *s;
    char **keys;
    size_t nkeys;
    struct sdc_md md;
    sdc_cfg_update_fn *fn;
    void *ud;
    int stop[2];
    pthread_t th;
};

/* "value||version||..." -> value, version (upstream GetRedisValueAndVersion). */
static void split_value(struct dc_arena *a, const char *s, size_t len, struct sdc_cfg_item *it)
{
    const char *sep = NULL;

    for (size_t i = 0; i + 1 < len && sep == NULL; i++)
        if (s[i] == '|' && s[i + 1] == '|')
            sep = s + i;
    if (sep == NULL) {
        it->value = dc_arena_strndup(a, s, len);
        it->version = "";
        return;
    }
    it->value = dc_arena_strndup(a, s, (size_t)(sep - s));
    {
        const char *v = sep + 2;
        size_t vlen = len - (size_t)(v - s);
        const char *end = NULL;
        for (size_t i = 0; i + 1 < vlen && end == NULL; i++)
            if (v[i] == '|' && v[i + 1] == '|')
                end = v + i;
        it->version = dc_arena_strndup(a, v, end != NULL ? (size_t)(end - v) : vlen);
    }
}

/* Every key of the database (SCAN), into arena memory. */
static int scan_all(struct rcfg_store *s, struct dc_arena *a, const char ***keys, size_t *n,
                    struct dc_errbuf *eb)
{
    char cursor[32] = "0";
    size_t cap = 0;
    int rv = DC_OK;

    *keys = NULL;
    *n = 0;
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", "*", "COUNT", "1000"};
        redisReply *r = NULL;

        rv = sdc_redis_cmd(s->rc, &r, eb, 6, argv);
        if (rv != DC_OK)
            return rv;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            rv = dc_err_set(eb, DC_EIO, "redis: SCAN: unexpected reply");
            freeReplyObject(r);
            return rv;
        }
        dc_strlcpy(cursor, r->element[0]->str != NULL ? r->element[0]->str : "0", sizeof(cursor));
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];
            if (*n == cap) {
                const char **nk;
                if (cap >= RCFG_SCAN_MAX) {
                    freeReplyObject(r);
                    return dc_err_set(eb, DC_ETOOBIG, "more than %d keys", RCFG_SCAN_MAX);
                }
                cap = cap == 0 ? 64 : cap * 2;
                nk = dc_arena_alloc(a, cap * sizeof(*nk));
                if (*n > 0)
                    memcpy(nk, *keys, *n * sizeof(*nk));
                *keys = nk;
            }
            (*keys)[(*n)++] = dc_arena_strndup(a, k->str, k->len);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return rv;
}

static int rcfg_get(void *self, const char *const *keys, size_t nkeys, const struct sdc_md *md,
                    struct dc_arena *a, struct sdc_cfg_item **items, size_t *n,
                    struct dc_errbuf *eb)
{
    struct rcfg_store *s = self;
    const char **all = NULL;
    const char **argv;
    redisReply *r = NULL;
    int rv;

    (void)md;
    *items = NULL;
    *n = 0;
    if (nkeys == 0) {
        size_t nall;
        rv = scan_all(s, a, &all, &nall, eb);
        if (rv != DC_OK || nall == 0)
            return rv;
        keys = all;
        nkeys = nall;
    }
    argv = dc_arena_alloc(a, (nkeys + 1) * sizeof(*argv));
    argv[0] = "MGET";
    memcpy(argv + 1, keys, nkeys * sizeof(*argv));
    rv = sdc_redis_cmd(s->rc, &r, eb, (int)(nkeys + 1), argv);
    if (rv != DC_OK)
        return rv;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != nkeys) {
        rv = dc_err_set(eb, DC_EIO, "redis: MGET: unexpected reply");
        freeReplyObject(r);
        return rv;
    }
    *items = dc_arena_calloc(a, nkeys * sizeof(**items));
    for (size_t i = 0; i < nkeys; i++) {
        const redisReply *v = r->element[i];
        struct sdc_cfg_item *it = &(*items)[*n];
        /* nil: missing, or not a string (MGET answers nil for other types). */
        if (v->type != REDIS_REPLY_STRING)
            continue;
        it->key = dc_arena_strdup(a, keys[i]);
        split_value(a, v->str, v->len, it);
        (*n)++;
    }
    freeReplyObject(r);
    return DC_OK;
}

/* ---- subscriptions ------------------------------------------------------------------------- */

/* Turn keyspace events on when the server has them off (upstream sets "KA"). Best effort. */
static void ensure_notifications(struct rcfg_store *s)
{
    const char *get[3] = {"CONFIG", "GET", "notify-keyspace-events"};
    redisReply *r = NULL;
    char flags[64] = "";

    if (sdc_redis_cmd(s->rc, &r, NULL, 3, get) != DC_OK)
        return;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->str != NULL)
        dc_strlcpy(flags, r->element[1]->str, sizeof(flags));
    freeReplyObject(r);
    if (strchr(flags, 'K') != NULL &&
        (strchr(flags, 'A') != NULL || (strchr(flags, '$') != NULL && strchr(flags, 'g') != NULL)))
        return;
    {
        char want[80];
        const char *set[4] = {"CONFIG", "SET", "notify-keyspace-events", want};
        int rv;

        snprintf(want, sizeof(want), "%sKA", flags);
        rv = sdc_redis_cmd(s->rc, NULL, NULL, 4, set); /* best effort */
        (void)rv;
    }
}

static int send_subscribe(struct rcfg_sub *sub, redisContext *c)
{
    size_t argc = sub->nkeys == 0 ? 2 : sub->nkeys + 1;
    const char **argv = dc_xcalloc(argc, sizeof(*argv));
    char **owned = dc_xcalloc(argc, sizeof(*owned));
    int rv, done = 0;

    if (sub->nkeys == 0) {
        argv[0] = "PSUBSCRIBE";
        owned[1] = dc_xmalloc(strlen(sub->s->prefix) + 2);
        snprintf(owned[1], strlen(sub->s->prefix) + 2, "%s*", sub->s->prefix);
    } else {
        argv[0] = "SUBSCRIBE";
        for (size_t i = 0; i < sub->nkeys; i++) {
            size_t len = strlen(sub->s->prefix) + strlen(sub->keys[i]) + 1;
            owned[i + 1] = dc_xmalloc(len);
            snprintf(owned[i + 1], len, "%s%s", sub->s->prefix, sub->keys[i]);
        }
    }
    for (size_t i = 1; i < argc; i++)
        argv[i] = owned[i];
    rv = redisAppendCommandArgv(c, (int)argc, argv, NULL);
    while (rv == REDIS_OK && !done)
        rv = redisBufferWrite(c, &done);
    for (size_t i = 0; i < argc; i++)
        free(owned[i]);
    free(owned);
    free(argv);
    return rv == REDIS_OK ? DC_OK : DC_EUNAVAIL;
}

/* A (p)message reply: report the key's current item. */
static void handle_message(struct rcfg_sub *sub, const redisReply *r)
{
    const redisReply *ch;
    struct dc_arena a;
    struct sdc_cfg_item *items = NULL;
    struct sdc_cfg_item gone = {0};
    struct dc_errbuf eb = {0};
    const char *key;
    size_t n = 0;
    size_t plen = strlen(sub->s->prefix);

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->str == NULL)
        return;
    if (strcmp(r->element[0]->str, "message") == 0 && r->elements == 3)
        ch = r->element[1];
    else if (strcmp(r->element[0]->str, "pmessage") == 0 && r->elements == 4)
        ch = r->element[2];
    else
        return; /* subscribe confirmations */
    if (ch->str == NULL || ch->len <= plen || memcmp(ch->str, sub->s->prefix, plen) != 0)
        return;
    dc_arena_init(&a);
    key = dc_arena_strndup(&a, ch->str + plen, ch->len - plen);
    if (rcfg_get(sub->s, &key, 1, &sub->md, &a, &items, &n, &eb) != DC_OK) {
        DC_LOG(DC_LOG_ERROR, "configuration.redis: get %s after a change failed: %s", key, eb.msg);
    } else {
        if (n == 0) { /* deleted or expired */
            gone.key = key;
            gone.value = "";
            gone.version = "";
            items = &gone;
            n = 1;
        }
        sub->fn(sub->ud, items, n);
    }
    dc_arena_cleanup(&a);
}

/* Wait up to `ms` for the stop pipe; true when stopping. */
static bool wait_stop(struct rcfg_sub *sub, int fd, int ms)
{
    struct pollfd p[2] = {{sub->stop[0], POLLIN, 0}, {fd, POLLIN, 0}};

    if (poll(p, fd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
        return false;
    return (p[0].revents & (POLLIN | POLLHUP)) != 0;
}

static void *listener(void *arg)
{
    struct rcfg_sub *sub = arg;
    redisContext *c = NULL;

    for (;;) {
        void *reply = NULL;

        if (c == NULL) {
            struct dc_errbuf eb = {0};
            if (sdc_redis_connect(sdc_redis_opts(sub->s->rc), 0, &c, &eb) != DC_OK ||
                send_subscribe(sub, c) != DC_OK) {
                if (c != NULL) {
                    redisFree(c);
                    c = NULL;
                }
                if (wait_stop(sub, -1, RCFG_REDIAL_MS))
                    break;
                continue;
            }
        }
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
            redisFree(c);
            c = NULL;
            continue;
        }
        if (reply != NULL) {
            handle_message(sub, reply);
            freeReplyObject(reply);
            continue;
        }
        if (wait_stop(sub, c->fd, -1))
            break;
        if (redisBufferRead(c) != REDIS_OK) {
            DC_LOG(DC_LOG_WARN, "configuration.redis: subscription connection lost: %s", c->errstr);
            redisFree(c);
            c = NULL;
        }
    }
    if (c != NULL)
        redisFree(c);
    return NULL;
}

static void sub_free(struct rcfg_sub *sub)
{
    for (size_t i = 0; i < sub->nkeys; i++)
        free(sub->keys[i]);
    free(sub->keys);
    sdc_md_cleanup(&sub->md);
    if (sub->stop[0] >= 0)
        close(sub->stop[0]);
    if (sub->stop[1] >= 0)
        close(sub->stop[1]);
    free(sub);
}

static int rcfg_subscribe(void *self, const char *const *keys, size_t nkeys,
                          const struct sdc_md *md, sdc_cfg_update_fn *fn, void *ud, void **handle,
                          struct dc_errbuf *eb)
{
    struct rcfg_store *s = self;
    struct rcfg_sub *sub = dc_xcalloc(1, sizeof(*sub));

    sub->s = s;
    sub->fn = fn;
    sub->ud = ud;
    sub->stop[0] = sub->stop[1] = -1;
    sub->nkeys = nkeys;
    sub->keys = dc_xcalloc(nkeys + 1, sizeof(*sub->keys));
    for (size_t i = 0; i < nkeys; i++)
        sub->keys[i] = dc_xstrdup(keys[i]);
    for (size_t i = 0; md != NULL && i < md->n; i++)
        sdc_md_set(&sub->md, md->names[i], md->values[i]);
    if (pipe(sub->stop) != 0) {
        sub_free(sub);
        return dc_err_set(eb, DC_EIO, "pipe: %s", strerror(errno));
    }
    ensure_notifications(s);
    if (pthread_create(&sub->th, NULL, listener, sub) != 0) {
        sub_free(sub);
        return dc_err_set(eb, DC_EIO, "cannot start the subscription thread");
    }
    pthread_mutex_lock(&s->mu);
    sub->next = s->subs;
    s->subs = sub;
    pthread_mutex_unlock(&s->mu);
    *handle = sub;
    return DC_OK;
}

static void stop_sub(struct rcfg_sub *sub)
{
    ssize_t w;

    do {
        w = write(sub->stop[1], "x", 1);
    } while (w < 0 && errno == EINTR);
    pthread_join(sub->th, NULL);
    sub_free(sub);
}

static void rcfg_unsubscribe(void *self, void *handle)
{
    struct rcfg_store *s = self;
    struct rcfg_sub *found = NULL;

    pthread_mutex_lock(&s->mu);
    for (struct rcfg_sub **pp = &s->subs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == handle) {
            found = *pp;
            *pp = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (found != NULL)
        stop_sub(found);
}

static void rcfg_close(void *self)
{
    struct rcfg_store *s = self;

    if (s == NULL)
        return;
    while (s->subs != NULL) {
        struct rcfg_sub *sub = s->subs;
        s->subs = sub->next;
        stop_sub(sub);
    }
    sdc_redis_close(s->rc);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int rcfg_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                     struct dc_errbuf *eb)
{
    struct rcfg_store *s = dc_xcalloc(1, sizeof(*s));
    int rv;

    pthread_mutex_init(&s->mu, NULL);
    rv = sdc_redis_open(&s->rc, md, "redis configuration", ctx != NULL ? ctx->timeout_ms : 0, false,
                        eb);
    if (rv != DC_OK) {
        rcfg_close(s);
        return rv;
    }
    snprintf(s->prefix, sizeof(s->prefix),
             "__keyspace@%lld__:", (long long)sdc_redis_opts(s->rc)->db);
    *self = s;
    return DC_OK;
}

static const struct sdc_configuration_ops redis_ops = {
    .base = {.init = rcfg_init, .close = rcfg_close},
    .get = rcfg_get,
    .subscribe = rcfg_subscribe,
    .unsubscribe = rcfg_unsubscribe,
};

const struct sdc_component_type sdc_type_configuration_redis = {
    "configuration.redis", "v1", SDC_CAT_CONFIGURATION, &redis_ops.base};
