/* Unit tests of redis_conn.h: the shared Redis metadata parser (host forms, refusals, go-redis
 * durations and defaults), a client that cannot reach its server, and the auto-pipelined client
 * against a fake RESP server on loopback (each call gets its own replies under concurrency;
 * queued calls go out as one batch; a dropped connection fails only the calls whose replies
 * were not read, and those are retried). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../redis_conn.h"

static int parse(struct sdc_redis_opts *o, struct dc_errbuf *eb, const char *const *kv)
{
    struct sdc_md md = {0};
    int rv;

    for (size_t i = 0; kv[i] != NULL; i += 2)
        sdc_md_set(&md, kv[i], kv[i + 1]);
    rv = sdc_redis_opts_parse(o, &md, "redis test", eb);
    sdc_md_cleanup(&md);
    return rv;
}

static void test_defaults(void **state)
{
    struct sdc_redis_opts o;
    const char *kv[] = {"redisHost", "localhost", NULL};

    (void)state;
    assert_int_equal(parse(&o, NULL, kv), DC_OK);
    assert_string_equal(o.host, "localhost");
    assert_int_equal(o.port, 6379);
    assert_int_equal(o.db, 0);
    assert_int_equal(o.max_retries, 3);
    assert_int_equal(o.dial_ms, 5000);
    assert_int_equal(o.read_ms, 3000);
    assert_int_equal(o.write_ms, 3000);
    assert_int_equal(o.io_tv.tv_sec, 3);
    assert_int_equal(o.pool_wait_ms, 4000);
    assert_true(o.pool_size >= 10);
    assert_null(o.password);
    assert_null(o.username);
    sdc_redis_opts_cleanup(&o);
}

static void test_values(void **state)
{
    struct sdc_redis_opts o;
    const char *kv[] = {"redishost",
                        "[::1]:7000",
                        "redisPassword",
                        "pw",
                        "redisUsername",
                        "u",
                        "redisDB",
                        "3",
                        "dialTimeout",
                        "250",
                        "readTimeout",
                        "2s",
                        "writeTimeout",
                        "5s",
                        "poolSize",
                        "4",
                        "redisMaxRetries",
                        "-1",
                        "enableTLS",
                        "false",
                        "redisType",
                        "node",
                        NULL};

    (void)state;
    assert_int_equal(parse(&o, NULL, kv), DC_OK);
    assert_string_equal(o.host, "::1");
    assert_int_equal(o.port, 7000);
    assert_string_equal(o.password, "pw");
    assert_string_equal(o.username, "u");
    assert_int_equal(o.db, 3);
    assert_int_equal(o.dial_ms, 250);
    assert_int_equal(o.io_tv.tv_sec, 5);
    assert_int_equal(o.pool_size, 4);
    assert_int_equal(o.max_retries, 0);
    sdc_redis_opts_cleanup(&o);
    assert_null(o.password);
}

static void test_no_timeouts(void **state)
{
    struct sdc_redis_opts o;
    const char *kv[] = {"redisHost", "h:1", "readTimeout", "-1", NULL};

    (void)state;
    assert_int_equal(parse(&o, NULL, kv), DC_OK);
    assert_int_equal(o.read_ms, -1);
    assert_int_equal(o.io_tv.tv_sec, 0);
    assert_int_equal(o.io_tv.tv_usec, 0);
    sdc_redis_opts_cleanup(&o);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *k, *v;
        int code;
        const char *msg;
    } cases[] = {
        {"enableTLS", "true", DC_EUNSUPPORTED, "redis test: enableTLS is not supported"},
        {"redisType", "cluster", DC_EUNSUPPORTED, "redis test: redisType cluster"},
        {"failover", "1", DC_EUNSUPPORTED, "redis test: failover"},
        {"redisHost", "a:1,b:2", DC_EUNSUPPORTED, "redis test: several hosts"},
        {"redisHost", "a:99999", DC_EINVAL, "redis test: invalid port"},
        {"redisHost", "[::1", DC_EINVAL, "redis test: invalid redisHost"},
        {"redisHost", ":1", DC_EINVAL, "redis test: invalid redisHost"},
        {"redisHost", "", DC_EINVAL, "redis test: redisHost is required"},
        {"redisDB", "x", DC_EINVAL, "redis test: invalid redisDB x"},
        {"dialTimeout", "5 parsecs", DC_EINVAL, "redis test: invalid dialTimeout"},
        {"poolSize", "0", DC_EINVAL, "redis test: invalid poolSize"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sdc_redis_opts o;
        struct dc_errbuf eb = {0};
        const char *host = strcmp(cases[i].k, "redisHost") == 0 ? cases[i].v : "localhost:1";
        const char *kv[] = {"redisHost", host, cases[i].k, cases[i].v, NULL};
        if (strcmp(cases[i].k, "redisHost") == 0)
            kv[2] = NULL;
        assert_int_equal(parse(&o, &eb, kv), cases[i].code);
        if (strncmp(eb.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("case %zu: %s", i, eb.msg);
    }
}

static void test_open_unreachable(void **state)
{
    struct sdc_md md = {0};
    struct sdc_redis *r = NULL;
    struct dc_errbuf eb = {0};

    (void)state;
    /* Port 1 on loopback: connection refused at once. */
    sdc_md_set(&md, "redisHost", "127.0.0.1:1");
    assert_int_equal(sdc_redis_open(&r, &md, "redis test", 500, false, &eb), DC_EUNAVAIL);
    assert_null(r);
    assert_non_null(strstr(eb.msg, "redis test: error connecting to redis at 127.0.0.1:1"));
    /* Without the ping the client opens, and a command fails cleanly after the retries. */
    sdc_md_set(&md, "redisMaxRetries", "1");
    assert_int_equal(sdc_redis_open(&r, &md, "redis test", 500, true, &eb), DC_OK);
    assert_int_equal(sdc_redis_cmd(r, NULL, &eb, 1, (const char *[]){"PING"}), DC_EUNAVAIL);
    sdc_redis_close(r);
    sdc_md_cleanup(&md);
}

/* ---- a fake RESP server ----
 * Commands: PING, ECHO x, ERRME (an error reply), BLOCKME (replies once the test releases the
 * gate), DROP (closes the connection without a reply). It counts every ECHO by its argument
 * and the most commands it parsed out of one read. */

struct fake {
    int lfd;
    uint16_t port;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool released;
    int blocked;        /* BLOCKME commands waiting at the gate */
    int max_per_read;   /* most commands parsed from one read */
    int echo_a, echo_b; /* ECHO a / ECHO b executed */
    int conns;
};

struct fconn {
    struct fake *f;
    int fd;
};

static void fake_reply(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Parse one command at p[0..n): returns its length (0: incomplete); argv points into p. */
static size_t fake_parse(char *p, size_t n, int *argc, char **argv, size_t *lens)
{
    char *e, *q = p;
    long cnt;

    if (n == 0 || p[0] != '*' || (e = memchr(p, '\n', n)) == NULL)
        return 0;
    cnt = strtol(p + 1, NULL, 10);
    q = e + 1;
    *argc = 0;
    for (long i = 0; i < cnt; i++) {
        long l;
        if ((size_t)(q - p) >= n || *q != '$' || (e = memchr(q, '\n', n - (size_t)(q - p))) == NULL)
            return 0;
        l = strtol(q + 1, NULL, 10);
        q = e + 1;
        if ((size_t)(q - p) + (size_t)l + 2 > n)
            return 0;
        if (i < 4) {
            argv[i] = q;
            lens[i] = (size_t)l;
            *argc = (int)i + 1;
        }
        q += l + 2;
    }
    return (size_t)(q - p);
}

static bool is_cmd(const char *a, size_t l, const char *name)
{
    return l == strlen(name) && strncasecmp(a, name, l) == 0;
}

static void *fake_conn_main(void *arg)
{
    struct fconn *fc = arg;
    struct fake *f = fc->f;
    char buf[65536];
    size_t have = 0;

    for (;;) {
        ssize_t r = read(fc->fd, buf + have, sizeof(buf) - have);
        size_t off = 0, used;
        int argc, ncmd = 0;
        char *argv[4];
        size_t lens[4];
        if (r <= 0)
            break;
        have += (size_t)r;
        while ((used = fake_parse(buf + off, have - off, &argc, argv, lens)) > 0) {
            char out[256];
            off += used;
            ncmd++;
            if (argc >= 1 && is_cmd(argv[0], lens[0], "PING")) {
                fake_reply(fc->fd, "+PONG\r\n", 7);
            } else if (argc >= 2 && is_cmd(argv[0], lens[0], "ECHO")) {
                int m =
                    snprintf(out, sizeof(out), "$%zu\r\n%.*s\r\n", lens[1], (int)lens[1], argv[1]);
                pthread_mutex_lock(&f->mu);
                f->echo_a += is_cmd(argv[1], lens[1], "a");
                f->echo_b += is_cmd(argv[1], lens[1], "b");
                pthread_mutex_unlock(&f->mu);
                fake_reply(fc->fd, out, (size_t)m);
            } else if (argc >= 1 && is_cmd(argv[0], lens[0], "ERRME")) {
                fake_reply(fc->fd, "-ERR as asked\r\n", 15);
            } else if (argc >= 1 && is_cmd(argv[0], lens[0], "BLOCKME")) {
                pthread_mutex_lock(&f->mu);
                f->blocked++;
                pthread_cond_broadcast(&f->cv);
                while (!f->released)
                    pthread_cond_wait(&f->cv, &f->mu);
                pthread_mutex_unlock(&f->mu);
                fake_reply(fc->fd, "+OK\r\n", 5);
            } else if (argc >= 1 && is_cmd(argv[0], lens[0], "DROP")) {
                /* Count the commands that came in the same read, then hang up. */
                while (fake_parse(buf + off, have - off, &argc, argv, lens) > 0) {
                    off += fake_parse(buf + off, have - off, &argc, argv, lens);
                    ncmd++;
                }
                pthread_mutex_lock(&f->mu);
                if (ncmd > f->max_per_read)
                    f->max_per_read = ncmd;
                pthread_mutex_unlock(&f->mu);
                goto out;
            } else {
                fake_reply(fc->fd, "-ERR unknown\r\n", 14);
            }
        }
        pthread_mutex_lock(&f->mu);
        if (ncmd > f->max_per_read)
            f->max_per_read = ncmd;
        pthread_mutex_unlock(&f->mu);
        memmove(buf, buf + off, have - off);
        have -= off;
    }
out:
    close(fc->fd);
    free(fc);
    return NULL;
}

static void *fake_accept_main(void *arg)
{
    struct fake *f = arg;

    for (;;) {
        int fd = accept(f->lfd, NULL, NULL);
        struct fconn *fc;
        pthread_t t;
        if (fd < 0)
            return NULL;
        fc = calloc(1, sizeof(*fc));
        fc->f = f;
        fc->fd = fd;
        pthread_mutex_lock(&f->mu);
        f->conns++;
        pthread_mutex_unlock(&f->mu);
        pthread_create(&t, NULL, fake_conn_main, fc);
        pthread_detach(t);
    }
}

static void fake_start(struct fake *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);

    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 64), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->acceptor, NULL, fake_accept_main, f), 0);
}

/* Stop accepting; connection threads end when the client closes its connections. */
static void fake_stop(struct fake *f)
{
    shutdown(f->lfd, SHUT_RDWR);
    close(f->lfd);
    pthread_join(f->acceptor, NULL);
}

static struct sdc_redis *fake_client(struct fake *f, const char *retries)
{
    struct sdc_md md = {0};
    struct sdc_redis *r = NULL;
    char host[64];

    snprintf(host, sizeof(host), "127.0.0.1:%u", f->port);
    sdc_md_set(&md, "redisHost", host);
    sdc_md_set(&md, "redisMaxRetries", retries);
    assert_int_equal(sdc_redis_open(&r, &md, "redis test", 2000, false, NULL), DC_OK);
    sdc_md_cleanup(&md);
    return r;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- concurrent calls: every call gets its own replies ---- */

#define N_THREADS 8
#define N_CALLS 300

struct worker {
    struct sdc_redis *r;
    int id;
    int bad;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < N_CALLS; i++) {
        char v1[32], v2[32];
        const char *a1[2] = {"ECHO", v1}, *a2[2] = {"ECHO", v2}, *a3[1] = {"ERRME"};
        struct sdc_redis_cmd cmds[3] = {{2, a1, NULL}, {1, a3, NULL}, {2, a2, NULL}};
        redisReply *rep[3];
        struct dc_errbuf eb = {0};
        snprintf(v1, sizeof(v1), "w%d-%d-x", w->id, i);
        snprintf(v2, sizeof(v2), "w%d-%d-y", w->id, i);
        if (i % 3 == 0) {
            /* One command; an error reply is this call's error only. */
            int rv = sdc_redis_cmd(w->r, NULL, &eb, 1, a3);
            w->bad += rv != DC_EIO || strstr(eb.msg, "as asked") == NULL;
            continue;
        }
        if (sdc_redis_run(w->r, cmds, 3, rep, &eb) != DC_OK) {
            w->bad++;
            continue;
        }
        w->bad += rep[0]->type != REDIS_REPLY_STRING || strcmp(rep[0]->str, v1) != 0;
        w->bad += rep[1]->type != REDIS_REPLY_ERROR;
        w->bad += rep[2]->type != REDIS_REPLY_STRING || strcmp(rep[2]->str, v2) != 0;
        for (int k = 0; k < 3; k++)
            freeReplyObject(rep[k]);
    }
    return NULL;
}

static void test_pipeline_concurrent(void **state)
{
    struct fake f;
    struct sdc_redis *r;
    pthread_t t[N_THREADS];
    struct worker w[N_THREADS];

    (void)state;
    fake_start(&f);
    r = fake_client(&f, "0");
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (struct worker){r, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
    }
    /* At most two batches in flight: at most two connections were ever opened. */
    pthread_mutex_lock(&f.mu);
    assert_in_range(f.conns, 1, 2);
    pthread_mutex_unlock(&f.mu);
    sdc_redis_close(r);
    fake_stop(&f);
}

/* ---- batching and a dropped connection ---- */

struct one {
    struct sdc_redis *r;
    const char *cmd, *arg;
    int rv;
    char reply[32];
};

static void *one_main(void *arg)
{
    struct one *o = arg;
    const char *argv[2] = {o->cmd, o->arg};
    redisReply *rep = NULL;

    o->rv = sdc_redis_cmd(o->r, &rep, NULL, o->arg != NULL ? 2 : 1, argv);
    if (o->rv == DC_OK && rep->type == REDIS_REPLY_STRING)
        snprintf(o->reply, sizeof(o->reply), "%s", rep->str);
    if (rep != NULL)
        freeReplyObject(rep);
    return NULL;
}

static void wait_until(struct fake *f, int *field, int want)
{
    for (int i = 0; i < 500; i++) {
        int v;
        pthread_mutex_lock(&f->mu);
        v = *field;
        pthread_mutex_unlock(&f->mu);
        if (v >= want)
            return;
        sleep_ms(10);
    }
    fail_msg("fake server: timed out");
}

static void wait_queued(struct sdc_redis *r, size_t want)
{
    for (int i = 0; i < 500 && sdc_redis_queued(r) < want; i++)
        sleep_ms(10);
    assert_int_equal(sdc_redis_queued(r), want);
}

static void test_pipeline_batch_and_drop(void **state)
{
    struct fake f;
    struct sdc_redis *r;
    struct one blk[2], q[3];
    pthread_t tb[2], tq[3];

    (void)state;
    fake_start(&f);
    r = fake_client(&f, "1");
    /* Two BLOCKME calls hold both batch slots... */
    for (int i = 0; i < 2; i++) {
        blk[i] = (struct one){r, "BLOCKME", NULL, -1, ""};
        assert_int_equal(pthread_create(&tb[i], NULL, one_main, &blk[i]), 0);
    }
    wait_until(&f, &f.blocked, 2);
    /* ...so these three queue, in this order... */
    q[0] = (struct one){r, "ECHO", "a", -1, ""};
    q[1] = (struct one){r, "DROP", NULL, -1, ""};
    q[2] = (struct one){r, "ECHO", "b", -1, ""};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(pthread_create(&tq[i], NULL, one_main, &q[i]), 0);
        wait_queued(r, i + 1);
    }
    /* ...and go out together once the slots free up. */
    pthread_mutex_lock(&f.mu);
    f.released = true;
    pthread_cond_broadcast(&f.cv);
    pthread_mutex_unlock(&f.mu);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(tb[i], NULL), 0);
        assert_int_equal(blk[i].rv, DC_OK);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(tq[i], NULL), 0);
    pthread_mutex_lock(&f.mu);
    assert_true(f.max_per_read >= 2);
    /* "ECHO a" was answered before the drop: done once, not retried. "ECHO b" was never
     * read by the server on the dropped connection, and succeeded on a retry. */
    assert_int_equal(f.echo_a, 1);
    assert_int_equal(f.echo_b, 1);
    pthread_mutex_unlock(&f.mu);
    assert_int_equal(q[0].rv, DC_OK);
    assert_string_equal(q[0].reply, "a");
    assert_int_equal(q[1].rv, DC_EUNAVAIL); /* dropped on every retry */
    assert_int_equal(q[2].rv, DC_OK);
    assert_string_equal(q[2].reply, "b");
    sdc_redis_close(r);
    fake_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_no_timeouts),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_open_unreachable),
        cmocka_unit_test(test_pipeline_concurrent),
        cmocka_unit_test(test_pipeline_batch_and_drop),
    };

    return cmocka_run_group_tests_name("redis_conn", tests, NULL, NULL);
}
