/* Lease-based leader election (see dc/k8s_lease.h for the algorithm and threading). */
#include "dc/k8s_lease.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "k8s_internal.h"

static const struct dc_k8s_resource lease_res = {"coordination.k8s.io", "v1", "leases", true};

struct dc_k8s_lease {
    struct dc_k8s_client *client;
    char *ns, *name, *identity;
    struct dc_k8s_lease_opts o;
    struct dc_k8s_cancel *cancel;
    pthread_t thread;
    atomic_bool leader;
    char *observed;        /* the last Lease spec seen, serialised (change detection) */
    int64_t observed_ms;   /* monotonic time it last changed */
    char *observed_holder; /* for on_new_leader */
    int64_t last_renew_ms;
};

enum try_result { TRY_OK, TRY_HELD, TRY_FAILED };

void dc_k8s_microtime(char out[32], const struct timespec *ts)
{
    struct tm tm;
    time_t s = ts->tv_sec;
    long us = (ts->tv_nsec / 1000) % 1000000;
    size_t n;

    gmtime_r(&s, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0 || n > 32 - 9) {
        out[0] = '\0';
        return;
    }
    /* ".000000Z" by hand: metav1.MicroTime's RFC3339Micro layout. */
    out[n++] = '.';
    for (int i = 5; i >= 0; i--, us /= 10)
        out[n + (size_t)i] = (char)('0' + us % 10);
    n += 6;
    out[n++] = 'Z';
    out[n] = '\0';
}

static void now_micro(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    dc_k8s_microtime(out, &ts);
}

static long duration_s(const struct dc_k8s_lease *l)
{
    return (l->o.lease_duration_ms + 999) / 1000;
}

static int lease_path(struct dc_k8s_lease *l, struct dc_buf *p, bool named)
{
    dc_buf_init(p, 0);
    return dc_k8s_path(p, &lease_res, l->ns, named ? l->name : NULL, NULL);
}

static int send_lease(struct dc_k8s_lease *l, const char *method, cJSON *lease,
                      struct dc_k8s_cancel *cancel, struct dc_errbuf *eb)
{
    struct dc_buf p;
    char *body = cJSON_PrintUnformatted(lease);
    int rv = lease_path(l, &p, strcmp(method, "PUT") == 0);

    if (rv == DC_OK)
        rv = dc_k8s_request(l->client, method, dc_buf_cstr(&p), "application/json", body,
                            strlen(body), cancel, NULL, NULL, eb);
    dc_buf_cleanup(&p);
    cJSON_free(body);
    return rv;
}

static void observe(struct dc_k8s_lease *l, const cJSON *spec)
{
    char *s = cJSON_PrintUnformatted(spec);
    const char *holder =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity"));

    if (!dc_str_eq(s, l->observed)) {
        free(l->observed);
        l->observed = dc_xstrdup(s);
        l->observed_ms = k8s_now_ms();
    }
    cJSON_free(s);
    if (!dc_str_empty(holder) && !dc_str_eq(holder, l->observed_holder)) {
        free(l->observed_holder);
        l->observed_holder = dc_xstrdup(holder);
        if (l->o.on_new_leader != NULL)
            l->o.on_new_leader(l->o.arg, holder);
    }
}

static void set_spec(struct dc_k8s_lease *l, cJSON *spec, bool take_over)
{
    char now[32];
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
    double transitions = cJSON_IsNumber(tr) ? tr->valuedouble : 0;

    now_micro(now);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "holderIdentity");
    cJSON_AddStringToObject(spec, "holderIdentity", l->identity);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseDurationSeconds");
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)duration_s(l));
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "renewTime");
    cJSON_AddStringToObject(spec, "renewTime", now);
    if (take_over) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "acquireTime");
        cJSON_AddStringToObject(spec, "acquireTime", now);
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseTransitions");
        cJSON_AddNumberToObject(spec, "leaseTransitions", transitions + 1);
    }
}

static enum try_result try_create(struct dc_k8s_lease *l)
{
    cJSON *lease = cJSON_CreateObject(), *md, *spec;
    int rv;

    cJSON_AddStringToObject(lease, "apiVersion", "coordination.k8s.io/v1");
    cJSON_AddStringToObject(lease, "kind", "Lease");
    md = cJSON_AddObjectToObject(lease, "metadata");
    cJSON_AddStringToObject(md, "name", l->name);
    cJSON_AddStringToObject(md, "namespace", l->ns);
    spec = cJSON_AddObjectToObject(lease, "spec");
    set_spec(l, spec, true);
    cJSON_ReplaceItemInObjectCaseSensitive(spec, "leaseTransitions", cJSON_CreateNumber(0));
    rv = send_lease(l, "POST", lease, l->cancel, NULL);
    if (rv == DC_OK)
        observe(l, spec);
    cJSON_Delete(lease);
    return rv == DC_OK ? TRY_OK : TRY_FAILED; /* AlreadyExists: lost the race */
}

/* One round of client-go's tryAcquireOrRenew. */
static enum try_result try_acquire_or_renew(struct dc_k8s_lease *l)
{
    struct dc_buf p;
    cJSON *lease = NULL, *spec;
    const char *holder;
    const cJSON *dur;
    long dur_ms;
    bool mine;
    enum try_result res = TRY_FAILED;
    int rv = lease_path(l, &p, true);

    if (rv == DC_OK)
        rv = dc_k8s_request(l->client, "GET", dc_buf_cstr(&p), NULL, NULL, 0, l->cancel, &lease,
                            NULL, NULL);
    dc_buf_cleanup(&p);
    if (rv == DC_ENOTFOUND)
        return try_create(l);
    if (rv != DC_OK || !cJSON_IsObject(lease))
        goto out;
    spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
    if (!cJSON_IsObject(spec)) {
        cJSON_DeleteItemFromObjectCaseSensitive(lease, "spec");
        spec = cJSON_AddObjectToObject(lease, "spec");
    }
    observe(l, spec);
    holder = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity"));
    mine = dc_str_eq(holder, l->identity);
    dur = cJSON_GetObjectItemCaseSensitive(spec, "leaseDurationSeconds");
    /* An int32 in the API; capped before the conversion (1e300 * 1000 to long is undefined). */
    if (cJSON_IsNumber(dur) && dur->valuedouble > 0)
        dur_ms =
            dur->valuedouble < INT32_MAX ? (long)(dur->valuedouble * 1000) : (long)INT32_MAX * 1000;
    else
        dur_ms = l->o.lease_duration_ms;
    if (!dc_str_empty(holder) && !mine && l->observed_ms + dur_ms > k8s_now_ms()) {
        res = TRY_HELD;
        goto out;
    }
    /* Ours to renew, or free / expired to take over; the rv in metadata guards the race. */
    set_spec(l, spec, !mine);
    if (send_lease(l, "PUT", lease, l->cancel, NULL) == DC_OK) {
        observe(l, spec);
        res = TRY_OK;
    }
out:
    cJSON_Delete(lease);
    return res;
}

/* Give the lease up (client-go's release): empty holder, 1 s duration. Best effort. */
static void release(struct dc_k8s_lease *l)
{
    struct dc_buf p;
    cJSON *lease = NULL, *spec;
    char now[32];
    int rv = lease_path(l, &p, true);

    if (rv == DC_OK)
        rv = dc_k8s_request(l->client, "GET", dc_buf_cstr(&p), NULL, NULL, 0, NULL, &lease, NULL,
                            NULL);
    dc_buf_cleanup(&p);
    spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
    if (rv == DC_OK && cJSON_IsObject(spec) &&
        dc_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity")),
                  l->identity)) {
        now_micro(now);
        cJSON_ReplaceItemInObjectCaseSensitive(spec, "holderIdentity", cJSON_CreateString(""));
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseDurationSeconds");
        cJSON_AddNumberToObject(spec, "leaseDurationSeconds", 1);
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "renewTime");
        cJSON_AddStringToObject(spec, "renewTime", now);
        (void)send_lease(l, "PUT", lease, NULL, NULL);
    }
    cJSON_Delete(lease);
}

static long jittered(long ms)
{
    /* client-go's candidate loop, wait.JitterUntil(retryPeriod, 1.2): ms + rand * 1.2 * ms, so
     * contenders started together do not stay in lock step. A cheap spread is enough here. */
    return ms + (long)((k8s_now_ms() * 7919) % (ms * 12 / 10 + 1));
}

static void *lease_main(void *arg)
{
    struct dc_k8s_lease *l = arg;

    while (!dc_k8s_cancel_fired(l->cancel)) {
        enum try_result r = try_acquire_or_renew(l);
        int64_t now = k8s_now_ms();
        bool leading = atomic_load(&l->leader);

        if (dc_k8s_cancel_fired(l->cancel))
            break;
        if (r == TRY_OK) {
            l->last_renew_ms = now;
            if (!leading) {
                atomic_store(&l->leader, true);
                if (l->o.on_started_leading != NULL)
                    l->o.on_started_leading(l->o.arg);
            }
        } else if (leading && (r == TRY_HELD || now - l->last_renew_ms >= l->o.renew_deadline_ms)) {
            atomic_store(&l->leader, false);
            if (l->o.on_stopped_leading != NULL)
                l->o.on_stopped_leading(l->o.arg);
        }
        dc_k8s_cancel_sleep(l->cancel, atomic_load(&l->leader) ? l->o.retry_period_ms
                                                               : jittered(l->o.retry_period_ms));
    }
    return NULL;
}

int dc_k8s_lease_start(struct dc_k8s_lease **out, struct dc_k8s_client *c,
                       const struct dc_k8s_lease_opts *opts, struct dc_errbuf *eb)
{
    struct dc_k8s_lease *l;

    *out = NULL;
    if (c == NULL || opts == NULL || dc_str_empty(opts->ns) || dc_str_empty(opts->name) ||
        dc_str_empty(opts->identity))
        return dc_err_set(eb, DC_EINVAL, "lease: namespace, name and identity are required");
    l = dc_xcalloc(1, sizeof(*l));
    l->o = *opts;
    if (l->o.lease_duration_ms <= 0)
        l->o.lease_duration_ms = 15000;
    if (l->o.renew_deadline_ms <= 0)
        l->o.renew_deadline_ms = 10000;
    if (l->o.retry_period_ms <= 0)
        l->o.retry_period_ms = 2000;
    /* client-go's checks: leaseDuration > renewDeadline > jitter * retryPeriod. */
    if (l->o.lease_duration_ms <= l->o.renew_deadline_ms ||
        l->o.renew_deadline_ms <= l->o.retry_period_ms * 12 / 10) {
        free(l);
        return dc_err_set(eb, DC_EINVAL,
                          "lease: need lease duration > renew deadline > 1.2 * retry period");
    }
    l->client = c;
    l->ns = dc_xstrdup(opts->ns);
    l->name = dc_xstrdup(opts->name);
    l->identity = dc_xstrdup(opts->identity);
    l->o.ns = l->ns;
    l->o.name = l->name;
    l->o.identity = l->identity;
    atomic_init(&l->leader, false);
    l->cancel = dc_k8s_cancel_new();
    if (pthread_create(&l->thread, NULL, lease_main, l) != 0) {
        dc_k8s_cancel_free(l->cancel);
        free(l->ns);
        free(l->name);
        free(l->identity);
        free(l);
        return dc_err_set(eb, DC_EIO, "lease: cannot start thread");
    }
    *out = l;
    return DC_OK;
}

void dc_k8s_lease_stop(struct dc_k8s_lease *l)
{
    if (l == NULL)
        return;
    dc_k8s_cancel_fire(l->cancel);
    pthread_join(l->thread, NULL);
    if (atomic_load(&l->leader)) {
        if (l->o.release_on_stop)
            release(l);
        atomic_store(&l->leader, false);
        if (l->o.on_stopped_leading != NULL)
            l->o.on_stopped_leading(l->o.arg);
    }
    dc_k8s_cancel_free(l->cancel);
    free(l->observed);
    free(l->observed_holder);
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l);
}

bool dc_k8s_lease_is_leader(struct dc_k8s_lease *l)
{
    return atomic_load(&l->leader);
}
