#ifndef SDC_CONFIGURATION_H
#define SDC_CONFIGURATION_H

/* The configuration building block (sidecar-api.md §9, §22.7): the configuration store
 * component contract (components-contrib's configuration.Store, in C), the HTTP API
 *   GET /v1.0/configuration/{storeName}?key=..&metadata.x=..            (also v1.0-alpha1)
 *   GET /v1.0/configuration/{storeName}/subscribe?key=..                -> {"id":"<id>"}
 *   GET /v1.0/configuration/{storeName}/{configurationSubscribeID}/unsubscribe
 * and the app callback POST /configuration/{storeName}/{key} on every change.
 * Types: configuration.redis (configuration_redis.c), configuration.postgresql and
 * configuration.postgres (configuration_postgres.c). */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "dc/arena.h"
#include "dc/buf.h"
#include "dc/err.h"
#include "dc/http_server.h"

#include "component.h"

struct sdc_runtime;

/* One configuration item. `value`, `version` may be "" (omitted from JSON); `md` may be empty.
 * In an update event, a deleted key comes as an item with everything empty. */
struct sdc_cfg_item {
    const char *key;
    const char *value;
    const char *version;
    struct sdc_md md;
};

/* Called by a store, on a thread of its own, for each change event of a subscription: `items`
 * (borrowed for the call) holds the changed keys. Must not call unsubscribe for the same
 * subscription. */
typedef void sdc_cfg_update_fn(void *ud, const struct sdc_cfg_item *items, size_t n);

/* Operations of a configuration store type; every operation may run on many threads at once.
 *
 * get: the items of `keys` (`nkeys` 0 = every item the store has), with the request metadata
 * `md` (the metadata.* query parameters, may be empty). Keys without an item are left out.
 * The array and its strings are allocated from `a`. DC_OK or a DC_E* code with `eb`.
 *
 * subscribe: start watching `keys` (0 = all) and call `fn(ud, ...)` on each change until
 * unsubscribe; `*handle` identifies the subscription. `keys`, `md` are borrowed for the call.
 * DC_OK, or a DC_E* code with `eb` (then `fn` is never called).
 *
 * unsubscribe: stop `handle`; when it returns, `fn` is running no more and will not be called
 * again. Stores also stop every subscription of theirs in close. */
struct sdc_configuration_ops {
    struct sdc_component_ops base;
    int (*get)(void *self, const char *const *keys, size_t nkeys, const struct sdc_md *md,
               struct dc_arena *a, struct sdc_cfg_item **items, size_t *n, struct dc_errbuf *eb);
    int (*subscribe)(void *self, const char *const *keys, size_t nkeys, const struct sdc_md *md,
                     sdc_cfg_update_fn *fn, void *ud, void **handle, struct dc_errbuf *eb);
    void (*unsubscribe)(void *self, void *handle);
};

/* ---- For store types: one watcher thread per subscription ---------------------------------
 *
 * A store type's subscribe allocates a struct sdc_cfg_watch (or a struct of its own whose first
 * member is one), sets `run` (the thread body: watch the backend, call `fn(ud, ...)` for each
 * change, return when sdc_cfg_watch_wait says stop), `store` and, if it added fields, `cleanup`,
 * then hands it to sdc_cfg_watch_start. The store's unsubscribe calls sdc_cfg_watch_stop and its
 * close sdc_cfg_watchers_cleanup. */
struct sdc_cfg_watch {
    void (*run)(struct sdc_cfg_watch *w);     /* set by the store */
    void (*cleanup)(struct sdc_cfg_watch *w); /* frees the store's own fields; may be NULL */
    void *store;                              /* the store's self, for `run` */
    char **keys;                              /* the subscribed keys (copies); 0 = all */
    size_t nkeys;
    struct sdc_md md; /* the request metadata (copies) */
    sdc_cfg_update_fn *fn;
    void *ud;
    /* private */
    struct sdc_cfg_watch *next;
    int stop[2];
    pthread_t th;
};

/* A store's set of running watchers; guarded by its own mutex. */
struct sdc_cfg_watchers {
    pthread_mutex_t mu;
    struct sdc_cfg_watch *head;
};

void sdc_cfg_watchers_init(struct sdc_cfg_watchers *ws);

/* Copy `keys` and `md` into `w`, start its thread running `w->run` and add it to `ws`. Takes
 * `w` (heap-allocated) in every case: on failure it is freed (with `cleanup`). DC_OK, or DC_EIO
 * with `eb`. */
int sdc_cfg_watch_start(struct sdc_cfg_watchers *ws, struct sdc_cfg_watch *w,
                        const char *const *keys, size_t nkeys, const struct sdc_md *md,
                        sdc_cfg_update_fn *fn, void *ud, struct dc_errbuf *eb) DC_MUST_CHECK;

/* For `run`: wait up to `ms` (-1: no limit) for `fd` (-1: none) to become readable or for the
 * stop request. True when the watcher must stop. */
bool sdc_cfg_watch_wait(struct sdc_cfg_watch *w, int fd, int ms);

/* True when `key` is one of the watched keys (or every key is watched). */
bool sdc_cfg_watch_wants(const struct sdc_cfg_watch *w, const char *key);

/* Stop the watcher `handle` of `ws` (unknown handles are ignored): when this returns its
 * thread has ended and `w` is freed. Must not be called from the watcher's own thread. */
void sdc_cfg_watch_stop(struct sdc_cfg_watchers *ws, void *handle);

/* Stop every watcher of `ws` and release the set. */
void sdc_cfg_watchers_cleanup(struct sdc_cfg_watchers *ws);

/* Register the routes of §9 under v1.0 and v1.0-alpha1 on `r` (`rt` borrowed; must outlive
 * the router). Call once while building the router.
 *
 * Answers (legacy errors, §1.7): get 200 {"<key>":{"value","version","metadata"}} (empty
 * fields omitted, keys sorted) or 204 with no items; subscribe 200 {"id":"<uuid>"}; unsubscribe
 * 200 {"ok":true}, or 500 {"message":"failed to unsubscribe to configuration request <id>:
 * ..."} (upstream's `ok` is omitempty); 500 ERR_CONFIGURATION_STORE_NOT_CONFIGURED; 400
 * ERR_CONFIGURATION_STORE_NOT_FOUND; 500 ERR_CONFIGURATION_GET / ERR_CONFIGURATION_SUBSCRIBE;
 * 500 ERR_APP_CHANNEL_NIL (subscribe without --app-port). */
void sdc_configuration_api_routes(struct dc_http_router *r, struct sdc_runtime *rt);

/* Stop every subscription made through `rt`'s API (before the app channel and the components
 * go away). Call at shutdown, from the main thread. */
void sdc_configuration_stop(struct sdc_runtime *rt);

/* The body of the app callback for one event (§9, §24): {"id":"<id>","items":{"<k>":{...}}}
 * followed by a newline as Go's json.Encoder writes it; `items` keyed and sorted by key,
 * later duplicates dropped. Appends to `out`. DC_OK or DC_ETOOBIG. */
int sdc_configuration_event_json(const char *id, const struct sdc_cfg_item *items, size_t n,
                                 struct dc_buf *out) DC_MUST_CHECK;

/* {"<key>":{...}...} for GET (Go's json.Marshal of map[string]*Item). Appends to `out`. */
int sdc_configuration_items_json(const struct sdc_cfg_item *items, size_t n,
                                 struct dc_buf *out) DC_MUST_CHECK;

#endif /* SDC_CONFIGURATION_H */
