/* state.in-memory (v1): the reference store of components-contrib, in process memory.
 *
 * Keys hash into 64 shards, each a chained hash table behind its own rwlock, so reads of
 * different keys never contend and reads of the same key share the lock. ETags come from one
 * per-store counter. TTLs are exact without a background thread: an expired item is invisible
 * to every operation from its expiry on, and writes to a shard sweep it at most once a second
 * to give the memory back. Transactions write-lock the shards they touch (in index order, so
 * they never deadlock), check every ETag, then apply everything: all or nothing. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/mem.h"
#include "dc/str.h"

#include "state_store.h"

#define NSHARDS 64
#define MIN_BUCKETS 16
#define SWEEP_EVERY_MS 1000

struct item {
    struct item *next;
    uint64_t hash;
    uint64_t etag;
    int64_t expire_ms; /* unix ms; 0 = never */
    size_t klen;
    size_t vlen;
    char *val;  /* inside this allocation, after the key */
    char key[]; /* key, NUL, value */
};

struct shard {
    pthread_rwlock_t lock;
    struct item **buckets;
    size_t nbuckets;
    size_t n;
    int64_t next_sweep_ms;
};

struct mem {
    struct shard shards[NSHARDS];
    atomic_uint_fast64_t etag;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t hash_key(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static struct shard *shard_of(struct mem *m, uint64_t h)
{
    return &m->shards[(h >> 58) % NSHARDS];
}

static bool live(const struct item *it, int64_t now)
{
    return it->expire_ms == 0 || it->expire_ms > now;
}

/* The slot pointing at `key`'s item (live or not), or at the NULL ending its chain. */
static struct item **find_slot(struct shard *s, const char *key, size_t klen, uint64_t h)
{
    struct item **p = &s->buckets[h & (s->nbuckets - 1)];

    for (; *p != NULL; p = &(*p)->next)
        if ((*p)->hash == h && (*p)->klen == klen && memcmp((*p)->key, key, klen) == 0)
            return p;
    return p;
}

static struct item *find_live(struct shard *s, const char *key, size_t klen, uint64_t h,
                              int64_t now)
{
    struct item *it = *find_slot(s, key, klen, h);

    return it != NULL && live(it, now) ? it : NULL;
}

static void grow(struct shard *s)
{
    size_t nb = s->nbuckets * 2;
    struct item **b = dc_xcalloc(nb, sizeof(*b));

    for (size_t i = 0; i < s->nbuckets; i++) {
        struct item *it = s->buckets[i], *next;
        for (; it != NULL; it = next) {
            next = it->next;
            it->next = b[it->hash & (nb - 1)];
            b[it->hash & (nb - 1)] = it;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

/* Drop expired items; write lock held. */
static void sweep(struct shard *s, int64_t now)
{
    if (now < s->next_sweep_ms)
        return;
    s->next_sweep_ms = now + SWEEP_EVERY_MS;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct item **p = &s->buckets[i];
        while (*p != NULL) {
            struct item *it = *p;
            if (live(it, now)) {
                p = &it->next;
                continue;
            }
            *p = it->next;
            free(it);
            s->n--;
        }
    }
}

/* ---- ETag rules of the reference store (sidecar-api.md §5.3) ---------------------------- */

static int check_etag(const struct item *it, const char *key, const char *etag,
                      enum sdc_state_concurrency conc, struct dc_errbuf *eb)
{
    char cur[24];

    if (etag == NULL) {
        if (conc == SDC_STATE_FIRST_WRITE && it != NULL)
            return dc_err_set(eb, DC_ECONFLICT,
                              "item with key %s already exists and no etag "
                              "was given",
                              key);
        return DC_OK;
    }
    if (it == NULL)
        return dc_err_set(eb, DC_ECONFLICT, "item with key %s does not exist", key);
    snprintf(cur, sizeof(cur), "%llu", (unsigned long long)it->etag);
    if (strcmp(cur, etag) != 0)
        return dc_err_set(eb, DC_ECONFLICT, "etag does not match for key %s", key);
    return DC_OK;
}

/* Insert or replace; write lock held, ETag already checked. */
static void put_item(struct mem *m, struct shard *s, const struct sdc_state_set *req, uint64_t h,
                     int64_t now)
{
    size_t klen = strlen(req->key);
    struct item **slot = find_slot(s, req->key, klen, h);
    struct item *it = dc_xmalloc(sizeof(*it) + klen + 1 + req->value_len + 1);

    it->hash = h;
    it->etag = atomic_fetch_add(&m->etag, 1) + 1;
    it->expire_ms = req->has_ttl && req->ttl_s > 0 ? now + req->ttl_s * 1000 : 0;
    it->klen = klen;
    it->vlen = req->value_len;
    memcpy(it->key, req->key, klen + 1);
    it->val = it->key + klen + 1;
    if (req->value_len > 0)
        memcpy(it->val, req->value, req->value_len);
    it->val[req->value_len] = '\0';
    if (*slot != NULL) {
        it->next = (*slot)->next;
        free(*slot);
        *slot = it;
        return;
    }
    it->next = NULL;
    *slot = it;
    if (++s->n > s->nbuckets)
        grow(s);
}

static void del_item(struct shard *s, const char *key, uint64_t h)
{
    struct item **slot = find_slot(s, key, strlen(key), h);
    struct item *it = *slot;

    if (it == NULL)
        return;
    *slot = it->next;
    free(it);
    s->n--;
}

/* ---- operations -------------------------------------------------------------------------- */

static int mem_get(void *self, const struct sdc_state_get *req, struct sdc_state_value *out,
                   struct dc_errbuf *eb)
{
    struct mem *m = self;
    size_t klen = strlen(req->key);
    uint64_t h = hash_key(req->key, klen);
    struct shard *s = shard_of(m, h);
    struct item *it;
    int rv = DC_OK;

    (void)eb;
    out->found = false;
    pthread_rwlock_rdlock(&s->lock);
    it = find_live(s, req->key, klen, h, now_ms());
    if (it != NULL) {
        rv = dc_buf_append(&out->data, it->val, it->vlen);
        if (rv == DC_OK && it->vlen == 0)
            rv = dc_buf_reserve(&out->data, 1);
        out->found = rv == DC_OK;
        snprintf(out->etag, sizeof(out->etag), "%llu", (unsigned long long)it->etag);
        out->expire_unix_ms = it->expire_ms;
    }
    pthread_rwlock_unlock(&s->lock);
    return rv;
}

static int mem_set(void *self, const struct sdc_state_set *req, struct dc_errbuf *eb)
{
    struct mem *m = self;
    size_t klen = strlen(req->key);
    uint64_t h = hash_key(req->key, klen);
    struct shard *s = shard_of(m, h);
    int64_t now = now_ms();
    int rv;

    pthread_rwlock_wrlock(&s->lock);
    sweep(s, now);
    rv =
        check_etag(find_live(s, req->key, klen, h, now), req->key, req->etag, req->concurrency, eb);
    if (rv == DC_OK)
        put_item(m, s, req, h, now);
    pthread_rwlock_unlock(&s->lock);
    return rv;
}

static int mem_del(void *self, const struct sdc_state_del *req, struct dc_errbuf *eb)
{
    struct mem *m = self;
    size_t klen = strlen(req->key);
    uint64_t h = hash_key(req->key, klen);
    struct shard *s = shard_of(m, h);
    int64_t now = now_ms();
    int rv;

    pthread_rwlock_wrlock(&s->lock);
    sweep(s, now);
    rv =
        check_etag(find_live(s, req->key, klen, h, now), req->key, req->etag, req->concurrency, eb);
    if (rv == DC_OK)
        del_item(s, req->key, h);
    pthread_rwlock_unlock(&s->lock);
    return rv;
}

static const char *op_key(const struct sdc_state_op *op)
{
    return op->kind == SDC_STATE_OP_UPSERT ? op->set.key : op->del.key;
}

static int mem_multi(void *self, const struct sdc_state_op *ops, size_t n, struct dc_errbuf *eb)
{
    struct mem *m = self;
    bool used[NSHARDS] = {false};
    uint64_t stack_h[32];
    uint64_t *h = n <= 32 ? stack_h : dc_xmalloc(n * sizeof(*h));
    int64_t now = now_ms();
    int rv = DC_OK;

    for (size_t i = 0; i < n; i++) {
        const char *k = op_key(&ops[i]);
        h[i] = hash_key(k, strlen(k));
        used[shard_of(m, h[i]) - m->shards] = true;
    }
    for (size_t i = 0; i < NSHARDS; i++)
        if (used[i])
            pthread_rwlock_wrlock(&m->shards[i].lock);
    /* Every ETag is checked against the state before the transaction, then all is applied. */
    for (size_t i = 0; i < n && rv == DC_OK; i++) {
        const char *k = op_key(&ops[i]);
        struct item *it = find_live(shard_of(m, h[i]), k, strlen(k), h[i], now);
        if (ops[i].kind == SDC_STATE_OP_UPSERT)
            rv = check_etag(it, k, ops[i].set.etag, ops[i].set.concurrency, eb);
        else
            rv = check_etag(it, k, ops[i].del.etag, ops[i].del.concurrency, eb);
    }
    for (size_t i = 0; i < n && rv == DC_OK; i++) {
        struct shard *s = shard_of(m, h[i]);
        if (ops[i].kind == SDC_STATE_OP_UPSERT)
            put_item(m, s, &ops[i].set, h[i], now);
        else
            del_item(s, ops[i].del.key, h[i]);
    }
    for (size_t i = NSHARDS; i-- > 0;)
        if (used[i])
            pthread_rwlock_unlock(&m->shards[i].lock);
    if (h != stack_h)
        free(h);
    return rv;
}

static int mem_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                    struct dc_errbuf *eb)
{
    struct mem *m = dc_xcalloc(1, sizeof(*m));

    (void)md;
    (void)ctx;
    (void)eb;
    for (size_t i = 0; i < NSHARDS; i++) {
        pthread_rwlock_init(&m->shards[i].lock, NULL);
        m->shards[i].nbuckets = MIN_BUCKETS;
        m->shards[i].buckets = dc_xcalloc(MIN_BUCKETS, sizeof(struct item *));
    }
    atomic_init(&m->etag, 0);
    *self = m;
    return DC_OK;
}

static void mem_close(void *self)
{
    struct mem *m = self;

    if (m == NULL)
        return;
    for (size_t i = 0; i < NSHARDS; i++) {
        struct shard *s = &m->shards[i];
        for (size_t b = 0; b < s->nbuckets; b++) {
            struct item *it = s->buckets[b], *next;
            for (; it != NULL; it = next) {
                next = it->next;
                free(it);
            }
        }
        free(s->buckets);
        pthread_rwlock_destroy(&s->lock);
    }
    free(m);
}

static const struct sdc_state_ops mem_ops = {
    .base = {.init = mem_init, .close = mem_close},
    .features = SDC_STATE_F_ETAG | SDC_STATE_F_TRANSACTIONAL | SDC_STATE_F_TTL |
                SDC_STATE_F_DELETE_WITH_PREFIX | SDC_STATE_F_KEYS_LIKE,
    .get = mem_get,
    .set = mem_set,
    .del = mem_del,
    .multi = mem_multi,
};

const struct sdc_component_type sdc_type_state_in_memory = {"state.in-memory", "v1", SDC_CAT_STATE,
                                                            &mem_ops.base};
