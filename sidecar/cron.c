/* Cron schedules as upstream's bindings.cron reads them (robfig/cron v3 semantics, through
 * dapr/kit's fork), sidecar-api.md §22.5. The contract is in bindings.h. */
#include "bindings.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dc/str.h"
#include "dc/time.h"

#define STAR_BIT (UINT64_C(1) << 63)
#define MAX_SPEC 1024 /* bytes of one schedule; real ones are under 100 */
#define MAX_FIELD_PART 128

struct bounds {
    int min, max;
    const char *const *names; /* index = value; NULL: none */
    int nnames;
};

static const char *const month_names[] = {"",    "jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct bounds b_sec = {0, 59, NULL, 0};
static const struct bounds b_min = {0, 59, NULL, 0};
static const struct bounds b_hour = {0, 23, NULL, 0};
static const struct bounds b_dom = {1, 31, NULL, 0};
static const struct bounds b_month = {1, 12, month_names, 13};
static const struct bounds b_dow = {0, 6, dow_names, 7};

static uint64_t bits(int min, int max, int step)
{
    uint64_t b = 0;

    if (step == 1)
        return (~(UINT64_MAX << (max + 1))) & (UINT64_MAX << min);
    for (int i = min; i <= max; i += step)
        b |= UINT64_C(1) << i;
    return b;
}

static uint64_t all(const struct bounds *r)
{
    return bits(r->min, r->max, 1) | STAR_BIT;
}

/* strconv.Atoi-like on `n` bytes: optional sign and decimal digits, no overflow past int. */
static int parse_int(const char *s, size_t n, int *out, struct dc_errbuf *eb)
{
    size_t i = 0;
    bool neg = false;
    long v = 0;

    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i++;
    }
    if (i == n)
        goto bad;
    for (; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            goto bad;
        v = v * 10 + (s[i] - '0');
        if (v > 1000000000L)
            goto bad;
    }
    if (neg && v != 0)
        return dc_err_set(eb, DC_EPARSE, "negative number (-%ld) not allowed: %.*s", v, (int)n, s);
    *out = (int)v;
    return DC_OK;
bad:
    return dc_err_set(eb, DC_EPARSE, "failed to parse int from %.*s: invalid syntax", (int)n, s);
}

static int parse_int_or_name(const char *s, size_t n, const struct bounds *r, int *out,
                             struct dc_errbuf *eb)
{
    for (int i = 0; i < r->nnames; i++) {
        if (r->names[i][0] != '\0' && strlen(r->names[i]) == n &&
            strncasecmp(r->names[i], s, n) == 0) {
            *out = i;
            return DC_OK;
        }
    }
    return parse_int(s, n, out, eb);
}

/* One comma-separated part: "*", "?", "a", "a-b", each optionally "/step" (robfig getRange). */
static int parse_range(const char *s, size_t n, const struct bounds *r, uint64_t *out,
                       struct dc_errbuf *eb)
{
    const char *slash = memchr(s, '/', n);
    size_t rn = slash != NULL ? (size_t)(slash - s) : n;
    const char *hy = memchr(s, '-', rn);
    int start, end, step = 1;
    uint64_t extra = 0;
    bool single;
    int rv;

    if (slash != NULL && memchr(slash + 1, '/', n - rn - 1) != NULL)
        return dc_err_set(eb, DC_EPARSE, "too many slashes: %.*s", (int)n, s);
    single = hy == NULL;
    if ((hy == NULL ? rn : (size_t)(hy - s)) == 1 && (s[0] == '*' || s[0] == '?')) {
        /* robfig ignores anything after "*-". */
        start = r->min;
        end = r->max;
        extra = STAR_BIT;
    } else {
        size_t ln = hy != NULL ? (size_t)(hy - s) : rn;
        rv = parse_int_or_name(s, ln, r, &start, eb);
        if (rv != DC_OK)
            return rv;
        if (hy == NULL) {
            end = start;
        } else {
            const char *h = hy + 1;
            size_t hn = rn - ln - 1;
            if (memchr(h, '-', hn) != NULL)
                return dc_err_set(eb, DC_EPARSE, "too many hyphens: %.*s", (int)n, s);
            rv = parse_int_or_name(h, hn, r, &end, eb);
            if (rv != DC_OK)
                return rv;
        }
    }
    if (slash != NULL) {
        rv = parse_int(slash + 1, n - rn - 1, &step, eb);
        if (rv != DC_OK)
            return rv;
        if (single)
            end = r->max; /* "N/step" runs from N to the maximum */
        if (step > 1)
            extra = 0;
    }
    if (start < r->min)
        return dc_err_set(eb, DC_EPARSE, "beginning of range (%d) below minimum (%d): %.*s", start,
                          r->min, (int)n, s);
    if (end > r->max)
        return dc_err_set(eb, DC_EPARSE, "end of range (%d) above maximum (%d): %.*s", end, r->max,
                          (int)n, s);
    if (start > end)
        return dc_err_set(eb, DC_EPARSE, "beginning of range (%d) beyond end of range (%d): %.*s",
                          start, end, (int)n, s);
    if (step == 0)
        return dc_err_set(eb, DC_EPARSE, "step of range should be a positive number: %.*s", (int)n,
                          s);
    *out = bits(start, end, step) | extra;
    return DC_OK;
}

static int parse_field(const char *s, size_t n, const struct bounds *r, uint64_t *out,
                       struct dc_errbuf *eb)
{
    uint64_t acc = 0;
    size_t i = 0;

    for (;;) {
        const char *comma = memchr(s + i, ',', n - i);
        size_t pn = comma != NULL ? (size_t)(comma - (s + i)) : n - i;
        uint64_t one = 0;
        int rv = parse_range(s + i, pn, r, &one, eb);

        if (rv != DC_OK)
            return rv;
        acc |= one;
        if (comma == NULL)
            break;
        i += pn + 1;
    }
    *out = acc;
    return DC_OK;
}

static int parse_descriptor(const char *d, struct sdc_cron *c, struct dc_errbuf *eb)
{
    struct dc_errbuf tmp;
    int64_t ns;

    c->sec = 1;
    c->min = 1;
    c->hour = 1;
    c->dom = all(&b_dom);
    c->month = all(&b_month);
    c->dow = all(&b_dow);
    if (strcmp(d, "@yearly") == 0 || strcmp(d, "@annually") == 0) {
        c->dom = UINT64_C(1) << 1;
        c->month = UINT64_C(1) << 1;
    } else if (strcmp(d, "@monthly") == 0) {
        c->dom = UINT64_C(1) << 1;
    } else if (strcmp(d, "@weekly") == 0) {
        c->dow = 1;
    } else if (strcmp(d, "@daily") == 0 || strcmp(d, "@midnight") == 0) {
        /* all set above */
    } else if (strcmp(d, "@hourly") == 0) {
        c->hour = all(&b_hour);
    } else if (strncmp(d, "@every ", 7) == 0) {
        if (dc_duration_parse(d + 7, &ns, &tmp) != DC_OK)
            return dc_err_set(eb, DC_EPARSE, "failed to parse duration %s: %s", d, tmp.msg);
        /* robfig Every(): at least one second, rounded down to whole seconds. */
        c->every_s = ns < DC_NS_PER_SEC ? 1 : ns / DC_NS_PER_SEC;
    } else {
        return dc_err_set(eb, DC_EPARSE, "unrecognized descriptor: %s", d);
    }
    return DC_OK;
}

int sdc_cron_parse(const char *spec, struct sdc_cron *out, struct dc_errbuf *eb)
{
    static const struct bounds *const fb[6] = {&b_sec, &b_min, &b_hour, &b_dom, &b_month, &b_dow};
    struct sdc_cron c;
    const char *f[6];
    size_t fl[6], nf = 0;
    const char *p = spec;
    bool utc = false;
    int rv;

    memset(&c, 0, sizeof(c));
    if (strlen(spec) > MAX_SPEC)
        return dc_err_set(eb, DC_EPARSE, "schedule too long");
    if (strncmp(p, "TZ=", 3) == 0 || strncmp(p, "CRON_TZ=", 8) == 0) {
        const char *z = strchr(p, '=') + 1;
        size_t zl = strcspn(z, " \t\n\v\f\r");
        if (z[zl] == '\0')
            return dc_err_set(eb, DC_EPARSE, "provided bad location %.*s: missing spec", (int)zl,
                              z);
        if (!(zl == 3 && strncmp(z, "UTC", 3) == 0) && !(zl == 7 && strncmp(z, "Etc/UTC", 7) == 0))
            return dc_err_set(eb, DC_EPARSE, "provided bad location %.*s: only UTC is supported",
                              (int)zl, z);
        utc = true;
        p = z + zl;
        while (isspace((unsigned char)*p))
            p++;
    }
    if (*p == '\0')
        return dc_err_set(eb, DC_EPARSE, "empty spec string");
    if (*p == '@') {
        rv = parse_descriptor(p, &c, eb);
        if (rv != DC_OK)
            return rv;
        c.utc = utc;
        *out = c;
        return DC_OK;
    }
    /* strings.Fields: split on any run of white space. */
    for (size_t n = 0;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        n = strcspn(p, " \t\n\v\f\r");
        if (nf < 6) {
            f[nf] = p;
            fl[nf] = n;
        }
        nf++;
        p += n;
    }
    if (nf < 5 || nf > 6)
        return dc_err_set(eb, DC_EPARSE, "expected 5 to 6 fields, found %zu: %s", nf, spec);
    {
        uint64_t *dst[6] = {&c.sec, &c.min, &c.hour, &c.dom, &c.month, &c.dow};
        size_t off = nf == 5 ? 1 : 0;

        if (nf == 5)
            c.sec = 1; /* the optional seconds field defaults to 0 */
        for (size_t i = 0; i < nf; i++) {
            rv = parse_field(f[i], fl[i], fb[i + off], dst[i + off], eb);
            if (rv != DC_OK)
                return rv;
        }
    }
    c.utc = utc;
    *out = c;
    return DC_OK;
}

/* ---- next activation (robfig SpecSchedule.Next) ---- */

static void breakdown(int64_t t, bool utc, struct tm *tm)
{
    time_t tt = (time_t)t;

    if (utc)
        gmtime_r(&tt, tm);
    else
        localtime_r(&tt, tm);
}

/* Go's time.Date: normalise out-of-range fields; in the local zone a missing wall time (DST
 * gap) moves forward, as mktime with tm_isdst = -1 does. */
static int64_t mkdate(int y, int mon, int d, int h, int mi, int s, bool utc)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    return utc ? (int64_t)timegm(&tm) : (int64_t)mktime(&tm);
}

static bool day_matches(const struct sdc_cron *c, const struct tm *tm)
{
    bool dom = (c->dom & (UINT64_C(1) << tm->tm_mday)) != 0;
    bool dow = (c->dow & (UINT64_C(1) << tm->tm_wday)) != 0;

    if ((c->dom & STAR_BIT) || (c->dow & STAR_BIT))
        return dom && dow;
    return dom || dow;
}

int sdc_cron_next(const struct sdc_cron *c, int64_t after, bool force_utc, int64_t *next)
{
    bool utc = force_utc || c->utc;
    int64_t t = after + 1;
    bool added = false;
    struct tm tm;
    int year_limit;

    if (c->every_s > 0) {
        *next = after + c->every_s;
        return DC_OK;
    }
    breakdown(t, utc, &tm);
    year_limit = tm.tm_year + 1900 + 5;
wrap:
    breakdown(t, utc, &tm);
    if (tm.tm_year + 1900 > year_limit)
        return DC_ENOTFOUND;
    while ((c->month & (UINT64_C(1) << (tm.tm_mon + 1))) == 0) {
        if (!added) {
            added = true;
            t = mkdate(tm.tm_year + 1900, tm.tm_mon, 1, 0, 0, 0, utc);
            breakdown(t, utc, &tm);
        }
        t = mkdate(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   utc);
        breakdown(t, utc, &tm);
        if (tm.tm_mon == 0)
            goto wrap;
    }
    while (!day_matches(c, &tm)) {
        if (!added) {
            added = true;
            t = mkdate(tm.tm_year + 1900, tm.tm_mon, tm.tm_mday, 0, 0, 0, utc);
            breakdown(t, utc, &tm);
        }
        t = mkdate(tm.tm_year + 1900, tm.tm_mon, tm.tm_mday + 1, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   utc);
        breakdown(t, utc, &tm);
        /* A DST change may leave us off midnight: go back to it (robfig does the same). */
        if (tm.tm_hour != 0) {
            t += tm.tm_hour > 12 ? (int64_t)(24 - tm.tm_hour) * 3600 : -(int64_t)tm.tm_hour * 3600;
            breakdown(t, utc, &tm);
        }
        if (tm.tm_mday == 1)
            goto wrap;
    }
    while ((c->hour & (UINT64_C(1) << tm.tm_hour)) == 0) {
        if (!added) {
            added = true;
            t = mkdate(tm.tm_year + 1900, tm.tm_mon, tm.tm_mday, tm.tm_hour, 0, 0, utc);
            breakdown(t, utc, &tm);
        }
        t += 3600;
        breakdown(t, utc, &tm);
        if (tm.tm_hour == 0)
            goto wrap;
    }
    while ((c->min & (UINT64_C(1) << tm.tm_min)) == 0) {
        if (!added) {
            added = true;
            t -= tm.tm_sec;
        }
        t += 60;
        breakdown(t, utc, &tm);
        if (tm.tm_min == 0)
            goto wrap;
    }
    while ((c->sec & (UINT64_C(1) << tm.tm_sec)) == 0) {
        added = true;
        t += 1;
        breakdown(t, utc, &tm);
        if (tm.tm_sec == 0)
            goto wrap;
    }
    *next = t;
    return DC_OK;
}
