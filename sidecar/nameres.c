/* Name resolution front end (sidecar-api.md §20.6, §22.8): backend choice, a short lookup
 * cache, demotion of failed addresses, the random pick, and the internal port derivation. */
#include "nameres.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dc/log.h"
#include "dc/mem.h"
#include "dc/rand.h"
#include "dc/str.h"
#include "dc/time.h"

#include "config.h"
#include "nameres_internal.h"
#include "runtime.h"

#define NR_CACHE_SLOTS 64
#define NR_DEMOTED_SLOTS 64
#define NR_ID_LEN 256
#define NR_DEFAULT_CACHE_TTL_NS 1000000000LL
#define NR_DEFAULT_DEMOTE_NS 5000000000LL
#define STABLE_PORT_BASE 47300

struct nr_cache_entry {
    char app_id[NR_ID_LEN];
    char ns[NR_ID_LEN];
    int64_t expires; /* dc_mono_ns; 0: free slot */
    size_t n;
    char addrs[SDC__NR_MAX_ADDRS][SDC__NR_ADDR_LEN];
};

struct nr_demoted {
    char addr[SDC__NR_ADDR_LEN];
    int64_t until; /* dc_mono_ns; 0: free slot */
};

struct sdc_nameres {
    const struct sdc__nr_backend *be;
    void *impl;
    char *own_ns;
    int64_t cache_ttl_ns;
    int64_t demote_ns;

    pthread_mutex_t mu; /* guards everything below */
    uint64_t rng;
    struct nr_cache_entry *cache; /* NR_CACHE_SLOTS */
    struct nr_demoted demoted[NR_DEMOTED_SLOTS];
};

/* ---- Helpers shared with the backends ------------------------------------------------- */

static const cJSON *conf_get(const cJSON *conf, const char *key)
{
    const cJSON *it;

    if (conf == NULL || !cJSON_IsObject(conf))
        return NULL;
    cJSON_ArrayForEach(it, conf)
    {
        if (it->string != NULL && dc_str_eq_ci(it->string, key))
            return it;
    }
    return NULL;
}

const char *sdc__nr_conf_str(const cJSON *conf, const char *key, char *buf, size_t cap)
{
    const cJSON *v = conf_get(conf, key);

    if (v == NULL || cJSON_IsNull(v))
        return NULL;
    if (cJSON_IsString(v))
        dc_strlcpy(buf, v->valuestring, cap);
    else if (cJSON_IsBool(v))
        dc_strlcpy(buf, cJSON_IsTrue(v) ? "true" : "false", cap);
    else if (cJSON_IsNumber(v))
        snprintf(buf, cap, "%.0f", v->valuedouble);
    else
        return NULL;
    return buf;
}

int sdc__nr_conf_duration(const cJSON *conf, const char *key, int64_t bare_unit_ns, int64_t def,
                          int64_t *out, struct dc_errbuf *eb)
{
    char buf[64];
    const char *s = sdc__nr_conf_str(conf, key, buf, sizeof(buf));
    int64_t n;

    *out = def;
    if (s == NULL || s[0] == '\0')
        return DC_OK;
    if (dc_str_to_i64(s, 0, INT64_MAX / bare_unit_ns, &n) == DC_OK) {
        *out = n * bare_unit_ns;
        return DC_OK;
    }
    if (dc_duration_parse(s, &n, NULL) != DC_OK || n < 0)
        return dc_err_set(eb, DC_EINVAL, "name resolution: invalid duration for '%s': \"%s\"", key,
                          s);
    *out = n;
    return DC_OK;
}

int sdc__nr_join_host_port(char *out, size_t cap, const char *host, int port)
{
    int n = strchr(host, ':') != NULL ? snprintf(out, cap, "[%s]:%d", host, port)
                                      : snprintf(out, cap, "%s:%d", host, port);
    return (n < 0 || (size_t)n >= cap) ? DC_ETOOBIG : DC_OK;
}

/* ---- Construction --------------------------------------------------------------------- */

static int home_dir(char *out, size_t cap)
{
    const char *h = getenv("HOME");
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (!dc_str_empty(h)) {
        dc_strlcpy(out, h, cap);
        return DC_OK;
    }
    if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) != 0 || res == NULL ||
        dc_str_empty(pw.pw_dir))
        return DC_ENOTFOUND;
    dc_strlcpy(out, pw.pw_dir, cap);
    return DC_OK;
}

/* "$HOME/.dapr/nr.db", creating "$HOME/.dapr" (0755, as the dapr CLI does). */
static int default_conn(char *out, size_t cap, struct dc_errbuf *eb)
{
    char home[2048], dir[2200];

    if (home_dir(home, sizeof(home)) != DC_OK)
        return dc_err_set(eb, DC_EINVAL,
                          "name resolution: no home directory for the default SQLite file; "
                          "set nameResolution.configuration.connectionString");
    snprintf(dir, sizeof(dir), "%s/.dapr", home);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return dc_err_set(eb, DC_EIO, "name resolution: cannot create %s: %s", dir,
                          strerror(errno));
    if ((size_t)snprintf(out, cap, "%s/nr.db", dir) >= cap)
        return dc_err_set(eb, DC_ETOOBIG, "name resolution: home directory path too long");
    return DC_OK;
}

static const char *strip_prefix(const char *component)
{
    return dc_str_has_prefix(component, "nameresolution.") ? component + strlen("nameresolution.")
                                                           : component;
}

int sdc_nameres_new(struct sdc_nameres **out, const char *component, const cJSON *configuration,
                    const struct sdc_nameres_self *self, struct dc_errbuf *eb)
{
    struct sdc_nameres *nr;
    const char *c = component != NULL ? strip_prefix(component) : NULL;
    char dconn[2300];
    int rv;

    *out = NULL;
    if (c != NULL && strcmp(c, "mdns") == 0) {
        DC_LOG(DC_LOG_WARN, "name resolution: mdns is not supported (multicast does not work on "
                            "loopback); using the shared SQLite resolver instead");
        c = NULL;
    }
    nr = dc_xcalloc(1, sizeof(*nr));
    nr->cache = dc_xcalloc(NR_CACHE_SLOTS, sizeof(*nr->cache));
    nr->own_ns = dc_xstrdup(self != NULL && self->namespace != NULL ? self->namespace : "");
    nr->rng = dc_rand64() | 1;
    pthread_mutex_init(&nr->mu, NULL);
    rv = sdc__nr_conf_duration(configuration, "cacheTTL", 1000000000LL, NR_DEFAULT_CACHE_TTL_NS,
                               &nr->cache_ttl_ns, eb);
    if (rv != DC_OK)
        goto fail;
    if (c == NULL || strcmp(c, "sqlite") == 0) {
        const char *def = NULL;
        char tmp[16];

        if (c == NULL &&
            sdc__nr_conf_str(configuration, "connectionString", tmp, sizeof(tmp)) == NULL &&
            sdc__nr_conf_str(configuration, "url", tmp, sizeof(tmp)) == NULL) {
            rv = default_conn(dconn, sizeof(dconn), eb);
            if (rv != DC_OK)
                goto fail;
            def = dconn;
        }
        rv = sdc__nr_conf_duration(configuration, "updateInterval", 1000000000LL,
                                   NR_DEFAULT_DEMOTE_NS, &nr->demote_ns, eb);
        if (rv == DC_OK)
            rv = sdc__nr_sqlite_new(&nr->impl, configuration, self, def, eb);
        nr->be = &sdc__nr_sqlite;
    } else if (strcmp(c, "kubernetes") == 0) {
        nr->demote_ns = NR_DEFAULT_DEMOTE_NS;
        rv = sdc__nr_kubernetes_new(&nr->impl, configuration, self, eb);
        nr->be = &sdc__nr_kubernetes;
    } else {
        rv = dc_err_set(eb, DC_EINVAL,
                        "name resolution: unsupported component \"%s\" (want sqlite or "
                        "kubernetes)",
                        component);
    }
    if (rv != DC_OK)
        goto fail;
    *out = nr;
    return DC_OK;
fail:
    nr->impl = NULL;
    sdc_nameres_free(nr);
    return rv;
}

void sdc_nameres_free(struct sdc_nameres *nr)
{
    if (nr == NULL)
        return;
    if (nr->be != NULL && nr->impl != NULL)
        nr->be->free(nr->impl);
    pthread_mutex_destroy(&nr->mu);
    free(nr->cache);
    free(nr->own_ns);
    free(nr);
}

void *sdc__nr_impl(struct sdc_nameres *nr)
{
    return nr->impl;
}

/* ---- Lookup --------------------------------------------------------------------------- */

static uint64_t rng_next(struct sdc_nameres *nr)
{
    /* xorshift64*, under nr->mu. */
    nr->rng ^= nr->rng >> 12;
    nr->rng ^= nr->rng << 25;
    nr->rng ^= nr->rng >> 27;
    return nr->rng * 0x2545F4914F6CDD1DULL;
}

static bool is_demoted(struct sdc_nameres *nr, const char *addr, int64_t now)
{
    for (size_t i = 0; i < NR_DEMOTED_SLOTS; i++) {
        if (nr->demoted[i].until > now && strcmp(nr->demoted[i].addr, addr) == 0)
            return true;
    }
    return false;
}

/* Pick a random address of `e`, preferring those not demoted; under nr->mu. */
static void pick(struct sdc_nameres *nr, const struct nr_cache_entry *e, char *out, size_t cap,
                 int64_t now)
{
    size_t good[SDC__NR_MAX_ADDRS], ngood = 0;

    for (size_t i = 0; i < e->n; i++) {
        if (!is_demoted(nr, e->addrs[i], now))
            good[ngood++] = i;
    }
    if (ngood > 0)
        dc_strlcpy(out, e->addrs[good[rng_next(nr) % ngood]], cap);
    else
        dc_strlcpy(out, e->addrs[rng_next(nr) % e->n], cap);
}

static struct nr_cache_entry *cache_find(struct sdc_nameres *nr, const char *app_id, const char *ns)
{
    for (size_t i = 0; i < NR_CACHE_SLOTS; i++) {
        struct nr_cache_entry *e = &nr->cache[i];
        if (e->expires != 0 && strcmp(e->app_id, app_id) == 0 && strcmp(e->ns, ns) == 0)
            return e;
    }
    return NULL;
}

static struct nr_cache_entry *cache_slot(struct sdc_nameres *nr, const char *app_id, const char *ns)
{
    struct nr_cache_entry *e = cache_find(nr, app_id, ns), *oldest = &nr->cache[0];

    if (e != NULL)
        return e;
    for (size_t i = 0; i < NR_CACHE_SLOTS; i++) {
        if (nr->cache[i].expires < oldest->expires)
            oldest = &nr->cache[i];
    }
    dc_strlcpy(oldest->app_id, app_id, sizeof(oldest->app_id));
    dc_strlcpy(oldest->ns, ns, sizeof(oldest->ns));
    return oldest;
}

int sdc_nameres_resolve(struct sdc_nameres *nr, const char *app_id, const char *namespace,
                        char *out, size_t cap, struct dc_errbuf *eb)
{
    const char *ns = namespace != NULL ? namespace : nr->own_ns;
    char(*addrs)[SDC__NR_ADDR_LEN];
    struct nr_cache_entry *e;
    char pickbuf[SDC__NR_ADDR_LEN];
    int64_t now = dc_mono_ns();
    int n;

    if (dc_str_empty(app_id) || strlen(app_id) >= NR_ID_LEN || strlen(ns) >= NR_ID_LEN)
        return dc_err_set(eb, DC_EINVAL, "name resolution: invalid app id");
    pthread_mutex_lock(&nr->mu);
    e = cache_find(nr, app_id, ns);
    if (e != NULL && e->expires > now && e->n > 0) {
        pick(nr, e, pickbuf, sizeof(pickbuf), now);
        pthread_mutex_unlock(&nr->mu);
        goto copy;
    }
    pthread_mutex_unlock(&nr->mu);

    /* Miss: ask the backend without holding the lock (it may block on SQLite or DNS). */
    addrs = dc_xmalloc(SDC__NR_MAX_ADDRS * sizeof(*addrs));
    n = nr->be->list(nr->impl, app_id, ns, addrs, SDC__NR_MAX_ADDRS, eb);
    if (n <= 0) {
        free(addrs);
        if (n == 0)
            return dc_err_set(eb, DC_ENOTFOUND, "no host found with the given ID: %s", app_id);
        return n;
    }
    pthread_mutex_lock(&nr->mu);
    e = cache_slot(nr, app_id, ns);
    e->n = (size_t)n;
    memcpy(e->addrs, addrs, (size_t)n * sizeof(*addrs));
    e->expires = nr->cache_ttl_ns > 0 ? now + nr->cache_ttl_ns : 1; /* 1: never fresh */
    pick(nr, e, pickbuf, sizeof(pickbuf), now);
    pthread_mutex_unlock(&nr->mu);
    free(addrs);
copy:
    if (dc_strlcpy(out, pickbuf, cap) >= cap)
        return dc_err_set(eb, DC_ETOOBIG, "name resolution: address too long");
    return DC_OK;
}

void sdc_nameres_report_failure(struct sdc_nameres *nr, const char *app_id, const char *addr)
{
    int64_t now = dc_mono_ns();
    struct nr_demoted *slot = NULL;

    if (nr == NULL || addr == NULL || strlen(addr) >= SDC__NR_ADDR_LEN)
        return;
    pthread_mutex_lock(&nr->mu);
    for (size_t i = 0; i < NR_DEMOTED_SLOTS && slot == NULL; i++) {
        if (strcmp(nr->demoted[i].addr, addr) == 0)
            slot = &nr->demoted[i];
    }
    for (size_t i = 0; i < NR_DEMOTED_SLOTS && slot == NULL; i++) {
        if (nr->demoted[i].until <= now)
            slot = &nr->demoted[i];
    }
    if (slot == NULL)
        slot = &nr->demoted[rng_next(nr) % NR_DEMOTED_SLOTS];
    dc_strlcpy(slot->addr, addr, sizeof(slot->addr));
    slot->until = now + nr->demote_ns;
    /* Re-read the backend next time: a dead instance's row may be gone already. */
    for (size_t i = 0; app_id != NULL && i < NR_CACHE_SLOTS; i++) {
        if (nr->cache[i].expires != 0 && strcmp(nr->cache[i].app_id, app_id) == 0)
            nr->cache[i].expires = 1;
    }
    pthread_mutex_unlock(&nr->mu);
}

/* ---- Internal port -------------------------------------------------------------------- */

int sdc_internal_port_stable(const char *app_id)
{
    char cwd[4096] = "", host[256] = "", base[8192];
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 */
    int n;

    if (getcwd(cwd, sizeof(cwd)) == NULL)
        cwd[0] = '\0';
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    n = snprintf(base, sizeof(base), "%s|%s|%u|%s", app_id != NULL ? app_id : "", cwd,
                 (unsigned)getuid(), host);
    if (n < 0 || (size_t)n >= sizeof(base))
        n = (int)strlen(base);
    /* An identifier, not a secret: a plain FNV-1a spreads the ports well enough and keeps
     * libcrypto untouched in a sidecar without TLS. 11 bits: 2048 ports from the base. */
    for (int i = 0; i < n; i++)
        h = (h ^ (unsigned char)base[i]) * 0x100000001b3ULL;
    return STABLE_PORT_BASE + (int)(h >> 53);
}

/* Bind probe on all interfaces; returns the port bound (`port`, or the kernel's for 0), or -1. */
static int probe_port(int port)
{
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    socklen_t len;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, got = -1;

    if (fd >= 0) {
        memset(&a6, 0, sizeof(a6));
        a6.sin6_family = AF_INET6;
        a6.sin6_addr = in6addr_any;
        a6.sin6_port = htons((uint16_t)port);
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        len = sizeof(a6);
        if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a6, &len) == 0)
            got = ntohs(a6.sin6_port);
        close(fd);
        return got;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&a4, 0, sizeof(a4));
    a4.sin_family = AF_INET;
    a4.sin_addr.s_addr = htonl(INADDR_ANY);
    a4.sin_port = htons((uint16_t)port);
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    len = sizeof(a4);
    if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a4, &len) == 0)
        got = ntohs(a4.sin_port);
    close(fd);
    return got;
}

static pthread_mutex_t port_mu = PTHREAD_MUTEX_INITIALIZER;
static char port_app[NR_ID_LEN];
static int port_memo = -1;

int sdc_internal_port(const struct sdc_config *cfg)
{
    const char *app = cfg->app_id != NULL ? cfg->app_id : "";
    int port;

    if (cfg->dapr_internal_grpc_port > 0)
        return cfg->dapr_internal_grpc_port;
    pthread_mutex_lock(&port_mu);
    if (port_memo > 0 && strcmp(port_app, app) == 0) {
        port = port_memo;
    } else {
        port = sdc_internal_port_stable(app);
        if (probe_port(port) != port) {
            int alt = probe_port(0);
            if (alt > 0)
                port = alt;
        }
        dc_strlcpy(port_app, app, sizeof(port_app));
        port_memo = port;
    }
    pthread_mutex_unlock(&port_mu);
    return port;
}

/* ---- daprd wiring --------------------------------------------------------------------- */

int sdc_nameres_start(struct sdc_runtime *rt, struct dc_errbuf *eb)
{
    const struct sdc_config *cfg = rt->cfg;
    const char *component = NULL;
    const cJSON *conf = NULL;
    struct sdc_nameres_self self;
    int rv;

    rt->nameres = NULL;
    if (dc_str_empty(cfg->app_id))
        return DC_OK;
    if (rt->have_conf) {
        component = rt->conf.name_resolution.component;
        conf = rt->conf.name_resolution.configuration;
    }
    if (dc_str_empty(component))
        component = dc_str_eq(cfg->mode, "kubernetes") ? "kubernetes" : NULL;
    self.app_id = cfg->app_id;
    self.namespace = cfg->namespace != NULL ? cfg->namespace : "";
    self.host = !dc_str_empty(cfg->host_ip) ? cfg->host_ip : "127.0.0.1";
    self.port = sdc_internal_port(cfg);
    rv = sdc_nameres_new(&rt->nameres, component, conf, &self, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "name resolution");
        return rv;
    }
    DC_LOG(DC_LOG_INFO, "name resolution: %s; this sidecar is %s at %s:%d",
           component != NULL ? component : "sqlite (default)", cfg->app_id, self.host, self.port);
    return DC_OK;
}
