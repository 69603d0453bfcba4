#ifndef SDC_PUBSUB_JSON_H
#define SDC_PUBSUB_JSON_H

/* Fast JSON paths of the sidecar that avoid building a cJSON tree per message or request:
 * pub/sub's message path (docs/internals/pubsub.md, "Fast paths") and the state API's save
 * body (docs/internals/state.md). Each function either gives exactly the result of
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

/* As sdc__ps_json_canon without sorting: the text cJSON_PrintUnformatted gives for the parsed
 * document (members in document order), for the same shapes. DC_EAGAIN: take the slow path. */
int sdc__json_compact(const char *data, size_t len, struct dc_buf *out) DC_MUST_CHECK;

/* Step over the JSON value at `*p` (its first byte; nothing at or past `end` is read), which
 * sits inside `depth` open containers of its document: true with `*p` just past it when it is
 * certainly valid JSON (as dc_json_parse would judge it within a valid document, the
 * DC_MAX_DOC_DEPTH limit included). With `prints_back`, only values of the shapes of
 * sdc__json_compact are accepted, so that cJSON_PrintUnformatted of the parsed value gives the
 * value's bytes with the whitespace between its tokens removed; `*had_ws` says whether there
 * was any (then sdc__json_compact gives the text). False: unsure, `*p` unchanged. */
bool sdc__json_step(const char **p, const char *end, unsigned depth, bool prints_back,
                    bool *had_ws) DC_MUST_CHECK;

/* A JSON string at `*p` without escapes and with valid UTF-8: true with `*s`/`*n` its bytes
 * between the quotes (which are also cJSON's valuestring) and `*p` past the closing quote.
 * False otherwise (unsure or invalid), `*p` unchanged. */
bool sdc__json_plain_string(const char **p, const char *end, const char **s,
                            size_t *n) DC_MUST_CHECK;

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
