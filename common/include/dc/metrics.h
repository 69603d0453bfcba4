#ifndef DC_METRICS_H
#define DC_METRICS_H

/* Prometheus metrics registry: counters, gauges and histograms with labels, rendered in the
 * Prometheus text exposition format 0.0.4 (what every daprc service serves on its metrics port).
 *
 * Threads: registration and rendering take short mutexes; recording (dc_metric_inc, _set,
 * _observe) is lock-free for a label set that already has a series (C11 atomics) and takes the
 * metric's mutex only to create a new series. Every function may be called from any thread,
 * except dc_metrics_free, which must not race with any other call on the same registry.
 *
 * Memory is bounded even when label values come from requests: each metric holds at most
 * DC_METRICS_MAX_SERIES series (dc/limits.h); recording a new label set beyond that is dropped
 * and counted in the registry's own counter `dc_metrics_dropped_total`, always rendered last.
 * Label values longer than DC_METRICS_MAX_LABEL_VALUE bytes are cut at a UTF-8 boundary.
 *
 * Registration problems (an invalid name, a bad bucket list, a name registered with another
 * shape) are programmer errors: the registration returns NULL. Every recording function accepts
 * a NULL metric and does nothing, so a service never needs to check registrations on its hot
 * paths; a unit test of the service should check them instead. */

#include <stddef.h>
#include <stdint.h>

#include "dc/buf.h"
#include "dc/err.h"

struct dc_metrics;
struct dc_metric;

/* Labels per metric and finite buckets per histogram (sanity limits on programmer input). */
#define DC_METRICS_MAX_LABELS 16
#define DC_METRICS_MAX_BUCKETS 256

/* Upstream Dapr's latency distribution in milliseconds (defaultLatencyDistribution in
 * pkg/diagnostics/http_monitoring.go): 34 finite bounds, +Inf implied. */
#define DC_METRICS_LATENCY_MS_BUCKETS 34
extern const double dc_metrics_latency_ms_buckets[DC_METRICS_LATENCY_MS_BUCKETS];

/* Upstream Dapr's size distribution in bytes (defaultSizeDistribution, same files): 1 KiB to
 * 4 GiB in 13 bounds. */
#define DC_METRICS_SIZE_BYTES_BUCKETS 13
extern const double dc_metrics_size_bytes_buckets[DC_METRICS_SIZE_BYTES_BUCKETS];

/* A new empty registry, owned by the caller (release with dc_metrics_free). Aborts on OOM. */
struct dc_metrics *dc_metrics_new(void);

/* Release the registry and every metric and series in it; all dc_metric pointers obtained from
 * it become invalid. NULL is a no-op. No other thread may use the registry meanwhile. */
void dc_metrics_free(struct dc_metrics *m);

/* Register (or find) a counter named `name` with `nlabels` label names.
 *
 * `name` must match [a-zA-Z_:][a-zA-Z0-9_:]* and not be `dc_metrics_dropped_total`; each label
 * name must match [a-zA-Z_][a-zA-Z0-9_]* (Prometheus label names have no ':'), must not start
 * with "__" and must be unique; nlabels <= DC_METRICS_MAX_LABELS. `help` (may be NULL) is the
 * HELP text. All strings are copied.
 *
 * Registering a name again returns the existing metric when kind, label names (in order) and
 * buckets match (the help text is not compared), and NULL otherwise. Returns NULL on any invalid
 * argument. The result is owned by the registry and valid until dc_metrics_free. A metric
 * without labels has its one series from the start, so it renders as 0 before any recording. */
struct dc_metric *dc_metrics_counter(struct dc_metrics *m, const char *name, const char *help,
                                     size_t nlabels, const char *const *label_names);

/* Register (or find) a gauge; as dc_metrics_counter. */
struct dc_metric *dc_metrics_gauge(struct dc_metrics *m, const char *name, const char *help,
                                   size_t nlabels, const char *const *label_names);

/* Register (or find) a histogram; as dc_metrics_counter, plus `nbuckets` finite upper bounds
 * (`upper_bounds` copied, strictly increasing, no NaN or infinity, nbuckets <=
 * DC_METRICS_MAX_BUCKETS; nbuckets 0 leaves only +Inf). The +Inf bucket is implied. No label
 * may be named "le". The name also claims name_bucket, name_sum and name_count; this is not
 * checked against other metrics. */
struct dc_metric *dc_metrics_histogram(struct dc_metrics *m, const char *name, const char *help,
                                       size_t nlabels, const char *const *label_names,
                                       size_t nbuckets, const double *upper_bounds);

/* Recording. `label_values` holds the metric's nlabels values in registration order (may be
 * NULL when nlabels is 0; a NULL value is taken as ""); they are borrowed for the call. Any byte
 * string is allowed: invalid UTF-8 is replaced by U+FFFD when rendered. A NULL metric, a call
 * on the wrong kind, or NULL `label_values` with nlabels > 0 does nothing.
 *
 * dc_metric_inc adds `v` to a counter (v must be >= 0 and not NaN, else it is ignored) or to a
 * gauge (any v; negative decrements). Integral increments of counters below 2^53 are a single
 * atomic add; the rest use a compare-and-swap loop on the double's bits. */
void dc_metric_inc(struct dc_metric *c, const char *const *label_values, double v);

/* Set a gauge to `v` (NaN and infinities are kept and rendered as NaN, +Inf, -Inf). */
void dc_metric_set(struct dc_metric *g, const char *const *label_values, double v);

/* Record one observation `v` in a histogram: the first bucket whose upper bound is >= v (else
 * +Inf) counts it, and v is added to the sum. NaN is ignored. */
void dc_metric_observe(struct dc_metric *h, const char *const *label_values, double v);

/* Read the current value of one series: a counter's or gauge's value, or a histogram's sample
 * count. Meant for tests and diagnostics. Returns DC_OK, DC_ENOTFOUND (no series with these
 * values yet) or DC_EINVAL (NULL metric, or NULL label_values with labels). */
int dc_metric_get(struct dc_metric *mt, const char *const *label_values, double *out);

/* Number of recordings dropped so far because a metric had DC_METRICS_MAX_SERIES series. */
uint64_t dc_metrics_dropped(struct dc_metrics *m);

/* Append the whole registry to `out` in the text exposition format 0.0.4
 * (Content-Type: text/plain; version=0.0.4; charset=utf-8).
 *
 * Metrics come in registration order, each with "# HELP" (omitted when the help is empty) and
 * "# TYPE" lines, then its series in creation order; a labelled metric without series yet is
 * omitted entirely. Histograms render cumulative name_bucket lines with le="<bound>" and
 * le="+Inf", then name_sum and name_count. Numbers: integral values below 2^53 without exponent
 * ("3", "-1"), others as the shortest "%g" form that reads back to the same double ("0.25",
 * "1e+20"), and NaN, +Inf, -Inf. Label values are escaped (\\ \" \n), HELP text too (\\ \n).
 * Values read while other threads record are each atomic, but a histogram's _sum may lag its
 * buckets by in-flight observations. Assumes the "C" LC_NUMERIC locale.
 *
 * Returns DC_OK, or DC_ETOOBIG when `out` reaches its limit; `out` then holds a partial page,
 * which the caller discards. */
int dc_metrics_render(struct dc_metrics *m, struct dc_buf *out) DC_MUST_CHECK;

#endif /* DC_METRICS_H */
