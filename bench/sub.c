/* bench-sub: the subscribing application of the pub/sub benchmarks, on libdc's HTTP server.
 * GET /dapr/subscribe subscribes to topic "bench" of the pubsub named on the command
 * line (route /ev); POST /ev answers {"status":"SUCCESS"} and, when the event's data holds
 * "t":"<20 digits>" (the CLOCK_MONOTONIC send time loadgen -t writes), records the
 * publish-to-delivery latency. GET /stats prints "count p50_ms p90_ms p99_ms msgs_per_s" (rate
 * between the first and last delivery since the last POST /reset).
 * Usage: bench-sub PORT PUBSUB */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/http_server.h"
#include "dc/mem.h"
#include "dc/signals.h"
#include "dc/str.h"
#include "dc/time.h"

#define MAX_SAMPLES (1u << 22)

static char sub_body[256];
static int64_t *samples;
static atomic_uint_fast64_t n_events, n_samples;
static atomic_int_fast64_t first_ns, last_ns;

static void subscribe(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    if (dc_http_response_body(resp, sub_body, strlen(sub_body), "application/json") != DC_OK)
        resp->status = 500;
}

static void event(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    static const char ok[] = "{\"status\":\"SUCCESS\"}";
    const char *t = strstr(req->body, "\"t\":\"");
    int64_t now = dc_mono_ns(), sent = 0, expect = 0;

    (void)ud;
    if (t != NULL) {
        t += 5;
        for (int i = 0; i < 20 && t[i] >= '0' && t[i] <= '9'; i++)
            sent = sent * 10 + (t[i] - '0');
        if (sent > 0 && sent <= now) {
            uint_fast64_t k = atomic_fetch_add(&n_samples, 1);

            if (k < MAX_SAMPLES)
                samples[k] = now - sent;
        }
    }
    atomic_compare_exchange_strong(&first_ns, &expect, now);
    atomic_store(&last_ns, now);
    atomic_fetch_add(&n_events, 1);
    if (dc_http_response_body(resp, ok, sizeof(ok) - 1, "application/json") != DC_OK)
        resp->status = 500;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void stats(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    uint_fast64_t n = atomic_load(&n_samples), events = atomic_load(&n_events);
    int64_t span = atomic_load(&last_ns) - atomic_load(&first_ns);
    int64_t *copy;
    char out[160];
    int len;

    (void)req;
    (void)ud;
    if (n > MAX_SAMPLES)
        n = MAX_SAMPLES;
    copy = dc_xcalloc(n ? n : 1, sizeof(*copy));
    memcpy(copy, samples, n * sizeof(*copy));
    qsort(copy, n, sizeof(*copy), cmp);
#define PCT(p) (n ? (double)copy[(size_t)((double)(n - 1) * (p))] / 1e6 : 0.0)
    len =
        snprintf(out, sizeof(out), "%lu %.3f %.3f %.3f %.0f\n", (unsigned long)events, PCT(0.50),
                 PCT(0.90), PCT(0.99), span > 0 ? (double)(events - 1) * 1e9 / (double)span : 0.0);
    free(copy);
    if (dc_http_response_body(resp, out, (size_t)len, "text/plain") != DC_OK)
        resp->status = 500;
}

static void reset(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    atomic_store(&n_samples, 0);
    atomic_store(&n_events, 0);
    atomic_store(&first_ns, 0);
    atomic_store(&last_ns, 0);
    resp->status = 204;
}

int main(int argc, char **argv)
{
    struct dc_http_server_opts o = {0};
    struct dc_http_router *r;
    struct dc_http_server *s = NULL;
    struct dc_errbuf eb = {0};
    int64_t port;
    int sig;

    if (argc != 3 || dc_str_to_i64(argv[1], 1, 65535, &port) != DC_OK) {
        fprintf(stderr, "usage: bench-sub PORT PUBSUB\n");
        return 2;
    }
    snprintf(sub_body, sizeof(sub_body),
             "[{\"pubsubname\":\"%.100s\",\"topic\":\"bench\",\"route\":\"/ev\"}]", argv[2]);
    samples = dc_xcalloc(MAX_SAMPLES, sizeof(*samples));
    if (dc_signals_setup() != DC_OK)
        return 1;
    r = dc_http_router_new();
    if (dc_http_router_add(r, "GET", "/dapr/subscribe", subscribe, NULL) != DC_OK ||
        dc_http_router_add(r, "POST", "/ev", event, NULL) != DC_OK ||
        dc_http_router_add(r, "GET", "/stats", stats, NULL) != DC_OK ||
        dc_http_router_add(r, "POST", "/reset", reset, NULL) != DC_OK)
        return 1;
    o.address = "127.0.0.1";
    o.port = (uint16_t)port;
    o.max_body = 1 << 20;
    o.max_header = 16384;
    o.threads = 2;
    if (dc_http_server_start(&s, &o, r, &eb) != DC_OK) {
        fprintf(stderr, "bench-sub: %s\n", eb.msg);
        return 1;
    }
    while (dc_signals_wait(-1, &sig) != DC_OK)
        ;
    dc_http_server_free(s);
    dc_http_router_free(r);
    free(samples);
    return 0;
}
