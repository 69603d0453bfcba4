/* libFuzzer target for dc/time.h: every parser on the same input; what parses must survive a
 * format -> parse round trip unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_errbuf eb = {{0}};
    struct dc_iso_duration iso;
    char out[DC_DURATION_FMT_LEN > DC_RFC3339_FMT_LEN ? DC_DURATION_FMT_LEN : DC_RFC3339_FMT_LEN];
    char *s;
    int64_t v, back;
    uint64_t bytes;

    if (size > 4096)
        return 0;
    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    if (dc_duration_parse(s, &v, &eb) == DC_OK) {
        if (dc_duration_format(v, out, sizeof(out)) != DC_OK)
            abort();
        if (dc_duration_parse(out, &back, NULL) != DC_OK || back != v)
            abort();
    }
    if (dc_duration_parse_ms_or_go(s, &v, &eb) != DC_OK && eb.msg[0] == '\0')
        abort();
    (void)dc_iso8601_parse(s, &iso, &eb);
    if (dc_rfc3339_parse(s, &v, &eb) == DC_OK) {
        if (dc_rfc3339_format(v, out, sizeof(out)) != DC_OK)
            abort();
        if (dc_rfc3339_parse(out, &back, NULL) != DC_OK || back != v)
            abort();
    }
    if (dc_quantity_parse(s, &v, &eb) == DC_OK && dc_quantity_bytes(s, &bytes, &eb) == DC_OK) {
        /* Same value at two scales: ceil(x) >= ceil(1000x) / 1000 for x >= 0. */
        if (v < 0 || bytes < (uint64_t)v / 1000)
            abort();
    }
    free(s);
    return 0;
}
