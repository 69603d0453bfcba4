/* lock.in-memory v1: locks held in this process, with expiry (the embedded default lock store;
 * it only excludes callers of the same daprd).
 *
 * A hash table of open chaining keyed by the stored key, guarded by one mutex (lock calls are
 * short and rare next to the request path). An entry whose deadline (CLOCK_MONOTONIC) passed
 * counts as absent and is reclaimed by the next operation that meets it in its bucket. */
#include "lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"
#include "dc/time.h"

#define MEM_BUCKETS 1024

struct mem_lock {
    struct mem_lock *next;
    char *key;
    char *owner;
    int64_t deadline_ns;
};

struct mem_store {
    pthread_mutex_t mu;
    struct mem_lock *b[MEM_BUCKETS];
};

static size_t bucket_of(const char *key)
{
    /* FNV-1a */
    uint64_t h = 1469598103934665603ULL;

    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % MEM_BUCKETS);
}

static void entry_free(struct mem_lock *e)
{
    free(e->key);
    free(e->owner);
    free(e);
}

/* The live entry for `key` (expired ones in its bucket are freed on the way). Under `mu`. */
static struct mem_lock **find(struct mem_store *s, const char *key, int64_t now)
{
    struct mem_lock **pp = &s->b[bucket_of(key)];

    while (*pp != NULL) {
        struct mem_lock *e = *pp;
        if (e->deadline_ns <= now) {
            *pp = e->next;
            entry_free(e);
            continue;
        }
        if (strcmp(e->key, key) == 0)
            return pp;
        pp = &e->next;
    }
    return NULL;
}

static int mem_try_lock(void *self, const char *key, const char *owner, int32_t expiry_s,
                        bool *acquired, struct dc_errbuf *eb)
{
    struct mem_store *s = self;
    int64_t now = dc_mono_ns();

    (void)eb;
    pthread_mutex_lock(&s->mu);
    if (find(s, key, now) != NULL) {
        *acquired = false;
    } else {
        struct mem_lock *e = dc_xcalloc(1, sizeof(*e));
        size_t b = bucket_of(key);
        e->key = dc_xstrdup(key);
        e->owner = dc_xstrdup(owner);
        e->deadline_ns = now + (int64_t)expiry_s * 1000000000LL;
        e->next = s->b[b];
        s->b[b] = e;
        *acquired = true;
    }
    pthread_mutex_unlock(&s->mu);
    return DC_OK;
}

static int mem_unlock(void *self, const char *key, const char *owner,
                      enum sdc_unlock_status *status, struct dc_errbuf *eb)
{
    struct mem_store *s = self;
    struct mem_lock **pp;

    (void)eb;
    pthread_mutex_lock(&s->mu);
    pp = find(s, key, dc_mono_ns());
    if (pp == NULL) {
        *status = SDC_UNLOCK_NOT_EXIST;
    } else if (strcmp((*pp)->owner, owner) != 0) {
        *status = SDC_UNLOCK_OTHERS;
    } else {
        struct mem_lock *e = *pp;
        *pp = e->next;
        entry_free(e);
        *status = SDC_UNLOCK_SUCCESS;
    }
    pthread_mutex_unlock(&s->mu);
    return DC_OK;
}

static void mem_close(void *self)
{
    struct mem_store *s = self;

    if (s == NULL)
        return;
    for (size_t i = 0; i < MEM_BUCKETS; i++) {
        while (s->b[i] != NULL) {
            struct mem_lock *e = s->b[i];
            s->b[i] = e->next;
            entry_free(e);
        }
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int mem_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                    struct dc_errbuf *eb)
{
    struct mem_store *s;
    int rv = sdc_lock_check_component(md, eb);

    (void)ctx;
    if (rv != DC_OK)
        return rv;
    s = dc_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    *self = s;
    return DC_OK;
}

static const struct sdc_lock_ops mem_ops = {
    .base = {.init = mem_init, .close = mem_close},
    .try_lock = mem_try_lock,
    .unlock = mem_unlock,
};

const struct sdc_component_type sdc_type_lock_in_memory = {"lock.in-memory", "v1", SDC_CAT_LOCK,
                                                           &mem_ops.base};
