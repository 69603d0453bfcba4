#ifndef SDC_SECRETS_H
#define SDC_SECRETS_H

/* The secrets building block (sidecar-api.md §8, §20.4, §22.1, §22.6): the secret store
 * component contract (components-contrib's secretstores.SecretStore, in C), the HTTP API
 * GET /v1.0/secrets/{store}/{key} and GET /v1.0/secrets/{store}/bulk with the Configuration's
 * secret scopes, and the resolution of secretKeyRef in component metadata.
 *
 * Memory: a store's get and bulk_get return arrays allocated from the caller's arena `a`; the
 * strings in them are either allocated from `a` too or borrowed from the store (valid until the
 * store is closed). Callers use a result within the lifetime of `a` and never free it. */

#include <stdbool.h>
#include <stddef.h>

#include "dc/arena.h"
#include "dc/err.h"
#include "dc/http_server.h"

#include "component.h"

struct sdc_runtime;

enum sdc_secret_feature {
    /* A secret holds several key/value pairs (metadata capability
     * "MULTIPLE_KEY_VALUES_PER_SECRET"). */
    SDC_SECRET_F_MULTIPLE_KEY_VALUES = 1u << 0,
};

struct sdc_secret_kv {
    const char *key;
    const char *value;
};

/* One secret: its key/value pairs, in no particular order. `none` is upstream's nil map (the
 * store has no data for the request: the HTTP API answers 204); otherwise the pairs may still
 * be zero. */
struct sdc_secret {
    const struct sdc_secret_kv *kv;
    size_t n;
    bool none;
};

struct sdc_secret_entry {
    const char *name;
    struct sdc_secret data;
};

/* Every secret of a store, in no particular order; `none` as for struct sdc_secret. */
struct sdc_secret_bulk {
    const struct sdc_secret_entry *v;
    size_t n;
    bool none;
};

/* Operations of a secret store type. Instances are immutable after init or synchronise
 * themselves: every operation may run on many threads at once.
 *
 * get: the secret `name` (NUL-terminated, any bytes but NUL), with the request metadata `md`
 * (the metadata.* query parameters; may be NULL). Returns DC_OK, DC_ENOTFOUND (no such secret;
 * `eb` says "secret <name> not found" as upstream's local stores), or another DC_E* with `eb`
 * explaining. bulk_get: every secret the store holds; same errors apart from DC_ENOTFOUND.
 * features: the enum sdc_secret_feature bits of this instance (they may depend on its
 * metadata, as local.file's multiValued). */
struct sdc_secret_ops {
    struct sdc_component_ops base;
    unsigned (*features)(const void *self);
    int (*get)(void *self, const char *name, const struct sdc_md *md, struct dc_arena *a,
               struct sdc_secret *out, struct dc_errbuf *eb);
    int (*bulk_get)(void *self, const struct sdc_md *md, struct dc_arena *a,
                    struct sdc_secret_bulk *out, struct dc_errbuf *eb);
};

/* Register GET /v1.0/secrets/{secretStoreName}/bulk and GET /v1.0/secrets/{secretStoreName}/{key}
 * on `r`. `rt` is borrowed and must outlive the router. Call once, before any dispatch.
 *
 * Answers (§8, §1.7, legacy error bodies): 200 with {"<k>":"<v>"...} (get) or
 * {"<secret>":{"<k>":"<v>"...}...} (bulk, filtered by the scopes), keys sorted; 204 when the
 * store has no data; 500 ERR_SECRET_STORES_NOT_CONFIGURED without any secret store; 401
 * ERR_SECRET_STORE_NOT_FOUND for an unknown store; 403 ERR_PERMISSION_DENIED when the scopes
 * deny the key (get only); 500 ERR_SECRET_GET when the store fails (a missing secret
 * included). */
void sdc_secrets_api_routes(struct dc_http_router *r, struct sdc_runtime *rt);

/* Whether the Configuration's secret scopes (spec.secrets.scopes) let the API read the
 * `key_len` bytes at `key` from the store `store`, with upstream's rules: no scope for the store
 * allows everything; a non-empty allowedSecrets allows exactly its entries (deniedSecrets is then
 * not consulted); otherwise an entry of deniedSecrets is denied, and anything else follows
 * defaultAccess (allow unless "deny", any case). Names compare exactly. Thread-safe (read
 * only). */
bool sdc_secrets_allowed(const struct sdc_runtime *rt, const char *store, const char *key,
                         size_t key_len);

/* Resolve a component metadata secretKeyRef {name, key} through the secret store `store` (the
 * component's auth.secretStore; NULL or "" uses the mode's default: "kubernetes" in Kubernetes
 * mode, none in standalone mode, which is an error). `key` NULL or "" means `name`. The store
 * must already be loaded (secret stores load first). Secret scopes do not apply, as upstream.
 *
 * On success `*out` is a new string owned by the caller (free()); a key whose value is empty
 * resolves to "". Errors, with `eb` naming the store, the secret and the key but never a value:
 * DC_EINVAL (no store in standalone mode), DC_ENOTFOUND (store not loaded, secret missing, key
 * missing from the secret), or the store's error. Upstream logs a missing secret and leaves the
 * value empty, and waits forever for a store that never loads; daprc fails the component
 * instead (ignoreErrors still applies). Runs on the loading thread. */
int sdc_secrets_resolve_ref(struct sdc_runtime *rt, const char *store, const char *name,
                            const char *key, char **out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The feature bits of a loaded secret store component (0 for any other component). */
unsigned sdc_secrets_features(const struct sdc_component *sc);

#endif /* SDC_SECRETS_H */
