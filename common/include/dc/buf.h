#ifndef DC_BUF_H
#define DC_BUF_H

/* Growable byte buffer with a hard maximum size (curl's dynbuf).
 *
 * The struct is public so callers can embed it or keep it on the stack. All-zero is a valid empty
 * buffer with no explicit limit; dc_buf_init sets a limit. The content is always NUL-terminated
 * once anything was appended, so text can be used as a C string; `len` excludes that NUL.
 * Appending past `max` fails with DC_ETOOBIG and leaves the buffer unchanged. */

#include <stdarg.h>
#include <stddef.h>

#include "dc/err.h"

struct dc_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = no limit beyond memory */
};

void dc_buf_init(struct dc_buf *b, size_t max);
/* Release the storage; `b` is all-zero (limit kept) afterwards. */
void dc_buf_cleanup(struct dc_buf *b);
/* Forget the content but keep the storage. */
void dc_buf_reset(struct dc_buf *b);

int dc_buf_append(struct dc_buf *b, const void *p, size_t n) DC_MUST_CHECK;
int dc_buf_appends(struct dc_buf *b, const char *s) DC_MUST_CHECK;
int dc_buf_appendc(struct dc_buf *b, char c) DC_MUST_CHECK;
int dc_buf_appendf(struct dc_buf *b, const char *fmt, ...) DC_PRINTF(2, 3) DC_MUST_CHECK;
int dc_buf_vappendf(struct dc_buf *b, const char *fmt, va_list ap) DC_PRINTF(2, 0) DC_MUST_CHECK;
/* Make room for `n` more bytes without changing len. */
int dc_buf_reserve(struct dc_buf *b, size_t n) DC_MUST_CHECK;

/* The content as a C string ("" when empty). Borrowed until the next mutation. */
const char *dc_buf_cstr(const struct dc_buf *b);

/* Move the storage out (caller frees with free(); "" for an empty buffer is still a fresh
 * allocation) and reset `b`. `*len` (may be NULL) receives the length. */
char *dc_buf_take(struct dc_buf *b, size_t *len);

#endif /* DC_BUF_H */
