/* The registry of component types: one line per type. Each type lives in its own file. */
#include <string.h>

#include "component.h"
#include "dc/str.h"

/* Each type's file defines `const struct sdc_component_type <sym>`. */
#define SDC_COMPONENT_TYPE(sym) extern const struct sdc_component_type sym;
#include "component_types.def"
#undef SDC_COMPONENT_TYPE

static const struct sdc_component_type *const types[] = {
#define SDC_COMPONENT_TYPE(sym) &sym,
#include "component_types.def"
#undef SDC_COMPONENT_TYPE
    NULL,
};

static bool version_ok(const char *versions, const char *version)
{
    size_t n;
    const char *p = versions;

    if (dc_str_empty(version))
        return true;
    n = strlen(version);
    while (*p != '\0') {
        const char *sp = strchr(p, ' ');
        size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
        if (len == n && memcmp(p, version, n) == 0)
            return true;
        if (sp == NULL)
            break;
        p = sp + 1;
    }
    return false;
}

const struct sdc_component_type *sdc_component_type_find(const char *type, const char *version)
{
    for (size_t i = 0; types[i] != NULL; i++)
        if (strcmp(types[i]->type, type) == 0 && version_ok(types[i]->versions, version))
            return types[i];
    return NULL;
}

enum sdc_category sdc_category_of(const char *type)
{
    static const struct {
        const char *prefix;
        enum sdc_category cat;
    } prefixes[] = {
        {"state.", SDC_CAT_STATE},
        {"secretstores.", SDC_CAT_SECRETSTORES},
        {"pubsub.", SDC_CAT_PUBSUB},
        {"bindings.", SDC_CAT_BINDINGS},
        {"configuration.", SDC_CAT_CONFIGURATION},
        {"lock.", SDC_CAT_LOCK},
        {"crypto.", SDC_CAT_CRYPTO},
        {"middleware.", SDC_CAT_MIDDLEWARE},
    };

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (dc_str_has_prefix(type, prefixes[i].prefix))
            return prefixes[i].cat;
    return SDC_CAT_COUNT;
}
