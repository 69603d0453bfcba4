/* state.redis v1 over hiredis (sidecar-api.md §5.10, §22.3).
 *
 * Storage layout shared with upstream daprd: each key is a Redis hash with the field `data` (the
 * value bytes) and `version` (an integer bumped with HINCRBY on every write; it is the ETag),
 * plus `first-write` = 0 on keys written under first-write concurrency, which makes later
 * ETag-less writes fail (upstream does the same). TTLs are EXPIRE/PERSIST on the key.
 *
 * Writes run as Lua scripts, so each check-and-write is atomic on the server; a transaction is
 * one script that checks every operation against a simulated state first and only then applies
 * them, so a mismatch anywhere leaves nothing behind (upstream's MULTI/EXEC pipeline does not
 * roll back). A write is reported DC_OK only after Redis answered the script.
 *
 * Connections: a dc_pool of blocking hiredis contexts (one thread per context at a time), opened
 * lazily up to poolSize. A connection that fails is closed with every idle one (after a server
 * restart they are all dead), and the call is retried on a fresh connection; connection errors
 * are retried redisMaxRetries times with a short exponential backoff, then DC_EUNAVAIL. */
#include "state_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "dc/mem.h"
#include "dc/pool.h"
#include "dc/str.h"
#include "dc/time.h"

#define RD_DEFAULT_PORT 6379
#define RD_BACKOFF_MIN_MS 8   /* go-redis MinRetryBackoff */
#define RD_BACKOFF_MAX_MS 512 /* go-redis MaxRetryBackoff */
#define RD_ARGS_PER_OP 5      /* kind, etag, data, first-write, ttl (multi script) */

/* KEYS[1]; ARGV: etag ("" = none), data, "1" for first-write, ttl ("" = keep, >0 EXPIRE, else
 * PERSIST). Returns the new version. A key of another type is replaced, as upstream does. */
static const char set_script[] =
    "local v = redis.pcall('HGET', KEYS[1], 'version')\n"
    "local wrong = type(v) == 'table'\n"
    "if wrong then v = false end\n"
    "if ARGV[1] ~= '' then\n"
    "  if v ~= ARGV[1] then return redis.error_reply('ETAGMISMATCH 1') end\n"
    "elseif v and (ARGV[3] == '1' or redis.call('HEXISTS', KEYS[1], 'first-write') == 1) then\n"
    "  return redis.error_reply('ETAGMISMATCH 1')\n"
    "end\n"
    "if wrong then redis.call('DEL', KEYS[1]) end\n"
    "redis.call('HSET', KEYS[1], 'data', ARGV[2])\n"
    "if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'first-write', 0) end\n"
    "local n = redis.call('HINCRBY', KEYS[1], 'version', 1)\n"
    "if ARGV[4] ~= '' then\n"
    "  local t = tonumber(ARGV[4])\n"
    "  if t > 0 then redis.call('EXPIRE', KEYS[1], t) else redis.call('PERSIST', KEYS[1]) end\n"
    "end\n"
    "return n\n";

/* KEYS[1]; ARGV[1] = etag ("" = none). */
static const char del_script[] =
    "if ARGV[1] ~= '' and redis.pcall('HGET', KEYS[1], 'version') ~= ARGV[1] then\n"
    "  return redis.error_reply('ETAGMISMATCH 1')\n"
    "end\n"
    "return redis.call('DEL', KEYS[1])\n";

/* KEYS[i] is operation i; ARGV holds RD_ARGS_PER_OP values per operation: 's' (upsert) or 'd',
 * etag, data, first-write flag, ttl. Pass 1 replays the operations on a simulated state and
 * fails before any write; pass 2 applies them. */
static const char multi_script[] =
    "local st = {}\n"
    "local function cur(k)\n"
    "  local s = st[k]\n"
    "  if s == nil then\n"
    "    local v = redis.pcall('HGET', k, 'version')\n"
    "    local wrong = type(v) == 'table'\n"
    "    if wrong then v = false end\n"
    "    local fw = v and redis.call('HEXISTS', k, 'first-write') == 1\n"
    "    s = {v = v, fw = fw, wrong = wrong}\n"
    "    st[k] = s\n"
    "  end\n"
    "  return s\n"
    "end\n"
    "for i = 1, #KEYS do\n"
    "  local a = (i - 1) * 5\n"
    "  local s = cur(KEYS[i])\n"
    "  if ARGV[a + 2] ~= '' then\n"
    "    if s.v ~= ARGV[a + 2] then return redis.error_reply('ETAGMISMATCH ' .. i) end\n"
    "  elseif ARGV[a + 1] == 's' and s.v and (ARGV[a + 4] == '1' or s.fw) then\n"
    "    return redis.error_reply('ETAGMISMATCH ' .. i)\n"
    "  end\n"
    "  if ARGV[a + 1] == 's' then\n"
    "    s.v = tostring((tonumber(s.v) or 0) + 1)\n"
    "    s.fw = s.fw or ARGV[a + 4] == '1'\n"
    "  else\n"
    "    s.v = false\n"
    "    s.fw = false\n"
    "  end\n"
    "end\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  local a = (i - 1) * 5\n"
    "  if st[k].wrong then redis.call('DEL', k); st[k].wrong = false end\n"
    "  if ARGV[a + 1] == 's' then\n"
    "    redis.call('HSET', k, 'data', ARGV[a + 3])\n"
    "    if ARGV[a + 4] == '1' then redis.call('HSET', k, 'first-write', 0) end\n"
    "    redis.call('HINCRBY', k, 'version', 1)\n"
    "    if ARGV[a + 5] ~= '' then\n"
    "      local t = tonumber(ARGV[a + 5])\n"
    "      if t > 0 then redis.call('EXPIRE', k, t) else redis.call('PERSIST', k) end\n"
    "    end\n"
    "  else\n"
    "    redis.call('DEL', k)\n"
    "  end\n"
    "end\n"
    "return #KEYS\n";

enum rd_script { RD_SET = 0, RD_DEL, RD_MULTI, RD_NSCRIPTS };

static const char *const scripts[RD_NSCRIPTS] = {set_script, del_script, multi_script};

struct rd_store {
    char host[256];
    int port;
    char *username; /* NULL: none */
    char *password; /* NULL: none */
    int64_t db;
    struct timeval dial_tv;
    struct timeval io_tv; /* all-zero: no timeout */
    int64_t max_retries;
    int64_t pool_wait_ms;
    bool has_default_ttl;
    int64_t default_ttl;
    size_t pool_size;
    char sha[RD_NSCRIPTS][41];
    struct dc_pool *pool; /* of redisContext */
};

/* One command of a pipeline. */
struct rd_cmd {
    int argc;
    const char **argv;
    const size_t *lens;
};

/* ---- metadata ---- */

static int md_int(const struct sdc_md *md, const char *name, int64_t def, int64_t min, int64_t max,
                  int64_t *out, struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, name);

    *out = def;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_str_to_i64(v, min, max, out) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "redis store: invalid %s %s", name, v);
    return DC_OK;
}

/* go-redis durations: a bare integer is milliseconds, else a Go duration; negative = none. */
static int md_duration_ms(const struct sdc_md *md, const char *name, int64_t def, int64_t *out,
                          struct dc_errbuf *eb)
{
    const char *v = sdc_md_get(md, name);
    int64_t ns;

    *out = def;
    if (dc_str_empty(v))
        return DC_OK;
    if (dc_duration_parse_ms_or_go(v, &ns, NULL) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "redis store: invalid %s %s", name, v);
    *out = ns < 0 ? -1 : ns / 1000000;
    return DC_OK;
}

static struct timeval ms_tv(int64_t ms)
{
    struct timeval tv = {0, 0};

    if (ms > 0) {
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    }
    return tv;
}

static bool md_true(const struct sdc_md *md, const char *name)
{
    return dc_str_truthy(sdc_md_get(md, name));
}

/* "host:port", "[v6]:port" or "host" (port 6379). */
static int parse_host(struct rd_store *s, const char *v, struct dc_errbuf *eb)
{
    const char *colon;
    int64_t port = RD_DEFAULT_PORT;
    size_t hlen;

    if (strchr(v, ',') != NULL)
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "redis store: several hosts in redisHost need redisType cluster, "
                          "which is not supported");
    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (end == NULL)
            return dc_err_set(eb, DC_EINVAL, "redis store: invalid redisHost %s", v);
        hlen = (size_t)(end - v - 1);
        v++;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(v, ':');
        hlen = colon != NULL ? (size_t)(colon - v) : strlen(v);
    }
    if (colon != NULL && dc_str_to_i64(colon + 1, 1, 65535, &port) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "redis store: invalid port in redisHost %s", v);
    if (hlen == 0 || hlen >= sizeof(s->host))
        return dc_err_set(eb, DC_EINVAL, "redis store: invalid redisHost %s", v);
    memcpy(s->host, v, hlen);
    s->host[hlen] = '\0';
    s->port = (int)port;
    return DC_OK;
}

static int parse_metadata(struct rd_store *s, const struct sdc_md *md, struct dc_errbuf *eb)
{
    const char *host = sdc_md_get(md, "redisHost");
    const char *type = sdc_md_get(md, "redisType");
    int64_t dial, rd, wr, pool;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int rv;

    if (dc_str_empty(host))
        return dc_err_set(eb, DC_EINVAL, "redis store: redisHost is required");
    if (!dc_str_empty(type) && strcasecmp(type, "node") != 0)
        return dc_err_set(eb, DC_EUNSUPPORTED, "redis store: redisType %s is not supported", type);
    if (md_true(md, "failover"))
        return dc_err_set(eb, DC_EUNSUPPORTED, "redis store: failover (Sentinel) is not supported");
    if (md_true(md, "enableTLS"))
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "redis store: enableTLS is not supported: Debian's hiredis 0.14 "
                          "has no TLS (hiredis_ssl)");
    if (!dc_str_empty(sdc_md_get(md, "queryIndexes")))
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "redis store: queryIndexes needs RediSearch, which is not available");
    rv = parse_host(s, host, eb);
    if (rv == DC_OK)
        rv = md_int(md, "redisDB", 0, 0, 1 << 20, &s->db, eb);
    if (rv == DC_OK)
        rv = md_int(md, "redisMaxRetries", 3, -1, 100, &s->max_retries, eb);
    if (rv == DC_OK)
        rv = md_duration_ms(md, "dialTimeout", 5000, &dial, eb);
    if (rv == DC_OK)
        rv = md_duration_ms(md, "readTimeout", 3000, &rd, eb);
    if (rv == DC_OK)
        rv = md_duration_ms(md, "writeTimeout", rd, &wr, eb);
    if (rv == DC_OK)
        rv = md_int(md, "poolSize", 10 * (ncpu > 0 ? ncpu : 1), 1, 100000, &pool, eb);
    if (rv == DC_OK && !dc_str_empty(sdc_md_get(md, "ttlInSeconds"))) {
        rv = md_int(md, "ttlInSeconds", 0, -1, INT32_MAX, &s->default_ttl, eb);
        s->has_default_ttl = true;
    }
    if (rv != DC_OK)
        return rv;
    if (s->max_retries < 0)
        s->max_retries = 0;
    s->dial_tv = ms_tv(dial > 0 ? dial : 5000);
    /* hiredis has one socket timeout for both directions: the larger one applies. */
    s->io_tv = ms_tv(rd < 0 || wr < 0 ? 0 : (rd > wr ? rd : wr));
    s->pool_wait_ms = (rd > 0 ? rd : 3000) + 1000; /* go-redis PoolTimeout */
    s->pool_size = (size_t)pool;
    if (!dc_str_empty(sdc_md_get(md, "redisPassword")))
        s->password = dc_xstrdup(sdc_md_get(md, "redisPassword"));
    if (!dc_str_empty(sdc_md_get(md, "redisUsername")))
        s->username = dc_xstrdup(sdc_md_get(md, "redisUsername"));
    return DC_OK;
}

/* ---- connections ---- */

static bool reply_is_err(const redisReply *r, const char *prefix)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           strncmp(r->str, prefix, strlen(prefix)) == 0;
}

/* Error replies that mean "the server is there but cannot serve yet". */
static bool reply_unavailable(const redisReply *r)
{
    return reply_is_err(r, "LOADING") || reply_is_err(r, "MASTERDOWN") ||
           reply_is_err(r, "TRYAGAIN") || reply_is_err(r, "BUSY ");
}

/* Append all commands, then read one reply each. On an I/O error `*broken` is set and the
 * context must be discarded. */
static int roundtrip(redisContext *c, const struct rd_cmd *cmds, size_t n, redisReply **rep,
                     bool *broken, struct dc_errbuf *eb)
{
    size_t got = 0;

    for (size_t i = 0; i < n; i++)
        if (redisAppendCommandArgv(c, cmds[i].argc, cmds[i].argv, cmds[i].lens) != REDIS_OK)
            goto io;
    for (; got < n; got++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK)
            goto io;
        rep[got] = r;
    }
    return DC_OK;
io:
    for (size_t i = 0; i < got; i++)
        freeReplyObject(rep[i]);
    *broken = true;
    return dc_err_set(eb, DC_EUNAVAIL, "redis: %s",
                      c->err == REDIS_ERR_IO && errno == EAGAIN ? "i/o timeout" : c->errstr);
}

static int simple_cmd(redisContext *c, int argc, const char **argv, struct dc_errbuf *eb)
{
    struct rd_cmd cmd = {argc, argv, NULL};
    redisReply *r = NULL;
    bool broken = false;
    int rv = roundtrip(c, &cmd, 1, &r, &broken, eb);

    if (rv != DC_OK)
        return rv;
    if (r->type == REDIS_REPLY_ERROR)
        rv = dc_err_set(eb, reply_unavailable(r) ? DC_EUNAVAIL : DC_EIO, "redis: %s %s", argv[0],
                        r->str);
    freeReplyObject(r);
    return rv;
}

static int rd_connect(struct rd_store *s, redisContext **out, struct dc_errbuf *eb)
{
    redisContext *c = redisConnectWithTimeout(s->host, s->port, s->dial_tv);
    char db[24];
    int rv;

    if (c == NULL)
        return dc_err_set(eb, DC_ENOMEM, "redis: cannot allocate a context");
    if (c->err != 0) {
        rv = dc_err_set(eb, DC_EUNAVAIL, "redis: dial tcp %s:%d: %s", s->host, s->port, c->errstr);
        redisFree(c);
        return rv;
    }
    if ((s->io_tv.tv_sec != 0 || s->io_tv.tv_usec != 0) && redisSetTimeout(c, s->io_tv) != REDIS_OK)
        goto io;
    (void)redisEnableKeepAlive(c);
    if (s->password != NULL) {
        const char *argv[3] = {"AUTH", s->username, s->password};
        rv = s->username != NULL ? simple_cmd(c, 3, argv, eb)
                                 : simple_cmd(c, 2, (const char *[]){"AUTH", s->password}, eb);
        if (rv != DC_OK)
            goto fail;
    }
    if (s->db != 0) {
        snprintf(db, sizeof(db), "%lld", (long long)s->db);
        rv = simple_cmd(c, 2, (const char *[]){"SELECT", db}, eb);
        if (rv != DC_OK)
            goto fail;
    }
    *out = c;
    return DC_OK;
io:
    rv = dc_err_set(eb, DC_EUNAVAIL, "redis: %s", c->errstr);
fail:
    redisFree(c);
    return rv;
}

static int pool_connect(void *ud, void **conn, struct dc_errbuf *eb)
{
    return rd_connect(ud, (redisContext **)conn, eb);
}

static void pool_close(void *ud, void *conn)
{
    (void)ud;
    redisFree(conn);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms % 1000) * 1000000)};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Run a pipeline of `n` commands; on DC_OK `rep[0..n)` are replies the caller frees (error
 * replies included). Connection failures are retried (see the file comment). */
static int rd_run(struct rd_store *s, const struct rd_cmd *cmds, size_t n, redisReply **rep,
                  struct dc_errbuf *eb)
{
    int64_t backoff = RD_BACKOFF_MIN_MS;
    int64_t retries = 0;
    int stale = 0;

    for (;;) {
        void *c = NULL;
        bool fresh = false, broken = false;
        int rv = dc_pool_get(s->pool, &c, &fresh, eb);

        if (rv == DC_OK) {
            rv = roundtrip(c, cmds, n, rep, &broken, eb);
            dc_pool_put(s->pool, c, broken);
            if (rv == DC_OK)
                return DC_OK;
            /* A pooled connection that died while idle: try again at once on a new one. */
            if (!fresh && stale++ < 2)
                continue;
        }
        if (rv != DC_EUNAVAIL || retries++ >= s->max_retries)
            return rv;
        sleep_ms(backoff);
        backoff = backoff * 2 > RD_BACKOFF_MAX_MS ? RD_BACKOFF_MAX_MS : backoff * 2;
    }
}

/* EVALSHA a script, loading it with EVAL when the server does not know it (after a restart).
 * `argv[0]` and `argv[1]` are filled here. On DC_OK `*out` is the reply (maybe an error). */
static int rd_eval(struct rd_store *s, enum rd_script which, int argc, const char **argv,
                   size_t *lens, redisReply **out, struct dc_errbuf *eb)
{
    struct rd_cmd cmd = {argc, argv, lens};
    int rv;

    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = s->sha[which];
    lens[1] = 40;
    rv = rd_run(s, &cmd, 1, out, eb);
    if (rv != DC_OK || !reply_is_err(*out, "NOSCRIPT"))
        return rv;
    freeReplyObject(*out);
    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = scripts[which];
    lens[1] = strlen(scripts[which]);
    return rd_run(s, &cmd, 1, out, eb);
}

/* ---- operations ---- */

/* ETags are version numbers: anything else is malformed (upstream strconv.Atoi). An empty
 * ETag counts as none. Writes the normalised form into `out` ("" for none). */
static int norm_etag(const char *etag, char out[24], struct dc_errbuf *eb)
{
    int64_t v;

    out[0] = '\0';
    if (dc_str_empty(etag))
        return DC_OK;
    if (dc_str_to_i64(etag, INT64_MIN, INT64_MAX, &v) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "invalid etag value: %s", etag);
    snprintf(out, 24, "%lld", (long long)v);
    return DC_OK;
}

/* The TTL argument of the scripts: the request's, else the store-wide default, else "". */
static void ttl_arg(const struct rd_store *s, const struct sdc_state_set *r, char out[24])
{
    out[0] = '\0';
    if (r->has_ttl)
        snprintf(out, 24, "%lld", (long long)r->ttl_s);
    else if (s->has_default_ttl)
        snprintf(out, 24, "%lld", (long long)s->default_ttl);
}

/* The scripts fail with "ETAGMISMATCH <op index>" (servers that want an error code first
 * may prefix "ERR "). Returns the 1-based index, or 0 for another reply. */
static long etag_mismatch(const redisReply *r)
{
    const char *p;

    if (r->type != REDIS_REPLY_ERROR || r->str == NULL)
        return 0;
    p = r->str;
    if (strncmp(p, "ERR ", 4) == 0)
        p += 4;
    if (strncmp(p, "ETAGMISMATCH ", 13) != 0)
        return 0;
    return strtol(p + 13, NULL, 10) > 0 ? strtol(p + 13, NULL, 10) : 1;
}

static int script_result(redisReply *r, const char *key, struct dc_errbuf *eb)
{
    int rv = DC_OK;

    if (r->type == REDIS_REPLY_ERROR) {
        if (etag_mismatch(r) > 0)
            rv = dc_err_set(eb, DC_ECONFLICT, "etag mismatch for key %s", key);
        else
            rv = dc_err_set(eb, reply_unavailable(r) ? DC_EUNAVAIL : DC_EIO,
                            "redis: failed to write key %s: %s", key, r->str);
    }
    freeReplyObject(r);
    return rv;
}

static int rd_set(void *self, const struct sdc_state_set *r, struct dc_errbuf *eb)
{
    struct rd_store *s = self;
    char etag[24], ttl[24];
    const char *argv[8];
    size_t lens[8];
    redisReply *rep;
    int rv = norm_etag(r->etag, etag, eb);

    if (rv != DC_OK)
        return rv;
    ttl_arg(s, r, ttl);
    argv[2] = "1";
    argv[3] = r->key;
    argv[4] = etag;
    argv[5] = r->value != NULL ? (const char *)r->value : "";
    argv[6] = r->concurrency == SDC_STATE_FIRST_WRITE ? "1" : "0";
    argv[7] = ttl;
    for (int i = 2; i < 8; i++)
        lens[i] = strlen(argv[i]);
    lens[5] = r->value_len;
    rv = rd_eval(s, RD_SET, 8, argv, lens, &rep, eb);
    if (rv != DC_OK)
        return rv;
    return script_result(rep, r->key, eb);
}

static int rd_del(void *self, const struct sdc_state_del *r, struct dc_errbuf *eb)
{
    struct rd_store *s = self;
    char etag[24];
    const char *argv[5];
    size_t lens[5];
    redisReply *rep;
    int rv = norm_etag(r->etag, etag, eb);

    if (rv != DC_OK)
        return rv;
    argv[2] = "1";
    argv[3] = r->key;
    argv[4] = etag;
    for (int i = 2; i < 5; i++)
        lens[i] = strlen(argv[i]);
    rv = rd_eval(s, RD_DEL, 5, argv, lens, &rep, eb);
    if (rv != DC_OK)
        return rv;
    return script_result(rep, r->key, eb);
}

/* Fill `out` from HGETALL's field/value array. */
static int from_hash(const redisReply *h, struct sdc_state_value *out, struct dc_errbuf *eb)
{
    const redisReply *data = NULL, *version = NULL;

    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        if (f->type != REDIS_REPLY_STRING)
            continue;
        if (f->len == 4 && memcmp(f->str, "data", 4) == 0)
            data = h->element[i + 1];
        else if (f->len == 7 && memcmp(f->str, "version", 7) == 0)
            version = h->element[i + 1];
    }
    if (data == NULL || version == NULL || data->type != REDIS_REPLY_STRING ||
        version->type != REDIS_REPLY_STRING || version->len >= sizeof(out->etag))
        return dc_err_set(eb, DC_EIO, "required hash field 'data' or 'version' was not found");
    if (dc_buf_append(&out->data, data->str, data->len) != DC_OK)
        return dc_err_set(eb, DC_ETOOBIG, "value too large");
    memcpy(out->etag, version->str, version->len);
    out->etag[version->len] = '\0';
    out->found = true;
    return DC_OK;
}

/* A key holding a plain string (written before ETags existed): upstream reads it with GET. */
static int direct_get(struct rd_store *s, const char *key, struct sdc_state_value *out,
                      struct dc_errbuf *eb)
{
    const char *argv[2] = {"GET", key};
    struct rd_cmd cmd = {2, argv, NULL};
    redisReply *r;
    int rv = rd_run(s, &cmd, 1, &r, eb);

    if (rv != DC_OK)
        return rv;
    if (r->type == REDIS_REPLY_STRING) {
        if (dc_buf_append(&out->data, r->str, r->len) != DC_OK)
            rv = dc_err_set(eb, DC_ETOOBIG, "value too large");
        else
            out->found = true;
    } else if (r->type == REDIS_REPLY_ERROR) {
        rv = dc_err_set(eb, DC_EIO, "redis: GET %s: %s", key, r->str);
    }
    freeReplyObject(r);
    return rv;
}

static int rd_get(void *self, const struct sdc_state_get *req, struct sdc_state_value *out,
                  struct dc_errbuf *eb)
{
    struct rd_store *s = self;
    const char *a1[2] = {"HGETALL", req->key}, *a2[2] = {"PTTL", req->key};
    struct rd_cmd cmds[2] = {{2, a1, NULL}, {2, a2, NULL}};
    redisReply *rep[2];
    int rv;

    out->found = false;
    out->etag[0] = '\0';
    out->content_type[0] = '\0';
    out->expire_unix_ms = 0;
    rv = rd_run(s, cmds, 2, rep, eb);
    if (rv != DC_OK)
        return rv;
    if (reply_is_err(rep[0], "WRONGTYPE")) {
        rv = direct_get(s, req->key, out, eb);
    } else if (rep[0]->type == REDIS_REPLY_ERROR) {
        rv = dc_err_set(eb, reply_unavailable(rep[0]) ? DC_EUNAVAIL : DC_EIO, "redis: %s",
                        rep[0]->str);
    } else if (rep[0]->type == REDIS_REPLY_ARRAY && rep[0]->elements > 0) {
        rv = from_hash(rep[0], out, eb);
    }
    if (rv == DC_OK && out->found && rep[1]->type == REDIS_REPLY_INTEGER && rep[1]->integer > 0)
        out->expire_unix_ms = dc_now_ns() / 1000000 + rep[1]->integer;
    freeReplyObject(rep[0]);
    freeReplyObject(rep[1]);
    return rv;
}

static int rd_multi(void *self, const struct sdc_state_op *ops, size_t n, struct dc_errbuf *eb)
{
    struct rd_store *s = self;
    size_t argc = 3 + n + RD_ARGS_PER_OP * n;
    const char **argv;
    size_t *lens;
    char(*nums)[2][24];
    char nkeys[24];
    redisReply *rep = NULL;
    int rv = DC_OK;

    if (n == 0)
        return DC_OK;
    if (n > INT32_MAX / (RD_ARGS_PER_OP + 2))
        return dc_err_set(eb, DC_ETOOBIG, "too many operations");
    argv = dc_xcalloc(argc, sizeof(*argv));
    lens = dc_xcalloc(argc, sizeof(*lens));
    nums = dc_xcalloc(n, sizeof(*nums));
    snprintf(nkeys, sizeof(nkeys), "%zu", n);
    argv[2] = nkeys;
    lens[2] = strlen(nkeys);
    for (size_t i = 0; i < n && rv == DC_OK; i++) {
        const struct sdc_state_op *op = &ops[i];
        bool up = op->kind == SDC_STATE_OP_UPSERT;
        size_t a = 3 + n + RD_ARGS_PER_OP * i;

        argv[3 + i] = up ? op->set.key : op->del.key;
        lens[3 + i] = strlen(argv[3 + i]);
        rv = norm_etag(up ? op->set.etag : op->del.etag, nums[i][0], eb);
        if (up)
            ttl_arg(s, &op->set, nums[i][1]);
        else
            nums[i][1][0] = '\0';
        argv[a] = up ? "s" : "d";
        argv[a + 1] = nums[i][0];
        argv[a + 2] = up && op->set.value != NULL ? (const char *)op->set.value : "";
        argv[a + 3] = up && op->set.concurrency == SDC_STATE_FIRST_WRITE ? "1" : "0";
        argv[a + 4] = nums[i][1];
        for (size_t j = a; j < a + RD_ARGS_PER_OP; j++)
            lens[j] = strlen(argv[j]);
        if (up)
            lens[a + 2] = op->set.value_len;
    }
    if (rv == DC_OK)
        rv = rd_eval(s, RD_MULTI, (int)argc, argv, lens, &rep, eb);
    if (rv == DC_OK && rep->type == REDIS_REPLY_ERROR) {
        long idx = etag_mismatch(rep);
        if (idx > 0) {
            rv = dc_err_set(eb, DC_ECONFLICT, "etag mismatch for key %s",
                            idx >= 1 && (size_t)idx <= n ? argv[3 + idx - 1] : "?");
        } else {
            rv = dc_err_set(eb, reply_unavailable(rep) ? DC_EUNAVAIL : DC_EIO,
                            "redis: transaction failed: %s", rep->str);
        }
    }
    if (rep != NULL)
        freeReplyObject(rep);
    free(nums);
    free(lens);
    free(argv);
    return rv;
}

/* ---- lifecycle ---- */

static void rd_close(void *self)
{
    struct rd_store *s = self;

    if (s == NULL)
        return;
    dc_pool_free(s->pool);
    free(s->username);
    if (s->password != NULL) {
        memset(s->password, 0, strlen(s->password));
        free(s->password);
    }
    free(s);
}

static int rd_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    struct rd_store *s = dc_xcalloc(1, sizeof(*s));
    struct dc_pool_config pc = {0, 0, pool_connect, pool_close, s};
    int64_t retries;
    int rv;

    for (int i = 0; i < RD_NSCRIPTS; i++) {
        unsigned char md_[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)scripts[i], strlen(scripts[i]), md_);
        for (int j = 0; j < SHA_DIGEST_LENGTH; j++)
            snprintf(&s->sha[i][2 * j], 3, "%02x", md_[j]);
    }
    rv = parse_metadata(s, md, eb);
    if (rv != DC_OK)
        goto fail;
    pc.max_size = s->pool_size;
    pc.wait_ms = s->pool_wait_ms;
    rv = dc_pool_new(&s->pool, &pc, eb);
    if (rv != DC_OK)
        goto fail;
    /* The first connection within the init timeout; no retries beyond it. */
    if (ctx != NULL && ctx->timeout_ms > 0) {
        int64_t dial = s->dial_tv.tv_sec * 1000 + s->dial_tv.tv_usec / 1000;
        if (ctx->timeout_ms < dial)
            s->dial_tv = ms_tv(ctx->timeout_ms);
    }
    retries = s->max_retries;
    s->max_retries = 0;
    {
        const char *argv[1] = {"PING"};
        struct rd_cmd cmd = {1, argv, NULL};
        redisReply *r;
        rv = rd_run(s, &cmd, 1, &r, eb);
        if (rv == DC_OK) {
            if (r->type == REDIS_REPLY_ERROR)
                rv = dc_err_set(eb, DC_EIO, "redis: PING: %s", r->str);
            freeReplyObject(r);
        }
    }
    s->max_retries = retries;
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "redis store: error connecting to redis at %s:%d", s->host, s->port);
        goto fail;
    }
    {
        int64_t dial;
        if (md_duration_ms(md, "dialTimeout", 5000, &dial, NULL) == DC_OK)
            s->dial_tv = ms_tv(dial > 0 ? dial : 5000);
    }
    *self = s;
    return DC_OK;
fail:
    rd_close(s);
    return rv;
}

static const struct sdc_state_ops redis_ops = {
    .base = {.init = rd_init, .close = rd_close},
    .features =
        SDC_STATE_F_ETAG | SDC_STATE_F_TRANSACTIONAL | SDC_STATE_F_TTL | SDC_STATE_F_KEYS_LIKE,
    .get = rd_get,
    .set = rd_set,
    .del = rd_del,
    .multi = rd_multi,
    .query = NULL,
};

const struct sdc_component_type sdc_type_state_redis = {"state.redis", "v1", SDC_CAT_STATE,
                                                        &redis_ops.base};
