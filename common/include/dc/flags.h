#ifndef DC_FLAGS_H
#define DC_FLAGS_H

/* Table-driven command-line flags with Go pflag conventions, shared by daprd, the injector and
 * sentry. A caller describes its flags in a static table of struct dc_flag (name, type, offset
 * of the field in the caller's options struct, textual default, help); dc_flags_defaults applies
 * the defaults, dc_flags_parse applies argv and dc_flags_usage prints the help.
 *
 * Syntax: --name value, --name=value, -name value, -name=value; a boolean given alone is true
 * (a value only with '='); -h and --help request the help text; repeated flags overwrite, except
 * lists, which append (each value is also split on commas, items trimmed of spaces, empty items
 * dropped). Anything not starting with '-' is refused (no positional arguments).
 *
 * Errors are one line, without the program name:
 *   unknown flag: --x
 *   flag needs an argument: --x
 *   invalid value for --x: <reason>
 *   unexpected argument "x"
 *
 * Thread: none of these functions keeps state; a table and its options struct must not be used
 * by two threads at once. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dc/err.h"

/* The C type of the field each flag type writes (at `off` in the options struct). */
enum dc_flag_type {
    DC_FLAG_STRING,       /* const char *, borrowed from argv or the table (never freed) */
    DC_FLAG_STRING_DUP,   /* char *, a copy owned by the struct (dc_flags_cleanup frees it) */
    DC_FLAG_PORT,         /* integer of `size` bytes: 0-65535; "" = -1 (signed fields only) */
    DC_FLAG_INT,          /* integer of `size` bytes in [min, max] (both 0: int32 range) */
    DC_FLAG_BOOL,         /* bool */
    DC_FLAG_TRIBOOL,      /* int: 1 true, 0 false, -1 unset ("" or no default) */
    DC_FLAG_LOGLEVEL,     /* enum dc_log_level (debug, info, warn, error, fatal) */
    DC_FLAG_DURATION,     /* int64_t nanoseconds, Go duration; "" = -1 */
    DC_FLAG_QUANTITY,     /* uint64_t bytes, Kubernetes quantity ("4Mi") */
    DC_FLAG_SCALED,       /* uint64_t: an integer 0-2^20 shifted left by `shift` (MB: 20) */
    DC_FLAG_LIST,         /* struct dc_strlist, owned (dc_flags_cleanup frees it) */
    DC_FLAG_IGNORED,      /* accepted with a value, no effect (deprecated or unimplemented) */
    DC_FLAG_IGNORED_BOOL, /* accepted like a boolean, no effect */
};

/* dc_flag.attrs bits. */
/* DC_FLAG_WEAK: never overrides another flag of the same field given on the command line,
 * whatever the order (deprecated aliases); its default is not applied (only shown). */
#define DC_FLAG_WEAK 1u

struct dc_flag {
    const char *name; /* without dashes */
    enum dc_flag_type type;
    size_t off;       /* offsetof(options struct, field); unused for the ignored types */
    size_t size;      /* sizeof(field), for the integer types */
    const char *def;  /* textual default, applied by dc_flags_defaults and shown by usage;
                       * NULL: the field is left as the caller initialised it */
    const char *help; /* one line */
    int64_t min, max; /* DC_FLAG_INT bounds */
    unsigned shift;   /* DC_FLAG_SCALED */
    unsigned attrs;   /* DC_FLAG_WEAK */
};

/* A table entry for field `field` of `type` (the struct type of the options). */
#define DC_FLAG_DEF(stype, fname, ftype, field, fdef, fhelp)                                       \
    {                                                                                              \
        .name = (fname), .type = (ftype), .off = offsetof(stype, field),                           \
        .size = sizeof(((stype *)0)->field), .def = (fdef), .help = (fhelp)                        \
    }
/* An integer entry with bounds. */
#define DC_FLAG_DEF_INT(stype, fname, field, fmin, fmax, fdef, fhelp)                              \
    {                                                                                              \
        .name = (fname), .type = DC_FLAG_INT, .off = offsetof(stype, field),                       \
        .size = sizeof(((stype *)0)->field), .def = (fdef), .help = (fhelp), .min = (fmin),        \
        .max = (fmax)                                                                              \
    }
/* An accepted flag without effect (`fbool`: takes no separate value). */
#define DC_FLAG_DEF_IGNORED(fname, fbool, fhelp)                                                   \
    {                                                                                              \
        .name = (fname), .type = (fbool) ? DC_FLAG_IGNORED_BOOL : DC_FLAG_IGNORED, .help = (fhelp) \
    }

/* A list flag's value: `n` strings, each and the array owned. */
struct dc_strlist {
    char **v;
    size_t n;
};

/* Apply the textual default of every entry that has one (and is not DC_FLAG_WEAK) to `opts`;
 * lists get no default; tri-bools without a default are set to -1. Other fields are not
 * touched: zero the struct first. A default that does not parse is a programmer error (abort). */
void dc_flags_defaults(const struct dc_flag *tab, size_t n, void *opts);

/* Apply argv[1..argc-1] to `opts`. `given`, when not NULL, has `n` entries and is set true for
 * each table entry that appeared (false for the others). `*help` (may be NULL: then -h/--help
 * is an unknown flag) is set true and parsing stops at -h or --help. Returns DC_OK or DC_EINVAL
 * with one of the messages above in `eb`; `opts` may then be partly updated (still valid for
 * dc_flags_cleanup). Aborts on OOM. */
int dc_flags_parse(const struct dc_flag *tab, size_t n, void *opts, int argc,
                   const char *const *argv, bool *given, bool *help,
                   struct dc_errbuf *eb) DC_MUST_CHECK;

/* Free the DC_FLAG_STRING_DUP strings and DC_FLAG_LIST lists of `opts` and reset them. */
void dc_flags_cleanup(const struct dc_flag *tab, size_t n, void *opts);

/* Print one entry per flag: "  --name value\n        help (default d)\n" (no "value" for the
 * boolean types; no "(default)" for a NULL or empty default), then the -h, --help entry. */
void dc_flags_usage(FILE *out, const struct dc_flag *tab, size_t n);

/* Append the comma-separated items of `csv` to `l` (trimmed of spaces, empty items dropped). */
void dc_strlist_add_csv(struct dc_strlist *l, const char *csv);

/* Free every item and the array; `l` is then empty. */
void dc_strlist_clear(struct dc_strlist *l);

#endif
