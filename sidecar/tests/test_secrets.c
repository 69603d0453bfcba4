/* The secrets building block through the router, without sockets: local.file and local.env,
 * scopes, errors, secretKeyRef resolution, metadata passthrough. */
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
#include "dc/http_server.h"
#include "dc/json.h"
#include "dc/mem.h"

#include "../runtime.h"
#include "../secrets.h"

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *env_none(const char *name)
{
    (void)name;
    return NULL;
}

/* A sidecar runtime over `tmpdir/res` and (when present) `tmpdir/config.yaml`. */
struct fixture {
    struct sdc_config cfg;
    struct sdc_runtime rt;
    struct dc_http_router *router;
    struct dc_errbuf eb;
    int load_rv;
};

static int fixture_load(struct fixture *f, bool with_config)
{
    char res[128], conf[128];
    static char prog[] = "daprd", a1[] = "--app-id", a2[] = "myapp", a3[] = "--resources-path",
                a5[] = "--config";
    char *argv[8] = {prog, a1, a2, a3, res, a5, conf, NULL};
    int rv;

    memset(f, 0, sizeof(*f));
    snprintf(res, sizeof(res), "%s/res", tmpdir);
    snprintf(conf, sizeof(conf), "%s/config.yaml", tmpdir);
    rv = sdc_config_parse(&f->cfg, with_config ? 7 : 5, argv, env_none, &f->eb);
    assert_int_equal(rv, DC_OK);
    rv = sdc_runtime_init(&f->rt, &f->cfg, &f->eb);
    assert_int_equal(rv, DC_OK);
    f->load_rv = sdc_components_load(&f->rt.comps, &f->rt, &f->eb);
    f->router = dc_http_router_new();
    sdc_secrets_api_routes(f->router, &f->rt);
    return f->load_rv;
}

static void fixture_free(struct fixture *f)
{
    dc_http_router_free(f->router);
    sdc_runtime_cleanup(&f->rt);
    sdc_config_cleanup(&f->cfg);
}

/* Dispatch `GET target` (path and query); returns the status, `body` gets the body. */
static int call_m(const struct dc_http_router *r, const char *method, const char *target,
                  struct dc_buf *body)
{
    struct dc_arena arena;
    struct dc_http_request req = {0};
    struct dc_http_response resp;
    const char *q = strchr(target, '?');
    int status;

    dc_arena_init(&arena);
    req.method = method;
    req.path = q != NULL ? dc_arena_strndup(&arena, target, (size_t)(q - target)) : target;
    req.query = q != NULL ? q + 1 : "";
    req.body = "";
    req.arena = &arena;
    dc_http_response_init(&resp, &arena);
    (void)dc_http_router_dispatch(r, &req, &resp);
    status = resp.status;
    dc_buf_reset(body);
    if (resp.body.len > 0)
        assert_int_equal(dc_buf_append(body, resp.body.data, resp.body.len), DC_OK);
    if (status == 200)
        assert_string_equal(dc_http_response_header_get(&resp, "Content-Type"), "application/json");
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&arena);
    return status;
}

static int call(const struct dc_http_router *r, const char *target, struct dc_buf *body)
{
    return call_m(r, "GET", target, body);
}

#define EXPECT(f, target, status, text)                                                            \
    do {                                                                                           \
        struct dc_buf b_ = {0};                                                                    \
        assert_int_equal(call((f)->router, (target), &b_), (status));                              \
        assert_string_equal(dc_buf_cstr(&b_), (text));                                             \
        dc_buf_cleanup(&b_);                                                                       \
    } while (0)

static const char *const secrets_json =
    "{\"db\":{\"user\":\"admin\",\"pass\":\"p@ss\"},\"token\":\"abc\",\"list\":[\"x\",\"y\"],"
    "\"n\":42,\"f\":1.5,\"b\":true,\"nul\":null,\"dup\":\"first\",\"dup\":\"second\","
    "\"uni\":\"caf\\u00e9 <&>\"}";

static const char *const multi_json =
    "{\"db\":{\"user\":\"admin\",\"pass\":\"p\",\"nested\":{\"a\":\"1\"}},\"single\":\"s\","
    "\"num\":5,\"arr\":[1]}";

static void write_resources(void)
{
    char yaml[4096];

    write_file("secrets.json", secrets_json);
    write_file("multi.json", multi_json);
    snprintf(yaml, sizeof(yaml),
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: filestore}\n"
             "spec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n"
             "  - {name: secretsFile, value: %s/secrets.json}\n"
             "---\n"
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: dotstore}\n"
             "spec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n"
             "  - {name: secretsFile, value: %s/secrets.json}\n"
             "  - {name: nestedSeparator, value: /}\n"
             "---\n"
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: multistore}\n"
             "spec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n"
             "  - {name: secretsFile, value: %s/multi.json}\n"
             "  - {name: multiValued, value: \"true\"}\n"
             "---\n"
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: envstore}\n"
             "spec:\n  type: secretstores.local.env\n  version: v1\n  metadata:\n"
             "  - {name: prefix, value: SDCT_}\n"
             "---\n"
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: envall}\n"
             "spec:\n  type: secretstores.local.env\n  version: v1\n"
             "---\n"
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: refstore}\n"
             "auth: {secretStore: filestore}\n"
             "spec:\n  type: secretstores.local.env\n  version: v1\n  metadata:\n"
             "  - name: prefix\n    secretKeyRef: {name: token}\n",
             tmpdir, tmpdir, tmpdir);
    write_file("res/secrets.yaml", yaml);
    write_file("config.yaml",
               "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
               "spec:\n  secrets:\n    scopes:\n"
               "    - {storeName: dotstore, defaultAccess: deny, allowedSecrets: [token, db/user],"
               " deniedSecrets: [token]}\n"
               "    - {storeName: multistore, deniedSecrets: [single]}\n"
               "    - {storeName: envall, defaultAccess: deny}\n");
}

static int setup(void **state)
{
    char res[128];

    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sdc-secrets.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(res, sizeof(res), "%s/res", tmpdir);
    assert_int_equal(mkdir(res, 0700), 0);
    write_resources();
    setenv("SDCT_FOO", "bar", 1);
    setenv("SDCT_", "only-the-prefix", 1);
    setenv("DAPR_SECRETX", "hidden", 1);
    setenv("dapr_lower", "hidden", 1);
    setenv("APP_API_TOKEN", "hidden", 1);
    setenv("abcQ", "through-a-secret-prefix", 1);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_get_single_valued(void **state)
{
    struct fixture f;

    (void)state;
    assert_int_equal(fixture_load(&f, false), DC_OK);
    EXPECT(&f, "/v1.0/secrets/filestore/token", 200, "{\"token\":\"abc\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/db:user", 200, "{\"db:user\":\"admin\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/db%3Apass", 200, "{\"db:pass\":\"p@ss\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/list:1", 200, "{\"list:1\":\"y\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/n", 200, "{\"n\":\"42\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/f", 200, "{\"f\":\"1.5\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/b", 200, "{\"b\":\"true\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/nul", 200, "{\"nul\":\"\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/dup", 200, "{\"dup\":\"second\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/uni", 200, "{\"uni\":\"caf\xc3\xa9 <&>\"}");
    /* The object itself is not a secret in single-valued mode. */
    EXPECT(&f, "/v1.0/secrets/filestore/db", 500,
           "{\"errorCode\":\"ERR_SECRET_GET\",\"message\":\"failed getting secret with key db "
           "from secret store filestore: secret db not found\"}");
    /* nestedSeparator "/" and a percent-encoded slash in the key. */
    EXPECT(&f, "/v1.0/secrets/dotstore/db%2Fuser", 200, "{\"db/user\":\"admin\"}");
    fixture_free(&f);
}

static void test_bulk(void **state)
{
    struct fixture f;

    (void)state;
    assert_int_equal(fixture_load(&f, false), DC_OK);
    EXPECT(&f, "/v1.0/secrets/filestore/bulk", 200,
           "{\"b\":{\"b\":\"true\"},\"db:pass\":{\"db:pass\":\"p@ss\"},"
           "\"db:user\":{\"db:user\":\"admin\"},\"dup\":{\"dup\":\"second\"},"
           "\"f\":{\"f\":\"1.5\"},\"list:0\":{\"list:0\":\"x\"},\"list:1\":{\"list:1\":\"y\"},"
           "\"n\":{\"n\":\"42\"},\"nul\":{\"nul\":\"\"},\"token\":{\"token\":\"abc\"},"
           "\"uni\":{\"uni\":\"caf\xc3\xa9 <&>\"}}");
    EXPECT(&f, "/v1.0/secrets/multistore/bulk", 200,
           "{\"db\":{\"nested:a\":\"1\",\"pass\":\"p\",\"user\":\"admin\"},"
           "\"single\":{\"single\":\"s\"}}");
    fixture_free(&f);
}

static void test_multi_valued(void **state)
{
    struct fixture f;
    struct dc_buf b = {0};

    (void)state;
    assert_int_equal(fixture_load(&f, false), DC_OK);
    EXPECT(&f, "/v1.0/secrets/multistore/db", 200,
           "{\"nested:a\":\"1\",\"pass\":\"p\",\"user\":\"admin\"}");
    EXPECT(&f, "/v1.0/secrets/multistore/single", 200, "{\"single\":\"s\"}");
    /* Numbers and arrays at the top level are not secrets (upstream skips them). */
    assert_int_equal(call(f.router, "/v1.0/secrets/multistore/num", &b), 500);
    assert_int_equal(call(f.router, "/v1.0/secrets/multistore/arr", &b), 500);
    /* Capabilities in the metadata API: only the multi-valued store has one. */
    dc_buf_reset(&b);
    assert_int_equal(sdc_runtime_metadata_json(&f.rt, &b), DC_OK);
    assert_non_null(
        strstr(dc_buf_cstr(&b),
               "{\"name\":\"multistore\",\"type\":\"secretstores.local.file\","
               "\"version\":\"v1\",\"capabilities\":[\"MULTIPLE_KEY_VALUES_PER_SECRET\"]}"));
    assert_non_null(strstr(dc_buf_cstr(&b), "{\"name\":\"filestore\",\"type\":"
                                            "\"secretstores.local.file\",\"version\":\"v1\"}"));
    dc_buf_cleanup(&b);
    fixture_free(&f);
}

static void test_scopes(void **state)
{
    struct fixture f;

    (void)state;
    assert_int_equal(fixture_load(&f, true), DC_OK);
    /* dotstore: allowedSecrets decides alone, even for a name also in deniedSecrets. */
    EXPECT(&f, "/v1.0/secrets/dotstore/token", 200, "{\"token\":\"abc\"}");
    EXPECT(&f, "/v1.0/secrets/dotstore/db%2Fuser", 200, "{\"db/user\":\"admin\"}");
    EXPECT(&f, "/v1.0/secrets/dotstore/db%2Fpass", 403,
           "{\"errorCode\":\"ERR_PERMISSION_DENIED\",\"message\":\"access denied by policy to get "
           "\\\"db/pass\\\" from \\\"dotstore\\\"\"}");
    EXPECT(&f, "/v1.0/secrets/dotstore/bulk", 200,
           "{\"db/user\":{\"db/user\":\"admin\"},\"token\":{\"token\":\"abc\"}}");
    /* multistore: deniedSecrets with the default allow. */
    EXPECT(&f, "/v1.0/secrets/multistore/single", 403,
           "{\"errorCode\":\"ERR_PERMISSION_DENIED\",\"message\":\"access denied by policy to get "
           "\\\"single\\\" from \\\"multistore\\\"\"}");
    EXPECT(&f, "/v1.0/secrets/multistore/bulk", 200,
           "{\"db\":{\"nested:a\":\"1\",\"pass\":\"p\",\"user\":\"admin\"}}");
    /* envall: defaultAccess deny, no lists: nothing is readable, bulk is an empty object. */
    EXPECT(&f, "/v1.0/secrets/envall/bulk", 200, "{}");
    EXPECT(&f, "/v1.0/secrets/envall/HOME", 403,
           "{\"errorCode\":\"ERR_PERMISSION_DENIED\",\"message\":\"access denied by policy to get "
           "\\\"HOME\\\" from \\\"envall\\\"\"}");
    /* The denied name is quoted as Go's %q: quotes, control bytes and invalid UTF-8 escaped. */
    EXPECT(&f, "/v1.0/secrets/dotstore/a%22b%0A%01%ff%C3%A9", 403,
           "{\"errorCode\":\"ERR_PERMISSION_DENIED\",\"message\":\"access denied by policy to get "
           "\\\"a\\\\\\\"b\\\\n\\\\x01\\\\xff\xc3\xa9\\\" from \\\"dotstore\\\"\"}");
    /* A store without a scope is unrestricted. */
    EXPECT(&f, "/v1.0/secrets/filestore/token", 200, "{\"token\":\"abc\"}");
    /* Scope checks compare whole names: a decoded %00 never matches an allowed entry. */
    assert_false(sdc_secrets_allowed(&f.rt, "dotstore", "token\0x", 7));
    assert_true(sdc_secrets_allowed(&f.rt, "dotstore", "token", 5));
    assert_true(sdc_secrets_allowed(&f.rt, "nosuchstore", "x", 1));
    fixture_free(&f);
}

static void test_errors(void **state)
{
    struct fixture f;
    struct sdc_config cfg = {0};
    struct sdc_runtime bare;
    struct dc_http_router *r;

    (void)state;
    assert_int_equal(fixture_load(&f, false), DC_OK);
    EXPECT(&f, "/v1.0/secrets/nosuch/key", 401,
           "{\"errorCode\":\"ERR_SECRET_STORE_NOT_FOUND\",\"message\":\"failed finding secret "
           "store with key nosuch\"}");
    EXPECT(&f, "/v1.0/secrets/nosuch/bulk", 401,
           "{\"errorCode\":\"ERR_SECRET_STORE_NOT_FOUND\",\"message\":\"failed finding secret "
           "store with key nosuch\"}");
    EXPECT(&f, "/v1.0/secrets/filestore/nope", 500,
           "{\"errorCode\":\"ERR_SECRET_GET\",\"message\":\"failed getting secret with key nope "
           "from secret store filestore: secret nope not found\"}");
    fixture_free(&f);

    /* No secret store at all: 500, for get and bulk, whatever the store name. */
    memset(&bare, 0, sizeof(bare));
    bare.cfg = &cfg;
    r = dc_http_router_new();
    sdc_secrets_api_routes(r, &bare);
    {
        struct dc_buf b = {0};
        const char *want = "{\"errorCode\":\"ERR_SECRET_STORES_NOT_CONFIGURED\",\"message\":"
                           "\"secret store is not configured\"}";
        assert_int_equal(call(r, "/v1.0/secrets/any/key", &b), 500);
        assert_string_equal(dc_buf_cstr(&b), want);
        assert_int_equal(call(r, "/v1.0/secrets/any/bulk", &b), 500);
        assert_string_equal(dc_buf_cstr(&b), want);
        dc_buf_cleanup(&b);
    }
    dc_http_router_free(r);
}

static void test_bad_input(void **state)
{
    struct fixture f;
    struct dc_buf b = {0}, target = {0};
    cJSON *doc = NULL;

    (void)state;
    assert_int_equal(fixture_load(&f, false), DC_OK);
    /* Dot segments are cleaned before routing. */
    EXPECT(&f, "/v1.0/secrets/../secrets/filestore/./token", 200, "{\"token\":\"abc\"}");
    /* Encoded dot segments and slashes are names, not paths. */
    assert_int_equal(call(f.router, "/v1.0/secrets/filestore/..%2F..%2Fetc%2Fpasswd", &b), 500);
    assert_non_null(strstr(dc_buf_cstr(&b), "secret ../../etc/passwd not found"));
    assert_int_equal(call(f.router, "/v1.0/secrets/filestore/%2e%2e", &b), 500);
    assert_int_equal(call(f.router, "/v1.0/secrets/%2e%2e/token", &b), 401);
    assert_int_equal(call(f.router, "/v1.0/secrets/..%2Ffilestore/token", &b), 401);
    /* An encoded "bulk" is the single-secret route (Go's router sees the raw path too). */
    assert_int_equal(call(f.router, "/v1.0/secrets/filestore/%62ulk", &b), 500);
    assert_non_null(strstr(dc_buf_cstr(&b), "secret bulk not found"));
    /* NUL, invalid UTF-8, '+' as a space, a malformed escape. */
    assert_int_equal(call(f.router, "/v1.0/secrets/filestore/token%00x", &b), 500);
    assert_non_null(strstr(dc_buf_cstr(&b), "ERR_SECRET_GET"));
    assert_int_equal(call(f.router, "/v1.0/secrets/filestore/%ff%fe", &b), 500);
    assert_int_equal(dc_json_parse(b.data, b.len, 1 << 20, &doc, NULL), DC_OK);
    cJSON_Delete(doc);
    assert_int_equal(call(f.router, "/v1.0/secrets/envall/a+b", &b), 200);
    assert_string_equal(dc_buf_cstr(&b), "{\"a b\":\"\"}");
    assert_int_equal(call(f.router, "/v1.0/secrets/filestore/%zz", &b), 400);
    /* A very long name. */
    assert_int_equal(dc_buf_appends(&target, "/v1.0/secrets/filestore/"), DC_OK);
    for (int i = 0; i < 6000; i++)
        assert_int_equal(dc_buf_appendc(&target, 'k'), DC_OK);
    assert_int_equal(call(f.router, dc_buf_cstr(&target), &b), 500);
    assert_int_equal(dc_json_parse(b.data, b.len, 1 << 20, &doc, NULL), DC_OK);
    cJSON_Delete(doc);
    /* Other methods are not secrets routes (they fall through to invocation in daprd). */
    assert_int_equal(call_m(f.router, "POST", "/v1.0/secrets/filestore/token", &b), 404);
    assert_int_equal(call_m(f.router, "GET", "/v1.0/secrets/filestore", &b), 404);
    dc_buf_cleanup(&target);
    dc_buf_cleanup(&b);
    fixture_free(&f);
}

static void test_env(void **state)
{
    struct fixture f;
    struct dc_buf b = {0};
    cJSON *doc = NULL;

    (void)state;
    assert_int_equal(fixture_load(&f, false), DC_OK);
    EXPECT(&f, "/v1.0/secrets/envstore/FOO", 200, "{\"FOO\":\"bar\"}");
    EXPECT(&f, "/v1.0/secrets/envstore/MISSING", 200, "{\"MISSING\":\"\"}");
    /* Only variables longer than the prefix, with the prefix removed. */
    EXPECT(&f, "/v1.0/secrets/envstore/bulk", 200, "{\"FOO\":{\"FOO\":\"bar\"}}");
    /* The sidecar's credentials never come out, whatever the case. */
    EXPECT(&f, "/v1.0/secrets/envall/DAPR_SECRETX", 200, "{\"DAPR_SECRETX\":\"\"}");
    EXPECT(&f, "/v1.0/secrets/envall/dapr_lower", 200, "{\"dapr_lower\":\"\"}");
    EXPECT(&f, "/v1.0/secrets/envall/APP_API_TOKEN", 200, "{\"APP_API_TOKEN\":\"\"}");
    EXPECT(&f, "/v1.0/secrets/envall/SDCT_FOO", 200, "{\"SDCT_FOO\":\"bar\"}");
    /* getenv("SDCT_FOO=x") must not match part of another variable. */
    EXPECT(&f, "/v1.0/secrets/envall/SDCT_FOO%3Dx", 200, "{\"SDCT_FOO=x\":\"\"}");
    assert_int_equal(call(f.router, "/v1.0/secrets/envall/bulk", &b), 200);
    assert_int_equal(dc_json_parse(b.data, b.len, 1 << 24, &doc, NULL), DC_OK);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(doc, "SDCT_FOO"));
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "DAPR_SECRETX"));
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "dapr_lower"));
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "APP_API_TOKEN"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(doc, "SDCT_FOO"), "SDCT_FOO")
                            ->valuestring,
                        "bar");
    cJSON_Delete(doc);
    /* refstore's prefix came from filestore's "token" secret ("abc") through secretKeyRef. */
    EXPECT(&f, "/v1.0/secrets/refstore/Q", 200, "{\"Q\":\"through-a-secret-prefix\"}");
    dc_buf_cleanup(&b);
    fixture_free(&f);
}

static void test_resolve_ref(void **state)
{
    struct fixture f;
    struct dc_errbuf eb = {{0}};
    char *v = NULL;

    (void)state;
    assert_int_equal(fixture_load(&f, false), DC_OK);
    assert_int_equal(sdc_secrets_resolve_ref(&f.rt, "filestore", "token", NULL, &v, &eb), DC_OK);
    assert_string_equal(v, "abc");
    free(v);
    assert_int_equal(sdc_secrets_resolve_ref(&f.rt, "multistore", "db", "pass", &v, &eb), DC_OK);
    assert_string_equal(v, "p");
    free(v);
    assert_int_equal(sdc_runtime_secret_ref(&f.rt, "filestore", "db:user", "", &v, &eb), DC_OK);
    assert_string_equal(v, "admin");
    free(v);

    assert_int_equal(sdc_secrets_resolve_ref(&f.rt, "multistore", "db", "nokey", &v, &eb),
                     DC_ENOTFOUND);
    assert_string_equal(
        eb.msg, "secretKeyRef db from secret store multistore: the secret has no key nokey");
    assert_int_equal(sdc_secrets_resolve_ref(&f.rt, "filestore", "missing", NULL, &v, &eb),
                     DC_ENOTFOUND);
    assert_string_equal(
        eb.msg, "secretKeyRef missing from secret store filestore: secret missing not found");
    assert_int_equal(sdc_secrets_resolve_ref(&f.rt, "ghost", "x", NULL, &v, &eb), DC_ENOTFOUND);
    assert_string_equal(eb.msg, "secretKeyRef x: secret store ghost is not loaded");
    assert_int_equal(sdc_secrets_resolve_ref(&f.rt, NULL, "x", NULL, &v, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "no auth.secretStore"));
    fixture_free(&f);
}

/* A component whose secretKeyRef cannot be resolved stops loading, naming it. */
static void test_load_failures(void **state)
{
    struct fixture f;
    char yaml[1024];

    (void)state;
    snprintf(yaml, sizeof(yaml),
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: filestore}\n"
             "spec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n"
             "  - {name: secretsFile, value: %s/secrets.json}\n"
             "---\n"
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: broken}\n"
             "auth: {secretStore: filestore}\n"
             "spec:\n  type: secretstores.local.env\n  version: v1\n  metadata:\n"
             "  - name: prefix\n    secretKeyRef: {name: no-such-secret}\n",
             tmpdir);
    write_file("res/secrets.yaml", yaml);
    assert_int_equal(fixture_load(&f, false), DC_ENOTFOUND);
    assert_non_null(strstr(f.eb.msg, "component broken"));
    assert_non_null(strstr(f.eb.msg, "metadata prefix"));
    assert_non_null(strstr(f.eb.msg, "secret no-such-secret not found"));
    fixture_free(&f);

    write_file("res/secrets.yaml",
               "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: nostore}\n"
               "spec:\n  type: secretstores.local.env\n  version: v1\n  metadata:\n"
               "  - name: prefix\n    secretKeyRef: {name: s}\n");
    assert_int_equal(fixture_load(&f, false), DC_EINVAL);
    assert_non_null(strstr(f.eb.msg, "no auth.secretStore"));
    fixture_free(&f);

    /* local.file: missing metadata, missing file, bad JSON, wrong top-level type. */
    write_file("bad.json", "{\"a\": [1, 2,]}");
    write_file("arr.json", "[\"a\"]");
    write_file("null.json", "null");
    {
        static const struct {
            const char *md;
            int rv;
            const char *msg;
        } cases[] = {
            {"[]", DC_EINVAL, "missing local secrets file in metadata"},
            {"[{name: secretsFile, value: /nonexistent/x.json}]", DC_EIO,
             "secretsFile /nonexistent/x.json: No such file or directory"},
            {"[{name: secretsFile, value: DIR/bad.json}]", DC_EPARSE, "/bad.json: invalid JSON"},
            {"[{name: secretsFile, value: DIR/arr.json}]", DC_EPARSE, "must be a JSON object"},
            {"[{name: secretsFile, value: DIR}]", DC_EIO, "is a directory"},
            {"[{name: secretsFile, value: DIR/null.json}]", DC_OK, ""},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char md[256];
            const char *dir = strstr(cases[i].md, "DIR");
            if (dir != NULL)
                snprintf(md, sizeof(md), "%.*s%s%s", (int)(dir - cases[i].md), cases[i].md, tmpdir,
                         dir + 3);
            else
                snprintf(md, sizeof(md), "%s", cases[i].md);
            snprintf(yaml, sizeof(yaml),
                     "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: fs}\n"
                     "spec:\n  type: secretstores.local.file\n  version: v1\n  metadata: %s\n",
                     md);
            write_file("res/secrets.yaml", yaml);
            assert_int_equal(fixture_load(&f, false), cases[i].rv);
            assert_non_null(strstr(f.eb.msg, cases[i].msg));
            if (cases[i].rv == DC_OK)
                EXPECT(&f, "/v1.0/secrets/fs/bulk", 200, "{}");
            fixture_free(&f);
        }
    }
    write_resources();
}

/* A fake store that echoes the request metadata and reports "no data" on demand. */
static int fake_get(void *self, const char *name, const struct sdc_md *md, struct dc_arena *a,
                    struct sdc_secret *out, struct dc_errbuf *eb)
{
    struct sdc_secret_kv *kv = dc_arena_calloc(a, (md->n ? md->n : 1) * sizeof(*kv));

    (void)self;
    (void)eb;
    if (strcmp(name, "none") == 0) {
        out->none = true;
        return DC_OK;
    }
    if (strcmp(name, "fail") == 0)
        return dc_err_set(eb, DC_EUNAVAIL, "backend down");
    for (size_t i = 0; i < md->n; i++)
        kv[i] = (struct sdc_secret_kv){md->names[i], md->values[i]};
    *out = (struct sdc_secret){.kv = kv, .n = md->n};
    return DC_OK;
}

static int fake_bulk(void *self, const struct sdc_md *md, struct dc_arena *a,
                     struct sdc_secret_bulk *out, struct dc_errbuf *eb)
{
    (void)self;
    (void)a;
    if (sdc_md_get(md, "fail") != NULL)
        return dc_err_set(eb, DC_EUNAVAIL, "backend down");
    out->none = true;
    return DC_OK;
}

static void test_metadata_and_no_data(void **state)
{
    static const struct sdc_secret_ops ops = {.get = fake_get, .bulk_get = fake_bulk};
    static const struct sdc_component_type type = {"secretstores.fake", "v1", SDC_CAT_SECRETSTORES,
                                                   &ops.base};
    struct dc_component def = {.meta = {.name = (char *)(uintptr_t) "fake"},
                               .type = (char *)(uintptr_t) "secretstores.fake"};
    struct sdc_component sc = {.def = &def, .type = &type, .ok = true};
    struct sdc_config cfg = {0};
    struct sdc_runtime rt;
    struct fixture f;

    (void)state;
    memset(&rt, 0, sizeof(rt));
    rt.cfg = &cfg;
    rt.comps.v = &sc;
    rt.comps.n = 1;
    memset(&f, 0, sizeof(f));
    f.router = dc_http_router_new();
    sdc_secrets_api_routes(f.router, &rt);
    EXPECT(&f, "/v1.0/secrets/fake/x?metadata.version_id=3&other=1&metadata.ns=a&metadata.ns=b",
           200, "{\"ns\":\"a\",\"version_id\":\"3\"}");
    EXPECT(&f, "/v1.0/secrets/fake/x", 200, "{}");
    EXPECT(&f, "/v1.0/secrets/fake/none", 204, "");
    EXPECT(&f, "/v1.0/secrets/fake/bulk", 204, "");
    EXPECT(&f, "/v1.0/secrets/fake/fail", 500,
           "{\"errorCode\":\"ERR_SECRET_GET\",\"message\":\"failed getting secret with key fail "
           "from secret store fake: backend down\"}");
    EXPECT(&f, "/v1.0/secrets/fake/bulk?metadata.fail=1", 500,
           "{\"errorCode\":\"ERR_SECRET_GET\",\"message\":\"failed getting secrets from secret "
           "store fake: backend down\"}");
    assert_int_equal(sdc_secrets_features(&sc), 0);
    dc_http_router_free(f.router);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_single_valued),
        cmocka_unit_test(test_bulk),
        cmocka_unit_test(test_multi_valued),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_resolve_ref),
        cmocka_unit_test(test_load_failures),
        cmocka_unit_test(test_metadata_and_no_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
