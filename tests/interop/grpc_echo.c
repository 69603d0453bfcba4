/* grpc-echo: the C side of the gRPC interoperability test (tests/integration/
 * test_grpc_interop.sh) against Debian's python3-grpcio (tests/interop/echo.py).
 *
 *   grpc-echo server [--tls CERT KEY]            serve daprc.test.v1.Echo on 127.0.0.1:0, print
 *                                                "PORT <n>", stop gracefully on SIGTERM/SIGINT
 *   grpc-echo client TARGET [--tls CA NAME]      run the scenarios against TARGET, print
 *                                                "ok <name>" or "FAIL <name>: why" per scenario;
 *                                                exit 1 when one failed */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "echo_service.c"

static int failures;

static void report(const char *name, bool ok, const char *fmt, ...) DC_PRINTF(3, 4);

static void report(const char *name, bool ok, const char *fmt, ...)
{
    va_list ap;

    if (ok) {
        printf("ok %s\n", name);
    } else {
        failures++;
        printf("FAIL %s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    fflush(stdout);
}

static int serve(int argc, char **argv)
{
    struct dc_grpc_server_opts so = {.workers = 8};
    struct dc_grpc_server *srv = NULL;
    struct dc_errbuf eb = {{0}};
    SSL_CTX *ctx = NULL;
    sigset_t set;
    int sig;

    if (argc >= 5 && strcmp(argv[2], "--tls") == 0) {
        ctx = SSL_CTX_new(TLS_server_method());
        if (SSL_CTX_use_certificate_chain_file(ctx, argv[3]) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, argv[4], SSL_FILETYPE_PEM) != 1) {
            fprintf(stderr, "grpc-echo: cannot load %s / %s\n", argv[3], argv[4]);
            return 2;
        }
        so.ssl_ctx = ctx;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
    if (dc_grpc_server_new(&srv, &so, &eb) != DC_OK || echo_register(srv, &eb) != DC_OK ||
        dc_grpc_server_listen(srv, "127.0.0.1", 0, &eb) != DC_OK ||
        dc_grpc_server_start(srv, &eb) != DC_OK) {
        fprintf(stderr, "grpc-echo: %s\n", eb.msg);
        return 1;
    }
    printf("PORT %d\n", dc_grpc_server_port(srv));
    fflush(stdout);
    sigwait(&set, &sig);
    dc_grpc_server_shutdown(srv, 2000);
    dc_grpc_server_free(srv);
    SSL_CTX_free(ctx);
    return 0;
}

/* ---- client scenarios ---- */

static int call_unary(struct dc_grpc_client *c, Daprc__Test__V1__EchoRequest *req, int64_t timeout,
                      const struct dc_grpc_metadata *md, Daprc__Test__V1__EchoResponse **resp,
                      struct dc_grpc_status *st)
{
    struct dc_grpc_call_opts o = {.timeout_ms = timeout, .md = md};
    ProtobufCMessage *r = NULL;
    int rv = dc_grpc_client_unary_pb(c, &daprc__test__v1__echo__descriptor, "Unary", &o, &req->base,
                                     &r, st);
    *resp = (Daprc__Test__V1__EchoResponse *)r;
    return rv;
}

static void free_resp(Daprc__Test__V1__EchoResponse *r)
{
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void sc_unary(struct dc_grpc_client *c)
{
    Daprc__Test__V1__EchoRequest req = DAPRC__TEST__V1__ECHO_REQUEST__INIT;
    Daprc__Test__V1__EchoResponse *r = NULL;
    struct dc_grpc_status st = {0};
    struct dc_grpc_metadata md = {0};
    uint8_t payload[1000];
    int rv;

    memset(payload, 'x', sizeof(payload));
    req.message = (char *)(uintptr_t) "hello";
    req.payload.data = payload;
    req.payload.len = sizeof(payload);
    rv = call_unary(c, &req, 5000, NULL, &r, &st);
    report("unary",
           rv == DC_OK && r && strcmp(r->message, "hello") == 0 &&
               r->payload.len == sizeof(payload),
           "rv %d code %d %s", rv, st.code, st.message ? st.message : "");
    free_resp(r);
    dc_grpc_status_cleanup(&st);

    if (dc_grpc_md_add(&md, "x-echo", "via metadata", 12, NULL) != DC_OK)
        abort();
    rv = call_unary(c, &req, 5000, &md, &r, &st);
    report("unary-metadata", rv == DC_OK && r && strcmp(r->message, "via metadata") == 0,
           "rv %d message %s", rv, r ? r->message : "-");
    free_resp(r);
    dc_grpc_status_cleanup(&st);
    dc_grpc_md_cleanup(&md);

    req.status_code = DC_GRPC_NOT_FOUND;
    req.status_message = (char *)(uintptr_t) "no such thing: 100% caf\xc3\xa9";
    rv = call_unary(c, &req, 5000, NULL, &r, &st);
    report("unary-error",
           rv == DC_ENOTFOUND && st.code == DC_GRPC_NOT_FOUND && st.message &&
               strcmp(st.message, req.status_message) == 0,
           "rv %d code %d message %s", rv, st.code, st.message ? st.message : "-");
    free_resp(r);
    dc_grpc_status_cleanup(&st);
    req.status_code = 0;

    req.sleep_ms = 2000;
    rv = call_unary(c, &req, 200, NULL, &r, &st);
    report("unary-deadline", st.code == DC_GRPC_DEADLINE_EXCEEDED, "code %d %s", st.code,
           st.message ? st.message : "");
    free_resp(r);
    dc_grpc_status_cleanup(&st);
    req.sleep_ms = 0;
}

static void sc_large(struct dc_grpc_client *c)
{
    Daprc__Test__V1__EchoRequest req = DAPRC__TEST__V1__ECHO_REQUEST__INIT;
    Daprc__Test__V1__EchoResponse *r = NULL;
    struct dc_grpc_status st = {0};
    uint8_t *big = calloc(1, DC_GRPC_DEFAULT_MAX_MSG + 16);
    int rv;

    req.payload.data = big;
    req.payload.len = DC_GRPC_DEFAULT_MAX_MSG - 64;
    req.response_size = DC_GRPC_DEFAULT_MAX_MSG - 64;
    rv = call_unary(c, &req, 20000, NULL, &r, &st);
    report("large-both-ways",
           rv == DC_OK && r && r->payload.len == DC_GRPC_DEFAULT_MAX_MSG - 64 &&
               r->total_bytes == DC_GRPC_DEFAULT_MAX_MSG - 64,
           "rv %d code %d %s", rv, st.code, st.message ? st.message : "");
    free_resp(r);
    dc_grpc_status_cleanup(&st);

    req.payload.len = DC_GRPC_DEFAULT_MAX_MSG + 1;
    req.response_size = 0;
    rv = call_unary(c, &req, 20000, NULL, &r, &st);
    report("large-request-refused", st.code == DC_GRPC_RESOURCE_EXHAUSTED, "code %d %s", st.code,
           st.message ? st.message : "");
    free_resp(r);
    dc_grpc_status_cleanup(&st);

    req.payload.len = 0;
    req.response_size = DC_GRPC_DEFAULT_MAX_MSG + 1;
    rv = call_unary(c, &req, 20000, NULL, &r, &st);
    report("large-response-refused", st.code == DC_GRPC_RESOURCE_EXHAUSTED, "code %d %s", st.code,
           st.message ? st.message : "");
    free_resp(r);
    dc_grpc_status_cleanup(&st);
    free(big);
}

struct wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    int32_t last_index;
    int64_t bytes;
    bool done;
    int code;
};

static void w_msg(struct dc_grpc_call *call, const uint8_t *msg, size_t len, void *ud)
{
    struct wait *w = ud;
    ProtobufCMessage *m;

    (void)call;
    if (dc_grpc_pb_decode(&daprc__test__v1__echo_response__descriptor, msg, len, &m) != DC_OK)
        return;
    pthread_mutex_lock(&w->mu);
    w->n++;
    w->last_index = ((Daprc__Test__V1__EchoResponse *)m)->index;
    w->bytes += (int64_t)((Daprc__Test__V1__EchoResponse *)m)->payload.len;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void w_done(struct dc_grpc_call *call, const struct dc_grpc_status *st, void *ud)
{
    struct wait *w = ud;
    (void)call;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->code = st->code;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void w_init(struct wait *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static bool w_wait(struct wait *w, int n)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&w->mu);
    while (!w->done && (n < 0 || w->n < n)) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0)
            break;
    }
    ok = n < 0 ? w->done : w->n >= n;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static const struct dc_grpc_ops w_ops = {.on_message = w_msg, .on_done = w_done};

static struct dc_grpc_call *start(struct dc_grpc_client *c, const char *m, struct wait *w)
{
    struct dc_grpc_call *call = NULL;
    char path[128];

    snprintf(path, sizeof(path), "/daprc.test.v1.Echo/%s", m);
    w_init(w);
    if (dc_grpc_client_start(c, path, NULL, &w_ops, w, &call) != DC_OK)
        abort();
    return call;
}

static void sc_streams(struct dc_grpc_client *c)
{
    Daprc__Test__V1__EchoRequest req = DAPRC__TEST__V1__ECHO_REQUEST__INIT;
    struct dc_grpc_call *call;
    uint8_t payload[200] = {0};
    struct wait w;
    bool ok;

    req.message = (char *)(uintptr_t) "s";
    req.count = 100;
    req.response_size = 100;
    call = start(c, "ServerStream", &w);
    ok = dc_grpc_call_send_pb(call, &req.base) == DC_OK && dc_grpc_call_close_send(call) == DC_OK;
    ok = ok && w_wait(&w, -1);
    report("server-stream", ok && w.code == 0 && w.n == 100 && w.last_index == 99, "code %d n %d",
           w.code, w.n);
    dc_grpc_call_unref(call);

    req.count = 0;
    req.response_size = 0;
    req.payload.data = payload;
    req.payload.len = sizeof(payload);
    call = start(c, "ClientStream", &w);
    ok = true;
    for (int i = 0; i < 50 && ok; i++)
        ok = dc_grpc_call_send_pb(call, &req.base) == DC_OK;
    ok = ok && dc_grpc_call_close_send(call) == DC_OK && w_wait(&w, -1);
    report("client-stream", ok && w.code == 0 && w.n == 1 && w.last_index == 50,
           "code %d n %d index %d", w.code, w.n, w.last_index);
    dc_grpc_call_unref(call);

    req.response_size = 500;
    call = start(c, "BidiStream", &w);
    ok = true;
    for (int i = 0; i < 100 && ok; i++) {
        size_t len = protobuf_c_message_get_packed_size(&req.base);
        uint8_t *buf = malloc(len);
        protobuf_c_message_pack(&req.base, buf);
        ok = dc_grpc_call_send_wait(call, buf, len, 10000) == DC_OK;
        free(buf);
        if (i == 5)
            ok = ok && w_wait(&w, 3); /* answers come while we still send */
    }
    ok = ok && dc_grpc_call_close_send(call) == DC_OK && w_wait(&w, -1);
    report("bidi-stream", ok && w.code == 0 && w.n == 100 && w.bytes == 100 * 500, "code %d n %d",
           w.code, w.n);
    dc_grpc_call_unref(call);

    req.count = 1000000;
    req.response_size = 1000;
    req.payload.len = 0;
    call = start(c, "ServerStream", &w);
    ok = dc_grpc_call_send_pb(call, &req.base) == DC_OK && dc_grpc_call_close_send(call) == DC_OK;
    ok = ok && w_wait(&w, 5);
    dc_grpc_call_cancel(call, NULL);
    ok = ok && w_wait(&w, -1);
    report("cancel", ok && w.code == DC_GRPC_CANCELLED, "code %d n %d", w.code, w.n);
    dc_grpc_call_unref(call);
}

static void sc_unimplemented(struct dc_grpc_client *c)
{
    struct dc_grpc_status st = {0};
    struct dc_buf out;
    int rv;

    dc_buf_init(&out, 0);
    rv = dc_grpc_client_unary(c, "/daprc.test.v1.Echo/Missing", NULL, "", 0, &out, &st);
    report("unimplemented", rv == DC_EUNSUPPORTED && st.code == DC_GRPC_UNIMPLEMENTED, "code %d",
           st.code);
    dc_grpc_status_cleanup(&st);
    dc_buf_cleanup(&out);
}

static int client(int argc, char **argv)
{
    struct dc_grpc_client_opts co = {.target = argv[2]};
    struct dc_grpc_client *c = NULL;
    struct dc_errbuf eb = {{0}};
    SSL_CTX *ctx = NULL;

    if (argc >= 6 && strcmp(argv[3], "--tls") == 0) {
        ctx = SSL_CTX_new(TLS_client_method());
        if (SSL_CTX_load_verify_locations(ctx, argv[4], NULL) != 1) {
            fprintf(stderr, "grpc-echo: cannot load %s\n", argv[4]);
            return 2;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        co.ssl_ctx = ctx;
        co.server_name = argv[5];
    }
    if (dc_grpc_client_new(&c, &co, &eb) != DC_OK) {
        fprintf(stderr, "grpc-echo: %s\n", eb.msg);
        return 2;
    }
    sc_unary(c);
    sc_large(c);
    sc_streams(c);
    sc_unimplemented(c);
    dc_grpc_client_free(c);
    SSL_CTX_free(ctx);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "server") == 0)
        return serve(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "client") == 0)
        return client(argc, argv);
    fprintf(stderr,
            "usage: grpc-echo server [--tls CERT KEY] | client HOST:PORT [--tls CA NAME]\n");
    return 2;
}
