/* daprd flags and environment: one table drives parsing, defaults and --help. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

enum flag_type {
    F_STRING = 0,
    F_PORT,       /* int, 0-65535; "" keeps the default */
    F_INT,        /* int64 */
    F_BOOL,       /* bool; given alone = true */
    F_TRIBOOL,    /* int -1/0/1 */
    F_QUANTITY,   /* uint64 bytes, Kubernetes quantity */
    F_MEGABYTES,  /* deprecated MB/KB integer forms, converted to bytes */
    F_KILOBYTES,
    F_DURATION,   /* int64 ns, Go duration */
    F_LIST,       /* struct sdc_strlist, repeatable + CSV */
    F_LOGLEVEL,
    F_IGNORED,    /* deprecated, accepted, no effect */
    F_IGNORED_BOOL,
};

struct flag {
    const char *name;
    enum flag_type type;
    size_t off;
    const char *def; /* textual default for --help; applied by set_defaults */
    const char *help;
};

#define OFF(field) offsetof(struct sdc_config, field)

static const struct flag flags[] = {
    {"app-id", F_STRING, OFF(app_id), "", "A unique ID for the application"},
    {"app-port", F_PORT, OFF(app_port), "", "The port the application is listening on"},
    {"app-protocol", F_STRING, OFF(app_protocol), "http",
     "Protocol of the app: http, https, h2c, grpc, grpcs"},
    {"app-channel-address", F_STRING, OFF(app_channel_address), "127.0.0.1",
     "The network address the application listens on"},
    {"app-max-concurrency", F_INT, OFF(app_max_concurrency), "-1",
     "Max concurrent requests to the app (-1: unlimited)"},
    {"app-ssl", F_BOOL, OFF(app_ssl), "false", "Deprecated: use --app-protocol https or grpcs"},
    {"enable-app-health-check", F_BOOL, OFF(enable_app_health_check), "false",
     "Enable health checks for the application"},
    {"app-health-check-path", F_STRING, OFF(app_health_check_path), "/healthz",
     "Path probed for app health (HTTP protocols)"},
    {"app-health-probe-interval", F_INT, OFF(app_health_probe_interval_s), "5",
     "Seconds between app health probes"},
    {"app-health-probe-timeout", F_INT, OFF(app_health_probe_timeout_ms), "500",
     "Timeout of app health probes in milliseconds"},
    {"app-health-threshold", F_INT, OFF(app_health_threshold), "3",
     "Consecutive failures before the app is unhealthy"},
    {"app-binding-options-timeout", F_DURATION, OFF(app_binding_options_timeout_ns), "3s",
     "Timeout of the input-binding OPTIONS probe"},
    {"dapr-http-port", F_PORT, OFF(dapr_http_port), "3500", "HTTP port for the Dapr API"},
    {"dapr-grpc-port", F_PORT, OFF(dapr_grpc_port), "50001", "gRPC port for the Dapr API"},
    {"dapr-internal-grpc-port", F_PORT, OFF(dapr_internal_grpc_port), "",
     "Port for sidecar-to-sidecar calls (empty: derived from the app id)"},
    {"dapr-internal-grpc-listen-address", F_STRING, OFF(dapr_internal_grpc_listen_address), "",
     "Listen address of the internal server"},
    {"dapr-listen-addresses", F_LIST, OFF(listen_addresses), "",
     "Comma-separated addresses for the Dapr API (empty: all interfaces)"},
    {"dapr-public-port", F_PORT, OFF(dapr_public_port), "",
     "Public port for health and metadata (off when empty)"},
    {"dapr-public-listen-address", F_STRING, OFF(dapr_public_listen_address), "",
     "Listen address of the public port"},
    {"unix-domain-socket", F_STRING, OFF(unix_domain_socket), "",
     "Directory for Unix domain sockets of the APIs (disables TCP for them)"},
    {"profile-port", F_PORT, OFF(profile_port), "7777", "Port for the profiling server"},
    {"enable-profiling", F_BOOL, OFF(enable_profiling), "false", "Enable profiling"},
    {"metrics-port", F_PORT, OFF(metrics_port), "9090", "Port for Prometheus metrics"},
    {"metrics-listen-address", F_STRING, OFF(metrics_listen_address), "0.0.0.0",
     "Listen address of the metrics server"},
    {"enable-metrics", F_BOOL, OFF(enable_metrics), "true", "Enable the metrics server"},
    {"resources-path", F_LIST, OFF(resources_paths), "",
     "Path to a folder of resource manifests (repeatable)"},
    {"components-path", F_LIST, OFF(resources_paths), "", "Deprecated alias of --resources-path"},
    {"config", F_LIST, OFF(config_paths), "", "Path to a Configuration file (repeatable)"},
    {"mode", F_STRING, OFF(mode), "standalone", "Runtime mode: standalone or kubernetes"},
    {"placement-host-address", F_LIST, OFF(placement_addresses), "",
     "Comma-separated placement addresses (enables actors)"},
    {"scheduler-host-address", F_LIST, OFF(scheduler_addresses), "",
     "Comma-separated scheduler addresses"},
    {"scheduler-job-streams", F_INT, OFF(scheduler_job_streams), "3",
     "Number of scheduler job streams"},
    {"actors-disseminate-timeout", F_DURATION, OFF(actors_disseminate_timeout_ns), "30s",
     "Placement dissemination timeout"},
    {"control-plane-address", F_STRING, OFF(control_plane_address), "", "Operator address"},
    {"sentry-address", F_STRING, OFF(sentry_address), "", "Sentry CA address"},
    {"control-plane-trust-domain", F_STRING, OFF(control_plane_trust_domain), "localhost",
     "Trust domain of the control plane"},
    {"control-plane-namespace", F_STRING, OFF(control_plane_namespace), "default",
     "Namespace of the control plane"},
    {"sentry-request-jwt-audiences", F_LIST, OFF(sentry_request_jwt_audiences), "",
     "JWT audiences for certificate requests"},
    {"enable-mtls", F_BOOL, OFF(enable_mtls), "false", "Enable mTLS between sidecars"},
    {"allowed-origins", F_STRING, OFF(allowed_origins), "", "CORS allowed origins"},
    {"max-body-size", F_QUANTITY, OFF(max_body_size), "4Mi",
     "Max size of request and response bodies (quantity)"},
    {"dapr-http-max-request-size", F_MEGABYTES, OFF(max_body_size), "4",
     "Deprecated: use --max-body-size"},
    {"read-buffer-size", F_QUANTITY, OFF(read_buffer_size), "4Ki",
     "Max size of request headers (quantity)"},
    {"dapr-http-read-buffer-size", F_KILOBYTES, OFF(read_buffer_size), "4",
     "Deprecated: use --read-buffer-size"},
    {"dapr-graceful-shutdown-seconds", F_INT, OFF(graceful_shutdown_seconds), "5",
     "Graceful shutdown budget in seconds"},
    {"dapr-block-shutdown-duration", F_DURATION, OFF(block_shutdown_duration_ns), "",
     "Keep serving this long after SIGTERM while the app is healthy"},
    {"enable-api-logging", F_TRIBOOL, OFF(enable_api_logging), "",
     "Log every API call (default: the Configuration decides)"},
    {"log-level", F_LOGLEVEL, OFF(log_level), "info", "debug, info, warn, error or fatal"},
    {"log-as-json", F_BOOL, OFF(log_as_json), "false", "Log as JSON lines"},
    {"log-file", F_STRING, OFF(log_file), "", "Also write the log to this file"},
    {"disable-builtin-k8s-secret-store", F_BOOL, OFF(disable_builtin_k8s_secret_store), "false",
     "Do not register the kubernetes secret store (kubernetes mode)"},
    {"disable-init-endpoints", F_LIST, OFF(disable_init_endpoints), "",
     "App init calls to skip: config, subscribe"},
    {"hot-reload-reconcile-interval", F_DURATION, OFF(hot_reload_reconcile_interval_ns), "0s",
     "Resource hot-reload reconcile period (0: 60s)"},
    {"wait", F_BOOL, OFF(wait), "false", "Wait for outbound readiness"},
    {"version", F_BOOL, OFF(version), "false", "Print the version and exit"},
    {"build-info", F_BOOL, OFF(build_info), "false", "Print build information and exit"},
    {"reminders-service", F_IGNORED, 0, "", "Deprecated, no effect"},
    {"actors-service", F_IGNORED, 0, "", "Deprecated, no effect"},
    {"enable-placement", F_IGNORED_BOOL, 0, "", "Deprecated, no effect"},
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static void *field(struct sdc_config *cfg, const struct flag *f)
{
    return (char *)cfg + f->off;
}

static void set_string(char **dst, const char *v)
{
    free(*dst);
    *dst = dc_xstrdup(v);
}

static void list_add_csv(struct sdc_strlist *l, const char *v)
{
    const char *p = v;

    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

        /* Trim spaces around items, as strings.Split + TrimSpace does upstream. */
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0) {
            l->v = dc_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
            l->v[l->n++] = dc_xstrndup(p, n);
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
}

static void list_clear(struct sdc_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int set_value(struct sdc_config *cfg, const struct flag *f, const char *v,
                     struct dc_errbuf *eb)
{
    void *p = field(cfg, f);
    int64_t i;
    uint64_t u;
    bool b;
    int rv;

    switch (f->type) {
    case F_STRING:
        set_string(p, v);
        return DC_OK;
    case F_PORT:
        if (v[0] == '\0') {
            *(int *)p = -1;
            return DC_OK;
        }
        if (dc_str_to_i64(v, 0, 65535, &i) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid port \"%s\" (want 0-65535)", v);
        *(int *)p = (int)i;
        return DC_OK;
    case F_INT:
        if (dc_str_to_i64(v, INT32_MIN, INT32_MAX, &i) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid integer \"%s\"", v);
        *(int64_t *)p = i;
        return DC_OK;
    case F_BOOL:
    case F_IGNORED_BOOL:
        if (dc_str_to_bool(v, &b) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid boolean \"%s\"", v);
        if (f->type == F_BOOL)
            *(bool *)p = b;
        return DC_OK;
    case F_TRIBOOL:
        if (dc_str_to_bool(v, &b) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid boolean \"%s\"", v);
        *(int *)p = b ? 1 : 0;
        return DC_OK;
    case F_QUANTITY:
        rv = dc_quantity_bytes(v, &u, eb);
        if (rv != DC_OK)
            return rv;
        *(uint64_t *)p = u;
        return DC_OK;
    case F_MEGABYTES:
    case F_KILOBYTES:
        if (dc_str_to_i64(v, 0, 1 << 20, &i) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid size \"%s\"", v);
        *(uint64_t *)p = (uint64_t)i << (f->type == F_MEGABYTES ? 20 : 10);
        return DC_OK;
    case F_DURATION:
        if (v[0] == '\0') {
            *(int64_t *)p = -1;
            return DC_OK;
        }
        return dc_duration_parse(v, (int64_t *)p, eb);
    case F_LIST:
        list_add_csv(p, v);
        return DC_OK;
    case F_LOGLEVEL:
        if (dc_log_level_parse(v, p) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid log level \"%s\"", v);
        return DC_OK;
    case F_IGNORED:
        return DC_OK;
    }
    return DC_EINVAL;
}

static const struct flag *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
            return &flags[i];
    return NULL;
}

static void set_defaults(struct sdc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag *f = &flags[i];
        /* Deprecated size aliases share a field with their successor: only the quantity sets it. */
        if (f->type == F_MEGABYTES || f->type == F_KILOBYTES || f->type == F_IGNORED ||
            f->type == F_IGNORED_BOOL || f->type == F_LIST)
            continue;
        if (f->type == F_TRIBOOL) {
            *(int *)field(cfg, f) = -1;
            continue;
        }
        if (set_value(cfg, f, f->def, NULL) != DC_OK)
            DC_ASSERT(!"bad default in the flag table");
    }
}

static const char *env_or_null(sdc_getenv_fn *get, const char *name)
{
    const char *v = get(name);

    return dc_str_empty(v) ? NULL : v;
}

static void apply_env(struct sdc_config *cfg, sdc_getenv_fn *get)
{
    const char *v;

    cfg->api_token = dc_xstrdup(env_or_null(get, "DAPR_API_TOKEN"));
    cfg->app_api_token = dc_xstrdup(env_or_null(get, "APP_API_TOKEN"));
    cfg->namespace = dc_xstrdup(env_or_null(get, "NAMESPACE"));
    cfg->host_ip = dc_xstrdup(env_or_null(get, "DAPR_HOST_IP"));
    cfg->trust_anchors = dc_xstrdup(env_or_null(get, "DAPR_TRUST_ANCHORS"));
    cfg->disable_h2c = dc_str_truthy(get("DAPR_HTTP_DISABLE_H2C"));
    /* The control-plane flags take their default from the environment when not given. */
    v = env_or_null(get, "DAPR_CONTROLPLANE_TRUST_DOMAIN");
    if (v != NULL)
        set_string(&cfg->control_plane_trust_domain, v);
    v = env_or_null(get, "DAPR_CONTROLPLANE_NAMESPACE");
    if (v != NULL)
        set_string(&cfg->control_plane_namespace, v);
}

static const char *default_getenv(const char *name)
{
    return getenv(name);
}

int sdc_config_parse(struct sdc_config *cfg, int argc, char **argv, sdc_getenv_fn *getenv_fn,
                     struct dc_errbuf *eb)
{
    bool max_body_given = false, read_buf_given = false;

    set_defaults(cfg);
    apply_env(cfg, getenv_fn != NULL ? getenv_fn : default_getenv);

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *name, *eq, *val;
        const struct flag *f;
        size_t len;
        int rv;

        if (arg[0] != '-' || arg[1] == '\0')
            return dc_err_set(eb, DC_EINVAL, "unexpected argument \"%s\"", arg);
        name = arg + (arg[1] == '-' ? 2 : 1);
        if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0)
            return dc_err_set(eb, DC_EINVAL, "help requested");
        eq = strchr(name, '=');
        len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        f = find_flag(name, len);
        if (f == NULL)
            return dc_err_set(eb, DC_EINVAL, "unknown flag: --%.*s", (int)(len > 64 ? 64 : len),
                              name);
        if (eq != NULL) {
            val = eq + 1;
        } else if (f->type == F_BOOL || f->type == F_TRIBOOL || f->type == F_IGNORED_BOOL) {
            val = "true";
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return dc_err_set(eb, DC_EINVAL, "flag needs an argument: --%s", f->name);
        }
        /* The deprecated size flags lose to the new ones, whatever the order. */
        if ((f->type == F_MEGABYTES && max_body_given) ||
            (f->type == F_KILOBYTES && read_buf_given))
            continue;
        rv = set_value(cfg, f, val, eb);
        if (rv != DC_OK) {
            dc_err_wrapf(eb, "invalid value for --%s", f->name);
            return DC_EINVAL;
        }
        if (strcmp(f->name, "max-body-size") == 0)
            max_body_given = true;
        if (strcmp(f->name, "read-buffer-size") == 0)
            read_buf_given = true;
    }
    return DC_OK;
}

int sdc_config_validate(const struct sdc_config *cfg, struct dc_errbuf *eb)
{
    static const char *const protocols[] = {"http", "https", "h2c", "grpc", "grpcs"};
    bool ok = false;

    if (strcmp(cfg->mode, "standalone") != 0 && strcmp(cfg->mode, "kubernetes") != 0)
        return dc_err_set(eb, DC_EINVAL, "invalid --mode \"%s\": want standalone or kubernetes",
                          cfg->mode);
    if (dc_str_empty(cfg->app_id) && strcmp(cfg->mode, "standalone") == 0)
        return dc_err_set(eb, DC_EINVAL, "--app-id is required in standalone mode");
    if (cfg->app_id != NULL && strchr(cfg->app_id, '.') != NULL)
        return dc_err_set(eb, DC_EINVAL, "invalid --app-id \"%s\": it must not contain a dot",
                          cfg->app_id);
    for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
        ok = ok || strcmp(cfg->app_protocol, protocols[i]) == 0;
    if (!ok)
        return dc_err_set(eb, DC_EINVAL,
                          "invalid --app-protocol \"%s\": want http, https, h2c, grpc or grpcs",
                          cfg->app_protocol);
    if (cfg->dapr_http_port < 0)
        return dc_err_set(eb, DC_EINVAL, "--dapr-http-port must be set");
    if (cfg->graceful_shutdown_seconds < 0)
        return dc_err_set(eb, DC_EINVAL, "--dapr-graceful-shutdown-seconds must be >= 0");
    if (cfg->actors_disseminate_timeout_ns <= 0)
        return dc_err_set(eb, DC_EINVAL, "--actors-disseminate-timeout must be > 0");
    if (cfg->max_body_size == 0 || cfg->read_buffer_size == 0)
        return dc_err_set(eb, DC_EINVAL, "--max-body-size and --read-buffer-size must be > 0");
    if (cfg->app_health_probe_interval_s <= 0 || cfg->app_health_probe_timeout_ms <= 0 ||
        cfg->app_health_threshold <= 0)
        return dc_err_set(eb, DC_EINVAL, "app health probe interval, timeout and threshold "
                                         "must be > 0");
    return DC_OK;
}

void sdc_config_cleanup(struct sdc_config *cfg)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag *f = &flags[i];

        if (f->type == F_STRING) {
            free(*(char **)field(cfg, f));
            *(char **)field(cfg, f) = NULL;
        } else if (f->type == F_LIST) {
            list_clear(field(cfg, f));
        }
    }
    free(cfg->api_token);
    free(cfg->app_api_token);
    free(cfg->namespace);
    free(cfg->host_ip);
    free(cfg->trust_anchors);
    cfg->api_token = cfg->app_api_token = cfg->namespace = cfg->host_ip = NULL;
    cfg->trust_anchors = NULL;
}

void sdc_config_usage(FILE *out)
{
    fprintf(out, "Usage: daprd [flags]\n\nFlags:\n");
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag *f = &flags[i];
        bool takes = !(f->type == F_BOOL || f->type == F_TRIBOOL || f->type == F_IGNORED_BOOL);

        fprintf(out, "  --%s%s\n        %s", f->name, takes ? " value" : "", f->help);
        if (f->def[0] != '\0')
            fprintf(out, " (default %s)", f->def);
        fputc('\n', out);
    }
}
