/* libmosquitto's table (contracts in mosq_api.h). */
#include "mosq_api.h"

struct sdc__mosq_api sdc__mosq;

#define MOSQ_SYM(fn) DC_DL_SYM(struct sdc__mosq_api, fn)
static const struct dc_dl_sym mosq_syms[] = {SDC__MOSQ_FUNCS(MOSQ_SYM)};

/* The library's global set-up (its random source), once before any client exists. */
static int mosq_on_load(void *table, struct dc_errbuf *eb)
{
    int rc;

    (void)table;
    rc = mosquitto_lib_init();
    if (rc != MOSQ_ERR_SUCCESS)
        return dc_err_set(eb, DC_EIO, "mosquitto_lib_init: %s", mosquitto_strerror(rc));
    return DC_OK;
}

static struct dc_dl mosq_lib = DC_DL_INIT("libmosquitto.so.1", mosq_syms, &sdc__mosq, mosq_on_load);

int sdc__mosq_load(struct dc_errbuf *eb)
{
    return dc_dl_load(&mosq_lib, eb);
}
