/* The app channel (contracts in app_channel.h; sidecar-api.md §17). */
#include "app_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#define DIAL_EVERY_MS 100 /* §17.3 step 2 */
#define DIAL_TIMEOUT_MS 500

struct sdc_app_channel {
    const struct sdc_config *cfg;
    struct dc_http_client *client;
    char base_url[320];
    char port[8];
    char *token_header; /* "dapr-api-token: <APP_API_TOKEN>" or NULL */
    bool limited;
    sem_t slots; /* --app-max-concurrency */

    atomic_bool port_open;
    atomic_bool healthy;
    atomic_bool *ready;

    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* guards stop; cv wakes the thread early */
    pthread_cond_t cv;
    bool stop;
};

int sdc_app_channel_new(struct sdc_app_channel **out, const struct sdc_config *cfg,
                        struct dc_errbuf *eb)
{
    struct dc_http_client_opts o = {0};
    struct sdc_app_channel *ch;
    pthread_condattr_t ca;
    bool tls;
    int rv;

    *out = NULL;
    if (cfg->app_port <= 0)
        return DC_OK;
    tls = cfg->app_ssl || strcmp(cfg->app_protocol, "https") == 0;
    if (!tls && strcmp(cfg->app_protocol, "http") != 0)
        return dc_err_set(eb, DC_EUNSUPPORTED,
                          "--app-protocol %s is not supported yet (use http or https)",
                          cfg->app_protocol);
    ch = dc_xcalloc(1, sizeof(*ch));
    ch->cfg = cfg;
    o.max_response = (size_t)cfg->max_body_size;
    o.insecure_skip_verify = tls; /* §17.1: the app's certificate is not verified */
    o.max_idle_conns = 256;
    rv = dc_http_client_new(&ch->client, &o, eb);
    if (rv != DC_OK) {
        free(ch);
        return rv;
    }
    /* An IPv6 literal needs brackets in a URL. */
    snprintf(ch->base_url, sizeof(ch->base_url),
             strchr(cfg->app_channel_address, ':') != NULL ? "%s://[%s]:%d" : "%s://%s:%d",
             tls ? "https" : "http", cfg->app_channel_address, cfg->app_port);
    snprintf(ch->port, sizeof(ch->port), "%d", cfg->app_port);
    if (!dc_str_empty(cfg->app_api_token)) {
        size_t n = strlen(cfg->app_api_token) + sizeof("dapr-api-token: ");
        ch->token_header = dc_xmalloc(n);
        snprintf(ch->token_header, n, "dapr-api-token: %s", cfg->app_api_token);
    }
    if (cfg->app_max_concurrency > 0) {
        unsigned n =
            cfg->app_max_concurrency > 1000000 ? 1000000u : (unsigned)cfg->app_max_concurrency;
        ch->limited = true;
        sem_init(&ch->slots, 0, n);
    }
    atomic_init(&ch->port_open, false);
    atomic_init(&ch->healthy, false);
    pthread_mutex_init(&ch->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ch->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = ch;
    return DC_OK;
}

/* Sleep `ms` unless asked to stop; returns true when stopping. */
static bool nap(struct sdc_app_channel *ch, int64_t ms)
{
    struct timespec ts;
    bool stop;

    ts = dc_timespec_in(CLOCK_MONOTONIC, ms * DC_NS_PER_MS);
    pthread_mutex_lock(&ch->mu);
    while (!ch->stop && pthread_cond_timedwait(&ch->cv, &ch->mu, &ts) != ETIMEDOUT)
        ;
    stop = ch->stop;
    pthread_mutex_unlock(&ch->mu);
    return stop;
}

/* One non-blocking TCP connect to `ai` with a timeout. */
static bool dial_one(const struct addrinfo *ai, int timeout_ms)
{
    struct pollfd p;
    int fd, err = 0, flags;
    socklen_t len = sizeof(err);
    bool ok = false;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return false;
    flags = fcntl(fd, F_GETFL, 0);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        goto out;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        ok = true;
        goto out;
    }
    if (errno != EINPROGRESS)
        goto out;
    p.fd = fd;
    p.events = POLLOUT;
    if (poll(&p, 1, timeout_ms) != 1)
        goto out;
    ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
out:
    close(fd);
    return ok;
}

/* Does the app port accept a TCP connection? (TLS is not dialled: the HTTP client reports TLS
 * errors on the first call instead.) */
static bool dial_app(const struct sdc_app_channel *ch)
{
    struct addrinfo hints = {0}, *res = NULL, *ai;
    bool ok = false;

    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(ch->cfg->app_channel_address, ch->port, &hints, &res) != 0)
        return false;
    for (ai = res; ai != NULL && !ok; ai = ai->ai_next)
        ok = dial_one(ai, DIAL_TIMEOUT_MS);
    freeaddrinfo(res);
    return ok;
}

/* GET <health path> without the app token; true on 2xx. */
static bool probe(struct sdc_app_channel *ch)
{
    struct dc_http_result res = {0};
    struct dc_http_call c = {0};
    char url[1024];
    const char *path = ch->cfg->app_health_check_path;
    bool ok;

    snprintf(url, sizeof(url), "%s%s%s", ch->base_url, path[0] == '/' ? "" : "/", path);
    c.method = "GET";
    c.url = url;
    c.timeout_ms = ch->cfg->app_health_probe_timeout_ms;
    ok = dc_http_client_do(ch->client, &c, &res, NULL) == DC_OK && res.status >= 200 &&
         res.status < 300;
    dc_http_result_cleanup(&res);
    return ok;
}

static void set_healthy(struct sdc_app_channel *ch, bool h)
{
    if (atomic_exchange(&ch->healthy, h) != h)
        DC_LOG(DC_LOG_INFO, "Application entered %s status", h ? "healthy" : "unhealthy");
}

static void *channel_thread(void *arg)
{
    struct sdc_app_channel *ch = arg;
    const struct sdc_config *cfg = ch->cfg;
    int64_t failures = 0;

    DC_LOG(DC_LOG_INFO,
           "application protocol: %s. waiting on port %d.  This will block until "
           "the app is listening on that port.",
           cfg->app_protocol, cfg->app_port);
    while (!dial_app(ch)) {
        if (nap(ch, DIAL_EVERY_MS))
            return NULL;
    }
    DC_LOG(DC_LOG_INFO, "application discovered on port %d", cfg->app_port);
    atomic_store(&ch->port_open, true);
    if (!cfg->enable_app_health_check)
        atomic_store(&ch->healthy, true);
    atomic_store(ch->ready, true);
    if (!cfg->enable_app_health_check)
        return NULL;
    for (;;) {
        if (probe(ch)) {
            failures = 0;
            set_healthy(ch, true);
        } else if (++failures >= cfg->app_health_threshold) {
            set_healthy(ch, false);
        }
        if (nap(ch, cfg->app_health_probe_interval_s * 1000))
            return NULL;
    }
}

int sdc_app_channel_start(struct sdc_app_channel *ch, atomic_bool *ready)
{
    if (ch == NULL) {
        atomic_store(ready, true);
        return DC_OK;
    }
    ch->ready = ready;
    if (pthread_create(&ch->thread, NULL, channel_thread, ch) != 0)
        return DC_EIO;
    ch->started = true;
    return DC_OK;
}

void sdc_app_channel_free(struct sdc_app_channel *ch)
{
    if (ch == NULL)
        return;
    if (ch->started) {
        pthread_mutex_lock(&ch->mu);
        ch->stop = true;
        pthread_cond_broadcast(&ch->cv);
        pthread_mutex_unlock(&ch->mu);
        pthread_join(ch->thread, NULL);
    }
    dc_http_client_free(ch->client);
    if (ch->limited)
        sem_destroy(&ch->slots);
    pthread_cond_destroy(&ch->cv);
    pthread_mutex_destroy(&ch->mu);
    free(ch->token_header);
    free(ch);
}

bool sdc_app_channel_port_open(const struct sdc_app_channel *ch)
{
    return ch != NULL && atomic_load(&ch->port_open);
}

bool sdc_app_channel_healthy(const struct sdc_app_channel *ch)
{
    return ch != NULL && atomic_load(&ch->healthy);
}

const char *sdc_app_channel_base_url(const struct sdc_app_channel *ch)
{
    return ch->base_url;
}

/* Wait for a concurrency slot until `deadline_ns` (0 = forever). */
static int acquire(struct sdc_app_channel *ch, int64_t deadline_ns)
{
    struct timespec ts;
    int64_t left;

    if (deadline_ns == 0) {
        while (sem_wait(&ch->slots) != 0)
            ;
        return DC_OK;
    }
    left = deadline_ns - dc_mono_ns();
    if (left <= 0)
        return DC_ETIMEDOUT;
    /* sem_timedwait takes a CLOCK_REALTIME deadline. */
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(left / 1000000000LL);
    ts.tv_nsec += (long)(left % 1000000000LL);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    for (;;) {
        if (sem_timedwait(&ch->slots, &ts) == 0)
            return DC_OK;
        if (errno == ETIMEDOUT)
            return DC_ETIMEDOUT;
    }
}

/* base URL + path [+ "?" + query] in arena memory (no format: this runs on every call). */
static const char *app_url(const struct sdc_app_channel *ch, const struct sdc_app_call *call,
                           struct dc_arena *arena)
{
    size_t nb = strlen(ch->base_url), np = strlen(call->path);
    size_t nq = dc_str_empty(call->query) ? 0 : strlen(call->query);
    char *u = dc_arena_alloc(arena, nb + np + nq + 2), *w = u;

    memcpy(w, ch->base_url, nb);
    w += nb;
    memcpy(w, call->path, np);
    w += np;
    if (nq > 0) {
        *w++ = '?';
        memcpy(w, call->query, nq);
        w += nq;
    }
    *w = '\0';
    return u;
}

int sdc_app_channel_call(struct sdc_app_channel *ch, const struct sdc_app_call *call,
                         struct dc_arena *arena, struct dc_http_result *res, struct dc_errbuf *eb)
{
    struct dc_http_call c = {0};
    const char **hdrs;
    size_t n = 0, k = 0;
    int rv;

    if (call->deadline_ns != 0) {
        int64_t left = call->deadline_ns - dc_mono_ns();
        if (left <= 0)
            return dc_err_set(eb, DC_ETIMEDOUT, "context deadline exceeded");
        c.timeout_ms = left / 1000000 > 0 ? left / 1000000 : 1;
    }
    while (call->headers != NULL && call->headers[n] != NULL)
        n++;
    hdrs = dc_arena_alloc(arena, (n + 2) * sizeof(*hdrs));
    for (size_t i = 0; i < n; i++)
        hdrs[k++] = call->headers[i];
    if (ch->token_header != NULL)
        hdrs[k++] = ch->token_header;
    hdrs[k] = NULL;
    c.method = call->method;
    c.url = app_url(ch, call, arena);
    c.headers = hdrs;
    c.body = call->body;
    c.body_len = call->body_len;
    c.on_head = call->on_head;
    c.on_body = call->on_body;
    c.ud = call->ud;
    c.watch_fd = call->watch_fd;
    if (ch->limited && acquire(ch, call->deadline_ns) != DC_OK)
        return dc_err_set(eb, DC_ETIMEDOUT, "context deadline exceeded");
    rv = dc_http_client_do(ch->client, &c, res, eb);
    if (ch->limited)
        sem_post(&ch->slots);
    return rv;
}
