#ifndef SDC_COMPONENT_H
#define SDC_COMPONENT_H

/* Components as a registry of types, each with an operations table (sidecar-api.md §22).
 *
 * A component type is one file: it defines a `const struct sdc_<category>_ops` whose first member
 * is a `struct sdc_component_ops` (init/close), and one line in component_types.c registers it.
 * The loader (components.c) resolves each Component resource's metadata (values, envRef,
 * secretKeyRef through its `auth.secretStore`, the {uuid} {appID} {podName} {namespace}
 * templates), finds the type by `spec.type` and `spec.version`, and initialises it; secret stores
 * first, since the others may reference them. A failure stops daprd unless the resource says
 * `ignoreErrors: true`. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/err.h"
#include "dc/resources.h"

enum sdc_category {
    SDC_CAT_STATE = 0,
    SDC_CAT_SECRETSTORES,
    SDC_CAT_PUBSUB,
    SDC_CAT_BINDINGS,
    SDC_CAT_CONFIGURATION,
    SDC_CAT_LOCK,
    SDC_CAT_CRYPTO,
    SDC_CAT_MIDDLEWARE,
    SDC_CAT_COUNT,
};

/* Resolved component metadata: plain strings, names compared case-insensitively as upstream. */
struct sdc_md {
    size_t n;
    char **names;
    char **values;
};

/* Value of `name` (case-insensitive), or NULL. */
const char *sdc_md_get(const struct sdc_md *md, const char *name);
/* Value of `name`, or `def` when absent or empty. */
const char *sdc_md_get_or(const struct sdc_md *md, const char *name, const char *def);
void sdc_md_set(struct sdc_md *md, const char *name, const char *value);
void sdc_md_cleanup(struct sdc_md *md);

/* What every component type provides. `init` receives the resolved metadata (borrowed for the
 * call) and the init timeout; it returns the instance in `*self`. `close` releases it.
 * Instances must be safe to call from many threads at once. */
struct sdc_init_ctx {
    const char *name;   /* the Component's metadata.name */
    const char *app_id; /* this sidecar's app id */
    const char *namespace;
    int64_t timeout_ms; /* spec.initTimeout (default 5s) */
};

struct sdc_component_ops {
    int (*init)(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                struct dc_errbuf *eb);
    void (*close)(void *self);
};

/* A type's file defines one of these, e.g.
 *   const struct sdc_component_type sdc_type_state_redis = {
 *       "state.redis", "v1", SDC_CAT_STATE, &redis_ops.base};
 * and registers it with one line in component_types.def. The category's ops struct (for example
 * struct sdc_state_ops) starts with its struct sdc_component_ops, so `ops` converts back to it. */
struct sdc_component_type {
    const char *type;     /* "state.redis" */
    const char *versions; /* space-separated accepted spec.version values: "v1" */
    enum sdc_category category;
    const struct sdc_component_ops *ops; /* points at the first member of the category's ops */
};

/* The registered type for `type` and `version`, or NULL. */
const struct sdc_component_type *sdc_component_type_find(const char *type, const char *version);
/* The category of a type name by its prefix ("state." -> SDC_CAT_STATE), or SDC_CAT_COUNT. */
enum sdc_category sdc_category_of(const char *type);

struct sdc_component {
    const struct dc_component *def;        /* the resource (borrowed from the runtime) */
    const struct sdc_component_type *type; /* NULL when it failed with ignoreErrors */
    void *self;                            /* the initialised instance */
    struct sdc_md md;
    bool ok;
};

struct sdc_components {
    struct sdc_component *v;
    size_t n;
};

/* Resolve and initialise `defs` (the components that apply to this app). Secret stores first.
 * Returns DC_OK, or the first fatal error with `eb` naming the component. */
struct sdc_runtime;
int sdc_components_load(struct sdc_components *cs, struct sdc_runtime *rt,
                        struct dc_errbuf *eb) DC_MUST_CHECK;
void sdc_components_close(struct sdc_components *cs);

/* The loaded, healthy component named `name` of `cat`, or NULL. */
struct sdc_component *sdc_components_find(const struct sdc_components *cs, enum sdc_category cat,
                                          const char *name);
/* The number of healthy components of `cat`. */
size_t sdc_components_count(const struct sdc_components *cs, enum sdc_category cat);

#endif /* SDC_COMPONENT_H */
