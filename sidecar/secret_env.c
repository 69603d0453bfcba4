/* secretstores.local.env v1 (sidecar-api.md §22.6): secrets from daprd's environment.
 *
 * Metadata: prefix (optional, case-sensitive). get(name) reads the variable prefix+name and
 * returns {"<name>": "<value>"}, with "" for an unset variable (upstream never fails a get).
 * bulk_get returns {"<name>": {"<name>": "<value>"}} for every variable that starts with the
 * prefix (and is longer than it), the prefix removed from the names.
 *
 * As upstream, the sidecar's own credentials never leave through this store: a variable whose
 * full name, compared case-insensitively, is APP_API_TOKEN or starts with DAPR_ (DAPR_API_TOKEN,
 * DAPR_CERT_CHAIN...) reads as "" and is left out of bulk answers. Names containing '=' read as
 * "" too, since getenv() would match them against part of another variable. The store reads
 * the environment without a lock: daprd never changes its environment after startup. */
#include "secrets.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"

extern char **environ;

struct env_store {
    char *prefix;
    size_t plen;
};

/* isKeyAllowed of components-contrib's env store, on the full variable name. */
static bool env_allowed(const char *name, size_t len)
{
    if (len == strlen("APP_API_TOKEN") && strncasecmp(name, "APP_API_TOKEN", len) == 0)
        return false;
    return !(len >= 5 && strncasecmp(name, "DAPR_", 5) == 0);
}

static int env_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                    struct dc_errbuf *eb)
{
    struct env_store *s = dc_xcalloc(1, sizeof(*s));

    (void)ctx;
    (void)eb;
    s->prefix = dc_xstrdup(sdc_md_get_or(md, "prefix", ""));
    s->plen = strlen(s->prefix);
    *self = s;
    return DC_OK;
}

static void env_close(void *self)
{
    struct env_store *s = self;

    if (s == NULL)
        return;
    free(s->prefix);
    free(s);
}

static unsigned env_features(const void *self)
{
    (void)self;
    return 0;
}

static int env_get(void *self, const char *name, const struct sdc_md *md, struct dc_arena *a,
                   struct sdc_secret *out, struct dc_errbuf *eb)
{
    const struct env_store *s = self;
    struct sdc_secret_kv *kv = dc_arena_alloc(a, sizeof(*kv));
    char *full = dc_arena_sprintf(a, "%s%s", s->prefix, name);
    const char *value = NULL;

    (void)md;
    (void)eb;
    if (!env_allowed(full, strlen(full)))
        DC_LOG(DC_LOG_WARN, "Access to env var %s is forbidden", name);
    else if (strchr(full, '=') == NULL)
        value = getenv(full);
    kv->key = name;
    kv->value = dc_arena_strdup(a, value != NULL ? value : "");
    *out = (struct sdc_secret){.kv = kv, .n = 1};
    return DC_OK;
}

static int env_bulk_get(void *self, const struct sdc_md *md, struct dc_arena *a,
                        struct sdc_secret_bulk *out, struct dc_errbuf *eb)
{
    const struct env_store *s = self;
    struct sdc_secret_entry *v;
    size_t cap = 0, n = 0;

    (void)md;
    (void)eb;
    for (char **e = environ; e != NULL && *e != NULL; e++)
        cap++;
    v = dc_arena_alloc(a, (cap ? cap : 1) * sizeof(*v));
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        size_t len = eq != NULL ? (size_t)(eq - *e) : strlen(*e);
        struct sdc_secret_kv *kv;

        if (s->plen > 0 && (len <= s->plen || memcmp(*e, s->prefix, s->plen) != 0))
            continue;
        if (len == 0 || !env_allowed(*e, len))
            continue;
        kv = dc_arena_alloc(a, sizeof(*kv));
        kv->key = dc_arena_strndup(a, *e + s->plen, len - s->plen);
        kv->value = dc_arena_strdup(a, eq != NULL ? eq + 1 : "");
        v[n++] = (struct sdc_secret_entry){.name = kv->key, .data = {.kv = kv, .n = 1}};
    }
    *out = (struct sdc_secret_bulk){.v = v, .n = n};
    return DC_OK;
}

static const struct sdc_secret_ops env_ops = {
    .base = {.init = env_init, .close = env_close},
    .features = env_features,
    .get = env_get,
    .bulk_get = env_bulk_get,
};

const struct sdc_component_type sdc_type_secretstores_local_env = {
    "secretstores.local.env", "v1", SDC_CAT_SECRETSTORES, &env_ops.base};
