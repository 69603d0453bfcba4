/* bindings.cron (input; sidecar-api.md §22.5): fires on `schedule` (cron.c) and delivers an empty
 * body with the metadata timeZone (Go's Location name of the zone used: "Local", or "UTC" for a
 * CRON_TZ=UTC schedule) and readTimeUTC (Go's Time.String() of the firing time in UTC,
 * "2006-01-02 15:04:05.999999999 +0000 UTC").
 *
 * One thread per binding sleeps until the next activation (wall clock, as robfig/cron) and
 * calls the handler; the next activation is computed after the handler returned, so a slow app
 * makes activations that passed meanwhile be skipped rather than queued. */
#include "bindings.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

struct cronb {
    char *name;
    char *schedule;
    struct sdc_cron spec;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_REALTIME waits */
    bool stopping;     /* under mu */
    bool running;      /* the thread exists */
    pthread_t thread;
    sdc_binding_handler_fn *handler;
    void *ud;
};

/* Go's Time.String() of `ns` in UTC. */
DC_TESTABLE void cron_go_time_string(int64_t ns, char *out, size_t cap)
{
    time_t s = (time_t)(ns / DC_NS_PER_SEC);
    long frac = (long)(ns % DC_NS_PER_SEC);
    char date[32], fr[16] = "";
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    if (frac > 0) {
        int n = snprintf(fr, sizeof(fr), ".%09ld", frac);
        while (n > 1 && fr[n - 1] == '0')
            fr[--n] = '\0';
    }
    snprintf(out, cap, "%s%s +0000 UTC", date, fr);
}

static void fire(struct cronb *c)
{
    struct sdc_md md = {0};
    struct sdc_binding_event ev = {"", 0, &md};
    struct dc_errbuf eb = {0};
    char now[64];

    cron_go_time_string(dc_now_ns(), now, sizeof(now));
    sdc_md_set(&md, "timeZone", c->spec.utc ? "UTC" : "Local");
    sdc_md_set(&md, "readTimeUTC", now);
    if (c->handler(c->ud, &ev, NULL, &eb) != DC_OK)
        DC_LOG(DC_LOG_WARN, "cron binding %s: the app did not accept the event: %s", c->name,
               eb.msg);
    sdc_md_cleanup(&md);
}

static void *cron_thread(void *arg)
{
    struct cronb *c = arg;

    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        int64_t next;
        struct timespec until;

        if (sdc_cron_next(&c->spec, dc_now_ns() / DC_NS_PER_SEC, false, &next) != DC_OK) {
            DC_LOG(DC_LOG_WARN, "cron binding %s: schedule %s never fires", c->name, c->schedule);
            while (!c->stopping)
                pthread_cond_wait(&c->cv, &c->mu);
            break;
        }
        until.tv_sec = (time_t)next;
        until.tv_nsec = 0;
        while (!c->stopping && dc_now_ns() < next * DC_NS_PER_SEC)
            if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT)
                continue;
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->mu);
        fire(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static int cron_read(void *self, sdc_binding_handler_fn *handler, void *ud, struct dc_errbuf *eb)
{
    struct cronb *c = self;
    int rv = DC_OK;

    pthread_mutex_lock(&c->mu);
    if (c->running) {
        rv = dc_err_set(eb, DC_EEXIST, "cron binding %s is already reading", c->name);
    } else {
        c->handler = handler;
        c->ud = ud;
        c->stopping = false;
        if (pthread_create(&c->thread, NULL, cron_thread, c) != 0)
            rv = dc_err_set(eb, DC_EIO, "cron binding %s: cannot start its thread", c->name);
        else
            c->running = true;
    }
    pthread_mutex_unlock(&c->mu);
    return rv;
}

static void cron_stop(void *self)
{
    struct cronb *c = self;
    bool join;

    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->cv);
    join = c->running;
    c->running = false;
    pthread_mutex_unlock(&c->mu);
    if (join)
        pthread_join(c->thread, NULL);
}

static int cron_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                     struct dc_errbuf *eb)
{
    const char *sched = sdc_md_get(md, "schedule");
    struct dc_errbuf pe = {0};
    struct sdc_cron spec;
    struct cronb *c;

    if (dc_str_empty(sched))
        return dc_err_set(eb, DC_EINVAL, "schedule not set");
    if (sdc_cron_parse(sched, &spec, &pe) != DC_OK)
        return dc_err_set(eb, DC_EINVAL, "invalid schedule format '%s': %s", sched, pe.msg);
    c = dc_xcalloc(1, sizeof(*c));
    c->name = dc_xstrdup(ctx != NULL && ctx->name != NULL ? ctx->name : "cron");
    c->schedule = dc_xstrdup(sched);
    c->spec = spec;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    *self = c;
    return DC_OK;
}

static void cron_close(void *self)
{
    struct cronb *c = self;

    if (c == NULL)
        return;
    cron_stop(c);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->name);
    free(c->schedule);
    free(c);
}

static const struct sdc_binding_ops cron_ops = {
    .base = {.init = cron_init, .close = cron_close},
    .read = cron_read,
    .stop = cron_stop,
};

const struct sdc_component_type sdc_type_bindings_cron = {"bindings.cron", "v1", SDC_CAT_BINDINGS,
                                                          &cron_ops.base};
