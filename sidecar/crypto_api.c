/* The cryptography HTTP API (sidecar-api.md §11; upstream pkg/api/http/crypto.go). The body is
 * read whole by the HTTP server (at most --max-body-size), then pushed through the scheme,
 * which itself keeps one segment at a time; the answer is built in the response body. */
#include "crypto.h"

#include <string.h>

#include "dc/log.h"
#include "dc/str.h"
#include "dc/time.h"

#include "crypto_scheme.h"
#include "http_api.h"
#include "runtime.h"

#define H_KEY_NAME "dapr-key-name"
#define H_WRAP_ALG "dapr-key-wrap-algorithm"
#define H_OMIT_KEY_NAME "dapr-omit-decryption-key-name"
#define H_DEC_KEY_NAME "dapr-decryption-key-name"
#define H_CIPHER "dapr-data-encryption-cipher"

static const struct sdc_crypto_ops *ops_of(const struct sdc_component *c)
{
    return (const struct sdc_crypto_ops *)c->type->ops;
}

/* Adapters from the scheme's callbacks to the component: the scheme passes no nonce, exactly
 * as upstream's encv1 does (so the CBC algorithms fail with "invalid nonce" there as here). */
static int wrap_cb(void *ud, const char *alg, const char *key_name, const uint8_t *fk,
                   size_t fk_len, struct dc_buf *out, struct dc_errbuf *eb)
{
    const struct sdc_component *c = ud;
    return ops_of(c)->wrap_key(c->self, alg, key_name, fk, fk_len, NULL, 0, out, eb);
}

static int unwrap_cb(void *ud, const char *alg, const char *key_name, const uint8_t *wfk,
                     size_t wfk_len, struct dc_buf *out, struct dc_errbuf *eb)
{
    const struct sdc_component *c = ud;
    int rv = ops_of(c)->unwrap_key(c->self, alg, key_name, wfk, wfk_len, NULL, 0, out, eb);

    if (rv != DC_OK)
        DC_LOG(DC_LOG_DEBUG, "crypto: unwrapping the file key with '%s': %s", key_name, eb->msg);
    return rv;
}

/* cryptoGetComponent: no provider at all is 500, an unknown name 400. */
static struct sdc_component *find_provider(struct sdc_runtime *rt, struct dc_http_request *req,
                                           struct dc_http_response *resp)
{
    const char *name = dc_http_request_param(req, "name");
    struct sdc_component *c;

    if (sdc_components_count(&rt->comps, SDC_CAT_CRYPTO) == 0) {
        dc_http_response_error(resp, 500, "ERR_CRYPTO_PROVIDERS_NOT_CONFIGURED",
                               "crypto providers not configured");
        return NULL;
    }
    if (dc_str_empty(name)) {
        dc_http_response_error(resp, 400, "ERR_BAD_REQUEST",
                               "invalid request: missing component name");
        return NULL;
    }
    c = sdc_components_find(&rt->comps, SDC_CAT_CRYPTO, name);
    if (c == NULL)
        dc_http_response_error(resp, 400, "ERR_CRYPTO_PROVIDER_NOT_FOUND",
                               dc_arena_sprintf(resp->arena, "crypto provider %s not found", name));
    return c;
}

/* A header value ("" counts as absent, as Go's Header.Get), ASCII upper-cased in the arena. */
static const char *header_upper(struct dc_http_request *req, const char *name)
{
    const char *v = dc_http_request_header(req, name);
    char *u;

    if (dc_str_empty(v))
        return NULL;
    u = dc_arena_strdup(req->arena, v);
    for (char *p = u; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return u;
}

static void bad_request(struct dc_http_response *resp, const char *header)
{
    dc_http_response_error(
        resp, 400, "ERR_BAD_REQUEST",
        dc_arena_sprintf(resp->arena, "invalid request: missing header '%s'", header));
}

/* Answer a scheme failure: before the data (header, options, wrapping) it is upstream's
 * ERR_CRYPTO; while processing segments daprd's generic 500 "ERROR" (the error surfaces from
 * reading the stream there). */
static void scheme_error(struct dc_http_response *resp, bool in_payload, const char *msg)
{
    dc_buf_reset(&resp->body);
    resp->n_headers = 0;
    if (in_payload) {
        dc_http_response_error(resp, 500, "ERROR", msg);
        return;
    }
    dc_http_response_error(resp, 500, "ERR_CRYPTO",
                           dc_arena_sprintf(resp->arena, "failed to perform operation: %s", msg));
}

static void respond_octets(struct dc_http_response *resp)
{
    resp->status = 200;
    dc_http_response_header_set(resp, "Content-Type", "application/octet-stream");
}

/* PUT /v1.0-alpha1/crypto/{name}/encrypt */
static void on_encrypt(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    struct sdc_enc_encrypt_opts o = {0};
    struct sdc_component *c = find_provider(rt, req, resp);
    struct dc_errbuf eb = {{0}};
    int64_t t0;
    int rv;

    if (c == NULL)
        return;
    o.key_name = dc_http_request_header(req, H_KEY_NAME);
    if (dc_str_empty(o.key_name)) {
        bad_request(resp, H_KEY_NAME);
        return;
    }
    o.algorithm = header_upper(req, H_WRAP_ALG);
    if (o.algorithm == NULL) {
        bad_request(resp, H_WRAP_ALG);
        return;
    }
    o.omit_key_name = dc_str_truthy(dc_http_request_header(req, H_OMIT_KEY_NAME));
    o.decryption_key_name = dc_http_request_header(req, H_DEC_KEY_NAME);
    o.cipher = header_upper(req, H_CIPHER);
    o.wrap = wrap_cb;
    o.ud = c;
    t0 = dc_mono_ns();
    rv = sdc_enc_encrypt(&o, req->body, req->body_len, &resp->body, &eb);
    sdc_comp_metric(rt, SDC_CM_CRYPTO, c->def->meta.name, SDC_CM_CRYPTO_OP, rv == DC_OK, t0);
    if (rv != DC_OK) {
        /* Only option and wrapping errors come before the payload when encrypting. */
        DC_LOG(DC_LOG_DEBUG, "crypto: encrypt with %s: %s", c->def->meta.name, eb.msg);
        scheme_error(resp, rv == DC_EINTERNAL || rv == DC_ETOOBIG, eb.msg);
        return;
    }
    respond_octets(resp);
}

/* PUT /v1.0-alpha1/crypto/{name}/decrypt */
static void on_decrypt(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    struct sdc_runtime *rt = ud;
    struct sdc_enc_decrypt_opts o = {0};
    struct sdc_component *c = find_provider(rt, req, resp);
    struct dc_errbuf eb = {{0}};
    bool header_ok = false;
    int64_t t0;
    int rv;

    if (c == NULL)
        return;
    o.key_name = dc_http_request_header(req, H_KEY_NAME);
    o.unwrap = unwrap_cb;
    o.ud = c;
    t0 = dc_mono_ns();
    rv = sdc_enc_decrypt(&o, req->body, req->body_len, &resp->body, &header_ok, &eb);
    sdc_comp_metric(rt, SDC_CM_CRYPTO, c->def->meta.name, SDC_CM_CRYPTO_OP, rv == DC_OK, t0);
    if (rv != DC_OK) {
        DC_LOG(DC_LOG_DEBUG, "crypto: decrypt with %s: %s", c->def->meta.name, eb.msg);
        scheme_error(resp, header_ok, eb.msg);
        return;
    }
    respond_octets(resp);
}

void sdc_crypto_api_routes(struct dc_http_router *r, struct sdc_runtime *rt)
{
    /* Only the alpha routes exist upstream (sidecar-api.md §24). */
    sdc_http_api_add(r, rt, "PUT", "/v1.0-alpha1/crypto/{name}/encrypt", on_encrypt);
    sdc_http_api_add(r, rt, "PUT", "/v1.0-alpha1/crypto/{name}/decrypt", on_decrypt);
}
