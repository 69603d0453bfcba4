/* Unit tests of service-invocation addressing (invoke_addr.c) and the app channel
 * (app_channel.c, against an in-process HTTP server standing in for the app). */
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

#include "dc/http_server.h"
#include "dc/str.h"
#include "dc/time.h"

#include "../app_channel.h"
#include "../config.h"
#include "../invoke.h"

static int setup_arena(void **state)
{
    struct dc_arena *a = calloc(1, sizeof(*a));

    assert_non_null(a);
    *state = a;
    return 0;
}

static int teardown_arena(void **state)
{
    dc_arena_cleanup(*state);
    free(*state);
    return 0;
}

/* ---- find_target ---- */

static void expect_target(struct dc_arena *a, const char *path, const char *hdr, const char *auth,
                          const char *target, const char *method)
{
    const char *t, *m;

    assert_int_equal(sdc_invoke_find_target(a, path, hdr, auth, &t, &m), DC_OK);
    assert_string_equal(t, target);
    assert_string_equal(m, method);
}

static void test_find_target(void **state)
{
    struct dc_arena *a = *state;
    const char *t, *m;

    expect_target(a, "/v1.0/invoke/b/method/x/y", NULL, NULL, "b", "x/y");
    expect_target(a, "//v1.0//invoke//b/method/x", NULL, NULL, "b", "x");
    expect_target(a, "/v1.0/invoke/b.ns/method/", NULL, NULL, "b.ns", "");
    expect_target(a, "/v1.0/invoke/http://h:1/method/m", NULL, NULL, "http://h:1", "m");
    expect_target(a, "/v1.0/invoke/http%3A%2F%2Fh%3A1/method/m", NULL, NULL, "http://h:1", "m");
    expect_target(a, "/v1.0/invoke/a%2Fb/method/m", NULL, NULL, "a/b", "m");
    /* A decoding with NUL keeps the raw text (then rejected as an app id). */
    expect_target(a, "/v1.0/invoke/a%00b/method/m", NULL, NULL, "a%00b", "m");
    /* The header wins and the cleaned path is the method (trailing '/' kept). */
    expect_target(a, "/a//b/./c/", "app", NULL, "app", "a/b/c/");
    expect_target(a, "/", "app", NULL, "app", "");
    /* Basic auth: "dapr-app-id:b" and "DAPR-APP-ID:b". */
    expect_target(a, "/p", NULL, "Basic ZGFwci1hcHAtaWQ6Yg==", "b", "p");
    expect_target(a, "/p", NULL, "Basic REFQUi1BUFAtSUQ6Yg==", "b", "p");
    /* Basic with another user, two colons or bad base64 falls through to the URL form. */
    assert_int_equal(sdc_invoke_find_target(a, "/p", NULL, "Basic dXNlcjpi", &t, &m), DC_ENOTFOUND);
    assert_int_equal(sdc_invoke_find_target(a, "/p", NULL, "Basic ZGFwci1hcHAtaWQ6Yjpj", &t, &m),
                     DC_ENOTFOUND);
    assert_int_equal(sdc_invoke_find_target(a, "/p", NULL, "Basic !!!!", &t, &m), DC_ENOTFOUND);
    expect_target(a, "/v1.0/invoke/z/method/m", NULL, "Basic dXNlcjpi", "z", "m");
    /* Missing pieces. */
    assert_int_equal(sdc_invoke_find_target(a, "/v1.0/invoke/b", NULL, NULL, &t, &m), DC_ENOTFOUND);
    assert_int_equal(sdc_invoke_find_target(a, "/v1.0/invoke//method/x", NULL, NULL, &t, &m),
                     DC_ENOTFOUND);
    assert_int_equal(sdc_invoke_find_target(a, "/v1.0/invokex/b/method/x", NULL, NULL, &t, &m),
                     DC_ENOTFOUND);
    assert_int_equal(sdc_invoke_find_target(a, "/v1.0/publish/p/t", "", NULL, &t, &m),
                     DC_ENOTFOUND);
    assert_int_equal(sdc_invoke_find_target(a, "", NULL, NULL, &t, &m), DC_ENOTFOUND);
}

/* ---- normalize ---- */

static void expect_norm(struct dc_arena *a, const char *raw, const char *wire, const char *dec)
{
    const char *w, *d;
    struct dc_errbuf eb = {0};

    assert_int_equal(sdc_invoke_normalize_method(a, raw, &w, &d, &eb), DC_OK);
    assert_string_equal(w, wire);
    assert_string_equal(d, dec);
}

static void expect_norm_err(struct dc_arena *a, const char *raw, const char *msg)
{
    const char *w, *d;
    struct dc_errbuf eb = {0};

    assert_int_equal(sdc_invoke_normalize_method(a, raw, &w, &d, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, msg));
}

static void test_normalize(void **state)
{
    struct dc_arena *a = *state;

    /* Upstream's NormalizeMethod cases. */
    expect_norm(a, "mymethod", "mymethod", "mymethod");
    expect_norm(a, "api/v1/users", "api/v1/users", "api/v1/users");
    expect_norm(a, "admin/../public", "public", "public");
    expect_norm(a, "../../etc/passwd", "etc/passwd", "etc/passwd");
    expect_norm(a, "test%stream", "test%stream", "test%stream");
    expect_norm(a, "test%25stream", "test%25stream", "test%stream");
    expect_norm(a, "test*stream", "test*stream", "test*stream");
    expect_norm(a, "test\"stream", "test%22stream", "test\"stream");
    expect_norm(a, "test\\stream", "test%5Cstream", "test\\stream");
    expect_norm(a, "foo/bar/", "foo/bar/", "foo/bar/");
    expect_norm(a, "", "", "");
    expect_norm(a, ".", "", "");
    expect_norm(a, "..", "", "");
    expect_norm(a, "a//b/./c", "a/b/c", "a/b/c");
    /* Encoded dots are dots; encoded slashes stay in their segment. */
    expect_norm(a, "%2e%2e/%2E%2e/secret", "secret", "secret");
    expect_norm(a, "a/%2e/b", "a/b", "a/b");
    expect_norm(a, "a%2Fb", "a%2Fb", "a/b");
    expect_norm(a, "\xc3\xa9t\xc3\xa9", "%C3%A9t%C3%A9", "\xc3\xa9t\xc3\xa9");
    expect_norm_err(a, "test#stream", "forbidden character: \"test#stream\"");
    expect_norm_err(a, "test?stream", "forbidden character");
    expect_norm_err(a, "test\x01stream", "control character at position 4: \"test\\x01stream\"");
    expect_norm_err(a, "test\tstream", "control character at position 4: \"test\\tstream\"");
    expect_norm_err(a, "test\x7fstream", "control character");
    expect_norm_err(a, "x%00y", "forbidden character: \"x\\x00y\"");
    expect_norm_err(a, "x%23y", "forbidden character");
    expect_norm_err(a, "x%3fy", "forbidden character");
    expect_norm_err(a, "x%0Ay", "control character at position 1: \"x\\ny\"");
}

/* ---- app ids, verbs, headers ---- */

static void test_split_app_id(void **state)
{
    struct dc_arena *a = *state;
    struct dc_errbuf eb = {0};
    const char *id, *ns;
    char long_id[300];

    assert_int_equal(sdc_invoke_split_app_id(a, "b", &id, &ns, &eb), DC_OK);
    assert_string_equal(id, "b");
    assert_null(ns);
    assert_int_equal(sdc_invoke_split_app_id(a, "my_app-2.prod", &id, &ns, &eb), DC_OK);
    assert_string_equal(id, "my_app-2");
    assert_string_equal(ns, "prod");
    static const char *const bad[] = {"a.b.c", "..",  "../b",  "a/b",  ".b",        "b.",
                                      "",      "a b", "a%2Fb", "a\\b", "a\r\nX: y", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sdc_invoke_split_app_id(a, bad[i], &id, &ns, &eb), DC_EINVAL);
        assert_non_null(strstr(eb.msg, "invalid app id"));
    }
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(sdc_invoke_split_app_id(a, long_id, &id, &ns, &eb), DC_EINVAL);
}

static void test_verbs_and_headers(void **state)
{
    (void)state;
    assert_true(sdc_invoke_verb_ok("GET"));
    assert_true(sdc_invoke_verb_ok("PATCH"));
    assert_true(sdc_invoke_verb_ok("TRACE"));
    assert_false(sdc_invoke_verb_ok("CONNECT"));
    assert_false(sdc_invoke_verb_ok("get"));
    assert_false(sdc_invoke_verb_ok("PROPFIND"));

    assert_true(sdc_invoke_header_dropped("connection", NULL));
    assert_true(sdc_invoke_header_dropped("Keep-Alive", NULL));
    assert_true(sdc_invoke_header_dropped("te", NULL));
    assert_true(sdc_invoke_header_dropped("X-Hop", "close, x-hop"));
    assert_false(sdc_invoke_header_dropped("X-Hop2", "close, x-hop"));
    assert_true(sdc_invoke_header_dropped("grpc-trace-bin", NULL));
    assert_true(sdc_invoke_header_dropped("DAPR-APP-ID", NULL));
    assert_true(sdc_invoke_header_dropped("dapr-api-token", NULL));
    assert_true(sdc_invoke_header_dropped("dapr-caller-app-id", NULL));
    assert_true(sdc_invoke_header_dropped("dapr-internal-error", NULL));
    assert_true(sdc_invoke_header_dropped("Host", NULL));
    assert_true(sdc_invoke_header_dropped("content-length", NULL));
    assert_false(sdc_invoke_header_dropped("Content-Type", NULL));
    assert_false(sdc_invoke_header_dropped("Authorization", NULL));
    assert_false(sdc_invoke_header_dropped("traceparent", NULL));
    assert_false(sdc_invoke_header_dropped("X-Forwarded-For", NULL));

    assert_true(sdc_invoke_resp_header_dropped("Transfer-Encoding", NULL));
    assert_true(sdc_invoke_resp_header_dropped("dapr-internal-error", NULL));
    assert_false(sdc_invoke_resp_header_dropped("Set-Cookie", NULL));
    assert_false(sdc_invoke_resp_header_dropped("Content-Type", NULL));
}

/* ---- app channel against an in-process app ---- */

struct app {
    struct dc_http_router *r;
    struct dc_http_server *s;
    atomic_int inflight, max_inflight, health_status;
    char last_token[64];
    char last_health_token[64];
    pthread_mutex_t mu;
};

static void app_handler(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct app *app = ud;
    const char *tok = dc_http_request_header(req, "dapr-api-token");
    int now;

    if (strcmp(req->path, "/healthz") == 0) {
        pthread_mutex_lock(&app->mu);
        dc_strlcpy(app->last_health_token, tok != NULL ? tok : "-", sizeof(app->last_health_token));
        pthread_mutex_unlock(&app->mu);
        resp->status = atomic_load(&app->health_status);
        return;
    }
    pthread_mutex_lock(&app->mu);
    dc_strlcpy(app->last_token, tok != NULL ? tok : "-", sizeof(app->last_token));
    pthread_mutex_unlock(&app->mu);
    now = atomic_fetch_add(&app->inflight, 1) + 1;
    if (now > atomic_load(&app->max_inflight))
        atomic_store(&app->max_inflight, now);
    if (strcmp(req->path, "/slow") == 0) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_sub(&app->inflight, 1);
    resp->status = 200;
    assert_int_equal(dc_http_response_body(resp, req->path, strlen(req->path), "text/plain"),
                     DC_OK);
}

static void app_start(struct app *app, uint16_t port)
{
    struct dc_http_server_opts o = {0};
    struct dc_errbuf eb = {0};

    pthread_mutex_init(&app->mu, NULL);
    atomic_init(&app->health_status, 200);
    app->r = dc_http_router_new();
    dc_http_router_set_fallback(app->r, app_handler, app);
    o.address = "127.0.0.1";
    o.port = port;
    assert_int_equal(dc_http_server_start(&app->s, &o, app->r, &eb), DC_OK);
}

static void app_stop(struct app *app)
{
    dc_http_server_free(app->s);
    dc_http_router_free(app->r);
    pthread_mutex_destroy(&app->mu);
}

static const char *fake_env(const char *name)
{
    return strcmp(name, "APP_API_TOKEN") == 0 ? "s3cret" : NULL;
}

static void parse_cfg(struct sdc_config *cfg, int port, const char *extra1, const char *extra2)
{
    char portbuf[16];
    char *argv[12];
    int argc = 0;
    struct dc_errbuf eb = {0};

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    argv[argc++] = (char *)"daprd";
    argv[argc++] = (char *)"--app-id";
    argv[argc++] = (char *)"t";
    argv[argc++] = (char *)"--app-port";
    argv[argc++] = portbuf;
    if (extra1 != NULL)
        argv[argc++] = (char *)extra1;
    if (extra2 != NULL)
        argv[argc++] = (char *)extra2;
    argv[argc] = NULL;
    assert_int_equal(sdc_config_parse(cfg, argc, argv, fake_env, &eb), DC_OK);
}

/* A free port: bind an ephemeral server and release it. */
static uint16_t free_port(void)
{
    struct dc_http_router *r = dc_http_router_new();
    struct dc_http_server *s = NULL;
    struct dc_http_server_opts o = {0};
    uint16_t p;

    o.address = "127.0.0.1";
    assert_int_equal(dc_http_server_start(&s, &o, r, NULL), DC_OK);
    p = dc_http_server_port(s);
    dc_http_server_free(s);
    dc_http_router_free(r);
    return p;
}

static bool wait_flag(atomic_bool *f, int ms)
{
    struct timespec ts = {0, 10 * 1000 * 1000};

    for (int i = 0; i < ms / 10; i++) {
        if (atomic_load(f))
            return true;
        nanosleep(&ts, NULL);
    }
    return atomic_load(f);
}

static void test_channel_protocols(void **state)
{
    struct sdc_config cfg;
    struct sdc_app_channel *ch = (void *)1;
    struct dc_errbuf eb = {0};

    (void)state;
    parse_cfg(&cfg, 1234, "--app-protocol", "grpc");
    assert_int_equal(sdc_app_channel_new(&ch, &cfg, &eb), DC_EUNSUPPORTED);
    assert_non_null(strstr(eb.msg, "--app-protocol grpc is not supported"));
    sdc_config_cleanup(&cfg);

    /* No --app-port: no channel, ready at once. */
    {
        char *argv[] = {(char *)"daprd", (char *)"--app-id", (char *)"t", NULL};
        atomic_bool ready;

        atomic_init(&ready, false);
        assert_int_equal(sdc_config_parse(&cfg, 3, argv, fake_env, &eb), DC_OK);
        assert_int_equal(sdc_app_channel_new(&ch, &cfg, &eb), DC_OK);
        assert_null(ch);
        assert_int_equal(sdc_app_channel_start(ch, &ready), DC_OK);
        assert_true(atomic_load(&ready));
        assert_false(sdc_app_channel_healthy(ch));
        sdc_config_cleanup(&cfg);
    }
}

struct caller {
    struct sdc_app_channel *ch;
    const char *path;
};

static void *call_thread(void *arg)
{
    struct caller *c = arg;
    struct sdc_app_call call = {.method = "GET", .path = c->path};
    struct dc_http_result res = {0};
    struct dc_arena a = {0};

    assert_int_equal(sdc_app_channel_call(c->ch, &call, &a, &res, NULL), DC_OK);
    assert_int_equal(res.status, 200);
    dc_http_result_cleanup(&res);
    dc_arena_cleanup(&a);
    return NULL;
}

static void test_channel_wait_token_concurrency(void **state)
{
    uint16_t port = free_port();
    struct sdc_config cfg;
    struct sdc_app_channel *ch;
    struct app app = {0};
    atomic_bool ready;
    struct dc_http_result res = {0};
    struct dc_arena a = {0};
    const char *hdrs[] = {"X-A: 1", NULL};
    struct sdc_app_call call = {.method = "POST", .path = "/m/x", .query = "q=1", .headers = hdrs};
    pthread_t t[4];
    struct caller callers[4];

    (void)state;
    atomic_init(&ready, false);
    parse_cfg(&cfg, port, "--app-max-concurrency", "1");
    assert_int_equal(sdc_app_channel_new(&ch, &cfg, NULL), DC_OK);
    {
        char want[64];
        snprintf(want, sizeof(want), "http://127.0.0.1:%u", port);
        assert_string_equal(sdc_app_channel_base_url(ch), want);
    }
    assert_int_equal(sdc_app_channel_start(ch, &ready), DC_OK);
    /* The port is closed: not ready. */
    assert_false(wait_flag(&ready, 300));
    assert_false(sdc_app_channel_port_open(ch));
    app_start(&app, port);
    assert_true(wait_flag(&ready, 3000));
    assert_true(sdc_app_channel_port_open(ch));
    assert_true(sdc_app_channel_healthy(ch)); /* no health checks: healthy once open */

    assert_int_equal(sdc_app_channel_call(ch, &call, &a, &res, NULL), DC_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(dc_buf_cstr(&res.body), "/m/x");
    assert_string_equal(app.last_token, "s3cret");
    dc_http_result_cleanup(&res);

    /* --app-max-concurrency 1: never two calls in the app at once. */
    for (int i = 0; i < 4; i++) {
        callers[i].ch = ch;
        callers[i].path = "/slow";
        assert_int_equal(pthread_create(&t[i], NULL, call_thread, &callers[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&app.max_inflight), 1);

    /* A deadline in the past fails without calling. */
    call.deadline_ns = dc_mono_ns() - 1;
    assert_int_equal(sdc_app_channel_call(ch, &call, &a, &res, NULL), DC_ETIMEDOUT);
    dc_http_result_cleanup(&res);

    sdc_app_channel_free(ch);
    app_stop(&app);
    dc_arena_cleanup(&a);
    sdc_config_cleanup(&cfg);
}

static void test_channel_health(void **state)
{
    uint16_t port = free_port();
    struct sdc_config cfg;
    struct sdc_app_channel *ch;
    struct app app = {0};
    atomic_bool ready;
    struct timespec ts = {0, 20 * 1000 * 1000};
    int i;

    (void)state;
    atomic_init(&ready, false);
    app_start(&app, port);
    parse_cfg(&cfg, port, "--enable-app-health-check", "--app-health-probe-interval=1");
    cfg.app_health_threshold = 1;
    assert_int_equal(sdc_app_channel_new(&ch, &cfg, NULL), DC_OK);
    assert_int_equal(sdc_app_channel_start(ch, &ready), DC_OK);
    assert_true(wait_flag(&ready, 3000));
    for (i = 0; i < 200 && !sdc_app_channel_healthy(ch); i++)
        nanosleep(&ts, NULL);
    assert_true(sdc_app_channel_healthy(ch));
    /* The probe does not carry the app token. */
    assert_string_equal(app.last_health_token, "-");
    atomic_store(&app.health_status, 503);
    for (i = 0; i < 200 && sdc_app_channel_healthy(ch); i++)
        nanosleep(&ts, NULL);
    assert_false(sdc_app_channel_healthy(ch));
    atomic_store(&app.health_status, 204);
    for (i = 0; i < 200 && !sdc_app_channel_healthy(ch); i++)
        nanosleep(&ts, NULL);
    assert_true(sdc_app_channel_healthy(ch));
    sdc_app_channel_free(ch);
    app_stop(&app);
    sdc_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find_target, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_normalize, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_split_app_id, setup_arena, teardown_arena),
        cmocka_unit_test(test_verbs_and_headers),
        cmocka_unit_test(test_channel_protocols),
        cmocka_unit_test(test_channel_wait_token_concurrency),
        cmocka_unit_test(test_channel_health),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
