/* Watch streams: the incremental NDJSON decoder (pure) and the streaming WATCH request.
 *
 * The API server sends one JSON object per line, {"type": T, "object": O}, over a chunked
 * response; curl hands us the de-chunked bytes in arbitrary pieces. A line that is complete inside
 * one piece is parsed in place; only a line split across pieces is copied into the bounded
 * `line` buffer. */
#include "dc/k8s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "k8s_internal.h"

/* Storage kept between events; a buffer grown past this for a big event is released. */
#define K8S_LINE_KEEP (64u * 1024)

const char *dc_k8s_event_name(enum dc_k8s_event_type t)
{
    switch (t) {
    case DC_K8S_ADDED:
        return "ADDED";
    case DC_K8S_MODIFIED:
        return "MODIFIED";
    case DC_K8S_DELETED:
        return "DELETED";
    case DC_K8S_BOOKMARK:
        return "BOOKMARK";
    case DC_K8S_ERROR:
        return "ERROR";
    }
    return "?";
}

static int event_type(const char *s, enum dc_k8s_event_type *out)
{
    static const enum dc_k8s_event_type all[] = {DC_K8S_ADDED, DC_K8S_MODIFIED, DC_K8S_DELETED,
                                                 DC_K8S_BOOKMARK, DC_K8S_ERROR};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, dc_k8s_event_name(all[i])) == 0) {
            *out = all[i];
            return DC_OK;
        }
    }
    return DC_EPARSE;
}

void dc_k8s_watch_decoder_init(struct dc_k8s_watch_decoder *d, size_t max)
{
    memset(d, 0, sizeof(*d));
    dc_buf_init(&d->line, max != 0 ? max : DC_MAX_K8S_WATCH_EVENT);
}

void dc_k8s_watch_decoder_cleanup(struct dc_k8s_watch_decoder *d)
{
    dc_buf_cleanup(&d->line);
}

static bool all_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* Decode one complete line (without its '\n'). */
static int decode_line(const char *p, size_t n, dc_k8s_event_fn fn, void *arg, struct dc_errbuf *eb)
{
    cJSON *ev, *obj;
    const char *type, *end = NULL;
    enum dc_k8s_event_type t;
    int rv;

    if (all_space(p, n))
        return DC_OK;
    ev = cJSON_ParseWithLengthOpts(p, n, &end, false);
    /* One object per line: anything but blanks after it is garbage. */
    if (!cJSON_IsObject(ev) || !all_space(end, n - (size_t)(end - p))) {
        cJSON_Delete(ev);
        return dc_err_set(eb, DC_EPARSE, "watch: event is not a JSON object: %.*s",
                          (int)(n > 80 ? 80 : n), p);
    }
    type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
    obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
    if (type == NULL || event_type(type, &t) != DC_OK) {
        rv =
            dc_err_set(eb, DC_EPARSE, "watch: unknown event type \"%s\"", type != NULL ? type : "");
    } else if (!cJSON_IsObject(obj)) {
        rv = dc_err_set(eb, DC_EPARSE, "watch: %s event without an object", type);
    } else {
        rv = fn(arg, t, obj, ev);
    }
    cJSON_Delete(ev);
    return rv;
}

int dc_k8s_watch_decode(struct dc_k8s_watch_decoder *d, const char *data, size_t n,
                        dc_k8s_event_fn fn, void *arg, struct dc_errbuf *eb)
{
    int rv = DC_OK;

    if (d->failed)
        return dc_err_set(eb, DC_EINVAL, "watch: decoder already failed");
    while (n > 0 && rv == DC_OK) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl - data) : n;

        if (nl == NULL || d->line.len > 0) {
            /* Part of a line that spans pieces: keep it, within the limit. */
            if (dc_buf_append(&d->line, data, take) != DC_OK) {
                rv = dc_err_set(eb, DC_ETOOBIG, "watch: event larger than %zu bytes", d->line.max);
                break;
            }
            if (nl == NULL)
                break;
            rv = decode_line(d->line.data, d->line.len, fn, arg, eb);
            if (d->line.cap > K8S_LINE_KEEP)
                dc_buf_cleanup(&d->line);
            else
                dc_buf_reset(&d->line);
        } else if (take > d->line.max) {
            rv = dc_err_set(eb, DC_ETOOBIG, "watch: event larger than %zu bytes", d->line.max);
        } else {
            rv = decode_line(data, take, fn, arg, eb);
        }
        data += take + 1;
        n -= take + 1;
    }
    if (rv != DC_OK)
        d->failed = true;
    return rv;
}

int dc_k8s_watch_decoder_finish(struct dc_k8s_watch_decoder *d, struct dc_errbuf *eb)
{
    if (d->failed)
        return dc_err_set(eb, DC_EINVAL, "watch: decoder already failed");
    if (d->line.len > 0 && !all_space(d->line.data, d->line.len))
        return dc_err_set(eb, DC_EPARSE, "watch: stream ended inside an event (%zu bytes)",
                          d->line.len);
    return DC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The streaming request */

struct watch_sink {
    struct dc_k8s_watch_decoder dec;
    dc_k8s_event_fn fn;
    void *arg;
};

static int watch_sink(struct k8s_xfer *x, const char *p, size_t n)
{
    struct watch_sink *s = x->arg;
    return dc_k8s_watch_decode(&s->dec, p, n, s->fn, s->arg, x->eb);
}

static int watch_path(struct dc_buf *p, const struct dc_k8s_resource *res, const char *ns,
                      const struct dc_k8s_watch_opts *o)
{
    int rv = dc_k8s_path(p, res, ns, NULL, NULL);

    if (rv == DC_OK)
        rv = dc_buf_appends(p, "?watch=true");
    if (rv == DC_OK && o->bookmarks)
        rv = dc_buf_appends(p, "&allowWatchBookmarks=true");
    if (rv == DC_OK && o->timeout_seconds > 0)
        rv = dc_buf_appendf(p, "&timeoutSeconds=%ld", o->timeout_seconds);
    if (rv == DC_OK && !dc_str_empty(o->resource_version)) {
        rv = dc_buf_appends(p, "&resourceVersion=");
        if (rv == DC_OK)
            rv = k8s_append_escaped(p, o->resource_version);
    }
    if (rv == DC_OK && !dc_str_empty(o->label_selector)) {
        rv = dc_buf_appends(p, "&labelSelector=");
        if (rv == DC_OK)
            rv = k8s_append_escaped(p, o->label_selector);
    }
    if (rv == DC_OK && !dc_str_empty(o->field_selector)) {
        rv = dc_buf_appends(p, "&fieldSelector=");
        if (rv == DC_OK)
            rv = k8s_append_escaped(p, o->field_selector);
    }
    return rv;
}

int dc_k8s_watch(struct dc_k8s_client *c, const struct dc_k8s_resource *res, const char *ns,
                 const struct dc_k8s_watch_opts *opts, dc_k8s_event_fn fn, void *arg,
                 struct dc_k8s_cancel *cancel, struct dc_errbuf *eb)
{
    static const struct dc_k8s_watch_opts none = {0};
    struct watch_sink sink = {.fn = fn, .arg = arg};
    struct dc_buf path = {0};
    struct k8s_xfer x;
    long stall;
    int rv;

    if (opts == NULL)
        opts = &none;
    if (watch_path(&path, res, ns, opts) != DC_OK) {
        dc_buf_cleanup(&path);
        return dc_err_set(eb, DC_EINVAL, "watch: bad resource");
    }
    /* No byte for this long means a dead connection: the server ends the watch itself after
     * timeout_seconds, and real servers send bookmarks about once a minute. */
    stall = (opts->timeout_seconds > 0 ? opts->timeout_seconds : 1800) + 30;
    for (int attempt = 0;; attempt++) {
        dc_k8s_watch_decoder_init(&sink.dec, 0);
        k8s_xfer_init(&x, c, "GET", dc_buf_cstr(&path), NULL, NULL, 0, true, stall);
        x.sink = watch_sink;
        x.arg = &sink;
        rv = k8s_xfer_run(&x, cancel, eb);
        if (rv == DC_OK && x.http_code == 401 && attempt == 0 && k8s_client_token_reload(c)) {
            k8s_xfer_cleanup(&x);
            dc_k8s_watch_decoder_cleanup(&sink.dec);
            continue;
        }
        break;
    }
    if (rv == DC_OK && (x.http_code < 200 || x.http_code >= 300))
        rv = dc_k8s_status_error(x.http_code, x.resp.data, x.resp.len, eb);
    else if (rv == DC_OK)
        rv = dc_k8s_watch_decoder_finish(&sink.dec, eb);
    k8s_xfer_cleanup(&x);
    dc_k8s_watch_decoder_cleanup(&sink.dec);
    dc_buf_cleanup(&path);
    return rv;
}
