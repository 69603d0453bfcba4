/* Unit tests of the Kubernetes client configuration: kubeconfig per auth form, in-cluster, and
 * the base64 helper. Data files live in common/tests/data/k8s (run from the repository root). */
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

#include "dc/k8s.h"
#include "../src/k8s_internal.h"

#define DATA "common/tests/data/k8s"
#define FAKE_CA "-----BEGIN CERTIFICATE-----\nRkFLRUNB\n-----END CERTIFICATE-----\n"
#define FAKE_CERT "-----BEGIN CERTIFICATE-----\nRkFLRUNMSUVOVA==\n-----END CERTIFICATE-----\n"
#define FAKE_KEY "-----BEGIN PRIVATE KEY-----\nRkFLRUtFWQ==\n-----END PRIVATE KEY-----\n"

static void test_token_inline_wins(void **state)
{
    struct dc_k8s_config c = {0};
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(dc_k8s_config_from_kubeconfig(&c, DATA "/kc-token.yaml", NULL, &eb), DC_OK);
    assert_string_equal(c.server, "https://dev.example:6443");
    assert_string_equal(c.namespace, "dapr-system");
    assert_string_equal(c.context, "dev");
    assert_string_equal(c.token, "inline-token");
    assert_null(c.token_file); /* token wins over tokenFile, as in clientcmd */
    assert_string_equal(c.ca_pem, FAKE_CA);
    assert_null(c.cert_pem);
    assert_false(c.insecure);
    dc_k8s_config_cleanup(&c);
    assert_null(c.server);
}

static void test_token_file_and_insecure(void **state)
{
    struct dc_k8s_config c = {0};
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(dc_k8s_config_from_kubeconfig(&c, DATA "/kc-token.yaml", "prod", &eb), DC_OK);
    assert_string_equal(c.server, "https://prod.example");
    assert_string_equal(c.namespace, "default");
    assert_true(c.insecure);
    assert_null(c.token);
    assert_string_equal(c.token_file, DATA "/token"); /* relative to the kubeconfig */
    assert_null(c.ca_pem);
    dc_k8s_config_cleanup(&c);
}

static void test_cert_data(void **state)
{
    struct dc_k8s_config c = {0};
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(dc_k8s_config_from_kubeconfig(&c, DATA "/kc-certdata.yaml", NULL, &eb), DC_OK);
    assert_string_equal(c.server, "https://10.0.0.1");
    assert_string_equal(c.ca_pem, FAKE_CA); /* data wins over the (missing) file */
    assert_string_equal(c.cert_pem, FAKE_CERT);
    assert_string_equal(c.key_pem, FAKE_KEY);
    assert_null(c.token);
    dc_k8s_config_cleanup(&c);
}

static void test_cert_files(void **state)
{
    struct dc_k8s_config c = {0};
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(dc_k8s_config_from_kubeconfig(&c, DATA "/kc-certfiles.yaml", NULL, &eb),
                     DC_OK);
    assert_string_equal(c.ca_pem, FAKE_CA);
    assert_string_equal(c.cert_pem, FAKE_CERT);
    assert_string_equal(c.key_pem, FAKE_KEY);
    dc_k8s_config_cleanup(&c);
}

static void test_exec_unsupported(void **state)
{
    struct dc_k8s_config c = {0};
    struct dc_errbuf eb = {0};
    (void)state;
    assert_int_equal(dc_k8s_config_from_kubeconfig(&c, DATA "/kc-exec.yaml", NULL, &eb),
                     DC_EUNSUPPORTED);
    assert_non_null(strstr(eb.msg, "exec"));
    assert_null(c.server); /* left empty on failure */
}

static int parse(const char *text, const char *ctx, struct dc_k8s_config *c, struct dc_errbuf *eb)
{
    return dc_k8s_config_from_kubeconfig_text(c, text, strlen(text), ctx, DATA, eb);
}

static void test_errors(void **state)
{
    struct dc_k8s_config c = {0};
    struct dc_errbuf eb = {0};
    static const char base[] = "current-context: c\n"
                               "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                               "clusters: [{name: k, cluster: {server: 'http://h:1'}}]\n";
    char buf[1024];
    (void)state;

    assert_int_equal(parse("", NULL, &c, &eb), DC_ENOTFOUND); /* no current-context */
    assert_int_equal(parse("[1, 2]", NULL, &c, &eb), DC_EPARSE);
    assert_int_equal(parse("a: [", NULL, &c, &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "line"));
    assert_int_equal(parse(base, "other", &c, &eb), DC_ENOTFOUND);
    assert_string_equal(eb.msg, "kubeconfig: context \"other\" not found");
    /* The user is named but missing. */
    assert_int_equal(parse(base, NULL, &c, &eb), DC_ENOTFOUND);
    assert_non_null(strstr(eb.msg, "user \"u\""));
    snprintf(buf, sizeof(buf), "%susers: [{name: u, user: {client-certificate-data: '!!'}}]", base);
    assert_int_equal(parse(buf, NULL, &c, &eb), DC_EPARSE);
    snprintf(buf, sizeof(buf), "%susers: [{name: u, user: {client-certificate: client.crt}}]",
             base);
    assert_int_equal(parse(buf, NULL, &c, &eb), DC_EPARSE); /* a cert needs its key */
    snprintf(buf, sizeof(buf), "%susers: [{name: u, user: {client-key: missing.key}}]", base);
    assert_int_equal(parse(buf, NULL, &c, &eb), DC_EIO);
    snprintf(buf, sizeof(buf), "%susers: [{name: u, user: {token: t}}]", base);
    assert_int_equal(parse(buf, NULL, &c, &eb), DC_OK);
    assert_string_equal(c.server, "http://h:1");
    assert_string_equal(c.token, "t");
    dc_k8s_config_cleanup(&c);
    assert_int_equal(parse("x: &a [1]\ny: *a\n", NULL, &c, &eb), DC_EUNSUPPORTED);
    assert_int_equal(parse("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
                           "clusters: [{name: k, cluster: {insecure-skip-tls-verify: true}}]\n",
                           NULL, &c, &eb),
                     DC_EPARSE); /* no server */
    /* No user in the context: anonymous. */
    assert_int_equal(parse("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
                           "clusters: [{name: k, cluster: {server: 'http://a', "
                           "insecure-skip-tls-verify: maybe}}]\n",
                           NULL, &c, &eb),
                     DC_EPARSE);
    assert_int_equal(parse("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
                           "clusters: [{name: k, cluster: {server: 'http://a'}}]\n",
                           NULL, &c, &eb),
                     DC_OK);
    assert_null(c.token);
    dc_k8s_config_cleanup(&c);
    assert_int_equal(dc_k8s_config_from_kubeconfig(&c, DATA "/nope.yaml", NULL, &eb), DC_EIO);
}

static void test_deep_nesting(void **state)
{
    struct dc_k8s_config c = {0};
    struct dc_errbuf eb = {0};
    char buf[400];
    (void)state;
    memset(buf, '[', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    assert_int_equal(parse(buf, NULL, &c, &eb), DC_ETOOBIG);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_in_cluster(void **state)
{
    char dir[] = "/tmp/dc-k8s-sa.XXXXXX";
    char path[256];
    struct dc_k8s_config c = {0};
    struct dc_errbuf eb = {0};
    (void)state;

    assert_non_null(mkdtemp(dir));
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(dc_k8s_config_in_cluster(&c, dir, &eb), DC_ENOTFOUND);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(dc_k8s_config_in_cluster(&c, dir, &eb), DC_EIO); /* no token */
    snprintf(path, sizeof(path), "%s/token", dir);
    write_file(path, "tok\n");
    assert_int_equal(dc_k8s_config_in_cluster(&c, dir, &eb), DC_EIO); /* no ca.crt */
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    write_file(path, FAKE_CA);
    assert_int_equal(dc_k8s_config_in_cluster(&c, dir, &eb), DC_OK);
    assert_string_equal(c.server, "https://10.96.0.1:443");
    assert_string_equal(c.namespace, "default");
    assert_string_equal(c.ca_pem, FAKE_CA);
    assert_non_null(strstr(c.token_file, "/token"));
    dc_k8s_config_cleanup(&c);
    snprintf(path, sizeof(path), "%s/namespace", dir);
    write_file(path, "dapr-system\n");
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(dc_k8s_config_in_cluster(&c, dir, &eb), DC_OK);
    assert_string_equal(c.server, "https://[fd00::1]:443");
    assert_string_equal(c.namespace, "dapr-system");
    dc_k8s_config_cleanup(&c);
    /* dc_k8s_config_load: an explicit kubeconfig wins over in-cluster. */
    assert_int_equal(dc_k8s_config_load(&c, DATA "/kc-certfiles.yaml", NULL, &eb), DC_OK);
    assert_string_equal(c.server, "https://10.0.0.2");
    dc_k8s_config_cleanup(&c);
    unsetenv("KUBECONFIG");
    assert_int_equal(dc_k8s_config_load(&c, NULL, NULL, &eb), DC_EIO); /* in-cluster, default dir */
    setenv("KUBECONFIG", "/nonexistent:" DATA "/kc-token.yaml", 1);
    assert_int_equal(dc_k8s_config_load(&c, NULL, NULL, &eb), DC_OK);
    assert_string_equal(c.context, "dev");
    dc_k8s_config_cleanup(&c);
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    for (const char *f = "token\0ca.crt\0namespace\0"; *f != '\0'; f += strlen(f) + 1) {
        snprintf(path, sizeof(path), "%s/%s", dir, f);
        unlink(path);
    }
    rmdir(dir);
}

static void test_base64(void **state)
{
    char *out;
    size_t n;
    (void)state;
    assert_int_equal(k8s_base64_decode("aGVsbG8=", 8, &out, &n), DC_OK);
    assert_int_equal(n, 5);
    assert_string_equal(out, "hello");
    free(out);
    assert_int_equal(k8s_base64_decode("aGVs\nbG8", 8, &out, &n), DC_OK);
    assert_string_equal(out, "hello");
    free(out);
    assert_int_equal(k8s_base64_decode("", 0, &out, &n), DC_OK);
    assert_int_equal(n, 0);
    free(out);
    assert_int_equal(k8s_base64_decode("a", 1, &out, &n), DC_EPARSE);
    assert_int_equal(k8s_base64_decode("aGVs=bG8", 8, &out, &n), DC_EPARSE);
    assert_int_equal(k8s_base64_decode("aG*s", 4, &out, &n), DC_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_inline_wins),
        cmocka_unit_test(test_token_file_and_insecure),
        cmocka_unit_test(test_cert_data),
        cmocka_unit_test(test_cert_files),
        cmocka_unit_test(test_exec_unsupported),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_in_cluster),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
