#ifndef SDC_RUNTIME_H
#define SDC_RUNTIME_H

/* The sidecar runtime: the state that daprd's APIs serve from, built from the configuration and
 * the loaded resources. Business logic here is callable without sockets; the HTTP layer
 * (http_api.c) and main.c are thin adapters around it. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "dc/buf.h"
#include "dc/err.h"
#include "dc/metrics.h"
#include "dc/resources.h"

#include "comp_metrics.h"
#include "component.h"
#include "config.h"

struct sdc_resiliency;
struct sdc_acl;
struct sdc_nameres;
struct sdc_app_channel;
struct sdc_invoke;
struct sdc_http_mw;
struct sdc_pubsub_rt;
struct dc_identity;

struct sdc_kv {
    char *key;
    char *value;
};

struct sdc_runtime {
    const struct sdc_config *cfg; /* borrowed; outlives the runtime */
    struct dc_resources res;      /* every resource loaded from --resources-path */
    struct dc_configuration conf; /* merged --config files (defaults when none) */
    bool have_conf;

    /* Resources that apply to this app (scopes and namespace), pointing into `res`. */
    const struct dc_component **components;
    size_t ncomponents;
    const struct dc_subscription **subscriptions;
    size_t nsubscriptions;
    const struct dc_http_endpoint **http_endpoints;
    size_t nhttp_endpoints;
    const struct dc_resiliency **resiliencies;
    size_t nresiliencies;

    /* Building blocks; each owned by its module and set up in sidecar.c. */
    struct sdc_components comps;       /* initialised components (component.h) */
    struct sdc_resiliency *resiliency; /* resiliency.h */
    struct sdc_acl *acl;               /* acl.h: accessControl of the Configuration */
    struct sdc_nameres *nameres;       /* nameres.h */
    struct sdc_app_channel *app;       /* app_channel.h; NULL without --app-port */
    struct sdc_invoke *invoke;         /* invoke.h */
    struct sdc_bindings *bindings;     /* bindings.h: the input-binding runner */
    struct sdc_http_mw *http_mw;       /* http_mw.h: set up with the API router */
    struct sdc_pubsub_rt *pubsub;      /* pubsub_api.h */
    struct dc_identity *identity;      /* identity.h: with --enable-mtls, else NULL */

    /* Attributes set with PUT /v1.0/metadata/{key}; guarded by `lock`. */
    pthread_mutex_t lock;
    struct sdc_kv *extended;
    size_t nextended;

    struct dc_metrics *metrics;
    struct dc_metric *m_http_count;          /* dapr_http_server_request_count */
    struct dc_metric *m_http_latency;        /* dapr_http_server_latency */
    struct dc_metric *m_component_loaded;    /* comp_metrics.h */
    struct dc_metric *m_component_init;      /* comp_metrics.h */
    struct dc_metric *m_component_init_fail; /* comp_metrics.h */
    struct dc_metric *m_inv_req_sent;        /* comp_metrics.h: service invocation */
    struct dc_metric *m_inv_req_recv;
    struct dc_metric *m_inv_res_sent;
    struct dc_metric *m_inv_res_recv;
    struct dc_metric *m_inv_res_latency;
    struct dc_metric *m_comp_count[SDC_CM_COUNT];   /* comp_metrics.h */
    struct dc_metric *m_comp_latency[SDC_CM_COUNT]; /* comp_metrics.h */

    atomic_bool outbound_ready; /* components loaded, API listening */
    atomic_bool ready;          /* and the app channel is up (or there is no app) */
    atomic_bool shutdown_requested;
    atomic_bool force_shutdown;
};

/* Load the --config files and every --resources-path folder, keep what applies to this app,
 * and set up the metrics. On failure `eb` names the file, line and field at fault. */
int sdc_runtime_init(struct sdc_runtime *rt, const struct sdc_config *cfg,
                     struct dc_errbuf *eb) DC_MUST_CHECK;
void sdc_runtime_cleanup(struct sdc_runtime *rt);

/* GET /v1.0/metadata body, in upstream's JSON shape (sidecar-api.md §3.1). */
int sdc_runtime_metadata_json(struct sdc_runtime *rt, struct dc_buf *out) DC_MUST_CHECK;

/* PUT /v1.0/metadata/{key}: store an extended attribute (copied). `daprRuntimeVersion` is
 * read-only. Returns DC_OK, or DC_ETOOBIG past 1000 attributes. */
int sdc_runtime_set_extended(struct sdc_runtime *rt, const char *key, const char *value,
                             size_t len) DC_MUST_CHECK;

/* Resolve a component metadata secretKeyRef through the secret store `store` (NULL: the
 * default for the mode). On success `*out` is a new string (caller frees). */
int sdc_runtime_secret_ref(struct sdc_runtime *rt, const char *store, const char *name,
                           const char *key, char **out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* POST /v1.0/shutdown: flag the request and wake the main thread (it waits for signals, so
 * the wake-up is a SIGTERM to the own process). `force` asks for an immediate exit(1). */
void sdc_runtime_request_shutdown(struct sdc_runtime *rt, bool force);

/* The runtime version reported by --version and the metadata API. */
const char *sdc_runtime_version(void);

#endif /* SDC_RUNTIME_H */
