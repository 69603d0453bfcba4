/* daprd flags and environment: one dc_flags table drives parsing, defaults and --help. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "dc/flags.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#define F(name, type, field, def, help) DC_FLAG_DEF(struct sdc_config, name, type, field, def, help)

static const struct dc_flag flags[] = {
    F("app-id", DC_FLAG_STRING_DUP, app_id, "", "A unique ID for the application"),
    F("app-port", DC_FLAG_PORT, app_port, "", "The port the application is listening on"),
    F("app-protocol", DC_FLAG_STRING_DUP, app_protocol, "http",
      "Protocol of the app: http, https, h2c, grpc, grpcs"),
    F("app-channel-address", DC_FLAG_STRING_DUP, app_channel_address, "127.0.0.1",
      "The network address the application listens on"),
    F("app-max-concurrency", DC_FLAG_INT, app_max_concurrency, "-1",
      "Max concurrent requests to the app (-1: unlimited)"),
    F("app-ssl", DC_FLAG_BOOL, app_ssl, "false", "Deprecated: use --app-protocol https or grpcs"),
    F("enable-app-health-check", DC_FLAG_BOOL, enable_app_health_check, "false",
      "Enable health checks for the application"),
    F("app-health-check-path", DC_FLAG_STRING_DUP, app_health_check_path, "/healthz",
      "Path probed for app health (HTTP protocols)"),
    F("app-health-probe-interval", DC_FLAG_INT, app_health_probe_interval_s, "5",
      "Seconds between app health probes"),
    F("app-health-probe-timeout", DC_FLAG_INT, app_health_probe_timeout_ms, "500",
      "Timeout of app health probes in milliseconds"),
    F("app-health-threshold", DC_FLAG_INT, app_health_threshold, "3",
      "Consecutive failures before the app is unhealthy"),
    F("app-binding-options-timeout", DC_FLAG_DURATION, app_binding_options_timeout_ns, "3s",
      "Timeout of the input-binding OPTIONS probe"),
    F("dapr-http-port", DC_FLAG_PORT, dapr_http_port, "3500", "HTTP port for the Dapr API"),
    F("dapr-grpc-port", DC_FLAG_PORT, dapr_grpc_port, "50001", "gRPC port for the Dapr API"),
    F("dapr-internal-grpc-port", DC_FLAG_PORT, dapr_internal_grpc_port, "",
      "Port for sidecar-to-sidecar calls (empty: derived from the app id)"),
    F("dapr-internal-grpc-listen-address", DC_FLAG_STRING_DUP, dapr_internal_grpc_listen_address,
      "", "Listen address of the internal server"),
    F("dapr-listen-addresses", DC_FLAG_LIST, listen_addresses, "",
      "Comma-separated addresses for the Dapr API (empty: all interfaces)"),
    F("dapr-public-port", DC_FLAG_PORT, dapr_public_port, "",
      "Public port for health and metadata (off when empty)"),
    F("dapr-public-listen-address", DC_FLAG_STRING_DUP, dapr_public_listen_address, "",
      "Listen address of the public port"),
    F("unix-domain-socket", DC_FLAG_STRING_DUP, unix_domain_socket, "",
      "Directory for Unix domain sockets of the APIs (disables TCP for them)"),
    F("profile-port", DC_FLAG_PORT, profile_port, "7777", "Port for the profiling server"),
    F("enable-profiling", DC_FLAG_BOOL, enable_profiling, "false", "Enable profiling"),
    F("metrics-port", DC_FLAG_PORT, metrics_port, "9090", "Port for Prometheus metrics"),
    F("metrics-listen-address", DC_FLAG_STRING_DUP, metrics_listen_address, "0.0.0.0",
      "Listen address of the metrics server"),
    F("enable-metrics", DC_FLAG_BOOL, enable_metrics, "true", "Enable the metrics server"),
    F("resources-path", DC_FLAG_LIST, resources_paths, "",
      "Path to a folder of resource manifests (repeatable)"),
    F("components-path", DC_FLAG_LIST, resources_paths, "", "Deprecated alias of --resources-path"),
    F("config", DC_FLAG_LIST, config_paths, "", "Path to a Configuration file (repeatable)"),
    F("mode", DC_FLAG_STRING_DUP, mode, "standalone", "Runtime mode: standalone or kubernetes"),
    F("placement-host-address", DC_FLAG_LIST, placement_addresses, "",
      "Comma-separated placement addresses (enables actors)"),
    F("scheduler-host-address", DC_FLAG_LIST, scheduler_addresses, "",
      "Comma-separated scheduler addresses"),
    F("scheduler-job-streams", DC_FLAG_INT, scheduler_job_streams, "3",
      "Number of scheduler job streams"),
    F("actors-disseminate-timeout", DC_FLAG_DURATION, actors_disseminate_timeout_ns, "30s",
      "Placement dissemination timeout"),
    F("control-plane-address", DC_FLAG_STRING_DUP, control_plane_address, "", "Operator address"),
    F("sentry-address", DC_FLAG_STRING_DUP, sentry_address, "", "Sentry CA address"),
    F("control-plane-trust-domain", DC_FLAG_STRING_DUP, control_plane_trust_domain, "localhost",
      "Trust domain of the control plane"),
    F("control-plane-namespace", DC_FLAG_STRING_DUP, control_plane_namespace, "default",
      "Namespace of the control plane"),
    F("sentry-request-jwt-audiences", DC_FLAG_LIST, sentry_request_jwt_audiences, "",
      "JWT audiences for certificate requests"),
    F("enable-mtls", DC_FLAG_BOOL, enable_mtls, "false", "Enable mTLS between sidecars"),
    F("allowed-origins", DC_FLAG_STRING_DUP, allowed_origins, "", "CORS allowed origins"),
    F("max-body-size", DC_FLAG_QUANTITY, max_body_size, "4Mi",
      "Max size of request and response bodies (quantity)"),
    {.name = "dapr-http-max-request-size",
     .type = DC_FLAG_SCALED,
     .off = offsetof(struct sdc_config, max_body_size),
     .size = sizeof(uint64_t),
     .def = "4",
     .help = "Deprecated: use --max-body-size",
     .shift = 20,
     .attrs = DC_FLAG_WEAK},
    F("read-buffer-size", DC_FLAG_QUANTITY, read_buffer_size, "4Ki",
      "Max size of request headers (quantity)"),
    {.name = "dapr-http-read-buffer-size",
     .type = DC_FLAG_SCALED,
     .off = offsetof(struct sdc_config, read_buffer_size),
     .size = sizeof(uint64_t),
     .def = "4",
     .help = "Deprecated: use --read-buffer-size",
     .shift = 10,
     .attrs = DC_FLAG_WEAK},
    F("dapr-graceful-shutdown-seconds", DC_FLAG_INT, graceful_shutdown_seconds, "5",
      "Graceful shutdown budget in seconds"),
    F("dapr-block-shutdown-duration", DC_FLAG_DURATION, block_shutdown_duration_ns, "",
      "Keep serving this long after SIGTERM while the app is healthy"),
    F("enable-api-logging", DC_FLAG_TRIBOOL, enable_api_logging, "",
      "Log every API call (default: the Configuration decides)"),
    F("log-level", DC_FLAG_LOGLEVEL, log_level, "info", "debug, info, warn, error or fatal"),
    F("log-as-json", DC_FLAG_BOOL, log_as_json, "false", "Log as JSON lines"),
    F("log-file", DC_FLAG_STRING_DUP, log_file, "", "Also write the log to this file"),
    F("disable-builtin-k8s-secret-store", DC_FLAG_BOOL, disable_builtin_k8s_secret_store, "false",
      "Do not register the kubernetes secret store (kubernetes mode)"),
    F("disable-init-endpoints", DC_FLAG_LIST, disable_init_endpoints, "",
      "App init calls to skip: config, subscribe"),
    F("hot-reload-reconcile-interval", DC_FLAG_DURATION, hot_reload_reconcile_interval_ns, "0s",
      "Resource hot-reload reconcile period (0: 60s)"),
    F("wait", DC_FLAG_BOOL, wait, "false", "Wait for outbound readiness"),
    F("version", DC_FLAG_BOOL, version, "false", "Print the version and exit"),
    F("build-info", DC_FLAG_BOOL, build_info, "false", "Print build information and exit"),
    DC_FLAG_DEF_IGNORED("reminders-service", false, "Deprecated, no effect"),
    DC_FLAG_DEF_IGNORED("actors-service", false, "Deprecated, no effect"),
    DC_FLAG_DEF_IGNORED("enable-placement", true, "Deprecated, no effect"),
};
#undef F

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static void set_string(char **dst, const char *v)
{
    free(*dst);
    *dst = dc_xstrdup(v);
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
    bool help = false;

    memset(cfg, 0, sizeof(*cfg));
    dc_flags_defaults(flags, NFLAGS, cfg);
    apply_env(cfg, getenv_fn != NULL ? getenv_fn : default_getenv);
    if (dc_flags_parse(flags, NFLAGS, cfg, argc, (const char *const *)argv, NULL, &help, eb) !=
        DC_OK)
        return DC_EINVAL;
    if (help)
        return dc_err_set(eb, DC_EINVAL, "help requested");
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
        return dc_err_set(eb, DC_EINVAL,
                          "app health probe interval, timeout and threshold "
                          "must be > 0");
    return DC_OK;
}

void sdc_config_cleanup(struct sdc_config *cfg)
{
    dc_flags_cleanup(flags, NFLAGS, cfg);
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
    dc_flags_usage(out, flags, NFLAGS);
}
