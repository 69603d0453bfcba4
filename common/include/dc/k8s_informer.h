#ifndef DC_K8S_INFORMER_H
#define DC_K8S_INFORMER_H

/* A small informer: LIST (paged) then WATCH from the list's resourceVersion with bookmarks,
 * keeping a cache of the objects and calling add/update/delete handlers.
 *
 * Behaviour: a 410 Expired (an HTTP 410 or an ERROR event with code 410) triggers a relist; the
 * relist is diffed against the cache (new -> add, changed resourceVersion -> update, gone ->
 * delete). A watch that the server ends normally resumes from the last seen resourceVersion
 * (bookmarks keep it fresh). Other failures back off exponentially (initial .. max, doubling,
 * reset after a successful list or a watch that delivered events) and retry.
 *
 * Threads: dc_k8s_informer_start starts one pthread that runs the loop and calls every handler,
 * one at a time, in event order. Handlers must not block for long and must not call
 * dc_k8s_informer_stop. Objects passed to handlers are borrowed for the call: `new_obj` stays in
 * the cache, `old_obj` and deleted objects are freed after the call; copy what you keep
 * (cJSON_Duplicate). The cache readers (get, list, has_synced, count) may be called from any
 * thread, handlers included; they return deep copies. Memory: the cache holds every object of
 * the watched set; a relist holds the old cache and the new list at once; a watch holds at most
 * one event (DC_MAX_K8S_WATCH_EVENT) beyond that. */

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "dc/err.h"
#include "dc/k8s.h"

struct dc_k8s_informer;

struct dc_k8s_informer_handlers {
    void (*on_add)(void *arg, const cJSON *obj);                              /* may be NULL */
    void (*on_update)(void *arg, const cJSON *old_obj, const cJSON *new_obj); /* may be NULL */
    void (*on_delete)(void *arg, const cJSON *obj);                           /* may be NULL */
    /* After each complete (re)list has been applied; `lists` counts them from 1. May be NULL. */
    void (*on_synced)(void *arg, unsigned lists);
    /* A list or watch failure about to be retried (for the caller's log). May be NULL. */
    void (*on_error)(void *arg, int err, const char *msg);
    void *arg;
};

struct dc_k8s_informer_opts {
    struct dc_k8s_resource res; /* strings copied */
    const char *ns;             /* NULL or "" = all namespaces (or a cluster-scoped kind) */
    const char *label_selector; /* NULL = all */
    const char *field_selector; /* NULL = all */
    long page_limit;            /* LIST page size; 0 = 500 */
    long watch_timeout_s;       /* server-side watch length; 0 = 300..600 s, random, as client-go */
    long backoff_initial_ms;    /* 0 = 800 */
    long backoff_max_ms;        /* 0 = 30000 */
};

/* Start the informer thread. `c` must outlive the informer. Errors: DC_EINVAL (bad options); the
 * handlers are never called after an error. */
int dc_k8s_informer_start(struct dc_k8s_informer **out, struct dc_k8s_client *c,
                          const struct dc_k8s_informer_opts *opts,
                          const struct dc_k8s_informer_handlers *h,
                          struct dc_errbuf *eb) DC_MUST_CHECK;

/* Stop promptly (in-flight requests are aborted), join the thread and free everything. No handler
 * runs after it returns. NULL is a no-op. Not from a handler. */
void dc_k8s_informer_stop(struct dc_k8s_informer *inf);

/* True once the first list has been applied. */
bool dc_k8s_informer_has_synced(struct dc_k8s_informer *inf);
/* A copy of the cached object (ns may be NULL for cluster-scoped), or NULL. Caller frees. */
cJSON *dc_k8s_informer_get(struct dc_k8s_informer *inf, const char *ns, const char *name);
/* A copy of every cached object as a JSON array (unordered). Caller frees. */
cJSON *dc_k8s_informer_list(struct dc_k8s_informer *inf);
size_t dc_k8s_informer_count(struct dc_k8s_informer *inf);

#endif /* DC_K8S_INFORMER_H */
