/* gRPC header blocks: building outgoing ones (nghttp2_nv arrays) and reading incoming request,
 * response and trailer fields into calls. Spec: grpc/doc/PROTOCOL-HTTP2.md. */
#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"
#include "dc/str.h"
#include "grpc_int.h"

void dc__grpc_hdrs_add(struct dc__grpc_hdrs *h, const char *name, const char *value, size_t len)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->nv = dc_xrealloc(h->nv, h->cap * sizeof(*h->nv));
    }
    h->nv[h->n++] = (nghttp2_nv){(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value,
                                 strlen(name), len, NGHTTP2_NV_FLAG_NONE};
}

static const char *own(struct dc__grpc_hdrs *h, char *s)
{
    if (h->nown == h->owncap) {
        h->owncap = h->owncap ? h->owncap * 2 : 8;
        h->own = dc_xrealloc(h->own, h->owncap * sizeof(*h->own));
    }
    h->own[h->nown++] = s;
    return s;
}

void dc__grpc_hdrs_add_md(struct dc__grpc_hdrs *h, const struct dc_grpc_metadata *md)
{
    for (size_t i = 0; md != NULL && i < md->n; i++) {
        const struct dc_grpc_md_entry *e = &md->v[i];
        if (dc_str_has_suffix(e->key, "-bin")) {
            size_t n;
            /* PROTOCOL-HTTP2.md: binary values are base64; we send them padded. */
            const char *b = own(h, dc_grpc_b64_encode(e->value, e->value_len, &n));
            dc__grpc_hdrs_add(h, e->key, b, n);
        } else {
            dc__grpc_hdrs_add(h, e->key, e->value, e->value_len);
        }
    }
}

void dc__grpc_hdrs_free(struct dc__grpc_hdrs *h)
{
    for (size_t i = 0; i < h->nown; i++)
        free(h->own[i]);
    free(h->own);
    free(h->nv);
    memset(h, 0, sizeof(*h));
}

static bool eq(const uint8_t *a, size_t alen, const char *b)
{
    return alen == strlen(b) && memcmp(a, b, alen) == 0;
}

/* Custom metadata from the wire: reserved names skipped, -bin values base64-decoded, entries that
 * do not decode or validate dropped (a peer's bad metadata is not worth failing the call). */
static void add_wire_md(struct dc_grpc_metadata *md, const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen)
{
    char key[256];
    uint8_t *bin;
    size_t binlen;

    if (namelen == 0 || namelen >= sizeof(key) || name[0] == ':')
        return;
    memcpy(key, name, namelen);
    key[namelen] = '\0';
    if (dc_str_has_suffix(key, "-bin")) {
        bin = dc_grpc_b64_decode((const char *)value, valuelen, &binlen);
        if (bin == NULL)
            return;
        if (dc_grpc_md_add(md, key, bin, binlen, NULL) != DC_OK) {
            /* dropped */
        }
        free(bin);
        return;
    }
    if (dc_grpc_md_add(md, key, value, valuelen, NULL) != DC_OK) {
        /* dropped */
    }
}

static int server_header(struct dc_grpc_call *call, const uint8_t *name, size_t namelen,
                         const uint8_t *value, size_t valuelen)
{
    char tmp[32];

    if (eq(name, namelen, ":path")) {
        if (valuelen == 0 || valuelen > DC_GRPC_MAX_PATH)
            call->bad_request = true;
        else
            call->method = dc_xstrndup((const char *)value, valuelen);
    } else if (eq(name, namelen, ":method")) {
        if (!eq(value, valuelen, "POST"))
            call->bad_request = true;
    } else if (eq(name, namelen, ":authority")) {
        free(call->authority);
        call->authority = dc_xstrndup((const char *)value, valuelen);
    } else if (eq(name, namelen, "content-type")) {
        /* "application/grpc" optionally followed by "+proto" or ";..." */
        call->ct_ok = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                      (valuelen == 16 || value[16] == '+' || value[16] == ';');
    } else if (eq(name, namelen, "grpc-timeout")) {
        int64_t ms;
        if (valuelen < sizeof(tmp)) {
            memcpy(tmp, value, valuelen);
            tmp[valuelen] = '\0';
            if (dc_grpc_timeout_parse(tmp, &ms) == DC_OK)
                call->timeout_ms = ms;
        }
    } else if (eq(name, namelen, "grpc-encoding")) {
        if (!eq(value, valuelen, "identity"))
            call->bad_encoding = true;
    } else if (namelen >= 5 && memcmp(name, "grpc-", 5) == 0) {
        /* other reserved grpc-* headers (grpc-accept-encoding...) are not metadata */
    } else if (!eq(name, namelen, "te")) {
        add_wire_md(&call->md, name, namelen, value, valuelen);
    }
    return 0;
}

static int client_header(struct dc_grpc_call *call, const nghttp2_frame *f, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen)
{
    bool trailers =
        f->headers.cat == NGHTTP2_HCAT_HEADERS || (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    char tmp[16];
    int64_t v;

    if (eq(name, namelen, ":status")) {
        if (valuelen < sizeof(tmp)) {
            memcpy(tmp, value, valuelen);
            tmp[valuelen] = '\0';
            if (dc_str_to_i64(tmp, 100, 999, &v) == DC_OK)
                call->http_status = (int)v;
        }
    } else if (eq(name, namelen, "content-type")) {
        call->ct_ok = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0;
    } else if (eq(name, namelen, "grpc-status")) {
        if (valuelen < sizeof(tmp)) {
            memcpy(tmp, value, valuelen);
            tmp[valuelen] = '\0';
            if (dc_str_to_i64(tmp, 0, INT32_MAX, &v) == DC_OK) {
                call->st.code = (int)v;
                call->st_pending = true;
            }
        }
    } else if (eq(name, namelen, "grpc-message")) {
        free(call->st.message);
        call->st.message = dc_grpc_message_decode((const char *)value, valuelen);
    } else if (eq(name, namelen, "grpc-encoding")) {
        if (!eq(value, valuelen, "identity"))
            call->bad_encoding = true;
    } else if (name[0] == ':' || (namelen >= 5 && memcmp(name, "grpc-", 5) == 0)) {
        /* reserved */
    } else if (trailers) {
        add_wire_md(&call->st.trailers, name, namelen, value, valuelen);
    } else {
        add_wire_md(&call->md, name, namelen, value, valuelen);
    }
    return 0;
}

int dc__grpc_on_header(struct dc_grpc_call *call, const nghttp2_frame *f, const uint8_t *name,
                       size_t namelen, const uint8_t *value, size_t valuelen)
{
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    /* Bound what one call keeps of the peer's header blocks (HPACK expansion included). */
    call->hdr_bytes += namelen + valuelen + 32;
    if (call->hdr_bytes > 2 * DC_GRPC_MAX_METADATA)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (call->server) {
        if (f->headers.cat != NGHTTP2_HCAT_REQUEST)
            return 0; /* trailers from a client carry nothing for us */
        return server_header(call, name, namelen, value, valuelen);
    }
    return client_header(call, f, name, namelen, value, valuelen);
}
