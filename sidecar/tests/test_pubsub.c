/* Unit tests of the pub/sub building block: CloudEvent building (§6.2), match expressions
 * (§6.5), topic scoping (§6.4), app reply interpretation (§6.6), base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dc/base64.h"
#include "dc/json.h"
#include "dc/str.h"
#include "dc/time.h"

#include "../cloudevent.h"
#include "../match_expr.h"
#include "../pubsub_internal.h"

#define NOW 1727784000000000000LL /* 2024-10-01T12:00:00Z */

static cJSON *build(const char *ct, const char *data, const struct sdc_md *md, int *rv)
{
    struct sdc_ce_in in = {.app_id = "checkout",
                           .pubsub = "pubsub",
                           .topic = "orders",
                           .content_type = ct,
                           .data = data,
                           .len = strlen(data),
                           .md = md,
                           .traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                           .now_ns = NOW,
                           .add_expiration = true};
    struct dc_buf b = {0};
    cJSON *o = NULL;

    *rv = sdc_cloudevent_build(&in, &b, NULL);
    if (*rv == DC_OK)
        assert_int_equal(dc_json_parse(b.data, b.len, b.len, &o, NULL), DC_OK);
    dc_buf_cleanup(&b);
    return o;
}

static const char *s(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_ce_json(void **state)
{
    int rv;
    cJSON *o = build("application/json; charset=utf-8", "{\"status\":\"completed\"}", NULL, &rv);
    const char *id;
    char *d;

    (void)state;
    assert_int_equal(rv, DC_OK);
    d = dc_json_print(cJSON_GetObjectItemCaseSensitive(o, "data"));
    assert_string_equal(d, "{\"status\":\"completed\"}");
    free(d);
    assert_string_equal(s(o, "datacontenttype"), "application/json; charset=utf-8");
    assert_string_equal(s(o, "source"), "checkout");
    assert_string_equal(s(o, "type"), "com.dapr.event.sent");
    assert_string_equal(s(o, "specversion"), "1.0");
    assert_string_equal(s(o, "topic"), "orders");
    assert_string_equal(s(o, "pubsubname"), "pubsub");
    assert_string_equal(s(o, "time"), "2024-10-01T12:00:00Z");
    assert_string_equal(s(o, "traceid"), s(o, "traceparent"));
    assert_string_equal(s(o, "tracestate"), "");
    id = s(o, "id");
    assert_true(id != NULL && strlen(id) == 36 && id[14] == '4');
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "data_base64"));
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "subject"));
    cJSON_Delete(o);
}

static void test_ce_text_and_bad_json(void **state)
{
    int rv;
    cJSON *o = build(NULL, "hello", NULL, &rv);

    (void)state;
    assert_string_equal(s(o, "data"), "hello");
    assert_string_equal(s(o, "datacontenttype"), "text/plain");
    cJSON_Delete(o);
    /* application/json that does not parse -> the text as a string */
    o = build("application/json", "{nope", NULL, &rv);
    assert_string_equal(s(o, "data"), "{nope");
    cJSON_Delete(o);
    o = build("application/xml", "<a/>", NULL, &rv);
    assert_string_equal(s(o, "data"), "<a/>");
    cJSON_Delete(o);
}

static void test_ce_binary(void **state)
{
    int rv;
    cJSON *o = build("application/octet-stream", "bin", NULL, &rv);

    (void)state;
    assert_string_equal(s(o, "data_base64"), "Ymlu");
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "data"));
    cJSON_Delete(o);
}

static void test_ce_overrides_and_ttl(void **state)
{
    struct sdc_md md = {0};
    int rv;
    cJSON *o;

    (void)state;
    sdc_md_set(&md, "cloudevent.id", "my-id");
    sdc_md_set(&md, "cloudevent.source", "src");
    sdc_md_set(&md, "cloudevent.type", "t");
    sdc_md_set(&md, "cloudevent.subject", "subj");
    sdc_md_set(&md, "cloudevent.traceparent", "tp");
    sdc_md_set(&md, "ttlInSeconds", "60");
    o = build("text/plain", "x", &md, &rv);
    assert_string_equal(s(o, "id"), "my-id");
    assert_string_equal(s(o, "source"), "src");
    assert_string_equal(s(o, "type"), "t");
    assert_string_equal(s(o, "subject"), "subj");
    assert_string_equal(s(o, "traceid"), "tp");
    assert_string_equal(s(o, "traceparent"), "tp");
    assert_string_equal(s(o, "expiration"), "2024-10-01T12:01:00Z");
    assert_true(sdc_cloudevent_expired(o, NOW + 61000000000LL));
    assert_false(sdc_cloudevent_expired(o, NOW));
    cJSON_Delete(o);
    sdc_md_set(&md, "ttlInSeconds", "abc");
    assert_null(build("text/plain", "x", &md, &rv));
    assert_int_equal(rv, DC_EINVAL);
    sdc_md_cleanup(&md);
}

static void test_ce_app_built(void **state)
{
    int rv;
    cJSON *o = build("application/cloudevents+json",
                     "{\"id\":\"a\",\"source\":\"mine\",\"data\":{\"z\":1,\"a\":2},\"topic\":\"x\","
                     "\"traceid\":\"keep\"}",
                     NULL, &rv);
    char *d;

    (void)state;
    assert_int_equal(rv, DC_OK);
    assert_string_equal(s(o, "id"), "a");
    assert_string_equal(s(o, "source"), "mine");
    assert_string_equal(s(o, "topic"), "orders"); /* overwritten */
    assert_string_equal(s(o, "pubsubname"), "pubsub");
    assert_string_equal(s(o, "type"), "com.dapr.event.sent");
    assert_string_equal(s(o, "specversion"), "1.0");
    assert_string_equal(s(o, "traceid"), "keep");
    assert_null(s(o, "traceparent")); /* only set together with a missing traceid */
    assert_string_equal(s(o, "time"), "2024-10-01T12:00:00Z");
    d = dc_json_print(o);
    /* keys sorted at every level */
    assert_non_null(strstr(d, "\"data\":{\"a\":2,\"z\":1}"));
    free(d);
    cJSON_Delete(o);
    assert_null(build("application/cloudevents+json", "not json", NULL, &rv));
    assert_int_equal(rv, DC_EPARSE);
    assert_null(build("application/cloudevents+json", "[1]", NULL, &rv));
    assert_int_equal(rv, DC_EPARSE);
}

static void test_ce_raw_wrap(void **state)
{
    struct dc_buf b = {0};
    struct sdc_md md = {0};
    cJSON *o = NULL;

    (void)state;
    sdc_md_set(&md, "traceparent", "tp");
    assert_int_equal(sdc_cloudevent_wrap_raw("ps", "t", "raw", 3, &md, &b), DC_OK);
    assert_int_equal(sdc_cloudevent_parse(b.data, b.len, b.len, &o, NULL), DC_OK);
    assert_string_equal(s(o, "data_base64"), "cmF3");
    assert_string_equal(s(o, "source"), "Dapr");
    assert_string_equal(s(o, "traceparent"), "tp");
    assert_null(s(o, "traceid"));
    cJSON_Delete(o);
    dc_buf_cleanup(&b);
    sdc_md_cleanup(&md);
}

static void test_base64(void **state)
{
    struct dc_buf b = {0};

    (void)state;
    assert_int_equal(dc_base64_decode(&b, "aGVsbG8=", 8, NULL), DC_OK);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);
    dc_buf_reset(&b);
    assert_int_equal(dc_base64_decode(&b, "aGVsbA==", 8, NULL), DC_OK);
    assert_int_equal(b.len, 4);
    assert_int_equal(dc_base64_decode(&b, "aGVsbA=", 7, NULL), DC_EPARSE);
    assert_int_equal(dc_base64_decode(&b, "a=Vs", 4, NULL), DC_EPARSE);
    assert_int_equal(dc_base64_decode(&b, "aG=sbA==", 8, NULL), DC_EPARSE);
    dc_buf_cleanup(&b);
}

/* ---- match expressions ---- */

static int eval(const char *expr, const char *event)
{
    struct sdc_match *m = NULL;
    cJSON *ev = NULL;
    int r;

    assert_int_equal(sdc_match_compile(&m, expr, NULL), DC_OK);
    assert_int_equal(dc_json_parse(event, strlen(event), 1 << 20, &ev, NULL), DC_OK);
    r = sdc_match_eval(m, ev, NULL);
    cJSON_Delete(ev);
    sdc_match_free(m);
    return r;
}

static void test_match_eval(void **state)
{
    const char *ev = "{\"type\":\"widget\",\"source\":\"app-1\",\"data\":{\"n\":10,\"price\":2.5,"
                     "\"tags\":[\"a\",\"b\"],\"ok\":true,\"name\":\"caf\xc3\xa9\"}}";

    (void)state;
    assert_int_equal(eval("event.type == \"widget\"", ev), 1);
    assert_int_equal(eval("event.type != 'widget'", ev), 0);
    assert_int_equal(eval("event.data.n > 5 && event.data.n <= 10", ev), 1);
    assert_int_equal(eval("event.data.n >= 11 || event.data.price < 3.0", ev), 1);
    assert_int_equal(eval("event.data.n == 10.0", ev), 1);
    assert_int_equal(eval("!(event.data.ok)", ev), 0);
    assert_int_equal(eval("'a' in event.data.tags", ev), 1);
    assert_int_equal(eval("event.type in ['gadget', 'widget']", ev), 1);
    assert_int_equal(eval("'n' in event.data", ev), 1);
    assert_int_equal(eval("event.source.startsWith(\"app-\")", ev), 1);
    assert_int_equal(eval("event.source.endsWith(\"-2\")", ev), 0);
    assert_int_equal(eval("event.type.contains(\"dge\")", ev), 1);
    assert_int_equal(eval("event['type'] == 'widget' && event.data.tags[1] == 'b'", ev), 1);
    assert_int_equal(eval("has(event.data.n) && !has(event.data.zzz)", ev), 1);
    assert_int_equal(eval("size(event.data.name) == 4 && event.data.tags.size() == 2", ev), 1);
    assert_int_equal(eval("event.type < 'x' && -event.data.n < 0", ev), 1);
    /* errors: missing key, and CEL's absorption by && / || */
    assert_int_equal(eval("event.data.missing == 1", ev), DC_EINVAL);
    assert_int_equal(eval("event.data.missing == 1 || true", ev), 1);
    assert_int_equal(eval("false && event.data.missing == 1", ev), 0);
    assert_int_equal(eval("event.data.missing == 1 && true", ev), DC_EINVAL);
    assert_int_equal(eval("event.type > 1", ev), DC_EINVAL);
    assert_int_equal(eval("event.data.n", ev), DC_EINVAL); /* not a boolean */
}

static void test_match_compile_errors(void **state)
{
    static const char *const bad[] = {
        "",
        "event.type ==",
        "event.type = 'x'",
        "foo == 1",
        "event.type.matches('x')",
        "event.type == 'unterminated",
        "(event.type == 'x'",
        "event.type == 'x' junk",
        "'just a string'",
        "42",
        "event.",
        "has(event)",
        "event.type == '\\q'",
    };
    struct sdc_match *m = NULL;
    struct dc_errbuf eb = {0};
    char deep[200];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(sdc_match_compile(&m, bad[i], &eb), DC_OK);
        assert_true(eb.msg[0] != '\0');
    }
    assert_int_equal(sdc_match_compile(&m, "event.type = 'x'", &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "column 12"));
    memset(deep, '(', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    assert_int_equal(sdc_match_compile(&m, deep, &eb), DC_ETOOBIG);
}

/* ---- scoping ---- */

static void test_scoping(void **state)
{
    struct sdc__ps_comp c = {0};
    struct sdc_md md = {0};

    (void)state;
    sdc_md_set(&md, "publishingScopes", "app1=t1, t2;app2=t3;app3=");
    sdc_md_set(&md, "subscriptionScopes", "app1=t1");
    sdc_md_set(&md, "protectedTopics", "secret");
    comp_scoping(&c, &md, "app1");
    assert_true(sdc__ps_topic_allowed(&c, "t1", true));
    assert_true(sdc__ps_topic_allowed(&c, "t2", true));
    assert_false(sdc__ps_topic_allowed(&c, "t3", true));
    assert_false(sdc__ps_topic_allowed(&c, "t2", false));
    assert_false(sdc__ps_topic_allowed(&c, "secret", true));
    comp_scoping_cleanup(&c);
    /* an app not named in the scopes may use any topic but the protected ones */
    comp_scoping(&c, &md, "other");
    assert_true(sdc__ps_topic_allowed(&c, "anything", true));
    assert_false(sdc__ps_topic_allowed(&c, "secret", false));
    comp_scoping_cleanup(&c);
    /* "app3=" lists no topic: nothing is allowed */
    comp_scoping(&c, &md, "app3");
    assert_false(sdc__ps_topic_allowed(&c, "t1", true));
    comp_scoping_cleanup(&c);
    sdc_md_cleanup(&md);
    sdc_md_set(&md, "allowedTopics", "a,b");
    sdc_md_set(&md, "publishingScopes", "app1=c");
    comp_scoping(&c, &md, "app1");
    assert_false(sdc__ps_topic_allowed(&c, "c", true)); /* not in allowedTopics */
    assert_false(sdc__ps_topic_allowed(&c, "a", true)); /* not in the app's scope */
    assert_true(sdc__ps_topic_allowed(&c, "a", false));
    assert_false(sdc__ps_topic_allowed(&c, "z", false));
    comp_scoping_cleanup(&c);
    sdc_md_cleanup(&md);
}

static void test_app_status(void **state)
{
    (void)state;
    assert_int_equal(sdc__ps_app_status("", 0), SDC_PUBSUB_SUCCESS);
    assert_int_equal(sdc__ps_app_status("not json", 8), SDC_PUBSUB_SUCCESS);
    assert_int_equal(sdc__ps_app_status("{}", 2), SDC_PUBSUB_SUCCESS);
    assert_int_equal(sdc__ps_app_status("{\"status\":\"\"}", 13), SDC_PUBSUB_SUCCESS);
    assert_int_equal(sdc__ps_app_status("{\"status\":\"SUCCESS\"}", 20), SDC_PUBSUB_SUCCESS);
    assert_int_equal(sdc__ps_app_status("{\"status\":\"RETRY\"}", 18), SDC_PUBSUB_RETRY);
    assert_int_equal(sdc__ps_app_status("{\"status\":\"DROP\"}", 17), SDC_PUBSUB_DROP);
    assert_int_equal(sdc__ps_app_status("{\"status\":\"WHAT\"}", 17), SDC_PUBSUB_RETRY);
}

static void subs_free(struct sdc__ps_sub **subs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sdc__ps_sub_free(subs[i]);
    free(subs);
}

static void test_programmatic_parse(void **state)
{
    static const char body[] =
        "[{\"pubsubname\":\"p\",\"topic\":\"t1\",\"route\":\"r1\"},"
        " {\"pubsubname\":\"p\",\"topic\":\"t2\",\"routes\":{\"rules\":[{\"match\":\"event.type == "
        "'a'\",\"path\":\"/a\"}],\"default\":\"/d\"},\"deadLetterTopic\":\"dl\","
        "\"metadata\":{\"rawPayload\":\"true\"},\"bulkSubscribe\":{\"enabled\":true}},"
        " {\"pubsubname\":\"p\",\"topic\":\"t3\"},"
        " {\"pubsubname\":\"p\",\"topic\":\"t4\",\"routes\":{\"rules\":[{\"match\":\"bad ==\","
        "\"path\":\"/x\"}]}}]";
    struct sdc_pubsub_rt ps = {0};
    struct sdc__ps_sub **subs = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(sdc__ps_parse_programmatic(&ps, body, strlen(body), &subs, &n, NULL), DC_OK);
    assert_int_equal(n, 2); /* t3 has no route, t4's rule does not parse */
    assert_string_equal(subs[0]->rules[0].path, "/r1");
    assert_int_equal(subs[1]->nrules, 2);
    assert_string_equal(subs[1]->rules[0].match, "event.type == 'a'");
    assert_null(subs[1]->rules[1].match);
    assert_true(subs[1]->raw_payload);
    assert_true(subs[1]->bulk);
    assert_int_equal(subs[1]->bulk_max_n, 100);
    assert_int_equal(subs[1]->bulk_max_await_ms, 1000);
    assert_string_equal(subs[1]->dead_letter, "dl");
    subs_free(subs, n);
    assert_int_equal(sdc__ps_parse_programmatic(&ps, "{}", 2, &subs, &n, NULL), DC_EPARSE);
}

/* bulkSubscribe numbers out of range are clamped before they are converted (fuzz_sdc_subscribe:
 * (int64_t)1e30 was undefined, and gave INT64_MIN on x86). */
static void test_programmatic_bulk_bounds(void **state)
{
    static const char body[] =
        "[{\"topic\":\"a\",\"route\":\"/a\",\"bulkSubscribe\":{\"maxMessagesCount\":1e30,"
        "\"maxAwaitDurationMs\":1e300}},"
        " {\"topic\":\"b\",\"route\":\"/b\",\"bulkSubscribe\":{\"maxMessagesCount\":-5,"
        "\"maxAwaitDurationMs\":0.5}},"
        " {\"topic\":\"c\",\"route\":\"/c\",\"bulkSubscribe\":{\"maxMessagesCount\":7.9,"
        "\"maxAwaitDurationMs\":2147483648}}]";
    static struct sdc_pubsub_rt ps; /* the subscriptions point at it */
    struct sdc__ps_sub **subs = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(sdc__ps_parse_programmatic(&ps, body, sizeof(body) - 1, &subs, &n, NULL),
                     DC_OK);
    assert_int_equal(n, 3);
    assert_int_equal(subs[0]->bulk_max_n, 10000);
    assert_int_equal(subs[0]->bulk_max_await_ms, INT32_MAX);
    assert_int_equal(subs[1]->bulk_max_n, 100);
    assert_int_equal(subs[1]->bulk_max_await_ms, 1000);
    assert_int_equal(subs[2]->bulk_max_n, 7);
    assert_int_equal(subs[2]->bulk_max_await_ms, INT32_MAX);
    subs_free(subs, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ce_json),
        cmocka_unit_test(test_ce_text_and_bad_json),
        cmocka_unit_test(test_ce_binary),
        cmocka_unit_test(test_ce_overrides_and_ttl),
        cmocka_unit_test(test_ce_app_built),
        cmocka_unit_test(test_ce_raw_wrap),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_match_eval),
        cmocka_unit_test(test_match_compile_errors),
        cmocka_unit_test(test_scoping),
        cmocka_unit_test(test_app_status),
        cmocka_unit_test(test_programmatic_parse),
        cmocka_unit_test(test_programmatic_bulk_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
