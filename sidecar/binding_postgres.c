/* bindings.postgresql / bindings.postgres (output; sidecar-api.md §22.5) over libpq.
 *
 * Operations:
 *   exec   metadata `sql` (required) and optional `params` (a JSON array); response metadata
 *          operation, sql, start-time, end-time (RFC 3339, UTC), duration (Go's format) and
 *          rows-affected; no data.
 *   query  the same, and the data is a JSON array with one array of column values per row:
 *          integers and floating types as numbers, booleans, NULL as null, json/jsonb as
 *          their JSON, bytea as base64 text (Go's []byte), timestamps as RFC 3339 strings,
 *          anything else as its text.
 *   close  closes the connections; later calls fail with "component is closed".
 * Without params the SQL runs through the simple query protocol (several statements allowed,
 * as pgx does); with params through PQexecParams, each parameter sent as text (strings as is,
 * numbers and booleans as their JSON text, objects and arrays as JSON, null as NULL).
 *
 * `connectionString`* is handed to libpq (URL or key=value form). Connections: a dc_pool of
 * blocking PGconn (maxConns, default 5) opened lazily, run through sdc_pg_run (pg_conn.h): one
 * found broken is replaced and the call retried once. Sessions run with TimeZone=UTC so timestamps
 * read back in UTC. */
#include "bindings.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "dc/json.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "pg_conn.h"
#include "pq_api.h"

#define PG_MAX_PARAMS 1024
#define PG_POOL_WAIT_MS 30000 /* pgxpool waits for the context; the request timeout bounds it */

/* Type OIDs from pg_type.h. */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_OID 26
#define OID_JSON 114
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_DATE 1082
#define OID_TIMESTAMP 1114
#define OID_TIMESTAMPTZ 1184
#define OID_NUMERIC 1700
#define OID_JSONB 3802

struct pgb {
    char *conninfo;
    atomic_bool closed;
    struct dc_pool *pool; /* of PGconn */
};

static int pool_connect(void *ud, void **conn, struct dc_errbuf *eb)
{
    struct pgb *p = ud;
    const char *kw[2] = {"dbname", NULL};
    const char *val[2] = {p->conninfo, NULL};

    return sdc_pg_connect(kw, val, true,
                          "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET extra_float_digits = 3",
                          "unable to connect to the DB", (PGconn **)conn, eb);
}

/* ---- parameters ---------------------------------------------------------------------------- */

struct params {
    int n;
    char *v[PG_MAX_PARAMS];
};

static void params_free(struct params *ps)
{
    for (int i = 0; i < ps->n; i++)
        free(ps->v[i]);
    ps->n = 0;
}

static int params_parse(const char *s, struct params *ps, struct dc_errbuf *eb)
{
    struct dc_errbuf pe = {0};
    cJSON *root = NULL;
    int rv;

    ps->n = 0;
    if (dc_str_empty(s))
        return DC_OK;
    rv = dc_json_parse(s, strlen(s), DC_MAX_JSON_BODY, &root, &pe);
    if (rv == DC_OK && !cJSON_IsArray(root))
        rv = dc_err_set(&pe, DC_EINVAL,
                        "json: cannot unmarshal into Go value of type []interface {}");
    if (rv == DC_OK && cJSON_GetArraySize(root) > PG_MAX_PARAMS)
        rv = dc_err_set(&pe, DC_ETOOBIG, "more than %d parameters", PG_MAX_PARAMS);
    for (const cJSON *c = root != NULL && rv == DC_OK ? root->child : NULL; c != NULL;
         c = c->next) {
        char *v = NULL;
        if (cJSON_IsString(c))
            v = dc_xstrdup(c->valuestring);
        else if (!cJSON_IsNull(c))
            v = dc_json_print(c);
        ps->v[ps->n++] = v;
    }
    cJSON_Delete(root);
    if (rv != DC_OK) {
        params_free(ps);
        return dc_err_set(eb, DC_EINVAL,
                          "invalid metadata property params: failed to unserialize "
                          "into an array: %s",
                          pe.msg);
    }
    return DC_OK;
}

/* ---- results ------------------------------------------------------------------------------- */

static int put_b64(struct dc_buf *b, const unsigned char *p, size_t n)
{
    size_t cap = 4 * ((n + 2) / 3) + 1;
    unsigned char *o = dc_xmalloc(cap);
    int len = EVP_EncodeBlock(o, p, (int)n);
    int rv = dc_buf_appendc(b, '"');

    if (rv == DC_OK)
        rv = dc_buf_append(b, o, (size_t)len);
    free(o);
    return rv == DC_OK ? dc_buf_appendc(b, '"') : rv;
}

/* "2024-01-02 03:04:05.123+00" (ISO DateStyle, UTC session) -> Go's RFC 3339 text. */
static int put_time(struct dc_buf *b, const char *v, Oid t)
{
    char out[64];
    size_t o = 0, n = strlen(v);

    if (n + 12 >= sizeof(out) || n < 10)
        return sdc_binding_json_string(b, v);
    memcpy(out, v, 10);
    o = 10;
    if (t == OID_DATE) {
        memcpy(out + o, "T00:00:00Z", 10);
        o += 10;
    } else {
        const char *rest = v + 10;
        size_t rn;
        out[o++] = 'T';
        if (*rest == ' ')
            rest++;
        rn = strcspn(rest, "+-");
        memcpy(out + o, rest, rn);
        o += rn;
        if (rest[rn] == '\0' || strcmp(rest + rn, "+00") == 0) {
            out[o++] = 'Z';
        } else {
            /* "+05:30" or "+05": RFC 3339 wants hh:mm. */
            size_t zl = strlen(rest + rn);
            memcpy(out + o, rest + rn, zl);
            o += zl;
            if (zl == 3) {
                memcpy(out + o, ":00", 3);
                o += 3;
            }
        }
    }
    out[o] = '\0';
    return sdc_binding_json_string(b, out);
}

static int put_value(struct dc_buf *b, const PGresult *r, int row, int col)
{
    const char *v = PQgetvalue(r, row, col);
    Oid t = PQftype(r, col);

    if (PQgetisnull(r, row, col))
        return dc_buf_appends(b, "null");
    switch (t) {
    case OID_BOOL:
        return dc_buf_appends(b, v[0] == 't' ? "true" : "false");
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
    case OID_NUMERIC:
        if (strcmp(v, "NaN") == 0)
            return sdc_binding_json_string(b, v);
        return dc_buf_appends(b, v);
    case OID_FLOAT4:
    case OID_FLOAT8: {
        cJSON num = {0};
        num.type = cJSON_Number;
        num.valuedouble = strtod(v, NULL);
        if (sdc_binding_json_marshal(&num, b) != DC_OK)
            return sdc_binding_json_string(b, v); /* NaN, Infinity */
        return DC_OK;
    }
    case OID_JSON:
    case OID_JSONB:
        return dc_buf_appends(b, v);
    case OID_BYTEA: {
        size_t n = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)v, &n);
        int rv;
        if (raw == NULL)
            return sdc_binding_json_string(b, v);
        rv = put_b64(b, raw, n);
        PQfreemem(raw);
        return rv;
    }
    case OID_DATE:
    case OID_TIMESTAMP:
    case OID_TIMESTAMPTZ:
        return put_time(b, v, t);
    default:
        return sdc_binding_json_string(b, v);
    }
}

static int rows_json(const PGresult *r, struct dc_buf *b)
{
    int rv = dc_buf_appendc(b, '[');

    for (int i = 0; rv == DC_OK && i < PQntuples(r); i++) {
        if (i > 0)
            rv = dc_buf_appendc(b, ',');
        if (rv == DC_OK)
            rv = dc_buf_appendc(b, '[');
        for (int j = 0; rv == DC_OK && j < PQnfields(r); j++) {
            if (j > 0)
                rv = dc_buf_appendc(b, ',');
            if (rv == DC_OK)
                rv = put_value(b, r, i, j);
        }
        if (rv == DC_OK)
            rv = dc_buf_appendc(b, ']');
    }
    return rv == DC_OK ? dc_buf_appendc(b, ']') : rv;
}

/* ---- operations ---------------------------------------------------------------------------- */

static PGresult *run(PGconn *c, const char *sql, const struct params *ps)
{
    if (ps->n == 0)
        return PQexec(c, sql);
    return PQexecParams(c, sql, ps->n, NULL, (const char *const *)ps->v, NULL, NULL, 0);
}

static void set_time(struct sdc_md *md, const char *k, int64_t ns)
{
    char t[DC_RFC3339_FMT_LEN];

    if (dc_rfc3339_format(ns, t, sizeof(t)) == DC_OK)
        sdc_md_set(md, k, t);
}

struct pg_call {
    const char *sql;
    const struct params *ps;
    PGresult *res; /* on DC_OK */
};

static int do_call(PGconn *c, void *ud, struct dc_errbuf *eb)
{
    struct pg_call *call = ud;
    PGresult *r = run(c, call->sql, call->ps);

    if (r == NULL ||
        (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)) {
        const char *m = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c);
        size_t ml = strlen(m);
        int rv;

        while (ml > 0 && (m[ml - 1] == '\n' || m[ml - 1] == ' '))
            ml--;
        rv = dc_err_set(eb, DC_EIO, "error executing query: %.*s", (int)ml, m);
        PQclear(r);
        return rv;
    }
    call->res = r;
    return DC_OK;
}

static int pg_invoke(void *self, const struct sdc_binding_req *req, struct sdc_binding_resp *resp,
                     struct dc_errbuf *eb)
{
    struct pgb *p = self;
    const char *sql = sdc_md_get(req->metadata, "sql");
    bool query = strcmp(req->operation, "query") == 0;
    struct params *ps;
    PGresult *r = NULL;
    int64_t t0, t1;
    int rv = DC_OK;

    if (strcmp(req->operation, "close") == 0) {
        atomic_store(&p->closed, true);
        dc_pool_drain(p->pool);
        return DC_OK;
    }
    if (atomic_load(&p->closed))
        return dc_err_set(eb, DC_EUNAVAIL, "component is closed");
    if (!query && strcmp(req->operation, "exec") != 0)
        return dc_err_set(eb, DC_EINVAL,
                          "invalid operation type: %s. Expected exec, query, or close",
                          req->operation);
    if (dc_str_empty(sql))
        return dc_err_set(eb, DC_EINVAL, "required metadata not set: sql");
    ps = dc_xcalloc(1, sizeof(*ps));
    rv = params_parse(sdc_md_get(req->metadata, "params"), ps, eb);
    if (rv != DC_OK) {
        free(ps);
        return rv;
    }
    t0 = dc_now_ns();
    {
        struct pg_call call = {sql, ps, NULL};
        rv = sdc_pg_run(p->pool, do_call, &call, eb);
        r = call.res;
    }
    t1 = dc_now_ns();
    if (rv == DC_OK) {
        char dur[DC_DURATION_FMT_LEN];
        sdc_md_set(&resp->metadata, "operation", req->operation);
        sdc_md_set(&resp->metadata, "sql", sql);
        set_time(&resp->metadata, "start-time", t0);
        set_time(&resp->metadata, "end-time", t1);
        if (dc_duration_format(t1 - t0, dur, sizeof(dur)) == DC_OK)
            sdc_md_set(&resp->metadata, "duration", dur);
        if (query) {
            rv = rows_json(r, &resp->data);
            if (rv != DC_OK)
                dc_err_set(eb, rv, "error serializing results: too large");
        } else {
            const char *n = PQcmdTuples(r);
            sdc_md_set(&resp->metadata, "rows-affected", n[0] != '\0' ? n : "0");
        }
        /* A response exists (metadata); query data may be "[]". */
        resp->has_data = true;
    }
    PQclear(r);
    params_free(ps);
    free(ps);
    return rv;
}

static void pg_close(void *self)
{
    struct pgb *p = self;

    if (p == NULL)
        return;
    dc_pool_free(p->pool);
    free(p->conninfo);
    free(p);
}

static int pg_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    const char *cs = sdc_md_get(md, "connectionString"), *mc = sdc_md_get(md, "maxConns");
    struct dc_pool_config pc = {5, 0, pool_connect, sdc_pg_pool_close, NULL};
    struct pgb *p;
    void *cn = NULL;
    int64_t n = 5;
    int rv;

    (void)ctx;
    rv = sdc__pq_load(eb);
    if (rv != DC_OK)
        return rv;
    if (dc_str_empty(cs))
        return dc_err_set(eb, DC_EINVAL, "missing connection string");
    if (!dc_str_empty(mc) && dc_str_to_i64(mc, 1, 1000, &n) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "invalid maxConns %s", mc);
    p = dc_xcalloc(1, sizeof(*p));
    p->conninfo = dc_xstrdup(cs);
    pc.max_size = (size_t)n;
    pc.wait_ms = PG_POOL_WAIT_MS;
    pc.ud = p;
    rv = dc_pool_new(&p->pool, &pc, eb);
    /* Ping: open the first connection now, as upstream does. */
    if (rv == DC_OK) {
        rv = dc_pool_get(p->pool, &cn, NULL, eb);
        if (rv != DC_OK)
            dc_err_wrapf(eb, "failed to ping the DB");
        else
            dc_pool_put(p->pool, cn, false);
    }
    if (rv != DC_OK) {
        pg_close(p);
        return rv;
    }
    *self = p;
    return DC_OK;
}

static const char *const pg_operations[] = {"exec", "query", "close", NULL};

static const struct sdc_binding_ops pg_ops = {
    .base = {.init = pg_init, .close = pg_close},
    .operations = pg_operations,
    .invoke = pg_invoke,
};

const struct sdc_component_type sdc_type_bindings_postgresql = {"bindings.postgresql", "v1",
                                                                SDC_CAT_BINDINGS, &pg_ops.base};
const struct sdc_component_type sdc_type_bindings_postgres = {"bindings.postgres", "v1",
                                                              SDC_CAT_BINDINGS, &pg_ops.base};
