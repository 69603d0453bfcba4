/* Libraries loaded on first use (contracts in dc/dl.h). */
#include "dc/dl.h"

#include <dlfcn.h>
#include <string.h>

enum { DL_UNTRIED = 0, DL_LOADED = 1, DL_FAILED = 2 };

/* POSIX makes a dlsym result convertible to a function pointer; the table is written through
 * memcpy, which needs both to have the same size. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers are not void*-sized");

static const char *dl_why(void)
{
    const char *e = dlerror();

    return e != NULL ? e : "unknown error";
}

/* The first load; caller holds dl->mu. */
static int dl_open(struct dc_dl *dl, struct dc_errbuf *eb)
{
    void *h;
    size_t i;
    int rv;

    (void)dlerror(); /* clear a stale message of this thread */
    h = dlopen(dl->soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "cannot load %s: %s", dl->soname, dl_why());
    for (i = 0; i < dl->n_syms; i++) {
        void *p;

        (void)dlerror();
        p = dlsym(h, dl->syms[i].name);
        if (p == NULL) {
            rv = dc_err_set(eb, DC_EIO, "%s: missing symbol %s: %s", dl->soname, dl->syms[i].name,
                            dl_why());
            goto fail;
        }
        memcpy((char *)dl->table + dl->syms[i].offset, &p, sizeof(p));
    }
    if (dl->on_load != NULL) {
        rv = dl->on_load(dl->table, eb);
        if (rv != DC_OK)
            goto fail;
    }
    return DC_OK; /* the handle is never closed: the library stays for the process */
fail:
    dlclose(h);
    return rv;
}

int dc_dl_load(struct dc_dl *dl, struct dc_errbuf *eb)
{
    int st = atomic_load_explicit(&dl->state, memory_order_acquire);

    if (st == DL_LOADED)
        return DC_OK;
    if (st == DL_UNTRIED) {
        pthread_mutex_lock(&dl->mu);
        if (atomic_load_explicit(&dl->state, memory_order_relaxed) == DL_UNTRIED) {
            dl->rv = dl_open(dl, &dl->err);
            atomic_store_explicit(&dl->state, dl->rv == DC_OK ? DL_LOADED : DL_FAILED,
                                  memory_order_release);
        }
        pthread_mutex_unlock(&dl->mu);
        if (atomic_load_explicit(&dl->state, memory_order_acquire) == DL_LOADED)
            return DC_OK;
    }
    /* Failed: rv and err were written before the release store and never change. */
    return dc_err_set(eb, dl->rv, "%s", dl->err.msg);
}

bool dc_dl_is_mapped(const char *soname)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);

    if (h == NULL)
        return false;
    dlclose(h); /* drops the reference RTLD_NOLOAD took */
    return true;
}
