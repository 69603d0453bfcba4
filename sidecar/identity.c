/* daprd's workload identity: options from the runtime for the shared client (identity.h). */
#include "identity.h"

#include <stdlib.h>

#include "dc/log.h"
#include "dc/str.h"

#include "config.h"
#include "runtime.h"

static void log_event(enum dc_log_level level, const char *msg, void *ud)
{
    (void)ud;
    DC_LOG(level, "mTLS: %s", msg);
}

int sdc_identity_runtime_start(struct sdc_runtime *rt, struct dc_errbuf *eb)
{
    const struct sdc_config *cfg = rt->cfg;
    struct dc_identity_opts o = {0};

    if (!cfg->enable_mtls)
        return DC_OK;
    if (dc_str_empty(cfg->sentry_address))
        return dc_err_set(eb, DC_EINVAL, "--enable-mtls needs --sentry-address");
    o.sentry_address = cfg->sentry_address;
    o.app_id = cfg->app_id;
    o.ns = cfg->namespace;
    /* What sentry's Kubernetes validator derives (control-plane.md §2.4 step 6); upstream
     * daprd leaves it empty and self-hosted sentry then uses "public". */
    if (rt->have_conf)
        o.trust_domain = rt->conf.access_control.trust_domain;
    o.anchors_pem = cfg->trust_anchors;
    o.anchors_file = getenv("DAPR_TRUST_ANCHORS_FILE");
    o.token_file = getenv("DAPR_SENTRY_TOKEN_FILE");
    o.kubernetes = dc_str_eq(cfg->mode, "kubernetes");
    o.cp_trust_domain = cfg->control_plane_trust_domain;
    o.cp_namespace = cfg->control_plane_namespace;
    o.jwt_audiences = (const char *const *)cfg->sentry_request_jwt_audiences.v;
    o.n_jwt_audiences = cfg->sentry_request_jwt_audiences.n;
    o.log = log_event;
    return dc_identity_start(&rt->identity, &o, eb);
}
