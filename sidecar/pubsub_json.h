#ifndef SDC_PUBSUB_JSON_H
#define SDC_PUBSUB_JSON_H

/* Fast paths of the pub/sub message path that avoid building a cJSON tree per message
 * (docs/internals/pubsub.md, "Fast paths"). Each function either gives exactly the result of
 * the slow path it replaces, or declines (DC_EAGAIN / false) and leaves the caller to take
 * that slow path: a fast path never decides anything the slow path would decide differently.
 * Both walk the input once, without allocating per value; all are thread-safe. */

#include <stdbool.h>
#include <stddef.h>

#include "dc/buf.h"
#include "dc/err.h"

/* Append to `out` the text that dc_json_parse of the `len` bytes at `data`, then
 * sdc_json_sort_keys, then dc_json_print would produce: compact, object keys sorted
 * recursively (stable for duplicates). Handles the common shapes (strings with the escapes
 * \" \\ \b \f \n \r \t, integers of up to 9 digits, true/false/null, nesting below
 * DC_MAX_DOC_DEPTH, keys without escapes); anything else (and anything that is not valid JSON)
 * returns DC_EAGAIN with `out` unchanged. DC_ETOOBIG when `out` reaches its limit (unchanged). */
int sdc__ps_json_canon(const char *data, size_t len, struct dc_buf *out) DC_MUST_CHECK;

/* Top-level string members of a CloudEvent that delivery reads. */
enum sdc__ps_ce_field {
    SDC__PS_CE_ID = 0,
    SDC__PS_CE_EXPIRATION,
    SDC__PS_CE_TRACEPARENT,
    SDC__PS_CE_TRACEID,
    SDC__PS_CE_TRACESTATE,
    SDC__PS_CE_NFIELDS,
};

struct sdc__ps_span {
    const char *p; /* NULL: absent or not a string (as cJSON_IsString would say) */
    size_t len;    /* the value's bytes, no escapes in them */
};

/* True when the `len` bytes at `data` are certainly a JSON object that sdc_cloudevent_parse
 * accepts; then `f[k]` is the first top-level member named as field k, when it is a string
 * (cJSON_GetObjectItemCaseSensitive + cJSON_IsString). False when unsure (the caller parses
 * with cJSON): invalid JSON, \u0000 or surrogate escapes, numbers longer than 40 characters,
 * top-level keys with escapes, or a wanted string value with escapes. */
bool sdc__ps_ce_scan(const char *data, size_t len, struct sdc__ps_span f[SDC__PS_CE_NFIELDS]);

/* The app's reply to a delivery when it is the canonical `{"status":"SUCCESS"}` (optionally
 * followed by whitespace): true. False means "parse it" (sdc__ps_app_status). */
bool sdc__ps_reply_is_success(const char *body, size_t len);

#endif /* SDC_PUBSUB_JSON_H */
