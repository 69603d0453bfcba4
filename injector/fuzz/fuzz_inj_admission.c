/* libFuzzer target: bytes -> inj_admission_handle -> the response must be a JSON
 * AdmissionReview with a boolean response.allowed, and any patch must decode to a JSON array.
 * Reviews run with cJSON's per-review arena hooks (as in the service). Differential checks of
 * the fast writer: the response and the patch are exactly what cJSON prints for their trees,
 * and inj__json_write prints any tree the input parses to as cJSON_PrintUnformatted does. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../injector.h"
#include "../internal.h"
#include "dc/buf.h"
#include "../tests/inj_test_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_env(const char *name)
{
    if (strcmp(name, "SIDECAR_IMAGE") == 0)
        return "daprd:fuzz";
    if (strcmp(name, "NAMESPACE") == 0)
        return "dapr-system";
    if (strcmp(name, "IGNORE_ENTRYPOINT_TOLERATIONS") == 0)
        return "[{\"effect\":\"NoSchedule\",\"key\":\"azure.com/aci\"}]";
    return NULL;
}

/* inj__json_write(v) must equal cJSON_PrintUnformatted(v). */
static void same_as_cjson(const cJSON *v)
{
    struct dc_buf b = {0};
    char *want = cJSON_PrintUnformatted(v);

    if (want == NULL || inj__json_write(&b, v) != DC_OK || strcmp(want, dc_buf_cstr(&b)) != 0)
        abort();
    free(want);
    dc_buf_cleanup(&b);
}

/* `text` must be what cJSON prints for the tree it parses to. */
static void canonical(const char *text, size_t len)
{
    cJSON *v = cJSON_ParseWithLength(text, len);
    char *again;

    if (v == NULL)
        abort();
    again = cJSON_PrintUnformatted(v);
    if (again == NULL || strlen(again) != len || memcmp(again, text, len) != 0)
        abort();
    free(again);
    cJSON_Delete(v);
}

/* The decoded patch must be an array that applies to the request's pod. */
static void check_patch(const cJSON *resp, const uint8_t *data, size_t size)
{
    const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(resp, "patch"));
    unsigned char *raw;
    size_t n;
    cJSON *p, *req, *pod;

    if (b64 == NULL)
        return;
    n = strlen(b64);
    raw = calloc(1, n + 1);
    if (raw == NULL)
        abort();
    if (EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n) < 0)
        abort();
    canonical((const char *)raw, strlen((const char *)raw));
    p = cJSON_Parse((const char *)raw);
    if (!cJSON_IsArray(p))
        abort();
    req = cJSON_ParseWithLength((const char *)data, size);
    pod = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "request"),
                                           "object");
    if (pod == NULL || patch_apply(pod, p) != 0 || find_daprd(pod) == NULL)
        abort();
    cJSON_Delete(req);
    cJSON_Delete(p);
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct inj_config cfg;
    static int ready;
    struct inj_outcome out;
    char *resp = NULL;
    size_t len = 0;
    cJSON *j, *r;

    if (!ready) {
        if (inj_config_from_env(&cfg, fuzz_env, NULL) != DC_OK)
            abort();
        inj_config_set_trust_anchors(&cfg, "-----BEGIN CERTIFICATE-----\n");
        inj_json_memory_init();
        ready = 1;
    }
    if (inj_admission_handle((const char *)data, size, &cfg, size % 2 == 0, &resp, &len, &out) !=
        DC_OK)
        abort();
    canonical(resp, len);
    j = cJSON_ParseWithLength(resp, len);
    if (j == NULL)
        abort();
    r = cJSON_ParseWithLength((const char *)data, size);
    if (r != NULL)
        same_as_cjson(r);
    cJSON_Delete(r);
    r = cJSON_GetObjectItemCaseSensitive(j, "response");
    if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(r, "allowed")))
        abort();
    if ((out.kind == INJ_OUTCOME_PATCHED) != (cJSON_GetObjectItemCaseSensitive(r, "patch") != NULL))
        abort();
    check_patch(r, data, size);
    cJSON_Delete(j);
    free(resp);
    return 0;
}
