/* The webhook's certificate: which source, and the caBundle patch (contracts in service.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dc/mem.h"
#include "dc/str.h"

#include "service.h"

int inj_cert_source_select(const struct inj_flags *f, const struct inj_config *cfg,
                           enum inj_cert_source *out, struct dc_errbuf *eb)
{
    bool cert = !dc_str_empty(f->tls_cert_file), key = !dc_str_empty(f->tls_key_file);

    if (cert && key) {
        *out = INJ_CERT_FILES;
        return DC_OK;
    }
    if (cert || key)
        return dc_err_set(eb, DC_EINVAL, "--tls-cert-file and --tls-key-file go together");
    if (dc_str_empty(cfg->trust_anchors_file))
        return dc_err_set(eb, DC_EINVAL,
                          "no webhook certificate: give --tls-cert-file and --tls-key-file, or "
                          "DAPR_TRUST_ANCHORS_FILE for a certificate from sentry");
    *out = INJ_CERT_SENTRY;
    return DC_OK;
}

/* Standard base64 with padding, as the API server stores []byte fields. */
static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = dc_xmalloc(4 * ((n + 2) / 3) + 1);

    (void)EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

static cJSON *op(const char *name, const char *path, const char *value)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || cJSON_AddStringToObject(o, "op", name) == NULL ||
        cJSON_AddStringToObject(o, "path", path) == NULL ||
        cJSON_AddStringToObject(o, "value", value) == NULL)
        abort();
    return o;
}

int inj_cabundle_patch(const cJSON *mwc, const char *anchors_pem, char **out, struct dc_errbuf *eb)
{
    const cJSON *hook = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(mwc, "webhooks"), 0);
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(hook, "clientConfig");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hook, "name"));
    const char *cur = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cc, "caBundle"));
    cJSON *patch;
    char *want;

    *out = NULL;
    if (dc_str_empty(anchors_pem))
        return dc_err_set(eb, DC_EINVAL, "no trust anchors for the caBundle");
    if (dc_str_empty(name) || !cJSON_IsObject(cc))
        return dc_err_set(eb, DC_EINVAL, "no webhooks[0] with a name and a clientConfig");
    want = b64(anchors_pem);
    if (cur != NULL && strcmp(cur, want) == 0) {
        free(want);
        return DC_OK;
    }
    /* "add" sets a member whether or not it exists ("replace" needs it to). */
    patch = cJSON_CreateArray();
    if (patch == NULL || !cJSON_AddItemToArray(patch, op("test", "/webhooks/0/name", name)) ||
        !cJSON_AddItemToArray(patch, op("add", "/webhooks/0/clientConfig/caBundle", want)))
        abort();
    free(want);
    *out = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    if (*out == NULL)
        abort();
    return DC_OK;
}
