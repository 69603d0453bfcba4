/* libpq's table (contracts in pq_api.h). */
#include "pq_api.h"

struct sdc__pq_api sdc__pq;

#define PQ_SYM(fn) DC_DL_SYM(struct sdc__pq_api, fn)
static const struct dc_dl_sym pq_syms[] = {SDC__PQ_FUNCS(PQ_SYM)};
static struct dc_dl pq_lib = DC_DL_INIT("libpq.so.5", pq_syms, &sdc__pq, NULL);

int sdc__pq_load(struct dc_errbuf *eb)
{
    return dc_dl_load(&pq_lib, eb);
}
