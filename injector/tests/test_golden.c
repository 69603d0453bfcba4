/* Golden matrix: for each annotation case, golden/<case>.pod.json is patched and the result is
 * compared (as parsed JSON) with golden/<case>.patch.json, and the warnings with
 * golden/<case>.warnings.json (absent = no warnings). Every patch is also applied to its pod
 * to prove each operation's path resolves. UPDATE_GOLDEN=1 rewrites the expected files; read
 * each rewritten file against control-plane.md §4.4-4.6 before committing it. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "inj_test_util.h"

static const char *golden_dir(void)
{
    const char *d = getenv("INJ_GOLDEN_DIR");

    return d != NULL ? d : "injector/tests/golden";
}

static cJSON *load_json(const char *name, const char *suffix)
{
    char path[512];
    char *text;
    cJSON *j;

    snprintf(path, sizeof(path), "%s/%s%s", golden_dir(), name, suffix);
    text = read_file_all(path, NULL);
    if (text == NULL)
        return NULL;
    j = cJSON_Parse(text);
    free(text);
    if (j == NULL)
        fail_msg("%s: invalid JSON", path);
    return j;
}

static void write_json(const char *name, const char *suffix, const cJSON *j)
{
    char path[512];
    char *text = cJSON_Print(j);
    FILE *f;
    size_t r;

    snprintf(path, sizeof(path), "%s/%s%s", golden_dir(), name, suffix);
    f = fopen(path, "w");
    assert_non_null(f);
    /* cJSON lays out with tabs (":\t" after keys); write two spaces per level and ": ". Raw
     * tabs only occur as layout: tabs inside strings are escaped. */
    for (r = 0; text[r] != '\0'; r++) {
        if (text[r] != '\t')
            fputc(text[r], f);
        else if (r > 0 && text[r - 1] == ':')
            fputc(' ', f);
        else
            fputs("  ", f);
    }
    fputc('\n', f);
    fclose(f);
    free(text);
}

static void check_golden(void **state)
{
    const char *name = *state;
    struct inj_config cfg;
    struct inj_request req = {"default", true};
    struct inj_warnings w = {0};
    struct dc_errbuf eb = {0};
    struct dc_arena arena;
    cJSON *pod = load_json(name, ".pod.json");
    cJSON *want, *want_w, *got_w, *patch = NULL, *patched;
    char path[512];
    size_t i;

    assert_non_null(pod);
    test_config(&cfg);
    dc_arena_init(&arena);
    assert_int_equal(inj_patch_pod(pod, &cfg, &req, &arena, &patch, NULL, &w, &eb), DC_OK);
    got_w = cJSON_CreateArray();
    for (i = 0; i < w.n; i++)
        cJSON_AddItemToArray(got_w, cJSON_CreateString(w.v[i]));

    if (getenv("UPDATE_GOLDEN") != NULL) {
        write_json(name, ".patch.json", patch);
        snprintf(path, sizeof(path), "%s/%s.warnings.json", golden_dir(), name);
        if (w.n > 0)
            write_json(name, ".warnings.json", got_w);
        else
            unlink(path);
    }
    want = load_json(name, ".patch.json");
    want_w = load_json(name, ".warnings.json");
    if (want_w == NULL)
        want_w = cJSON_CreateArray();
    assert_non_null(want);
    if (!cJSON_Compare(want, patch, 1)) {
        char *g = cJSON_Print(patch);
        fprintf(stderr, "%s: patch differs from golden; got:\n%s\n", name, g);
        free(g);
        fail();
    }
    if (!cJSON_Compare(want_w, got_w, 1)) {
        char *g = cJSON_Print(got_w);
        fprintf(stderr, "%s: warnings differ from golden; got:\n%s\n", name, g);
        free(g);
        fail();
    }
    /* The patch applies, and a non-empty one leaves exactly one daprd. */
    patched = cJSON_Duplicate(pod, 1);
    assert_int_equal(patch_apply(patched, patch), 0);
    if (cJSON_GetArraySize(patch) > 0)
        assert_non_null(find_daprd(patched));

    cJSON_Delete(patched);
    cJSON_Delete(want);
    cJSON_Delete(want_w);
    cJSON_Delete(got_w);
    cJSON_Delete(patch);
    cJSON_Delete(pod);
    inj_warnings_cleanup(&w);
    dc_arena_cleanup(&arena);
    inj_config_cleanup(&cfg);
}

#define GOLDEN(n) cmocka_unit_test_prestate(check_golden, (void *)(n))

int main(void)
{
    const struct CMUnitTest tests[] = {
        GOLDEN("basic"),
        GOLDEN("app_port"),
        GOLDEN("app_protocol_grpc"),
        GOLDEN("app_ssl"),
        GOLDEN("config"),
        GOLDEN("log_level"),
        GOLDEN("resources"),
        GOLDEN("resources_limit_only"),
        GOLDEN("env"),
        GOLDEN("env_ssl_cert_dir"),
        GOLDEN("volume_mounts"),
        GOLDEN("unix_domain_socket"),
        GOLDEN("listen_addresses"),
        GOLDEN("graceful_shutdown"),
        GOLDEN("placement_address"),
        GOLDEN("appid_from_name"),
        GOLDEN("appid_from_generate_name"),
        GOLDEN("existing_env"),
        GOLDEN("native_sidecar"),
        GOLDEN("native_sidecar_with_init"),
        GOLDEN("debug"),
        GOLDEN("no_containers_no_labels"),
        GOLDEN("metrics_disabled"),
        GOLDEN("ports"),
        GOLDEN("ignore_entrypoint_toleration"),
        GOLDEN("pluggable_components"),
        GOLDEN("app_health_and_misc"),
        GOLDEN("bad_values"),
        GOLDEN("shell_metacharacters"),
        GOLDEN("already_injected"),
        GOLDEN("not_enabled"),
        GOLDEN("existing_token_volume"),
    };

    return cmocka_run_group_tests_name("injector golden", tests, NULL, NULL);
}
