/* The validators' decisions (pkg/sentry/server/validator/..., server.go, config.go) as pure
 * functions over plain data. The Kubernetes API calls stay in the service's adapter. */

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dc/json.h"
#include "dc/limits.h"
#include "dc/str.h"
#include "internal.h"
#include "sentry.h"

int snt_validator_select(enum snt_validator requested, unsigned enabled,
                         enum snt_validator default_v, enum snt_validator *out,
                         struct dc_errbuf *eb)
{
    enum snt_validator v = requested != SNT_VALIDATOR_UNKNOWN ? requested : default_v;

    if (v == SNT_VALIDATOR_UNKNOWN)
        return dc_err_set(eb, DC_EINVAL, "a validator name must be specified in this environment");
    if ((unsigned)v > SNT_VALIDATOR_JWKS || (enabled & SNT_VALIDATOR_BIT(v)) == 0)
        return dc_err_set(eb, DC_EINVAL, "the requested validator is not enabled");
    *out = v;
    return DC_OK;
}

int snt_validators_configure(bool kubernetes_mode, const char *const *configured,
                             size_t n_configured, unsigned *enabled, enum snt_validator *default_v,
                             struct dc_errbuf *eb)
{
    unsigned mask = 0;
    size_t i;

    for (i = 0; i < n_configured; i++) {
        /* config.go: only jwks may be configured; kubernetes and insecure are implicit. */
        if (dc_str_eq(configured[i], "jwks"))
            mask |= SNT_VALIDATOR_BIT(SNT_VALIDATOR_JWKS);
        else
            return dc_err_set(eb, DC_EINVAL, "invalid token validator name: '%s'",
                              configured[i] != NULL ? configured[i] : "");
    }
    if (kubernetes_mode) {
        mask |= SNT_VALIDATOR_BIT(SNT_VALIDATOR_KUBERNETES);
        *default_v = SNT_VALIDATOR_KUBERNETES;
    } else if (n_configured == 0) {
        mask |= SNT_VALIDATOR_BIT(SNT_VALIDATOR_INSECURE);
        *default_v = SNT_VALIDATOR_INSECURE;
    } else {
        *default_v = SNT_VALIDATOR_UNKNOWN;
    }
    *enabled = mask;
    return DC_OK;
}

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

/* Append one line of an errors.Join-style message. */
static void add_reason(char *msg, size_t cap, const char *reason)
{
    size_t len = strlen(msg);

    if (len > 0 && len + 1 < cap)
        msg[len++] = '\n';
    dc_strlcpy(msg + len, reason, cap - len);
}

static int set_trust_domain(struct snt_validation *res, const char *td, struct dc_errbuf *eb)
{
    int rv = dc_spiffe_td_check(td, strlen(td), eb);

    if (rv != DC_OK) {
        dc_err_wrapf(eb, "trust domain \"%.64s\" is invalid", td);
        return DC_EPERM;
    }
    dc_strlcpy(res->trust_domain, td, sizeof(res->trust_domain));
    return DC_OK;
}

int snt_validate_common(const struct snt_request *req, struct snt_validation *res,
                        struct dc_errbuf *eb)
{
    const char *id = nz(req->id);
    char msg[DC_ERRBUF_LEN] = "";
    char line[160];

    memset(res, 0, sizeof(*res));
    /* internal/common.go, every failure joined as errors.Join does (one per line). */
    if (*id == '\0') {
        add_reason(msg, sizeof(msg), "parameter app-id cannot be empty");
    } else if (strchr(id, '.') != NULL) {
        snprintf(line, sizeof(line), "invalid app id(input: %.64s): can not contain dots", id);
        add_reason(msg, sizeof(msg), line);
    }
    if (strlen(id) > 64)
        add_reason(msg, sizeof(msg), "app ID must be 64 characters or less");
    if (req->csr_len == 0)
        add_reason(msg, sizeof(msg), "CSR is required");
    if (*nz(req->ns) == '\0')
        add_reason(msg, sizeof(msg), "namespace is required");
    if (msg[0] != '\0')
        return dc_err_set(eb, DC_EPERM, "invalid request: %s", msg);
    return set_trust_domain(
        res, *nz(req->trust_domain) != '\0' ? req->trust_domain : SNT_PUBLIC_TRUST_DOMAIN, eb);
}

int snt_validate_insecure(const struct snt_request *req, struct snt_validation *res,
                          struct dc_errbuf *eb)
{
    return snt_validate_common(req, res, eb);
}

/* ---- kubernetes -------------------------------------------------------------------------- */

/* Decode the payload (second part) of a compact JWT into a cJSON object. */
static int jwt_payload(const char *token, cJSON **out, struct dc_errbuf *eb)
{
    const char *dot1, *dot2;
    unsigned char *raw = NULL;
    size_t raw_len, len;
    int rv;

    len = strnlen(token, DC_MAX_SNT_TOKEN + 1);
    if (len > DC_MAX_SNT_TOKEN)
        return dc_err_set(eb, DC_ETOOBIG, "token larger than %u bytes", DC_MAX_SNT_TOKEN);
    dot1 = memchr(token, '.', len);
    dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL)
        return dc_err_set(eb, DC_EPARSE, "invalid JWT: not three parts");
    rv = snt__b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), DC_MAX_SNT_TOKEN, &raw, &raw_len);
    if (rv != DC_OK)
        return dc_err_set(eb, DC_EPARSE, "invalid JWT: payload is not base64url");
    rv = dc_json_parse((const char *)raw, raw_len, DC_MAX_SNT_TOKEN, out, eb);
    free(raw);
    if (rv == DC_OK && !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        rv = dc_err_set(eb, DC_EPARSE, "invalid JWT: payload is not an object");
    }
    return rv;
}

int snt_k8s_token_pod_name(const char *token, char *out, size_t cap, struct dc_errbuf *eb)
{
    const cJSON *name;
    cJSON *claims;
    int rv;

    rv = jwt_payload(nz(token), &claims, eb);
    if (rv != DC_OK)
        return rv;
    name = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(claims, "kubernetes.io"),
                                         "pod"),
        "name");
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0')
        rv = dc_err_set(eb, DC_ENOTFOUND,
                        "kubernetes.io/pod/name claim is missing from Kubernetes token");
    else if (dc_strlcpy(out, name->valuestring, cap) >= cap)
        rv = dc_err_set(eb, DC_ETOOBIG, "pod name too long");
    cJSON_Delete(claims);
    return rv;
}

static bool control_plane_service(const char *s)
{
    static const char *const known[] = {"operator", "placement", "injector", "sentry", "scheduler"};
    size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(s, known[i]) == 0)
            return true;
    return false;
}

/* The expected id for the pod (kubernetes.go expectedID); `*cp` tells a control-plane pod. */
static int expected_id(const struct snt_k8s_opts *o, const struct snt_k8s_facts *f, char *out,
                       size_t cap, bool *cp, struct dc_errbuf *eb)
{
    *cp = f->ann_control_plane != NULL;
    if (*cp) {
        if (!dc_str_eq(f->pod_ns, o->control_plane_ns))
            return dc_err_set(eb, DC_EPERM,
                              "control plane service in namespace '%.64s' is not allowed",
                              nz(f->pod_ns));
        /* Upstream names the pod, not the annotation value, in this message. */
        if (!control_plane_service(f->ann_control_plane))
            return dc_err_set(eb, DC_EPERM, "unknown control plane service '%.64s'",
                              nz(f->pod_name));
        if (f->ann_app_id != NULL)
            return dc_err_set(eb, DC_EPERM,
                              "control plane service '%.64s' cannot have annotation "
                              "'dapr.io/app-id'",
                              nz(f->pod_name));
        snprintf(out, cap, "dapr-%s", f->ann_control_plane);
        return DC_OK;
    }
    dc_strlcpy(out, f->ann_app_id != NULL ? f->ann_app_id : nz(f->pod_name), cap);
    return DC_OK;
}

/* TokenReview outcome and the username's parts: system:serviceaccount:<ns>:<sa>. */
static int check_review(const struct snt_k8s_facts *f, char *sa_ns, char *sa, size_t cap,
                        struct dc_errbuf *eb)
{
    const char *u = nz(f->username), *p[4];
    size_t n = 1;

    if (f->review_failed)
        return dc_err_set(eb, DC_EPERM, "token review failed: %s", nz(f->review_error));
    if (*nz(f->review_error) != '\0')
        return dc_err_set(eb, DC_EPERM, "invalid token: %s", f->review_error);
    if (!f->authenticated)
        return dc_err_set(eb, DC_EPERM, "authentication failed");
    p[0] = u;
    for (; *u != '\0'; u++) {
        if (*u != ':')
            continue;
        if (n == 4) {
            n = 5;
            break;
        }
        p[n++] = u + 1;
    }
    if (n != 4 || strncmp(p[0], "system:", 7) != 0)
        return dc_err_set(eb, DC_EPERM,
                          "provided token is not a properly structured service account token");
    if ((size_t)(p[3] - 1 - p[2]) >= cap || strlen(p[3]) >= cap)
        return dc_err_set(eb, DC_EPERM, "service account name too long");
    memcpy(sa_ns, p[2], (size_t)(p[3] - 1 - p[2]));
    sa_ns[p[3] - 1 - p[2]] = '\0';
    dc_strlcpy(sa, p[3], cap);
    return DC_OK;
}

/* The trust domain of an app from its Configuration (default "public"). */
static int app_trust_domain(const struct snt_k8s_facts *f, struct snt_validation *res,
                            struct dc_errbuf *eb)
{
    int rv;

    if (f->ann_config == NULL)
        return set_trust_domain(res, SNT_PUBLIC_TRUST_DOMAIN, eb);
    if (!f->config_found)
        return dc_err_set(eb, DC_EPERM, "failed to get configuration");
    if (dc_str_empty(f->config_trust_domain))
        return set_trust_domain(res, SNT_PUBLIC_TRUST_DOMAIN, eb);
    rv = set_trust_domain(res, f->config_trust_domain, eb);
    if (rv != DC_OK)
        return rv;
    res->audiences = f->config_audiences;
    res->n_audiences = f->n_config_audiences;
    return DC_OK;
}

int snt_validate_kubernetes(const struct snt_request *req, const struct snt_k8s_opts *opts,
                            const struct snt_k8s_facts *facts, struct snt_validation *res,
                            struct dc_errbuf *eb)
{
    char sa_ns[256], sa[256], claim[256], exp_id[300];
    struct snt_request common = *req;
    bool cp;
    int rv;

    if (!facts->ready)
        return dc_err_set(eb, DC_EPERM, "validator not ready");
    /* The request's trust_domain field is ignored by this validator. */
    common.trust_domain = NULL;
    rv = snt_validate_common(&common, res, eb);
    if (rv != DC_OK)
        return rv;
    rv = check_review(facts, sa_ns, sa, sizeof(sa), eb);
    if (rv != DC_OK)
        return rv;
    rv = snt_k8s_token_pod_name(req->token, claim, sizeof(claim), eb);
    if (rv == DC_EPARSE || rv == DC_ETOOBIG)
        dc_err_wrapf(eb, "failed to parse Kubernetes token");
    if (rv != DC_OK)
        return DC_EPERM;
    if (!facts->pod_found || !dc_str_eq(facts->pod_name, claim) || !dc_str_eq(facts->pod_ns, sa_ns))
        return dc_err_set(eb, DC_EPERM, "failed to get pod of identity");
    if (strcmp(sa_ns, nz(req->ns)) != 0)
        return dc_err_set(eb, DC_EPERM, "namespace mismatch; received namespace: %.64s",
                          nz(req->ns));
    if (!dc_str_eq(facts->pod_service_account, sa))
        return dc_err_set(eb, DC_EPERM, "pod service account mismatch");
    rv = expected_id(opts, facts, exp_id, sizeof(exp_id), &cp, eb);
    if (rv != DC_OK)
        return rv;
    if (strcmp(exp_id, nz(req->id)) != 0)
        return dc_err_set(eb, DC_EPERM, "app-id mismatch. expected: %.64s, received: %.64s", exp_id,
                          nz(req->id));
    memset(res, 0, sizeof(*res));
    if (cp)
        return set_trust_domain(res, nz(opts->control_plane_td), eb);
    return app_trust_domain(facts, res, eb);
}
