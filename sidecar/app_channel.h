#ifndef SDC_APP_CHANNEL_H
#define SDC_APP_CHANNEL_H

/* The app channel (sidecar-api.md §17): daprd's HTTP client to its own app on --app-port.
 *
 * - Base URL <protocol>://<--app-channel-address>:<--app-port>; "http" and "https" (the app's
 *   certificate is not verified, as upstream); h2c, grpc and grpcs are refused at startup.
 * - Every call carries `dapr-api-token: $APP_API_TOKEN` when that variable is set; the health
 *   probe does not.
 * - --app-max-concurrency N: a counting semaphore; a call holds its slot until the response
 *   body has been read (calls return only after that, so the slot is released on return).
 * - Startup (§17.3): a background thread dials the app port every 100 ms with a 500 ms timeout
 *   until it accepts, then sets the runtime's `ready` flag; it never blocks the API servers.
 * - Health (§17.3 step 4, --enable-app-health-check): the same thread then probes
 *   GET <path> every interval; the app starts unhealthy, the first 2xx makes it healthy and
 *   `threshold` consecutive failures make it unhealthy again. Without health checks the app is
 *   healthy as soon as its port is open.
 * Thread-safe: any number of threads may call sdc_app_channel_call concurrently. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/arena.h"
#include "dc/err.h"
#include "dc/http_client.h"

#include "config.h"

struct sdc_app_channel;

/* Create the channel for `cfg` (borrowed; must outlive the channel). With no --app-port,
 * `*out` is NULL and the result is DC_OK ("client only" sidecar). Nothing is started yet.
 * Returns DC_OK, DC_EUNSUPPORTED (--app-protocol h2c/grpc/grpcs: `eb` says so) or DC_EIO. */
int sdc_app_channel_new(struct sdc_app_channel **out, const struct sdc_config *cfg,
                        struct dc_errbuf *eb) DC_MUST_CHECK;

/* Start the background thread that waits for the app port, then sets `*ready` (borrowed; must
 * outlive the channel) and runs the health probes. With `ch` NULL (no app port) `*ready` is
 * set at once. Returns DC_OK or DC_EIO (thread creation failed). */
int sdc_app_channel_start(struct sdc_app_channel *ch, atomic_bool *ready) DC_MUST_CHECK;

/* Stop the thread and free. NULL is a no-op. No call may be running. */
void sdc_app_channel_free(struct sdc_app_channel *ch);

/* True once the app port accepted a connection. */
bool sdc_app_channel_port_open(const struct sdc_app_channel *ch);
/* True when the app may receive calls: port open and (with health checks) healthy. */
bool sdc_app_channel_healthy(const struct sdc_app_channel *ch);

/* One request to the app. `path` is the absolute path to call ("/" + method, already
 * normalised and percent-encoded as it goes on the wire); `query` the raw query without '?'
 * (NULL or "" = none). `headers` is a NULL-terminated "Name: value" list (may be NULL); the
 * channel adds the app token. `on_head`/`on_body`/`ud` as in struct dc_http_call (NULL: the
 * body is buffered in the result, cut at --max-body-size). `deadline_ns` is an absolute
 * dc_mono_ns() deadline (0 = none) passed to the HTTP call as its timeout. */
struct sdc_app_call {
    const char *method;
    const char *path;
    const char *query;
    const char *const *headers;
    const void *body;
    size_t body_len;
    int64_t deadline_ns;
    dc_http_head_fn *on_head;
    dc_http_body_fn *on_body;
    void *ud;
    const int *watch_fd; /* as in struct dc_http_call */
};

/* Perform `call` against the app (waiting for a concurrency slot first) and fill `res` (must
 * be all-zero; release with dc_http_result_cleanup). `arena` (the request's) holds the URL and
 * header list. Does not check health: callers decide (sdc_app_channel_healthy).
 * Returns what dc_http_client_do returns (DC_OK for any HTTP status), or DC_ETIMEDOUT when
 * the deadline passed before the call could start. Blocks. */
int sdc_app_channel_call(struct sdc_app_channel *ch, const struct sdc_app_call *call,
                         struct dc_arena *arena, struct dc_http_result *res,
                         struct dc_errbuf *eb) DC_MUST_CHECK;

/* "http://127.0.0.1:3000" (no trailing '/'), borrowed from the channel. */
const char *sdc_app_channel_base_url(const struct sdc_app_channel *ch);

#endif /* SDC_APP_CHANNEL_H */
