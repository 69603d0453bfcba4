/* pubsub.mqtt3 (alias pubsub.mqtt) v1 over libmosquitto (sidecar-api.md §22.4), MQTT 3.1.1.
 *
 * Metadata: url* ("tcp://[user:pass@]host[:1883]", also mqtt://; ssl/tls/ws schemes are
 * refused: caCert/clientCert/clientKey are not supported), consumerID (default: the app id),
 * qos (1), retain (false), cleanSession (false). The topic is the MQTT topic; subscriptions may
 * use the + and # wildcards.
 *
 * Connections, acknowledgement and publishing are the shared client's (mqtt_client.h): a
 * publisher "<consumerID>-producer" and a consumer "consumerID"; the handler runs before the
 * PUBACK leaves. When the handler returns RETRY (or an error), the message is published again
 * to its topic (same qos and retain) and then acknowledged, as upstream does (MQTT has no
 * NACK); retained messages are not republished. Messages carry the metadata "retained"
 * ("true"/"false"). Handlers of one component run one at a time. */
#include "pubsub.h"

#include <stdio.h>
#include <stdlib.h>

#include "dc/mem.h"
#include "dc/str.h"

#include "mqtt_client.h"

struct sdc_pubsub_sub {
    struct sdc_mqtt_sub *ms;
    sdc_pubsub_handler_fn *handler;
    void *ud;
};

static bool on_msg(void *ud, struct sdc_mqtt_sub *ms, const struct mosquitto_message *msg)
{
    struct sdc_pubsub_sub *s = ud;
    struct sdc_md md = {0};
    char id[16];
    int st;

    (void)ms;
    sdc_md_set(&md, "retained", msg->retain ? "true" : "false");
    snprintf(id, sizeof(id), "%d", msg->mid);
    {
        struct sdc_pubsub_msg pm = {msg->topic, msg->payload != NULL ? msg->payload : "",
                                    (size_t)msg->payloadlen, &md, id};
        st = s->handler(s->ud, &pm);
    }
    sdc_md_cleanup(&md);
    return st != SDC_PUBSUB_SUCCESS && st != SDC_PUBSUB_DROP;
}

static int mq_publish(void *self, const struct sdc_pubsub_publish *p, struct dc_errbuf *eb)
{
    const struct sdc_mqtt_opts *o = sdc_mqtt_get_opts(self);

    if (dc_str_empty(p->topic))
        return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: topic is empty");
    return sdc_mqtt_publish(self, p->topic, p->data, p->data_len, o->qos, o->retain, eb);
}

static int mq_subscribe(void *self, const struct sdc_pubsub_subscribe *req,
                        struct sdc_pubsub_sub **out, struct dc_errbuf *eb)
{
    struct sdc_pubsub_sub *s;
    int rv;

    if (req == NULL || req->handler == NULL)
        return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: invalid topic %s",
                          req != NULL && req->topic != NULL ? req->topic : "");
    s = dc_xcalloc(1, sizeof(*s));
    s->handler = req->handler;
    s->ud = req->ud;
    rv = sdc_mqtt_subscribe(self, req->topic, on_msg, s, &s->ms, eb);
    if (rv != DC_OK) {
        free(s);
        return rv;
    }
    *out = s;
    return DC_OK;
}

static void mq_unsubscribe(void *self, struct sdc_pubsub_sub *s)
{
    if (s == NULL)
        return;
    sdc_mqtt_unsubscribe(self, s->ms);
    free(s);
}

static void mq_close(void *self)
{
    sdc_mqtt_close(self);
}

static int mq_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    struct sdc_mqtt_opts o;
    struct sdc_mqtt *m = NULL;
    int rv = sdc_mqtt_opts_parse(&o, md, "mqtt pubsub", ctx != NULL ? ctx->app_id : NULL,
                                 "-producer", "", false, eb);

    if (rv != DC_OK)
        return rv;
    rv = sdc_mqtt_open(&m, &o, ctx != NULL ? ctx->timeout_ms : 0, ctx != NULL ? ctx->name : NULL,
                       eb);
    sdc_mqtt_opts_cleanup(&o);
    if (rv == DC_OK)
        *self = m;
    return rv;
}

static const struct sdc_pubsub_ops mqtt_ops = {
    .base = {.init = mq_init, .close = mq_close},
    .features = SDC_PUBSUB_F_SUBSCRIBE_WILDCARDS,
    .publish = mq_publish,
    .bulk_publish = NULL,
    .subscribe = mq_subscribe,
    .unsubscribe = mq_unsubscribe,
};

const struct sdc_component_type sdc_type_pubsub_mqtt3 = {"pubsub.mqtt3", "v1", SDC_CAT_PUBSUB,
                                                         &mqtt_ops.base};
const struct sdc_component_type sdc_type_pubsub_mqtt = {"pubsub.mqtt", "v1", SDC_CAT_PUBSUB,
                                                        &mqtt_ops.base};
