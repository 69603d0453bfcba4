/* Cross-cutting HTTP API behaviour (sidecar-api.md §1.2, §1.5, §20.1). */
#include "http_mw.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/rand.h"
#include "dc/str.h"
#include "dc/time.h"

static void split_origins(struct sdc_http_mw *mw, const char *list)
{
    const char *p = list;

    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        const char *s = p;
        size_t len = n;

        while (len > 0 && *s == ' ') {
            s++;
            len--;
        }
        while (len > 0 && s[len - 1] == ' ')
            len--;
        if (len == 1 && *s == '*')
            mw->cors_any = true;
        else if (len > 0) {
            mw->origins = dc_xrealloc(mw->origins, (mw->norigins + 1) * sizeof(*mw->origins));
            mw->origins[mw->norigins++] = dc_xstrndup(s, len);
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

void sdc_http_mw_init(struct sdc_http_mw *mw, struct sdc_runtime *rt)
{
    const struct sdc_config *cfg = rt->cfg;

    memset(mw, 0, sizeof(*mw));
    mw->rt = rt;
    mw->api_token = dc_str_empty(cfg->api_token) ? NULL : cfg->api_token;
    if (!dc_str_empty(cfg->allowed_origins))
        split_origins(mw, cfg->allowed_origins);
    if (cfg->enable_api_logging >= 0)
        mw->api_logging = cfg->enable_api_logging == 1;
    else if (rt->have_conf)
        mw->api_logging = rt->conf.api_logging.enabled == DC_TRI_TRUE;
    if (rt->have_conf) {
        mw->log_omit_health = rt->conf.api_logging.omit_health_checks;
        mw->log_obfuscate = rt->conf.api_logging.obfuscate_urls;
        mw->tracing = rt->conf.tracing.sampling_rate != NULL &&
                      strtod(rt->conf.tracing.sampling_rate, NULL) > 0;
    }
}

void sdc_http_mw_cleanup(struct sdc_http_mw *mw)
{
    for (size_t i = 0; i < mw->norigins; i++)
        free(mw->origins[i]);
    free(mw->origins);
    memset(mw, 0, sizeof(*mw));
}

static bool is_health(struct dc_http_request *req)
{
    const char *p;

    if (strcmp(req->method, "GET") != 0)
        return false;
    p = dc_http_clean_path(req->arena, req->path);
    return strcmp(p, "/v1.0/healthz") == 0 || strcmp(p, "/v1.0/healthz/outbound") == 0;
}

static bool origin_allowed(const struct sdc_http_mw *mw, const char *origin)
{
    if (mw->cors_any)
        return true;
    for (size_t i = 0; i < mw->norigins; i++)
        if (dc_str_eq_ci(mw->origins[i], origin))
            return true;
    return false;
}

/* CORS as upstream configures it (§1.2): methods HEAD GET POST PUT PATCH DELETE, any header.
 * Returns true when the request was a preflight and has been answered. */
static bool cors(const struct sdc_http_mw *mw, struct dc_http_request *req,
                 struct dc_http_response *resp)
{
    const char *origin = dc_http_request_header(req, "Origin");
    const char *want = dc_http_request_header(req, "Access-Control-Request-Method");
    bool preflight = strcmp(req->method, "OPTIONS") == 0 && want != NULL;

    if (origin == NULL)
        return false;
    dc_http_response_header(resp, "Vary", "Origin");
    if (!origin_allowed(mw, origin))
        return preflight ? (resp->status = 204, true) : false;
    dc_http_response_header_set(resp, "Access-Control-Allow-Origin", mw->cors_any ? "*" : origin);
    if (!preflight)
        return false;
    dc_http_response_header(resp, "Access-Control-Allow-Methods",
                            "HEAD, GET, POST, PUT, PATCH, DELETE");
    {
        const char *hdrs = dc_http_request_header(req, "Access-Control-Request-Headers");
        if (hdrs != NULL)
            dc_http_response_header(resp, "Access-Control-Allow-Headers", hdrs);
    }
    resp->status = 204;
    return true;
}

bool sdc_http_mw_pre(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_http_mw *mw = ud;

    if (req->body_too_large) {
        dc_http_response_error(resp, 400, "ERR_BODY_READ",
                               "failed to read request body: http: request body too large");
        return true;
    }
    if ((mw->cors_any || mw->norigins > 0) && cors(mw, req, resp))
        return true;
    if (mw->api_token != NULL) {
        const char *tok = dc_http_request_header(req, "dapr-api-token");
        size_t n = strlen(mw->api_token);

        if (!is_health(req) &&
            (tok == NULL || strlen(tok) != n || CRYPTO_memcmp(tok, mw->api_token, n) != 0)) {
            resp->status = 401;
            if (dc_http_response_body(resp, "invalid api token\n", 18,
                                      "text/plain; charset=utf-8") != DC_OK)
                resp->status = 401;
            return true;
        }
        dc_http_request_header_remove(req, "dapr-api-token");
    }
    return false;
}

bool sdc_traceparent_parse(const char *tp, char *trace_id, char *flags)
{
    static const char *const zeros32 = "00000000000000000000000000000000";

    if (tp == NULL || strlen(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return false;
    for (size_t i = 0; i < 55; i++) {
        if (i == 2 || i == 35 || i == 52)
            continue;
        if (!isxdigit((unsigned char)tp[i]) || isupper((unsigned char)tp[i]))
            return false;
    }
    if (memcmp(tp, "ff", 2) == 0 || memcmp(tp + 3, zeros32, 32) == 0 ||
        memcmp(tp + 36, zeros32, 16) == 0)
        return false;
    memcpy(trace_id, tp + 3, 32);
    trace_id[32] = '\0';
    memcpy(flags, tp + 53, 2);
    flags[2] = '\0';
    return true;
}

static void hex(char *out, const unsigned char *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The server span's traceparent: the caller's trace id (or a new one) with a new span id. */
static void trace_response(struct dc_http_request *req, struct dc_http_response *resp)
{
    char trace_id[33], flags[3] = "01", span[17], tp[64];
    unsigned char rnd[24];
    const char *ts;

    if (dc_rand_bytes(rnd, sizeof(rnd)) != DC_OK)
        return;
    if (!sdc_traceparent_parse(dc_http_request_header(req, "traceparent"), trace_id, flags))
        hex(trace_id, rnd, 16);
    hex(span, rnd + 16, 8);
    snprintf(tp, sizeof(tp), "00-%s-%s-%s", trace_id, span, flags);
    dc_http_response_header_set(resp, "traceparent", tp);
    ts = dc_http_request_header(req, "tracestate");
    if (!dc_str_empty(ts))
        dc_http_response_header_set(resp, "tracestate", ts);
}

void sdc_http_mw_post(struct sdc_http_mw *mw, struct dc_http_request *req,
                      struct dc_http_response *resp, const char *route, int64_t t0)
{
    struct sdc_runtime *rt;
    double ms = (double)(dc_mono_ns() - t0) / 1e6;
    char status[8];
    const char *labels[4];

    if (mw == NULL) /* a router built without the API middleware (unit tests) */
        return;
    rt = mw->rt;
    if (rt->metrics != NULL) {
        snprintf(status, sizeof(status), "%d", resp->status);
        labels[0] = rt->cfg->app_id;
        labels[1] = req->method;
        /* The route template keeps the label set bounded; invocations share one label. */
        labels[2] = route != NULL ? route : "/v1.0/invoke";
        labels[3] = status;
        dc_metric_inc(rt->m_http_count, labels, 1);
        dc_metric_observe(rt->m_http_latency, labels, ms);
    }
    if (mw->tracing)
        trace_response(req, resp);
    if (mw->api_logging && !(mw->log_omit_health && is_health(req)))
        DC_LOG_SCOPE(DC_LOG_INFO, "dapr.runtime.http-info",
                     "HTTP API Called: %s %s code=%d duration=%.3fms", req->method,
                     mw->log_obfuscate && route != NULL ? route : req->path, resp->status, ms);
}
