/* libFuzzer target: the state API handlers (sidecar-api.md §5) behind the real router, over a
 * state.in-memory store (default key prefix) and one with keyPrefix none.
 *
 * Input: "METHOD\nPATH[?QUERY]\n[If-Match value]\nBODY". Every request runs through dispatch
 * and its response is checked for a sane status. The stores are recreated every few thousand
 * runs so that fuzzed writes do not pile up. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/arena.h"
#include "dc/http_server.h"
#include "dc/mem.h"

#include "../state_api.h"
#include "../state_store.h"
#include "fuzz_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sdc_config cfg;
static struct sdc_runtime rt;
static struct dc_component defs[2];
static struct dc_http_router *router;
static unsigned runs;

static void stores_open(void)
{
    static const char *const names[] = {"mem", "none"};
    static const char *const types[] = {"state.in-memory", "state.in-memory"};

    fuzz_comps_new(&rt, defs, 2, names, types);
    sdc_md_set(&rt.comps.v[1].md, "keyPrefix", "none");
    fuzz_comps_init(&rt);
}

static void setup(void)
{
    cfg.app_id = (char *)"fuzz";
    rt.cfg = &cfg;
    stores_open();
    router = dc_http_router_new();
    sdc_state_api_routes(router, &rt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (router == NULL)
        setup();
    if (++runs % 5000 == 0) {
        sdc_components_close(&rt.comps);
        stores_open();
    }
    fuzz_req_run(router, data, size, "If-Match", "/v1.0/state/mem");
    return 0;
}
