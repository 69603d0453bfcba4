#ifndef SDC_NAMERES_INTERNAL_H
#define SDC_NAMERES_INTERNAL_H

/* Private to nameres*.c: the backend interface behind struct sdc_nameres. A backend lists the
 * live addresses of an app id; nameres.c adds the cache, the demotion of failed addresses and
 * the random choice. */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dc/err.h"

#include "nameres.h"

/* "host:port", "[v6]:port" or a DNS name with port; longer addresses are skipped. */
#define SDC__NR_ADDR_LEN 300
/* Instances considered per lookup (a random choice among them). */
#define SDC__NR_MAX_ADDRS 32

struct sdc__nr_backend {
    const char *name;
    /* Fill `addrs` with up to `max` live addresses of `app_id` in `ns` ("" = none given);
     * returns how many (0: none), or a negative DC_E* code with `eb` set. Thread-safe. */
    int (*list)(void *impl, const char *app_id, const char *ns, char (*addrs)[SDC__NR_ADDR_LEN],
                size_t max, struct dc_errbuf *eb);
    /* Unregister (when registered) and release. */
    void (*free)(void *impl);
};

extern const struct sdc__nr_backend sdc__nr_sqlite;
extern const struct sdc__nr_backend sdc__nr_kubernetes;

/* Create the backends. `conf` (may be NULL) is the Configuration's free-form map; `self` (may
 * be NULL: lookups only) is copied. `default_conn` is the sqlite connectionString used when
 * the map has none (NULL: the map must give one). */
int sdc__nr_sqlite_new(void **impl, const cJSON *conf, const struct sdc_nameres_self *self,
                       const char *default_conn, struct dc_errbuf *eb) DC_MUST_CHECK;
int sdc__nr_kubernetes_new(void **impl, const cJSON *conf, const struct sdc_nameres_self *self,
                           struct dc_errbuf *eb) DC_MUST_CHECK;

/* The unresolved kubernetes address ("<name>:<port>") for `app_id` in `ns` ("" or NULL: own);
 * `impl` is the kubernetes backend's. For tests and logs. */
int sdc__nr_kubernetes_address(void *impl, const char *app_id, const char *ns, char *out,
                               size_t cap) DC_MUST_CHECK;

/* The backend state of `nr` (tests). */
void *sdc__nr_impl(struct sdc_nameres *nr);

/* Configuration map helpers. A value may be a JSON string, number or bool (YAML scalars);
 * `*out` points into a caller buffer of `cap` bytes, or is NULL when the key is absent.
 * Keys are matched case-insensitively, as upstream's metadata decoder does. */
const char *sdc__nr_conf_str(const cJSON *conf, const char *key, char *buf, size_t cap);
/* A Go duration ("5s", "800ms") or a bare integer in `bare_unit_ns` units; `*out` keeps `def`
 * when absent. DC_EINVAL with `eb` naming the key on junk. */
int sdc__nr_conf_duration(const cJSON *conf, const char *key, int64_t bare_unit_ns, int64_t def,
                          int64_t *out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* "host:port", bracketing IPv6 literals (Go's net.JoinHostPort). DC_ETOOBIG if it does not fit. */
int sdc__nr_join_host_port(char *out, size_t cap, const char *host, int port) DC_MUST_CHECK;

#endif /* SDC_NAMERES_INTERNAL_H */
