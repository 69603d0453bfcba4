#ifndef SDC_ACL_H
#define SDC_ACL_H

/* Service-invocation access control (sidecar-api.md §20.3), evaluated by the callee's sidecar.
 * Pure: compiled once from the Configuration, then read-only and thread-safe. */

#include <stdbool.h>
#include <stddef.h>

#include "dc/err.h"
#include "dc/resources.h"

struct sdc_acl;

/* Compile `conf`'s accessControl (NULL conf or no accessControl: allow everything). */
int sdc_acl_new(struct sdc_acl **out, const struct dc_configuration *conf, struct dc_errbuf *eb)
    DC_MUST_CHECK;
void sdc_acl_free(struct sdc_acl *acl);

/* The caller's identity; any field NULL when unknown (then the global default applies). */
struct sdc_caller {
    const char *trust_domain;
    const char *namespace;
    const char *app_id;
};

/* Is `caller` allowed to call `operation` (the normalised method path) with `http_verb`?
 * When denied, `why` (may be NULL) receives upstream's message tail:
 * "access control policy has denied access to id: <spiffe> operation: <op> verb: <VERB>". */
bool sdc_acl_allowed(const struct sdc_acl *acl, const struct sdc_caller *caller,
                     const char *operation, const char *http_verb, char *why, size_t why_len);

#endif /* SDC_ACL_H */
