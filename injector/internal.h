#ifndef INJ_INTERNAL_H
#define INJ_INTERNAL_H

/* Helpers shared by the files of injector/ only (house style: double underscore). */

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "dc/buf.h"
#include "injector.h"

/* Fixed names and paths of §4.4-4.5. */
#define INJ_SIDECAR_NAME "daprd"
#define INJ_HTTP_PORT 3500
#define INJ_PUBLIC_PORT 3501
#define INJ_TOKEN_VOLUME "dapr-identity-token"
#define INJ_TOKEN_MOUNT_PATH "/var/run/secrets/dapr.io/sentrytoken"
#define INJ_UDS_VOLUME "dapr-unix-domain-socket"
#define INJ_UDS_DAPRD_PATH "/var/run/dapr-sockets"
#define INJ_COMPONENTS_VOLUME "dapr-components-unix-domain-socket"
#define INJ_COMPONENTS_ENV "DAPR_COMPONENT_SOCKETS_FOLDER"

/* An absolute mount path the API server accepts: no ".." element, no control characters. */
bool inj__mount_path_ok(const char *p);

/* The daprd mounts asked for by dapr.io/volume-mounts (read-only) then -rw, keeping only
 * volumes the pod declares and paths that are usable and unique. New array. */
cJSON *inj__annotation_mounts(const struct inj_sidecar *sc, const cJSON *pod,
                              struct inj_warnings *w);

/* {"name": name, "readOnly": true (only if ro), "mountPath": path} */
cJSON *inj__mount(const char *name, const char *path, bool ro);

/* The array `key` of `obj` when it is a non-empty array, else NULL. */
const cJSON *inj__nonempty_array(const cJSON *obj, const char *key);

/* Append `v` to `b` as compact JSON text, byte for byte what cJSON_PrintUnformatted prints
 * (its escapes and number forms). DC_OK; DC_ETOOBIG past `b`'s limit or DC_EINVAL for a value
 * cJSON cannot print either (then `b` holds a partial text). */
int inj__json_write(struct dc_buf *b, const cJSON *v) DC_MUST_CHECK;
/* The string `s` ("" for NULL) as inj__json_write writes a cJSON string. */
int inj__json_write_string(struct dc_buf *b, const char *s) DC_MUST_CHECK;

/* Make cJSON allocate from `a` on this thread (NULL: the C heap again) and return the arena
 * in use before. Effective once inj_json_memory_init ran. Between the swap to `a` and back,
 * the thread must not free cJSON memory from before (config trees), and nothing allocated in
 * between may outlive `a` or be freed after the swap back. */
struct dc_arena *inj__json_arena_swap(struct dc_arena *a);

/* Release a tree made on this thread: nothing inside an arena window with the hooks installed
 * (the arena frees it at once; walking it to call no-op frees cost ~3% of a review),
 * cJSON_Delete otherwise (unit tests and tools that never call inj_json_memory_init). */
void inj__json_drop(cJSON *tree);

#endif /* INJ_INTERNAL_H */
