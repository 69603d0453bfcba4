#ifndef SDC_LOCK_RCONN_H
#define SDC_LOCK_RCONN_H

/* A minimal Redis connection helper shared by lock.redis and configuration.redis: the
 * connection metadata of state.redis (redisHost, redisPassword, redisUsername, redisDB,
 * dialTimeout, readTimeout, writeTimeout, poolSize; TLS, Sentinel and cluster are refused as in
 * state_redis.c) and a small pool of blocking hiredis contexts.
 *
 * Stand-in until the shared sidecar/redis_conn.h and dc_pool land (issue 4, engineer B); the
 * lead may replace it at merge time. Private to the lock and configuration modules. */

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "dc/err.h"

#include "component.h"

struct sdc__rconn;

/* Parse `md` and check the server answers PING within `init_timeout_ms` (0: the dial timeout).
 * `what` prefixes messages ("redis lock"). On success `*out` is owned by the caller
 * (sdc__rconn_free). Returns DC_OK, DC_EINVAL / DC_EUNSUPPORTED (metadata), DC_EUNAVAIL. */
int sdc__rconn_new(struct sdc__rconn **out, const struct sdc_md *md, const char *what,
                   int64_t init_timeout_ms, struct dc_errbuf *eb) DC_MUST_CHECK;
/* Close every pooled connection and free. NULL is a no-op. No call may be running. */
void sdc__rconn_free(struct sdc__rconn *rc);

/* Run one command (`lens` may be NULL for NUL-terminated arguments) on a pooled connection. A
 * connection failure is retried once on a fresh connection. On DC_OK `*out` is the reply,
 * possibly an error reply (caller: freeReplyObject). Else DC_EUNAVAIL with `eb`. Thread-safe. */
int sdc__rconn_cmd(struct sdc__rconn *rc, int argc, const char **argv, const size_t *lens,
                   redisReply **out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* A new dedicated connection (authenticated, database selected), without a read timeout, for
 * SUBSCRIBE. Owned by the caller (redisFree). DC_OK or DC_EUNAVAIL. Thread-safe. */
int sdc__rconn_dial(struct sdc__rconn *rc, redisContext **out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The redisDB number in use. */
int64_t sdc__rconn_db(const struct sdc__rconn *rc);

#endif /* SDC_LOCK_RCONN_H */
