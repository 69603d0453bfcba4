/* state.sqlite / state.sqlite3 (v1): components-contrib's SQLite store on the system libsqlite3,
 * with upstream's tables, so daprd and an upstream sidecar can share one database file:
 *
 *   <tableName> (key TEXT PRIMARY KEY, value TEXT, is_binary BOOLEAN, etag TEXT,
 *                expiration_time TIMESTAMP, update_time TIMESTAMP)
 *   <metadataTableName> (key TEXT PRIMARY KEY, value TEXT): 'migrations' = '1', 'last-cleanup'
 *
 * ETags are random UUIDs, expiry times are SQLite's "YYYY-MM-DD HH:MM:SS" UTC text, values are
 * JSON text (is_binary = 1 rows hold base64, written by gRPC clients upstream; they are decoded
 * on read).
 *
 * One connection guarded by a mutex serves every thread (WAL journal unless disableWAL), with
 * the statements prepared once. The `timeout` metadata bounds each operation through a
 * progress handler; `busyTimeout` is SQLite's busy timeout; `cleanupInterval` > 0 deletes
 * expired rows from a write at most that often (no background thread). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "dc/base64.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/rand.h"
#include "dc/str.h"
#include "dc/time.h"

#include "state_store.h"

enum stmt_id {
    ST_GET = 0,
    ST_SET,
    ST_SET_FIRST,
    ST_SET_ETAG,
    ST_DEL,
    ST_DEL_ETAG,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_CLEANUP,
    ST_LAST_CLEANUP,
    ST_COUNT,
};

struct sq {
    pthread_mutex_t lock;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int64_t timeout_ns;
    int64_t deadline_ns; /* of the operation running now (lock held) */
    int64_t cleanup_ns;  /* 0: no periodic cleanup */
    int64_t next_cleanup_ns;
};

/* The expiry expression of a write: parameter ?5 holds ttlInSeconds (<= 0: none). */
#define EXPIRY "CASE WHEN ?5 > 0 THEN DATETIME(CURRENT_TIMESTAMP, '+' || ?5 || ' seconds') END"
#define LIVE "(expiration_time IS NULL OR expiration_time > CURRENT_TIMESTAMP)"

static int sq_err(struct sq *s, int rc, struct dc_errbuf *eb)
{
    int code = DC_EIO;

    if (rc == SQLITE_INTERRUPT)
        return dc_err_set(eb, DC_ETIMEDOUT, "operation timed out");
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        code = DC_EUNAVAIL;
    return dc_err_set(eb, code, "%s", sqlite3_errmsg(s->db));
}

static int on_progress(void *p)
{
    const struct sq *s = p;

    return s->deadline_ns > 0 && dc_mono_ns() > s->deadline_ns;
}

static void begin_op(struct sq *s)
{
    pthread_mutex_lock(&s->lock);
    s->deadline_ns = s->timeout_ns > 0 ? dc_mono_ns() + s->timeout_ns : 0;
}

static void end_op(struct sq *s)
{
    s->deadline_ns = 0;
    pthread_mutex_unlock(&s->lock);
}

/* Run a prepared statement that returns no rows; resets it. */
static int run(struct sq *s, sqlite3_stmt *st, struct dc_errbuf *eb)
{
    int rc = sqlite3_step(st);
    int rv = DC_OK;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        rv = sq_err(s, rc, eb);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rv;
}

/* Standard base64 with padding into `out`. */
static int b64_decode(const unsigned char *in, size_t n, struct dc_buf *out, struct dc_errbuf *eb)
{
    uint32_t acc = 0;
    int bits = 0;

    while (n > 0 && in[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = dc_base64_value(in[i], false);
        if (v < 0)
            return dc_err_set(eb, DC_EIO, "failed to decode binary data: illegal base64 data");
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (dc_buf_appendc(out, (char)((acc >> bits) & 0xff)) != DC_OK)
                return dc_err_set(eb, DC_ENOMEM, "value too large");
        }
    }
    return DC_OK;
}

static void bind_key(sqlite3_stmt *st, int i, const char *key)
{
    sqlite3_bind_text(st, i, key, -1, SQLITE_STATIC);
}

/* ---- operations (lock held) -------------------------------------------------------------- */

static int do_get(struct sq *s, const struct sdc_state_get *req, struct sdc_state_value *out,
                  struct dc_errbuf *eb)
{
    sqlite3_stmt *st = s->st[ST_GET];
    int rc, rv = DC_OK;

    out->found = false;
    bind_key(st, 1, req->key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const unsigned char *etag = sqlite3_column_text(st, 2);

        if (sqlite3_column_int(st, 1) != 0)
            rv = b64_decode(v != NULL ? v : (const unsigned char *)"", n, &out->data, eb);
        else if (n > 0)
            rv = dc_buf_append(&out->data, v, n);
        if (rv == DC_OK && out->data.data == NULL)
            rv = dc_buf_reserve(&out->data, 1);
        out->found = rv == DC_OK;
        dc_strlcpy(out->etag, etag != NULL ? (const char *)etag : "", sizeof(out->etag));
        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            out->expire_unix_ms = sqlite3_column_int64(st, 3) * 1000;
    } else if (rc != SQLITE_DONE) {
        rv = sq_err(s, rc, eb);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rv;
}

static int do_set(struct sq *s, const struct sdc_state_set *req, struct dc_errbuf *eb)
{
    enum stmt_id id = ST_SET;
    sqlite3_stmt *st;
    char etag[37];
    int rv;

    if (req->etag != NULL)
        id = ST_SET_ETAG;
    else if (req->concurrency == SDC_STATE_FIRST_WRITE)
        id = ST_SET_FIRST;
    st = s->st[id];
    dc_uuid4(etag);
    bind_key(st, 1, req->key);
    sqlite3_bind_text(st, 2, req->value != NULL ? req->value : "", (int)req->value_len,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 3, etag, -1, SQLITE_TRANSIENT);
    if (req->etag != NULL)
        sqlite3_bind_text(st, 4, req->etag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, req->has_ttl ? req->ttl_s : 0);
    rv = run(s, st, eb);
    if (rv == DC_OK && id != ST_SET && sqlite3_changes(s->db) == 0) {
        dc_err_clear(eb); /* upstream's ETag error carries no detail here */
        return DC_ECONFLICT;
    }
    return rv;
}

static int do_del(struct sq *s, const struct sdc_state_del *req, struct dc_errbuf *eb)
{
    sqlite3_stmt *st = s->st[req->etag != NULL ? ST_DEL_ETAG : ST_DEL];
    int rv;

    bind_key(st, 1, req->key);
    if (req->etag != NULL)
        sqlite3_bind_text(st, 2, req->etag, -1, SQLITE_STATIC);
    rv = run(s, st, eb);
    if (rv == DC_OK && req->etag != NULL && sqlite3_changes(s->db) == 0) {
        dc_err_clear(eb);
        return DC_ECONFLICT;
    }
    return rv;
}

/* Delete expired rows when cleanupInterval says it is time (lock held; best effort). */
static void maybe_cleanup(struct sq *s)
{
    struct dc_errbuf eb = {0};
    int64_t now;

    if (s->cleanup_ns <= 0)
        return;
    now = dc_mono_ns();
    if (now < s->next_cleanup_ns)
        return;
    s->next_cleanup_ns = now + s->cleanup_ns;
    if (run(s, s->st[ST_CLEANUP], &eb) != DC_OK || run(s, s->st[ST_LAST_CLEANUP], &eb) != DC_OK)
        DC_LOG(DC_LOG_WARN, "state.sqlite: removing expired rows: %s", eb.msg);
}

static int sq_get(void *self, const struct sdc_state_get *req, struct sdc_state_value *out,
                  struct dc_errbuf *eb)
{
    struct sq *s = self;
    int rv;

    begin_op(s);
    rv = do_get(s, req, out, eb);
    end_op(s);
    return rv;
}

static int sq_set(void *self, const struct sdc_state_set *req, struct dc_errbuf *eb)
{
    struct sq *s = self;
    int rv;

    begin_op(s);
    maybe_cleanup(s);
    rv = do_set(s, req, eb);
    end_op(s);
    return rv;
}

static int sq_del(void *self, const struct sdc_state_del *req, struct dc_errbuf *eb)
{
    struct sq *s = self;
    int rv;

    begin_op(s);
    rv = do_del(s, req, eb);
    end_op(s);
    return rv;
}

static int sq_multi(void *self, const struct sdc_state_op *ops, size_t n, struct dc_errbuf *eb)
{
    struct sq *s = self;
    struct dc_errbuf ignored = {0};
    int rv;

    begin_op(s);
    rv = run(s, s->st[ST_BEGIN], eb);
    for (size_t i = 0; i < n && rv == DC_OK; i++) {
        if (ops[i].kind == SDC_STATE_OP_UPSERT)
            rv = do_set(s, &ops[i].set, eb);
        else
            rv = do_del(s, &ops[i].del, eb);
    }
    if (rv == DC_OK)
        rv = run(s, s->st[ST_COMMIT], eb);
    if (rv != DC_OK && !sqlite3_get_autocommit(s->db)) {
        /* The rollback must not be cut short by the operation deadline. */
        s->deadline_ns = 0;
        (void)run(s, s->st[ST_ROLLBACK], &ignored);
    }
    end_op(s);
    return rv;
}

/* ---- init -------------------------------------------------------------------------------- */

/* Table names go into SQL text: letters, digits and '_' only (upstream's ValidIdentifier). */
static bool valid_ident(const char *s)
{
    if (dc_str_empty(s) || strlen(s) > 64)
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static int exec(struct sq *s, const char *sql, struct dc_errbuf *eb)
{
    char *err = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);

    if (rc != SQLITE_OK) {
        dc_err_set(eb, rc == SQLITE_BUSY ? DC_EUNAVAIL : DC_EIO, "%s", err ? err : "sqlite error");
        sqlite3_free(err);
        return rc == SQLITE_BUSY ? DC_EUNAVAIL : DC_EIO;
    }
    return DC_OK;
}

static int duration_md(const struct sdc_md *md, const char *name, const char *def, int64_t *ns,
                       struct dc_errbuf *eb)
{
    const char *v = sdc_md_get_or(md, name, def);

    /* Upstream also accepts a bare number of seconds. */
    if (dc_str_to_i64(v, 0, INT64_MAX / DC_NS_PER_SEC, ns) == DC_OK) {
        *ns *= DC_NS_PER_SEC;
        return DC_OK;
    }
    if (dc_duration_parse(v, ns, eb) != DC_OK) {
        dc_err_wrapf(eb, "invalid value for '%s'", name);
        return DC_EINVAL;
    }
    return DC_OK;
}

/* Create the tables as upstream's migrations do (level 1), in one transaction. */
static int migrate(struct sq *s, const char *table, const char *mdtable, struct dc_errbuf *eb)
{
    char sql[1024];
    sqlite3_stmt *st = NULL;
    int level = 0, rv;

    rv = exec(s, "BEGIN IMMEDIATE", eb);
    if (rv != DC_OK)
        return rv;
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s (key text NOT NULL PRIMARY KEY, value text NOT NULL)",
             mdtable);
    rv = exec(s, sql, eb);
    if (rv != DC_OK)
        goto out;
    snprintf(sql, sizeof(sql), "SELECT value FROM %s WHERE key = 'migrations'", mdtable);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rv = sq_err(s, SQLITE_ERROR, eb);
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        level = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (level < 1) {
        DC_LOG(DC_LOG_INFO, "state.sqlite: creating state table '%s'", table);
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE IF NOT EXISTS %s (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT "
                 "NULL, is_binary BOOLEAN NOT NULL, etag TEXT NOT NULL, expiration_time "
                 "TIMESTAMP DEFAULT NULL, update_time TIMESTAMP NOT NULL DEFAULT "
                 "CURRENT_TIMESTAMP); REPLACE INTO %s (key, value) VALUES ('migrations', '1')",
                 table, mdtable);
        rv = exec(s, sql, eb);
        if (rv != DC_OK)
            goto out;
    }
    rv = exec(s, "COMMIT", eb);
out:
    if (rv != DC_OK)
        (void)exec(s, "ROLLBACK", NULL);
    return rv;
}

static int prepare_all(struct sq *s, const char *t, const char *mdt, struct dc_errbuf *eb)
{
    char sql[ST_COUNT][512];

    snprintf(sql[ST_GET], sizeof(sql[0]),
             "SELECT value, is_binary, etag, unixepoch(expiration_time) FROM %s WHERE key = ?1 "
             "AND " LIVE,
             t);
    snprintf(sql[ST_SET], sizeof(sql[0]),
             "INSERT OR REPLACE INTO %s (key, value, is_binary, etag, update_time, "
             "expiration_time) VALUES (?1, ?2, 0, ?3, CURRENT_TIMESTAMP, " EXPIRY ")",
             t);
    /* First write: an expired row that was not collected yet counts as deleted. */
    snprintf(sql[ST_SET_FIRST], sizeof(sql[0]),
             "INSERT OR REPLACE INTO %s (key, value, is_binary, etag, expiration_time, "
             "update_time) SELECT ?1, ?2, 0, ?3, " EXPIRY ", CURRENT_TIMESTAMP WHERE NOT EXISTS "
             "(SELECT 1 FROM %s WHERE key = ?1 AND " LIVE ")",
             t, t);
    snprintf(sql[ST_SET_ETAG], sizeof(sql[0]),
             "UPDATE %s SET value = ?2, etag = ?3, is_binary = 0, update_time = "
             "CURRENT_TIMESTAMP, expiration_time = " EXPIRY " WHERE key = ?1 AND etag = ?4 "
             "AND " LIVE,
             t);
    snprintf(sql[ST_DEL], sizeof(sql[0]), "DELETE FROM %s WHERE key = ?1", t);
    snprintf(sql[ST_DEL_ETAG], sizeof(sql[0]), "DELETE FROM %s WHERE key = ?1 AND etag = ?2", t);
    snprintf(sql[ST_BEGIN], sizeof(sql[0]), "BEGIN IMMEDIATE");
    snprintf(sql[ST_COMMIT], sizeof(sql[0]), "COMMIT");
    snprintf(sql[ST_ROLLBACK], sizeof(sql[0]), "ROLLBACK");
    snprintf(sql[ST_CLEANUP], sizeof(sql[0]),
             "DELETE FROM %s WHERE expiration_time IS NOT NULL AND expiration_time < "
             "CURRENT_TIMESTAMP",
             t);
    snprintf(sql[ST_LAST_CLEANUP], sizeof(sql[0]),
             "INSERT INTO %s (key, value) VALUES ('last-cleanup', CURRENT_TIMESTAMP) ON "
             "CONFLICT (key) DO UPDATE SET value = CURRENT_TIMESTAMP",
             mdt);
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
            SQLITE_OK)
            return dc_err_set(eb, DC_EIO, "preparing statement: %s", sqlite3_errmsg(s->db));
    }
    return DC_OK;
}

static void sq_close(void *self)
{
    struct sq *s = self;

    if (s == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int sq_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    struct sq *s = dc_xcalloc(1, sizeof(*s));
    const char *conn = sdc_md_get(md, "connectionString");
    const char *table = sdc_md_get_or(md, "tableName", "state");
    const char *mdtable = sdc_md_get_or(md, "metadataTableName", "metadata");
    const char *wal = sdc_md_get_or(md, "disableWAL", "false");
    bool disable_wal = false, memdb;
    int64_t busy_ns;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rv;

    (void)ctx;
    pthread_mutex_init(&s->lock, NULL);
    if (dc_str_empty(conn)) {
        rv = dc_err_set(eb, DC_EINVAL, "missing connection string");
        goto fail;
    }
    if (!valid_ident(table) || !valid_ident(mdtable)) {
        rv = dc_err_set(eb, DC_EINVAL, "invalid identifier: '%s'",
                        valid_ident(table) ? mdtable : table);
        goto fail;
    }
    if (dc_str_to_bool(wal, &disable_wal) != DC_OK) {
        rv = dc_err_set(eb, DC_EINVAL, "invalid value for 'disableWAL': %s", wal);
        goto fail;
    }
    rv = duration_md(md, "timeout", "20s", &s->timeout_ns, eb);
    if (rv == DC_OK)
        rv = duration_md(md, "busyTimeout", "2s", &busy_ns, eb);
    if (rv == DC_OK)
        rv = duration_md(md, "cleanupInterval", "0s", &s->cleanup_ns, eb);
    if (rv != DC_OK)
        goto fail;
    /* A "file:" URI keeps its parameters (mode=ro...); anything else is a plain path,
     * relative to daprd's working directory. */
    if (dc_str_has_prefix(conn, "file:"))
        flags |= SQLITE_OPEN_URI;
    memdb = strcmp(conn, ":memory:") == 0 || strstr(conn, "mode=memory") != NULL;
    if (sqlite3_open_v2(conn, &s->db, flags, NULL) != SQLITE_OK) {
        rv = dc_err_set(eb, DC_EIO, "failed to open %s: %s", conn,
                        s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, (int)(busy_ns / DC_NS_PER_MS));
    sqlite3_progress_handler(s->db, 1000, on_progress, s);
    if (!disable_wal && !memdb) {
        rv = exec(s, "PRAGMA journal_mode=WAL", eb);
        if (rv != DC_OK)
            goto fail;
        /* In WAL mode NORMAL keeps commits durable across a crash of daprd (not of the OS),
         * as the Go driver's defaults do. */
        rv = exec(s, "PRAGMA synchronous=NORMAL", eb);
        if (rv != DC_OK)
            goto fail;
    }
    rv = migrate(s, table, mdtable, eb);
    if (rv == DC_OK)
        rv = prepare_all(s, table, mdtable, eb);
    if (rv != DC_OK)
        goto fail;
    *self = s;
    return DC_OK;
fail:
    sq_close(s);
    return rv;
}

static const struct sdc_state_ops sq_ops = {
    .base = {.init = sq_init, .close = sq_close},
    .features =
        SDC_STATE_F_ETAG | SDC_STATE_F_TRANSACTIONAL | SDC_STATE_F_TTL | SDC_STATE_F_KEYS_LIKE,
    .get = sq_get,
    .set = sq_set,
    .del = sq_del,
    .multi = sq_multi,
};

const struct sdc_component_type sdc_type_state_sqlite = {"state.sqlite", "v1", SDC_CAT_STATE,
                                                         &sq_ops.base};
const struct sdc_component_type sdc_type_state_sqlite3 = {"state.sqlite3", "v1", SDC_CAT_STATE,
                                                          &sq_ops.base};
