/* state.postgresql (alias state.postgres) v1 over libpq (sidecar-api.md §22.3, §5.8).
 *
 * Upstream's v1 layout, so that upstream sidecars and daprd share a database:
 *   <tableName> (key text PRIMARY KEY, value jsonb NOT NULL, isbinary boolean NOT NULL,
 *                insertdate timestamptz NOT NULL DEFAULT now(), updatedate timestamptz NULL,
 *                expiredate timestamptz)
 *   <metadataTableName> (key text PRIMARY KEY, value text NOT NULL) holding the migration level
 *   ("migrations" = "2"), the migration lock row ("lock") and "last-cleanup".
 * The ETag is the row's xmin. Values that are JSON are stored as jsonb; anything else is stored
 * as a JSON string holding its base64 with isbinary = true (upstream does so for byte values).
 * TTLs set expiredate; reads ignore expired rows, and a cleanup thread deletes them every
 * cleanupInterval, coordinated through "last-cleanup" as upstream does.
 *
 * Connections: a dc_pool of blocking libpq connections, opened lazily up to maxConns, used by
 * one thread at a time. A connection found broken is closed with every idle one and the call is
 * retried once on a new connection; when the server cannot be reached, DC_EUNAVAIL. */
#include "state_store.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dc/base64.h"
#include "dc/json.h"
#include "dc/limits.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/pool.h"
#include "dc/str.h"
#include "dc/time.h"

#include "pg_conn.h"
#include "pq_api.h"

#define PG_MAX_KEYWORDS 64
#define PG_MIGRATION_LEVEL 2

struct pg_store {
    /* Connection keywords for PQconnectdbParams; `expand` when kw[0] is a URL "dbname". */
    char *kw[PG_MAX_KEYWORDS + 1];
    char *val[PG_MAX_KEYWORDS + 1];
    size_t nkw;
    bool expand;
    char table[128];
    char mdtable[128];
    int64_t timeout_ms;
    int64_t cleanup_ms; /* 0: no cleanup */
    size_t max_conns;
    struct dc_pool *pool; /* of PGconn */

    /* The cleanup thread sleeps on cv; mu guards `stopping`. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t gc;
    bool gc_started;
    bool stopping; /* under mu; wakes the cleanup thread through cv */
};

/* ---- metadata ---- */

static void kw_add(struct pg_store *s, const char *k, size_t klen, const char *v, size_t vlen)
{
    for (size_t i = 0; i < s->nkw; i++) {
        if (strlen(s->kw[i]) == klen && memcmp(s->kw[i], k, klen) == 0) {
            free(s->val[i]);
            s->val[i] = dc_xstrndup(v, vlen);
            return;
        }
    }
    if (s->nkw >= PG_MAX_KEYWORDS)
        return;
    s->kw[s->nkw] = dc_xstrndup(k, klen);
    s->val[s->nkw] = dc_xstrndup(v, vlen);
    s->nkw++;
}

static bool kw_has(const struct pg_store *s, const char *k)
{
    for (size_t i = 0; i < s->nkw; i++)
        if (strcmp(s->kw[i], k) == 0)
            return true;
    return false;
}

/* pgx accepts keys libpq does not: `database` is libpq's `dbname`; pool_* configure pgx's pool
 * (pool_max_conns becomes our pool size); the others only tune pgx. */
static void kw_add_pgx(struct pg_store *s, const char *k, size_t klen, const char *v, size_t vlen,
                       int64_t *pool_max)
{
    static const char *const drop[] = {"statement_cache_capacity", "description_cache_capacity",
                                       "default_query_exec_mode", "prefer_simple_protocol"};

    if (klen == 8 && memcmp(k, "database", 8) == 0) {
        kw_add(s, "dbname", 6, v, vlen);
        return;
    }
    if (klen == 14 && memcmp(k, "pool_max_conns", 14) == 0) {
        char tmp[24];
        if (vlen < sizeof(tmp)) {
            memcpy(tmp, v, vlen);
            tmp[vlen] = '\0';
            if (dc_str_to_i64(tmp, 1, 100000, pool_max) != DC_OK)
                *pool_max = 0;
        }
        return;
    }
    if (klen >= 5 && memcmp(k, "pool_", 5) == 0)
        return;
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (strlen(drop[i]) == klen && memcmp(drop[i], k, klen) == 0)
            return;
    kw_add(s, k, klen, v, vlen);
}

/* libpq's key=value syntax: values may be single-quoted with \' and \\ escapes. */
static int parse_kv(struct pg_store *s, const char *p, int64_t *pool_max, struct dc_errbuf *eb)
{
    struct dc_buf v = {0};
    int rv = DC_OK;

    while (rv == DC_OK) {
        const char *k;
        size_t klen;

        p += strspn(p, " \t\r\n");
        if (*p == '\0')
            break;
        k = p;
        klen = strcspn(p, "= \t\r\n");
        p += klen;
        p += strspn(p, " \t\r\n");
        if (*p != '=' || klen == 0) {
            rv = dc_err_set(eb, DC_EINVAL, "postgres: invalid connection string near \"%.20s\"", k);
            break;
        }
        p++;
        p += strspn(p, " \t\r\n");
        dc_buf_reset(&v);
        if (*p == '\'') {
            for (p++; *p != '\'' && *p != '\0'; p++) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                DC_ASSERT(dc_buf_appendc(&v, *p) == DC_OK);
            }
            if (*p != '\'') {
                rv = dc_err_set(eb, DC_EINVAL,
                                "postgres: unterminated quote in connection "
                                "string");
                break;
            }
            p++;
        } else {
            for (; *p != '\0' && strchr(" \t\r\n", *p) == NULL; p++) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                DC_ASSERT(dc_buf_appendc(&v, *p) == DC_OK);
            }
        }
        kw_add_pgx(s, k, klen, dc_buf_cstr(&v), v.len, pool_max);
    }
    dc_buf_cleanup(&v);
    return rv;
}

/* A postgres:// URL goes to libpq as an expanded dbname, minus the query parameters that only
 * pgx knows. */
static void parse_url(struct pg_store *s, const char *url, int64_t *pool_max)
{
    const char *q = strchr(url, '?');
    struct dc_buf b = {0};
    bool first = true;

    if (q == NULL) {
        kw_add(s, "dbname", 6, url, strlen(url));
        s->expand = true;
        return;
    }
    DC_ASSERT(dc_buf_append(&b, url, (size_t)(q - url)) == DC_OK);
    for (const char *p = q + 1; *p != '\0';) {
        size_t len = strcspn(p, "&");
        size_t klen = strcspn(p, "=&");
        const char *k = p;
        bool keep = true;

        if (klen == 14 && memcmp(k, "pool_max_conns", 14) == 0 && klen < len) {
            char tmp[24];
            size_t vlen = len - klen - 1;
            if (vlen < sizeof(tmp)) {
                memcpy(tmp, k + klen + 1, vlen);
                tmp[vlen] = '\0';
                if (dc_str_to_i64(tmp, 1, 100000, pool_max) != DC_OK)
                    *pool_max = 0;
            }
        }
        if ((klen >= 5 && memcmp(k, "pool_", 5) == 0) ||
            (klen == 24 && memcmp(k, "statement_cache_capacity", 24) == 0) ||
            (klen == 23 && memcmp(k, "default_query_exec_mode", 23) == 0))
            keep = false;
        if (keep && len > 0) {
            DC_ASSERT(dc_buf_appendc(&b, first ? '?' : '&') == DC_OK);
            DC_ASSERT(dc_buf_append(&b, p, len) == DC_OK);
            first = false;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    kw_add(s, "dbname", 6, dc_buf_cstr(&b), b.len);
    s->expand = true;
    dc_buf_cleanup(&b);
}

/* Table names go into SQL text: letters, digits, '_' and one optional "schema." part. */
static int set_ident(char *dst, size_t cap, const char *v, const char *what, struct dc_errbuf *eb)
{
    size_t n = strlen(v);
    int dots = 0;

    if (n == 0 || n >= cap || (v[0] >= '0' && v[0] <= '9'))
        return dc_err_set(eb, DC_EINVAL, "postgres: invalid %s %s", what, v);
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (c == '.' && i > 0 && i + 1 < n && dots++ == 0)
            ok = true;
        if (!ok)
            return dc_err_set(eb, DC_EINVAL, "postgres: invalid %s %s", what, v);
    }
    memcpy(dst, v, n + 1);
    return DC_OK;
}

/* Durations in upstream's metadata: a Go duration, or a bare integer of seconds. */
static int md_seconds_or_duration(const struct sdc_md *md, const char *name, const char *alias,
                                  int64_t def_ms, int64_t *out_ms, struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, name);
    int64_t n;

    if (dc_str_empty(v) && alias != NULL)
        v = sdc_md_get(md, alias);
    *out_ms = def_ms;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_str_to_i64(v, INT64_MIN / 1000, INT64_MAX / 1000, &n) == DC_OK) {
        *out_ms = n * 1000;
        return DC_OK;
    }
    if (dc_duration_parse(v, &n, NULL) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "postgres: invalid %s %s", name, v);
    *out_ms = n / 1000000;
    return DC_OK;
}

static int parse_metadata(struct pg_store *s, const struct sdc_md *md, struct dc_errbuf *eb)
{
    const char *cs = sdc_md_get(md, "connectionString");
    int64_t pool_max = 0, max_conns;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int rv = DC_OK;

    if (!dc_str_empty(cs)) {
        if (dc_str_has_prefix(cs, "postgres://") || dc_str_has_prefix(cs, "postgresql://"))
            parse_url(s, cs, &pool_max);
        else
            rv = parse_kv(s, cs, &pool_max, eb);
    } else if (!dc_str_empty(sdc_md_get(md, "host"))) {
        static const char *const split[][2] = {
            {"host", "host"}, {"port", "port"},         {"database", "dbname"},
            {"user", "user"}, {"password", "password"}, {"sslRootCert", "sslrootcert"}};
        for (size_t i = 0; i < sizeof(split) / sizeof(split[0]); i++) {
            const char *v = sdc_md_get(md, split[i][0]);
            if (!dc_str_empty(v))
                kw_add(s, split[i][1], strlen(split[i][1]), v, strlen(v));
        }
    } else {
        return dc_err_set(eb, DC_EINVAL, "postgres: missing connection string");
    }
    if (rv == DC_OK)
        rv = set_ident(s->table, sizeof(s->table), sdc_md_get_or(md, "tableName", "state"),
                       "tableName", eb);
    if (rv == DC_OK)
        rv = set_ident(s->mdtable, sizeof(s->mdtable),
                       sdc_md_get_or(md, "metadataTableName", "dapr_metadata"), "metadataTableName",
                       eb);
    if (rv == DC_OK)
        rv = md_seconds_or_duration(md, "timeout", "timeoutInSeconds", 20000, &s->timeout_ms, eb);
    if (rv == DC_OK)
        rv = md_seconds_or_duration(md, "cleanupInterval", "cleanupIntervalInSeconds", 3600000,
                                    &s->cleanup_ms, eb);
    if (rv != DC_OK)
        return rv;
    max_conns = pool_max > 0 ? pool_max : (ncpu > 4 ? ncpu : 4);
    if (!dc_str_empty(sdc_md_get(md, "maxConns")) &&
        dc_str_to_i64(sdc_md_get(md, "maxConns"), 1, 100000, &max_conns) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "postgres: invalid maxConns %s",
                          sdc_md_get(md, "maxConns"));
    s->max_conns = (size_t)max_conns;
    if (s->cleanup_ms < 0)
        s->cleanup_ms = 0;
    if (s->timeout_ms <= 0)
        s->timeout_ms = 20000;
    if (!s->expand && !kw_has(s, "connect_timeout")) {
        char t[24];
        int64_t secs = (s->timeout_ms + 999) / 1000;
        snprintf(t, sizeof(t), "%lld", (long long)(secs < 2 ? 2 : secs));
        kw_add(s, "connect_timeout", 15, t, strlen(t));
    }
    return DC_OK;
}

/* ---- connections ---- */

/* Copy libpq's message without its trailing newline. */
static void pg_msg(struct dc_errbuf *eb, const char *what, const char *msg)
{
    size_t n = msg != NULL ? strlen(msg) : 0;

    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    dc_err_set(eb, DC_EIO, "postgres: %s: %.*s", what, (int)n, msg != NULL ? msg : "");
}

/* Map a failed result (or a NULL one) to our codes, with the message in `eb`. */
static int pg_fail(PGconn *c, PGresult *r, const char *what, struct dc_errbuf *eb)
{
    const char *st = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int code = DC_EIO;

    pg_msg(eb, what, r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c));
    if (PQstatus(c) == CONNECTION_BAD || st == NULL || strncmp(st, "08", 2) == 0 ||
        strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0)
        code = DC_EUNAVAIL;
    else if (strcmp(st, "23505") == 0 || strcmp(st, "40001") == 0)
        code = DC_ECONFLICT;
    else if (strcmp(st, "57014") == 0)
        code = DC_ETIMEDOUT;
    return code;
}

static int pg_connect(struct pg_store *s, PGconn **out, struct dc_errbuf *eb)
{
    char sql[64];

    snprintf(sql, sizeof(sql), "SET statement_timeout = %lld", (long long)s->timeout_ms);
    return sdc_pg_connect((const char *const *)s->kw, (const char *const *)s->val, s->expand, sql,
                          "postgres: failed to connect", out, eb);
}

static int pool_connect(void *ud, void **conn, struct dc_errbuf *eb)
{
    return pg_connect(ud, (PGconn **)conn, eb);
}

typedef int pg_work_fn(struct pg_store *s, PGconn *c, void *ud, struct dc_errbuf *eb);

struct pg_work {
    struct pg_store *s;
    pg_work_fn *fn;
    void *ud;
};

static int pg_work_tramp(PGconn *c, void *ud, struct dc_errbuf *eb)
{
    struct pg_work *w = ud;

    return w->fn(w->s, c, w->ud, eb);
}

/* Run `fn` on a pooled connection (sdc_pg_run: a broken pooled connection is replaced and the
 * work retried once). */
static int pg_run(struct pg_store *s, pg_work_fn *fn, void *ud, struct dc_errbuf *eb)
{
    struct pg_work w = {s, fn, ud};

    return sdc_pg_run(s->pool, pg_work_tramp, &w, eb);
}

/* PQexecParams with text parameters; NULL lens means NUL-terminated values. */
static PGresult *pg_exec(PGconn *c, const char *sql, int n, const char *const *vals)
{
    return PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
}

static int pg_cmd(PGconn *c, const char *sql, int n, const char *const *vals, const char *what,
                  int64_t *rows, struct dc_errbuf *eb)
{
    PGresult *r = pg_exec(c, sql, n, vals);
    int rv = DC_OK;

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        rv = pg_fail(c, r, what, eb);
    else if (rows != NULL)
        *rows = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return rv;
}

/* ---- values ---- */

static int b64_decode(const char *s, size_t n, struct dc_buf *out)
{
    unsigned acc = 0;
    int bits = 0;

    while (n > 0 && s[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = dc_base64_value((unsigned char)s[i], false);
        if (v < 0)
            return DC_EPARSE;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (dc_buf_appendc(out, (char)((acc >> bits) & 0xff)) != DC_OK)
                return DC_ETOOBIG;
        }
    }
    return DC_OK;
}

/* The jsonb text for a value: the value itself when it is JSON, else its base64 as a JSON
 * string (`*binary` true). */
static void encode_value(const void *v, size_t n, struct dc_buf *out, bool *binary)
{
    cJSON *doc = NULL;

    if (n > 0 && dc_json_parse(v, n, n, &doc, NULL) == DC_OK) {
        cJSON_Delete(doc);
        DC_ASSERT(dc_buf_append(out, v, n) == DC_OK);
        *binary = false;
        return;
    }
    DC_ASSERT(dc_buf_appendc(out, '"') == DC_OK);
    DC_ASSERT(dc_base64_append(out, v, n) == DC_OK);
    DC_ASSERT(dc_buf_appendc(out, '"') == DC_OK);
    *binary = true;
}

/* ---- operations ---- */

/* xmin ETags: an unsigned 32-bit number (upstream strconv.ParseUint(etag, 10, 32)). */
static int parse_etag(const char *etag, char out[16], struct dc_errbuf *eb)
{
    int64_t v;

    out[0] = '\0';
    if (dc_str_empty(etag))
        return DC_OK;
    if (etag[0] == '+' || etag[0] == '-' || dc_str_to_i64(etag, 0, UINT32_MAX, &v) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "invalid etag value: %s", etag);
    snprintf(out, 16, "%lld", (long long)v);
    return DC_OK;
}

#define EXPIRE_EXPR                                                                                \
    "CASE WHEN $4::bigint > 0 THEN CURRENT_TIMESTAMP + $4::bigint * interval '1 second' END"

static int do_set(struct pg_store *s, PGconn *c, void *ud, struct dc_errbuf *eb)
{
    const struct sdc_state_set *r = ud;
    struct dc_buf val = {0};
    char etag[16], ttl[24], sql[1024];
    const char *params[5];
    bool binary;
    int64_t rows = 0;
    int rv = parse_etag(r->etag, etag, eb);

    if (rv != DC_OK)
        return rv;
    encode_value(r->value, r->value_len, &val, &binary);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(r->has_ttl ? r->ttl_s : 0));
    params[0] = r->key;
    params[1] = dc_buf_cstr(&val);
    params[2] = binary ? "true" : "false";
    params[3] = ttl;
    params[4] = etag;
    if (etag[0] != '\0') {
        snprintf(sql, sizeof(sql),
                 "UPDATE %s SET value = $2::jsonb, isbinary = $3::boolean, "
                 "updatedate = CURRENT_TIMESTAMP, expiredate = " EXPIRE_EXPR " "
                 "WHERE key = $1 AND xmin = $5::text::xid "
                 "AND (expiredate IS NULL OR expiredate > CURRENT_TIMESTAMP)",
                 s->table);
    } else {
        /* An upsert in both cases: under first-write only an expired row may be replaced. */
        snprintf(sql, sizeof(sql),
                 "INSERT INTO %s AS t (key, value, isbinary, expiredate) "
                 "VALUES ($1, $2::jsonb, $3::boolean, " EXPIRE_EXPR ") "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                 "isbinary = excluded.isbinary, updatedate = CURRENT_TIMESTAMP, "
                 "expiredate = excluded.expiredate%s",
                 s->table,
                 r->concurrency == SDC_STATE_FIRST_WRITE
                     ? " WHERE t.expiredate IS NOT NULL AND t.expiredate < CURRENT_TIMESTAMP"
                     : "");
    }
    rv = pg_cmd(c, sql, etag[0] != '\0' ? 5 : 4, params, "set", &rows, eb);
    if (rv == DC_OK && rows != 1)
        rv = dc_err_set(eb, DC_ECONFLICT, "etag mismatch for key %s", r->key);
    dc_buf_cleanup(&val);
    return rv;
}

static int do_del(struct pg_store *s, PGconn *c, void *ud, struct dc_errbuf *eb)
{
    const struct sdc_state_del *r = ud;
    char etag[16], sql[256];
    const char *params[2];
    int64_t rows = 0;
    int rv = parse_etag(r->etag, etag, eb);

    if (rv != DC_OK)
        return rv;
    params[0] = r->key;
    params[1] = etag;
    if (etag[0] != '\0')
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE key = $1 AND xmin = $2::text::xid",
                 s->table);
    else
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE key = $1", s->table);
    rv = pg_cmd(c, sql, etag[0] != '\0' ? 2 : 1, params, "delete", &rows, eb);
    if (rv == DC_OK && etag[0] != '\0' && rows != 1)
        rv = dc_err_set(eb, DC_ECONFLICT, "etag mismatch for key %s", r->key);
    return rv;
}

struct get_ctx {
    const struct sdc_state_get *req;
    struct sdc_state_value *out;
};

static int do_get(struct pg_store *s, PGconn *c, void *ud, struct dc_errbuf *eb)
{
    struct get_ctx *g = ud;
    char sql[320];
    const char *params[1] = {g->req->key};
    PGresult *r;
    int rv = DC_OK;

    snprintf(sql, sizeof(sql),
             "SELECT value, isbinary, xmin::text, "
             "(EXTRACT(EPOCH FROM expiredate) * 1000)::bigint FROM %s "
             "WHERE key = $1 AND (expiredate IS NULL OR expiredate >= CURRENT_TIMESTAMP)",
             s->table);
    r = pg_exec(c, sql, 1, params);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rv = pg_fail(c, r, "get", eb);
    } else if (PQntuples(r) == 1) {
        const char *v = PQgetvalue(r, 0, 0);
        size_t n = (size_t)PQgetlength(r, 0, 0);
        bool binary = PQgetvalue(r, 0, 1)[0] == 't';

        if (binary) {
            /* A JSON string of base64 characters: no escapes to undo. */
            if (n < 2 || v[0] != '"' || v[n - 1] != '"' ||
                b64_decode(v + 1, n - 2, &g->out->data) != DC_OK)
                rv = dc_err_set(eb, DC_EIO, "postgres: key %s: invalid binary value", g->req->key);
        } else if (dc_buf_append(&g->out->data, v, n) != DC_OK) {
            rv = dc_err_set(eb, DC_ETOOBIG, "value too large");
        }
        dc_strlcpy(g->out->etag, PQgetvalue(r, 0, 2), sizeof(g->out->etag));
        if (!PQgetisnull(r, 0, 3))
            g->out->expire_unix_ms = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        g->out->found = rv == DC_OK;
    }
    PQclear(r);
    return rv;
}

static int pg_get(void *self, const struct sdc_state_get *req, struct sdc_state_value *out,
                  struct dc_errbuf *eb)
{
    struct get_ctx g = {req, out};

    out->found = false;
    out->etag[0] = '\0';
    out->content_type[0] = '\0';
    out->expire_unix_ms = 0;
    return pg_run(self, do_get, &g, eb);
}

static int pg_set(void *self, const struct sdc_state_set *req, struct dc_errbuf *eb)
{
    return pg_run(self, do_set, (void *)req, eb);
}

static int pg_del(void *self, const struct sdc_state_del *req, struct dc_errbuf *eb)
{
    return pg_run(self, do_del, (void *)req, eb);
}

struct multi_ctx {
    const struct sdc_state_op *ops;
    size_t n;
};

static int do_multi(struct pg_store *s, PGconn *c, void *ud, struct dc_errbuf *eb)
{
    struct multi_ctx *m = ud;
    int rv = pg_cmd(c, "BEGIN", 0, NULL, "begin", NULL, eb);

    for (size_t i = 0; i < m->n && rv == DC_OK; i++) {
        const struct sdc_state_op *op = &m->ops[i];
        rv = op->kind == SDC_STATE_OP_UPSERT ? do_set(s, c, (void *)&op->set, eb)
                                             : do_del(s, c, (void *)&op->del, eb);
    }
    if (rv == DC_OK)
        return pg_cmd(c, "COMMIT", 0, NULL, "commit", NULL, eb);
    /* pg_run rolls back whatever is left open. */
    return rv;
}

static int pg_multi(void *self, const struct sdc_state_op *ops, size_t n, struct dc_errbuf *eb)
{
    struct multi_ctx m = {ops, n};

    if (n == 0)
        return DC_OK;
    return pg_run(self, do_multi, &m, eb);
}

/* ---- query API (§5.8): EQ, IN, AND, OR over the jsonb value, sort, page ---- */

struct qb {
    struct dc_buf sql;
    char *params[DC_STATE_MAX_QUERY_PARAMS];
    int nparams;
};

/* value.a.b -> value->'a'->>'b' (text of the last field), quotes doubled. */
static void qb_field(struct qb *q, const char *key)
{
    DC_ASSERT(dc_buf_appends(&q->sql, "value") == DC_OK);
    for (const char *p = key;;) {
        size_t len = strcspn(p, ".");
        bool last = p[len] == '\0';

        DC_ASSERT(dc_buf_appends(&q->sql, last ? "->>'" : "->'") == DC_OK);
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '\'')
                DC_ASSERT(dc_buf_appendc(&q->sql, '\'') == DC_OK);
            DC_ASSERT(dc_buf_appendc(&q->sql, p[i]) == DC_OK);
        }
        DC_ASSERT(dc_buf_appendc(&q->sql, '\'') == DC_OK);
        if (last)
            break;
        p += len + 1;
    }
}

/* A JSON scalar as the text ->> yields for it. Numbers: integers exactly, others in the
 * shortest form that reads back the same. */
static int scalar_text(const cJSON *v, char **out, struct dc_errbuf *eb)
{
    char num[40];

    if (cJSON_IsString(v)) {
        *out = dc_xstrdup(v->valuestring);
    } else if (cJSON_IsBool(v)) {
        *out = dc_xstrdup(cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0) {
            snprintf(num, sizeof(num), "%lld", (long long)d);
        } else {
            for (int prec = 15; prec <= 17; prec++) {
                snprintf(num, sizeof(num), "%.*g", prec, d);
                if (strtod(num, NULL) == d)
                    break;
            }
        }
        *out = dc_xstrdup(num);
    } else {
        return dc_err_set(eb, DC_EINVAL,
                          "query: filter values must be strings, numbers or "
                          "booleans");
    }
    return DC_OK;
}

static int qb_eq(struct qb *q, const char *key, const cJSON *v, struct dc_errbuf *eb)
{
    int rv;

    if (q->nparams >= DC_STATE_MAX_QUERY_PARAMS)
        return dc_err_set(eb, DC_ETOOBIG, "query: too many filter values");
    rv = scalar_text(v, &q->params[q->nparams], eb);
    if (rv != DC_OK)
        return rv;
    q->nparams++;
    qb_field(q, key);
    DC_ASSERT(dc_buf_appendf(&q->sql, "=$%d", q->nparams) == DC_OK);
    return DC_OK;
}

/* An object with exactly one member. */
static const cJSON *only_member(const cJSON *o)
{
    return cJSON_IsObject(o) && o->child != NULL && o->child->next == NULL ? o->child : NULL;
}

static int qb_filter(struct qb *q, const cJSON *f, struct dc_errbuf *eb)
{
    const cJSON *op = only_member(f);
    int rv = DC_OK;

    if (op == NULL)
        return dc_err_set(eb, DC_EINVAL, "query: a filter is an object with one operator");
    if (strcmp(op->string, "EQ") == 0) {
        const cJSON *kv = only_member(op);
        if (kv == NULL)
            return dc_err_set(eb, DC_EINVAL, "query: EQ takes one key");
        return qb_eq(q, kv->string, kv, eb);
    }
    if (strcmp(op->string, "IN") == 0) {
        const cJSON *kv = only_member(op);
        const cJSON *v;
        if (kv == NULL || !cJSON_IsArray(kv) || kv->child == NULL)
            return dc_err_set(eb, DC_EINVAL, "query: IN takes one key with a non-empty array");
        DC_ASSERT(dc_buf_appendc(&q->sql, '(') == DC_OK);
        cJSON_ArrayForEach(v, kv)
        {
            if (v != kv->child)
                DC_ASSERT(dc_buf_appends(&q->sql, " OR ") == DC_OK);
            rv = qb_eq(q, kv->string, v, eb);
            if (rv != DC_OK)
                return rv;
        }
        DC_ASSERT(dc_buf_appendc(&q->sql, ')') == DC_OK);
        return DC_OK;
    }
    if (strcmp(op->string, "AND") == 0 || strcmp(op->string, "OR") == 0) {
        const cJSON *sub;
        if (!cJSON_IsArray(op) || op->child == NULL)
            return dc_err_set(eb, DC_EINVAL, "query: %s takes a non-empty array", op->string);
        DC_ASSERT(dc_buf_appendc(&q->sql, '(') == DC_OK);
        cJSON_ArrayForEach(sub, op)
        {
            if (sub != op->child)
                DC_ASSERT(dc_buf_appendf(&q->sql, " %s ", op->string) == DC_OK);
            rv = qb_filter(q, sub, eb);
            if (rv != DC_OK)
                return rv;
        }
        DC_ASSERT(dc_buf_appendc(&q->sql, ')') == DC_OK);
        return DC_OK;
    }
    return dc_err_set(eb, DC_EINVAL, "query: unsupported filter type %s", op->string);
}

static int qb_sort(struct qb *q, const cJSON *sort, struct dc_errbuf *eb)
{
    const cJSON *it;

    if (!cJSON_IsArray(sort))
        return dc_err_set(eb, DC_EINVAL, "query: sort must be an array");
    cJSON_ArrayForEach(it, sort)
    {
        const char *key = NULL, *order = NULL;
        int rv = dc_json_get_string(it, "key", true, &key, eb);
        if (rv == DC_OK)
            rv = dc_json_get_string(it, "order", false, &order, eb);
        if (rv != DC_OK)
            return rv;
        if (order != NULL && strcmp(order, "ASC") != 0 && strcmp(order, "DESC") != 0)
            return dc_err_set(eb, DC_EINVAL, "query: invalid order %s", order);
        DC_ASSERT(dc_buf_appends(&q->sql, it == sort->child ? " ORDER BY " : ", ") == DC_OK);
        qb_field(q, key);
        if (order != NULL)
            DC_ASSERT(dc_buf_appendf(&q->sql, " %s", order) == DC_OK);
    }
    return DC_OK;
}

/* Keys are returned as the client knows them: the part after the first "||" and before a
 * second one (upstream's GetOriginalStateKey). */
static int append_key(struct dc_buf *b, const char *key)
{
    const char *p = strstr(key, "||");

    if (p != NULL) {
        const char *end = strstr(p + 2, "||");
        return dc_json_append_string(b, p + 2, end != NULL ? (size_t)(end - p - 2) : strlen(p + 2));
    }
    return dc_json_append_string(b, key, strlen(key));
}

struct query_ctx {
    struct qb *q;
    int64_t limit, skip;
    struct dc_buf *out;
};

static int do_query(struct pg_store *s, PGconn *c, void *ud, struct dc_errbuf *eb)
{
    struct query_ctx *qc = ud;
    PGresult *r =
        pg_exec(c, dc_buf_cstr(&qc->q->sql), qc->q->nparams, (const char *const *)qc->q->params);
    int rv = DC_OK;
    int n;

    (void)s;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rv = pg_fail(c, r, "query", eb);
        PQclear(r);
        return rv;
    }
    n = PQntuples(r);
    dc_buf_reset(qc->out);
    rv = dc_buf_appends(qc->out, "{\"results\":[");
    for (int i = 0; i < n && rv == DC_OK; i++) {
        rv = dc_buf_appends(qc->out, i > 0 ? ",{\"key\":" : "{\"key\":");
        if (rv == DC_OK)
            rv = append_key(qc->out, PQgetvalue(r, i, 0));
        if (rv == DC_OK)
            rv = dc_buf_appends(qc->out, ",\"data\":");
        if (rv == DC_OK)
            rv = dc_buf_append(qc->out, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
        if (rv == DC_OK)
            rv = dc_buf_appendf(qc->out, ",\"etag\":\"%s\"}", PQgetvalue(r, i, 2));
    }
    if (rv == DC_OK)
        rv = dc_buf_appendc(qc->out, ']');
    if (rv == DC_OK && qc->limit > 0)
        rv = dc_buf_appendf(qc->out, ",\"token\":\"%lld\"", (long long)(qc->skip + n));
    if (rv == DC_OK)
        rv = dc_buf_appendc(qc->out, '}');
    if (rv != DC_OK)
        rv = dc_err_set(eb, DC_ETOOBIG, "query: result too large");
    PQclear(r);
    return rv;
}

static int pg_query(void *self, const char *query, size_t len, const struct sdc_md *metadata,
                    struct dc_buf *out, struct dc_errbuf *eb)
{
    struct pg_store *s = self;
    struct qb q = {0};
    struct query_ctx qc = {&q, 0, 0, out};
    const cJSON *filter = NULL, *sort = NULL, *page = NULL;
    cJSON *doc = NULL;
    int rv;

    (void)metadata;
    rv = dc_json_parse(query, len, DC_DEFAULT_MAX_BODY, &doc, eb);
    if (rv == DC_OK && !cJSON_IsObject(doc))
        rv = dc_err_set(eb, DC_EINVAL, "query: not a JSON object");
    if (rv == DC_OK)
        rv = dc_json_get_object(doc, "filter", false, &filter, eb);
    if (rv == DC_OK)
        rv = dc_json_get_array(doc, "sort", false, &sort, eb);
    if (rv == DC_OK)
        rv = dc_json_get_object(doc, "page", false, &page, eb);
    if (rv != DC_OK)
        goto out;
    DC_ASSERT(dc_buf_appendf(&q.sql,
                             "SELECT key, value, xmin::text FROM %s "
                             "WHERE (expiredate IS NULL OR expiredate >= CURRENT_TIMESTAMP)",
                             s->table) == DC_OK);
    if (filter != NULL && filter->child != NULL) {
        DC_ASSERT(dc_buf_appends(&q.sql, " AND ") == DC_OK);
        rv = qb_filter(&q, filter, eb);
    }
    if (rv == DC_OK && sort != NULL)
        rv = qb_sort(&q, sort, eb);
    if (rv == DC_OK && page != NULL) {
        const char *token = NULL;
        rv = dc_json_get_int(page, "limit", false, 0, INT32_MAX, &qc.limit, eb);
        if (rv == DC_OK)
            rv = dc_json_get_string(page, "token", false, &token, eb);
        if (rv == DC_OK && !dc_str_empty(token) &&
            dc_str_to_i64(token, 0, INT64_MAX, &qc.skip) != DC_OK)
            rv = dc_err_set(eb, DC_EINVAL, "query: invalid token %s", token);
    }
    if (rv != DC_OK)
        goto out;
    if (qc.limit > 0)
        DC_ASSERT(dc_buf_appendf(&q.sql, " LIMIT %lld", (long long)qc.limit) == DC_OK);
    if (qc.skip > 0)
        DC_ASSERT(dc_buf_appendf(&q.sql, " OFFSET %lld", (long long)qc.skip) == DC_OK);
    rv = pg_run(s, do_query, &qc, eb);
out:
    for (int i = 0; i < q.nparams; i++)
        free(q.params[i]);
    dc_buf_cleanup(&q.sql);
    cJSON_Delete(doc);
    return rv;
}

/* ---- migrations and cleanup ---- */

static int do_migrate(struct pg_store *s, PGconn *c, void *ud, struct dc_errbuf *eb)
{
    char sql[512];
    const char *lock[1] = {"lock"};
    PGresult *r;
    int64_t level = 0;
    int rv;

    (void)ud;
    /* As upstream: the metadata table, a "lock" row locked FOR UPDATE inside the migration
     * transaction, then the level in "migrations". */
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s (key text NOT NULL PRIMARY KEY, value text NOT NULL)",
             s->mdtable);
    rv = pg_cmd(c, sql, 0, NULL, "create metadata table", NULL, eb);
    if (rv == DC_ECONFLICT) /* a concurrent CREATE of the same type name: once more */
        rv = pg_cmd(c, sql, 0, NULL, "create metadata table", NULL, eb);
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (key, value) VALUES ($1, 'lock') ON CONFLICT (key) DO NOTHING",
             s->mdtable);
    if (rv == DC_OK)
        rv = pg_cmd(c, sql, 1, lock, "migration lock row", NULL, eb);
    if (rv == DC_OK)
        rv = pg_cmd(c, "BEGIN", 0, NULL, "begin", NULL, eb);
    snprintf(sql, sizeof(sql), "SELECT value FROM %s WHERE key = $1 FOR UPDATE", s->mdtable);
    if (rv == DC_OK)
        rv = pg_cmd(c, sql, 1, lock, "migration lock", NULL, eb);
    if (rv != DC_OK)
        return rv;
    snprintf(sql, sizeof(sql), "SELECT value FROM %s WHERE key = 'migrations'", s->mdtable);
    r = pg_exec(c, sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rv = pg_fail(c, r, "read migration level", eb);
    } else if (PQntuples(r) == 1 &&
               dc_str_to_i64(PQgetvalue(r, 0, 0), 0, INT32_MAX, &level) != DC_OK) {
        rv = dc_err_set(eb, DC_EIO, "invalid migration level found in metadata table: %s",
                        PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    /* Both steps are idempotent and run at every level: with a shared metadata table, the level
     * says nothing about this component's tableName (upstream would skip creating it). */
    if (rv == DC_OK) {
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE IF NOT EXISTS %s (key text NOT NULL PRIMARY KEY, "
                 "value jsonb NOT NULL, isbinary boolean NOT NULL, "
                 "insertdate TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(), "
                 "updatedate TIMESTAMP WITH TIME ZONE NULL)",
                 s->table);
        rv = pg_cmd(c, sql, 0, NULL, "create state table", NULL, eb);
    }
    if (rv == DC_OK) {
        snprintf(sql, sizeof(sql),
                 "ALTER TABLE %s ADD COLUMN IF NOT EXISTS expiredate TIMESTAMP WITH TIME ZONE",
                 s->table);
        rv = pg_cmd(c, sql, 0, NULL, "add expiredate column", NULL, eb);
    }
    if (rv == DC_OK && level < PG_MIGRATION_LEVEL) {
        const char *lv[1] = {"2"};
        snprintf(sql, sizeof(sql),
                 "INSERT INTO %s (key, value) VALUES ('migrations', $1) "
                 "ON CONFLICT (key) DO UPDATE SET value = $1",
                 s->mdtable);
        rv = pg_cmd(c, sql, 1, lv, "update migration level", NULL, eb);
    }
    if (rv == DC_OK)
        rv = pg_cmd(c, "COMMIT", 0, NULL, "commit", NULL, eb);
    return rv;
}

static int do_cleanup(struct pg_store *s, PGconn *c, void *ud, struct dc_errbuf *eb)
{
    char sql[512], ms[24];
    const char *params[1] = {ms};
    int64_t rows = 0, deleted = 0;
    int rv;

    (void)ud;
    /* Only one sidecar per interval wins the update of "last-cleanup" and deletes. */
    snprintf(ms, sizeof(ms), "%lld", (long long)(s->cleanup_ms > 100 ? s->cleanup_ms - 100 : 0));
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (key, value) VALUES ('last-cleanup', CURRENT_TIMESTAMP::text) "
             "ON CONFLICT (key) DO UPDATE SET value = CURRENT_TIMESTAMP::text "
             "WHERE (EXTRACT('epoch' FROM CURRENT_TIMESTAMP - "
             "%s.value::timestamp with time zone) * 1000)::bigint > $1::bigint",
             s->mdtable, s->mdtable);
    rv = pg_cmd(c, sql, 1, params, "update last-cleanup", &rows, eb);
    if (rv != DC_OK || rows != 1)
        return rv;
    snprintf(sql, sizeof(sql),
             "DELETE FROM %s WHERE expiredate IS NOT NULL AND expiredate < CURRENT_TIMESTAMP",
             s->table);
    rv = pg_cmd(c, sql, 0, NULL, "delete expired rows", &deleted, eb);
    if (rv == DC_OK && deleted > 0)
        DC_LOG(DC_LOG_DEBUG, "postgres state store: removed %lld expired rows", (long long)deleted);
    return rv;
}

static void *cleanup_main(void *arg)
{
    struct pg_store *s = arg;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct timespec until;
        struct dc_errbuf eb = {0};

        until = dc_timespec_in(CLOCK_MONOTONIC, s->cleanup_ms * DC_NS_PER_MS);
        while (!s->stopping && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT) {
        }
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->mu);
        if (pg_run(s, do_cleanup, NULL, &eb) != DC_OK)
            DC_LOG(DC_LOG_WARN, "postgres state store: cleanup of expired rows failed: %s", eb.msg);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- lifecycle ---- */

static void pg_close(void *self)
{
    struct pg_store *s = self;

    if (s == NULL)
        return;
    if (s->gc_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->gc, NULL);
    }
    dc_pool_free(s->pool);
    for (size_t i = 0; i < s->nkw; i++) {
        free(s->kw[i]);
        if (s->val[i] != NULL)
            memset(s->val[i], 0, strlen(s->val[i]));
        free(s->val[i]);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int pg_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    struct pg_store *s;
    pthread_condattr_t ca;
    int rv;

    (void)ctx;
    rv = sdc__pq_load(eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "postgres state store");
        return rv;
    }
    s = dc_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    rv = parse_metadata(s, md, eb);
    if (rv == DC_OK) {
        struct dc_pool_config pc = {s->max_conns, s->timeout_ms, pool_connect, sdc_pg_pool_close,
                                    s};
        rv = dc_pool_new(&s->pool, &pc, eb);
    }
    if (rv == DC_OK)
        rv = pg_run(s, do_migrate, NULL, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "postgres state store");
        pg_close(s);
        return rv;
    }
    if (s->cleanup_ms > 0) {
        if (pthread_create(&s->gc, NULL, cleanup_main, s) != 0) {
            pg_close(s);
            return dc_err_set(eb, DC_EIO, "postgres state store: cannot start cleanup thread");
        }
        s->gc_started = true;
    }
    *self = s;
    return DC_OK;
}

static const struct sdc_state_ops postgres_ops = {
    .base = {.init = pg_init, .close = pg_close},
    .features = SDC_STATE_F_ETAG | SDC_STATE_F_TRANSACTIONAL | SDC_STATE_F_TTL |
                SDC_STATE_F_KEYS_LIKE | SDC_STATE_F_QUERY_API,
    .get = pg_get,
    .set = pg_set,
    .del = pg_del,
    .multi = pg_multi,
    .query = pg_query,
};

const struct sdc_component_type sdc_type_state_postgresql = {"state.postgresql", "v1",
                                                             SDC_CAT_STATE, &postgres_ops.base};
const struct sdc_component_type sdc_type_state_postgres = {"state.postgres", "v1", SDC_CAT_STATE,
                                                           &postgres_ops.base};
