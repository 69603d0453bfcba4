#ifndef SDC_LOCK_H
#define SDC_LOCK_H

/* The distributed lock building block (alpha, sidecar-api.md §10, §22.7): the lock store
 * component contract (components-contrib's lock.Store, in C) and the HTTP API
 *   POST /v1.0-alpha1/lock/{storeName}   {"resourceId","lockOwner","expiryInSeconds"}
 *   POST /v1.0-alpha1/unlock/{storeName} {"resourceId","lockOwner"}
 * Resource ids are rewritten to the stored key with the component's keyPrefix (§10) before the
 * store sees them. Types: lock.in-memory (lock_memory.c) and lock.redis (lock_redis.c). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/arena.h"
#include "dc/err.h"
#include "dc/http_server.h"

#include "component.h"

struct sdc_runtime;

/* lock.proto UnlockResponse.Status, sent as numbers. */
enum sdc_unlock_status {
    SDC_UNLOCK_SUCCESS = 0,
    SDC_UNLOCK_NOT_EXIST = 1,
    SDC_UNLOCK_OTHERS = 2,
    SDC_UNLOCK_INTERNAL = 3,
};

/* Operations of a lock store type. Every operation may run on many threads at once.
 *
 * try_lock: take `key` (the stored key, prefix applied) for `owner` for `expiry_s` seconds
 * (> 0) unless someone holds it; `*acquired` tells which. unlock: release `key` if `owner`
 * holds it; `*status` is SDC_UNLOCK_SUCCESS, _NOT_EXIST (nobody holds it, expired included) or
 * _OTHERS. Both return DC_OK, or a DC_E* code with `eb` explaining (the API answers 500). */
struct sdc_lock_ops {
    struct sdc_component_ops base;
    int (*try_lock)(void *self, const char *key, const char *owner, int32_t expiry_s,
                    bool *acquired, struct dc_errbuf *eb);
    int (*unlock)(void *self, const char *key, const char *owner, enum sdc_unlock_status *status,
                  struct dc_errbuf *eb);
};

/* Register POST /v1.0-alpha1/lock/{storeName} and POST /v1.0-alpha1/unlock/{storeName} on `r`
 * (`rt` borrowed, must outlive the router). Call once while building the router.
 *
 * Answers (legacy errors, §1.7): 200 {"success":bool} / {"status":n}; 400
 * ERR_MALFORMED_REQUEST (body not JSON, expiryInSeconds <= 0 on lock, empty resourceId or
 * lockOwner); 500 ERR_LOCK_STORE_NOT_CONFIGURED (no lock store); 400 ERR_LOCK_STORE_NOT_FOUND;
 * 500 ERR_TRY_LOCK / ERR_UNLOCK (a resourceId with "||", or the store failed). */
void sdc_lock_api_routes(struct dc_http_router *r, struct sdc_runtime *rt);

/* Validate the lock metadata daprd itself reads: a keyPrefix containing "||" is refused, as
 * upstream refuses to init the component. For the lock types' init. DC_OK or DC_EINVAL. */
int sdc_lock_check_component(const struct sdc_md *md, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The stored key for `resource_id` of store `store` with component metadata `md` (§10):
 * keyPrefix "appid" (default, any case) -> "lock||<appId>||<id>" ("lock||<id>" with no app
 * id), "name" -> "lock||<store>||<id>", "none" -> "lock||<id>", anything else v ->
 * "lock||<v>||<id>" (upstream lower-cases the strategy value). NUL-terminated in `a`.
 * Returns DC_OK, or DC_EINVAL when `resource_id` contains "||" (`eb` has upstream's text). */
int sdc_lock_key(struct dc_arena *a, const struct sdc_md *md, const char *store, const char *app_id,
                 const char *resource_id, const char **out, struct dc_errbuf *eb) DC_MUST_CHECK;

#endif /* SDC_LOCK_H */
