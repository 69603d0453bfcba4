#ifndef SDC_PQ_API_H
#define SDC_PQ_API_H

/* libpq, loaded when the first PostgreSQL component initialises (dc/dl.h) rather than linked.
 *
 * libpq.so.5 brings Kerberos, GSS-API, LDAP and SASL (and GnuTLS through LDAP) into every
 * process that links it. Include this header instead of <libpq-fe.h> (it includes it for the
 * types): the names of the libpq functions used by the sidecar are macros that call through
 * the table `sdc__pq`, so call sites read as plain libpq. A libpq function used without its
 * line below is an undefined reference at link time (libpq is not linked), never a silent
 * direct call. sdc__pq_load must have returned DC_OK before any of them is called: the
 * components call it first thing in init, and sdc_pg_connect (pg_conn.h) again. */

#include <libpq-fe.h>

#include "dc/dl.h"
#include "dc/err.h"

#define SDC__PQ_FUNCS(X)                                                                           \
    X(PQconnectdb)                                                                                 \
    X(PQconnectdbParams)                                                                           \
    X(PQsetNoticeProcessor)                                                                        \
    X(PQstatus)                                                                                    \
    X(PQtransactionStatus)                                                                         \
    X(PQerrorMessage)                                                                              \
    X(PQsocket)                                                                                    \
    X(PQfinish)                                                                                    \
    X(PQexec)                                                                                      \
    X(PQexecParams)                                                                                \
    X(PQresultStatus)                                                                              \
    X(PQresultErrorMessage)                                                                        \
    X(PQresultErrorField)                                                                          \
    X(PQntuples)                                                                                   \
    X(PQnfields)                                                                                   \
    X(PQftype)                                                                                     \
    X(PQgetvalue)                                                                                  \
    X(PQgetlength)                                                                                 \
    X(PQgetisnull)                                                                                 \
    X(PQcmdTuples)                                                                                 \
    X(PQclear)                                                                                     \
    X(PQconsumeInput)                                                                              \
    X(PQnotifies)                                                                                  \
    X(PQescapeIdentifier)                                                                          \
    X(PQunescapeBytea)                                                                             \
    X(PQfreemem)

struct sdc__pq_api {
    SDC__PQ_FUNCS(DC_DL_FIELD)
};

/* Filled by sdc__pq_load; read-only afterwards. */
extern struct sdc__pq_api sdc__pq;

/* Load libpq.so.5 once per process (dc_dl_load). DC_OK; DC_ENOTFOUND "cannot load libpq.so.5:
 * ..." (package libpq5 missing); DC_EIO (a missing symbol). Thread-safe. */
int sdc__pq_load(struct dc_errbuf *eb) DC_MUST_CHECK;

#define PQconnectdb(...) sdc__pq.PQconnectdb(__VA_ARGS__)
#define PQconnectdbParams(...) sdc__pq.PQconnectdbParams(__VA_ARGS__)
#define PQsetNoticeProcessor(...) sdc__pq.PQsetNoticeProcessor(__VA_ARGS__)
#define PQstatus(...) sdc__pq.PQstatus(__VA_ARGS__)
#define PQtransactionStatus(...) sdc__pq.PQtransactionStatus(__VA_ARGS__)
#define PQerrorMessage(...) sdc__pq.PQerrorMessage(__VA_ARGS__)
#define PQsocket(...) sdc__pq.PQsocket(__VA_ARGS__)
#define PQfinish(...) sdc__pq.PQfinish(__VA_ARGS__)
#define PQexec(...) sdc__pq.PQexec(__VA_ARGS__)
#define PQexecParams(...) sdc__pq.PQexecParams(__VA_ARGS__)
#define PQresultStatus(...) sdc__pq.PQresultStatus(__VA_ARGS__)
#define PQresultErrorMessage(...) sdc__pq.PQresultErrorMessage(__VA_ARGS__)
#define PQresultErrorField(...) sdc__pq.PQresultErrorField(__VA_ARGS__)
#define PQntuples(...) sdc__pq.PQntuples(__VA_ARGS__)
#define PQnfields(...) sdc__pq.PQnfields(__VA_ARGS__)
#define PQftype(...) sdc__pq.PQftype(__VA_ARGS__)
#define PQgetvalue(...) sdc__pq.PQgetvalue(__VA_ARGS__)
#define PQgetlength(...) sdc__pq.PQgetlength(__VA_ARGS__)
#define PQgetisnull(...) sdc__pq.PQgetisnull(__VA_ARGS__)
#define PQcmdTuples(...) sdc__pq.PQcmdTuples(__VA_ARGS__)
#define PQclear(...) sdc__pq.PQclear(__VA_ARGS__)
#define PQconsumeInput(...) sdc__pq.PQconsumeInput(__VA_ARGS__)
#define PQnotifies(...) sdc__pq.PQnotifies(__VA_ARGS__)
#define PQescapeIdentifier(...) sdc__pq.PQescapeIdentifier(__VA_ARGS__)
#define PQunescapeBytea(...) sdc__pq.PQunescapeBytea(__VA_ARGS__)
#define PQfreemem(...) sdc__pq.PQfreemem(__VA_ARGS__)

#endif /* SDC_PQ_API_H */
