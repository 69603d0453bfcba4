/* libFuzzer target: the server's request parsing, from bytes on a socket to the handler.
 *
 * The input is what a client sent on one connection: it is written into a socketpair whose
 * writing side is then shut down, and the connection is served in this thread exactly as an
 * accepted one (dc__http_conn_run): parsing, header-field and body limits, pipelining, chunked
 * bodies, Expect, error answers. The server's limits are small (max_header 1024, max_body 256)
 * so the fuzzer reaches them. The handler touches every header, the query pairs and the body,
 * so ASan sees any bad offset left by the buffer's compaction or growth; for some inputs it
 * streams the body back (dc_http_stream_*, length announced or not, HEAD and 1.0 included). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/http_server_int.h"
#include "dc/http_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dc_http_router *router;
static struct dc_http_server *server;

static void touch(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const struct dc_http_query_pair *p;
    const char *name, *value;
    size_t it = 0, sum = 0;

    (void)ud;
    while (dc_http_request_header_next(req, &it, &name, &value))
        sum += strlen(name) + strlen(value);
    it = 0;
    while (dc_http_request_query_next(req, &it, &p))
        sum += strlen(p->name) + p->value_len;
    if (req->body[req->body_len] != '\0')
        abort();
    sum += strlen(req->path) + strlen(req->query);
    if (sum % 3 == 0)
        dc_http_response_header(resp, "Connection", "close");
    if (sum % 5 == 1) {
        /* A streamed response: its length announced or not, the body in two writes. */
        size_t half = req->body_len / 2;
        int rv = dc_http_stream_begin(
            req, resp, sum % 2 == 0 ? (int64_t)req->body_len : DC_HTTP_LENGTH_UNKNOWN);

        if (rv == DC_OK)
            rv = dc_http_stream_write(resp, req->body, half);
        if (rv == DC_OK)
            rv = dc_http_stream_write(resp, req->body + half, req->body_len - half);
        if (rv != DC_OK && rv != DC_EIO) /* a full socket ends the connection */
            abort();
        return;
    }
    if (dc_http_response_body(resp, req->body, req->body_len, "text/plain") != DC_OK)
        abort();
}

static void bye(void)
{
    dc_http_server_free(server); /* removes the socket file */
    dc_http_router_free(router);
}

static void build(void)
{
    struct dc_http_server_opts o = {.max_header = 1024, .max_body = 256};
    char path[64];

    router = dc_http_router_new();
    if (dc_http_router_add(router, NULL, "/{rest*}", touch, NULL) != DC_OK)
        abort();
    dc_http_router_set_fallback(router, touch, NULL);
    snprintf(path, sizeof(path), "/tmp/dc-fuzz-http-%d.sock", (int)getpid());
    o.unix_path = path;
    if (dc_http_server_start(&server, &o, router, NULL) != DC_OK)
        abort();
    atexit(bye);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    size_t off = 0;

    if (router == NULL)
        build();
    if (size > 64 * 1024 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    while (off < size) {
        ssize_t k = send(sv[0], data + off, size - off, MSG_NOSIGNAL);

        if (k <= 0)
            break;
        off += (size_t)k;
    }
    (void)shutdown(sv[0], SHUT_WR);
    (void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
    dc__http_conn_run(server, sv[1]);
    close(sv[0]);
    return 0;
}
