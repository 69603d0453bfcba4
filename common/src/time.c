/* Time and size notations: Go durations, ISO 8601 durations, RFC 3339, Kubernetes quantities.
 * The behaviour follows Go's time package and Kubernetes' resource.Quantity (see
 * docs/internals/time.md); the code is written from those specifications. */
#include "dc/time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dc/limits.h"

#define U63 (UINT64_C(1) << 63)

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Copy `s` into `out` for an error message: printable ASCII kept, other bytes as \xNN, cut
 * with "..." past about 60 bytes, so hostile input cannot flood or corrupt a log line. */
static const char *quote(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t w = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (w + 8 >= cap) {
            memcpy(out + w, "...", 3);
            w += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[w++] = (char)c;
        } else {
            out[w++] = '\\';
            out[w++] = 'x';
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        }
    }
    out[w] = '\0';
    return out;
}

#define QUOTE_LEN 72

static int fail(struct dc_errbuf *eb, int code, const char *what, const char *input)
{
    char q[QUOTE_LEN];

    return dc_err_set(eb, code, "%s \"%s\"", what, quote(input, q, sizeof(q)));
}

/* ---- Go durations ---------------------------------------------------------------------- */

struct unit {
    const char *name;
    uint64_t ns;
};

static const struct unit duration_units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 MICRO SIGN */
    {"\xce\xbcs", 1000}, /* U+03BC GREEK SMALL LETTER MU */
    {"ms", 1000000},
    {"s", 1000000000},
    {"m", UINT64_C(60000000000)},
    {"h", UINT64_C(3600000000000)},
};

static uint64_t unit_lookup(const char *u, size_t n)
{
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
        if (strlen(duration_units[i].name) == n && memcmp(duration_units[i].name, u, n) == 0)
            return duration_units[i].ns;
    }
    return 0;
}

/* One "<number><unit>" element of a duration; adds its magnitude to `*total`. Returns DC_OK,
 * DC_EPARSE or DC_ERANGE (message left to the caller: `*why` names the problem). */
static int duration_element(const char **pp, uint64_t *total, const char **why)
{
    const char *p = *pp;
    const char *start = p;
    uint64_t v = 0, f = 0, unit;
    double scale = 1;
    bool int_digits, frac_digits = false, frac_full = false;
    size_t ulen = 0;

    if (!(*p == '.' || is_digit(*p))) {
        *why = "invalid duration";
        return DC_EPARSE;
    }
    for (; is_digit(*p); p++) {
        if (v > U63 / 10 || v * 10 + (uint64_t)(*p - '0') > U63) {
            *why = "duration out of range";
            return DC_ERANGE;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    int_digits = p != start;
    if (*p == '.') {
        /* Like Go, fraction digits past uint64 precision are consumed but ignored. */
        for (p++; is_digit(*p); p++) {
            frac_digits = true;
            if (frac_full || f > (U63 - 1) / 10 || f * 10 + (uint64_t)(*p - '0') > U63) {
                frac_full = true;
                continue;
            }
            f = f * 10 + (uint64_t)(*p - '0');
            scale *= 10;
        }
    }
    if (!int_digits && !frac_digits) { /* ".s", "-.s" */
        *why = "invalid duration";
        return DC_EPARSE;
    }
    while (p[ulen] != '\0' && p[ulen] != '.' && !is_digit(p[ulen]))
        ulen++;
    if (ulen == 0) {
        *why = "missing unit in duration";
        return DC_EPARSE;
    }
    unit = unit_lookup(p, ulen);
    if (unit == 0) {
        *why = "unknown unit in duration";
        return DC_EPARSE;
    }
    if (v > U63 / unit) {
        *why = "duration out of range";
        return DC_ERANGE;
    }
    v *= unit;
    if (f > 0) {
        /* Go computes the fraction in float64 (exact to the nanosecond for every unit up to
         * hours); the same steps give the same result. */
        v += (uint64_t)((double)f * ((double)unit / scale));
        if (v > U63) {
            *why = "duration out of range";
            return DC_ERANGE;
        }
    }
    *total += v;
    if (*total > U63) {
        *why = "duration out of range";
        return DC_ERANGE;
    }
    *pp = p + ulen;
    return DC_OK;
}

int dc_duration_parse(const char *s, int64_t *ns, struct dc_errbuf *eb)
{
    const char *p = s;
    const char *why = NULL;
    uint64_t total = 0;
    bool neg = false;
    int rv;

    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return DC_OK;
    }
    if (*p == '\0')
        return fail(eb, DC_EPARSE, "invalid duration", s);
    while (*p != '\0') {
        rv = duration_element(&p, &total, &why);
        if (rv != DC_OK)
            return fail(eb, rv, why, s);
    }
    if (neg) {
        *ns = total == U63 ? INT64_MIN : -(int64_t)total;
        return DC_OK;
    }
    if (total > (uint64_t)INT64_MAX)
        return fail(eb, DC_ERANGE, "duration out of range", s);
    *ns = (int64_t)total;
    return DC_OK;
}

/* Write the fraction digits of `v` (the low `prec` decimal digits) right-aligned before `w`,
 * trailing zeros dropped and no '.' when all are zero. Returns the new start; `*v` keeps the
 * integer part. */
static size_t put_frac(char *buf, size_t w, uint64_t *v, int prec)
{
    bool print = false;

    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(*v % 10);
        print = print || digit != 0;
        if (print)
            buf[--w] = (char)('0' + digit);
        *v /= 10;
    }
    if (print)
        buf[--w] = '.';
    return w;
}

static size_t put_int(char *buf, size_t w, uint64_t v)
{
    do {
        buf[--w] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return w;
}

static int copy_out(const char *src, size_t n, char *out, size_t cap)
{
    if (n + 1 > cap) {
        if (cap > 0)
            out[0] = '\0';
        return DC_ETOOBIG;
    }
    memcpy(out, src, n);
    out[n] = '\0';
    return DC_OK;
}

int dc_duration_format(int64_t ns, char *out, size_t cap)
{
    char buf[40];
    size_t w = sizeof(buf);
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

    if (u < (uint64_t)DC_NS_PER_SEC) {
        /* Under a second: the largest unit that keeps an integer part, Go's "1.2ms". */
        int prec;
        buf[--w] = 's';
        if (u == 0) {
            buf[--w] = '0';
            return copy_out(buf + w, sizeof(buf) - w, out, cap);
        } else if (u < (uint64_t)DC_NS_PER_US) {
            prec = 0;
            buf[--w] = 'n';
        } else if (u < (uint64_t)DC_NS_PER_MS) {
            prec = 3;
            buf[--w] = '\xb5'; /* U+00B5 as Go writes it */
            buf[--w] = '\xc2';
        } else {
            prec = 6;
            buf[--w] = 'm';
        }
        w = put_frac(buf, w, &u, prec);
        w = put_int(buf, w, u);
    } else {
        buf[--w] = 's';
        w = put_frac(buf, w, &u, 9);
        w = put_int(buf, w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            w = put_int(buf, w, u % 60);
            u /= 60;
            /* Hours are the largest unit: days differ in length. */
            if (u > 0) {
                buf[--w] = 'h';
                w = put_int(buf, w, u);
            }
        }
    }
    if (ns < 0)
        buf[--w] = '-';
    return copy_out(buf + w, sizeof(buf) - w, out, cap);
}

int dc_duration_parse_ms_or_go(const char *s, int64_t *ns, struct dc_errbuf *eb)
{
    const char *p = s;
    uint64_t ms = 0;
    bool neg = false;

    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
        return dc_duration_parse(s, ns, eb);
    /* Dapr's Resiliency parser: strconv.ParseInt first, as milliseconds. */
    for (; *p != '\0'; p++) {
        ms = ms * 10 + (uint64_t)(*p - '0');
        if (ms > (U63 / (uint64_t)DC_NS_PER_MS))
            return fail(eb, DC_ERANGE, "millisecond timeout out of range", s);
    }
    *ns = (neg ? -(int64_t)ms : (int64_t)ms) * DC_NS_PER_MS;
    return DC_OK;
}

/* ---- ISO 8601 durations ------------------------------------------------------------------ */

/* Parse a run of digits as a non-negative int64; NULL when there is none or it overflows
 * (`*range` tells which). */
static const char *parse_i64(const char *p, int64_t *out, bool *range)
{
    int64_t v = 0;
    const char *start = p;

    for (; is_digit(*p); p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10) {
            *range = true;
            return NULL;
        }
        v = v * 10 + (*p - '0');
    }
    if (p == start)
        return NULL;
    *out = v;
    return p;
}

/* Add n * mult to *acc with overflow detection. */
static bool add_scaled(int64_t *acc, int64_t n, int64_t mult)
{
    int64_t t;

    if (__builtin_mul_overflow(n, mult, &t) || __builtin_add_overflow(*acc, t, &t))
        return false;
    *acc = t;
    return true;
}

/* Designators in the order they may appear; '\0' positions separate date from time. */
enum iso_field { ISO_Y = 0, ISO_MO, ISO_W, ISO_D, ISO_H, ISO_MI, ISO_S };

static int iso_field_of(char c, bool in_time)
{
    if (!in_time) {
        switch (c) {
        case 'Y':
            return ISO_Y;
        case 'M':
            return ISO_MO;
        case 'W':
            return ISO_W;
        case 'D':
            return ISO_D;
        default:
            return -1;
        }
    }
    switch (c) {
    case 'H':
        return ISO_H;
    case 'M':
        return ISO_MI;
    case 'S':
        return ISO_S;
    default:
        return -1;
    }
}

/* Up to 9 fraction digits after '.', as nanoseconds. NULL when malformed. */
static const char *parse_nanos(const char *p, int64_t *nanos)
{
    int64_t v = 0;
    int n = 0;

    for (; is_digit(*p); p++, n++) {
        if (n == 9)
            return NULL;
        v = v * 10 + (*p - '0');
    }
    if (n == 0)
        return NULL;
    for (; n < 9; n++)
        v *= 10;
    *nanos = v;
    return p;
}

static int iso_components(const char *p, struct dc_iso_duration *d, const char *s,
                          struct dc_errbuf *eb)
{
    static const int64_t time_mult[] = {INT64_C(3600000000000), INT64_C(60000000000),
                                        DC_NS_PER_SEC};
    bool in_time = false, range = false, any = false, time_any = false;
    int last = -1;

    while (*p != '\0') {
        int64_t n = 0, nanos = 0;
        int field;

        if (*p == 'T') {
            if (in_time)
                return fail(eb, DC_EPARSE, "invalid ISO 8601 duration", s);
            in_time = true;
            p++;
            continue;
        }
        p = parse_i64(p, &n, &range);
        if (p == NULL)
            return fail(eb, range ? DC_ERANGE : DC_EPARSE,
                        range ? "ISO 8601 duration out of range" : "invalid ISO 8601 duration", s);
        if (*p == '.' && in_time) {
            p = parse_nanos(p + 1, &nanos);
            if (p == NULL || *p != 'S')
                return fail(eb, DC_EPARSE, "invalid ISO 8601 duration", s);
        }
        field = iso_field_of(*p, in_time);
        if (field < 0 || field <= last)
            return fail(eb, DC_EPARSE, "invalid ISO 8601 duration", s);
        last = field;
        p++;
        any = true;
        time_any = time_any || in_time;
        bool ok = true;
        switch (field) {
        case ISO_Y:
            d->years = n;
            break;
        case ISO_MO:
            d->months = n;
            break;
        case ISO_W:
            ok = add_scaled(&d->days, n, 7);
            break;
        case ISO_D:
            ok = add_scaled(&d->days, n, 1);
            break;
        default:
            ok = add_scaled(&d->ns, n, time_mult[field - ISO_H]) && add_scaled(&d->ns, nanos, 1);
            break;
        }
        if (!ok)
            return fail(eb, DC_ERANGE, "ISO 8601 duration out of range", s);
    }
    if (!any || (in_time && !time_any))
        return fail(eb, DC_EPARSE, "invalid ISO 8601 duration", s);
    return DC_OK;
}

int dc_iso8601_parse(const char *s, struct dc_iso_duration *out, struct dc_errbuf *eb)
{
    struct dc_iso_duration d = {0, 0, 0, 0, -1, false};
    const char *p = s;
    bool range = false;
    int rv;

    if (*p == 'R') {
        d.has_repetitions = true;
        p++;
        if (is_digit(*p)) {
            p = parse_i64(p, &d.repetitions, &range);
            if (p == NULL)
                return fail(eb, DC_ERANGE, "ISO 8601 repetitions out of range", s);
        }
        if (*p != '/')
            return fail(eb, DC_EPARSE, "invalid ISO 8601 repetitions in", s);
        p++;
    }
    if (*p != 'P')
        return fail(eb, DC_EPARSE, "ISO 8601 duration must start with 'P':", s);
    rv = iso_components(p + 1, &d, s, eb);
    if (rv != DC_OK)
        return rv;
    *out = d;
    return DC_OK;
}

/* ---- RFC 3339 ------------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (the well-known era/day-of-era method;
 * no timegm, which is not in POSIX and depends on TZ on some systems). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Exactly `n` digits at `p` as a number, or -1. */
static int fixed_digits(const char *p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* "hh:mm" of a numeric offset in seconds, or -1. */
static int parse_offset(const char *p)
{
    int hh = fixed_digits(p, 2), mm;

    if (hh < 0 || p[2] != ':')
        return -1;
    mm = fixed_digits(p + 3, 2);
    if (mm < 0 || p[5] != '\0' || hh > 23 || mm > 59)
        return -1;
    return hh * 3600 + mm * 60;
}

int dc_rfc3339_parse(const char *s, int64_t *unix_ns, struct dc_errbuf *eb)
{
    int year, mon, day, hour, min, sec, off = 0;
    int64_t nanos = 0, secs, ns;
    const char *p;

    /* "2006-01-02T15:04:05" is 19 bytes; strnlen keeps the fixed reads inside the string. */
    if (strnlen(s, 20) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return fail(eb, DC_EPARSE, "invalid RFC 3339 time", s);
    year = fixed_digits(s, 4);
    mon = fixed_digits(s + 5, 2);
    day = fixed_digits(s + 8, 2);
    hour = fixed_digits(s + 11, 2);
    min = fixed_digits(s + 14, 2);
    sec = fixed_digits(s + 17, 2);
    if (year < 0 || mon < 0 || day < 0 || hour < 0 || min < 0 || sec < 0)
        return fail(eb, DC_EPARSE, "invalid RFC 3339 time", s);
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 || min > 59 ||
        sec > 59)
        return fail(eb, DC_EPARSE, "RFC 3339 time field out of range in", s);
    p = s + 19;
    if (*p == '.' && is_digit(p[1])) {
        int n = 0;
        for (p++; is_digit(*p); p++, n++) {
            if (n < 9) /* Go truncates digits past nanoseconds */
                nanos = nanos * 10 + (*p - '0');
        }
        for (; n < 9; n++)
            nanos *= 10;
    }
    if (p[0] == 'Z' && p[1] == '\0') {
        off = 0;
    } else if (p[0] == '+' || p[0] == '-') {
        off = parse_offset(p + 1);
        if (off < 0)
            return fail(eb, DC_EPARSE, "invalid RFC 3339 time zone offset in", s);
        off = p[0] == '-' ? -off : off;
    } else {
        return fail(eb, DC_EPARSE, "invalid RFC 3339 time", s);
    }
    secs = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - off;
    if (secs < 0 && nanos > 0) { /* keep the product in range near INT64_MIN */
        secs++;
        nanos -= DC_NS_PER_SEC;
    }
    if (__builtin_mul_overflow(secs, DC_NS_PER_SEC, &ns) || __builtin_add_overflow(ns, nanos, &ns))
        return fail(eb, DC_ERANGE, "RFC 3339 time out of range", s);
    *unix_ns = ns;
    return DC_OK;
}

int dc_rfc3339_format(int64_t unix_ns, char *out, size_t cap)
{
    char buf[96];
    int64_t secs = unix_ns / DC_NS_PER_SEC, nanos = unix_ns % DC_NS_PER_SEC, days, sod, year;
    uint64_t frac;
    int mon, day, n;
    size_t w, fw;
    char fbuf[16];

    if (nanos < 0) { /* floor division for times before 1970 */
        nanos += DC_NS_PER_SEC;
        secs--;
    }
    days = secs / 86400;
    sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    civil_from_days(days, &year, &mon, &day);
    n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d", (int)year, mon, day,
                 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
    w = (size_t)n;
    frac = (uint64_t)nanos;
    fw = put_frac(fbuf, sizeof(fbuf), &frac, 9);
    memcpy(buf + w, fbuf + fw, sizeof(fbuf) - fw);
    w += sizeof(fbuf) - fw;
    buf[w++] = 'Z';
    return copy_out(buf, w, out, cap);
}

/* ---- Kubernetes quantities --------------------------------------------------------------- */

/* A decimal natural number, least significant digit first. */
struct decimal {
    unsigned char d[DC_MAX_QUANTITY_LEN + 32];
    size_t n;
};

static void decimal_mul(struct decimal *x, unsigned m)
{
    unsigned carry = 0;

    for (size_t i = 0; i < x->n; i++) {
        unsigned v = x->d[i] * m + carry;
        x->d[i] = (unsigned char)(v % 10);
        carry = v / 10;
    }
    while (carry > 0 && x->n < sizeof(x->d)) {
        x->d[x->n++] = (unsigned char)(carry % 10);
        carry /= 10;
    }
}

/* ceil(x * 10^exp10) as a uint64; false when it does not fit. x has no leading zeros. */
static bool decimal_ceil_u64(const struct decimal *x, int64_t exp10, uint64_t *out)
{
    size_t low = 0;
    bool round = false;
    uint64_t v = 0;

    if (x->n == 0) {
        *out = 0;
        return true;
    }
    if (exp10 < 0) {
        low = (uint64_t)-exp10 < x->n ? (size_t)-exp10 : x->n;
        for (size_t i = 0; i < low; i++)
            round = round || x->d[i] != 0;
    } else if (exp10 > 20) {
        return false;
    }
    for (size_t i = x->n; i-- > low;) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, x->d[i], &v))
            return false;
    }
    for (int64_t e = 0; e < exp10; e++) {
        if (__builtin_mul_overflow(v, 10, &v))
            return false;
    }
    if (__builtin_add_overflow(v, round ? 1u : 0u, &v))
        return false;
    *out = v;
    return true;
}

struct quantity_suffix {
    const char *name;
    int exp10;
    int exp2;
};

static const struct quantity_suffix quantity_suffixes[] = {
    {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
    {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
    {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
};

/* The suffix after the number: a named one, or e/E with a signed integer exponent (clamped,
 * since anything past a few dozen decides overflow or zero alike). */
static bool quantity_suffix(const char *p, int64_t *exp10, int *exp2)
{
    bool neg = false;
    int64_t e = 0;

    for (size_t i = 0; i < sizeof(quantity_suffixes) / sizeof(quantity_suffixes[0]); i++) {
        if (strcmp(p, quantity_suffixes[i].name) == 0) {
            *exp10 = quantity_suffixes[i].exp10;
            *exp2 = quantity_suffixes[i].exp2;
            return true;
        }
    }
    if (*p != 'e' && *p != 'E')
        return false;
    p++;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (!is_digit(*p))
        return false;
    for (; is_digit(*p); p++)
        e = e < 100000 ? e * 10 + (*p - '0') : e;
    if (*p != '\0')
        return false;
    *exp10 = neg ? -e : e;
    *exp2 = 0;
    return true;
}

/* ceil(|value| * 10^scale) of quantity `s` into `*mag`, sign into `*neg`. */
static int quantity_scaled(const char *s, int scale, uint64_t *mag, bool *neg, struct dc_errbuf *eb)
{
    struct decimal x = {{0}, 0};
    const char *p = s, *int_start, *frac_start = NULL;
    size_t int_len, frac_len = 0;
    int64_t exp10;
    int exp2;

    if (strnlen(s, DC_MAX_QUANTITY_LEN + 1) > DC_MAX_QUANTITY_LEN)
        return dc_err_set(eb, DC_ETOOBIG, "quantity longer than %d bytes", DC_MAX_QUANTITY_LEN);
    *neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    int_start = p;
    while (is_digit(*p))
        p++;
    int_len = (size_t)(p - int_start);
    if (*p == '.') {
        frac_start = ++p;
        while (is_digit(*p))
            p++;
        frac_len = (size_t)(p - frac_start);
    }
    if (int_len + frac_len == 0)
        return fail(eb, DC_EPARSE, "invalid quantity", s);
    if (!quantity_suffix(p, &exp10, &exp2))
        return fail(eb, DC_EPARSE, "invalid quantity suffix in", s);
    /* Digits least significant first, fraction then integer part; leading zeros dropped. */
    for (size_t i = frac_len; i-- > 0;)
        x.d[x.n++] = (unsigned char)(frac_start[i] - '0');
    for (size_t i = int_len; i-- > 0;)
        x.d[x.n++] = (unsigned char)(int_start[i] - '0');
    while (x.n > 0 && x.d[x.n - 1] == 0)
        x.n--;
    for (int i = 0; i < exp2; i += 10)
        decimal_mul(&x, 1024);
    if (!decimal_ceil_u64(&x, exp10 - (int64_t)frac_len + scale, mag))
        return fail(eb, DC_ERANGE, "quantity out of range", s);
    return DC_OK;
}

int dc_quantity_parse(const char *s, int64_t *milli, struct dc_errbuf *eb)
{
    uint64_t mag;
    bool neg;
    int rv;

    rv = quantity_scaled(s, 3, &mag, &neg, eb);
    if (rv != DC_OK)
        return rv;
    if (mag > (neg ? U63 : (uint64_t)INT64_MAX))
        return fail(eb, DC_ERANGE, "quantity out of range", s);
    *milli = neg ? (mag == U63 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    return DC_OK;
}

int dc_quantity_bytes(const char *s, uint64_t *bytes, struct dc_errbuf *eb)
{
    uint64_t mag;
    bool neg;
    int rv;

    rv = quantity_scaled(s, 0, &mag, &neg, eb);
    if (rv != DC_OK)
        return rv;
    if (neg && mag != 0)
        return fail(eb, DC_ERANGE, "byte quantity must not be negative:", s);
    *bytes = mag;
    return DC_OK;
}

/* ---- Clocks -------------------------------------------------------------------------------- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    int rc;

    /* Cannot fail for these two clocks on any supported system. */
    rc = clock_gettime(id, &ts);
    DC_ASSERT(rc == 0);
    return (int64_t)ts.tv_sec * DC_NS_PER_SEC + ts.tv_nsec;
}

int64_t dc_now_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

int64_t dc_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

struct timespec dc_timespec_in(clockid_t clock, int64_t ns)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    if (ns < 0)
        ns = 0;
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec += (long)(ns % 1000000000LL);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
