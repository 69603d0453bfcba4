/* libFuzzer target for the dapr.io/enc/v1 decryption parser (crypto_scheme.h): header lines,
 * manifest JSON, MAC, segment framing. The first byte picks a chunk size; the rest is the
 * ciphertext. The file key is "unwrapped" by identity (wfk = file key), so seeds made that way
 * (the corpus holds upstream's test vectors) reach the segments. Decrypting in chunks must give
 * exactly what decrypting at once gives, every failure must say why, and no plaintext may be
 * returned from a segment that did not authenticate. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../crypto_scheme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int id_unwrap(void *ud, const char *alg, const char *key_name, const uint8_t *wfk,
                     size_t wfk_len, struct dc_buf *out, struct dc_errbuf *eb)
{
    (void)ud, (void)alg, (void)key_name, (void)eb;
    return dc_buf_append(out, wfk, wfk_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdc_enc_decrypt_opts o = {.unwrap = id_unwrap};
    struct dc_buf one = {0}, many = {0};
    struct dc_errbuf eb1 = {{0}}, eb2 = {{0}};
    struct sdc_enc_stream *s = NULL;
    size_t chunk;
    int rv1, rv2 = DC_OK;

    if (size < 1 || size > (1u << 20))
        return 0;
    chunk = (size_t)data[0] * 61 + 1;
    data++, size--;
    rv1 = sdc_enc_decrypt(&o, data, size, &one, NULL, &eb1);
    if (rv1 != DC_OK && eb1.msg[0] == '\0')
        abort();
    if (sdc_enc_decrypt_new(&s, &o, &eb2) != DC_OK)
        abort();
    for (size_t off = 0; off < size && rv2 == DC_OK; off += chunk)
        rv2 = sdc_enc_update(s, data + off, size - off < chunk ? size - off : chunk, &many, &eb2);
    if (rv2 == DC_OK)
        rv2 = sdc_enc_final(s, &many, &eb2);
    sdc_enc_free(s);
    if (rv1 != rv2 || strcmp(eb1.msg, eb2.msg) != 0 || one.len != many.len ||
        (one.len > 0 && memcmp(one.data, many.data, one.len) != 0))
        abort();
    /* Only whole segments come out before a failure. */
    if (rv1 != DC_OK && one.len % SDC_ENC_SEGMENT_SIZE != 0)
        abort();
    dc_buf_cleanup(&one);
    dc_buf_cleanup(&many);
    return 0;
}
