/* The MQTT client shared by pubsub.mqtt3 and bindings.mqtt3 (see mqtt_client.h). */
#include "mqtt_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/time.h"
#include "dc/str.h"

#include "mosq_api.h"

#define MQ_KEEPALIVE_S 30
#define MQ_PUBLISH_WAIT_MS 10000
#define MQ_SUBACK_WAIT_MS 3000
#define MQ_BACKOFF_MIN_MS 100
#define MQ_BACKOFF_MAX_MS 2000
#define MQ_LOOP_MS 200

struct mq_conn {
    struct sdc_mqtt *m;
    struct mosquitto *mosq;
    const char *what; /* "publisher" / "consumer" */
    pthread_t th;
    bool started;
    bool connected; /* under m->mu */
    bool down;      /* under m->mu: the last connection attempt failed or the link was lost */
};

/* Something waiting for a PUBACK. */
struct mq_wait {
    struct mosquitto *who;
    int mid;
    bool done;
    struct mq_wait *next;
};

struct sdc_mqtt_sub {
    char *topic;
    sdc_mqtt_msg_fn *fn;
    void *ud;
    int mid;      /* of the last SUBSCRIBE */
    bool acked;   /* SUBACK seen */
    bool removed; /* under mu: being unsubscribed */
    int running;  /* callbacks in progress */
    struct sdc_mqtt_sub *next;
};

struct sdc_mqtt {
    struct sdc_mqtt_opts o;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* connection state, waiters, subscription callbacks */
    bool stopping;
    struct mq_wait *waits;
    struct sdc_mqtt_sub *subs;
    struct mq_conn pub;
    struct mq_conn con;
};

/* ---- metadata ---- */

static int parse_url(struct sdc_mqtt_opts *m, const char *url, struct dc_errbuf *eb)
{
    const char *p = url, *at, *colon, *end;
    int64_t port = 1883;

    if (dc_str_has_prefix(p, "tcp://"))
        p += 6;
    else if (dc_str_has_prefix(p, "mqtt://"))
        p += 7;
    else if (strstr(p, "://") != NULL)
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "%s: url scheme of %s is not supported (tcp:// or mqtt:// only; "
                          "TLS is not supported)",
                          m->label, url);
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
            return dc_err_set(eb, DC_EINVAL, "%s: invalid port in url %s", m->label, url);
        memcpy(num, colon + 1, n);
        num[n] = '\0';
        if (dc_str_to_i64(num, 1, 65535, &port) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "%s: invalid port in url %s", m->label, url);
    }
    {
        size_t hlen = (size_t)((colon != NULL ? colon : end) - p);
        if (hlen == 0 || hlen >= sizeof(m->host))
            return dc_err_set(eb, DC_EINVAL, "%s: invalid url %s", m->label, url);
        memcpy(m->host, p, hlen);
        m->host[hlen] = '\0';
    }
    m->port = (int)port;
    return DC_OK;
}

int sdc_mqtt_md_bool(const struct sdc_md *md, const char *name, bool def, bool *out,
                     const char *label, struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, name);

    *out = def;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_str_to_bool(v, out) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "%s: invalid %s %s", label, name, v);
    return DC_OK;
}

static char *suffixed(const char *id, const char *suffix)
{
    size_t n = strlen(id) + strlen(suffix) + 1;
    char *s = dc_xmalloc(n);

    snprintf(s, n, "%s%s", id, suffix);
    return s;
}

int sdc_mqtt_opts_parse(struct sdc_mqtt_opts *o, const struct sdc_md *md, const char *label,
                        const char *app_id, const char *producer_suffix,
                        const char *consumer_suffix, bool clean_default, struct dc_errbuf *eb)
{
    const char *url = sdc_md_get(md, "url");
    const char *cid = sdc_md_get(md, "consumerID");
    const char *qos = sdc_md_get(md, "qos");
    int64_t q = 1;
    int rv;

    memset(o, 0, sizeof(*o));
    o->label = label;
    if (dc_str_empty(url))
        return dc_err_set(eb, DC_EINVAL, "%s: missing url", label);
    if (!dc_str_empty(sdc_md_get(md, "caCert")) || !dc_str_empty(sdc_md_get(md, "clientCert")) ||
        !dc_str_empty(sdc_md_get(md, "clientKey")))
        return dc_err_set(eb, DC_EUNSUPPORTED, "%s: TLS certificates are not supported", label);
    rv = parse_url(o, url, eb);
    if (rv == DC_OK && !dc_str_empty(qos) && dc_str_to_i64(qos, 0, 2, &q) != DC_OK)
        rv = dc_err_set(eb, DC_EINVAL, "%s: invalid qos %s", label, qos);
    o->qos = (int)q;
    if (rv == DC_OK)
        rv = sdc_mqtt_md_bool(md, "retain", false, &o->retain, label, eb);
    if (rv == DC_OK)
        rv = sdc_mqtt_md_bool(md, "cleanSession", clean_default, &o->clean, label, eb);
    if (dc_str_empty(cid))
        cid = app_id;
    if (rv == DC_OK && dc_str_empty(cid))
        rv = dc_err_set(eb, DC_EINVAL, "%s: consumerID is required without app id", label);
    if (rv == DC_OK && strlen(cid) > 200)
        rv = dc_err_set(eb, DC_EINVAL, "%s: consumerID too long", label);
    if (rv != DC_OK) {
        sdc_mqtt_opts_cleanup(o);
        return rv;
    }
    o->producer_id = suffixed(cid, producer_suffix);
    o->consumer_id = suffixed(cid, consumer_suffix);
    return DC_OK;
}

void sdc_mqtt_opts_cleanup(struct sdc_mqtt_opts *o)
{
    free(o->user);
    if (o->pass != NULL) {
        memset(o->pass, 0, strlen(o->pass));
        free(o->pass);
    }
    free(o->consumer_id);
    free(o->producer_id);
    o->user = o->pass = o->consumer_id = o->producer_id = NULL;
}

/* ---- connections ---- */

static void mark_done(struct sdc_mqtt *m, struct mosquitto *who, int mid)
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
    struct sdc_mqtt *m = c->m;

    (void)mosq;
    pthread_mutex_lock(&m->mu);
    for (struct sdc_mqtt_sub *s = m->subs; s != NULL; s = s->next)
        if (s->mid == mid) {
            s->acked = true;
            if (n > 0 && granted[0] == 0x80)
                DC_LOG(DC_LOG_ERROR, "%s: the broker refused the subscription to %s", m->o.label,
                       s->topic);
        }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* (Re)subscribe every topic; under mu. */
static void subscribe_all_locked(struct sdc_mqtt *m)
{
    for (struct sdc_mqtt_sub *s = m->subs; s != NULL; s = s->next) {
        int rc = mosquitto_subscribe(m->con.mosq, &s->mid, s->topic, m->o.qos);
        if (rc != MOSQ_ERR_SUCCESS)
            DC_LOG(DC_LOG_ERROR, "%s: cannot subscribe to %s: %s", m->o.label, s->topic,
                   mosquitto_strerror(rc));
    }
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct mq_conn *c = obj;
    struct sdc_mqtt *m = c->m;

    (void)mosq;
    pthread_mutex_lock(&m->mu);
    c->connected = rc == 0;
    c->down = rc != 0;
    if (rc != 0)
        DC_LOG(DC_LOG_ERROR, "%s: %s connection refused by %s:%d: %s", m->o.label, c->what,
               m->o.host, m->o.port, mosquitto_connack_string(rc));
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

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    struct mq_conn *c = obj;
    struct sdc_mqtt *m = c->m;
    struct sdc_mqtt_sub *s = NULL;
    bool again;

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

    again = s->fn(s->ud, s, msg);
    if (again && !msg->retain) {
        struct dc_errbuf eb = {0};
        if (sdc_mqtt_publish(m, msg->topic, msg->payload, (size_t)msg->payloadlen, m->o.qos,
                             m->o.retain, &eb) != DC_OK)
            DC_LOG(DC_LOG_ERROR, "%s: failed to re-publish message %s#%d: %s", m->o.label,
                   msg->topic, msg->mid, eb.msg);
    }
    pthread_mutex_lock(&m->mu);
    s->running--;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static bool stopping(struct sdc_mqtt *m)
{
    bool v;

    pthread_mutex_lock(&m->mu);
    v = m->stopping;
    pthread_mutex_unlock(&m->mu);
    return v;
}

static void pause_ms(struct sdc_mqtt *m, int64_t ms)
{
    struct timespec until;

    until = dc_timespec_in(CLOCK_MONOTONIC, ms * DC_NS_PER_MS);
    pthread_mutex_lock(&m->mu);
    while (!m->stopping && pthread_cond_timedwait(&m->cv, &m->mu, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&m->mu);
}

static void *conn_main(void *arg)
{
    struct mq_conn *c = arg;
    struct sdc_mqtt *m = c->m;
    int64_t backoff = MQ_BACKOFF_MIN_MS;
    bool sock = false, first = true, down = false;

    while (!stopping(m)) {
        int rc;
        if (!sock) {
            rc = first ? mosquitto_connect(c->mosq, m->o.host, m->o.port, MQ_KEEPALIVE_S)
                       : mosquitto_reconnect(c->mosq);
            if (rc != MOSQ_ERR_SUCCESS) {
                if (!down)
                    DC_LOG(DC_LOG_ERROR, "%s: %s cannot connect to %s:%d (retrying): %s",
                           m->o.label, c->what, m->o.host, m->o.port,
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
                DC_LOG(DC_LOG_INFO, "%s: %s connected to %s:%d again", m->o.label, c->what,
                       m->o.host, m->o.port);
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
                DC_LOG(DC_LOG_ERROR, "%s: %s lost its connection to %s:%d: %s", m->o.label, c->what,
                       m->o.host, m->o.port,
                       rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            down = true;
        }
    }
    mosquitto_disconnect(c->mosq);
    /* Flush the DISCONNECT. */
    (void)mosquitto_loop(c->mosq, 0, 1);
    return NULL;
}

static int conn_start(struct sdc_mqtt *m, struct mq_conn *c, const char *id, bool clean,
                      const char *what, struct dc_errbuf *eb)
{
    c->m = m;
    c->what = what;
    c->mosq = mosquitto_new(id, clean, c);
    if (c->mosq == NULL)
        return dc_err_set(eb, DC_ENOMEM, "%s: cannot create a client", m->o.label);
    (void)mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    (void)mosquitto_threaded_set(c->mosq, true);
    if (m->o.user != NULL)
        (void)mosquitto_username_pw_set(c->mosq, m->o.user, m->o.pass);
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
    mosquitto_publish_callback_set(c->mosq, on_publish);
    mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
    mosquitto_message_callback_set(c->mosq, on_message);
    if (pthread_create(&c->th, NULL, conn_main, c) != 0)
        return dc_err_set(eb, DC_EIO, "%s: cannot start the %s thread", m->o.label, what);
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

int sdc_mqtt_publish(struct sdc_mqtt *m, const char *topic, const void *data, size_t len, int qos,
                     bool retain, struct dc_errbuf *eb)
{
    struct mq_wait w = {m->pub.mosq, 0, false, NULL};
    struct timespec until;
    int rc, rv = DC_OK;

    if (len > 268435455u)
        return dc_err_set(eb, DC_ETOOBIG, "mqtt: message too large");
    until = dc_timespec_in(CLOCK_MONOTONIC, MQ_PUBLISH_WAIT_MS * DC_NS_PER_MS);
    pthread_mutex_lock(&m->mu);
    if (!m->pub.connected) {
        pthread_mutex_unlock(&m->mu);
        return dc_err_set(eb, DC_EUNAVAIL, "mqtt: not connected to the broker at %s:%d", m->o.host,
                          m->o.port);
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
                        "mqtt: no acknowledgement from the broker at %s:%d%s", m->o.host, m->o.port,
                        m->pub.connected ? "" : " (connection lost)");
    for (struct mq_wait **p = &m->waits; *p != NULL; p = &(*p)->next)
        if (*p == &w) {
            *p = w.next;
            break;
        }
    pthread_mutex_unlock(&m->mu);
    return rv;
}

/* ---- subscribe ---- */

int sdc_mqtt_subscribe(struct sdc_mqtt *m, const char *topic, sdc_mqtt_msg_fn *fn, void *ud,
                       struct sdc_mqtt_sub **out, struct dc_errbuf *eb)
{
    struct sdc_mqtt_sub *s;
    struct timespec until;
    int rv;

    if (fn == NULL || dc_str_empty(topic) || mosquitto_sub_topic_check(topic) != MOSQ_ERR_SUCCESS)
        return dc_err_set(eb, DC_EINVAL, "%s: invalid topic %s", m->o.label,
                          topic != NULL ? topic : "");
    s = dc_xcalloc(1, sizeof(*s));
    s->topic = dc_xstrdup(topic);
    s->fn = fn;
    s->ud = ud;
    s->mid = -1;
    pthread_mutex_lock(&m->mu);
    s->next = m->subs;
    m->subs = s;
    if (m->con.connected) {
        int rc = mosquitto_subscribe(m->con.mosq, &s->mid, s->topic, m->o.qos);
        if (rc != MOSQ_ERR_SUCCESS)
            DC_LOG(DC_LOG_ERROR, "%s: cannot subscribe to %s: %s", m->o.label, s->topic,
                   mosquitto_strerror(rc));
    }
    pthread_mutex_unlock(&m->mu);
    if (!m->con.started) {
        rv = conn_start(m, &m->con, m->o.consumer_id, m->o.clean, "consumer", eb);
        if (rv != DC_OK) {
            sdc_mqtt_unsubscribe(m, s);
            return rv;
        }
    }
    /* Give the SUBACK a moment, so that messages published right after subscribe are not
     * missed by a new session; a broker that is down does not hold subscribe up for long. */
    until = dc_timespec_in(CLOCK_MONOTONIC, MQ_SUBACK_WAIT_MS * DC_NS_PER_MS);
    pthread_mutex_lock(&m->mu);
    while (!s->acked && !m->stopping && !m->con.down) {
        if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&m->mu);
    *out = s;
    return DC_OK;
}

void sdc_mqtt_unsubscribe(struct sdc_mqtt *m, struct sdc_mqtt_sub *s)
{
    bool shared = false;

    if (s == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    for (struct sdc_mqtt_sub **p = &m->subs; *p != NULL; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    s->removed = true;
    pthread_cond_broadcast(&m->cv);
    while (s->running > 0)
        pthread_cond_wait(&m->cv, &m->mu);
    for (struct sdc_mqtt_sub *o = m->subs; o != NULL; o = o->next)
        if (strcmp(o->topic, s->topic) == 0)
            shared = true;
    if (!shared && m->con.connected)
        (void)mosquitto_unsubscribe(m->con.mosq, NULL, s->topic);
    pthread_mutex_unlock(&m->mu);
    free(s->topic);
    free(s);
}

bool sdc_mqtt_pause(struct sdc_mqtt *m, struct sdc_mqtt_sub *s, int64_t ms)
{
    struct timespec until;
    bool gone;

    until = dc_timespec_in(CLOCK_MONOTONIC, ms * DC_NS_PER_MS);
    pthread_mutex_lock(&m->mu);
    while (!m->stopping && !s->removed &&
           pthread_cond_timedwait(&m->cv, &m->mu, &until) != ETIMEDOUT) {
    }
    gone = m->stopping || s->removed;
    pthread_mutex_unlock(&m->mu);
    return gone;
}

/* ---- lifecycle ---- */

const struct sdc_mqtt_opts *sdc_mqtt_get_opts(const struct sdc_mqtt *m)
{
    return &m->o;
}

void sdc_mqtt_close(struct sdc_mqtt *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    conn_stop(&m->con);
    conn_stop(&m->pub);
    while (m->subs != NULL) {
        struct sdc_mqtt_sub *n = m->subs->next;
        free(m->subs->topic);
        free(m->subs);
        m->subs = n;
    }
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    sdc_mqtt_opts_cleanup(&m->o);
    free(m);
}

int sdc_mqtt_open(struct sdc_mqtt **out, struct sdc_mqtt_opts *o, int64_t init_timeout_ms,
                  const char *name, struct dc_errbuf *eb)
{
    struct sdc_mqtt *m;
    pthread_condattr_t ca;
    struct timespec until;
    int rv;

    rv = sdc__mosq_load(eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "%s", o->label);
        sdc_mqtt_opts_cleanup(o);
        return rv;
    }
    m = dc_xcalloc(1, sizeof(*m));
    m->o = *o;
    memset(o, 0, sizeof(*o));
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    rv = conn_start(m, &m->pub, m->o.producer_id, true, "publisher", eb);
    if (rv != DC_OK) {
        sdc_mqtt_close(m);
        return rv;
    }
    /* Wait (within the init timeout) for the publisher; a broker that is down is only
     * reported: publish fails and the connections keep retrying until it is there. */
    until = dc_timespec_in(CLOCK_MONOTONIC,
                           (init_timeout_ms > 0 ? init_timeout_ms : 5000) * DC_NS_PER_MS);
    pthread_mutex_lock(&m->mu);
    while (!m->pub.connected && !m->pub.down) {
        if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
            break;
    }
    if (!m->pub.connected)
        DC_LOG(DC_LOG_WARN,
               "%s %s: broker at %s:%d is not reachable yet; publishing fails and the "
               "connections keep retrying until it is",
               m->o.label, name != NULL ? name : "", m->o.host, m->o.port);
    pthread_mutex_unlock(&m->mu);
    *out = m;
    return DC_OK;
}
