#include "dc/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dc_strerror(int code)
{
    switch (code) {
#define DC__ERR_CASE(name, value, str)                                                             \
    case value:                                                                                    \
        return str;
        DC_ERRORS(DC__ERR_CASE)
#undef DC__ERR_CASE
    default:
        return "unknown error";
    }
}

int dc_err_set(struct dc_errbuf *eb, int code, const char *fmt, ...)
{
    va_list ap;

    if (eb == NULL)
        return code;
    va_start(ap, fmt);
    vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
    va_end(ap);
    return code;
}

void dc_err_wrapf(struct dc_errbuf *eb, const char *fmt, ...)
{
    char ctx[DC_ERRBUF_LEN];
    char old[DC_ERRBUF_LEN];
    va_list ap;

    if (eb == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    if (eb->msg[0] == '\0') {
        memcpy(eb->msg, ctx, sizeof(ctx));
        return;
    }
    memcpy(old, eb->msg, sizeof(old));
    /* Built piecewise: snprintf("%s: %s") would trip -Wformat-truncation on a deliberate cut. */
    {
        size_t n = strlen(ctx);
        memcpy(eb->msg, ctx, n);
        if (n + 2 < sizeof(eb->msg)) {
            memcpy(eb->msg + n, ": ", 2);
            n += 2;
            size_t m = strlen(old);
            if (m > sizeof(eb->msg) - 1 - n)
                m = sizeof(eb->msg) - 1 - n;
            memcpy(eb->msg + n, old, m);
            n += m;
        }
        eb->msg[n < sizeof(eb->msg) ? n : sizeof(eb->msg) - 1] = '\0';
    }
}

void dc_err_clear(struct dc_errbuf *eb)
{
    if (eb != NULL)
        eb->msg[0] = '\0';
}

void dc__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
