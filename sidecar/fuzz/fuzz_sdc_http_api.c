/* libFuzzer target: the request decoding of the HTTP API blocks other than state (which has
 * fuzz_sdc_state_api) behind the real router: distributed lock (over lock.in-memory), output
 * bindings (body decoded before the binding is looked up; none is loaded), publish and bulk
 * publish (over pubsub.in-memory, no subscribers) and configuration (no store).
 *
 * Input: "METHOD\nPATH[?QUERY]\nCONTENT-TYPE\nBODY". Every request runs through dispatch and
 * its response must have a sane status. The components are recreated every few thousand runs
 * so that fuzzed locks do not pile up. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/arena.h"
#include "dc/http_server.h"
#include "dc/log.h"
#include "dc/mem.h"

#include "../bindings.h"
#include "../configuration.h"
#include "../lock.h"
#include "../pubsub_api.h"
#include "../runtime.h"
#include "fuzz_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sdc_config cfg;
static struct sdc_runtime rt;
static struct dc_component defs[2];
static struct dc_http_router *router;
static unsigned runs;

static void comps_open(void)
{
    static const char *const names[] = {"lk", "ps"};
    static const char *const types[] = {"lock.in-memory", "pubsub.in-memory"};
    struct dc_errbuf eb = {{0}};

    fuzz_comps_new(&rt, defs, 2, names, types);
    fuzz_comps_init(&rt);
    if (sdc_pubsub_init(&rt, &eb) != DC_OK)
        abort();
}

static void comps_close(void)
{
    sdc_pubsub_free(rt.pubsub);
    sdc_components_close(&rt.comps);
}

static void setup(void)
{
    dc_log_threshold = DC_LOG_FATAL;
    cfg.app_id = (char *)"fuzz";
    rt.cfg = &cfg;
    comps_open();
    router = dc_http_router_new();
    sdc_lock_api_routes(router, &rt);
    sdc_bindings_api_routes(router, &rt);
    sdc_pubsub_api_routes(router, &rt);
    sdc_configuration_api_routes(router, &rt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (router == NULL)
        setup();
    if (++runs % 5000 == 0) {
        comps_close();
        comps_open();
    }
    fuzz_req_run(router, data, size, "Content-Type", "/v1.0-alpha1/lock/lk");
    return 0;
}
