#ifndef SDC_RESILIENCY_H
#define SDC_RESILIENCY_H

/* Resiliency policies (sidecar-api.md §21): timeouts, retries and circuit breakers compiled from
 * the Resiliency resources that apply to this app, resolved per target, and an executor that
 * runs one operation under a policy. Pure logic: no sockets; sleeping between retries happens
 * on the calling thread. Thread-safe. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/err.h"
#include "dc/resources.h"

#include "component.h"

struct sdc_resiliency;
struct sdc_res_policy;

enum sdc_res_target {
    SDC_RES_APP = 0,          /* service invocation to an app id (or HTTPEndpoint) */
    SDC_RES_ACTOR,            /* actor calls */
    SDC_RES_COMPONENT_OUT,    /* sidecar -> component */
    SDC_RES_COMPONENT_IN,     /* component -> app (pub/sub delivery, input bindings) */
};

/* Compile `defs` (borrowed for the call). Invalid durations, retry policies or trip
 * expressions are errors naming the resource and field. `n` may be 0. */
int sdc_resiliency_new(struct sdc_resiliency **out, const struct dc_resiliency *const *defs,
                       size_t n, struct dc_errbuf *eb) DC_MUST_CHECK;
void sdc_resiliency_free(struct sdc_resiliency *r);

/* The policy for a target: the named target's policies, else the most specific Default*
 * policies (§21.5), else the built-in ones (§21.6: DaprBuiltInServiceRetries for apps).
 * `cat` picks the component default names (Statestore, Pubsub...); ignored for apps and
 * actors. Never NULL: a policy with nothing in it runs the operation once. The result lives
 * as long as `r`. */
const struct sdc_res_policy *sdc_resiliency_policy(struct sdc_resiliency *r,
                                                   enum sdc_res_target kind, const char *name,
                                                   enum sdc_category cat);

/* One attempt. `deadline_ns` is an absolute dc_mono_ns() deadline (0 = none) that the attempt
 * must honour. Return DC_OK when the operation completed (set `*status` to the HTTP (100-599) or
 * gRPC (0-16) status it got, or leave -1), or an error code for a transport failure. */
typedef int sdc_res_attempt_fn(void *ud, int64_t deadline_ns, int *status,
                               struct dc_errbuf *eb);

/* Run `fn` under `p`:
 * - an open circuit breaker (keyed by `breaker_key`, e.g. the app id) fails at once with
 *   DC_EUNAVAIL ("circuit breaker is open");
 * - each attempt gets the policy's timeout as its deadline; an attempt past it is DC_ETIMEDOUT;
 * - a failure is a non-OK return, or (when the policy has retries or a breaker) a status
 *   outside 200-399; failures are retried per the retry policy when the status matches its
 *   `matching` lists (no lists: every failure);
 * - the breaker counts successes and failures and trips on its expression.
 * Returns the last attempt's return code and status (a final non-2xx status is DC_OK with that
 * status, so the caller passes the app's response through as upstream does). */
int sdc_resiliency_run(const struct sdc_res_policy *p, const char *breaker_key,
                       sdc_res_attempt_fn *fn, void *ud, int *status, struct dc_errbuf *eb);

/* True when `p` has nothing configured (no timeout, retry or breaker). */
bool sdc_res_policy_empty(const struct sdc_res_policy *p);

#endif /* SDC_RESILIENCY_H */
