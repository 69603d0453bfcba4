/* Component metrics (comp_metrics.h). */
#include "comp_metrics.h"

#include "dc/metrics.h"
#include "dc/time.h"

#include "runtime.h"

static const struct {
    const char *count;
    const char *latency;
    const char *count_help;
    const char *latency_help;
} names[SDC_CM_COUNT] = {
    [SDC_CM_STATE] = {"dapr_component_state_count", "dapr_component_state_latencies",
                      "The number of operations performed on the state component.",
                      "The latency of the response from the state component."},
    [SDC_CM_SECRET] = {"dapr_component_secret_count", "dapr_component_secret_latencies",
                       "The number of operations performed on the secret component.",
                       "The latency of the response from the secret component."},
    [SDC_CM_CONFIGURATION] = {"dapr_component_configuration_count",
                              "dapr_component_configuration_latencies",
                              "The number of operations performed on the configuration component.",
                              "The latency of the response from the configuration component."},
    [SDC_CM_CRYPTO] = {"dapr_component_crypto_count", "dapr_component_crypto_latencies",
                       "The number of operations performed on the crypto component.",
                       "The latency of the response from the crypto component."},
    [SDC_CM_OUTPUT_BINDING] = {"dapr_component_output_binding_count",
                               "dapr_component_output_binding_latencies",
                               "The number of operations invoked on the output binding component.",
                               "The latency of the response from the output binding component."},
    [SDC_CM_INPUT_BINDING] = {"dapr_component_input_binding_count",
                              "dapr_component_input_binding_latencies",
                              "The number of incoming events arriving from the input binding "
                              "component.",
                              "The triggered app event processing latency."},
    [SDC_CM_PUBSUB_EGRESS] = {"dapr_component_pubsub_egress_count",
                              "dapr_component_pubsub_egress_latencies",
                              "The number of outgoing messages published to the pub/sub "
                              "component.",
                              "The latency of the response from the pub/sub component."},
    [SDC_CM_PUBSUB_INGRESS] = {"dapr_component_pubsub_ingress_count",
                               "dapr_component_pubsub_ingress_latencies",
                               "The number of incoming messages arriving from the pub/sub "
                               "component.",
                               "The consuming app event processing latency."},
};

static const char *const op_labels[] = {"app_id", "component", "namespace", "operation", "success"};
static const char *const input_labels[] = {"app_id", "component", "namespace", "success"};
static const char *const egress_labels[] = {"app_id", "component", "namespace", "success", "topic"};
static const char *const ingress_labels[] = {"app_id",         "component", "namespace",
                                             "process_status", "topic",     "status"};

void sdc_comp_metrics_setup(struct sdc_runtime *rt)
{
    static const char *const loaded_labels[] = {"app_id"};
    static const char *const init_labels[] = {"app_id", "component"};
    static const char *const fail_labels[] = {"app_id", "component", "reason", "componentName"};

    rt->m_component_loaded =
        dc_metrics_counter(rt->metrics, "dapr_runtime_component_loaded",
                           "The number of successfully loaded components.", 1, loaded_labels);
    rt->m_component_init =
        dc_metrics_counter(rt->metrics, "dapr_runtime_component_init_total",
                           "The number of initialized components.", 2, init_labels);
    rt->m_component_init_fail =
        dc_metrics_counter(rt->metrics, "dapr_runtime_component_init_fail_total",
                           "The number of component initialization failures.", 4, fail_labels);
    static const char *const sent_labels[] = {"app_id", "dst_app_id", "type"};
    static const char *const recv_labels[] = {"app_id", "src_app_id"};
    static const char *const res_sent_labels[] = {"app_id", "dst_app_id", "status"};
    static const char *const res_recv_labels[] = {"app_id", "src_app_id", "status", "type"};
    static const char *const latency_labels[] = {"app_id", "src_app_id", "status"};

    rt->m_inv_req_sent =
        dc_metrics_counter(rt->metrics, "dapr_runtime_service_invocation_req_sent_total",
                           "The number of requests sent via service invocation.", 3, sent_labels);
    rt->m_inv_req_recv = dc_metrics_counter(
        rt->metrics, "dapr_runtime_service_invocation_req_recv_total",
        "The number of requests received via service invocation.", 2, recv_labels);
    rt->m_inv_res_sent = dc_metrics_counter(
        rt->metrics, "dapr_runtime_service_invocation_res_sent_total",
        "The number of responses sent via service invocation.", 3, res_sent_labels);
    rt->m_inv_res_recv = dc_metrics_counter(
        rt->metrics, "dapr_runtime_service_invocation_res_recv_total",
        "The number of responses received via service invocation.", 4, res_recv_labels);
    rt->m_inv_res_latency =
        dc_metrics_histogram(rt->metrics, "dapr_runtime_service_invocation_res_recv_latency_ms",
                             "The latency of service invocation response.", 3, latency_labels,
                             DC_METRICS_LATENCY_MS_BUCKETS, dc_metrics_latency_ms_buckets);
    for (int k = 0; k < SDC_CM_COUNT; k++) {
        const char *const *labels = op_labels;
        size_t n = 5;

        if (k == SDC_CM_INPUT_BINDING) {
            labels = input_labels;
            n = 4;
        } else if (k == SDC_CM_PUBSUB_EGRESS) {
            labels = egress_labels;
        } else if (k == SDC_CM_PUBSUB_INGRESS) {
            labels = ingress_labels;
            n = 6;
        }
        rt->m_comp_count[k] =
            dc_metrics_counter(rt->metrics, names[k].count, names[k].count_help, n, labels);
        rt->m_comp_latency[k] =
            dc_metrics_histogram(rt->metrics, names[k].latency, names[k].latency_help, n, labels,
                                 DC_METRICS_LATENCY_MS_BUCKETS, dc_metrics_latency_ms_buckets);
    }
}

void sdc_comp_metric_init(const struct sdc_runtime *rt, const char *type, const char *name, bool ok,
                          const char *reason)
{
    if (rt->metrics == NULL)
        return;
    if (ok) {
        const char *loaded[] = {rt->cfg->app_id};
        const char *init[] = {rt->cfg->app_id, type};
        dc_metric_inc(rt->m_component_loaded, loaded, 1);
        dc_metric_inc(rt->m_component_init, init, 1);
    } else {
        const char *fail[] = {rt->cfg->app_id, type, reason, name};
        dc_metric_inc(rt->m_component_init_fail, fail, 1);
    }
}

/* An HTTP status as label text ("0".."999"); `buf` holds at least 4 bytes. */
static const char *status_text(int status, char *buf)
{
    if (status < 0 || status > 999)
        status = 0;
    buf[0] = (char)('0' + status / 100);
    buf[1] = (char)('0' + status / 10 % 10);
    buf[2] = (char)('0' + status % 10);
    buf[3] = '\0';
    return status >= 100 ? buf : buf + (status >= 10 ? 1 : 2);
}

void sdc_invoke_metric_sent(const struct sdc_runtime *rt, const char *app)
{
    const char *vals[] = {rt->cfg->app_id, app, "unary"};

    dc_metric_inc(rt->m_inv_req_sent, vals, 1);
}

void sdc_invoke_metric_response(const struct sdc_runtime *rt, const char *app, int status,
                                int64_t start_ns)
{
    char buf[4];
    const char *st = status_text(status, buf);
    const char *vals[] = {rt->cfg->app_id, app, st, "unary"};
    const char *lat[] = {rt->cfg->app_id, app, st};

    dc_metric_inc(rt->m_inv_res_recv, vals, 1);
    dc_metric_observe(rt->m_inv_res_latency, lat, (double)(dc_mono_ns() - start_ns) / 1e6);
}

void sdc_invoke_metric_received(const struct sdc_runtime *rt, const char *app)
{
    const char *vals[] = {rt->cfg->app_id, app != NULL ? app : ""};

    dc_metric_inc(rt->m_inv_req_recv, vals, 1);
}

void sdc_invoke_metric_replied(const struct sdc_runtime *rt, const char *app, int status)
{
    char buf[4];
    const char *vals[] = {rt->cfg->app_id, app != NULL ? app : "", status_text(status, buf)};

    dc_metric_inc(rt->m_inv_res_sent, vals, 1);
}

static void record(const struct sdc_runtime *rt, enum sdc_cm_kind kind, const char *const *vals,
                   int64_t start_ns)
{
    dc_metric_inc(rt->m_comp_count[kind], vals, 1);
    dc_metric_observe(rt->m_comp_latency[kind], vals, (double)(dc_mono_ns() - start_ns) / 1e6);
}

static const char *ns_of(const struct sdc_runtime *rt)
{
    return rt->cfg->namespace != NULL ? rt->cfg->namespace : "";
}

void sdc_comp_metric(const struct sdc_runtime *rt, enum sdc_cm_kind kind, const char *component,
                     const char *operation, bool success, int64_t start_ns)
{
    const char *ok = success ? "true" : "false";

    if (rt->metrics == NULL || kind >= SDC_CM_PUBSUB_EGRESS)
        return;
    if (kind == SDC_CM_INPUT_BINDING) {
        const char *vals[] = {rt->cfg->app_id, component, ns_of(rt), ok};
        record(rt, kind, vals, start_ns);
    } else {
        const char *vals[] = {rt->cfg->app_id, component, ns_of(rt), operation, ok};
        record(rt, kind, vals, start_ns);
    }
}

void sdc_comp_metric_pubsub(const struct sdc_runtime *rt, enum sdc_cm_kind kind,
                            const char *component, const char *topic, bool success,
                            const char *status, int64_t start_ns)
{
    if (rt->metrics == NULL)
        return;
    if (kind == SDC_CM_PUBSUB_EGRESS) {
        const char *vals[] = {rt->cfg->app_id, component, ns_of(rt), success ? "true" : "false",
                              topic};
        record(rt, kind, vals, start_ns);
    } else if (kind == SDC_CM_PUBSUB_INGRESS) {
        const char *vals[] = {rt->cfg->app_id, component, ns_of(rt), status, topic, status};
        record(rt, kind, vals, start_ns);
    }
}
