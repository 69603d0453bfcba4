#ifndef SDC_NAMERES_H
#define SDC_NAMERES_H

/* Name resolution (sidecar-api.md §20.6, §22.8): app id -> address of one of its sidecars'
 * internal ports. Chosen by the Configuration's spec.nameResolution.component:
 *   "sqlite"     - a shared SQLite file with upstream's table layout (our self-hosted default,
 *                  since multicast DNS does not work on loopback); every sidecar registers
 *                  itself and refreshes its row from a background thread;
 *   "kubernetes" - DNS <app-id>-dapr.<namespace>.svc.<clusterDomain>:<port>, resolved with
 *                  getaddrinfo at lookup time (the headless service lists every pod).
 * "nameresolution.<x>" is accepted for "<x>"; "mdns" (upstream's standalone default) selects the
 * sqlite default with a warning. Lookups are cached per (app id, namespace) for `cacheTTL`
 * (our own configuration key, Go duration, default 1s, "0" disables) so the hot path rarely
 * touches SQLite or DNS. Every function is thread-safe. */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dc/err.h"

struct sdc_nameres;
struct sdc_config;
struct sdc_runtime;

/* This sidecar, as it registers itself. */
struct sdc_nameres_self {
    const char *app_id;
    const char *namespace; /* "" or NULL: default */
    const char *host;      /* address others reach us on (DAPR_HOST_IP or 127.0.0.1) */
    int port;              /* internal port */
};

/* `component` and `configuration` (the free-form map, may be NULL) come from the
 * Configuration; NULL component selects the self-hosted default: "sqlite" with the configured
 * connectionString, else "$HOME/.dapr/nr.db" (the folder is created; $HOME falls back to the
 * passwd entry). Registers `self` when given with an app id and a port > 0 (sqlite; the
 * kubernetes resolver only uses self's namespace and port). All arguments are copied.
 *
 * sqlite configuration (upstream's names and defaults): connectionString (alias url; a path or
 * a "file:" URI; ":memory:" shares one in-process database), tableName "hosts",
 * metadataTableName "metadata", updateInterval "5s" (whole seconds), cleanupInterval "1h"
 * (alias cleanupIntervalInSeconds; 0 disables), timeout "1s" (>= 1s, and updateInterval must
 * exceed it by 1s), busyTimeout "800ms", disableWAL false. Bare numbers are seconds, except
 * busyTimeout (milliseconds).
 * kubernetes configuration: clusterDomain "cluster.local", template (e.g.
 * "{{.ID}}-{{.Namespace}}.internal:{{.Port}}"; fields .ID .Namespace .Port, .Data.<k> is "").
 *
 * Returns DC_OK, DC_EINVAL (unknown component, bad configuration), DC_EIO (database). */
int sdc_nameres_new(struct sdc_nameres **out, const char *component, const cJSON *configuration,
                    const struct sdc_nameres_self *self, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Resolve `app_id` in `namespace` (NULL: own) to "host:port" in `out`; several instances are
 * load-balanced (random live one per call, addresses reported as failed avoided while another
 * exists). DC_ENOTFOUND when none is known, DC_ETOOBIG when `cap` is too small, DC_EIO on a
 * database error. */
int sdc_nameres_resolve(struct sdc_nameres *nr, const char *app_id, const char *namespace,
                        char *out, size_t cap, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Forget an address that failed (so the next resolve prefers another instance): `addr` is
 * demoted for one updateInterval (5s by default; 5s for kubernetes) and the cached list of
 * `app_id` is dropped so the next resolve reads the backend again. NULL nr is a no-op. */
void sdc_nameres_report_failure(struct sdc_nameres *nr, const char *app_id, const char *addr);

/* Stop the heartbeat, delete this sidecar's row, release. NULL is a no-op. */
void sdc_nameres_free(struct sdc_nameres *nr);

/* daprd wiring (sidecar.c): when cfg->app_id is set, create rt->nameres from rt->conf's
 * nameResolution (kubernetes by default in --mode kubernetes, else the sqlite default) with
 * self = app id, NAMESPACE, DAPR_HOST_IP or 127.0.0.1, sdc_internal_port(cfg). Leaves
 * rt->nameres NULL without an app id. Start-up thread only. */
int sdc_nameres_start(struct sdc_runtime *rt, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The internal (sidecar-to-sidecar) port of this process: --dapr-internal-grpc-port when
 * given (> 0); else upstream's "stable random" port: SHA-256 of "<app id>|<cwd>|<uid>|<host
 * name>", the first 11 bits (byte0 + (byte1 >> 5) * 256, 0..2047) added to 47300; if that port
 * cannot be bound on all interfaces, a kernel-chosen free port. The answer is memoised per app
 * id, so the listener and the registration agree; call it on the start-up thread. */
int sdc_internal_port(const struct sdc_config *cfg);

/* The deterministic part above (no bind probe): 47300..49347. */
int sdc_internal_port_stable(const char *app_id);

#endif /* SDC_NAMERES_H */
