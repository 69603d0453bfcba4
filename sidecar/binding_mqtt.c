/* bindings.mqtt3 (alias bindings.mqtt) v1, input and output (sidecar-api.md §22.5), over the
 * shared libmosquitto client (mqtt_client.h), MQTT 3.1.1.
 *
 * Metadata: url* and topic* (the topic read, and the default topic written; MQTT wildcards are
 * allowed for reading), consumerID, qos (1), retain (false), cleanSession (true),
 * backOffMaxRetries (3; -1: retry for ever). TLS (ssl:// schemes, caCert, clientCert,
 * clientKey) is refused. Client ids: "<consumerID>-producer" and "<consumerID>-consumer";
 * without consumerID, "<app id>-<component name>" (so that a pubsub.mqtt3 component of the
 * same app, whose ids default to the app id, does not share them: the broker would disconnect
 * one of two clients with the same id).
 *
 * Output: operation create publishes the request data to the request metadata's `topic` (else
 * the component's) with the request's `retain` (else the component's) and waits for the
 * broker's acknowledgement; no response data (204).
 *
 * Input: each message is delivered to the app with the metadata `topic`. The delivery runs on
 * the consumer thread before the message is acknowledged (see mqtt_client.h), so a process that
 * dies during it leaves the message to the broker (with cleanSession false). When the app
 * fails, the delivery is retried backOffMaxRetries times, MQB_RETRY_MS apart (dapr/kit's
 * default constant backoff); after that the failure is logged and the message acknowledged
 * (MQTT has no NACK; upstream leaves it unacknowledged in paho's session, which has the same
 * effect until the next reconnect). stop() interrupts a pause between retries. */
#include "bindings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"

#include "mqtt_client.h"

#define MQB_LABEL "mqtt binding"
#define MQB_RETRY_MS 5000

struct mqb {
    struct sdc_mqtt *m;
    char *topic;
    char *name;
    int64_t max_retries; /* < 0: for ever */

    pthread_mutex_t mu; /* guards `sub` */
    struct sdc_mqtt_sub *sub;
    sdc_binding_handler_fn *handler;
    void *ud;
};

static int mqb_invoke(void *self, const struct sdc_binding_req *req, struct sdc_binding_resp *resp,
                      struct dc_errbuf *eb)
{
    struct mqb *b = self;
    const struct sdc_mqtt_opts *o = sdc_mqtt_get_opts(b->m);
    const char *topic = sdc_md_get_or(req->metadata, "topic", b->topic);
    bool retain;
    int rv;

    (void)resp;
    rv = sdc_mqtt_md_bool(req->metadata, "retain", o->retain, &retain, MQB_LABEL, eb);
    if (rv != DC_OK)
        return rv;
    return sdc_mqtt_publish(b->m, topic, req->data, req->data_len, o->qos, retain, eb);
}

static bool mqb_on_msg(void *ud, struct sdc_mqtt_sub *s, const struct mosquitto_message *msg)
{
    struct mqb *b = ud;
    struct sdc_md md = {0};
    struct sdc_binding_event ev = {msg->payload != NULL ? msg->payload : "",
                                   (size_t)msg->payloadlen, &md};

    sdc_md_set(&md, "topic", msg->topic);
    for (int64_t attempt = 0;; attempt++) {
        struct dc_errbuf eb = {0};
        int rv = b->handler(b->ud, &ev, NULL, &eb);

        if (rv == DC_OK)
            break;
        if (b->max_retries >= 0 && attempt >= b->max_retries) {
            DC_LOG(DC_LOG_ERROR, "%s %s: failed processing MQTT message %s/%d: %s", MQB_LABEL,
                   b->name, msg->topic, msg->mid, eb.msg);
            break;
        }
        DC_LOG(DC_LOG_WARN, "%s %s: processing MQTT message %s/%d failed, retrying: %s", MQB_LABEL,
               b->name, msg->topic, msg->mid, eb.msg);
        if (sdc_mqtt_pause(b->m, s, MQB_RETRY_MS))
            break;
    }
    sdc_md_cleanup(&md);
    return false;
}

static int mqb_read(void *self, sdc_binding_handler_fn *handler, void *ud, struct dc_errbuf *eb)
{
    struct mqb *b = self;
    struct sdc_mqtt_sub *s = NULL;
    int rv = DC_OK;

    pthread_mutex_lock(&b->mu);
    if (b->sub != NULL)
        rv = dc_err_set(eb, DC_EINVAL, "%s %s: already reading", MQB_LABEL, b->name);
    b->handler = handler;
    b->ud = ud;
    pthread_mutex_unlock(&b->mu);
    if (rv != DC_OK)
        return rv;
    rv = sdc_mqtt_subscribe(b->m, b->topic, mqb_on_msg, b, &s, eb);
    if (rv != DC_OK)
        return rv;
    pthread_mutex_lock(&b->mu);
    b->sub = s;
    pthread_mutex_unlock(&b->mu);
    return DC_OK;
}

static void mqb_stop(void *self)
{
    struct mqb *b = self;
    struct sdc_mqtt_sub *s;

    pthread_mutex_lock(&b->mu);
    s = b->sub;
    b->sub = NULL;
    pthread_mutex_unlock(&b->mu);
    sdc_mqtt_unsubscribe(b->m, s);
}

static void mqb_close(void *self)
{
    struct mqb *b = self;

    if (b == NULL)
        return;
    if (b->m != NULL)
        mqb_stop(b);
    sdc_mqtt_close(b->m);
    pthread_mutex_destroy(&b->mu);
    free(b->topic);
    free(b->name);
    free(b);
}

static int mqb_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                    struct dc_errbuf *eb)
{
    const char *topic = sdc_md_get(md, "topic"), *mr = sdc_md_get(md, "backOffMaxRetries");
    const char *name = ctx != NULL && ctx->name != NULL ? ctx->name : "";
    const char *app_id = ctx != NULL && ctx->app_id != NULL ? ctx->app_id : "";
    struct sdc_mqtt_opts o;
    struct mqb *b;
    char *def_id = NULL;
    int64_t retries = 3;
    int rv;

    if (dc_str_empty(topic))
        return dc_err_set(eb, DC_EINVAL, "%s: missing topic", MQB_LABEL);
    if (!dc_str_empty(mr) && dc_str_to_i64(mr, -1, INT32_MAX, &retries) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "%s: invalid backOffMaxRetries %s", MQB_LABEL, mr);
    if (*app_id != '\0' || *name != '\0') {
        size_t n = strlen(app_id) + strlen(name) + 2;
        def_id = dc_xmalloc(n);
        snprintf(def_id, n, "%s-%s", app_id, name);
    }
    rv = sdc_mqtt_opts_parse(&o, md, MQB_LABEL, def_id, "-producer", "-consumer", true, eb);
    free(def_id);
    if (rv != DC_OK)
        return rv;
    b = dc_xcalloc(1, sizeof(*b));
    pthread_mutex_init(&b->mu, NULL);
    b->topic = dc_xstrdup(topic);
    b->name = dc_xstrdup(name);
    b->max_retries = retries;
    rv = sdc_mqtt_open(&b->m, &o, ctx != NULL ? ctx->timeout_ms : 0, name, eb);
    sdc_mqtt_opts_cleanup(&o);
    if (rv != DC_OK) {
        mqb_close(b);
        return rv;
    }
    *self = b;
    return DC_OK;
}

static const char *const mqb_operations[] = {"create", NULL};

static const struct sdc_binding_ops mqb_ops = {
    .base = {.init = mqb_init, .close = mqb_close},
    .operations = mqb_operations,
    .invoke = mqb_invoke,
    .read = mqb_read,
    .stop = mqb_stop,
};

const struct sdc_component_type sdc_type_bindings_mqtt3 = {"bindings.mqtt3", "v1", SDC_CAT_BINDINGS,
                                                           &mqb_ops.base};
const struct sdc_component_type sdc_type_bindings_mqtt = {"bindings.mqtt", "v1", SDC_CAT_BINDINGS,
                                                          &mqb_ops.base};
