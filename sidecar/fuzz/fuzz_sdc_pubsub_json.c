/* libFuzzer target: the pub/sub JSON fast paths (pubsub_json.c) against the cJSON slow paths.
 *
 * Invariants: when sdc__ps_json_canon accepts the input, dc_json_parse accepts it too and
 * parse + sdc_json_sort_keys + dc_json_print gives the same text; when it declines, the output
 * buffer is unchanged. When sdc__ps_ce_scan accepts the input, sdc_cloudevent_parse does too
 * and every collected member equals the tree's string member of that name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/json.h"

#include "../cloudevent.h"
#include "../pubsub_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[SDC__PS_CE_NFIELDS] = {"id", "expiration", "traceparent", "traceid",
                                                      "tracestate"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct sdc__ps_span f[SDC__PS_CE_NFIELDS];
    struct dc_buf b = {0};
    cJSON *v = NULL;
    int rv;

    if (dc_buf_append(&b, "x", 1) != DC_OK)
        abort();
    rv = sdc__ps_json_canon(s, size, &b);
    if (rv == DC_OK) {
        char *t;
        if (dc_json_parse(s, size, size, &v, NULL) != DC_OK)
            abort();
        sdc_json_sort_keys(v);
        t = dc_json_print(v);
        if (strlen(t) != b.len - 1 || memcmp(t, b.data + 1, b.len - 1) != 0)
            abort();
        free(t);
        cJSON_Delete(v);
        v = NULL;
    } else if (rv != DC_EAGAIN || b.len != 1) {
        abort();
    }
    dc_buf_cleanup(&b);
    if (sdc__ps_ce_scan(s, size, f)) {
        if (sdc_cloudevent_parse(s, size, size + 1, &v, NULL) != DC_OK)
            abort();
        for (int k = 0; k < SDC__PS_CE_NFIELDS; k++) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, names[k]);
            const char *want = cJSON_IsString(m) ? m->valuestring : NULL;
            if ((want == NULL) != (f[k].p == NULL))
                abort();
            if (want != NULL && (strlen(want) != f[k].len || memcmp(want, f[k].p, f[k].len) != 0))
                abort();
        }
        cJSON_Delete(v);
    }
    return 0;
}
