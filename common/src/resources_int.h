#ifndef DC_RESOURCES_INT_H
#define DC_RESOURCES_INT_H

/* Private to common/src/resources*.c: the typed-field readers shared by the kinds.
 *
 * Every reader takes the context of the document being read (for the one-line error message),
 * the map holding the field, the path of that map ("spec", "spec.policies.retries.x") and the
 * key. A missing key or a null value leaves the output untouched and succeeds, unless the
 * field is required. Strings are returned as new heap copies. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/resources.h"
#include "dc/yaml.h"

struct dc__res_ctx {
    const char *file;
    const char *kind;
    const char *name; /* NULL until metadata.name is read */
    int line;         /* document start, used when no node is at hand */
    struct dc_errbuf *eb;
};

#define DC__RES_REQUIRED true
#define DC__RES_OPTIONAL false

/* Format "<file>:<line>: <kind> <name>: <path>.<key>: <problem>" into c->eb; returns `code`.
 * `at` may be NULL (document line); `key` may be NULL (the path alone names the field). */
int dc__res_fail(const struct dc__res_ctx *c, int code, const struct dc_ynode *at, const char *path,
                 const char *key, const char *fmt, ...) DC_PRINTF(6, 7);

/* snprintf for field paths: cut silently when `size` is too small. */
void dc__res_pathf(char *dst, size_t size, const char *fmt, ...) DC_PRINTF(3, 4);

/* Manifest text made safe for a message: at most 60 bytes, control bytes as '?'. */
const char *dc__res_show(const char *s, char *buf, size_t size);

int dc__res_str(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                const char *key, bool required, char **out) DC_MUST_CHECK;
int dc__res_bool(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                 const char *key, bool required, bool *out) DC_MUST_CHECK;
int dc__res_int(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                const char *key, int64_t min, int64_t max, int64_t *out) DC_MUST_CHECK;
/* `*out` is the map node, or NULL when absent/null and not required. */
int dc__res_map(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                const char *key, bool required, const struct dc_ynode **out) DC_MUST_CHECK;
int dc__res_seq(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                const char *key, const struct dc_ynode **out) DC_MUST_CHECK;
/* A list of scalars into a new array of strings. */
int dc__res_strlist(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                    const char *key, char ***out, size_t *n) DC_MUST_CHECK;
/* A list of NameValuePair at map[key] into a new array (`*n` entries). */
int dc__res_nvlist(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                   const char *key, struct dc_nv **out, size_t *n) DC_MUST_CHECK;
/* `{value, secretKeyRef{name, key}}` at map[key] into `out` (name = key). */
int dc__res_value_or_secret(const struct dc__res_ctx *c, const struct dc_ynode *map,
                            const char *path, const char *key, struct dc_nv *out) DC_MUST_CHECK;
/* Check that a string field holds one of `allowed` (NULL-terminated). */
int dc__res_enum(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                 const char *key, const char *value, const char *const *allowed) DC_MUST_CHECK;
/* Check that a string field is a Go duration (1m30s, 500ms, 0), or with `allow_ms` a bare
 * non-negative integer of milliseconds. NULL `value` passes. */
int dc__res_duration(const struct dc__res_ctx *c, const struct dc_ynode *map, const char *path,
                     const char *key, const char *value, bool allow_ms) DC_MUST_CHECK;
bool dc__res_duration_ok(const char *s, bool allow_ms);

/* Grow-by-one helper for arrays counted by `*n`; returns the new zeroed element. */
void *dc__res_push(void *arrayp, size_t *n, size_t elem);

void dc__res_nv_cleanup(struct dc_nv *nv);
void dc__res_nvs_free(struct dc_nv *nvs, size_t n);
void dc__res_strs_free(char **s, size_t n);
void dc__res_meta_cleanup(struct dc_res_meta *m);

/* Kind readers: `spec` is the (required) spec map, `doc` the document root. On failure the
 * caller releases `out` with the matching cleanup. */
int dc__res_read_resiliency(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                            struct dc_resiliency *out) DC_MUST_CHECK;
void dc__res_resiliency_cleanup(struct dc_resiliency *r);
int dc__res_read_configuration(const struct dc__res_ctx *c, const struct dc_ynode *spec,
                               struct dc_configuration *out) DC_MUST_CHECK;

#ifdef DC_TESTING
struct dc_buf;
/* Go os.ExpandEnv over `len` bytes at `in`, appended to `out` (resources_config.c). */
int dc__res_expand_env(const char *in, size_t len, struct dc_buf *out);
#endif

#endif /* DC_RESOURCES_INT_H */
