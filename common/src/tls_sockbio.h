#ifndef DC_TLS_SOCKBIO_H
#define DC_TLS_SOCKBIO_H

/* The OpenSSL BIO under the built-in HTTP server's and client's TLS sessions (internal, not
 * installed): a blocking socket read with recv and written with send(MSG_NOSIGNAL), since
 * OpenSSL's own socket BIO writes with write() and a closed peer would raise SIGPIPE. It
 * remembers the errno of its last failed call and whether it saw the end of the stream, which
 * OpenSSL's error queue does not keep reliably (the client turns them into timeouts and
 * resets). */

#include <stdbool.h>

#include <openssl/bio.h>

struct dc__sockbio {
    int fd;
    int io_errno; /* errno of the last failed recv/send; 0 when none (reset by the owner) */
    bool io_eof;  /* a recv returned 0 */
};

/* A BIO over `sb` (borrowed: it must outlive the BIO; set sb->fd first). NULL when OpenSSL
 * cannot allocate it. Thread-safe. */
BIO *dc__sockbio_new(struct dc__sockbio *sb);

#endif /* DC_TLS_SOCKBIO_H */
