#ifndef SDC_RESILIENCY_H
#define SDC_RESILIENCY_H

/* Resiliency policies (sidecar-api.md §21): timeouts, retries and circuit breakers compiled from
 * the Resiliency resources that apply to this app, resolved per target, and an executor that
 * runs one operation under a policy. Pure logic: no sockets; sleeping between retries happens
 * on the calling thread. Thread-safe: after sdc_resiliency_new everything is read-only except
 * the circuit breakers, which have a mutex each (plus one per policy for its breaker cache).
 *
 * Several Resiliency resources merge into one set, in load order (file name order, as
 * upstream): policy names and target names share one namespace per kind across resources, and
 * a name defined again in a later resource replaces the earlier definition (upstream fills Go
 * maps resource by resource, so the last one wins; daprd logs a warning for each override). A
 * target's policy names are resolved after the merge, against every resource. Unlike upstream,
 * which logs and skips a resource it cannot decode, any invalid policy fails sdc_resiliency_new
 * (and so daprd's startup). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/err.h"
#include "dc/resources.h"

#include "component.h"

struct sdc_resiliency;
struct sdc_res_policy;

enum sdc_res_target {
    SDC_RES_APP = 0,       /* service invocation to an app id (HTTPEndpoints: see below) */
    SDC_RES_ACTOR,         /* actor calls */
    SDC_RES_COMPONENT_OUT, /* sidecar -> component */
    SDC_RES_COMPONENT_IN,  /* component -> app (pub/sub delivery, input bindings) */
    SDC_RES_HTTP_ENDPOINT, /* invocation of an HTTPEndpoint or URL: apps.<name> targets and
                            * the App defaults, but no built-in retries (they only cover the
                            * sidecar-to-sidecar hop) */
};

/* Built-in retry policies (§21.6), for sdc_resiliency_builtin. */
#define SDC_RES_BUILTIN_SERVICE "DaprBuiltInServiceRetries"
#define SDC_RES_BUILTIN_ACTOR "DaprBuiltInActorRetries"
#define SDC_RES_BUILTIN_ACTOR_REMINDER "DaprBuiltInActorReminderRetries"
#define SDC_RES_BUILTIN_INIT "DaprBuiltInInitializationRetries"
#define SDC_RES_BUILTIN_ACTOR_NOT_FOUND "DaprBuiltInActorNotFoundRetries"

/* Compile `defs` (borrowed for the call; merged in array order as described above) into `*out`
 * (owned by the caller; release with sdc_resiliency_free).
 *
 * Durations are Go durations or bare integers (milliseconds). Retries: policy constant
 * (duration, default 5s) or exponential (500ms initial interval, multiplier 1.5, randomisation
 * +-50%, maxInterval default 60s, 15 min max elapsed), maxRetries (-1 unlimited, 0 none; the
 * built-in names are raised to at least 3 when redefined, DaprBuiltInActorNotFoundRetries
 * cannot be redefined), matching.httpStatusCodes / gRPCStatusCodes as "a,b-c" lists within
 * 100-599 / 0-16. Circuit breakers: maxRequests (0 means 1), interval (0 = never reset),
 * timeout (0 or unset = 60s), trip (trip_expr.h; default consecutiveFailures > 5).
 *
 * Returns DC_OK, or DC_EINVAL with `eb` naming the file, line, resource and field at fault
 * (invalid duration, policy name, code list, trip expression, or a target naming a policy that
 * no resource defines). `n` may be 0 (only the built-in policies apply). */
int sdc_resiliency_new(struct sdc_resiliency **out, const struct dc_resiliency *const *defs,
                       size_t n, struct dc_errbuf *eb) DC_MUST_CHECK;
void sdc_resiliency_free(struct sdc_resiliency *r);

/* The policy for a target (`name`: app id, HTTPEndpoint name, actor type or component name):
 *  - a named target (spec.targets.apps/actors/components.<name>) gives exactly its policies,
 *    and nothing else (a component target without `outbound` has an empty outbound policy);
 *  - otherwise each of timeout, retry and circuit breaker independently comes from the most
 *    specific Default* policy defined (§21.5): for apps Default<X>AppPolicy then Default<X>Policy
 *    (X = Timeout, Retry, CircuitBreaker), for actors Actor, for components
 *    <Type>Component<Dir>, Component<Dir>, Component, then the global name, where <Type> comes
 *    from `cat` (Statestore, Secretstore, Pubsub, Binding, Configuration, Lock, Crypto) and
 *    <Dir> is Inbound or Outbound;
 *  - for SDC_RES_APP without a named target, DaprBuiltInServiceRetries (§21.6) runs inside each
 *    attempt: up to 3 retries 1s apart of an attempt that fails with DC_EUNAVAIL (the
 *    transport to the other sidecar failed: gRPC Unavailable) or reports gRPC status 14
 *    (Unavailable) or 16 (Unauthenticated); anything else is returned at once.
 * `cat` is ignored for apps and actors. `r` may be NULL (no resiliency: the empty policy).
 * Never NULL: an empty policy runs the operation once. Lock-free; the result lives as long as
 * `r`. */
const struct sdc_res_policy *sdc_resiliency_policy(struct sdc_resiliency *r,
                                                   enum sdc_res_target kind, const char *name,
                                                   enum sdc_category cat);

/* One attempt. `deadline_ns` is an absolute dc_mono_ns() deadline (0 = none) that the attempt
 * must honour. Return DC_OK when the operation completed (set `*status` to the HTTP (100-599) or
 * gRPC (0-16) status it got, or leave -1), or an error code for a transport failure. */
typedef int sdc_res_attempt_fn(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb);

/* Run `fn` under `p` (NULL = run once) on the calling thread:
 * - an open circuit breaker (one per `breaker_key` per policy, e.g. the app id or component
 *   name; NULL is ""; kept in an LRU of circuitBreakerCacheSize entries) fails at once with
 *   DC_EUNAVAIL and eb "circuit breaker is open", or "too many requests" when the half-open
 *   breaker already lets maxRequests calls through; this is never retried;
 * - each attempt gets the policy's timeout as its deadline; an attempt that returns after it is
 *   DC_ETIMEDOUT with status -1 and eb "context deadline exceeded", whatever it returned (the
 *   caller must discard that attempt's output, and should reset its output at the start of
 *   every attempt);
 * - a failure is a non-OK return, or (when the policy has retries or a breaker) a status
 *   outside 200-399 (HTTP) or other than 0 (gRPC); failed returns (including timeouts) are
 *   retried; failed statuses are retried when they match the retry policy's `matching` list
 *   of their kind (no list: every status);
 * - retries wait per the policy (nanosleep) and stop at maxRetries, or for exponential
 *   policies when the next wait would pass the maximum elapsed time;
 * - the breaker counts every failure (also unmatched statuses) and success, and trips on its
 *   expression, as gobreaker (closed -> open -> half-open after `timeout` -> closed after
 *   maxRequests consecutive successes, or open again on a failure).
 * Returns the last attempt's return code and status (a final non-2xx status is DC_OK with that
 * status, so the caller passes the app's response through as upstream does); `eb` holds the
 * last attempt's message. `status` may be NULL. */
int sdc_resiliency_run(const struct sdc_res_policy *p, const char *breaker_key,
                       sdc_res_attempt_fn *fn, void *ud, int *status, struct dc_errbuf *eb);

/* True when `p` has nothing configured (no timeout, retry or breaker, nor built-in retries):
 * sdc_resiliency_run then calls `fn` once with no deadline. NULL is empty. */
bool sdc_res_policy_empty(const struct sdc_res_policy *p);

/* True when `fn` may be called more than once under `p` (the caller must be able to replay the
 * request, e.g. keep its body). NULL is false. */
bool sdc_res_policy_may_retry(const struct sdc_res_policy *p);

/* The policy of a built-in retry (SDC_RES_BUILTIN_*, §21.6), as redefined by the resources if
 * they do: DaprBuiltInInitializationRetries for /dapr/subscribe and other init calls,
 * DaprBuiltInActor*Retries for actors. It retries every failure (the service retries' filter
 * applies only inside app policies, see sdc_resiliency_policy). An unknown name or a NULL `r`
 * gives the empty policy. Lock-free; lives as long as `r`. */
const struct sdc_res_policy *sdc_resiliency_builtin(struct sdc_resiliency *r, const char *name);

/* The breaker key for an actor call under an SDC_RES_ACTOR policy, per the target's
 * circuitBreakerScope as upstream: `type` gives "<type>", `id` and `both` give "<type>-<id>"
 * (upstream keys `both` like `id`); default policies use "<type>". Writes into `buf` (cut to
 * `cap` bytes, NUL-terminated) and returns it. */
const char *sdc_res_policy_actor_key(const struct sdc_res_policy *p, const char *type,
                                     const char *id, char *buf, size_t cap);

#endif /* SDC_RESILIENCY_H */
