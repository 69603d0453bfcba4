/* The injected daprd container (control-plane.md §4.4) and its volume mounts (§4.5).
 *
 * Every value reaches daprd as its own argv element of `args` (or an env value): nothing goes
 * through a shell, so quotes, `$(...)` or newlines in an annotation are data, not syntax. */

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/buf.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "injector.h"
#include "internal.h"

/* ---- syntax checks ---- */

bool inj_quantity_valid(const char *s, double *value)
{
    static const struct {
        const char *sfx;
        double mul;
    } sfx[] = {
        {"Ki", 1024.0},
        {"Mi", 1048576.0},
        {"Gi", 1073741824.0},
        {"Ti", 1099511627776.0},
        {"Pi", 1125899906842624.0},
        {"Ei", 1152921504606846976.0},
        {"n", 1e-9},
        {"u", 1e-6},
        {"m", 1e-3},
        {"k", 1e3},
        {"M", 1e6},
        {"G", 1e9},
        {"T", 1e12},
        {"P", 1e15},
        {"E", 1e18},
    };
    const char *p = s, *num, *q;
    char buf[64];
    size_t digits = 0, i, n;
    double mul = 1.0, v;
    int64_t exp10;

    if (s == NULL || strlen(s) >= sizeof(buf))
        return false;
    /* Negative quantities parse but resources reject them: accept '+' only. */
    if (*p == '+')
        p++;
    num = p;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    n = (size_t)(p - num);
    if ((*p == 'e' || *p == 'E') && p[1] != '\0') {
        /* Decimal exponent: "1e3", "5E-2" (a lone "E" is the exa suffix below). */
        q = p + 1;
        if (*q == '+' || *q == '-')
            q++;
        if (*q == '\0' || strspn(q, "0123456789") != strlen(q) ||
            dc_str_to_i64(p + 1, -30, 30, &exp10) != DC_OK)
            return false;
        mul = pow(10.0, (double)exp10);
    } else if (*p != '\0') {
        for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
            if (strcmp(p, sfx[i].sfx) == 0)
                break;
        if (i == sizeof(sfx) / sizeof(sfx[0]))
            return false;
        mul = sfx[i].mul;
    }
    memcpy(buf, num, n);
    buf[n] = '\0';
    v = strtod(buf, NULL) * mul;
    if (value != NULL)
        *value = v;
    return true;
}

/* time.ParseDuration units; "µs" in both of Go's spellings (U+00B5, U+03BC). */
static size_t duration_unit(const char *p)
{
    static const char *const units[] = {"ns", "us", "\xc2\xb5s", "\xce\xbcs", "ms", "s", "m", "h"};
    size_t i, n;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        n = strlen(units[i]);
        if (strncmp(p, units[i], n) == 0 && !isalpha((unsigned char)p[n]))
            return n;
    }
    return 0;
}

bool inj_duration_valid(const char *s)
{
    const char *p = s;
    size_t digits, u;

    if (s == NULL || strlen(s) > 64)
        return false;
    if (*p == '+' || *p == '-')
        p++;
    if (strcmp(p, "0") == 0)
        return true;
    if (*p == '\0')
        return false;
    while (*p != '\0') {
        digits = 0;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) {
                p++;
                digits++;
            }
        }
        u = digits > 0 ? duration_unit(p) : 0;
        if (u == 0)
            return false;
        p += u;
    }
    return true;
}

/* DNS-1123 subdomain: Secret names. */
static bool dns_subdomain_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
              s[i] == '.'))
            return false;
    return true;
}

/* Secret data keys: [-._a-zA-Z0-9]+. */
static bool secret_key_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 253)
        return false;
    for (i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.' || s[i] == '_'))
            return false;
    return true;
}

static bool env_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* ---- small JSON builders ---- */

cJSON *inj__mount(const char *name, const char *path, bool ro)
{
    cJSON *m = cJSON_CreateObject();

    cJSON_AddStringToObject(m, "name", name);
    if (ro)
        cJSON_AddTrueToObject(m, "readOnly");
    cJSON_AddStringToObject(m, "mountPath", path);
    return m;
}

const cJSON *inj__nonempty_array(const cJSON *obj, const char *key)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0 ? a : NULL;
}

static void add_arg(cJSON *args, const char *s)
{
    cJSON_AddItemToArray(args, cJSON_CreateString(s));
}

static void add_arg2(cJSON *args, const char *flag, const char *value)
{
    add_arg(args, flag);
    add_arg(args, value);
}

/* `v` in decimal ("%lld" without printf), built backwards at the end of `num`. */
static const char *i64_text(char num[24], int64_t v)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = num + 23;

    *p = '\0';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    return p;
}

static void add_argi(cJSON *args, const char *flag, int64_t v)
{
    char num[24];

    add_arg2(args, flag, i64_text(num, v));
}

static void add_port(cJSON *ports, const char *name, int64_t port)
{
    cJSON *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddNumberToObject(p, "containerPort", (double)port);
    cJSON_AddItemToArray(ports, p);
}

static cJSON *env_value(const char *name, const char *value)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "value", value);
    return e;
}

static cJSON *env_field(const char *name, const char *field)
{
    cJSON *e = cJSON_CreateObject();
    cJSON *ref;

    cJSON_AddStringToObject(e, "name", name);
    ref = cJSON_AddObjectToObject(cJSON_AddObjectToObject(e, "valueFrom"), "fieldRef");
    cJSON_AddStringToObject(ref, "fieldPath", field);
    return e;
}

static cJSON *env_secret(const char *name, const char *secret, const char *key)
{
    cJSON *e = cJSON_CreateObject();
    cJSON *ref;

    cJSON_AddStringToObject(e, "name", name);
    ref = cJSON_AddObjectToObject(cJSON_AddObjectToObject(e, "valueFrom"), "secretKeyRef");
    cJSON_AddStringToObject(ref, "name", secret);
    cJSON_AddStringToObject(ref, "key", key);
    return e;
}

/* ---- args ---- */

/* "host:port" of an actors service becomes "host.<ns>.svc.<domain>:port" (patcher/services.go). */
static char *service_address(const char *addr, const struct inj_config *cfg)
{
    const char *colon = strrchr(addr, ':');
    size_t hl = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
    const char *port = colon != NULL ? colon + 1 : "50005";
    size_t n = hl + strlen(cfg->namespace) + strlen(cfg->cluster_domain) + strlen(port) + 16;
    char *out = dc_xmalloc(n);

    snprintf(out, n, "%.*s.%s.svc.%s:%s", (int)hl, addr, cfg->namespace, cfg->cluster_domain, port);
    return out;
}

static void add_actor_args(cJSON *args, const struct inj_sidecar *sc, const struct inj_config *cfg)
{
    char *s;
    size_t n;

    /* The annotation wins, and is kept even when actors are disabled globally. */
    if (sc->placement_address != NULL) {
        add_arg2(args, "--placement-host-address", sc->placement_address);
    } else if (cfg->actors_enabled && dc_str_eq(cfg->actors_service_name, "placement")) {
        s = service_address(cfg->actors_service_address, cfg);
        add_arg2(args, "--placement-host-address", s);
        free(s);
    } else if (cfg->actors_enabled) {
        n = strlen(cfg->actors_service_name) + strlen(cfg->actors_service_address) + 2;
        s = dc_xmalloc(n);
        snprintf(s, n, "%s:%s", cfg->actors_service_name, cfg->actors_service_address);
        add_arg2(args, "--actors-service", s);
        free(s);
    }
    if (cfg->reminders_service_name != NULL) {
        n = strlen(cfg->reminders_service_name) + strlen(cfg->reminders_service_address) + 2;
        s = dc_xmalloc(n);
        snprintf(s, n, "%s:%s", cfg->reminders_service_name, cfg->reminders_service_address);
        add_arg2(args, "--reminders-service", s);
        free(s);
    }
    if (sc->scheduler_address != NULL) {
        add_arg2(args, "--scheduler-host-address", sc->scheduler_address);
    } else if (cfg->scheduler_enabled) {
        n = strlen(cfg->namespace) + strlen(cfg->cluster_domain) + 48;
        s = dc_xmalloc(n);
        snprintf(s, n, "dapr-scheduler-server-a.%s.svc.%s:443", cfg->namespace,
                 cfg->cluster_domain);
        add_arg2(args, "--scheduler-host-address", s);
        free(s);
    }
}

static void add_optional_args(cJSON *args, const struct inj_sidecar *sc, bool mtls)
{
    if (sc->sentry_request_jwt_audiences != NULL)
        add_arg2(args, "--sentry-request-jwt-audiences", sc->sentry_request_jwt_audiences);
    /* Passed even when false: without the flag daprd uses the Configuration's default. */
    if (sc->enable_api_logging >= 0)
        add_arg(args, sc->enable_api_logging ? "--enable-api-logging=true"
                                             : "--enable-api-logging=false");
    if (sc->disable_builtin_k8s_secret_store)
        add_arg(args, "--disable-builtin-k8s-secret-store");
    if (sc->enable_app_health_check) {
        add_arg(args, "--enable-app-health-check");
        add_arg2(args, "--app-health-check-path", sc->app_health_check_path);
        add_argi(args, "--app-health-probe-interval", sc->app_health_probe_interval);
        add_argi(args, "--app-health-probe-timeout", sc->app_health_probe_timeout);
        add_argi(args, "--app-health-threshold", sc->app_health_threshold);
    }
    if (sc->log_as_json)
        add_arg(args, "--log-as-json");
    if (sc->enable_profiling)
        add_arg(args, "--enable-profiling");
    if (mtls)
        add_arg(args, "--enable-mtls");
    if (sc->app_ssl)
        add_arg(args, "--app-ssl");
    if (sc->has_app_max_concurrency)
        add_argi(args, "--app-max-concurrency", sc->app_max_concurrency);
    if (sc->has_http_max_request_size)
        add_argi(args, "--dapr-http-max-request-size", sc->http_max_request_size);
    if (sc->max_body_size != NULL)
        add_arg2(args, "--max-body-size", sc->max_body_size);
    if (sc->has_http_read_buffer_size)
        add_argi(args, "--dapr-http-read-buffer-size", sc->http_read_buffer_size);
    if (sc->read_buffer_size != NULL)
        add_arg2(args, "--read-buffer-size", sc->read_buffer_size);
    if (sc->unix_domain_socket_path != NULL)
        add_arg2(args, "--unix-domain-socket", INJ_UDS_DAPRD_PATH);
    if (sc->block_shutdown_duration != NULL)
        add_arg2(args, "--dapr-block-shutdown-duration", sc->block_shutdown_duration);
    if (sc->app_binding_options_timeout != NULL)
        add_arg2(args, "--app-binding-options-timeout", sc->app_binding_options_timeout);
    if (sc->actors_disseminate_timeout != NULL)
        add_arg2(args, "--actors-disseminate-timeout", sc->actors_disseminate_timeout);
    if (sc->disable_init_endpoints != NULL)
        add_arg2(args, "--disable-init-endpoints", sc->disable_init_endpoints);
}

/* daprd's flags in upstream's order (§4.4), without the leading command. */
static cJSON *daprd_args(const struct inj_sidecar *sc, const struct inj_config *cfg, bool mtls)
{
    cJSON *args = cJSON_CreateArray();

    add_argi(args, "--dapr-http-port", INJ_HTTP_PORT);
    add_argi(args, "--dapr-grpc-port", sc->grpc_port);
    add_argi(args, "--dapr-internal-grpc-port", sc->internal_grpc_port);
    add_arg2(args, "--dapr-listen-addresses", sc->listen_addresses);
    add_argi(args, "--dapr-public-port", INJ_PUBLIC_PORT);
    add_arg2(args, "--app-id", sc->app_id);
    add_arg2(args, "--app-protocol", sc->app_protocol);
    add_arg2(args, "--log-level", sc->log_level);
    add_argi(args, "--dapr-graceful-shutdown-seconds", sc->graceful_shutdown_seconds);
    add_arg2(args, "--mode", "kubernetes");
    add_arg2(args, "--control-plane-address", cfg->control_plane_address);
    add_arg2(args, "--sentry-address", cfg->sentry_address);
    if (sc->app_port > 0)
        add_argi(args, "--app-port", sc->app_port);
    if (sc->enable_metrics) {
        add_arg(args, "--enable-metrics");
        add_argi(args, "--metrics-port", sc->metrics_port);
    }
    if (sc->config != NULL)
        add_arg2(args, "--config", sc->config);
    if (sc->app_channel_address != NULL)
        add_arg2(args, "--app-channel-address", sc->app_channel_address);
    add_actor_args(args, sc, cfg);
    add_optional_args(args, sc, mtls);
    return args;
}

/* ---- env ---- */

/* Split points of dapr.io/env: commas followed by optional space and "NAME=" (upstream's
 * `(,)\s*[a-zA-Z_][a-zA-Z0-9_]*=`), so values may contain other commas. */
static bool env_split_at(const char *p)
{
    if (*p != ',')
        return false;
    p++;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f')
        p++;
    if (!(isalpha((unsigned char)*p) || *p == '_'))
        return false;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    return *p == '=';
}

static const char *trim_span(const char *b, const char **e)
{
    while (b < *e && isspace((unsigned char)*b))
        b++;
    while (*e > b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
    return b;
}

/* Add one "K=V" item of dapr.io/env (from_secret false) or dapr.io/env-from-secret. */
static void env_item(cJSON *env, cJSON *keys, const char *b, const char *e, bool from_secret,
                     struct inj_warnings *w)
{
    const char *eq, *colon, *vb, *ve;
    char *name, *val, *sec, *key;

    b = trim_span(b, &e);
    if (b == e)
        return;
    eq = memchr(b, '=', (size_t)(e - b));
    /* Upstream needs exactly one '=' (strings.Split gives two parts). */
    if (eq == NULL || memchr(eq + 1, '=', (size_t)(e - eq - 1)) != NULL ||
        !env_name_ok(b, (size_t)(eq - b))) {
        inj_warnf(w, "annotation dapr.io/%s: item %.40s is not NAME=value; ignored",
                  from_secret ? "env-from-secret" : "env", b);
        return;
    }
    name = dc_xstrndup(b, (size_t)(eq - b));
    if (!from_secret) {
        val = dc_xstrndup(eq + 1, (size_t)(e - eq - 1));
        cJSON_AddItemToArray(env, env_value(name, val));
        cJSON_AddItemToArray(keys, cJSON_CreateString(name));
        free(val);
        free(name);
        return;
    }
    vb = eq + 1;
    ve = e;
    vb = trim_span(vb, &ve);
    colon = memchr(vb, ':', (size_t)(ve - vb));
    if (colon != NULL) {
        const char *sb = vb, *se = colon, *kb = colon + 1, *ke = ve;
        sb = trim_span(sb, &se);
        kb = trim_span(kb, &ke);
        sec = dc_xstrndup(sb, (size_t)(se - sb));
        key = dc_xstrndup(kb, (size_t)(ke - kb));
    } else {
        sec = dc_xstrndup(vb, (size_t)(ve - vb));
        key = dc_xstrdup(sec);
    }
    if (dns_subdomain_ok(sec) && secret_key_ok(key)) {
        cJSON_AddItemToArray(env, env_secret(name, sec, key));
        cJSON_AddItemToArray(keys, cJSON_CreateString(name));
    } else {
        inj_warnf(w, "annotation dapr.io/env-from-secret: %.40s: bad secret reference; ignored",
                  name);
    }
    free(sec);
    free(key);
    free(name);
}

static void parse_env(cJSON *env, cJSON *keys, const char *s, bool from_secret,
                      struct inj_warnings *w)
{
    const char *b = s, *p;

    if (s == NULL)
        return;
    for (p = s; *p != '\0'; p++) {
        if (env_split_at(p)) {
            env_item(env, keys, b, p, from_secret, w);
            b = p + 1;
        }
    }
    env_item(env, keys, b, p, from_secret, w);
}

static bool env_has(const cJSON *env, const char *name)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, env)
    {
        if (dc_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name")), name))
            return true;
    }
    return false;
}

static cJSON *daprd_env(const struct inj_sidecar *sc, const struct inj_config *cfg,
                        const struct inj_request *req, const char *components_folder,
                        struct inj_warnings *w)
{
    cJSON *env = cJSON_CreateArray();
    cJSON *keys = cJSON_CreateArray();
    cJSON *k;
    struct dc_buf kb = {0};

    cJSON_AddItemToArray(env, env_value("NAMESPACE", req->namespace));
    cJSON_AddItemToArray(
        env, env_value("DAPR_TRUST_ANCHORS", cfg->trust_anchors != NULL ? cfg->trust_anchors : ""));
    cJSON_AddItemToArray(env, env_field("POD_NAME", "metadata.name"));
    cJSON_AddItemToArray(env, env_value("DAPR_CONTROLPLANE_NAMESPACE", cfg->namespace));
    cJSON_AddItemToArray(
        env, env_value("DAPR_CONTROLPLANE_TRUST_DOMAIN", cfg->control_plane_trust_domain));
    if (cfg->enable_k8s_downward_apis)
        cJSON_AddItemToArray(env, env_field("DAPR_HOST_IP", "status.podIP"));
    parse_env(env, keys, sc->env, false, w);
    parse_env(env, keys, sc->env_from_secret, true, w);
    if (cJSON_GetArraySize(keys) > 0) {
        cJSON_ArrayForEach(k, keys)
        {
            if (dc_buf_appendf(&kb, "%s%s", kb.len > 0 ? " " : "", k->valuestring) != DC_OK)
                DC_ASSERT(0);
        }
        cJSON_AddItemToArray(env, env_value("DAPR_ENV_KEYS", dc_buf_cstr(&kb)));
        dc_buf_cleanup(&kb);
    }
    cJSON_Delete(keys);
    if (components_folder != NULL)
        cJSON_AddItemToArray(env, env_value(INJ_COMPONENTS_ENV, components_folder));
    if (sc->api_token_secret != NULL && dns_subdomain_ok(sc->api_token_secret))
        cJSON_AddItemToArray(env, env_secret("DAPR_API_TOKEN", sc->api_token_secret, "token"));
    else if (sc->api_token_secret != NULL)
        inj_warnf(w, "annotation dapr.io/api-token-secret: %.40s is not a Secret name; ignored",
                  sc->api_token_secret);
    if (sc->app_token_secret != NULL && dns_subdomain_ok(sc->app_token_secret))
        cJSON_AddItemToArray(env, env_secret("APP_API_TOKEN", sc->app_token_secret, "token"));
    else if (sc->app_token_secret != NULL)
        inj_warnf(w, "annotation dapr.io/app-token-secret: %.40s is not a Secret name; ignored",
                  sc->app_token_secret);
    return env;
}

/* ---- mounts ---- */

static bool volume_declared(const cJSON *pod, const char *name)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    const cJSON *v;

    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(spec, "volumes"))
    {
        if (dc_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "name")), name))
            return true;
    }
    return false;
}

static bool mount_path_taken(const cJSON *mounts, const char *path)
{
    const cJSON *m;

    if (strcmp(path, INJ_TOKEN_MOUNT_PATH) == 0 || strcmp(path, INJ_UDS_DAPRD_PATH) == 0)
        return true;
    cJSON_ArrayForEach(m, mounts)
    {
        if (dc_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "mountPath")), path))
            return true;
    }
    return false;
}

/* "vol:path,vol2:path2" (annotations.go ParseVolumeMountsString). */
static void parse_mounts(cJSON *mounts, const char *s, bool ro, const cJSON *pod,
                         struct inj_warnings *w)
{
    const char *p = s, *end, *colon, *nb, *ne, *pb, *pe;
    char *name, *path;

    while (p != NULL && *p != '\0') {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        colon = memchr(p, ':', (size_t)(end - p));
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)) == NULL) {
            nb = p;
            ne = colon;
            pb = colon + 1;
            pe = end;
            nb = trim_span(nb, &ne);
            pb = trim_span(pb, &pe);
            name = dc_xstrndup(nb, (size_t)(ne - nb));
            path = dc_xstrndup(pb, (size_t)(pe - pb));
            if (!volume_declared(pod, name))
                inj_warnf(w, "volume %.40s is not present in the pod; mount skipped", name);
            else if (!inj__mount_path_ok(path) || mount_path_taken(mounts, path))
                inj_warnf(w, "volume %.40s: mount path %.40s is not usable; mount skipped", name,
                          path);
            else
                cJSON_AddItemToArray(mounts, inj__mount(name, path, ro));
            free(name);
            free(path);
        } else if (end > p) {
            inj_warnf(w,
                      "annotation dapr.io/volume-mounts%s: item %.*s is not volume:path; "
                      "ignored",
                      ro ? "" : "-rw", (int)((end - p) > 40 ? 40 : (end - p)), p);
        }
        p = *end == ',' ? end + 1 : end;
    }
}

cJSON *inj__annotation_mounts(const struct inj_sidecar *sc, const cJSON *pod,
                              struct inj_warnings *w)
{
    cJSON *mounts = cJSON_CreateArray();

    parse_mounts(mounts, sc->volume_mounts, true, pod, w);
    parse_mounts(mounts, sc->volume_mounts_rw, false, pod, w);
    return mounts;
}

/* ---- the container ---- */

static bool field_eq(const cJSON *a, const cJSON *b, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, key);
    const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, key);
    const char *xs = cJSON_GetStringValue(x), *ys = cJSON_GetStringValue(y);

    if (cJSON_IsNumber(x) || cJSON_IsNumber(y))
        return cJSON_IsNumber(x) && cJSON_IsNumber(y) && x->valuedouble == y->valuedouble;
    return strcmp(xs != NULL ? xs : "", ys != NULL ? ys : "") == 0;
}

/* True when the pod carries one of IGNORE_ENTRYPOINT_TOLERATIONS (all fields equal). */
static bool pod_has_toleration(const cJSON *pod, const struct inj_config *cfg)
{
    static const char *const fields[] = {"key", "operator", "value", "effect", "tolerationSeconds"};
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    const cJSON *want, *have;
    size_t i;

    cJSON_ArrayForEach(want, cfg->ignore_entrypoint_tolerations)
    {
        cJSON_ArrayForEach(have, cJSON_GetObjectItemCaseSensitive(spec, "tolerations"))
        {
            for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                if (!field_eq(want, have, fields[i]))
                    break;
            if (i == sizeof(fields) / sizeof(fields[0]))
                return true;
        }
    }
    return false;
}

static cJSON *probe(const struct inj_probe *p, bool http)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *h;

    if (http) {
        h = cJSON_AddObjectToObject(o, "httpGet");
        cJSON_AddStringToObject(h, "path", "/v1.0/healthz");
    } else {
        h = cJSON_AddObjectToObject(o, "tcpSocket");
    }
    cJSON_AddNumberToObject(h, "port", INJ_PUBLIC_PORT);
    cJSON_AddNumberToObject(o, "initialDelaySeconds", (double)p->delay);
    cJSON_AddNumberToObject(o, "timeoutSeconds", (double)p->timeout);
    cJSON_AddNumberToObject(o, "periodSeconds", (double)p->period);
    cJSON_AddNumberToObject(o, "failureThreshold", (double)p->threshold);
    return o;
}

static cJSON *resources(const struct inj_sidecar *sc)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *l, *q;

    if (sc->cpu_limit != NULL || sc->memory_limit != NULL) {
        l = cJSON_AddObjectToObject(r, "limits");
        if (sc->cpu_limit != NULL)
            cJSON_AddStringToObject(l, "cpu", sc->cpu_limit);
        if (sc->memory_limit != NULL)
            cJSON_AddStringToObject(l, "memory", sc->memory_limit);
    }
    if (sc->cpu_request != NULL || sc->memory_request != NULL) {
        q = cJSON_AddObjectToObject(r, "requests");
        if (sc->cpu_request != NULL)
            cJSON_AddStringToObject(q, "cpu", sc->cpu_request);
        if (sc->memory_request != NULL)
            cJSON_AddStringToObject(q, "memory", sc->memory_request);
    }
    return r;
}

static cJSON *security_context(const struct inj_sidecar *sc, const struct inj_config *cfg,
                               bool windows_admin)
{
    cJSON *s = cJSON_CreateObject();
    cJSON *o;

    if (cfg->drop_all_capabilities) {
        o = cJSON_AddObjectToObject(s, "capabilities");
        cJSON_AddItemToObject(o, "drop", cJSON_CreateArray());
        cJSON_AddItemToArray(cJSON_GetObjectItem(o, "drop"), cJSON_CreateString("ALL"));
    }
    /* SSL_CERT_DIR means a Windows container that installs certificates: it must run as
     * ContainerAdministrator, which rules out the Linux hardening below. */
    if (windows_admin) {
        o = cJSON_AddObjectToObject(s, "windowsOptions");
        cJSON_AddStringToObject(o, "runAsUserName", "ContainerAdministrator");
    } else {
        if (cfg->has_run_as_user)
            cJSON_AddNumberToObject(s, "runAsUser", (double)cfg->run_as_user);
        if (cfg->has_run_as_group)
            cJSON_AddNumberToObject(s, "runAsGroup", (double)cfg->run_as_group);
    }
    cJSON_AddBoolToObject(s, "runAsNonRoot", cfg->run_as_non_root && !windows_admin);
    cJSON_AddBoolToObject(s, "readOnlyRootFilesystem",
                          cfg->read_only_root_filesystem && !windows_admin);
    cJSON_AddFalseToObject(s, "allowPrivilegeEscalation");
    if (sc->seccomp_profile_type != NULL) {
        o = cJSON_AddObjectToObject(s, "seccompProfile");
        cJSON_AddStringToObject(o, "type", sc->seccomp_profile_type);
    }
    return s;
}

/* The debug build of daprd runs under delve. */
static cJSON *wrap_debug(cJSON *args, int64_t port)
{
    cJSON *out = cJSON_CreateArray();
    cJSON *a;
    char listen[16];

    snprintf(listen, sizeof(listen), ":%lld", (long long)port);
    add_arg2(out, "--listen", listen);
    add_arg(out, "--accept-multiclient");
    add_arg(out, "--headless=true");
    add_arg(out, "--log");
    add_arg(out, "--api-version=2");
    add_arg(out, "exec");
    add_arg(out, "/daprd");
    add_arg(out, "--");
    while ((a = cJSON_DetachItemFromArray(args, 0)) != NULL)
        cJSON_AddItemToArray(out, a);
    cJSON_Delete(args);
    return out;
}

cJSON *inj_sidecar_container(const struct inj_sidecar *sc, const cJSON *pod,
                             const struct inj_config *cfg, const struct inj_request *req,
                             cJSON *mounts, const char *components_folder, struct inj_warnings *w)
{
    cJSON *c = cJSON_CreateObject();
    cJSON *ports = cJSON_CreateArray();
    cJSON *args = daprd_args(sc, cfg, req->mtls_enabled);
    cJSON *env = daprd_env(sc, cfg, req, components_folder, w);
    const char *cmd = sc->enable_debug ? "/dlv" : "/daprd";
    cJSON *command;

    add_port(ports, "dapr-http", INJ_HTTP_PORT);
    add_port(ports, "dapr-grpc", sc->grpc_port);
    add_port(ports, "dapr-internal", sc->internal_grpc_port);
    add_port(ports, "dapr-metrics", sc->metrics_port);
    if (sc->enable_debug) {
        add_port(ports, "dapr-debug", sc->debug_port);
        args = wrap_debug(args, sc->debug_port);
    }
    cJSON_AddStringToObject(c, "name", INJ_SIDECAR_NAME);
    cJSON_AddStringToObject(c, "image", sc->image);
    /* Normally the command rides in args so an image ENTRYPOINT still applies; some virtual
     * nodes (ECI, ACI...) need an explicit command. */
    if (pod_has_toleration(pod, cfg)) {
        command = cJSON_AddArrayToObject(c, "command");
        add_arg(command, cmd);
    } else {
        cJSON_InsertItemInArray(args, 0, cJSON_CreateString(cmd));
    }
    cJSON_AddItemToObject(c, "args", args);
    cJSON_AddItemToObject(c, "ports", ports);
    cJSON_AddItemToObject(c, "env", env);
    cJSON_AddItemToObject(c, "resources", resources(sc));
    if (sc->enable_native_sidecar)
        cJSON_AddStringToObject(c, "restartPolicy", "Always");
    if (components_folder != NULL)
        cJSON_AddItemToArray(mounts, inj__mount(INJ_COMPONENTS_VOLUME, components_folder, false));
    cJSON_AddItemToObject(c, "volumeMounts", mounts);
    cJSON_AddItemToObject(c, "livenessProbe", probe(&sc->liveness, false));
    cJSON_AddItemToObject(c, "readinessProbe", probe(&sc->readiness, true));
    cJSON_AddStringToObject(c, "imagePullPolicy", cfg->image_pull_policy);
    cJSON_AddItemToObject(c, "securityContext",
                          security_context(sc, cfg, env_has(env, "SSL_CERT_DIR")));
    return c;
}
