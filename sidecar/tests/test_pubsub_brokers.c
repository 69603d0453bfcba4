/* The pub/sub contract (pubsub.h) against real brokers: pubsub.redis with DAPRC_REDIS_ADDR
 * (host:port) and pubsub.mqtt3 with DAPRC_MQTT_URL (tcp://host:port); each group is skipped
 * when its variable is unset. tests/integration/test_pubsub_brokers.sh starts the servers and
 * sets them, plus DAPRC_{REDIS,MQTT}_{STOP,START}_CMD for the outage tests.
 *
 * At-least-once is shown two ways: a consumer process killed (SIGKILL) inside its handler
 * mid-stream, after which a new consumer receives every message whose handler never returned
 * SUCCESS; and, for Redis, every handler call checks with XPENDING that its entry is still
 * unacknowledged while the handler runs (nothing is XACKed before the handler returned). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "dc/mem.h"
#include "dc/time.h"

#include "../pubsub.h"

extern const struct sdc_component_type sdc_type_pubsub_redis;
extern const struct sdc_component_type sdc_type_pubsub_mqtt3;

#define NMSG 200 /* messages per stream test */

/* A broker under test: its type, the metadata naming its server, and the outage commands. */
struct fx {
    const struct sdc_component_type *type;
    const char *addr_key; /* "redisHost" / "url" */
    const char *addr;
    const char *stop_cmd, *start_cmd;
    bool redis;
    char run[32]; /* "t<pid>" keeps runs apart */
};

/* What handlers saw, per message index (payload "m<index>"). */
struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls[NMSG];
    int acked[NMSG]; /* handler returned SUCCESS or DROP */
    int total;
    int distinct_acked;
    int early_acks; /* handler found its entry already acknowledged */
    int bad;        /* malformed deliveries */
    /* behaviour */
    int retry_first;       /* return RETRY on the first call of each message */
    int drop_odd;          /* return DROP for odd indexes */
    int kill_at;           /* > 0: SIGKILL the process inside the handler of the kill_at-th call */
    int log_fd;            /* >= 0: append "<index>\n" after each acked handler (crash test) */
    const char *expect_md; /* metadata value expected under key "k" */
    redisContext *check;   /* XPENDING checks (redis) */
    const char *stream, *group;
};

static const struct sdc_pubsub_ops *ops_of(const struct fx *f)
{
    return (const struct sdc_pubsub_ops *)(const void *)f->type->ops;
}

static struct fx *fx_of(void **state)
{
    struct fx *f = *state;

    if (f == NULL)
        skip();
    return f;
}

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->log_fd = -1;
}

static void rec_cleanup(struct rec *r)
{
    if (r->check != NULL)
        redisFree(r->check);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

/* Open a component of `f` with extra NULL-terminated name/value pairs. */
static int open_ps(struct fx *f, void **self, struct dc_errbuf *eb, ...)
{
    struct sdc_md md = {0};
    struct sdc_init_ctx ctx = {"pubsub", "app", "", 5000};
    va_list ap;
    const char *k;
    int rv;

    sdc_md_set(&md, f->addr_key, f->addr);
    va_start(ap, eb);
    while ((k = va_arg(ap, const char *)) != NULL)
        sdc_md_set(&md, k, va_arg(ap, const char *));
    va_end(ap);
    rv = f->type->ops->init(self, &md, &ctx, eb);
    sdc_md_cleanup(&md);
    return rv;
}

/* Whether entry `id` of the stream is pending for the group (not yet XACKed). */
static bool is_pending(struct rec *r, const char *id)
{
    redisReply *rep;
    bool pending;

    pthread_mutex_lock(&r->mu); /* one hiredis context for every handler thread */
    rep = redisCommand(r->check, "XPENDING %s %s %s %s 1", r->stream, r->group, id, id);
    pending = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1;
    if (rep != NULL)
        freeReplyObject(rep);
    pthread_mutex_unlock(&r->mu);
    return pending;
}

static int handler(void *ud, const struct sdc_pubsub_msg *m)
{
    struct rec *r = ud;
    char buf[32];
    int idx = -1, st = SDC_PUBSUB_SUCCESS, call;

    if (m->data_len > 1 && m->data_len < sizeof(buf) && ((const char *)m->data)[0] == 'm') {
        memcpy(buf, (const char *)m->data + 1, m->data_len - 1);
        buf[m->data_len - 1] = '\0';
        idx = (int)strtol(buf, NULL, 10);
    }
    pthread_mutex_lock(&r->mu);
    if (idx < 0 || idx >= NMSG) {
        r->bad++;
        pthread_mutex_unlock(&r->mu);
        return SDC_PUBSUB_SUCCESS;
    }
    call = ++r->total;
    r->calls[idx]++;
    if (r->expect_md != NULL && (m->metadata == NULL || sdc_md_get(m->metadata, "k") == NULL ||
                                 strcmp(sdc_md_get(m->metadata, "k"), r->expect_md) != 0))
        r->bad++;
    if (r->retry_first && r->calls[idx] == 1)
        st = SDC_PUBSUB_RETRY;
    else if (r->drop_odd && idx % 2 == 1)
        st = SDC_PUBSUB_DROP;
    pthread_mutex_unlock(&r->mu);

    if (r->check != NULL && m->id != NULL && !is_pending(r, m->id)) {
        pthread_mutex_lock(&r->mu);
        r->early_acks++;
        pthread_mutex_unlock(&r->mu);
    }
    if (r->kill_at > 0 && call >= r->kill_at)
        kill(getpid(), SIGKILL); /* the "sidecar" dies while the app handles the message */

    pthread_mutex_lock(&r->mu);
    if (st != SDC_PUBSUB_RETRY) {
        if (r->acked[idx]++ == 0)
            r->distinct_acked++;
        if (r->log_fd >= 0) {
            int n = snprintf(buf, sizeof(buf), "%d\n", idx);
            if (write(r->log_fd, buf, (size_t)n) != n)
                r->bad++;
        }
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return st;
}

/* Wait until `distinct_acked` reaches `n` or `secs` pass. */
static bool wait_acked(struct rec *r, int n, int secs)
{
    int64_t until = dc_mono_ns() + (int64_t)secs * 1000000000;
    bool ok;

    pthread_mutex_lock(&r->mu);
    while (r->distinct_acked < n && dc_mono_ns() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    ok = r->distinct_acked >= n;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static int publish(struct fx *f, void *self, const char *topic, int idx, const struct sdc_md *md,
                   struct dc_errbuf *eb)
{
    char data[32];
    struct sdc_pubsub_publish p;
    int n = snprintf(data, sizeof(data), "m%d", idx);

    p = (struct sdc_pubsub_publish){topic, data, (size_t)n, "text/plain", md};
    return ops_of(f)->publish(self, &p, eb);
}

static void topic_name(struct fx *f, const char *what, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%s", f->run, what);
}

static struct sdc_pubsub_sub *subscribe(struct fx *f, void *self, const char *topic, struct rec *r)
{
    struct sdc_pubsub_subscribe req = {topic, NULL, handler, r};
    struct sdc_pubsub_sub *s = NULL;
    struct dc_errbuf eb = {0};

    if (ops_of(f)->subscribe(self, &req, &s, &eb) != DC_OK)
        fail_msg("subscribe %s: %s", topic, eb.msg);
    return s;
}

static void redis_check_conn(struct fx *f, struct rec *r, const char *stream, const char *group)
{
    char host[64];
    const char *colon = strrchr(f->addr, ':');

    snprintf(host, sizeof(host), "%.*s", (int)(colon - f->addr), f->addr);
    r->check = redisConnect(host, (int)strtol(colon + 1, NULL, 10));
    assert_non_null(r->check);
    assert_int_equal(r->check->err, 0);
    r->stream = stream;
    r->group = group;
}

static long long redis_int(struct fx *f, const char *fmt, const char *a, const char *b)
{
    char host[64];
    const char *colon = strrchr(f->addr, ':');
    redisContext *c;
    redisReply *rep;
    long long v = -1;

    snprintf(host, sizeof(host), "%.*s", (int)(colon - f->addr), f->addr);
    c = redisConnect(host, (int)strtol(colon + 1, NULL, 10));
    assert_non_null(c);
    rep = redisCommand(c, fmt, a, b);
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
        v = rep->integer;
    else if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
             rep->element[0]->type == REDIS_REPLY_INTEGER)
        v = rep->element[0]->integer; /* XPENDING summary: count first */
    if (rep != NULL)
        freeReplyObject(rep);
    redisFree(c);
    return v;
}

/* ---- tests ---- */

/* Publish then subscribe (a new group reads the stream from its start), then live messages;
 * metadata travels with the message; nothing stays pending. */
static void t_pubsub(void **state)
{
    struct fx *f = fx_of(state);
    char topic[64], consumer[64];
    struct sdc_md md = {0};
    struct dc_errbuf eb = {0};
    struct rec r;
    void *ps = NULL;
    struct sdc_pubsub_sub *s;

    topic_name(f, "basic", topic, sizeof(topic));
    topic_name(f, "grp", consumer, sizeof(consumer));
    rec_init(&r);
    r.expect_md = f->redis ? "v1" : NULL;
    sdc_md_set(&md, "k", "v1");
    assert_int_equal(open_ps(f, &ps, &eb, "consumerID", consumer, "redeliverInterval", "0", NULL),
                     DC_OK);
    if (f->redis) {
        for (int i = 0; i < NMSG / 2; i++)
            assert_int_equal(publish(f, ps, topic, i, &md, &eb), DC_OK);
        redis_check_conn(f, &r, topic, consumer);
    }
    s = subscribe(f, ps, topic, &r);
    if (!f->redis) {
        /* MQTT delivers only after the subscription exists; give the SUBACK time. */
        struct timespec d = {0, 300 * 1000000};
        nanosleep(&d, NULL);
        for (int i = 0; i < NMSG / 2; i++)
            assert_int_equal(publish(f, ps, topic, i, &md, &eb), DC_OK);
    }
    for (int i = NMSG / 2; i < NMSG; i++)
        assert_int_equal(publish(f, ps, topic, i, &md, &eb), DC_OK);
    assert_true(wait_acked(&r, NMSG, 20));
    ops_of(f)->unsubscribe(ps, s);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.early_acks, 0);
    if (f->redis) {
        assert_int_equal(redis_int(f, "XPENDING %s %s", topic, consumer), 0);
        assert_int_equal(redis_int(f, "XLEN %s%s", topic, ""), NMSG);
    }
    ops_of(f)->base.close(ps);
    sdc_md_cleanup(&md);
    rec_cleanup(&r);
}

/* RETRY leaves the message unacknowledged and it comes back; DROP acknowledges. */
static void t_retry_drop(void **state)
{
    struct fx *f = fx_of(state);
    char topic[64], consumer[64];
    struct dc_errbuf eb = {0};
    struct rec r;
    void *ps = NULL;
    struct sdc_pubsub_sub *s;
    const int n = 20;

    topic_name(f, "retry", topic, sizeof(topic));
    topic_name(f, "rgrp", consumer, sizeof(consumer));
    rec_init(&r);
    r.retry_first = 1;
    r.drop_odd = 1;
    assert_int_equal(open_ps(f, &ps, &eb, "consumerID", consumer, "redeliverInterval", "200ms",
                             "processingTimeout", "500ms", NULL),
                     DC_OK);
    if (f->redis)
        redis_check_conn(f, &r, topic, consumer);
    s = subscribe(f, ps, topic, &r);
    {
        struct timespec d = {0, 300 * 1000000};
        nanosleep(&d, NULL);
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(publish(f, ps, topic, i, NULL, &eb), DC_OK);
    assert_true(wait_acked(&r, n, 20));
    ops_of(f)->unsubscribe(ps, s);
    for (int i = 0; i < n; i++)
        assert_true(r.calls[i] >= 2);
    assert_int_equal(r.early_acks, 0);
    if (f->redis)
        assert_int_equal(redis_int(f, "XPENDING %s %s", topic, consumer), 0);
    ops_of(f)->base.close(ps);
    rec_cleanup(&r);
}

/* The consumer process dies (SIGKILL inside a handler) mid-stream while messages keep coming;
 * a new consumer with the same consumerID then gets every message whose handler did not
 * return, and every message ends up acknowledged: at-least-once across a crash. */
static void t_crash(void **state)
{
    struct fx *f = fx_of(state);
    char topic[64], consumer[64], logpath[128];
    struct dc_errbuf eb = {0};
    struct rec r;
    void *ps = NULL, *pub = NULL;
    struct sdc_pubsub_sub *s;
    int seen[NMSG] = {0};
    int status, dup = 0, first_run = 0;
    pid_t child;
    FILE *fp;

    topic_name(f, "crash", topic, sizeof(topic));
    topic_name(f, "cgrp", consumer, sizeof(consumer));
    snprintf(logpath, sizeof(logpath), "/tmp/%s-crash.log", f->run);
    unlink(logpath);
    /* The consumer process: handles (and acks) some messages, then dies inside a handler. */
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct rec cr;
        void *cps = NULL;
        rec_init(&cr);
        cr.kill_at = NMSG / 3;
        cr.log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (open_ps(f, &cps, NULL, "consumerID", consumer, "processingTimeout", "1s",
                    "redeliverInterval", "300ms", "concurrency", "4", "cleanSession", "false",
                    NULL) != DC_OK)
            _exit(3);
        if (f->redis)
            redis_check_conn(f, &cr, topic, consumer);
        (void)subscribe(f, cps, topic, &cr);
        for (;;)
            pause();
    }
    assert_int_equal(open_ps(f, &pub, &eb, "consumerID", "publisher", NULL), DC_OK);
    {
        struct timespec d = {0, 500 * 1000000};
        nanosleep(&d, NULL);
    }
    for (int i = 0; i < NMSG; i++) {
        struct timespec d = {0, 2 * 1000000};
        assert_int_equal(publish(f, pub, topic, i, NULL, &eb), DC_OK);
        nanosleep(&d, NULL);
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    fp = fopen(logpath, "r");
    if (fp != NULL) {
        int idx;
        while (fscanf(fp, "%d", &idx) == 1)
            if (idx >= 0 && idx < NMSG) {
                seen[idx]++;
                first_run++;
            }
        fclose(fp);
    }
    unlink(logpath);
    /* The restarted consumer. */
    rec_init(&r);
    if (f->redis)
        redis_check_conn(f, &r, topic, consumer);
    for (int i = 0; i < NMSG; i++)
        if (seen[i] > 0) { /* count what the dead one completed */
            r.acked[i] = 1;
            r.distinct_acked++;
        }
    assert_int_equal(open_ps(f, &ps, &eb, "consumerID", consumer, "processingTimeout", "1s",
                             "redeliverInterval", "300ms", "cleanSession", "false", NULL),
                     DC_OK);
    s = subscribe(f, ps, topic, &r);
    if (!wait_acked(&r, NMSG, 30)) {
        for (int i = 0; i < NMSG; i++)
            if (r.acked[i] == 0)
                print_message("never acknowledged: m%d\n", i);
        fail();
    }
    ops_of(f)->unsubscribe(ps, s);
    for (int i = 0; i < NMSG; i++)
        if (seen[i] > 0 && r.calls[i] > 0)
            dup++;
    print_message("crash: %d handled before the kill, %d redelivered after it, %d handled twice, "
                  "0 lost\n",
                  first_run, r.total, dup);
    assert_int_equal(r.early_acks, 0);
    if (f->redis)
        assert_int_equal(redis_int(f, "XPENDING %s %s", topic, consumer), 0);
    ops_of(f)->base.close(ps);
    ops_of(f)->base.close(pub);
    rec_cleanup(&r);
}

/* Broker down at startup: init succeeds, publish fails cleanly, the subscription waits; once
 * the broker is up, both work without reinitialising. Then down mid-run and back: every
 * message whose publish succeeded is delivered. */
static void t_outage(void **state)
{
    struct fx *f = fx_of(state);
    char topic[64], consumer[64];
    struct dc_errbuf eb = {0};
    struct rec r;
    void *ps = NULL;
    struct sdc_pubsub_sub *s;
    int published = 0, failed = 0, rv;
    bool okpub[NMSG] = {false};
    int64_t until;

    if (f->stop_cmd == NULL || f->start_cmd == NULL)
        skip();
    topic_name(f, "outage", topic, sizeof(topic));
    topic_name(f, "ogrp", consumer, sizeof(consumer));
    rec_init(&r);
    assert_int_equal(system(f->stop_cmd), 0);
    assert_int_equal(open_ps(f, &ps, &eb, "consumerID", consumer, "redisMaxRetries", "0",
                             "processingTimeout", "1s", "redeliverInterval", "300ms", NULL),
                     DC_OK);
    rv = publish(f, ps, topic, 0, NULL, &eb);
    assert_int_equal(rv, DC_EUNAVAIL);
    print_message("down at startup: publish: %s\n", eb.msg);
    s = subscribe(f, ps, topic, &r);
    assert_int_equal(system(f->start_cmd), 0);
    /* Recovery: publish works again and m0 is delivered within a few seconds (an MQTT
     * subscription exists only once the consumer connected, so m0 is re-sent until then). */
    until = dc_mono_ns() + 15 * 1000000000LL;
    for (;;) {
        rv = publish(f, ps, topic, 0, NULL, &eb);
        if ((rv == DC_OK && wait_acked(&r, 1, 1)) || dc_mono_ns() > until)
            break;
        if (rv != DC_OK) {
            struct timespec d = {0, 50 * 1000000};
            nanosleep(&d, NULL);
        }
    }
    assert_int_equal(rv, DC_OK);
    assert_int_equal(r.distinct_acked, 1);
    okpub[0] = true;
    published = 1;
    for (int i = 1; i < NMSG / 2; i++) {
        okpub[i] = publish(f, ps, topic, i, NULL, &eb) == DC_OK;
        published += okpub[i];
    }
    assert_int_equal(published, NMSG / 2);
    assert_true(wait_acked(&r, NMSG / 2, 20));
    /* Down mid-run. */
    assert_int_equal(system(f->stop_cmd), 0);
    for (int i = NMSG / 2; i < NMSG * 3 / 4; i++) {
        okpub[i] = publish(f, ps, topic, i, NULL, &eb) == DC_OK;
        failed += !okpub[i];
    }
    assert_int_equal(failed, NMSG / 4);
    print_message("down mid-run: publish: %s\n", eb.msg);
    assert_int_equal(system(f->start_cmd), 0);
    until = dc_mono_ns() + 10 * 1000000000LL;
    for (int i = NMSG * 3 / 4; i < NMSG; i++) {
        while (!(okpub[i] = publish(f, ps, topic, i, NULL, &eb) == DC_OK) && dc_mono_ns() < until) {
            struct timespec d = {0, 50 * 1000000};
            nanosleep(&d, NULL);
        }
        assert_true(okpub[i]);
        published++;
    }
    /* Every successfully published message arrives. */
    {
        int want = 0;
        for (int i = 0; i < NMSG; i++)
            want += okpub[i];
        assert_true(wait_acked(&r, want, 30));
        for (int i = 0; i < NMSG; i++)
            if (okpub[i])
                assert_true(r.acked[i] > 0);
        print_message("outage: %d published, %d refused while down, %d delivered\n", want, failed,
                      r.distinct_acked);
    }
    ops_of(f)->unsubscribe(ps, s);
    ops_of(f)->base.close(ps);
    rec_cleanup(&r);
}

/* Metadata errors need no server. */
static void t_md_errors(void **state)
{
    static const char *const cases[][3] = {
        {"redisHost", "", "redisHost is required"},
        {"enableTLS", "true", "enableTLS is not supported"},
        {"queueDepth", "0", "invalid queueDepth"},
        {"redeliverInterval", "soon", "invalid redeliverInterval"},
        {"concurrency", "x", "invalid concurrency"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sdc_md md = {0};
        struct sdc_init_ctx ctx = {"pubsub", "app", "", 500};
        struct dc_errbuf eb = {0};
        void *self = NULL;
        if (strcmp(cases[i][0], "redisHost") != 0)
            sdc_md_set(&md, "redisHost", "127.0.0.1:1");
        sdc_md_set(&md, cases[i][0], cases[i][1]);
        assert_true(sdc_type_pubsub_redis.ops->init(&self, &md, &ctx, &eb) < 0);
        if (strstr(eb.msg, cases[i][2]) == NULL)
            fail_msg("case %zu: %s", i, eb.msg);
        sdc_md_cleanup(&md);
    }
}

static int redis_setup(void **state)
{
    const char *addr = getenv("DAPRC_REDIS_ADDR");
    struct fx *f;

    *state = NULL;
    if (addr == NULL || *addr == '\0')
        return 0;
    f = dc_xcalloc(1, sizeof(*f));
    f->type = &sdc_type_pubsub_redis;
    f->addr_key = "redisHost";
    f->addr = addr;
    f->redis = true;
    f->stop_cmd = getenv("DAPRC_REDIS_STOP_CMD");
    f->start_cmd = getenv("DAPRC_REDIS_START_CMD");
    snprintf(f->run, sizeof(f->run), "t%d", (int)getpid());
    *state = f;
    return 0;
}

static int mqtt_setup(void **state)
{
    const char *url = getenv("DAPRC_MQTT_URL");
    struct fx *f;

    *state = NULL;
    if (url == NULL || *url == '\0')
        return 0;
    f = dc_xcalloc(1, sizeof(*f));
    f->type = &sdc_type_pubsub_mqtt3;
    f->addr_key = "url";
    f->addr = url;
    f->stop_cmd = getenv("DAPRC_MQTT_STOP_CMD");
    f->start_cmd = getenv("DAPRC_MQTT_START_CMD");
    snprintf(f->run, sizeof(f->run), "m%d", (int)getpid());
    *state = f;
    return 0;
}

static void t_mqtt_md_errors(void **state)
{
    static const char *const cases[][3] = {
        {"url", "", "missing url"},
        {"url", "ssl://127.0.0.1:8883", "not supported"},
        {"url", "tcp://127.0.0.1:99999", "invalid port"},
        {"qos", "3", "invalid qos"},
        {"cleanSession", "maybe", "invalid cleanSession"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sdc_md md = {0};
        struct sdc_init_ctx ctx = {"pubsub", "app", "", 500};
        struct dc_errbuf eb = {0};
        void *self = NULL;
        if (strcmp(cases[i][0], "url") != 0)
            sdc_md_set(&md, "url", "tcp://127.0.0.1:1");
        sdc_md_set(&md, cases[i][0], cases[i][1]);
        assert_true(sdc_type_pubsub_mqtt3.ops->init(&self, &md, &ctx, &eb) < 0);
        if (strstr(eb.msg, cases[i][2]) == NULL)
            fail_msg("case %zu: %s", i, eb.msg);
        sdc_md_cleanup(&md);
    }
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest md[] = {
        cmocka_unit_test(t_md_errors),
        cmocka_unit_test(t_mqtt_md_errors),
    };
    const struct CMUnitTest broker[] = {
        cmocka_unit_test(t_pubsub),
        cmocka_unit_test(t_retry_drop),
        cmocka_unit_test(t_crash),
        cmocka_unit_test(t_outage),
    };
    int fails = 0;

    signal(SIGPIPE, SIG_IGN);
    fails += cmocka_run_group_tests_name("pubsub_metadata", md, NULL, NULL);
    fails += cmocka_run_group_tests_name("pubsub_redis", broker, redis_setup, teardown);
    fails += cmocka_run_group_tests_name("pubsub_mqtt", broker, mqtt_setup, teardown);
    return fails != 0;
}
