#ifndef DC_ERR_H
#define DC_ERR_H

/* Error codes of libdc and of every daprc service.
 *
 * Functions return DC_OK (0) or one negative DC_E* code. Detail for a human goes into an optional
 * struct dc_errbuf passed as the last parameter; a NULL errbuf is always allowed. The codes and
 * their short strings live in the one X-macro table below. */

#include <stdarg.h>
#include <stddef.h>

#define DC_ERRORS(X)                                                                               \
    X(DC_OK, 0, "ok")                                                                              \
    X(DC_ENOMEM, -1, "out of memory")                                                              \
    X(DC_EINVAL, -2, "invalid argument")                                                           \
    X(DC_EPARSE, -3, "parse error")                                                                \
    X(DC_ETOOBIG, -4, "too big")                                                                   \
    X(DC_EIO, -5, "i/o error")                                                                     \
    X(DC_ETLS, -6, "tls error")                                                                    \
    X(DC_ETIMEDOUT, -7, "timed out")                                                               \
    X(DC_ENOTFOUND, -8, "not found")                                                               \
    X(DC_ENOTLEADER, -9, "not the leader")                                                         \
    X(DC_EAGAIN, -10, "try again")                                                                 \
    X(DC_EEXIST, -11, "already exists")                                                            \
    X(DC_ECANCELED, -12, "canceled")                                                               \
    X(DC_EUNSUPPORTED, -13, "not supported")                                                       \
    X(DC_ECONFLICT, -14, "conflict")                                                               \
    X(DC_EPERM, -15, "permission denied")                                                          \
    X(DC_EUNAVAIL, -16, "unavailable")                                                             \
    X(DC_ERANGE, -17, "out of range")                                                              \
    X(DC_EINTERNAL, -18, "internal error")

enum dc_err {
#define DC__ERR_ENUM(name, value, str) name = value,
    DC_ERRORS(DC__ERR_ENUM)
#undef DC__ERR_ENUM
};

#define DC_ERRBUF_LEN 256

/* Caller-owned detail buffer; all-zero is an empty message. */
struct dc_errbuf {
    char msg[DC_ERRBUF_LEN];
};

#if defined(__GNUC__)
#define DC_MUST_CHECK __attribute__((warn_unused_result))
#define DC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define DC_NORETURN __attribute__((noreturn))
#else
#define DC_MUST_CHECK
#define DC_PRINTF(a, b)
#define DC_NORETURN
#endif

/* DC_TESTABLE marks a file-local function that unit tests may call (curl's UNITTEST). */
#ifdef DC_TESTING
#define DC_TESTABLE
#else
#define DC_TESTABLE static
#endif

/* Short static string for `code` ("unknown error" for codes outside the table). */
const char *dc_strerror(int code);

/* Format a message into `eb` (may be NULL) and return `code`, so that failing paths read
 * `return dc_err_set(eb, DC_EINVAL, "bad port %d", p);`. */
int dc_err_set(struct dc_errbuf *eb, int code, const char *fmt, ...) DC_PRINTF(3, 4);

/* Prefix the message already in `eb` with context: "ctx: old message". No-op when `eb` is NULL.
 * When `eb` is empty the context alone is kept. Truncates silently to DC_ERRBUF_LEN. */
void dc_err_wrapf(struct dc_errbuf *eb, const char *fmt, ...) DC_PRINTF(2, 3);

/* Reset `eb` to the empty message. */
void dc_err_clear(struct dc_errbuf *eb);

/* Abort with a message when an invariant does not hold. Stays on in every build. */
DC_NORETURN void dc__assert_fail(const char *expr, const char *file, int line);
#define DC_ASSERT(x) ((x) ? (void)0 : dc__assert_fail(#x, __FILE__, __LINE__))
#ifdef NDEBUG
#define DC_DASSERT(x) ((void)0)
#else
#define DC_DASSERT(x) DC_ASSERT(x)
#endif
/* A defensive branch that should never be taken: true in release, asserts in debug. */
#define DC_NEVER(x) (DC_DASSERT(!(x)), (x))

#endif /* DC_ERR_H */
