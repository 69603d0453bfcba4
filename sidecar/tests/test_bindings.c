/* Bindings without servers: bindings.localstorage through its ops (confinement to rootPath:
 * "..", absolute paths, symbolic links, encoded names), its data decoding, the Go-compatible
 * JSON re-encoding of output-binding data, direction/route rules and cron's time text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dc/base64.h"
#include "dc/json.h"
#include "dc/resources.h"

#include "../bindings.h"

extern const struct sdc_component_type sdc_type_bindings_localstorage;
extern const struct sdc_component_type sdc_type_bindings_cron;
extern const struct sdc_component_type sdc_type_bindings_http;

struct fx {
    char dir[128]; /* temp dir holding root/ and outside/ */
    char root[192];
    char outside[192];
    const struct sdc_binding_ops *ops;
    void *self;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sdc_md md = {0};
    struct sdc_init_ctx ctx = {"files", "app", "", 5000};
    char path[300];
    FILE *fp;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_bindings.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
    assert_int_equal(mkdir(f->outside, 0700), 0);
    snprintf(path, sizeof(path), "%s/secret.txt", f->outside);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("topsecret", fp);
    fclose(fp);
    sdc_md_set(&md, "rootPath", f->root);
    f->ops = (const struct sdc_binding_ops *)sdc_type_bindings_localstorage.ops;
    assert_int_equal(f->ops->base.init(&f->self, &md, &ctx, NULL), DC_OK);
    sdc_md_cleanup(&md);
    /* Links planted inside the root, pointing outside. */
    snprintf(path, sizeof(path), "%s/dirlink", f->root);
    assert_int_equal(symlink(f->outside, path), 0);
    snprintf(path, sizeof(path), "%s/filelink", f->root);
    {
        char target[300];
        snprintf(target, sizeof(target), "%s/secret.txt", f->outside);
        assert_int_equal(symlink(target, path), 0);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[300];

    f->ops->base.close(f->self);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Invoke `op` with `data` (JSON text) and fileName `name` (NULL: none). */
static int call(struct fx *f, const char *op, const char *data, const char *name,
                struct sdc_binding_resp *resp, struct dc_errbuf *eb)
{
    struct sdc_md md = {0};
    struct sdc_binding_req req = {op, data, strlen(data), &md};
    int rv;

    memset(resp, 0, sizeof(*resp));
    dc_buf_init(&resp->data, 1 << 20);
    if (name != NULL)
        sdc_md_set(&md, "fileName", name);
    rv = f->ops->invoke(f->self, &req, resp, eb);
    sdc_md_cleanup(&md);
    return rv;
}

static void expect_refused(struct fx *f, const char *op, const char *name)
{
    struct sdc_binding_resp r;
    struct dc_errbuf eb = {0};
    char path[300];
    FILE *fp;
    char buf[32] = "";

    if (call(f, op, "\"pwned\"", name, &r, &eb) == DC_OK)
        fail_msg("%s %s was allowed", op, name);
    sdc_binding_resp_cleanup(&r);
    snprintf(path, sizeof(path), "%s/secret.txt", f->outside);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(buf, sizeof(buf), fp));
    fclose(fp);
    assert_string_equal(buf, "topsecret");
}

static void test_ls_roundtrip(void **state)
{
    struct fx *f = *state;
    struct sdc_binding_resp r;
    struct dc_errbuf eb = {0};
    char want[2048];

    assert_int_equal(call(f, "create", "\"hello\"", "d/e/a.txt", &r, &eb), DC_OK);
    assert_true(r.has_data);
    assert_string_equal(dc_buf_cstr(&r.data), "{\"fileName\":\"d/e/a.txt\"}");
    sdc_binding_resp_cleanup(&r);
    assert_int_equal(call(f, "get", "null", "./d//e/a.txt", &r, &eb), DC_OK);
    assert_string_equal(dc_buf_cstr(&r.data), "hello");
    sdc_binding_resp_cleanup(&r);
    /* base64 is decoded; other JSON stays as it is. */
    assert_int_equal(call(f, "create", "\"aGk=\"", "b64", &r, &eb), DC_OK);
    sdc_binding_resp_cleanup(&r);
    assert_int_equal(call(f, "get", "null", "b64", &r, &eb), DC_OK);
    assert_string_equal(dc_buf_cstr(&r.data), "hi");
    sdc_binding_resp_cleanup(&r);
    assert_int_equal(call(f, "create", "{\"a\":1}", "obj", &r, &eb), DC_OK);
    sdc_binding_resp_cleanup(&r);
    assert_int_equal(call(f, "get", "null", "obj", &r, &eb), DC_OK);
    assert_string_equal(dc_buf_cstr(&r.data), "{\"a\":1}");
    sdc_binding_resp_cleanup(&r);
    /* list: absolute paths, lexical order; links are listed, not followed. */
    assert_int_equal(call(f, "list", "null", NULL, &r, &eb), DC_OK);
    snprintf(want, sizeof(want),
             "[\"%s/b64\",\"%s/d/e/a.txt\",\"%s/dirlink\",\"%s/filelink\",\"%s/obj\"]", f->root,
             f->root, f->root, f->root, f->root);
    assert_string_equal(dc_buf_cstr(&r.data), want);
    sdc_binding_resp_cleanup(&r);
    assert_int_equal(call(f, "list", "null", "d", &r, &eb), DC_OK);
    snprintf(want, sizeof(want), "[\"%s/d/e/a.txt\"]", f->root);
    assert_string_equal(dc_buf_cstr(&r.data), want);
    sdc_binding_resp_cleanup(&r);
    assert_int_equal(call(f, "delete", "null", "d/e/a.txt", &r, &eb), DC_OK);
    assert_false(r.has_data);
    sdc_binding_resp_cleanup(&r);
    assert_int_equal(call(f, "get", "null", "d/e/a.txt", &r, &eb), DC_ENOTFOUND);
    assert_non_null(strstr(eb.msg, "file not found"));
    sdc_binding_resp_cleanup(&r);
    assert_int_equal(call(f, "list", "null", "d/e", &r, &eb), DC_OK);
    assert_string_equal(dc_buf_cstr(&r.data), "null");
    sdc_binding_resp_cleanup(&r);
    /* A random UUID name when fileName is absent. */
    assert_int_equal(call(f, "create", "1", NULL, &r, &eb), DC_OK);
    assert_int_equal(strlen(dc_buf_cstr(&r.data)), strlen("{\"fileName\":\"\"}") + 36);
    sdc_binding_resp_cleanup(&r);
}

static void test_ls_escapes(void **state)
{
    struct fx *f = *state;
    static const char *const ops[] = {"create", "get", "delete", "list"};
    char abs[300];
    const char *names[] = {
        "..",
        "../outside/secret.txt",
        "a/../../outside/secret.txt",
        "a/b/../../..",
        "/etc/passwd",
        abs,
        "dirlink/secret.txt",
        "dirlink",
        "filelink",
        "./../x",
    };
    struct sdc_binding_resp r;
    struct dc_errbuf eb = {0};
    char deep[1024] = "";

    snprintf(abs, sizeof(abs), "%s/secret.txt", f->outside);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        for (size_t k = 0; k < 4; k++) {
            if (k == 3 && strcmp(names[i], "filelink") == 0)
                continue; /* listing a file is refused for another reason, checked below */
            expect_refused(f, ops[k], names[i]);
        }
    /* The root itself is no file. */
    expect_refused(f, "get", "");
    expect_refused(f, "delete", ".");
    expect_refused(f, "create", "/");
    /* Too deep. */
    for (int i = 0; i < 70; i++)
        memcpy(deep + 2 * i, "d/", 2);
    deep[140] = 'f';
    deep[141] = '\0';
    expect_refused(f, "create", deep);
    /* Links are still there, untouched. */
    {
        struct stat st;
        char p[300];
        snprintf(p, sizeof(p), "%s/filelink", f->root);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
    }
    /* Percent-encoded names are plain names, created inside the root. */
    assert_int_equal(call(f, "create", "\"y\"", "%2e%2e%2f%2e%2e/x", &r, &eb), DC_OK);
    sdc_binding_resp_cleanup(&r);
    {
        char p[300];
        snprintf(p, sizeof(p), "%s/%%2e%%2e%%2f%%2e%%2e/x", f->root);
        assert_int_equal(access(p, F_OK), 0);
    }
    /* Backslashes are plain characters on Linux. */
    assert_int_equal(call(f, "create", "\"y\"", "..\\..\\x", &r, &eb), DC_OK);
    sdc_binding_resp_cleanup(&r);
}

static void test_ls_init(void **state)
{
    const struct sdc_binding_ops *ops =
        (const struct sdc_binding_ops *)sdc_type_bindings_localstorage.ops;
    struct sdc_md md = {0};
    struct dc_errbuf eb = {0};
    void *self = NULL;

    (void)state;
    assert_int_equal(ops->base.init(&self, &md, NULL, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "rootPath must not be empty"));
    sdc_md_set(&md, "rootPath", "/proc/self");
    assert_int_equal(ops->base.init(&self, &md, NULL, &eb), DC_EPERM);
    sdc_md_set(&md, "rootPath", "/var/run/secrets/x");
    assert_int_equal(ops->base.init(&self, &md, NULL, &eb), DC_EPERM);
    sdc_md_set(&md, "rootPath", "/etc/hostname");
    assert_int_not_equal(ops->base.init(&self, &md, NULL, &eb), DC_OK);
    sdc_md_cleanup(&md);
}

/* bindings.localstorage decodes base64 data with dc_base64_decode (Go's StdEncoding): the
 * decoded length into `out`, or -1. */
static long b64(const char *s, size_t n, unsigned char *out)
{
    struct dc_buf b = {0};
    long r = -1;

    if (dc_base64_decode(&b, s, n, NULL) == DC_OK) {
        memcpy(out, b.data != NULL ? b.data : "", b.len);
        r = (long)b.len;
    }
    dc_buf_cleanup(&b);
    return r;
}

static void test_unquote_b64(void **state)
{
    unsigned char out[64];
    long n;

    (void)state;
    {
        const char *q = "\"a\\n\\u00e9\\x41\\101\\\"\"";
        n = ls_unquote(q, strlen(q), out);
    }
    assert_int_equal(n, 7);
    assert_memory_equal(out,
                        "a\n\xc3\xa9"
                        "AA\"",
                        7);
    assert_int_equal(ls_unquote("\"abc", 4, out), -1);
    assert_int_equal(ls_unquote("\"a\"b\"", 5, out), -1);
    assert_int_equal(ls_unquote("\"\\ud800\"", 8, out), -1);
    assert_int_equal(ls_unquote("\"\\q\"", 4, out), -1);
    assert_int_equal(ls_unquote("{}", 2, out), -1);
    assert_int_equal(b64("aGk=", 4, out), 2);
    assert_memory_equal(out, "hi", 2);
    assert_int_equal(b64("aGVs\nbG8=", 9, out), 5);
    assert_int_equal(b64("", 0, out), 0);
    assert_int_equal(b64("aGk", 3, out), -1);
    assert_int_equal(b64("hello", 5, out), -1);
    assert_int_equal(b64("aG=k", 4, out), -1);
    assert_int_equal(b64("aGk=aGk=", 8, out), -1);
}

static void expect_marshal(const char *in, const char *want)
{
    cJSON *v = NULL;
    struct dc_buf b = {0};

    assert_int_equal(dc_json_parse(in, strlen(in), 1 << 20, &v, NULL), DC_OK);
    assert_int_equal(sdc_binding_json_marshal(v, &b), DC_OK);
    if (strcmp(dc_buf_cstr(&b), want) != 0)
        fail_msg("%s: got %s want %s", in, dc_buf_cstr(&b), want);
    dc_buf_cleanup(&b);
    cJSON_Delete(v);
}

static void test_marshal(void **state)
{
    (void)state;
    expect_marshal("\"hi\"", "\"hi\"");
    expect_marshal("null", "null");
    expect_marshal(" { \"b\" : 1 , \"a\" : [ true , false , null ] } ",
                   "{\"a\":[true,false,null],\"b\":1}");
    expect_marshal("{\"k\":1,\"k\":2}", "{\"k\":2}");
    expect_marshal("\"<a&b>\\u2028\"", "\"\\u003ca\\u0026b\\u003e\\u2028\"");
    expect_marshal("\"\\u0001\\t\"", "\"\\u0001\\t\"");
    expect_marshal("[1, 1.0, -0.5, 1e21, 1e20, 1e-7, 0.000001, 123456789012345678901]",
                   "[1,1,-0.5,1e+21,100000000000000000000,1e-7,0.000001,123456789012345680000]");
    expect_marshal("[3.14159, 1.5e300, -2.5e-10, 0.1]", "[3.14159,1.5e+300,-2.5e-10,0.1]");
}

static void test_direction_route(void **state)
{
    struct dc_component def = {0};
    struct sdc_component sc = {0};
    bool expl = true;

    (void)state;
    def.meta.name = (char *)"tick";
    sc.def = &def;
    sc.type = &sdc_type_bindings_cron;
    sc.ok = true;
    assert_true(sdc_binding_is_input(&sc, &expl));
    assert_false(expl);
    assert_false(sdc_binding_is_output(&sc));
    assert_string_equal(sdc_binding_route(&sc), "tick");
    sdc_md_set(&sc.md, "route", "/other");
    assert_string_equal(sdc_binding_route(&sc), "other");
    sdc_md_set(&sc.md, "direction", " Output , INPUT ");
    assert_true(sdc_binding_is_input(&sc, &expl));
    assert_true(expl);
    sdc_md_set(&sc.md, "direction", "output");
    assert_false(sdc_binding_is_input(&sc, &expl));
    sc.type = &sdc_type_bindings_http;
    assert_true(sdc_binding_is_output(&sc));
    sdc_md_set(&sc.md, "direction", "input");
    assert_false(sdc_binding_is_output(&sc));
    assert_false(sdc_binding_is_input(&sc, NULL)); /* http has no input side */
    sdc_md_cleanup(&sc.md);
}

static void test_cron_time_string(void **state)
{
    char s[64];

    (void)state;
    cron_go_time_string(INT64_C(1704164645) * 1000000000, s, sizeof(s));
    assert_string_equal(s, "2024-01-02 03:04:05 +0000 UTC");
    cron_go_time_string(INT64_C(1704164645) * 1000000000 + 120000000, s, sizeof(s));
    assert_string_equal(s, "2024-01-02 03:04:05.12 +0000 UTC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ls_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ls_escapes, setup, teardown),
        cmocka_unit_test(test_ls_init),
        cmocka_unit_test(test_unquote_b64),
        cmocka_unit_test(test_marshal),
        cmocka_unit_test(test_direction_route),
        cmocka_unit_test(test_cron_time_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
