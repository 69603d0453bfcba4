/* nameresolution.sqlite (sidecar-api.md §22.8): a SQLite file shared by every sidecar of the
 * host, in upstream's layout (components-contrib nameresolution/sqlite), so upstream daprd and
 * ours can share it:
 *   metadata(key text NOT NULL PRIMARY KEY, value text NOT NULL)
 *     'nr-migrations' = '1', 'nr-last-cleanup' = CURRENT_TIMESTAMP of the last cleanup;
 *   hosts(registration_id TEXT NOT NULL PRIMARY KEY, address TEXT NOT NULL, app_id TEXT NOT
 *     NULL, namespace TEXT NOT NULL, last_update INTEGER NOT NULL), unique index on address,
 *     index on last_update (unix seconds).
 * A row is live while unixepoch(now) - last_update < updateInterval; the heartbeat thread
 * refreshes it every updateInterval - timeout, as upstream does. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/rand.h"
#include "dc/str.h"
#include "dc/time.h"

#include "nameres_internal.h"

#define SEC 1000000000LL
#define MS 1000000LL
#define CONN_MAX 4096
#define SQL_MAX 2048
/* Stale rows are deleted by the periodic cleanup after this many update intervals. */
#define STALE_INTERVALS 3
#define LOOKUP_SQL                                                                                 \
    "SELECT address FROM %s WHERE app_id = ?1 AND (namespace = ?2 OR namespace = '') AND "         \
    "unixepoch(CURRENT_TIMESTAMP) - last_update < ?3 LIMIT ?4"

struct nr_sqlite {
    char table[64];
    char meta[64];
    int64_t update_ns, cleanup_ns, timeout_ns, busy_ms;

    /* Lookups: one connection and statement, guarded by `mu`, opened by the first lookup (a
     * sidecar that is only called, never calls, does not pay for the connection's memory). */
    pthread_mutex_t mu;
    sqlite3 *db;
    sqlite3_stmt *sel;
    int64_t deadline; /* dc_mono_ns of the running query, for the progress handler */
    char *uri;
    const char *journal;

    /* Registration: the heartbeat thread's own connection (also used by new/free). */
    sqlite3 *hb;
    int64_t hb_deadline;
    bool registered;
    char reg_id[40];
    char address[SDC__NR_ADDR_LEN];
    char *app_id;
    char *ns;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stop;
};

/* ---- Connection ----------------------------------------------------------------------- */

/* Upstream's SqliteAuthMetadata.ValidIdentifier. */
static bool valid_ident(const char *s)
{
    if (dc_str_empty(s))
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '_'))
            return false;
    }
    return true;
}

static bool is_memory(const char *conn)
{
    return dc_str_has_prefix(conn, ":memory:") || dc_str_has_prefix(conn, "file::memory:") ||
           dc_str_has_prefix(conn, "FILE::memory:");
}

static bool query_has(const char *conn, const char *param)
{
    const char *q = strchr(conn, '?');
    size_t n = strlen(param);

    while (q != NULL) {
        q++;
        if (strncmp(q, param, n) == 0)
            return true;
        q = strchr(q, '&');
    }
    return false;
}

/* The URI handed to sqlite3_open_v2: "file:" added when missing (as upstream), cache=shared
 * for in-memory databases. The driver options upstream rejects are rejected too; other driver
 * options (_txlock, _pragma) are ignored by SQLite's URI parser. */
static int build_uri(char *out, size_t cap, const char *conn, struct dc_errbuf *eb)
{
    const char *q = strchr(conn, '?');
    char lc[CONN_MAX];
    size_t n;

    dc_strlcpy(lc, q != NULL ? q : "", sizeof(lc));
    for (char *p = lc; *p != '\0'; p++)
        *p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    if (strstr(lc, "_pragma=busy_timeout") != NULL)
        return dc_err_set(eb, DC_EINVAL,
                          "found forbidden option '_pragma=busy_timeout' in the "
                          "connection string; use busyTimeout");
    if (strstr(lc, "_pragma=journal_mode") != NULL)
        return dc_err_set(eb, DC_EINVAL,
                          "found forbidden option '_pragma=journal_mode' in the "
                          "connection string; use disableWAL");
    if (strstr(lc, "_pragma=foreign_keys") != NULL)
        return dc_err_set(eb, DC_EINVAL,
                          "found forbidden option '_pragma=foreign_keys' in the connection string");
    if (is_memory(conn) && strncmp(conn, "file:", 5) != 0)
        n = (size_t)snprintf(out, cap, "file:%s", conn);
    else if (dc_str_has_prefix(conn, "file:") || dc_str_has_prefix(conn, "FILE:"))
        n = (size_t)snprintf(out, cap, "%s", conn);
    else
        n = (size_t)snprintf(out, cap, "file:%s", conn);
    if (n < cap && is_memory(conn) && !query_has(conn, "cache="))
        n += (size_t)snprintf(out + n, cap - n, "%scache=shared", q != NULL ? "&" : "?");
    if (n >= cap)
        return dc_err_set(eb, DC_ETOOBIG, "name resolution: connection string too long");
    return DC_OK;
}

static int progress_cb(void *arg)
{
    const int64_t *deadline = arg;
    return *deadline != 0 && dc_mono_ns() > *deadline;
}

static int db_err(sqlite3 *db, struct dc_errbuf *eb, const char *what)
{
    return dc_err_set(eb, DC_EIO, "name resolution: %s: %s", what,
                      db != NULL ? sqlite3_errmsg(db) : "cannot allocate");
}

static int open_db(sqlite3 **out, const char *uri, const char *journal, struct nr_sqlite *s,
                   int64_t *deadline, struct dc_errbuf *eb)
{
    char sql[64];
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        uri, &db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX, NULL);

    if (rc != SQLITE_OK) {
        int rv = db_err(db, eb, "cannot open the database");
        sqlite3_close(db);
        return rv;
    }
    if (s->busy_ms > 0)
        sqlite3_busy_timeout(db, (int)s->busy_ms);
    sqlite3_progress_handler(db, 1000, progress_cb, deadline);
    snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", journal);
    /* The journal mode can fail transiently when another sidecar holds the file; SQLite keeps
     * the previous mode then, which is still correct. */
    (void)sqlite3_exec(db, sql, NULL, NULL, NULL);
    *out = db;
    return DC_OK;
}

static int exec_sql(sqlite3 *db, const char *sql, struct dc_errbuf *eb, const char *what)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_err(db, eb, what);
    return DC_OK;
}

/* Upstream's migrations: metadata table, then migration 1 (hosts table) in an exclusive
 * transaction, with the level kept under 'nr-migrations'. */
static int migrate(struct nr_sqlite *s, struct dc_errbuf *eb)
{
    char sql[SQL_MAX];
    sqlite3_stmt *st = NULL;
    int level = 0, rv;

    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s (key text NOT NULL PRIMARY KEY, value text NOT NULL)",
             s->meta);
    rv = exec_sql(s->hb, sql, eb, "failed to create the metadata table");
    if (rv != DC_OK)
        return rv;
    rv = exec_sql(s->hb, "BEGIN EXCLUSIVE TRANSACTION", eb, "failed to begin transaction");
    if (rv != DC_OK)
        return rv;
    snprintf(sql, sizeof(sql), "SELECT value FROM %s WHERE key = 'nr-migrations'", s->meta);
    if (sqlite3_prepare_v2(s->hb, sql, -1, &st, NULL) != SQLITE_OK) {
        rv = db_err(s->hb, eb, "failed to read migration level");
        goto rollback;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        int64_t l;
        if (v == NULL || dc_str_to_i64(v, 0, 1000, &l) != DC_OK) {
            rv = dc_err_set(eb, DC_EIO, "invalid migration level found in metadata table: %s",
                            v != NULL ? v : "");
            goto rollback;
        }
        level = (int)l;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (level < 1) {
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE %s (registration_id TEXT NOT NULL PRIMARY KEY, address TEXT NOT "
                 "NULL, app_id TEXT NOT NULL, namespace TEXT NOT NULL, last_update INTEGER NOT "
                 "NULL); CREATE UNIQUE INDEX %s_address_idx ON %s (address); CREATE INDEX "
                 "%s_last_update_idx ON %s (last_update); REPLACE INTO %s (key, value) "
                 "VALUES ('nr-migrations', '1')",
                 s->table, s->table, s->table, s->table, s->table, s->meta);
        rv = exec_sql(s->hb, sql, eb, "failed to create hosts table");
        if (rv != DC_OK)
            goto rollback;
    }
    return exec_sql(s->hb, "COMMIT TRANSACTION", eb, "failed to commit transaction");
rollback:
    sqlite3_finalize(st);
    (void)sqlite3_exec(s->hb, "ROLLBACK TRANSACTION", NULL, NULL, NULL);
    return rv;
}

/* ---- Registration and heartbeat ------------------------------------------------------- */

/* Run one statement on the heartbeat connection with the timeout; returns the changed rows
 * or a negative code. */
static int hb_exec(struct nr_sqlite *s, const char *sql, bool with_ns, struct dc_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc, changes;

    s->hb_deadline = dc_mono_ns() + s->timeout_ns;
    if (sqlite3_prepare_v2(s->hb, sql, -1, &st, NULL) != SQLITE_OK) {
        s->hb_deadline = 0;
        return db_err(s->hb, eb, "prepare");
    }
    sqlite3_bind_text(st, 1, s->reg_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->address, -1, SQLITE_STATIC);
    if (with_ns) {
        sqlite3_bind_text(st, 3, s->app_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, s->ns, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    s->hb_deadline = 0;
    if (rc != SQLITE_DONE)
        return db_err(s->hb, eb, "query");
    changes = sqlite3_changes(s->hb);
    return changes;
}

/* REPLACE takes over a previous registration of the same address (unique index), as
 * upstream's registerHost. */
static int do_register(struct nr_sqlite *s, struct dc_errbuf *eb)
{
    char sql[SQL_MAX];
    int n;

    dc_uuid4(s->reg_id); /* as upstream's uuid.NewRandom().String() */
    snprintf(sql, sizeof(sql),
             "REPLACE INTO %s (registration_id, address, app_id, namespace, last_update) VALUES "
             "(?1, ?2, ?3, ?4, unixepoch(CURRENT_TIMESTAMP))",
             s->table);
    n = hb_exec(s, sql, true, eb);
    if (n < 0) {
        dc_err_wrapf(eb, "failed to register host");
        return n;
    }
    s->registered = true;
    return DC_OK;
}

static void renew(struct nr_sqlite *s)
{
    char sql[SQL_MAX];
    struct dc_errbuf eb = {0};
    int n;

    snprintf(sql, sizeof(sql),
             "UPDATE %s SET last_update = unixepoch(CURRENT_TIMESTAMP) WHERE registration_id = "
             "?1 AND address = ?2",
             s->table);
    n = hb_exec(s, sql, false, &eb);
    if (n < 0) {
        DC_LOG(DC_LOG_ERROR, "Failed to update host registration: %s", eb.msg);
        return;
    }
    if (n == 0) {
        /* Upstream exits here ("Host registration lost"); re-registering keeps us reachable
         * when another sidecar's cleanup or a takeover of the address removed the row. */
        DC_LOG(DC_LOG_WARN, "name resolution: host registration lost; registering again");
        if (do_register(s, &eb) != DC_OK)
            DC_LOG(DC_LOG_ERROR, "name resolution: %s", eb.msg);
    }
}

/* Upstream's garbage collector, coordinated through 'nr-last-cleanup' so that one sidecar per
 * cleanupInterval does it. It deletes rows stale for STALE_INTERVALS update intervals
 * (upstream's query has the comparison reversed and would delete live rows). */
static void cleanup(struct nr_sqlite *s)
{
    char sql[SQL_MAX];
    int64_t every = s->cleanup_ns / SEC - 1;

    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (key, value) VALUES ('nr-last-cleanup', CURRENT_TIMESTAMP) ON "
             "CONFLICT (key) DO UPDATE SET value = CURRENT_TIMESTAMP WHERE "
             "unixepoch(CURRENT_TIMESTAMP) - unixepoch(value) > %lld",
             s->meta, (long long)(every > 0 ? every : 0));
    s->hb_deadline = dc_mono_ns() + s->timeout_ns;
    if (sqlite3_exec(s->hb, sql, NULL, NULL, NULL) != SQLITE_OK) {
        DC_LOG(DC_LOG_ERROR, "name resolution: cleanup: %s", sqlite3_errmsg(s->hb));
    } else if (sqlite3_changes(s->hb) > 0) {
        snprintf(sql, sizeof(sql),
                 "DELETE FROM %s WHERE unixepoch(CURRENT_TIMESTAMP) - last_update >= %lld",
                 s->table, (long long)(STALE_INTERVALS * (s->update_ns / SEC)));
        if (sqlite3_exec(s->hb, sql, NULL, NULL, NULL) != SQLITE_OK)
            DC_LOG(DC_LOG_ERROR, "name resolution: cleanup: %s", sqlite3_errmsg(s->hb));
        else
            DC_LOG(DC_LOG_DEBUG, "name resolution: removed %d expired rows",
                   sqlite3_changes(s->hb));
    }
    s->hb_deadline = 0;
}

static void *heartbeat_main(void *arg)
{
    struct nr_sqlite *s = arg;
    int64_t period = s->update_ns - s->timeout_ns;
    int64_t next_gc = dc_mono_ns() + s->cleanup_ns;

    pthread_mutex_lock(&s->stop_mu);
    while (!s->stop) {
        struct timespec ts;
        int64_t at;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        at = (int64_t)ts.tv_sec * SEC + ts.tv_nsec + period;
        ts.tv_sec = (time_t)(at / SEC);
        ts.tv_nsec = (long)(at % SEC);
        while (!s->stop && pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &ts) == 0)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->stop_mu);
        if (s->registered)
            renew(s);
        if (s->cleanup_ns > 0 && dc_mono_ns() >= next_gc) {
            cleanup(s);
            next_gc = dc_mono_ns() + s->cleanup_ns;
        }
        pthread_mutex_lock(&s->stop_mu);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

/* ---- Configuration -------------------------------------------------------------------- */

static int read_conf(struct nr_sqlite *s, const cJSON *conf, struct dc_errbuf *eb)
{
    char buf[128];
    const char *v;
    int64_t busy;
    int rv;

    v = sdc__nr_conf_str(conf, "tableName", buf, sizeof(buf));
    if (v == NULL)
        v = "hosts";
    if (!valid_ident(v) || strlen(v) >= sizeof(s->table))
        return dc_err_set(eb, DC_EINVAL, "invalid identifier for table name: %s", v);
    dc_strlcpy(s->table, v, sizeof(s->table));
    v = sdc__nr_conf_str(conf, "metadataTableName", buf, sizeof(buf));
    if (v == NULL)
        v = "metadata";
    if (!valid_ident(v) || strlen(v) >= sizeof(s->meta))
        return dc_err_set(eb, DC_EINVAL, "invalid identifier for metadata table name: %s", v);
    dc_strlcpy(s->meta, v, sizeof(s->meta));
    rv = sdc__nr_conf_duration(conf, "updateInterval", SEC, 5 * SEC, &s->update_ns, eb);
    if (rv == DC_OK) {
        rv = sdc__nr_conf_duration(conf, "cleanupIntervalInSeconds", SEC, 3600 * SEC,
                                   &s->cleanup_ns, eb);
        if (rv == DC_OK)
            rv = sdc__nr_conf_duration(conf, "cleanupInterval", SEC, s->cleanup_ns, &s->cleanup_ns,
                                       eb);
    }
    if (rv == DC_OK) {
        rv = sdc__nr_conf_duration(conf, "timeoutInSeconds", SEC, SEC, &s->timeout_ns, eb);
        if (rv == DC_OK)
            rv = sdc__nr_conf_duration(conf, "timeout", SEC, s->timeout_ns, &s->timeout_ns, eb);
    }
    if (rv == DC_OK)
        rv = sdc__nr_conf_duration(conf, "busyTimeout", MS, 800 * MS, &busy, eb);
    if (rv != DC_OK)
        return rv;
    s->busy_ms = busy / MS;
    if (s->timeout_ns < SEC)
        return dc_err_set(eb, DC_EINVAL, "invalid value for 'timeout': must be greater than 1s");
    if (s->update_ns % SEC != 0)
        return dc_err_set(eb, DC_EINVAL, "update interval must not contain fractions of seconds");
    if (s->update_ns - s->timeout_ns < SEC)
        return dc_err_set(eb, DC_EINVAL,
                          "update interval must be at least 1s greater than timeout");
    return DC_OK;
}

static const char *journal_mode(const cJSON *conf, const char *conn)
{
    char buf[16];
    const char *v = sdc__nr_conf_str(conf, "disableWAL", buf, sizeof(buf));

    if (is_memory(conn))
        return "MEMORY";
    if (dc_str_truthy(v) || query_has(conn, "mode=ro") || query_has(conn, "immutable=1"))
        return "DELETE";
    return "WAL";
}

/* ---- Backend -------------------------------------------------------------------------- */

static void sqlite_free(void *impl)
{
    struct nr_sqlite *s = impl;
    struct dc_errbuf eb = {0};
    char sql[SQL_MAX];

    if (s == NULL)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->stop_mu);
        s->stop = true;
        pthread_cond_signal(&s->stop_cv);
        pthread_mutex_unlock(&s->stop_mu);
        pthread_join(s->thread, NULL);
    }
    if (s->registered && s->hb != NULL) {
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE registration_id = ?1 AND address = ?2",
                 s->table);
        if (hb_exec(s, sql, false, &eb) < 0)
            DC_LOG(DC_LOG_WARN, "name resolution: failed to unregister host: %s", eb.msg);
    }
    sqlite3_finalize(s->sel);
    sqlite3_close(s->db);
    sqlite3_close(s->hb);
    free(s->uri);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->stop_mu);
    pthread_cond_destroy(&s->stop_cv);
    free(s->app_id);
    free(s->ns);
    free(s);
}

int sdc__nr_sqlite_new(void **impl, const cJSON *conf, const struct sdc_nameres_self *self,
                       const char *default_conn, struct dc_errbuf *eb)
{
    struct nr_sqlite *s = dc_xcalloc(1, sizeof(*s));
    char connbuf[CONN_MAX], uri[CONN_MAX + 64], sql[SQL_MAX];
    sqlite3_stmt *st = NULL;
    pthread_condattr_t ca;
    const char *conn;
    int rv;

    *impl = NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    rv = read_conf(s, conf, eb);
    if (rv != DC_OK)
        goto fail;
    conn = sdc__nr_conf_str(conf, "connectionString", connbuf, sizeof(connbuf));
    if (dc_str_empty(conn))
        conn = sdc__nr_conf_str(conf, "url", connbuf, sizeof(connbuf));
    if (dc_str_empty(conn))
        conn = default_conn;
    if (dc_str_empty(conn)) {
        rv = dc_err_set(eb, DC_EINVAL, "missing connection string");
        goto fail;
    }
    rv = build_uri(uri, sizeof(uri), conn, eb);
    if (rv == DC_OK)
        rv = open_db(&s->hb, uri, journal_mode(conf, conn), s, &s->hb_deadline, eb);
    if (rv == DC_OK)
        rv = migrate(s, eb);
    if (rv != DC_OK)
        goto fail;
    s->uri = dc_xstrdup(uri);
    s->journal = journal_mode(conf, conn);
    if (is_memory(conn))
        DC_LOG(DC_LOG_WARN, "Configuring name resolution with an in-memory SQLite database. "
                            "Service invocation across different apps will not work.");
    else
        DC_LOG(DC_LOG_INFO, "Configuring SQLite name resolution with path %s", conn);
    /* The lookup statement compiles here once on the heartbeat connection, so a bad table
     * name fails the start as before; lookups use their own connection (lookup_open). */
    snprintf(sql, sizeof(sql), LOOKUP_SQL, s->table);
    if (sqlite3_prepare_v2(s->hb, sql, -1, &st, NULL) != SQLITE_OK) {
        rv = db_err(s->hb, eb, "failed to prepare the lookup");
        goto fail;
    }
    sqlite3_finalize(st);
    if (self != NULL && !dc_str_empty(self->app_id) && self->port > 0) {
        s->app_id = dc_xstrdup(self->app_id);
        s->ns = dc_xstrdup(self->namespace != NULL ? self->namespace : "");
        rv = sdc__nr_join_host_port(s->address, sizeof(s->address),
                                    !dc_str_empty(self->host) ? self->host : "127.0.0.1",
                                    self->port);
        if (rv == DC_OK)
            rv = do_register(s, eb);
        if (rv != DC_OK)
            goto fail;
    }
    if (pthread_create(&s->thread, NULL, heartbeat_main, s) != 0) {
        rv = dc_err_set(eb, DC_EIO, "name resolution: cannot start the heartbeat thread");
        goto fail;
    }
    s->thread_started = true;
    *impl = s;
    return DC_OK;
fail:
    sqlite_free(s);
    return rv;
}

/* Open the lookup connection and statement on first use; `mu` held. */
static int lookup_open(struct nr_sqlite *s, struct dc_errbuf *eb)
{
    char sql[SQL_MAX];
    int rv;

    if (s->sel != NULL)
        return DC_OK;
    if (s->db == NULL) {
        rv = open_db(&s->db, s->uri, s->journal, s, &s->deadline, eb);
        if (rv != DC_OK)
            return rv;
    }
    snprintf(sql, sizeof(sql), LOOKUP_SQL, s->table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &s->sel, NULL) != SQLITE_OK)
        return db_err(s->db, eb, "failed to prepare the lookup");
    return DC_OK;
}

static int sqlite_list(void *impl, const char *app_id, const char *ns,
                       char (*addrs)[SDC__NR_ADDR_LEN], size_t max, struct dc_errbuf *eb)
{
    struct nr_sqlite *s = impl;
    int n = 0, rc;

    pthread_mutex_lock(&s->mu);
    n = lookup_open(s, eb);
    if (n != DC_OK) {
        pthread_mutex_unlock(&s->mu);
        return n;
    }
    s->deadline = dc_mono_ns() + s->timeout_ns;
    sqlite3_bind_text(s->sel, 1, app_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->sel, 2, ns != NULL ? ns : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->sel, 3, s->update_ns / SEC);
    sqlite3_bind_int64(s->sel, 4, (sqlite3_int64)max);
    for (;;) {
        const char *a;

        rc = sqlite3_step(s->sel);
        if (rc != SQLITE_ROW)
            break;
        a = (const char *)sqlite3_column_text(s->sel, 0);
        if (a != NULL && strlen(a) < SDC__NR_ADDR_LEN && (size_t)n < max)
            dc_strlcpy(addrs[n++], a, SDC__NR_ADDR_LEN);
    }
    if (rc != SQLITE_DONE)
        n = db_err(s->db, eb, "failed to look up address");
    sqlite3_reset(s->sel);
    sqlite3_clear_bindings(s->sel);
    s->deadline = 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const struct sdc__nr_backend sdc__nr_sqlite = {"sqlite", sqlite_list, sqlite_free};
