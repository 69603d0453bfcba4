#ifndef DC_STR_H
#define DC_STR_H

/* Small string helpers that the C library lacks or spells unsafely. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc/err.h"

/* Copy at most size-1 bytes and always NUL-terminate (size > 0). Returns strlen(src), so a
 * result >= size means the copy was cut. */
size_t dc_strlcpy(char *dst, const char *src, size_t size);

bool dc_str_eq(const char *a, const char *b);    /* NULL-safe */
bool dc_str_eq_ci(const char *a, const char *b); /* ASCII case-insensitive, NULL-safe */
bool dc_str_has_prefix(const char *s, const char *prefix);
bool dc_str_has_suffix(const char *s, const char *suffix);
bool dc_str_empty(const char *s); /* NULL or "" */

/* Parse a whole decimal integer in [min, max]; leading/trailing space and junk are errors. */
int dc_str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out) DC_MUST_CHECK;
/* Parse a Go strconv.ParseBool value: 1 t T TRUE true True 0 f F FALSE false False. */
int dc_str_to_bool(const char *s, bool *out) DC_MUST_CHECK;
/* true for "1", "t", "true", "y", "yes", "on" (any case): environment-variable truthiness. */
bool dc_str_truthy(const char *s);

/* True when the `n` bytes at `s` are valid UTF-8 (no overlongs, no surrogates). */
bool dc_utf8_valid(const char *s, size_t n);

#endif /* DC_STR_H */
