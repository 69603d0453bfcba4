/* The injector service: flags, servers, Kubernetes lookups, certificate reload (service.h). */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dc/buf.h"
#include "dc/flags.h"
#include "dc/identity.h"
#include "dc/k8s.h"
#include "dc/k8s_informer.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/ops_server.h"
#include "dc/str.h"
#include "dc/time.h"

/* The Configuration that holds the control plane's mTLS switch (§4.2). */
#define INJ_SYSTEM_CONFIG "daprsystem"
/* Bound of the startup UID lookup (§4.2). */
#define INJ_UID_LOOKUP_MS 10000
/* Webhook connections idle this long are closed (the API server reconnects). */
#define INJ_IDLE_TIMEOUT_S 120

/* ---- flags ------------------------------------------------------------------------------ */

#define F(name, type, field, def, help) DC_FLAG_DEF(struct inj_flags, name, type, field, def, help)
static const struct dc_flag flag_defs[] = {
    F("port", DC_FLAG_PORT, port, "4000", "webhook HTTPS port"),
    F("listen-address", DC_FLAG_STRING, listen_address, "",
      "webhook listen address (all interfaces)"),
    F("healthz-port", DC_FLAG_PORT, healthz_port, "8080", "health server port"),
    F("healthz-listen-address", DC_FLAG_STRING, healthz_listen_address, "",
      "health listen address"),
    F("enable-metrics", DC_FLAG_BOOL, enable_metrics, "true", "serve Prometheus metrics"),
    F("metrics-port", DC_FLAG_PORT, metrics_port, "9090", "metrics port"),
    F("metrics-listen-address", DC_FLAG_STRING, metrics_listen_address, "",
      "metrics listen address"),
    F("kubeconfig", DC_FLAG_STRING, kubeconfig, NULL,
      "kubeconfig file (else $KUBECONFIG, in-cluster)"),
    F("scheduler-enabled", DC_FLAG_BOOL, scheduler_enabled, "true", "inject the scheduler address"),
    F("log-level", DC_FLAG_LOGLEVEL, log_level, "info", "debug, info, warn, error, fatal"),
    F("log-as-json", DC_FLAG_BOOL, log_as_json, "false", "JSON log lines"),
    F("tls-cert-file", DC_FLAG_STRING, tls_cert_file, NULL, "PEM certificate chain of the webhook"),
    F("tls-key-file", DC_FLAG_STRING, tls_key_file, NULL, "PEM private key of the webhook"),
    F("version", DC_FLAG_BOOL, version, "false", "print the version"),
};
#undef F
#define N_FLAGS (sizeof(flag_defs) / sizeof(flag_defs[0]))

void inj_flags_usage(FILE *out)
{
    fprintf(out, "Usage: injector [flags]\n"
                 "The Dapr sidecar injector (mutating admission webhook on /mutate).\n"
                 "Environment: SIDECAR_IMAGE and NAMESPACE (required), see "
                 "docs/internals/injector.md.\n\nFlags:\n");
    dc_flags_usage(out, flag_defs, N_FLAGS);
}

int inj_flags_parse(struct inj_flags *f, int argc, const char *const *argv, struct dc_errbuf *eb)
{
    memset(f, 0, sizeof(*f));
    dc_flags_defaults(flag_defs, N_FLAGS, f);
    f->tls_poll_ms = 1000;
    return dc_flags_parse(flag_defs, N_FLAGS, f, argc, argv, NULL, &f->help, eb);
}

/* ---- service state ---------------------------------------------------------------------- */

struct file_sig {
    bool valid;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct inj_service {
    struct inj_config *cfg;
    const struct inj_flags *flags;
    struct dc_metrics *metrics;
    struct dc_metric *m_requests, *m_succeeded, *m_failed;
    atomic_bool mtls;
    struct dc_ops_server *ops; /* /healthz (readiness) and /metrics */
    struct dc_http_router *hook_router;
    struct dc_http_server *hook_srv;
    struct dc_k8s_client *k8s;
    struct dc_k8s_informer *informer;
    atomic_int informer_errors;
    /* Certificate poller. */
    pthread_t poller;
    bool poller_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    struct file_sig cert_sig, key_sig;         /* of the files in use */
    struct file_sig bad_cert_sig, bad_key_sig; /* last pair refused (logged once) */
    /* Sentry mode. `poke` (under mu) says the identity published something. The rest is the
     * poller's (inj_service_start's before the poller runs). */
    enum inj_cert_source source;
    struct dc_identity *identity;
    bool poke;
    uint64_t srv_gen;             /* generation of the SVID the webhook serves */
    uint64_t patched_anchors_gen; /* anchors generation in the caBundle; 0: not yet */
    char last_patch_err[DC_ERRBUF_LEN];
};

/* ---- handlers --------------------------------------------------------------------------- */

static void text_reply(struct dc_http_response *resp, int status, const char *text)
{
    resp->status = status;
    dc_http_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (dc_http_response_body(resp, text, strlen(text), "text/plain; charset=utf-8") != DC_OK)
        resp->status = 500; /* unreachable: the response body has no limit */
}

static void record_failure(struct inj_service *s, const char *app_id, const char *reason)
{
    const char *labels[2] = {app_id, reason};

    dc_metric_inc(s->m_failed, labels, 1);
}

/* POST /mutate: the AdmissionReview exchange (§4.2, upstream's handler order). */
static void h_mutate(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct inj_service *s = ud;
    const char *ct = dc_http_request_header(req, "Content-Type");
    struct inj_outcome out;
    size_t len;
    const char *app_id;

    dc_metric_inc(s->m_requests, NULL, 1);
    if (req->body_len == 0 && !req->body_too_large) {
        DC_LOG(DC_LOG_ERROR, "Empty body");
        text_reply(resp, 400, "empty body\n");
        return;
    }
    if (!inj_content_type_ok(ct)) {
        DC_LOG(DC_LOG_ERROR, "Content-Type=%.64s, expect application/json", ct != NULL ? ct : "");
        text_reply(resp, 415, "invalid Content-Type, expected `application/json`\n");
        return;
    }
    /* Over the server's limit only a prefix was kept: a length above DC_MAX_ADMISSION_REVIEW
     * makes inj_admission_respond answer 413 without reading the body. */
    len = req->body_too_large ? (size_t)DC_MAX_ADMISSION_REVIEW + 1 : req->body_len;
    /* Written straight into the response body, which the server sends without a copy. */
    dc_buf_reset(&resp->body);
    if (inj_admission_respond(req->body, len, s->cfg, atomic_load(&s->mtls), &resp->body, &out) ==
        DC_OK) {
        resp->status = out.http_status;
        dc_http_response_header_set(resp, "Content-Type", "application/json");
    } else {
        dc_buf_reset(&resp->body);
        resp->status = 500;
        record_failure(s, out.app_id, "response");
    }
    app_id = out.app_id;
    switch (out.kind) {
    case INJ_OUTCOME_PATCHED:
        DC_LOG(DC_LOG_INFO, "Sidecar injector succeeded injection for app '%s'", app_id);
        dc_metric_inc(s->m_succeeded, &app_id, 1);
        break;
    case INJ_OUTCOME_UNCHANGED:
        /* Upstream counts a review of another kind as a pod_patch failure. */
        if (strcmp(out.reason, "not a Pod") == 0) {
            DC_LOG(DC_LOG_ERROR, "invalid kind for review");
            record_failure(s, app_id, "pod_patch");
        } else {
            DC_LOG(DC_LOG_DEBUG, "pod left unchanged: %s", out.reason);
        }
        break;
    case INJ_OUTCOME_UNAUTHORIZED:
        DC_LOG(DC_LOG_ERROR, "requester not on the list of allowed controller accounts (app '%s')",
               app_id);
        record_failure(s, app_id, "pod_patch");
        break;
    case INJ_OUTCOME_REJECTED:
    case INJ_OUTCOME_MALFORMED:
        DC_LOG(DC_LOG_ERROR, "Sidecar injector failed to inject for app '%s'. Error: %s", app_id,
               out.reason);
        record_failure(s, app_id, "patch");
        break;
    }
}

/* Anything but /mutate. */
static void h_not_found(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    text_reply(resp, 404, "404 page not found\n");
}

/* ---- construction ----------------------------------------------------------------------- */

struct inj_service *inj_service_new(struct inj_config *cfg, const struct inj_flags *f)
{
    static const char *const l_app[] = {"app_id"};
    static const char *const l_fail[] = {"app_id", "reason"};
    struct inj_service *s = dc_xcalloc(1, sizeof(*s));
    int rv = DC_OK;

    s->cfg = cfg;
    s->flags = f;
    atomic_init(&s->mtls, true);
    atomic_init(&s->informer_errors, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->metrics = dc_metrics_new();
    s->m_requests = dc_metrics_counter(s->metrics, "dapr_injector_sidecar_injection_requests_total",
                                       "The total number of sidecar injection requests.", 0, NULL);
    s->m_succeeded =
        dc_metrics_counter(s->metrics, "dapr_injector_sidecar_injection_succeeded_total",
                           "The total number of successful sidecar injections.", 1, l_app);
    s->m_failed = dc_metrics_counter(s->metrics, "dapr_injector_sidecar_injection_failed_total",
                                     "The total number of failed sidecar injections.", 2, l_fail);
    s->hook_router = dc_http_router_new();
    rv |= dc_http_router_add(s->hook_router, NULL, "/mutate", h_mutate, s);
    dc_http_router_set_fallback(s->hook_router, h_not_found, s);
    s->ops = dc_ops_server_new(s->metrics);
    DC_ASSERT(rv == DC_OK);
    return s;
}

const struct dc_http_router *inj_service_webhook_router(const struct inj_service *s)
{
    return s->hook_router;
}

const struct dc_http_router *inj_service_health_router(const struct inj_service *s)
{
    return dc_ops_server_health_router(s->ops);
}

const struct dc_http_router *inj_service_metrics_router(const struct inj_service *s)
{
    return dc_ops_server_metrics_router(s->ops);
}

struct dc_metrics *inj_service_metrics(struct inj_service *s)
{
    return s->metrics;
}

void inj_service_set_mtls(struct inj_service *s, bool on)
{
    atomic_store(&s->mtls, on);
}

bool inj_service_mtls(const struct inj_service *s)
{
    return atomic_load(&s->mtls);
}

void inj_service_set_ready(struct inj_service *s, bool ready)
{
    dc_ops_server_set_ready(s->ops, ready);
}

bool inj_configuration_mtls(const cJSON *configuration)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(configuration, "spec");
    const cJSON *mtls = cJSON_GetObjectItemCaseSensitive(spec, "mtls");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(mtls, "enabled");

    return cJSON_IsBool(en) ? cJSON_IsTrue(en) : true;
}

/* ---- Kubernetes ------------------------------------------------------------------------- */

static void cfg_update(struct inj_service *s, const cJSON *obj, const char *how)
{
    bool on = inj_configuration_mtls(obj);

    if (atomic_exchange(&s->mtls, on) != on || how != NULL)
        DC_LOG(DC_LOG_INFO, "Configuration %s/%s %s: mTLS %s", s->cfg->namespace, INJ_SYSTEM_CONFIG,
               how != NULL ? how : "changed", on ? "enabled" : "disabled");
}

static void inf_add(void *arg, const cJSON *obj)
{
    cfg_update(arg, obj, "found");
}

static void inf_update(void *arg, const cJSON *old_obj, const cJSON *new_obj)
{
    (void)old_obj;
    cfg_update(arg, new_obj, NULL);
}

static void inf_delete(void *arg, const cJSON *obj)
{
    struct inj_service *s = arg;

    (void)obj;
    atomic_store(&s->mtls, true);
    DC_LOG(DC_LOG_INFO, "Configuration %s/%s deleted: mTLS enabled (default)", s->cfg->namespace,
           INJ_SYSTEM_CONFIG);
}

static void inf_error(void *arg, int err, const char *msg)
{
    struct inj_service *s = arg;

    /* The CRD may simply not be installed yet: say it once, then only at debug level. */
    if (atomic_fetch_add(&s->informer_errors, 1) == 0)
        DC_LOG(DC_LOG_WARN, "cannot watch Configuration %s/%s (%s: %s); mTLS stays %s, retrying",
               s->cfg->namespace, INJ_SYSTEM_CONFIG, dc_strerror(err), msg,
               atomic_load(&s->mtls) ? "enabled" : "disabled");
    else
        DC_LOG(DC_LOG_DEBUG, "Configuration watch: %s: %s", dc_strerror(err), msg);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void strlist_add(struct inj_strlist *l, const char *v)
{
    l->v = dc_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = dc_xstrdup(v);
}

/* UIDs of the allowed service accounts that are plain names (globs cannot be fetched), within
 * INJ_UID_LOOKUP_MS in total; failures are logged and skipped, as upstream does. */
static void lookup_uids(struct inj_service *s)
{
    static const struct dc_k8s_resource sa_res = {"", "v1", "serviceaccounts", true};
    const struct inj_strlist *l = &s->cfg->allowed_service_accounts;
    int64_t deadline = now_ms() + INJ_UID_LOOKUP_MS, left;
    char ns[256];
    const char *name, *uid;
    size_t i;

    for (i = 0; i < l->n; i++) {
        struct dc_errbuf eb = {0};
        cJSON *sa = NULL;

        if (strpbrk(l->v[i], "*?[\\") != NULL || (name = strchr(l->v[i], ':')) == NULL ||
            (size_t)(name - l->v[i]) >= sizeof(ns))
            continue;
        memcpy(ns, l->v[i], (size_t)(name - l->v[i]));
        ns[name - l->v[i]] = '\0';
        name++;
        left = deadline - now_ms();
        if (left <= 0) {
            DC_LOG(DC_LOG_WARN, "service account UID lookup: 10 s budget spent, %zu left unchecked",
                   l->n - i);
            break;
        }
        dc_k8s_client_set_timeout(s->k8s, (long)left);
        if (dc_k8s_get(s->k8s, &sa_res, ns, name, &sa, &eb) != DC_OK) {
            DC_LOG(DC_LOG_DEBUG, "service account %s: %s", l->v[i], eb.msg);
            continue;
        }
        uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(sa, "metadata"), "uid"));
        if (!dc_str_empty(uid))
            strlist_add(&s->cfg->allowed_uids, uid);
        cJSON_Delete(sa);
    }
    dc_k8s_client_set_timeout(s->k8s, 30000);
    DC_LOG(DC_LOG_INFO, "allowed service accounts: %zu patterns, %zu UIDs found", l->n,
           s->cfg->allowed_uids.n);
}

static int k8s_start(struct inj_service *s, struct dc_errbuf *eb)
{
    struct dc_k8s_config kc = {0};
    struct dc_k8s_informer_opts io = {0};
    struct dc_k8s_informer_handlers h = {0};
    struct dc_errbuf leb = {0};
    int rv;

    rv = dc_k8s_config_load(&kc, s->flags->kubeconfig, NULL, &leb);
    if (rv != DC_OK) {
        if (!dc_str_empty(s->flags->kubeconfig)) {
            dc_k8s_config_cleanup(&kc);
            return dc_err_set(eb, rv, "kubeconfig %s: %s", s->flags->kubeconfig, leb.msg);
        }
        DC_LOG(DC_LOG_INFO,
               "no Kubernetes access (%s): mTLS enabled by default, no service account UIDs",
               leb.msg);
        dc_k8s_config_cleanup(&kc);
        return DC_OK;
    }
    rv = dc_k8s_client_new(&s->k8s, &kc, eb);
    if (rv == DC_OK)
        DC_LOG(DC_LOG_INFO, "Kubernetes API server %s", kc.server);
    dc_k8s_config_cleanup(&kc);
    if (rv != DC_OK)
        return rv;
    lookup_uids(s);
    io.res = (struct dc_k8s_resource){"dapr.io", "v1alpha1", "configurations", true};
    io.ns = s->cfg->namespace;
    io.field_selector = "metadata.name=" INJ_SYSTEM_CONFIG;
    h.on_add = inf_add;
    h.on_update = inf_update;
    h.on_delete = inf_delete;
    h.on_error = inf_error;
    h.arg = s;
    return dc_k8s_informer_start(&s->informer, s->k8s, &io, &h, eb);
}

/* ---- certificates ----------------------------------------------------------------------- */

static int file_sig_of(const char *path, struct file_sig *sig)
{
    struct stat st;

    memset(sig, 0, sizeof(*sig));
    if (stat(path, &st) != 0)
        return DC_EIO;
    sig->valid = true;
    sig->dev = st.st_dev;
    sig->ino = st.st_ino;
    sig->size = st.st_size;
    sig->mtime = st.st_mtim;
    return DC_OK;
}

static bool file_sig_eq(const struct file_sig *a, const struct file_sig *b)
{
    return a->valid == b->valid && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Read a PEM file of at most DC_MAX_K8S_CRED_FILE bytes into a new NUL-terminated string. */
static int read_pem(const char *path, char **out, struct dc_errbuf *eb)
{
    struct dc_buf b;
    char chunk[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rv = DC_OK;

    *out = NULL;
    if (fd < 0)
        return dc_err_set(eb, DC_EIO, "%s: %s", path, strerror(errno));
    dc_buf_init(&b, DC_MAX_K8S_CRED_FILE);
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rv = dc_err_set(eb, DC_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (dc_buf_append(&b, chunk, (size_t)n) != DC_OK) {
            rv = dc_err_set(eb, DC_ETOOBIG, "%s: larger than %u bytes", path,
                            (unsigned)DC_MAX_K8S_CRED_FILE);
            break;
        }
    }
    close(fd);
    if (rv == DC_OK)
        *out = dc_xstrdup(dc_buf_cstr(&b));
    if (b.data != NULL)
        memset(b.data, 0, b.cap);
    dc_buf_cleanup(&b);
    return rv;
}

static void free_secret(char *p)
{
    if (p != NULL) {
        memset(p, 0, strlen(p));
        free(p);
    }
}

/* Both files with their signatures, taken before reading so a write in between is seen next
 * time. */
static int load_pair(struct inj_service *s, char **cert, char **key, struct file_sig *cs,
                     struct file_sig *ks, struct dc_errbuf *eb)
{
    int rv;

    if (file_sig_of(s->flags->tls_cert_file, cs) != DC_OK ||
        file_sig_of(s->flags->tls_key_file, ks) != DC_OK)
        return dc_err_set(eb, DC_EIO, "certificate files %s, %s: %s", s->flags->tls_cert_file,
                          s->flags->tls_key_file, strerror(errno));
    rv = read_pem(s->flags->tls_cert_file, cert, eb);
    if (rv == DC_OK)
        rv = read_pem(s->flags->tls_key_file, key, eb);
    /* The server checks the pair (OpenSSL) when it starts or swaps. */
    if (rv != DC_OK) {
        free_secret(*cert);
        free_secret(*key);
        *cert = *key = NULL;
    }
    return rv;
}

static void poll_certs(struct inj_service *s)
{
    struct file_sig cs, ks;
    struct dc_errbuf eb = {0};
    char *cert = NULL, *key = NULL;
    int rv;

    if (file_sig_of(s->flags->tls_cert_file, &cs) != DC_OK ||
        file_sig_of(s->flags->tls_key_file, &ks) != DC_OK)
        return; /* a rotation in progress (files briefly missing): look again later */
    if (file_sig_eq(&cs, &s->cert_sig) && file_sig_eq(&ks, &s->key_sig))
        return;
    rv = load_pair(s, &cert, &key, &cs, &ks, &eb);
    if (rv == DC_OK)
        rv = dc_http_server_set_tls(s->hook_srv, cert, key, &eb);
    free_secret(cert);
    free_secret(key);
    if (rv == DC_OK) {
        s->cert_sig = cs;
        s->key_sig = ks;
        DC_LOG(DC_LOG_INFO, "webhook certificate reloaded from %s", s->flags->tls_cert_file);
        return;
    }
    /* Half-written pairs are normal during a rotation: report each refused pair once. */
    if (!file_sig_eq(&cs, &s->bad_cert_sig) || !file_sig_eq(&ks, &s->bad_key_sig))
        DC_LOG(DC_LOG_WARN, "new webhook certificate not used yet: %s", eb.msg);
    s->bad_cert_sig = cs;
    s->bad_key_sig = ks;
}

/* ---- sentry mode ------------------------------------------------------------------------ */

static void identity_log(enum dc_log_level level, const char *msg, void *ud)
{
    (void)ud;
    DC_LOG(level, "webhook identity: %s", msg);
}

/* On the identity thread: wake the poller, which applies the new snapshot. */
static void identity_changed(const struct dc_svid *svid, void *ud)
{
    struct inj_service *s = ud;

    (void)svid;
    pthread_mutex_lock(&s->mu);
    s->poke = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int identity_start(struct inj_service *s, struct dc_errbuf *eb)
{
    const struct inj_config *cfg = s->cfg;
    struct dc_identity_opts o = {0};

    o.sentry_address = cfg->sentry_address;
    o.app_id = INJ_SENTRY_APP_ID;
    o.ns = cfg->namespace;
    o.trust_domain = cfg->control_plane_trust_domain;
    o.anchors_file = cfg->trust_anchors_file;
    /* The pod's projected or service-account token; a file for runs outside a pod. */
    o.token_file = getenv("DAPR_SENTRY_TOKEN_FILE");
    o.kubernetes = true;
    o.cp_trust_domain = cfg->control_plane_trust_domain;
    o.cp_namespace = cfg->namespace;
    o.log = identity_log;
    DC_LOG(DC_LOG_INFO, "webhook certificate from sentry %s as %s/%s", cfg->sentry_address,
           cfg->namespace, INJ_SENTRY_APP_ID);
    return dc_identity_start(&s->identity, &o, eb);
}

/* Set the caBundle of INJ_WEBHOOK_CONFIG to the anchors of `svid` when it differs. */
static int patch_cabundle(struct inj_service *s, const struct dc_svid *svid, struct dc_errbuf *eb)
{
    static const struct dc_k8s_resource mwc_res = {"admissionregistration.k8s.io", "v1",
                                                   "mutatingwebhookconfigurations", false};
    cJSON *mwc = NULL;
    char *patch = NULL;
    int rv;

    rv = dc_k8s_get(s->k8s, &mwc_res, NULL, INJ_WEBHOOK_CONFIG, &mwc, eb);
    if (rv == DC_OK)
        rv = inj_cabundle_patch(mwc, svid->anchors_pem, &patch, eb);
    if (rv == DC_OK && patch != NULL) {
        rv = dc_k8s_patch(s->k8s, &mwc_res, NULL, INJ_WEBHOOK_CONFIG, DC_K8S_PATCH_JSON, patch,
                          NULL, NULL, eb);
        if (rv == DC_OK)
            DC_LOG(DC_LOG_INFO,
                   "caBundle of MutatingWebhookConfiguration %s set to the trust "
                   "anchors",
                   INJ_WEBHOOK_CONFIG);
    }
    if (rv != DC_OK)
        dc_err_wrapf(eb, "caBundle of MutatingWebhookConfiguration %s", INJ_WEBHOOK_CONFIG);
    free(patch);
    cJSON_Delete(mwc);
    return rv;
}

/* Serve the newest SVID, and keep the caBundle on its anchors; ready once both are done. */
static void poll_sentry(struct inj_service *s)
{
    struct dc_svid *svid = dc_identity_get(s->identity);
    struct dc_errbuf eb = {0};

    if (svid->generation != s->srv_gen) {
        if (dc_http_server_set_tls(s->hook_srv, svid->cert_pem, svid->key_pem, &eb) == DC_OK) {
            if (s->srv_gen != 0)
                DC_LOG(DC_LOG_INFO, "webhook certificate renewed, valid until %lld",
                       (long long)svid->not_after_s);
            s->srv_gen = svid->generation;
        } else {
            DC_LOG(DC_LOG_WARN, "new webhook certificate not used: %s", eb.msg);
        }
    }
    if (svid->anchors_gen != s->patched_anchors_gen) {
        if (s->k8s == NULL) {
            DC_LOG(DC_LOG_WARN, "no Kubernetes access: caBundle of %s not kept",
                   INJ_WEBHOOK_CONFIG);
            s->patched_anchors_gen = svid->anchors_gen;
        } else if (patch_cabundle(s, svid, &eb) == DC_OK) {
            s->patched_anchors_gen = svid->anchors_gen;
            s->last_patch_err[0] = '\0';
        } else if (strcmp(eb.msg, s->last_patch_err) != 0) {
            /* Retried on every tick; said again only when the reason changes. */
            DC_LOG(DC_LOG_WARN, "%s; retrying", eb.msg);
            dc_strlcpy(s->last_patch_err, eb.msg, sizeof(s->last_patch_err));
        }
    }
    dc_ops_server_set_ready(s->ops, s->srv_gen != 0 && s->patched_anchors_gen != 0);
    dc_svid_release(svid);
}

static void *poller_main(void *arg)
{
    struct inj_service *s = arg;
    struct timespec ts;

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        ts = dc_timespec_in(CLOCK_REALTIME, s->flags->tls_poll_ms * DC_NS_PER_MS);
        if (!s->poke)
            (void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stopping)
            break;
        s->poke = false;
        pthread_mutex_unlock(&s->mu);
        if (s->source == INJ_CERT_FILES)
            poll_certs(s);
        else
            poll_sentry(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- start / stop ----------------------------------------------------------------------- */

static unsigned hook_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > 4 ? 4 : (unsigned)n;
}

static int ops_start(struct dc_ops_server *ops, const char *haddr, uint16_t hport, bool metrics,
                     const char *maddr, uint16_t mport, struct dc_errbuf *eb)
{
    struct dc_ops_server_opts o = {.health_address = haddr,
                                   .health_port = hport,
                                   .enable_metrics = metrics,
                                   .metrics_address = maddr,
                                   .metrics_port = mport,
                                   .idle_timeout_s = INJ_IDLE_TIMEOUT_S};
    int rv = dc_ops_server_start(ops, &o, eb);

    if (rv != DC_OK)
        return rv;
    DC_LOG(DC_LOG_INFO, "healthz server listening on %s:%u", dc_str_empty(haddr) ? "*" : haddr,
           (unsigned)dc_ops_server_health_port(ops));
    if (metrics)
        DC_LOG(DC_LOG_INFO, "metrics server listening on %s:%u", dc_str_empty(maddr) ? "*" : maddr,
               (unsigned)dc_ops_server_metrics_port(ops));
    return DC_OK;
}

int inj_service_start(struct inj_service *s, struct dc_errbuf *eb)
{
    const struct inj_flags *f = s->flags;
    struct dc_http_server_opts o = {0};
    char *cert = NULL, *key = NULL;
    int rv;

    struct dc_svid *svid = NULL;

    rv = inj_cert_source_select(f, s->cfg, &s->source, eb);
    if (rv == DC_OK && s->source == INJ_CERT_FILES)
        rv = load_pair(s, &cert, &key, &s->cert_sig, &s->key_sig, eb);
    if (rv != DC_OK)
        goto cleanup;
    rv = ops_start(s->ops, f->healthz_listen_address, f->healthz_port, f->enable_metrics,
                   f->metrics_listen_address, f->metrics_port, eb);
    if (rv == DC_OK)
        rv = k8s_start(s, eb);
    if (rv == DC_OK && s->source == INJ_CERT_SENTRY) {
        rv = identity_start(s, eb);
        if (rv == DC_OK) {
            svid = dc_identity_get(s->identity);
            cert = dc_xstrdup(svid->cert_pem);
            key = dc_xstrdup(svid->key_pem);
            s->srv_gen = svid->generation;
            dc_identity_on_change(s->identity, identity_changed, s);
        }
    }
    if (rv != DC_OK)
        goto cleanup;
    o.address = f->listen_address;
    o.port = f->port;
    o.max_body = DC_MAX_ADMISSION_REVIEW;
    o.threads = hook_threads();
    o.idle_timeout_s = INJ_IDLE_TIMEOUT_S;
    o.tls_cert_pem = cert;
    o.tls_key_pem = key;
    rv = dc_http_server_start(&s->hook_srv, &o, s->hook_router, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "webhook server");
        goto cleanup;
    }
    DC_LOG(DC_LOG_INFO, "Sidecar injector is listening on %s:%u (HTTPS, %s)",
           dc_str_empty(f->listen_address) ? "*" : f->listen_address,
           (unsigned)dc_http_server_port(s->hook_srv),
           svid != NULL ? svid->spiffe : f->tls_cert_file);
    if (s->source == INJ_CERT_SENTRY)
        poll_sentry(s); /* the caBundle now; the poller retries a failure */
    if (pthread_create(&s->poller, NULL, poller_main, s) != 0) {
        rv = dc_err_set(eb, DC_EINTERNAL, "cannot start the certificate poller");
        goto cleanup;
    }
    s->poller_started = true;
    if (s->source == INJ_CERT_FILES)
        dc_ops_server_set_ready(s->ops, true);
cleanup:
    dc_svid_release(svid);
    free_secret(cert);
    free_secret(key);
    return rv;
}

void inj_service_shutdown(struct inj_service *s, int64_t timeout_ms)
{
    dc_ops_server_set_ready(s->ops, false);
    if (s->hook_srv == NULL)
        return;
    dc_http_server_quiesce(s->hook_srv);
    if (dc_http_server_drain(s->hook_srv, timeout_ms) != DC_OK)
        DC_LOG(DC_LOG_WARN, "webhook requests still in flight after %lld ms",
               (long long)timeout_ms);
}

void inj_service_free(struct inj_service *s)
{
    if (s == NULL)
        return;
    if (s->identity != NULL)
        dc_identity_on_change(s->identity, NULL, NULL);
    if (s->poller_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->poller, NULL);
    }
    dc_identity_free(s->identity);
    dc_k8s_informer_stop(s->informer);
    dc_http_server_free(s->hook_srv);
    dc_ops_server_free(s->ops);
    dc_k8s_client_free(s->k8s);
    dc_http_router_free(s->hook_router);
    dc_metrics_free(s->metrics);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
