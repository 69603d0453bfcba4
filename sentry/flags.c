/* sentry: command-line flags and the Configuration's spec.mtls (service.h). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc/buf.h"
#include "dc/flags.h"
#include "dc/limits.h"
#include "dc/str.h"
#include "dc/time.h"
#include "dc/yaml.h"

#include "service.h"

#define F(name, type, field, def, help) DC_FLAG_DEF(struct snt_flags, name, type, field, def, help)
#define IGN(name, help) DC_FLAG_DEF_IGNORED(name, false, help)
static const struct dc_flag flag_defs[] = {
    F("config", DC_FLAG_STRING, config, "daprsystem",
      "Configuration name (Kubernetes) or YAML file"),
    F("issuer-credentials", DC_FLAG_STRING, issuer_credentials,
      "/var/run/secrets/dapr.io/credentials", "folder of ca.crt, issuer.crt/key"),
    F("issuer-ca-filename", DC_FLAG_STRING, issuer_ca_filename, SNT_DEFAULT_CA_FILENAME,
      "trust anchors file"),
    F("issuer-certificate-filename", DC_FLAG_STRING, issuer_certificate_filename,
      SNT_DEFAULT_CERT_FILENAME, "issuer certificate file"),
    F("issuer-key-filename", DC_FLAG_STRING, issuer_key_filename, SNT_DEFAULT_KEY_FILENAME,
      "issuer key file"),
    F("trust-domain", DC_FLAG_STRING, trust_domain, SNT_DEFAULT_TRUST_DOMAIN,
      "control-plane trust domain"),
    F("port", DC_FLAG_PORT, port, "50001", "gRPC port"),
    F("listen-address", DC_FLAG_STRING, listen_address, "", "gRPC listen address (all interfaces)"),
    F("healthz-port", DC_FLAG_PORT, healthz_port, "8080", "health server port"),
    F("healthz-listen-address", DC_FLAG_STRING, healthz_listen_address, "",
      "health listen address"),
    F("enable-metrics", DC_FLAG_BOOL, enable_metrics, "true", "serve Prometheus metrics"),
    F("metrics-port", DC_FLAG_PORT, metrics_port, "9090", "metrics port"),
    F("metrics-listen-address", DC_FLAG_STRING, metrics_listen_address, "",
      "metrics listen address"),
    F("mode", DC_FLAG_STRING, mode, NULL,
      "standalone or kubernetes (detected from KUBERNETES_SERVICE_HOST)"),
    F("kubeconfig", DC_FLAG_STRING, kubeconfig, NULL,
      "kubeconfig file (else $KUBECONFIG, in-cluster)"),
    F("log-level", DC_FLAG_LOGLEVEL, log_level, "info", "debug, info, warn, error, fatal"),
    F("log-as-json", DC_FLAG_BOOL, log_as_json, "false", "JSON log lines"),
    F("ca-key-type", DC_FLAG_STRING, ca_key_type, "ecdsa",
      "key of a generated root/issuer: ecdsa or ed25519"),
    DC_FLAG_DEF_INT(struct snt_flags, "workers", workers, 0, 1024, NULL,
                    "signing threads (0: one per CPU, at least 2)"),
    F("jwt-enabled", DC_FLAG_BOOL, jwt_enabled, "false",
      "JWT issuing (not implemented; must stay false)"),
    F("oidc-enabled", DC_FLAG_BOOL, oidc_enabled, "false",
      "OIDC server (not implemented; must stay false)"),
    IGN("jwt-key-filename", "ignored (JWT)"),
    IGN("jwks-filename", "ignored (JWT)"),
    IGN("jwt-issuer", "ignored (JWT)"),
    IGN("jwt-signing-algorithm", "ignored (JWT)"),
    IGN("jwt-key-id", "ignored (JWT)"),
    IGN("jwt-ttl", "ignored (JWT)"),
    IGN("oidc-server-listen-port", "ignored (OIDC)"),
    IGN("oidc-server-listen-address", "ignored (OIDC)"),
    IGN("oidc-jwks-uri", "ignored (OIDC)"),
    IGN("oidc-path-prefix", "ignored (OIDC)"),
    IGN("oidc-allowed-hosts", "ignored (OIDC)"),
    IGN("oidc-server-tls-cert-file", "ignored (OIDC)"),
    IGN("oidc-server-tls-key-file", "ignored (OIDC)"),
    F("version", DC_FLAG_BOOL, version, "false", "print the version"),
};
#undef F
#undef IGN
#define N_FLAGS (sizeof(flag_defs) / sizeof(flag_defs[0]))

void snt_flags_usage(FILE *out)
{
    fprintf(out, "Usage: sentry [flags]\n"
                 "The Dapr certificate authority (dapr.proto.sentry.v1.CA on gRPC over TLS).\n"
                 "Environment: NAMESPACE (default \"default\"), see docs/internals/sentry.md.\n"
                 "\nFlags:\n");
    dc_flags_usage(out, flag_defs, N_FLAGS);
}

static int flags_check(const struct snt_flags *f, struct dc_errbuf *eb)
{
    if (f->mode != NULL && strcmp(f->mode, "standalone") != 0 && strcmp(f->mode, "kubernetes") != 0)
        return dc_err_set(eb, DC_EINVAL, "invalid --mode \"%.64s\": standalone or kubernetes",
                          f->mode);
    if (strcmp(f->ca_key_type, "ecdsa") != 0 && strcmp(f->ca_key_type, "ed25519") != 0)
        return dc_err_set(eb, DC_EINVAL, "invalid --ca-key-type \"%.64s\": ecdsa or ed25519",
                          f->ca_key_type);
    if (dc_spiffe_td_check(f->trust_domain, strlen(f->trust_domain), eb) != DC_OK) {
        dc_err_wrapf(eb, "--trust-domain");
        return DC_EINVAL;
    }
    if (f->jwt_enabled || f->oidc_enabled)
        return dc_err_set(eb, DC_EINVAL, "--%s is not implemented by this sentry",
                          f->jwt_enabled ? "jwt-enabled" : "oidc-enabled");
    return DC_OK;
}

int snt_flags_parse(struct snt_flags *f, int argc, const char *const *argv, struct dc_errbuf *eb)
{
    bool given[N_FLAGS];

    memset(f, 0, sizeof(*f));
    dc_flags_defaults(flag_defs, N_FLAGS, f);
    f->poll_ms = 1000;
    if (dc_flags_parse(flag_defs, N_FLAGS, f, argc, argv, given, &f->help, eb) != DC_OK)
        return DC_EINVAL;
    for (size_t i = 0; i < N_FLAGS; i++) {
        if (strcmp(flag_defs[i].name, "trust-domain") == 0)
            f->trust_domain_set = given[i];
    }
    if (f->help || f->version)
        return DC_OK;
    return flags_check(f, eb);
}

bool snt_flags_kubernetes(const struct snt_flags *f, const char *(*getenv_fn)(const char *))
{
    const char *host;

    if (f->mode != NULL)
        return strcmp(f->mode, "kubernetes") == 0;
    host = getenv_fn != NULL ? getenv_fn("KUBERNETES_SERVICE_HOST")
                             : getenv("KUBERNETES_SERVICE_HOST");
    return !dc_str_empty(host);
}

/* ---- Configuration ---------------------------------------------------------------------- */

static int duration_s(const cJSON *mtls, const char *key, bool positive, int64_t *out,
                      struct dc_errbuf *eb)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(mtls, key);
    int64_t ns;

    if (v == NULL || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0'))
        return DC_OK;
    if (!cJSON_IsString(v) || dc_duration_parse(v->valuestring, &ns, NULL) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "spec.mtls.%s: not a duration", key);
    if (ns < 0 || (positive && ns < 1000000000LL))
        return dc_err_set(eb, DC_EINVAL, "spec.mtls.%s: %s", key,
                          positive ? "must be at least 1s" : "must not be negative");
    *out = ns / 1000000000LL;
    return DC_OK;
}

static int validators_from_json(const cJSON *mtls, struct snt_mtls_config *out,
                                struct dc_errbuf *eb)
{
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(mtls, "tokenValidators"), *it;
    const char *name, *src;

    if (tv == NULL || cJSON_IsNull(tv))
        return DC_OK;
    if (!cJSON_IsArray(tv))
        return dc_err_set(eb, DC_EINVAL, "spec.mtls.tokenValidators: not a list");
    cJSON_ArrayForEach(it, tv)
    {
        name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
        if (name == NULL)
            return dc_err_set(eb, DC_EINVAL, "spec.mtls.tokenValidators: entry without a name");
        if (out->n_validators == sizeof(out->validators) / sizeof(out->validators[0]))
            return dc_err_set(eb, DC_EINVAL, "spec.mtls.tokenValidators: too many entries");
        out->validators[out->n_validators++] = name;
        if (strcmp(name, "jwks") == 0) {
            src = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(it, "options"), "source"));
            out->jwks_source = src;
        }
    }
    return DC_OK;
}

int snt_mtls_config_from_json(const cJSON *conf, struct snt_mtls_config *out, struct dc_errbuf *eb)
{
    const cJSON *mtls;
    const char *td;
    int rv;

    memset(out, 0, sizeof(*out));
    out->workload_ttl_s = SNT_DEFAULT_WORKLOAD_TTL_S;
    out->skew_s = SNT_DEFAULT_CLOCK_SKEW_S;
    dc_strlcpy(out->control_plane_td, "cluster.local", sizeof(out->control_plane_td));
    mtls = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(conf, "spec"), "mtls");
    if (mtls == NULL)
        return DC_OK;
    rv = duration_s(mtls, "workloadCertTTL", true, &out->workload_ttl_s, eb);
    if (rv == DC_OK)
        rv = duration_s(mtls, "allowedClockSkew", false, &out->skew_s, eb);
    if (rv == DC_OK)
        rv = validators_from_json(mtls, out, eb);
    td = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(mtls, "controlPlaneTrustDomain"));
    if (rv == DC_OK && !dc_str_empty(td)) {
        if (dc_spiffe_td_check(td, strlen(td), eb) != DC_OK)
            rv = DC_EINVAL;
        else
            dc_strlcpy(out->control_plane_td, td, sizeof(out->control_plane_td));
    }
    return rv;
}

int snt_config_file_read(const char *path, cJSON **out, struct dc_errbuf *eb)
{
    struct dc_ystream ys = {0};
    struct dc_buf b;
    char chunk[4096];
    ssize_t n;
    int fd, rv = DC_OK;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dc_err_set(eb, DC_EIO, "%s: %s", path, strerror(errno));
    dc_buf_init(&b, DC_MAX_MANIFEST_FILE);
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rv = dc_err_set(eb, DC_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (dc_buf_append(&b, chunk, (size_t)n) != DC_OK) {
            rv = dc_err_set(eb, DC_ETOOBIG, "%s: too large", path);
            break;
        }
    }
    close(fd);
    if (rv == DC_OK)
        rv = dc_yaml_parse(&ys, b.data != NULL ? b.data : "", b.len, eb);
    if (rv == DC_OK) {
        if (ys.ndocs == 0) {
            *out = cJSON_CreateObject();
        } else {
            *out = dc_ynode_to_json(ys.docs[0].root);
        }
        if (*out == NULL)
            abort(); /* cJSON out of memory: the project's OOM policy */
    } else {
        dc_err_wrapf(eb, "%s", path);
    }
    dc_yaml_cleanup(&ys);
    dc_buf_cleanup(&b);
    return rv;
}
