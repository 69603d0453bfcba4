#ifndef SDC_PUBSUB_API_H
#define SDC_PUBSUB_API_H

/* The pub/sub building block of daprd (sidecar-api.md §6): the publish and bulk publish routes
 * with topic scoping, subscriptions (declarative and programmatic) and delivery to the app.
 * Brokers are components implementing pubsub.h. */

#include <cjson/cJSON.h>

#include "dc/err.h"
#include "dc/http_server.h"

#include "runtime.h"

struct sdc_pubsub_rt;

/* Set up pub/sub for `rt` (after sdc_components_load): compile every pub/sub component's
 * scoping metadata and every declarative Subscription (a routing rule whose match does not
 * compile fails here, naming the file, line and rule), then start a thread that waits for
 * the app channel (rt->ready), asks the app for its programmatic subscriptions
 * (GET /dapr/subscribe) and subscribes. Sets rt->pubsub. Without an app port nothing is
 * subscribed. Returns DC_OK, DC_EPARSE/DC_EINVAL (invalid subscription or scoping metadata)
 * or DC_EIO (thread). */
int sdc_pubsub_init(struct sdc_runtime *rt, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Stop the thread, unsubscribe everything (waiting for in-flight deliveries) and free.
 * NULL is a no-op. Call before the app channel and the components go. */
void sdc_pubsub_free(struct sdc_pubsub_rt *ps);

/* Register POST/PUT /v1.0/publish/{pubsubname}/{topic*} and the bulk routes
 * (/v1.0-alpha1/publish/bulk/... and /v1.0/publish/bulk/...). */
void sdc_pubsub_api_routes(struct dc_http_router *r, struct sdc_runtime *rt);

/* Add the "subscriptions" array of /v1.0/metadata (§3.1) to `root` (nothing when there are
 * none). Thread-safe. */
void sdc_pubsub_metadata(struct sdc_pubsub_rt *ps, cJSON *root);

#endif /* SDC_PUBSUB_API_H */
