/* sentry's Kubernetes adapter: trust bundle objects, Configuration, validator facts (kube.h). */
#include "kube.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dc/grpc.h"
#include "dc/mem.h"
#include "dc/str.h"

static const struct dc_k8s_resource res_secret = {"", "v1", "secrets", true};
static const struct dc_k8s_resource res_configmap = {"", "v1", "configmaps", true};
static const struct dc_k8s_resource res_pod = {"", "v1", "pods", true};
static const struct dc_k8s_resource res_config = {"dapr.io", "v1alpha1", "configurations", true};

static void wipe_free(char *p)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, strlen(p));
        free(p);
    }
}

void snt__kube_bundle_cleanup(struct snt__kube_bundle *b)
{
    wipe_free(b->ca);
    wipe_free(b->cert);
    wipe_free(b->key);
    memset(b, 0, sizeof(*b));
}

static const cJSON *obj_data(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "data"), key);
}

/* Secret data values are base64; NULL when absent or empty. */
static int secret_value(const cJSON *secret, const char *key, char **out, struct dc_errbuf *eb)
{
    const char *v = cJSON_GetStringValue(obj_data(secret, key));
    size_t n;

    *out = NULL;
    if (dc_str_empty(v))
        return DC_OK;
    *out = (char *)dc_grpc_b64_decode(v, strlen(v), &n);
    if (*out == NULL)
        return dc_err_set(eb, DC_EPARSE, "secret %s: %s: bad base64", SNT_TRUST_BUNDLE_NAME, key);
    if (n == 0) {
        free(*out);
        *out = NULL;
    }
    return DC_OK;
}

int snt__kube_bundle_read(struct dc_k8s_client *c, const char *ns, const char *const keys[3],
                          struct snt__kube_bundle *out, struct dc_errbuf *eb)
{
    cJSON *secret = NULL, *cm = NULL;
    const char *cm_ca;
    int rv;

    memset(out, 0, sizeof(*out));
    rv = dc_k8s_get(c, &res_secret, ns, SNT_TRUST_BUNDLE_NAME, &secret, eb);
    if (rv == DC_ENOTFOUND)
        return DC_OK;
    if (rv != DC_OK)
        return rv;
    rv = secret_value(secret, keys[0], &out->ca, eb);
    if (rv == DC_OK)
        rv = secret_value(secret, keys[1], &out->cert, eb);
    if (rv == DC_OK)
        rv = secret_value(secret, keys[2], &out->key, eb);
    if (rv != DC_OK)
        goto cleanup;
    rv = dc_k8s_get(c, &res_configmap, ns, SNT_TRUST_BUNDLE_NAME, &cm, eb);
    if (rv == DC_ENOTFOUND)
        rv = DC_OK;
    if (rv != DC_OK)
        goto cleanup;
    cm_ca = cJSON_GetStringValue(obj_data(cm, keys[0]));
    /* kube.go: the ConfigMap must carry the same ca.crt, else the bundle counts as absent. */
    out->present = out->ca != NULL && out->cert != NULL && out->key != NULL && cm_ca != NULL &&
                   strcmp(cm_ca, out->ca) == 0;
cleanup:
    cJSON_Delete(secret);
    cJSON_Delete(cm);
    if (rv != DC_OK)
        snt__kube_bundle_cleanup(out);
    return rv;
}

static cJSON *new_object(const char *kind, const char *ns)
{
    cJSON *o = cJSON_CreateObject(), *md;

    if (o == NULL)
        abort();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", kind);
    md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", SNT_TRUST_BUNDLE_NAME);
    cJSON_AddStringToObject(md, "namespace", ns);
    return o;
}

/* Set data[key] = v (base64 for a Secret), replacing an earlier value. */
static void set_value(cJSON *data, const char *key, const char *v, bool b64)
{
    cJSON *item;
    size_t n;
    char *b;

    if (!b64) {
        item = cJSON_CreateString(v);
    } else {
        b = dc_grpc_b64_encode(v, strlen(v), &n);
        if (b == NULL)
            abort();
        item = cJSON_CreateString(b);
        OPENSSL_cleanse(b, n);
        free(b);
    }
    if (item == NULL)
        abort();
    if (cJSON_HasObjectItem(data, key))
        cJSON_ReplaceItemInObjectCaseSensitive(data, key, item);
    else
        cJSON_AddItemToObject(data, key, item);
}

void snt__kube_bundle_set_data(cJSON *obj, const char *const keys[3], const char *ca,
                               const char *cert, const char *key)
{
    cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
    bool secret = key != NULL;

    if (!cJSON_IsObject(data)) {
        /* absent, or null as a Go client writes an empty map */
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "data");
        data = cJSON_AddObjectToObject(obj, "data");
        if (data == NULL)
            abort();
    }
    set_value(data, keys[0], ca, secret);
    if (secret) {
        set_value(data, keys[1], cert, true);
        set_value(data, keys[2], key, true);
    }
}

/* Read-modify-write of the data of one object (or create it). The PUT carries the
 * resourceVersion read, so a concurrent writer makes it fail with DC_ECONFLICT. */
static int upsert(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *kind,
                  const char *ns, const char *const keys[3], const char *ca, const char *cert,
                  const char *key, struct dc_errbuf *eb)
{
    cJSON *obj = NULL;
    int rv;

    rv = dc_k8s_get(c, res, ns, SNT_TRUST_BUNDLE_NAME, &obj, eb);
    if (rv != DC_OK && rv != DC_ENOTFOUND)
        return rv;
    if (rv == DC_ENOTFOUND)
        obj = new_object(kind, ns);
    /* kube.go store: only our keys change; the others (jwt.key, jwks.json, a user's) stay. */
    snt__kube_bundle_set_data(obj, keys, ca, cert, key);
    if (rv == DC_ENOTFOUND)
        rv = dc_k8s_create(c, res, ns, obj, NULL, eb);
    else
        rv = dc_k8s_update(c, res, ns, SNT_TRUST_BUNDLE_NAME, obj, NULL, eb);
    if (rv != DC_OK)
        dc_err_wrapf(eb, "%s %s/%s", kind, ns, SNT_TRUST_BUNDLE_NAME);
    cJSON_Delete(obj);
    return rv;
}

int snt__kube_bundle_write(struct dc_k8s_client *c, const char *ns, const char *const keys[3],
                           const char *ca, const char *cert, const char *key, struct dc_errbuf *eb)
{
    int rv = upsert(c, &res_secret, "Secret", ns, keys, ca, cert, key, eb);

    if (rv == DC_OK)
        rv = upsert(c, &res_configmap, "ConfigMap", ns, keys, ca, NULL, NULL, eb);
    return rv;
}

int snt__kube_config_get(struct dc_k8s_client *c, const char *ns, const char *name, cJSON **out,
                         struct dc_errbuf *eb)
{
    return dc_k8s_get(c, &res_config, ns, name, out, eb);
}

/* ---- validator facts -------------------------------------------------------------------- */

static const char *ann(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
                                         "annotations"),
        key));
}

void snt__kube_status_message(const char *msg, char *out, size_t cap)
{
    const char *colon = strstr(msg, ": "), *tail;
    size_t len = strlen(msg);

    tail = len >= 6 && msg[len - 1] == ')' ? strstr(msg, " (HTTP ") : NULL;
    if (colon == NULL || tail == NULL || tail < colon || memchr(msg, ' ', (size_t)(colon - msg))) {
        dc_strlcpy(out, msg, cap);
        return;
    }
    while (strstr(tail + 1, " (HTTP ") != NULL) /* the last one is the suffix */
        tail = strstr(tail + 1, " (HTTP ");
    len = (size_t)(tail - (colon + 2));
    if (len >= cap)
        len = cap - 1;
    memcpy(out, colon + 2, len);
    out[len] = '\0';
}

static void token_review(struct dc_k8s_client *c, const struct snt_request *req,
                         const char *sentry_id, struct snt__kube_lookup *l)
{
    cJSON *body = cJSON_CreateObject(), *spec, *auds, *st, *user;
    struct dc_errbuf eb = {0};
    char *text;
    int rv;

    if (body == NULL)
        abort();
    cJSON_AddStringToObject(body, "apiVersion", "authentication.k8s.io/v1");
    cJSON_AddStringToObject(body, "kind", "TokenReview");
    spec = cJSON_AddObjectToObject(body, "spec");
    cJSON_AddStringToObject(spec, "token", req->token != NULL ? req->token : "");
    auds = cJSON_AddArrayToObject(spec, "audiences");
    cJSON_AddItemToArray(auds, cJSON_CreateString(SNT_K8S_LEGACY_AUDIENCE));
    cJSON_AddItemToArray(auds, cJSON_CreateString(sentry_id));
    text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (text == NULL)
        abort();
    rv = dc_k8s_request(c, "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                        "application/json", text, strlen(text), NULL, &l->review, NULL, &eb);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (rv != DC_OK) {
        char msg[sizeof(eb.msg)];

        /* Go's StatusError prints the Status message alone: "token review failed: <message>". */
        snt__kube_status_message(eb.msg, msg, sizeof(msg));
        l->facts.review_failed = true;
        l->review = cJSON_CreateString(msg); /* keeps the message alive */
        l->facts.review_error = cJSON_GetStringValue(l->review);
        return;
    }
    st = cJSON_GetObjectItemCaseSensitive(l->review, "status");
    user = cJSON_GetObjectItemCaseSensitive(st, "user");
    l->facts.review_error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "error"));
    l->facts.authenticated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "authenticated"));
    l->facts.username = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(user, "username"));
}

/* The namespace part of a username "system:<kind>:<ns>:<sa>", split as the decision does
 * (exactly four parts, the first "system"), so that the pod is looked up wherever the
 * decision would look for it. */
bool snt__kube_sa_namespace(const char *user, char *out, size_t cap)
{
    const char *p, *e;

    if (user == NULL || strncmp(user, "system:", 7) != 0)
        return false;
    p = strchr(user + 7, ':'); /* after <kind> */
    if (p == NULL)
        return false;
    p++;
    e = strchr(p, ':');
    if (e == NULL || e == p || strchr(e + 1, ':') != NULL || (size_t)(e - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

static void pod_facts(struct dc_k8s_client *c, const struct snt_request *req,
                      struct snt__kube_lookup *l)
{
    struct snt_k8s_facts *f = &l->facts;
    const cJSON *aud, *it;
    char pod[256], ns[256];

    if (!f->authenticated || !snt__kube_sa_namespace(f->username, ns, sizeof(ns)) ||
        snt_k8s_token_pod_name(req->token, pod, sizeof(pod), NULL) != DC_OK)
        return;
    if (dc_k8s_get(c, &res_pod, ns, pod, &l->pod, NULL) != DC_OK)
        return;
    f->pod_found = true;
    f->pod_name = dc_k8s_obj_name(l->pod);
    f->pod_ns = dc_k8s_obj_namespace(l->pod);
    f->pod_service_account = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(l->pod, "spec"), "serviceAccountName"));
    f->ann_control_plane = ann(l->pod, "dapr.io/control-plane");
    f->ann_app_id = ann(l->pod, "dapr.io/app-id");
    f->ann_config = ann(l->pod, "dapr.io/config");
    if (dc_str_empty(f->ann_config) ||
        dc_k8s_get(c, &res_config, req->ns, f->ann_config, &l->conf, NULL) != DC_OK)
        return;
    f->config_found = true;
    aud = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(l->conf, "spec"),
                                         "accessControl"),
        "trustDomain");
    f->config_trust_domain = cJSON_GetStringValue(aud);
    aud = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(l->conf, "spec"),
                                         "accessControl"),
        "audiences");
    cJSON_ArrayForEach(it, aud)
    {
        if (cJSON_IsString(it) && f->n_config_audiences < 32)
            l->audiences[f->n_config_audiences++] = it->valuestring;
    }
    f->config_audiences = l->audiences;
}

void snt__kube_lookup(struct dc_k8s_client *c, const struct snt_request *req, const char *sentry_id,
                      struct snt__kube_lookup *out)
{
    struct snt_request common = *req;
    struct snt_validation v;

    memset(out, 0, sizeof(*out));
    out->facts.ready = true; /* direct reads, no informer cache to wait for */
    /* A request the common checks refuse costs the API server nothing; the decision reports
     * it. An empty token is reviewed like any other, as upstream does (a real API server
     * answers 400 "token is required for TokenReview in authentication"). */
    common.trust_domain = NULL;
    if (snt_validate_common(&common, &v, NULL) != DC_OK)
        return;
    token_review(c, req, sentry_id, out);
    if (!out->facts.review_failed)
        pod_facts(c, req, out);
}

void snt__kube_lookup_cleanup(struct snt__kube_lookup *l)
{
    cJSON_Delete(l->review);
    cJSON_Delete(l->pod);
    cJSON_Delete(l->conf);
    memset(l, 0, sizeof(*l));
}
