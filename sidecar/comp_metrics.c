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

static const char *const op_labels[] = {"app_id", "component", "namespace", "operation",
                                        "success"};
static const char *const input_labels[] = {"app_id", "component", "namespace", "success"};
static const char *const egress_labels[] = {"app_id", "component", "namespace", "success",
                                            "topic"};
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
        rt->m_comp_latency[k] = dc_metrics_histogram(
            rt->metrics, names[k].latency, names[k].latency_help, n, labels,
            DC_METRICS_LATENCY_MS_BUCKETS, dc_metrics_latency_ms_buckets);
    }
}

void sdc_comp_metric_init(const struct sdc_runtime *rt, const char *type, const char *name,
                          bool ok, const char *reason)
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
