#ifndef DC_HTTP_SERVER_INT_H
#define DC_HTTP_SERVER_INT_H

/* Internals shared by http_server.c (sockets, parsing, connections) and http_server_tls.c
 * (OpenSSL), not installed. Only http_server_tls.c builds contexts and reads certificates, so
 * a plain-HTTP process never initialises libssl or touches libcrypto's tables. */

#include <openssl/ssl.h>

#include "dc/http_server.h"

/* A server context for `cert_pem` (chain, leaf first) and `key_pem`: TLS 1.2 minimum, read-ahead,
 * and with `client_ca_pem` (may be NULL) a client certificate requested with those CAs' names as
 * hints and accepted whatever it is (dc/http_server.h says why). Returns the context (owned by
 * the caller, SSL_CTX_free) or NULL with DC_ETLS's reason in `eb`. */
SSL_CTX *dc__http_tls_ctx_new(const char *cert_pem, const char *key_pem, const char *client_ca_pem,
                              struct dc_errbuf *eb);

/* Certificate `i` of the chain the client presented on `ssl` (0 = its own), DER-encoded into
 * `arena`. Returns DC_OK or DC_ENOTFOUND. */
int dc__http_tls_peer_der(SSL *ssl, size_t i, struct dc_arena *arena, const uint8_t **der,
                          size_t *len);

/* Serve a connection on `fd` in the calling thread until it closes, exactly as an accepted one
 * (the fuzzer's entry: a socketpair holding the input, non-blocking so that a full socket ends
 * the connection instead of waiting). `fd` is closed. */
void dc__http_conn_run(struct dc_http_server *s, int fd);

/* For tests: the connections registered now and the finished connection threads not joined
 * yet. Thread-safe. */
void dc__http_server_threads(struct dc_http_server *s, unsigned *conns, size_t *unjoined);

#endif /* DC_HTTP_SERVER_INT_H */
