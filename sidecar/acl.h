#ifndef SDC_ACL_H
#define SDC_ACL_H

/* Service-invocation access control (sidecar-api.md §20.3), evaluated by the callee's sidecar.
 * Pure: compiled once from the Configuration, then read-only and thread-safe.
 *
 * Semantics (upstream pkg/acl and pkg/config/acl_trie.go, HTTP app protocol):
 *   - no accessControl, or one with no defaultAction, no trustDomain and no policies: allow all;
 *   - global defaultAction omitted but policies present: deny (a Configuration loaded with
 *     dc_configuration_load_file already carries the standalone default "allow", as upstream's);
 *   - the caller's policy is the one with its appId AND namespace (the last one wins on
 *     duplicates); its trustDomain must equal the caller's, else the global default applies;
 *   - operation names get a leading '/' and are lower-cased, as is the checked operation;
 *     segments match exactly or by a '*' glob inside the segment; a "/<star>" segment matches
 *     one segment, "/<star><star>" the rest of the path (<star> is the asterisk; C comments
 *     cannot spell it after a slash); a rule on "/a/<star>" also matches "/a"; a rule whose
 *     name is a prefix of the path ("/a" for "/a/b") matches too; with several rules the first
 *     registered wins (upstream's trie, quirks included);
 *   - precedence: the matched rule's action for the verb (or for "*") -> the policy's
 *     defaultAction -> the global defaultAction. Actions compare case-insensitively to "allow".
 * The checked operation is first normalised as upstream does with purell: duplicate slashes
 * collapsed, "." and ".." segments removed, a trailing slash dropped, %XX of unreserved
 * characters decoded. */

#include <stdbool.h>
#include <stddef.h>

#include "dc/err.h"
#include "dc/resources.h"

struct sdc_acl;

/* Compile `conf`'s accessControl (NULL conf or no accessControl: allow everything). `conf` is
 * only read during the call; `*out` is owned by the caller (sdc_acl_free). Returns DC_OK, or
 * DC_EINVAL when a policy lacks appId, trustDomain or namespace (`eb` then holds upstream's
 * "invalid access control spec. missing trustdomain for apps: [..], missing namespace for
 * apps: [..], missing app name on at least one of the app policies: <bool>"). */
int sdc_acl_new(struct sdc_acl **out, const struct dc_configuration *conf,
                struct dc_errbuf *eb) DC_MUST_CHECK;
/* NULL is a no-op. */
void sdc_acl_free(struct sdc_acl *acl);

/* The caller's identity; any field NULL when unknown (then the global default applies). */
struct sdc_caller {
    const char *trust_domain;
    const char *namespace;
    const char *app_id;
};

/* Is `caller` allowed to call `operation` (the method path, with or without a leading '/')
 * with `http_verb` ("GET", "POST"...; NULL or "" is upstream's NONE, which falls back to the
 * policy's defaultAction)? `acl` NULL allows everything. Allocation-free for operations under
 * 2 KiB. Thread-safe.
 * When denied, `why` (may be NULL) receives upstream's message tail:
 * "access control policy has denied access to id: <spiffe> operation: <op> verb: <VERB>", where
 * <spiffe> is spiffe://<td>/ns/<ns>/<app> ("" when the identity is incomplete) and <op> is the
 * normalised operation (case kept, no '/' added). */
bool sdc_acl_allowed(const struct sdc_acl *acl, const struct sdc_caller *caller,
                     const char *operation, const char *http_verb, char *why, size_t why_len);

#endif /* SDC_ACL_H */
