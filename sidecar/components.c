/* Loading components: metadata resolution, type lookup, initialisation (sidecar-api.md §22.1). */
#include "component.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/rand.h"
#include "dc/str.h"
#include "dc/time.h"

#include "runtime.h"

#define DEFAULT_INIT_TIMEOUT_MS 5000

const char *sdc_md_get(const struct sdc_md *md, const char *name)
{
    if (md == NULL)
        return NULL;
    for (size_t i = 0; i < md->n; i++)
        if (strcasecmp(md->names[i], name) == 0)
            return md->values[i];
    return NULL;
}

const char *sdc_md_get_or(const struct sdc_md *md, const char *name, const char *def)
{
    const char *v = sdc_md_get(md, name);

    return dc_str_empty(v) ? def : v;
}

void sdc_md_set(struct sdc_md *md, const char *name, const char *value)
{
    for (size_t i = 0; i < md->n; i++) {
        if (strcasecmp(md->names[i], name) == 0) {
            free(md->values[i]);
            md->values[i] = dc_xstrdup(value);
            return;
        }
    }
    md->names = dc_xrealloc(md->names, (md->n + 1) * sizeof(*md->names));
    md->values = dc_xrealloc(md->values, (md->n + 1) * sizeof(*md->values));
    md->names[md->n] = dc_xstrdup(name);
    md->values[md->n] = dc_xstrdup(value);
    md->n++;
}

void sdc_md_cleanup(struct sdc_md *md)
{
    for (size_t i = 0; i < md->n; i++) {
        free(md->names[i]);
        free(md->values[i]);
    }
    free(md->names);
    free(md->values);
    memset(md, 0, sizeof(*md));
}

/* envRef: DAPR_* and APP_API_TOKEN are never readable; with DAPR_ENV_KEYS set, only the names it
 * lists (space-separated) are (sidecar-api.md §19). */
static bool env_ref_allowed(const char *name)
{
    const char *allow = getenv("DAPR_ENV_KEYS");
    size_t n = strlen(name);

    if (dc_str_has_prefix(name, "DAPR_") || strcmp(name, "APP_API_TOKEN") == 0)
        return false;
    if (dc_str_empty(allow))
        return true;
    for (const char *p = allow; *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p += len;
        p += strspn(p, " ");
    }
    return false;
}

/* Expand {uuid} {appID} {podName} {namespace} in a metadata value. */
static char *expand_templates(const char *v, const struct sdc_runtime *rt)
{
    struct dc_buf b = {0};
    const char *pod = getenv("POD_NAME");

    for (const char *p = v; *p != '\0';) {
        char id[37];
        const char *rep = NULL;
        size_t skip = 0;

        if (dc_str_has_prefix(p, "{uuid}")) {
            dc_uuid4(id);
            rep = id;
            skip = 6;
        } else if (dc_str_has_prefix(p, "{appID}")) {
            rep = rt->cfg->app_id;
            skip = 7;
        } else if (dc_str_has_prefix(p, "{podName}")) {
            rep = pod != NULL ? pod : "";
            skip = 9;
        } else if (dc_str_has_prefix(p, "{namespace}")) {
            rep = rt->cfg->namespace != NULL ? rt->cfg->namespace : "";
            skip = 11;
        }
        if (rep != NULL) {
            DC_ASSERT(dc_buf_appends(&b, rep) == DC_OK);
            p += skip;
        } else {
            DC_ASSERT(dc_buf_appendc(&b, *p) == DC_OK);
            p++;
        }
    }
    return dc_buf_take(&b, NULL);
}

/* Resolve one metadata entry to a plain string. */
static int resolve_entry(struct sdc_runtime *rt, const struct dc_component *c,
                         const struct dc_nv *nv, char **out, struct dc_errbuf *eb)
{
    if (nv->secret_ref_name != NULL) {
        return sdc_runtime_secret_ref(rt, c->auth_secret_store, nv->secret_ref_name,
                                      nv->secret_ref_key, out, eb);
    }
    if (nv->env_ref != NULL) {
        const char *v = env_ref_allowed(nv->env_ref) ? getenv(nv->env_ref) : NULL;
        if (!env_ref_allowed(nv->env_ref))
            return dc_err_set(eb, DC_EPERM, "envRef %s is not readable", nv->env_ref);
        *out = dc_xstrdup(v != NULL ? v : "");
        return DC_OK;
    }
    *out = expand_templates(nv->value != NULL ? nv->value : "", rt);
    return DC_OK;
}

static int load_one(struct sdc_runtime *rt, struct sdc_component *sc, struct dc_errbuf *eb)
{
    const struct dc_component *c = sc->def;
    struct sdc_init_ctx ctx = {
        .name = c->meta.name,
        .app_id = rt->cfg->app_id,
        .namespace = rt->cfg->namespace,
        .timeout_ms = DEFAULT_INIT_TIMEOUT_MS,
    };
    int64_t ns;
    int rv;

    sc->type = sdc_component_type_find(c->type, c->version);
    if (sc->type == NULL)
        return dc_err_set(eb, DC_EUNSUPPORTED, "couldn't find component %s/%s", c->type,
                          c->version != NULL ? c->version : "");
    if (!dc_str_empty(c->init_timeout) && dc_duration_parse(c->init_timeout, &ns, NULL) == DC_OK)
        ctx.timeout_ms = ns / 1000000;
    for (size_t i = 0; i < c->nmetadata; i++) {
        char *v = NULL;
        rv = resolve_entry(rt, c, &c->metadata[i], &v, eb);
        if (rv != DC_OK) {
            dc_err_wrapf(eb, "metadata %s", c->metadata[i].name);
            return rv;
        }
        sdc_md_set(&sc->md, c->metadata[i].name, v);
        free(v);
    }
    rv = sc->type->ops->init(&sc->self, &sc->md, &ctx, eb);
    if (rv != DC_OK)
        return rv;
    sc->ok = true;
    return DC_OK;
}

static int load_pass(struct sdc_components *cs, struct sdc_runtime *rt, bool secrets,
                     struct dc_errbuf *eb)
{
    for (size_t i = 0; i < cs->n; i++) {
        struct sdc_component *sc = &cs->v[i];
        bool is_secret = sdc_category_of(sc->def->type) == SDC_CAT_SECRETSTORES;
        int rv;

        if (is_secret != secrets)
            continue;
        rv = load_one(rt, sc, eb);
        sdc_comp_metric_init(rt, sc->def->type, sc->def->meta.name, rv == DC_OK,
                             rv == DC_EUNSUPPORTED ? "creation" : "init");
        if (rv == DC_OK) {
            DC_LOG(DC_LOG_INFO, "Component loaded: %s (%s/%s)", sc->def->meta.name, sc->def->type,
                   sc->def->version);
            continue;
        }
        dc_err_wrapf(eb, "%s:%d: component %s (%s/%s) failed to init", sc->def->meta.file,
                     sc->def->meta.line, sc->def->meta.name, sc->def->type, sc->def->version);
        if (!sc->def->ignore_errors)
            return rv;
        DC_LOG(DC_LOG_WARN, "%s (ignoreErrors: true, continuing)", eb->msg);
        sc->type = NULL;
        sc->self = NULL;
    }
    return DC_OK;
}

int sdc_components_load(struct sdc_components *cs, struct sdc_runtime *rt, struct dc_errbuf *eb)
{
    int rv;

    cs->n = rt->ncomponents;
    cs->v = dc_xcalloc(cs->n ? cs->n : 1, sizeof(*cs->v));
    for (size_t i = 0; i < cs->n; i++)
        cs->v[i].def = rt->components[i];
    /* Secret stores first: the other components may take values from them. */
    rv = load_pass(cs, rt, true, eb);
    if (rv == DC_OK)
        rv = load_pass(cs, rt, false, eb);
    return rv;
}

void sdc_components_close(struct sdc_components *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        struct sdc_component *sc = &cs->v[i];
        if (sc->ok && sc->type->ops->close != NULL)
            sc->type->ops->close(sc->self);
        sdc_md_cleanup(&sc->md);
    }
    free(cs->v);
    memset(cs, 0, sizeof(*cs));
}

struct sdc_component *sdc_components_find(const struct sdc_components *cs, enum sdc_category cat,
                                          const char *name)
{
    for (size_t i = 0; i < cs->n; i++) {
        struct sdc_component *sc = &cs->v[i];
        if (sc->ok && sc->type->category == cat && strcmp(sc->def->meta.name, name) == 0)
            return sc;
    }
    return NULL;
}

size_t sdc_components_count(const struct sdc_components *cs, enum sdc_category cat)
{
    size_t n = 0;

    for (size_t i = 0; i < cs->n; i++)
        if (cs->v[i].ok && cs->v[i].type->category == cat)
            n++;
    return n;
}
