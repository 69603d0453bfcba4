/* libFuzzer target: routing-rule match expressions (match_expr.c).
 *
 * Input: an expression, optionally followed by a NUL byte and a JSON event. The expression is
 * compiled; when it compiles it is evaluated against the event (or a fixed one). Invariants:
 * compile either succeeds or fails with a message; evaluation returns 1, 0 or DC_EINVAL and
 * is deterministic (the same result twice). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/json.h"
#include "dc/mem.h"

#include "../match_expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed[] = "{\"type\":\"widget\",\"source\":\"s\",\"id\":\"1\",\"data\":{\"n\":5,"
                            "\"s\":\"abc\",\"l\":[1,\"x\",true,null],\"m\":{\"k\":\"v\"}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t elen = nul != NULL ? (size_t)(nul - data) : size;
    char *expr = dc_xstrndup((const char *)data, elen);
    struct sdc_match *m = NULL;
    struct dc_errbuf eb = {0};
    cJSON *ev = NULL;
    int r1, r2;

    if (sdc_match_compile(&m, expr, &eb) != DC_OK) {
        if (eb.msg[0] == '\0')
            abort();
        free(expr);
        return 0;
    }
    if (nul == NULL ||
        dc_json_parse((const char *)nul + 1, size - elen - 1, 1 << 16, &ev, NULL) != DC_OK)
        if (dc_json_parse(fixed, strlen(fixed), sizeof(fixed), &ev, NULL) != DC_OK)
            abort();
    r1 = sdc_match_eval(m, ev, NULL);
    r2 = sdc_match_eval(m, ev, NULL);
    if (r1 != r2 || (r1 != 0 && r1 != 1 && r1 != DC_EINVAL))
        abort();
    cJSON_Delete(ev);
    sdc_match_free(m);
    free(expr);
    return 0;
}
