/* The lock API (sidecar-api.md §10) over lock.in-memory and a failing fake store, dispatched
 * through the real router without sockets; keyPrefix rules; lock.in-memory semantics. */
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

#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "../lock.h"
#include "../runtime.h"

/* ---- a store that fails every call ------------------------------------------------------- */

static int fail_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                     struct dc_errbuf *eb)
{
    (void)md;
    (void)ctx;
    (void)eb;
    *self = NULL;
    return DC_OK;
}

static int fail_lock(void *self, const char *key, const char *owner, int32_t expiry_s,
                     bool *acquired, struct dc_errbuf *eb)
{
    (void)self;
    (void)key;
    (void)owner;
    (void)expiry_s;
    (void)acquired;
    return dc_err_set(eb, DC_EUNAVAIL, "backend down");
}

static int fail_unlock(void *self, const char *key, const char *owner,
                       enum sdc_unlock_status *status, struct dc_errbuf *eb)
{
    (void)self;
    (void)key;
    (void)owner;
    (void)status;
    return dc_err_set(eb, DC_EUNAVAIL, "backend down");
}

static const struct sdc_lock_ops fail_ops = {
    .base = {.init = fail_init},
    .try_lock = fail_lock,
    .unlock = fail_unlock,
};
static const struct sdc_component_type fail_type = {"lock.fail", "v1", SDC_CAT_LOCK,
                                                    &fail_ops.base};

/* ---- fixture ----------------------------------------------------------------------------- */

#define MAX_STORES 4

struct fx {
    struct sdc_config cfg;
    struct sdc_runtime rt;
    struct dc_component defs[MAX_STORES];
    struct dc_http_router *r;
};

static void add_store(struct fx *f, const char *name, const struct sdc_component_type *type,
                      const char *prefix)
{
    struct sdc_components *cs = &f->rt.comps;
    struct sdc_component *sc = &cs->v[cs->n];
    struct sdc_init_ctx ctx = {.name = name, .app_id = "app", .timeout_ms = 5000};
    struct dc_errbuf eb = {0};

    assert_non_null(type);
    f->defs[cs->n].meta.name = (char *)name;
    f->defs[cs->n].type = (char *)type->type;
    sc->def = &f->defs[cs->n];
    sc->type = type;
    if (prefix != NULL)
        sdc_md_set(&sc->md, "keyPrefix", prefix);
    assert_int_equal(type->ops->init(&sc->self, &sc->md, &ctx, &eb), DC_OK);
    sc->ok = true;
    cs->n++;
}

static int setup_common(void **state, bool stores)
{
    struct fx *f = dc_xcalloc(1, sizeof(*f));

    f->cfg.app_id = (char *)"app";
    f->rt.cfg = &f->cfg;
    f->rt.comps.v = dc_xcalloc(MAX_STORES, sizeof(struct sdc_component));
    if (stores) {
        add_store(f, "mem", sdc_component_type_find("lock.in-memory", "v1"), NULL);
        add_store(f, "fail", &fail_type, NULL);
    }
    f->r = dc_http_router_new();
    sdc_lock_api_routes(f->r, &f->rt);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_common(state, true);
}

static int setup_empty(void **state)
{
    return setup_common(state, false);
}

static int teardown(void **state)
{
    struct fx *f = *state;

    dc_http_router_free(f->r);
    sdc_components_close(&f->rt.comps);
    free(f);
    return 0;
}

/* Dispatch one request; returns "STATUS BODY" in `out`. */
static void call(struct fx *f, const char *method, const char *path, const char *body, char *out,
                 size_t cap)
{
    struct dc_arena arena;
    struct dc_http_request req = {0};
    struct dc_http_response resp;

    dc_arena_init(&arena);
    req.method = method;
    req.path = path;
    req.query = "";
    req.body = body != NULL ? body : "";
    req.body_len = body != NULL ? strlen(body) : 0;
    req.arena = &arena;
    dc_http_response_init(&resp, &arena);
    (void)dc_http_router_dispatch(f->r, &req, &resp);
    snprintf(out, cap, "%d %s", resp.status, dc_buf_cstr(&resp.body));
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&arena);
}

static void expect(struct fx *f, const char *path, const char *body, const char *want)
{
    char got[512];

    call(f, "POST", path, body, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("POST %s %s:\n  got  %s\n  want %s", path, body, got, want);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_key_rules(void **state)
{
    struct dc_arena a;
    struct sdc_md md = {0};
    struct dc_errbuf eb = {0};
    const char *k = NULL;

    (void)state;
    dc_arena_init(&a);
    assert_int_equal(sdc_lock_key(&a, &md, "st", "app", "r1", &k, &eb), DC_OK);
    assert_string_equal(k, "lock||app||r1");
    assert_int_equal(sdc_lock_key(&a, &md, "st", "", "r1", &k, &eb), DC_OK);
    assert_string_equal(k, "lock||r1");
    sdc_md_set(&md, "keyPrefix", "AppID");
    assert_int_equal(sdc_lock_key(&a, &md, "st", "app", "r1", &k, &eb), DC_OK);
    assert_string_equal(k, "lock||app||r1");
    sdc_md_set(&md, "keyPrefix", "none");
    assert_int_equal(sdc_lock_key(&a, &md, "st", "app", "r1", &k, &eb), DC_OK);
    assert_string_equal(k, "lock||r1");
    sdc_md_set(&md, "keyPrefix", "name");
    assert_int_equal(sdc_lock_key(&a, &md, "st", "app", "r1", &k, &eb), DC_OK);
    assert_string_equal(k, "lock||st||r1");
    sdc_md_set(&md, "keyPrefix", "MyPrefix");
    assert_int_equal(sdc_lock_key(&a, &md, "st", "app", "r1", &k, &eb), DC_OK);
    assert_string_equal(k, "lock||myprefix||r1");
    assert_int_equal(sdc_lock_key(&a, &md, "st", "app", "a||b", &k, &eb), DC_EINVAL);
    assert_string_equal(eb.msg, "input key/keyPrefix 'a||b' can't contain '||'");
    assert_int_equal(sdc_lock_check_component(&md, &eb), DC_OK);
    sdc_md_set(&md, "keyPrefix", "x||y");
    assert_int_equal(sdc_lock_check_component(&md, &eb), DC_EINVAL);
    sdc_md_cleanup(&md);
    dc_arena_cleanup(&a);
}

static void test_not_configured(void **state)
{
    struct fx *f = *state;

    expect(f, "/v1.0-alpha1/lock/mem",
           "{\"resourceId\":\"r\",\"lockOwner\":\"o\",\"expiryInSeconds\":5}",
           "500 {\"errorCode\":\"ERR_LOCK_STORE_NOT_CONFIGURED\",\"message\":\"lock store is not "
           "configured\"}");
    /* Expiry is checked before anything else on lock, and not at all on unlock. */
    expect(f, "/v1.0-alpha1/lock/mem", "{}",
           "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\",\"message\":\"ExpiryInSeconds is not "
           "positive in lock store mem\"}");
    expect(f, "/v1.0-alpha1/unlock/mem", "{}",
           "500 {\"errorCode\":\"ERR_LOCK_STORE_NOT_CONFIGURED\",\"message\":\"lock store is not "
           "configured\"}");
}

static void test_validation(void **state)
{
    struct fx *f = *state;

    expect(f, "/v1.0-alpha1/lock/mem",
           "{\"resourceId\":\"r\",\"lockOwner\":\"o\",\"expiryInSeconds\":-1}",
           "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\",\"message\":\"ExpiryInSeconds is not "
           "positive in lock store mem\"}");
    expect(f, "/v1.0-alpha1/lock/mem", "{\"lockOwner\":\"o\",\"expiryInSeconds\":5}",
           "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\",\"message\":\"ResourceId is empty in lock "
           "store mem\"}");
    expect(f, "/v1.0-alpha1/unlock/mem", "{\"resourceId\":\"r\"}",
           "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\",\"message\":\"LockOwner is empty in lock "
           "store mem\"}");
    expect(f, "/v1.0-alpha1/lock/nope",
           "{\"resourceId\":\"r\",\"lockOwner\":\"o\",\"expiryInSeconds\":5}",
           "400 {\"errorCode\":\"ERR_LOCK_STORE_NOT_FOUND\",\"message\":\"lock store nope not "
           "found\"}");
    expect(f, "/v1.0-alpha1/lock/mem",
           "{\"resourceId\":\"a||b\",\"lockOwner\":\"o\",\"expiryInSeconds\":5}",
           "500 {\"errorCode\":\"ERR_TRY_LOCK\",\"message\":\"failed to try acquiring lock: input "
           "key/keyPrefix 'a||b' can't contain '||'\"}");
    expect(f, "/v1.0-alpha1/unlock/mem", "{\"resourceId\":\"a||b\",\"lockOwner\":\"o\"}",
           "500 {\"errorCode\":\"ERR_UNLOCK\",\"message\":\"failed to release lock: input "
           "key/keyPrefix 'a||b' can't contain '||'\"}");
    /* Malformed bodies. */
    {
        char got[512];
        call(f, "POST", "/v1.0-alpha1/lock/mem", "{\"resourceId\":", got, sizeof(got));
        assert_non_null(strstr(got, "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\",\"message\":"
                                    "\"failed deserializing HTTP body: "));
        call(f, "POST", "/v1.0-alpha1/lock/mem", "[1]", got, sizeof(got));
        assert_non_null(strstr(got, "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\""));
        call(f, "POST", "/v1.0-alpha1/lock/mem",
             "{\"resourceId\":1,\"lockOwner\":\"o\",\"expiryInSeconds\":5}", got, sizeof(got));
        assert_non_null(strstr(got, "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\""));
        call(f, "POST", "/v1.0-alpha1/lock/mem",
             "{\"resourceId\":\"r\",\"lockOwner\":\"o\",\"expiryInSeconds\":1.5}", got,
             sizeof(got));
        assert_non_null(strstr(got, "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\""));
        call(f, "POST", "/v1.0-alpha1/lock/mem",
             "{\"resourceId\":\"r\",\"lockOwner\":\"o\",\"expiryInSeconds\":3000000000}", got,
             sizeof(got));
        assert_non_null(strstr(got, "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\""));
        /* Beyond int64_t: rejected without converting it (the conversion is undefined). */
        call(f, "POST", "/v1.0-alpha1/lock/mem",
             "{\"resourceId\":\"r\",\"lockOwner\":\"o\",\"expiryInSeconds\":1e30}", got,
             sizeof(got));
        assert_non_null(strstr(got, "400 {\"errorCode\":\"ERR_MALFORMED_REQUEST\""));
    }
    /* Only POST: a GET falls through to the (absent) fallback. */
    {
        char got[512];
        call(f, "GET", "/v1.0-alpha1/lock/mem", NULL, got, sizeof(got));
        assert_int_equal(strncmp(got, "404 ", 4), 0);
    }
}

static void test_roundtrip(void **state)
{
    struct fx *f = *state;

    expect(f, "/v1.0-alpha1/lock/mem",
           "{\"resourceId\":\"r1\",\"lockOwner\":\"A\",\"expiryInSeconds\":30}",
           "200 {\"success\":true}");
    expect(f, "/v1.0-alpha1/lock/mem",
           "{\"resourceId\":\"r1\",\"lockOwner\":\"B\",\"expiryInSeconds\":30}",
           "200 {\"success\":false}");
    /* The same owner cannot take it twice either (SET NX semantics). */
    expect(f, "/v1.0-alpha1/lock/mem",
           "{\"resourceId\":\"r1\",\"lockOwner\":\"A\",\"expiryInSeconds\":30}",
           "200 {\"success\":false}");
    expect(f, "/v1.0-alpha1/unlock/mem", "{\"resourceId\":\"r1\",\"lockOwner\":\"B\"}",
           "200 {\"status\":2}");
    expect(f, "/v1.0-alpha1/unlock/mem", "{\"resourceId\":\"r1\",\"lockOwner\":\"A\"}",
           "200 {\"status\":0}");
    expect(f, "/v1.0-alpha1/unlock/mem", "{\"resourceId\":\"r1\",\"lockOwner\":\"A\"}",
           "200 {\"status\":1}");
    /* protojson: proto field names, int32 as a string, unknown fields ignored. */
    expect(f, "/v1.0-alpha1/lock/mem",
           "{\"resource_id\":\"r2\",\"lock_owner\":\"A\",\"expiryInSeconds\":\"5\",\"x\":[1]}",
           "200 {\"success\":true}");
    expect(f, "/v1.0-alpha1/unlock/mem", "{\"resourceId\":\"r2\",\"lockOwner\":\"A\"}",
           "200 {\"status\":0}");
}

static void test_store_failure(void **state)
{
    struct fx *f = *state;

    expect(
        f, "/v1.0-alpha1/lock/fail",
        "{\"resourceId\":\"r\",\"lockOwner\":\"o\",\"expiryInSeconds\":5}",
        "500 {\"errorCode\":\"ERR_TRY_LOCK\",\"message\":\"failed to try acquiring lock: backend "
        "down\"}");
    expect(f, "/v1.0-alpha1/unlock/fail", "{\"resourceId\":\"r\",\"lockOwner\":\"o\"}",
           "500 {\"errorCode\":\"ERR_UNLOCK\",\"message\":\"failed to release lock: backend "
           "down\"}");
}

static void test_memory_expiry(void **state)
{
    struct fx *f = *state;
    int64_t t0 = dc_mono_ns();
    char got[256];

    expect(f, "/v1.0-alpha1/lock/mem",
           "{\"resourceId\":\"e\",\"lockOwner\":\"A\",\"expiryInSeconds\":1}",
           "200 {\"success\":true}");
    /* Bounded poll: B gets it once A's second is over, not before. */
    for (;;) {
        call(f, "POST", "/v1.0-alpha1/lock/mem",
             "{\"resourceId\":\"e\",\"lockOwner\":\"B\",\"expiryInSeconds\":5}", got, sizeof(got));
        if (strcmp(got, "200 {\"success\":true}") == 0)
            break;
        assert_string_equal(got, "200 {\"success\":false}");
        assert_true(dc_mono_ns() - t0 < 3000000000LL);
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    assert_true(dc_mono_ns() - t0 >= 1000000000LL);
    /* A's expired lock is gone: A's unlock now meets B's lock. */
    expect(f, "/v1.0-alpha1/unlock/mem", "{\"resourceId\":\"e\",\"lockOwner\":\"A\"}",
           "200 {\"status\":2}");
}

/* Many threads on one resource: never two holders at once. */
struct race {
    struct fx *f;
    int id;
    atomic_int *holders;
    atomic_int *violations;
    atomic_int *wins;
};

static void *racer(void *p)
{
    struct race *r = p;
    char body[128], got[256];

    for (int i = 0; i < 300; i++) {
        snprintf(body, sizeof(body),
                 "{\"resourceId\":\"hot\",\"lockOwner\":\"o%d\",\"expiryInSeconds\":10}", r->id);
        call(r->f, "POST", "/v1.0-alpha1/lock/mem", body, got, sizeof(got));
        if (strcmp(got, "200 {\"success\":true}") != 0)
            continue;
        if (atomic_fetch_add(r->holders, 1) != 0)
            atomic_fetch_add(r->violations, 1);
        atomic_fetch_add(r->wins, 1);
        atomic_fetch_sub(r->holders, 1);
        snprintf(body, sizeof(body), "{\"resourceId\":\"hot\",\"lockOwner\":\"o%d\"}", r->id);
        call(r->f, "POST", "/v1.0-alpha1/unlock/mem", body, got, sizeof(got));
        if (strcmp(got, "200 {\"status\":0}") != 0)
            atomic_fetch_add(r->violations, 1);
    }
    return NULL;
}

static void test_memory_exclusive(void **state)
{
    struct fx *f = *state;
    atomic_int holders = 0, violations = 0, wins = 0;
    pthread_t th[8];
    struct race r[8];

    for (int i = 0; i < 8; i++) {
        r[i] = (struct race){f, i, &holders, &violations, &wins};
        assert_int_equal(pthread_create(&th[i], NULL, racer, &r[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&violations), 0);
    assert_true(atomic_load(&wins) > 8);
}

static void test_bad_prefix_refused(void **state)
{
    const struct sdc_component_type *t = sdc_component_type_find("lock.in-memory", "v1");
    struct sdc_md md = {0};
    struct dc_errbuf eb = {0};
    void *self = NULL;

    (void)state;
    sdc_md_set(&md, "keyPrefix", "a||b");
    assert_int_equal(t->ops->init(&self, &md, NULL, &eb), DC_EINVAL);
    assert_null(self);
    sdc_md_cleanup(&md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_rules),
        cmocka_unit_test_setup_teardown(test_not_configured, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_exclusive, setup, teardown),
        cmocka_unit_test(test_bad_prefix_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
