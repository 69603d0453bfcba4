#ifndef INJ_SERVICE_H
#define INJ_SERVICE_H

/* The injector process around the pure logic of injector.h (control-plane.md §4.1, §4.2, §4.7):
 * command-line flags, the HTTPS webhook on /mutate, /healthz, Prometheus metrics, the
 * Configuration `daprsystem` (mTLS) and the allowed service accounts' UIDs from Kubernetes, and
 * the reload of the certificate files. main.c only wires these together.
 *
 * Threads: the HTTP servers run on their own threads; a Kubernetes informer thread keeps the
 * mTLS setting; one thread polls the certificate files or, in sentry mode, applies each new
 * identity (the webhook's certificate, the caBundle) that the identity thread publishes. The
 * handlers only read the config, which is not changed after inj_service_start. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "dc/err.h"
#include "dc/http_server.h"
#include "dc/log.h"
#include "dc/metrics.h"
#include "injector.h"

/* Command-line flags (upstream's names, Go flag syntax: -f, --f, --f=v, --f v; booleans take
 * no separate value). Strings are borrowed from argv. */
struct inj_flags {
    const char *listen_address;         /* --listen-address ("" = all interfaces) */
    uint16_t port;                      /* --port (4000) */
    const char *healthz_listen_address; /* --healthz-listen-address ("") */
    uint16_t healthz_port;              /* --healthz-port (8080) */
    bool enable_metrics;                /* --enable-metrics (true) */
    const char *metrics_listen_address; /* --metrics-listen-address ("") */
    uint16_t metrics_port;              /* --metrics-port (9090) */
    const char *kubeconfig;             /* --kubeconfig (NULL: $KUBECONFIG, in-cluster...) */
    bool scheduler_enabled;             /* --scheduler-enabled (true) */
    enum dc_log_level log_level;        /* --log-level (info) */
    bool log_as_json;                   /* --log-as-json (false) */
    const char *tls_cert_file;          /* --tls-cert-file (with --tls-key-file: file mode) */
    const char *tls_key_file;           /* --tls-key-file */
    long tls_poll_ms;                   /* how often the files, or in sentry mode the identity
                                           and the caBundle, are checked (1000; no flag) */
    bool help;                          /* -h / --help */
    bool version;                       /* --version */
};

/* Fill `f` with the defaults, then apply argv[1..argc-1]. Returns DC_OK or DC_EINVAL (unknown
 * flag, missing value, bad number or boolean, positional argument) with the reason in `eb`. The
 * TLS files are not checked here (see inj_service_start). */
int inj_flags_parse(struct inj_flags *f, int argc, const char *const *argv, struct dc_errbuf *eb);
void inj_flags_usage(FILE *out);

struct inj_service;

/* The service without sockets or threads: routers and metrics, with mTLS on. `cfg` and `f` are
 * borrowed and must outlive the service; `cfg->allowed_uids` is filled by inj_service_start.
 * Never NULL (aborts on OOM). */
struct inj_service *inj_service_new(struct inj_config *cfg, const struct inj_flags *f);

/* Start everything: Kubernetes access when a kubeconfig or in-cluster config is found (the UID
 * lookup, bounded by 10 s, then the Configuration informer), the HTTPS webhook with the
 * certificate files or, in sentry mode, the first SVID (waited for up to 30 s), health, metrics
 * and the certificate poller. In sentry mode /healthz stays 503 until the caBundle of
 * INJ_WEBHOOK_CONFIG holds the anchors (patched by the poller, which retries). Returns DC_OK or an
 * error with the reason in `eb` (unreadable or unusable certificate files, a port in use, an
 * explicit --kubeconfig that does not load); the caller then frees the service. Call once. */
int inj_service_start(struct inj_service *s, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Stop accepting webhook requests and wait up to `timeout_ms` for those in flight. */
void inj_service_shutdown(struct inj_service *s, int64_t timeout_ms);

/* Stop every thread and server and free. NULL is a no-op. */
void inj_service_free(struct inj_service *s);

/* Socketless access, for tests and the bench: the routers of the three servers, the registry,
 * and the mTLS flag that the informer keeps (true until a Configuration says otherwise). */
const struct dc_http_router *inj_service_webhook_router(const struct inj_service *s);
const struct dc_http_router *inj_service_health_router(const struct inj_service *s);
const struct dc_http_router *inj_service_metrics_router(const struct inj_service *s);
struct dc_metrics *inj_service_metrics(struct inj_service *s);
void inj_service_set_mtls(struct inj_service *s, bool on);
bool inj_service_mtls(const struct inj_service *s);
/* Mark the webhook ready (/healthz 200) or not (503). inj_service_start sets it. */
void inj_service_set_ready(struct inj_service *s, bool ready);

/* mTLS of a Configuration object: spec.mtls.enabled, true when absent or not a boolean
 * (upstream's GetEnabled). Pure. */
bool inj_configuration_mtls(const cJSON *configuration);

/* ---- the webhook's certificate (docs/internals/injector.md "Certificate") ------------------- */

/* The control-plane id the injector asks sentry for (sentry adds the DNS SAN
 * dapr-sidecar-injector.<namespace>.svc to it), and the webhook configuration it keeps. */
#define INJ_SENTRY_APP_ID "dapr-injector"
#define INJ_WEBHOOK_CONFIG "dapr-sidecar-injector"

enum inj_cert_source {
    INJ_CERT_FILES,  /* --tls-cert-file/--tls-key-file, reloaded when they change (daprc's) */
    INJ_CERT_SENTRY, /* an SVID from sentry, renewed in memory; caBundle kept (upstream's) */
};

/* Where the webhook's certificate comes from (pure): both files given: the files; neither:
 * sentry (cfg->sentry_address: DAPR_SENTRY_ADDRESS or its default), which needs the trust
 * anchors (cfg->trust_anchors_file: DAPR_TRUST_ANCHORS_FILE). One file without the other, or
 * neither and no anchors file: DC_EINVAL with the reason. */
int inj_cert_source_select(const struct inj_flags *f, const struct inj_config *cfg,
                           enum inj_cert_source *out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The JSON Patch (RFC 6902) that sets /webhooks/0/clientConfig/caBundle of the
 * MutatingWebhookConfiguration `mwc` to base64(anchors_pem), after a test of the first
 * webhook's name so that a list reordered meanwhile is not patched blindly. `*out` is NULL when
 * `mwc` already carries exactly that value (nothing to do), else a new string (free()). Pure.
 * Returns DC_OK, DC_EINVAL (no named webhooks[0], or empty anchors). */
int inj_cabundle_patch(const cJSON *mwc, const char *anchors_pem, char **out,
                       struct dc_errbuf *eb) DC_MUST_CHECK;

#endif /* INJ_SERVICE_H */
