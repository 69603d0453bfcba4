/* libFuzzer target: CloudEvent parsing and building (cloudevent.c).
 *
 * Input: first byte selects the content type of the build step, the rest is the body. The body
 * is parsed as a received event (delivery side), checked for expiry, and built into an envelope
 * (publisher side) with that content type. Invariants: a successful build is always a JSON
 * object that parses again (bodies without NUL bytes), with topic "t" and pubsubname "p"; the
 * raw-payload envelope always
 * parses and its data_base64 decodes back to the input; sdc_json_append_sorted gives exactly the
 * bytes of dc_json_parse + sdc_json_sort_keys + dc_json_print, and refuses what they refuse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/base64.h"
#include "dc/json.h"

#include "../cloudevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {
    "application/json",
    "application/cloudevents+json",
    "text/plain",
    "application/octet-stream",
    "application/xml",
    "",
    "application/JSON; charset=utf-8",
};

static void check_str(const cJSON *o, const char *k, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    if (!cJSON_IsString(v) || strcmp(v->valuestring, want) != 0)
        abort();
}

/* sdc_json_append_sorted against its cJSON reference. */
static void check_sorted(const char *body, size_t len)
{
    struct dc_buf b = {0};
    cJSON *v = NULL;
    char *want = NULL;
    int rv = sdc_json_append_sorted(&b, body, len);

    if (dc_json_parse(len > 0 ? body : "", len, len, &v, NULL) == DC_OK) {
        sdc_json_sort_keys(v);
        want = dc_json_print(v);
        cJSON_Delete(v);
    }
    if (want == NULL ? rv != DC_EPARSE || b.len != 0
                     : rv != DC_OK || b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        abort();
    free(want);
    dc_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_buf b = {0}, dec = {0};
    struct sdc_md md = {0};
    cJSON *o = NULL;
    const char *body;
    size_t len;

    if (size == 0)
        return 0;
    body = (const char *)data + 1;
    len = size - 1;
    check_sorted(body, len);
    if (sdc_cloudevent_parse(body, len, 1 << 20, &o, NULL) == DC_OK) {
        if (!cJSON_IsObject(o))
            abort();
        (void)sdc_cloudevent_expired(o, 0);
        cJSON_Delete(o);
        o = NULL;
    }
    {
        struct sdc_ce_in in = {.app_id = "a",
                               .pubsub = "p",
                               .topic = "t",
                               .content_type = types[data[0] % (sizeof(types) / sizeof(types[0]))],
                               .data = body,
                               .len = len,
                               .md = &md,
                               .now_ns = 1,
                               .add_expiration = true};
        /* A body with NUL bytes becomes a string with \u0000, valid JSON that dc_json_parse
         * refuses by design (cJSON strings are C strings): skip the re-parse then. */
        if (sdc_cloudevent_build(&in, &b, NULL) == DC_OK && memchr(body, 0, len) == NULL) {
            if (dc_json_parse(b.data, b.len, b.len, &o, NULL) != DC_OK || !cJSON_IsObject(o))
                abort();
            check_str(o, "topic", "t");
            check_str(o, "pubsubname", "p");
            cJSON_Delete(o);
            o = NULL;
        }
    }
    dc_buf_reset(&b);
    if (sdc_cloudevent_wrap_raw("p", "t", body, len, NULL, &b) != DC_OK)
        abort();
    if (sdc_cloudevent_parse(b.data, b.len, b.len, &o, NULL) != DC_OK)
        abort();
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "data_base64");
        if (!cJSON_IsString(v) ||
            dc_base64_decode(&dec, v->valuestring, strlen(v->valuestring), NULL) != DC_OK ||
            dec.len != len || (len > 0 && memcmp(dec.data, body, len) != 0))
            abort();
    }
    cJSON_Delete(o);
    dc_buf_cleanup(&b);
    dc_buf_cleanup(&dec);
    return 0;
}
