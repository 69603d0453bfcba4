/* libFuzzer target: bytes -> snt_spiffe_check / snt_spiffe_parse. A parsed id must format back
 * to a string that parses to the same id, and must pass the generic check. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../sentry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snt_spiffe_id id, back;
    char buf[SNT_SPIFFE_MAX_LEN + 1];
    int n, checked;

    checked = snt_spiffe_check((const char *)data, size, NULL);
    if (snt_spiffe_parse((const char *)data, size, &id, NULL) != DC_OK)
        return 0;
    if (checked != DC_OK)
        abort();
    n = snt_spiffe_format(&id, buf, sizeof(buf));
    if (n < 0 || (size_t)n > size)
        abort();
    if (snt_spiffe_parse(buf, (size_t)n, &back, NULL) != DC_OK || !snt_spiffe_equal(&id, &back))
        abort();
    if (snt_spiffe_build(&back, id.trust_domain, id.ns, id.app_id, NULL) != DC_OK ||
        !snt_spiffe_equal(&id, &back))
        abort();
    return 0;
}
