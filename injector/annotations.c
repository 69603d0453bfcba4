/* Pod annotations honoured by the injector (control-plane.md §4.3) and the warnings list.
 *
 * Only present annotations override defaults. A value that cannot be used is never passed on:
 * the default is kept and a warning explains why, so a typo yields a working pod rather than a
 * patch the API server rejects or a daprd that cannot start. */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "injector.h"
#include "internal.h"

#define ANN "dapr.io/"

/* ---- warnings ---- */

void inj_warnf(struct inj_warnings *w, const char *fmt, ...)
{
    char msg[DC_MAX_INJ_WARNING_LEN];
    va_list ap;
    size_t i;

    if (w == NULL)
        return;
    if (w->n >= DC_MAX_INJ_WARNINGS_SLOTS) {
        w->dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Warnings travel in an HTTP header to the client: keep them printable. */
    for (i = 0; msg[i] != '\0'; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
            msg[i] = '?';
    w->v[w->n++] = dc_xstrdup(msg);
}

void inj_warnings_cleanup(struct inj_warnings *w)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        free(w->v[i]);
    memset(w, 0, sizeof(*w));
}

/* ---- value parsing ---- */

bool inj_truthy(const char *s)
{
    return dc_str_truthy(s);
}

static bool falsy(const char *s)
{
    static const char *const no[] = {"0", "f", "false", "n", "no", "off"};
    size_t i;

    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (strcasecmp(s, no[i]) == 0)
            return true;
    return false;
}

/* The annotation `key`, or NULL when absent or not a string. */
static const char *ann_get(const cJSON *anns, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(anns, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Non-empty string or `def`: for annotations whose empty value means "unset". */
static const char *ann_nonempty(const cJSON *anns, const char *key, const char *def)
{
    const char *v = ann_get(anns, key);

    return dc_str_empty(v) ? def : v;
}

static bool ann_bool(const cJSON *anns, const char *key, bool def, struct inj_warnings *w)
{
    const char *v = ann_get(anns, key);

    if (v == NULL)
        return def;
    if (inj_truthy(v))
        return true;
    if (falsy(v) || *v == '\0')
        return false;
    inj_warnf(w, "annotation %s: %.40s is not a boolean; using %s", key, v, def ? "true" : "false");
    return def;
}

/* Integer annotation in [min, max]; `*set` (may be NULL) tells whether it was used. */
static int64_t ann_int(const cJSON *anns, const char *key, int64_t def, int64_t min, int64_t max,
                       bool *set, struct inj_warnings *w)
{
    const char *v = ann_get(anns, key);
    int64_t n;

    if (set != NULL)
        *set = false;
    if (v == NULL)
        return def;
    if (dc_str_to_i64(v, INT64_MIN, INT64_MAX, &n) != DC_OK) {
        inj_warnf(w, "annotation %s: %.40s is not an integer; ignored", key, v);
        return def;
    }
    if (n < min || n > max) {
        inj_warnf(w, "annotation %s: %lld is out of range [%lld, %lld]; ignored", key, (long long)n,
                  (long long)min, (long long)max);
        return def;
    }
    if (set != NULL)
        *set = true;
    return n;
}

static int64_t ann_port(const cJSON *anns, const char *key, int64_t def, struct inj_warnings *w)
{
    return ann_int(anns, key, def, 1, 65535, NULL, w);
}

/* Trim spaces and quotes, as upstream does for the host-address annotations. */
static const char *trim_quotes(struct dc_arena *a, const char *s)
{
    const char *b, *e;

    if (s == NULL)
        return NULL;
    b = s;
    e = s + strlen(s);
    while (b < e && (isspace((unsigned char)*b) || *b == '"' || *b == '\''))
        b++;
    while (e > b && (isspace((unsigned char)e[-1]) || e[-1] == '"' || e[-1] == '\''))
        e--;
    return b == e ? NULL : dc_arena_strndup(a, b, (size_t)(e - b));
}

static bool has_ctl_or_space(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return true;
    return false;
}

bool inj__mount_path_ok(const char *p)
{
    const char *s;

    if (p == NULL || p[0] != '/')
        return false;
    for (s = p; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    for (s = p; *s != '\0';) {
        while (*s == '/')
            s++;
        if (s[0] == '.' && s[1] == '.' && (s[2] == '/' || s[2] == '\0'))
            return false;
        while (*s != '\0' && *s != '/')
            s++;
    }
    return true;
}

static const char *ann_quantity(const cJSON *anns, const char *key, struct inj_warnings *w,
                                double *val)
{
    const char *v = ann_nonempty(anns, key, NULL);

    if (v != NULL && !inj_quantity_valid(v, val)) {
        inj_warnf(w, "annotation %s: %.40s is not a valid quantity; ignored", key, v);
        return NULL;
    }
    return v;
}

static const char *ann_duration(const cJSON *anns, const char *key, struct inj_warnings *w)
{
    const char *v = ann_nonempty(anns, key, NULL);

    if (v != NULL && !inj_duration_valid(v)) {
        inj_warnf(w, "annotation %s: %.40s is not a valid duration; ignored", key, v);
        return NULL;
    }
    return v;
}

/* ---- app ID ---- */

int inj_validate_app_id(const char *id, struct dc_errbuf *eb)
{
    size_t n, i;

    if (dc_str_empty(id))
        return dc_err_set(eb, DC_EINVAL, "parameter app-id cannot be empty");
    n = strlen(id);
    /* The operator creates the Service "<id>-dapr": a DNS-1123 label of at most 63 bytes. */
    if (n + 5 > 63)
        return dc_err_set(eb, DC_EINVAL,
                          "invalid app id(input: %.64s, service: %.64s-dapr): must be no more "
                          "than 63 characters",
                          id, id);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!(islower(c) || isdigit(c) || c == '-') || !isascii(c))
            break;
    }
    if (i < n || id[0] == '-')
        return dc_err_set(eb, DC_EINVAL,
                          "invalid app id(input: %.64s, service: %.64s-dapr): a lowercase RFC "
                          "1123 label must consist of lower case alphanumeric characters or '-', "
                          "and must start and end with an alphanumeric character",
                          id, id);
    return DC_OK;
}

static void default_app_id(struct inj_sidecar *sc, const cJSON *meta, struct dc_arena *a,
                           struct inj_warnings *w)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(meta, "generateName");
    size_t n;

    sc->app_id_defaulted = true;
    if (cJSON_IsString(name) && name->valuestring[0] != '\0') {
        sc->app_id = name->valuestring;
    } else if (cJSON_IsString(gen)) {
        /* A controller-made pod has no name yet: "web-5d9f8c-" gives "web-5d9f8c". */
        n = strlen(gen->valuestring);
        while (n > 0 && gen->valuestring[n - 1] == '-')
            n--;
        sc->app_id = dc_arena_strndup(a, gen->valuestring, n);
    } else {
        sc->app_id = "";
    }
    if (sc->app_id[0] != '\0')
        inj_warnf(w, "annotation dapr.io/app-id is not set; defaulting the app ID to %.64s",
                  sc->app_id);
}

/* ---- the annotations ---- */

static const char *parse_protocol(const cJSON *anns, struct inj_warnings *w)
{
    static const char *const ok[] = {"http", "https", "grpc", "grpcs", "h2c"};
    const char *v = ann_nonempty(anns, ANN "app-protocol", NULL);
    size_t i;

    if (v == NULL)
        return "http";
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcasecmp(v, ok[i]) == 0)
            return ok[i];
    inj_warnf(w,
              "annotation dapr.io/app-protocol: %.40s is not one of http, https, grpc, grpcs, "
              "h2c; using http",
              v);
    return "http";
}

static const char *parse_log_level(const cJSON *anns, struct inj_warnings *w)
{
    static const char *const ok[] = {"debug", "info", "warn", "warning", "error", "fatal"};
    const char *v = ann_nonempty(anns, ANN "log-level", NULL);
    size_t i;

    if (v == NULL)
        return "info";
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcasecmp(v, ok[i]) == 0)
            return v;
    inj_warnf(w, "annotation dapr.io/log-level: %.40s is not a log level; using info", v);
    return "info";
}

/* The four annotations of one probe kind, spelled out (no formatting per review). */
#define PROBE_KEYS(kind)                                                                           \
    {                                                                                              \
        ANN "sidecar-" kind "-probe-delay-seconds", ANN "sidecar-" kind "-probe-timeout-seconds",  \
            ANN "sidecar-" kind "-probe-period-seconds", ANN "sidecar-" kind "-probe-threshold"    \
    }

static void parse_probe(const cJSON *anns, const char *const key[4], struct inj_probe *p,
                        const struct inj_probe *def, struct inj_warnings *w)
{
    p->delay = ann_int(anns, key[0], def->delay, 0, INT32_MAX, NULL, w);
    p->timeout = ann_int(anns, key[1], def->timeout, 1, INT32_MAX, NULL, w);
    p->period = ann_int(anns, key[2], def->period, 1, INT32_MAX, NULL, w);
    p->threshold = ann_int(anns, key[3], def->threshold, 1, INT32_MAX, NULL, w);
}

static void parse_resources(struct inj_sidecar *sc, const cJSON *anns, struct inj_warnings *w)
{
    double creq = 0, clim = 0, mreq = 0, mlim = 0;

    sc->cpu_request = ann_quantity(anns, ANN "sidecar-cpu-request", w, &creq);
    sc->cpu_limit = ann_quantity(anns, ANN "sidecar-cpu-limit", w, &clim);
    sc->memory_request = ann_quantity(anns, ANN "sidecar-memory-request", w, &mreq);
    sc->memory_limit = ann_quantity(anns, ANN "sidecar-memory-limit", w, &mlim);
    /* The API server rejects a request above its limit; keep the limit (the request then
     * defaults to it). */
    if (sc->cpu_request != NULL && sc->cpu_limit != NULL && creq > clim) {
        inj_warnf(w, "annotation dapr.io/sidecar-cpu-request exceeds the CPU limit; ignored");
        sc->cpu_request = NULL;
    }
    if (sc->memory_request != NULL && sc->memory_limit != NULL && mreq > mlim) {
        inj_warnf(w, "annotation dapr.io/sidecar-memory-request exceeds the memory limit; "
                     "ignored");
        sc->memory_request = NULL;
    }
}

static const char *parse_path(const cJSON *anns, const char *key, const char *def,
                              struct inj_warnings *w)
{
    const char *v = ann_nonempty(anns, key, NULL);

    if (v == NULL)
        return def;
    if (!inj__mount_path_ok(v)) {
        inj_warnf(w, "annotation %s: %.40s is not an absolute path without '..'; ignored", key, v);
        return def;
    }
    return v;
}

static void parse_image_and_security(struct inj_sidecar *sc, const cJSON *anns,
                                     const struct inj_config *cfg, struct inj_warnings *w)
{
    const char *v;

    sc->image = cfg->sidecar_image;
    v = ann_get(anns, ANN "sidecar-image");
    if (v != NULL && (*v == '\0' || has_ctl_or_space(v)))
        inj_warnf(w, "annotation dapr.io/sidecar-image: %.40s is not an image reference; ignored",
                  v);
    else if (v != NULL)
        sc->image = v;
    v = ann_nonempty(anns, ANN "sidecar-seccomp-profile-type", NULL);
    /* "Localhost" needs a localhostProfile that upstream never sets: the API server would
     * reject the pod. */
    if (v != NULL && strcmp(v, "RuntimeDefault") != 0 && strcmp(v, "Unconfined") != 0) {
        inj_warnf(w,
                  "annotation dapr.io/sidecar-seccomp-profile-type: %.40s is not "
                  "RuntimeDefault or Unconfined; ignored",
                  v);
        v = NULL;
    }
    sc->seccomp_profile_type = v;
}

static void parse_app(struct inj_sidecar *sc, const cJSON *anns, struct inj_warnings *w)
{
    int64_t port;
    const char *v;

    sc->app_id = ann_nonempty(anns, ANN "app-id", NULL);
    v = ann_get(anns, ANN "app-port");
    port = ann_int(anns, ANN "app-port", 0, INT64_MIN, INT64_MAX, NULL, w);
    if (port > 65535) {
        inj_warnf(w, "annotation dapr.io/app-port: %.20s is not a port; ignored", v);
        port = 0;
    }
    sc->app_port = port > 0 ? port : 0;
    sc->app_protocol = parse_protocol(anns, w);
    sc->app_ssl = ann_bool(anns, ANN "app-ssl", false, w);
    sc->config = ann_nonempty(anns, ANN "config", NULL);
    sc->app_max_concurrency = ann_int(anns, ANN "app-max-concurrency", -1, -1, INT32_MAX,
                                      &sc->has_app_max_concurrency, w);
    sc->app_channel_address = ann_nonempty(anns, ANN "app-channel-address", NULL);
    sc->enable_app_health_check = ann_bool(anns, ANN "enable-app-health-check", false, w);
    sc->app_health_check_path = ann_nonempty(anns, ANN "app-health-check-path", "/healthz");
    sc->app_health_probe_interval =
        ann_int(anns, ANN "app-health-probe-interval", 5, 1, INT32_MAX, NULL, w);
    sc->app_health_probe_timeout =
        ann_int(anns, ANN "app-health-probe-timeout", 500, 1, INT32_MAX, NULL, w);
    sc->app_health_threshold = ann_int(anns, ANN "app-health-threshold", 3, 1, INT32_MAX, NULL, w);
    sc->app_token_secret = ann_nonempty(anns, ANN "app-token-secret", NULL);
    sc->app_binding_options_timeout = ann_duration(anns, ANN "app-binding-options-timeout", w);
}

static void parse_daprd(struct inj_sidecar *sc, const cJSON *anns, struct dc_arena *a,
                        struct inj_warnings *w)
{
    static const struct inj_probe live = {180, 3, 10, 5}, ready = {1, 1, 1, 5};
    static const char *const live_keys[4] = PROBE_KEYS("liveness");
    static const char *const ready_keys[4] = PROBE_KEYS("readiness");
    const char *v;

    sc->log_level = parse_log_level(anns, w);
    sc->log_as_json = ann_bool(anns, ANN "log-as-json", false, w);
    v = ann_get(anns, ANN "enable-api-logging");
    sc->enable_api_logging = -1;
    if (v != NULL && (inj_truthy(v) || falsy(v)))
        sc->enable_api_logging = inj_truthy(v) ? 1 : 0;
    else if (v != NULL)
        inj_warnf(w, "annotation dapr.io/enable-api-logging: %.40s is not a boolean; ignored", v);
    sc->enable_profiling = ann_bool(anns, ANN "enable-profiling", false, w);
    sc->api_token_secret = ann_nonempty(anns, ANN "api-token-secret", NULL);
    sc->enable_metrics = ann_bool(anns, ANN "enable-metrics", true, w);
    sc->metrics_port = ann_port(anns, ANN "metrics-port", 9090, w);
    sc->enable_debug = ann_bool(anns, ANN "enable-debug", false, w);
    sc->debug_port = ann_port(anns, ANN "debug-port", 40000, w);
    sc->env = ann_nonempty(anns, ANN "env", NULL);
    sc->env_from_secret = ann_nonempty(anns, ANN "env-from-secret", NULL);
    sc->grpc_port = ann_port(anns, ANN "grpc-port", 50001, w);
    sc->internal_grpc_port = ann_port(anns, ANN "internal-grpc-port", 50002, w);
    sc->listen_addresses = ann_nonempty(anns, ANN "sidecar-listen-addresses", "[::1],127.0.0.1");
    parse_probe(anns, live_keys, &sc->liveness, &live, w);
    parse_probe(anns, ready_keys, &sc->readiness, &ready, w);
    sc->http_max_request_size = ann_int(anns, ANN "http-max-request-size", 0, 0, INT32_MAX,
                                        &sc->has_http_max_request_size, w);
    sc->max_body_size = ann_quantity(anns, ANN "max-body-size", w, NULL);
    sc->http_read_buffer_size = ann_int(anns, ANN "http-read-buffer-size", 0, 0, INT32_MAX,
                                        &sc->has_http_read_buffer_size, w);
    sc->read_buffer_size = ann_quantity(anns, ANN "read-buffer-size", w, NULL);
    sc->graceful_shutdown_seconds =
        ann_int(anns, ANN "graceful-shutdown-seconds", -1, -1, INT32_MAX, NULL, w);
    sc->block_shutdown_duration = ann_duration(anns, ANN "block-shutdown-duration", w);
    sc->unix_domain_socket_path = parse_path(anns, ANN "unix-domain-socket-path", NULL, w);
    sc->volume_mounts = ann_nonempty(anns, ANN "volume-mounts", NULL);
    sc->volume_mounts_rw = ann_nonempty(anns, ANN "volume-mounts-rw", NULL);
    sc->disable_builtin_k8s_secret_store =
        ann_bool(anns, ANN "disable-builtin-k8s-secret-store", false, w);
    sc->placement_address = trim_quotes(a, ann_get(anns, ANN "placement-host-address"));
    sc->actors_disseminate_timeout = ann_duration(anns, ANN "actors-disseminate-timeout", w);
    sc->scheduler_address = trim_quotes(a, ann_get(anns, ANN "scheduler-host-address"));
    sc->sentry_request_jwt_audiences = ann_nonempty(anns, ANN "sentry-request-jwt-audiences", NULL);
    sc->disable_init_endpoints = ann_nonempty(anns, ANN "disable-init-endpoints", NULL);
}

int inj_sidecar_from_pod(struct inj_sidecar *sc, const cJSON *pod, const struct inj_config *cfg,
                         struct dc_arena *arena, struct inj_warnings *w, struct dc_errbuf *eb)
{
    const cJSON *meta, *anns;

    memset(sc, 0, sizeof(*sc));
    if (!cJSON_IsObject(pod))
        return dc_err_set(eb, DC_EINVAL, "pod is not a JSON object");
    meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    anns = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
    if (!cJSON_IsObject(anns))
        anns = NULL;
    sc->enabled = inj_truthy(ann_get(anns, ANN "enabled"));
    parse_app(sc, anns, w);
    parse_daprd(sc, anns, arena, w);
    parse_resources(sc, anns, w);
    parse_image_and_security(sc, anns, cfg, w);
    sc->pluggable_components = ann_nonempty(anns, ANN "pluggable-components", NULL);
    sc->pluggable_components_sockets_folder = parse_path(
        anns, ANN "pluggable-components-sockets-folder", cfg->components_sockets_folder, w);
    sc->inject_pluggable_components = ann_bool(anns, ANN "inject-pluggable-components", false, w);
    sc->enable_native_sidecar =
        ann_bool(anns, ANN "enable-native-sidecar", cfg->native_sidecar_enabled, w);
    if (sc->app_id == NULL)
        default_app_id(sc, meta, arena, w);
    return DC_OK;
}
