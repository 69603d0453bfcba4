/* cJSON for the webhook's hot path.
 *
 * Output: cJSON values as compact JSON text, byte for byte what cJSON_PrintUnformatted produces,
 * but appended to a dc_buf: no intermediate string, no realloc chain per value, and integers
 * without the printf/sscanf round trip cJSON does for every number.
 *
 * Memory: a review builds two trees of a few hundred nodes (the request, the patch) and drops
 * both at the end; with cJSON's hooks pointed here, the nodes of a thread inside
 * inj__json_arena_swap come from the request's arena (one bump each, freed at once). */

#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/arena.h"
#include "dc/buf.h"
#include "internal.h"

/* The arena cJSON allocates from on this thread; NULL: the C heap. */
static _Thread_local struct dc_arena *json_arena;
/* Set by inj_json_memory_init: without the hooks, trees made in a window are on the heap. */
static bool hooks_installed;

static void *json_malloc(size_t n)
{
    return json_arena != NULL ? dc_arena_alloc(json_arena, n) : malloc(n);
}

/* Arena nodes go with the arena. Memory from before the swap is never freed inside it: the
 * webhook deletes only trees it made there (inj__json_arena_swap's contract). */
static void json_free(void *p)
{
    if (json_arena == NULL)
        free(p);
}

void inj_json_memory_init(void)
{
    cJSON_Hooks hooks = {json_malloc, json_free};

    cJSON_InitHooks(&hooks);
    hooks_installed = true;
}

void inj__json_drop(cJSON *tree)
{
    if (json_arena == NULL || !hooks_installed)
        cJSON_Delete(tree);
}

struct dc_arena *inj__json_arena_swap(struct dc_arena *a)
{
    struct dc_arena *prev = json_arena;

    json_arena = a;
    return prev;
}

/* dc_buf_append, inline while the reserved room suffices (the usual case: the callers reserve
 * the size of a typical answer up front). */
static inline int put(struct dc_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len > n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return DC_OK;
    }
    return dc_buf_append(b, p, n);
}

static inline int putc1(struct dc_buf *b, char c)
{
    return put(b, &c, 1);
}

/* cJSON's string literal: `"` and `\` escaped, \b \f \n \r \t short, other bytes below 0x20 as
 * \u00xx (lower-case hex), every other byte as is. NULL prints as "". */
/* Bytes a JSON string cannot hold as is; NUL ends the scan too. */
static const bool needs_escape[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1,
};

int inj__json_write_string(struct dc_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    const unsigned char *run;
    char esc[6] = {'\\', 'u', '0', '0', 0, 0};
    int rv = putc1(b, '"');

    while (rv == DC_OK && *p != '\0') {
        for (run = p; !needs_escape[*p]; p++)
            ;
        if (p > run)
            rv = put(b, run, (size_t)(p - run));
        if (rv != DC_OK || *p == '\0')
            break;
        switch (*p) {
        case '"':
        case '\\':
            esc[1] = (char)*p;
            rv = put(b, esc, 2);
            break;
        case '\b':
            rv = put(b, "\\b", 2);
            break;
        case '\f':
            rv = put(b, "\\f", 2);
            break;
        case '\n':
            rv = put(b, "\\n", 2);
            break;
        case '\r':
            rv = put(b, "\\r", 2);
            break;
        case '\t':
            rv = put(b, "\\t", 2);
            break;
        default:
            esc[1] = 'u';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xf];
            rv = put(b, esc, 6);
            break;
        }
        p++;
    }
    return rv == DC_OK ? putc1(b, '"') : rv;
}

/* cJSON's number: "null" for NaN and infinities, else "%1.15g", or "%1.17g" when the shorter
 * form does not read back as the same value. An integer below 1e15 in magnitude prints its
 * digits under "%1.15g", which is written here without printf. */
static int put_number(struct dc_buf *b, double d)
{
    char num[32], *p = num + sizeof(num);
    double test = 0.0;
    unsigned long long u;
    bool neg = d < 0;
    int n;

    if (isnan(d) || isinf(d))
        return put(b, "null", 4);
    if (d == floor(d) && fabs(d) < 1e15 && !(d == 0 && signbit(d))) {
        u = (unsigned long long)(neg ? -d : d);
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (neg)
            *--p = '-';
        return put(b, p, (size_t)(num + sizeof(num) - p));
    }
    n = snprintf(num, sizeof(num), "%1.15g", d);
    test = strtod(num, NULL);
    if (!(fabs(test - d) <= fmax(fabs(test), fabs(d)) * DBL_EPSILON))
        n = snprintf(num, sizeof(num), "%1.17g", d);
    if (n < 0 || (size_t)n >= sizeof(num))
        return DC_EINVAL;
    /* cJSON swaps the locale's decimal point for '.'; the injector runs in the C locale. */
    return put(b, num, (size_t)n);
}

int inj__json_write(struct dc_buf *b, const cJSON *v)
{
    const cJSON *c;
    int rv;

    if (v == NULL)
        return DC_EINVAL;
    switch (v->type & 0xff) {
    case cJSON_NULL:
        return put(b, "null", 4);
    case cJSON_False:
        return put(b, "false", 5);
    case cJSON_True:
        return put(b, "true", 4);
    case cJSON_Number:
        return put_number(b, v->valuedouble);
    case cJSON_String:
        return inj__json_write_string(b, v->valuestring);
    case cJSON_Raw:
        if (v->valuestring == NULL)
            return DC_EINVAL;
        return put(b, v->valuestring, strlen(v->valuestring));
    case cJSON_Array:
    case cJSON_Object:
        rv = putc1(b, cJSON_IsArray(v) ? '[' : '{');
        for (c = v->child; rv == DC_OK && c != NULL; c = c->next) {
            if (c != v->child)
                rv = putc1(b, ',');
            if (rv == DC_OK && cJSON_IsObject(v)) {
                rv = inj__json_write_string(b, c->string);
                if (rv == DC_OK)
                    rv = putc1(b, ':');
            }
            if (rv == DC_OK)
                rv = inj__json_write(b, c);
        }
        return rv == DC_OK ? putc1(b, cJSON_IsArray(v) ? ']' : '}') : rv;
    default:
        return DC_EINVAL;
    }
}
