#ifndef SNT_SERVICE_H
#define SNT_SERVICE_H

/* The sentry process around the CA logic of sentry.h (control-plane.md §2): command-line flags,
 * the Configuration (spec.mtls), CA bootstrap from files or the Kubernetes Secret/ConfigMap
 * dapr-trust-bundle, the gRPC server dapr.proto.sentry.v1.CA/SignCertificate over TLS, the
 * reload of the issuer credentials, /healthz and Prometheus metrics. main.c only wires these.
 *
 * Threads: the gRPC server runs its loop thread and a pool of workers (signing happens there);
 * the health and metrics servers have their own threads; one watcher thread polls the issuer
 * files every second, renews sentry's serving certificate and refreshes the expiry gauges. The
 * CA (struct snt_ca) is shared under its own lock; the rest is read-only after start. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "dc/err.h"
#include "dc/log.h"
#include "dc/metrics.h"
#include "sentry.h"

/* Command-line flags (upstream's names, cmd/sentry/options/options.go; Go flag syntax: -f, --f,
 * --f=v, --f v; booleans take no separate value). Strings are borrowed from argv. */
struct snt_flags {
    const char *config;                      /* --config (daprsystem): a name or a YAML file */
    const char *issuer_credentials;          /* --issuer-credentials */
    const char *issuer_ca_filename;          /* --issuer-ca-filename (ca.crt) */
    const char *issuer_certificate_filename; /* --issuer-certificate-filename (issuer.crt) */
    const char *issuer_key_filename;         /* --issuer-key-filename (issuer.key) */
    const char *trust_domain;                /* --trust-domain (localhost) */
    bool trust_domain_set;                   /* given on the command line */
    const char *listen_address;              /* --listen-address ("" = all interfaces) */
    uint16_t port;                           /* --port (50001) */
    const char *healthz_listen_address;      /* --healthz-listen-address ("") */
    uint16_t healthz_port;                   /* --healthz-port (8080) */
    bool enable_metrics;                     /* --enable-metrics (true) */
    const char *metrics_listen_address;      /* --metrics-listen-address ("") */
    uint16_t metrics_port;                   /* --metrics-port (9090) */
    const char *mode;                        /* --mode: standalone | kubernetes (NULL: detect) */
    const char *kubeconfig;                  /* --kubeconfig */
    enum dc_log_level log_level;             /* --log-level (info) */
    bool log_as_json;                        /* --log-as-json */
    const char *ca_key_type;                 /* --ca-key-type ecdsa|ed25519 (daprc; ecdsa) */
    unsigned workers;                        /* --workers (daprc; 0 = one per CPU, >= 2) */
    long poll_ms;                            /* issuer files check period (1000; no flag) */
    bool jwt_enabled;                        /* --jwt-enabled: refused (not implemented) */
    bool oidc_enabled;                       /* --oidc-enabled: refused (not implemented) */
    bool help;
    bool version;
};

/* Fill `f` with the defaults, then apply argv[1..argc-1]. Returns DC_OK or DC_EINVAL (unknown
 * flag, missing or bad value, positional argument) with the reason in `eb`. Upstream flags this
 * sentry does not implement (JWT, OIDC) are accepted and only refused when enabled. */
int snt_flags_parse(struct snt_flags *f, int argc, const char *const *argv,
                    struct dc_errbuf *eb) DC_MUST_CHECK;
void snt_flags_usage(FILE *out);

/* True for Kubernetes mode: --mode kubernetes, or no --mode and KUBERNETES_SERVICE_HOST set
 * (upstream's IsKubernetesHosted). `getenv_fn` NULL means getenv. DC_EINVAL for another --mode
 * value than standalone/kubernetes is reported by snt_flags_parse. */
bool snt_flags_kubernetes(const struct snt_flags *f, const char *(*getenv_fn)(const char *));

/* spec.mtls of a Configuration (pkg/sentry/config/config.go), with upstream's defaults. */
#define SNT_MAX_JWKS_VALIDATORS 1
struct snt_mtls_config {
    int64_t workload_ttl_s;     /* workloadCertTTL (24h) */
    int64_t skew_s;             /* allowedClockSkew (15m) */
    char control_plane_td[256]; /* controlPlaneTrustDomain (cluster.local) */
    const char *validators[8];  /* tokenValidators[].name, borrowed from the JSON */
    size_t n_validators;
    const char *jwks_source; /* tokenValidators[name=jwks].options.source (borrowed) */
};

/* Read spec.mtls from a Configuration object (`conf` may be NULL: all defaults). Durations are
 * Go durations ("24h", "15m"); a malformed or non-positive workloadCertTTL, a negative skew, or
 * more than 8 validators is DC_EINVAL (the caller falls back to the defaults, as upstream).
 * Strings are borrowed from `conf`. Returns DC_OK or DC_EINVAL. */
int snt_mtls_config_from_json(const cJSON *conf, struct snt_mtls_config *out,
                              struct dc_errbuf *eb) DC_MUST_CHECK;

/* Read a Configuration YAML file (at most DC_MAX_MANIFEST_FILE) into a cJSON object owned by
 * the caller. Returns DC_OK, DC_EIO, DC_EPARSE, DC_ETOOBIG. */
int snt_config_file_read(const char *path, cJSON **out, struct dc_errbuf *eb) DC_MUST_CHECK;

struct snt_service;

/* The service, not started: flags checked, metrics registered. `f` is borrowed and must outlive
 * the service. Returns DC_OK or DC_EINVAL (a refused flag combination). */
int snt_service_new(struct snt_service **out, const struct snt_flags *f,
                    struct dc_errbuf *eb) DC_MUST_CHECK;

/* Start everything: the Configuration, Kubernetes access in Kubernetes mode, the CA (files, or
 * the Secret dapr-trust-bundle; generated and stored when absent, ca.crt published to the
 * folder or the ConfigMap dapr-trust-bundle), sentry's serving certificate, the gRPC server,
 * health, metrics and the watcher. Returns DC_OK or an error with the reason in `eb`; the caller
 * then frees the service. Call once. */
int snt_service_start(struct snt_service *s, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Stop accepting calls and let running ones finish for up to `grace_ms`. */
void snt_service_shutdown(struct snt_service *s, int64_t grace_ms);

/* Stop every thread and server and free. NULL is a no-op. */
void snt_service_free(struct snt_service *s);

/* One SignCertificate request without sockets (what the gRPC handler runs): select the
 * validator, validate, parse the CSR, sign. `req` and `csr` are borrowed. On DC_GRPC_OK `out`
 * (all-zero before) holds the chain and the anchors; otherwise `eb` holds the status message.
 * Returns a gRPC status code: OK, INVALID_ARGUMENT (validator selection, CSR), PERMISSION_DENIED
 * (validation), INTERNAL (signing). Counts the sign metrics. Any thread. */
int snt_service_sign(struct snt_service *s, const struct snt_request *req, const uint8_t *csr,
                     size_t csr_len, struct snt_signed *out, struct dc_errbuf *eb);

/* For tests: the registry, and the CA once started (borrowed). */
struct dc_metrics *snt_service_metrics(struct snt_service *s);
struct snt_ca *snt_service_ca(struct snt_service *s);
/* The gRPC port actually bound (after start). */
int snt_service_port(const struct snt_service *s);

#endif /* SNT_SERVICE_H */
