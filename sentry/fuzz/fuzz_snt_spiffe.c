/* libFuzzer target: bytes -> dc_spiffe_check / dc_spiffe_parse. A parsed id must format back
 * to a string that parses to the same id, and must pass the generic check. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../sentry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_spiffe_id id, back;
    char buf[DC_SPIFFE_MAX_LEN + 1];
    int n, checked;

    checked = dc_spiffe_check((const char *)data, size, NULL);
    if (dc_spiffe_parse((const char *)data, size, &id, NULL) != DC_OK)
        return 0;
    if (checked != DC_OK)
        abort();
    n = dc_spiffe_format(&id, buf, sizeof(buf));
    if (n < 0 || (size_t)n > size)
        abort();
    if (dc_spiffe_parse(buf, (size_t)n, &back, NULL) != DC_OK || !dc_spiffe_equal(&id, &back))
        abort();
    if (dc_spiffe_build(&back, id.trust_domain, id.ns, id.app_id, NULL) != DC_OK ||
        !dc_spiffe_equal(&id, &back))
        abort();
    return 0;
}
