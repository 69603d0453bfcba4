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
 * Connections and connection metadata: the shared redis client of redis_conn.h (a dc_pool of
 * blocking hiredis contexts opened lazily up to poolSize; a connection that fails is closed with
 * every idle one and the call retried on a fresh connection; connection errors are retried
 * redisMaxRetries times with a short exponential backoff, then DC_EUNAVAIL). */
#include "state_store.h"
#include "redis_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#define RD_ARGS_PER_OP 5 /* kind, etag, data, first-write, ttl (multi script) */

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
    struct sdc_redis *r;
    bool has_default_ttl;
    int64_t default_ttl;
    char sha[RD_NSCRIPTS][41];
};

/* EVALSHA a script, loading it with EVAL when the server does not know it (after a restart).
 * `argv[0]` and `argv[1]` are filled here. On DC_OK `*out` is the reply (maybe an error). */
static int rd_eval(struct rd_store *s, enum rd_script which, int argc, const char **argv,
                   size_t *lens, redisReply **out, struct dc_errbuf *eb)
{
    struct sdc_redis_cmd cmd = {argc, argv, lens};
    int rv;

    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = s->sha[which];
    lens[1] = 40;
    rv = sdc_redis_run(s->r, &cmd, 1, out, eb);
    if (rv != DC_OK || !sdc_redis_reply_is_err(*out, "NOSCRIPT"))
        return rv;
    freeReplyObject(*out);
    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = scripts[which];
    lens[1] = strlen(scripts[which]);
    return sdc_redis_run(s->r, &cmd, 1, out, eb);
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
            rv = dc_err_set(eb, sdc_redis_reply_unavailable(r) ? DC_EUNAVAIL : DC_EIO,
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
    struct sdc_redis_cmd cmd = {2, argv, NULL};
    redisReply *r;
    int rv = sdc_redis_run(s->r, &cmd, 1, &r, eb);

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
    struct sdc_redis_cmd cmds[2] = {{2, a1, NULL}, {2, a2, NULL}};
    redisReply *rep[2];
    int rv;

    out->found = false;
    out->etag[0] = '\0';
    out->content_type[0] = '\0';
    out->expire_unix_ms = 0;
    rv = sdc_redis_run(s->r, cmds, 2, rep, eb);
    if (rv != DC_OK)
        return rv;
    if (sdc_redis_reply_is_err(rep[0], "WRONGTYPE")) {
        rv = direct_get(s, req->key, out, eb);
    } else if (rep[0]->type == REDIS_REPLY_ERROR) {
        rv = dc_err_set(eb, sdc_redis_reply_unavailable(rep[0]) ? DC_EUNAVAIL : DC_EIO, "redis: %s",
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
            rv = dc_err_set(eb, sdc_redis_reply_unavailable(rep) ? DC_EUNAVAIL : DC_EIO,
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
    sdc_redis_close(s->r);
    free(s);
}

static int rd_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    struct rd_store *s = dc_xcalloc(1, sizeof(*s));
    int rv = DC_OK;

    for (int i = 0; i < RD_NSCRIPTS; i++) {
        unsigned char md_[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)scripts[i], strlen(scripts[i]), md_);
        for (int j = 0; j < SHA_DIGEST_LENGTH; j++)
            snprintf(&s->sha[i][2 * j], 3, "%02x", md_[j]);
    }
    if (!dc_str_empty(sdc_md_get(md, "queryIndexes"))) {
        rv = dc_err_set(eb, DC_EUNSUPPORTED,
                        "redis store: queryIndexes needs RediSearch, which is not available");
        goto fail;
    }
    if (!dc_str_empty(sdc_md_get(md, "ttlInSeconds"))) {
        rv = sdc_redis_md_int(md, "ttlInSeconds", 0, -1, INT32_MAX, &s->default_ttl, "redis store",
                              eb);
        if (rv != DC_OK)
            goto fail;
        s->has_default_ttl = true;
    }
    rv = sdc_redis_open(&s->r, md, "redis store", ctx != NULL ? ctx->timeout_ms : 0, false, eb);
    if (rv != DC_OK)
        goto fail;
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
