#ifndef SDC_STATE_STORE_H
#define SDC_STATE_STORE_H

/* The state store component contract (components-contrib's state.Store, in C).
 *
 * Stores deal in keys (already prefixed by the state API, §5.2) and opaque value bytes (the
 * state API turns JSON values into their JSON text before calling). Every operation may be
 * called from many threads at once. Errors: DC_ECONFLICT for an ETag mismatch (first-write
 * with no ETag on an existing key included), DC_EINVAL for a malformed ETag, DC_EUNAVAIL when
 * the backend cannot be reached (the API maps it to upstream's codes), anything else as
 * DC_EIO; `eb` says why. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/buf.h"
#include "dc/err.h"

#include "component.h"

enum sdc_state_feature {
    SDC_STATE_F_ETAG = 1u << 0,
    SDC_STATE_F_TRANSACTIONAL = 1u << 1,
    SDC_STATE_F_QUERY_API = 1u << 2,
    SDC_STATE_F_TTL = 1u << 3,
    SDC_STATE_F_DELETE_WITH_PREFIX = 1u << 4,
    SDC_STATE_F_KEYS_LIKE = 1u << 5,
    SDC_STATE_F_PARTITION_KEY = 1u << 6,
};

enum sdc_state_concurrency {
    SDC_STATE_LAST_WRITE = 0, /* default */
    SDC_STATE_FIRST_WRITE,
};

enum sdc_state_consistency {
    SDC_STATE_EVENTUAL = 0, /* default */
    SDC_STATE_STRONG,
};

struct sdc_state_set {
    const char *key;
    const void *value;
    size_t value_len;
    const char *etag; /* NULL: none given */
    enum sdc_state_concurrency concurrency;
    enum sdc_state_consistency consistency;
    bool has_ttl;
    int64_t ttl_s;            /* ttlInSeconds; -1 = never expire (overrides a store-wide default) */
    const char *content_type; /* metadata.contentType, may be NULL */
    const struct sdc_md *metadata; /* request metadata (metadata.* query and body), may be NULL */
};

struct sdc_state_del {
    const char *key;
    const char *etag; /* NULL: none given */
    enum sdc_state_concurrency concurrency;
    enum sdc_state_consistency consistency;
    const struct sdc_md *metadata;
};

struct sdc_state_get {
    const char *key;
    enum sdc_state_consistency consistency;
    const struct sdc_md *metadata;
};

/* Result of a get: `found` false means the key does not exist (or expired). */
struct sdc_state_value {
    bool found;
    struct dc_buf data;     /* the value bytes; caller-owned, release with dc_buf_cleanup */
    char etag[72];          /* "" when the store has no ETags */
    int64_t expire_unix_ms; /* 0: no expiry; reported as metadata ttlExpireTime (RFC 3339) */
    char content_type[64];  /* "" when unknown */
};

enum sdc_state_op_kind {
    SDC_STATE_OP_UPSERT = 0,
    SDC_STATE_OP_DELETE,
};

struct sdc_state_op {
    enum sdc_state_op_kind kind;
    struct sdc_state_set set; /* UPSERT */
    struct sdc_state_del del; /* DELETE */
};

struct sdc_state_ops {
    struct sdc_component_ops base;
    unsigned features; /* enum sdc_state_feature bits */
    int (*get)(void *self, const struct sdc_state_get *req, struct sdc_state_value *out,
               struct dc_errbuf *eb);
    int (*set)(void *self, const struct sdc_state_set *req, struct dc_errbuf *eb);
    int (*del)(void *self, const struct sdc_state_del *req, struct dc_errbuf *eb);
    /* All or nothing: on any failure (an ETag mismatch included) nothing is applied.
     * NULL when the store is not TRANSACTIONAL. */
    int (*multi)(void *self, const struct sdc_state_op *ops, size_t n, struct dc_errbuf *eb);
    /* Optional query API (§5.8): `query` is the request's JSON text; the result is the JSON
     * body of the response ({"results":[...],"token":"..."}). NULL when unsupported. */
    int (*query)(void *self, const char *query, size_t len, const struct sdc_md *metadata,
                 struct dc_buf *out, struct dc_errbuf *eb);
    /* Most operations one `multi` call accepts (upstream's TransactionalStoreMultiMaxSize);
     * 0 = no limit. Larger transactions are refused by the API before the store sees them. */
    size_t multi_max_size;
};

#endif /* SDC_STATE_STORE_H */
