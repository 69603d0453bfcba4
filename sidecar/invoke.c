/* Service invocation (sidecar-api.md §4): the HTTP API handler (caller side) and the internal
 * channel server (callee side). Contracts and the internal protocol are in invoke.h; the pure
 * addressing rules are in invoke_addr.c. */
#include "invoke.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dc/http_client.h"
#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "acl.h"
#include "app_channel.h"
#include "mtls.h"
#include "nameres.h"
#include "resiliency.h"

#define INTERNAL_PREFIX "/dapr-internal/v1/invoke/"
#define H_TRUST_DOMAIN "dapr-internal-caller-trust-domain"
#define H_TIMEOUT "dapr-internal-timeout-ms"
#define H_CALLEE_NS "dapr-internal-callee-namespace"
#define H_ERROR "dapr-internal-error"
/* Instances tried within one attempt when a connection is refused (the request was not sent,
 * so moving to another instance is always safe). */
#define MAX_INSTANCES_TRIED 3
/* Added to the caller's remaining time for the callee's app call. */
#define CALLEE_GRACE_MS 100
/* Headers the sidecar adds to a forwarded request. */
#define EXTRA_HEADERS 12

struct sdc_invoke {
    struct sdc_runtime *rt;
    const struct sdc_config *cfg;
    struct dc_http_client *peers;    /* sidecar -> sidecar */
    struct dc_http_client *external; /* HTTPEndpoint and URL targets */
    struct dc_http_router *router;   /* the internal server's */
    struct dc_http_server *server;
    int port;
    const char *scheme;    /* of internal URLs: "https" with mutual TLS */
    struct sdc_mtls *mtls; /* NULL without --enable-mtls */
    const char *own_ns;
    /* Precomputed header lines. */
    char *h_caller_id, *h_caller_ns, *h_trust_domain;
    char *h_xff, *h_xfh, *h_forwarded;
};

/* ---- transport security of the internal channel: the ONE place mTLS (issue 6) changes ---- */

/* Client side: plain HTTP, or with --enable-mtls HTTPS whose certificates are set per call
 * (internal_call_tls) so that rotations take effect on the next connection. */
static const char *internal_client_tls(struct sdc_invoke *inv, struct dc_http_client_opts *o)
{
    (void)o;
    if (inv->rt->identity == NULL)
        return "http";
    inv->mtls = sdc_mtls_new(inv->rt->identity);
    return "https";
}

/* One call to the sidecar of app_id/ns: our certificate, the anchors, the callee's SPIFFE id. */
static void internal_call_tls(struct sdc_invoke *inv, struct dc_http_call *hc, const char *app_id,
                              const char *ns, struct dc_arena *a)
{
    if (inv->mtls != NULL)
        sdc_mtls_client_call(inv->mtls, hc, app_id, ns, a);
}

/* Server side: with mTLS, our certificate and key, and client certificates asked for; they are
 * verified per request (internal_caller_identity). */
static void internal_server_tls(struct sdc_invoke *inv, struct dc_http_server_opts *o)
{
    if (inv->mtls != NULL)
        sdc_mtls_server_opts(inv->mtls, o);
}

/* The caller's identity on the internal channel. With mTLS it is the SPIFFE ID
 * spiffe://<td>/ns/<ns>/<app> of the verified peer certificate (sidecar-api.md §20.3) and the
 * headers are ignored; a caller without a valid certificate is refused (DC_EPERM). Without mTLS
 * it is what the calling sidecar claims in headers. */
static int internal_caller_identity(struct sdc_invoke *inv, struct dc_http_request *req,
                                    struct sdc_caller *out, struct dc_errbuf *eb)
{
    struct dc_spiffe_id sid;
    int rv;

    if (inv->mtls == NULL) {
        out->trust_domain = dc_http_request_header(req, H_TRUST_DOMAIN);
        out->namespace = dc_http_request_header(req, "dapr-caller-namespace");
        out->app_id = dc_http_request_header(req, "dapr-caller-app-id");
        return DC_OK;
    }
    rv = sdc_mtls_peer(inv->mtls, req, &sid, eb);
    if (rv != DC_OK)
        return rv;
    out->trust_domain = dc_arena_strdup(req->arena, sid.trust_domain);
    out->namespace = dc_arena_strdup(req->arena, sid.ns);
    out->app_id = dc_arena_strdup(req->arena, sid.app_id);
    return DC_OK;
}

/* ---- setup -------------------------------------------------------------------------------- */

static char *hline(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *s = dc_xmalloc(n);

    snprintf(s, n, "%s: %s", name, value);
    return s;
}

/* DAPR_HOST_IP, else the first non-loopback IPv4 address, else 127.0.0.1 (upstream's
 * utils.GetHostAddress). */
static void host_address(const struct sdc_config *cfg, char *out, size_t cap)
{
    struct ifaddrs *ifs = NULL, *i;

    dc_strlcpy(out, "127.0.0.1", cap);
    if (!dc_str_empty(cfg->host_ip)) {
        dc_strlcpy(out, cfg->host_ip, cap);
        return;
    }
    if (getifaddrs(&ifs) != 0)
        return;
    for (i = ifs; i != NULL; i = i->ifa_next) {
        const struct sockaddr_in *sin = (const void *)i->ifa_addr;

        if (sin == NULL || sin->sin_family != AF_INET || ntohl(sin->sin_addr.s_addr) >> 24 == 127)
            continue;
        inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)cap);
        break;
    }
    freeifaddrs(ifs);
}

static void internal_handler(struct dc_http_request *req, struct dc_http_response *resp, void *ud);

int sdc_invoke_new(struct sdc_invoke **out, struct sdc_runtime *rt, struct dc_errbuf *eb)
{
    struct sdc_invoke *inv = dc_xcalloc(1, sizeof(*inv));
    struct dc_http_client_opts o = {0};
    const char *td = NULL;
    char addr[64], name[256], fwd[400];
    int rv;

    inv->rt = rt;
    inv->cfg = rt->cfg;
    inv->own_ns = dc_str_empty(rt->cfg->namespace) ? "default" : rt->cfg->namespace;
    o.connect_timeout_ms = 5000;
    o.max_response = (size_t)rt->cfg->max_body_size;
    o.max_idle_conns = 256;
    inv->scheme = internal_client_tls(inv, &o);
    rv = dc_http_client_new(&inv->peers, &o, eb);
    if (rv == DC_OK) {
        struct dc_http_client_opts x = {0};

        x.max_response = (size_t)rt->cfg->max_body_size;
        rv = dc_http_client_new(&inv->external, &x, eb);
    }
    if (rv != DC_OK) {
        sdc_invoke_free(inv);
        return rv;
    }
    inv->router = dc_http_router_new();
    dc_http_router_set_fallback(inv->router, internal_handler, inv);

    if (rt->have_conf && !dc_str_empty(rt->conf.access_control.trust_domain))
        td = rt->conf.access_control.trust_domain;
    inv->h_caller_id = hline("dapr-caller-app-id", rt->cfg->app_id);
    inv->h_caller_ns = hline("dapr-caller-namespace", inv->own_ns);
    inv->h_trust_domain = hline(H_TRUST_DOMAIN, td != NULL ? td : "public");
    host_address(rt->cfg, addr, sizeof(addr));
    if (gethostname(name, sizeof(name)) != 0)
        name[0] = '\0';
    name[sizeof(name) - 1] = '\0';
    inv->h_xff = hline("X-Forwarded-For", addr);
    snprintf(fwd, sizeof(fwd), "for=%s;by=%s;%s%s", addr, addr, name[0] != '\0' ? "host=" : "",
             name);
    inv->h_forwarded = hline("Forwarded", fwd);
    if (name[0] != '\0')
        inv->h_xfh = hline("X-Forwarded-Host", name);
    *out = inv;
    return DC_OK;
}

int sdc_invoke_listen(struct sdc_invoke *inv, struct dc_errbuf *eb)
{
    const struct sdc_config *cfg = inv->cfg;
    struct dc_http_server_opts o = {0};
    int rv;

    o.address = dc_str_empty(cfg->dapr_internal_grpc_listen_address)
                    ? NULL
                    : cfg->dapr_internal_grpc_listen_address;
    /* The port name resolution registered (explicit, stable or kernel-chosen). */
    o.port = (uint16_t)sdc_internal_port(cfg);
    o.max_body = (size_t)cfg->max_body_size;
    /* The caller's headers plus what its sidecar adds. */
    o.max_header = 2 * ((size_t)cfg->read_buffer_size + 4096) + 4096;
    o.threads = 0; /* a thread per connection: handlers block on the app */
    internal_server_tls(inv, &o);
    rv = dc_http_server_start(&inv->server, &o, inv->router, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "internal server");
        return rv;
    }
    if (inv->mtls != NULL)
        sdc_mtls_attach_server(inv->mtls, inv->server);
    inv->port = dc_http_server_port(inv->server);
    DC_LOG(DC_LOG_INFO, "internal invocation server listening on %s:%d",
           o.address != NULL ? o.address : "", inv->port);
    return DC_OK;
}

int sdc_invoke_internal_port(const struct sdc_invoke *inv)
{
    return inv != NULL ? inv->port : 0;
}

void sdc_invoke_free(struct sdc_invoke *inv)
{
    if (inv == NULL)
        return;
    if (inv->mtls != NULL)
        sdc_mtls_attach_server(inv->mtls, NULL);
    dc_http_server_free(inv->server);
    sdc_mtls_free(inv->mtls);
    dc_http_router_free(inv->router);
    dc_http_client_free(inv->peers);
    dc_http_client_free(inv->external);
    free(inv->h_caller_id);
    free(inv->h_caller_ns);
    free(inv->h_trust_domain);
    free(inv->h_xff);
    free(inv->h_xfh);
    free(inv->h_forwarded);
    free(inv);
}

/* ---- one call ----------------------------------------------------------------------------- */

enum target_kind {
    T_LOCAL = 0, /* this app */
    T_REMOTE,    /* another app, through its sidecar */
    T_URL,       /* a full URL or an HTTPEndpoint */
};

/* The next hop's response on its way to our caller: buffered into resp->body (the fast path, as
 * the client reads it), or, when relay_streams says so at its head, relayed as it arrives
 * (dc_http_stream_*): head at once, then each piece of the body. */
struct relay {
    struct dc_http_request *req;
    struct dc_http_response *resp;
    size_t max;           /* --max-body-size: larger announced bodies are relayed */
    bool buffer_failures; /* a retry policy may retry failed statuses: buffer those */
    bool streamed;        /* the head went to our caller: no retry, no error response */
    bool broken;          /* the relayed body broke off (the caller must see it) */
    int watch_fd;         /* relaying: our caller's connection, watched while the source idles */
};

struct call {
    struct sdc_invoke *inv;
    struct dc_http_request *req;
    struct dc_http_response *resp;
    enum target_kind kind;
    const char *target; /* as the caller gave it */
    const char *app_id;
    const char *ns; /* NULL: own */
    const char *verb;
    const char *wire; /* normalised method, URL form */
    const char *decoded;
    const char *base_url; /* T_URL */
    const char **hdrs;    /* forwarded headers, NULL-terminated */
    size_t timeout_slot;  /* index in hdrs reserved for H_TIMEOUT (remote) */
    struct dc_http_result res;
    int64_t deadline_ns; /* of the current attempt */
    struct relay relay;
};

/* The concatenation of the NULL-terminated list of strings, in arena memory (the per-request
 * strings: a format costs more than the rest of the string work of a call). */
static char *catv(struct dc_arena *ar, ...)
{
    va_list ap;
    const char *p;
    size_t n = 0, k;
    char *s, *w;

    va_start(ap, ar);
    while ((p = va_arg(ap, const char *)) != NULL)
        n += strlen(p);
    va_end(ap);
    s = w = dc_arena_alloc(ar, n + 1);
    va_start(ap, ar);
    while ((p = va_arg(ap, const char *)) != NULL) {
        k = strlen(p);
        memcpy(w, p, k);
        w += k;
    }
    va_end(ap);
    *w = '\0';
    return s;
}

static char *cat3(struct dc_arena *ar, const char *a, const char *b, const char *c)
{
    return catv(ar, a, b, c, (const char *)NULL);
}

/* Decimal text of v in buf (at least 21 bytes); returns buf. */
static char *u64_text(uint64_t v, char *buf)
{
    char tmp[21];
    size_t i = sizeof(tmp), n;

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    n = sizeof(tmp) - i;
    memcpy(buf, tmp + i, n);
    buf[n] = '\0';
    return buf;
}

/* "Name: value" for the HTTP client; an empty value must be "Name;" ("Name:" removes). */
static const char *header_line(struct dc_arena *a, const char *name, const char *value)
{
    if (value[0] == '\0')
        return cat3(a, name, ";", "");
    return cat3(a, name, ": ", value);
}

/* The request headers forwarded to the next hop plus the ones the sidecar sets (§4.2). */
static void build_headers(struct call *c, const struct dc_http_endpoint *ep)
{
    struct dc_http_request *req = c->req;
    struct sdc_invoke *inv = c->inv;
    const char *conn = dc_http_request_header(req, "Connection");
    const char *name, *value;
    size_t it = 0, k = 0, cap = req->n_headers + EXTRA_HEADERS + (ep != NULL ? ep->nheaders : 0);
    const char **h = dc_arena_alloc(req->arena, (cap + 1) * sizeof(*h));

    while (dc_http_request_header_next(req, &it, &name, &value)) {
        if (!sdc_invoke_header_dropped(name, conn) && strpbrk(value, "\r\n") == NULL)
            h[k++] = header_line(req->arena, name, value);
    }
    h[k++] = inv->h_caller_id;
    h[k++] = inv->h_caller_ns;
    if (c->kind != T_URL)
        h[k++] = cat3(req->arena, "dapr-callee-app-id: ", c->app_id, "");
    if (c->kind == T_REMOTE) {
        h[k++] = inv->h_trust_domain;
        h[k++] = cat3(req->arena, H_CALLEE_NS ": ", c->ns != NULL ? c->ns : inv->own_ns, "");
        h[k++] = inv->h_xff;
        if (inv->h_xfh != NULL)
            h[k++] = inv->h_xfh;
        h[k++] = inv->h_forwarded;
        c->timeout_slot = k;
        h[k++] = NULL; /* filled per attempt */
    }
    for (size_t i = 0; ep != NULL && i < ep->nheaders; i++) {
        if (ep->headers[i].value_set && ep->headers[i].name != NULL)
            h[k++] = header_line(req->arena, ep->headers[i].name, ep->headers[i].value);
    }
    h[k] = NULL;
    c->hdrs = h;
}

/* Copy status and headers of `res` into `resp` (its body was streamed already). */
static void pass_response(struct dc_http_response *resp, const struct dc_http_result *res)
{
    const char *conn = dc_http_result_header(res, "Connection");

    resp->status = (int)res->status;
    for (size_t i = 0; i < res->n_headers; i++) {
        if (!sdc_invoke_resp_header_dropped(res->headers[i].name, conn))
            dc_http_response_header(resp, res->headers[i].name, res->headers[i].value);
    }
}

/* Is the response whose head is `res` relayed as it arrives? Yes when its body is delimited by
 * chunks or the close (no Content-Length), announced over --max-body-size, or Server-Sent
 * Events; never for HEAD, statuses without content, a failure of the other sidecar itself
 * (dapr-internal-error, turned into an error response), or a status a retry policy could still
 * retry. `*length` is the announced length or DC_HTTP_LENGTH_UNKNOWN. */
static bool relay_streams(const struct relay *r, const struct dc_http_result *res, int64_t *length)
{
    bool sse = false;

    if (res->status < 200 || res->status == 204 || res->status == 304 ||
        strcmp(r->req->method, "HEAD") == 0 || (r->buffer_failures && res->status > 399))
        return false;
    /* By length first: this runs for every call. */
    for (size_t i = 0; i < res->n_headers; i++) {
        const char *name = res->headers[i].name;

        switch (strlen(name)) {
        case 12:
            if (strcasecmp(name, "Content-Type") == 0)
                sse = strncasecmp(res->headers[i].value, "text/event-stream", 17) == 0;
            break;
        case 19:
            if (strcasecmp(name, H_ERROR) == 0)
                return false;
            break;
        default:
            break;
        }
    }
    *length = res->content_length >= 0 ? res->content_length : DC_HTTP_LENGTH_UNKNOWN;
    return *length < 0 || (uint64_t)*length > r->max || sse;
}

static int relay_head(const struct dc_http_result *res, void *ud)
{
    struct relay *r = ud;
    int64_t length;
    int rv;

    if (!relay_streams(r, res, &length))
        return 0;
    pass_response(r->resp, res);
    r->streamed = true;
    rv = dc_http_stream_begin(r->req, r->resp, length);
    /* A source that stays silent must not hold us once our caller left or our server stops. */
    r->watch_fd = dc_http_stream_watch_fd(r->resp);
    return rv;
}

/* Non-zero aborts the call: our caller is gone, so the next hop should stop producing. */
static int relay_body(const void *data, size_t len, void *ud)
{
    struct relay *r = ud;

    if (r->streamed)
        return dc_http_stream_write(r->resp, data, len);
    return dc_buf_append(&r->resp->body, data, len);
}

static void relay_init(struct relay *r, struct dc_http_request *req, struct dc_http_response *resp,
                       size_t max)
{
    memset(r, 0, sizeof(*r));
    r->req = req;
    r->resp = resp;
    r->max = max;
    r->watch_fd = -1;
}

static void reset_attempt(struct call *c)
{
    dc_http_result_cleanup(&c->res);
    dc_buf_reset(&c->resp->body);
}

/* Call the local app (self-invocation, or the callee side of the internal channel). Maps the
 * sidecar's own failures to gRPC-like codes in *status (13 Internal). */
static int call_local(struct sdc_invoke *inv, struct dc_http_request *req, struct relay *rl,
                      struct dc_http_result *res, const char *verb, const char *wire,
                      const char *const *hdrs, int64_t deadline_ns, int *status,
                      struct dc_errbuf *eb)
{
    struct sdc_app_channel *app = inv->rt->app;
    struct sdc_app_call ac = {0};
    int rv;

    if (!sdc_app_channel_port_open(app)) {
        *status = 13;
        return dc_err_set(eb, DC_EIO, "cannot invoke local endpoint: app channel not initialized");
    }
    if (!sdc_app_channel_healthy(app)) {
        *status = 13;
        return dc_err_set(eb, DC_EIO, "app is not in a healthy state");
    }
    ac.method = verb;
    ac.path = cat3(req->arena, "/", wire, "");
    ac.query = req->query;
    ac.headers = hdrs;
    ac.body = req->body;
    ac.body_len = req->body_len;
    ac.deadline_ns = deadline_ns;
    ac.on_head = relay_head;
    ac.on_body = relay_body;
    ac.ud = rl;
    ac.watch_fd = &rl->watch_fd;
    rv = sdc_app_channel_call(app, &ac, req->arena, res, eb);
    if (rv == DC_ETOOBIG)
        dc_err_set(eb, rv, "app response body over %zu bytes", rl->max);
    if (rv == DC_OK)
        *status = (int)res->status;
    else if (*status < 0)
        *status = rv == DC_ETIMEDOUT ? 4 : 13;
    return rv;
}

/* Remote: resolve, call the target's sidecar, move to another instance when refused. */
static int attempt_remote(struct call *c, int *status, struct dc_errbuf *eb)
{
    struct sdc_invoke *inv = c->inv;
    struct sdc_nameres *nr = inv->rt->nameres;
    struct dc_arena *a = c->req->arena;
    struct dc_http_call hc = {0};
    char addr[300], num[24];
    const char *ierr;
    int64_t t0;
    int rv = DC_EUNAVAIL;

    if (nr == NULL) {
        *status = 13;
        return dc_err_set(eb, DC_EIO, "name resolver not initialized");
    }
    hc.method = c->verb;
    hc.headers = c->hdrs;
    hc.body = c->req->body;
    hc.body_len = c->req->body_len;
    hc.on_head = relay_head;
    hc.on_body = relay_body;
    hc.ud = &c->relay;
    hc.watch_fd = &c->relay.watch_fd;
    internal_call_tls(inv, &hc, c->app_id, c->ns != NULL ? c->ns : inv->own_ns, a);
    if (c->deadline_ns != 0) {
        int64_t left = (c->deadline_ns - dc_mono_ns()) / 1000000;
        if (left <= 0)
            return dc_err_set(eb, DC_ETIMEDOUT, "context deadline exceeded");
        hc.timeout_ms = left;
        c->hdrs[c->timeout_slot] = cat3(a, H_TIMEOUT ": ", u64_text((uint64_t)left, num), "");
    }
    t0 = dc_mono_ns();
    sdc_invoke_metric_sent(inv->rt, c->app_id);
    for (int i = 0; i < MAX_INSTANCES_TRIED; i++) {
        rv = sdc_nameres_resolve(nr, c->app_id, c->ns, addr, sizeof(addr), eb);
        if (rv != DC_OK) {
            *status = 14;
            return rv;
        }
        hc.url = catv(a, inv->scheme, "://", addr, INTERNAL_PREFIX, c->wire,
                      dc_str_empty(c->req->query) ? "" : "?", c->req->query, (const char *)NULL);
        reset_attempt(c);
        rv = dc_http_client_do(inv->peers, &hc, &c->res, eb);
        if (rv != DC_EUNAVAIL)
            break;
        DC_LOG(DC_LOG_DEBUG, "invoke %s: instance %s refused; trying another", c->app_id, addr);
        sdc_nameres_report_failure(nr, c->app_id, addr);
    }
    if (rv == DC_OK)
        sdc_invoke_metric_response(inv->rt, c->app_id, (int)c->res.status, t0);
    if (rv != DC_OK) {
        if (rv == DC_ETOOBIG)
            dc_err_set(eb, rv, "response body over %zu bytes", c->resp->body.max);
        *status = rv == DC_ETIMEDOUT ? 4 : 14;
        return rv;
    }
    ierr = dc_http_result_header(&c->res, H_ERROR);
    if (ierr != NULL && c->deadline_ns != 0 && dc_mono_ns() >= c->deadline_ns) {
        *status = 4;
        return dc_err_set(eb, DC_ETIMEDOUT, "context deadline exceeded");
    }
    if (ierr != NULL) {
        /* The target sidecar failed itself (ACL, app health...): not an app response. */
        bool denied = c->res.status == 403;
        *status = denied ? 7 : 13;
        return dc_err_set(eb, denied ? DC_EPERM : DC_EIO, "rpc error: code = %s desc = %s",
                          denied ? "PermissionDenied" : "Internal", ierr);
    }
    *status = (int)c->res.status;
    return DC_OK;
}

static int attempt_url(struct call *c, int *status, struct dc_errbuf *eb)
{
    struct dc_http_call hc = {0};
    int rv;

    hc.method = c->verb;
    hc.url = dc_arena_sprintf(c->req->arena, "%s/%s%s%s", c->base_url, c->wire,
                              dc_str_empty(c->req->query) ? "" : "?", c->req->query);
    hc.headers = c->hdrs;
    hc.body = c->req->body;
    hc.body_len = c->req->body_len;
    hc.on_head = relay_head;
    hc.on_body = relay_body;
    hc.ud = &c->relay;
    hc.watch_fd = &c->relay.watch_fd;
    if (c->deadline_ns != 0) {
        int64_t left = (c->deadline_ns - dc_mono_ns()) / 1000000;
        if (left <= 0)
            return dc_err_set(eb, DC_ETIMEDOUT, "context deadline exceeded");
        hc.timeout_ms = left;
    }
    reset_attempt(c);
    rv = dc_http_client_do(c->inv->external, &hc, &c->res, eb);
    *status = rv == DC_OK ? (int)c->res.status : rv == DC_ETIMEDOUT ? 4 : 14;
    return rv;
}

static int attempt_kind(struct call *c, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    switch (c->kind) {
    case T_LOCAL:
        reset_attempt(c);
        return call_local(c->inv, c->req, &c->relay, &c->res, c->verb, c->wire, c->hdrs,
                          deadline_ns, status, eb);
    case T_REMOTE:
        return attempt_remote(c, status, eb);
    case T_URL:
        return attempt_url(c, status, eb);
    }
    return DC_EINTERNAL;
}

/* One attempt under the resiliency policy (sdc_res_attempt_fn). Once the head of a relayed
 * response went to our caller nothing can be retried: that attempt counts as done with the
 * response's status (relay_streams relays no status a retry policy could retry), also when the
 * body broke off later, and a later call (after the policy's timeout) does nothing. */
static int attempt(void *ud, int64_t deadline_ns, int *status, struct dc_errbuf *eb)
{
    struct call *c = ud;
    int rv;

    *status = -1;
    c->deadline_ns = deadline_ns;
    if (c->relay.streamed) {
        *status = c->resp->status;
        return DC_OK;
    }
    rv = attempt_kind(c, deadline_ns, status, eb);
    if (c->relay.streamed && rv != DC_OK) {
        DC_LOG(DC_LOG_WARN, "invoke %s: relayed response broke off: %s", c->target,
               eb != NULL ? eb->msg : "");
        c->relay.broken = true;
        *status = c->resp->status;
        rv = DC_OK;
    }
    return rv;
}

static const struct dc_http_endpoint *find_endpoint(const struct sdc_runtime *rt, const char *name)
{
    for (size_t i = 0; i < rt->nhttp_endpoints; i++)
        if (strcmp(rt->http_endpoints[i]->meta.name, name) == 0)
            return rt->http_endpoints[i];
    return NULL;
}

/* Pick the kind of target (upstream's order: URL, HTTPEndpoint, app id). */
static int classify(struct call *c, const struct dc_http_endpoint **ep, struct dc_errbuf *eb)
{
    const struct sdc_runtime *rt = c->inv->rt;
    struct dc_arena *a = c->req->arena;
    size_t n;
    int rv;

    *ep = NULL;
    if (dc_str_has_prefix(c->target, "http://") || dc_str_has_prefix(c->target, "https://")) {
        if (strpbrk(c->target, " \t\r\n") != NULL)
            return dc_err_set(eb, DC_EINVAL, "invalid URL");
        c->kind = T_URL;
        c->base_url = c->target;
    } else if (find_endpoint(rt, c->target) != NULL) {
        *ep = find_endpoint(rt, c->target);
        c->kind = T_URL;
        c->base_url = (*ep)->base_url;
    } else {
        rv = sdc_invoke_split_app_id(a, c->target, &c->app_id, &c->ns, eb);
        if (rv != DC_OK)
            return rv;
        c->kind = strcmp(c->app_id, rt->cfg->app_id) == 0 &&
                          (c->ns == NULL || strcmp(c->ns, c->inv->own_ns) == 0)
                      ? T_LOCAL
                      : T_REMOTE;
        return DC_OK;
    }
    n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        n--;
    c->base_url = dc_arena_strndup(a, c->base_url, n);
    return DC_OK;
}

static void invoke_error(struct dc_http_response *resp, int status, const char *target,
                         const char *err)
{
    char msg[DC_ERRBUF_LEN + 300];

    snprintf(msg, sizeof(msg), "failed to invoke, id: %s, err: %s", target, err);
    dc_buf_reset(&resp->body);
    resp->n_headers = 0;
    dc_http_response_error(resp, status, "ERR_DIRECT_INVOKE", msg);
}

/* Run the call under the target's resiliency policy. */
static int run(struct call *c, int *status, struct dc_errbuf *eb)
{
    struct sdc_resiliency *r = c->inv->rt->resiliency;
    const struct sdc_res_policy *p;

    if (r == NULL)
        return attempt(c, 0, status, eb);
    p = sdc_resiliency_policy(r, c->kind == T_URL ? SDC_RES_HTTP_ENDPOINT : SDC_RES_APP, c->target,
                              SDC_CAT_COUNT);
    c->relay.buffer_failures = sdc_res_policy_may_retry(p);
    return sdc_resiliency_run(p, c->target, attempt, c, status, eb);
}

void sdc_invoke_http_handler(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    struct call c = {0};
    const struct dc_http_endpoint *ep;
    const char *raw_method;
    struct dc_errbuf eb = {0};
    char *verb;
    int status = -1, rv;

    if (sdc_invoke_find_target(req->arena, req->path, dc_http_request_header(req, "dapr-app-id"),
                               dc_http_request_header(req, "Authorization"), &c.target,
                               &raw_method) != DC_OK) {
        dc_http_response_error(resp, 404, "ERR_DIRECT_INVOKE",
                               "failed getting app id either from the URL path or the header "
                               "dapr-app-id");
        return;
    }
    if (rt->invoke == NULL) {
        dc_http_response_error(resp, 500, "ERR_DIRECT_INVOKE", "invoke API is not ready");
        return;
    }
    c.inv = rt->invoke;
    c.req = req;
    c.resp = resp;
    verb = dc_arena_strdup(req->arena, req->method);
    for (char *p = verb; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    c.verb = verb;
    if (req->body_too_large) {
        invoke_error(resp, 500, c.target, "http: request body too large");
        return;
    }
    if (!sdc_invoke_verb_ok(verb)) {
        invoke_error(resp, 500, c.target,
                     "rpc error: code = InvalidArgument desc = invalid HTTP verb");
        return;
    }
    rv = sdc_invoke_normalize_method(req->arena, raw_method, &c.wire, &c.decoded, &eb);
    if (rv != DC_OK) {
        dc_err_wrapf(&eb, "rpc error: code = InvalidArgument desc = invalid method");
        invoke_error(resp, 500, c.target, eb.msg);
        return;
    }
    if (classify(&c, &ep, &eb) != DC_OK) {
        invoke_error(resp, 500, c.target, eb.msg);
        return;
    }
    build_headers(&c, ep);
    resp->body.max = (size_t)rt->cfg->max_body_size;
    relay_init(&c.relay, req, resp, resp->body.max);
    rv = run(&c, &status, &eb);
    resp->body.max = 0;
    if (c.relay.streamed) {
        if (rv != DC_OK || c.relay.broken)
            dc_http_stream_abort(resp);
    } else if (rv == DC_OK) {
        pass_response(resp, &c.res);
    } else {
        invoke_error(resp, rv == DC_EPERM ? 403 : 500, c.target, eb.msg);
    }
    dc_http_result_cleanup(&c.res);
}

/* ---- callee side: the internal channel ---------------------------------------------------- */

/* A failure of this sidecar (not of the app), reported to the calling sidecar. */
static void internal_error(struct dc_http_response *resp, int status, const char *msg)
{
    char clean[DC_ERRBUF_LEN];
    size_t i;

    /* Header-safe copy. */
    for (i = 0; msg[i] != '\0' && i + 1 < sizeof(clean); i++)
        clean[i] = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? ' ' : msg[i];
    clean[i] = '\0';
    dc_buf_reset(&resp->body);
    resp->n_headers = 0;
    dc_http_response_error(resp, status, "ERR_DIRECT_INVOKE", clean);
    dc_http_response_header(resp, H_ERROR, clean);
}

/* Is `name` one of the headers the app channel sets itself (and, with a verified caller,
 * the dapr-caller-* ones)? By length first: this runs for every header of every call. */
static bool app_header_own(const char *name, bool verified)
{
    switch (strlen(name)) {
    case 4:
        return strcasecmp(name, "Host") == 0;
    case 6:
        return strcasecmp(name, "Expect") == 0;
    case 14:
        return strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "dapr-api-token") == 0;
    case 18:
        return verified && strcasecmp(name, "dapr-caller-app-id") == 0;
    case 21:
        return verified && strcasecmp(name, "dapr-caller-namespace") == 0;
    default:
        return false;
    }
}

/* Headers forwarded from the internal request to the app: everything the calling sidecar sent
 * except hop-by-hop headers, the internal protocol's and what the client computes. With mTLS,
 * `verified` (the caller identity from its certificate) replaces the dapr-caller-* headers the
 * caller sent, so the app never sees a claimed identity (NULL without mTLS). */
static const char **app_headers(struct dc_http_request *req, const struct sdc_caller *verified)
{
    const char *conn = dc_http_request_header(req, "Connection");
    const char **h = dc_arena_alloc(req->arena, (req->n_headers + 3) * sizeof(*h));
    const char *name, *value;
    size_t it = 0, k = 0;

    while (dc_http_request_header_next(req, &it, &name, &value)) {
        if (sdc_invoke_resp_header_dropped(name, conn) || app_header_own(name, verified != NULL) ||
            strpbrk(value, "\r\n") != NULL)
            continue;
        h[k++] = header_line(req->arena, name, value);
    }
    if (verified != NULL) {
        h[k++] = header_line(req->arena, "dapr-caller-app-id", verified->app_id);
        h[k++] = header_line(req->arena, "dapr-caller-namespace", verified->namespace);
    }
    h[k] = NULL;
    return h;
}

/* A call from `c` (identity established) to this sidecar's app. */
static void internal_serve(struct sdc_invoke *inv, struct dc_http_request *req,
                           struct dc_http_response *resp, const struct sdc_caller *c)
{
    struct sdc_runtime *rt = inv->rt;
    struct dc_http_result res = {0};
    struct relay rl;
    struct sdc_caller caller = *c;
    struct dc_errbuf eb = {0};
    const char *callee, *callee_ns, *wire, *decoded, *tmo;
    int64_t deadline = 0, ms;
    char why[512];
    int status = -1, rv;

    callee = dc_http_request_header(req, "dapr-callee-app-id");
    callee_ns = dc_http_request_header(req, H_CALLEE_NS);
    if (!dc_str_eq(callee, rt->cfg->app_id) ||
        (callee_ns != NULL && !dc_str_eq(callee_ns, inv->own_ns))) {
        /* A stale name-resolution entry pointing at a port another app now holds, or a
         * resolver that matched another namespace. */
        internal_error(resp, 404, "app id or namespace mismatch: this sidecar serves another app");
        return;
    }
    if (req->body_too_large) {
        internal_error(resp, 500, "http: request body too large");
        return;
    }
    rv = sdc_invoke_normalize_method(req->arena, req->path + strlen(INTERNAL_PREFIX), &wire,
                                     &decoded, &eb);
    if (rv != DC_OK || !sdc_invoke_verb_ok(req->method)) {
        internal_error(resp, 400, rv != DC_OK ? eb.msg : "invalid HTTP verb");
        return;
    }
    if (rt->acl != NULL &&
        !sdc_acl_allowed(rt->acl, &caller, decoded, req->method, why, sizeof(why))) {
        internal_error(resp, 403, why);
        return;
    }
    tmo = dc_http_request_header(req, H_TIMEOUT);
    /* A safety net for the app call: the caller's own timeout should fire first. */
    if (tmo != NULL && dc_str_to_i64(tmo, 1, INT64_MAX / 1000000 - CALLEE_GRACE_MS, &ms) == DC_OK)
        deadline = dc_mono_ns() + (ms + CALLEE_GRACE_MS) * 1000000;
    resp->body.max = (size_t)rt->cfg->max_body_size;
    relay_init(&rl, req, resp, resp->body.max);
    rv = call_local(inv, req, &rl, &res, req->method, wire,
                    app_headers(req, inv->mtls != NULL ? &caller : NULL), deadline, &status, &eb);
    resp->body.max = 0;
    if (rl.streamed) {
        if (rv != DC_OK) {
            DC_LOG(DC_LOG_WARN, "invoke from %s: relayed response broke off: %s", caller.app_id,
                   eb.msg);
            dc_http_stream_abort(resp);
        }
    } else if (rv == DC_OK) {
        pass_response(resp, &res);
    } else {
        internal_error(resp, 500, eb.msg);
    }
    dc_http_result_cleanup(&res);
}

static void internal_handler(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_invoke *inv = ud;
    struct sdc_caller caller;
    struct dc_errbuf eb = {0};

    if (!dc_str_has_prefix(req->path, INTERNAL_PREFIX)) {
        internal_error(resp, 404, "unknown internal endpoint");
        return;
    }
    if (internal_caller_identity(inv, req, &caller, &eb) != DC_OK) {
        internal_error(resp, 401, eb.msg);
        return;
    }
    sdc_invoke_metric_received(inv->rt, caller.app_id);
    internal_serve(inv, req, resp, &caller);
    sdc_invoke_metric_replied(inv->rt, caller.app_id, resp->status);
}
