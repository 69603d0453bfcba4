/* sentry: command-line flags and the Configuration's spec.mtls (service.h). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc/buf.h"
#include "dc/limits.h"
#include "dc/str.h"
#include "dc/time.h"
#include "dc/yaml.h"

#include "service.h"

enum flag_kind { FLAG_STR, FLAG_PORT, FLAG_BOOL, FLAG_LEVEL, FLAG_UINT, FLAG_IGNORED };

struct flag_def {
    const char *name;
    enum flag_kind kind;
    size_t off;
    const char *help;
};

#define F(name, kind, field, help)                                                                 \
    {                                                                                              \
        name, kind, offsetof(struct snt_flags, field), help                                        \
    }
#define IGN(name, help)                                                                            \
    {                                                                                              \
        name, FLAG_IGNORED, 0, help                                                                \
    }
static const struct flag_def flag_defs[] = {
    F("config", FLAG_STR, config, "Configuration name (Kubernetes) or YAML file (daprsystem)"),
    F("issuer-credentials", FLAG_STR, issuer_credentials, "folder of ca.crt, issuer.crt/key"),
    F("issuer-ca-filename", FLAG_STR, issuer_ca_filename, "trust anchors file (ca.crt)"),
    F("issuer-certificate-filename", FLAG_STR, issuer_certificate_filename,
      "issuer certificate file (issuer.crt)"),
    F("issuer-key-filename", FLAG_STR, issuer_key_filename, "issuer key file (issuer.key)"),
    F("trust-domain", FLAG_STR, trust_domain, "control-plane trust domain (localhost)"),
    F("port", FLAG_PORT, port, "gRPC port (50001)"),
    F("listen-address", FLAG_STR, listen_address, "gRPC listen address (all interfaces)"),
    F("healthz-port", FLAG_PORT, healthz_port, "health server port (8080)"),
    F("healthz-listen-address", FLAG_STR, healthz_listen_address, "health listen address"),
    F("enable-metrics", FLAG_BOOL, enable_metrics, "serve Prometheus metrics (true)"),
    F("metrics-port", FLAG_PORT, metrics_port, "metrics port (9090)"),
    F("metrics-listen-address", FLAG_STR, metrics_listen_address, "metrics listen address"),
    F("mode", FLAG_STR, mode, "standalone or kubernetes (detected from KUBERNETES_SERVICE_HOST)"),
    F("kubeconfig", FLAG_STR, kubeconfig, "kubeconfig file (else $KUBECONFIG, in-cluster)"),
    F("log-level", FLAG_LEVEL, log_level, "debug, info, warn, error, fatal (info)"),
    F("log-as-json", FLAG_BOOL, log_as_json, "JSON log lines (false)"),
    F("ca-key-type", FLAG_STR, ca_key_type, "key of a generated root/issuer: ecdsa or ed25519"),
    F("workers", FLAG_UINT, workers, "signing threads (one per CPU, at least 2)"),
    F("jwt-enabled", FLAG_BOOL, jwt_enabled, "JWT issuing (not implemented; must stay false)"),
    F("oidc-enabled", FLAG_BOOL, oidc_enabled, "OIDC server (not implemented; must stay false)"),
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
    F("help", FLAG_BOOL, help, "this text"),
    F("version", FLAG_BOOL, version, "print the version"),
};
#undef F
#undef IGN
#define N_FLAGS (sizeof(flag_defs) / sizeof(flag_defs[0]))

void snt_flags_usage(FILE *out)
{
    size_t i;

    fprintf(out, "Usage: sentry [flags]\n"
                 "The Dapr certificate authority (dapr.proto.sentry.v1.CA on gRPC over TLS).\n"
                 "Environment: NAMESPACE (default \"default\"), see docs/internals/sentry.md.\n");
    for (i = 0; i < N_FLAGS; i++)
        fprintf(out, "  --%-28s %s\n", flag_defs[i].name, flag_defs[i].help);
}

static int flag_set(struct snt_flags *f, const struct flag_def *d, const char *v, bool has_v,
                    struct dc_errbuf *eb)
{
    char *p = (char *)f + d->off;
    int64_t n;
    bool b;

    switch (d->kind) {
    case FLAG_IGNORED:
        return DC_OK;
    case FLAG_STR:
        *(const char **)(void *)p = v;
        return DC_OK;
    case FLAG_PORT:
    case FLAG_UINT:
        if (dc_str_to_i64(v, 0, d->kind == FLAG_PORT ? 65535 : 1024, &n) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid value \"%.64s\" for flag --%s", v, d->name);
        if (d->kind == FLAG_PORT)
            *(uint16_t *)(void *)p = (uint16_t)n;
        else
            *(unsigned *)(void *)p = (unsigned)n;
        return DC_OK;
    case FLAG_BOOL:
        b = true;
        if (has_v && dc_str_to_bool(v, &b) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid boolean value \"%.64s\" for flag --%s", v,
                              d->name);
        *(bool *)(void *)p = b;
        return DC_OK;
    case FLAG_LEVEL:
        if (dc_log_level_parse(v, (enum dc_log_level *)(void *)p) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid log level \"%.64s\"", v);
        return DC_OK;
    }
    return dc_err_set(eb, DC_EINVAL, "flag --%s", d->name);
}

static void flags_defaults(struct snt_flags *f)
{
    memset(f, 0, sizeof(*f));
    f->config = "daprsystem";
    f->issuer_credentials = "/var/run/secrets/dapr.io/credentials";
    f->issuer_ca_filename = SNT_DEFAULT_CA_FILENAME;
    f->issuer_certificate_filename = SNT_DEFAULT_CERT_FILENAME;
    f->issuer_key_filename = SNT_DEFAULT_KEY_FILENAME;
    f->trust_domain = SNT_DEFAULT_TRUST_DOMAIN;
    f->listen_address = "";
    f->port = 50001;
    f->healthz_listen_address = "";
    f->healthz_port = 8080;
    f->enable_metrics = true;
    f->metrics_listen_address = "";
    f->metrics_port = 9090;
    f->log_level = DC_LOG_INFO;
    f->ca_key_type = "ecdsa";
    f->poll_ms = 1000;
}

static const struct flag_def *flag_find(const char *a, size_t nlen)
{
    size_t i;

    for (i = 0; i < N_FLAGS; i++) {
        if (strlen(flag_defs[i].name) == nlen && strncmp(flag_defs[i].name, a, nlen) == 0)
            return &flag_defs[i];
    }
    return NULL;
}

static int flags_check(const struct snt_flags *f, struct dc_errbuf *eb)
{
    if (f->mode != NULL && strcmp(f->mode, "standalone") != 0 && strcmp(f->mode, "kubernetes") != 0)
        return dc_err_set(eb, DC_EINVAL, "invalid --mode \"%.64s\": standalone or kubernetes",
                          f->mode);
    if (strcmp(f->ca_key_type, "ecdsa") != 0 && strcmp(f->ca_key_type, "ed25519") != 0)
        return dc_err_set(eb, DC_EINVAL, "invalid --ca-key-type \"%.64s\": ecdsa or ed25519",
                          f->ca_key_type);
    if (snt_spiffe_td_check(f->trust_domain, strlen(f->trust_domain), eb) != DC_OK) {
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
    const struct flag_def *d;
    const char *a, *eq, *v;
    size_t nlen;
    int k;

    flags_defaults(f);
    for (k = 1; k < argc; k++) {
        a = argv[k];
        if (a[0] != '-' || a[1] == '\0')
            return dc_err_set(eb, DC_EINVAL, "unexpected argument \"%.64s\"", a);
        a += a[1] == '-' ? 2 : 1;
        if (strcmp(a, "h") == 0)
            a = "help";
        eq = strchr(a, '=');
        nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        d = flag_find(a, nlen);
        if (d == NULL)
            return dc_err_set(eb, DC_EINVAL, "flag provided but not defined: -%.*s", (int)nlen, a);
        if (eq != NULL) {
            v = eq + 1;
        } else if (d->kind == FLAG_BOOL) {
            v = NULL;
        } else if (k + 1 < argc) {
            v = argv[++k];
        } else {
            return dc_err_set(eb, DC_EINVAL, "flag needs an argument: --%s", d->name);
        }
        if (flag_set(f, d, v, eq != NULL, eb) != DC_OK)
            return DC_EINVAL;
        if (strcmp(d->name, "trust-domain") == 0)
            f->trust_domain_set = true;
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
        if (snt_spiffe_td_check(td, strlen(td), eb) != DC_OK)
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
