#ifndef DC_K8S_LEASE_H
#define DC_K8S_LEASE_H

/* Lease-based leader election (coordination.k8s.io/v1 Lease), client-go's algorithm:
 *
 * Every retry period a candidate GETs the Lease. Missing -> it creates it naming itself (a losing
 * create gets 409 AlreadyExists). Held by someone else whose record has not changed for the
 * lease's leaseDurationSeconds (measured on our monotonic clock from when we last saw it change)
 * -> it takes over with a PUT carrying the read resourceVersion (a race loser gets 409 Conflict),
 * bumping leaseTransitions. The leader renews (renewTime) every retry period; when it has not
 * renewed for the renew deadline, or sees another holder, it has lost leadership. A stopped
 * leader may release the lease (holderIdentity "", leaseDurationSeconds 1) so a successor need
 * not wait. After a loss the elector becomes a candidate again (upstream Dapr services exit on
 * loss; that is the caller's choice, made in on_stopped_leading).
 *
 * Threads: dc_k8s_lease_start starts one pthread; the callbacks run on it, one at a time.
 * on_stopped_leading also runs from dc_k8s_lease_stop (on the stop thread, after the elector
 * thread has been joined) when the elector was leading. Callbacks must not call dc_k8s_lease_stop.
 * Clock: renewTime/acquireTime are written as MicroTime (UTC "...T15:04:05.000000Z"); expiry is
 * judged only on the local monotonic clock, so clock skew between contenders does not matter. */

#include <stdbool.h>
#include <time.h>

#include "dc/err.h"
#include "dc/k8s.h"

struct dc_k8s_lease;

struct dc_k8s_lease_opts {
    const char *ns;                        /* Lease namespace (copied) */
    const char *name;                      /* Lease name, e.g. "operator.dapr.io" (copied) */
    const char *identity;                  /* this contender, unique (pod name + uid) (copied) */
    long lease_duration_ms;                /* 0 = 15000 */
    long renew_deadline_ms;                /* 0 = 10000; must be < lease duration */
    long retry_period_ms;                  /* 0 = 2000; must be < renew deadline */
    bool release_on_stop;                  /* give the lease up on dc_k8s_lease_stop */
    void (*on_started_leading)(void *arg); /* may be NULL */
    void (*on_stopped_leading)(void *arg); /* may be NULL */
    void (*on_new_leader)(void *arg,
                          const char *identity); /* observed holder changed; may be NULL */
    void *arg;
};

/* Start the elector thread. `c` must outlive it. Errors: DC_EINVAL (missing names, bad timing). */
int dc_k8s_lease_start(struct dc_k8s_lease **out, struct dc_k8s_client *c,
                       const struct dc_k8s_lease_opts *opts, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Stop promptly, release the lease if asked and leading, join, free. NULL is a no-op. */
void dc_k8s_lease_stop(struct dc_k8s_lease *l);

bool dc_k8s_lease_is_leader(struct dc_k8s_lease *l);

/* Format a Kubernetes MicroTime ("2006-01-02T15:04:05.000000Z") of the wall clock `ts`.
 * `out` needs 32 bytes. Pure. */
void dc_k8s_microtime(char out[32], const struct timespec *ts);

#endif /* DC_K8S_LEASE_H */
