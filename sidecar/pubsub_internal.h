#ifndef SDC_PUBSUB_INTERNAL_H
#define SDC_PUBSUB_INTERNAL_H

/* Shared between pubsub_api.c, subscriptions.c and delivery.c; not for other modules. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "dc/buf.h"

#include "match_expr.h"
#include "pubsub.h"
#include "pubsub_api.h"
#include "resiliency.h"

/* Topic lists of a component's scoping metadata (§6.4). */
struct sdc__ps_topics {
    char **v;
    size_t n;
    bool set; /* the app is named in the scopes (or the list was given) */
};

struct sdc__ps_comp {
    struct sdc_component *c;
    const struct sdc_pubsub_ops *ops;
    const char *name;
    struct sdc__ps_topics pub;        /* publishingScopes entry of this app */
    struct sdc__ps_topics sub;        /* subscriptionScopes entry of this app */
    struct sdc__ps_topics allowed;    /* allowedTopics */
    struct sdc__ps_topics protected_; /* protectedTopics */
};

enum sdc__ps_sub_type {
    SDC__PS_DECLARATIVE = 0,
    SDC__PS_PROGRAMMATIC,
};

struct sdc__ps_rule {
    char *match; /* NULL: the default route */
    struct sdc_match *m;
    char *path; /* with its leading '/' */
};

struct sdc__ps_bulk;

struct sdc__ps_sub {
    struct sdc_pubsub_rt *ps;
    struct sdc__ps_comp *comp;
    enum sdc__ps_sub_type type;
    char *pubsub;
    char *topic;
    struct sdc__ps_rule *rules;
    size_t nrules;
    char *dead_letter; /* NULL or "" = none */
    struct sdc_md md;  /* subscription metadata */
    bool raw_payload;
    bool bulk;
    int64_t bulk_max_n;
    int64_t bulk_max_await_ms;
    struct sdc__ps_bulk *batch;          /* bulk subscribe state (delivery.c) */
    struct sdc_pubsub_sub *handle;       /* the broker's; NULL until subscribed */
    const struct sdc_res_policy *policy; /* components.<pubsub>.inbound */
};

struct sdc_pubsub_rt {
    struct sdc_runtime *rt;
    struct sdc__ps_comp *comps;
    size_t ncomps;

    pthread_mutex_t mu; /* guards subs/nsubs for readers of the metadata */
    struct sdc__ps_sub **subs;
    size_t nsubs;

    pthread_t thread;
    bool thread_started;
    atomic_bool stop;

    /* The bound on concurrent deliveries. */
    pthread_mutex_t inflight_mu;
    pthread_cond_t inflight_cv;
    unsigned inflight;
    unsigned max_inflight;
};

/* The component named `name`, or NULL. */
struct sdc__ps_comp *sdc__ps_comp_find(struct sdc_pubsub_rt *ps, const char *name);

/* Whether this app may publish (`publish`) or subscribe to `topic` on `c` (§6.4). */
bool sdc__ps_topic_allowed(const struct sdc__ps_comp *c, const char *topic, bool publish);

/* Publish bytes as they are (dead letters) through the component, under its outbound policy. */
int sdc__ps_publish_raw(struct sdc_pubsub_rt *ps, struct sdc__ps_comp *c, const char *topic,
                        const void *data, size_t len, const char *content_type,
                        const struct sdc_md *md, struct dc_errbuf *eb);

/* subscriptions.c */
void sdc__ps_sub_free(struct sdc__ps_sub *s);
/* Compile `s`'s rules (match texts already set); DC_EPARSE naming the rule on failure. */
int sdc__ps_sub_compile(struct sdc__ps_sub *s, struct dc_errbuf *eb);
/* Parse a GET /dapr/subscribe body into subscriptions (appended to `*out`). Items that are
 * invalid are skipped with an error logged; returns DC_EPARSE when the body is not a JSON
 * array of objects. */
int sdc__ps_parse_programmatic(struct sdc_pubsub_rt *ps, const char *body, size_t len,
                               struct sdc__ps_sub ***out, size_t *n, struct dc_errbuf *eb);
void *sdc__ps_thread(void *arg);

/* delivery.c: the broker handler of every subscription (ud = struct sdc__ps_sub). */
int sdc__ps_handle(void *ud, const struct sdc_pubsub_msg *msg);
/* The route for `event` under `s`: the first matching rule's path, NULL when none matches.
 * DC_EINVAL when a rule failed to evaluate. */
int sdc__ps_route(const struct sdc__ps_sub *s, const cJSON *event, const char **path,
                  struct dc_errbuf *eb);
/* Interpret an app reply (§6.6): returns the status for a 2xx reply with `body`. */
enum sdc_pubsub_status sdc__ps_app_status(const char *body, size_t len);
void sdc__ps_bulk_free(struct sdc__ps_sub *s);

#ifdef DC_TESTING
/* pubsub_api.c, visible to unit tests: fill / release a component's scoping from metadata. */
void comp_scoping(struct sdc__ps_comp *c, const struct sdc_md *md, const char *app_id);
void comp_scoping_cleanup(struct sdc__ps_comp *c);
#endif

#endif /* SDC_PUBSUB_INTERNAL_H */
