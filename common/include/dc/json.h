#ifndef DC_JSON_H
#define DC_JSON_H

/* JSON helpers over cJSON: bounded, strict parsing of untrusted documents, typed field getters
 * with messages that name the field, and a string-literal encoder for hand-written encoders.
 *
 * All functions are thread-safe apart from cJSON's own error global (cJSON 1.7 stores the last
 * parse error position in a static; dc_json_parse never reads it, but TSan may see the write). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dc/buf.h"
#include "dc/err.h"

/* Parse the `len` bytes at `data` (need not be NUL-terminated; nothing past `len` is read) as
 * one JSON value (RFC 8259), with surrounding whitespace allowed and nothing else after it.
 *
 * Stricter than cJSON alone: nesting deeper than DC_MAX_DOC_DEPTH, invalid UTF-8 in strings,
 * raw control characters in strings, "\u0000" escapes (cJSON strings are C strings and would be
 * cut), numbers outside the JSON grammar ("01", "1.", ".5", "+1") and any non-ASCII byte
 * outside strings (a BOM included) are rejected. Numbers are doubles (cJSON): beyond the double
 * range they become infinity, which dc_json_print writes as null.
 *
 * On success `*out` is a new tree owned by the caller (cJSON_Delete). On failure `*out` is
 * untouched and `eb` (may be NULL) reads "invalid JSON at offset N (line L, column C): why".
 * Returns DC_OK, DC_ETOOBIG (len > max_len), DC_EPARSE, DC_ENOMEM (the document is copied
 * once to add the NUL that cJSON needs; that input-sized allocation may fail). */
int dc_json_parse(const char *data, size_t len, size_t max_len, cJSON **out,
                  struct dc_errbuf *eb) DC_MUST_CHECK;

/* Typed getters of member `key` of object `obj`, all borrowed from the tree.
 *
 * A member that is absent or JSON null counts as absent (as Go's encoding/json leaves such
 * fields zero): when `required` is false the result is DC_OK with `*out` set to NULL for the
 * pointer getters and left untouched for the value getters (so preset defaults survive); when
 * `required` is true it is DC_EINVAL `field "key" is required`. A member of the wrong type is
 * DC_EINVAL `field "key" must be a string` (number, integer, boolean, object, array). `obj`
 * must be a JSON object (else DC_EINVAL). Keys match case-sensitively; with duplicate keys the
 * first wins. */
int dc_json_get_string(const cJSON *obj, const char *key, bool required, const char **out,
                       struct dc_errbuf *eb) DC_MUST_CHECK;
/* An integral number in [min, max] (DC_ERANGE outside, naming the bounds). Numeric strings are
 * not accepted. Integers of magnitude 2^53 or more are rejected with DC_ERANGE: cJSON keeps
 * numbers as doubles, which cannot hold them exactly. */
int dc_json_get_int(const cJSON *obj, const char *key, bool required, int64_t min, int64_t max,
                    int64_t *out, struct dc_errbuf *eb) DC_MUST_CHECK;
int dc_json_get_bool(const cJSON *obj, const char *key, bool required, bool *out,
                     struct dc_errbuf *eb) DC_MUST_CHECK;
int dc_json_get_double(const cJSON *obj, const char *key, bool required, double *out,
                       struct dc_errbuf *eb) DC_MUST_CHECK;
int dc_json_get_object(const cJSON *obj, const char *key, bool required, const cJSON **out,
                       struct dc_errbuf *eb) DC_MUST_CHECK;
int dc_json_get_array(const cJSON *obj, const char *key, bool required, const cJSON **out,
                      struct dc_errbuf *eb) DC_MUST_CHECK;

/* Append the `n` bytes at `s` to `b` as a JSON string literal, quotes included. `"` and `\` are
 * escaped, \b \f \n \r \t use their short forms, other control characters become \u00XX, and
 * U+2028/U+2029 become \u2028/\u2029 (as Go's encoder). Valid UTF-8 is copied as is; each byte
 * of an invalid sequence becomes \ufffd (as Go). `s` may contain NUL (then \u0000).
 *
 * Returns DC_OK, or DC_ETOOBIG when `b` would pass its limit; `b` is then unchanged. */
int dc_json_append_string(struct dc_buf *b, const char *s, size_t n) DC_MUST_CHECK;

/* The length of the longest prefix of the `n` bytes at `s` made of printable ASCII other than
 * '"' and '\\': the bytes a JSON string literal holds as they are (16 or 8 at a time). */
size_t dc_json_plain_span(const char *s, size_t n);

/* Append `"key":"val"` (preceded by ',' when `comma`) to `b`; a NULL `val` is written as null.
 * Both strings are NUL-terminated and encoded as dc_json_append_string. Returns DC_OK or
 * DC_ETOOBIG (`b` unchanged). */
int dc_json_append_kv_string(struct dc_buf *b, const char *key, const char *val,
                             bool comma) DC_MUST_CHECK;

/* `v` as compact JSON text (cJSON_PrintUnformatted). The caller frees the result with free().
 * NULL only for a NULL `v`; running out of memory aborts (dc_x* policy). */
char *dc_json_print(const cJSON *v);

#endif /* DC_JSON_H */
