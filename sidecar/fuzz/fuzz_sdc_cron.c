/* libFuzzer target for the cron schedule parser (cron.c, bindings.h): any input must parse or
 * fail with a message; a parsed schedule's next activations (UTC, from a fixed instant) must be
 * strictly increasing and computed without faults, and parsing must be deterministic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../bindings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdc_cron a, b;
    struct dc_errbuf eb = {{0}};
    int64_t t = 1704067200; /* 2024-01-01T00:00:00Z */
    char *s;

    if (size > 2048)
        return 0;
    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (sdc_cron_parse(s, &a, &eb) == DC_OK) {
        if (sdc_cron_parse(s, &b, NULL) != DC_OK || memcmp(&a, &b, sizeof(a)) != 0)
            abort();
        for (int i = 0; i < 4; i++) {
            int64_t n;
            if (sdc_cron_next(&a, t, true, &n) != DC_OK)
                break;
            if (n <= t)
                abort();
            t = n;
        }
    } else if (eb.msg[0] == '\0') {
        abort();
    }
    free(s);
    return 0;
}
