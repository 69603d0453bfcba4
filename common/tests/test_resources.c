/* Unit tests of the Dapr resource loader (dc/resources.h). Realistic manifests live in
 * common/tests/data/resources/; error cases are inline so each shows its expected line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dc/buf.h"
#include "dc/limits.h"
#include "dc/resources.h"
#include "../src/resources_int.h"

/* The data folder sits beside this file; tests run from the repository root. */
static char data_dir[512];

static const char *data(const char *rel)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s/%s", data_dir, rel);
    return path;
}

static int setup_all(void **state)
{
    const char *slash = strrchr(__FILE__, '/');
    int n = slash != NULL ? (int)(slash - __FILE__) : 0;
    (void)state;
    snprintf(data_dir, sizeof(data_dir), "%.*s%sdata/resources", n, __FILE__, n ? "/" : "");
    return 0;
}

/* Load `text` as file "t.yaml": the call must fail with `code`, and the message must be one
 * line starting with "t.yaml:<line>:" and containing `needle`. */
static void expect_error(const char *text, int code, int line, const char *needle)
{
    struct dc_resources r = {0};
    struct dc_errbuf eb = {0};
    char prefix[32];
    int rv = dc_resources_load_buffer(&r, "t.yaml", text, strlen(text), &eb);

    if (rv != code || strstr(eb.msg, needle) == NULL)
        print_error("got %d (%s)\n", rv, eb.msg);
    assert_int_equal(rv, code);
    snprintf(prefix, sizeof(prefix), "t.yaml:%d:", line);
    if (strncmp(eb.msg, prefix, strlen(prefix)) != 0)
        print_error("want prefix %s: %s\n", prefix, eb.msg);
    assert_true(strncmp(eb.msg, prefix, strlen(prefix)) == 0);
    assert_non_null(strstr(eb.msg, needle));
    assert_null(strchr(eb.msg, '\n'));
    dc_resources_cleanup(&r);
}

static const struct dc_nv *nv_find(const struct dc_nv *nv, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(nv[i].name, name) == 0)
            return &nv[i];
    }
    print_error("no metadata entry %s\n", name);
    abort();
}

static void check_statestore(const struct dc_component *c)
{
    const struct dc_nv *nv;

    assert_string_equal(c->meta.name, "statestore");
    assert_string_equal(c->meta.namespace, "default");
    assert_string_equal(c->meta.api_version, "dapr.io/v1alpha1");
    assert_int_equal(c->meta.line, 2); /* after the comment */
    assert_non_null(strstr(c->meta.file, "statestore.yaml"));
    assert_int_equal(c->meta.nscopes, 2);
    assert_string_equal(c->meta.scopes[1], "app2");
    assert_string_equal(c->type, "state.redis");
    assert_string_equal(c->version, "v1");
    assert_string_equal(c->init_timeout, "1m");
    assert_string_equal(c->auth_secret_store, "localsecretstore");
    assert_false(c->ignore_errors);
    assert_int_equal(c->nmetadata, 8);
    nv = nv_find(c->metadata, c->nmetadata, "redisHost");
    assert_string_equal(nv->value, "localhost:6379");
    assert_int_equal(nv->line, 15);
    nv = nv_find(c->metadata, c->nmetadata, "redisPassword");
    assert_false(nv->value_set);
    assert_string_equal(nv->secret_ref_name, "redis-secret");
    assert_string_equal(nv->secret_ref_key, "password");
    assert_string_equal(nv_find(c->metadata, c->nmetadata, "actorStateStore")->value, "true");
    assert_string_equal(nv_find(c->metadata, c->nmetadata, "enableTLS")->value, "false");
    assert_string_equal(nv_find(c->metadata, c->nmetadata, "maxRetries")->value, "16");
    assert_string_equal(nv_find(c->metadata, c->nmetadata, "consumerID")->value, "{appID}-{uuid}");
    nv = nv_find(c->metadata, c->nmetadata, "tlsCert");
    assert_string_equal(nv->env_ref, "REDIS_TLS_CERT");
    assert_false(nv->value_set);
    assert_string_equal(nv_find(c->metadata, c->nmetadata, "queryIndexes")->value,
                        "[{\"name\":\"orgIndx\",\"indexes\":[{\"key\":\"person.org\","
                        "\"type\":\"TEXT\"}]}]");
}

static void check_subscriptions(const struct dc_resources *r)
{
    const struct dc_subscription *v1 = &r->subscriptions[0], *v2 = &r->subscriptions[1];

    assert_int_equal(r->nsubscriptions, 2);
    assert_int_equal(v1->version, 1);
    assert_string_equal(v1->pubsubname, "pubsub");
    assert_string_equal(v1->topic, "orders");
    assert_string_equal(v1->route, "/checkout");
    assert_string_equal(v1->dead_letter_topic, "poisonMessages");
    assert_int_equal(v1->nmetadata, 2);
    assert_string_equal(v1->metadata[0].name, "rawPayload");
    assert_string_equal(v1->metadata[0].value, "true");
    assert_string_equal(v1->metadata[1].value, "8");
    assert_false(v1->bulk_enabled);
    assert_int_equal(v1->bulk_max_messages, 100);
    assert_int_equal(v2->version, 2);
    assert_int_equal(v2->meta.line, 17);
    assert_null(v2->route);
    assert_string_equal(v2->default_route, "/products");
    assert_int_equal(v2->nrules, 2);
    assert_string_equal(v2->rules[0].match, "event.type == \"widget\"");
    assert_string_equal(v2->rules[1].path, "/gadgets");
    assert_true(v2->bulk_enabled);
    assert_int_equal(v2->bulk_max_messages, 50);
    assert_int_equal(v2->bulk_max_await_ms, 40);
}

static void check_resiliency(const struct dc_resiliency *x)
{
    assert_string_equal(x->meta.name, "myresiliency");
    assert_int_equal(x->ntimeouts, 4);
    assert_string_equal(x->timeouts[3].name, "legacy");
    assert_string_equal(x->timeouts[3].duration, "60000");
    assert_int_equal(x->nretries, 4);
    assert_string_equal(x->retries[0].policy, "constant");
    assert_int_equal(x->retries[0].max_retries, 10);
    assert_string_equal(x->retries[1].policy, "exponential");
    assert_string_equal(x->retries[1].max_interval, "15s");
    assert_int_equal(x->retries[1].max_retries, -1);
    assert_string_equal(x->retries[2].match_http, "429,500-599");
    assert_string_equal(x->retries[2].match_grpc, "1-4,8-11,13,14");
    assert_int_equal(x->retries[3].max_retries, -1); /* default */
    assert_int_equal(x->nbreakers, 2);
    assert_string_equal(x->breakers[1].trip, "consecutiveFailures > 8");
    assert_string_equal(x->breakers[1].interval, "8s");
    assert_int_equal(x->napps, 1);
    assert_string_equal(x->apps[0].app_id, "appB");
    assert_string_equal(x->apps[0].p.retry, "important");
    assert_int_equal(x->apps[0].cache_size, 1000);
    assert_int_equal(x->nactors, 1);
    assert_string_equal(x->actors[0].circuit_breaker_scope, "both");
    assert_int_equal(x->ncomponents, 2);
    assert_string_equal(x->components[0].outbound.retry, "retryForever");
    assert_null(x->components[0].inbound.retry);
    assert_string_equal(x->components[1].inbound.circuit_breaker, "pubsubCB");
}

static void check_endpoint(const struct dc_http_endpoint *e)
{
    assert_string_equal(e->meta.name, "external-api");
    assert_string_equal(e->base_url, "https://api.github.com");
    assert_string_equal(e->auth_secret_store, "local-secret-store");
    assert_int_equal(e->nheaders, 2);
    assert_string_equal(e->headers[0].value, "en-US");
    assert_string_equal(e->headers[1].secret_ref_key, "mytoken");
    assert_string_equal(e->tls_root_ca.secret_ref_name, "dapr-tls-client");
    assert_true(e->tls_certificate.value_set);
    assert_non_null(strstr(e->tls_certificate.value, "BEGIN CERTIFICATE-----\nMIIB"));
    assert_string_equal(e->tls_private_key.secret_ref_key, "tls.key");
    assert_int_equal(e->tls_renegotiation, DC_TLS_RENEG_ONCE_AS_CLIENT);
}

/* The "ok" folder: every kind, a JSON manifest, a multi-document file, a Deployment that is
 * skipped and a README.txt that is not read. */
static void test_load_folder(void **state)
{
    struct dc_resources r = {0};
    struct dc_errbuf eb = {0};
    int rv;
    (void)state;

    rv = dc_resources_load_path(&r, data("ok"), &eb);
    if (rv != DC_OK)
        print_error("%s\n", eb.msg);
    assert_int_equal(rv, DC_OK);
    assert_int_equal(r.nfiles, 6);
    /* Files in name order: endpoint, pubsub.json, resiliency, statestore, subscriptions. */
    assert_int_equal(r.ncomponents, 2);
    assert_string_equal(r.components[0].meta.name, "pubsub");
    assert_string_equal(r.components[0].type, "pubsub.redis");
    assert_int_equal(r.components[0].metadata[2].line, 11);
    assert_string_equal(r.components[0].metadata[2].value, "10");
    assert_string_equal(r.components[0].metadata[1].value, "");
    assert_true(r.components[0].metadata[1].value_set);
    check_statestore(&r.components[1]);
    check_subscriptions(&r);
    assert_int_equal(r.nresiliencies, 1);
    check_resiliency(&r.resiliencies[0]);
    assert_int_equal(r.nhttp_endpoints, 1);
    check_endpoint(&r.http_endpoints[0]);
    assert_int_equal(r.nconfigurations, 0);
    assert_ptr_equal(dc_resources_find_component(&r, "statestore", "default"), &r.components[1]);
    assert_null(dc_resources_find_component(&r, "statestore", "other"));
    /* Loading the same folder again duplicates every name. */
    assert_int_equal(dc_resources_load_path(&r, data("ok"), &eb), DC_EEXIST);
    assert_non_null(strstr(eb.msg, "duplicate name, already defined at"));
    dc_resources_cleanup(&r);
    dc_resources_cleanup(&r);
}

static void test_single_file_and_missing(void **state)
{
    struct dc_resources r = {0};
    struct dc_errbuf eb = {0};
    (void)state;

    assert_int_equal(dc_resources_load_path(&r, data("ok/resiliency.yaml"), &eb), DC_OK);
    assert_int_equal(r.nresiliencies, 1);
    assert_int_equal(dc_resources_load_path(&r, data("nope"), &eb), DC_EIO);
    assert_non_null(strstr(eb.msg, "nope"));
    dc_resources_cleanup(&r);
}

static void test_duplicate_across_files(void **state)
{
    struct dc_resources r = {0};
    struct dc_errbuf eb = {0};
    struct dc_buf want = {0};
    (void)state;

    assert_int_equal(dc_resources_load_path(&r, data("dup"), &eb), DC_EEXIST);
    assert_int_equal(dc_buf_appendf(&want,
                                    "%s/dup/b.yaml:13: Component statestore: metadata.name: "
                                    "duplicate name, already defined at %s/dup/a.yaml:1",
                                    data_dir, data_dir),
                     DC_OK);
    assert_string_equal(eb.msg, dc_buf_cstr(&want));
    dc_buf_cleanup(&want);
    dc_resources_cleanup(&r);

    /* Another namespace or another kind may reuse the name. */
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: a}\n"
                 "spec: {type: state.redis, version: v1}\n---\n"
                 "apiVersion: dapr.io/v1alpha1\nkind: Component\n"
                 "metadata: {name: a, namespace: x}\nspec: {type: state.redis, version: v1}\n"
                 "---\napiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: a}\n"
                 "spec: {pubsubname: p, topic: t, routes: {default: /x}}\n"
                 "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n"
                 "spec: {type: state.redis, version: v1}\n",
                 DC_EEXIST, 19,
                 "Component a: metadata.name: duplicate name, already defined at "
                 "t.yaml:1");
}

static void test_syntax_error(void **state)
{
    (void)state;
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\n"
                 "spec:\n  type: state.redis\n   version: v1\n",
                 DC_EPARSE, 7, "t.yaml:7:");
    expect_error("a: [1, 2\n", DC_EPARSE, 2, "flow sequence");
}

static void test_component_errors(void **state)
{
    (void)state;
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\n"
                 "spec:\n  version: v1\n  metadata: []\n",
                 DC_EINVAL, 6, "t.yaml:6: Component statestore: spec.type: required");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\n"
                 "spec:\n  type: redis\n  version: v1\n",
                 DC_EINVAL, 6, "spec.type: \"redis\" is not of the form <category>.<name>");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\n"
                 "spec:\n  type: state.redis\n",
                 DC_EINVAL, 6, "spec.version: required");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\n"
                 "spec:\n  type: state.redis\n  version: v1\n  metadata:\n  - value: x\n",
                 DC_EINVAL, 9, "spec.metadata[0].name: required");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\n"
                 "spec:\n  type: state.redis\n  version: v1\n  ignoreErrors: \"true\"\n",
                 DC_EINVAL, 8, "spec.ignoreErrors: expected true or false, got quoted \"true\"");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\n"
                 "spec:\n  type: state.redis\n  version: v1\n  initTimeout: soon\n",
                 DC_EINVAL, 8, "spec.initTimeout: \"soon\" is not a duration");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\n"
                 "spec:\n  type: state.redis\n  version: v1\n  metadata:\n"
                 "  - {name: a, value: b, envRef: C}\n",
                 DC_EINVAL, 9, "set only one of value, secretKeyRef and envRef");
    expect_error(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: \"bad\\nname\"\n"
        "spec: {type: state.redis, version: v1}\n",
        DC_EINVAL, 4, "metadata.name: \"bad?name\" is not a valid name");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {namespace: x}\n"
                 "spec: {type: state.redis, version: v1}\n",
                 DC_EINVAL, 3, "t.yaml:3: Component: metadata.name: required");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: x}\n", DC_EINVAL,
                 1, "Component x: spec: required");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: x}\n"
                 "spec: [1]\n",
                 DC_EINVAL, 4, "spec: expected a map, got a list");
}

static void test_api_version(void **state)
{
    (void)state;
    expect_error("apiVersion: dapr.io/v9\nkind: Component\nmetadata: {name: x}\n"
                 "spec: {type: state.redis, version: v1}\n",
                 DC_EINVAL, 1,
                 "t.yaml:1: Component: apiVersion: unsupported apiVersion \"dapr.io/v9\" (want "
                 "dapr.io/v1alpha1)");
    expect_error("\n\napiVersion: dapr.io/v2alpha1\nkind: Resiliency\nmetadata: {name: x}\n",
                 DC_EINVAL, 3, "want dapr.io/v1alpha1)");
}

static void test_skipped_documents(void **state)
{
    struct dc_resources r = {0};
    struct dc_errbuf eb = {0};
    const char *text = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n---\n"
                       "just a string\n---\n- a list\n---\n"
                       "apiVersion: dapr.io/v1alpha1\nkind: MCPServer\nmetadata: {name: m}\n---\n"
                       "kind: Component\n---\n"
                       "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: ok}\n"
                       "spec: {type: bindings.cron, version: v1}\n";
    (void)state;

    assert_int_equal(dc_resources_load_buffer(&r, "m.yaml", text, strlen(text), &eb), DC_OK);
    assert_int_equal(r.ncomponents, 1);
    assert_int_equal(r.components[0].meta.line, 15);
    dc_resources_cleanup(&r);
}

static void test_subscription_errors(void **state)
{
    (void)state;
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Subscription\nmetadata: {name: s}\n"
                 "spec:\n  pubsubname: p\n  topic: t\n",
                 DC_EINVAL, 5, "Subscription s: spec.route: required");
    expect_error("apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\n"
                 "spec:\n  pubsubname: p\n  topic: t\n  route: /x\n",
                 DC_EINVAL, 5, "spec.routes: required");
    expect_error("apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\n"
                 "spec:\n  pubsubname: p\n  topic: t\n  routes:\n    rules:\n    - match: x\n",
                 DC_EINVAL, 9, "spec.routes.rules[0].path: required");
    expect_error("apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\n"
                 "spec:\n  pubsubname: p\n  topic: t\n  routes: {rules: []}\n",
                 DC_EINVAL, 7, "needs a default route or at least one rule");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Subscription\nmetadata: {name: s}\n"
                 "spec:\n  pubsubname: p\n  topic: t\n  route: /r\n"
                 "  bulkSubscribe: {maxMessagesCount: 5}\n",
                 DC_EINVAL, 8, "spec.bulkSubscribe.enabled: required");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Subscription\nmetadata: {name: s}\n"
                 "spec:\n  pubsubname: p\n  topic: t\n  route: /r\n"
                 "  bulkSubscribe: {enabled: true, maxMessagesCount: lots}\n",
                 DC_EINVAL, 8, "maxMessagesCount: expected an integer, got \"lots\"");
}

static const char res_head[] =
    "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\n"
    "spec:\n  policies:\n";

static void expect_res_error(const char *body, int line, const char *needle)
{
    struct dc_buf b = {0};

    assert_int_equal(dc_buf_appends(&b, res_head), DC_OK);
    assert_int_equal(dc_buf_appends(&b, body), DC_OK);
    expect_error(dc_buf_cstr(&b), DC_EINVAL, line, needle);
    dc_buf_cleanup(&b);
}

static void test_resiliency_errors(void **state)
{
    (void)state;
    expect_res_error(
        "    timeouts: {general: 5s}\n  targets:\n    apps:\n      a: {timeout: slow}\n", 9,
        "spec.targets.apps.a.timeout: no timeout policy named \"slow\"");
    expect_res_error("    retries: {r: {policy: constant}}\n  targets:\n    components:\n"
                     "      c:\n        inbound:\n          retry: nope\n",
                     11, "spec.targets.components.c.inbound.retry: no retry policy named");
    expect_res_error("    circuitBreakers: {cb: {trip: x}}\n  targets:\n    actors:\n"
                     "      T: {circuitBreaker: cb}\n",
                     9, "spec.targets.actors.T.circuitBreakerScope: required with circuitBreaker");
    expect_res_error("    retries:\n      r: {policy: linear}\n", 7,
                     "spec.policies.retries.r.policy: \"linear\" is not one of: constant, "
                     "exponential");
    expect_res_error("    retries:\n      r:\n        matching: {httpStatusCodes: \"600\"}\n", 8,
                     "httpStatusCodes: expected codes or ranges within 100-599");
    expect_res_error("    timeouts:\n      t: 5 seconds\n", 7,
                     "spec.policies.timeouts.t: \"5 seconds\" is not a duration");
    expect_res_error("    retries:\n      r: {maxRetries: -2}\n", 7,
                     "maxRetries: -2 is outside [-1, 2147483647]");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\n"
                 "spec: {targets: {}}\n",
                 DC_EINVAL, 4, "spec.policies: required");
}

static void test_endpoint_errors(void **state)
{
    (void)state;
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata: {name: e}\n"
                 "spec:\n  baseUrl: ftp://x\n",
                 DC_EINVAL, 5, "HTTPEndpoint e: spec.baseUrl: \"ftp://x\" is not an http");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata: {name: e}\n"
                 "spec:\n  baseUrl: http://x\n  clientTLS:\n    renegotiation: Always\n",
                 DC_EINVAL, 7, "spec.clientTLS.renegotiation: \"Always\" is not one of");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata: {name: e}\n"
                 "auth: {}\nspec:\n  baseUrl: http://x\n",
                 DC_EINVAL, 4, "auth.secretStore: required");
}

static void test_configuration_errors(void **state)
{
    (void)state;
    expect_error(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
        "spec:\n  accessControl:\n    policies:\n    - appId: a\n      trustDomain: public\n",
        DC_EINVAL, 7, "spec.accessControl.policies[0].namespace: required");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
                 "spec:\n  accessControl:\n    defaultAction: maybe\n",
                 DC_EINVAL, 6, "defaultAction: \"maybe\" is not one of: allow, deny");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
                 "spec:\n  features:\n  - name: X\n",
                 DC_EINVAL, 6, "spec.features[0].enabled: required");
    expect_error("apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
                 "spec:\n  tracing:\n    otel: {endpointAddress: x, protocol: udp}\n",
                 DC_EINVAL, 6, "spec.tracing.otel.protocol");
}

static void test_too_big(void **state)
{
    struct dc_resources r = {0};
    struct dc_errbuf eb = {0};
    size_t len = 10u * 1024 * 1024;
    char *big = malloc(len);
    char path[] = "/tmp/dc_res_big_XXXXXX";
    int fd;
    (void)state;

    memset(big, 'a', len);
    memcpy(big, "a: ", 3);
    assert_int_equal(dc_resources_load_buffer(&r, "big.yaml", big, len, &eb), DC_ETOOBIG);
    assert_string_equal(eb.msg, "big.yaml:1: file too large (10485760 bytes, limit 2 MiB)");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, big, len), (ssize_t)len);
    close(fd);
    assert_int_equal(dc_resources_load_path(&r, path, &eb), DC_ETOOBIG);
    assert_non_null(strstr(eb.msg, ":1: file too large (10485760 bytes, limit 2 MiB)"));
    assert_true(strncmp(eb.msg, path, strlen(path)) == 0);
    unlink(path);
    free(big);
    dc_resources_cleanup(&r);
}

static void test_alias_bomb(void **state)
{
    struct dc_buf b = {0};
    (void)state;

    assert_int_equal(dc_buf_appends(&b, "apiVersion: dapr.io/v1alpha1\nkind: Component\n"
                                        "metadata: {name: bomb}\nspec:\n  type: state.redis\n"
                                        "  version: v1\n  a0: &a0 [lol]\n"),
                     DC_OK);
    for (int i = 1; i <= 9; i++) {
        assert_int_equal(dc_buf_appendf(&b, "  a%d: &a%d [", i, i), DC_OK);
        for (int j = 0; j < 9; j++)
            assert_int_equal(dc_buf_appendf(&b, "%s*a%d", j ? "," : "", i - 1), DC_OK);
        assert_int_equal(dc_buf_appends(&b, "]\n"), DC_OK);
    }
    expect_error(dc_buf_cstr(&b), DC_ETOOBIG, 12, "alias bomb");
    dc_buf_cleanup(&b);
}

static void test_configuration_file(void **state)
{
    struct dc_configuration c = {0};
    struct dc_errbuf eb = {0};
    const struct dc_acl_policy *p;
    cJSON *port;
    int rv;
    (void)state;

    setenv("ZIPKIN_HOST", "zipkin.local", 1);
    setenv("SECRET_NAME", "db-password", 1);
    rv = dc_configuration_load_file(&c, data("config/appconfig.yaml"), &eb);
    if (rv != DC_OK)
        print_error("%s\n", eb.msg);
    assert_int_equal(rv, DC_OK);
    assert_string_equal(c.meta.name, "appconfig");
    assert_true(c.tracing.set);
    assert_string_equal(c.tracing.sampling_rate, "1");
    assert_true(c.tracing.to_stdout);
    assert_string_equal(c.tracing.zipkin_endpoint, "http://zipkin.local:9411/api/v2/spans");
    assert_string_equal(c.tracing.otel_protocol, "grpc");
    assert_false(c.tracing.otel_is_secure);
    assert_int_equal(c.metric_enabled, DC_TRI_FALSE); /* alias key "metrics" */
    assert_true(c.mtls.enabled);
    assert_string_equal(c.mtls.workload_cert_ttl, "24h");
    assert_int_equal(c.nsecret_scopes, 1);
    assert_string_equal(c.secret_scopes[0].default_access, "deny");
    assert_int_equal(c.secret_scopes[0].nallowed, 2);
    assert_string_equal(c.secret_scopes[0].allowed[1], "db-password");
    assert_string_equal(c.access_control.default_action, "deny");
    assert_int_equal(c.access_control.npolicies, 1);
    p = &c.access_control.policies[0];
    assert_string_equal(p->app_id, "app1");
    assert_string_equal(p->namespace, "default");
    assert_int_equal(p->noperations, 2);
    assert_int_equal(p->operations[0].nhttp_verbs, 2);
    assert_string_equal(p->operations[0].http_verbs[1], "GET");
    assert_string_equal(p->operations[1].action, "allow");
    assert_string_equal(c.name_resolution.component, "consul");
    port = cJSON_GetObjectItem(cJSON_GetObjectItem(c.name_resolution.configuration, "queryOptions"),
                               "port");
    assert_true(cJSON_IsNumber(port));
    assert_int_equal(port->valueint, 8500);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c.name_resolution.configuration, "selfRegister")));
    /* HotReload was listed (disabled); the other default feature is added. */
    assert_int_equal(c.nfeatures, 3);
    assert_string_equal(c.features[1].name, "HotReload");
    assert_false(c.features[1].enabled);
    assert_string_equal(c.features[2].name, "WorkflowsRemoteActivityReminder");
    assert_int_equal(c.napi_allowed, 1);
    assert_string_equal(c.api_allowed[0].protocol, "http");
    assert_null(c.api_denied[0].protocol);
    assert_int_equal(c.nhttp_pipeline, 1);
    assert_string_equal(c.http_pipeline[0].type, "middleware.http.oauth2");
    assert_int_equal(c.api_logging.enabled, DC_TRI_TRUE);
    assert_true(c.api_logging.omit_health_checks);
    assert_int_equal(c.ncomponents_deny, 2);
    assert_string_equal(c.components_deny[1], "secretstores.local.env/v1");
    assert_non_null(cJSON_GetObjectItem(c.spec, "tracing"));
    dc_configuration_cleanup(&c);
    dc_configuration_cleanup(&c);

    assert_int_equal(dc_configuration_load_file(&c, data("ok/statestore.yaml"), &eb), DC_ENOTFOUND);
    assert_int_equal(dc_configuration_load_file(&c, data("nope.yaml"), &eb), DC_EIO);
}

static void test_configuration_defaults(void **state)
{
    struct dc_configuration c = {0};
    struct dc_errbuf eb = {0};
    char path[] = "/tmp/dc_cfg_XXXXXX";
    const char text[] = "apiVersion: dapr.io/v1alpha1\nkind: Configuration\n"
                        "metadata:\n  name: daprConfig\n";
    int fd = mkstemp(path);
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    assert_int_equal(dc_configuration_load_file(&c, path, &eb), DC_OK);
    unlink(path);
    assert_int_equal(c.metric_enabled, DC_TRI_TRUE);
    assert_string_equal(c.access_control.default_action, "allow");
    assert_string_equal(c.access_control.trust_domain, "public");
    assert_true(c.tracing.otel_is_secure);
    assert_int_equal(c.nfeatures, 2);
    assert_string_equal(c.features[0].name, "HotReload");
    assert_true(c.features[0].enabled);
    assert_null(c.spec);
    dc_configuration_cleanup(&c);
}

static void expand(const char *in, const char *want)
{
    struct dc_buf b = {0};

    assert_int_equal(dc__res_expand_env(in, strlen(in), &b), DC_OK);
    assert_string_equal(dc_buf_cstr(&b), want);
    dc_buf_cleanup(&b);
}

static void test_expand_env(void **state)
{
    (void)state;
    setenv("DC_T_A", "alpha", 1);
    unsetenv("DC_T_UNSET");
    expand("x $DC_T_A y", "x alpha y");
    expand("x ${DC_T_A}y", "x alphay");
    expand("$DC_T_UNSET.", ".");
    expand("cost: 5$ ok", "cost: 5$ ok");
    expand("end$", "end$");
    expand("a${}b", "ab");
    expand("a${DC_T_A", "aDC_T_A");
    expand("$DC_T_A$DC_T_A", "alphaalpha");
    expand("", "");
}

static void test_duration_syntax(void **state)
{
    (void)state;
    assert_true(dc__res_duration_ok("5s", false));
    assert_true(dc__res_duration_ok("1h30m", false));
    assert_true(dc__res_duration_ok("1.5s", false));
    assert_true(dc__res_duration_ok("500ms", false));
    assert_true(dc__res_duration_ok("10\xc2\xb5s", false));
    assert_true(dc__res_duration_ok("0", false));
    assert_true(dc__res_duration_ok("-1s", false));
    assert_false(dc__res_duration_ok("", false));
    assert_false(dc__res_duration_ok("5", false));
    assert_true(dc__res_duration_ok("5", true));
    assert_false(dc__res_duration_ok("s", false));
    assert_false(dc__res_duration_ok("5d", false));
    assert_false(dc__res_duration_ok("5s ", false));
    assert_false(dc__res_duration_ok(".s", false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_folder),
        cmocka_unit_test(test_single_file_and_missing),
        cmocka_unit_test(test_duplicate_across_files),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_component_errors),
        cmocka_unit_test(test_api_version),
        cmocka_unit_test(test_skipped_documents),
        cmocka_unit_test(test_subscription_errors),
        cmocka_unit_test(test_resiliency_errors),
        cmocka_unit_test(test_endpoint_errors),
        cmocka_unit_test(test_configuration_errors),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_configuration_file),
        cmocka_unit_test(test_configuration_defaults),
        cmocka_unit_test(test_expand_env),
        cmocka_unit_test(test_duration_syntax),
    };
    return cmocka_run_group_tests_name("resources", tests, setup_all, NULL);
}
