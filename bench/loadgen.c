/* loadgen: a small fixed-rate HTTP load generator with microsecond percentiles (Debian's hey
 * reports latencies with 0.1 ms resolution, too coarse for sub-millisecond sidecar figures).
 *
 * Each of C connections is one thread with one keep-alive libcurl handle that sends a request
 * every C/Q seconds (Q = total rate), like hey -q, and records each latency. The schedule is
 * fixed in advance, so a slow response delays only its own connection's next send.
 *
 * Usage: loadgen -c CONNS -q RATE -d SECONDS [-m METHOD] [-b BODYFILE] [-H header] [-t] URL
 * -t: the body's first "TTTTTTTTTTTTTTTTTTTT" (20 T) is replaced before each send by the send
 *     time, CLOCK_MONOTONIC nanoseconds as 20 zero-padded digits (delivery latency, bench-sub).
 * Prints: "p50_ms p90_ms p99_ms req_per_s errors". */
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

struct worker {
    pthread_t tid;
    const char *url, *method, *header;
    char *body; /* this worker's own copy when stamp_off >= 0 */
    size_t body_len;
    long stamp_off; /* offset of the 20-digit send-time stamp in body, or -1 */
    int64_t interval_ns, start_ns, end_ns;
    double *lat_us;
    size_t n, cap;
    long errors;
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static void sleep_until(int64_t t)
{
    int64_t now = dc_mono_ns();

    if (t > now) {
        struct timespec ts = {(time_t)((t - now) / 1000000000), (long)((t - now) % 1000000000)};
        nanosleep(&ts, NULL);
    }
}

static void *run(void *arg)
{
    struct worker *w = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    int64_t next = w->start_ns;

    hdrs = curl_slist_append(hdrs, "Expect:");
    if (w->header != NULL)
        hdrs = curl_slist_append(hdrs, w->header);
    curl_easy_setopt(h, CURLOPT_URL, w->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, w->method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    if (w->body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, w->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)w->body_len);
    }
    while (next < w->end_ns) {
        long code = 0;
        int64_t t0;

        if (w->interval_ns > 0)
            sleep_until(next);
        t0 = dc_mono_ns();
        if (w->stamp_off >= 0) {
            char ts[24];

            snprintf(ts, sizeof(ts), "%020lld", (long long)t0);
            memcpy(w->body + w->stamp_off, ts, 20);
        }
        if (curl_easy_perform(h) != CURLE_OK ||
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code >= 500 ||
            code == 0) {
            w->errors++;
        } else {
            if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 4096;
                w->lat_us = dc_xrealloc(w->lat_us, w->cap * sizeof(*w->lat_us));
            }
            w->lat_us[w->n++] = (double)(dc_mono_ns() - t0) / 1000.0;
        }
        next = w->interval_ns > 0 ? next + w->interval_ns : dc_mono_ns();
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0)
        exit(2);
    n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
        exit(2);
    p = dc_xmalloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n)
        exit(2);
    fclose(f);
    *len = (size_t)n;
    return p;
}

int main(int argc, char **argv)
{
    int64_t conns = 16, secs = 10, v;
    double rate = 1000;
    const char *method = "GET", *header = NULL, *bodyfile = NULL;
    char *body = NULL, *mark;
    long stamp_off = -1;
    bool stamp = false;
    size_t body_len = 0, total = 0, k = 0;
    long errors = 0;
    struct worker *w;
    double *all;
    int opt;

    while ((opt = getopt(argc, argv, "c:q:d:m:b:H:t")) != -1) {
        switch (opt) {
        case 'c':
            if (dc_str_to_i64(optarg, 1, 1024, &conns) != DC_OK)
                return 2;
            break;
        case 'q':
            if (dc_str_to_i64(optarg, 0, 10000000, &v) != DC_OK)
                return 2;
            rate = (double)v;
            break;
        case 'd':
            if (dc_str_to_i64(optarg, 1, 3600, &secs) != DC_OK)
                return 2;
            break;
        case 'm':
            method = optarg;
            break;
        case 'b':
            bodyfile = optarg;
            break;
        case 'H':
            header = optarg;
            break;
        case 't':
            stamp = true;
            break;
        default:
            fprintf(stderr,
                    "usage: loadgen -c N -q RATE -d SECS [-m M] [-b FILE] [-H H] [-t] URL\n");
            return 2;
        }
    }
    if (optind != argc - 1)
        return 2;
    if (bodyfile != NULL) {
        body = read_file(bodyfile, &body_len);
        body[body_len] = '\0';
    }
    if (stamp) {
        mark = body != NULL ? strstr(body, "TTTTTTTTTTTTTTTTTTTT") : NULL;
        if (mark == NULL) {
            fprintf(stderr, "loadgen: -t needs a body with 20 T\n");
            return 2;
        }
        stamp_off = (long)(mark - body);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    w = dc_xcalloc((size_t)conns, sizeof(*w));
    for (int64_t i = 0; i < conns; i++) {
        w[i].url = argv[optind];
        w[i].method = method;
        w[i].header = header;
        w[i].body = body;
        w[i].body_len = body_len;
        w[i].stamp_off = stamp_off;
        if (stamp_off >= 0) {
            w[i].body = dc_xmalloc(body_len + 1);
            memcpy(w[i].body, body, body_len + 1);
        }
        w[i].interval_ns = rate > 0 ? (int64_t)(1e9 * (double)conns / rate) : 0;
        w[i].end_ns = dc_mono_ns() + secs * 1000000000LL;
        /* Spread the connections' schedules over one interval, so requests arrive evenly
         * (fortio's -uniform) instead of in bursts of C at once. */
        w[i].start_ns = dc_mono_ns() + (w[i].interval_ns > 0 ? w[i].interval_ns * i / conns : 0);
        pthread_create(&w[i].tid, NULL, run, &w[i]);
    }
    for (int64_t i = 0; i < conns; i++) {
        pthread_join(w[i].tid, NULL);
        total += w[i].n;
        errors += w[i].errors;
    }
    all = dc_xcalloc(total ? total : 1, sizeof(*all));
    for (int64_t i = 0; i < conns; i++) {
        memcpy(all + k, w[i].lat_us, w[i].n * sizeof(*all));
        k += w[i].n;
        free(w[i].lat_us);
        if (w[i].stamp_off >= 0)
            free(w[i].body);
    }
    qsort(all, total, sizeof(*all), cmp);
#define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] / 1000.0 : 0.0)
    printf("%.3f %.3f %.3f %.0f %ld\n", PCT(0.50), PCT(0.90), PCT(0.99),
           (double)total / (double)secs, errors);
    free(all);
    free(w);
    free(body);
    curl_global_cleanup();
    return 0;
}
