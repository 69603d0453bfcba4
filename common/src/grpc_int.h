#ifndef DC_GRPC_INT_H
#define DC_GRPC_INT_H

/* Internals shared by grpc_core.c, grpc_server.c and grpc_client.c (not installed).
 *
 * Locking: each loop has one recursive mutex, `mu`, the big lock. The loop thread holds it in
 * every libevent callback, so nghttp2 sessions, bufferevents and call state are only touched
 * under it; application callbacks run with it held (recursion lets them call dc_grpc_call_*).
 * Other threads take it in dc_grpc_call_* to queue work, then wake the loop (event_active on
 * `wake`); they never touch nghttp2 or libevent objects themselves. */

#include <pthread.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "dc/grpc.h"

struct dc__grpc_loop {
    struct event_base *base;
    pthread_mutex_t mu; /* recursive, see above */
    pthread_cond_t cv;  /* broadcast: a send queue drained, a call completed */
    pthread_t thread;
    bool running;
    struct event *wake;
    struct dc_grpc_call *kick_head, *kick_tail;
    void (*on_wake)(void *owner); /* owner's extra work on wake-up (under mu) */
    void *owner;
    /* worker pool (server) */
    pthread_mutex_t jmu;
    pthread_cond_t jcv;
    pthread_t *workers;
    unsigned nworkers;
    struct dc__grpc_job *jhead, *jtail;
    bool jstop;
};

struct dc__grpc_conn {
    struct dc__grpc_loop *loop;
    bool server;
    void *owner;
    struct dc__grpc_conn *next, *prev; /* owner's list */
    struct bufferevent *bev;
    SSL *ssl; /* owned by bev */
    nghttp2_session *ng;
    X509 *peer_cert;
    char peer[64];
    bool connected, draining, closing, freed;
    bool close_when_flushed;
    struct dc_grpc_call *calls;
    size_t ncalls;
    size_t max_recv, max_send;
    uint32_t window;
    /* server ping policy */
    int64_t last_ping_ms;
    int strikes;
    bool sent_since_ping;
    uint32_t min_ping_ms;
    /* client keepalive and connect timeout */
    struct event *ka_ev, *ka_timeout_ev, *connect_ev;
    bool ping_outstanding;
};

struct dc__grpc_chunk {
    struct dc__grpc_chunk *next;
    size_t len, off;
    uint8_t data[];
};

struct dc__grpc_method;

struct dc_grpc_call {
    struct dc__grpc_loop *loop;
    struct dc__grpc_conn *conn; /* NULL before submit (client) and after the stream closed */
    struct dc_grpc_call *cnext, *cprev;
    struct dc_grpc_call *knext;
    bool kicked;
    int refs;
    bool server;
    int32_t stream_id;
    char *method;
    char *authority;
    struct dc_grpc_metadata md;      /* server: request; client: response headers */
    struct dc_grpc_metadata resp_md; /* server: response headers to send */
    size_t hdr_bytes;
    int http_status;
    bool ct_ok, bad_encoding, bad_request;
    int64_t timeout_ms;  /* from grpc-timeout or call opts; -1 none */
    int64_t deadline_ms; /* monotonic; -1 none */
    struct event *deadline_ev;
    X509 *peer_cert;
    char peer[64];
    struct dc_grpc_ops ops;
    void *ud;
    void *data;
    const struct dc__grpc_method *m;
    bool unary;       /* server: a unary method (request collected, handler at half-close) */
    bool got_headers; /* client: the response headers arrived */
    /* receive */
    struct dc_buf rx;
    size_t rx_off;
    struct dc_grpc_decoder dec;
    bool paused, delivering, rx_eos, half_close_done;
    size_t max_recv, max_send;
    uint8_t *ureq; /* unary server: the request */
    size_t ureq_len;
    int ureq_count;
    bool unary_hold; /* the unary handler still owes a finish (holds a ref) */
    /* send */
    struct dc__grpc_chunk *qh, *qt;
    size_t qbytes;
    bool send_closed, headers_sent, deferred, want_writable, writable_pending;
    bool cancel_req, resume_req, submitted, rst_sent;
    bool fin_req;
    int fin_code;
    char *fin_msg;
    struct dc_grpc_metadata fin_md;
    /* status */
    bool done, done_delivered, stream_closed;
    bool st_pending; /* client: status known, waiting for the messages to be delivered */
    struct dc_grpc_status st;
    struct dc_grpc_metadata req_md; /* client: request metadata to send */
    /* blocking unary (client) */
    struct dc_buf *uresp;
    int uresp_count;
};

/* loop */
int dc__grpc_loop_init(struct dc__grpc_loop *l, void (*on_wake)(void *), void *owner,
                       struct dc_errbuf *eb);
int dc__grpc_loop_start(struct dc__grpc_loop *l, struct dc_errbuf *eb);
void dc__grpc_loop_stop(struct dc__grpc_loop *l); /* break and join; not on the loop thread */
void dc__grpc_loop_cleanup(struct dc__grpc_loop *l);
bool dc__grpc_on_loop(struct dc__grpc_loop *l);
void dc__grpc_lock(struct dc__grpc_loop *l);
void dc__grpc_unlock(struct dc__grpc_loop *l);
void dc__grpc_wake(struct dc__grpc_loop *l);
void dc__grpc_kick(struct dc_grpc_call *call); /* under mu */
int64_t dc__grpc_now_ms(void);
int dc__grpc_workers_start(struct dc__grpc_loop *l, unsigned n, struct dc_errbuf *eb);
void dc__grpc_workers_stop(struct dc__grpc_loop *l);
void dc__grpc_worker_submit(struct dc__grpc_loop *l, struct dc_grpc_call *call);

/* calls */
struct dc_grpc_call *dc__grpc_call_new(struct dc__grpc_loop *l, bool server);
void dc__grpc_call_attach(struct dc_grpc_call *call, struct dc__grpc_conn *conn, int32_t id);
void dc__grpc_call_detach(struct dc_grpc_call *call);
/* Make the status final (first one wins) and run on_done. Under mu, loop thread. */
void dc__grpc_call_complete(struct dc_grpc_call *call, int code, const char *msg);
void dc__grpc_call_pump(struct dc_grpc_call *call);
void dc__grpc_call_drop_queue(struct dc_grpc_call *call);
void dc__grpc_call_start_deadline(struct dc_grpc_call *call);
ssize_t dc__grpc_data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud);
int dc__grpc_set_error_status(struct dc_grpc_call *call, int code, const char *fmt, ...)
    DC_PRINTF(3, 4);

/* outgoing header blocks: nghttp2 copies names and values at submit time */
struct dc__grpc_hdrs {
    nghttp2_nv *nv;
    size_t n, cap;
    char **own;
    size_t nown, owncap;
};
void dc__grpc_hdrs_add(struct dc__grpc_hdrs *h, const char *name, const char *value, size_t len);
void dc__grpc_hdrs_add_md(struct dc__grpc_hdrs *h, const struct dc_grpc_metadata *md);
void dc__grpc_hdrs_free(struct dc__grpc_hdrs *h);
int dc__grpc_on_header(struct dc_grpc_call *call, const nghttp2_frame *f, const uint8_t *name,
                       size_t namelen, const uint8_t *value, size_t valuelen);
int dc__grpc_server_trailers(struct dc_grpc_call *call);
void dc__grpc_run_unary(struct dc_grpc_call *call);
void dc__grpc_deliver_message(struct dc_grpc_call *call, uint8_t *msg, size_t len);
void dc__grpc_deliver_half_close(struct dc_grpc_call *call);

/* connections */
struct dc__grpc_conn *dc__grpc_conn_new(struct dc__grpc_loop *l, bool server, void *owner,
                                        struct bufferevent *bev, SSL *ssl);
int dc__grpc_conn_session(struct dc__grpc_conn *c, uint32_t max_streams);
void dc__grpc_conn_flush(struct dc__grpc_conn *c);
void dc__grpc_conn_close(struct dc__grpc_conn *c, int code, const char *why);
void dc__grpc_conn_maybe_close(struct dc__grpc_conn *c);

/* server / client hooks called from the shared nghttp2 callbacks */
int dc__grpc_server_begin_headers(struct dc__grpc_conn *c, int32_t id);
void dc__grpc_server_headers_done(struct dc_grpc_call *call);
void dc__grpc_server_process(struct dc_grpc_call *call);
void dc__grpc_server_conn_gone(struct dc__grpc_conn *c);
void dc__grpc_client_headers_done(struct dc_grpc_call *call, bool end_stream);
void dc__grpc_client_process(struct dc_grpc_call *call);
void dc__grpc_client_conn_gone(struct dc__grpc_conn *c);

#endif /* DC_GRPC_INT_H */
