/* libFuzzer target: dc_resources_load_buffer on arbitrary bytes (YAML/JSON manifests). Every
 * input must either load or fail with a one-line message; nothing may leak or crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/err.h"
#include "dc/resources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_resources r = {0};
    struct dc_errbuf eb = {0};
    int rv = dc_resources_load_buffer(&r, "fuzz.yaml", (const char *)data, size, &eb);

    if (rv != DC_OK && strchr(eb.msg, '\n') != NULL)
        abort(); /* error messages are one line */
    dc_resources_cleanup(&r);
    return 0;
}
