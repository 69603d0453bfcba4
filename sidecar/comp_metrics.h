#ifndef SDC_COMP_METRICS_H
#define SDC_COMP_METRICS_H

/* Upstream's component metrics (pkg/diagnostics/component_monitoring.go): one counter
 * dapr_component_<kind>_count and one latency histogram dapr_component_<kind>_latencies (ms,
 * upstream's buckets) per kind, recorded by the building blocks around each call into a
 * component. Labels, as upstream:
 *   state, secret, configuration, crypto, output_binding:
 *       app_id, component, namespace, operation, success
 *   input_binding:  app_id, component, namespace, success
 *   pubsub_egress:  app_id, component, namespace, success, topic
 *   pubsub_ingress: app_id, component, namespace, process_status, topic, status
 * and the runtime's component lifecycle metrics: dapr_runtime_component_loaded {app_id},
 * dapr_runtime_component_init_total {app_id, component (the type)} and
 * dapr_runtime_component_init_fail_total {app_id, component, reason ("creation": unknown
 * type, "init": its init failed), componentName}.
 * Thread-safe: recording is lock-free once a label set has its series (dc/metrics.h). */

#include <stdbool.h>
#include <stdint.h>

struct sdc_runtime;

enum sdc_cm_kind {
    SDC_CM_STATE,
    SDC_CM_SECRET,
    SDC_CM_CONFIGURATION,
    SDC_CM_CRYPTO,
    SDC_CM_OUTPUT_BINDING,
    SDC_CM_INPUT_BINDING,
    SDC_CM_PUBSUB_EGRESS,
    SDC_CM_PUBSUB_INGRESS,
    SDC_CM_COUNT
};

/* Operation label values, as upstream's. */
#define SDC_CM_GET "get"
#define SDC_CM_SET "set"
#define SDC_CM_DELETE "delete"
#define SDC_CM_BULK_GET "bulk_get"
#define SDC_CM_TRANSACTION "transaction"
#define SDC_CM_QUERY "query"
#define SDC_CM_SUBSCRIBE "subscribe"
#define SDC_CM_UNSUBSCRIBE "unsubscribe"
#define SDC_CM_CRYPTO_OP "crypto_op"

/* Register the metrics in rt->metrics (called once by sdc_runtime_init). */
void sdc_comp_metrics_setup(struct sdc_runtime *rt);

/* Record the outcome of initialising the component `name` of type `type`: loaded and
 * initialised, or failed with `reason`. */
void sdc_comp_metric_init(const struct sdc_runtime *rt, const char *type, const char *name, bool ok,
                          const char *reason);

/* Service invocation (upstream's dapr_runtime_service_invocation_*): on the calling sidecar,
 * a request sent to `app` {app_id, dst_app_id, type="unary"}, and when a response came back,
 * res_recv_total {app_id, src_app_id, status, type} and res_recv_latency_ms {app_id,
 * src_app_id, status} since `start_ns`; on the called sidecar, req_recv_total {app_id,
 * src_app_id} and res_sent_total {app_id, dst_app_id, status} for the caller `app`. */
void sdc_invoke_metric_sent(const struct sdc_runtime *rt, const char *app);
void sdc_invoke_metric_response(const struct sdc_runtime *rt, const char *app, int status,
                                int64_t start_ns);
void sdc_invoke_metric_received(const struct sdc_runtime *rt, const char *app);
void sdc_invoke_metric_replied(const struct sdc_runtime *rt, const char *app, int status);

/* Record one call of `kind` on component `component` that started at `start_ns`
 * (dc_mono_ns()): the count, and the latency in milliseconds. `operation` is ignored by the
 * kinds without that label; use sdc_comp_metric_pubsub for the pub/sub kinds. */
void sdc_comp_metric(const struct sdc_runtime *rt, enum sdc_cm_kind kind, const char *component,
                     const char *operation, bool success, int64_t start_ns);

/* Pub/sub: SDC_CM_PUBSUB_EGRESS (publish; `status` ignored, success from `success`) or
 * SDC_CM_PUBSUB_INGRESS (one delivery to the app; `status` is the process status "success",
 * "retry" or "drop", also used for the status label). */
void sdc_comp_metric_pubsub(const struct sdc_runtime *rt, enum sdc_cm_kind kind,
                            const char *component, const char *topic, bool success,
                            const char *status, int64_t start_ns);

#endif /* SDC_COMP_METRICS_H */
