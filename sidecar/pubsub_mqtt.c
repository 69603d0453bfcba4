/* pubsub.mqtt3 (alias pubsub.mqtt) v1 over libmosquitto (sidecar-api.md §22.4), MQTT 3.1.1.
 *
 * Metadata: url* ("tcp://[user:pass@]host[:1883]", also mqtt://; ssl/tls/ws schemes are
 * refused: caCert/clientCert/clientKey are not supported), consumerID (default: the app id),
 * qos (1), retain (false), cleanSession (false). The topic is the MQTT topic; subscriptions may
 * use the + and # wildcards.
 *
 * Two connections, each driven by its own thread (connect, mosquitto_loop, reconnect with a
 * backoff of 100 ms doubling to 2 s): a publisher (client id "<consumerID>-producer", clean
 * session) and, from the first subscribe on, a consumer (client id consumerID, clean session
 * per cleanSession; topics are resubscribed on every connect).
 *
 * Acknowledgement as upstream (MQTT has no NACK): the handler runs synchronously on the
 * consumer thread inside the message callback; the PUBACK is written only after the callback
 * returned (the connection is in libmosquitto's threaded mode, so the PUBACK queued before the
 * callback leaves on the next loop pass). A process that dies inside the handler therefore
 * leaves the message unacknowledged and the broker redelivers it to the session. When the
 * handler returns RETRY (or an error), the message is published again to its topic (same qos
 * and retain) and then acknowledged, as upstream does; retained messages are not republished.
 * Messages carry the metadata "retained" ("true"/"false").
 *
 * Publish waits for the broker's PUBACK (qos >= 1) up to 10 s; when the publisher is not
 * connected it fails at once with DC_EUNAVAIL. Handlers of one component run one at a time. */
#include "pubsub.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mosquitto.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#define MQ_KEEPALIVE_S 30
#define MQ_PUBLISH_WAIT_MS 10000
#define MQ_SUBACK_WAIT_MS 3000
#define MQ_BACKOFF_MIN_MS 100
#define MQ_BACKOFF_MAX_MS 2000
#define MQ_LOOP_MS 200

struct mq;

struct mq_conn {
    struct mq *m;
    struct mosquitto *mosq;
    const char *what; /* "publisher" / "consumer" */
    pthread_t th;
    bool started;
    bool connected; /* under m->mu */
    bool down;      /* under m->mu: the last connection attempt failed or the link was lost */
};

/* Something waiting for a PUBACK or SUBACK. */
struct mq_wait {
    struct mosquitto *who;
    int mid;
    bool done;
    struct mq_wait *next;
};

struct sdc_pubsub_sub {
    char *topic;
    sdc_pubsub_handler_fn *handler;
    void *ud;
    int mid;     /* of the last SUBSCRIBE */
    bool acked;  /* SUBACK seen */
    int running; /* handler calls in progress */
    struct sdc_pubsub_sub *next;
};

struct mq {
    char host[256];
    int port;
    char *user, *pass;
    char *consumer_id;
    char *producer_id;
    int qos;
    bool retain;
    bool clean;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* connection state, waiters, subscription handler calls */
    bool stopping;
    struct mq_wait *waits;
    struct sdc_pubsub_sub *subs;
    struct mq_conn pub;
    struct mq_conn con;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    mosquitto_lib_init();
}

/* ---- metadata ---- */

static int parse_url(struct mq *m, const char *url, struct dc_errbuf *eb)
{
    const char *p = url, *at, *colon, *end;
    int64_t port = 1883;

    if (dc_str_has_prefix(p, "tcp://"))
        p += 6;
    else if (dc_str_has_prefix(p, "mqtt://"))
        p += 7;
    else if (strstr(p, "://") != NULL)
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "mqtt pubsub: url scheme of %s is not supported (tcp:// or mqtt:// only; "
                          "TLS is not supported)",
                          url);
    end = p + strcspn(p, "/?");
    at = memchr(p, '@', (size_t)(end - p));
    if (at != NULL) {
        const char *c = memchr(p, ':', (size_t)(at - p));
        m->user = dc_xstrndup(p, (size_t)((c != NULL ? c : at) - p));
        if (c != NULL)
            m->pass = dc_xstrndup(c + 1, (size_t)(at - c - 1));
        p = at + 1;
    }
    colon = memchr(p, ':', (size_t)(end - p));
    if (colon != NULL) {
        char num[8];
        size_t n = (size_t)(end - colon - 1);
        if (n == 0 || n >= sizeof(num))
            return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: invalid port in url %s", url);
        memcpy(num, colon + 1, n);
        num[n] = '\0';
        if (dc_str_to_i64(num, 1, 65535, &port) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: invalid port in url %s", url);
    }
    {
        size_t hlen = (size_t)((colon != NULL ? colon : end) - p);
        if (hlen == 0 || hlen >= sizeof(m->host))
            return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: invalid url %s", url);
        memcpy(m->host, p, hlen);
        m->host[hlen] = '\0';
    }
    m->port = (int)port;
    return DC_OK;
}

static int md_bool(const struct sdc_md *md, const char *name, bool def, bool *out,
                   struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, name);

    *out = def;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_str_to_bool(v, out) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: invalid %s %s", name, v);
    return DC_OK;
}

static int parse_metadata(struct mq *m, const struct sdc_md *md, const char *app_id,
                          struct dc_errbuf *eb)
{
    const char *url = sdc_md_get(md, "url");
    const char *cid = sdc_md_get(md, "consumerID");
    const char *qos = sdc_md_get(md, "qos");
    int64_t q = 1;
    size_t n;
    int rv;

    if (dc_str_empty(url))
        return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: missing url");
    if (!dc_str_empty(sdc_md_get(md, "caCert")) || !dc_str_empty(sdc_md_get(md, "clientCert")) ||
        !dc_str_empty(sdc_md_get(md, "clientKey")))
        return dc_err_set(eb, DC_EUNSUPPORTED, "mqtt pubsub: TLS certificates are not supported");
    rv = parse_url(m, url, eb);
    if (rv != DC_OK)
        return rv;
    if (!dc_str_empty(qos) && dc_str_to_i64(qos, 0, 2, &q) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: invalid qos %s", qos);
    m->qos = (int)q;
    rv = md_bool(md, "retain", false, &m->retain, eb);
    if (rv == DC_OK)
        rv = md_bool(md, "cleanSession", false, &m->clean, eb);
    if (rv != DC_OK)
        return rv;
    if (dc_str_empty(cid))
        cid = app_id;
    if (dc_str_empty(cid))
        return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: consumerID is required without app id");
    if (strlen(cid) > 200)
        return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: consumerID too long");
    m->consumer_id = dc_xstrdup(cid);
    n = strlen(cid) + sizeof("-producer");
    m->producer_id = dc_xmalloc(n);
    snprintf(m->producer_id, n, "%s-producer", cid);
    return DC_OK;
}

/* ---- connections ---- */

static void mark_done(struct mq *m, struct mosquitto *who, int mid)
{
    pthread_mutex_lock(&m->mu);
    for (struct mq_wait *w = m->waits; w != NULL; w = w->next)
        if (w->who == who && w->mid == mid)
            w->done = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    struct mq_conn *c = obj;

    mark_done(c->m, mosq, mid);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *granted)
{
    struct mq_conn *c = obj;
    struct mq *m = c->m;

    (void)mosq;
    pthread_mutex_lock(&m->mu);
    for (struct sdc_pubsub_sub *s = m->subs; s != NULL; s = s->next)
        if (s->mid == mid) {
            s->acked = true;
            if (n > 0 && granted[0] == 0x80)
                DC_LOG(DC_LOG_ERROR, "mqtt pubsub: the broker refused the subscription to %s",
                       s->topic);
        }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* (Re)subscribe every topic; under mu. */
static void subscribe_all_locked(struct mq *m)
{
    for (struct sdc_pubsub_sub *s = m->subs; s != NULL; s = s->next) {
        int rc = mosquitto_subscribe(m->con.mosq, &s->mid, s->topic, m->qos);
        if (rc != MOSQ_ERR_SUCCESS)
            DC_LOG(DC_LOG_ERROR, "mqtt pubsub: cannot subscribe to %s: %s", s->topic,
                   mosquitto_strerror(rc));
    }
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct mq_conn *c = obj;
    struct mq *m = c->m;

    (void)mosq;
    pthread_mutex_lock(&m->mu);
    c->connected = rc == 0;
    c->down = rc != 0;
    if (rc != 0)
        DC_LOG(DC_LOG_ERROR, "mqtt pubsub: %s connection refused by %s:%d: %s", c->what, m->host,
               m->port, mosquitto_connack_string(rc));
    else if (c == &m->con)
        subscribe_all_locked(m);
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    struct mq_conn *c = obj;

    (void)mosq;
    (void)rc;
    pthread_mutex_lock(&c->m->mu);
    c->connected = false;
    pthread_cond_broadcast(&c->m->cv);
    pthread_mutex_unlock(&c->m->mu);
}

static int publish_wait(struct mq *m, const char *topic, const void *data, size_t len, int qos,
                        bool retain, struct dc_errbuf *eb);

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    struct mq_conn *c = obj;
    struct mq *m = c->m;
    struct sdc_pubsub_sub *s = NULL;
    struct sdc_md md = {0};
    char id[16];
    int st;

    (void)mosq;
    pthread_mutex_lock(&m->mu);
    for (s = m->subs; s != NULL; s = s->next) {
        bool match = false;
        if (mosquitto_topic_matches_sub(s->topic, msg->topic, &match) == MOSQ_ERR_SUCCESS && match)
            break;
    }
    if (s != NULL)
        s->running++;
    pthread_mutex_unlock(&m->mu);
    if (s == NULL)
        return; /* a topic no longer subscribed: acknowledged */

    sdc_md_set(&md, "retained", msg->retain ? "true" : "false");
    snprintf(id, sizeof(id), "%d", msg->mid);
    {
        struct sdc_pubsub_msg pm = {msg->topic, msg->payload != NULL ? msg->payload : "",
                                    (size_t)msg->payloadlen, &md, id};
        st = s->handler(s->ud, &pm);
    }
    if (st != SDC_PUBSUB_SUCCESS && st != SDC_PUBSUB_DROP && !msg->retain) {
        struct dc_errbuf eb = {0};
        if (publish_wait(m, msg->topic, msg->payload, (size_t)msg->payloadlen, m->qos, m->retain,
                         &eb) != DC_OK)
            DC_LOG(DC_LOG_ERROR, "mqtt pubsub: failed to re-publish message %s#%d: %s", msg->topic,
                   msg->mid, eb.msg);
    }
    sdc_md_cleanup(&md);
    pthread_mutex_lock(&m->mu);
    s->running--;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static bool stopping(struct mq *m)
{
    bool v;

    pthread_mutex_lock(&m->mu);
    v = m->stopping;
    pthread_mutex_unlock(&m->mu);
    return v;
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)((ms % 1000) * 1000000);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void pause_ms(struct mq *m, int64_t ms)
{
    struct timespec until;

    deadline_after(&until, ms);
    pthread_mutex_lock(&m->mu);
    while (!m->stopping && pthread_cond_timedwait(&m->cv, &m->mu, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&m->mu);
}

static void *conn_main(void *arg)
{
    struct mq_conn *c = arg;
    struct mq *m = c->m;
    int64_t backoff = MQ_BACKOFF_MIN_MS;
    bool sock = false, first = true, down = false;

    while (!stopping(m)) {
        int rc;
        if (!sock) {
            rc = first ? mosquitto_connect(c->mosq, m->host, m->port, MQ_KEEPALIVE_S)
                       : mosquitto_reconnect(c->mosq);
            if (rc != MOSQ_ERR_SUCCESS) {
                if (!down)
                    DC_LOG(DC_LOG_ERROR, "mqtt pubsub: %s cannot connect to %s:%d (retrying): %s",
                           c->what, m->host, m->port,
                           rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
                down = true;
                pthread_mutex_lock(&m->mu);
                c->down = true;
                pthread_cond_broadcast(&m->cv);
                pthread_mutex_unlock(&m->mu);
                pause_ms(m, backoff);
                backoff = backoff * 2 > MQ_BACKOFF_MAX_MS ? MQ_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            first = false;
            sock = true;
            if (down)
                DC_LOG(DC_LOG_INFO, "mqtt pubsub: %s connected to %s:%d again", c->what, m->host,
                       m->port);
            down = false;
            backoff = MQ_BACKOFF_MIN_MS;
        }
        rc = mosquitto_loop(c->mosq, MQ_LOOP_MS, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            sock = false;
            pthread_mutex_lock(&m->mu);
            c->connected = false;
            c->down = true;
            pthread_cond_broadcast(&m->cv);
            pthread_mutex_unlock(&m->mu);
            if (!down)
                DC_LOG(DC_LOG_ERROR, "mqtt pubsub: %s lost its connection to %s:%d: %s", c->what,
                       m->host, m->port,
                       rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            down = true;
        }
    }
    mosquitto_disconnect(c->mosq);
    /* Flush the DISCONNECT. */
    (void)mosquitto_loop(c->mosq, 0, 1);
    return NULL;
}

static int conn_start(struct mq *m, struct mq_conn *c, const char *id, bool clean, const char *what,
                      struct dc_errbuf *eb)
{
    c->m = m;
    c->what = what;
    c->mosq = mosquitto_new(id, clean, c);
    if (c->mosq == NULL)
        return dc_err_set(eb, DC_ENOMEM, "mqtt pubsub: cannot create a client");
    (void)mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    (void)mosquitto_threaded_set(c->mosq, true);
    if (m->user != NULL)
        (void)mosquitto_username_pw_set(c->mosq, m->user, m->pass);
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
    mosquitto_publish_callback_set(c->mosq, on_publish);
    mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
    mosquitto_message_callback_set(c->mosq, on_message);
    if (pthread_create(&c->th, NULL, conn_main, c) != 0)
        return dc_err_set(eb, DC_EIO, "mqtt pubsub: cannot start the %s thread", what);
    c->started = true;
    return DC_OK;
}

static void conn_stop(struct mq_conn *c)
{
    if (c->started)
        pthread_join(c->th, NULL);
    c->started = false;
    if (c->mosq != NULL)
        mosquitto_destroy(c->mosq);
    c->mosq = NULL;
}

/* ---- publish ---- */

static int mosq_err(int rc, const char *what, struct dc_errbuf *eb)
{
    int code = DC_EIO;

    if (rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_OVERSIZE_PACKET)
        code = DC_ETOOBIG;
    else if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_MALFORMED_UTF8)
        code = DC_EINVAL;
    else if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST)
        code = DC_EUNAVAIL;
    return dc_err_set(eb, code, "mqtt: %s: %s", what, mosquitto_strerror(rc));
}

static int publish_wait(struct mq *m, const char *topic, const void *data, size_t len, int qos,
                        bool retain, struct dc_errbuf *eb)
{
    struct mq_wait w = {m->pub.mosq, 0, false, NULL};
    struct timespec until;
    int rc, rv = DC_OK;

    if (len > 268435455u)
        return dc_err_set(eb, DC_ETOOBIG, "mqtt: message too large");
    deadline_after(&until, MQ_PUBLISH_WAIT_MS);
    pthread_mutex_lock(&m->mu);
    if (!m->pub.connected) {
        pthread_mutex_unlock(&m->mu);
        return dc_err_set(eb, DC_EUNAVAIL, "mqtt: not connected to the broker at %s:%d", m->host,
                          m->port);
    }
    /* Under mu: on_publish for this mid cannot run before the waiter is listed. */
    rc = mosquitto_publish(m->pub.mosq, &w.mid, topic, (int)len, data, qos, retain);
    if (rc != MOSQ_ERR_SUCCESS) {
        pthread_mutex_unlock(&m->mu);
        return mosq_err(rc, "publish", eb);
    }
    if (qos == 0) {
        pthread_mutex_unlock(&m->mu);
        return DC_OK;
    }
    w.next = m->waits;
    m->waits = &w;
    while (!w.done && m->pub.connected && !m->stopping) {
        if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
            break;
    }
    if (!w.done)
        rv = dc_err_set(eb, m->pub.connected ? DC_ETIMEDOUT : DC_EUNAVAIL,
                        "mqtt: no acknowledgement from the broker at %s:%d%s", m->host, m->port,
                        m->pub.connected ? "" : " (connection lost)");
    for (struct mq_wait **p = &m->waits; *p != NULL; p = &(*p)->next)
        if (*p == &w) {
            *p = w.next;
            break;
        }
    pthread_mutex_unlock(&m->mu);
    return rv;
}

static int mq_publish(void *self, const struct sdc_pubsub_publish *p, struct dc_errbuf *eb)
{
    struct mq *m = self;

    if (dc_str_empty(p->topic))
        return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: topic is empty");
    return publish_wait(m, p->topic, p->data, p->data_len, m->qos, m->retain, eb);
}

/* ---- subscribe ---- */

static int mq_subscribe(void *self, const struct sdc_pubsub_subscribe *req,
                        struct sdc_pubsub_sub **out, struct dc_errbuf *eb)
{
    struct mq *m = self;
    struct sdc_pubsub_sub *s;
    struct timespec until;
    int rv;

    if (req == NULL || req->handler == NULL || dc_str_empty(req->topic) ||
        mosquitto_sub_topic_check(req->topic) != MOSQ_ERR_SUCCESS)
        return dc_err_set(eb, DC_EINVAL, "mqtt pubsub: invalid topic %s",
                          req != NULL && req->topic != NULL ? req->topic : "");
    s = dc_xcalloc(1, sizeof(*s));
    s->topic = dc_xstrdup(req->topic);
    s->handler = req->handler;
    s->ud = req->ud;
    s->mid = -1;
    pthread_mutex_lock(&m->mu);
    s->next = m->subs;
    m->subs = s;
    if (m->con.connected) {
        int rc = mosquitto_subscribe(m->con.mosq, &s->mid, s->topic, m->qos);
        if (rc != MOSQ_ERR_SUCCESS)
            DC_LOG(DC_LOG_ERROR, "mqtt pubsub: cannot subscribe to %s: %s", s->topic,
                   mosquitto_strerror(rc));
    }
    pthread_mutex_unlock(&m->mu);
    if (!m->con.started) {
        rv = conn_start(m, &m->con, m->consumer_id, m->clean, "consumer", eb);
        if (rv != DC_OK)
            return rv; /* s stays listed; freed at close */
    }
    /* Give the SUBACK a moment, so that messages published right after subscribe are not
     * missed by a new session; a broker that is down does not hold subscribe up for long. */
    deadline_after(&until, MQ_SUBACK_WAIT_MS);
    pthread_mutex_lock(&m->mu);
    while (!s->acked && !m->stopping && !m->con.down) {
        if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&m->mu);
    *out = s;
    return DC_OK;
}

static void mq_unsubscribe(void *self, struct sdc_pubsub_sub *s)
{
    struct mq *m = self;
    bool shared = false;

    if (s == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    for (struct sdc_pubsub_sub **p = &m->subs; *p != NULL; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    while (s->running > 0)
        pthread_cond_wait(&m->cv, &m->mu);
    for (struct sdc_pubsub_sub *o = m->subs; o != NULL; o = o->next)
        if (strcmp(o->topic, s->topic) == 0)
            shared = true;
    if (!shared && m->con.connected)
        (void)mosquitto_unsubscribe(m->con.mosq, NULL, s->topic);
    pthread_mutex_unlock(&m->mu);
    free(s->topic);
    free(s);
}

/* ---- lifecycle ---- */

static void mq_close(void *self)
{
    struct mq *m = self;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    conn_stop(&m->con);
    conn_stop(&m->pub);
    while (m->subs != NULL) {
        struct sdc_pubsub_sub *n = m->subs->next;
        free(m->subs->topic);
        free(m->subs);
        m->subs = n;
    }
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m->user);
    if (m->pass != NULL) {
        memset(m->pass, 0, strlen(m->pass));
        free(m->pass);
    }
    free(m->consumer_id);
    free(m->producer_id);
    free(m);
}

static int mq_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    struct mq *m = dc_xcalloc(1, sizeof(*m));
    pthread_condattr_t ca;
    struct timespec until;
    int rv;

    pthread_once(&lib_once, lib_init);
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    rv = parse_metadata(m, md, ctx != NULL ? ctx->app_id : NULL, eb);
    if (rv == DC_OK)
        rv = conn_start(m, &m->pub, m->producer_id, true, "publisher", eb);
    if (rv != DC_OK) {
        mq_close(m);
        return rv;
    }
    /* Wait (within the init timeout) for the publisher; a broker that is down is only
     * reported: publish fails and the connections keep retrying until it is there. */
    deadline_after(&until, ctx != NULL && ctx->timeout_ms > 0 ? ctx->timeout_ms : 5000);
    pthread_mutex_lock(&m->mu);
    while (!m->pub.connected && !m->pub.down) {
        if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
            break;
    }
    if (!m->pub.connected)
        DC_LOG(DC_LOG_WARN,
               "mqtt pubsub %s: broker at %s:%d is not reachable yet; publishing fails and the "
               "connections keep retrying until it is",
               ctx != NULL && ctx->name != NULL ? ctx->name : "", m->host, m->port);
    pthread_mutex_unlock(&m->mu);
    *self = m;
    return DC_OK;
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
