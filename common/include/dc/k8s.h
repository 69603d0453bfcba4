#ifndef DC_K8S_H
#define DC_K8S_H

/* Kubernetes API client (libcurl + cJSON) shared by the operator, injector and sentry.
 *
 * Pieces:
 *   - struct dc_k8s_config: where the API server is and how to authenticate, loaded from a
 *     kubeconfig file or from the in-cluster service-account files;
 *   - struct dc_k8s_client: get, list, create, update, patch (JSON patch, merge patch, server-side
 *     apply), delete and streaming watch over that config;
 *   - dc_k8s_err_from_status: API errors (Status objects) mapped to DC_E* codes;
 *   - struct dc_k8s_watch_decoder: the incremental, bounded NDJSON decoder of watch streams (pure,
 *     no I/O, fuzzed);
 *   - struct dc_k8s_cancel: a cancellation token that aborts requests and sleeps at once.
 * The informer/cache lives in dc/k8s_informer.h, Lease leader election in dc/k8s_lease.h.
 * Design notes: docs/internals/k8s.md.
 *
 * Errors (of every function below that talks to the server):
 *   DC_ENOTFOUND (404 / NotFound), DC_EEXIST (409 AlreadyExists), DC_ECONFLICT (409 Conflict),
 *   DC_EINVAL (400, 422 Invalid), DC_EPERM (401, 403), DC_ERANGE (410 Expired / Gone: the resource
 *   version is older than the server's window; relist), DC_EUNSUPPORTED (405, 415),
 *   DC_ETOOBIG (413, or a response over DC_MAX_K8S_RESPONSE), DC_EUNAVAIL (429, 5xx, connection
 *   refused or reset), DC_ETIMEDOUT, DC_ETLS (certificate problems), DC_EPARSE (a body that is not
 *   JSON), DC_ECANCELED (the cancel token fired). The errbuf gets "reason: message (HTTP code)".
 *
 * Threads: a client may be used from several threads at once; each call is a blocking transfer
 * on its own curl handle, and connections, DNS and TLS sessions are shared under a lock. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dc/buf.h"
#include "dc/err.h"

/* ------------------------------------------------------------------------------------------ */
/* Configuration */

/* Connection and credentials. All-zero is an empty config; strings are owned (malloc'd) and freed
 * by dc_k8s_config_cleanup, which also wipes the key and the token. PEM blobs are NUL-terminated
 * text; files named in a kubeconfig are read at load time (relative paths resolve against the
 * kubeconfig's folder), except the token file, which the client re-reads when it rotates. */
struct dc_k8s_config {
    char *server;     /* "https://10.0.0.1:443", no trailing slash */
    char *namespace;  /* the context's (or the pod's) namespace; "default" when unset */
    char *ca_pem;     /* trusted CA bundle; NULL = the system store */
    char *cert_pem;   /* client certificate chain; NULL = none */
    char *key_pem;    /* client private key; NULL = none */
    char *token;      /* bearer token; NULL = none */
    char *token_file; /* bearer token file, re-read on rotation; NULL = none */
    bool insecure;    /* insecure-skip-tls-verify */
    char *context;    /* the kubeconfig context used (NULL in-cluster) */
};

/* Default in-cluster service-account folder. */
#define DC_K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Parse kubeconfig YAML `text` (`len` bytes). `context` selects a context (NULL = the file's
 * current-context). `base_dir` resolves relative file paths (NULL = the current directory).
 * Fills `cfg` (which must be all-zero or cleaned up) on success; on failure `cfg` is left empty.
 * Errors: DC_EPARSE (not YAML, wrong shape, bad base64), DC_ENOTFOUND (context, cluster or user
 * missing), DC_EIO (a referenced file unreadable), DC_ETOOBIG. */
int dc_k8s_config_from_kubeconfig_text(struct dc_k8s_config *cfg, const char *text, size_t len,
                                       const char *context, const char *base_dir,
                                       struct dc_errbuf *eb) DC_MUST_CHECK;

/* Read the kubeconfig file `path` and parse it as above. */
int dc_k8s_config_from_kubeconfig(struct dc_k8s_config *cfg, const char *path, const char *context,
                                  struct dc_errbuf *eb) DC_MUST_CHECK;

/* In-cluster config: server from KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT, CA from
 * `sa_dir`/ca.crt, token from `sa_dir`/token (kept as token_file for rotation), namespace from
 * `sa_dir`/namespace. `sa_dir` NULL = DC_K8S_SA_DIR. Errors: DC_ENOTFOUND (not in a cluster:
 * the variables are unset), DC_EIO (files unreadable). */
int dc_k8s_config_in_cluster(struct dc_k8s_config *cfg, const char *sa_dir,
                             struct dc_errbuf *eb) DC_MUST_CHECK;

/* The controller-runtime order: `kubeconfig` (a --kubeconfig flag, may be NULL), else the first
 * existing file of $KUBECONFIG (a ':'-separated list; files are not merged), else in-cluster,
 * else $HOME/.kube/config. `context` as above (ignored in-cluster). */
int dc_k8s_config_load(struct dc_k8s_config *cfg, const char *kubeconfig, const char *context,
                       struct dc_errbuf *eb) DC_MUST_CHECK;

void dc_k8s_config_cleanup(struct dc_k8s_config *cfg);

/* ------------------------------------------------------------------------------------------ */
/* Errors */

/* Map an HTTP status and a Status `reason` (may be NULL or "") to a DC_E* code. The reason wins
 * where Kubernetes gives two meanings to one code (409 AlreadyExists vs Conflict). 2xx gives
 * DC_OK. Pure. */
int dc_k8s_err_from_status(long http_code, const char *reason);

/* Map a failed response: parse `body` (a Status object, or anything else) for reason and message,
 * write "reason: message (HTTP code)" into `eb`, and return dc_k8s_err_from_status. */
int dc_k8s_status_error(long http_code, const char *body, size_t len, struct dc_errbuf *eb);

/* ------------------------------------------------------------------------------------------ */
/* Cancellation */

/* Fired once, never reset. Requests in progress with this token abort within milliseconds
 * (the transfer loop is woken) and return DC_ECANCELED. Thread-safe. */
struct dc_k8s_cancel;

struct dc_k8s_cancel *dc_k8s_cancel_new(void);
void dc_k8s_cancel_free(struct dc_k8s_cancel *c); /* NULL is a no-op; nothing may still use it */
void dc_k8s_cancel_fire(struct dc_k8s_cancel *c);
bool dc_k8s_cancel_fired(const struct dc_k8s_cancel *c); /* NULL gives false */
/* Sleep `ms` milliseconds or until fired; returns DC_ECANCELED when fired, else DC_OK.
 * `c` may be NULL (a plain sleep). */
int dc_k8s_cancel_sleep(struct dc_k8s_cancel *c, long ms);

/* ------------------------------------------------------------------------------------------ */
/* Client */

struct dc_k8s_client;

/* A resource type. The strings are borrowed for the duration of each call. */
struct dc_k8s_resource {
    const char *group;   /* "" or NULL for the core group ("/api/v1") */
    const char *version; /* "v1" */
    const char *plural;  /* "configmaps" */
    bool namespaced;
};

/* Create a client; `cfg` is copied. Loads libcurl on first use (dc/dl.h). Errors: DC_EINVAL (no
 * server), DC_EIO (token file, or libcurl unusable), DC_ENOTFOUND (libcurl.so.4 missing). */
int dc_k8s_client_new(struct dc_k8s_client **out, const struct dc_k8s_config *cfg,
                      struct dc_errbuf *eb) DC_MUST_CHECK;
/* NULL is a no-op. No call may be in flight. */
void dc_k8s_client_free(struct dc_k8s_client *c);
/* The config's namespace (borrowed for the client's life). */
const char *dc_k8s_client_namespace(const struct dc_k8s_client *c);
/* Per-request timeout for non-watch calls (default 30000 ms; 0 = none). Set before sharing. */
void dc_k8s_client_set_timeout(struct dc_k8s_client *c, long ms);
/* How often the token file's mtime is checked (default 60000 ms; 0 = every request). A 401 always
 * re-reads it and retries once. Set before sharing. */
void dc_k8s_client_set_token_check(struct dc_k8s_client *c, long ms);

/* Build the URL path of `res` into `out` (appended): /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]]
 * or /apis/G/V/... . `ns` NULL or "" for cluster-wide (or all-namespaces lists); `name`, `sub`
 * may be NULL. Path segments are percent-encoded. */
int dc_k8s_path(struct dc_buf *out, const struct dc_k8s_resource *res, const char *ns,
                const char *name, const char *sub) DC_MUST_CHECK;

/* The generic call behind the helpers below. `path_query` starts with '/'. `content_type` and
 * `body` may be NULL. On 2xx `*out` (may be NULL) receives the parsed JSON body (NULL for an empty
 * body), owned by the caller (cJSON_Delete). `http_code` (may be NULL) receives the status.
 * `cancel` may be NULL. */
int dc_k8s_request(struct dc_k8s_client *c, const char *method, const char *path_query,
                   const char *content_type, const char *body, size_t body_len,
                   struct dc_k8s_cancel *cancel, cJSON **out, long *http_code,
                   struct dc_errbuf *eb) DC_MUST_CHECK;

int dc_k8s_get(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
               const char *name, cJSON **out, struct dc_errbuf *eb) DC_MUST_CHECK;

struct dc_k8s_list_opts {
    const char *label_selector;   /* NULL = none */
    const char *field_selector;   /* NULL = none */
    const char *resource_version; /* NULL = most recent ("0" = any cached) */
    const char *continue_token;   /* NULL = first page */
    long limit;                   /* 0 = no limit */
};

/* One LIST page: `*out` is the List object (items, metadata.resourceVersion, metadata.continue).
 * `opts` may be NULL. */
int dc_k8s_list(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                const struct dc_k8s_list_opts *opts, cJSON **out,
                struct dc_errbuf *eb) DC_MUST_CHECK;

/* POST `obj`; `*out` (may be NULL) receives the created object. */
int dc_k8s_create(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                  const cJSON *obj, cJSON **out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* PUT `obj` to NAME (optimistic concurrency through obj's metadata.resourceVersion). */
int dc_k8s_update(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                  const char *name, const cJSON *obj, cJSON **out,
                  struct dc_errbuf *eb) DC_MUST_CHECK;

enum dc_k8s_patch_type {
    DC_K8S_PATCH_JSON,      /* application/json-patch+json (RFC 6902) */
    DC_K8S_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
    DC_K8S_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in kinds only) */
    DC_K8S_PATCH_APPLY,     /* application/apply-patch+yaml (server-side apply; JSON is YAML) */
};

struct dc_k8s_patch_opts {
    const char *field_manager; /* required for APPLY; NULL = none */
    bool force;                /* APPLY: take over conflicting fields */
    const char *sub;           /* subresource ("status"), NULL = the main resource */
};

/* PATCH NAME with `patch` (JSON text). `opts` may be NULL (APPLY then fails with DC_EINVAL). */
int dc_k8s_patch(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                 const char *name, enum dc_k8s_patch_type type, const char *patch,
                 const struct dc_k8s_patch_opts *opts, cJSON **out,
                 struct dc_errbuf *eb) DC_MUST_CHECK;

/* DELETE NAME (background propagation). `*out` (may be NULL) receives the answer: a Status, or
 * the object when finalizers keep it. */
int dc_k8s_delete(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                  const char *name, cJSON **out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* ------------------------------------------------------------------------------------------ */
/* Watch */

enum dc_k8s_event_type {
    DC_K8S_ADDED,
    DC_K8S_MODIFIED,
    DC_K8S_DELETED,
    DC_K8S_BOOKMARK,
    DC_K8S_ERROR, /* object is a Status; code 410 = resource version too old, relist */
};

const char *dc_k8s_event_name(enum dc_k8s_event_type t);

/* Called once per event. `object` is borrowed for the call (the callee may detach and keep it
 * with cJSON_DetachItemViaPointer on `event`, the whole {"type","object"} document). A return
 * other than DC_OK stops decoding and is returned by the decoder or the watch. */
typedef int (*dc_k8s_event_fn)(void *arg, enum dc_k8s_event_type type, cJSON *object, cJSON *event);

/* Incremental NDJSON decoder: feed any split of the stream, get one callback per complete line.
 * Lines are bounded by `max` (DC_MAX_K8S_WATCH_EVENT by default); storage above 64 KiB is
 * released after a big event, so a long watch costs little memory. */
struct dc_k8s_watch_decoder {
    struct dc_buf line; /* the incomplete tail */
    bool failed;        /* a previous error: every later call fails with DC_EINVAL */
};

void dc_k8s_watch_decoder_init(struct dc_k8s_watch_decoder *d, size_t max);
void dc_k8s_watch_decoder_cleanup(struct dc_k8s_watch_decoder *d);
/* Decode `n` bytes. Errors: DC_ETOOBIG (a line over max), DC_EPARSE (not JSON, not an object,
 * unknown type, missing object), or the callback's code. Empty lines are skipped. */
int dc_k8s_watch_decode(struct dc_k8s_watch_decoder *d, const char *data, size_t n,
                        dc_k8s_event_fn fn, void *arg, struct dc_errbuf *eb) DC_MUST_CHECK;
/* End of stream: DC_OK when nothing is pending, else DC_EPARSE (a truncated last event). */
int dc_k8s_watch_decoder_finish(struct dc_k8s_watch_decoder *d, struct dc_errbuf *eb);

struct dc_k8s_watch_opts {
    const char *label_selector;   /* NULL = none */
    const char *field_selector;   /* NULL = none */
    const char *resource_version; /* start after this version; NULL/"" = current state first */
    bool bookmarks;               /* allowWatchBookmarks=true */
    long timeout_seconds;         /* server-side watch length; 0 = server default */
};

/* One streaming WATCH: blocks, calling `fn` on this thread for each event, until the server ends
 * the stream (DC_OK), `fn` returns non-OK (that code), `cancel` fires (DC_ECANCELED) or an error.
 * An HTTP 410 gives DC_ERANGE; an ERROR event is passed to `fn` like any other (the informer
 * turns its code 410 into a relist). The connection is dropped when no byte (not even a bookmark)
 * arrives for `timeout_seconds` + 30 s. */
int dc_k8s_watch(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                 const struct dc_k8s_watch_opts *opts, dc_k8s_event_fn fn, void *arg,
                 struct dc_k8s_cancel *cancel, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Small helpers over objects (borrowed strings; NULL when absent). */
const char *dc_k8s_obj_name(const cJSON *obj);
const char *dc_k8s_obj_namespace(const cJSON *obj);
const char *dc_k8s_obj_rv(const cJSON *obj);

#endif /* DC_K8S_H */
