#ifndef SDC_STUBS_H
#define SDC_STUBS_H

/* TEMPORARY (invocation branch): stand-ins for name resolution, access control and resiliency
 * so that service invocation links and its integration test runs before those branches are
 * merged. The lead deletes stubs.h, nameres_stub.c, acl_stub.c, resiliency_stub.c and the two
 * marked lines in sidecar.c when the real modules land. */

#include "dc/err.h"

#include "runtime.h"

/* Create rt->nameres (registering this sidecar on `internal_port`), rt->acl and
 * rt->resiliency from the runtime's Configuration and Resiliency resources. */
int sdc__stub_deps_init(struct sdc_runtime *rt, int internal_port, struct dc_errbuf *eb)
    DC_MUST_CHECK;
void sdc__stub_deps_free(struct sdc_runtime *rt);

#endif /* SDC_STUBS_H */
