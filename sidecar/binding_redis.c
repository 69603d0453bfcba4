/* bindings.redis (output; sidecar-api.md §22.5) over hiredis.
 *
 * Operations, all with metadata `key` (required: "redis binding: missing key in request
 * metadata"):
 *   create     SET key <data>, then EXPIRE key ttlInSeconds when given
 *   get        GET key (GETDEL with metadata delete=true); the value is the response; a missing
 *              key is an error "redis: nil", as go-redis reports it
 *   delete     DEL key
 *   increment  INCR key, then EXPIRE as create
 * Connection metadata: redisHost* (host:port), redisUsername, redisPassword, redisDB; TLS,
 * cluster and Sentinel are refused. Init pings the server.
 *
 * Connections: a small pool of blocking hiredis contexts, opened lazily (poolSize, default 10);
 * a context that fails is discarded and the command retried once on a new one.
 * (sidecar/state_redis.c has the full-featured pool; the lead's dc_pool is meant to replace
 * both.) */
#include "bindings.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

struct rconn {
    redisContext *c;
    struct rconn *next;
};

struct redisb {
    char host[256];
    char hostport[300];
    int port;
    char *user, *pass;
    int64_t db;
    struct timeval tv;
    size_t pool_size;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rconn *idle;
    size_t nopen;
};

static int parse_host(struct redisb *r, const char *v, struct dc_errbuf *eb)
{
    const char *colon = strrchr(v, ':');
    size_t hl = colon != NULL ? (size_t)(colon - v) : strlen(v);
    int64_t port = 6379;

    if (colon != NULL && dc_str_to_i64(colon + 1, 1, 65535, &port) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "redis binding: invalid redisHost %s", v);
    if (hl == 0 || hl >= sizeof(r->host) || strchr(v, ',') != NULL)
        return dc_err_set(eb, DC_EINVAL, "redis binding: invalid redisHost %s", v);
    memcpy(r->host, v, hl);
    r->host[hl] = '\0';
    r->port = (int)port;
    snprintf(r->hostport, sizeof(r->hostport), "%s", v);
    return DC_OK;
}

static int run1(redisContext *c, int argc, const char **argv, const size_t *lens, redisReply **out)
{
    void *rep = redisCommandArgv(c, argc, argv, lens);

    if (rep == NULL)
        return DC_EUNAVAIL;
    *out = rep;
    return DC_OK;
}

static int connect_one(struct redisb *r, redisContext **out, struct dc_errbuf *eb)
{
    redisContext *c = redisConnectWithTimeout(r->host, r->port, r->tv);
    redisReply *rep = NULL;
    char db[24];
    int rv = DC_OK;

    if (c == NULL)
        return dc_err_set(eb, DC_ENOMEM, "redis: cannot allocate a context");
    if (c->err != 0) {
        rv = dc_err_set(eb, DC_EUNAVAIL, "dial tcp %s: %s", r->hostport, c->errstr);
        redisFree(c);
        return rv;
    }
    (void)redisSetTimeout(c, r->tv);
    if (r->pass != NULL) {
        const char *a3[3] = {"AUTH", r->user, r->pass};
        const char *a2[2] = {"AUTH", r->pass};
        rv = r->user != NULL ? run1(c, 3, a3, NULL, &rep) : run1(c, 2, a2, NULL, &rep);
    }
    if (rv == DC_OK && r->db != 0) {
        const char *a[2] = {"SELECT", db};
        freeReplyObject(rep);
        rep = NULL;
        snprintf(db, sizeof(db), "%lld", (long long)r->db);
        rv = run1(c, 2, a, NULL, &rep);
    }
    if (rv != DC_OK)
        rv = dc_err_set(eb, DC_EUNAVAIL, "redis: %s", c->errstr);
    else if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
        rv = dc_err_set(eb, DC_EPERM, "redis: %s", rep->str);
    freeReplyObject(rep);
    if (rv != DC_OK) {
        redisFree(c);
        return rv;
    }
    *out = c;
    return DC_OK;
}

static int pool_get(struct redisb *r, struct rconn **out, struct dc_errbuf *eb)
{
    struct rconn *cn;
    int rv;

    pthread_mutex_lock(&r->mu);
    while (r->idle == NULL && r->nopen >= r->pool_size)
        pthread_cond_wait(&r->cv, &r->mu);
    cn = r->idle;
    if (cn != NULL) {
        r->idle = cn->next;
        pthread_mutex_unlock(&r->mu);
        *out = cn;
        return DC_OK;
    }
    r->nopen++;
    pthread_mutex_unlock(&r->mu);
    cn = dc_xcalloc(1, sizeof(*cn));
    rv = connect_one(r, &cn->c, eb);
    if (rv != DC_OK) {
        free(cn);
        pthread_mutex_lock(&r->mu);
        r->nopen--;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        return rv;
    }
    *out = cn;
    return DC_OK;
}

static void pool_put(struct redisb *r, struct rconn *cn, bool broken)
{
    pthread_mutex_lock(&r->mu);
    if (broken) {
        r->nopen--;
    } else {
        cn->next = r->idle;
        r->idle = cn;
    }
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (broken) {
        redisFree(cn->c);
        free(cn);
    }
}

/* One command; a connection failure is retried once on a fresh connection. On DC_OK `*out`
 * is the reply (maybe an error reply) for the caller to free. */
static int command(struct redisb *r, int argc, const char **argv, const size_t *lens,
                   redisReply **out, struct dc_errbuf *eb)
{
    for (int attempt = 0;; attempt++) {
        struct rconn *cn;
        int rv = pool_get(r, &cn, eb);

        if (rv != DC_OK)
            return rv;
        rv = run1(cn->c, argc, argv, lens, out);
        if (rv == DC_OK) {
            pool_put(r, cn, false);
            return DC_OK;
        }
        rv = dc_err_set(eb, DC_EUNAVAIL, "redis: %s",
                        cn->c->err == REDIS_ERR_IO && errno == EAGAIN ? "i/o timeout"
                                                                      : cn->c->errstr);
        pool_put(r, cn, true);
        if (attempt >= 1)
            return rv;
    }
}

static int reply_error(redisReply *rep, struct dc_errbuf *eb)
{
    int rv = DC_OK;

    if (rep->type == REDIS_REPLY_ERROR)
        rv = dc_err_set(eb, DC_EIO, "%s", rep->str);
    freeReplyObject(rep);
    return rv;
}

static int expire_if_requested(struct redisb *r, const struct sdc_binding_req *req, const char *key,
                               struct dc_errbuf *eb)
{
    const char *ttl = sdc_md_get(req->metadata, "ttlInSeconds");
    redisReply *rep;
    int64_t v;
    int rv;

    if (dc_str_empty(ttl))
        return DC_OK;
    if (dc_str_to_i64(ttl, INT32_MIN, INT32_MAX, &v) != DC_OK)
        return dc_err_set(eb, DC_EINVAL,
                          "ttlInSeconds value must be a valid integer: actual is '%s'", ttl);
    {
        char num[24];
        const char *argv[3] = {"EXPIRE", key, num};
        snprintf(num, sizeof(num), "%lld", (long long)v);
        rv = command(r, 3, argv, NULL, &rep, eb);
    }
    if (rv != DC_OK)
        return rv;
    rv = reply_error(rep, eb);
    if (rv != DC_OK)
        dc_err_wrapf(eb, "redis binding: error setting TTL on key %s", key);
    return rv;
}

static int redis_invoke(void *self, const struct sdc_binding_req *req,
                        struct sdc_binding_resp *resp, struct dc_errbuf *eb)
{
    struct redisb *r = self;
    const char *key = sdc_md_get(req->metadata, "key"), *op = req->operation;
    redisReply *rep = NULL;
    int rv;

    if (dc_str_empty(key))
        return dc_err_set(eb, DC_EINVAL, "redis binding: missing key in request metadata");
    if (strcmp(op, "create") == 0) {
        const char *argv[3] = {"SET", key, req->data};
        size_t lens[3] = {3, strlen(key), req->data_len};
        rv = command(r, 3, argv, lens, &rep, eb);
        if (rv == DC_OK)
            rv = reply_error(rep, eb);
        return rv == DC_OK ? expire_if_requested(r, req, key, eb) : rv;
    }
    if (strcmp(op, "increment") == 0) {
        const char *argv[2] = {"INCR", key};
        rv = command(r, 2, argv, NULL, &rep, eb);
        if (rv == DC_OK)
            rv = reply_error(rep, eb);
        return rv == DC_OK ? expire_if_requested(r, req, key, eb) : rv;
    }
    if (strcmp(op, "delete") == 0) {
        const char *argv[2] = {"DEL", key};
        rv = command(r, 2, argv, NULL, &rep, eb);
        return rv == DC_OK ? reply_error(rep, eb) : rv;
    }
    if (strcmp(op, "get") == 0) {
        const char *argv[2] = {
            dc_str_eq(sdc_md_get(req->metadata, "delete"), "true") ? "GETDEL" : "GET", key};
        rv = command(r, 2, argv, NULL, &rep, eb);
        if (rv != DC_OK)
            return rv;
        if (rep->type == REDIS_REPLY_NIL) {
            rv = dc_err_set(eb, DC_ENOTFOUND, "redis: nil");
        } else if (rep->type == REDIS_REPLY_STRING) {
            resp->has_data = true;
            rv = dc_buf_append(&resp->data, rep->str, rep->len);
            if (rv != DC_OK)
                dc_err_set(eb, rv, "redis binding: value too large");
        } else if (rep->type == REDIS_REPLY_ERROR) {
            rv = dc_err_set(eb, DC_EIO, "%s", rep->str);
        } else {
            rv = dc_err_set(eb, DC_EIO, "redis binding: unexpected reply type %d", rep->type);
        }
        freeReplyObject(rep);
        return rv;
    }
    return dc_err_set(eb, DC_EINVAL, "invalid operation type: %s", op);
}

static void redis_close(void *self)
{
    struct redisb *r = self;

    if (r == NULL)
        return;
    while (r->idle != NULL) {
        struct rconn *n = r->idle->next;
        redisFree(r->idle->c);
        free(r->idle);
        r->idle = n;
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->user);
    free(r->pass);
    free(r);
}

static int redis_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                      struct dc_errbuf *eb)
{
    const char *host = sdc_md_get(md, "redisHost"), *pool = sdc_md_get(md, "poolSize");
    const char *db = sdc_md_get(md, "redisDB");
    struct redisb *r;
    redisReply *rep = NULL;
    int64_t ps = 10, ms = ctx != NULL && ctx->timeout_ms > 0 ? ctx->timeout_ms : 5000;
    int rv;

    if (dc_str_empty(host))
        return dc_err_set(eb, DC_EINVAL, "redis binding: redisHost is required");
    if (dc_str_truthy(sdc_md_get(md, "enableTLS")))
        return dc_err_set(eb, DC_EUNSUPPORTED, "redis binding: enableTLS is not supported");
    if (!dc_str_empty(sdc_md_get(md, "redisType")) &&
        !dc_str_eq_ci(sdc_md_get(md, "redisType"), "node"))
        return dc_err_set(eb, DC_EUNSUPPORTED, "redis binding: only redisType node is supported");
    if (dc_str_truthy(sdc_md_get(md, "failover")))
        return dc_err_set(eb, DC_EUNSUPPORTED, "redis binding: failover is not supported");
    if (!dc_str_empty(pool) && dc_str_to_i64(pool, 1, 10000, &ps) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "redis binding: invalid poolSize %s", pool);
    r = dc_xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->pool_size = (size_t)ps;
    r->tv.tv_sec = (time_t)(ms / 1000);
    r->tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    rv = parse_host(r, host, eb);
    if (rv == DC_OK && !dc_str_empty(db) && dc_str_to_i64(db, 0, 1 << 20, &r->db) != DC_OK)
        rv = dc_err_set(eb, DC_EINVAL, "redis binding: invalid redisDB %s", db);
    if (rv != DC_OK) {
        redis_close(r);
        return rv;
    }
    if (!dc_str_empty(sdc_md_get(md, "redisPassword")))
        r->pass = dc_xstrdup(sdc_md_get(md, "redisPassword"));
    if (!dc_str_empty(sdc_md_get(md, "redisUsername")))
        r->user = dc_xstrdup(sdc_md_get(md, "redisUsername"));
    {
        const char *argv[1] = {"PING"};
        rv = command(r, 1, argv, NULL, &rep, eb);
    }
    if (rv == DC_OK)
        rv = reply_error(rep, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "redis binding: error connecting to redis at %s", r->hostport);
        redis_close(r);
        return rv;
    }
    *self = r;
    return DC_OK;
}

static const char *const redis_operations[] = {"create", "delete", "get", "increment", NULL};

static const struct sdc_binding_ops redis_ops = {
    .base = {.init = redis_init, .close = redis_close},
    .operations = redis_operations,
    .invoke = redis_invoke,
};

const struct sdc_component_type sdc_type_bindings_redis = {"bindings.redis", "v1", SDC_CAT_BINDINGS,
                                                           &redis_ops.base};
