#ifndef SDC_SIDECAR_H
#define SDC_SIDECAR_H

/* The daprd process: the runtime plus its listeners (Dapr HTTP API on every listen address or a
 * Unix socket, the public health port, the metrics port). */

#include "dc/err.h"

#include "config.h"

struct sdc_sidecar;

/* Load everything and start listening. `cfg` is borrowed and must outlive the sidecar. On
 * failure nothing is left running and `eb` says why. */
int sdc_sidecar_start(struct sdc_sidecar **out, const struct sdc_config *cfg,
                      struct dc_errbuf *eb) DC_MUST_CHECK;

/* True when POST /v1.0/shutdown asked for a forced exit. */
bool sdc_sidecar_force_requested(const struct sdc_sidecar *s);

/* Graceful shutdown: stop accepting, let in-flight requests finish within
 * --dapr-graceful-shutdown-seconds, then close. Returns DC_ETIMEDOUT when the budget ran out. */
int sdc_sidecar_shutdown(struct sdc_sidecar *s);

void sdc_sidecar_free(struct sdc_sidecar *s);

#endif /* SDC_SIDECAR_H */
