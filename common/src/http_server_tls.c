/* The TLS side of the HTTP server, on OpenSSL (contracts in dc/http_server.h and
 * http_server_int.h): server contexts from PEM in memory, the client certificate as DER, and a
 * socket BIO that never raises SIGPIPE. Kept apart from http_server.c so that the plain-HTTP path
 * has no OpenSSL call at all (a process that serves no TLS never initialises libssl). */
#include "http_server_int.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dc/str.h"

int dc_http_tls_check(const char *cert_pem, const char *key_pem, struct dc_errbuf *eb)
{
    BIO *b = NULL;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    int rv = DC_ETLS;

    if (dc_str_empty(cert_pem) || dc_str_empty(key_pem))
        return dc_err_set(eb, DC_ETLS, "tls: certificate and key are both required");
    b = BIO_new_mem_buf(cert_pem, -1);
    if (b == NULL || (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
        dc_err_set(eb, DC_ETLS, "tls: no PEM certificate in the certificate data");
        goto cleanup;
    }
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, -1);
    if (b == NULL || (k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
        dc_err_set(eb, DC_ETLS, "tls: no unencrypted PEM private key in the key data");
        goto cleanup;
    }
    if (X509_check_private_key(x, k) != 1) {
        dc_err_set(eb, DC_ETLS, "tls: the private key does not match the certificate");
        goto cleanup;
    }
    rv = DC_OK;
cleanup:
    ERR_clear_error();
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(b);
    return rv;
}

/* The server does not judge client certificates: handlers do, against anchors that may change
 * at run time (daprd's SPIFFE check). Accepting here keeps the handshake going whatever the
 * client sent, or when it sent nothing. */
static int accept_any(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

/* Chain after the leaf, then the key; the pair was checked by dc_http_tls_check already. */
static bool load_pair(SSL_CTX *ctx, const char *cert_pem, const char *key_pem)
{
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    X509 *x = b != NULL ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = NULL;
    bool ok = false;

    if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1)
        goto cleanup;
    X509_free(x);
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
            goto cleanup;
        x = NULL; /* owned by ctx */
    }
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, -1);
    k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    ok = k != NULL && SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
cleanup:
    ERR_clear_error(); /* the end of the PEM text */
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(b);
    return ok;
}

/* The CAs' subject names go into the CertificateRequest (hints for the client's choice). */
static int add_client_cas(SSL_CTX *ctx, const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x;
    int n = 0;

    while (b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add_client_CA(ctx, x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(b);
    return n;
}

SSL_CTX *dc__http_tls_ctx_new(const char *cert_pem, const char *key_pem, const char *client_ca_pem,
                              struct dc_errbuf *eb)
{
    static const unsigned char sid[] = "dc-http";
    SSL_CTX *ctx;

    if (dc_http_tls_check(cert_pem, key_pem, eb) != DC_OK)
        return NULL;
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        !load_pair(ctx, cert_pem, key_pem)) {
        dc_err_set(eb, DC_ETLS, "tls: the certificate chain or key is not usable");
        goto fail;
    }
    /* One recv per record (and the next records when they are already there), not two. */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* Sessions are cached per context; resumption needs an id context once certificates are
     * requested, or OpenSSL refuses to resume. */
    if (SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1) != 1)
        goto fail;
    if (!dc_str_empty(client_ca_pem)) {
        if (add_client_cas(ctx, client_ca_pem) == 0) {
            dc_err_set(eb, DC_ETLS, "tls: no PEM certificate in the client CA data");
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
    }
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

int dc__http_tls_peer_der(SSL *ssl, size_t i, struct dc_arena *arena, const uint8_t **der,
                          size_t *len)
{
    /* On the server side the peer chain does not include the leaf (SSL_get_peer_cert_chain). */
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    X509 *x = NULL;
    unsigned char *p, *out;
    int n;

    if (i == 0)
        x = SSL_get0_peer_certificate(ssl);
    else if (chain != NULL && i - 1 < (size_t)sk_X509_num(chain))
        x = sk_X509_value(chain, (int)(i - 1));
    if (x == NULL || (n = i2d_X509(x, NULL)) <= 0)
        return DC_ENOTFOUND;
    out = p = dc_arena_alloc(arena, (size_t)n);
    if (i2d_X509(x, &p) != n)
        return DC_ENOTFOUND;
    *der = out;
    *len = (size_t)n;
    return DC_OK;
}
