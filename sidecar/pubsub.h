#ifndef SDC_PUBSUB_H
#define SDC_PUBSUB_H

/* The pub/sub component contract (components-contrib's pubsub.PubSub, in C; sidecar-api.md §6,
 * §22.4). A broker type defines a `const struct sdc_pubsub_ops` whose first member is its
 * struct sdc_component_ops, and a `const struct sdc_component_type` of category SDC_CAT_PUBSUB.
 *
 * Bytes, not events: brokers move opaque message bytes. The sidecar builds the CloudEvent
 * before publishing (cloudevent.h) and parses it after delivery; a broker never looks inside.
 *
 * Delivery is at-least-once. The broker calls the subscription's handler with one message and
 * acknowledges the message only after the handler returned SDC_PUBSUB_SUCCESS or
 * SDC_PUBSUB_DROP. On SDC_PUBSUB_RETRY or a negative DC_E* code the message stays
 * unacknowledged and the broker redelivers it with its own policy (Redis: pending entries
 * reclaimed after processingTimeout; in-memory: backOff* metadata; MQTT: the broker's
 * redelivery). A broker must never acknowledge a message before its handler call returned.
 *
 * Threads: every operation may be called from many threads at once. The broker calls handlers
 * on its own threads, possibly concurrently for one subscription (up to the broker's own
 * `concurrency`); a handler call blocks for as long as delivery to the app takes (retries
 * under resiliency policies included), so a broker must not call handlers on a thread that
 * other subscriptions or the publish path depend on. Handlers never call back into the same
 * subscription's unsubscribe. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/err.h"

#include "component.h"

/* Capabilities reported in /v1.0/metadata (§3.1). */
enum sdc_pubsub_feature {
    SDC_PUBSUB_F_MESSAGE_TTL = 1u << 0,         /* the broker expires messages itself (ttl) */
    SDC_PUBSUB_F_SUBSCRIBE_WILDCARDS = 1u << 1, /* topics with broker wildcards (MQTT + #) */
    SDC_PUBSUB_F_BULK_PUBLISH = 1u << 2,        /* native bulk_publish */
    SDC_PUBSUB_F_BULK_SUBSCRIBE = 1u << 3,      /* reported as BULK_SUBSCRIBE_IMMEDIATE */
};

/* What a handler decides about one message. */
enum sdc_pubsub_status {
    SDC_PUBSUB_SUCCESS = 0, /* delivered: acknowledge */
    SDC_PUBSUB_RETRY = 1,   /* not delivered: leave unacknowledged, redeliver later */
    SDC_PUBSUB_DROP = 2,    /* not deliverable (already dead-lettered if configured): ack */
};

/* One message, as a broker hands it to a handler. Everything is borrowed for the duration of
 * the handler call only. */
struct sdc_pubsub_msg {
    const char *topic; /* the topic it was published to (without any namespace prefix) */
    const void *data;  /* the message bytes exactly as published */
    size_t data_len;
    const struct sdc_md *metadata; /* broker message metadata (may be NULL or empty); becomes
                                    * request headers of the delivery (§6.6) */
    const char *id;                /* broker message id (Redis stream entry id...); may be NULL */
};

/* Handler of a subscription. Returns an enum sdc_pubsub_status value (>= 0), or a negative
 * DC_E* code, which the broker treats as SDC_PUBSUB_RETRY. */
typedef int sdc_pubsub_handler_fn(void *ud, const struct sdc_pubsub_msg *msg);

/* One message to publish. `data` is the final bytes (a CloudEvent JSON envelope, or the raw
 * body when rawPayload=true). `metadata` is the request metadata (the `metadata.*` query
 * parameters without the prefix, or a bulk entry's metadata merged over them), which brokers
 * may read for their own options (e.g. ttlInSeconds when they declare MESSAGE_TTL); may be
 * NULL. Borrowed for the call. */
struct sdc_pubsub_publish {
    const char *topic;
    const void *data;
    size_t data_len;
    const char *content_type; /* the event's content type; may be NULL */
    const struct sdc_md *metadata;
};

/* A subscription request. `metadata` (borrowed for the call; copy what you keep) is the
 * subscription's metadata (rawPayload, broker options such as queue names, consumerID...).
 * `handler` and `ud` stay valid until unsubscribe returned. */
struct sdc_pubsub_subscribe {
    const char *topic;
    const struct sdc_md *metadata; /* may be NULL */
    sdc_pubsub_handler_fn *handler;
    void *ud;
};

struct sdc_pubsub_sub; /* a broker's subscription handle, opaque to the sidecar */

struct sdc_pubsub_ops {
    struct sdc_component_ops base;
    unsigned features; /* enum sdc_pubsub_feature bits */

    /* Publish one message. Returns DC_OK once the broker accepted it (for a durable broker:
     * stored), DC_EUNAVAIL when the broker cannot be reached, DC_ETOOBIG when the broker
     * refuses the size, anything else as DC_EIO; `eb` says why (it becomes the text after
     * "error when publishing to topic <t> in pubsub <p>: "). */
    int (*publish)(void *self, const struct sdc_pubsub_publish *msg, struct dc_errbuf *eb);

    /* Optional (NULL: the sidecar calls publish for each entry). Publish `n` messages; fill
     * results[i] with DC_OK or the entry's error code, and return DC_OK when every entry was
     * published, else the first error (`eb` describing it). */
    int (*bulk_publish)(void *self, const struct sdc_pubsub_publish *msgs, size_t n, int *results,
                        struct dc_errbuf *eb);

    /* Start delivering messages of `req->topic` to `req->handler`. On DC_OK `*out` is the
     * subscription (release with unsubscribe) and the handler may be called at once, from the
     * broker's threads. A broker that is down at subscribe time should still return DC_OK
     * and keep reconnecting in the background (errors logged), so that a broker that comes
     * back is used without a restart; it returns an error only for invalid requests
     * (DC_EINVAL, e.g. bad subscription metadata). If subscribe returns an error the handler
     * is never called. */
    int (*subscribe)(void *self, const struct sdc_pubsub_subscribe *req,
                     struct sdc_pubsub_sub **out, struct dc_errbuf *eb);

    /* Stop a subscription: after return the handler is not running and is never called again
     * for it (in-flight calls are waited for; their messages are acknowledged or not per
     * their results). `sub` is freed. The component's close() is only called after every
     * subscription was unsubscribed. */
    void (*unsubscribe)(void *self, struct sdc_pubsub_sub *sub);
};

/* The ops of a loaded pub/sub component (its type's category must be SDC_CAT_PUBSUB). */
static inline const struct sdc_pubsub_ops *sdc_pubsub_ops_of(const struct sdc_component *c)
{
    return (const struct sdc_pubsub_ops *)(const void *)c->type->ops;
}

/* Message metadata key that delivery always adds (§6.6): the component name. Brokers need not
 * set it. */
#define SDC_PUBSUB_MD_PUBSUB_NAME "pubsubName"

#endif /* SDC_PUBSUB_H */
