#ifndef DC_RESOURCES_H
#define DC_RESOURCES_H

/* Dapr resource manifests (standalone mode): Component, Subscription (v1alpha1 and v2alpha1),
 * Resiliency, HTTPEndpoint and Configuration, loaded from a --resources-path folder, a single
 * file or a buffer into typed C structures.
 *
 * Which documents count (upstream's disk loader, made stricter where noted):
 *   - documents without apiVersion/kind, with an apiVersion outside the dapr.io group
 *     (apps/v1, v1, ...), or with a dapr.io kind this loader does not know, are skipped;
 *   - a dapr.io document of a known kind must be valid, else loading fails (upstream only logs
 *     a warning and drops it; a sidecar that silently runs without its state store is worse);
 *   - apiVersion must be dapr.io/v1alpha1, or dapr.io/v2alpha1 for Subscription;
 *   - names of one kind must be unique per namespace across everything loaded.
 * Every error message is one line: "<file>:<line>: <Kind> <name>: <field>: <problem>", where
 * <line> is the line of the offending node (1-based) and <field> its path (spec.type,
 * spec.metadata[2].name, ...). Text from the manifest is cut and control characters replaced
 * before it goes into a message.
 *
 * Scalars are kept as text, as upstream's Go types keep strings: a YAML plain `60000` in a
 * string field is "60000". Durations are not parsed here (the consumer owns their meaning),
 * but their syntax is checked (Go duration such as 1m30s, or a bare integer where upstream
 * allows milliseconds). Booleans and integers must be YAML booleans/integers (a quoted "true"
 * is a string and is rejected where a boolean is expected, as sigs.k8s.io/yaml does).
 *
 * Ownership: every struct below is owned by the struct that contains it; all strings are heap
 * copies released by dc_resources_cleanup / dc_configuration_cleanup. An all-zero struct is a
 * valid empty value. Nothing here is thread-safe; load on one thread, then share read-only. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dc/err.h"

/* Tri-state for booleans whose absence means "use the default". */
enum dc_tristate {
    DC_TRI_UNSET = 0,
    DC_TRI_FALSE,
    DC_TRI_TRUE,
};

/* Top-level metadata common to every kind. `namespace` is NULL when not given. `file` and
 * `line` locate the document start. */
struct dc_res_meta {
    char *api_version;
    char *kind;
    char *name;
    char *namespace;
    char **scopes; /* app ids; none = every app */
    size_t nscopes;
    char *file;
    int line;
};

/* NameValuePair: `value` holds scalars as text (plain booleans become "true"/"false" and plain
 * integers their decimal value, as upstream's DynamicValue does; floats keep their text) and
 * objects/arrays as compact JSON text. `value_set` is false for a missing or null value.
 * secretKeyRef and envRef are kept for the consumer to resolve. */
struct dc_nv {
    char *name;
    char *value;
    bool value_set;
    char *secret_ref_name;
    char *secret_ref_key;
    char *env_ref;
    int line;
};

struct dc_component {
    struct dc_res_meta meta;
    char *type;         /* "<category>.<name>", e.g. state.redis */
    char *version;      /* e.g. v1 */
    char *init_timeout; /* duration text; NULL = default 5s */
    bool ignore_errors;
    char *auth_secret_store; /* auth.secretStore, NULL when absent */
    struct dc_nv *metadata;
    size_t nmetadata;
};

struct dc_sub_rule {
    char *match; /* CEL expression */
    char *path;
    int line;
};

struct dc_subscription {
    struct dc_res_meta meta;
    int version; /* 1 = dapr.io/v1alpha1, 2 = dapr.io/v2alpha1 */
    char *pubsubname;
    char *topic;
    char *route;         /* v1 spec.route */
    char *default_route; /* v2 spec.routes.default (may be NULL when rules exist) */
    struct dc_sub_rule *rules;
    size_t nrules;
    struct dc_nv *metadata; /* string map; only name/value are used */
    size_t nmetadata;
    char *dead_letter_topic;
    bool bulk_enabled;
    int64_t bulk_max_messages; /* default 100 */
    int64_t bulk_max_await_ms; /* default 1000 */
};

enum dc_tls_renegotiation {
    DC_TLS_RENEG_NEVER = 0,
    DC_TLS_RENEG_ONCE_AS_CLIENT,
    DC_TLS_RENEG_FREELY_AS_CLIENT,
};

struct dc_http_endpoint {
    struct dc_res_meta meta;
    char *base_url;
    struct dc_nv *headers;
    size_t nheaders;
    char *auth_secret_store;
    /* spec.clientTLS: each a value or a secretKeyRef; `name` is the field name and
     * `value_set`/`secret_ref_name` both false/NULL when absent. */
    struct dc_nv tls_root_ca;
    struct dc_nv tls_certificate;
    struct dc_nv tls_private_key;
    enum dc_tls_renegotiation tls_renegotiation;
};

/* ---- Resiliency (sidecar-api §21) ---- */

struct dc_res_timeout {
    char *name;
    char *duration; /* Go duration or bare integer milliseconds */
    int line;
};

struct dc_res_retry {
    char *name;
    char *policy;        /* "constant" (default) or "exponential" */
    char *duration;      /* NULL = default 5s */
    char *max_interval;  /* NULL = default 60s */
    int64_t max_retries; /* default -1 = unlimited */
    char *match_http;    /* matching.httpStatusCodes, e.g. "429,500-599"; NULL = all */
    char *match_grpc;    /* matching.gRPCStatusCodes; NULL = all */
    int line;
};

struct dc_res_breaker {
    char *name;
    int64_t max_requests; /* default 1 */
    char *interval;       /* NULL = default 0s */
    char *timeout;        /* NULL = default 60s */
    char *trip;           /* NULL = default "consecutiveFailures > 5" */
    int line;
};

/* Names of policies; NULL when not set. Each names an existing policy of its kind. */
struct dc_res_policy_ref {
    char *timeout;
    char *retry;
    char *circuit_breaker;
};

struct dc_res_app_target {
    char *app_id;
    struct dc_res_policy_ref p;
    int64_t cache_size; /* circuitBreakerCacheSize, default 100 */
    int line;
};

struct dc_res_actor_target {
    char *actor_type;
    struct dc_res_policy_ref p;
    char *circuit_breaker_scope; /* id | type | both; required with a circuit breaker */
    int64_t cache_size;          /* default 5000 */
    int line;
};

struct dc_res_component_target {
    char *component;
    struct dc_res_policy_ref inbound;
    struct dc_res_policy_ref outbound;
    int line;
};

struct dc_resiliency {
    struct dc_res_meta meta;
    struct dc_res_timeout *timeouts;
    size_t ntimeouts;
    struct dc_res_retry *retries;
    size_t nretries;
    struct dc_res_breaker *breakers;
    size_t nbreakers;
    struct dc_res_app_target *apps;
    size_t napps;
    struct dc_res_actor_target *actors;
    size_t nactors;
    struct dc_res_component_target *components;
    size_t ncomponents;
};

/* ---- Configuration (sidecar-api §20) ---- */

struct dc_cfg_secret_scope {
    char *store_name;
    char *default_access; /* "allow" | "deny" | NULL (allow) */
    char **allowed;
    size_t nallowed;
    char **denied;
    size_t ndenied;
    int line;
};

struct dc_acl_operation {
    char *name;        /* path pattern, e.g. /op1/ */
    char **http_verbs; /* httpVerb[] */
    size_t nhttp_verbs;
    char *action; /* "allow" | "deny" */
    int line;
};

struct dc_acl_policy {
    char *app_id;
    char *default_action; /* NULL = inherit the global default */
    char *trust_domain;
    char *namespace;
    struct dc_acl_operation *operations;
    size_t noperations;
    int line;
};

struct dc_api_rule {
    char *name;
    char *version;
    char *protocol; /* "http" | "grpc" | NULL (both) */
};

struct dc_feature {
    char *name;
    bool enabled;
};

struct dc_pipeline_handler {
    char *name;
    char *type; /* middleware.http.* */
};

struct dc_configuration {
    struct dc_res_meta meta;
    struct {
        bool set;            /* spec.tracing present */
        char *sampling_rate; /* text, "0".."1"; NULL or "0" = off */
        bool to_stdout;      /* tracing.stdout */
        char *zipkin_endpoint;
        char *otel_endpoint;
        char *otel_protocol; /* grpc | http */
        bool otel_is_secure; /* default true (dc_configuration_load_file) */
        char *otel_timeout;
        struct dc_nv *otel_headers;
        size_t notel_headers;
    } tracing;
    enum dc_tristate metric_enabled; /* spec.metric or spec.metrics .enabled; load_file: TRUE */
    struct {
        bool set;
        bool enabled;
        char *workload_cert_ttl;
        char *allowed_clock_skew;
        char *sentry_address;
        char *control_plane_trust_domain;
    } mtls;
    struct dc_cfg_secret_scope *secret_scopes;
    size_t nsecret_scopes;
    struct {
        bool set;             /* spec.accessControl present */
        char *default_action; /* NULL: allow without policies, deny with (§20.3) */
        char *trust_domain;
        struct dc_acl_policy *policies;
        size_t npolicies;
    } access_control;
    struct {
        char *component; /* NULL = platform default (mdns standalone) */
        char *version;
        cJSON *configuration; /* owned; NULL when absent */
    } name_resolution;
    struct dc_feature *features;
    size_t nfeatures;
    struct dc_api_rule *api_allowed;
    size_t napi_allowed;
    struct dc_api_rule *api_denied;
    size_t napi_denied;
    struct dc_pipeline_handler *http_pipeline;
    size_t nhttp_pipeline;
    struct dc_pipeline_handler *app_http_pipeline;
    size_t napp_http_pipeline;
    struct {
        enum dc_tristate enabled;
        bool obfuscate_urls;
        bool omit_health_checks;
    } api_logging;
    char **components_deny; /* "bindings.smtp", "secretstores.local.env/v1" */
    size_t ncomponents_deny;
    cJSON *spec; /* owned: the whole spec, for everything not typed above */
};

struct dc_resources {
    struct dc_component *components;
    size_t ncomponents;
    struct dc_subscription *subscriptions;
    size_t nsubscriptions;
    struct dc_resiliency *resiliencies;
    size_t nresiliencies;
    struct dc_http_endpoint *http_endpoints;
    size_t nhttp_endpoints;
    struct dc_configuration *configurations;
    size_t nconfigurations;
    size_t nfiles; /* files read so far (bounded by DC_MAX_RESOURCE_FILES) */
};

/* Load `path`: a folder (every *.yaml, *.yml and *.json entry directly in it, in name order,
 * not recursive, as upstream's --resources-path) or a single file of any name. Resources are
 * appended to `r` (all-zero or previously loaded), so several paths can be loaded in turn;
 * duplicate names are checked against everything already in `r`.
 *
 * `path` is borrowed. On failure `r` keeps what earlier calls loaded plus possibly some of
 * this call's resources (call dc_resources_cleanup and stop), and `eb` holds one line naming
 * file and line. Returns DC_OK, DC_EIO (unreadable path), DC_ETOOBIG (file over
 * DC_MAX_MANIFEST_FILE, more than DC_MAX_RESOURCE_FILES files or DC_MAX_RESOURCES resources
 * of a kind, YAML bounds), DC_EPARSE (YAML syntax), DC_EINVAL (invalid manifest), DC_EEXIST
 * (duplicate name). */
int dc_resources_load_path(struct dc_resources *r, const char *path,
                           struct dc_errbuf *eb) DC_MUST_CHECK;

/* Load the manifests in `len` bytes at `data`, reporting them as coming from `filename`
 * (borrowed; copied into each resource's meta.file). Same contract and errors as
 * dc_resources_load_path, except DC_EIO. */
int dc_resources_load_buffer(struct dc_resources *r, const char *filename, const char *data,
                             size_t len, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Release everything `r` holds; `r` is all-zero afterwards. NULL is a no-op. */
void dc_resources_cleanup(struct dc_resources *r);

/* Load a daprd --config file into `out` (all-zero on entry): `$VAR` and `${VAR}` are expanded
 * from the environment first (unset variables become empty, as Go's os.ExpandEnv), then the
 * first Configuration document is read on top of the standalone defaults: metric enabled,
 * tracing.otel.isSecure true, accessControl defaultAction "allow" and trustDomain "public",
 * features HotReload and WorkflowsRemoteActivityReminder enabled unless listed.
 * Other documents in the file are ignored. Returns the dc_resources_load_path errors, and
 * DC_ENOTFOUND when the file holds no Configuration. On failure `out` is left empty. */
int dc_configuration_load_file(struct dc_configuration *out, const char *path,
                               struct dc_errbuf *eb) DC_MUST_CHECK;

/* Release what `c` holds; `c` is all-zero afterwards. NULL is a no-op. */
void dc_configuration_cleanup(struct dc_configuration *c);

/* Lookups by name (and namespace when `ns` is not NULL); borrowed, NULL when absent. */
const struct dc_component *dc_resources_find_component(const struct dc_resources *r,
                                                       const char *name, const char *ns);

#endif /* DC_RESOURCES_H */
