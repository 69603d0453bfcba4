/* Base64 as Go's encoding/base64 (contracts in dc/base64.h). */
#include "dc/base64.h"

#include <stdint.h>

int dc_base64_value(unsigned char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int dc_base64_append(struct dc_buf *b, const void *data, size_t n)
{
    const unsigned char *p = data;
    int rv = dc_buf_reserve(b, (n + 2) / 3 * 4);
    uint32_t v;
    size_t i;
    char *q;

    if (rv != DC_OK)
        return rv;
    /* Straight into the reserved room: one reserve, not one append per quantum. */
    q = b->data + b->len;
    for (i = 0; i + 3 <= n; i += 3) {
        v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *q++ = b64_alphabet[v >> 18];
        *q++ = b64_alphabet[(v >> 12) & 63];
        *q++ = b64_alphabet[(v >> 6) & 63];
        *q++ = b64_alphabet[v & 63];
    }
    if (i < n) {
        v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        *q++ = b64_alphabet[v >> 18];
        *q++ = b64_alphabet[(v >> 12) & 63];
        *q++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        *q++ = '=';
    }
    b->len = (size_t)(q - b->data);
    b->data[b->len] = '\0';
    return DC_OK;
}

/* Go's base64.StdEncoding.Decode (not Strict): quanta of four symbols, '\r' and '\n' ignored
 * anywhere, '=' only as the padding of the last quantum, nothing but newlines after it. */
int dc_base64_decode(struct dc_buf *b, const char *s, size_t n, size_t *bad_at)
{
    size_t orig = b->len, i = 0;
    int q[4], nq = 0, pad = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\r' || c == '\n') {
            i++;
            continue;
        }
        if (pad > 0 || (c == '=' && nq < 2)) /* data after padding, or '=' too early */
            goto bad;
        if (c == '=') {
            /* "xx==" or "xxx=": the rest of the quantum must be padding too. */
            pad = 4 - nq;
            for (int k = 1; k < pad; k++) {
                i++;
                while (i < n && (s[i] == '\r' || s[i] == '\n'))
                    i++;
                if (i >= n || s[i] != '=')
                    goto bad;
            }
            i++;
            break;
        }
        q[nq] = dc_base64_value(c, false);
        if (q[nq] < 0)
            goto bad;
        if (++nq == 4) {
            uint8_t o[3] = {(uint8_t)(q[0] << 2 | q[1] >> 4), (uint8_t)(q[1] << 4 | q[2] >> 2),
                            (uint8_t)(q[2] << 6 | q[3])};
            if (dc_buf_append(b, o, 3) != DC_OK)
                goto toobig;
            nq = 0;
        }
        i++;
    }
    while (i < n && (s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i < n)
        goto bad;
    if (pad == 0 && nq != 0) /* an unpadded partial quantum */
        goto bad;
    if (pad > 0) {
        uint8_t o[2] = {(uint8_t)(q[0] << 2 | q[1] >> 4), (uint8_t)(q[1] << 4 | q[2] >> 2)};
        if (dc_buf_append(b, o, nq == 2 ? 1 : 2) != DC_OK)
            goto toobig;
    }
    return DC_OK;
bad:
    if (bad_at != NULL)
        *bad_at = i;
    b->len = orig;
    return DC_EPARSE;
toobig:
    b->len = orig;
    return DC_ETOOBIG;
}
