/* libcurl's table (contracts in curl_api.h). */
#include "curl_api.h"

struct dc__curl_api dc__curl;

#define CURL_SYM(fn) DC_DL_SYM(struct dc__curl_api, fn)
static const struct dc_dl_sym curl_syms[] = {DC__CURL_FUNCS(CURL_SYM)};

/* CURL_GLOBAL_ALL (the default): the TLS backend. Runs once, under the loader's lock, before
 * any handle exists, which is what curl_global_init asks for. */
static int curl_on_load(void *table, struct dc_errbuf *eb)
{
    CURLcode rc;

    (void)table;
    rc = curl_global_init(CURL_GLOBAL_ALL);
    if (rc != CURLE_OK)
        return dc_err_set(eb, DC_EIO, "curl_global_init: %s", curl_easy_strerror(rc));
    return DC_OK;
}

static struct dc_dl curl_lib = DC_DL_INIT("libcurl.so.4", curl_syms, &dc__curl, curl_on_load);

int dc__curl_load(struct dc_errbuf *eb)
{
    return dc_dl_load(&curl_lib, eb);
}
