/* libFuzzer target: the secrets API over a local.file store built from fuzzed JSON.
 *
 * Input: the first line is a request target (path and query) for GET; the rest is the secrets
 * file. The first byte of the target decides multiValued (odd) and the separator. Every 200
 * body must be valid JSON, every error a legacy error body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc/http_server.h"
#include "dc/json.h"

#include "../runtime.h"
#include "../secrets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct sdc_component_type sdc_type_secretstores_local_file;
extern const struct sdc_component_type sdc_type_secretstores_local_env;

static char path[] = "/tmp/fuzz-sdc-secrets.XXXXXX";
static struct dc_http_router *router;
static struct sdc_runtime rt;
static struct sdc_config cfg;
static struct dc_component defs[2];
static struct sdc_component comps[2];
static char *allowed[] = {(char *)"a", (char *)"a:b"};
static struct dc_cfg_secret_scope scope = {.store_name = (char *)"env",
                                           .default_access = (char *)"deny",
                                           .allowed = allowed,
                                           .nallowed = 2};

static void setup(void)
{
    int fd = mkstemp(path);

    if (fd == -1)
        abort();
    close(fd);
    defs[0].meta.name = (char *)"file";
    defs[0].type = (char *)"secretstores.local.file";
    defs[1].meta.name = (char *)"env";
    defs[1].type = (char *)"secretstores.local.env";
    comps[0].def = &defs[0];
    comps[0].type = &sdc_type_secretstores_local_file;
    comps[1].def = &defs[1];
    comps[1].type = &sdc_type_secretstores_local_env;
    rt.cfg = &cfg;
    rt.comps.v = comps;
    rt.comps.n = 2;
    rt.have_conf = true;
    rt.conf.secret_scopes = &scope;
    rt.conf.nsecret_scopes = 1;
    router = dc_http_router_new();
    sdc_secrets_api_routes(router, &rt);
}

static void check_body(const struct dc_http_response *resp)
{
    cJSON *doc = NULL;

    if (resp->status == 204 || resp->status == 400) /* 400: the router's text/plain answer */
        return;
    if (dc_json_parse(resp->body.data, resp->body.len, 1u << 26, &doc, NULL) != DC_OK)
        abort();
    if (resp->status != 200 && cJSON_GetObjectItemCaseSensitive(doc, "errorCode") == NULL)
        abort();
    cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t tlen = nl != NULL ? (size_t)(nl - data) : size;
    char *target = strndup((const char *)data, tlen);
    struct sdc_md md = {0};
    struct dc_errbuf eb;
    struct dc_arena arena;
    struct dc_http_request req = {0};
    struct dc_http_response resp;
    char *q;
    FILE *f;

    if (router == NULL)
        setup();
    f = fopen(path, "w");
    if (f == NULL || target == NULL)
        abort();
    if (nl != NULL)
        fwrite(nl + 1, 1, size - tlen - 1, f);
    fclose(f);
    sdc_md_set(&md, "secretsFile", path);
    sdc_md_set(&md, "multiValued", tlen > 0 && (data[0] & 1) ? "true" : "false");
    sdc_md_set(&md, "nestedSeparator", tlen > 0 && (data[0] & 2) ? "/" : "");
    comps[0].ok = comps[0].type->ops->init(&comps[0].self, &md, NULL, &eb) == DC_OK;
    sdc_md_cleanup(&md);
    if (!comps[1].ok)
        comps[1].ok = comps[1].type->ops->init(&comps[1].self, &md, NULL, &eb) == DC_OK;

    dc_arena_init(&arena);
    q = strchr(target, '?');
    if (q != NULL)
        *q++ = '\0';
    req.method = "GET";
    req.path = target[0] == '/' ? target : "/v1.0/secrets/file/bulk";
    req.query = q != NULL ? q : "";
    req.body = "";
    req.arena = &arena;
    dc_http_response_init(&resp, &arena);
    (void)dc_http_router_dispatch(router, &req, &resp);
    if (req.route != NULL)
        check_body(&resp);
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&arena);
    if (comps[0].ok)
        comps[0].type->ops->close(comps[0].self);
    comps[0].ok = false;
    free(target);
    return 0;
}
