#ifndef SDC_CONFIG_H
#define SDC_CONFIG_H

/* daprd's command line and environment (sidecar-api.md §18-19), parsed without any I/O.
 *
 * Flags follow Go's pflag conventions as upstream daprd does: `--flag value`, `--flag=value`, a
 * single leading dash also accepted, boolean flags true when given alone, list flags repeatable
 * and comma-separated. Unknown flags and bad values are errors with a one-line message. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dc/err.h"
#include "dc/flags.h"
#include "dc/log.h"

struct sdc_config {
    /* App and its channel. */
    char *app_id;
    int app_port; /* -1: no app channel */
    char *app_protocol;
    char *app_channel_address;
    int64_t app_max_concurrency; /* -1: unlimited */
    bool app_ssl;
    bool enable_app_health_check;
    char *app_health_check_path;
    int64_t app_health_probe_interval_s;
    int64_t app_health_probe_timeout_ms;
    int64_t app_health_threshold;
    int64_t app_binding_options_timeout_ns;

    /* Listeners. */
    int dapr_http_port;
    int dapr_grpc_port;
    int dapr_internal_grpc_port; /* -1: derived from the app id */
    char *dapr_internal_grpc_listen_address;
    struct dc_strlist listen_addresses; /* empty: all interfaces */
    int dapr_public_port;               /* -1: off */
    char *dapr_public_listen_address;
    char *unix_domain_socket;
    int profile_port;
    bool enable_profiling;
    int metrics_port;
    char *metrics_listen_address;
    bool enable_metrics;

    /* Resources and control plane. */
    struct dc_strlist resources_paths;
    struct dc_strlist config_paths;
    char *mode;
    struct dc_strlist placement_addresses;
    struct dc_strlist scheduler_addresses;
    int64_t scheduler_job_streams;
    int64_t actors_disseminate_timeout_ns;
    char *control_plane_address;
    char *sentry_address;
    char *control_plane_trust_domain;
    char *control_plane_namespace;
    struct dc_strlist sentry_request_jwt_audiences;
    bool enable_mtls;

    /* HTTP behaviour. */
    char *allowed_origins;
    uint64_t max_body_size;
    uint64_t read_buffer_size;
    int64_t graceful_shutdown_seconds;
    int64_t block_shutdown_duration_ns; /* -1: unset */
    int enable_api_logging;             /* -1 unset (Configuration decides), 0, 1 */
    struct dc_strlist disable_init_endpoints;
    int64_t hot_reload_reconcile_interval_ns;
    bool disable_builtin_k8s_secret_store;
    bool wait;

    /* Logging. */
    enum dc_log_level log_level;
    bool log_as_json;
    char *log_file;

    /* Print-and-exit requests. */
    bool version;
    bool build_info;

    /* Environment (§19). */
    char *api_token;     /* DAPR_API_TOKEN */
    char *app_api_token; /* APP_API_TOKEN */
    char *namespace;     /* NAMESPACE */
    bool disable_h2c;    /* DAPR_HTTP_DISABLE_H2C */
    char *host_ip;       /* DAPR_HOST_IP */
    char *trust_anchors; /* DAPR_TRUST_ANCHORS */
};

/* Fill `cfg` with upstream's defaults, then apply `getenv` values and the flags in argv[1..].
 * `getenv_fn` (NULL = getenv) lets tests supply an environment. On failure `cfg` must still be
 * released with sdc_config_cleanup and `eb` holds a one-line message. Returns DC_OK or
 * DC_EINVAL. */
typedef const char *sdc_getenv_fn(const char *name);
int sdc_config_parse(struct sdc_config *cfg, int argc, char **argv, sdc_getenv_fn *getenv_fn,
                     struct dc_errbuf *eb) DC_MUST_CHECK;

/* Checks that need the whole configuration (app id required in standalone mode...). */
int sdc_config_validate(const struct sdc_config *cfg, struct dc_errbuf *eb) DC_MUST_CHECK;

void sdc_config_cleanup(struct sdc_config *cfg);

/* The usage text (flag list) for --help. */
void sdc_config_usage(FILE *out);

#endif /* SDC_CONFIG_H */
