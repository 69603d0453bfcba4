/* Name resolution (sidecar-api.md §22.8): the shared SQLite resolver in upstream's layout, the
 * kubernetes DNS names, the lookup cache and failure demotion, the internal port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dc/time.h"

#include "../config.h"
#include "../nameres.h"
#include "../nameres_internal.h"
#include "../runtime.h"

struct fx {
    char dir[256];
    char db[300];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_nameres.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->db, sizeof(f->db), "%s/nr.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* {"connectionString": db, extra key/value pairs...} */
static cJSON *conf_of(const char *db, ...)
{
    cJSON *c = cJSON_CreateObject();
    va_list ap;
    const char *k;

    if (db != NULL)
        cJSON_AddStringToObject(c, "connectionString", db);
    va_start(ap, db);
    for (k = va_arg(ap, const char *); k != NULL; k = va_arg(ap, const char *))
        cJSON_AddStringToObject(c, k, va_arg(ap, const char *));
    va_end(ap);
    return c;
}

static struct sdc_nameres *sqlite_nr(const char *db, const char *app, const char *ns, int port,
                                     const char *cache_ttl)
{
    struct sdc_nameres_self self = {app, ns, "127.0.0.1", port};
    struct sdc_nameres *nr = NULL;
    struct dc_errbuf eb = {0};
    cJSON *c = conf_of(db, "cacheTTL", cache_ttl, (char *)NULL);
    int rv = sdc_nameres_new(&nr, "sqlite", c, app != NULL ? &self : NULL, &eb);

    cJSON_Delete(c);
    if (rv != DC_OK)
        fail_msg("sdc_nameres_new: %s", eb.msg);
    return nr;
}

static sqlite3 *open_raw(const char *db)
{
    sqlite3 *h = NULL;

    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 2000);
    return h;
}

static int64_t query_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void exec_raw(sqlite3 *h, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
}

static void resolve_ok(struct sdc_nameres *nr, const char *app, const char *ns, char *out,
                       size_t cap)
{
    struct dc_errbuf eb = {0};

    if (sdc_nameres_resolve(nr, app, ns, out, cap, &eb) != DC_OK)
        fail_msg("resolve %s: %s", app, eb.msg);
}

/* ---- sqlite --------------------------------------------------------------------------- */

static void test_sqlite_layout(void **state)
{
    struct fx *f = *state;
    struct sdc_nameres *a = sqlite_nr(f->db, "svc", "", 1001, "0");
    sqlite3 *h = open_raw(f->db);
    sqlite3_stmt *st = NULL;
    const char *want[] = {"registration_id", "address", "app_id", "namespace", "last_update"};
    size_t i = 0;

    /* Upstream's hosts table, column for column, and its migration marker. */
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA table_info(hosts)", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(i < 5);
        assert_string_equal((const char *)sqlite3_column_text(st, 1), want[i]);
        assert_int_equal(sqlite3_column_int(st, 3), 1); /* NOT NULL */
        i++;
    }
    sqlite3_finalize(st);
    assert_int_equal(i, 5);
    assert_int_equal(query_int(h, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                                  "name IN ('hosts_address_idx', 'hosts_last_update_idx')"),
                     2);
    assert_int_equal(query_int(h, "SELECT value FROM metadata WHERE key = 'nr-migrations'"), 1);
    assert_int_equal(query_int(h, "SELECT count(*) FROM hosts WHERE app_id = 'svc' AND address = "
                                  "'127.0.0.1:1001' AND length(registration_id) = 36 AND "
                                  "unixepoch() - last_update < 5"),
                     1);
    /* WAL journal, as upstream's default (disableWAL false). */
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* The query an upstream sidecar runs finds our row. */
    assert_int_equal(query_int(h, "SELECT count(address) FROM hosts WHERE ROWID = (SELECT ROWID "
                                  "FROM hosts WHERE app_id = 'svc' AND "
                                  "unixepoch(CURRENT_TIMESTAMP) - last_update < 5 ORDER BY "
                                  "RANDOM() LIMIT 1)"),
                     1);
    sqlite3_close(h);
    sdc_nameres_free(a);

    /* Opening again keeps the schema (migration level 1 is not re-run). */
    a = sqlite_nr(f->db, "svc", "", 1001, "0");
    sdc_nameres_free(a);
}

static void test_sqlite_two_instances(void **state)
{
    struct fx *f = *state;
    struct sdc_nameres *a = sqlite_nr(f->db, "svc", "", 1001, "0");
    struct sdc_nameres *b = sqlite_nr(f->db, "svc", "", 1002, "0");
    struct sdc_nameres *c = sqlite_nr(f->db, NULL, NULL, 0, "0");
    sqlite3 *h = open_raw(f->db);
    char addr[64];
    int seen1 = 0, seen2 = 0;
    struct dc_errbuf eb = {0};

    for (int i = 0; i < 200; i++) {
        resolve_ok(c, "svc", NULL, addr, sizeof(addr));
        if (strcmp(addr, "127.0.0.1:1001") == 0)
            seen1++;
        else if (strcmp(addr, "127.0.0.1:1002") == 0)
            seen2++;
        else
            fail_msg("unexpected address %s", addr);
    }
    assert_true(seen1 > 20 && seen2 > 20);

    /* Stale rows (upstream layout, inserted as another sidecar would) are ignored. */
    exec_raw(h, "INSERT INTO hosts VALUES ('stale-1', '10.9.9.9:1', 'svc', '', unixepoch() - 60)");
    exec_raw(h, "INSERT INTO hosts VALUES ('stale-2', '10.9.9.9:2', 'ghost', '', "
                "unixepoch() - 5)");
    for (int i = 0; i < 100; i++) {
        resolve_ok(c, "svc", NULL, addr, sizeof(addr));
        assert_string_not_equal(addr, "10.9.9.9:1");
    }
    assert_int_equal(sdc_nameres_resolve(c, "ghost", NULL, addr, sizeof(addr), &eb), DC_ENOTFOUND);
    assert_string_equal(eb.msg, "no host found with the given ID: ghost");
    assert_int_equal(sdc_nameres_resolve(c, "nobody", NULL, addr, sizeof(addr), NULL),
                     DC_ENOTFOUND);
    /* Too small an output buffer. */
    assert_int_equal(sdc_nameres_resolve(c, "svc", NULL, addr, 5, NULL), DC_ETOOBIG);

    /* Freeing an instance deletes its row; lookups then find only the other. */
    sdc_nameres_free(a);
    assert_int_equal(query_int(h, "SELECT count(*) FROM hosts WHERE address = '127.0.0.1:1001'"),
                     0);
    for (int i = 0; i < 50; i++) {
        resolve_ok(c, "svc", NULL, addr, sizeof(addr));
        assert_string_equal(addr, "127.0.0.1:1002");
    }
    sdc_nameres_free(b);
    assert_int_equal(sdc_nameres_resolve(c, "svc", NULL, addr, sizeof(addr), NULL), DC_ENOTFOUND);
    sdc_nameres_free(c);
    sqlite3_close(h);
}

static void test_sqlite_report_failure(void **state)
{
    struct fx *f = *state;
    struct sdc_nameres *a = sqlite_nr(f->db, "svc", "", 1001, "0");
    struct sdc_nameres *b = sqlite_nr(f->db, "svc", "", 1002, "0");
    struct sdc_nameres *c = sqlite_nr(f->db, NULL, NULL, 0, "10s"); /* cached */
    char addr[64];
    int seen1 = 0;

    resolve_ok(c, "svc", NULL, addr, sizeof(addr));
    sdc_nameres_report_failure(c, "svc", "127.0.0.1:1001");
    for (int i = 0; i < 100; i++) {
        resolve_ok(c, "svc", NULL, addr, sizeof(addr));
        assert_string_equal(addr, "127.0.0.1:1002");
    }
    /* Both demoted: still an answer (any), never an error. */
    sdc_nameres_report_failure(c, "svc", "127.0.0.1:1002");
    for (int i = 0; i < 100; i++) {
        resolve_ok(c, "svc", NULL, addr, sizeof(addr));
        seen1 += strcmp(addr, "127.0.0.1:1001") == 0;
    }
    assert_true(seen1 > 0 && seen1 < 100);
    /* NULL-safe. */
    sdc_nameres_report_failure(NULL, "svc", "x");
    sdc_nameres_report_failure(c, NULL, "127.0.0.1:1002");
    sdc_nameres_free(c);
    sdc_nameres_free(b);
    sdc_nameres_free(a);
}

static void test_sqlite_cache(void **state)
{
    struct fx *f = *state;
    struct sdc_nameres *c = sqlite_nr(f->db, NULL, NULL, 0, "10s");
    struct sdc_nameres *a = sqlite_nr(f->db, "svc", "", 1001, "0");
    struct sdc_nameres *b;
    char addr[64];

    resolve_ok(c, "svc", NULL, addr, sizeof(addr));
    assert_string_equal(addr, "127.0.0.1:1001");
    /* A new instance is not seen until the cached list expires or a failure is reported. */
    b = sqlite_nr(f->db, "svc", "", 1002, "0");
    for (int i = 0; i < 20; i++) {
        resolve_ok(c, "svc", NULL, addr, sizeof(addr));
        assert_string_equal(addr, "127.0.0.1:1001");
    }
    sdc_nameres_report_failure(c, "svc", "127.0.0.1:1001");
    resolve_ok(c, "svc", NULL, addr, sizeof(addr));
    assert_string_equal(addr, "127.0.0.1:1002");
    sdc_nameres_free(b);
    sdc_nameres_free(a);
    sdc_nameres_free(c);
}

static void test_sqlite_namespaces(void **state)
{
    struct fx *f = *state;
    struct sdc_nameres *p = sqlite_nr(f->db, "svc", "prod", 1001, "0");
    struct sdc_nameres *q = sqlite_nr(f->db, "me", "prod", 1003, "0");
    sqlite3 *h = open_raw(f->db);
    char addr[64];

    assert_int_equal(query_int(h, "SELECT count(*) FROM hosts WHERE namespace = 'prod'"), 2);
    /* Own namespace by default; explicit namespaces; no cross-namespace answers. */
    resolve_ok(q, "svc", NULL, addr, sizeof(addr));
    assert_string_equal(addr, "127.0.0.1:1001");
    resolve_ok(q, "svc", "prod", addr, sizeof(addr));
    assert_string_equal(addr, "127.0.0.1:1001");
    assert_int_equal(sdc_nameres_resolve(q, "svc", "staging", addr, sizeof(addr), NULL),
                     DC_ENOTFOUND);
    /* An upstream sidecar registers namespace '': it is found from any namespace. */
    exec_raw(h, "INSERT INTO hosts VALUES ('up-1', '127.0.0.1:1009', 'legacy', '', unixepoch())");
    resolve_ok(q, "legacy", "staging", addr, sizeof(addr));
    assert_string_equal(addr, "127.0.0.1:1009");
    sqlite3_close(h);
    sdc_nameres_free(q);
    sdc_nameres_free(p);
}

/* Poll `sql` until it returns `want` or `ms` pass. */
static bool wait_int(sqlite3 *h, const char *sql, int64_t want, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        if (query_int(h, sql) == want)
            return true;
        usleep(20000);
    }
    return query_int(h, sql) == want;
}

static void test_sqlite_heartbeat(void **state)
{
    struct fx *f = *state;
    struct sdc_nameres_self self = {"svc", "", "127.0.0.1", 1001};
    struct sdc_nameres *a = NULL;
    struct dc_errbuf eb = {0};
    cJSON *c = conf_of(f->db, "updateInterval", "2s", "timeout", "1s", (char *)NULL);
    sqlite3 *h;

    assert_int_equal(sdc_nameres_new(&a, "nameresolution.sqlite", c, &self, &eb), DC_OK);
    cJSON_Delete(c);
    h = open_raw(f->db);
    /* Age the row: the heartbeat (every updateInterval - timeout = 1s) refreshes it. */
    exec_raw(h, "UPDATE hosts SET last_update = 0");
    assert_true(
        wait_int(h, "SELECT count(*) FROM hosts WHERE unixepoch() - last_update < 2", 1, 3000));
    /* A lost row (another sidecar's cleanup) is registered again, under a new id. */
    exec_raw(h, "UPDATE hosts SET registration_id = 'old'");
    exec_raw(h, "DELETE FROM hosts");
    assert_true(wait_int(h,
                         "SELECT count(*) FROM hosts WHERE address = '127.0.0.1:1001' AND "
                         "registration_id != 'old'",
                         1, 3000));
    sqlite3_close(h);
    sdc_nameres_free(a);
}

static void test_sqlite_config_errors(void **state)
{
    static const char *bad[][2] = {
        {"updateInterval", "1500ms"},
        {"timeout", "500ms"},
        {"updateInterval", "1s"},
        {"tableName", "bad-name"},
        {"metadataTableName", ""},
        {"busyTimeout", "soon"},
        {"cacheTTL", "x"},
    };
    struct fx *f = *state;
    struct sdc_nameres *nr = NULL;
    struct dc_errbuf eb = {0};
    cJSON *c;
    char uri[400];
    (void)f;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = conf_of(f->db, bad[i][0], bad[i][1], (char *)NULL);
        if (sdc_nameres_new(&nr, "sqlite", c, NULL, &eb) != DC_EINVAL)
            fail_msg("%s=%s accepted", bad[i][0], bad[i][1]);
        assert_null(nr);
        cJSON_Delete(c);
    }
    /* Explicit sqlite needs a connection string, as upstream. */
    c = conf_of(NULL, (char *)NULL);
    assert_int_equal(sdc_nameres_new(&nr, "sqlite", c, NULL, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "missing connection string");
    cJSON_Delete(c);
    /* Driver options upstream forbids. */
    snprintf(uri, sizeof(uri), "file:%s?_pragma=busy_timeout(10)", f->db);
    c = conf_of(uri, (char *)NULL);
    assert_int_equal(sdc_nameres_new(&nr, "sqlite", c, NULL, &eb), DC_EINVAL);
    cJSON_Delete(c);
    /* Unknown components. */
    assert_int_equal(sdc_nameres_new(&nr, "consul", NULL, NULL, &eb), DC_EINVAL);
    assert_null(nr);
    /* A "file:" URI with options and a tableName of our own work. */
    snprintf(uri, sizeof(uri), "file:%s?_txlock=immediate", f->db);
    c = conf_of(uri, "tableName", "myhosts", "updateInterval", "10", (char *)NULL);
    assert_int_equal(sdc_nameres_new(&nr, "sqlite", c, NULL, &eb), DC_OK);
    cJSON_Delete(c);
    sdc_nameres_free(nr);
}

static void test_sqlite_memory(void **state)
{
    struct sdc_nameres_self self = {"svc", "", "::1", 1001};
    struct sdc_nameres *a = NULL, *b = NULL;
    cJSON *c = conf_of(":memory:", "cacheTTL", "0", (char *)NULL);
    char addr[64];
    (void)state;

    /* One in-process shared database; IPv6 hosts are bracketed. */
    assert_int_equal(sdc_nameres_new(&a, "sqlite", c, &self, NULL), DC_OK);
    assert_int_equal(sdc_nameres_new(&b, "sqlite", c, NULL, NULL), DC_OK);
    resolve_ok(b, "svc", NULL, addr, sizeof(addr));
    assert_string_equal(addr, "[::1]:1001");
    cJSON_Delete(c);
    sdc_nameres_free(b);
    sdc_nameres_free(a);
}

static void test_default_resolver(void **state)
{
    struct fx *f = *state;
    struct sdc_nameres_self self = {"svc", NULL, "127.0.0.1", 1001};
    struct sdc_nameres *a = NULL;
    char *old = getenv("HOME") != NULL ? strdup(getenv("HOME")) : NULL;
    char path[400];
    sqlite3 *h;

    /* No component (and mdns): sqlite at $HOME/.dapr/nr.db. */
    setenv("HOME", f->dir, 1);
    assert_int_equal(sdc_nameres_new(&a, NULL, NULL, &self, NULL), DC_OK);
    sdc_nameres_free(a);
    assert_int_equal(sdc_nameres_new(&a, "mdns", NULL, &self, NULL), DC_OK);
    snprintf(path, sizeof(path), "%s/.dapr/nr.db", f->dir);
    h = open_raw(path);
    assert_int_equal(query_int(h, "SELECT count(*) FROM hosts WHERE address = '127.0.0.1:1001'"),
                     1);
    sdc_nameres_free(a);
    assert_int_equal(query_int(h, "SELECT count(*) FROM hosts"), 0);
    sqlite3_close(h);
    if (old != NULL)
        setenv("HOME", old, 1);
    else
        unsetenv("HOME");
    free(old);
}

static void test_nameres_start(void **state)
{
    struct fx *f = *state;
    struct sdc_config cfg;
    struct sdc_runtime rt;
    char app[] = "startapp", mode[] = "standalone";
    sqlite3 *h;

    memset(&cfg, 0, sizeof(cfg));
    memset(&rt, 0, sizeof(rt));
    cfg.app_id = app;
    cfg.mode = mode;
    cfg.dapr_internal_grpc_port = 45678;
    rt.cfg = &cfg;
    rt.have_conf = true;
    rt.conf.name_resolution.configuration = conf_of(f->db, (char *)NULL);
    assert_int_equal(sdc_nameres_start(&rt, NULL), DC_OK);
    assert_non_null(rt.nameres);
    h = open_raw(f->db);
    assert_int_equal(query_int(h, "SELECT count(*) FROM hosts WHERE app_id = 'startapp' AND "
                                  "address = '127.0.0.1:45678' AND namespace = ''"),
                     1);
    sdc_nameres_free(rt.nameres);
    sqlite3_close(h);
    /* No app id: no resolver. */
    cfg.app_id = NULL;
    assert_int_equal(sdc_nameres_start(&rt, NULL), DC_OK);
    assert_null(rt.nameres);
    cJSON_Delete(rt.conf.name_resolution.configuration);
}

/* ---- kubernetes ----------------------------------------------------------------------- */

static struct sdc_nameres *k8s_nr(const char *ns, int port, const char *domain, const char *tmpl)
{
    struct sdc_nameres_self self = {"me", ns, "10.0.0.1", port};
    struct sdc_nameres *nr = NULL;
    struct dc_errbuf eb = {0};
    cJSON *c = cJSON_CreateObject();

    if (domain != NULL)
        cJSON_AddStringToObject(c, "clusterDomain", domain);
    if (tmpl != NULL)
        cJSON_AddStringToObject(c, "template", tmpl);
    cJSON_AddStringToObject(c, "cacheTTL", "0");
    if (sdc_nameres_new(&nr, "kubernetes", c, &self, &eb) != DC_OK)
        fail_msg("kubernetes: %s", eb.msg);
    cJSON_Delete(c);
    return nr;
}

static void k8s_expect(struct sdc_nameres *nr, const char *app, const char *ns, const char *want)
{
    char got[300];

    assert_int_equal(sdc__nr_kubernetes_address(sdc__nr_impl(nr), app, ns, got, sizeof(got)),
                     DC_OK);
    assert_string_equal(got, want);
}

static void test_kubernetes_names(void **state)
{
    struct sdc_nameres *nr;
    struct dc_errbuf eb = {0};
    cJSON *c;
    (void)state;

    nr = k8s_nr("", 50002, NULL, NULL);
    k8s_expect(nr, "orders", NULL, "orders-dapr.default.svc.cluster.local:50002");
    k8s_expect(nr, "orders", "shop", "orders-dapr.shop.svc.cluster.local:50002");
    sdc_nameres_free(nr);

    nr = k8s_nr("prod", 50002, "corp.example", NULL);
    k8s_expect(nr, "orders", NULL, "orders-dapr.prod.svc.corp.example:50002");
    k8s_expect(nr, "orders", "", "orders-dapr.prod.svc.corp.example:50002");
    k8s_expect(nr, "pay", "billing", "pay-dapr.billing.svc.corp.example:50002");
    sdc_nameres_free(nr);

    /* No port known: the injector's 50002. */
    nr = k8s_nr(NULL, 0, NULL, NULL);
    k8s_expect(nr, "a", NULL, "a-dapr.default.svc.cluster.local:50002");
    sdc_nameres_free(nr);

    nr =
        k8s_nr("ns1", 6000, NULL, "{{.ID}}-{{ .Data.region }}.{{.Namespace}}.internal:{{ .Port }}");
    k8s_expect(nr, "orders", NULL, "orders-.ns1.internal:6000");
    sdc_nameres_free(nr);

    /* Template errors surface at creation. */
    c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "template", "{{.Nope}}:1");
    assert_int_equal(sdc_nameres_new(&nr, "kubernetes", c, NULL, &eb), DC_EINVAL);
    cJSON_Delete(c);
    c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "template", "{{.ID:1");
    assert_int_equal(sdc_nameres_new(&nr, "kubernetes", c, NULL, &eb), DC_EINVAL);
    cJSON_Delete(c);
}

static void test_kubernetes_resolution(void **state)
{
    struct sdc_nameres *nr;
    char addr[128];
    struct dc_errbuf eb = {0};
    (void)state;

    /* getaddrinfo path: "localhost" through a template, port kept. */
    nr = k8s_nr("", 50002, NULL, "{{.ID}}:{{.Port}}");
    resolve_ok(nr, "localhost", NULL, addr, sizeof(addr));
    if (strcmp(addr, "127.0.0.1:50002") != 0 && strcmp(addr, "[::1]:50002") != 0)
        fail_msg("localhost resolved to %s", addr);
    /* A name that does not exist. */
    assert_true(sdc_nameres_resolve(nr, "no-such-host.invalid", NULL, addr, sizeof(addr), &eb) !=
                DC_OK);
    sdc_nameres_free(nr);

    /* Literal IPs, bracketed v6 with a port. */
    nr = k8s_nr("", 50002, NULL, "[::1]:{{.Port}}");
    resolve_ok(nr, "x", NULL, addr, sizeof(addr));
    assert_string_equal(addr, "[::1]:50002");
    sdc_nameres_free(nr);
    nr = k8s_nr("", 7, NULL, "127.0.0.1:{{.Port}}");
    resolve_ok(nr, "x", NULL, addr, sizeof(addr));
    assert_string_equal(addr, "127.0.0.1:7");
    sdc_nameres_free(nr);
}

/* ---- internal port -------------------------------------------------------------------- */

static void test_internal_port(void **state)
{
    struct sdc_config cfg;
    char app[] = "portapp";
    int p1, p2, s;
    (void)state;

    memset(&cfg, 0, sizeof(cfg));
    cfg.app_id = app;
    cfg.dapr_internal_grpc_port = 50002;
    assert_int_equal(sdc_internal_port(&cfg), 50002);

    s = sdc_internal_port_stable("portapp");
    assert_true(s >= 47300 && s <= 47300 + 2047);
    assert_int_equal(sdc_internal_port_stable("portapp"), s);
    assert_int_not_equal(sdc_internal_port_stable("portapp2"), s);

    cfg.dapr_internal_grpc_port = -1;
    p1 = sdc_internal_port(&cfg);
    p2 = sdc_internal_port(&cfg);
    assert_int_equal(p1, p2); /* memoised */
    assert_true(p1 > 0 && p1 < 65536);
    cfg.dapr_internal_grpc_port = 0; /* 0 means "derive" too (§18) */
    assert_int_equal(sdc_internal_port(&cfg), p1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sqlite_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_two_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_report_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_namespaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_config_errors, setup, teardown),
        cmocka_unit_test(test_sqlite_memory),
        cmocka_unit_test_setup_teardown(test_default_resolver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nameres_start, setup, teardown),
        cmocka_unit_test(test_kubernetes_names),
        cmocka_unit_test(test_kubernetes_resolution),
        cmocka_unit_test(test_internal_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
