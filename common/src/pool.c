/* Bounded connection pool (see dc/pool.h).
 *
 * State under `mu`: `nopen` counts every connection that exists or is being opened (a slot is
 * reserved before the connect callback runs, outside the lock, and released if it fails), and
 * `idle` is a LIFO stack of the returned ones. Waiters sleep on `cv` (CLOCK_MONOTONIC). */
#include "dc/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "dc/mem.h"
#include "dc/time.h"

struct dc_pool {
    struct dc_pool_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void **idle;
    size_t nidle;
    size_t cap;
    size_t nopen;
};

int dc_pool_new(struct dc_pool **out, const struct dc_pool_config *cfg, struct dc_errbuf *eb)
{
    struct dc_pool *p;
    pthread_condattr_t ca;

    if (cfg == NULL || cfg->max_size == 0 || cfg->connect == NULL || cfg->close == NULL)
        return dc_err_set(eb, DC_EINVAL, "pool: max_size, connect and close are required");
    p = dc_xcalloc(1, sizeof(*p));
    p->cfg = *cfg;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = p;
    return DC_OK;
}

void dc_pool_free(struct dc_pool *p)
{
    if (p == NULL)
        return;
    dc_pool_drain(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->idle);
    free(p);
}

int dc_pool_get(struct dc_pool *p, void **conn, bool *fresh, struct dc_errbuf *eb)
{
    struct timespec until;
    void *c = NULL;
    int rv;

    until = dc_timespec_in(CLOCK_MONOTONIC, p->cfg.wait_ms * DC_NS_PER_MS);
    pthread_mutex_lock(&p->mu);
    while (p->nidle == 0 && p->nopen >= p->cfg.max_size) {
        if (p->cfg.wait_ms <= 0 || pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return dc_err_set(eb, DC_EUNAVAIL, "connection pool timeout");
        }
    }
    if (p->nidle > 0) {
        *conn = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->mu);
        if (fresh != NULL)
            *fresh = false;
        return DC_OK;
    }
    p->nopen++;
    pthread_mutex_unlock(&p->mu);

    rv = p->cfg.connect(p->cfg.ud, &c, eb);
    if (rv != DC_OK || c == NULL) {
        pthread_mutex_lock(&p->mu);
        p->nopen--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (rv == DC_OK) /* a callback that "succeeded" without a connection */
            rv = dc_err_set(eb, DC_EINTERNAL, "pool: connect returned no connection");
        return rv;
    }
    *conn = c;
    if (fresh != NULL)
        *fresh = true;
    return DC_OK;
}

/* Take the idle stack out of the pool (under mu); the caller closes it outside the lock. */
static void **take_idle(struct dc_pool *p, size_t *n)
{
    void **v = p->idle;

    *n = p->nidle;
    p->idle = NULL;
    p->nidle = 0;
    p->cap = 0;
    return v;
}

/* Close `n` connections taken out of the pool (outside the lock), then give their slots back:
 * a slot is only reusable once its connection is really closed, so the bound holds exactly. */
static void close_all(struct dc_pool *p, void **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p->cfg.close(p->cfg.ud, v[i]);
    free(v);
    pthread_mutex_lock(&p->mu);
    p->nopen -= n;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void dc_pool_put(struct dc_pool *p, void *conn, bool broken)
{
    void **dead = NULL;
    size_t ndead = 0;

    if (conn == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    if (broken) {
        dead = take_idle(p, &ndead);
    } else {
        if (p->nidle == p->cap) {
            p->cap = p->cap == 0 ? 4 : p->cap * 2;
            p->idle = dc_xrealloc(p->idle, p->cap * sizeof(*p->idle));
        }
        p->idle[p->nidle++] = conn;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (broken) {
        p->cfg.close(p->cfg.ud, conn);
        pthread_mutex_lock(&p->mu);
        p->nopen--;
        pthread_mutex_unlock(&p->mu);
        close_all(p, dead, ndead);
    }
}

void dc_pool_drain(struct dc_pool *p)
{
    void **dead;
    size_t n;

    pthread_mutex_lock(&p->mu);
    dead = take_idle(p, &n);
    pthread_mutex_unlock(&p->mu);
    close_all(p, dead, n);
}

size_t dc_pool_open_count(struct dc_pool *p)
{
    size_t n;

    pthread_mutex_lock(&p->mu);
    n = p->nopen;
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t dc_pool_idle_count(struct dc_pool *p)
{
    size_t n;

    pthread_mutex_lock(&p->mu);
    n = p->nidle;
    pthread_mutex_unlock(&p->mu);
    return n;
}
