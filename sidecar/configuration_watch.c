/* The watcher threads behind configuration stores' subscriptions (configuration.h): one thread
 * per subscription, stopped through a pipe that its poll() also waits on, so a stop never
 * waits for the backend. */
#include "configuration.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc/mem.h"

void sdc_cfg_watchers_init(struct sdc_cfg_watchers *ws)
{
    pthread_mutex_init(&ws->mu, NULL);
    ws->head = NULL;
}

static void watch_free(struct sdc_cfg_watch *w)
{
    if (w->cleanup != NULL)
        w->cleanup(w);
    for (size_t i = 0; i < w->nkeys; i++)
        free(w->keys[i]);
    free(w->keys);
    sdc_md_cleanup(&w->md);
    if (w->stop[0] >= 0)
        close(w->stop[0]);
    if (w->stop[1] >= 0)
        close(w->stop[1]);
    free(w);
}

static void *watch_main(void *arg)
{
    struct sdc_cfg_watch *w = arg;

    w->run(w);
    return NULL;
}

int sdc_cfg_watch_start(struct sdc_cfg_watchers *ws, struct sdc_cfg_watch *w,
                        const char *const *keys, size_t nkeys, const struct sdc_md *md,
                        sdc_cfg_update_fn *fn, void *ud, struct dc_errbuf *eb)
{
    w->fn = fn;
    w->ud = ud;
    w->stop[0] = w->stop[1] = -1;
    w->nkeys = nkeys;
    w->keys = dc_xcalloc(nkeys + 1, sizeof(*w->keys));
    for (size_t i = 0; i < nkeys; i++)
        w->keys[i] = dc_xstrdup(keys[i]);
    for (size_t i = 0; md != NULL && i < md->n; i++)
        sdc_md_set(&w->md, md->names[i], md->values[i]);
    if (pipe(w->stop) != 0) {
        int e = errno;
        watch_free(w);
        return dc_err_set(eb, DC_EIO, "pipe: %s", strerror(e));
    }
    if (pthread_create(&w->th, NULL, watch_main, w) != 0) {
        watch_free(w);
        return dc_err_set(eb, DC_EIO, "cannot start the subscription thread");
    }
    pthread_mutex_lock(&ws->mu);
    w->next = ws->head;
    ws->head = w;
    pthread_mutex_unlock(&ws->mu);
    return DC_OK;
}

bool sdc_cfg_watch_wait(struct sdc_cfg_watch *w, int fd, int ms)
{
    struct pollfd p[2] = {{w->stop[0], POLLIN, 0}, {fd, POLLIN, 0}};

    if (poll(p, fd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
        return false;
    return (p[0].revents & (POLLIN | POLLHUP)) != 0;
}

bool sdc_cfg_watch_wants(const struct sdc_cfg_watch *w, const char *key)
{
    if (w->nkeys == 0)
        return true;
    for (size_t i = 0; i < w->nkeys; i++)
        if (strcmp(w->keys[i], key) == 0)
            return true;
    return false;
}

static void stop_one(struct sdc_cfg_watch *w)
{
    ssize_t n;

    do {
        n = write(w->stop[1], "x", 1);
    } while (n < 0 && errno == EINTR);
    pthread_join(w->th, NULL);
    watch_free(w);
}

void sdc_cfg_watch_stop(struct sdc_cfg_watchers *ws, void *handle)
{
    struct sdc_cfg_watch *found = NULL;

    pthread_mutex_lock(&ws->mu);
    for (struct sdc_cfg_watch **pp = &ws->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == handle) {
            found = *pp;
            *pp = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&ws->mu);
    if (found != NULL)
        stop_one(found);
}

void sdc_cfg_watchers_cleanup(struct sdc_cfg_watchers *ws)
{
    for (;;) {
        struct sdc_cfg_watch *w;

        pthread_mutex_lock(&ws->mu);
        w = ws->head;
        if (w != NULL)
            ws->head = w->next;
        pthread_mutex_unlock(&ws->mu);
        if (w == NULL)
            break;
        stop_one(w);
    }
    pthread_mutex_destroy(&ws->mu);
}
