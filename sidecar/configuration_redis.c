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
 * Each subscription is a watcher thread of configuration.h (sdc_cfg_watch), so unsubscribing
 * is immediate. */
#include "configuration.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"

#include "redis_conn.h"

#define RCFG_SEP "||"
#define RCFG_SCAN_MAX 100000 /* keys one get-all may return */
#define RCFG_REDIAL_MS 500

struct rcfg_store {
    struct sdc_redis *rc;
    struct sdc_cfg_watchers watchers;
    char prefix[48]; /* "__keyspace@<db>__:" */
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

static int send_subscribe(struct sdc_cfg_watch *sub, redisContext *c)
{
    const struct rcfg_store *s = sub->store;
    size_t argc = sub->nkeys == 0 ? 2 : sub->nkeys + 1;
    const char **argv = dc_xcalloc(argc, sizeof(*argv));
    char **owned = dc_xcalloc(argc, sizeof(*owned));
    int rv, done = 0;

    if (sub->nkeys == 0) {
        argv[0] = "PSUBSCRIBE";
        owned[1] = dc_xmalloc(strlen(s->prefix) + 2);
        snprintf(owned[1], strlen(s->prefix) + 2, "%s*", s->prefix);
    } else {
        argv[0] = "SUBSCRIBE";
        for (size_t i = 0; i < sub->nkeys; i++) {
            size_t len = strlen(s->prefix) + strlen(sub->keys[i]) + 1;
            owned[i + 1] = dc_xmalloc(len);
            snprintf(owned[i + 1], len, "%s%s", s->prefix, sub->keys[i]);
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
static void handle_message(struct sdc_cfg_watch *sub, const redisReply *r)
{
    struct rcfg_store *s = sub->store;
    const redisReply *ch;
    struct dc_arena a;
    struct sdc_cfg_item *items = NULL;
    struct sdc_cfg_item gone = {0};
    struct dc_errbuf eb = {0};
    const char *key;
    size_t n = 0;
    size_t plen = strlen(s->prefix);

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->str == NULL)
        return;
    if (strcmp(r->element[0]->str, "message") == 0 && r->elements == 3)
        ch = r->element[1];
    else if (strcmp(r->element[0]->str, "pmessage") == 0 && r->elements == 4)
        ch = r->element[2];
    else
        return; /* subscribe confirmations */
    if (ch->str == NULL || ch->len <= plen || memcmp(ch->str, s->prefix, plen) != 0)
        return;
    dc_arena_init(&a);
    key = dc_arena_strndup(&a, ch->str + plen, ch->len - plen);
    if (rcfg_get(s, &key, 1, &sub->md, &a, &items, &n, &eb) != DC_OK) {
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

static void listener(struct sdc_cfg_watch *sub)
{
    const struct rcfg_store *s = sub->store;
    redisContext *c = NULL;

    for (;;) {
        void *reply = NULL;

        if (c == NULL) {
            struct dc_errbuf eb = {0};
            if (sdc_redis_connect(sdc_redis_opts(s->rc), 0, &c, &eb) != DC_OK ||
                send_subscribe(sub, c) != DC_OK) {
                if (c != NULL) {
                    redisFree(c);
                    c = NULL;
                }
                if (sdc_cfg_watch_wait(sub, -1, RCFG_REDIAL_MS))
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
        if (sdc_cfg_watch_wait(sub, c->fd, -1))
            break;
        if (redisBufferRead(c) != REDIS_OK) {
            DC_LOG(DC_LOG_WARN, "configuration.redis: subscription connection lost: %s", c->errstr);
            redisFree(c);
            c = NULL;
        }
    }
    if (c != NULL)
        redisFree(c);
}

static int rcfg_subscribe(void *self, const char *const *keys, size_t nkeys,
                          const struct sdc_md *md, sdc_cfg_update_fn *fn, void *ud, void **handle,
                          struct dc_errbuf *eb)
{
    struct rcfg_store *s = self;
    struct sdc_cfg_watch *w = dc_xcalloc(1, sizeof(*w));
    int rv;

    w->run = listener;
    w->store = s;
    ensure_notifications(s);
    rv = sdc_cfg_watch_start(&s->watchers, w, keys, nkeys, md, fn, ud, eb);
    if (rv == DC_OK)
        *handle = w;
    return rv;
}

static void rcfg_unsubscribe(void *self, void *handle)
{
    struct rcfg_store *s = self;

    sdc_cfg_watch_stop(&s->watchers, handle);
}

static void rcfg_close(void *self)
{
    struct rcfg_store *s = self;

    if (s == NULL)
        return;
    sdc_cfg_watchers_cleanup(&s->watchers);
    sdc_redis_close(s->rc);
    free(s);
}

static int rcfg_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                     struct dc_errbuf *eb)
{
    struct rcfg_store *s = dc_xcalloc(1, sizeof(*s));
    int rv;

    sdc_cfg_watchers_init(&s->watchers);
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
