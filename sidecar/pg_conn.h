#ifndef SDC_PG_CONN_H
#define SDC_PG_CONN_H

/* libpq connections shared by the PostgreSQL components (state.postgresql,
 * bindings.postgresql, configuration.postgresql): opening one connection, and running work on
 * a dc_pool of them (common/include/dc/pool.h) with the same broken-connection policy
 * everywhere. */

#include <stdbool.h>

#include "dc/err.h"
#include "dc/pool.h"

#include "pq_api.h"

/* Open a blocking connection with PQconnectdbParams(kw, val, expand), silence libpq's notices
 * (they go to stderr otherwise), then run `session_sql` (NULL: none; e.g. SET statements).
 * Loads libpq first if no one has (sdc__pq_load).
 * Returns DC_OK with `*out` owned by the caller (PQfinish); DC_ENOMEM; DC_EUNAVAIL when the
 * server cannot be reached, `eb` "<what>: <libpq's message>" without its trailing newline;
 * DC_EIO when `session_sql` fails, "<what>: <statement error>"; DC_ENOTFOUND or DC_EIO when
 * libpq cannot be loaded, "<what>: cannot load libpq.so.5: ...". */
int sdc_pg_connect(const char *const *kw, const char *const *val, bool expand,
                   const char *session_sql, const char *what, PGconn **out,
                   struct dc_errbuf *eb) DC_MUST_CHECK;

/* dc_pool close callback for PGconn (PQfinish); `ud` unused. */
void sdc_pg_pool_close(void *ud, void *conn);

/* Work done on a borrowed connection; its return value is handed back by sdc_pg_run. */
typedef int sdc_pg_work_fn(PGconn *c, void *ud, struct dc_errbuf *eb);

/* Run `fn` on a connection of `pool` (of PGconn). Afterwards a transaction left open is rolled
 * back; a connection that is broken (or cannot roll back) is returned as broken, which closes
 * the idle ones too. When the broken connection came from the pool (it may have died while
 * idle), `fn` runs once more on a new connection. Returns `fn`'s result or dc_pool_get's error.
 * Thread-safe as the pool is. */
int sdc_pg_run(struct dc_pool *pool, sdc_pg_work_fn *fn, void *ud,
               struct dc_errbuf *eb) DC_MUST_CHECK;

#endif /* SDC_PG_CONN_H */
