/* lock.redis v1 (sidecar-api.md §10, §22.7), as components-contrib lock/redis/standalone.go:
 * a lock is the string key holding its owner, taken with SET key owner NX PX <ms> (so Redis
 * expires it), and released by a compare-and-delete script that answers -1 when the key does
 * not exist and -2 when another owner holds it. Several daprd sharing one Redis exclude each
 * other, since each check-and-set is one atomic server operation. */
#include "lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_conn.h"

static const char unlock_script[] = "local v = redis.call('GET', KEYS[1])\n"
                                    "if v == false then return -1 end\n"
                                    "if v ~= ARGV[1] then return -2 end\n"
                                    "return redis.call('DEL', KEYS[1])\n";

static int rl_try_lock(void *self, const char *key, const char *owner, int32_t expiry_s,
                       bool *acquired, struct dc_errbuf *eb)
{
    char ms[24];
    const char *argv[6] = {"SET", key, owner, "NX", "PX", ms};
    redisReply *r = NULL;
    int rv;

    snprintf(ms, sizeof(ms), "%lld", (long long)expiry_s * 1000);
    rv = sdc_redis_cmd(self, &r, eb, 6, argv); /* an error reply is DC_EIO "redis: SET: ..." */
    if (rv != DC_OK)
        return rv;
    *acquired = r->type == REDIS_REPLY_STATUS; /* "OK"; nil when the key exists */
    freeReplyObject(r);
    return DC_OK;
}

static int rl_unlock(void *self, const char *key, const char *owner, enum sdc_unlock_status *status,
                     struct dc_errbuf *eb)
{
    const char *argv[5] = {"EVAL", unlock_script, "1", key, owner};
    redisReply *r = NULL;
    int rv;

    *status = SDC_UNLOCK_INTERNAL;
    rv = sdc_redis_cmd(self, &r, eb, 5, argv);
    if (rv != DC_OK)
        return rv;
    if (r->type != REDIS_REPLY_INTEGER) {
        rv = dc_err_set(eb, DC_EIO, "redis: unlock script: unexpected reply");
    } else if (r->integer >= 0) {
        *status = SDC_UNLOCK_SUCCESS;
    } else if (r->integer == -1) {
        *status = SDC_UNLOCK_NOT_EXIST;
    } else if (r->integer == -2) {
        *status = SDC_UNLOCK_OTHERS;
    }
    freeReplyObject(r);
    return rv;
}

static void rl_close(void *self)
{
    sdc_redis_close(self);
}

static int rl_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    struct sdc_redis *rc;
    int rv = sdc_lock_check_component(md, eb);

    if (rv != DC_OK)
        return rv;
    rv = sdc_redis_open(&rc, md, "redis lock", ctx != NULL ? ctx->timeout_ms : 0, false, eb);
    if (rv != DC_OK)
        return rv;
    *self = rc;
    return DC_OK;
}

static const struct sdc_lock_ops redis_ops = {
    .base = {.init = rl_init, .close = rl_close},
    .try_lock = rl_try_lock,
    .unlock = rl_unlock,
};

const struct sdc_component_type sdc_type_lock_redis = {"lock.redis", "v1", SDC_CAT_LOCK,
                                                       &redis_ops.base};
