/* The JSON Patch (RFC 6902) that injects daprd, in upstream's operation order
 * (control-plane.md §4.6, patcher/sidecar_patcher.go). Only "add" operations are produced, and
 * each one targets a path that exists once the operations before it have been applied. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/str.h"
#include "injector.h"
#include "internal.h"

static void op_add(cJSON *patch, const char *path, cJSON *value)
{
    cJSON *op = cJSON_CreateObject();

    cJSON_AddStringToObject(op, "op", "add");
    cJSON_AddStringToObject(op, "path", path);
    cJSON_AddItemToObject(op, "value", value);
    cJSON_AddItemToArray(patch, op);
}

static const char *item_name(const cJSON *o)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name"));
}

static bool has_named(const cJSON *arr, const char *name)
{
    const cJSON *o;

    cJSON_ArrayForEach(o, arr)
    {
        if (dc_str_eq(item_name(o), name))
            return true;
    }
    return false;
}

/* A container named daprd in containers or initContainers: already injected (re-invocation)
 * or provided by the user. */
static bool pod_has_daprd(const cJSON *spec)
{
    return has_named(cJSON_GetObjectItemCaseSensitive(spec, "containers"), INJ_SIDECAR_NAME) ||
           has_named(cJSON_GetObjectItemCaseSensitive(spec, "initContainers"), INJ_SIDECAR_NAME);
}

/* True when `name` is in the comma list dapr.io/pluggable-components. */
static bool is_component(const struct inj_sidecar *sc, const char *name)
{
    const char *p = sc->pluggable_components, *end, *b, *e;

    if (p == NULL || name == NULL)
        return false;
    while (*p != '\0') {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        for (b = p; b < end && *b == ' '; b++)
            ;
        for (e = end; e > b && e[-1] == ' '; e--)
            ;
        if ((size_t)(e - b) == strlen(name) && strncmp(b, name, (size_t)(e - b)) == 0)
            return true;
        p = *end == ',' ? end + 1 : end;
    }
    return false;
}

static cJSON *token_volume(const struct inj_config *cfg)
{
    cJSON *v = cJSON_CreateObject();
    cJSON *proj, *src, *tok;
    size_t n = strlen(cfg->control_plane_trust_domain) + strlen(cfg->namespace) + 40;
    char *aud = malloc(n);

    DC_ASSERT(aud != NULL);
    /* The audience is Sentry's SPIFFE ID (§4.5). */
    snprintf(aud, n, "spiffe://%s/ns/%s/dapr-sentry", cfg->control_plane_trust_domain,
             cfg->namespace);
    cJSON_AddStringToObject(v, "name", INJ_TOKEN_VOLUME);
    proj = cJSON_AddObjectToObject(v, "projected");
    src = cJSON_AddArrayToObject(proj, "sources");
    tok = cJSON_CreateObject();
    cJSON_AddItemToArray(src, tok);
    tok = cJSON_AddObjectToObject(tok, "serviceAccountToken");
    cJSON_AddStringToObject(tok, "audience", aud);
    cJSON_AddNumberToObject(tok, "expirationSeconds", 7200);
    cJSON_AddStringToObject(tok, "path", "token");
    cJSON_AddNumberToObject(proj, "defaultMode", 420);
    free(aud);
    return v;
}

static cJSON *empty_dir_volume(const char *name, bool memory)
{
    cJSON *v = cJSON_CreateObject();
    cJSON *ed;

    cJSON_AddStringToObject(v, "name", name);
    ed = cJSON_AddObjectToObject(v, "emptyDir");
    if (memory)
        cJSON_AddStringToObject(ed, "medium", "Memory");
    return v;
}

/* Step 3: the whole list when the pod has no volumes, else one op per volume whose name is free.
 * `*have_volumes` tracks whether /spec/volumes exists after the ops so far. */
static void volume_ops(cJSON *patch, const cJSON *spec, cJSON *volumes, bool *have_volumes)
{
    const cJSON *podvols = cJSON_GetObjectItemCaseSensitive(spec, "volumes");
    cJSON *v;

    if (cJSON_GetArraySize(volumes) == 0) {
        cJSON_Delete(volumes);
        return;
    }
    if (!*have_volumes) {
        op_add(patch, "/spec/volumes", volumes);
        *have_volumes = true;
        return;
    }
    while ((v = cJSON_DetachItemFromArray(volumes, 0)) != NULL) {
        if (has_named(podvols, item_name(v)))
            cJSON_Delete(v);
        else
            op_add(patch, "/spec/volumes/-", v);
    }
    cJSON_Delete(volumes);
}

/* GetEnvPatchOperations: the whole list when the container has no env, else "/-" per variable
 * the container does not define already (user values win). */
static void env_ops(cJSON *patch, const cJSON *ctr, int idx, const cJSON *vars)
{
    const cJSON *env = inj__nonempty_array(ctr, "env");
    const cJSON *v;
    char path[64];

    if (env == NULL) {
        snprintf(path, sizeof(path), "/spec/containers/%d/env", idx);
        op_add(patch, path, cJSON_Duplicate(vars, true));
        return;
    }
    snprintf(path, sizeof(path), "/spec/containers/%d/env/-", idx);
    cJSON_ArrayForEach(v, vars)
    {
        if (!has_named(env, item_name(v)))
            op_add(patch, path, cJSON_Duplicate(v, true));
    }
}

/* GetVolumeMountPatchOperations: skip a mount whose name or path the container already uses. */
static void mount_ops(cJSON *patch, const cJSON *ctr, int idx, const cJSON *mount,
                      struct inj_warnings *w)
{
    const cJSON *mounts = inj__nonempty_array(ctr, "volumeMounts");
    const cJSON *m;
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(mount, "mountPath"));
    char p[64];
    cJSON *arr;

    if (mounts == NULL) {
        snprintf(p, sizeof(p), "/spec/containers/%d/volumeMounts", idx);
        arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, cJSON_Duplicate(mount, true));
        op_add(patch, p, arr);
        return;
    }
    cJSON_ArrayForEach(m, mounts)
    {
        if (dc_str_eq(item_name(m), item_name(mount)) ||
            dc_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "mountPath")),
                      path)) {
            inj_warnf(w, "container %.40s already mounts %.40s or %.40s; mount skipped",
                      item_name(ctr) != NULL ? item_name(ctr) : "?", item_name(mount), path);
            return;
        }
    }
    snprintf(p, sizeof(p), "/spec/containers/%d/volumeMounts/-", idx);
    op_add(patch, p, cJSON_Duplicate(mount, true));
}

static cJSON *app_env_vars(const struct inj_sidecar *sc)
{
    cJSON *vars = cJSON_CreateArray();
    cJSON *e;
    char num[16];
    const char *proto = sc->app_protocol;

    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "DAPR_HTTP_PORT");
    snprintf(num, sizeof(num), "%d", INJ_HTTP_PORT);
    cJSON_AddStringToObject(e, "value", num);
    cJSON_AddItemToArray(vars, e);
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "DAPR_GRPC_PORT");
    snprintf(num, sizeof(num), "%lld", (long long)sc->grpc_port);
    cJSON_AddStringToObject(e, "value", num);
    cJSON_AddItemToArray(vars, e);
    /* --app-ssl upgrades the protocol the app sees (GetAppProtocol). */
    if (sc->app_ssl && strcmp(proto, "http") == 0)
        proto = "https";
    else if (sc->app_ssl && strcmp(proto, "grpc") == 0)
        proto = "grpcs";
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "APP_PROTOCOL");
    cJSON_AddStringToObject(e, "value", proto);
    cJSON_AddItemToArray(vars, e);
    return vars;
}

/* Steps 7-9: env and mounts of the app containers, then the pluggable components. */
static void container_ops(cJSON *patch, const cJSON *spec, const struct inj_sidecar *sc,
                          bool *have_volumes, struct inj_warnings *w)
{
    const cJSON *ctrs = cJSON_GetObjectItemCaseSensitive(spec, "containers");
    const cJSON *c;
    cJSON *vars, *mount = NULL, *cvars, *vols;
    int i;

    /* Step 1 replaced anything that is not an array of containers with []. */
    if (!cJSON_IsArray(ctrs))
        ctrs = NULL;
    vars = app_env_vars(sc);

    i = 0;
    cJSON_ArrayForEach(c, ctrs)
    {
        if (cJSON_IsObject(c) && !is_component(sc, item_name(c)))
            env_ops(patch, c, i, vars);
        i++;
    }
    if (sc->unix_domain_socket_path != NULL) {
        mount = inj__mount(INJ_UDS_VOLUME, sc->unix_domain_socket_path, false);
        i = 0;
        cJSON_ArrayForEach(c, ctrs)
        {
            if (cJSON_IsObject(c) && !is_component(sc, item_name(c)))
                mount_ops(patch, c, i, mount, w);
            i++;
        }
        cJSON_Delete(mount);
    }
    cJSON_Delete(vars);
    if (sc->pluggable_components == NULL)
        return;
    vols = cJSON_CreateArray();
    cJSON_AddItemToArray(vols, empty_dir_volume(INJ_COMPONENTS_VOLUME, false));
    volume_ops(patch, spec, vols, have_volumes);
    mount = inj__mount(INJ_COMPONENTS_VOLUME, sc->pluggable_components_sockets_folder, false);
    cvars = cJSON_CreateArray();
    cJSON_AddItemToArray(cvars, cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetArrayItem(cvars, 0), "name", INJ_COMPONENTS_ENV);
    cJSON_AddStringToObject(cJSON_GetArrayItem(cvars, 0), "value",
                            sc->pluggable_components_sockets_folder);
    i = 0;
    cJSON_ArrayForEach(c, ctrs)
    {
        if (cJSON_IsObject(c) && is_component(sc, item_name(c))) {
            env_ops(patch, c, i, cvars);
            mount_ops(patch, c, i, mount, w);
        }
        i++;
    }
    cJSON_Delete(cvars);
    cJSON_Delete(mount);
}

static bool pod_has_component(const cJSON *spec, const struct inj_sidecar *sc)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "containers"))
    {
        if (is_component(sc, item_name(c)))
            return true;
    }
    return false;
}

static void build_patch(cJSON *patch, const cJSON *pod, const struct inj_sidecar *sc,
                        const struct inj_config *cfg, const struct inj_request *req,
                        struct inj_warnings *w)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
    cJSON *mounts = inj__annotation_mounts(sc, pod, w);
    cJSON *volumes = cJSON_CreateArray();
    cJSON *container;
    bool have_volumes = inj__nonempty_array(spec, "volumes") != NULL;
    bool components = sc->pluggable_components != NULL && pod_has_component(spec, sc);
    struct inj_sidecar scc = *sc;

    if (!components)
        scc.pluggable_components = NULL;
    if (sc->unix_domain_socket_path != NULL) {
        cJSON_AddItemToArray(volumes, empty_dir_volume(INJ_UDS_VOLUME, true));
        cJSON_AddItemToArray(mounts, inj__mount(INJ_UDS_VOLUME, INJ_UDS_DAPRD_PATH, false));
    }
    if (!cfg->disable_token_volume) {
        cJSON_AddItemToArray(volumes, token_volume(cfg));
        cJSON_AddItemToArray(mounts, inj__mount(INJ_TOKEN_VOLUME, INJ_TOKEN_MOUNT_PATH, true));
    }
    container =
        inj_sidecar_container(&scc, pod, cfg, req, mounts,
                              components ? sc->pluggable_components_sockets_folder : NULL, w);

    /* A pod always has metadata and spec; add them only so every later path resolves. */
    if (!cJSON_IsObject(meta))
        op_add(patch, "/metadata", cJSON_CreateObject());
    if (!cJSON_IsObject(spec))
        op_add(patch, "/spec", cJSON_CreateObject());
    if (inj__nonempty_array(spec, "containers") == NULL)
        op_add(patch, "/spec/containers", cJSON_CreateArray());
    if (!cJSON_IsObject(labels) || labels->child == NULL)
        op_add(patch, "/metadata/labels", cJSON_CreateObject());
    volume_ops(patch, spec, volumes, &have_volumes);
    if (sc->enable_native_sidecar && inj__nonempty_array(spec, "initContainers") == NULL)
        op_add(patch, "/spec/initContainers", cJSON_CreateArray());
    op_add(patch, sc->enable_native_sidecar ? "/spec/initContainers/-" : "/spec/containers/-",
           container);
    op_add(patch, "/metadata/labels/dapr.io~1sidecar-injected", cJSON_CreateString("true"));
    op_add(patch, "/metadata/labels/dapr.io~1app-id", cJSON_CreateString(sc->app_id));
    op_add(patch, "/metadata/labels/dapr.io~1metrics-enabled",
           cJSON_CreateString(sc->enable_metrics ? "true" : "false"));
    container_ops(patch, spec, &scc, &have_volumes, w);
}

int inj_patch_pod(const cJSON *pod, const struct inj_config *cfg, const struct inj_request *req,
                  struct dc_arena *arena, cJSON **patch_out, const char **app_id_out,
                  struct inj_warnings *w, struct dc_errbuf *eb)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
    struct inj_sidecar sc;
    struct inj_request r = {0};
    int rv;

    *patch_out = NULL;
    if (app_id_out != NULL)
        *app_id_out = NULL;
    if (!cJSON_IsObject(pod))
        return dc_err_set(eb, DC_EINVAL, "pod is not a JSON object");
    /* Decide first, so pods that are left alone produce no warnings. */
    if (!inj_truthy(
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(anns, "dapr.io/enabled"))) ||
        pod_has_daprd(cJSON_GetObjectItemCaseSensitive(pod, "spec"))) {
        *patch_out = cJSON_CreateArray();
        return DC_OK;
    }
    rv = inj_sidecar_from_pod(&sc, pod, cfg, arena, w, eb);
    if (rv != DC_OK)
        return rv;
    if (app_id_out != NULL)
        *app_id_out = sc.app_id;
    rv = inj_validate_app_id(sc.app_id, eb);
    if (rv != DC_OK)
        return rv;
    if (req != NULL)
        r = *req;
    if (dc_str_empty(r.namespace))
        r.namespace = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
    if (dc_str_empty(r.namespace))
        r.namespace = "default";
    *patch_out = cJSON_CreateArray();
    build_patch(*patch_out, pod, &sc, cfg, &r, w);
    return DC_OK;
}
