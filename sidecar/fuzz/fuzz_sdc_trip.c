/* libFuzzer target for the circuit-breaker trip expressions (trip_expr.h): the first 20 bytes
 * are the breaker counts, the rest the expression. Whatever compiles must evaluate without
 * faults (overflow, division by zero, deep nesting), the same way twice; whatever does not
 * compile must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../trip_expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sdc_trip_counts c;
    struct dc_errbuf eb = {{0}};
    struct sdc_trip *t = NULL;
    char *s;

    if (size < sizeof(c) || size > 4096)
        return 0;
    memcpy(&c, data, sizeof(c));
    s = malloc(size - sizeof(c) + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data + sizeof(c), size - sizeof(c));
    s[size - sizeof(c)] = '\0';
    if (sdc_trip_compile(&t, s, &eb) == DC_OK) {
        struct sdc_trip_counts zero = {0};
        if (sdc_trip_eval(t, &c) != sdc_trip_eval(t, &c))
            abort();
        (void)sdc_trip_eval(t, &zero);
        sdc_trip_free(t);
    } else if (eb.msg[0] == '\0') {
        abort();
    }
    free(s);
    return 0;
}
