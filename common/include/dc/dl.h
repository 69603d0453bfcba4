#ifndef DC_DL_H
#define DC_DL_H

/* Shared libraries loaded on first use (dlopen) instead of at start-up.
 *
 * A library that only some configurations need (libcurl for https calls and the Kubernetes
 * client, libpq for the PostgreSQL components, libmosquitto for MQTT) costs every process that
 * links it: the dynamic loader maps it and its dependencies (Kerberos, LDAP, GnuTLS...),
 * relocates them and runs their constructors before main. Loaded through a struct dc_dl, it is
 * mapped when the first caller needs it and its functions are reached through a table of
 * function pointers filled once.
 *
 * A user declares the table with the library's own prototypes (DC_DL_FIELD keeps the types
 * exact), lists the symbols with their offsets in it (DC_DL_SYM) and defines one static
 * struct dc_dl (DC_DL_INIT); dc_dl_load before the first use of the table:
 *
 *     #define M_FUNCS(X) X(cos) X(sin)
 *     struct m_api { M_FUNCS(DC_DL_FIELD) };
 *     static struct m_api m;
 *     #define M_SYM(fn) DC_DL_SYM(struct m_api, fn)
 *     static const struct dc_dl_sym m_syms[] = {M_FUNCS(M_SYM)};
 *     static struct dc_dl m_lib = DC_DL_INIT("libm.so.6", m_syms, &m, NULL);
 *     ...
 *     if (dc_dl_load(&m_lib, eb) == DC_OK)
 *         y = m.cos(x);
 *
 * A library once loaded stays loaded for the life of the process. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "dc/err.h"

/* One member of a table: a pointer with the type of the library's function `fn` (its
 * prototype must be in scope). Expands to a declaration ending in ';'. */
#define DC_DL_FIELD(fn) __typeof__(fn) *fn;

/* One entry of a symbol list: the name of `fn` and where its address goes in `type`. */
#define DC_DL_SYM(type, fn) {#fn, offsetof(type, fn)},

struct dc_dl_sym {
    const char *name; /* symbol looked up with dlsym */
    size_t offset;    /* offset of its function pointer in the table */
};

/* Run once after every symbol resolved, under the loader's lock (e.g. the library's global
 * initialisation); `table` is filled. DC_OK, or an error code with `eb` set: the load fails. */
typedef int dc_dl_init_fn(void *table, struct dc_errbuf *eb);

/* A library and its table. Define it with DC_DL_INIT (static storage); the fields after
 * `on_load` are the loader's. */
struct dc_dl {
    const char *soname;           /* e.g. "libcurl.so.4": the run-time package's name */
    const struct dc_dl_sym *syms; /* every symbol of the table */
    size_t n_syms;
    void *table;            /* struct of function pointers filled by dc_dl_load */
    dc_dl_init_fn *on_load; /* NULL: none */
    pthread_mutex_t mu;
    atomic_int state; /* 0: not tried; 1: loaded; 2: failed (rv, err) */
    int rv;
    struct dc_errbuf err;
};

/* Static initialiser; `list` must be an array of struct dc_dl_sym (its length is taken with
 * sizeof). The loader's fields start zero: not tried. */
#define DC_DL_INIT(name, list, tab, fn)                                                            \
    {                                                                                              \
        .soname = (name), .syms = (list), .n_syms = sizeof(list) / sizeof((list)[0]),              \
        .table = (tab), .on_load = (fn), .mu = PTHREAD_MUTEX_INITIALIZER                           \
    }

/* Load `dl->soname` (dlopen, RTLD_NOW | RTLD_LOCAL), resolve every symbol into the table and
 * run `on_load`, the first time; later calls return the first outcome at the cost of one atomic
 * load. Thread-safe: concurrent first callers wait for one load. The outcome, failure included,
 * is kept for the life of the process (a library installed later is not seen).
 *
 * Returns DC_OK (the table may be used from any thread); DC_ENOTFOUND when the library cannot be
 * loaded, `eb` "cannot load <soname>: <dlerror()>"; DC_EIO when a symbol is missing,
 * "<soname>: missing symbol <name>: <dlerror()>" (the library is unloaded again); or what
 * `on_load` returned with its message. */
int dc_dl_load(struct dc_dl *dl, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Is the library `soname` mapped in this process, loaded by anyone (dlopen RTLD_NOLOAD)? For
 * tests and diagnostics: loads nothing. */
bool dc_dl_is_mapped(const char *soname);

#endif /* DC_DL_H */
