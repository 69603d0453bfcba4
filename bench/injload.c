/* injload: a small closed-loop HTTPS load generator for the injector bench (bench/injector.sh).
 *
 *   injload HOST PORT SERVER_NAME CA_FILE BODY_FILE CONCURRENCY REQUESTS [RATE]
 *
 * CONCURRENCY threads each open one keep-alive TLS connection (certificate verified against
 * CA_FILE for SERVER_NAME), then send `POST /mutate` with BODY_FILE (application/json) back to
 * back until REQUESTS have been sent in total; with RATE (requests/s in total, 0 = as fast as
 * possible) each thread paces its sends at RATE/CONCURRENCY per second (latency is measured
 * from the actual send, so this shows the service time under a given load, not queueing). The first
 * 5% of each thread's requests are a warm-up and not measured. Prints the measured count, errors,
 * req/s and latency percentiles (ms) on one line: "n=.. errors=.. rps=.. p50=.. p90=.. p99=..
 * max=..". A response counts as an error unless it is HTTP 200 with "allowed":true in the body.
 * Built by bench/injector.sh with: cc -O2 injload.c -lssl -lcrypto -lpthread */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static const char *host, *server_name;
static int port;
static SSL_CTX *ctx;
static char *req;
static size_t req_len;
static long per_thread;
static double interval_ms; /* per thread; 0 = no pacing */

struct worker {
    pthread_t t;
    double *lat; /* ms */
    long n, errors;
    long idx;
};
static long nthreads;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static SSL *dial(void)
{
    struct addrinfo hints = {0}, *res = NULL;
    char ps[16];
    SSL *ssl;
    int fd, one = 1;

    snprintf(ps, sizeof(ps), "%d", port);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return NULL;
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        freeaddrinfo(res);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    freeaddrinfo(res);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, server_name);
    SSL_set1_host(ssl, server_name);
    if (SSL_connect(ssl) != 1) {
        ERR_print_errors_fp(stderr);
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    return ssl;
}

static void hangup(SSL *ssl)
{
    int fd = SSL_get_fd(ssl);

    SSL_free(ssl);
    close(fd);
}

/* One exchange; 0 when the answer is 200 with "allowed":true. */
static int exchange(SSL *ssl, char *buf, size_t cap)
{
    size_t used = 0, body_at = 0;
    long clen = -1;
    char *hend, *cl;
    int n;

    if (SSL_write(ssl, req, (int)req_len) != (int)req_len)
        return -1;
    for (;;) {
        if (used + 1 >= cap)
            return -1;
        n = SSL_read(ssl, buf + used, (int)(cap - 1 - used));
        if (n <= 0)
            return -1;
        used += (size_t)n;
        buf[used] = '\0';
        if (clen < 0 && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
            cl = strcasestr(buf, "\r\ncontent-length:");
            if (cl == NULL)
                return -1;
            clen = strtol(cl + 17, NULL, 10);
            body_at = (size_t)(hend + 4 - buf);
        }
        if (clen >= 0 && used >= body_at + (size_t)clen)
            break;
    }
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || strstr(buf + body_at, "\"allowed\":true") == NULL)
        return -1;
    return 0;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    long i, warm = per_thread / 20;
    SSL *ssl = dial();
    /* Threads are spread over the interval so the paced load is smooth, not 50-request bursts. */
    double t0, next = now_ms() + interval_ms * (double)w->idx / (double)nthreads;
    struct timespec ts;

    for (i = 0; i < per_thread + warm; i++) {
        if (interval_ms > 0) {
            next += interval_ms;
            t0 = next - now_ms();
            if (t0 > 0) {
                ts.tv_sec = (time_t)(t0 / 1e3);
                ts.tv_nsec = (long)((t0 - (double)ts.tv_sec * 1e3) * 1e6);
                nanosleep(&ts, NULL);
            }
        }
        if (ssl == NULL && (ssl = dial()) == NULL) {
            w->errors++;
            continue;
        }
        t0 = now_ms();
        if (exchange(ssl, buf, cap) != 0) {
            w->errors++;
            hangup(ssl);
            ssl = NULL;
            continue;
        }
        if (i >= warm)
            w->lat[w->n++] = now_ms() - t0;
    }
    if (ssl != NULL)
        hangup(ssl);
    free(buf);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct worker *ws;
    double *all, t0, secs;
    long conc, total, n = 0, errors = 0, i, j;
    FILE *f;
    char *body;
    long blen;

    if (argc != 8 && argc != 9) {
        fprintf(stderr,
                "usage: injload HOST PORT SERVER_NAME CA_FILE BODY_FILE CONC REQUESTS [RATE]\n");
        return 2;
    }
    host = argv[1];
    port = (int)strtol(argv[2], NULL, 10);
    server_name = argv[3];
    conc = strtol(argv[6], NULL, 10);
    total = strtol(argv[7], NULL, 10);
    if (conc < 1 || total < conc)
        return 2;
    per_thread = total / conc;
    if (argc == 9 && strtod(argv[8], NULL) > 0)
        interval_ms = 1e3 * (double)conc / strtod(argv[8], NULL);
    f = fopen(argv[5], "rb");
    if (f == NULL)
        return 2;
    fseek(f, 0, SEEK_END);
    blen = ftell(f);
    fseek(f, 0, SEEK_SET);
    body = malloc((size_t)blen);
    if (fread(body, 1, (size_t)blen, f) != (size_t)blen)
        return 2;
    fclose(f);
    req = malloc((size_t)blen + 512);
    req_len = (size_t)snprintf(req, 512,
                               "POST /mutate?timeout=10s HTTP/1.1\r\nHost: %s\r\n"
                               "Content-Type: application/json\r\nAccept: application/json\r\n"
                               "Content-Length: %ld\r\n\r\n",
                               server_name, blen);
    memcpy(req + req_len, body, (size_t)blen);
    req_len += (size_t)blen;

    ctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_load_verify_locations(ctx, argv[4], NULL) != 1) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    ws = calloc((size_t)conc, sizeof(*ws));
    nthreads = conc;
    t0 = now_ms();
    for (i = 0; i < conc; i++) {
        ws[i].lat = calloc((size_t)per_thread, sizeof(double));
        ws[i].idx = i;
        pthread_create(&ws[i].t, NULL, run, &ws[i]);
    }
    for (i = 0; i < conc; i++)
        pthread_join(ws[i].t, NULL);
    secs = (now_ms() - t0) / 1e3;
    for (i = 0; i < conc; i++) {
        n += ws[i].n;
        errors += ws[i].errors;
    }
    all = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    for (i = 0, j = 0; i < conc; i++) {
        memcpy(all + j, ws[i].lat, (size_t)ws[i].n * sizeof(double));
        j += ws[i].n;
    }
    qsort(all, (size_t)n, sizeof(double), cmp);
#define P(q) (n > 0 ? all[(long)((double)(n - 1) * (q))] : 0.0)
    printf("n=%ld errors=%ld rps=%.0f p50=%.3f p90=%.3f p99=%.3f max=%.3f\n", n, errors,
           (double)(n + errors) / secs, P(0.50), P(0.90), P(0.99), n > 0 ? all[n - 1] : 0.0);
    return errors > 0 ? 1 : 0;
}
