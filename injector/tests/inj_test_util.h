#ifndef INJ_TEST_UTIL_H
#define INJ_TEST_UTIL_H

/* Helpers shared by the injector's unit tests (included by each test file; static). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../injector.h"

#define TEST_TRUST_ANCHORS "-----BEGIN CERTIFICATE-----\nTESTANCHORS\n-----END CERTIFICATE-----\n"

static inline const char *test_env(const char *name)
{
    static const char *const kv[][2] = {
        {"SIDECAR_IMAGE", "ghcr.io/dapr/daprd:1.18.3"},
        {"SIDECAR_IMAGE_PULL_POLICY", "IfNotPresent"},
        {"NAMESPACE", "dapr-system"},
        {"ALLOWED_SERVICE_ACCOUNTS", "argo:argo-*, ci:builder"},
        {"IGNORE_ENTRYPOINT_TOLERATIONS",
         "[{\"effect\":\"NoSchedule\",\"key\":\"alibabacloud.com/eci\"},"
         "{\"effect\":\"NoSchedule\",\"key\":\"azure.com/aci\"},"
         "{\"effect\":\"NoSchedule\",\"key\":\"aws\"},"
         "{\"effect\":\"NoSchedule\",\"key\":\"huawei.com/cci\"}]"},
        {"SIDECAR_RUN_AS_USER", "65532"},
        {"SIDECAR_DROP_ALL_CAPABILITIES", "true"},
    };
    size_t i;

    for (i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (strcmp(kv[i][0], name) == 0)
            return kv[i][1];
    return NULL;
}

static inline void test_config(struct inj_config *cfg)
{
    struct dc_errbuf eb = {0};

    if (inj_config_from_env(cfg, test_env, &eb) != DC_OK) {
        fprintf(stderr, "config: %s\n", eb.msg);
        abort();
    }
    inj_config_set_trust_anchors(cfg, TEST_TRUST_ANCHORS);
}

static inline char *read_file_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

/* RFC 6901 pointer token, unescaped into `out`. */
static inline void ptr_token(const char *b, size_t n, char *out, size_t cap)
{
    size_t i, o = 0;

    for (i = 0; i < n && o + 1 < cap; i++) {
        if (b[i] == '~' && i + 1 < n && (b[i + 1] == '0' || b[i + 1] == '1')) {
            out[o++] = b[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            out[o++] = b[i];
        }
    }
    out[o] = '\0';
}

/* Apply one RFC 6902 "add" to `doc`; 0 on success, -1 when the target's parent is missing. */
static inline int patch_add(cJSON *doc, const char *path, const cJSON *value)
{
    cJSON *cur = doc, *next;
    const char *p = path, *slash;
    char tok[256];
    long idx;

    if (*p != '/')
        return -1;
    for (;;) {
        p++;
        slash = strchr(p, '/');
        ptr_token(p, slash != NULL ? (size_t)(slash - p) : strlen(p), tok, sizeof(tok));
        if (slash == NULL)
            break;
        if (cJSON_IsArray(cur))
            next = cJSON_GetArrayItem(cur, (int)strtol(tok, NULL, 10));
        else
            next = cJSON_GetObjectItemCaseSensitive(cur, tok);
        if (next == NULL)
            return -1;
        cur = next;
        p = slash;
    }
    if (cJSON_IsArray(cur)) {
        if (strcmp(tok, "-") == 0) {
            cJSON_AddItemToArray(cur, cJSON_Duplicate(value, 1));
            return 0;
        }
        idx = strtol(tok, NULL, 10);
        if (idx < 0 || idx > cJSON_GetArraySize(cur))
            return -1;
        cJSON_InsertItemInArray(cur, (int)idx, cJSON_Duplicate(value, 1));
        return 0;
    }
    if (!cJSON_IsObject(cur))
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(cur, tok) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(cur, tok, cJSON_Duplicate(value, 1));
    else
        cJSON_AddItemToObject(cur, tok, cJSON_Duplicate(value, 1));
    return 0;
}

/* Apply a whole patch (only "add" ops expected); 0 on success. */
static inline int patch_apply(cJSON *doc, const cJSON *patch)
{
    const cJSON *op;

    cJSON_ArrayForEach(op, patch)
    {
        const char *o = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "op"));
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "path"));
        if (o == NULL || strcmp(o, "add") != 0 || path == NULL)
            return -1;
        if (patch_add(doc, path, cJSON_GetObjectItemCaseSensitive(op, "value")) != 0) {
            fprintf(stderr, "patch op %s does not apply\n", path);
            return -1;
        }
    }
    return 0;
}

/* The daprd container of a patched pod, in containers or initContainers. */
static inline const cJSON *find_daprd(const cJSON *pod)
{
    const char *lists[] = {"containers", "initContainers"};
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec"), *c;
    size_t i;

    for (i = 0; i < 2; i++) {
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, lists[i]))
        {
            const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
            if (n != NULL && strcmp(n, "daprd") == 0)
                return c;
        }
    }
    return NULL;
}

#endif /* INJ_TEST_UTIL_H */
