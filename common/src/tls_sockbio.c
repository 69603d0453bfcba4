/* The socket BIO shared by the HTTP server's and client's TLS (contract in tls_sockbio.h). */
#include "tls_sockbio.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static int sb_write(BIO *b, const char *data, int len)
{
    struct dc__sockbio *sb = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = send(sb->fd, data, (size_t)len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        sb->io_errno = errno;
        return -1;
    }
    return (int)n;
}

static int sb_read(BIO *b, char *data, int len)
{
    struct dc__sockbio *sb = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = recv(sb->fd, data, (size_t)len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        sb->io_errno = errno;
        return -1;
    }
    if (n == 0)
        sb->io_eof = true;
    return (int)n;
}

static long sb_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static void method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "dc-sock");

    if (m != NULL && (BIO_meth_set_write(m, sb_write) != 1 || BIO_meth_set_read(m, sb_read) != 1 ||
                      BIO_meth_set_ctrl(m, sb_ctrl) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    method = m;
}

BIO *dc__sockbio_new(struct dc__sockbio *sb)
{
    BIO *b;

    pthread_once(&method_once, method_init);
    if (method == NULL || (b = BIO_new(method)) == NULL)
        return NULL;
    BIO_set_data(b, sb);
    BIO_set_init(b, 1);
    return b;
}
