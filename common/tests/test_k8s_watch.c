/* Unit tests of the pure parts of the Kubernetes client: the watch-stream decoder, Status -> error
 * mapping, URL paths and MicroTime. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/k8s.h"
#include "dc/k8s_lease.h"

/* Records each event as "TYPE name rv" (or "ERROR code reason") into a buffer. */
struct rec {
    struct dc_buf log;
    int events;
    int stop_after; /* 0 = never */
};

static int record(void *arg, enum dc_k8s_event_type t, cJSON *obj, cJSON *ev)
{
    struct rec *r = arg;
    const char *name = dc_k8s_obj_name(obj), *rv = dc_k8s_obj_rv(obj);

    assert_non_null(ev);
    if (t == DC_K8S_ERROR) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        assert_int_equal(
            dc_buf_appendf(&r->log, "ERROR %d %s;", code != NULL ? code->valueint : 0,
                           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "reason"))),
            DC_OK);
    } else {
        assert_int_equal(dc_buf_appendf(&r->log, "%s %s %s;", dc_k8s_event_name(t),
                                        name != NULL ? name : "-", rv != NULL ? rv : "-"),
                         DC_OK);
    }
    r->events++;
    return r->stop_after != 0 && r->events >= r->stop_after ? DC_ECANCELED : DC_OK;
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
    "\"resourceVersion\":\"5\"},\"data\":{\"k\":\"line\\nbreak\"}}}\n"
    "\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"6\"}}}"
    "\r\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\","
    "\"metadata\":{\"resourceVersion\":\"9\"}}}\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"10\"}}}\n"
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
    "\"Failure\",\"message\":\"too old resource version: 10 (12)\",\"reason\":\"Expired\","
    "\"code\":410}}\n";
static const char expect[] = "ADDED a 5;MODIFIED a 6;BOOKMARK - 9;DELETED a 10;ERROR 410 Expired;";

static void test_decode_whole(void **state)
{
    struct dc_k8s_watch_decoder d;
    struct rec r = {0};
    (void)state;
    dc_k8s_watch_decoder_init(&d, 0);
    assert_int_equal(dc_k8s_watch_decode(&d, stream, strlen(stream), record, &r, NULL), DC_OK);
    assert_int_equal(dc_k8s_watch_decoder_finish(&d, NULL), DC_OK);
    assert_string_equal(dc_buf_cstr(&r.log), expect);
    dc_k8s_watch_decoder_cleanup(&d);
    dc_buf_cleanup(&r.log);
}

/* Every split into two pieces, and byte by byte. */
static void test_decode_split(void **state)
{
    size_t n = strlen(stream);
    (void)state;
    for (size_t cut = 0; cut <= n; cut++) {
        struct dc_k8s_watch_decoder d;
        struct rec r = {0};
        dc_k8s_watch_decoder_init(&d, 0);
        assert_int_equal(dc_k8s_watch_decode(&d, stream, cut, record, &r, NULL), DC_OK);
        assert_int_equal(dc_k8s_watch_decode(&d, stream + cut, n - cut, record, &r, NULL), DC_OK);
        assert_int_equal(dc_k8s_watch_decoder_finish(&d, NULL), DC_OK);
        assert_string_equal(dc_buf_cstr(&r.log), expect);
        dc_k8s_watch_decoder_cleanup(&d);
        dc_buf_cleanup(&r.log);
    }
    {
        struct dc_k8s_watch_decoder d;
        struct rec r = {0};
        dc_k8s_watch_decoder_init(&d, 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(dc_k8s_watch_decode(&d, stream + i, 1, record, &r, NULL), DC_OK);
        assert_string_equal(dc_buf_cstr(&r.log), expect);
        dc_k8s_watch_decoder_cleanup(&d);
        dc_buf_cleanup(&r.log);
    }
}

static int decode_one(const char *text, size_t max, struct dc_errbuf *eb)
{
    struct dc_k8s_watch_decoder d;
    struct rec r = {0};
    int rv;

    dc_k8s_watch_decoder_init(&d, max);
    rv = dc_k8s_watch_decode(&d, text, strlen(text), record, &r, eb);
    if (rv == DC_OK)
        rv = dc_k8s_watch_decoder_finish(&d, eb);
    dc_k8s_watch_decoder_cleanup(&d);
    dc_buf_cleanup(&r.log);
    return rv;
}

static void test_decode_garbage(void **state)
{
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(decode_one("not json\n", 0, &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "not a JSON object"));
    assert_int_equal(decode_one("[1,2]\n", 0, &eb), DC_EPARSE);
    assert_int_equal(decode_one("{\"type\":\"EXPLODED\",\"object\":{}}\n", 0, &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "EXPLODED"));
    assert_int_equal(decode_one("{\"type\":\"ADDED\"}\n", 0, &eb), DC_EPARSE);
    assert_int_equal(decode_one("{\"type\":\"ADDED\",\"object\":\"x\"}\n", 0, &eb), DC_EPARSE);
    assert_int_equal(decode_one("{\"type\":1,\"object\":{}}\n", 0, &eb), DC_EPARSE);
    assert_int_equal(decode_one("{\"type\":\"ADDED\",\"object\":{}}{}\n", 0, &eb), DC_EPARSE);
    /* A stream cut inside an event. */
    assert_int_equal(decode_one("{\"type\":\"ADDED\",\"obj", 0, &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "ended inside"));
    /* Blank lines only: nothing happens. */
    assert_int_equal(decode_one("\n\r\n  \n", 0, &eb), DC_OK);
}

static void test_decode_limit(void **state)
{
    struct dc_k8s_watch_decoder d;
    struct rec r = {0};
    struct dc_errbuf eb = {0};
    char big[300];
    (void)state;

    /* A complete line over the limit inside one piece. */
    memset(big, 'x', sizeof(big));
    big[sizeof(big) - 1] = '\n';
    dc_k8s_watch_decoder_init(&d, 100);
    assert_int_equal(dc_k8s_watch_decode(&d, big, sizeof(big), record, &r, &eb), DC_ETOOBIG);
    /* Once failed, always failed. */
    assert_int_equal(dc_k8s_watch_decode(&d, "\n", 1, record, &r, &eb), DC_EINVAL);
    assert_int_equal(dc_k8s_watch_decoder_finish(&d, &eb), DC_EINVAL);
    dc_k8s_watch_decoder_cleanup(&d);
    /* A partial line growing past the limit across pieces. */
    dc_k8s_watch_decoder_init(&d, 100);
    assert_int_equal(dc_k8s_watch_decode(&d, big, 60, record, &r, &eb), DC_OK);
    assert_int_equal(dc_k8s_watch_decode(&d, big, 60, record, &r, &eb), DC_ETOOBIG);
    assert_non_null(strstr(eb.msg, "larger than 100"));
    dc_k8s_watch_decoder_cleanup(&d);
    /* A line of exactly the limit is fine, split or not. */
    {
        const char *ev = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"n\"}}}\n";
        size_t len = strlen(ev) - 1;
        dc_k8s_watch_decoder_init(&d, len);
        assert_int_equal(dc_k8s_watch_decode(&d, ev, len + 1, record, &r, &eb), DC_OK);
        assert_int_equal(dc_k8s_watch_decode(&d, ev, 10, record, &r, &eb), DC_OK);
        assert_int_equal(dc_k8s_watch_decode(&d, ev + 10, len + 1 - 10, record, &r, &eb), DC_OK);
        assert_int_equal(r.events, 2);
        dc_k8s_watch_decoder_cleanup(&d);
    }
    dc_buf_cleanup(&r.log);
}

/* A big event grows the line buffer; afterwards the storage is released. */
static void test_decode_memory_released(void **state)
{
    struct dc_k8s_watch_decoder d;
    struct rec r = {0};
    struct dc_buf ev = {0};
    (void)state;
    assert_int_equal(dc_buf_appends(&ev, "{\"type\":\"ADDED\",\"object\":{\"data\":\""), DC_OK);
    for (int i = 0; i < 200000; i++)
        assert_int_equal(dc_buf_appendc(&ev, 'a'), DC_OK);
    assert_int_equal(dc_buf_appends(&ev, "\"}}\n"), DC_OK);
    dc_k8s_watch_decoder_init(&d, 0);
    assert_int_equal(dc_k8s_watch_decode(&d, ev.data, 1000, record, &r, NULL), DC_OK);
    assert_int_equal(dc_k8s_watch_decode(&d, ev.data + 1000, ev.len - 1000, record, &r, NULL),
                     DC_OK);
    assert_int_equal(r.events, 1);
    assert_int_equal(d.line.cap, 0);
    dc_k8s_watch_decoder_cleanup(&d);
    dc_buf_cleanup(&ev);
    dc_buf_cleanup(&r.log);
}

static void test_decode_callback_stops(void **state)
{
    struct dc_k8s_watch_decoder d;
    struct rec r = {.stop_after = 2};
    (void)state;
    dc_k8s_watch_decoder_init(&d, 0);
    assert_int_equal(dc_k8s_watch_decode(&d, stream, strlen(stream), record, &r, NULL),
                     DC_ECANCELED);
    assert_int_equal(r.events, 2);
    dc_k8s_watch_decoder_cleanup(&d);
    dc_buf_cleanup(&r.log);
}

static void test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(dc_k8s_err_from_status(200, NULL), DC_OK);
    assert_int_equal(dc_k8s_err_from_status(201, "whatever"), DC_OK);
    assert_int_equal(dc_k8s_err_from_status(404, "NotFound"), DC_ENOTFOUND);
    assert_int_equal(dc_k8s_err_from_status(404, NULL), DC_ENOTFOUND);
    assert_int_equal(dc_k8s_err_from_status(409, "AlreadyExists"), DC_EEXIST);
    assert_int_equal(dc_k8s_err_from_status(409, "Conflict"), DC_ECONFLICT);
    assert_int_equal(dc_k8s_err_from_status(409, ""), DC_ECONFLICT);
    assert_int_equal(dc_k8s_err_from_status(410, "Expired"), DC_ERANGE);
    assert_int_equal(dc_k8s_err_from_status(410, NULL), DC_ERANGE);
    assert_int_equal(dc_k8s_err_from_status(422, "Invalid"), DC_EINVAL);
    assert_int_equal(dc_k8s_err_from_status(400, "BadRequest"), DC_EINVAL);
    assert_int_equal(dc_k8s_err_from_status(401, "Unauthorized"), DC_EPERM);
    assert_int_equal(dc_k8s_err_from_status(403, "Forbidden"), DC_EPERM);
    assert_int_equal(dc_k8s_err_from_status(405, "MethodNotAllowed"), DC_EUNSUPPORTED);
    assert_int_equal(dc_k8s_err_from_status(415, "UnsupportedMediaType"), DC_EUNSUPPORTED);
    assert_int_equal(dc_k8s_err_from_status(413, NULL), DC_ETOOBIG);
    assert_int_equal(dc_k8s_err_from_status(429, "TooManyRequests"), DC_EUNAVAIL);
    assert_int_equal(dc_k8s_err_from_status(500, "InternalError"), DC_EINTERNAL);
    assert_int_equal(dc_k8s_err_from_status(503, NULL), DC_EUNAVAIL);
    assert_int_equal(dc_k8s_err_from_status(504, "Timeout"), DC_ETIMEDOUT);
    assert_int_equal(dc_k8s_err_from_status(418, "Teapot"), DC_EINVAL);
    /* An ERROR event carries the code inside a 200 stream: the reason decides. */
    assert_int_equal(dc_k8s_err_from_status(500, "Expired"), DC_ERANGE);
}

static void test_status_error_text(void **state)
{
    struct dc_errbuf eb = {0};
    static const char st[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"configmaps \\\"x\\\" not found\",\"reason\":\"NotFound\","
        "\"details\":{\"name\":\"x\",\"kind\":\"configmaps\"},\"code\":404}";
    (void)state;
    assert_int_equal(dc_k8s_status_error(404, st, strlen(st), &eb), DC_ENOTFOUND);
    assert_string_equal(eb.msg, "NotFound: configmaps \"x\" not found (HTTP 404)");
    assert_int_equal(dc_k8s_status_error(502, "<html>bad gateway</html>", 24, &eb), DC_EUNAVAIL);
    assert_string_equal(eb.msg, "HTTP 502: <html>bad gateway</html>");
    assert_int_equal(dc_k8s_status_error(409, NULL, 0, &eb), DC_ECONFLICT);
    assert_int_equal(dc_k8s_status_error(200, "{}", 2, &eb), DC_EINTERNAL);
    assert_int_equal(dc_k8s_status_error(409, "{\"reason\":\"AlreadyExists\"}", 26, NULL),
                     DC_EEXIST);
}

static void path_is(const struct dc_k8s_resource *r, const char *ns, const char *name,
                    const char *sub, const char *want)
{
    struct dc_buf b = {0};
    assert_int_equal(dc_k8s_path(&b, r, ns, name, sub), DC_OK);
    assert_string_equal(dc_buf_cstr(&b), want);
    dc_buf_cleanup(&b);
}

static void test_paths(void **state)
{
    static const struct dc_k8s_resource cm = {"", "v1", "configmaps", true};
    static const struct dc_k8s_resource comp = {"dapr.io", "v1alpha1", "components", true};
    static const struct dc_k8s_resource ns = {NULL, "v1", "namespaces", false};
    struct dc_k8s_resource bad = {"", "", "x", true};
    struct dc_buf b = {0};
    (void)state;
    path_is(&cm, "default", "a", NULL, "/api/v1/namespaces/default/configmaps/a");
    path_is(&cm, NULL, NULL, NULL, "/api/v1/configmaps");
    path_is(&comp, "d", "c 1/x", "status",
            "/apis/dapr.io/v1alpha1/namespaces/d/components/c%201%2Fx/status");
    path_is(&ns, "ignored", "kube-system", NULL, "/api/v1/namespaces/kube-system");
    assert_int_equal(dc_k8s_path(&b, &bad, NULL, NULL, NULL), DC_EINVAL);
    dc_buf_cleanup(&b);
}

static void test_microtime_and_names(void **state)
{
    char out[32];
    struct timespec ts = {1700000000, 123456789};
    (void)state;
    dc_k8s_microtime(out, &ts);
    assert_string_equal(out, "2023-11-14T22:13:20.123456Z");
    ts.tv_nsec = 5000;
    dc_k8s_microtime(out, &ts);
    assert_string_equal(out, "2023-11-14T22:13:20.000005Z");
    assert_string_equal(dc_k8s_event_name(DC_K8S_BOOKMARK), "BOOKMARK");
    assert_null(dc_k8s_obj_name(NULL));
}

static void test_cancel_sleep(void **state)
{
    struct dc_k8s_cancel *c = dc_k8s_cancel_new();
    (void)state;
    assert_false(dc_k8s_cancel_fired(c));
    assert_int_equal(dc_k8s_cancel_sleep(c, 1), DC_OK);
    dc_k8s_cancel_fire(c);
    assert_true(dc_k8s_cancel_fired(c));
    assert_int_equal(dc_k8s_cancel_sleep(c, 100000), DC_ECANCELED); /* returns at once */
    dc_k8s_cancel_free(c);
    assert_false(dc_k8s_cancel_fired(NULL));
    assert_int_equal(dc_k8s_cancel_sleep(NULL, 1), DC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_whole),
        cmocka_unit_test(test_decode_split),
        cmocka_unit_test(test_decode_garbage),
        cmocka_unit_test(test_decode_limit),
        cmocka_unit_test(test_decode_memory_released),
        cmocka_unit_test(test_decode_callback_stops),
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_status_error_text),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_microtime_and_names),
        cmocka_unit_test(test_cancel_sleep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
