/* JSON over cJSON: a strict pre-scan (depth, UTF-8, number grammar, stray bytes) gives precise
 * error offsets and closes cJSON's leniencies; cJSON then builds the tree. */
#include "dc/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/str.h"

#define STR(x) #x
#define XSTR(x) STR(x)

/* ---- Parsing -------------------------------------------------------------------------------- */

struct scan {
    const unsigned char *p;
    size_t len;
    size_t err_off; /* where the problem is, when `why` is set */
    const char *why;
};

static bool scan_fail(struct scan *sc, size_t off, const char *why)
{
    sc->err_off = off;
    sc->why = why;
    return false;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of the UTF-8 sequence led by byte `c` (1 for ASCII), 0 for a byte that cannot lead. */
static size_t utf8_lead_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 0;
}

/* A string whose opening quote is at `*i`; leaves `*i` after the closing quote. */
static bool scan_string(struct scan *sc, size_t *i)
{
    size_t start = *i, j = *i + 1;

    while (j < sc->len) {
        unsigned char c = sc->p[j];
        if (c == '"') {
            *i = j + 1;
            return true;
        } else if (c == '\\') {
            if (j + 1 >= sc->len)
                break;
            c = sc->p[j + 1];
            if (c == 'u') {
                int v = 0;
                for (size_t k = 2; k < 6; k++) {
                    int h = j + k < sc->len ? hex_value(sc->p[j + k]) : -1;
                    if (h < 0)
                        return scan_fail(sc, j, "invalid \\u escape");
                    v = v * 16 + h;
                }
                /* cJSON strings end at NUL: "\u0000" would silently cut the value. */
                if (v == 0)
                    return scan_fail(sc, j, "\\u0000 in strings is not supported");
                j += 6;
            } else if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' &&
                       c != 'r' && c != 't') {
                return scan_fail(sc, j, "invalid escape");
            } else {
                j += 2;
            }
        } else if (c < 0x20) {
            return scan_fail(sc, j, "control character in string");
        } else if (c < 0x80) {
            j++;
        } else {
            size_t n = utf8_lead_len(c);
            if (n == 0 || n > sc->len - j || !dc_utf8_valid((const char *)sc->p + j, n))
                return scan_fail(sc, j, "invalid UTF-8 in string");
            j += n;
        }
    }
    return scan_fail(sc, start, "unterminated string");
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?, and no number character
 * right after it (cJSON would accept "01" and "1."). */
static bool scan_number(struct scan *sc, size_t *i)
{
    const unsigned char *p = sc->p;
    size_t start = *i, j = *i, n = sc->len;

    if (j < n && p[j] == '-')
        j++;
    if (j < n && p[j] == '0') {
        j++;
    } else if (j < n && is_digit(p[j])) {
        while (j < n && is_digit(p[j]))
            j++;
    } else {
        return scan_fail(sc, start, "invalid number");
    }
    if (j < n && p[j] == '.') {
        j++;
        if (j >= n || !is_digit(p[j]))
            return scan_fail(sc, start, "invalid number");
        while (j < n && is_digit(p[j]))
            j++;
    }
    if (j < n && (p[j] == 'e' || p[j] == 'E')) {
        j++;
        if (j < n && (p[j] == '+' || p[j] == '-'))
            j++;
        if (j >= n || !is_digit(p[j]))
            return scan_fail(sc, start, "invalid number");
        while (j < n && is_digit(p[j]))
            j++;
    }
    if (j < n &&
        (is_digit(p[j]) || p[j] == '.' || p[j] == 'e' || p[j] == 'E' || p[j] == '+' || p[j] == '-'))
        return scan_fail(sc, start, "invalid number");
    *i = j;
    return true;
}

/* One pass over the document before cJSON sees it: nesting depth, strings, numbers, and bytes
 * that JSON never allows outside strings. Structure itself is left to cJSON. */
static bool json_prescan(struct scan *sc)
{
    size_t depth = 0, i = 0;

    while (i < sc->len) {
        unsigned char c = sc->p[i];
        if (c == '"') {
            if (!scan_string(sc, &i))
                return false;
            continue;
        }
        if (c == '-' || is_digit(c)) {
            if (!scan_number(sc, &i))
                return false;
            continue;
        }
        if (c == '[' || c == '{') {
            if (++depth > DC_MAX_DOC_DEPTH)
                return scan_fail(sc, i, "nesting deeper than " XSTR(DC_MAX_DOC_DEPTH));
        } else if (c == ']' || c == '}') {
            if (depth > 0)
                depth--;
        } else if (c >= 0x80 || (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r')) {
            return scan_fail(sc, i, "unexpected byte");
        }
        i++;
    }
    return true;
}

static int parse_error(struct dc_errbuf *eb, const char *data, size_t len, size_t off,
                       const char *why)
{
    size_t line = 1, col = 1;

    for (size_t i = 0; i < off && i < len; i++) {
        if (data[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return dc_err_set(eb, DC_EPARSE, "invalid JSON at offset %zu (line %zu, column %zu): %s", off,
                      line, col, why);
}

int dc_json_parse(const char *data, size_t len, size_t max_len, cJSON **out, struct dc_errbuf *eb)
{
    struct scan sc = {(const unsigned char *)data, len, 0, NULL};
    const char *end = NULL;
    char *copy;
    cJSON *root;
    size_t off;

    if (len > max_len)
        return dc_err_set(eb, DC_ETOOBIG, "JSON document of %zu bytes exceeds the limit of %zu",
                          len, max_len);
    if (!json_prescan(&sc))
        return parse_error(eb, data, len, sc.err_off, sc.why);
    /* cJSON wants the terminating NUL inside the length to reject trailing garbage. */
    copy = dc_malloc(len + 1);
    if (copy == NULL)
        return dc_err_set(eb, DC_ENOMEM, "no memory for a JSON document of %zu bytes", len);
    if (len > 0)
        memcpy(copy, data, len);
    copy[len] = '\0';
    root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (root == NULL) {
        off =
            end != NULL && end >= copy && (size_t)(end - copy) <= len ? (size_t)(end - copy) : len;
        free(copy);
        return parse_error(eb, data, len, off,
                           off >= len ? "unexpected end of input" : "syntax error");
    }
    free(copy);
    *out = root;
    return DC_OK;
}

/* ---- Getters -------------------------------------------------------------------------------- */

/* The member `key`, or NULL (DC_OK) when absent or null and not required. */
static int lookup(const cJSON *obj, const char *key, bool required, const cJSON **item,
                  struct dc_errbuf *eb)
{
    const cJSON *it;

    *item = NULL;
    if (!cJSON_IsObject(obj))
        return dc_err_set(eb, DC_EINVAL, "cannot read field \"%s\": not a JSON object", key);
    it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (it == NULL || cJSON_IsNull(it)) {
        if (required)
            return dc_err_set(eb, DC_EINVAL, "field \"%s\" is required", key);
        return DC_OK;
    }
    *item = it;
    return DC_OK;
}

static int wrong_type(struct dc_errbuf *eb, const char *key, const char *what)
{
    return dc_err_set(eb, DC_EINVAL, "field \"%s\" must be %s", key, what);
}

int dc_json_get_string(const cJSON *obj, const char *key, bool required, const char **out,
                       struct dc_errbuf *eb)
{
    const cJSON *it;
    int rv = lookup(obj, key, required, &it, eb);

    *out = NULL;
    if (rv != DC_OK || it == NULL)
        return rv;
    if (!cJSON_IsString(it))
        return wrong_type(eb, key, "a string");
    *out = it->valuestring;
    return DC_OK;
}

/* 2^53: from there on a double no longer holds every integer, so 2^53 itself may be a rounded
 * 2^53 + 1 (JavaScript's Number.MAX_SAFE_INTEGER is 2^53 - 1). */
#define EXACT_INT_LIMIT 9007199254740992.0

int dc_json_get_int(const cJSON *obj, const char *key, bool required, int64_t min, int64_t max,
                    int64_t *out, struct dc_errbuf *eb)
{
    const cJSON *it;
    int rv = lookup(obj, key, required, &it, eb);
    double d;
    int64_t v;

    if (rv != DC_OK || it == NULL)
        return rv;
    if (!cJSON_IsNumber(it))
        return wrong_type(eb, key, "an integer");
    d = it->valuedouble;
    if (!(d > -EXACT_INT_LIMIT && d < EXACT_INT_LIMIT)) {
        if (d != d) /* NaN cannot come from the parser, but trees can be built by hand */
            return wrong_type(eb, key, "an integer");
        return dc_err_set(eb, DC_ERANGE, "field \"%s\" is too large for an exact integer", key);
    }
    v = (int64_t)d;
    if ((double)v != d)
        return wrong_type(eb, key, "an integer");
    if (v < min || v > max)
        return dc_err_set(eb, DC_ERANGE, "field \"%s\" must be between %lld and %lld", key,
                          (long long)min, (long long)max);
    *out = v;
    return DC_OK;
}

int dc_json_get_bool(const cJSON *obj, const char *key, bool required, bool *out,
                     struct dc_errbuf *eb)
{
    const cJSON *it;
    int rv = lookup(obj, key, required, &it, eb);

    if (rv != DC_OK || it == NULL)
        return rv;
    if (!cJSON_IsBool(it))
        return wrong_type(eb, key, "a boolean");
    *out = cJSON_IsTrue(it);
    return DC_OK;
}

int dc_json_get_double(const cJSON *obj, const char *key, bool required, double *out,
                       struct dc_errbuf *eb)
{
    const cJSON *it;
    int rv = lookup(obj, key, required, &it, eb);

    if (rv != DC_OK || it == NULL)
        return rv;
    if (!cJSON_IsNumber(it))
        return wrong_type(eb, key, "a number");
    *out = it->valuedouble;
    return DC_OK;
}

int dc_json_get_object(const cJSON *obj, const char *key, bool required, const cJSON **out,
                       struct dc_errbuf *eb)
{
    const cJSON *it;
    int rv = lookup(obj, key, required, &it, eb);

    *out = NULL;
    if (rv != DC_OK || it == NULL)
        return rv;
    if (!cJSON_IsObject(it))
        return wrong_type(eb, key, "an object");
    *out = it;
    return DC_OK;
}

int dc_json_get_array(const cJSON *obj, const char *key, bool required, const cJSON **out,
                      struct dc_errbuf *eb)
{
    const cJSON *it;
    int rv = lookup(obj, key, required, &it, eb);

    *out = NULL;
    if (rv != DC_OK || it == NULL)
        return rv;
    if (!cJSON_IsArray(it))
        return wrong_type(eb, key, "an array");
    *out = it;
    return DC_OK;
}

/* ---- Encoding ------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at `s` (at most `n` bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = utf8_lead_len(s[0]);

    if (len < 2 || len > n || !dc_utf8_valid((const char *)s, len))
        return 0;
    return len;
}

/* The escape for byte `c` (which needs one) into `esc`; returns its length. */
static size_t escape_byte(unsigned char c, char esc[8])
{
    static const char hex[] = "0123456789abcdef";
    const char *shortform = NULL;

    switch (c) {
    case '"':
        shortform = "\\\"";
        break;
    case '\\':
        shortform = "\\\\";
        break;
    case '\b':
        shortform = "\\b";
        break;
    case '\f':
        shortform = "\\f";
        break;
    case '\n':
        shortform = "\\n";
        break;
    case '\r':
        shortform = "\\r";
        break;
    case '\t':
        shortform = "\\t";
        break;
    default:
        break;
    }
    if (shortform != NULL) {
        memcpy(esc, shortform, 2);
        return 2;
    }
    memcpy(esc, "\\u00", 4);
    esc[4] = hex[c >> 4];
    esc[5] = hex[c & 15];
    return 6;
}

/* Whether the next PLAIN_RUN bytes at `s` are all printable ASCII other than '"' and '\\' (bytes a
 * JSON string holds as they are): SSE2 compares where there are, else the usual
 * SWAR zero-byte and less-than tests on 8 bytes. */
#ifdef __SSE2__
#define PLAIN_RUN 16
static bool plain_run(const unsigned char *s)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
    /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" flags them too. */
    __m128i m = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));

    return _mm_movemask_epi8(m) == 0;
}
#else
#define PLAIN_RUN 8
static bool plain_run(const unsigned char *s)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t x, q, b;

    memcpy(&x, s, 8);
    q = x ^ (ones * '"');
    b = x ^ (ones * '\\');
    return ((((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x) | x) & highs) == 0;
}
#endif

size_t dc_json_plain_span(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (n - i >= PLAIN_RUN && plain_run(s + i))
        i += PLAIN_RUN;
    while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

static int append_literal(struct dc_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;
    /* Room for the literal when nothing needs escaping (the usual case, and never more than
     * the result): one check instead of one per piece. */
    int rv = dc_buf_reserve(b, n + 2);

    if (rv != DC_OK)
        return rv;
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
    while (rv == DC_OK && i < n) {
        unsigned char c;
        char esc[8];
        size_t elen, used = 1;

        i += dc_json_plain_span(str + i, n - i);
        if (i == n)
            break;
        c = s[i];
        if (c >= 0x80) {
            used = utf8_seq(s + i, n - i);
            /* U+2028 and U+2029 break JavaScript string literals; Go escapes them too. */
            if (used == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] & 0xFE) == 0xA8) {
                memcpy(esc, s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
                elen = 6;
            } else if (used > 0) {
                i += used;
                continue;
            } else {
                memcpy(esc, "\\ufffd", 6);
                elen = 6;
                used = 1;
            }
        } else {
            elen = escape_byte(c, esc);
        }
        rv = dc_buf_append(b, s + run, i - run);
        if (rv == DC_OK)
            rv = dc_buf_append(b, esc, elen);
        i += used;
        run = i;
    }
    if (rv == DC_OK)
        rv = dc_buf_append(b, s + run, i - run);
    if (rv == DC_OK)
        rv = dc_buf_appendc(b, '"');
    return rv;
}

/* Undo a partial append so a failed call leaves `b` as it was. */
static void buf_truncate(struct dc_buf *b, size_t len)
{
    if (b->data != NULL && b->len > len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

int dc_json_append_string(struct dc_buf *b, const char *s, size_t n)
{
    size_t start = b->len;
    int rv = append_literal(b, s, n);

    if (rv != DC_OK)
        buf_truncate(b, start);
    return rv;
}

/* Write the `n` bytes at `p` at `w` (room checked by the caller); returns the end. */
static char *put_bytes(char *w, const char *p, size_t n)
{
    memcpy(w, p, n);
    return w + n;
}

int dc_json_append_kv_string(struct dc_buf *b, const char *key, const char *val, bool comma)
{
    size_t start = b->len, kl = strlen(key), vl = val != NULL ? strlen(val) : 0;
    int rv = DC_OK;

    /* The usual pair needs no escaping: one reserve for the exact size, written in place. */
    if (val != NULL && dc_json_plain_span(key, kl) == kl && dc_json_plain_span(val, vl) == vl) {
        char *w;
        rv = dc_buf_reserve(b, kl + vl + 5 + (comma ? 1 : 0));
        if (rv != DC_OK)
            return rv;
        w = b->data + b->len;
        if (comma)
            *w++ = ',';
        *w++ = '"';
        w = put_bytes(w, key, kl);
        w = put_bytes(w, "\":\"", 3);
        w = put_bytes(w, val, vl);
        *w++ = '"';
        *w = '\0';
        b->len = (size_t)(w - b->data);
        return DC_OK;
    }

    if (comma)
        rv = dc_buf_appendc(b, ',');
    if (rv == DC_OK)
        rv = append_literal(b, key, strlen(key));
    if (rv == DC_OK)
        rv = dc_buf_appendc(b, ':');
    if (rv == DC_OK)
        rv = val != NULL ? append_literal(b, val, strlen(val)) : dc_buf_appends(b, "null");
    if (rv != DC_OK)
        buf_truncate(b, start);
    return rv;
}

char *dc_json_print(const cJSON *v)
{
    char *s;

    if (v == NULL)
        return NULL;
    s = cJSON_PrintUnformatted(v);
    /* cJSON fails only when an allocation fails; abort as the dc_x* allocators do. */
    DC_ASSERT(s != NULL);
    return s;
}
