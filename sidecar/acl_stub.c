/* TEMPORARY stub of acl.h (see stubs.h): global and per-app default actions and exact or
 * trailing-"**" operation names with verbs; enough for the invocation tests. The access-control
 * branch replaces this file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dc/mem.h"
#include "dc/str.h"

#include "acl.h"

struct sdc_acl {
    const struct dc_configuration *conf;
};

int sdc_acl_new(struct sdc_acl **out, const struct dc_configuration *conf, struct dc_errbuf *eb)
{
    (void)eb;
    *out = dc_xcalloc(1, sizeof(**out));
    (*out)->conf = conf;
    return DC_OK;
}

void sdc_acl_free(struct sdc_acl *acl)
{
    free(acl);
}

static bool op_match(const char *pattern, const char *op)
{
    size_t n = strlen(pattern);

    if (n >= 2 && strcmp(pattern + n - 2, "**") == 0)
        return strncasecmp(pattern, op, n - 2) == 0;
    return strcasecmp(pattern, op) == 0;
}

bool sdc_acl_allowed(const struct sdc_acl *acl, const struct sdc_caller *caller,
                     const char *operation, const char *http_verb, char *why, size_t why_len)
{
    const struct dc_configuration *c = acl != NULL ? acl->conf : NULL;
    const char *action, *td;
    char op[1024];

    if (c == NULL || !c->access_control.set)
        return true;
    snprintf(op, sizeof(op), "/%s", operation);
    action = c->access_control.default_action;
    if (action == NULL)
        action = c->access_control.npolicies > 0 ? "deny" : "allow";
    for (size_t i = 0; i < c->access_control.npolicies; i++) {
        const struct dc_acl_policy *p = &c->access_control.policies[i];

        if (!dc_str_eq(p->app_id, caller->app_id))
            continue;
        if (p->default_action != NULL)
            action = p->default_action;
        for (size_t k = 0; k < p->noperations; k++) {
            const struct dc_acl_operation *o = &p->operations[k];
            bool verb = o->nhttp_verbs == 0;

            for (size_t v = 0; v < o->nhttp_verbs; v++)
                verb = verb || strcmp(o->http_verbs[v], "*") == 0 ||
                       strcasecmp(o->http_verbs[v], http_verb) == 0;
            if (verb && op_match(o->name, op)) {
                action = o->action;
                break;
            }
        }
        break;
    }
    if (dc_str_eq_ci(action, "allow"))
        return true;
    td = caller->trust_domain != NULL ? caller->trust_domain : "public";
    if (why != NULL)
        snprintf(why, why_len,
                 "access control policy has denied access to id: spiffe://%s/ns/%s/%s "
                 "operation: %s verb: %s",
                 td, caller->namespace != NULL ? caller->namespace : "",
                 caller->app_id != NULL ? caller->app_id : "", op, http_verb);
    return false;
}
