/* TEMPORARY stub of nameres.h (see stubs.h) and the stubs' setup: a plain-text registry file
 * ("<app_id> <namespace> <host:port>" per line, guarded by flock) at the Configuration's
 * nameResolution.configuration.connectionString (else $HOME/.dapr/nr-stub.txt). Resolution
 * rotates over the registered instances, skipping for 30 s an address reported as failed. The
 * name-resolution branch replaces this file. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "dc/time.h"

#include "acl.h"
#include "nameres.h"
#include "resiliency.h"
#include "stubs.h"

#define MAX_FAILED 64
#define FAILED_FOR_NS (30LL * 1000000000LL)

struct sdc_nameres {
    char path[1024];
    char self_line[600]; /* "" when not registered */
    pthread_mutex_t mu;
    struct {
        char addr[300];
        int64_t until;
    } failed[MAX_FAILED];
    atomic_uint rr;
};

static const char *ns_or_default(const char *ns)
{
    return dc_str_empty(ns) ? "default" : ns;
}

int sdc_nameres_new(struct sdc_nameres **out, const char *component, const cJSON *configuration,
                    const struct sdc_nameres_self *self, struct dc_errbuf *eb)
{
    struct sdc_nameres *nr = dc_xcalloc(1, sizeof(*nr));
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(configuration, "connectionString");
    const char *home = getenv("HOME");
    FILE *f;

    (void)component;
    if (cJSON_IsString(cs) && !dc_str_empty(cs->valuestring)) {
        dc_strlcpy(nr->path, cs->valuestring, sizeof(nr->path));
    } else {
        char dir[900];
        snprintf(dir, sizeof(dir), "%s/.dapr", home != NULL ? home : "/tmp");
        mkdir(dir, 0700);
        snprintf(nr->path, sizeof(nr->path), "%s/nr-stub.txt", dir);
    }
    pthread_mutex_init(&nr->mu, NULL);
    atomic_init(&nr->rr, 0);
    if (self != NULL) {
        snprintf(nr->self_line, sizeof(nr->self_line), "%s %s %s:%d\n", self->app_id,
                 ns_or_default(self->namespace), self->host != NULL ? self->host : "127.0.0.1",
                 self->port);
        f = fopen(nr->path, "a");
        if (f == NULL) {
            free(nr);
            return dc_err_set(eb, DC_EIO, "name resolution stub: cannot open %s", nr->path);
        }
        flock(fileno(f), LOCK_EX);
        fputs(nr->self_line, f);
        flock(fileno(f), LOCK_UN);
        fclose(f);
    }
    *out = nr;
    return DC_OK;
}

static bool is_failed(struct sdc_nameres *nr, const char *addr)
{
    int64_t now = dc_mono_ns();
    bool failed = false;

    pthread_mutex_lock(&nr->mu);
    for (size_t i = 0; i < MAX_FAILED && !failed; i++)
        failed = nr->failed[i].until > now && strcmp(nr->failed[i].addr, addr) == 0;
    pthread_mutex_unlock(&nr->mu);
    return failed;
}

int sdc_nameres_resolve(struct sdc_nameres *nr, const char *app_id, const char *namespace,
                        char *out, size_t cap, struct dc_errbuf *eb)
{
    char line[600], addrs[16][300], id[260], ns[260], addr[300];
    size_t n = 0, live = 0, pick[16];
    FILE *f = fopen(nr->path, "r");

    if (f == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "no instances found for app %s", app_id);
    flock(fileno(f), LOCK_SH);
    while (n < 16 && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%259s %259s %299s", id, ns, addr) == 3 && strcmp(id, app_id) == 0 &&
            (namespace == NULL || strcmp(ns, namespace) == 0))
            dc_strlcpy(addrs[n++], addr, sizeof(addrs[0]));
    }
    flock(fileno(f), LOCK_UN);
    fclose(f);
    if (n == 0)
        return dc_err_set(eb, DC_ENOTFOUND, "no instances found for app %s", app_id);
    for (size_t i = 0; i < n; i++)
        if (!is_failed(nr, addrs[i]))
            pick[live++] = i;
    if (live == 0) {
        for (size_t i = 0; i < n; i++)
            pick[i] = i;
        live = n;
    }
    dc_strlcpy(out, addrs[pick[atomic_fetch_add(&nr->rr, 1) % live]], cap);
    return DC_OK;
}

void sdc_nameres_report_failure(struct sdc_nameres *nr, const char *app_id, const char *addr)
{
    size_t slot = 0;

    (void)app_id;
    pthread_mutex_lock(&nr->mu);
    for (size_t i = 0; i < MAX_FAILED; i++)
        if (nr->failed[i].until < nr->failed[slot].until)
            slot = i;
    dc_strlcpy(nr->failed[slot].addr, addr, sizeof(nr->failed[slot].addr));
    nr->failed[slot].until = dc_mono_ns() + FAILED_FOR_NS;
    pthread_mutex_unlock(&nr->mu);
}

/* Remove our own line from the registry. */
static void unregister(struct sdc_nameres *nr)
{
    char line[600];
    struct dc_buf keep = {0};
    bool removed = false;
    FILE *f = fopen(nr->path, "r+");

    if (f == NULL)
        return;
    flock(fileno(f), LOCK_EX);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (!removed && strcmp(line, nr->self_line) == 0)
            removed = true;
        else if (dc_buf_appends(&keep, line) != DC_OK)
            break;
    }
    rewind(f);
    if (keep.len > 0)
        fwrite(keep.data, 1, keep.len, f);
    fflush(f);
    if (ftruncate(fileno(f), (off_t)keep.len) != 0)
        removed = false;
    flock(fileno(f), LOCK_UN);
    fclose(f);
    dc_buf_cleanup(&keep);
}

void sdc_nameres_free(struct sdc_nameres *nr)
{
    if (nr == NULL)
        return;
    if (nr->self_line[0] != '\0')
        unregister(nr);
    pthread_mutex_destroy(&nr->mu);
    free(nr);
}

int sdc__stub_deps_init(struct sdc_runtime *rt, int internal_port, struct dc_errbuf *eb)
{
    struct sdc_nameres_self self = {
        .app_id = rt->cfg->app_id,
        .namespace = rt->cfg->namespace,
        .host = dc_str_empty(rt->cfg->host_ip) ? "127.0.0.1" : rt->cfg->host_ip,
        .port = internal_port,
    };
    int rv;

    rv = sdc_nameres_new(&rt->nameres, rt->have_conf ? rt->conf.name_resolution.component : NULL,
                         rt->have_conf ? rt->conf.name_resolution.configuration : NULL, &self,
                         eb);
    if (rv == DC_OK)
        rv = sdc_acl_new(&rt->acl, rt->have_conf ? &rt->conf : NULL, eb);
    if (rv == DC_OK)
        rv = sdc_resiliency_new(&rt->resiliency, rt->resiliencies, rt->nresiliencies, eb);
    return rv;
}

void sdc__stub_deps_free(struct sdc_runtime *rt)
{
    sdc_nameres_free(rt->nameres);
    sdc_acl_free(rt->acl);
    sdc_resiliency_free(rt->resiliency);
    rt->nameres = NULL;
    rt->acl = NULL;
    rt->resiliency = NULL;
}
