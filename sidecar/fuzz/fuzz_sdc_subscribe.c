/* libFuzzer target for what an app answers the sidecar's pub/sub calls with: the GET
 * /dapr/subscribe body (sdc__ps_parse_programmatic: v1 and v2 items, routing rules compiled,
 * metadata, bulkSubscribe) and a delivery's reply status (sdc__ps_app_status).
 * Invariants: at most SDC_PUBSUB_MAX_SUBSCRIPTIONS subscriptions, each with a route, its bulk
 * settings within their bounds; a failure says why. */
#include <stdint.h>
#include <stdlib.h>

#include "dc/limits.h"
#include "dc/log.h"

#include "../pubsub_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdc_pubsub_rt ps = {0};
    struct sdc__ps_sub **subs = NULL;
    struct dc_errbuf eb = {{0}};
    size_t n = 0;
    int rv;

    dc_log_threshold = DC_LOG_FATAL; /* rules that do not compile are logged */
    rv = sdc__ps_parse_programmatic(&ps, (const char *)data, size, &subs, &n, &eb);
    if ((rv != DC_OK && (eb.msg[0] == '\0' || n != 0)) || n > SDC_PUBSUB_MAX_SUBSCRIPTIONS)
        abort();
    for (size_t i = 0; i < n; i++) {
        const struct sdc__ps_sub *s = subs[i];
        if (s->nrules == 0 || s->bulk_max_n < 1 || s->bulk_max_n > 10000 ||
            s->bulk_max_await_ms < 1 || s->bulk_max_await_ms > INT32_MAX)
            abort();
        sdc__ps_sub_free(subs[i]);
    }
    free(subs);
    switch (sdc__ps_app_status((const char *)data, size)) {
    case SDC_PUBSUB_SUCCESS:
    case SDC_PUBSUB_RETRY:
    case SDC_PUBSUB_DROP:
        break;
    default:
        abort();
    }
    return 0;
}
