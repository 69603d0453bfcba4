#ifndef SDC_IDENTITY_H
#define SDC_IDENTITY_H

/* daprd's workload identity: the glue between daprd's flags, environment and Configuration and
 * the shared identity client (dc/identity.h). */

#include "dc/err.h"
#include "dc/identity.h"

struct sdc_runtime;

/* With --enable-mtls: build the options from the flags, the environment and the Configuration
 * (accessControl.trustDomain) and start rt->identity, logging its events with an "mTLS: "
 * prefix. Without it: nothing (rt->identity stays NULL). Returns dc_identity_start's errors, or
 * DC_EINVAL (no --sentry-address, no anchors). */
int sdc_identity_runtime_start(struct sdc_runtime *rt, struct dc_errbuf *eb) DC_MUST_CHECK;

#endif /* SDC_IDENTITY_H */
