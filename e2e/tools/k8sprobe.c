/* k8sprobe: a tiny CLI over libdc's Kubernetes client, for integration tests.
 *
 *   k8sprobe [--kubeconfig F] [--context C] [--in-cluster DIR] [-n NS] [--cluster] CMD ...
 *     get RES NAME                 print the object (JSON, one line)
 *     list RES [-l SEL]            print "NAME RV" per item
 *     create RES FILE|-            print the created object
 *     update RES NAME FILE|-       PUT
 *     patch RES NAME merge|json|strategic|apply BODY [--field-manager M] [--force]
 *     delete RES NAME
 *     watch RES N [-l SEL] [--rv RV] [--timeout S]   raw watch: "TYPE NAME RV", stop after N
 *     inform RES N [-l SEL] [--watch-timeout S] [--seconds S]
 *                                  informer: "SYNCED k" / "ADD|UPDATE|DELETE NAME", stop after N
 *     lease NAME IDENTITY SECONDS [--duration MS --renew MS --retry MS --release]
 *                                  "LEADER id" / "LOST id" / "SEEN holder"
 *   RES is [GROUP/]VERSION/PLURAL (v1/configmaps, coordination.k8s.io/v1/leases).
 * Errors go to stderr as "error: DC_ECODE: message"; the exit status is 1 (2 for usage, 3 when
 * inform/watch time out). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc/err.h"
#include "dc/k8s.h"
#include "dc/k8s_informer.h"
#include "dc/k8s_lease.h"
#include "dc/mem.h"
#include "dc/str.h"

struct probe {
    const char *kubeconfig, *context, *in_cluster, *ns, *lsel, *rv, *field_manager;
    bool cluster, force, release;
    long timeout, watch_timeout, seconds, duration, renew, retry;
    struct dc_k8s_resource res;
    char *res_buf;
    struct dc_k8s_client *client;
};

static const char *err_name(int code)
{
    switch (code) {
#define X(name, value, str)                                                                        \
    case value:                                                                                    \
        return #name;
        DC_ERRORS(X)
#undef X
    default:
        return "DC_E?";
    }
}

static int fail(int rv, const struct dc_errbuf *eb)
{
    fprintf(stderr, "error: %s: %s\n", err_name(rv), eb->msg);
    return 1;
}

static int parse_res(struct probe *p, const char *spec)
{
    char *last, *mid;

    p->res_buf = dc_xstrdup(spec);
    last = strrchr(p->res_buf, '/');
    if (last == NULL)
        return DC_EINVAL;
    *last = '\0';
    p->res.plural = last + 1;
    mid = strrchr(p->res_buf, '/');
    if (mid != NULL) {
        *mid = '\0';
        p->res.group = p->res_buf;
        p->res.version = mid + 1;
    } else {
        p->res.group = "";
        p->res.version = p->res_buf;
    }
    p->res.namespaced = !p->cluster;
    return DC_OK;
}

static cJSON *read_json(const char *file)
{
    struct dc_buf b = {0};
    char chunk[4096];
    size_t n;
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    cJSON *j;

    if (f == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (dc_buf_append(&b, chunk, n) != DC_OK)
            break;
    if (f != stdin)
        fclose(f);
    j = cJSON_ParseWithLength(dc_buf_cstr(&b), b.len);
    dc_buf_cleanup(&b);
    return j;
}

static void print_json(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s != NULL ? s : "null");
    cJSON_free(s);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- watch (raw) */

struct watch_ctx {
    long left;
};

static int on_raw_event(void *arg, enum dc_k8s_event_type t, cJSON *obj, cJSON *ev)
{
    struct watch_ctx *w = arg;
    (void)ev;
    if (t == DC_K8S_ERROR) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        printf("ERROR %d %s\n", cJSON_IsNumber(code) ? code->valueint : 0,
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "reason")));
    } else {
        const char *name = dc_k8s_obj_name(obj);
        printf("%s %s %s\n", dc_k8s_event_name(t), name != NULL ? name : "-",
               dc_k8s_obj_rv(obj) != NULL ? dc_k8s_obj_rv(obj) : "-");
    }
    fflush(stdout);
    return --w->left <= 0 ? DC_ECANCELED : DC_OK;
}

static int cmd_watch(struct probe *p, long n)
{
    struct watch_ctx w = {.left = n};
    struct dc_k8s_watch_opts wo = {.label_selector = p->lsel,
                                   .resource_version = p->rv,
                                   .bookmarks = true,
                                   .timeout_seconds = p->timeout};
    struct dc_errbuf eb = {0};
    int rv = dc_k8s_watch(p->client, &p->res, p->ns, &wo, on_raw_event, &w, NULL, &eb);

    if (rv == DC_ECANCELED && w.left <= 0)
        return 0;
    if (rv == DC_OK)
        return 3;
    return fail(rv, &eb);
}

/* ---- inform */

static atomic_long inform_left;

static void say(const char *what, const cJSON *obj)
{
    const char *name = dc_k8s_obj_name(obj);
    printf("%s %s\n", what, name != NULL ? name : "-");
    fflush(stdout);
    atomic_fetch_sub(&inform_left, 1);
}

static void on_add(void *arg, const cJSON *obj)
{
    (void)arg;
    say("ADD", obj);
}

static void on_update(void *arg, const cJSON *old_obj, const cJSON *new_obj)
{
    (void)arg;
    (void)old_obj;
    say("UPDATE", new_obj);
}

static void on_delete(void *arg, const cJSON *obj)
{
    (void)arg;
    say("DELETE", obj);
}

static void on_synced(void *arg, unsigned lists)
{
    (void)arg;
    printf("SYNCED %u\n", lists);
    fflush(stdout);
    atomic_fetch_sub(&inform_left, 1);
}

static void on_error(void *arg, int err, const char *msg)
{
    (void)arg;
    fprintf(stderr, "informer: %s: %s\n", err_name(err), msg);
}

static int cmd_inform(struct probe *p, long n)
{
    struct dc_k8s_informer_opts o = {.res = p->res,
                                     .ns = p->ns,
                                     .label_selector = p->lsel,
                                     .watch_timeout_s = p->watch_timeout,
                                     .backoff_initial_ms = 100,
                                     .backoff_max_ms = 1000};
    struct dc_k8s_informer_handlers h = {on_add, on_update, on_delete, on_synced, on_error, NULL};
    struct dc_k8s_informer *inf;
    struct dc_errbuf eb = {0};
    long waited = 0, limit = (p->seconds > 0 ? p->seconds : 30) * 1000;
    int rv;

    atomic_store(&inform_left, n);
    rv = dc_k8s_informer_start(&inf, p->client, &o, &h, &eb);
    if (rv != DC_OK)
        return fail(rv, &eb);
    while (atomic_load(&inform_left) > 0 && waited < limit) {
        sleep_ms(20);
        waited += 20;
    }
    dc_k8s_informer_stop(inf);
    printf("STOPPED\n");
    return atomic_load(&inform_left) > 0 ? 3 : 0;
}

/* ---- lease */

static const char *lease_id;

static void on_lead(void *arg)
{
    (void)arg;
    printf("LEADER %s\n", lease_id);
    fflush(stdout);
}

static void on_lost(void *arg)
{
    (void)arg;
    printf("LOST %s\n", lease_id);
    fflush(stdout);
}

static void on_new_leader(void *arg, const char *id)
{
    (void)arg;
    printf("SEEN %s\n", id);
    fflush(stdout);
}

static int cmd_lease(struct probe *p, const char *name, const char *id, long seconds)
{
    struct dc_k8s_lease_opts o = {.ns = p->ns,
                                  .name = name,
                                  .identity = id,
                                  .lease_duration_ms = p->duration,
                                  .renew_deadline_ms = p->renew,
                                  .retry_period_ms = p->retry,
                                  .release_on_stop = p->release,
                                  .on_started_leading = on_lead,
                                  .on_stopped_leading = on_lost,
                                  .on_new_leader = on_new_leader};
    struct dc_k8s_lease *l;
    struct dc_errbuf eb = {0};
    int rv;

    lease_id = id;
    rv = dc_k8s_lease_start(&l, p->client, &o, &eb);
    if (rv != DC_OK)
        return fail(rv, &eb);
    sleep_ms(seconds * 1000);
    dc_k8s_lease_stop(l);
    printf("STOPPED\n");
    return 0;
}

/* ---- CRUD */

static int parse_patch_type(const char *s, enum dc_k8s_patch_type *t)
{
    static const char *const names[] = {"json", "merge", "strategic", "apply"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *t = (enum dc_k8s_patch_type)i;
            return DC_OK;
        }
    }
    return DC_EINVAL;
}

static int cmd_crud(struct probe *p, const char *cmd, char **a, int n)
{
    struct dc_errbuf eb = {0};
    cJSON *out = NULL, *in = NULL;
    int rv = DC_EINVAL;

    if (strcmp(cmd, "get") == 0 && n == 1) {
        rv = dc_k8s_get(p->client, &p->res, p->ns, a[0], &out, &eb);
    } else if (strcmp(cmd, "list") == 0 && n == 0) {
        struct dc_k8s_list_opts lo = {.label_selector = p->lsel};
        rv = dc_k8s_list(p->client, &p->res, p->ns, &lo, &out, &eb);
        if (rv == DC_OK) {
            const cJSON *it;
            cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(out, "items"))
                printf("%s %s\n", dc_k8s_obj_name(it), dc_k8s_obj_rv(it));
            cJSON_Delete(out);
            return 0;
        }
    } else if ((strcmp(cmd, "create") == 0 && n == 1) || (strcmp(cmd, "update") == 0 && n == 2)) {
        in = read_json(a[n - 1]);
        if (in == NULL)
            return fail(DC_EPARSE, &eb);
        rv = n == 1 ? dc_k8s_create(p->client, &p->res, p->ns, in, &out, &eb)
                    : dc_k8s_update(p->client, &p->res, p->ns, a[0], in, &out, &eb);
    } else if (strcmp(cmd, "patch") == 0 && n == 3) {
        struct dc_k8s_patch_opts po = {.field_manager = p->field_manager, .force = p->force};
        enum dc_k8s_patch_type t;
        if (parse_patch_type(a[1], &t) != DC_OK)
            return 2;
        rv = dc_k8s_patch(p->client, &p->res, p->ns, a[0], t, a[2], &po, &out, &eb);
    } else if (strcmp(cmd, "delete") == 0 && n == 1) {
        rv = dc_k8s_delete(p->client, &p->res, p->ns, a[0], &out, &eb);
    } else {
        return 2;
    }
    cJSON_Delete(in);
    if (rv != DC_OK)
        return fail(rv, &eb);
    print_json(out);
    cJSON_Delete(out);
    return 0;
}

static long num(const char *s)
{
    int64_t v;
    return dc_str_to_i64(s, 0, 1000000000, &v) == DC_OK ? (long)v : -1;
}

/* Parse flags anywhere on the line; positional arguments are compacted into argv. */
static int parse_flags(struct probe *p, int argc, char **argv, int *npos)
{
    int n = 0;

    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define STR_FLAG(name, field)                                                                      \
    if (strcmp(f, name) == 0 && v != NULL) {                                                       \
        p->field = v;                                                                              \
        i++;                                                                                       \
        continue;                                                                                  \
    }
#define NUM_FLAG(name, field)                                                                      \
    if (strcmp(f, name) == 0 && v != NULL) {                                                       \
        p->field = num(v);                                                                         \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        STR_FLAG("--kubeconfig", kubeconfig)
        STR_FLAG("--context", context)
        STR_FLAG("--in-cluster", in_cluster)
        STR_FLAG("-n", ns)
        STR_FLAG("-l", lsel)
        STR_FLAG("--rv", rv)
        STR_FLAG("--field-manager", field_manager)
        NUM_FLAG("--timeout", timeout)
        NUM_FLAG("--watch-timeout", watch_timeout)
        NUM_FLAG("--seconds", seconds)
        NUM_FLAG("--duration", duration)
        NUM_FLAG("--renew", renew)
        NUM_FLAG("--retry", retry)
        if (strcmp(f, "--cluster") == 0) {
            p->cluster = true;
            continue;
        }
        if (strcmp(f, "--force") == 0) {
            p->force = true;
            continue;
        }
        if (strcmp(f, "--release") == 0) {
            p->release = true;
            continue;
        }
        if (f[0] == '-' && f[1] != '\0')
            return DC_EINVAL;
        argv[++n] = argv[i];
#undef STR_FLAG
#undef NUM_FLAG
    }
    *npos = n;
    return DC_OK;
}

int main(int argc, char **argv)
{
    struct probe p = {0};
    struct dc_k8s_config cfg = {0};
    struct dc_errbuf eb = {0};
    const char *cmd;
    int n, rv, status;

    if (parse_flags(&p, argc, argv, &n) != DC_OK || n < 2) {
        fprintf(stderr, "usage: k8sprobe [flags] get|list|create|update|patch|delete|watch|"
                        "inform|lease ...\n");
        return 2;
    }
    cmd = argv[1];
    if (p.in_cluster != NULL)
        rv = dc_k8s_config_in_cluster(&cfg, p.in_cluster, &eb);
    else
        rv = dc_k8s_config_load(&cfg, p.kubeconfig, p.context, &eb);
    if (rv != DC_OK)
        return fail(rv, &eb);
    rv = dc_k8s_client_new(&p.client, &cfg, &eb);
    dc_k8s_config_cleanup(&cfg);
    if (rv != DC_OK)
        return fail(rv, &eb);
    if (p.ns == NULL)
        p.ns = dc_k8s_client_namespace(p.client);
    if (strcmp(cmd, "lease") == 0 && n == 4) {
        status = cmd_lease(&p, argv[2], argv[3], num(argv[4]));
    } else if (parse_res(&p, argv[2]) != DC_OK) {
        status = 2;
    } else if (strcmp(cmd, "watch") == 0 && n == 3) {
        status = cmd_watch(&p, num(argv[3]));
    } else if (strcmp(cmd, "inform") == 0 && n == 3) {
        status = cmd_inform(&p, num(argv[3]));
    } else {
        status = cmd_crud(&p, cmd, argv + 3, n - 2);
    }
    if (status == 2)
        fprintf(stderr, "k8sprobe: bad arguments for %s\n", cmd);
    dc_k8s_client_free(p.client);
    free(p.res_buf);
    return status;
}
