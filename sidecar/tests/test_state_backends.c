/* The state store contract against real servers: state.redis with DAPRC_REDIS_ADDR (host:port)
 * and state.postgresql with DAPRC_PG_CONN (a libpq connection string); each group is skipped
 * when its variable is unset. tests/integration/test_state_backends.sh starts the servers and
 * sets them, plus DAPRC_{REDIS,PG}_{STOP,START}_CMD for the restart tests.
 * The metadata validation group needs no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "dc/json.h"
#include "dc/mem.h"
#include "dc/time.h"

#include "../pq_api.h"
#include "../state_store.h"

extern const struct sdc_component_type sdc_type_state_redis;
extern const struct sdc_component_type sdc_type_state_postgresql;
extern const struct sdc_component_type sdc_type_state_postgres;

struct fx {
    const struct sdc_state_ops *ops;
    void *self;
    bool redis;
    char pfx[48]; /* "t<pid>-<group>||" keeps runs apart */
};

static struct fx *fx_of(void **state)
{
    struct fx *f = *state;

    if (f == NULL)
        skip();
    return f;
}

static const struct sdc_state_ops *ops_of(const struct sdc_component_type *t)
{
    return (const struct sdc_state_ops *)t->ops;
}

/* Init a store of `type` with NULL-terminated name/value pairs. */
static int open_store(const struct sdc_component_type *t, void **self, struct dc_errbuf *eb, ...)
{
    struct sdc_md md = {0};
    struct sdc_init_ctx ctx = {"test", "app", "", 5000};
    va_list ap;
    const char *k;
    int rv;

    va_start(ap, eb);
    while ((k = va_arg(ap, const char *)) != NULL)
        sdc_md_set(&md, k, va_arg(ap, const char *));
    va_end(ap);
    rv = t->ops->init(self, &md, &ctx, eb);
    sdc_md_cleanup(&md);
    return rv;
}

static const char *key(struct fx *f, const char *k)
{
    static _Thread_local char buf[8][160];
    static _Thread_local int i;
    char *b = buf[i++ % 8];

    snprintf(b, 160, "%s%s", f->pfx, k);
    return b;
}

static int put(struct fx *f, const char *k, const char *v, const char *etag,
               enum sdc_state_concurrency conc, struct dc_errbuf *eb)
{
    struct sdc_state_set r = {
        .key = key(f, k), .value = v, .value_len = strlen(v), .etag = etag, .concurrency = conc};

    return f->ops->set(f->self, &r, eb);
}

static int put_ttl(struct fx *f, const char *k, const char *v, int64_t ttl)
{
    struct sdc_state_set r = {
        .key = key(f, k), .value = v, .value_len = strlen(v), .has_ttl = true, .ttl_s = ttl};

    return f->ops->set(f->self, &r, NULL);
}

static int del(struct fx *f, const char *k, const char *etag)
{
    struct sdc_state_del r = {.key = key(f, k), .etag = etag};

    return f->ops->del(f->self, &r, NULL);
}

/* Get `k`; returns DC_OK and fills `out` (caller cleans up out->data). */
static int get(struct fx *f, const char *k, struct sdc_state_value *out)
{
    struct sdc_state_get r = {.key = key(f, k)};

    memset(out, 0, sizeof(*out));
    return f->ops->get(f->self, &r, out, NULL);
}

/* Value text of `k`, "" when absent (static buffer). */
static const char *val(struct fx *f, const char *k)
{
    static _Thread_local char buf[1024];
    struct sdc_state_value v;

    buf[0] = '\0';
    if (get(f, k, &v) != DC_OK)
        return "<error>";
    if (v.found)
        snprintf(buf, sizeof(buf), "%.*s", (int)v.data.len, v.data.data);
    else
        snprintf(buf, sizeof(buf), "<absent>");
    dc_buf_cleanup(&v.data);
    return buf;
}

static void etag_of(struct fx *f, const char *k, char out[72])
{
    struct sdc_state_value v;

    assert_int_equal(get(f, k, &v), DC_OK);
    assert_true(v.found);
    memcpy(out, v.etag, 72);
    dc_buf_cleanup(&v.data);
}

/* ---- generic contract ---- */

static void t_basic(void **state)
{
    struct fx *f = fx_of(state);
    struct sdc_state_value v;
    char e1[72], e2[72];

    assert_int_equal(put(f, "b1", "{\"a\":1}", NULL, SDC_STATE_LAST_WRITE, NULL), DC_OK);
    assert_int_equal(get(f, "b1", &v), DC_OK);
    assert_true(v.found);
    assert_true(v.etag[0] != '\0');
    assert_int_equal(v.expire_unix_ms, 0);
    dc_buf_cleanup(&v.data);
    etag_of(f, "b1", e1);
    assert_int_equal(put(f, "b1", "\"two\"", NULL, SDC_STATE_LAST_WRITE, NULL), DC_OK);
    assert_string_equal(val(f, "b1"), "\"two\"");
    etag_of(f, "b1", e2);
    assert_string_not_equal(e1, e2);
    assert_int_equal(del(f, "b1", NULL), DC_OK);
    assert_string_equal(val(f, "b1"), "<absent>");
    assert_int_equal(del(f, "b1", NULL), DC_OK); /* deleting a missing key is fine */
    assert_string_equal(val(f, "never-written"), "<absent>");
}

static void t_json_and_bytes(void **state)
{
    struct fx *f = fx_of(state);
    static const char raw[] = "bin\0ary\xff\xfe data";
    struct sdc_state_set r = {.key = key(f, "raw"), .value = raw, .value_len = sizeof(raw) - 1};
    struct sdc_state_value v;

    assert_int_equal(f->ops->set(f->self, &r, NULL), DC_OK);
    assert_int_equal(get(f, "raw", &v), DC_OK);
    assert_true(v.found);
    assert_int_equal(v.data.len, sizeof(raw) - 1);
    assert_memory_equal(v.data.data, raw, sizeof(raw) - 1);
    dc_buf_cleanup(&v.data);

    assert_int_equal(put(f, "json", "{\"a\":1,\"b\":[true,null]}", NULL, 0, NULL), DC_OK);
    /* jsonb normalises the text; Redis keeps the bytes. */
    assert_string_equal(val(f, "json"), f->redis ? "{\"a\":1,\"b\":[true,null]}"
                                                 : "{\"a\": 1, \"b\": [true, null]}");
    assert_int_equal(put(f, "str", "\"x y\"", NULL, 0, NULL), DC_OK);
    assert_string_equal(val(f, "str"), "\"x y\"");
}

static void t_etag(void **state)
{
    struct fx *f = fx_of(state);
    struct dc_errbuf eb = {0};
    char e1[72], e2[72];

    assert_int_equal(put(f, "e1", "1", NULL, 0, NULL), DC_OK);
    etag_of(f, "e1", e1);
    assert_int_equal(put(f, "e1", "2", e1, 0, NULL), DC_OK);
    etag_of(f, "e1", e2);
    assert_string_not_equal(e1, e2);
    assert_int_equal(put(f, "e1", "3", e1, 0, &eb), DC_ECONFLICT);
    assert_string_equal(val(f, "e1"), "2");
    assert_int_equal(put(f, "e1", "3", "not-a-number", 0, &eb), DC_EINVAL);
    assert_int_equal(del(f, "e1", e1), DC_ECONFLICT);
    assert_string_equal(val(f, "e1"), "2");
    assert_int_equal(del(f, "e1", "bad etag"), DC_EINVAL);
    assert_int_equal(del(f, "e1", e2), DC_OK);
    assert_string_equal(val(f, "e1"), "<absent>");
    /* An ETag for a missing key is a mismatch. */
    assert_int_equal(put(f, "e1", "4", e2, 0, NULL), DC_ECONFLICT);
    assert_int_equal(del(f, "e1", e2), DC_ECONFLICT);
    assert_string_equal(val(f, "e1"), "<absent>");
}

struct fw_arg {
    struct fx *f;
    atomic_int *go;
    int rv;
    char v[16];
};

static void *fw_main(void *p)
{
    struct fw_arg *a = p;

    while (atomic_load(a->go) == 0) {
    }
    a->rv = put(a->f, "fw-race", a->v, NULL, SDC_STATE_FIRST_WRITE, NULL);
    return NULL;
}

static void t_first_write(void **state)
{
    struct fx *f = fx_of(state);
    struct fw_arg args[8];
    pthread_t th[8];
    atomic_int go = 0;
    int ok = 0, conflict = 0;

    assert_int_equal(put(f, "fw", "1", NULL, SDC_STATE_FIRST_WRITE, NULL), DC_OK);
    assert_int_equal(put(f, "fw", "2", NULL, SDC_STATE_FIRST_WRITE, NULL), DC_ECONFLICT);
    assert_string_equal(val(f, "fw"), "1");
    /* Concurrent first writers of a new key: exactly one wins. */
    for (int i = 0; i < 8; i++) {
        args[i] = (struct fw_arg){f, &go, -1, ""};
        snprintf(args[i].v, sizeof(args[i].v), "%d", i);
        assert_int_equal(pthread_create(&th[i], NULL, fw_main, &args[i]), 0);
    }
    atomic_store(&go, 1);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].rv == DC_OK;
        conflict += args[i].rv == DC_ECONFLICT;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, 7);
}

static void t_ttl(void **state)
{
    struct fx *f = fx_of(state);
    struct sdc_state_value v;
    int64_t now = dc_now_ns() / 1000000;
    int i;

    assert_int_equal(put_ttl(f, "ttl", "\"short\"", 1), DC_OK);
    assert_int_equal(get(f, "ttl", &v), DC_OK);
    assert_true(v.found);
    assert_true(v.expire_unix_ms > now && v.expire_unix_ms <= now + 2500);
    dc_buf_cleanup(&v.data);
    for (i = 0; i < 100 && strcmp(val(f, "ttl"), "<absent>") != 0; i++)
        usleep(50000);
    assert_string_equal(val(f, "ttl"), "<absent>");

    /* -1 removes a previous TTL. */
    assert_int_equal(put_ttl(f, "ttl2", "1", 100), DC_OK);
    assert_int_equal(get(f, "ttl2", &v), DC_OK);
    assert_true(v.expire_unix_ms > now + 90000);
    dc_buf_cleanup(&v.data);
    assert_int_equal(put_ttl(f, "ttl2", "2", -1), DC_OK);
    assert_int_equal(get(f, "ttl2", &v), DC_OK);
    assert_true(v.found);
    assert_int_equal(v.expire_unix_ms, 0);
    dc_buf_cleanup(&v.data);
}

static void t_multi(void **state)
{
    struct fx *f = fx_of(state);
    char ea[72];
    struct sdc_state_op ops[4];
    struct dc_errbuf eb = {0};

    assert_int_equal(put(f, "m-a", "\"a\"", NULL, 0, NULL), DC_OK);
    etag_of(f, "m-a", ea);
    memset(ops, 0, sizeof(ops));
    ops[0].kind = SDC_STATE_OP_UPSERT;
    ops[0].set = (struct sdc_state_set){.key = key(f, "m-b"), .value = "1", .value_len = 1};
    ops[1].kind = SDC_STATE_OP_UPSERT;
    ops[1].set = (struct sdc_state_set){.key = key(f, "m-c"), .value = "2", .value_len = 1};
    ops[2].kind = SDC_STATE_OP_DELETE;
    ops[2].del = (struct sdc_state_del){.key = key(f, "m-a"), .etag = ea};
    ops[3].kind = SDC_STATE_OP_UPSERT;
    ops[3].set = (struct sdc_state_set){
        .key = key(f, "m-d"), .value = "3", .value_len = 1, .etag = "999999"};
    /* The last operation fails: nothing of the transaction is applied. */
    assert_int_equal(f->ops->multi(f->self, ops, 4, &eb), DC_ECONFLICT);
    assert_string_equal(val(f, "m-b"), "<absent>");
    assert_string_equal(val(f, "m-c"), "<absent>");
    assert_string_equal(val(f, "m-a"), "\"a\"");
    assert_string_equal(val(f, "m-d"), "<absent>");
    /* A malformed ETag fails the whole transaction too. */
    ops[3].set.etag = "x";
    assert_int_equal(f->ops->multi(f->self, ops, 4, &eb), DC_EINVAL);
    assert_string_equal(val(f, "m-b"), "<absent>");
    /* Without it, everything applies. */
    assert_int_equal(f->ops->multi(f->self, ops, 3, &eb), DC_OK);
    assert_string_equal(val(f, "m-b"), "1");
    assert_string_equal(val(f, "m-c"), "2");
    assert_string_equal(val(f, "m-a"), "<absent>");
    /* Later operations see earlier ones: upsert then delete of the same key. */
    ops[0].set.key = key(f, "m-e");
    ops[1].kind = SDC_STATE_OP_DELETE;
    ops[1].del = (struct sdc_state_del){.key = key(f, "m-e")};
    assert_int_equal(f->ops->multi(f->self, ops, 2, &eb), DC_OK);
    assert_string_equal(val(f, "m-e"), "<absent>");
}

struct load_arg {
    struct fx *f;
    int id;
    int failures;
};

static void *load_main(void *p)
{
    struct load_arg *a = p;
    char k[64], v[64];

    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "load-%d-%d", a->id, i);
        snprintf(v, sizeof(v), "\"%d-%d\"", a->id, i);
        if (put(a->f, k, v, NULL, 0, NULL) != DC_OK || strcmp(val(a->f, k), v) != 0)
            a->failures++;
    }
    return NULL;
}

static void t_concurrent(void **state)
{
    struct fx *f = fx_of(state);
    struct load_arg args[8];
    pthread_t th[8];

    for (int i = 0; i < 8; i++) {
        args[i] = (struct load_arg){f, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, load_main, &args[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
}

/* ---- restart under load: DAPRC_<X>_STOP_CMD / DAPRC_<X>_START_CMD ---- */

#define RS_MAX 200000

struct writer {
    struct fx *f;
    atomic_int stop;
    atomic_int n;        /* writes attempted */
    atomic_int ok_total; /* acknowledged */
    atomic_int fail_run; /* consecutive failures */
    atomic_int other;    /* failures that were not DC_EUNAVAIL */
    signed char *res;    /* per write: 1 ok, 0 failed */
};

static void *writer_main(void *p)
{
    struct writer *w = p;
    char k[32], v[32];

    while (!atomic_load(&w->stop) && atomic_load(&w->n) < RS_MAX) {
        int i = atomic_load(&w->n);
        int rv;

        snprintf(k, sizeof(k), "rs-%d", i);
        snprintf(v, sizeof(v), "%d", i);
        rv = put(w->f, k, v, NULL, 0, NULL);
        w->res[i] = rv == DC_OK;
        if (rv == DC_OK) {
            atomic_fetch_add(&w->ok_total, 1);
            atomic_store(&w->fail_run, 0);
        } else {
            if (rv != DC_EUNAVAIL)
                atomic_fetch_add(&w->other, 1);
            atomic_fetch_add(&w->fail_run, 1);
            usleep(2000);
        }
        atomic_fetch_add(&w->n, 1);
    }
    return NULL;
}

/* Poll `cond` for up to `secs` seconds. */
static bool wait_until(bool (*cond)(struct writer *, int), struct writer *w, int arg, int secs)
{
    for (int i = 0; i < secs * 100; i++) {
        if (cond(w, arg))
            return true;
        usleep(10000);
    }
    return cond(w, arg);
}

static bool ok_at_least(struct writer *w, int n)
{
    return atomic_load(&w->ok_total) >= n;
}

static bool failing(struct writer *w, int n)
{
    return atomic_load(&w->fail_run) >= n;
}

static void restart_under_load(struct fx *f, const char *what)
{
    char stop_env[64], start_env[64];
    const char *stop_cmd, *start_cmd;
    struct writer w = {.f = f};
    pthread_t th;
    int before, lost = 0;

    snprintf(stop_env, sizeof(stop_env), "DAPRC_%s_STOP_CMD", what);
    snprintf(start_env, sizeof(start_env), "DAPRC_%s_START_CMD", what);
    stop_cmd = getenv(stop_env);
    start_cmd = getenv(start_env);
    if (stop_cmd == NULL || start_cmd == NULL)
        skip();
    w.res = dc_xcalloc(RS_MAX, 1);
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    assert_true(wait_until(ok_at_least, &w, 100, 10));
    assert_int_equal(system(stop_cmd), 0);
    /* While it is down: clean DC_EUNAVAIL errors. */
    assert_true(wait_until(failing, &w, 5, 20));
    before = atomic_load(&w.ok_total);
    assert_int_equal(system(start_cmd), 0);
    /* Recovery without reinitialising the store. */
    assert_true(wait_until(ok_at_least, &w, before + 100, 30));
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&w.other), 0);
    /* Every acknowledged write is there. */
    for (int i = 0; i < atomic_load(&w.n); i++) {
        char k[32], v[32];
        if (!w.res[i])
            continue;
        snprintf(k, sizeof(k), "rs-%d", i);
        snprintf(v, sizeof(v), "%d", i);
        if (strcmp(val(f, k), v) != 0)
            lost++;
    }
    print_message("%s restart: %d writes, %d acknowledged, %d lost\n", what, atomic_load(&w.n),
                  atomic_load(&w.ok_total), lost);
    assert_int_equal(lost, 0);
    free(w.res);
}

/* ---- redis ---- */

static redisContext *redis_direct(void)
{
    const char *addr = getenv("DAPRC_REDIS_ADDR");
    char host[128];
    const char *colon = strrchr(addr, ':');
    redisContext *c;

    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    c = redisConnect(host, (int)strtol(colon + 1, NULL, 10));
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    return c;
}

static int redis_setup(void **state)
{
    const char *addr = getenv("DAPRC_REDIS_ADDR");
    struct fx *f;
    struct dc_errbuf eb = {0};

    *state = NULL;
    if (addr == NULL || addr[0] == '\0')
        return 0;
    f = dc_xcalloc(1, sizeof(*f));
    f->ops = ops_of(&sdc_type_state_redis);
    f->redis = true;
    snprintf(f->pfx, sizeof(f->pfx), "t%d-r||", (int)getpid());
    if (open_store(&sdc_type_state_redis, &f->self, &eb, "redisHost", addr, "poolSize", "16",
                   NULL) != DC_OK) {
        print_error("redis init: %s\n", eb.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (f != NULL) {
        f->ops->base.close(f->self);
        free(f);
    }
    return 0;
}

static void t_redis_layout(void **state)
{
    struct fx *f = fx_of(state);
    redisContext *c = redis_direct();
    redisReply *r;

    assert_int_equal(put(f, "lay", "{\"v\":1}", NULL, 0, NULL), DC_OK);
    assert_int_equal(put(f, "lay", "{\"v\":2}", NULL, 0, NULL), DC_OK);
    r = redisCommand(c, "HGETALL %s", key(f, "lay"));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 4);
    for (size_t i = 0; i < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, "data") == 0)
            assert_string_equal(r->element[i + 1]->str, "{\"v\":2}");
        else if (strcmp(r->element[i]->str, "version") == 0)
            assert_string_equal(r->element[i + 1]->str, "2");
        else
            fail_msg("unexpected field %s", r->element[i]->str);
    }
    freeReplyObject(r);
    /* first-write marks the key as upstream does. */
    assert_int_equal(put(f, "lay-fw", "1", NULL, SDC_STATE_FIRST_WRITE, NULL), DC_OK);
    r = redisCommand(c, "HGET %s first-write", key(f, "lay-fw"));
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "0");
    freeReplyObject(r);
    /* TTLs are EXPIRE on the key. */
    assert_int_equal(put_ttl(f, "lay-ttl", "1", 50), DC_OK);
    r = redisCommand(c, "TTL %s", key(f, "lay-ttl"));
    assert_true(r->integer > 40 && r->integer <= 50);
    freeReplyObject(r);
    redisFree(c);
}

/* Data written the way upstream daprd writes it reads back, and ETags continue from it. */
static void t_redis_upstream_data(void **state)
{
    struct fx *f = fx_of(state);
    redisContext *c = redis_direct();
    redisReply *r;
    char e[72];

    freeReplyObject(redisCommand(c, "HSET %s data %s version 7", key(f, "up"), "\"theirs\""));
    assert_string_equal(val(f, "up"), "\"theirs\"");
    etag_of(f, "up", e);
    assert_string_equal(e, "7");
    assert_int_equal(put(f, "up", "\"ours\"", "6", 0, NULL), DC_ECONFLICT);
    assert_int_equal(put(f, "up", "\"ours\"", "7", 0, NULL), DC_OK);
    r = redisCommand(c, "HGET %s version", key(f, "up"));
    assert_string_equal(r->str, "8");
    freeReplyObject(r);
    /* A key upstream wrote under first-write refuses ETag-less writes. */
    freeReplyObject(redisCommand(c, "HSET %s data 1 version 1 first-write 0", key(f, "up-fw")));
    assert_int_equal(put(f, "up-fw", "2", NULL, 0, NULL), DC_ECONFLICT);
    assert_int_equal(put(f, "up-fw", "2", "1", 0, NULL), DC_OK);
    /* A plain string from before ETags is read with GET. */
    freeReplyObject(redisCommand(c, "SET %s %s", key(f, "up-old"), "\"legacy\""));
    assert_string_equal(val(f, "up-old"), "\"legacy\"");
    /* ... and replaced by a hash on the next write. */
    assert_int_equal(put(f, "up-old", "\"new\"", NULL, 0, NULL), DC_OK);
    assert_string_equal(val(f, "up-old"), "\"new\"");
    redisFree(c);
}

static void t_redis_default_ttl(void **state)
{
    struct fx *f = fx_of(state);
    struct fx g = *f;
    struct sdc_state_value v;
    struct dc_errbuf eb = {0};

    assert_int_equal(open_store(&sdc_type_state_redis, &g.self, &eb, "redisHost",
                                getenv("DAPRC_REDIS_ADDR"), "ttlInSeconds", "30", NULL),
                     DC_OK);
    assert_int_equal(put(&g, "dttl", "1", NULL, 0, NULL), DC_OK);
    assert_int_equal(get(&g, "dttl", &v), DC_OK);
    assert_true(v.expire_unix_ms > dc_now_ns() / 1000000 + 20000);
    dc_buf_cleanup(&v.data);
    assert_int_equal(put_ttl(&g, "dttl", "1", -1), DC_OK);
    assert_int_equal(get(&g, "dttl", &v), DC_OK);
    assert_int_equal(v.expire_unix_ms, 0);
    dc_buf_cleanup(&v.data);
    g.ops->base.close(g.self);
}

static void t_redis_restart(void **state)
{
    restart_under_load(fx_of(state), "REDIS");
}

/* ---- postgres ---- */

static int pg_setup(void **state)
{
    const char *conn = getenv("DAPRC_PG_CONN");
    struct fx *f;
    struct dc_errbuf eb = {0};

    *state = NULL;
    if (conn == NULL || conn[0] == '\0')
        return 0;
    f = dc_xcalloc(1, sizeof(*f));
    f->ops = ops_of(&sdc_type_state_postgresql);
    snprintf(f->pfx, sizeof(f->pfx), "t%d-p||", (int)getpid());
    if (open_store(&sdc_type_state_postgresql, &f->self, &eb, "connectionString", conn, "maxConns",
                   "12", NULL) != DC_OK) {
        print_error("postgres init: %s\n", eb.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static PGconn *pg_direct(void)
{
    PGconn *c;

    assert_int_equal(sdc__pq_load(NULL), DC_OK); /* libpq is not linked */
    c = PQconnectdb(getenv("DAPRC_PG_CONN"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

/* The one value of a one-row query ("" when none); static buffer. */
static const char *pg_one(PGconn *c, const char *sql, const char *param)
{
    static char buf[512];
    PGresult *r = PQexecParams(c, sql, param != NULL ? 1 : 0, NULL, &param, NULL, NULL, 0);

    buf[0] = '\0';
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    if (PQntuples(r) > 0)
        snprintf(buf, sizeof(buf), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return buf;
}

static void t_pg_layout(void **state)
{
    struct fx *f = fx_of(state);
    PGconn *c = pg_direct();
    static const char raw[] = "\x01\x02not json";
    struct sdc_state_set r = {.key = key(f, "lay-bin"), .value = raw, .value_len = 10};
    char e[72];

    assert_string_equal(pg_one(c,
                               "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY "
                               "ordinal_position) FROM information_schema.columns WHERE "
                               "table_name = 'state'",
                               NULL),
                        "key:text,value:jsonb,isbinary:boolean,"
                        "insertdate:timestamp with time zone,updatedate:timestamp with time zone,"
                        "expiredate:timestamp with time zone");
    assert_string_equal(pg_one(c, "SELECT value FROM dapr_metadata WHERE key = 'migrations'", NULL),
                        "2");
    assert_int_equal(put(f, "lay", "{\"v\":1}", NULL, 0, NULL), DC_OK);
    etag_of(f, "lay", e);
    assert_string_equal(pg_one(c, "SELECT xmin::text FROM state WHERE key = $1", key(f, "lay")), e);
    assert_string_equal(
        pg_one(c, "SELECT isbinary::text || ' ' || value::text FROM state WHERE key = $1",
               key(f, "lay")),
        "false {\"v\": 1}");
    assert_int_equal(f->ops->set(f->self, &r, NULL), DC_OK);
    assert_string_equal(
        pg_one(c, "SELECT isbinary::text || ' ' || value::text FROM state WHERE key = $1",
               key(f, "lay-bin")),
        "true \"AQJub3QganNvbg==\"");
    /* Rows written by upstream (a base64 string with isbinary) read back as bytes. */
    PQclear(PQexecParams(c,
                         "INSERT INTO state (key, value, isbinary) VALUES ($1, '\"aGVsbG8=\"', "
                         "true)",
                         1, NULL, (const char *const[]){key(f, "up-bin")}, NULL, NULL, 0));
    assert_string_equal(val(f, "up-bin"), "hello");
    PQfinish(c);
}

static void t_pg_reinit(void **state)
{
    struct fx *f = fx_of(state);
    void *again = NULL;
    struct dc_errbuf eb = {0};

    /* A second init over existing tables (as another sidecar would) migrates nothing. */
    assert_int_equal(open_store(&sdc_type_state_postgres, &again, &eb, "connectionString",
                                getenv("DAPRC_PG_CONN"), NULL),
                     DC_OK);
    f->ops->base.close(again);
}

/* Query documents: tagged with this run's pid so other tests' rows never match. */
static void seed_query(struct fx *f, char *run, size_t cap)
{
    static const char *const docs[][2] = {
        {"q1",
         "{\"person\":{\"org\":\"Dev Ops\",\"id\":1036},\"city\":\"Seattle\",\"state\":\"WA\"}"},
        {"q2",
         "{\"person\":{\"org\":\"Hardware\",\"id\":1028},\"city\":\"Portland\",\"state\":\"OR\"}"},
        {"q3",
         "{\"person\":{\"org\":\"Finance\",\"id\":1071},\"city\":\"Sacramento\",\"state\":\"CA\"}"},
        {"q4",
         "{\"person\":{\"org\":\"Dev Ops\",\"id\":1042},\"city\":\"Spokane\",\"state\":\"WA\"}"},
        {"q5", "{\"person\":{\"org\":\"Hardware\",\"id\":1007},\"city\":\"Los "
               "Angeles\",\"state\":\"CA\"}"},
        {"q6",
         "{\"person\":{\"org\":\"Finance\",\"id\":1094},\"city\":\"Eugene\",\"state\":\"OR\"}"},
    };

    snprintf(run, cap, "run-%d", (int)getpid());
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        char v[256];
        snprintf(v, sizeof(v), "%.*s,\"run\":\"%s\"}", (int)strlen(docs[i][1]) - 1, docs[i][1],
                 run);
        assert_int_equal(put(f, docs[i][0], v, NULL, 0, NULL), DC_OK);
    }
}

/* Run a query; returns the keys of the results joined by ',' and the token in `token`. */
static int run_query(struct fx *f, const char *q, char *keys, size_t cap, char *token,
                     struct dc_errbuf *eb)
{
    struct dc_buf out = {0};
    cJSON *doc = NULL, *it;
    const cJSON *res;
    int rv = f->ops->query(f->self, q, strlen(q), NULL, &out, eb);

    keys[0] = '\0';
    token[0] = '\0';
    if (rv != DC_OK)
        return rv;
    assert_int_equal(dc_json_parse(out.data, out.len, out.len, &doc, NULL), DC_OK);
    res = cJSON_GetObjectItemCaseSensitive(doc, "results");
    assert_true(cJSON_IsArray(res));
    cJSON_ArrayForEach(it, res)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "key");
        assert_true(cJSON_IsString(k));
        assert_non_null(cJSON_GetObjectItemCaseSensitive(it, "data"));
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "etag")));
        if (keys[0] != '\0')
            strncat(keys, ",", cap - strlen(keys) - 1);
        strncat(keys, k->valuestring, cap - strlen(keys) - 1);
    }
    it = cJSON_GetObjectItemCaseSensitive(doc, "token");
    if (cJSON_IsString(it))
        snprintf(token, 32, "%s", it->valuestring);
    cJSON_Delete(doc);
    dc_buf_cleanup(&out);
    return DC_OK;
}

static void t_pg_query(void **state)
{
    struct fx *f = fx_of(state);
    char run[32], q[1024], keys[512], token[32];
    struct dc_errbuf eb = {0};

#define Q(...) (snprintf(q, sizeof(q), __VA_ARGS__), q)
#define RUNF "{\"EQ\":{\"run\":\"%s\"}}"
    seed_query(f, run, sizeof(run));
    /* EQ on a nested field; keys come back without the app prefix. */
    assert_int_equal(run_query(f,
                               Q("{\"filter\":{\"AND\":[" RUNF ",{\"EQ\":{\"person.org\":"
                                 "\"Dev Ops\"}}]},\"sort\":[{\"key\":\"person.id\"}]}",
                                 run),
                               keys, sizeof(keys), token, &eb),
                     DC_OK);
    assert_string_equal(keys, "q1,q4");
    assert_string_equal(token, "");
    /* EQ on a number compares its text. */
    assert_int_equal(
        run_query(f, Q("{\"filter\":{\"AND\":[" RUNF ",{\"EQ\":{\"person.id\":1071}}]}}", run),
                  keys, sizeof(keys), token, &eb),
        DC_OK);
    assert_string_equal(keys, "q3");
    /* IN, sorted descending. */
    assert_int_equal(run_query(f,
                               Q("{\"filter\":{\"AND\":[" RUNF ",{\"IN\":{\"state\":[\"CA\","
                                 "\"OR\"]}}]},\"sort\":[{\"key\":\"city\",\"order\":"
                                 "\"DESC\"}]}",
                                 run),
                               keys, sizeof(keys), token, &eb),
                     DC_OK);
    assert_string_equal(keys, "q3,q2,q5,q6");
    /* OR of an EQ and an AND, two sort keys. */
    assert_int_equal(
        run_query(f,
                  Q("{\"filter\":{\"AND\":[" RUNF ",{\"OR\":[{\"EQ\":{\"person.org\":\"Dev "
                    "Ops\"}},{\"AND\":[{\"EQ\":{\"person.org\":\"Finance\"}},{\"IN\":{"
                    "\"state\":[\"CA\",\"WA\"]}}]}]}]},\"sort\":[{\"key\":\"state\",\"order\":"
                    "\"DESC\"},{\"key\":\"person.id\"}]}",
                    run),
                  keys, sizeof(keys), token, &eb),
        DC_OK);
    assert_string_equal(keys, "q1,q4,q3");
    /* Paging: limit and the continuation token. */
    assert_int_equal(run_query(f,
                               Q("{\"filter\":" RUNF ",\"sort\":[{\"key\":\"person.id\"}],"
                                 "\"page\":{\"limit\":4}}",
                                 run),
                               keys, sizeof(keys), token, &eb),
                     DC_OK);
    assert_string_equal(keys, "q5,q2,q1,q4");
    assert_string_equal(token, "4");
    assert_int_equal(run_query(f,
                               Q("{\"filter\":" RUNF ",\"sort\":[{\"key\":\"person.id\"}],"
                                 "\"page\":{\"limit\":4,\"token\":\"%s\"}}",
                                 run, token),
                               keys, sizeof(keys), token, &eb),
                     DC_OK);
    assert_string_equal(keys, "q3,q6");
    assert_string_equal(token, "6");
    /* Quotes in field names cannot break out of the SQL text. */
    assert_int_equal(run_query(f,
                               Q("{\"filter\":{\"AND\":[" RUNF ",{\"EQ\":{\"a'); DROP TABLE "
                                 "state; --\":\"x\"}}]}}",
                                 run),
                               keys, sizeof(keys), token, &eb),
                     DC_OK);
    assert_string_equal(keys, "");
    /* Errors. */
    assert_int_equal(
        run_query(f, "{\"filter\":{\"GT\":{\"a\":1}}}", keys, sizeof(keys), token, &eb), DC_EINVAL);
    assert_int_equal(
        run_query(f, "{\"filter\":{\"EQ\":{\"a\":1,\"b\":2}}}", keys, sizeof(keys), token, &eb),
        DC_EINVAL);
    assert_int_equal(run_query(f, "{\"sort\":[{\"key\":\"a\",\"order\":\"UP\"}]}", keys,
                               sizeof(keys), token, &eb),
                     DC_EINVAL);
    assert_int_equal(
        run_query(f, "{\"page\":{\"limit\":1,\"token\":\"x\"}}", keys, sizeof(keys), token, &eb),
        DC_EINVAL);
    assert_int_equal(run_query(f, "not json", keys, sizeof(keys), token, &eb), DC_EPARSE);
#undef Q
#undef RUNF
}

static void t_pg_cleanup(void **state)
{
    struct fx *f = fx_of(state);
    struct fx g = *f;
    struct dc_errbuf eb = {0};
    PGconn *c = pg_direct();
    const char *k = key(f, "gc");
    int i;

    assert_int_equal(open_store(&sdc_type_state_postgresql, &g.self, &eb, "connectionString",
                                getenv("DAPRC_PG_CONN"), "cleanupInterval", "1s", NULL),
                     DC_OK);
    assert_int_equal(put_ttl(&g, "gc", "1", 1), DC_OK);
    for (i = 0; i < 100; i++) {
        if (strcmp(pg_one(c, "SELECT count(*) FROM state WHERE key = $1", k), "0") == 0)
            break;
        usleep(100000);
    }
    assert_string_equal(pg_one(c, "SELECT count(*) FROM state WHERE key = $1", k), "0");
    assert_true(pg_one(c, "SELECT value FROM dapr_metadata WHERE key = 'last-cleanup'", NULL)[0] !=
                '\0');
    g.ops->base.close(g.self);
    PQfinish(c);
}

static void t_pg_restart(void **state)
{
    struct fx *f = fx_of(state);
    const char *stop_cmd = getenv("DAPRC_PG_STOP_CMD");
    const char *start_cmd = getenv("DAPRC_PG_START_CMD");
    struct sdc_state_value v;
    struct dc_errbuf eb = {0};

    if (stop_cmd == NULL || start_cmd == NULL)
        skip();
    assert_int_equal(put(f, "pr", "\"before\"", NULL, 0, NULL), DC_OK);
    assert_int_equal(system(stop_cmd), 0);
    assert_int_equal(put(f, "pr", "\"down\"", NULL, 0, &eb), DC_EUNAVAIL);
    assert_int_equal(get(f, "pr", &v), DC_EUNAVAIL);
    assert_int_equal(system(start_cmd), 0);
    assert_string_equal(val(f, "pr"), "\"before\"");
    restart_under_load(f, "PG");
}

/* ---- metadata validation: no server needed ---- */

static void t_md_errors(void **state)
{
    struct dc_errbuf eb = {0};
    void *s = NULL;

    (void)state;
    assert_int_equal(open_store(&sdc_type_state_redis, &s, &eb, NULL), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "redisHost"));
    assert_int_equal(
        open_store(&sdc_type_state_redis, &s, &eb, "redisHost", "h:1", "enableTLS", "true", NULL),
        DC_EUNSUPPORTED);
    assert_non_null(strstr(eb.msg, "enableTLS"));
    assert_int_equal(open_store(&sdc_type_state_redis, &s, &eb, "redisHost", "h:1", "redisType",
                                "cluster", NULL),
                     DC_EUNSUPPORTED);
    assert_int_equal(open_store(&sdc_type_state_redis, &s, &eb, "redisHost", "h:99999", NULL),
                     DC_EINVAL);
    assert_int_equal(
        open_store(&sdc_type_state_redis, &s, &eb, "redisHost", "h:1", "redisDB", "x", NULL),
        DC_EINVAL);
    /* Nothing listens on port 1 of loopback: unavailable, promptly. */
    assert_int_equal(open_store(&sdc_type_state_redis, &s, &eb, "redisHost", "127.0.0.1:1", NULL),
                     DC_EUNAVAIL);
    assert_int_equal(open_store(&sdc_type_state_postgresql, &s, &eb, NULL), DC_EINVAL);
    assert_int_equal(open_store(&sdc_type_state_postgresql, &s, &eb, "connectionString",
                                "host=127.0.0.1 port=1", "tableName", "state; DROP", NULL),
                     DC_EINVAL);
    assert_int_equal(open_store(&sdc_type_state_postgresql, &s, &eb, "connectionString",
                                "host='unterminated", NULL),
                     DC_EINVAL);
    assert_int_equal(open_store(&sdc_type_state_postgresql, &s, &eb, "connectionString",
                                "host=127.0.0.1 port=1 database=x pool_max_conns=3", NULL),
                     DC_EUNAVAIL);
    assert_int_equal(open_store(&sdc_type_state_postgres, &s, &eb, "connectionString",
                                "postgres://u@127.0.0.1:1/db?pool_max_conns=3&sslmode=disable",
                                NULL),
                     DC_EUNAVAIL);
    assert_null(strstr(eb.msg, "pool_max_conns"));
}

int main(void)
{
    const struct CMUnitTest md[] = {
        cmocka_unit_test(t_md_errors),
    };
    const struct CMUnitTest redis[] = {
        cmocka_unit_test(t_basic),
        cmocka_unit_test(t_json_and_bytes),
        cmocka_unit_test(t_etag),
        cmocka_unit_test(t_first_write),
        cmocka_unit_test(t_ttl),
        cmocka_unit_test(t_multi),
        cmocka_unit_test(t_concurrent),
        cmocka_unit_test(t_redis_layout),
        cmocka_unit_test(t_redis_upstream_data),
        cmocka_unit_test(t_redis_default_ttl),
        cmocka_unit_test(t_redis_restart),
    };
    const struct CMUnitTest pg[] = {
        cmocka_unit_test(t_basic),      cmocka_unit_test(t_json_and_bytes),
        cmocka_unit_test(t_etag),       cmocka_unit_test(t_first_write),
        cmocka_unit_test(t_ttl),        cmocka_unit_test(t_multi),
        cmocka_unit_test(t_concurrent), cmocka_unit_test(t_pg_layout),
        cmocka_unit_test(t_pg_reinit),  cmocka_unit_test(t_pg_query),
        cmocka_unit_test(t_pg_cleanup), cmocka_unit_test(t_pg_restart),
    };
    int fails = 0;

    fails += cmocka_run_group_tests_name("state_metadata", md, NULL, NULL);
    fails += cmocka_run_group_tests_name("state_redis", redis, redis_setup, teardown);
    fails += cmocka_run_group_tests_name("state_postgres", pg, pg_setup, teardown);
    return fails != 0;
}
