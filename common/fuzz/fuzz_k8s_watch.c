/* libFuzzer target: the Kubernetes watch-stream decoder and the Status -> error mapping.
 * The first byte picks the piece size (so splits are explored) and a small line limit on odd
 * values (so the DC_ETOOBIG paths run); the rest is the stream. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/k8s.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *arg, enum dc_k8s_event_type t, cJSON *obj, cJSON *ev)
{
    size_t *count = arg;
    (void)ev;
    /* What the informer does with each event. */
    (void)dc_k8s_obj_name(obj);
    (void)dc_k8s_obj_namespace(obj);
    (void)dc_k8s_obj_rv(obj);
    if (t == DC_K8S_ERROR) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        (void)dc_k8s_err_from_status(
            cJSON_IsNumber(code) ? (long)code->valueint : 500,
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "reason")));
    }
    (*count)++;
    return DC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_k8s_watch_decoder d;
    struct dc_errbuf eb = {0};
    size_t piece, count = 0, body_len;
    const char *p, *body;
    int rv = DC_OK;

    if (size < 1)
        return 0;
    piece = (size_t)(data[0] >> 1) + 1;
    dc_k8s_watch_decoder_init(&d, (data[0] & 1) ? 64 : 0);
    p = body = (const char *)data + 1;
    body_len = --size;
    while (size > 0 && rv == DC_OK) {
        size_t n = size < piece ? size : piece;
        rv = dc_k8s_watch_decode(&d, p, n, on_event, &count, &eb);
        p += n;
        size -= n;
    }
    if (rv == DC_OK)
        (void)dc_k8s_watch_decoder_finish(&d, &eb);
    dc_k8s_watch_decoder_cleanup(&d);
    /* The error path over the same bytes, as an HTTP error body (the loop consumed `size`). */
    eb.msg[0] = '\0';
    rv = dc_k8s_status_error(400 + data[0], body, body_len, &eb);
    if (rv >= 0 || eb.msg[0] == '\0')
        abort();
    return 0;
}
