/* configuration.postgresql (alias configuration.postgres) v1 (sidecar-api.md §9, §22.7), as
 * components-contrib configuration/postgres:
 *
 * - metadata: connectionString* (libpq URL or key=value), table* (must exist: checked at init),
 *   notifyChannel (default channel for subscriptions), timeout (default 20s, connect timeout);
 * - the table has the columns key, value, version and metadata (json object of strings);
 * - get: SELECT key, value, version, metadata FROM <table> [WHERE key = ANY($1)];
 * - subscribe: a dedicated connection per subscription LISTENs on the channel named by the
 *   request metadata pgNotifyChannel (any case) or else the component's notifyChannel; a
 *   user-made trigger pg_notify()s {"data":{"key":..,"value":..,"version":..,"metadata":{..}}};
 *   notifications for keys outside the subscription's keys (when it has keys) are ignored;
 * - a broken listener reconnects every 500 ms and LISTENs again.
 * Queries run on a small dc_pool of connections through sdc_pg_run (pg_conn.h): a broken
 * pooled connection is replaced and the query retried once. */
#include "configuration.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dc/json.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "pg_conn.h"
#include "pq_api.h"

#define PCFG_REDIAL_MS 500
#define PCFG_POOL_SIZE 4              /* connections for get and the listeners' reads */
#define PCFG_MAX_PAYLOAD (64u * 1024) /* NOTIFY payloads are below 8000 bytes anyway */

struct pcfg_store {
    char *conninfo;
    char table[128];
    char *notify_channel; /* NULL: none */
    int64_t timeout_ms;

    struct dc_pool *pool; /* of PGconn, for queries */
    struct sdc_cfg_watchers watchers;
};

/* A subscription: the watcher and the channel it LISTENs on. */
struct pcfg_sub {
    struct sdc_cfg_watch w; /* first */
    char *channel;
};

static int pg_open(struct pcfg_store *s, PGconn **out, struct dc_errbuf *eb)
{
    char tmo[24];
    const char *kw[3] = {"dbname", "connect_timeout", NULL};
    const char *val[3] = {s->conninfo, tmo, NULL};

    /* libpq wants whole seconds, at least 2. */
    snprintf(tmo, sizeof(tmo), "%lld",
             (long long)(s->timeout_ms < 2000 ? 2 : s->timeout_ms / 1000));
    return sdc_pg_connect(kw, val, true, NULL, "postgres", out, eb);
}

static int pool_connect(void *ud, void **conn, struct dc_errbuf *eb)
{
    return pg_open(ud, (PGconn **)conn, eb);
}

static int pg_err(PGconn *c, PGresult *r, const char *what, struct dc_errbuf *eb)
{
    const char *m = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c);
    int rv = dc_err_set(eb, PQstatus(c) == CONNECTION_OK ? DC_EIO : DC_EUNAVAIL, "postgres: %s: %s",
                        what, m);
    size_t n = eb != NULL ? strlen(eb->msg) : 0;

    if (n > 0 && eb->msg[n - 1] == '\n')
        eb->msg[n - 1] = '\0';
    return rv;
}

struct pg_q {
    const char *sql;
    int n;
    const char *const *vals;
    PGresult *res; /* on DC_OK */
};

static int do_query(PGconn *c, void *ud, struct dc_errbuf *eb)
{
    struct pg_q *q = ud;
    PGresult *r = PQexecParams(c, q->sql, q->n, NULL, q->vals, NULL, NULL, 0);
    int rv;

    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK) {
        q->res = r;
        return DC_OK;
    }
    rv = pg_err(c, r, "query", eb);
    PQclear(r);
    return rv;
}

/* Run `sql` with text params on a pooled connection (a broken pooled one is replaced and the
 * query retried once, sdc_pg_run). */
static int pg_query(struct pcfg_store *s, const char *sql, int n, const char *const *vals,
                    PGresult **out, struct dc_errbuf *eb)
{
    struct pg_q q = {sql, n, vals, NULL};
    int rv = sdc_pg_run(s->pool, do_query, &q, eb);

    if (rv == DC_OK)
        *out = q.res;
    return rv;
}

/* A text[] literal {"a","b"} for `= ANY($1)`. */
static char *array_literal(const char *const *keys, size_t n)
{
    struct dc_buf b;

    dc_buf_init(&b, 0);
    DC_ASSERT(dc_buf_appendc(&b, '{') == DC_OK);
    for (size_t i = 0; i < n; i++) {
        DC_ASSERT(dc_buf_appends(&b, i > 0 ? ",\"" : "\"") == DC_OK);
        for (const char *p = keys[i]; *p != '\0'; p++) {
            if (*p == '"' || *p == '\\')
                DC_ASSERT(dc_buf_appendc(&b, '\\') == DC_OK);
            DC_ASSERT(dc_buf_appendc(&b, *p) == DC_OK);
        }
        DC_ASSERT(dc_buf_appendc(&b, '"') == DC_OK);
    }
    DC_ASSERT(dc_buf_appendc(&b, '}') == DC_OK);
    return dc_buf_take(&b, NULL);
}

/* Item metadata from a JSON object text: string members as they are, others printed. */
static void parse_item_md(struct dc_arena *a, const char *text, size_t len, struct sdc_md *md)
{
    cJSON *doc = NULL;
    size_t n = 0;

    memset(md, 0, sizeof(*md));
    if (len == 0 || dc_json_parse(text, len, PCFG_MAX_PAYLOAD, &doc, NULL) != DC_OK)
        return;
    if (cJSON_IsObject(doc)) {
        for (const cJSON *m = doc->child; m != NULL; m = m->next)
            n++;
        md->names = dc_arena_alloc(a, (n + 1) * sizeof(*md->names));
        md->values = dc_arena_alloc(a, (n + 1) * sizeof(*md->values));
        for (const cJSON *m = doc->child; m != NULL; m = m->next) {
            char *printed = cJSON_IsString(m) ? NULL : dc_json_print(m);
            md->names[md->n] = dc_arena_strdup(a, m->string);
            md->values[md->n] = dc_arena_strdup(a, printed != NULL ? printed : m->valuestring);
            md->n++;
            free(printed);
        }
    }
    cJSON_Delete(doc);
}

static int pcfg_get(void *self, const char *const *keys, size_t nkeys, const struct sdc_md *md,
                    struct dc_arena *a, struct sdc_cfg_item **items, size_t *n,
                    struct dc_errbuf *eb)
{
    struct pcfg_store *s = self;
    char sql[256];
    char *arr = NULL;
    const char *vals[1];
    PGresult *r = NULL;
    int rv, rows;

    (void)md;
    *items = NULL;
    *n = 0;
    if (nkeys == 0) {
        snprintf(sql, sizeof(sql), "SELECT key, value, version, metadata FROM %s", s->table);
        rv = pg_query(s, sql, 0, NULL, &r, eb);
    } else {
        snprintf(sql, sizeof(sql),
                 "SELECT key, value, version, metadata FROM %s WHERE key = ANY($1::text[])",
                 s->table);
        arr = array_literal(keys, nkeys);
        vals[0] = arr;
        rv = pg_query(s, sql, 1, vals, &r, eb);
        free(arr);
    }
    if (rv != DC_OK)
        return rv;
    rows = PQntuples(r);
    *items = dc_arena_calloc(a, ((size_t)rows + 1) * sizeof(**items));
    for (int i = 0; i < rows; i++) {
        struct sdc_cfg_item *it = &(*items)[i];
        it->key = dc_arena_strdup(a, PQgetvalue(r, i, 0));
        it->value = dc_arena_strdup(a, PQgetvalue(r, i, 1));
        it->version = dc_arena_strdup(a, PQgetvalue(r, i, 2));
        if (!PQgetisnull(r, i, 3))
            parse_item_md(a, PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3), &it->md);
    }
    *n = (size_t)rows;
    PQclear(r);
    return DC_OK;
}

/* ---- subscriptions ------------------------------------------------------------------------- */

/* Field `name` of `data` (case-insensitive, as upstream lower-cases the names) as text. */
static const cJSON *field_ci(const cJSON *data, const char *name)
{
    for (const cJSON *m = data->child; m != NULL; m = m->next)
        if (m->string != NULL && strcasecmp(m->string, name) == 0)
            return m;
    return NULL;
}

static void handle_notify(struct sdc_cfg_watch *w, const char *payload)
{
    cJSON *doc = NULL;
    const cJSON *data, *k, *v, *ver, *m;
    struct sdc_cfg_item it = {.value = "", .version = ""};
    struct dc_arena a;

    if (dc_json_parse(payload, strlen(payload), PCFG_MAX_PAYLOAD, &doc, NULL) != DC_OK) {
        DC_LOG(DC_LOG_ERROR, "configuration.postgresql: notification is not JSON");
        return;
    }
    data = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "data") : NULL;
    k = cJSON_IsObject(data) ? field_ci(data, "key") : NULL;
    if (!cJSON_IsString(k) || !sdc_cfg_watch_wants(w, k->valuestring)) {
        cJSON_Delete(doc);
        return;
    }
    dc_arena_init(&a);
    it.key = k->valuestring;
    v = field_ci(data, "value");
    ver = field_ci(data, "version");
    m = field_ci(data, "metadata");
    if (cJSON_IsString(v))
        it.value = v->valuestring;
    if (cJSON_IsString(ver))
        it.version = ver->valuestring;
    if (cJSON_IsObject(m)) {
        char *t = dc_json_print(m);
        parse_item_md(&a, t, strlen(t), &it.md);
        free(t);
    }
    w->fn(w->ud, &it, 1);
    dc_arena_cleanup(&a);
    cJSON_Delete(doc);
}

static int do_listen(struct pcfg_sub *sub, PGconn *c)
{
    char *ident = PQescapeIdentifier(c, sub->channel, strlen(sub->channel));
    char *sql;
    PGresult *r;
    int rv;

    if (ident == NULL)
        return DC_EIO;
    sql = dc_xmalloc(strlen(ident) + 8);
    snprintf(sql, strlen(ident) + 8, "LISTEN %s", ident);
    PQfreemem(ident);
    r = PQexec(c, sql);
    rv = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK ? DC_OK : DC_EIO;
    PQclear(r);
    free(sql);
    return rv;
}

static void listener(struct sdc_cfg_watch *w)
{
    struct pcfg_sub *sub = (struct pcfg_sub *)w;
    struct pcfg_store *s = w->store;
    PGconn *c = NULL;

    for (;;) {
        PGnotify *nf;

        if (c == NULL) {
            if (pg_open(s, &c, NULL) != DC_OK || do_listen(sub, c) != DC_OK) {
                if (c != NULL) {
                    PQfinish(c);
                    c = NULL;
                }
                if (sdc_cfg_watch_wait(w, -1, PCFG_REDIAL_MS))
                    break;
                continue;
            }
        }
        while ((nf = PQnotifies(c)) != NULL) {
            handle_notify(w, nf->extra);
            PQfreemem(nf);
        }
        if (sdc_cfg_watch_wait(w, PQsocket(c), -1))
            break;
        if (PQconsumeInput(c) != 1 || PQstatus(c) != CONNECTION_OK) {
            DC_LOG(DC_LOG_WARN, "configuration.postgresql: listen connection lost");
            PQfinish(c);
            c = NULL;
        }
    }
    if (c != NULL)
        PQfinish(c);
}

static void sub_cleanup(struct sdc_cfg_watch *w)
{
    free(((struct pcfg_sub *)w)->channel);
}

static int pcfg_subscribe(void *self, const char *const *keys, size_t nkeys,
                          const struct sdc_md *md, sdc_cfg_update_fn *fn, void *ud, void **handle,
                          struct dc_errbuf *eb)
{
    struct pcfg_store *s = self;
    const char *channel = sdc_md_get(md, "pgNotifyChannel");
    struct pcfg_sub *sub;
    int rv;

    if (dc_str_empty(channel))
        channel = s->notify_channel;
    if (dc_str_empty(channel))
        return dc_err_set(eb, DC_EINVAL,
                          "notify channel is not set: use the notifyChannel metadata or the "
                          "pgNotifyChannel request metadata");
    sub = dc_xcalloc(1, sizeof(*sub));
    sub->w.run = listener;
    sub->w.cleanup = sub_cleanup;
    sub->w.store = s;
    sub->channel = dc_xstrdup(channel);
    rv = sdc_cfg_watch_start(&s->watchers, &sub->w, keys, nkeys, NULL, fn, ud, eb);
    if (rv == DC_OK)
        *handle = &sub->w;
    return rv;
}

static void pcfg_unsubscribe(void *self, void *handle)
{
    struct pcfg_store *s = self;

    sdc_cfg_watch_stop(&s->watchers, handle);
}

static void pcfg_close(void *self)
{
    struct pcfg_store *s = self;

    if (s == NULL)
        return;
    sdc_cfg_watchers_cleanup(&s->watchers);
    dc_pool_free(s->pool);
    free(s->conninfo);
    free(s->notify_channel);
    free(s);
}

/* A table name: letters, digits, '_' and at most one '.' (schema.table), as upstream's
 * IsValidSQLName. */
static bool valid_table(const char *t)
{
    int dots = 0;

    if (dc_str_empty(t) || strlen(t) >= 128)
        return false;
    for (const char *p = t; *p != '\0'; p++) {
        if (*p == '.') {
            if (++dots > 1 || p == t || p[1] == '\0')
                return false;
        } else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '_')) {
            return false;
        }
    }
    return true;
}

static int pcfg_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                     struct dc_errbuf *eb)
{
    struct pcfg_store *s = dc_xcalloc(1, sizeof(*s));
    const char *cs = sdc_md_get(md, "connectionString");
    const char *table = sdc_md_get(md, "table");
    const char *tmo = sdc_md_get(md, "timeout");
    const char *vals[1];
    PGresult *r = NULL;
    int64_t ns;
    int rv;

    sdc_cfg_watchers_init(&s->watchers);
    s->timeout_ms = 20000;
    rv = sdc__pq_load(eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "postgres configuration");
        goto fail;
    }
    if (dc_str_empty(cs)) {
        rv = dc_err_set(eb, DC_EINVAL, "postgres configuration: connectionString is required");
        goto fail;
    }
    if (!valid_table(table)) {
        rv = dc_err_set(eb, DC_EINVAL, "postgres configuration: invalid or missing table name %s",
                        table != NULL ? table : "");
        goto fail;
    }
    if (!dc_str_empty(tmo)) {
        if (dc_duration_parse_ms_or_go(tmo, &ns, NULL) != DC_OK || ns <= 0) {
            rv = dc_err_set(eb, DC_EINVAL, "postgres configuration: invalid timeout %s", tmo);
            goto fail;
        }
        s->timeout_ms = ns / 1000000;
    }
    if (ctx != NULL && ctx->timeout_ms > 0 && ctx->timeout_ms < s->timeout_ms)
        s->timeout_ms = ctx->timeout_ms;
    s->conninfo = dc_xstrdup(cs);
    dc_strlcpy(s->table, table, sizeof(s->table));
    if (!dc_str_empty(sdc_md_get(md, "notifyChannel")))
        s->notify_channel = dc_xstrdup(sdc_md_get(md, "notifyChannel"));
    {
        struct dc_pool_config pc = {PCFG_POOL_SIZE, s->timeout_ms, pool_connect, sdc_pg_pool_close,
                                    s};
        rv = dc_pool_new(&s->pool, &pc, eb);
        if (rv != DC_OK)
            goto fail;
    }
    /* Upstream refuses a table that does not exist. */
    vals[0] = table;
    rv = pg_query(s, "SELECT to_regclass($1) IS NOT NULL", 1, vals, &r, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "postgres configuration");
        goto fail;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        rv = dc_err_set(eb, DC_EINVAL, "postgres configuration: table %s does not exist", table);
    PQclear(r);
    if (rv != DC_OK)
        goto fail;
    *self = s;
    return DC_OK;
fail:
    pcfg_close(s);
    return rv;
}

static const struct sdc_configuration_ops pg_ops = {
    .base = {.init = pcfg_init, .close = pcfg_close},
    .get = pcfg_get,
    .subscribe = pcfg_subscribe,
    .unsubscribe = pcfg_unsubscribe,
};

const struct sdc_component_type sdc_type_configuration_postgresql = {
    "configuration.postgresql", "v1", SDC_CAT_CONFIGURATION, &pg_ops.base};
const struct sdc_component_type sdc_type_configuration_postgres = {
    "configuration.postgres", "v1", SDC_CAT_CONFIGURATION, &pg_ops.base};
