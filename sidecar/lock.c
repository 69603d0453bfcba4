/* The distributed lock HTTP API (alpha, sidecar-api.md §10): request validation in upstream's
 * order (pkg/api/universal/lock.go), keyPrefix rewriting (pkg/components/lock/lock_config.go),
 * and protobuf-JSON shaped answers. The store types live in lock_memory.c and lock_redis.c. */
#include "lock.h"

#include "http_api.h"

#include <stdio.h>
#include <string.h>

#include "dc/json.h"
#include "dc/log.h"
#include "dc/str.h"

#include "runtime.h"

#define LOCK_SEP "||"
/* A lock request body is three short fields; anything this large is not one. */
#define LOCK_MAX_BODY (64u * 1024)

int sdc_lock_check_component(const struct sdc_md *md, struct dc_errbuf *eb)
{
    const char *p = sdc_md_get(md, "keyPrefix");

    if (p != NULL && strstr(p, LOCK_SEP) != NULL)
        return dc_err_set(eb, DC_EINVAL, "input key/keyPrefix '%s' can't contain '%s'", p,
                          LOCK_SEP);
    return DC_OK;
}

int sdc_lock_key(struct dc_arena *a, const struct sdc_md *md, const char *store, const char *app_id,
                 const char *resource_id, const char **out, struct dc_errbuf *eb)
{
    const char *strategy = sdc_md_get(md, "keyPrefix");

    if (strstr(resource_id, LOCK_SEP) != NULL)
        return dc_err_set(eb, DC_EINVAL, "input key/keyPrefix '%s' can't contain '%s'", resource_id,
                          LOCK_SEP);
    if (dc_str_empty(strategy) || dc_str_eq_ci(strategy, "appid")) {
        *out = dc_str_empty(app_id) ? dc_arena_sprintf(a, "lock||%s", resource_id)
                                    : dc_arena_sprintf(a, "lock||%s||%s", app_id, resource_id);
    } else if (dc_str_eq_ci(strategy, "none")) {
        *out = dc_arena_sprintf(a, "lock||%s", resource_id);
    } else if (dc_str_eq_ci(strategy, "name")) {
        *out = dc_arena_sprintf(a, "lock||%s||%s", store, resource_id);
    } else {
        /* Upstream lower-cases the strategy value (SaveLockConfiguration). */
        char *low = dc_arena_strdup(a, strategy);
        for (char *p = low; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        *out = dc_arena_sprintf(a, "lock||%s||%s", low, resource_id);
    }
    return DC_OK;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

struct lock_req {
    const char *store;
    const char *resource_id;
    const char *owner;
    int64_t expiry;
};

static void respond_json(struct dc_http_response *resp, const char *body)
{
    if (dc_http_response_body(resp, body, strlen(body), "application/json") != DC_OK) {
        resp->status = 500;
        return;
    }
    resp->status = 200;
}

/* Decode the protobuf-JSON body (unknown fields ignored; protojson also accepts the proto
 * field names resource_id, lock_owner, expiry_in_seconds). Answers 400 on failure. */
static bool decode_body(struct dc_http_request *req, struct dc_http_response *resp,
                        struct lock_req *out, cJSON **doc)
{
    struct dc_errbuf eb = {0};
    static const char *const names[3][2] = {{"resourceId", "resource_id"},
                                            {"lockOwner", "lock_owner"},
                                            {"expiryInSeconds", "expiry_in_seconds"}};
    int rv;

    out->resource_id = "";
    out->owner = "";
    out->expiry = 0;
    if (req->body_too_large) {
        dc_http_response_error(resp, 400, "ERR_BODY_READ",
                               "failed to read request body: http: request body too large");
        return false;
    }
    if (req->body_len == 0)
        return true; /* protojson of nothing: every field zero, validation answers */
    rv = dc_json_parse(req->body, req->body_len, LOCK_MAX_BODY, doc, &eb);
    if (rv == DC_OK && !cJSON_IsObject(*doc))
        rv = dc_err_set(&eb, DC_EINVAL, "body is not a JSON object");
    for (int i = 0; i < 2 && rv == DC_OK; i++) {
        const char *v = NULL;
        rv = dc_json_get_string(*doc, names[i][0], false, &v, &eb);
        if (rv == DC_OK && v == NULL)
            rv = dc_json_get_string(*doc, names[i][1], false, &v, &eb);
        if (rv == DC_OK && v != NULL)
            *(i == 0 ? &out->resource_id : &out->owner) = v;
    }
    if (rv == DC_OK) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(*doc, names[2][0]);
        if (e == NULL || cJSON_IsNull(e))
            e = cJSON_GetObjectItemCaseSensitive(*doc, names[2][1]);
        if (cJSON_IsString(e)) {
            /* protojson accepts int32 as a JSON string too. */
            if (dc_str_to_i64(e->valuestring, INT32_MIN, INT32_MAX, &out->expiry) != DC_OK)
                rv = dc_err_set(&eb, DC_EINVAL, "invalid value for int32 field expiryInSeconds");
        } else if (e != NULL && !cJSON_IsNull(e)) {
            double d = cJSON_IsNumber(e) ? e->valuedouble : 0.5;
            /* The range first: converting a double beyond int64_t (1e30) is undefined. */
            if (!(d >= INT32_MIN && d <= INT32_MAX) || d != (double)(int64_t)d)
                rv = dc_err_set(&eb, DC_EINVAL, "invalid value for int32 field expiryInSeconds");
            else
                out->expiry = (int64_t)d;
        }
    }
    if (rv != DC_OK) {
        dc_http_response_error(
            resp, 400, "ERR_MALFORMED_REQUEST",
            dc_arena_sprintf(resp->arena, "failed deserializing HTTP body: %s", eb.msg));
        return false;
    }
    return true;
}

/* lockValidateRequest: stores configured, resourceId, lockOwner, store known. */
static struct sdc_component *validate(struct sdc_runtime *rt, struct dc_http_response *resp,
                                      const struct lock_req *lr)
{
    struct sdc_component *sc;

    if (sdc_components_count(&rt->comps, SDC_CAT_LOCK) == 0) {
        dc_http_response_error(resp, 500, "ERR_LOCK_STORE_NOT_CONFIGURED",
                               "lock store is not configured");
        return NULL;
    }
    if (lr->resource_id[0] == '\0') {
        dc_http_response_error(
            resp, 400, "ERR_MALFORMED_REQUEST",
            dc_arena_sprintf(resp->arena, "ResourceId is empty in lock store %s", lr->store));
        return NULL;
    }
    if (lr->owner[0] == '\0') {
        dc_http_response_error(
            resp, 400, "ERR_MALFORMED_REQUEST",
            dc_arena_sprintf(resp->arena, "LockOwner is empty in lock store %s", lr->store));
        return NULL;
    }
    sc = sdc_components_find(&rt->comps, SDC_CAT_LOCK, lr->store);
    if (sc == NULL)
        dc_http_response_error(resp, 400, "ERR_LOCK_STORE_NOT_FOUND",
                               dc_arena_sprintf(resp->arena, "lock store %s not found", lr->store));
    return sc;
}

static const struct sdc_lock_ops *ops_of(const struct sdc_component *sc)
{
    return (const struct sdc_lock_ops *)sc->type->ops;
}

/* POST /v1.0-alpha1/lock/{storeName} */
static void on_lock(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    struct lock_req lr = {.store = dc_http_request_param(req, "storeName")};
    struct dc_errbuf eb = {0};
    struct sdc_component *sc;
    cJSON *doc = NULL;
    const char *key;
    bool acquired = false;

    if (!decode_body(req, resp, &lr, &doc))
        goto out;
    if (lr.expiry <= 0) {
        dc_http_response_error(resp, 400, "ERR_MALFORMED_REQUEST",
                               dc_arena_sprintf(resp->arena,
                                                "ExpiryInSeconds is not positive in lock store %s",
                                                lr.store));
        goto out;
    }
    sc = validate(rt, resp, &lr);
    if (sc == NULL)
        goto out;
    if (sdc_lock_key(req->arena, &sc->md, lr.store, rt->cfg->app_id, lr.resource_id, &key, &eb) !=
            DC_OK ||
        ops_of(sc)->try_lock(sc->self, key, lr.owner, (int32_t)lr.expiry, &acquired, &eb) !=
            DC_OK) {
        dc_http_response_error(
            resp, 500, "ERR_TRY_LOCK",
            dc_arena_sprintf(resp->arena, "failed to try acquiring lock: %s", eb.msg));
        goto out;
    }
    respond_json(resp, acquired ? "{\"success\":true}" : "{\"success\":false}");
out:
    cJSON_Delete(doc);
}

/* POST /v1.0-alpha1/unlock/{storeName} */
static void on_unlock(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    struct lock_req lr = {.store = dc_http_request_param(req, "storeName")};
    struct dc_errbuf eb = {0};
    struct sdc_component *sc;
    cJSON *doc = NULL;
    const char *key;
    enum sdc_unlock_status st = SDC_UNLOCK_INTERNAL;
    char body[32];

    if (!decode_body(req, resp, &lr, &doc))
        goto out;
    sc = validate(rt, resp, &lr);
    if (sc == NULL)
        goto out;
    if (sdc_lock_key(req->arena, &sc->md, lr.store, rt->cfg->app_id, lr.resource_id, &key, &eb) !=
            DC_OK ||
        ops_of(sc)->unlock(sc->self, key, lr.owner, &st, &eb) != DC_OK) {
        dc_http_response_error(resp, 500, "ERR_UNLOCK",
                               dc_arena_sprintf(resp->arena, "failed to release lock: %s", eb.msg));
        goto out;
    }
    /* lock.proto Status as a number, always present (§10). */
    snprintf(body, sizeof(body), "{\"status\":%d}", (int)st);
    respond_json(resp, body);
out:
    cJSON_Delete(doc);
}

void sdc_lock_api_routes(struct dc_http_router *r, struct sdc_runtime *rt)
{
    sdc_http_api_add(r, rt, "POST", "/v1.0-alpha1/lock/{storeName}", on_lock);
    sdc_http_api_add(r, rt, "POST", "/v1.0-alpha1/unlock/{storeName}", on_unlock);
}
