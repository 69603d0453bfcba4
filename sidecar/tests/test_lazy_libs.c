/* libcurl, libpq and libmosquitto are loaded on first use (dc/dl.h), not linked: none is mapped
 * at start; plain http:// and https:// calls with their own CAs (the built-in client) do not
 * map libcurl; an https:// call without CAs and dc_k8s_client_new do; the first
 * state.postgresql and pubsub.mqtt3 inits map libpq and libmosquitto (against closed ports: no
 * server is needed). Then the test runs itself again with LD_LIBRARY_PATH on a directory of
 * empty files named like the three libraries: every init fails with DC_ENOTFOUND and a message
 * naming the library, and an https call fails the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dc/dl.h"
#include "dc/http_client.h"
#include "dc/k8s.h"

#include "../component.h"

extern const struct sdc_component_type sdc_type_state_postgresql;
extern const struct sdc_component_type sdc_type_bindings_postgresql;
extern const struct sdc_component_type sdc_type_configuration_postgresql;
extern const struct sdc_component_type sdc_type_pubsub_mqtt3;

#define CURL_SO "libcurl.so.4"
#define PQ_SO "libpq.so.5"
#define MOSQ_SO "libmosquitto.so.1"

/* A loopback port nothing listens on (bound, then released). */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Init a component of `t` with one metadata pair; closes it again on success. */
static int init_one(const struct sdc_component_type *t, const char *k, const char *v,
                    struct dc_errbuf *eb)
{
    struct sdc_md md = {0};
    struct sdc_init_ctx ctx = {"lazy", "app", "", 1000};
    void *self = NULL;
    int rv;

    sdc_md_set(&md, k, v);
    if (t == &sdc_type_configuration_postgresql)
        sdc_md_set(&md, "table", "cfg");
    rv = t->ops->init(&self, &md, &ctx, eb);
    if (rv == DC_OK)
        t->ops->close(self);
    sdc_md_cleanup(&md);
    return rv;
}

static int http_get(const char *url, const char *ca_pem, struct dc_errbuf *eb)
{
    struct dc_http_client *c = NULL;
    struct dc_http_call call = {.url = url, .timeout_ms = 2000, .tls_ca_pem = ca_pem};
    struct dc_http_result res = {0};
    int rv;

    assert_int_equal(dc_http_client_new(&c, NULL, NULL), DC_OK);
    rv = dc_http_client_do(c, &call, &res, eb);
    dc_http_result_cleanup(&res);
    dc_http_client_free(c);
    return rv;
}

static void test_nothing_mapped_at_start(void **state)
{
    (void)state;
    assert_false(dc_dl_is_mapped(CURL_SO));
    assert_false(dc_dl_is_mapped(PQ_SO));
    assert_false(dc_dl_is_mapped(MOSQ_SO));
}

static void test_builtin_http_leaves_curl_out(void **state)
{
    char url[64];
    int rv;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
    assert_int_equal(http_get(url, NULL, NULL), DC_EUNAVAIL);
    /* https with the call's own CAs (the sidecars' mTLS) is built in too. */
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", closed_port());
    rv = http_get(url, "-----BEGIN CERTIFICATE-----\n", NULL);
    assert_int_not_equal(rv, DC_OK);
    assert_false(dc_dl_is_mapped(CURL_SO));
}

static void test_https_loads_curl(void **state)
{
    struct dc_errbuf eb = {0};
    char url[64];

    (void)state;
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", closed_port());
    /* Through libcurl: its refusal is mapped like any other. */
    assert_int_equal(http_get(url, NULL, &eb), DC_EUNAVAIL);
    assert_true(dc_dl_is_mapped(CURL_SO));
}

static void test_k8s_client_loads_curl(void **state)
{
    char server[] = "http://127.0.0.1:1";
    struct dc_k8s_config cfg = {.server = server};
    struct dc_k8s_client *c = NULL;
    struct dc_errbuf eb = {0};

    (void)state;
    assert_int_equal(dc_k8s_client_new(&c, &cfg, &eb), DC_OK);
    dc_k8s_client_free(c);
    assert_true(dc_dl_is_mapped(CURL_SO));
}

static void test_postgres_init_loads_libpq(void **state)
{
    struct dc_errbuf eb = {0};
    char cs[96];

    (void)state;
    snprintf(cs, sizeof(cs), "host=127.0.0.1 port=%d connect_timeout=2", closed_port());
    assert_false(dc_dl_is_mapped(PQ_SO));
    assert_int_equal(init_one(&sdc_type_state_postgresql, "connectionString", cs, &eb),
                     DC_EUNAVAIL);
    assert_non_null(strstr(eb.msg, "postgres state store"));
    assert_true(dc_dl_is_mapped(PQ_SO));
}

static void test_mqtt_init_loads_libmosquitto(void **state)
{
    struct dc_errbuf eb = {0};
    char url[64];

    (void)state;
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", closed_port());
    assert_false(dc_dl_is_mapped(MOSQ_SO));
    /* A broker that is down is only logged. */
    assert_int_equal(init_one(&sdc_type_pubsub_mqtt3, "url", url, &eb), DC_OK);
    assert_true(dc_dl_is_mapped(MOSQ_SO));
}

/* ---- the child with unloadable libraries ---- */

static void assert_not_loadable(int rv, const struct dc_errbuf *eb, const char *prefix,
                                const char *soname)
{
    char want[128];

    snprintf(want, sizeof(want), "cannot load %s: ", soname);
    assert_int_equal(rv, DC_ENOTFOUND);
    assert_non_null(strstr(eb->msg, want));
    assert_true(strncmp(eb->msg, prefix, strlen(prefix)) == 0);
}

static void test_broken_libpq(void **state)
{
    struct dc_errbuf eb = {0};
    int rv;

    (void)state;
    rv = init_one(&sdc_type_state_postgresql, "connectionString", "host=127.0.0.1", &eb);
    assert_not_loadable(rv, &eb, "postgres state store: ", PQ_SO);
    memset(&eb, 0, sizeof(eb));
    rv = init_one(&sdc_type_bindings_postgresql, "connectionString", "host=127.0.0.1", &eb);
    assert_not_loadable(rv, &eb, "cannot load", PQ_SO);
    memset(&eb, 0, sizeof(eb));
    rv = init_one(&sdc_type_configuration_postgresql, "connectionString", "host=127.0.0.1", &eb);
    assert_not_loadable(rv, &eb, "postgres configuration: ", PQ_SO);
}

static void test_broken_libmosquitto(void **state)
{
    struct dc_errbuf eb = {0};
    int rv;

    (void)state;
    rv = init_one(&sdc_type_pubsub_mqtt3, "url", "tcp://127.0.0.1:1883", &eb);
    assert_not_loadable(rv, &eb, "mqtt pubsub: ", MOSQ_SO);
}

static void test_broken_libcurl(void **state)
{
    char server[] = "https://127.0.0.1:1";
    struct dc_k8s_config cfg = {.server = server};
    struct dc_k8s_client *c = NULL;
    struct dc_errbuf eb = {0};

    (void)state;
    assert_not_loadable(http_get("https://127.0.0.1:1/", NULL, &eb), &eb, "cannot load", CURL_SO);
    memset(&eb, 0, sizeof(eb));
    assert_not_loadable(dc_k8s_client_new(&c, &cfg, &eb), &eb, "k8s client: ", CURL_SO);
    assert_null(c);
}

static const char *self_path;

static void write_empty(const char *dir, const char *name)
{
    char p[256];
    int fd;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static void remove_in(const char *dir, const char *name)
{
    char p[256];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    unlink(p);
}

static void test_unloadable_libraries(void **state)
{
    char dir[] = "/tmp/daprc-lazy.XXXXXX";
    int status = -1;
    pid_t pid;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_empty(dir, CURL_SO);
    write_empty(dir, PQ_SO);
    write_empty(dir, MOSQ_SO);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("LD_LIBRARY_PATH", dir, 1);
        execl(self_path, self_path, "--unloadable", (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    remove_in(dir, CURL_SO);
    remove_in(dir, PQ_SO);
    remove_in(dir, MOSQ_SO);
    rmdir(dir);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest lazy[] = {
        cmocka_unit_test(test_nothing_mapped_at_start),
        cmocka_unit_test(test_builtin_http_leaves_curl_out),
        cmocka_unit_test(test_https_loads_curl),
        cmocka_unit_test(test_k8s_client_loads_curl),
        cmocka_unit_test(test_postgres_init_loads_libpq),
        cmocka_unit_test(test_mqtt_init_loads_libmosquitto),
        cmocka_unit_test(test_unloadable_libraries),
    };
    const struct CMUnitTest unloadable[] = {
        cmocka_unit_test(test_broken_libpq),
        cmocka_unit_test(test_broken_libmosquitto),
        cmocka_unit_test(test_broken_libcurl),
    };

    (void)argv;
    self_path = "/proc/self/exe";
    if (argc > 1 && strcmp(argv[1], "--unloadable") == 0)
        return cmocka_run_group_tests_name("lazy_libs_unloadable", unloadable, NULL, NULL);
    return cmocka_run_group_tests_name("lazy_libs", lazy, NULL, NULL);
}
