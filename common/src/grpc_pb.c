/* protobuf-c on top of the gRPC layer: method paths from protoc-c service descriptors, typed unary
 * handlers on the server, typed blocking unary calls on the client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"
#include "grpc_int.h"

static const ProtobufCMethodDescriptor *find(const ProtobufCServiceDescriptor *svc,
                                             const char *name)
{
    for (unsigned i = 0; svc != NULL && i < svc->n_methods; i++) {
        if (strcmp(svc->methods[i].name, name) == 0)
            return &svc->methods[i];
    }
    return NULL;
}

int dc_grpc_pb_method_path(const ProtobufCServiceDescriptor *svc, const char *name, char *out,
                           size_t outlen)
{
    int n;

    if (find(svc, name) == NULL)
        return DC_ENOTFOUND;
    n = snprintf(out, outlen, "/%s/%s", svc->name, name);
    if (n < 0 || (size_t)n >= outlen)
        return DC_ETOOBIG;
    return DC_OK;
}

int dc_grpc_pb_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      ProtobufCMessage **out)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);

    if (m == NULL)
        return DC_EPARSE;
    *out = m;
    return DC_OK;
}

static uint8_t *pack(const ProtobufCMessage *msg, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = dc_xmalloc(n ? n : 1);

    *len = protobuf_c_message_pack(msg, buf);
    return buf;
}

int dc_grpc_call_send_pb(struct dc_grpc_call *call, const ProtobufCMessage *msg)
{
    size_t len;
    uint8_t *buf = pack(msg, &len);
    int rv = dc_grpc_call_send(call, buf, len);

    free(buf);
    return rv;
}

int dc_grpc_call_reply_pb(struct dc_grpc_call *call, const ProtobufCMessage *resp)
{
    size_t len;
    uint8_t *buf = pack(resp, &len);
    int rv = dc_grpc_call_reply(call, buf, len);

    free(buf);
    return rv;
}

struct pb_unary {
    dc_grpc_pb_unary_fn *fn;
    void *ud;
    const ProtobufCMessageDescriptor *in;
};

static void pb_unary_trampoline(struct dc_grpc_call *call, const uint8_t *req, size_t len, void *ud)
{
    struct pb_unary *u = ud;
    ProtobufCMessage *m;

    if (dc_grpc_pb_decode(u->in, req, len, &m) != DC_OK) {
        (void)dc_grpc_call_finish(call, DC_GRPC_INTERNAL, "grpc: error unmarshalling request");
        return;
    }
    u->fn(call, m, u->ud);
    protobuf_c_message_free_unpacked(m, NULL);
}

int dc__grpc_server_add_unary_owned(struct dc_grpc_server *srv, const char *method,
                                    dc_grpc_unary_fn *fn, void *ud, void *ud_owned, unsigned flags,
                                    struct dc_errbuf *eb);

int dc_grpc_server_add_pb_unary(struct dc_grpc_server *srv, const ProtobufCServiceDescriptor *svc,
                                const char *name, dc_grpc_pb_unary_fn *fn, void *ud, unsigned flags,
                                struct dc_errbuf *eb)
{
    const ProtobufCMethodDescriptor *md = find(svc, name);
    char path[DC_GRPC_MAX_PATH + 1];
    struct pb_unary *u;
    int rv;

    if (md == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "service %s has no method %s", svc ? svc->name : "?",
                          name);
    rv = dc_grpc_pb_method_path(svc, name, path, sizeof(path));
    if (rv != DC_OK)
        return dc_err_set(eb, rv, "method path too long");
    u = dc_xcalloc(1, sizeof(*u));
    u->fn = fn;
    u->ud = ud;
    u->in = md->input;
    rv = dc__grpc_server_add_unary_owned(srv, path, pb_unary_trampoline, u, u, flags, eb);
    if (rv != DC_OK)
        free(u);
    return rv;
}

int dc_grpc_client_unary_pb(struct dc_grpc_client *c, const ProtobufCServiceDescriptor *svc,
                            const char *name, const struct dc_grpc_call_opts *opts,
                            const ProtobufCMessage *req, ProtobufCMessage **resp,
                            struct dc_grpc_status *st)
{
    const ProtobufCMethodDescriptor *md = find(svc, name);
    char path[DC_GRPC_MAX_PATH + 1];
    struct dc_buf out;
    uint8_t *buf;
    size_t len;
    int rv;

    if (md == NULL || dc_grpc_pb_method_path(svc, name, path, sizeof(path)) != DC_OK)
        return DC_ENOTFOUND;
    buf = pack(req, &len);
    dc_buf_init(&out, 0);
    rv = dc_grpc_client_unary(c, path, opts, buf, len, &out, st);
    free(buf);
    if (rv == DC_OK &&
        dc_grpc_pb_decode(md->output, (const uint8_t *)out.data, out.len, resp) != DC_OK) {
        rv = DC_EPARSE;
        if (st != NULL) {
            st->code = DC_GRPC_INTERNAL;
            free(st->message);
            st->message = dc_xstrdup("grpc: failed to unmarshal the response");
        }
    }
    dc_buf_cleanup(&out);
    return rv;
}
