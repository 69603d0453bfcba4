/* GET /v1.0/metadata's component capabilities (sidecar-api.md §3.1), without sockets: pub/sub
 * features, input/output bindings, state features with ACTOR, and no array when empty; and the
 * registration of the component metrics (comp_metrics.h). */
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

#include "../runtime.h"

static char tmpdir[64];

static const char *env_none(const char *name)
{
    (void)name;
    return NULL;
}

static const char resources[] =
    "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: mem}\n"
    "spec: {type: pubsub.in-memory, version: v1}\n"
    "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: mq}\n"
    "spec:\n  type: pubsub.mqtt3\n  version: v1\n  metadata:\n"
    "  - {name: url, value: \"tcp://127.0.0.1:1\"}\n"
    "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: tick}\n"
    "spec:\n  type: bindings.cron\n  version: v1\n  metadata:\n"
    "  - {name: schedule, value: \"@every 1h\"}\n"
    "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: files}\n"
    "spec:\n  type: bindings.localstorage\n  version: v1\n  metadata:\n"
    "  - {name: rootPath, value: \"/tmp\"}\n"
    "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: kv}\n"
    "spec: {type: state.in-memory, version: v1}\n"
    "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: broken}\n"
    "spec: {type: state.nosuch, version: v1, ignoreErrors: true}\n";

static int setup(void **state)
{
    char path[128];
    FILE *f;

    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sdc-md-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(path, sizeof(path), "%s/res", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/res/c.yaml", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(resources, f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    char path[128];

    (void)state;
    snprintf(path, sizeof(path), "%s/res/c.yaml", tmpdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/res", tmpdir);
    rmdir(path);
    rmdir(tmpdir);
    return 0;
}

static void expect_component(const char *json, const char *obj)
{
    if (strstr(json, obj) == NULL)
        fail_msg("missing %s in %s", obj, json);
}

static void test_capabilities(void **state)
{
    char res[128];
    static char prog[] = "daprd", a1[] = "--app-id", a2[] = "myapp", a3[] = "--resources-path";
    char *argv[6] = {prog, a1, a2, a3, res, NULL};
    struct sdc_config cfg;
    struct sdc_runtime rt;
    struct dc_errbuf eb = {0};
    struct dc_buf b = {0};

    (void)state;
    snprintf(res, sizeof(res), "%s/res", tmpdir);
    assert_int_equal(sdc_config_parse(&cfg, 5, argv, env_none, &eb), DC_OK);
    assert_int_equal(sdc_runtime_init(&rt, &cfg, &eb), DC_OK);
    assert_int_equal(sdc_components_load(&rt.comps, &rt, &eb), DC_OK);
    assert_int_equal(sdc_runtime_metadata_json(&rt, &b), DC_OK);

    expect_component(dc_buf_cstr(&b),
                     "{\"name\":\"mem\",\"type\":\"pubsub.in-memory\",\"version\":\"v1\"}");
    expect_component(dc_buf_cstr(&b), "{\"name\":\"mq\",\"type\":\"pubsub.mqtt3\",\"version\":"
                                      "\"v1\",\"capabilities\":[\"SUBSCRIBE_WILDCARDS\"]}");
    expect_component(dc_buf_cstr(&b), "{\"name\":\"tick\",\"type\":\"bindings.cron\",\"version\":"
                                      "\"v1\",\"capabilities\":[\"INPUT_BINDING\"]}");
    expect_component(dc_buf_cstr(&b),
                     "{\"name\":\"files\",\"type\":\"bindings.localstorage\",\"version\":\"v1\","
                     "\"capabilities\":[\"OUTPUT_BINDING\"]}");
    expect_component(dc_buf_cstr(&b),
                     "{\"name\":\"kv\",\"type\":\"state.in-memory\",\"version\":\"v1\","
                     "\"capabilities\":[\"ETAG\",\"TRANSACTIONAL\",\"TTL\",\"DELETE_WITH_PREFIX\","
                     "\"KEYS_LIKE\",\"ACTOR\"]}");
    /* Component lifecycle metrics: five loaded, one unknown type skipped. */
    {
        const char *app[] = {"myapp"};
        const char *init[] = {"myapp", "pubsub.mqtt3"};
        const char *fail[] = {"myapp", "state.nosuch", "creation", "broken"};
        double v = 0;
        assert_int_equal(dc_metric_get(rt.m_component_loaded, app, &v), DC_OK);
        assert_true(v == 5);
        assert_int_equal(dc_metric_get(rt.m_component_init, init, &v), DC_OK);
        assert_true(v == 1);
        assert_int_equal(dc_metric_get(rt.m_component_init_fail, fail, &v), DC_OK);
        assert_true(v == 1);
    }
    /* Every component metric registered (a bad name or label set would be NULL). */
    for (int k = 0; k < SDC_CM_COUNT; k++) {
        assert_non_null(rt.m_comp_count[k]);
        assert_non_null(rt.m_comp_latency[k]);
    }
    dc_buf_cleanup(&b);
    sdc_runtime_cleanup(&rt);
    sdc_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capabilities),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
