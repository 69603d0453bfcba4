/* Mutual TLS between dc_http_client and dc_http_server: the server asks for a client
 * certificate (tls_client_ca_pem) and hands it to handlers (dc_http_request_peer_cert); the
 * client presents one (tls_cert_pem/tls_key_pem), trusts only tls_ca_pem and may refuse a
 * connection from tls_ctx_fn; a keep-alive connection is not reused under another client
 * certificate; after dc_http_server_set_tls, responses on older connections close them.
 * These calls take the built-in client's OpenSSL path (https:// with tls_ca_pem): pooled reuse
 * with bodies of every size, new anchors never reuse an old connection, a pooled connection the
 * server closed is retried once, the peer's identity is checked in a verify callback.
 * Certificates are made here with OpenSSL: a CA, and EC P-256 leaves signed by it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dc/http_client.h"
#include "dc/http_server.h"
#include "dc/mem.h"
#include "dc/str.h"

struct cred {
    char *cert; /* PEM chain: the leaf (or the CA itself) */
    char *key;
    X509 *x;
    EVP_PKEY *k;
};

static char *bio_text(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = dc_xcalloc(1, (size_t)n + 1);

    memcpy(out, data, (size_t)n);
    return out;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

/* A certificate with CN `cn`: self-signed CA when `ca` is NULL, else a leaf signed by it. */
static void make_cred(struct cred *c, const struct cred *ca, const char *cn)
{
    X509_NAME *name;
    BIO *b;

    c->k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    c->x = X509_new();
    assert_non_null(c->k);
    X509_set_version(c->x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c->x), (long)(random() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(c->x), -60);
    X509_gmtime_adj(X509_getm_notAfter(c->x), 3600);
    X509_set_pubkey(c->x, c->k);
    name = X509_get_subject_name(c->x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c->x, ca != NULL ? X509_get_subject_name(ca->x) : name);
    if (ca == NULL) {
        add_ext(c->x, c->x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c->x, c->x, NID_key_usage, "critical,keyCertSign,digitalSignature");
    } else {
        add_ext(c->x, ca->x, NID_subject_alt_name, "URI:spiffe://public/ns/default/test");
        add_ext(c->x, ca->x, NID_ext_key_usage, "serverAuth,clientAuth");
    }
    assert_true(X509_sign(c->x, ca != NULL ? ca->k : c->k, EVP_sha256()) > 0);
    b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, c->x), 1);
    c->cert = bio_text(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, c->k, NULL, NULL, 0, NULL, NULL), 1);
    c->key = bio_text(b);
    BIO_free(b);
}

static void free_cred(struct cred *c)
{
    free(c->cert);
    free(c->key);
    X509_free(c->x);
    EVP_PKEY_free(c->k);
}

/* Answers with the CN of the client certificate, or "none". */
static void h_whoami(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const uint8_t *der = NULL;
    size_t len = 0;
    char cn[128] = "none";

    (void)ud;
    if (dc_http_request_peer_cert(req, 0, &der, &len) == DC_OK) {
        const unsigned char *p = der;
        X509 *x = d2i_X509(NULL, &p, (long)len);

        assert_non_null(x);
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
        X509_free(x);
    }
    assert_int_equal(dc_buf_appendf(&resp->body, "%s", cn), DC_OK);
}

/* Answers with the CNs of the whole chain the client sent, leaf first, comma-separated. */
static void h_chain(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const uint8_t *der = NULL;
    size_t len = 0, i;

    (void)ud;
    for (i = 0; dc_http_request_peer_cert(req, i, &der, &len) == DC_OK; i++) {
        const unsigned char *p = der;
        X509 *x = d2i_X509(NULL, &p, (long)len);
        char cn[128] = "";

        assert_non_null(x);
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
        X509_free(x);
        assert_int_equal(dc_buf_appendf(&resp->body, "%s%s", i > 0 ? "," : "", cn), DC_OK);
    }
    assert_true(i < 8);
}

/* Echoes the request body. */
static void h_echo(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)ud;
    assert_int_equal(dc_http_response_body(resp, req->body, req->body_len, NULL), DC_OK);
}

struct fixture {
    struct cred ca, other_ca, server, server2, client, client2, stranger;
    struct dc_http_router *r;
    struct dc_http_server *s;
    struct dc_http_client *c;
    char url[64];
};

static int setup(void **state)
{
    struct fixture *f = dc_xcalloc(1, sizeof(*f));
    struct dc_http_server_opts o = {0};
    struct dc_errbuf eb = {0};

    make_cred(&f->ca, NULL, "ca");
    make_cred(&f->other_ca, NULL, "other-ca");
    make_cred(&f->server, &f->ca, "server");
    make_cred(&f->server2, &f->ca, "server2");
    make_cred(&f->client, &f->ca, "client");
    make_cred(&f->client2, &f->ca, "client2");
    make_cred(&f->stranger, &f->other_ca, "stranger");
    f->r = dc_http_router_new();
    assert_int_equal(dc_http_router_add(f->r, "GET", "/whoami", h_whoami, NULL), DC_OK);
    assert_int_equal(dc_http_router_add(f->r, "POST", "/echo", h_echo, NULL), DC_OK);
    assert_int_equal(dc_http_router_add(f->r, "GET", "/chain", h_chain, NULL), DC_OK);
    o.address = "127.0.0.1";
    o.tls_cert_pem = f->server.cert;
    o.tls_key_pem = f->server.key;
    o.tls_client_ca_pem = f->ca.cert;
    assert_int_equal(dc_http_server_start(&f->s, &o, f->r, &eb), DC_OK);
    assert_int_equal(dc_http_client_new(&f->c, NULL, &eb), DC_OK);
    snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%u/whoami",
             (unsigned)dc_http_server_port(f->s));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    dc_http_client_free(f->c);
    dc_http_server_free(f->s);
    dc_http_router_free(f->r);
    free_cred(&f->ca);
    free_cred(&f->other_ca);
    free_cred(&f->server);
    free_cred(&f->server2);
    free_cred(&f->client);
    free_cred(&f->client2);
    free_cred(&f->stranger);
    free(f);
    return 0;
}

/* GET /whoami presenting `cred` (NULL: none) and trusting `ca`; the body into `out`. */
static int get(struct fixture *f, const struct cred *cred, const struct cred *ca, char *out,
               size_t cap, struct dc_http_result *res)
{
    struct dc_http_call call = {0};
    struct dc_errbuf eb = {0};
    int rv;

    call.url = f->url;
    call.tls_cert_pem = cred != NULL ? cred->cert : NULL;
    call.tls_key_pem = cred != NULL ? cred->key : NULL;
    call.tls_ca_pem = ca->cert;
    rv = dc_http_client_do(f->c, &call, res, &eb);
    if (rv == DC_OK)
        snprintf(out, cap, "%.*s", (int)res->body.len, res->body.data);
    return rv;
}

static void test_client_cert_reaches_handler(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    char body[128];

    assert_int_equal(get(f, &f->client, &f->ca, body, sizeof(body), &res), DC_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(body, "client");
    dc_http_result_cleanup(&res);
    /* The same certificate reuses the connection... */
    assert_int_equal(get(f, &f->client, &f->ca, body, sizeof(body), &res), DC_OK);
    assert_int_equal(res.num_connects, 0);
    dc_http_result_cleanup(&res);
    /* ...another one does not (a rotated certificate takes effect at once). */
    assert_int_equal(get(f, &f->client2, &f->ca, body, sizeof(body), &res), DC_OK);
    assert_string_equal(body, "client2");
    assert_int_equal(res.num_connects, 1);
    dc_http_result_cleanup(&res);
    /* No certificate: the server does not refuse; the handler sees none. */
    assert_int_equal(get(f, NULL, &f->ca, body, sizeof(body), &res), DC_OK);
    assert_string_equal(body, "none");
    dc_http_result_cleanup(&res);
    /* A certificate of another CA is handed over as well: verifying it is the handler's. */
    assert_int_equal(get(f, &f->stranger, &f->ca, body, sizeof(body), &res), DC_OK);
    assert_string_equal(body, "stranger");
    dc_http_result_cleanup(&res);
}

/* The chain after the leaf (what sidecar/mtls.c verifies against its anchors) reaches the
 * handler in the order the client sent it; past its end: DC_ENOTFOUND. */
static void test_client_chain_reaches_handler(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    struct dc_http_call call = {0};
    char url[80], *chain;
    size_t n1 = strlen(f->client.cert), n2 = strlen(f->ca.cert);

    chain = dc_xmalloc(n1 + n2 + 1);
    memcpy(chain, f->client.cert, n1);
    memcpy(chain + n1, f->ca.cert, n2 + 1);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/chain", (unsigned)dc_http_server_port(f->s));
    call.url = url;
    call.tls_cert_pem = chain;
    call.tls_key_pem = f->client.key;
    call.tls_ca_pem = f->ca.cert;
    assert_int_equal(dc_http_client_do(f->c, &call, &res, NULL), DC_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(dc_buf_cstr(&res.body), "client,ca");
    dc_http_result_cleanup(&res);
    free(chain);
}

static void test_client_verifies_server(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    char body[128];

    /* The server's chain does not lead to other_ca. */
    assert_int_equal(get(f, &f->client, &f->other_ca, body, sizeof(body), &res), DC_ETLS);
    dc_http_result_cleanup(&res);
}

static int refuse(void *ssl_ctx, void *ud)
{
    int *calls = ud;

    assert_non_null(ssl_ctx);
    (*calls)++;
    return DC_EPERM;
}

static int accept_ctx(void *ssl_ctx, void *ud)
{
    int *calls = ud;

    assert_non_null(SSL_CTX_get_cert_store(ssl_ctx));
    (*calls)++;
    return 0;
}

static void test_ctx_hook(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    struct dc_http_call call = {0};
    struct dc_errbuf eb = {0};
    int calls = 0;

    call.url = f->url;
    call.tls_cert_pem = f->client.cert;
    call.tls_key_pem = f->client.key;
    call.tls_ca_pem = f->ca.cert;
    call.tls_ctx_fn = refuse;
    call.tls_ud = &calls;
    assert_int_equal(dc_http_client_do(f->c, &call, &res, &eb), DC_ETLS);
    assert_int_equal(calls, 1);
    dc_http_result_cleanup(&res);
    call.tls_ctx_fn = accept_ctx;
    assert_int_equal(dc_http_client_do(f->c, &call, &res, &eb), DC_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(calls, 2);
    dc_http_result_cleanup(&res);
    /* Without tls_ca_pem the call would go to libcurl, whose SSL_CTX is not ours: refused
     * before anything is sent. */
    call.tls_ca_pem = NULL;
    assert_int_equal(dc_http_client_do(f->c, &call, &res, &eb), DC_EINVAL);
    assert_non_null(strstr(eb.msg, "tls_ctx_fn"));
    assert_int_equal(calls, 2);
    dc_http_result_cleanup(&res);
}

static void test_set_tls_keeps_client_ca_and_retires(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    struct dc_errbuf eb = {0};
    char body[128];

    /* A keep-alive connection under the first certificate. */
    assert_int_equal(get(f, &f->client, &f->ca, body, sizeof(body), &res), DC_OK);
    assert_null(dc_http_result_header(&res, "Connection"));
    dc_http_result_cleanup(&res);
    assert_int_equal(dc_http_server_set_tls(f->s, f->server2.cert, f->server2.key, &eb), DC_OK);
    /* Its next response closes it... */
    assert_int_equal(get(f, &f->client, &f->ca, body, sizeof(body), &res), DC_OK);
    assert_int_equal(res.num_connects, 0);
    assert_string_equal(dc_http_result_header(&res, "Connection"), "close");
    dc_http_result_cleanup(&res);
    /* ...and the next connection gets the new certificate, and is still asked for its own. */
    assert_int_equal(get(f, &f->client, &f->ca, body, sizeof(body), &res), DC_OK);
    assert_int_equal(res.num_connects, 1);
    assert_string_equal(body, "client");
    assert_null(dc_http_result_header(&res, "Connection"));
    dc_http_result_cleanup(&res);
}

/* POST `len` bytes to /echo over a connection presenting f->client and trusting `ca_pem`. */
static int post_echo(struct fixture *f, const char *ca_pem, size_t len, struct dc_http_result *res)
{
    struct dc_http_call call = {0};
    struct dc_errbuf eb = {0};
    char url[80];
    char *body = dc_xmalloc(len + 1);
    int rv;

    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + i % 26);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo", (unsigned)dc_http_server_port(f->s));
    call.method = "POST";
    call.url = url;
    call.body = body;
    call.body_len = len;
    call.tls_cert_pem = f->client.cert;
    call.tls_key_pem = f->client.key;
    call.tls_ca_pem = ca_pem;
    rv = dc_http_client_do(f->c, &call, res, &eb);
    if (rv == DC_OK) {
        assert_int_equal(res->status, 200);
        assert_int_equal(res->body.len, len);
        assert_memory_equal(res->body.data, body, len);
    }
    free(body);
    return rv;
}

static void test_pooled_reuse_bodies(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    /* Empty, one record with the head, several records (head and body sent apart). */
    const size_t sizes[] = {0, 1024, 15000, 70000, 1024};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(post_echo(f, f->ca.cert, sizes[i], &res), DC_OK);
        assert_int_equal(res.num_connects, i == 0 ? 1 : 0);
        dc_http_result_cleanup(&res);
    }
}

static void test_new_anchors_new_connection(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    char both[8192];

    snprintf(both, sizeof(both), "%s%s", f->other_ca.cert, f->ca.cert);
    assert_int_equal(post_echo(f, f->ca.cert, 10, &res), DC_OK);
    assert_int_equal(res.num_connects, 1);
    dc_http_result_cleanup(&res);
    /* A root rotation's overlap bundle: same certificate, other CA bytes, new connection. */
    assert_int_equal(post_echo(f, both, 10, &res), DC_OK);
    assert_int_equal(res.num_connects, 1);
    dc_http_result_cleanup(&res);
    assert_int_equal(post_echo(f, both, 10, &res), DC_OK);
    assert_int_equal(res.num_connects, 0);
    dc_http_result_cleanup(&res);
    /* Only the other root: the server's chain no longer verifies, nothing pooled is reused. */
    assert_int_equal(post_echo(f, f->other_ca.cert, 10, &res), DC_ETLS);
    dc_http_result_cleanup(&res);
    /* No CA at all in the bundle: refused before connecting anything usable. */
    assert_int_equal(post_echo(f, "not a certificate", 10, &res), DC_ETLS);
    dc_http_result_cleanup(&res);
}

static void test_dead_pooled_connection_retried(void **state)
{
    struct fixture *f = *state;
    struct dc_http_server_opts o = {0};
    struct dc_http_result res = {0};
    struct dc_errbuf eb = {0};
    uint16_t port = dc_http_server_port(f->s);

    assert_int_equal(post_echo(f, f->ca.cert, 100, &res), DC_OK);
    assert_int_equal(res.num_connects, 1);
    dc_http_result_cleanup(&res);
    /* The server goes away (closing the pooled connection) and comes back on the same port. */
    dc_http_server_free(f->s);
    o.address = "127.0.0.1";
    o.port = port;
    o.tls_cert_pem = f->server.cert;
    o.tls_key_pem = f->server.key;
    o.tls_client_ca_pem = f->ca.cert;
    assert_int_equal(dc_http_server_start(&f->s, &o, f->r, &eb), DC_OK);
    assert_int_equal(post_echo(f, f->ca.cert, 100, &res), DC_OK);
    assert_int_equal(res.num_connects, 1);
    dc_http_result_cleanup(&res);
}

/* A verify callback requiring the server's SPIFFE id to be the one on the context, as
 * sidecar/mtls.c does. */
static int want_idx = -1;

static int verify_spiffe(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    const char *want = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), want_idx);
    GENERAL_NAMES *names;
    bool match = false;

    if (!ok || X509_STORE_CTX_get_error_depth(xs) != 0)
        return ok;
    names = X509_get_ext_d2i(X509_STORE_CTX_get_current_cert(xs), NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

        if (g->type == GEN_URI &&
            strcmp((const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), want) == 0)
            match = true;
    }
    GENERAL_NAMES_free(names);
    if (!match)
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
    return match;
}

static int want_ctx(void *ssl_ctx, void *ud)
{
    if (want_idx < 0)
        want_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    SSL_CTX_set_ex_data(ssl_ctx, want_idx, ud);
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, verify_spiffe);
    return 0;
}

static void test_peer_id_checked(void **state)
{
    struct fixture *f = *state;
    struct dc_http_result res = {0};
    struct dc_http_call call = {0};
    struct dc_errbuf eb = {0};

    call.url = f->url;
    call.tls_cert_pem = f->client.cert;
    call.tls_key_pem = f->client.key;
    call.tls_ca_pem = f->ca.cert;
    call.tls_ctx_fn = want_ctx;
    call.tls_ud = (void *)"spiffe://public/ns/default/other";
    assert_int_equal(dc_http_client_do(f->c, &call, &res, &eb), DC_ETLS);
    assert_non_null(strstr(eb.msg, "application verification failure"));
    dc_http_result_cleanup(&res);
    call.tls_ud = (void *)"spiffe://public/ns/default/test";
    assert_int_equal(dc_http_client_do(f->c, &call, &res, &eb), DC_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.num_connects, 1);
    dc_http_result_cleanup(&res);
    assert_int_equal(dc_http_client_do(f->c, &call, &res, &eb), DC_OK);
    assert_int_equal(res.num_connects, 0);
    dc_http_result_cleanup(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_cert_reaches_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_chain_reaches_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_verifies_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_tls_keeps_client_ca_and_retires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pooled_reuse_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_anchors_new_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_pooled_connection_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_id_checked, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
