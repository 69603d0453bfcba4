#ifndef SDC_CLOUDEVENT_H
#define SDC_CLOUDEVENT_H

/* CloudEvents 1.0 envelopes as daprd builds and reads them (sidecar-api.md §6.2, §6.6).
 * Pure functions: no I/O, thread-safe. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dc/buf.h"
#include "dc/err.h"

#include "component.h"

/* The publisher's side of one event. Strings are borrowed for the call. */
struct sdc_ce_in {
    const char *app_id;       /* becomes `source` */
    const char *pubsub;       /* `pubsubname` */
    const char *topic;        /* `topic` */
    const char *content_type; /* the request Content-Type; NULL or "" = text/plain */
    const void *data;
    size_t len;
    /* Request metadata (may be NULL): cloudevent.id/source/type/subject/traceid/traceparent/
     * tracestate override the envelope; ttlInSeconds adds `expiration` when add_expiration. */
    const struct sdc_md *md;
    const char *traceparent; /* of the current span; NULL or "" when tracing is off */
    const char *tracestate;  /* may be NULL */
    int64_t now_ns;          /* wall clock (dc_now_ns()) */
    bool add_expiration;     /* the component does not declare MESSAGE_TTL */
};

/* Build the event bytes for `in` into `out` (appended):
 *  - Content-Type application/cloudevents+json: the body must be a JSON object, kept with
 *    time/traceid/traceparent/tracestate/source/type/specversion added when missing and
 *    topic/pubsubname overwritten (no id is generated);
 *  - any other type: a new envelope (id, source, type, specversion, datacontenttype, data or
 *    data_base64, topic, pubsubname, traceid = traceparent, tracestate, time, subject).
 * Keys are written sorted, as Go's encoder writes maps; `data` of application/json is the
 * parsed value re-encoded (sorted keys), or the text as a string when it does not parse.
 * Returns DC_OK, DC_EPARSE (a cloudevents+json body that is not a JSON object: upstream's
 * ERR_PUBSUB_CLOUD_EVENTS_SER), DC_EINVAL (bad ttlInSeconds), DC_ETOOBIG (`out` limit). */
int sdc_cloudevent_build(const struct sdc_ce_in *in, struct dc_buf *out,
                         struct dc_errbuf *eb) DC_MUST_CHECK;

/* The envelope a subscription with rawPayload=true delivers (§6.6): a new id, source "Dapr",
 * type com.dapr.event.sent, datacontenttype application/octet-stream, topic, pubsubname,
 * data_base64 of the broker bytes, and traceid/traceparent/tracestate when `md` has them. */
int sdc_cloudevent_wrap_raw(const char *pubsub, const char *topic, const void *data, size_t len,
                            const struct sdc_md *md, struct dc_buf *out) DC_MUST_CHECK;

/* Parse received event bytes: a JSON object of at most `max_len` bytes (dc_json_parse rules).
 * On DC_OK `*out` is a new tree owned by the caller (cJSON_Delete). Returns DC_OK, DC_EPARSE
 * (not JSON, or JSON but not an object), DC_ETOOBIG. */
int sdc_cloudevent_parse(const void *data, size_t len, size_t max_len, cJSON **out,
                         struct dc_errbuf *eb) DC_MUST_CHECK;

/* True when `ev` has an `expiration` (RFC 3339) at or before `now_ns`. An unparsable
 * expiration counts as not expired (upstream logs and delivers). */
bool sdc_cloudevent_expired(const cJSON *ev, int64_t now_ns);

/* Helpers shared by the pub/sub modules. */

/* A new random UUIDv4 "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" into `out` (37 bytes). */
void sdc_uuid4(char out[37]);
/* The media type of a Content-Type value: lower-cased, parameters and blanks removed, into
 * `out` (cut to `cap`). */
void sdc_media_type(const char *content_type, char *out, size_t cap);
/* Sort every object's members by key (byte order), recursively, as Go marshals maps. */
void sdc_json_sort_keys(cJSON *v);
/* Append the JSON document `data` as an event's application/json data: exactly the bytes of
 * dc_json_parse, sdc_json_sort_keys and dc_json_print (no whitespace, members stably sorted by
 * key), mostly without building a tree. Returns DC_OK, DC_EPARSE (not a document dc_json_parse
 * accepts; nothing appended) or DC_ETOOBIG (`out` limit). */
int sdc_json_append_sorted(struct dc_buf *out, const void *data, size_t len) DC_MUST_CHECK;

#endif /* SDC_CLOUDEVENT_H */
