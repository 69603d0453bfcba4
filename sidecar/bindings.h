#ifndef SDC_BINDINGS_H
#define SDC_BINDINGS_H

/* Bindings (sidecar-api.md §7, §22.5): the component contract (components-contrib's
 * bindings.OutputBinding and bindings.InputBinding, in C), the HTTP API for output bindings and
 * the runner that feeds input-binding events to the app.
 *
 * A binding type defines a `const struct sdc_binding_ops` (first member the common
 * struct sdc_component_ops) and registers a struct sdc_component_type of category
 * SDC_CAT_BINDINGS in component_types.def. A type is an output binding when it has `invoke`
 * (with its `operations`), an input binding when it has `read`, or both.
 *
 * Output: POST/PUT /v1.0/bindings/{name} {"operation","data","metadata"}; `data` is re-encoded
 * as compact JSON (Go's encoding/json: sorted object keys, HTML-safe escapes) before the
 * component sees it. Input: once the app channel is up, each input binding that the app
 * subscribes to (the OPTIONS probe, §7.2) is started with `read`; each event is POSTed to
 * /<route> on the app, and the app's 200 is the only success. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/buf.h"
#include "dc/err.h"
#include "dc/http_server.h"

#include "component.h"

/* One output-binding call. Everything is borrowed for the call. */
struct sdc_binding_req {
    const char *operation; /* never NULL or "": the API refuses those */
    const void *data;      /* the re-encoded JSON of the request's `data` ("null") */
    size_t data_len;
    const struct sdc_md *metadata; /* request metadata (trace headers added); never NULL */
};

/* What a component answers. The API initialises it all-zero (with data limited to
 * DC_BND_MAX_RESPONSE) and releases it with sdc_binding_resp_cleanup.
 * `has_data` false means "no response" (upstream's nil InvokeResponse: the API answers 204);
 * true means 200 with `data` (possibly empty). `metadata` entries become `metadata.<k>`
 * response headers, also when `invoke` fails (the HTTP binding reports statusCode then). */
struct sdc_binding_resp {
    bool has_data;
    struct dc_buf data;
    struct sdc_md metadata; /* heap (sdc_md_set) */
};

void sdc_binding_resp_cleanup(struct sdc_binding_resp *r);

/* One input-binding event. `data` is the raw body for the app; `metadata` (may be NULL)
 * becomes request headers (cron: timeZone, readTimeUTC). Borrowed for the call. */
struct sdc_binding_event {
    const void *data;
    size_t data_len;
    const struct sdc_md *metadata;
};

/* Deliver one event to the app (called by the component, on its own thread; may block for the
 * app's whole answer, resiliency retries included). `reply` (may be NULL) receives the app's
 * response body. Returns DC_OK only when the app answered 200; otherwise an error, with `eb`
 * saying why (the component then decides: nack, retry, drop, log). */
typedef int sdc_binding_handler_fn(void *ud, const struct sdc_binding_event *ev,
                                   struct dc_buf *reply, struct dc_errbuf *eb);

struct sdc_binding_ops {
    struct sdc_component_ops base;
    /* NULL-terminated list of the operation names `invoke` accepts; NULL when output is not
     * supported. The API checks the operation against it before calling `invoke`. */
    const char *const *operations;
    /* Output: perform `req`, filling `resp`. Returns DC_OK or an error with `eb` holding
     * upstream's message (the API wraps it in "error invoking output binding <name>: ...").
     * Called from many threads at once. NULL when output is not supported. */
    int (*invoke)(void *self, const struct sdc_binding_req *req, struct sdc_binding_resp *resp,
                  struct dc_errbuf *eb);
    /* Input: start delivering events through `handler(ud, ...)` from the component's own
     * thread(s), and return at once. NULL when input is not supported. If it returns an error
     * the handler is never called. */
    int (*read)(void *self, sdc_binding_handler_fn *handler, void *ud, struct dc_errbuf *eb);
    /* Input: stop delivering; when it returns, no handler call is running and none will start.
     * Idempotent; `close` must also stop reading. NULL when input is not supported. */
    void (*stop)(void *self);
};

/* ---- the runtime side (bindings_api.c) ---- */

struct sdc_runtime;
struct sdc_bindings;

/* Register POST and PUT /v1.0/bindings/{name} on `r` (one line in sdc_http_api_router). */
void sdc_bindings_api_routes(struct dc_http_router *r, struct sdc_runtime *rt);

/* Start the input-binding runner for `rt` (borrowed; must outlive it): a thread that waits
 * until the app channel is up, probes each input binding's route with OPTIONS and starts the
 * subscribed ones. Without an app channel (no --app-port) no input binding is started.
 * `*out` is owned by the caller (sdc_bindings_free). Returns DC_OK or DC_EIO. */
int sdc_bindings_start(struct sdc_bindings **out, struct sdc_runtime *rt,
                       struct dc_errbuf *eb) DC_MUST_CHECK;
/* Stop every input binding (their `stop`), then the runner thread, and free. NULL is a no-op.
 * Must run before the app channel and the components are freed. */
void sdc_bindings_free(struct sdc_bindings *b);

/* Route of an input binding: its `route` metadata, else the component name (§7.2). */
const char *sdc_binding_route(const struct sdc_component *sc);
/* True when the component is to be read as an input binding: its type supports input and its
 * `direction` metadata is absent or lists "input". `*explicit_input` (may be NULL) tells that
 * `direction` names input, which skips the OPTIONS probe (§7.2). */
bool sdc_binding_is_input(const struct sdc_component *sc, bool *explicit_input);
/* True when the component may be used as an output binding: its type supports output and its
 * `direction` is absent or lists "output". */
bool sdc_binding_is_output(const struct sdc_component *sc);

/* Re-encode the JSON value `v` as Go's json.Marshal of an interface{} does: compact, object
 * keys sorted (byte order, last duplicate wins), '<' '>' '&' U+2028 U+2029 escaped as \u003c...,
 * numbers in Go's float64 format (shortest round-trip, exponent form below 1e-6 and from 1e21).
 * Appends to `out`; DC_OK or DC_ETOOBIG. */
struct cJSON;
int sdc_binding_json_marshal(const struct cJSON *v, struct dc_buf *out) DC_MUST_CHECK;
/* Append the NUL-terminated UTF-8 string `s` as a JSON string literal the way Go's encoder
 * writes it (HTML-safe escapes as above). DC_OK or DC_ETOOBIG. */
int sdc_binding_json_string(struct dc_buf *out, const char *s) DC_MUST_CHECK;

/* ---- cron schedules (cron.c) ----
 *
 * upstream's robfig/cron parser with SecondOptional | Minute | Hour | Dom | Month | Dow |
 * Descriptor: 5 fields (seconds = 0) or 6 fields (seconds first); per field `*` `?` numbers,
 * names (JAN-DEC, SUN-SAT, any case), ranges a-b, steps x/n (a single number with a step runs to
 * the field's maximum), comma lists; descriptors @yearly @annually @monthly @weekly @daily
 * @midnight @hourly and @every <Go duration> (whole seconds, at least 1s). When both
 * day-of-month and day-of-week are restricted a day matches either; if one of them is `*` or
 * `?`, both must match. A TZ=/CRON_TZ= prefix is accepted only for UTC. */
struct sdc_cron {
    uint64_t sec, min, hour, dom, month, dow; /* bit i = value i; bit 63 = the `*` marker */
    int64_t every_s;                          /* > 0 for @every */
    bool utc;                                 /* evaluate in UTC, else the local time zone */
};

/* Parse `spec`. Returns DC_OK or DC_EPARSE with robfig's message in `eb`. */
int sdc_cron_parse(const char *spec, struct sdc_cron *out, struct dc_errbuf *eb) DC_MUST_CHECK;
/* The first activation strictly after `after` (Unix seconds), in the schedule's zone (local
 * unless `utc`; `force_utc` overrides for tests). Returns DC_OK with `*next`, or DC_ENOTFOUND
 * when no time in the next five years matches (robfig then never fires). Pure; thread-safe. */
int sdc_cron_next(const struct sdc_cron *c, int64_t after, bool force_utc, int64_t *next);

#ifdef DC_TESTING
/* Internals visible to the unit tests (DC_TESTABLE). */
long ls_unquote(const char *s, size_t n, unsigned char *out);
void cron_go_time_string(int64_t ns, char *out, size_t cap);
#endif

#endif /* SDC_BINDINGS_H */
