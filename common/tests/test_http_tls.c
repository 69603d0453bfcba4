/* HTTPS in the server (OpenSSL): certificates made in the test with OpenSSL (EC P-256, self-signed,
 * SAN DNS:localhost), a small OpenSSL client that verifies the chain and the host name, and the
 * certificate swap of dc_http_server_set_tls (new connections see the new certificate, an
 * established one keeps working, a bad certificate is refused and the old one stays), and a
 * streamed response read piece by piece by the built-in client over TLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dc/http_client.h"
#include "dc/http_server.h"
#include "dc/mem.h"

#include "dc/str.h"

/* A self-signed certificate and its key, as PEM. */
struct pem_pair {
    char *cert;
    char *key;
    X509 *x; /* for the client's trust store and comparisons */
};

static char *bio_text(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = dc_xcalloc(1, (size_t)n + 1);

    memcpy(out, data, (size_t)n);
    return out;
}

static void make_cert(struct pem_pair *p, const char *cn)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    X509_EXTENSION *ext;
    X509V3_CTX ctx;
    BIO *b;

    assert_non_null(k);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);

    b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    p->cert = bio_text(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    p->key = bio_text(b);
    BIO_free(b);
    p->x = x;
    EVP_PKEY_free(k);
}

static void free_cert(struct pem_pair *p)
{
    free(p->cert);
    free(p->key);
    X509_free(p->x);
}

static void h_hello(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)ud;
    assert_int_equal(dc_buf_appendf(&resp->body, "hello %s %zu", req->method, req->body_len),
                     DC_OK);
}

/* /stream: "one\n", then (once the test's byte is in gate[0]) 40000 bytes of 'b' (more than one
 * TLS record) and "end\n", chunked. */
struct stream_gate {
    int gate[2];
    int result;
};

static void h_stream(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    static char big[40000];
    struct stream_gate *g = ud;
    struct pollfd pf = {.fd = g->gate[0], .events = POLLIN};
    char c;
    int rv;

    memset(big, 'b', sizeof(big));
    rv = dc_http_stream_begin(req, resp, DC_HTTP_LENGTH_UNKNOWN);
    if (rv == DC_OK)
        rv = dc_http_stream_write(resp, "one\n", 4);
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_int_equal(read(g->gate[0], &c, 1), 1);
    if (rv == DC_OK)
        rv = dc_http_stream_write(resp, big, sizeof(big));
    if (rv == DC_OK)
        rv = dc_http_stream_write(resp, "end\n", 4);
    g->result = rv;
}

/* One TLS client connection trusting `trust`. */
struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
};

/* Connect and handshake; returns 1 on success, 0 when the handshake (verification) failed. */
static int client_open(struct client *c, uint16_t port, X509 *trust)
{
    struct sockaddr_in sin;

    memset(c, 0, sizeof(*c));
    c->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->ctx);
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(c->ctx), trust), 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    assert_int_equal(SSL_set1_host(c->ssl, "localhost"), 1);
    if (SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        return 0;
    }
    return 1;
}

static void client_close(struct client *c)
{
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    SSL_CTX_free(c->ctx);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

/* The server's certificate equals `want`. */
static void assert_peer(struct client *c, X509 *want)
{
    X509 *peer = SSL_get1_peer_certificate(c->ssl);

    assert_non_null(peer);
    assert_int_equal(X509_cmp(peer, want), 0);
    X509_free(peer);
}

/* GET /hello on the connection; returns the body (static buffer). */
static const char *client_get(struct client *c)
{
    static char buf[4096];
    const char *req = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    size_t used = 0;
    char *hdr_end, *cl;
    long want = -1;
    int n;

    assert_int_equal(SSL_write(c->ssl, req, (int)strlen(req)), (int)strlen(req));
    for (;;) {
        n = SSL_read(c->ssl, buf + used, (int)(sizeof(buf) - 1 - used));
        assert_true(n > 0);
        used += (size_t)n;
        buf[used] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
        if (hdr_end != NULL && want < 0) {
            cl = strstr(buf, "Content-Length:");
            assert_non_null(cl);
            want = strtol(cl + 15, NULL, 10);
        }
        if (hdr_end != NULL && (long)(used - (size_t)(hdr_end + 4 - buf)) >= want)
            break;
    }
    assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    return hdr_end + 4;
}

struct fixture {
    struct dc_http_router *r;
    struct dc_http_server *s;
    struct pem_pair a, b;
    struct stream_gate g;
};

static int setup_threads(void **state, unsigned threads)
{
    struct fixture *f = dc_xcalloc(1, sizeof(*f));
    struct dc_http_server_opts o = {0};
    struct dc_errbuf eb = {0};

    make_cert(&f->a, "first");
    make_cert(&f->b, "second");
    f->r = dc_http_router_new();
    assert_int_equal(dc_http_router_add(f->r, NULL, "/hello", h_hello, NULL), DC_OK);
    assert_int_equal(pipe(f->g.gate), 0);
    assert_int_equal(dc_http_router_add(f->r, NULL, "/stream", h_stream, &f->g), DC_OK);
    o.address = "127.0.0.1";
    o.threads = threads;
    o.tls_cert_pem = f->a.cert;
    o.tls_key_pem = f->a.key;
    if (dc_http_server_start(&f->s, &o, f->r, &eb) != DC_OK)
        fail_msg("start: %s", eb.msg);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_threads(state, 0);
}

static int setup_epoll(void **state)
{
    return setup_threads(state, 2);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    dc_http_server_free(f->s);
    dc_http_router_free(f->r);
    close(f->g.gate[0]);
    close(f->g.gate[1]);
    free_cert(&f->a);
    free_cert(&f->b);
    free(f);
    return 0;
}

static void test_https_request(void **state)
{
    struct fixture *f = *state;
    struct client c;

    assert_int_equal(client_open(&c, dc_http_server_port(f->s), f->a.x), 1);
    assert_peer(&c, f->a.x);
    assert_string_equal(client_get(&c), "hello GET 0");
    assert_string_equal(client_get(&c), "hello GET 0"); /* keep-alive */
    client_close(&c);
    /* A client that trusts another certificate refuses the handshake. */
    assert_int_equal(client_open(&c, dc_http_server_port(f->s), f->b.x), 0);
    client_close(&c);
}

static void test_swap(void **state)
{
    struct fixture *f = *state;
    struct dc_errbuf eb = {0};
    struct client old, fresh, third;
    uint16_t port = dc_http_server_port(f->s);

    assert_int_equal(client_open(&old, port, f->a.x), 1);
    assert_string_equal(client_get(&old), "hello GET 0");

    assert_int_equal(dc_http_server_set_tls(f->s, f->b.cert, f->b.key, &eb), DC_OK);
    assert_int_equal(dc_http_server_port(f->s), port);
    assert_int_equal(client_open(&fresh, port, f->b.x), 1);
    assert_peer(&fresh, f->b.x);
    assert_string_equal(client_get(&fresh), "hello GET 0");
    /* The connection made before the swap is still served, with the old certificate. */
    assert_peer(&old, f->a.x);
    assert_string_equal(client_get(&old), "hello GET 0");

    /* Refused material leaves the current certificate in place. */
    assert_int_equal(dc_http_server_set_tls(f->s, f->a.cert, f->b.key, &eb), DC_ETLS);
    assert_non_null(strstr(eb.msg, "does not match"));
    assert_int_equal(dc_http_server_set_tls(f->s, "junk", f->b.key, &eb), DC_ETLS);
    assert_int_equal(client_open(&third, port, f->b.x), 1);
    assert_string_equal(client_get(&third), "hello GET 0");
    client_close(&third);

    /* A second swap: connections of earlier certificates are still served. */
    assert_int_equal(dc_http_server_set_tls(f->s, f->a.cert, f->a.key, &eb), DC_OK);
    assert_int_equal(client_open(&third, port, f->a.x), 1);
    assert_string_equal(client_get(&third), "hello GET 0");
    assert_string_equal(client_get(&fresh), "hello GET 0"); /* accepted under the first change */
    client_close(&third);
    client_close(&fresh);
    client_close(&old);

    /* Quiesced: no more swaps. */
    dc_http_server_quiesce(f->s);
    assert_int_equal(dc_http_server_set_tls(f->s, f->b.cert, f->b.key, &eb), DC_EINVAL);
    assert_int_equal(dc_http_server_drain(f->s, 2000), DC_OK);
}

static void test_options(void **state)
{
    struct fixture *f = *state;
    struct dc_http_server_opts o = {0};
    struct dc_http_server *s = NULL;
    struct dc_errbuf eb = {0};

    o.address = "127.0.0.1";
    o.tls_cert_pem = f->a.cert;
    assert_int_equal(dc_http_server_start(&s, &o, f->r, &eb), DC_EINVAL);
    o.tls_key_pem = f->b.key;
    assert_int_equal(dc_http_server_start(&s, &o, f->r, &eb), DC_ETLS);
    assert_non_null(strstr(eb.msg, "does not match"));
    /* A PEM block with a broken body. */
    o.tls_cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_int_equal(dc_http_server_start(&s, &o, f->r, &eb), DC_ETLS);
    assert_non_null(strstr(eb.msg, "no PEM certificate"));
    assert_int_equal(dc_http_tls_check(f->a.cert, f->a.key, &eb), DC_OK);
    assert_int_equal(dc_http_tls_check(f->a.cert, NULL, &eb), DC_ETLS);

    /* A plain server has no certificate to swap. */
    o.tls_cert_pem = NULL;
    o.tls_key_pem = NULL;
    assert_int_equal(dc_http_server_start(&s, &o, f->r, &eb), DC_OK);
    assert_int_equal(dc_http_server_set_tls(s, f->a.cert, f->a.key, &eb), DC_EINVAL);
    dc_http_server_free(s);
}

/* What the client received so far; the gate opens once the first piece is in. */
struct sink {
    struct dc_buf got;
    int gate_fd;
    size_t at_gate; /* bytes received when the gate was opened */
};

static int sink_body(const void *data, size_t len, void *ud)
{
    struct sink *k = ud;

    assert_int_equal(dc_buf_append(&k->got, data, len), DC_OK);
    if (k->at_gate == 0 && k->got.len >= 4) {
        k->at_gate = k->got.len;
        assert_int_equal(write(k->gate_fd, "g", 1), 1);
    }
    return 0;
}

static void test_stream_tls(void **state)
{
    struct fixture *f = *state;
    struct dc_http_client *cl;
    struct dc_http_call call = {0};
    struct dc_http_result res = {0};
    struct sink k = {.gate_fd = f->g.gate[1]};
    struct dc_errbuf eb = {0};
    char url[64];

    dc_buf_init(&k.got, 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/stream", (unsigned)dc_http_server_port(f->s));
    assert_int_equal(dc_http_client_new(&cl, NULL, &eb), DC_OK);
    call.url = url;
    call.tls_ca_pem = f->a.cert;
    call.on_body = sink_body;
    call.ud = &k;
    if (dc_http_client_do(cl, &call, &res, &eb) != DC_OK)
        fail_msg("call: %s", eb.msg);
    assert_int_equal(res.status, 200);
    assert_string_equal(dc_http_result_header(&res, "Transfer-Encoding"), "chunked");
    assert_int_equal(res.content_length, -1);
    /* The first piece arrived alone, while the handler waited for the gate. */
    assert_int_equal(k.at_gate, 4);
    assert_int_equal(k.got.len, 4 + 40000 + 4);
    assert_memory_equal(k.got.data, "one\nbbbb", 8);
    assert_memory_equal(k.got.data + k.got.len - 5, "bend\n", 5);
    assert_int_equal(f->g.result, DC_OK);
    dc_http_result_cleanup(&res);
    dc_buf_cleanup(&k.got);
    dc_http_client_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_https_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_https_request, setup_epoll, teardown),
        cmocka_unit_test_setup_teardown(test_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap, setup_epoll, teardown),
        cmocka_unit_test_setup_teardown(test_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_tls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
