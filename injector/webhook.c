/* AdmissionReview in, AdmissionReview out (control-plane.md §4.2, service/handler.go).
 *
 * Every input yields a well-formed response. The API server matches it to its request by
 * response.uid; with the chart's failurePolicy Ignore, an error response leaves the pod
 * uninjected rather than blocking it, except for an invalid app ID, which upstream rejects on
 * purpose (allowed=false) so the user sees the reason. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dc/base64.h"
#include "dc/buf.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "injector.h"
#include "internal.h"

/* ---- content type, globs, requesters ---- */

bool inj_content_type_ok(const char *ct)
{
    size_t n = strlen("application/json");

    if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
        return false;
    while (ct[n] == ' ' || ct[n] == '\t')
        n++;
    return ct[n] == '\0' || ct[n] == ';';
}

/* One [...] class at *pp (just past '['), advancing *pp past ']'. `*bad` on a malformed class. */
static bool class_match(const char **pp, unsigned char c, bool *bad)
{
    const char *p = *pp;
    bool neg = false, hit = false;
    unsigned char lo, hi;
    int n = 0;

    if (*p == '^') {
        neg = true;
        p++;
    }
    for (;; n++) {
        if (*p == ']' && n > 0)
            break;
        if (*p == '\\')
            p++;
        if (*p == '\0' || *p == '-' || (*p == ']' && n == 0)) {
            *bad = true;
            return false;
        }
        lo = hi = (unsigned char)*p++;
        if (*p == '-') {
            p++;
            if (*p == '\\')
                p++;
            if (*p == '\0' || *p == ']') {
                *bad = true;
                return false;
            }
            hi = (unsigned char)*p++;
        }
        if (lo <= c && c <= hi)
            hit = true;
    }
    *pp = p + 1;
    return hit != neg;
}

bool inj_glob_match(const char *pattern, const char *s)
{
    const char *p = pattern, *n = s, *star_p = NULL, *star_n = NULL, *q;
    bool bad = false;

    while (*n != '\0') {
        if (*p == '*') {
            while (*p == '*')
                p++;
            star_p = p;
            star_n = n;
            continue;
        }
        if (*p == '?' && *n != '/') {
            p++;
            n++;
            continue;
        }
        if (*p == '[') {
            q = p + 1;
            if (class_match(&q, (unsigned char)*n, &bad)) {
                p = q;
                n++;
                continue;
            }
            if (bad)
                return false;
        } else if (*p == '\\' && p[1] != '\0' && p[1] == *n) {
            p += 2;
            n++;
            continue;
        } else if (*p != '\0' && *p != '\\' && *p == *n) {
            p++;
            n++;
            continue;
        }
        /* '*' never swallows a '/'. */
        if (star_p == NULL || *star_n == '/')
            return false;
        n = ++star_n;
        p = star_p;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool inj_requester_authorized(const cJSON *user_info, const struct inj_config *cfg)
{
    static const char sa_prefix[] = "system:serviceaccount:";
    const char *user =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(user_info, "username"));
    const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(user_info, "uid"));
    const cJSON *g;
    size_t i;

    if (user != NULL && dc_str_has_prefix(user, sa_prefix)) {
        for (i = 0; i < cfg->allowed_service_accounts.n; i++)
            if (inj_glob_match(cfg->allowed_service_accounts.v[i], user + strlen(sa_prefix)))
                return true;
    }
    if (!dc_str_empty(uid)) {
        for (i = 0; i < cfg->allowed_uids.n; i++)
            if (strcmp(cfg->allowed_uids.v[i], uid) == 0)
                return true;
    }
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(user_info, "groups"))
    {
        if (dc_str_eq(cJSON_GetStringValue(g), "system:masters"))
            return true;
    }
    return false;
}

/* ---- request checks ---- */

/* Nesting depth of the JSON text, counted without parsing so a hostile "[[[[..." never reaches
 * the recursive parser. */
static size_t json_depth(const char *s, size_t len)
{
    size_t i, depth = 0, max = 0;
    bool str = false;

    for (i = 0; i < len; i++) {
        char c = s[i];
        if (str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                str = false;
        } else if (c == '"') {
            str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return max;
}

/* Initial room for the response and the patch text: the usual patch of a Deployment's pod is
 * 2-3 KB, 4/3 of that in base64. Larger answers grow the buffers as usual. */
#define INJ_PATCH_TEXT_HINT 4096
#define INJ_RESPONSE_HINT 8192

/* ---- responses ---- */

struct review {
    const char *api_version; /* echoed; admission.k8s.io/v1 when unknown */
    const char *uid;         /* "" when unknown */
};

/* The AdmissionReview answer appended to `b`, with the keys in the order and the bytes that
 * cJSON_PrintUnformatted gave for the same object built with cJSON. `patch` (may be NULL) is
 * the JSON Patch text. DC_OK or DC_ETOOBIG (a limit on `b`). */
static int respond(struct dc_buf *b, const struct review *rv, bool allowed, const char *message,
                   const struct dc_buf *patch, const struct inj_warnings *w)
{
    char more[64];
    size_t i;
    int r;

    r = dc_buf_appends(b, "{\"apiVersion\":");
    if (r == DC_OK)
        r = inj__json_write_string(b, rv->api_version);
    if (r == DC_OK)
        r = dc_buf_appends(b, ",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
    if (r == DC_OK)
        r = inj__json_write_string(b, rv->uid);
    if (r == DC_OK)
        r = dc_buf_appends(b, allowed ? ",\"allowed\":true" : ",\"allowed\":false");
    if (r == DC_OK && patch != NULL) {
        /* admission.k8s.io/v1: patchType must be "JSONPatch"; patch is base64 of the array
         * (no escaping needed: the base64 alphabet is plain ASCII). */
        r = dc_buf_appends(b, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
        if (r == DC_OK)
            r = dc_base64_append(b, patch->data, patch->len);
        if (r == DC_OK)
            r = dc_buf_appendc(b, '"');
    }
    if (r == DC_OK && message != NULL) {
        r = dc_buf_appends(b, ",\"result\":{\"message\":");
        if (r == DC_OK)
            r = inj__json_write_string(b, message);
        if (r == DC_OK)
            r = dc_buf_appendc(b, '}');
    }
    if (r == DC_OK && w != NULL && w->n > 0) {
        r = dc_buf_appends(b, ",\"warnings\":[");
        for (i = 0; r == DC_OK && i < w->n; i++) {
            if (i > 0)
                r = dc_buf_appendc(b, ',');
            if (r == DC_OK)
                r = inj__json_write_string(b, w->v[i]);
        }
        if (r == DC_OK && w->dropped > 0) {
            snprintf(more, sizeof(more), "%zu more warnings omitted", w->dropped);
            r = dc_buf_appendc(b, ',');
            if (r == DC_OK)
                r = inj__json_write_string(b, more);
        }
        if (r == DC_OK)
            r = dc_buf_appendc(b, ']');
    }
    return r == DC_OK ? dc_buf_appends(b, "}}") : r;
}

static void outcome_set(struct inj_outcome *out, enum inj_outcome_kind kind, const char *reason)
{
    out->kind = kind;
    dc_strlcpy(out->reason, reason != NULL ? reason : "", sizeof(out->reason));
}

/* Validate the envelope; on failure the reason is in `eb`. */
static const cJSON *parse_envelope(const cJSON *root, struct review *rv, struct dc_errbuf *eb)
{
    const char *api, *kind, *uid;
    const cJSON *req;

    if (!cJSON_IsObject(root)) {
        dc_err_set(eb, DC_EPARSE, "AdmissionReview is not a JSON object");
        return NULL;
    }
    api = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "apiVersion"));
    kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "kind"));
    if (!dc_str_eq(api, "admission.k8s.io/v1") && !dc_str_eq(api, "admission.k8s.io/v1beta1")) {
        dc_err_set(eb, DC_EPARSE, "unsupported AdmissionReview apiVersion %.64s",
                   api != NULL ? api : "(missing)");
        return NULL;
    }
    rv->api_version = api;
    if (!dc_str_eq(kind, "AdmissionReview")) {
        dc_err_set(eb, DC_EPARSE, "expected kind AdmissionReview, got %.64s",
                   kind != NULL ? kind : "(missing)");
        return NULL;
    }
    req = cJSON_GetObjectItemCaseSensitive(root, "request");
    if (!cJSON_IsObject(req)) {
        dc_err_set(eb, DC_EPARSE, "AdmissionReview has no request");
        return NULL;
    }
    uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "uid"));
    if (dc_str_empty(uid)) {
        dc_err_set(eb, DC_EPARSE, "AdmissionReview request has no uid");
        return NULL;
    }
    rv->uid = uid;
    return req;
}

static bool enabled_exactly_true(const cJSON *pod)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(anns, "dapr.io/enabled"));

    /* The handler wants "true" in any case; the patcher's truthy parsing comes after. */
    return v != NULL && strcasecmp(v, "true") == 0;
}

/* The request proper, once the envelope is valid: the response appended to `b`. */
static int handle_request(struct dc_buf *b, const cJSON *req, const struct review *rv,
                          const struct inj_config *cfg, bool mtls, struct inj_outcome *out)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(req, "kind");
    const cJSON *pod = cJSON_GetObjectItemCaseSensitive(req, "object");
    struct inj_warnings w = {0};
    struct inj_request ir = {0};
    struct dc_errbuf eb = {0};
    struct dc_arena arena;
    struct dc_buf ptext = {0};
    cJSON *patch = NULL;
    const char *app_id = NULL;
    int rc;

    if (!dc_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(kind, "kind")), "Pod")) {
        outcome_set(out, INJ_OUTCOME_UNCHANGED, "not a Pod");
        return respond(b, rv, true, NULL, NULL, NULL);
    }
    if (!cJSON_IsObject(pod)) {
        outcome_set(out, INJ_OUTCOME_MALFORMED, "AdmissionReview request has no Pod object");
        return respond(b, rv, false, out->reason, NULL, NULL);
    }
    if (!enabled_exactly_true(pod)) {
        outcome_set(out, INJ_OUTCOME_UNCHANGED, "dapr.io/enabled is not true");
        return respond(b, rv, true, NULL, NULL, NULL);
    }
    /* The app ID for the service's log and metrics, as upstream's getAppIDFromRequest. */
    app_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "metadata"),
                                         "annotations"),
        "dapr.io/app-id"));
    if (app_id != NULL)
        dc_strlcpy(out->app_id, app_id, sizeof(out->app_id));
    app_id = NULL;
    if (!inj_requester_authorized(cJSON_GetObjectItemCaseSensitive(req, "userInfo"), cfg)) {
        outcome_set(out, INJ_OUTCOME_UNAUTHORIZED, "service account is not authorized");
        return respond(b, rv, true, NULL, NULL, NULL);
    }
    ir.namespace = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "namespace"));
    ir.mtls_enabled = mtls;
    dc_arena_init(&arena);
    rc = inj_patch_pod(pod, cfg, &ir, &arena, &patch, &app_id, &w, &eb);
    if (app_id != NULL)
        dc_strlcpy(out->app_id, app_id, sizeof(out->app_id));
    if (rc != DC_OK) {
        outcome_set(out, INJ_OUTCOME_REJECTED, eb.msg);
        rc = respond(b, rv, false, eb.msg, NULL, &w);
    } else if (patch->child == NULL) {
        outcome_set(out, INJ_OUTCOME_UNCHANGED, "daprd already present");
        rc = respond(b, rv, true, NULL, NULL, &w);
    } else {
        /* The patch text only lives until it is base64-encoded into `b`. */
        rc = dc_buf_reserve(&ptext, INJ_PATCH_TEXT_HINT);
        if (rc == DC_OK)
            rc = inj__json_write(&ptext, patch);
        DC_ASSERT(rc == DC_OK); /* no limit on ptext; the patch holds only printable values */
        outcome_set(out, INJ_OUTCOME_PATCHED, NULL);
        rc = respond(b, rv, true, NULL, &ptext, &w);
    }
    dc_buf_cleanup(&ptext);
    inj__json_drop(patch);
    inj_warnings_cleanup(&w);
    dc_arena_cleanup(&arena);
    return rc;
}

/* The envelope of a parsed body, or NULL with the reason in `eb`. */
static const cJSON *parse_json(const cJSON *root, const char *body, size_t len, const char *end,
                               struct review *rv, struct dc_errbuf *eb)
{
    size_t i;

    if (root == NULL) {
        dc_err_set(eb, DC_EPARSE, "AdmissionReview is not valid JSON");
        return NULL;
    }
    for (i = end != NULL ? (size_t)(end - body) : len; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n') {
            dc_err_set(eb, DC_EPARSE, "trailing data after the AdmissionReview");
            return NULL;
        }
    }
    return parse_envelope(root, rv, eb);
}

static int respond_malformed(struct dc_buf *b, const struct review *rv, struct inj_outcome *out,
                             const struct dc_errbuf *eb)
{
    outcome_set(out, INJ_OUTCOME_MALFORMED, eb->msg);
    return respond(b, rv, false, eb->msg, NULL, NULL);
}

int inj_admission_respond(const char *body, size_t len, const struct inj_config *cfg,
                          bool mtls_enabled, struct dc_buf *resp, struct inj_outcome *out)
{
    struct review rv = {"admission.k8s.io/v1", ""};
    struct inj_outcome local;
    struct dc_errbuf eb = {0};
    struct dc_arena arena, *prev;
    const char *end = NULL;
    const cJSON *req;
    cJSON *root;
    int rc;

    if (out == NULL)
        out = &local;
    memset(out, 0, sizeof(*out));
    out->http_status = 200;
    outcome_set(out, INJ_OUTCOME_MALFORMED, NULL);
    /* One allocation for the usual answer (a patch of a few KB, base64-encoded). */
    if (resp->max == 0 || resp->max - resp->len >= INJ_RESPONSE_HINT) {
        rc = dc_buf_reserve(resp, INJ_RESPONSE_HINT);
        DC_ASSERT(rc == DC_OK); /* within the limit just checked */
    }
    if (body == NULL || len == 0) {
        out->http_status = 400;
        dc_err_set(&eb, DC_EINVAL, "empty AdmissionReview body");
    } else if (len > DC_MAX_ADMISSION_REVIEW) {
        out->http_status = 413;
        dc_err_set(&eb, DC_ETOOBIG, "AdmissionReview of %zu bytes exceeds the limit of %u bytes",
                   len, (unsigned)DC_MAX_ADMISSION_REVIEW);
    } else if (!dc_utf8_valid(body, len)) {
        dc_err_set(&eb, DC_EPARSE, "AdmissionReview is not valid UTF-8");
    } else if (json_depth(body, len) > DC_MAX_DOC_DEPTH) {
        dc_err_set(&eb, DC_ETOOBIG, "AdmissionReview nests deeper than %d levels",
                   DC_MAX_DOC_DEPTH);
    } else {
        /* The request tree and the patch tree live in `arena` (see inj_json_memory_init). */
        dc_arena_init(&arena);
        prev = inj__json_arena_swap(&arena);
        root = cJSON_ParseWithLengthOpts(body, len, &end, false);
        req = parse_json(root, body, len, end, &rv, &eb);
        if (req != NULL)
            rc = handle_request(resp, req, &rv, cfg, mtls_enabled, out);
        else
            rc = respond_malformed(resp, &rv, out, &eb);
        inj__json_drop(root);
        inj__json_arena_swap(prev);
        dc_arena_cleanup(&arena);
        return rc;
    }
    return respond_malformed(resp, &rv, out, &eb);
}

int inj_admission_handle(const char *body, size_t len, const struct inj_config *cfg,
                         bool mtls_enabled, char **resp_out, size_t *resp_len,
                         struct inj_outcome *out)
{
    struct dc_buf b = {0};
    int rc = inj_admission_respond(body, len, cfg, mtls_enabled, &b, out);

    DC_ASSERT(rc == DC_OK); /* `b` has no limit */
    *resp_out = dc_buf_take(&b, resp_len);
    return DC_OK;
}
