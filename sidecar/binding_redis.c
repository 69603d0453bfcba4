/* bindings.redis (output; sidecar-api.md §22.5) over hiredis.
 *
 * Operations, all with metadata `key` (required: "redis binding: missing key in request
 * metadata"):
 *   create     SET key <data>, then EXPIRE key ttlInSeconds when given
 *   get        GET key (GETDEL with metadata delete=true); the value is the response; a missing
 *              key is an error "redis: nil", as go-redis reports it
 *   delete     DEL key
 *   increment  INCR key, then EXPIRE as create
 * Connection metadata and connections: the shared Redis client (redis_conn.h: redisHost*,
 * redisUsername, redisPassword, redisDB, timeouts, poolSize, go-redis' retries; TLS, cluster
 * and Sentinel are refused). Init pings the server. */
#include "bindings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/limits.h"
#include "dc/str.h"

#include "redis_conn.h"

/* One command on a pooled connection. On DC_OK `*out` is the reply (maybe an error reply) for
 * the caller to free. */
static int command(struct sdc_redis *r, int argc, const char **argv, const size_t *lens,
                   redisReply **out, struct dc_errbuf *eb)
{
    struct sdc_redis_cmd cmd = {argc, argv, lens};

    return sdc_redis_run(r, &cmd, 1, out, eb);
}

static int reply_error(redisReply *rep, struct dc_errbuf *eb)
{
    int rv = DC_OK;

    if (rep->type == REDIS_REPLY_ERROR)
        rv = dc_err_set(eb, DC_EIO, "%s", rep->str);
    freeReplyObject(rep);
    return rv;
}

static int expire_if_requested(struct sdc_redis *r, const struct sdc_binding_req *req,
                               const char *key, struct dc_errbuf *eb)
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
    struct sdc_redis *r = self;
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
    sdc_redis_close(self);
}

static int redis_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                      struct dc_errbuf *eb)
{
    struct sdc_redis *r;
    int rv = sdc_redis_open(&r, md, "redis binding", ctx != NULL ? ctx->timeout_ms : 0, false, eb);

    if (rv != DC_OK)
        return rv;
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
