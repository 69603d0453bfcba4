/* libFuzzer target for dc/json.h: bounded parse of arbitrary bytes; whatever parses must print
 * to text that parses again and prints identically. The string encoder must always produce a
 * literal that parses (or is refused only for NUL). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/buf.h"
#include "dc/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_DOC 8192

static void check_round_trip(const cJSON *root)
{
    cJSON *again = NULL;
    char *first, *second;

    first = dc_json_print(root);
    if (dc_json_parse(first, strlen(first), 4 * FUZZ_MAX_DOC, &again, NULL) != DC_OK)
        abort();
    second = dc_json_print(again);
    if (strcmp(first, second) != 0)
        abort();
    free(second);
    free(first);
    cJSON_Delete(again);
}

static void check_encoder(const uint8_t *data, size_t size)
{
    struct dc_buf b;
    cJSON *str = NULL;
    int rv;

    dc_buf_init(&b, 8 * FUZZ_MAX_DOC);
    if (dc_json_append_string(&b, (const char *)data, size) != DC_OK)
        abort();
    rv = dc_json_parse(b.data, b.len, b.len, &str, NULL);
    if (rv == DC_OK) {
        if (!cJSON_IsString(str))
            abort();
        cJSON_Delete(str);
    } else if (rv != DC_EPARSE || memchr(data, 0, size) == NULL) {
        abort();
    }
    dc_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_errbuf eb = {{0}};
    cJSON *root = NULL;
    int rv;

    rv = dc_json_parse((const char *)data, size, FUZZ_MAX_DOC, &root, &eb);
    if (rv == DC_OK) {
        check_round_trip(root);
        cJSON_Delete(root);
    } else if (eb.msg[0] == '\0') {
        abort();
    }
    if (size <= FUZZ_MAX_DOC)
        check_encoder(data, size);
    return 0;
}
