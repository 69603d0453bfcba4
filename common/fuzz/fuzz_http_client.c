/* libFuzzer target for the built-in HTTP/1.1 client's response reader (http_client.c): status
 * line, headers, interim 1xx responses, Content-Length, chunked bodies and trailers, bodies
 * read to the end of the stream, as an app or a peer sidecar might send them. The bytes come
 * through a socket (see dc__http_client_fuzz); every failure must say why, a buffered body
 * must stay within its limit, and a failed response never leaves the connection reusable. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int dc__http_client_fuzz(const uint8_t *data, size_t len); /* http_client.c, DC_FUZZING */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return dc__http_client_fuzz(data, size);
}
