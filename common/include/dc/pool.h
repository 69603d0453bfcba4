#ifndef DC_POOL_H
#define DC_POOL_H

/* A bounded pool of connections of any kind (hiredis contexts, libpq connections...).
 *
 * The pool opens connections lazily through a `connect` callback, up to `max_size` open at once
 * (borrowed plus idle). A caller borrows one with dc_pool_get, uses it alone, and gives it back
 * with dc_pool_put. When every connection is borrowed, dc_pool_get waits up to `wait_ms` for one
 * to come back. A connection returned as broken is closed together with every idle one: the
 * typical cause is a server restart, after which the idle connections are dead as well.
 * Idle connections are reused most-recently-returned first.
 *
 * Thread-safe: every function except dc_pool_free may be called from any thread at once. The
 * callbacks run on the calling thread without the pool's lock held, so they may block. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/err.h"

struct dc_pool;

/* Open a connection into `*conn`. Returns DC_OK, or a negative DC_E* code with `eb` filled
 * (the code is handed back to dc_pool_get's caller unchanged). */
typedef int dc_pool_connect_fn(void *ud, void **conn, struct dc_errbuf *eb);
/* Close a connection the pool owns. Never called with NULL. */
typedef void dc_pool_close_fn(void *ud, void *conn);

struct dc_pool_config {
    size_t max_size; /* >= 1 */
    int64_t wait_ms; /* how long dc_pool_get waits when the pool is exhausted; <= 0: fail now */
    dc_pool_connect_fn *connect;
    dc_pool_close_fn *close;
    void *ud; /* passed to both callbacks; borrowed, must outlive the pool */
};

/* Create a pool; no connection is opened. `cfg` is copied. Returns DC_OK or DC_EINVAL (zero
 * max_size, missing callback). */
int dc_pool_new(struct dc_pool **out, const struct dc_pool_config *cfg,
                struct dc_errbuf *eb) DC_MUST_CHECK;

/* Close every idle connection and free the pool. Every borrowed connection must have been put
 * back first; no other thread may use the pool any more. NULL is a no-op. */
void dc_pool_free(struct dc_pool *p);

/* Borrow a connection: an idle one, else a new one when fewer than max_size are open, else wait
 * up to wait_ms for one to be returned. `*fresh` (may be NULL) tells whether it was just opened
 * (a pooled one may have died while idle; a caller may then retry once on a fresh one).
 * Returns DC_OK with `*conn` set, DC_EUNAVAIL "connection pool timeout" when the wait expired,
 * or the connect callback's error. */
int dc_pool_get(struct dc_pool *p, void **conn, bool *fresh, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Return a borrowed connection. `broken`: close it and every idle connection instead of keeping
 * it (waiters are woken to open new ones). */
void dc_pool_put(struct dc_pool *p, void *conn, bool broken);

/* Close every idle connection now (e.g. when the server is known to be gone). Borrowed ones are
 * not affected. */
void dc_pool_drain(struct dc_pool *p);

/* Counters for tests and metrics: connections open (borrowed + idle) and idle. */
size_t dc_pool_open_count(struct dc_pool *p);
size_t dc_pool_idle_count(struct dc_pool *p);

#endif /* DC_POOL_H */
