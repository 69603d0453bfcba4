/* gRPC wire helpers without I/O: status names, metadata lists, the length-prefixed message
 * decoder, grpc-timeout, grpc-message percent-encoding and base64 for -bin metadata.
 * Spec: grpc/doc/PROTOCOL-HTTP2.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/base64.h"
#include "dc/grpc.h"
#include "dc/mem.h"
#include "dc/str.h"

static const char *const code_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *dc_grpc_code_name(int code)
{
    if (code < 0 || code > DC_GRPC_UNAUTHENTICATED)
        return "UNKNOWN_CODE";
    return code_names[code];
}

int dc_grpc_code_to_err(int code)
{
    switch (code) {
    case DC_GRPC_OK:
        return DC_OK;
    case DC_GRPC_DEADLINE_EXCEEDED:
        return DC_ETIMEDOUT;
    case DC_GRPC_NOT_FOUND:
        return DC_ENOTFOUND;
    case DC_GRPC_UNAVAILABLE:
        return DC_EUNAVAIL;
    case DC_GRPC_PERMISSION_DENIED:
    case DC_GRPC_UNAUTHENTICATED:
        return DC_EPERM;
    case DC_GRPC_INVALID_ARGUMENT:
        return DC_EINVAL;
    case DC_GRPC_RESOURCE_EXHAUSTED:
        return DC_ETOOBIG;
    case DC_GRPC_CANCELLED:
        return DC_ECANCELED;
    case DC_GRPC_ALREADY_EXISTS:
        return DC_EEXIST;
    case DC_GRPC_UNIMPLEMENTED:
        return DC_EUNSUPPORTED;
    default:
        return DC_EIO;
    }
}

/* ---- metadata ---- */

static size_t md_total(const struct dc_grpc_metadata *md)
{
    size_t t = 0;
    for (size_t i = 0; i < md->n; i++)
        t += strlen(md->v[i].key) + md->v[i].value_len;
    return t;
}

static bool md_key_reserved(const char *key)
{
    return key[0] == ':' || dc_str_has_prefix(key, "grpc-") || strcmp(key, "content-type") == 0 ||
           strcmp(key, "te") == 0;
}

static void md_push(struct dc_grpc_metadata *md, const char *key, const void *value, size_t len)
{
    struct dc_grpc_md_entry *e;

    if (md->n == md->cap) {
        md->cap = md->cap ? md->cap * 2 : 8;
        md->v = dc_xrealloc(md->v, md->cap * sizeof(*md->v));
    }
    e = &md->v[md->n++];
    e->key = dc_xstrdup(key);
    e->value = dc_xmalloc(len + 1);
    if (len > 0)
        memcpy(e->value, value, len);
    e->value[len] = '\0';
    e->value_len = len;
}

int dc_grpc_md_add(struct dc_grpc_metadata *md, const char *key, const void *value, size_t len,
                   struct dc_errbuf *eb)
{
    const unsigned char *v = value;

    if (key == NULL || key[0] == '\0' || md_key_reserved(key))
        return dc_err_set(eb, DC_EINVAL, "metadata key \"%s\" is reserved or empty",
                          key ? key : "");
    for (const char *k = key; *k; k++) {
        if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '-' ||
              *k == '.'))
            return dc_err_set(eb, DC_EINVAL, "metadata key \"%s\": invalid character", key);
    }
    if (!dc_str_has_suffix(key, "-bin")) {
        for (size_t i = 0; i < len; i++) {
            if (v[i] < 0x20 || v[i] > 0x7e)
                return dc_err_set(eb, DC_EINVAL, "metadata \"%s\": non-printable value", key);
        }
    }
    if (md_total(md) + strlen(key) + len > DC_GRPC_MAX_METADATA)
        return dc_err_set(eb, DC_ETOOBIG, "metadata over %u bytes", DC_GRPC_MAX_METADATA);
    md_push(md, key, value, len);
    return DC_OK;
}

const char *dc_grpc_md_get(const struct dc_grpc_metadata *md, const char *key, size_t *len)
{
    for (size_t i = 0; md != NULL && i < md->n; i++) {
        if (strcmp(md->v[i].key, key) == 0) {
            if (len != NULL)
                *len = md->v[i].value_len;
            return md->v[i].value;
        }
    }
    return NULL;
}

void dc_grpc_md_copy(struct dc_grpc_metadata *dst, const struct dc_grpc_metadata *src)
{
    for (size_t i = 0; src != NULL && i < src->n; i++)
        md_push(dst, src->v[i].key, src->v[i].value, src->v[i].value_len);
}

void dc_grpc_md_cleanup(struct dc_grpc_metadata *md)
{
    for (size_t i = 0; i < md->n; i++) {
        free(md->v[i].key);
        free(md->v[i].value);
    }
    free(md->v);
    memset(md, 0, sizeof(*md));
}

void dc_grpc_status_cleanup(struct dc_grpc_status *st)
{
    if (st == NULL)
        return;
    free(st->message);
    dc_grpc_md_cleanup(&st->trailers);
    memset(st, 0, sizeof(*st));
}

/* ---- length-prefixed messages ---- */

void dc_grpc_decoder_init(struct dc_grpc_decoder *d, size_t max)
{
    memset(d, 0, sizeof(*d));
    d->max = max;
}

void dc_grpc_decoder_cleanup(struct dc_grpc_decoder *d)
{
    free(d->msg);
    d->msg = NULL;
    d->in_msg = false;
    d->hdr_have = 0;
}

bool dc_grpc_decoder_idle(const struct dc_grpc_decoder *d)
{
    return !d->in_msg && d->hdr_have == 0;
}

int dc_grpc_decoder_feed(struct dc_grpc_decoder *d, const uint8_t *data, size_t len, size_t *used,
                         uint8_t **msg, size_t *msg_len)
{
    size_t pos = 0, n;

    *msg = NULL;
    *msg_len = 0;
    while (pos < len || (d->in_msg && d->msg_have == d->msg_len)) {
        if (!d->in_msg) {
            n = 5 - d->hdr_have;
            if (n > len - pos)
                n = len - pos;
            memcpy(d->hdr + d->hdr_have, data + pos, n);
            d->hdr_have += n;
            pos += n;
            if (d->hdr_have < 5)
                break;
            d->msg_len = (size_t)d->hdr[1] << 24 | (size_t)d->hdr[2] << 16 |
                         (size_t)d->hdr[3] << 8 | (size_t)d->hdr[4];
            *used = pos;
            /* PROTOCOL-HTTP2.md: Compressed-Flag 1 needs a grpc-encoding; we accept identity only.
             */
            if (d->hdr[0] != 0)
                return DC_EUNSUPPORTED;
            if (d->msg_len > d->max) {
                *msg_len = d->msg_len;
                return DC_ETOOBIG;
            }
            d->msg = dc_xmalloc(d->msg_len ? d->msg_len : 1);
            d->msg_have = 0;
            d->in_msg = true;
        }
        n = d->msg_len - d->msg_have;
        if (n > len - pos)
            n = len - pos;
        if (n > 0)
            memcpy(d->msg + d->msg_have, data + pos, n);
        d->msg_have += n;
        pos += n;
        if (d->msg_have == d->msg_len) {
            *msg = d->msg;
            *msg_len = d->msg_len;
            d->msg = NULL;
            d->in_msg = false;
            d->hdr_have = 0;
            break;
        }
    }
    *used = pos;
    return DC_OK;
}

/* ---- grpc-timeout ---- */

int dc_grpc_timeout_parse(const char *s, int64_t *ms)
{
    size_t n = s ? strlen(s) : 0;
    int64_t v = 0, unit_ns;

    /* PROTOCOL-HTTP2.md: TimeoutValue is at most 8 ASCII digits, then one unit. */
    if (n < 2 || n > 9)
        return DC_EPARSE;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return DC_EPARSE;
        v = v * 10 + (s[i] - '0');
    }
    switch (s[n - 1]) {
    case 'H':
        *ms = v * 3600 * 1000;
        return DC_OK;
    case 'M':
        *ms = v * 60 * 1000;
        return DC_OK;
    case 'S':
        *ms = v * 1000;
        return DC_OK;
    case 'm':
        *ms = v;
        return DC_OK;
    case 'u':
        unit_ns = 1000;
        break;
    case 'n':
        unit_ns = 1;
        break;
    default:
        return DC_EPARSE;
    }
    *ms = (v * unit_ns + 999999) / 1000000;
    return DC_OK;
}

void dc_grpc_timeout_format(int64_t ms, char *out)
{
    static const struct {
        char unit;
        int64_t per_ms_num; /* value = ms * num / den */
        int64_t den;
    } units[] = {{'u', 1000, 1}, {'m', 1, 1}, {'S', 1, 1000}, {'M', 1, 60000}, {'H', 1, 3600000}};
    int64_t v;

    if (ms < 1)
        ms = 1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        /* Round up so the peer never sees a shorter deadline than ours. */
        v = (ms * units[i].per_ms_num + units[i].den - 1) / units[i].den;
        if (v <= 99999999 || i + 1 == sizeof(units) / sizeof(units[0])) {
            if (v > 99999999)
                v = 99999999;
            (void)snprintf(out, DC_GRPC_TIMEOUT_LEN, "%lld%c", (long long)v, units[i].unit);
            return;
        }
    }
}

/* ---- grpc-message ---- */

int dc_grpc_message_encode(const char *msg, struct dc_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    int rv = DC_OK;

    dc_buf_reset(out);
    rv = dc_buf_append(out, "", 0);
    for (const unsigned char *p = (const unsigned char *)msg; rv == DC_OK && *p; p++) {
        if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
            rv = dc_buf_appendc(out, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rv = dc_buf_append(out, e, 3);
        }
    }
    return rv;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *dc_grpc_message_decode(const char *s, size_t len)
{
    char *out = dc_xmalloc(len + 1);
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *dc_grpc_b64_encode(const void *p, size_t len, size_t *out_len)
{
    const uint8_t *s = p;
    char *out = dc_xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0, i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return out;
}

uint8_t *dc_grpc_b64_decode(const char *s, size_t len, size_t *out_len)
{
    uint8_t *out;
    uint32_t acc = 0;
    size_t o = 0, bits = 0;

    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return NULL;
    out = dc_xmalloc(len / 4 * 3 + 3);
    for (size_t i = 0; i < len; i++) {
        int v = dc_base64_value((unsigned char)s[i], false);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}
