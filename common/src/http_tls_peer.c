/* The client certificate of a TLS request (dc_http_request_peer_cert, dc/http_server.h).
 *
 * Debian's libmicrohttpd does TLS with GnuTLS and exposes the connection's session
 * (MHD_CONNECTION_INFO_GNUTLS_SESSION); the peer's chain is in it as DER (GnuTLS keeps the raw
 * certificates it received), so reading the leaf costs no parsing and no copy. Verification is
 * the caller's (OpenSSL, against anchors that may change at run time). Kept apart from
 * http_server.c so that only this file includes GnuTLS. */
#include "dc/http_server.h"

#include <gnutls/gnutls.h>
#include <microhttpd.h>

int dc_http_request_peer_cert(const struct dc_http_request *req, size_t i, const uint8_t **der,
                              size_t *len)
{
    const union MHD_ConnectionInfo *ci;
    const gnutls_datum_t *peers;
    unsigned int n = 0;

    if (req == NULL || req->conn_ == NULL)
        return DC_ENOTFOUND;
    ci = MHD_get_connection_info(req->conn_, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return DC_ENOTFOUND;
    /* RFC 8446 §4.4.2: the sender's certificate comes first. */
    peers = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
    if (peers == NULL || i >= n || peers[i].data == NULL || peers[i].size == 0)
        return DC_ENOTFOUND;
    *der = peers[i].data;
    *len = peers[i].size;
    return DC_OK;
}
