#ifndef SDC_STATE_API_H
#define SDC_STATE_API_H

/* The state building block over HTTP (sidecar-api.md §5): save, get, delete, bulk get,
 * transactions and the alpha query API, translated onto the state store contract
 * (state_store.h). Handlers only parse, prefix keys (§5.2), call the store and shape upstream's
 * responses and error bodies (§1.6, §1.7). */

#include <stdbool.h>
#include <stddef.h>

#include "dc/arena.h"
#include "dc/err.h"
#include "dc/http_server.h"

#include "component.h"
#include "runtime.h"

/* Register every route of §5.1 on `r`, serving from `rt` (borrowed; must outlive the router).
 * Each route records upstream's HTTP server metrics like the other daprd routes. Call once,
 * while building the router (not thread-safe). Aborts if a route cannot be added. */
void sdc_state_api_routes(struct dc_http_router *r, struct sdc_runtime *rt);

/* Validate the state-store metadata that daprd itself reads (§5.2, §22.1): a `keyPrefix`
 * containing "||" makes the component fail to init upstream. Returns DC_OK or DC_EINVAL with
 * `eb` saying why. Meant for the component loader. */
int sdc_state_check_component(const struct sdc_md *md, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The key a store sees for the client key `key` (`len` bytes) of store `store_name` whose
 * component metadata is `md`, per keyPrefix (§5.2): "appid" (default) -> "<appId>||key",
 * "name" -> "<store>||key", "namespace" -> "<ns>.<appId>||key" (or "<appId>||key" without a
 * namespace), "none" -> "key", anything else v -> "<lower(v)>||key". `ns` may be NULL.
 *
 * The result is NUL-terminated in `a`. Returns DC_OK, or DC_EINVAL for an illegal key (contains
 * "||" or NUL, or is not valid UTF-8) with `eb` holding upstream's message. */
int sdc_state_key_modify(struct dc_arena *a, const struct sdc_md *md, const char *store_name,
                         const char *app_id, const char *ns, const char *key, size_t len,
                         const char **out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The save handler reads the usual bodies without a cJSON tree and gives every other body to
 * its cJSON path, with the same result either way. Tests and fuzzers set this to false to
 * force the cJSON path and compare; nothing else changes it (it is read without a lock). */
extern bool sdc__state_save_fast;

/* The client key of a stored key: the part after the first "||", or the key itself. */
const char *sdc_state_key_original(const char *stored);

#endif /* SDC_STATE_API_H */
