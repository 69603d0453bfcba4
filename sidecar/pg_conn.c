/* Shared libpq connection helpers (see pg_conn.h). */
#include "pg_conn.h"

#include <string.h>

static void quiet_notices(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int set_msg(struct dc_errbuf *eb, int code, const char *what, const char *msg)
{
    size_t n = msg != NULL ? strlen(msg) : 0;

    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    return dc_err_set(eb, code, "%s: %.*s", what, (int)n, msg != NULL ? msg : "");
}

int sdc_pg_connect(const char *const *kw, const char *const *val, bool expand,
                   const char *session_sql, const char *what, PGconn **out, struct dc_errbuf *eb)
{
    PGconn *c;
    int rv = sdc__pq_load(eb);

    if (rv != DC_OK) {
        dc_err_wrapf(eb, "%s", what);
        return rv;
    }
    c = PQconnectdbParams(kw, val, expand ? 1 : 0);
    if (c == NULL)
        return dc_err_set(eb, DC_ENOMEM, "%s: cannot allocate a connection", what);
    if (PQstatus(c) != CONNECTION_OK) {
        rv = set_msg(eb, DC_EUNAVAIL, what, PQerrorMessage(c));
        goto fail;
    }
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    if (session_sql != NULL) {
        PGresult *r = PQexec(c, session_sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rv = set_msg(eb, PQstatus(c) == CONNECTION_OK ? DC_EIO : DC_EUNAVAIL, what,
                         r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        if (rv != DC_OK)
            goto fail;
    }
    *out = c;
    return DC_OK;
fail:
    PQfinish(c);
    return rv;
}

void sdc_pg_pool_close(void *ud, void *conn)
{
    (void)ud;
    PQfinish(conn);
}

int sdc_pg_run(struct dc_pool *pool, sdc_pg_work_fn *fn, void *ud, struct dc_errbuf *eb)
{
    for (int attempt = 0;; attempt++) {
        bool fresh = false, broken;
        void *cn = NULL;
        PGconn *c;
        int rv = dc_pool_get(pool, &cn, &fresh, eb);

        if (rv != DC_OK)
            return rv;
        c = cn;
        rv = fn(c, ud, eb);
        broken = PQstatus(c) == CONNECTION_BAD;
        if (!broken && PQtransactionStatus(c) != PQTRANS_IDLE) {
            PQclear(PQexec(c, "ROLLBACK"));
            broken = PQtransactionStatus(c) != PQTRANS_IDLE;
        }
        dc_pool_put(pool, cn, broken);
        if (!broken || fresh || attempt > 0)
            return rv;
    }
}
