#ifndef SDC_NAMERES_H
#define SDC_NAMERES_H

/* Name resolution (sidecar-api.md §22.8): app id -> address of one of its sidecars' internal
 * ports. Chosen by the Configuration's spec.nameResolution.component:
 *   "sqlite"     - a shared SQLite file with upstream's table layout (our self-hosted default,
 *                  since multicast DNS does not work on loopback);
 *   "kubernetes" - DNS <app-id>-dapr.<namespace>.svc.<clusterDomain>:<port>.
 * Thread-safe. */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dc/err.h"

struct sdc_nameres;

/* This sidecar, as it registers itself. */
struct sdc_nameres_self {
    const char *app_id;
    const char *namespace; /* "" or NULL: default */
    const char *host;      /* address others reach us on (DAPR_HOST_IP or 127.0.0.1) */
    int port;              /* internal port */
};

/* `component` and `configuration` (the free-form map, may be NULL) come from the
 * Configuration; NULL component selects the self-hosted default ("sqlite" with a file under
 * $HOME/.dapr or the configured connectionString). Registers `self` when given. */
int sdc_nameres_new(struct sdc_nameres **out, const char *component, const cJSON *configuration,
                    const struct sdc_nameres_self *self, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Resolve `app_id` in `namespace` (NULL: own) to "host:port" in `out`; several instances are
 * load-balanced (random live one per call). DC_ENOTFOUND when none is known. */
int sdc_nameres_resolve(struct sdc_nameres *nr, const char *app_id, const char *namespace,
                        char *out, size_t cap, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Forget an address that failed (so the next resolve prefers another instance). */
void sdc_nameres_report_failure(struct sdc_nameres *nr, const char *app_id, const char *addr);

/* Unregister and release. */
void sdc_nameres_free(struct sdc_nameres *nr);

#endif /* SDC_NAMERES_H */
