/* libFuzzer target: protobuf-c decoding of dapr.proto.sentry.v1.SignCertificateRequest (what
 * sentry decodes from any caller) and SignCertificateResponse (what daprd decodes); whatever
 * decodes must re-encode, and a re-encoding that decodes must encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dapr/proto/sentry/v1/sentry.pb-c.h"
#include "dc/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    ProtobufCMessage *m, *m2;
    uint8_t *a, *b;
    size_t na, nb;

    if (dc_grpc_pb_decode(desc, data, size, &m) != DC_OK)
        return;
    na = protobuf_c_message_get_packed_size(m);
    a = malloc(na + 1);
    if (protobuf_c_message_pack(m, a) != na)
        abort();
    /* protobuf-c keeps unknown fields as read, even malformed ones such as an overlong tag for
     * field 0 (at any depth), and writes them back in a form it then refuses; what does decode
     * again must be stable. */
    if (dc_grpc_pb_decode(desc, a, na, &m2) != DC_OK) {
        free(a);
        protobuf_c_message_free_unpacked(m, NULL);
        return;
    }
    nb = protobuf_c_message_get_packed_size(m2);
    b = malloc(nb + 1);
    if (protobuf_c_message_pack(m2, b) != nb || na != nb || memcmp(a, b, na) != 0)
        abort();
    free(a);
    free(b);
    protobuf_c_message_free_unpacked(m, NULL);
    protobuf_c_message_free_unpacked(m2, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024 * 1024)
        return 0;
    roundtrip(&dapr__proto__sentry__v1__sign_certificate_request__descriptor, data, size);
    roundtrip(&dapr__proto__sentry__v1__sign_certificate_response__descriptor, data, size);
    return 0;
}
