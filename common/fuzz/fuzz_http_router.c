/* libFuzzer target: route fuzzed requests through a router holding daprd's route table.
 *
 * Input: method, path, query and up to four "Name: value" headers, separated by NUL or
 * newline. The handlers touch every parameter, the query pairs and the headers, so ASan sees
 * any bad offset the router or the decoders produce. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/http_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dc_http_router *router;

static void touch(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    const struct dc_http_query_pair *p;
    size_t i, it = 0, sum = 0;

    (void)ud;
    for (i = 0; i < req->n_params; i++) {
        sum += strlen(req->params[i].name) + req->params[i].value_len + strlen(req->params[i].raw);
        if (req->params[i].value[req->params[i].value_len] != '\0')
            abort();
    }
    while (dc_http_request_query_next(req, &it, &p))
        sum += strlen(p->name) + p->value_len;
    (void)dc_http_request_query(req, "metadata.ttlInSeconds");
    (void)dc_http_request_header(req, "dapr-app-id");
    if (sum % 7 == 0)
        dc_http_response_error(resp, 500, "ERR_X", req->path);
    else
        dc_http_response_header(resp, "X-Route", req->route != NULL ? req->route : "-");
}

static bool pre(struct dc_http_request *req, struct dc_http_response *resp, void *ud)
{
    (void)resp;
    (void)ud;
    return dc_http_request_header_remove(req, "dapr-api-token") > 1;
}

static void build(void)
{
    static const char *const routes[][2] = {
        {"GET", "/v1.0/healthz"},
        {"GET", "/v1.0/healthz/outbound"},
        {"GET", "/v1.0/metadata"},
        {"PUT", "/v1.0/metadata/{key}"},
        {NULL, "/v1.0/invoke/{id}/method/{method*}"},
        {"GET", "/v1.0/state/{storeName}/{key}"},
        {"DELETE", "/v1.0/state/{storeName}/{key}"},
        {"POST", "/v1.0/state/{storeName}"},
        {"PUT", "/v1.0/state/{storeName}"},
        {"POST", "/v1.0/state/{storeName}/bulk"},
        {"PUT", "/v1.0/state/{storeName}/bulk"},
        {"POST", "/v1.0/state/{storeName}/transaction"},
        {"POST", "/v1.0-alpha1/state/{storeName}/query"},
        {"POST", "/v1.0/publish/{pubsubname}/{topic*}"},
        {"POST", "/v1.0-alpha1/publish/bulk/{pubsubname}/{topic*}"},
        {"POST", "/v1.0/bindings/{name}"},
        {"GET", "/v1.0/secrets/{secretStoreName}/bulk"},
        {"GET", "/v1.0/secrets/{secretStoreName}/{key}"},
        {"GET", "/v1.0/configuration/{storeName}"},
        {"GET", "/v1.0/configuration/{storeName}/subscribe"},
        {"GET", "/v1.0/configuration/{storeName}/{configurationSubscribeID}/unsubscribe"},
        {"POST", "/v1.0-alpha1/lock/{storeName}"},
        {"POST", "/v1.0-alpha1/unlock/{storeName}"},
        {"POST", "/v1.0/actors/{actorType}/{actorId}/state"},
        {"GET", "/v1.0/actors/{actorType}/{actorId}/state/{key}"},
        {NULL, "/v1.0/actors/{actorType}/{actorId}/method/{method}"},
        {"POST", "/v1.0/actors/{actorType}/{actorId}/reminders/{name}"},
        {"DELETE", "/v1.0/actors/{actorType}/{actorId}/reminders/{name}"},
        {"POST", "/v1.0/actors/{actorType}/{actorId}/timers/{name}"},
        {"POST", "/v1.0/shutdown"},
        {"POST", "/v1.0-beta1/workflows/{workflowComponent}/{workflowName}/start"},
        {"GET", "/v1.0-beta1/workflows/{workflowComponent}/{instanceId}"},
        {"POST", "/v1.0-beta1/workflows/{workflowComponent}/{instanceId}/raiseEvent/{eventName}"},
        {"GET", "/"},
    };
    size_t i;

    router = dc_http_router_new();
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (dc_http_router_add(router, routes[i][0], routes[i][1], touch, NULL) != DC_OK)
            abort();
    }
    dc_http_router_set_fallback(router, touch, NULL);
    dc_http_router_set_pre(router, pre, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_arena arena = {0};
    struct dc_http_request req;
    struct dc_http_response resp;
    struct dc_http_header hs[4];
    char *fields[7] = {0};
    char *copy;
    size_t i, nf = 0;

    if (router == NULL)
        build();
    if (size > 64 * 1024)
        return 0;
    copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    fields[nf++] = copy;
    for (i = 0; i < size && nf < 7; i++) {
        if (copy[i] == '\n' || copy[i] == '\0') {
            copy[i] = '\0';
            fields[nf++] = copy + i + 1;
        }
    }
    memset(&req, 0, sizeof(req));
    req.arena = &arena;
    req.method = fields[0];
    req.path = nf > 1 ? fields[1] : "/";
    req.query = nf > 2 ? fields[2] : "";
    for (i = 3; i < nf; i++) {
        char *colon = strchr(fields[i], ':');

        hs[req.n_headers].name = fields[i];
        hs[req.n_headers].value = "";
        if (colon != NULL) {
            *colon = '\0';
            hs[req.n_headers].value = colon + 1;
        }
        req.n_headers++;
    }
    req.headers = hs;
    dc_http_response_init(&resp, &arena);
    (void)dc_http_router_dispatch(router, &req, &resp);
    dc_http_response_cleanup(&resp);
    dc_arena_cleanup(&arena);
    free(copy);
    return 0;
}
