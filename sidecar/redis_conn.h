#ifndef SDC_REDIS_CONN_H
#define SDC_REDIS_CONN_H

/* Redis connection settings and connections shared by every redis component (state.redis,
 * pubsub.redis, lock.redis, bindings.redis, configuration.redis), over blocking hiredis.
 *
 * Metadata understood (sidecar-api.md §22.3-22.7, names case-insensitive as all metadata):
 *   redisHost*      "host:port", "[v6]:port" or "host" (port 6379); several hosts are refused
 *                   (they need redisType cluster)
 *   redisPassword, redisUsername (ACL user; AUTH user pass), redisDB (0)
 *   redisType       "node" only; "cluster" refused. failover (Sentinel) refused.
 *   enableTLS       refused when true: Debian's hiredis 0.14 has no TLS (hiredis_ssl)
 *   redisMaxRetries (3), dialTimeout (5s), readTimeout (3s), writeTimeout (= readTimeout),
 *   poolSize (10 per CPU). Durations are go-redis': a bare integer is milliseconds, else a Go
 *   duration; a negative read/write timeout means none.
 * Errors name the component kind given as `label` ("redis store", "redis pubsub"...).
 *
 * A `struct sdc_redis` is a client: the settings plus a dc_pool of connections, with upstream's
 * retry behaviour (connection errors retried redisMaxRetries times with go-redis' backoff
 * 8 ms..512 ms; a pooled connection that died while idle is replaced at once). Thread-safe.
 * Concurrent calls are auto-pipelined: they queue, and one caller at a time per connection
 * (at most two connections busy) writes every queued command in one go and reads the replies
 * in order, so Redis serves many commands per wake-up. Each call still gets its own replies
 * (error replies included); a connection that fails fails only the calls whose replies were
 * not read yet (they are retried as above). A call's commands stay contiguous on the
 * connection, so MULTI ... EXEC within one call is safe; commands that block on the server
 * (BLPOP, XREAD BLOCK, SUBSCRIBE) or keep connection state across calls (WATCH) must not be
 * sent through the client: components that need them call sdc_redis_connect with the parsed
 * settings for a dedicated connection. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "component.h"
#include "dc/err.h"

#define SDC_REDIS_DEFAULT_PORT 6379

/* Parsed settings. Embeddable; all-zero is "not parsed". */
struct sdc_redis_opts {
    char host[256];
    int port;
    char *username; /* NULL: none; owned */
    char *password; /* NULL: none; owned, wiped on cleanup */
    int64_t db;
    int64_t max_retries; /* >= 0 */
    int64_t dial_ms;     /* > 0 */
    int64_t read_ms;     /* < 0: none */
    int64_t write_ms;    /* < 0: none */
    int64_t pool_wait_ms;
    size_t pool_size;
    struct timeval dial_tv;
    struct timeval io_tv; /* all-zero: no timeout (hiredis has one for both directions) */
};

/* Parse the metadata above into `o` (zeroed first). Returns DC_OK, DC_EINVAL (missing
 * redisHost, malformed value) or DC_EUNSUPPORTED (cluster, failover, TLS); `eb` says which,
 * prefixed with `label`. On error `o` holds nothing to clean up. */
int sdc_redis_opts_parse(struct sdc_redis_opts *o, const struct sdc_md *md, const char *label,
                         struct dc_errbuf *eb) DC_MUST_CHECK;
void sdc_redis_opts_cleanup(struct sdc_redis_opts *o);

/* A duration metadata value as go-redis reads it (see above) into `*out_ms` (-1: negative),
 * or `def_ms` when absent. DC_EINVAL when malformed. */
int sdc_redis_md_duration_ms(const struct sdc_md *md, const char *name, int64_t def_ms,
                             int64_t *out_ms, const char *label,
                             struct dc_errbuf *eb) DC_MUST_CHECK;
/* An integer metadata value in [min, max], or `def` when absent. DC_EINVAL when malformed. */
int sdc_redis_md_int(const struct sdc_md *md, const char *name, int64_t def, int64_t min,
                     int64_t max, int64_t *out, const char *label,
                     struct dc_errbuf *eb) DC_MUST_CHECK;

/* Open a connection: dial within `dial_ms` (<= 0: the settings' dialTimeout), set the socket
 * timeout, keep-alive, AUTH, SELECT. Returns DC_OK with `*out` owned by the caller (redisFree),
 * DC_EUNAVAIL (cannot reach or talk to the server), DC_EIO (AUTH/SELECT refused), DC_ENOMEM. */
int sdc_redis_connect(const struct sdc_redis_opts *o, int64_t dial_ms, redisContext **out,
                      struct dc_errbuf *eb) DC_MUST_CHECK;

/* One command of a pipeline; `lens` NULL means NUL-terminated arguments. */
struct sdc_redis_cmd {
    int argc;
    const char **argv;
    const size_t *lens;
};

/* Read `n` replies of commands already appended to `c` into `rep` (as sdc_redis_roundtrip). */
int sdc_redis_replies(redisContext *c, size_t n, redisReply **rep, bool *broken,
                      struct dc_errbuf *eb) DC_MUST_CHECK;

/* Send `n` commands on `c`, then read one reply each into `rep` (the caller frees them with
 * freeReplyObject; error replies included). On an I/O error (DC_EUNAVAIL) nothing is left in
 * `rep`, `*broken` is set and `c` must be discarded. */
int sdc_redis_roundtrip(redisContext *c, const struct sdc_redis_cmd *cmds, size_t n,
                        redisReply **rep, bool *broken, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Whether `r` is an error reply starting with `prefix`. */
bool sdc_redis_reply_is_err(const redisReply *r, const char *prefix);
/* Error replies meaning "the server is there but cannot serve yet" (LOADING, MASTERDOWN,
 * TRYAGAIN, BUSY): callers map them to DC_EUNAVAIL. */
bool sdc_redis_reply_unavailable(const redisReply *r);

struct sdc_redis;

/* Parse `md` and open a client; unless `no_ping`, check the server with PING within
 * `init_timeout_ms` (<= 0: dialTimeout), without retries. Returns DC_OK with `*out` owned by
 * the caller (sdc_redis_close), or the parse/connect error with `eb` naming `label`. */
int sdc_redis_open(struct sdc_redis **out, const struct sdc_md *md, const char *label,
                   int64_t init_timeout_ms, bool no_ping, struct dc_errbuf *eb) DC_MUST_CHECK;
void sdc_redis_close(struct sdc_redis *r);

/* For tests: calls queued for the pipeline and not yet taken into a batch. */
size_t sdc_redis_queued(struct sdc_redis *r);

/* The client's settings (borrowed, valid until sdc_redis_close). */
const struct sdc_redis_opts *sdc_redis_opts(const struct sdc_redis *r);

/* Run a pipeline of `n` commands (batched with other threads' calls, see above), retrying
 * connection failures as described above. On DC_OK `rep[0..n)` are replies the caller frees
 * (error replies included); else DC_EUNAVAIL (server unreachable after the retries, or still
 * queued after the pool wait: "connection pool timeout"). */
int sdc_redis_run(struct sdc_redis *r, const struct sdc_redis_cmd *cmds, size_t n, redisReply **rep,
                  struct dc_errbuf *eb) DC_MUST_CHECK;

/* One command with NUL-terminated arguments; an error reply becomes DC_EIO (or DC_EUNAVAIL for
 * the "cannot serve yet" ones) with its text in `eb`. On DC_OK `*out` (may be NULL: reply
 * discarded) is the reply for the caller to free. */
int sdc_redis_cmd(struct sdc_redis *r, redisReply **out, struct dc_errbuf *eb, int argc,
                  const char **argv) DC_MUST_CHECK;

#endif /* SDC_REDIS_CONN_H */
