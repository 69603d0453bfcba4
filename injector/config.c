/* The injector's settings from its environment (control-plane.md §4.1). */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/buf.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "injector.h"

/* Requesters allowed by default (service/injector.go): the controllers that create pods. */
static const char *const builtin_service_accounts[] = {
    "kube-system:replicaset-controller",
    "kube-system:replication-controller",
    "kube-system:deployment-controller",
    "kube-system:cronjob-controller",
    "kube-system:job-controller",
    "kube-system:statefulset-controller",
    "kube-system:daemon-set-controller",
    "openshift-operator-lifecycle-manager:olm-operator-serviceaccount",
    "tekton-pipelines:tekton-pipelines-controller",
    "mirrord:mirrord-operator",
};

static void strlist_push(struct inj_strlist *l, const char *s, size_t n)
{
    l->v = dc_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = dc_xstrndup(s, n);
}

static void strlist_cleanup(struct inj_strlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Append the non-empty, space-trimmed items of the comma list `s`. */
static void strlist_push_csv(struct inj_strlist *l, const char *s)
{
    const char *p = s, *end, *a, *b;

    while (p != NULL && *p != '\0') {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        a = p;
        b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a)
            strlist_push(l, a, (size_t)(b - a));
        p = *end == ',' ? end + 1 : end;
    }
}

static const char *env_get(inj_getenv_fn *getenv_fn, const char *name)
{
    const char *v = getenv_fn != NULL ? getenv_fn(name) : getenv(name);

    return dc_str_empty(v) ? NULL : v;
}

static char *env_dup(inj_getenv_fn *getenv_fn, const char *name, const char *def)
{
    const char *v = env_get(getenv_fn, name);

    if (v == NULL)
        v = def;
    return v == NULL ? NULL : dc_xstrdup(v);
}

/* Upstream reads these as strings and applies utils.IsTruthy, an empty value keeping the
 * default. */
static bool env_bool(inj_getenv_fn *getenv_fn, const char *name, bool def)
{
    const char *v = env_get(getenv_fn, name);

    return v == NULL ? def : dc_str_truthy(v);
}

static int env_id(inj_getenv_fn *getenv_fn, const char *name, bool *has, int64_t *out,
                  struct dc_errbuf *eb)
{
    const char *v = env_get(getenv_fn, name);

    *has = false;
    if (v == NULL)
        return DC_OK;
    if (dc_str_to_i64(v, 0, INT32_MAX, out) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "%s: not a user/group id: %.64s", name, v);
    *has = true;
    return DC_OK;
}

static char *xprintf(const char *fmt, ...) DC_PRINTF(1, 2);
static char *xprintf(const char *fmt, ...)
{
    struct dc_buf b = {0};
    va_list ap;
    int rv;

    va_start(ap, fmt);
    rv = dc_buf_vappendf(&b, fmt, ap);
    va_end(ap);
    DC_ASSERT(rv == DC_OK);
    return dc_buf_take(&b, NULL);
}

/* SIDECAR_IMAGE_PULL_POLICY: unknown values fall back to IfNotPresent (service/config.go). */
static char *pull_policy(inj_getenv_fn *getenv_fn)
{
    const char *v = env_get(getenv_fn, "SIDECAR_IMAGE_PULL_POLICY");

    if (v == NULL)
        return dc_xstrdup("Always");
    if (strcmp(v, "Always") == 0 || strcmp(v, "Never") == 0 || strcmp(v, "IfNotPresent") == 0)
        return dc_xstrdup(v);
    return dc_xstrdup("IfNotPresent");
}

static int parse_tolerations(struct inj_config *cfg, inj_getenv_fn *getenv_fn, struct dc_errbuf *eb)
{
    const char *v = env_get(getenv_fn, "IGNORE_ENTRYPOINT_TOLERATIONS");
    const cJSON *t;

    if (v == NULL)
        return DC_OK;
    cfg->ignore_entrypoint_tolerations = cJSON_Parse(v);
    if (!cJSON_IsArray(cfg->ignore_entrypoint_tolerations))
        return dc_err_set(eb, DC_EINVAL, "IGNORE_ENTRYPOINT_TOLERATIONS: not a JSON array");
    cJSON_ArrayForEach(t, cfg->ignore_entrypoint_tolerations)
    {
        if (!cJSON_IsObject(t))
            return dc_err_set(eb, DC_EINVAL,
                              "IGNORE_ENTRYPOINT_TOLERATIONS: items must be objects");
    }
    return DC_OK;
}

int inj_config_from_env(struct inj_config *cfg, inj_getenv_fn *getenv_fn, struct dc_errbuf *eb)
{
    size_t i;
    int rv;

    memset(cfg, 0, sizeof(*cfg));
    cfg->sidecar_image = env_dup(getenv_fn, "SIDECAR_IMAGE", NULL);
    cfg->image_pull_policy = pull_policy(getenv_fn);
    cfg->namespace = env_dup(getenv_fn, "NAMESPACE", NULL);
    cfg->cluster_domain = env_dup(getenv_fn, "KUBE_CLUSTER_DOMAIN", "cluster.local");
    for (i = 0; i < sizeof(builtin_service_accounts) / sizeof(builtin_service_accounts[0]); i++)
        strlist_push(&cfg->allowed_service_accounts, builtin_service_accounts[i],
                     strlen(builtin_service_accounts[i]));
    strlist_push_csv(&cfg->allowed_service_accounts,
                     env_get(getenv_fn, "ALLOWED_SERVICE_ACCOUNTS"));
    /* Deprecated "ns*:prefix*" entries: the '*' suffixes already are glob syntax. */
    strlist_push_csv(&cfg->allowed_service_accounts,
                     env_get(getenv_fn, "ALLOWED_SERVICE_ACCOUNTS_PREFIX_NAMES"));
    cfg->actors_enabled = env_bool(getenv_fn, "ACTORS_ENABLED", true);
    cfg->actors_service_name = env_dup(getenv_fn, "ACTORS_SERVICE_NAME", "placement");
    cfg->actors_service_address =
        env_dup(getenv_fn, "ACTORS_SERVICE_ADDRESS", "dapr-placement-server:50005");
    cfg->reminders_service_name = env_dup(getenv_fn, "REMINDERS_SERVICE_NAME", NULL);
    cfg->reminders_service_address = env_dup(getenv_fn, "REMINDERS_SERVICE_ADDRESS", NULL);
    cfg->run_as_non_root = env_bool(getenv_fn, "SIDECAR_RUN_AS_NON_ROOT", true);
    cfg->read_only_root_filesystem = env_bool(getenv_fn, "SIDECAR_READ_ONLY_ROOT_FILESYSTEM", true);
    cfg->enable_k8s_downward_apis = env_bool(getenv_fn, "ENABLE_K8S_DOWNWARD_APIS", false);
    cfg->drop_all_capabilities = env_bool(getenv_fn, "SIDECAR_DROP_ALL_CAPABILITIES", false);
    cfg->native_sidecar_enabled = env_bool(getenv_fn, "NATIVE_SIDECAR_ENABLED", false);
    cfg->trust_anchors_file = env_dup(getenv_fn, "DAPR_TRUST_ANCHORS_FILE", NULL);
    cfg->control_plane_trust_domain =
        env_dup(getenv_fn, "DAPR_CONTROL_PLANE_TRUST_DOMAIN", "cluster.local");
    cfg->components_sockets_folder =
        env_dup(getenv_fn, "DAPR_COMPONENT_SOCKETS_FOLDER", "/tmp/dapr-components-sockets");
    cfg->scheduler_enabled = true;

    if (cfg->sidecar_image == NULL)
        return dc_err_set(eb, DC_EINVAL, "SIDECAR_IMAGE is required");
    if (cfg->namespace == NULL)
        return dc_err_set(eb, DC_EINVAL, "NAMESPACE is required");
    cfg->sentry_address = env_dup(getenv_fn, "DAPR_SENTRY_ADDRESS", NULL);
    if (cfg->sentry_address == NULL)
        cfg->sentry_address =
            xprintf("dapr-sentry.%s.svc.%s:443", cfg->namespace, cfg->cluster_domain);
    cfg->control_plane_address =
        xprintf("dapr-api.%s.svc.%s:443", cfg->namespace, cfg->cluster_domain);
    rv = env_id(getenv_fn, "SIDECAR_RUN_AS_USER", &cfg->has_run_as_user, &cfg->run_as_user, eb);
    if (rv != DC_OK)
        return rv;
    rv = env_id(getenv_fn, "SIDECAR_RUN_AS_GROUP", &cfg->has_run_as_group, &cfg->run_as_group, eb);
    if (rv != DC_OK)
        return rv;
    if (cfg->reminders_service_name != NULL && cfg->reminders_service_address == NULL)
        return dc_err_set(eb, DC_EINVAL, "REMINDERS_SERVICE_NAME needs REMINDERS_SERVICE_ADDRESS");
    return parse_tolerations(cfg, getenv_fn, eb);
}

void inj_config_cleanup(struct inj_config *cfg)
{
    char **strs[] = {
        &cfg->sidecar_image,
        &cfg->image_pull_policy,
        &cfg->namespace,
        &cfg->cluster_domain,
        &cfg->actors_service_name,
        &cfg->actors_service_address,
        &cfg->reminders_service_name,
        &cfg->reminders_service_address,
        &cfg->trust_anchors_file,
        &cfg->trust_anchors,
        &cfg->control_plane_trust_domain,
        &cfg->sentry_address,
        &cfg->control_plane_address,
        &cfg->components_sockets_folder,
    };
    size_t i;

    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    strlist_cleanup(&cfg->allowed_service_accounts);
    strlist_cleanup(&cfg->allowed_uids);
    cJSON_Delete(cfg->ignore_entrypoint_tolerations);
    cfg->ignore_entrypoint_tolerations = NULL;
}

void inj_config_set_trust_anchors(struct inj_config *cfg, const char *pem)
{
    free(cfg->trust_anchors);
    cfg->trust_anchors = dc_xstrdup(pem);
}

int inj_config_load_trust_anchors(struct inj_config *cfg, struct dc_errbuf *eb)
{
    struct dc_buf b;
    char chunk[4096];
    size_t n;
    FILE *f;
    int rv = DC_OK;

    if (dc_str_empty(cfg->trust_anchors_file))
        return dc_err_set(eb, DC_EINVAL, "DAPR_TRUST_ANCHORS_FILE is not set");
    f = fopen(cfg->trust_anchors_file, "rb");
    if (f == NULL)
        return dc_err_set(eb, DC_EIO, "%s: %s", cfg->trust_anchors_file, strerror(errno));
    dc_buf_init(&b, DC_MAX_INJ_TRUST_ANCHORS);
    rv = dc_buf_appends(&b, "");
    while (rv == DC_OK) {
        n = fread(chunk, 1, sizeof(chunk), f);
        if (n == 0)
            break;
        rv = dc_buf_append(&b, chunk, n);
    }
    if (rv == DC_OK && ferror(f))
        rv = DC_EIO;
    fclose(f);
    if (rv != DC_OK) {
        dc_buf_cleanup(&b);
        return dc_err_set(eb, rv, "%s: %s", cfg->trust_anchors_file,
                          rv == DC_ETOOBIG ? "trust anchors file too big" : "read error");
    }
    free(cfg->trust_anchors);
    cfg->trust_anchors = dc_buf_take(&b, NULL);
    return DC_OK;
}

int inj_cluster_domain_from_resolv(const char *text, char *out, size_t n)
{
    const char *line = text, *eol, *p, *w;
    size_t wl;

    while (line != NULL && *line != '\0') {
        eol = strchr(line, '\n');
        if (eol == NULL)
            eol = line + strlen(line);
        if (strncmp(line, "search", 6) == 0 && (line[6] == ' ' || line[6] == '\t')) {
            for (p = line + 6; p < eol;) {
                while (p < eol && isspace((unsigned char)*p))
                    p++;
                w = p;
                while (p < eol && !isspace((unsigned char)*p))
                    p++;
                wl = (size_t)(p - w);
                if (wl > 4 && strncmp(w, "svc.", 4) == 0) {
                    if (n > 0) {
                        wl -= 4;
                        if (wl >= n)
                            wl = n - 1;
                        memcpy(out, w + 4, wl);
                        out[wl] = '\0';
                    }
                    return DC_OK;
                }
            }
        }
        line = *eol == '\n' ? eol + 1 : eol;
    }
    return DC_ENOTFOUND;
}
