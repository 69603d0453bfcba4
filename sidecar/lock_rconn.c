/* The Redis connection helper of lock.redis and configuration.redis (see lock_rconn.h). */
#include "lock_rconn.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#define RC_DEFAULT_PORT 6379
#define RC_MAX_IDLE 64

struct sdc__rconn {
    char what[32];
    char host[256];
    int port;
    char *username;
    char *password;
    int64_t db;
    struct timeval dial_tv;
    struct timeval io_tv; /* all-zero: no timeout */

    pthread_mutex_t mu;
    redisContext *idle[RC_MAX_IDLE];
    size_t nidle;
};

static struct timeval ms_tv(int64_t ms)
{
    struct timeval tv = {0, 0};

    if (ms > 0) {
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    }
    return tv;
}

static int md_duration_ms(const struct sdc__rconn *rc, const struct sdc_md *md, const char *name,
                          int64_t def, int64_t *out, struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, name);
    int64_t ns;

    *out = def;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_duration_parse_ms_or_go(v, &ns, NULL) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "%s: invalid %s %s", rc->what, name, v);
    *out = ns < 0 ? -1 : ns / 1000000;
    return DC_OK;
}

static int parse_host(struct sdc__rconn *rc, const char *v, struct dc_errbuf *eb)
{
    const char *colon;
    int64_t port = RC_DEFAULT_PORT;
    size_t hlen;

    if (strchr(v, ',') != NULL)
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "%s: several hosts need redisType cluster, "
                          "which is not supported",
                          rc->what);
    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (end == NULL)
            return dc_err_set(eb, DC_EINVAL, "%s: invalid redisHost %s", rc->what, v);
        hlen = (size_t)(end - v - 1);
        v++;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(v, ':');
        hlen = colon != NULL ? (size_t)(colon - v) : strlen(v);
    }
    if (colon != NULL && dc_str_to_i64(colon + 1, 1, 65535, &port) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "%s: invalid port in redisHost %s", rc->what, v);
    if (hlen == 0 || hlen >= sizeof(rc->host))
        return dc_err_set(eb, DC_EINVAL, "%s: invalid redisHost %s", rc->what, v);
    memcpy(rc->host, v, hlen);
    rc->host[hlen] = '\0';
    rc->port = (int)port;
    return DC_OK;
}

static int parse_metadata(struct sdc__rconn *rc, const struct sdc_md *md, struct dc_errbuf *eb)
{
    const char *host = sdc_md_get(md, "redisHost");
    const char *type = sdc_md_get(md, "redisType");
    const char *db = sdc_md_get(md, "redisDB");
    int64_t dial, rd, wr;
    int rv;

    if (dc_str_empty(host))
        return dc_err_set(eb, DC_EINVAL, "%s: redisHost is required", rc->what);
    if (!dc_str_empty(type) && strcasecmp(type, "node") != 0)
        return dc_err_set(eb, DC_EUNSUPPORTED, "%s: redisType %s is not supported", rc->what, type);
    if (dc_str_truthy(sdc_md_get(md, "failover")))
        return dc_err_set(eb, DC_EUNSUPPORTED, "%s: failover (Sentinel) is not supported",
                          rc->what);
    if (dc_str_truthy(sdc_md_get(md, "enableTLS")))
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "%s: enableTLS is not supported: Debian's hiredis has no TLS", rc->what);
    rv = parse_host(rc, host, eb);
    if (rv != DC_OK)
        return rv;
    if (!dc_str_empty(db) && dc_str_to_i64(db, 0, 1 << 20, &rc->db) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "%s: invalid redisDB %s", rc->what, db);
    rv = md_duration_ms(rc, md, "dialTimeout", 5000, &dial, eb);
    if (rv == DC_OK)
        rv = md_duration_ms(rc, md, "readTimeout", 3000, &rd, eb);
    if (rv == DC_OK)
        rv = md_duration_ms(rc, md, "writeTimeout", rd, &wr, eb);
    if (rv != DC_OK)
        return rv;
    rc->dial_tv = ms_tv(dial > 0 ? dial : 5000);
    rc->io_tv = ms_tv(rd < 0 || wr < 0 ? 0 : (rd > wr ? rd : wr));
    if (!dc_str_empty(sdc_md_get(md, "redisPassword")))
        rc->password = dc_xstrdup(sdc_md_get(md, "redisPassword"));
    if (!dc_str_empty(sdc_md_get(md, "redisUsername")))
        rc->username = dc_xstrdup(sdc_md_get(md, "redisUsername"));
    return DC_OK;
}

static int simple(redisContext *c, const struct sdc__rconn *rc, int argc, const char **argv,
                  struct dc_errbuf *eb)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int rv = DC_OK;

    if (r == NULL)
        return dc_err_set(eb, DC_EUNAVAIL, "%s: %s", rc->what, c->errstr);
    if (r->type == REDIS_REPLY_ERROR)
        rv = dc_err_set(eb, DC_EUNAVAIL, "%s: %s: %s", rc->what, argv[0], r->str);
    freeReplyObject(r);
    return rv;
}

static int dial(struct sdc__rconn *rc, bool timeouts, redisContext **out, struct dc_errbuf *eb)
{
    redisContext *c = redisConnectWithTimeout(rc->host, rc->port, rc->dial_tv);
    char db[24];
    int rv = DC_OK;

    if (c == NULL)
        return dc_err_set(eb, DC_EUNAVAIL, "%s: cannot allocate a context", rc->what);
    if (c->err != 0) {
        rv = dc_err_set(eb, DC_EUNAVAIL, "%s: dial tcp %s:%d: %s", rc->what, rc->host, rc->port,
                        c->errstr);
        redisFree(c);
        return rv;
    }
    /* redisConnectWithTimeout leaves the dial timeout on the socket: reset it. */
    if (redisSetTimeout(c, timeouts ? rc->io_tv : (struct timeval){0, 0}) != REDIS_OK)
        rv = dc_err_set(eb, DC_EUNAVAIL, "%s: %s", rc->what, c->errstr);
    (void)redisEnableKeepAlive(c);
    if (rv == DC_OK && rc->password != NULL) {
        const char *a3[3] = {"AUTH", rc->username, rc->password};
        const char *a2[2] = {"AUTH", rc->password};
        rv = rc->username != NULL ? simple(c, rc, 3, a3, eb) : simple(c, rc, 2, a2, eb);
    }
    if (rv == DC_OK && rc->db != 0) {
        const char *sel[2] = {"SELECT", db};
        snprintf(db, sizeof(db), "%lld", (long long)rc->db);
        rv = simple(c, rc, 2, sel, eb);
    }
    if (rv != DC_OK) {
        redisFree(c);
        return rv;
    }
    *out = c;
    return DC_OK;
}

int sdc__rconn_dial(struct sdc__rconn *rc, redisContext **out, struct dc_errbuf *eb)
{
    return dial(rc, false, out, eb);
}

int64_t sdc__rconn_db(const struct sdc__rconn *rc)
{
    return rc->db;
}

static void put(struct sdc__rconn *rc, redisContext *c, bool broken)
{
    if (!broken) {
        pthread_mutex_lock(&rc->mu);
        if (rc->nidle < RC_MAX_IDLE) {
            rc->idle[rc->nidle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&rc->mu);
    }
    if (c != NULL)
        redisFree(c);
}

int sdc__rconn_cmd(struct sdc__rconn *rc, int argc, const char **argv, const size_t *lens,
                   redisReply **out, struct dc_errbuf *eb)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        redisContext *c = NULL;
        redisReply *r;
        bool pooled = false;
        int rv;

        pthread_mutex_lock(&rc->mu);
        if (rc->nidle > 0) {
            c = rc->idle[--rc->nidle];
            pooled = true;
        }
        pthread_mutex_unlock(&rc->mu);
        if (c == NULL) {
            rv = dial(rc, true, &c, eb);
            if (rv != DC_OK)
                return rv;
        }
        r = redisCommandArgv(c, argc, argv, lens);
        if (r != NULL) {
            put(rc, c, false);
            *out = r;
            return DC_OK;
        }
        rv = dc_err_set(eb, DC_EUNAVAIL, "%s: %s", rc->what,
                        c->err == REDIS_ERR_IO && errno == EAGAIN ? "i/o timeout" : c->errstr);
        put(rc, c, true);
        /* A pooled connection may have died while idle (server restart): drop them all and
         * retry once on a fresh one. A fresh connection's failure is final. */
        if (!pooled)
            return rv;
        pthread_mutex_lock(&rc->mu);
        while (rc->nidle > 0)
            redisFree(rc->idle[--rc->nidle]);
        pthread_mutex_unlock(&rc->mu);
    }
    return dc_err_set(eb, DC_EUNAVAIL, "%s: connection lost", rc->what);
}

void sdc__rconn_free(struct sdc__rconn *rc)
{
    if (rc == NULL)
        return;
    while (rc->nidle > 0)
        redisFree(rc->idle[--rc->nidle]);
    pthread_mutex_destroy(&rc->mu);
    free(rc->username);
    free(rc->password);
    free(rc);
}

int sdc__rconn_new(struct sdc__rconn **out, const struct sdc_md *md, const char *what,
                   int64_t init_timeout_ms, struct dc_errbuf *eb)
{
    struct sdc__rconn *rc = dc_xcalloc(1, sizeof(*rc));
    struct timeval dial_tv;
    const char *ping[1] = {"PING"};
    redisReply *r = NULL;
    int rv;

    pthread_mutex_init(&rc->mu, NULL);
    dc_strlcpy(rc->what, what, sizeof(rc->what));
    rv = parse_metadata(rc, md, eb);
    if (rv != DC_OK)
        goto fail;
    /* The first connection within the init timeout. */
    dial_tv = rc->dial_tv;
    if (init_timeout_ms > 0 && init_timeout_ms < dial_tv.tv_sec * 1000 + dial_tv.tv_usec / 1000)
        rc->dial_tv = ms_tv(init_timeout_ms);
    rv = sdc__rconn_cmd(rc, 1, ping, NULL, &r, eb);
    rc->dial_tv = dial_tv;
    if (rv == DC_OK && r->type == REDIS_REPLY_ERROR)
        rv = dc_err_set(eb, DC_EUNAVAIL, "%s: PING: %s", what, r->str);
    if (r != NULL)
        freeReplyObject(r);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "%s: error connecting to redis at %s:%d", what, rc->host, rc->port);
        goto fail;
    }
    *out = rc;
    return DC_OK;
fail:
    sdc__rconn_free(rc);
    return rv;
}
