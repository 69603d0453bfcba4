/* Resiliency engine: compiling and validating policies, resolution order, the executor's
 * timeouts, retries, status matching and circuit breakers, concurrent use, and the trip
 * expression language. Durations are small (milliseconds); timing bounds are loose. */
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

#include "dc/log.h"
#include "dc/resources.h"
#include "dc/time.h"

#include "../resiliency.h"
#include "../trip_expr.h"

#define MS DC_NS_PER_MS

/* ---- fixtures ---- */

struct fx {
    struct dc_resources res;
    const struct dc_resiliency *defs[8];
    struct sdc_resiliency *r;
    struct dc_errbuf eb;
};

static int load(struct fx *f, const char *yaml)
{
    int rv;

    memset(f, 0, sizeof(*f));
    rv = dc_resources_load_buffer(&f->res, "r.yaml", yaml, strlen(yaml), &f->eb);
    if (rv != DC_OK) {
        print_error("loader: %s\n", f->eb.msg);
        return rv;
    }
    for (size_t i = 0; i < f->res.nresiliencies && i < 8; i++)
        f->defs[i] = &f->res.resiliencies[i];
    return sdc_resiliency_new(&f->r, f->defs, f->res.nresiliencies, &f->eb);
}

static void unload(struct fx *f)
{
    sdc_resiliency_free(f->r);
    dc_resources_cleanup(&f->res);
}

#define HEAD(name)                                                                                 \
    "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: " name "\nspec:\n"

/* A scripted attempt: returns rets[i] / statuses[i] on call i (the last entry repeats), records
 * when it was called and the deadline it saw, and optionally sleeps. */
struct script {
    int rets[8];
    int statuses[8];
    int n;
    int64_t sleep_ns;
    int calls;
    int64_t at[64];
    int64_t deadline[64];
};

static void nap(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / DC_NS_PER_SEC), (long)(ns % DC_NS_PER_SEC)};

    nanosleep(&ts, NULL);
}

static int scripted(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    struct script *s = ud;
    int i = s->calls < s->n ? s->calls : s->n - 1;

    if (s->calls < 64) {
        s->at[s->calls] = dc_mono_ns();
        s->deadline[s->calls] = deadline_ns;
    }
    s->calls++;
    if (s->sleep_ns > 0)
        nap(s->sleep_ns);
    *status = s->statuses[i];
    if (s->rets[i] != DC_OK)
        return dc_err_set(eb, s->rets[i], "scripted failure");
    return DC_OK;
}

static struct script fails(int rv)
{
    struct script s = {.rets = {rv}, .statuses = {-1}, .n = 1};
    return s;
}

static struct script replies(int status)
{
    struct script s = {.rets = {DC_OK}, .statuses = {status}, .n = 1};
    return s;
}

static int run(const struct sdc_res_policy *p, const char *key, struct script *s, int *status,
               struct dc_errbuf *eb)
{
    return sdc_resiliency_run(p, key, scripted, s, status, eb);
}

/* The timeout an attempt saw: its deadline minus the time it was called. */
static int64_t seen_timeout(const struct sdc_res_policy *p)
{
    struct script s = replies(200);
    int st;

    assert_int_equal(run(p, "k", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 1);
    return s.deadline[0] == 0 ? 0 : s.deadline[0] - s.at[0];
}

static void assert_timeout_near(const struct sdc_res_policy *p, int64_t ms)
{
    int64_t t = seen_timeout(p);

    if (ms == 0) {
        assert_int_equal(t, 0);
        return;
    }
    assert_true(t <= ms * MS);
    assert_true(t > (ms - 40) * MS);
}

/* ---- validation ---- */

static void test_bad_trip_expression(void **state)
{
    struct fx f;

    (void)state;
    assert_int_equal(load(&f, HEAD("res1") "  policies:\n    circuitBreakers:\n"
                                           "      cb: {trip: \"consecutiveFailures >> 5\"}\n"),
                     DC_EINVAL);
    assert_non_null(strstr(f.eb.msg, "r.yaml:"));
    assert_non_null(strstr(f.eb.msg, "Resiliency res1"));
    assert_non_null(strstr(f.eb.msg, "spec.policies.circuitBreakers.cb.trip"));
    assert_null(f.r);
    unload(&f);

    assert_int_equal(load(&f, HEAD("res2") "  policies:\n    circuitBreakers:\n"
                                           "      cb: {trip: \"failures > 5\"}\n"),
                     DC_EINVAL);
    assert_non_null(strstr(f.eb.msg, "unknown variable"));
    unload(&f);
}

/* Definitions built by hand: the loader rejects these earlier, the engine checks them again. */
static void test_bad_fields_by_hand(void **state)
{
    struct dc_res_retry rt = {.name = (char *)"r", .max_retries = 1};
    struct dc_res_timeout to = {.name = (char *)"t", .duration = (char *)"5 parsecs", .line = 7};
    struct dc_res_app_target app = {.app_id = (char *)"b", .p = {.retry = (char *)"nope"}};
    struct dc_resiliency d = {.meta = {.name = (char *)"hand", .file = (char *)"h.yaml"}};
    const struct dc_resiliency *defs[] = {&d};
    struct sdc_resiliency *r = NULL;
    struct dc_errbuf eb = {{0}};

    (void)state;
    d.timeouts = &to;
    d.ntimeouts = 1;
    assert_int_equal(sdc_resiliency_new(&r, defs, 1, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "h.yaml:7: Resiliency hand: spec.policies.timeouts.t"));

    d.ntimeouts = 0;
    d.retries = &rt;
    d.nretries = 1;
    rt.match_http = (char *)"429,700";
    assert_int_equal(sdc_resiliency_new(&r, defs, 1, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "spec.policies.retries.r.matching.httpStatusCodes"));
    assert_non_null(strstr(eb.msg, "700"));
    rt.match_http = (char *)"500-400";
    assert_int_equal(sdc_resiliency_new(&r, defs, 1, &eb), DC_EINVAL);
    rt.match_http = NULL;
    rt.match_grpc = (char *)"1-17";
    assert_int_equal(sdc_resiliency_new(&r, defs, 1, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "gRPCStatusCodes"));
    rt.match_grpc = (char *)"x";
    assert_int_equal(sdc_resiliency_new(&r, defs, 1, &eb), DC_EINVAL);
    rt.match_grpc = NULL;
    rt.policy = (char *)"linear";
    assert_int_equal(sdc_resiliency_new(&r, defs, 1, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "spec.policies.retries.r.policy"));
    rt.policy = NULL;

    d.apps = &app;
    d.napps = 1;
    assert_int_equal(sdc_resiliency_new(&r, defs, 1, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "spec.targets.apps.b.retry"));
    assert_non_null(strstr(eb.msg, "no retry policy named \"nope\""));
    app.p.retry = (char *)"r";
    assert_int_equal(sdc_resiliency_new(&r, defs, 1, &eb), DC_OK);
    sdc_resiliency_free(r);

    /* A list of empty items matches nothing (upstream skips empty items; the loader is
     * stricter and rejects this one). */
    rt.match_http = (char *)",";
    assert_int_equal(sdc_resiliency_new(&r, defs, 1, &eb), DC_OK);
    {
        struct script s = replies(500);
        int st;
        assert_int_equal(
            run(sdc_resiliency_policy(r, SDC_RES_APP, "b", SDC_CAT_COUNT), "b", &s, &st, NULL),
            DC_OK);
        assert_int_equal(s.calls, 1);
        assert_int_equal(st, 500);
    }
    sdc_resiliency_free(r);
}

/* ---- resolution order ---- */

static const char *const resolution_yaml =
    HEAD("res") "  policies:\n"
                "    timeouts:\n"
                "      named: 100ms\n"
                "      DefaultAppTimeoutPolicy: 200ms\n"
                "      DefaultTimeoutPolicy: \"300\"\n"
                "      DefaultStatestoreComponentOutboundTimeoutPolicy: 400ms\n"
                "      DefaultComponentOutboundTimeoutPolicy: 500ms\n"
                "      DefaultComponentTimeoutPolicy: 600ms\n"
                "    retries:\n"
                "      DefaultRetryPolicy: {policy: constant, duration: 1ms, maxRetries: 2}\n"
                "  targets:\n"
                "    apps:\n"
                "      named: {timeout: named}\n"
                "    components:\n"
                "      mystore: {inbound: {timeout: named}}\n";

static void test_resolution_order(void **state)
{
    struct fx f;
    struct script s;
    const struct sdc_res_policy *p;

    (void)state;
    assert_int_equal(load(&f, resolution_yaml), DC_OK);
    /* A named target gives exactly its policies: no default retry. */
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "named", SDC_CAT_COUNT);
    assert_timeout_near(p, 100);
    s = fails(DC_EIO);
    assert_int_equal(run(p, "named", &s, NULL, NULL), DC_EIO);
    assert_int_equal(s.calls, 1);
    assert_false(sdc_res_policy_may_retry(p));

    /* Other apps: DefaultAppTimeoutPolicy beats DefaultTimeoutPolicy, retry from the global. */
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "other", SDC_CAT_COUNT);
    assert_timeout_near(p, 200);
    s = fails(DC_EIO);
    assert_int_equal(run(p, "other", &s, NULL, NULL), DC_EIO);
    assert_int_equal(s.calls, 3);
    assert_true(sdc_res_policy_may_retry(p));

    /* Actors fall back to the global default (a bare integer is milliseconds). */
    assert_timeout_near(sdc_resiliency_policy(f.r, SDC_RES_ACTOR, "T", SDC_CAT_COUNT), 300);

    /* Components: <Type>Component<Dir>, Component<Dir>, Component. */
    assert_timeout_near(sdc_resiliency_policy(f.r, SDC_RES_COMPONENT_OUT, "redis", SDC_CAT_STATE),
                        400);
    assert_timeout_near(sdc_resiliency_policy(f.r, SDC_RES_COMPONENT_OUT, "pubsub", SDC_CAT_PUBSUB),
                        500);
    assert_timeout_near(sdc_resiliency_policy(f.r, SDC_RES_COMPONENT_IN, "redis", SDC_CAT_STATE),
                        600);
    /* A component target without outbound has an empty outbound policy. */
    p = sdc_resiliency_policy(f.r, SDC_RES_COMPONENT_OUT, "mystore", SDC_CAT_STATE);
    assert_true(sdc_res_policy_empty(p));
    assert_timeout_near(sdc_resiliency_policy(f.r, SDC_RES_COMPONENT_IN, "mystore", SDC_CAT_STATE),
                        100);
    unload(&f);
}

static void test_no_resiliency(void **state)
{
    const struct sdc_res_policy *p = sdc_resiliency_policy(NULL, SDC_RES_APP, "a", SDC_CAT_COUNT);
    struct script s = fails(DC_EUNAVAIL);

    (void)state;
    assert_true(sdc_res_policy_empty(p));
    assert_int_equal(run(p, "a", &s, NULL, NULL), DC_EUNAVAIL);
    assert_int_equal(s.calls, 1);
    s = fails(DC_EIO);
    assert_int_equal(run(NULL, NULL, &s, NULL, NULL), DC_EIO);
    assert_int_equal(s.deadline[0], 0);
    assert_true(sdc_res_policy_empty(sdc_resiliency_builtin(NULL, SDC_RES_BUILTIN_INIT)));
}

/* DaprBuiltInServiceRetries with its real spacing: one retry after 1s. */
static void test_builtin_service_retry_default(void **state)
{
    struct sdc_resiliency *r = NULL;
    const struct sdc_res_policy *p;
    struct script s = {.rets = {DC_EUNAVAIL, DC_OK}, .statuses = {-1, 200}, .n = 2};
    int st;

    (void)state;
    assert_int_equal(sdc_resiliency_new(&r, NULL, 0, NULL), DC_OK);
    p = sdc_resiliency_policy(r, SDC_RES_APP, "b", SDC_CAT_COUNT);
    assert_false(sdc_res_policy_empty(p));
    assert_int_equal(run(p, "b", &s, &st, NULL), DC_OK);
    assert_int_equal(st, 200);
    assert_int_equal(s.calls, 2);
    assert_true(s.at[1] - s.at[0] >= 990 * MS);
    assert_true(s.at[1] - s.at[0] < 3000 * MS);
    sdc_resiliency_free(r);
}

static void test_builtin_service_retry_rules(void **state)
{
    struct fx f;
    struct script s;
    const struct sdc_res_policy *p;
    int st;

    (void)state;
    /* Redefined with fewer than 3 retries: raised to 3. */
    assert_int_equal(load(&f, HEAD("res") "  policies:\n    retries:\n"
                                          "      DaprBuiltInServiceRetries: {duration: 2ms, "
                                          "maxRetries: 1}\n"
                                          "      r0: {maxRetries: 0}\n"
                                          "  targets:\n    apps:\n      named: {retry: r0}\n"),
                     DC_OK);
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "b", SDC_CAT_COUNT);
    s = fails(DC_EUNAVAIL);
    assert_int_equal(run(p, "b", &s, NULL, NULL), DC_EUNAVAIL);
    assert_int_equal(s.calls, 4);
    /* Only Unavailable (transport) and gRPC 14/16 are retried. */
    s = fails(DC_EIO);
    assert_int_equal(run(p, "b", &s, NULL, NULL), DC_EIO);
    assert_int_equal(s.calls, 1);
    s = replies(14);
    assert_int_equal(run(p, "b", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 4);
    assert_int_equal(st, 14);
    s = replies(503);
    assert_int_equal(run(p, "b", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(st, 503);
    /* Disabled when a named app policy exists, and for HTTP endpoints. */
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "named", SDC_CAT_COUNT);
    s = fails(DC_EUNAVAIL);
    assert_int_equal(run(p, "named", &s, NULL, NULL), DC_EUNAVAIL);
    assert_int_equal(s.calls, 1);
    p = sdc_resiliency_policy(f.r, SDC_RES_HTTP_ENDPOINT, "ext", SDC_CAT_COUNT);
    assert_true(sdc_res_policy_empty(p));
    /* The built-in policy itself, as redefined. */
    p = sdc_resiliency_builtin(f.r, SDC_RES_BUILTIN_SERVICE);
    s = fails(DC_EIO);
    assert_int_equal(run(p, "x", &s, NULL, NULL), DC_EIO);
    assert_int_equal(s.calls, 4);
    unload(&f);
}

/* Several resources: a later definition of a name replaces the earlier one, and targets
 * resolve against the merged set. */
static void test_merge_last_wins(void **state)
{
    struct fx f;
    struct script s;

    (void)state;
    assert_int_equal(
        load(&f, HEAD("first") "  policies:\n    retries:\n"
                               "      r: {duration: 1ms, maxRetries: 1}\n"
                               "  targets:\n    apps:\n      a: {retry: r}\n"
                               "---\n" HEAD("second") "  policies:\n    retries:\n"
                                                      "      r: {duration: 1ms, maxRetries: 3}\n"),
        DC_OK);
    s = fails(DC_EIO);
    assert_int_equal(
        run(sdc_resiliency_policy(f.r, SDC_RES_APP, "a", SDC_CAT_COUNT), "a", &s, NULL, NULL),
        DC_EIO);
    assert_int_equal(s.calls, 4);
    unload(&f);
}

/* ---- executor ---- */

static void test_timeout(void **state)
{
    struct fx f;
    struct script s;
    struct dc_errbuf eb = {{0}};
    const struct sdc_res_policy *p;
    int st = 0;
    int64_t t0;

    (void)state;
    assert_int_equal(load(&f, HEAD("res") "  policies:\n    timeouts:\n      short: \"20\"\n"
                                          "  targets:\n    apps:\n      slow: {timeout: short}\n"),
                     DC_OK);
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "slow", SDC_CAT_COUNT);
    assert_timeout_near(p, 20);
    /* An attempt that ignores its deadline: the result is a timeout whatever it returned. */
    s = replies(200);
    s.sleep_ns = 40 * MS;
    t0 = dc_mono_ns();
    assert_int_equal(run(p, "slow", &s, &st, &eb), DC_ETIMEDOUT);
    assert_true(dc_mono_ns() - t0 >= 40 * MS);
    assert_int_equal(st, -1);
    assert_string_equal(eb.msg, "context deadline exceeded");
    unload(&f);
}

static const char *const retry_yaml =
    HEAD("res") "  policies:\n"
                "    retries:\n"
                "      const: {policy: constant, duration: 10ms, maxRetries: 3}\n"
                "      expo: {policy: exponential, maxInterval: 10ms, maxRetries: 3}\n"
                "      http: {duration: 1ms, maxRetries: 2, matching: {httpStatusCodes: "
                "\"429,500-599\"}}\n"
                "      grpc: {duration: 1ms, maxRetries: 2, matching: {gRPCStatusCodes: \"14\"}}\n"
                "      any: {duration: 1ms, maxRetries: 2}\n"
                "  targets:\n"
                "    apps:\n"
                "      c: {retry: const}\n"
                "      e: {retry: expo}\n"
                "      h: {retry: http}\n"
                "      g: {retry: grpc}\n"
                "      a: {retry: any}\n";

static void test_constant_retry(void **state)
{
    struct fx f;
    struct script s = fails(DC_EIO);
    const struct sdc_res_policy *p;

    (void)state;
    assert_int_equal(load(&f, retry_yaml), DC_OK);
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "c", SDC_CAT_COUNT);
    assert_int_equal(run(p, "c", &s, NULL, NULL), DC_EIO);
    assert_int_equal(s.calls, 4);
    for (int i = 1; i < 4; i++) {
        assert_true(s.at[i] - s.at[i - 1] >= 10 * MS);
        assert_true(s.at[i] - s.at[i - 1] < 500 * MS);
    }
    /* Success on the third call stops the retries. */
    s = (struct script){.rets = {DC_EIO, DC_EIO, DC_OK}, .statuses = {-1, -1, 204}, .n = 3};
    assert_int_equal(run(p, "c", &s, NULL, NULL), DC_OK);
    assert_int_equal(s.calls, 3);
    unload(&f);
}

static void test_exponential_retry(void **state)
{
    struct fx f;
    struct script s = fails(DC_ETIMEDOUT);
    const struct sdc_res_policy *p;
    int64_t first;

    (void)state;
    assert_int_equal(load(&f, retry_yaml), DC_OK);
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "e", SDC_CAT_COUNT);
    assert_int_equal(run(p, "e", &s, NULL, NULL), DC_ETIMEDOUT);
    assert_int_equal(s.calls, 4);
    /* First wait: the 500ms initial interval +-50%; then capped at maxInterval (10ms +-50%). */
    first = s.at[1] - s.at[0];
    assert_true(first >= 245 * MS);
    assert_true(first < 1500 * MS);
    for (int i = 2; i < 4; i++) {
        assert_true(s.at[i] - s.at[i - 1] >= 4 * MS);
        assert_true(s.at[i] - s.at[i - 1] < 400 * MS);
    }
    unload(&f);
}

static void test_status_matching(void **state)
{
    struct fx f;
    struct script s;
    int st;

    (void)state;
    assert_int_equal(load(&f, retry_yaml), DC_OK);
#define POL(name) sdc_resiliency_policy(f.r, SDC_RES_APP, name, SDC_CAT_COUNT)
    s = replies(503); /* listed: retried, then passed through */
    assert_int_equal(run(POL("h"), "h", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 3);
    assert_int_equal(st, 503);
    s = replies(404); /* not listed: returned at once */
    assert_int_equal(run(POL("h"), "h", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(st, 404);
    s = replies(429);
    assert_int_equal(run(POL("h"), "h", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 3);
    s = replies(302); /* 3xx is a success */
    assert_int_equal(run(POL("h"), "h", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 1);
    s = fails(DC_EIO); /* transport failures are retried whatever the lists */
    assert_int_equal(run(POL("h"), "h", &s, &st, NULL), DC_EIO);
    assert_int_equal(s.calls, 3);
    s = replies(14);
    assert_int_equal(run(POL("g"), "g", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 3);
    s = replies(5);
    assert_int_equal(run(POL("g"), "g", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 1);
    s = replies(503); /* an HTTP status against a gRPC-only list: the HTTP list is unset */
    assert_int_equal(run(POL("g"), "g", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 3);
    s = replies(404); /* no lists: every failed status */
    assert_int_equal(run(POL("a"), "a", &s, &st, NULL), DC_OK);
    assert_int_equal(s.calls, 3);
#undef POL
    unload(&f);
}

static const char *const breaker_yaml =
    HEAD("res") "  policies:\n"
                "    retries:\n"
                "      fast: {duration: 1ms, maxRetries: 10}\n"
                "    circuitBreakers:\n"
                "      cb: {maxRequests: 1, timeout: 300ms, trip: consecutiveFailures > 2}\n"
                "      dflt: {}\n"
                "      iv: {interval: 50ms, timeout: 10s, trip: consecutiveFailures > 2}\n"
                "  targets:\n"
                "    apps:\n"
                "      b: {circuitBreaker: cb}\n"
                "      d: {circuitBreaker: dflt}\n"
                "      i: {circuitBreaker: iv}\n"
                "      rb: {retry: fast, circuitBreaker: cb}\n"
                "      lru: {circuitBreaker: cb, circuitBreakerCacheSize: 2}\n";

static int call(const struct sdc_res_policy *p, const char *key, int rv, int *calls,
                struct dc_errbuf *eb)
{
    struct script s = fails(rv);
    int ret;

    if (rv == DC_OK)
        s = replies(200);
    ret = run(p, key, &s, NULL, eb);
    *calls = s.calls;
    return ret;
}

static void test_circuit_breaker(void **state)
{
    struct fx f;
    struct dc_errbuf eb = {{0}};
    const struct sdc_res_policy *p;
    int calls;
    struct script s;

    (void)state;
    assert_int_equal(load(&f, breaker_yaml), DC_OK);
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "b", SDC_CAT_COUNT);
    for (int i = 0; i < 3; i++)
        assert_int_equal(call(p, "b", DC_EIO, &calls, NULL), DC_EIO);
    /* Tripped: fails fast without calling. */
    assert_int_equal(call(p, "b", DC_OK, &calls, &eb), DC_EUNAVAIL);
    assert_int_equal(calls, 0);
    assert_string_equal(eb.msg, "circuit breaker is open");
    /* Another key has its own breaker. */
    assert_int_equal(call(p, "other", DC_OK, &calls, NULL), DC_OK);
    assert_int_equal(calls, 1);
    /* After the open timeout: half-open, one success closes it. */
    nap(350 * MS);
    assert_int_equal(call(p, "b", DC_OK, &calls, NULL), DC_OK);
    assert_int_equal(calls, 1);
    assert_int_equal(call(p, "b", DC_EIO, &calls, NULL), DC_EIO); /* closed: counts again */
    assert_int_equal(call(p, "b", DC_EIO, &calls, NULL), DC_EIO);
    assert_int_equal(call(p, "b", DC_OK, &calls, NULL), DC_OK);
    assert_int_equal(calls, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(call(p, "b", DC_EIO, &calls, NULL), DC_EIO);
    assert_int_equal(call(p, "b", DC_OK, &calls, NULL), DC_EUNAVAIL);
    /* A failure while half-open opens it again at once. */
    nap(350 * MS);
    assert_int_equal(call(p, "b", DC_EIO, &calls, NULL), DC_EIO);
    assert_int_equal(calls, 1);
    assert_int_equal(call(p, "b", DC_OK, &calls, NULL), DC_EUNAVAIL);
    assert_int_equal(calls, 0);

    /* A failed status counts too. */
    s = replies(500);
    for (int i = 0; i < 3; i++)
        assert_int_equal(run(p, "s", &s, NULL, NULL), DC_OK);
    assert_int_equal(call(p, "s", DC_OK, &calls, NULL), DC_EUNAVAIL);

    /* Default trip: more than 5 consecutive failures. */
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "d", SDC_CAT_COUNT);
    for (int i = 0; i < 5; i++)
        assert_int_equal(call(p, "d", DC_EIO, &calls, NULL), DC_EIO);
    assert_int_equal(call(p, "d", DC_OK, &calls, NULL), DC_OK);
    for (int i = 0; i < 6; i++)
        assert_int_equal(call(p, "d", DC_EIO, &calls, NULL), DC_EIO);
    assert_int_equal(call(p, "d", DC_OK, &calls, NULL), DC_EUNAVAIL);
    unload(&f);
}

static void test_breaker_interval_and_retry(void **state)
{
    struct fx f;
    const struct sdc_res_policy *p;
    int calls;

    (void)state;
    assert_int_equal(load(&f, breaker_yaml), DC_OK);
    /* The closed-state counts reset every interval. */
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "i", SDC_CAT_COUNT);
    assert_int_equal(call(p, "i", DC_EIO, &calls, NULL), DC_EIO);
    assert_int_equal(call(p, "i", DC_EIO, &calls, NULL), DC_EIO);
    nap(70 * MS);
    assert_int_equal(call(p, "i", DC_EIO, &calls, NULL), DC_EIO);
    assert_int_equal(call(p, "i", DC_EIO, &calls, NULL), DC_EIO);
    assert_int_equal(call(p, "i", DC_OK, &calls, NULL), DC_OK);
    /* Retries stop once the breaker opens. */
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "rb", SDC_CAT_COUNT);
    assert_int_equal(call(p, "rb", DC_EIO, &calls, NULL), DC_EUNAVAIL);
    assert_int_equal(calls, 3);
    unload(&f);
}

static void test_breaker_lru(void **state)
{
    struct fx f;
    const struct sdc_res_policy *p;
    int calls;

    (void)state;
    assert_int_equal(load(&f, breaker_yaml), DC_OK);
    p = sdc_resiliency_policy(f.r, SDC_RES_APP, "lru", SDC_CAT_COUNT);
    for (int i = 0; i < 3; i++)
        assert_int_equal(call(p, "k1", DC_EIO, &calls, NULL), DC_EIO);
    assert_int_equal(call(p, "k1", DC_OK, &calls, NULL), DC_EUNAVAIL);
    assert_int_equal(call(p, "k2", DC_OK, &calls, NULL), DC_OK);
    assert_int_equal(call(p, "k1", DC_OK, &calls, NULL), DC_EUNAVAIL); /* k1 most recent */
    assert_int_equal(call(p, "k3", DC_OK, &calls, NULL), DC_OK);       /* evicts k2 */
    assert_int_equal(call(p, "k1", DC_OK, &calls, NULL), DC_EUNAVAIL);
    assert_int_equal(call(p, "k4", DC_OK, &calls, NULL), DC_OK); /* evicts k3 */
    assert_int_equal(call(p, "k5", DC_OK, &calls, NULL), DC_OK); /* evicts k1 */
    assert_int_equal(call(p, "k1", DC_OK, &calls, NULL), DC_OK); /* a fresh breaker */
    assert_int_equal(calls, 1);
    unload(&f);
}

/* ---- concurrency ---- */

struct shared {
    const struct sdc_res_policy *p;
    atomic_int calls;
    atomic_int ok;
    int id;
};

static int flaky(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    struct shared *sh = ud;
    int n = atomic_fetch_add(&sh->calls, 1);

    (void)deadline_ns;
    (void)eb;
    *status = n % 3 == 0 ? 503 : 200;
    return DC_OK;
}

struct thread_arg {
    struct shared *sh;
    int id;
};

static void *worker(void *ud)
{
    struct thread_arg *a = ud;
    char key[16];

    for (int i = 0; i < 300; i++) {
        int st;
        /* A few keys over a cache of two: eviction while other threads hold breakers. */
        snprintf(key, sizeof(key), "k%d", (a->id + i) % 5);
        if (sdc_resiliency_run(a->sh->p, key, flaky, a->sh, &st, NULL) == DC_OK && st == 200)
            atomic_fetch_add(&a->sh->ok, 1);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fx f;
    struct shared sh = {0};
    pthread_t t[8];
    struct thread_arg args[8];

    (void)state;
    assert_int_equal(load(&f, HEAD("res") "  policies:\n    retries:\n"
                                          "      r: {duration: 0s, maxRetries: 5}\n"
                                          "    circuitBreakers:\n"
                                          "      cb: {trip: consecutiveFailures > 1000000}\n"
                                          "  targets:\n    apps:\n"
                                          "      a: {retry: r, circuitBreaker: cb, "
                                          "circuitBreakerCacheSize: 2}\n"),
                     DC_OK);
    sh.p = sdc_resiliency_policy(f.r, SDC_RES_APP, "a", SDC_CAT_COUNT);
    for (int i = 0; i < 8; i++) {
        args[i] = (struct thread_arg){&sh, i};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    /* Every run ends in a 200 (at most two 503s in a row), each 503 costing one extra call. */
    assert_int_equal(atomic_load(&sh.ok), 8 * 300);
    assert_true(atomic_load(&sh.calls) >= 8 * 300);
    assert_true(atomic_load(&sh.calls) < 8 * 300 * 2);
    unload(&f);
}

/* ---- actor keys ---- */

static void test_actor_key(void **state)
{
    struct fx f;
    char buf[64];

    (void)state;
    assert_int_equal(load(&f, HEAD("res") "  policies:\n    circuitBreakers:\n      cb: {}\n"
                                          "  targets:\n    actors:\n"
                                          "      T: {circuitBreaker: cb, circuitBreakerScope: "
                                          "type}\n"
                                          "      I: {circuitBreaker: cb, circuitBreakerScope: "
                                          "id}\n"),
                     DC_OK);
    assert_string_equal(
        sdc_res_policy_actor_key(sdc_resiliency_policy(f.r, SDC_RES_ACTOR, "T", SDC_CAT_COUNT), "T",
                                 "7", buf, sizeof(buf)),
        "T");
    assert_string_equal(
        sdc_res_policy_actor_key(sdc_resiliency_policy(f.r, SDC_RES_ACTOR, "I", SDC_CAT_COUNT), "I",
                                 "7", buf, sizeof(buf)),
        "I-7");
    assert_string_equal(
        sdc_res_policy_actor_key(sdc_resiliency_policy(f.r, SDC_RES_ACTOR, "U", SDC_CAT_COUNT), "U",
                                 "7", buf, sizeof(buf)),
        "U");
    unload(&f);
}

/* ---- trip expressions ---- */

static bool trip(const char *text, struct sdc_trip_counts c)
{
    struct sdc_trip *t = NULL;
    struct dc_errbuf eb = {{0}};
    bool r;

    if (sdc_trip_compile(&t, text, &eb) != DC_OK)
        fail_msg("%s: %s", text, eb.msg);
    r = sdc_trip_eval(t, &c);
    sdc_trip_free(t);
    return r;
}

static void test_trip_eval(void **state)
{
    struct sdc_trip_counts c = {.requests = 10,
                                .total_successes = 4,
                                .total_failures = 6,
                                .consecutive_successes = 0,
                                .consecutive_failures = 6};

    (void)state;
    assert_true(trip("consecutiveFailures > 5", c));
    assert_false(trip("consecutiveFailures > 6", c));
    assert_true(trip("consecutiveFailures >= 6", c));
    assert_true(trip("requests == 10 && totalFailures != 5", c));
    assert_true(trip("totalSuccesses < 1 || totalFailures * 2 > requests", c));
    assert_true(trip("!(consecutiveSuccesses > 0)", c));
    assert_true(trip("(requests - totalSuccesses) % 4 == 2", c));
    assert_true(trip("requests >= 10u", c));
    assert_true(trip("-1 < 0", c));
    assert_true(trip("true", c));
    assert_true(trip("true == !false", c));
    assert_false(trip("false", c));
    /* Evaluation errors do not trip, unless the other side of && / || decides. */
    assert_false(trip("totalFailures / consecutiveSuccesses > 1", c));
    assert_true(trip("1 / consecutiveSuccesses > 0 || requests > 5", c));
    assert_false(trip("requests > 50 && 1 / consecutiveSuccesses > 0", c));
    assert_false(trip("9223372036854775807 + requests > 0", c));
}

static void test_trip_errors(void **state)
{
    static const char *const bad[] = {"",
                                      "   ",
                                      "consecutiveFailures",
                                      "consecutiveFailures >",
                                      "> 5",
                                      "failures > 5",
                                      "consecutiveFailures = 5",
                                      "consecutiveFailures > 5 &",
                                      "1 < 2 < 3",
                                      "(consecutiveFailures > 5",
                                      "consecutiveFailures > 5)",
                                      "!requests",
                                      "true > false",
                                      "requests + true > 1",
                                      "5x > 1",
                                      "99999999999999999999 > 1",
                                      "requests > 5 && 7",
                                      "requests > 'a'",
                                      "consecutiveFailures > 5 consecutiveFailures"};
    struct sdc_trip *t = NULL;
    struct dc_errbuf eb = {{0}};
    char deep[200], big[2048];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sdc_trip_compile(&t, bad[i], &eb) == DC_OK)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(eb.msg, "column"));
    }
    memset(deep, '(', 100);
    memcpy(deep + 100, "true", 5);
    assert_int_equal(sdc_trip_compile(&t, deep, &eb), DC_ETOOBIG);
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(sdc_trip_compile(&t, big, &eb), DC_ETOOBIG);
}

int main(void)
{
    dc_log_threshold = DC_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_trip_expression),
        cmocka_unit_test(test_bad_fields_by_hand),
        cmocka_unit_test(test_resolution_order),
        cmocka_unit_test(test_no_resiliency),
        cmocka_unit_test(test_builtin_service_retry_default),
        cmocka_unit_test(test_builtin_service_retry_rules),
        cmocka_unit_test(test_merge_last_wins),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_constant_retry),
        cmocka_unit_test(test_exponential_retry),
        cmocka_unit_test(test_status_matching),
        cmocka_unit_test(test_circuit_breaker),
        cmocka_unit_test(test_breaker_interval_and_retry),
        cmocka_unit_test(test_breaker_lru),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_actor_key),
        cmocka_unit_test(test_trip_eval),
        cmocka_unit_test(test_trip_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
