/* bindings.http (output; sidecar-api.md §22.5): one HTTP request per invocation.
 *
 * Operation = method (create is POST); metadata `path` is appended to `url`; metadata keys that
 * start with an upper-case letter become request headers; traceparent, tracestate and baggage
 * are forwarded. Bodies are sent for POST, PUT and PATCH with Content-Type
 * "application/json; charset=utf-8" unless given; Accept defaults to the same. The response
 * metadata holds statusCode, status ("200 OK") and every response header (canonical names,
 * repeated headers joined with ", "). Non-2xx answers are errors ("received status code N")
 * unless errorIfNot2XX is false (component or request metadata); the metadata and body are
 * returned either way. The body is cut silently at maxResponseBodySize (default 100Mi, at most
 * DC_BND_MAX_RESPONSE). MTLS* options are not supported (init fails). */
#include "bindings.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dc/http_client.h"
#include "dc/http_server.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#define HTTP_MAX_HEADERS 128

struct httpb {
    char *url;
    char *token;
    char *token_header;
    int64_t timeout_ms; /* 0: none */
    size_t max_body;
    bool error_if_not_2xx;
    struct dc_http_client *client;
};

/* Go's textproto.CanonicalMIMEHeaderKey for ASCII token names. */
static void canonical(char *s)
{
    bool up = true;

    for (; *s != '\0'; s++) {
        if (up && *s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
        else if (!up && *s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
        up = *s == '-';
    }
}

struct sink {
    struct dc_buf *out;
    size_t max;
};

static int on_body(const void *data, size_t len, void *ud)
{
    struct sink *s = ud;
    size_t room = s->max > s->out->len ? s->max - s->out->len : 0;

    /* io.LimitReader: the excess is dropped, not an error. */
    if (len > room)
        len = room;
    if (len > 0 && dc_buf_append(s->out, data, len) != DC_OK)
        return DC_ETOOBIG;
    return 0;
}

static bool valid_header(const char *name, const char *value)
{
    for (const char *p = name; *p != '\0'; p++)
        if (!isgraph((unsigned char)*p) || *p == ':')
            return false;
    return name[0] != '\0' && strpbrk(value, "\r\n") == NULL;
}

static int http_invoke(void *self, const struct sdc_binding_req *req, struct sdc_binding_resp *resp,
                       struct dc_errbuf *eb)
{
    struct httpb *h = self;
    const struct sdc_md *md = req->metadata;
    const char *path = sdc_md_get(md, "path"), *eifn = sdc_md_get(md, "errorIfNot2XX");
    const char *hdrs[HTTP_MAX_HEADERS + 8];
    char method[16], *url, **owned = dc_xcalloc(HTTP_MAX_HEADERS + 8, sizeof(char *));
    bool body, err2xx = h->error_if_not_2xx;
    struct dc_http_result res = {0};
    struct dc_http_call call = {0};
    struct sink sink = {&resp->data, h->max_body};
    size_t nh = 0, no = 0;
    int rv;

    dc_strlcpy(method, req->operation, sizeof(method));
    for (char *p = method; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    if (strcmp(method, "CREATE") == 0)
        dc_strlcpy(method, "POST", sizeof(method));
    body =
        strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0;
    if (!body && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
        strcmp(method, "DELETE") != 0 && strcmp(method, "OPTIONS") != 0 &&
        strcmp(method, "TRACE") != 0) {
        free(owned);
        return dc_err_set(eb, DC_EINVAL, "invalid operation: %s", req->operation);
    }
    if (!dc_str_empty(eifn))
        err2xx = dc_str_truthy(eifn);
    if (!dc_str_empty(path)) {
        size_t ul = strlen(h->url);
        while (ul > 0 && h->url[ul - 1] == '/')
            ul--;
        while (*path == '/')
            path++;
        url = dc_xmalloc(ul + strlen(path) + 2);
        memcpy(url, h->url, ul);
        url[ul] = '/';
        memcpy(url + ul + 1, path, strlen(path) + 1);
    } else {
        url = dc_xstrdup(h->url);
    }
    if (body && sdc_md_get(md, "Content-Type") == NULL)
        hdrs[nh++] = "Content-Type: application/json; charset=utf-8";
    if (sdc_md_get(md, "Accept") == NULL)
        hdrs[nh++] = "Accept: application/json; charset=utf-8";
    if (h->token != NULL && h->token_header != NULL) {
        size_t l = strlen(h->token) + strlen(h->token_header) + 3;
        owned[no] = dc_xmalloc(l);
        snprintf(owned[no], l, "%s: %s", h->token_header, h->token);
        hdrs[nh++] = owned[no++];
    }
    for (size_t i = 0; i < md->n && nh < HTTP_MAX_HEADERS; i++) {
        const char *k = md->names[i], *v = md->values[i];
        bool trace = strcmp(k, "traceparent") == 0 || strcmp(k, "tracestate") == 0 ||
                     strcmp(k, "baggage") == 0;
        size_t l;
        if (!((k[0] >= 'A' && k[0] <= 'Z') || (trace && v[0] != '\0')) || !valid_header(k, v))
            continue;
        l = strlen(k) + strlen(v) + 3;
        owned[no] = dc_xmalloc(l);
        snprintf(owned[no], l, "%s: %s", k, v);
        hdrs[nh++] = owned[no++];
    }
    hdrs[nh] = NULL;

    call.method = method;
    call.url = url;
    call.headers = hdrs;
    call.body = body ? req->data : NULL;
    call.body_len = body ? req->data_len : 0;
    call.timeout_ms = h->timeout_ms;
    call.on_body = on_body;
    call.ud = &sink;
    rv = dc_http_client_do(h->client, &call, &res, eb);
    if (rv == DC_OK) {
        char num[16], st[64];
        snprintf(num, sizeof(num), "%ld", res.status);
        snprintf(st, sizeof(st), "%ld %s", res.status, dc_http_status_text((int)res.status));
        resp->has_data = true;
        for (size_t i = 0; i < res.n_headers; i++) {
            char *name = dc_xstrdup(res.headers[i].name);
            const char *prev;
            canonical(name);
            prev = sdc_md_get(&resp->metadata, name);
            if (prev != NULL) {
                size_t l = strlen(prev) + strlen(res.headers[i].value) + 3;
                char *j = dc_xmalloc(l);
                snprintf(j, l, "%s, %s", prev, res.headers[i].value);
                sdc_md_set(&resp->metadata, name, j);
                free(j);
            } else {
                sdc_md_set(&resp->metadata, name, res.headers[i].value);
            }
            free(name);
        }
        sdc_md_set(&resp->metadata, "statusCode", num);
        sdc_md_set(&resp->metadata, "status", st);
        if (err2xx && res.status / 100 != 2)
            rv = dc_err_set(eb, DC_EIO, "received status code %ld", res.status);
    } else {
        dc_err_wrapf(eb, "%s %s", method, url);
    }
    dc_http_result_cleanup(&res);
    for (size_t i = 0; i < no; i++)
        free(owned[i]);
    free(owned);
    free(url);
    return rv;
}

static void http_close(void *self)
{
    struct httpb *h = self;

    if (h == NULL)
        return;
    dc_http_client_free(h->client);
    free(h->url);
    free(h->token);
    free(h->token_header);
    free(h);
}

static int http_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                     struct dc_errbuf *eb)
{
    const char *url = sdc_md_get(md, "url"), *to = sdc_md_get(md, "responseTimeout");
    const char *max = sdc_md_get(md, "maxResponseBodySize"), *e = sdc_md_get(md, "errorIfNot2XX");
    struct dc_http_client_opts o = {0};
    struct httpb *h;
    int64_t ns = 0;
    uint64_t mb = 100u << 20;
    int rv;

    (void)ctx;
    if (dc_str_empty(url))
        return dc_err_set(eb, DC_EINVAL, "http binding: url is required");
    if (!dc_str_has_prefix(url, "http://") && !dc_str_has_prefix(url, "https://"))
        return dc_err_set(eb, DC_EINVAL, "http binding: url must be http:// or https://: %s", url);
    if (!dc_str_empty(sdc_md_get(md, "MTLSRootCA")) ||
        !dc_str_empty(sdc_md_get(md, "MTLSClientCert")) ||
        !dc_str_empty(sdc_md_get(md, "MTLSClientKey")) ||
        !dc_str_empty(sdc_md_get(md, "MTLSRenegotiation")))
        return dc_err_set(eb, DC_EUNSUPPORTED, "http binding: MTLS options are not supported");
    if (!dc_str_empty(to) && dc_duration_parse(to, &ns, NULL) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "http binding: invalid responseTimeout %s", to);
    if (!dc_str_empty(max)) {
        int64_t v;
        /* A bare integer is bytes; else a quantity ("10Mi"). <= 0: no limit. */
        if (dc_str_to_i64(max, INT64_MIN, INT64_MAX, &v) == DC_OK)
            mb = v <= 0 ? DC_BND_MAX_RESPONSE : (uint64_t)v;
        else if (dc_quantity_bytes(max, &mb, NULL) != DC_OK)
            return dc_err_set(eb, DC_EINVAL, "invalid value for maxResponseBodySize: %s", max);
    }
    if (mb == 0 || mb > DC_BND_MAX_RESPONSE)
        mb = DC_BND_MAX_RESPONSE;
    o.connect_timeout_ms = 15000;
    o.max_response = DC_BND_MAX_RESPONSE;
    h = dc_xcalloc(1, sizeof(*h));
    rv = dc_http_client_new(&h->client, &o, eb);
    if (rv != DC_OK) {
        free(h);
        return rv;
    }
    h->url = dc_xstrdup(url);
    h->timeout_ms = ns > 0 ? (ns + DC_NS_PER_MS - 1) / DC_NS_PER_MS : 0;
    h->max_body = (size_t)mb;
    h->error_if_not_2xx = dc_str_empty(e) ? true : dc_str_truthy(e);
    if (!dc_str_empty(sdc_md_get(md, "securityToken")) &&
        !dc_str_empty(sdc_md_get(md, "securityTokenHeader"))) {
        h->token = dc_xstrdup(sdc_md_get(md, "securityToken"));
        h->token_header = dc_xstrdup(sdc_md_get(md, "securityTokenHeader"));
    }
    *self = h;
    return DC_OK;
}

static const char *const http_operations[] = {"create", "get",    "head",    "post",  "put",
                                              "patch",  "delete", "options", "trace", NULL};

static const struct sdc_binding_ops http_ops = {
    .base = {.init = http_init, .close = http_close},
    .operations = http_operations,
    .invoke = http_invoke,
};

const struct sdc_component_type sdc_type_bindings_http = {"bindings.http", "v1", SDC_CAT_BINDINGS,
                                                          &http_ops.base};
