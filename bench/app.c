/* bench-app: the application behind the sidecars in the benchmarks. Answers every request with
 * 200 and echoes the request body (so 1 KB in, 1 KB out), on libdc's HTTP server.
 * Usage: bench-app PORT */
#include <stdio.h>
#include <stdlib.h>

#include "dc/http_server.h"
#include "dc/signals.h"
#include "dc/str.h"

static void echo(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)ud;
    resp->status = 200;
    if (dc_http_response_body(resp, req->body != NULL ? req->body : "", req->body_len,
                              "application/octet-stream") != DC_OK)
        resp->status = 500;
}

int main(int argc, char **argv)
{
    struct dc_http_server_opts o = {0};
    struct dc_http_router *r;
    struct dc_http_server *s = NULL;
    struct dc_errbuf eb = {0};
    int64_t port;
    int sig;

    if (argc != 2 || dc_str_to_i64(argv[1], 1, 65535, &port) != DC_OK) {
        fprintf(stderr, "usage: bench-app PORT\n");
        return 2;
    }
    if (dc_signals_setup() != DC_OK)
        return 1;
    r = dc_http_router_new();
    dc_http_router_set_fallback(r, echo, NULL);
    o.address = "127.0.0.1";
    o.port = (uint16_t)port;
    o.max_body = 1 << 20;
    o.max_header = 16384;
    o.threads = 2;
    if (dc_http_server_start(&s, &o, r, &eb) != DC_OK) {
        fprintf(stderr, "bench-app: %s\n", eb.msg);
        return 1;
    }
    while (dc_signals_wait(-1, &sig) != DC_OK)
        ;
    dc_http_server_free(s);
    dc_http_router_free(r);
    return 0;
}
