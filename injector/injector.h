#ifndef INJ_INJECTOR_H
#define INJ_INJECTOR_H

/* The sidecar injector's pure logic (control-plane.md §4): configuration from the environment,
 * pod annotations, the daprd container, the JSON Patch and the AdmissionReview exchange.
 *
 * Nothing here does network I/O, logs or keeps global state (except cJSON's allocator hooks,
 * set once by inj_json_memory_init); every function may run on any thread as long as each call
 * gets its own output objects. The HTTPS service (service.c) hands the request body to
 * inj_admission_respond, which writes the answer into the response body. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dc/arena.h"
#include "dc/buf.h"
#include "dc/err.h"
#include "dc/limits.h"

/* ---- configuration (config.c) ------------------------------------------------------------ */

struct inj_strlist {
    char **v;
    size_t n;
};

/* The injector's own settings (§4.1). Filled by inj_config_from_env; every string is owned by
 * the struct and released by inj_config_cleanup. Callers may set the fields marked "service
 * layer" after parsing. */
struct inj_config {
    char *sidecar_image;     /* SIDECAR_IMAGE (required) */
    char *image_pull_policy; /* Always | IfNotPresent | Never */
    char *namespace;         /* NAMESPACE (required): the control-plane namespace */
    char *cluster_domain;    /* KUBE_CLUSTER_DOMAIN, else "cluster.local" */
    /* Glob patterns "ns:name" of authorized requesters: built-ins, ALLOWED_SERVICE_ACCOUNTS,
     * ALLOWED_SERVICE_ACCOUNTS_PREFIX_NAMES. */
    struct inj_strlist allowed_service_accounts;
    /* Service layer: UIDs of those service accounts looked up at startup. */
    struct inj_strlist allowed_uids;
    cJSON *ignore_entrypoint_tolerations; /* IGNORE_ENTRYPOINT_TOLERATIONS array, or NULL */
    bool actors_enabled;                  /* ACTORS_ENABLED (true) */
    char *actors_service_name;            /* ACTORS_SERVICE_NAME ("placement") */
    char *actors_service_address;         /* ACTORS_SERVICE_ADDRESS (dapr-placement-server:50005) */
    char *reminders_service_name;         /* REMINDERS_SERVICE_NAME (NULL: none) */
    char *reminders_service_address;      /* REMINDERS_SERVICE_ADDRESS */
    bool run_as_non_root;                 /* SIDECAR_RUN_AS_NON_ROOT (true) */
    bool has_run_as_user;
    int64_t run_as_user; /* SIDECAR_RUN_AS_USER */
    bool has_run_as_group;
    int64_t run_as_group;             /* SIDECAR_RUN_AS_GROUP */
    bool read_only_root_filesystem;   /* SIDECAR_READ_ONLY_ROOT_FILESYSTEM (true) */
    bool enable_k8s_downward_apis;    /* ENABLE_K8S_DOWNWARD_APIS (false) */
    bool drop_all_capabilities;       /* SIDECAR_DROP_ALL_CAPABILITIES (false) */
    bool native_sidecar_enabled;      /* NATIVE_SIDECAR_ENABLED (false) */
    char *trust_anchors_file;         /* DAPR_TRUST_ANCHORS_FILE */
    char *trust_anchors;              /* PEM; inj_config_set_trust_anchors / _load_trust_anchors */
    char *control_plane_trust_domain; /* DAPR_CONTROL_PLANE_TRUST_DOMAIN ("cluster.local") */
    char *sentry_address;             /* DAPR_SENTRY_ADDRESS, else dapr-sentry.<ns>.svc.<d>:443 */
    char *control_plane_address;      /* dapr-api.<ns>.svc.<domain>:443 */
    char *components_sockets_folder;  /* DAPR_COMPONENT_SOCKETS_FOLDER, else /tmp/dapr-... */
    bool scheduler_enabled;           /* service layer: --scheduler-enabled (true) */
    bool disable_token_volume;        /* service layer: no K8s token file for the injector */
};

typedef const char *inj_getenv_fn(const char *name);

/* Fill `cfg` with upstream's defaults and apply the environment read through `getenv_fn`
 * (NULL = getenv). No I/O: KUBE_CLUSTER_DOMAIN falls back to "cluster.local" (the service may
 * call inj_cluster_domain_from_resolv first and set it), and the trust anchors file is not read
 * (see inj_config_load_trust_anchors).
 *
 * Returns DC_OK, or DC_EINVAL when SIDECAR_IMAGE / NAMESPACE is missing or a value is bad
 * (IGNORE_ENTRYPOINT_TOLERATIONS not a JSON array, SIDECAR_RUN_AS_USER not an integer...), with
 * the reason in `eb`. `cfg` must be released with inj_config_cleanup in both cases. */
int inj_config_from_env(struct inj_config *cfg, inj_getenv_fn *getenv_fn, struct dc_errbuf *eb);
void inj_config_cleanup(struct inj_config *cfg);

/* Replace the PEM trust anchors (copied). */
void inj_config_set_trust_anchors(struct inj_config *cfg, const char *pem);
/* Read cfg->trust_anchors_file (bounded by DC_MAX_INJ_TRUST_ANCHORS) into cfg->trust_anchors.
 * Returns DC_OK, DC_EINVAL (no file configured), DC_EIO, DC_ETOOBIG. Blocking file I/O. */
int inj_config_load_trust_anchors(struct inj_config *cfg, struct dc_errbuf *eb);
/* Find the cluster domain in resolv.conf text: the search entry "svc.<domain>" gives <domain>.
 * Returns DC_OK or DC_ENOTFOUND; `out` gets a NUL-terminated copy (cut to `n`). */
int inj_cluster_domain_from_resolv(const char *text, char *out, size_t n);

/* ---- warnings ---------------------------------------------------------------------------- */

/* Messages for the AdmissionReview `warnings` list. Strings are owned; at most
 * DC_MAX_INJ_WARNINGS_SLOTS are kept (later ones are counted in `dropped`). All-zero is empty. */
struct inj_warnings {
    char *v[DC_MAX_INJ_WARNINGS_SLOTS];
    size_t n;
    size_t dropped;
};

/* Add one warning; control characters in it become '?', and it is cut to DC_MAX_INJ_WARNING_LEN
 * bytes. */
void inj_warnf(struct inj_warnings *w, const char *fmt, ...) DC_PRINTF(2, 3);
void inj_warnings_cleanup(struct inj_warnings *w);

/* ---- per-pod sidecar settings (annotations.c) --------------------------------------------- */

struct inj_probe {
    int64_t delay, timeout, period, threshold;
};

/* Everything the annotations of one pod decide (§4.3), defaults applied. String pointers are
 * borrowed from the pod JSON or allocated in the arena given to inj_sidecar_from_pod; they
 * stay valid while both live. NULL means "not set". */
struct inj_sidecar {
    bool enabled;
    const char *app_id; /* never NULL after a successful parse ("" if the pod has no name) */
    bool app_id_defaulted;
    int64_t app_port; /* 0: unset */
    const char *app_protocol;
    bool app_ssl;
    const char *config;
    const char *log_level;
    bool log_as_json;
    int enable_api_logging; /* -1 unset, 0 false, 1 true */
    bool enable_profiling;
    const char *api_token_secret;
    const char *app_token_secret;
    bool has_app_max_concurrency;
    int64_t app_max_concurrency;
    bool enable_metrics;
    int64_t metrics_port;
    bool enable_debug;
    int64_t debug_port;
    const char *env;
    const char *env_from_secret;
    int64_t grpc_port;
    int64_t internal_grpc_port;
    const char *cpu_request, *cpu_limit, *memory_request, *memory_limit;
    const char *listen_addresses;
    struct inj_probe liveness, readiness;
    const char *image;
    const char *seccomp_profile_type;
    bool has_http_max_request_size;
    int64_t http_max_request_size;
    const char *max_body_size;
    bool has_http_read_buffer_size;
    int64_t http_read_buffer_size;
    const char *read_buffer_size;
    int64_t graceful_shutdown_seconds;
    const char *block_shutdown_duration;
    const char *unix_domain_socket_path;
    const char *volume_mounts;
    const char *volume_mounts_rw;
    bool disable_builtin_k8s_secret_store;
    bool enable_app_health_check;
    const char *app_health_check_path;
    int64_t app_health_probe_interval;
    int64_t app_health_probe_timeout;
    int64_t app_health_threshold;
    const char *app_binding_options_timeout;
    const char *placement_address; /* annotation, trimmed of spaces and quotes */
    const char *actors_disseminate_timeout;
    const char *scheduler_address; /* annotation, trimmed */
    const char *pluggable_components;
    const char *pluggable_components_sockets_folder;
    bool inject_pluggable_components;
    const char *app_channel_address;
    const char *sentry_request_jwt_audiences;
    const char *disable_init_endpoints;
    bool enable_native_sidecar;
};

/* True for upstream's truthy strings: y yes true t on 1 (any case). */
bool inj_truthy(const char *s);

/* Read the dapr.io/... annotations of `pod` (a corev1.Pod object) into `sc`, applying upstream's
 * defaults and `cfg`. Unusable values are replaced by the default and explained in `w`; a
 * missing app ID defaults to the pod name, then to generateName without its trailing dashes.
 * Returns DC_OK, or DC_EINVAL when `pod` is not an object. */
int inj_sidecar_from_pod(struct inj_sidecar *sc, const cJSON *pod, const struct inj_config *cfg,
                         struct dc_arena *arena, struct inj_warnings *w, struct dc_errbuf *eb);

/* DC_OK when `<id>-dapr` is a DNS-1123 label (the operator creates that Service), else
 * DC_EINVAL with the reason in `eb`. */
int inj_validate_app_id(const char *id, struct dc_errbuf *eb);

/* ---- the daprd container and volumes (sidecar_spec.c) ------------------------------------ */

/* Per-request facts that are not in the pod: the service layer supplies them. */
struct inj_request {
    const char *namespace; /* the pod's namespace (AdmissionRequest.namespace) */
    bool mtls_enabled;     /* Configuration daprsystem spec.mtls.enabled (true if missing) */
};

/* The daprd container object (§4.4) for the pod. `mounts` is the array of volumeMounts to give
 * it (consumed: ownership moves into the result). `components_folder` (may be NULL) is the
 * mount path of the shared pluggable-components socket volume, when one is injected. Returns a
 * new cJSON object owned by the caller. Never fails (allocation failure aborts). */
cJSON *inj_sidecar_container(const struct inj_sidecar *sc, const cJSON *pod,
                             const struct inj_config *cfg, const struct inj_request *req,
                             cJSON *mounts, const char *components_folder, struct inj_warnings *w);

/* Syntax check of a Kubernetes quantity ("500m", "1.5Gi", "1e3"); non-negative only. On
 * success `*value` (may be NULL) gets its approximate numeric value. */
bool inj_quantity_valid(const char *s, double *value);
/* Syntax check of a Go time.Duration string ("5s", "1m30s", "300ms", "0"). */
bool inj_duration_valid(const char *s);

/* ---- the JSON Patch (patch.c) ------------------------------------------------------------ */

/* Compute the JSON Patch that injects daprd into `pod` (§4.6). `*patch_out` receives a new
 * cJSON array owned by the caller; it is empty when nothing is to be done (not enabled, daprd
 * already present). `app_id_out` (may be NULL) receives the app ID used (borrowed from
 * `arena` or the pod). Warnings go to `w` (may be NULL). `req` may be NULL: the namespace then
 * comes from the pod (else "default") and mTLS is off. Strings borrowed into `arena` live until
 * it is cleaned up.
 *
 * Returns DC_OK, or DC_EINVAL when the pod must be rejected (invalid app ID, `pod` not an
 * object), with the message in `eb`; `*patch_out` is then NULL. */
int inj_patch_pod(const cJSON *pod, const struct inj_config *cfg, const struct inj_request *req,
                  struct dc_arena *arena, cJSON **patch_out, const char **app_id_out,
                  struct inj_warnings *w, struct dc_errbuf *eb);

/* ---- the AdmissionReview exchange (webhook.c) -------------------------------------------- */

enum inj_outcome_kind {
    INJ_OUTCOME_PATCHED = 0,      /* allowed with a patch */
    INJ_OUTCOME_UNCHANGED = 1,    /* allowed, nothing to do (not a pod, not enabled, has daprd) */
    INJ_OUTCOME_UNAUTHORIZED = 2, /* allowed without patch: requester not authorized */
    INJ_OUTCOME_REJECTED = 3,     /* allowed=false: patch generation failed (bad app ID) */
    INJ_OUTCOME_MALFORMED = 4,    /* error response: the review could not be used */
};

/* What happened, for the service layer's log line and metrics (§4.7). */
struct inj_outcome {
    enum inj_outcome_kind kind;
    int http_status;  /* 200; 400 for an empty body; 413 for a body over the limit */
    char app_id[128]; /* "" when unknown */
    char reason[DC_ERRBUF_LEN];
};

/* Handle one AdmissionReview (admission.k8s.io/v1 or v1beta1) of `len` bytes at `body` and
 * produce the AdmissionReview to send back (§4.2). `*resp_out` receives a NUL-terminated JSON
 * text owned by the caller (free()), `*resp_len` (may be NULL) its length. A response is
 * produced for every input, including malformed and oversized ones (then `response.allowed`
 * is false and `response.result.message` says why); `out` (may be NULL) classifies the case.
 * Input over DC_MAX_ADMISSION_REVIEW bytes is not parsed. Returns DC_OK. */
int inj_admission_handle(const char *body, size_t len, const struct inj_config *cfg,
                         bool mtls_enabled, char **resp_out, size_t *resp_len,
                         struct inj_outcome *out);

/* Point cJSON's allocator at the webhook's per-review arenas (other threads and calls outside
 * inj_admission_respond keep the C heap). Call once at startup, before any thread uses cJSON
 * and before anything is parsed; optional (without it reviews use the heap). */
void inj_json_memory_init(void);

/* inj_admission_handle appending the response to `resp` (the HTTP response body itself, so
 * the text is written once). DC_OK, or DC_ETOOBIG when `resp` has a limit the response passes
 * (then `resp` holds a partial text); `out` is filled in either case. */
int inj_admission_respond(const char *body, size_t len, const struct inj_config *cfg,
                          bool mtls_enabled, struct dc_buf *resp, struct inj_outcome *out);

/* True when `ct` is the JSON media type the API server sends ("application/json", optionally
 * with parameters). The service answers 415 otherwise. */
bool inj_content_type_ok(const char *ct);

/* True when the requester in `user_info` (AdmissionRequest.userInfo) may have pods injected:
 * a service account matching cfg->allowed_service_accounts, a UID in cfg->allowed_uids, or a
 * member of system:masters. */
bool inj_requester_authorized(const cJSON *user_info, const struct inj_config *cfg);

/* Go path.Match semantics for one pattern ('*' '?' '[...]' '\\', '/' never matched by
 * wildcards). Malformed patterns never match. */
bool inj_glob_match(const char *pattern, const char *s);

#endif /* INJ_INJECTOR_H */
