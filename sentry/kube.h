#ifndef SNT_KUBE_H
#define SNT_KUBE_H

/* sentry's Kubernetes adapter (private to sentry/): the trust bundle in the Secret and the
 * ConfigMap dapr-trust-bundle (control-plane.md §2.2, §2.5), the Configuration named by
 * --config, and the facts the kubernetes validator decides on (§2.4). Blocking calls through
 * dc/k8s.h; any thread. */

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "dc/buf.h"
#include "dc/err.h"
#include "dc/k8s.h"
#include "sentry.h"

#define SNT_TRUST_BUNDLE_NAME "dapr-trust-bundle"

/* The X.509 material of the Secret, NUL-terminated PEM (owned; wiped and freed by
 * snt__kube_bundle_cleanup). `present` is false when a key is missing, or the ConfigMap lacks
 * ca.crt or holds another ca.crt than the Secret (upstream kube.go: then a new CA is made). */
struct snt__kube_bundle {
    bool present;
    char *ca, *cert, *key;
};
void snt__kube_bundle_cleanup(struct snt__kube_bundle *b);

/* Read the Secret and the ConfigMap dapr-trust-bundle in `ns`; `keys` are the data keys
 * (ca.crt, issuer.crt, issuer.key). Absent objects read as "not present". Returns DC_OK or the
 * client's errors (other than DC_ENOTFOUND), DC_EPARSE (bad base64). */
int snt__kube_bundle_read(struct dc_k8s_client *c, const char *ns, const char *const keys[3],
                          struct snt__kube_bundle *out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Store the material into the Secret (all three keys) and ca.crt into the ConfigMap, creating
 * either object when absent (Helm normally creates both empty). Returns DC_OK or the client's
 * errors. */
int snt__kube_bundle_write(struct dc_k8s_client *c, const char *ns, const char *const keys[3],
                           const char *ca, const char *cert, const char *key,
                           struct dc_errbuf *eb) DC_MUST_CHECK;

/* Set the trust-bundle keys in the `data` of `obj`, keeping its other keys (upstream's store
 * rewrites only these): a Secret when `key` is not NULL (keys[0..2] = base64 of ca, cert, key),
 * else a ConfigMap (keys[0] = ca as text). A missing or non-object `data` becomes an object.
 * Pure; aborts on allocation failure. */
void snt__kube_bundle_set_data(cJSON *obj, const char *const keys[3], const char *ca,
                               const char *cert, const char *key);

/* The namespace of a TokenReview username "system:<kind>:<ns>:<sa>" into `out` (exactly four
 * ':'-separated parts, the first "system", as upstream splits it). False otherwise, for an
 * empty namespace, or when it does not fit. Pure. */
bool snt__kube_sa_namespace(const char *user, char *out, size_t cap);

/* The Status message of a dc/k8s.h error text "Reason: message (HTTP code)" into `out` (Go's
 * StatusError prints only the message); any other text is copied as it is. Pure. */
void snt__kube_status_message(const char *msg, char *out, size_t cap);

/* The Configuration `name` in `ns` (owned by the caller), DC_ENOTFOUND when absent. */
int snt__kube_config_get(struct dc_k8s_client *c, const char *ns, const char *name, cJSON **out,
                         struct dc_errbuf *eb) DC_MUST_CHECK;

/* The facts of one request for snt_validate_kubernetes. Holds the API objects the borrowed
 * strings of `facts` point into; release with snt__kube_lookup_cleanup. */
struct snt__kube_lookup {
    struct snt_k8s_facts facts;
    cJSON *review, *pod, *conf;
    const char *audiences[32];
};

/* TokenReview of req->token with audiences "dapr.io/sentry" and `sentry_id`, then the pod named
 * by the token's claim in the service account's namespace, then the Configuration of its
 * dapr.io/config annotation in the request's namespace. Failures become facts (review_failed,
 * pod_found = false...), never errors: the decision reports them with upstream's texts. Nothing
 * is asked of the API server for a request the common checks (snt_validate_common) refuse. */
void snt__kube_lookup(struct dc_k8s_client *c, const struct snt_request *req, const char *sentry_id,
                      struct snt__kube_lookup *out);
void snt__kube_lookup_cleanup(struct snt__kube_lookup *l);

#endif /* SNT_KUBE_H */
