/* The gRPC layer: wire helpers (framing decoder with split and oversized input, grpc-timeout,
 * grpc-message, metadata, base64), then our client against our server on 127.0.0.1 over h2c and
 * TLS (a throwaway P-256 certificate made here): the four call shapes, metadata, errors,
 * deadlines, message size limits, cancellation, slow-reader back-pressure, keepalive and GOAWAY
 * draining. The server side is tests/interop/echo_service.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static atomic_int echo_ss_sent;     /* ServerStream responses queued */
static atomic_int echo_done_cancel; /* server calls that ended CANCELLED */
#define ECHO_COUNTERS 1
#include "../../tests/interop/echo_service.c"

int64_t dc__grpc_now_ms(void); /* grpc_core.c */

/* ---- wire ---- */

static uint8_t *frame(const char *msg, size_t len, size_t *out_len)
{
    uint8_t *f = malloc(len + 5);
    f[0] = 0;
    f[1] = (uint8_t)(len >> 24);
    f[2] = (uint8_t)(len >> 16);
    f[3] = (uint8_t)(len >> 8);
    f[4] = (uint8_t)len;
    memcpy(f + 5, msg, len);
    *out_len = len + 5;
    return f;
}

static void test_decoder_split(void **state)
{
    struct dc_grpc_decoder d;
    uint8_t *f, *m, two[64];
    size_t flen, used, mlen, got = 0, pos;

    (void)state;
    dc_grpc_decoder_init(&d, 100);
    f = frame("hello world", 11, &flen);
    /* one byte at a time: the message completes on the last byte only */
    for (size_t i = 0; i < flen; i++) {
        assert_int_equal(dc_grpc_decoder_feed(&d, f + i, 1, &used, &m, &mlen), DC_OK);
        assert_int_equal(used, 1);
        if (i + 1 < flen) {
            assert_null(m);
            assert_false(dc_grpc_decoder_idle(&d));
        } else {
            assert_non_null(m);
            assert_int_equal(mlen, 11);
            assert_memory_equal(m, "hello world", 11);
            free(m);
        }
    }
    assert_true(dc_grpc_decoder_idle(&d));
    /* two messages (one empty) in one chunk: the decoder stops after each */
    memcpy(two, f, flen);
    two[flen] = 0;
    memset(two + flen + 1, 0, 4);
    pos = 0;
    while (pos < flen + 5) {
        assert_int_equal(dc_grpc_decoder_feed(&d, two + pos, flen + 5 - pos, &used, &m, &mlen),
                         DC_OK);
        pos += used;
        if (m != NULL) {
            got++;
            free(m);
        }
    }
    assert_int_equal(got, 2);
    free(f);
    dc_grpc_decoder_cleanup(&d);
}

static void test_decoder_limits(void **state)
{
    struct dc_grpc_decoder d;
    uint8_t hdr[5] = {0, 0, 0, 0, 101}, *m;
    uint8_t comp[6] = {1, 0, 0, 0, 1, 'x'};
    size_t used, mlen;

    (void)state;
    dc_grpc_decoder_init(&d, 100);
    assert_int_equal(dc_grpc_decoder_feed(&d, hdr, 5, &used, &m, &mlen), DC_ETOOBIG);
    assert_int_equal(mlen, 101);
    dc_grpc_decoder_cleanup(&d);
    dc_grpc_decoder_init(&d, 100);
    hdr[4] = 100; /* exactly the maximum is fine */
    assert_int_equal(dc_grpc_decoder_feed(&d, hdr, 5, &used, &m, &mlen), DC_OK);
    assert_null(m);
    dc_grpc_decoder_cleanup(&d);
    dc_grpc_decoder_init(&d, 100);
    assert_int_equal(dc_grpc_decoder_feed(&d, comp, 6, &used, &m, &mlen), DC_EUNSUPPORTED);
    dc_grpc_decoder_cleanup(&d);
}

static void test_timeout(void **state)
{
    char buf[DC_GRPC_TIMEOUT_LEN];
    int64_t ms;

    (void)state;
    assert_int_equal(dc_grpc_timeout_parse("1S", &ms), DC_OK);
    assert_int_equal(ms, 1000);
    assert_int_equal(dc_grpc_timeout_parse("250m", &ms), DC_OK);
    assert_int_equal(ms, 250);
    assert_int_equal(dc_grpc_timeout_parse("2M", &ms), DC_OK);
    assert_int_equal(ms, 120000);
    assert_int_equal(dc_grpc_timeout_parse("1H", &ms), DC_OK);
    assert_int_equal(ms, 3600000);
    assert_int_equal(dc_grpc_timeout_parse("1500u", &ms), DC_OK);
    assert_int_equal(ms, 2);
    assert_int_equal(dc_grpc_timeout_parse("1n", &ms), DC_OK);
    assert_int_equal(ms, 1);
    assert_int_equal(dc_grpc_timeout_parse("99999999S", &ms), DC_OK);
    assert_int_equal(dc_grpc_timeout_parse("123456789S", &ms), DC_EPARSE);
    assert_int_equal(dc_grpc_timeout_parse("S", &ms), DC_EPARSE);
    assert_int_equal(dc_grpc_timeout_parse("10x", &ms), DC_EPARSE);
    assert_int_equal(dc_grpc_timeout_parse("-1S", &ms), DC_EPARSE);
    assert_int_equal(dc_grpc_timeout_parse("1 S", &ms), DC_EPARSE);
    dc_grpc_timeout_format(1500, buf);
    assert_string_equal(buf, "1500000u");
    dc_grpc_timeout_format(100000, buf);
    assert_string_equal(buf, "100000m");
    dc_grpc_timeout_format(200000000, buf);
    assert_string_equal(buf, "200000S");
    for (int64_t v = 1; v < 400000000000LL; v = v * 7 + 3) {
        dc_grpc_timeout_format(v, buf);
        assert_int_equal(dc_grpc_timeout_parse(buf, &ms), DC_OK);
        assert_true(ms >= v);
        assert_true(strlen(buf) <= 9);
    }
}

static void test_message_encoding(void **state)
{
    struct dc_buf b;
    char *s;

    (void)state;
    dc_buf_init(&b, 1024);
    assert_int_equal(dc_grpc_message_encode("plain text", &b), DC_OK);
    assert_string_equal(b.data, "plain text");
    assert_int_equal(dc_grpc_message_encode("100% \xe2\x82\xac\n", &b), DC_OK);
    assert_string_equal(b.data, "100%25 %E2%82%AC%0A");
    s = dc_grpc_message_decode(b.data, b.len);
    assert_string_equal(s, "100% \xe2\x82\xac\n");
    free(s);
    s = dc_grpc_message_decode("bad %zz %4", 10);
    assert_string_equal(s, "bad %zz %4");
    free(s);
    dc_buf_cleanup(&b);
    assert_string_equal(dc_grpc_code_name(4), "DEADLINE_EXCEEDED");
    assert_string_equal(dc_grpc_code_name(99), "UNKNOWN_CODE");
    assert_int_equal(dc_grpc_code_to_err(DC_GRPC_UNAVAILABLE), DC_EUNAVAIL);
}

static void test_metadata(void **state)
{
    struct dc_grpc_metadata md = {0};
    const uint8_t bin[] = {0, 1, 2, 255, 254};
    char *e;
    uint8_t *d;
    size_t n, dn;

    (void)state;
    assert_int_equal(dc_grpc_md_add(&md, "x-a", "v1", 2, NULL), DC_OK);
    assert_int_equal(dc_grpc_md_add(&md, "x-a", "v2", 2, NULL), DC_OK);
    assert_int_equal(dc_grpc_md_add(&md, "x-b-bin", bin, sizeof(bin), NULL), DC_OK);
    assert_int_equal(dc_grpc_md_add(&md, "X-Upper", "v", 1, NULL), DC_EINVAL);
    assert_int_equal(dc_grpc_md_add(&md, "grpc-status", "0", 1, NULL), DC_EINVAL);
    assert_int_equal(dc_grpc_md_add(&md, ":path", "/", 1, NULL), DC_EINVAL);
    assert_int_equal(dc_grpc_md_add(&md, "x-c", "a\nb", 3, NULL), DC_EINVAL);
    assert_string_equal(dc_grpc_md_get(&md, "x-a", NULL), "v1");
    assert_non_null(dc_grpc_md_get(&md, "x-b-bin", &n));
    assert_int_equal(n, sizeof(bin));
    assert_null(dc_grpc_md_get(&md, "x-none", NULL));
    dc_grpc_md_cleanup(&md);

    e = dc_grpc_b64_encode(bin, sizeof(bin), &n);
    assert_string_equal(e, "AAEC//4=");
    d = dc_grpc_b64_decode(e, n, &dn);
    assert_int_equal(dn, sizeof(bin));
    assert_memory_equal(d, bin, dn);
    free(d);
    d = dc_grpc_b64_decode("AAEC//4", 7, &dn); /* unpadded */
    assert_non_null(d);
    assert_int_equal(dn, sizeof(bin));
    free(d);
    assert_null(dc_grpc_b64_decode("A$==", 4, &dn));
    free(e);
}

/* ---- a certificate for TLS ---- */

static SSL_CTX *make_server_ctx(char **ca_pem_out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    SSL_CTX *ctx;
    BIO *b;
    char *p;
    long n;

    assert_non_null(key);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &p);
    *ca_pem_out = strndup(p, (size_t)n);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
}

static SSL_CTX *make_client_ctx(const char *ca_pem)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    BIO *b = BIO_new_mem_buf(ca_pem, -1);
    X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);

    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    X509_free(ca);
    BIO_free(b);
    return ctx;
}

/* ---- fixture ---- */

struct fx {
    struct dc_grpc_server *srv;
    struct dc_grpc_client *cli;
    SSL_CTX *sctx, *cctx;
    char *ca;
};

static struct fx *fx_new(bool tls, size_t srv_max, size_t cli_max, uint32_t ka_ms)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct dc_grpc_server_opts so = {
        .workers = 4, .max_recv_msg = srv_max, .min_ping_interval_ms = ka_ms ? ka_ms / 2 : 0};
    struct dc_grpc_client_opts co = {.max_recv_msg = cli_max, .keepalive_time_ms = ka_ms};
    struct dc_errbuf eb = {{0}};
    char target[64];

    if (tls) {
        f->sctx = make_server_ctx(&f->ca);
        f->cctx = make_client_ctx(f->ca);
        so.ssl_ctx = f->sctx;
        co.ssl_ctx = f->cctx;
        co.server_name = "localhost";
    }
    assert_int_equal(dc_grpc_server_new(&f->srv, &so, &eb), DC_OK);
    assert_int_equal(echo_register(f->srv, &eb), DC_OK);
    assert_int_equal(dc_grpc_server_listen(f->srv, "127.0.0.1", 0, &eb), DC_OK);
    assert_int_equal(dc_grpc_server_start(f->srv, &eb), DC_OK);
    snprintf(target, sizeof(target), "127.0.0.1:%d", dc_grpc_server_port(f->srv));
    co.target = target;
    assert_int_equal(dc_grpc_client_new(&f->cli, &co, &eb), DC_OK);
    return f;
}

static void fx_free(struct fx *f)
{
    dc_grpc_client_free(f->cli);
    dc_grpc_server_free(f->srv);
    SSL_CTX_free(f->sctx);
    SSL_CTX_free(f->cctx);
    free(f->ca);
    free(f);
}

static int unary(struct fx *f, Daprc__Test__V1__EchoRequest *req, int64_t timeout_ms,
                 const struct dc_grpc_metadata *md, Daprc__Test__V1__EchoResponse **resp,
                 struct dc_grpc_status *st)
{
    struct dc_grpc_call_opts o = {.timeout_ms = timeout_ms, .md = md};
    ProtobufCMessage *r = NULL;
    int rv = dc_grpc_client_unary_pb(f->cli, &daprc__test__v1__echo__descriptor, "Unary", &o,
                                     &req->base, &r, st);
    if (resp != NULL)
        *resp = (Daprc__Test__V1__EchoResponse *)r;
    else if (r != NULL)
        protobuf_c_message_free_unpacked(r, NULL);
    return rv;
}

static void check_unary_basics(struct fx *f)
{
    Daprc__Test__V1__EchoRequest req = DAPRC__TEST__V1__ECHO_REQUEST__INIT;
    Daprc__Test__V1__EchoResponse *resp = NULL;
    struct dc_grpc_status st = {0};
    struct dc_grpc_metadata md = {0};
    uint8_t payload[1000];

    memset(payload, 'p', sizeof(payload));
    req.message = (char *)(uintptr_t) "hi";
    req.payload.data = payload;
    req.payload.len = sizeof(payload);
    assert_int_equal(unary(f, &req, 5000, NULL, &resp, &st), DC_OK);
    assert_int_equal(st.code, DC_GRPC_OK);
    assert_string_equal(resp->message, "hi");
    assert_int_equal(resp->payload.len, sizeof(payload));
    assert_int_equal(resp->total_bytes, sizeof(payload));
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    dc_grpc_status_cleanup(&st);

    /* metadata in; error status with a message that needs percent-encoding */
    assert_int_equal(dc_grpc_md_add(&md, "x-echo", "from metadata", 13, NULL), DC_OK);
    assert_int_equal(unary(f, &req, 0, &md, &resp, &st), DC_OK);
    assert_string_equal(resp->message, "from metadata");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    dc_grpc_status_cleanup(&st);
    dc_grpc_md_cleanup(&md);

    req.status_code = DC_GRPC_NOT_FOUND;
    req.status_message = (char *)(uintptr_t) "no such thing: 100% caf\xc3\xa9\n";
    assert_int_equal(unary(f, &req, 0, NULL, &resp, &st), DC_ENOTFOUND);
    assert_null(resp);
    assert_int_equal(st.code, DC_GRPC_NOT_FOUND);
    assert_string_equal(st.message, "no such thing: 100% caf\xc3\xa9\n");
    dc_grpc_status_cleanup(&st);
}

static void test_unary_h2c(void **state)
{
    struct fx *f = fx_new(false, 0, 0, 0);
    struct dc_grpc_status st = {0};
    struct dc_buf out;

    (void)state;
    check_unary_basics(f);
    /* unknown method and unknown service */
    dc_buf_init(&out, 0);
    assert_int_equal(
        dc_grpc_client_unary(f->cli, "/daprc.test.v1.Echo/Nope", NULL, "", 0, &out, &st),
        DC_EUNSUPPORTED);
    assert_int_equal(st.code, DC_GRPC_UNIMPLEMENTED);
    assert_string_equal(st.message, "unknown method Nope for service daprc.test.v1.Echo");
    dc_grpc_status_cleanup(&st);
    assert_int_equal(dc_grpc_client_unary(f->cli, "/x.Y/Z", NULL, "", 0, &out, &st),
                     DC_EUNSUPPORTED);
    assert_string_equal(st.message, "unknown service x.Y");
    dc_grpc_status_cleanup(&st);
    /* a request that is not an EchoRequest */
    assert_int_equal(dc_grpc_client_unary(f->cli, "/daprc.test.v1.Echo/Unary", NULL, "\xff\xff\xff",
                                          3, &out, &st),
                     DC_EIO);
    assert_int_equal(st.code, DC_GRPC_INTERNAL);
    dc_grpc_status_cleanup(&st);
    dc_buf_cleanup(&out);
    fx_free(f);
}

static void test_unary_tls(void **state)
{
    struct fx *f = fx_new(true, 0, 0, 0);
    struct dc_grpc_call *call;
    struct dc_grpc_status st = {0};
    struct dc_buf out;
    X509 *peer;

    (void)state;
    check_unary_basics(f);
    /* a client that does not trust the server's certificate gets UNAVAILABLE */
    {
        SSL_CTX *other = SSL_CTX_new(TLS_client_method());
        struct dc_grpc_client *c2;
        char target[64];
        struct dc_grpc_client_opts co = {.ssl_ctx = other, .target = target};
        SSL_CTX_set_verify(other, SSL_VERIFY_PEER, NULL);
        snprintf(target, sizeof(target), "127.0.0.1:%d", dc_grpc_server_port(f->srv));
        assert_int_equal(dc_grpc_client_new(&c2, &co, NULL), DC_OK);
        dc_buf_init(&out, 0);
        assert_int_equal(
            dc_grpc_client_unary(c2, "/daprc.test.v1.Echo/Unary", NULL, "", 0, &out, &st),
            DC_EUNAVAIL);
        dc_grpc_status_cleanup(&st);
        dc_buf_cleanup(&out);
        dc_grpc_client_free(c2);
        SSL_CTX_free(other);
    }
    /* the client sees the server's certificate */
    assert_int_equal(
        dc_grpc_client_start(f->cli, "/daprc.test.v1.Echo/Unary", NULL, NULL, NULL, &call), DC_OK);
    assert_int_equal(dc_grpc_call_send(call, "", 0), DC_OK);
    assert_int_equal(dc_grpc_call_close_send(call), DC_OK);
    while (!dc_grpc_call_is_done(call)) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    peer = dc_grpc_call_peer_cert(call);
    assert_non_null(peer);
    X509_free(peer);
    dc_grpc_call_unref(call);
    fx_free(f);
}

/* ---- streaming collector ---- */

struct coll {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    int64_t bytes;
    int32_t last_index;
    bool done;
    int code;
    char msg[256];
};

static void coll_init(struct coll *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void coll_msg(struct dc_grpc_call *call, const uint8_t *msg, size_t len, void *ud)
{
    struct coll *c = ud;
    ProtobufCMessage *m;

    (void)call;
    assert_int_equal(dc_grpc_pb_decode(&daprc__test__v1__echo_response__descriptor, msg, len, &m),
                     DC_OK);
    pthread_mutex_lock(&c->mu);
    c->n++;
    c->bytes += (int64_t)((Daprc__Test__V1__EchoResponse *)m)->payload.len;
    c->last_index = ((Daprc__Test__V1__EchoResponse *)m)->index;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void coll_done(struct dc_grpc_call *call, const struct dc_grpc_status *st, void *ud)
{
    struct coll *c = ud;

    (void)call;
    pthread_mutex_lock(&c->mu);
    c->done = true;
    c->code = st->code;
    snprintf(c->msg, sizeof(c->msg), "%s", st->message ? st->message : "");
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static const struct dc_grpc_ops coll_ops = {.on_message = coll_msg, .on_done = coll_done};

/* Wait until done (n < 0) or n messages, up to 10 s. */
static void coll_wait(struct coll *c, int n)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&c->mu);
    while (!c->done && (n < 0 || c->n < n)) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
            break;
    }
    ok = n < 0 ? c->done : c->n >= n;
    pthread_mutex_unlock(&c->mu);
    assert_true(ok);
}

static struct dc_grpc_call *start_ss(struct fx *f, struct coll *c, int32_t count, int32_t size,
                                     int64_t timeout)
{
    Daprc__Test__V1__EchoRequest req = DAPRC__TEST__V1__ECHO_REQUEST__INIT;
    struct dc_grpc_call_opts o = {.timeout_ms = timeout};
    struct dc_grpc_call *call;

    req.message = (char *)(uintptr_t) "stream";
    req.count = count;
    req.response_size = size;
    assert_int_equal(
        dc_grpc_client_start(f->cli, "/daprc.test.v1.Echo/ServerStream", &o, &coll_ops, c, &call),
        DC_OK);
    assert_int_equal(dc_grpc_call_send_pb(call, &req.base), DC_OK);
    assert_int_equal(dc_grpc_call_close_send(call), DC_OK);
    return call;
}

static void check_server_stream(struct fx *f)
{
    struct coll c;
    struct dc_grpc_call *call;

    coll_init(&c);
    call = start_ss(f, &c, 500, 100, 10000);
    coll_wait(&c, -1);
    assert_int_equal(c.code, DC_GRPC_OK);
    assert_int_equal(c.n, 500);
    assert_int_equal(c.last_index, 499);
    assert_int_equal(c.bytes, 500 * 100);
    dc_grpc_call_unref(call);
}

static void test_server_stream(void **state)
{
    struct fx *f = fx_new(false, 0, 0, 0);
    (void)state;
    check_server_stream(f);
    fx_free(f);
    f = fx_new(true, 0, 0, 0);
    check_server_stream(f);
    fx_free(f);
}

static void test_client_and_bidi_stream(void **state)
{
    struct fx *f = fx_new(false, 0, 0, 0);
    Daprc__Test__V1__EchoRequest req = DAPRC__TEST__V1__ECHO_REQUEST__INIT;
    uint8_t payload[300] = {0};
    struct dc_grpc_call *call;
    struct coll c;

    (void)state;
    req.message = (char *)(uintptr_t) "m";
    req.payload.data = payload;
    req.payload.len = sizeof(payload);
    coll_init(&c);
    assert_int_equal(dc_grpc_client_start(f->cli, "/daprc.test.v1.Echo/ClientStream", NULL,
                                          &coll_ops, &c, &call),
                     DC_OK);
    for (int i = 0; i < 50; i++)
        assert_int_equal(dc_grpc_call_send_pb(call, &req.base), DC_OK);
    assert_int_equal(dc_grpc_call_close_send(call), DC_OK);
    coll_wait(&c, -1);
    assert_int_equal(c.code, DC_GRPC_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.last_index, 50);
    dc_grpc_call_unref(call);

    coll_init(&c);
    req.response_size = 1000;
    assert_int_equal(
        dc_grpc_client_start(f->cli, "/daprc.test.v1.Echo/BidiStream", NULL, &coll_ops, &c, &call),
        DC_OK);
    for (int i = 0; i < 200; i++) {
        size_t len = protobuf_c_message_get_packed_size(&req.base);
        uint8_t *buf = malloc(len);
        protobuf_c_message_pack(&req.base, buf);
        assert_int_equal(dc_grpc_call_send_wait(call, buf, len, 5000), DC_OK);
        free(buf);
        if (i == 10)
            coll_wait(&c, 5); /* interleaved: answers arrive while we send */
    }
    assert_int_equal(dc_grpc_call_close_send(call), DC_OK);
    coll_wait(&c, -1);
    assert_int_equal(c.code, DC_GRPC_OK);
    assert_int_equal(c.n, 200);
    assert_int_equal(c.bytes, 200 * 1000);
    dc_grpc_call_unref(call);
    fx_free(f);
}

static void test_deadline(void **state)
{
    struct fx *f = fx_new(false, 0, 0, 0);
    Daprc__Test__V1__EchoRequest req = DAPRC__TEST__V1__ECHO_REQUEST__INIT;
    struct dc_grpc_status st = {0};
    struct coll c;
    struct dc_grpc_call *call;
    int64_t t0;

    (void)state;
    req.sleep_ms = 1000;
    t0 = dc__grpc_now_ms();
    assert_int_equal(unary(f, &req, 100, NULL, NULL, &st), DC_ETIMEDOUT);
    assert_int_equal(st.code, DC_GRPC_DEADLINE_EXCEEDED);
    assert_true(dc__grpc_now_ms() - t0 < 900);
    dc_grpc_status_cleanup(&st);
    /* server-streaming that outlives its deadline (the client does not read) */
    coll_init(&c);
    call = start_ss(f, &c, 1000000, 1000, 200);
    dc_grpc_call_pause_recv(call);
    coll_wait(&c, -1);
    assert_int_equal(c.code, DC_GRPC_DEADLINE_EXCEEDED);
    dc_grpc_call_unref(call);
    /* the connection is still good */
    req.sleep_ms = 0;
    assert_int_equal(unary(f, &req, 1000, NULL, NULL, &st), DC_OK);
    dc_grpc_status_cleanup(&st);
    fx_free(f);
}

static void test_message_size(void **state)
{
    struct fx *f = fx_new(false, 64 * 1024, 128 * 1024, 0);
    Daprc__Test__V1__EchoRequest req = DAPRC__TEST__V1__ECHO_REQUEST__INIT;
    Daprc__Test__V1__EchoResponse *resp = NULL;
    struct dc_grpc_status st = {0};
    uint8_t *big = calloc(1, 70 * 1024);

    (void)state;
    /* request: fits at 60 KiB, refused by the server past 64 KiB */
    req.payload.data = big;
    req.payload.len = 60 * 1024;
    assert_int_equal(unary(f, &req, 0, NULL, NULL, &st), DC_OK);
    dc_grpc_status_cleanup(&st);
    req.payload.len = 64 * 1024 + 1;
    assert_int_equal(unary(f, &req, 0, NULL, NULL, &st), DC_ETOOBIG);
    assert_int_equal(st.code, DC_GRPC_RESOURCE_EXHAUSTED);
    dc_grpc_status_cleanup(&st);
    /* response: the client takes 128 KiB (message bytes), refuses more */
    req.payload.len = 0;
    req.response_size = 128 * 1024 - 16;
    assert_int_equal(unary(f, &req, 0, NULL, &resp, &st), DC_OK);
    assert_int_equal(resp->payload.len, 128 * 1024 - 16);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    dc_grpc_status_cleanup(&st);
    req.response_size = 128 * 1024 + 1;
    assert_int_equal(unary(f, &req, 0, NULL, NULL, &st), DC_ETOOBIG);
    assert_int_equal(st.code, DC_GRPC_RESOURCE_EXHAUSTED);
    dc_grpc_status_cleanup(&st);
    free(big);
    fx_free(f);
    /* the default maximum (4 MiB) both ways */
    f = fx_new(false, 0, 0, 0);
    big = calloc(1, DC_GRPC_DEFAULT_MAX_MSG);
    req.payload.data = big;
    req.payload.len = DC_GRPC_DEFAULT_MAX_MSG - 16;
    req.response_size = DC_GRPC_DEFAULT_MAX_MSG - 16;
    assert_int_equal(unary(f, &req, 0, NULL, &resp, &st), DC_OK);
    assert_int_equal(resp->payload.len, DC_GRPC_DEFAULT_MAX_MSG - 16);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    dc_grpc_status_cleanup(&st);
    free(big);
    fx_free(f);
}

static void test_cancel_and_backpressure(void **state)
{
    struct fx *f = fx_new(false, 0, 0, 0);
    struct timespec ts = {0, 300000000};
    struct coll c;
    struct dc_grpc_call *call;
    int sent;

    (void)state;
    /* Slow reader: the client pauses; the server can only get a window's worth plus its send
     * queue ahead, however many responses it was asked for. */
    atomic_store(&echo_ss_sent, 0);
    coll_init(&c);
    call = start_ss(f, &c, 3000, 10000, 30000);
    dc_grpc_call_pause_recv(call);
    nanosleep(&ts, NULL);
    sent = atomic_load(&echo_ss_sent);
    assert_true(sent > 0);
    /* 256 KiB window + 64 KiB queue + 64 KiB socket budget, in 10 KB messages */
    assert_true(sent < 60);
    nanosleep(&ts, NULL);
    assert_int_equal(atomic_load(&echo_ss_sent), sent);
    dc_grpc_call_resume_recv(call);
    coll_wait(&c, -1);
    assert_int_equal(c.code, DC_GRPC_OK);
    assert_int_equal(c.n, 3000);
    dc_grpc_call_unref(call);

    /* Cancellation by the client: CANCELLED locally; the server's call ends CANCELLED too. */
    atomic_store(&echo_done_cancel, 0);
    coll_init(&c);
    call = start_ss(f, &c, 1000000, 1000, 0);
    coll_wait(&c, 10);
    dc_grpc_call_cancel(call, NULL);
    coll_wait(&c, -1);
    assert_int_equal(c.code, DC_GRPC_CANCELLED);
    dc_grpc_call_unref(call);
    for (int i = 0; i < 500 && atomic_load(&echo_done_cancel) == 0; i++) {
        struct timespec t = {0, 2000000};
        nanosleep(&t, NULL);
    }
    assert_int_equal(atomic_load(&echo_done_cancel), 1);
    fx_free(f);
}

struct shut {
    struct dc_grpc_server *srv;
};

static void *shutdown_thread(void *arg)
{
    struct shut *s = arg;
    dc_grpc_server_shutdown(s->srv, 3000);
    return NULL;
}

static void test_goaway_drain(void **state)
{
    struct fx *f = fx_new(false, 0, 0, 100);
    Daprc__Test__V1__EchoRequest req = DAPRC__TEST__V1__ECHO_REQUEST__INIT;
    struct dc_grpc_call_opts o = {.timeout_ms = 5000};
    struct dc_grpc_status st = {0};
    struct dc_grpc_call *call;
    struct timespec ts = {0, 100000000};
    struct shut s = {f->srv};
    struct coll c;
    pthread_t th;
    size_t len;
    uint8_t buf[64];

    (void)state;
    /* A call that takes 500 ms (keepalive pings every 100 ms meanwhile) is running when the
     * server shuts down with a 3 s grace: it completes OK; the server stops accepting. */
    req.sleep_ms = 500;
    len = protobuf_c_message_pack(&req.base, buf);
    coll_init(&c);
    assert_int_equal(
        dc_grpc_client_start(f->cli, "/daprc.test.v1.Echo/Unary", &o, &coll_ops, &c, &call), DC_OK);
    assert_int_equal(dc_grpc_call_send(call, buf, len), DC_OK);
    assert_int_equal(dc_grpc_call_close_send(call), DC_OK);
    nanosleep(&ts, NULL);
    pthread_create(&th, NULL, shutdown_thread, &s);
    coll_wait(&c, -1);
    assert_int_equal(c.code, DC_GRPC_OK);
    assert_int_equal(c.n, 1);
    dc_grpc_call_unref(call);
    pthread_join(th, NULL);
    req.sleep_ms = 0;
    assert_int_equal(unary(f, &req, 1000, NULL, NULL, &st), DC_EUNAVAIL);
    assert_int_equal(st.code, DC_GRPC_UNAVAILABLE);
    dc_grpc_status_cleanup(&st);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoder_split),
        cmocka_unit_test(test_decoder_limits),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_message_encoding),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_unary_h2c),
        cmocka_unit_test(test_unary_tls),
        cmocka_unit_test(test_server_stream),
        cmocka_unit_test(test_client_and_bidi_stream),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_message_size),
        cmocka_unit_test(test_cancel_and_backpressure),
        cmocka_unit_test(test_goaway_drain),
    };
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
