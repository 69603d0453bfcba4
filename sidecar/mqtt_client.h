#ifndef SDC_MQTT_CLIENT_H
#define SDC_MQTT_CLIENT_H

/* An MQTT 3.1.1 client over libmosquitto shared by pubsub.mqtt3 and bindings.mqtt3.
 *
 * Two connections, each driven by its own thread (connect, mosquitto_loop, reconnect with a
 * backoff of 100 ms doubling to 2 s): a publisher (clean session), started by sdc_mqtt_open,
 * and, from the first subscribe on, a consumer (clean session per the options; topics are
 * resubscribed on every connect).
 *
 * Acknowledgement: a message callback runs synchronously on the consumer thread; the PUBACK is
 * written only after it returned (the connection is in libmosquitto's threaded mode, so the
 * PUBACK queued before the callback leaves on the next loop pass). A process that dies inside
 * the callback leaves the message unacknowledged and the broker redelivers it to a persistent
 * session. A callback that asks for it has the message published again to its topic (same qos,
 * the client's retain) before the acknowledgement, unless it was a retained message (MQTT has
 * no NACK). Callbacks of one client run one at a time.
 *
 * Publishing waits for the broker's PUBACK (qos >= 1) up to 10 s; when the publisher is not
 * connected it fails at once with DC_EUNAVAIL. Thread-safe except sdc_mqtt_close. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>

#include "dc/err.h"

#include "component.h"

/* Connection settings. */
struct sdc_mqtt_opts {
    const char *label; /* error/log prefix: "mqtt pubsub", "mqtt binding"; static */
    char host[256];
    int port;
    char *user, *pass; /* owned; NULL: none */
    char *producer_id; /* owned; client id of the publisher */
    char *consumer_id; /* owned; client id of the consumer */
    int qos;           /* 0..2 */
    bool retain;
    bool clean; /* clean session of the consumer */
};

/* Parse the metadata common to both components into `o` (zeroed first; `label` kept):
 * url* ("tcp://[user:pass@]host[:1883]", also mqtt://; ssl/tls/ws schemes and
 * caCert/clientCert/clientKey are refused: DC_EUNSUPPORTED), consumerID (default `app_id`;
 * ids are "<consumerID><producer_suffix>" and "<consumerID><consumer_suffix>"), qos (1), retain
 * (false), cleanSession (`clean_default`). DC_OK or DC_EINVAL with `eb` prefixed by `label`; on
 * error `o` holds nothing to clean up. */
int sdc_mqtt_opts_parse(struct sdc_mqtt_opts *o, const struct sdc_md *md, const char *label,
                        const char *app_id, const char *producer_suffix,
                        const char *consumer_suffix, bool clean_default,
                        struct dc_errbuf *eb) DC_MUST_CHECK;
void sdc_mqtt_opts_cleanup(struct sdc_mqtt_opts *o);
/* A boolean metadata value, `def` when absent; DC_EINVAL "<label>: invalid <name> <v>". */
int sdc_mqtt_md_bool(const struct sdc_md *md, const char *name, bool def, bool *out,
                     const char *label, struct dc_errbuf *eb) DC_MUST_CHECK;

struct sdc_mqtt;
struct sdc_mqtt_sub;

/* A received message (borrowed for the call). Returns true to have it published again to its
 * topic before it is acknowledged (see above), false to acknowledge it as is. */
typedef bool sdc_mqtt_msg_fn(void *ud, struct sdc_mqtt_sub *s, const struct mosquitto_message *msg);

/* Take `o` (moved: `o` is left empty) and start the publisher; wait for it up to
 * `init_timeout_ms` (<= 0: 5 s). A broker that is down is only logged (with `name`): publish
 * fails and the connections keep retrying. libmosquitto is loaded by the first call
 * (mosq_api.h). Returns DC_OK with `*out` owned by the caller (sdc_mqtt_close), DC_ENOMEM,
 * DC_EIO, or DC_ENOTFOUND "<label>: cannot load libmosquitto.so.1: ..."; `o` is left empty in
 * every case. */
int sdc_mqtt_open(struct sdc_mqtt **out, struct sdc_mqtt_opts *o, int64_t init_timeout_ms,
                  const char *name, struct dc_errbuf *eb) DC_MUST_CHECK;
/* Stop both connections (the DISCONNECT is flushed) and free; every subscription is freed.
 * NULL is a no-op. No other call may be running. */
void sdc_mqtt_close(struct sdc_mqtt *m);

/* The client's settings (borrowed). */
const struct sdc_mqtt_opts *sdc_mqtt_get_opts(const struct sdc_mqtt *m);

/* Publish and wait for the acknowledgement (qos >= 1). DC_OK, DC_EUNAVAIL (not connected,
 * connection lost), DC_ETIMEDOUT, DC_ETOOBIG, DC_EINVAL (bad topic), DC_EIO. */
int sdc_mqtt_publish(struct sdc_mqtt *m, const char *topic, const void *data, size_t len, int qos,
                     bool retain, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Subscribe to `topic` (MQTT wildcards allowed) with `fn(ud, ...)`; starts the consumer on
 * first use and waits briefly (3 s, less when the broker is down) for the SUBACK. DC_OK with
 * `*out` (freed by sdc_mqtt_unsubscribe or sdc_mqtt_close), DC_EINVAL (invalid topic), DC_EIO
 * (the consumer thread cannot start; nothing is left subscribed). */
int sdc_mqtt_subscribe(struct sdc_mqtt *m, const char *topic, sdc_mqtt_msg_fn *fn, void *ud,
                       struct sdc_mqtt_sub **out, struct dc_errbuf *eb) DC_MUST_CHECK;
/* Remove `s`: when it returns no callback of `s` runs and none will start. NULL: no-op. */
void sdc_mqtt_unsubscribe(struct sdc_mqtt *m, struct sdc_mqtt_sub *s);

/* For callbacks that pause between retries: wait up to `ms`, or until the client is closing or
 * `s` is being unsubscribed; true in those two cases (the callback should then give up). */
bool sdc_mqtt_pause(struct sdc_mqtt *m, struct sdc_mqtt_sub *s, int64_t ms);

#endif /* SDC_MQTT_CLIENT_H */
