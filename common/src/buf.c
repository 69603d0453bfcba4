#include "dc/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"

void dc_buf_init(struct dc_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void dc_buf_cleanup(struct dc_buf *b)
{
    size_t max = b->max;

    free(b->data);
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void dc_buf_reset(struct dc_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

int dc_buf_reserve(struct dc_buf *b, size_t n)
{
    size_t need, cap;

    if (n > (size_t)-1 / 2 - b->len)
        return DC_ETOOBIG;
    need = b->len + n + 1; /* room for the NUL */
    if (b->max != 0 && b->len + n > b->max)
        return DC_ETOOBIG;
    if (need <= b->cap)
        return DC_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (b->max != 0 && cap > b->max + 1)
        cap = b->max + 1;
    b->data = dc_xrealloc(b->data, cap);
    b->cap = cap;
    return DC_OK;
}

int dc_buf_append(struct dc_buf *b, const void *p, size_t n)
{
    int rv = dc_buf_reserve(b, n);

    if (rv != DC_OK)
        return rv;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return DC_OK;
}

int dc_buf_appends(struct dc_buf *b, const char *s)
{
    return dc_buf_append(b, s, strlen(s));
}

int dc_buf_appendc(struct dc_buf *b, char c)
{
    return dc_buf_append(b, &c, 1);
}

int dc_buf_vappendf(struct dc_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n, rv;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return DC_EINVAL;
    rv = dc_buf_reserve(b, (size_t)n);
    if (rv != DC_OK)
        return rv;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return DC_OK;
}

int dc_buf_appendf(struct dc_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rv;

    va_start(ap, fmt);
    rv = dc_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rv;
}

const char *dc_buf_cstr(const struct dc_buf *b)
{
    return b->data != NULL ? b->data : "";
}

char *dc_buf_take(struct dc_buf *b, size_t *len)
{
    char *p = b->data;
    size_t max = b->max;

    if (len != NULL)
        *len = b->len;
    if (p == NULL)
        p = dc_xstrdup("");
    memset(b, 0, sizeof(*b));
    b->max = max;
    return p;
}
