/* TEMPORARY stub of resiliency.h (see stubs.h): every policy is empty and runs the operation
 * once without a deadline. The resiliency branch replaces this file. */
#include <stdlib.h>

#include "dc/mem.h"

#include "resiliency.h"

struct sdc_resiliency {
    int unused;
};

struct sdc_res_policy {
    int unused;
};

static const struct sdc_res_policy empty_policy;

int sdc_resiliency_new(struct sdc_resiliency **out, const struct dc_resiliency *const *defs,
                       size_t n, struct dc_errbuf *eb)
{
    (void)defs;
    (void)n;
    (void)eb;
    *out = dc_xcalloc(1, sizeof(**out));
    return DC_OK;
}

void sdc_resiliency_free(struct sdc_resiliency *r)
{
    free(r);
}

const struct sdc_res_policy *sdc_resiliency_policy(struct sdc_resiliency *r,
                                                   enum sdc_res_target kind, const char *name,
                                                   enum sdc_category cat)
{
    (void)r;
    (void)kind;
    (void)name;
    (void)cat;
    return &empty_policy;
}

int sdc_resiliency_run(const struct sdc_res_policy *p, const char *breaker_key,
                       sdc_res_attempt_fn *fn, void *ud, int *status, struct dc_errbuf *eb)
{
    (void)p;
    (void)breaker_key;
    return fn(ud, 0, status, eb);
}

bool sdc_res_policy_empty(const struct sdc_res_policy *p)
{
    (void)p;
    return true;
}
