#ifndef DC_ARENA_H
#define DC_ARENA_H

/* Per-request memory arena (nginx's request pool, h2o's mem_pool).
 *
 * Allocations are carved from chunks and released all at once by dc_arena_cleanup, which also
 * runs the registered cleanups in reverse order (for file descriptors, OpenSSL objects...).
 * The struct is public so it can live on the stack; all-zero is a valid empty arena.
 * Not thread-safe: one arena belongs to one request on one thread. Allocation failure aborts
 * (dc_xmalloc policy). */

#include <stdarg.h>
#include <stddef.h>

#include "dc/err.h"

struct dc_arena_chunk;
struct dc_arena_cleanup;

struct dc_arena {
    struct dc_arena_chunk *chunks;
    struct dc_arena_cleanup *cleanups;
    size_t used; /* bytes handed out, for accounting */
};

typedef void dc_arena_cleanup_fn(void *arg);

void dc_arena_init(struct dc_arena *a);
/* Run the cleanups (last registered first) and free every chunk; `a` is empty afterwards. */
void dc_arena_cleanup(struct dc_arena *a);

/* `n` bytes aligned for any type; never NULL. Zeroed for dc_arena_calloc. */
void *dc_arena_alloc(struct dc_arena *a, size_t n);
void *dc_arena_calloc(struct dc_arena *a, size_t n);
char *dc_arena_strdup(struct dc_arena *a, const char *s);
char *dc_arena_strndup(struct dc_arena *a, const char *s, size_t n);
char *dc_arena_sprintf(struct dc_arena *a, const char *fmt, ...) DC_PRINTF(2, 3);
/* Register `fn(arg)` to run at dc_arena_cleanup. */
void dc_arena_on_cleanup(struct dc_arena *a, dc_arena_cleanup_fn *fn, void *arg);

#endif /* DC_ARENA_H */
