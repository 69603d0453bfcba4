/* Service invocation addressing (sidecar-api.md §4.1-4.2): pure functions, contracts in
 * invoke.h. Everything here works on bounded request text and allocates from the caller's
 * arena; nothing logs. */
#include "invoke.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "dc/base64.h"
#include "dc/str.h"

#define MAX_ID_PART 253

/* ---- small helpers ------------------------------------------------------------------------ */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode `n` bytes (no '+' rule: this is a path). Malformed escapes stay literal, as
 * upstream keeps "test%stream" as is. `*out_len` counts bytes (a "%00" makes a NUL). */
static char *pct_decode(struct dc_arena *a, const char *s, size_t n, size_t *out_len)
{
    char *o = dc_arena_alloc(a, n + 1);
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        int h = -1, l = -1;

        if (s[i] == '%' && i + 2 < n) {
            h = hexval((unsigned char)s[i + 1]);
            l = hexval((unsigned char)s[i + 2]);
        }
        if (h >= 0 && l >= 0) {
            o[k++] = (char)(h * 16 + l);
            i += 2;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = '\0';
    *out_len = k;
    return o;
}

/* Go's strconv.Quote, enough for error messages: printable ASCII kept, the rest escaped. */
static const char *go_quote(struct dc_arena *a, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *o = dc_arena_alloc(a, n * 4 + 3);
    size_t k = 0;

    o[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            o[k++] = '\\';
            o[k++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            o[k++] = '\\';
            o[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7f) {
            o[k++] = '\\';
            o[k++] = 'x';
            o[k++] = hex[c >> 4];
            o[k++] = hex[c & 15];
        } else {
            o[k++] = (char)c; /* UTF-8 passes through (Go keeps printable runes) */
        }
    }
    o[k++] = '"';
    o[k] = '\0';
    return o;
}

/* The forbidden-byte rule of NormalizeMethod over `n` bytes. */
static int check_bytes(struct dc_arena *a, const char *s, size_t n, struct dc_errbuf *eb)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '#' || c == '?' || c == '\0')
            return dc_err_set(eb, DC_EINVAL, "method contains forbidden character: %s",
                              go_quote(a, s, n));
        if (c < 0x20 || c == 0x7f)
            return dc_err_set(eb, DC_EINVAL,
                              "method contains control character at position %zu: %s", i,
                              go_quote(a, s, n));
    }
    return DC_OK;
}

/* ---- target ------------------------------------------------------------------------------- */

/* Strict standard base64 with padding (Go's StdEncoding, minus its CR/LF skipping). */
static char *b64_decode(struct dc_arena *a, const char *s, size_t *out_len)
{
    size_t n = strlen(s), k = 0;
    char *o;

    if (n == 0 || n % 4 != 0)
        return NULL;
    o = dc_arena_alloc(a, n / 4 * 3 + 1);
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;

        for (int j = 0; j < 4; j++) {
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad > 0)
                return NULL; /* data after '=' */
            v[j] = dc_base64_value((unsigned char)s[i + j], false);
            if (v[j] < 0)
                return NULL;
        }
        o[k++] = (char)(v[0] << 2 | v[1] >> 4);
        if (pad < 2)
            o[k++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
        if (pad < 1)
            o[k++] = (char)((v[2] & 3) << 6 | v[3]);
    }
    o[k] = '\0';
    *out_len = k;
    return o;
}

/* The cleaned path without its leading '/' (header and Basic forms). */
static const char *path_method(struct dc_arena *a, const char *raw_path)
{
    const char *c = dc_http_clean_path(a, raw_path[0] != '\0' ? raw_path : "/");

    while (*c == '/')
        c++;
    return c;
}

/* Index just past "/v1.0/invoke/" (any number of '/' around the segments), or 0. */
static size_t invoke_prefix(const char *p)
{
    static const char *const parts[] = {"v1.0", "invoke"};
    size_t i = 0;

    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(parts[k]);

        while (p[i] == '/')
            i++;
        if (strncmp(p + i, parts[k], n) != 0 || p[i + n] != '/')
            return 0;
        i += n;
    }
    while (p[i] == '/')
        i++;
    return i;
}

int sdc_invoke_find_target(struct dc_arena *a, const char *raw_path, const char *app_id_header,
                           const char *authorization, const char **target, const char **method)
{
    const char *rest, *m;
    size_t off;

    *target = NULL;
    *method = NULL;
    if (!dc_str_empty(app_id_header)) {
        *target = app_id_header;
        *method = path_method(a, raw_path);
        return DC_OK;
    }
    if (authorization != NULL && strncmp(authorization, "Basic ", 6) == 0) {
        size_t len;
        char *dec = b64_decode(a, authorization + 6, &len);
        char *colon = dec != NULL && strlen(dec) == len ? strchr(dec, ':') : NULL;

        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            *colon = '\0';
            if (strcasecmp(dec, "dapr-app-id") == 0) {
                if (colon[1] == '\0')
                    return DC_ENOTFOUND;
                *target = colon + 1;
                *method = path_method(a, raw_path);
                return DC_OK;
            }
        }
    }
    off = invoke_prefix(raw_path);
    if (off == 0)
        return DC_ENOTFOUND;
    rest = raw_path + off;
    m = strstr(rest, "/method/");
    if (m == NULL || m == rest)
        return DC_ENOTFOUND;
    {
        size_t n = (size_t)(m - rest), dlen;
        char *dec;

        *target = dc_arena_strndup(a, rest, n);
        /* url.QueryUnescape; a failed or NUL-carrying decoding keeps the raw text (which then
         * fails app-id validation). */
        if (dc_http_query_unescape(a, rest, n, &dec, &dlen) == DC_OK && dlen > 0 &&
            strlen(dec) == dlen)
            *target = dec;
    }
    *method = m + strlen("/method/");
    return DC_OK;
}

/* ---- method ------------------------------------------------------------------------------- */

struct seg {
    const char *raw;
    size_t raw_len;
    const char *dec;
    size_t dec_len;
};

/* Characters that may stand unescaped in a URL path. */
static bool url_safe(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("\"<>\\^`{|}", c) == NULL;
}

static char *join(struct dc_arena *a, const struct seg *v, size_t n, bool raw, bool trailing)
{
    size_t cap = 2, k = 0;
    char *o;

    for (size_t i = 0; i < n; i++)
        cap += (raw ? v[i].raw_len * 3 : v[i].dec_len) + 1;
    o = dc_arena_alloc(a, cap);
    for (size_t i = 0; i < n; i++) {
        const char *s = raw ? v[i].raw : v[i].dec;
        size_t len = raw ? v[i].raw_len : v[i].dec_len;

        if (i > 0)
            o[k++] = '/';
        for (size_t j = 0; j < len; j++) {
            unsigned char c = (unsigned char)s[j];
            if (raw && !url_safe(c)) {
                o[k++] = '%';
                o[k++] = "0123456789ABCDEF"[c >> 4];
                o[k++] = "0123456789ABCDEF"[c & 15];
            } else {
                o[k++] = (char)c;
            }
        }
    }
    if (trailing && n > 0)
        o[k++] = '/';
    o[k] = '\0';
    return o;
}

int sdc_invoke_normalize_method(struct dc_arena *a, const char *raw, const char **wire,
                                const char **decoded, struct dc_errbuf *eb)
{
    size_t n = strlen(raw), nseg = 0, dlen;
    const char *dec_all;
    struct seg *v;
    bool trailing;
    int rv;

    rv = check_bytes(a, raw, n, eb);
    if (rv != DC_OK)
        return rv;
    dec_all = pct_decode(a, raw, n, &dlen);
    rv = check_bytes(a, dec_all, dlen, eb);
    if (rv != DC_OK)
        return rv;
    trailing = n > 0 && raw[n - 1] == '/';
    v = dc_arena_alloc(a, (n / 2 + 2) * sizeof(*v));
    for (size_t i = 0; i <= n;) {
        size_t j = i;

        while (j < n && raw[j] != '/')
            j++;
        if (j > i) {
            struct seg s = {.raw = raw + i, .raw_len = j - i};

            s.dec = pct_decode(a, s.raw, s.raw_len, &s.dec_len);
            if (s.dec_len == 2 && memcmp(s.dec, "..", 2) == 0) {
                if (nseg > 0)
                    nseg--; /* leading ".." is dropped (never above the root) */
            } else if (!(s.dec_len == 1 && s.dec[0] == '.')) {
                v[nseg++] = s;
            }
        }
        i = j + 1;
    }
    *wire = join(a, v, nseg, true, trailing);
    *decoded = join(a, v, nseg, false, trailing);
    return DC_OK;
}

/* ---- app ids ------------------------------------------------------------------------------ */

static bool id_part_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_ID_PART)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_')
            return false;
    }
    return true;
}

int sdc_invoke_split_app_id(struct dc_arena *a, const char *target, const char **app_id,
                            const char **ns, struct dc_errbuf *eb)
{
    const char *dot = strchr(target, '.');
    size_t n = strlen(target);

    *app_id = NULL;
    *ns = NULL;
    if (dot == NULL) {
        if (!id_part_ok(target, n))
            goto bad;
        *app_id = target;
        return DC_OK;
    }
    if (strchr(dot + 1, '.') != NULL || !id_part_ok(target, (size_t)(dot - target)) ||
        !id_part_ok(dot + 1, strlen(dot + 1)))
        goto bad;
    *app_id = dc_arena_strndup(a, target, (size_t)(dot - target));
    *ns = dot + 1;
    return DC_OK;
bad:
    return dc_err_set(eb, DC_EINVAL, "invalid app id %s", go_quote(a, target, n > 300 ? 300 : n));
}

/* ---- verbs and headers -------------------------------------------------------------------- */

bool sdc_invoke_verb_ok(const char *verb)
{
    static const char *const ok[] = {"GET",    "HEAD",    "POST",  "PUT",
                                     "DELETE", "OPTIONS", "TRACE", "PATCH"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(verb, ok[i]) == 0)
            return true;
    return false;
}

/* Is `name` one of the comma-separated tokens of a Connection header value? */
static bool in_connection(const char *name, const char *connection)
{
    size_t n = strlen(name);
    const char *p = connection;

    while (p != NULL && *p != '\0') {
        const char *e;
        size_t len;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        e = p;
        while (*e != '\0' && *e != ',')
            e++;
        len = (size_t)(e - p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && n > 0 && strncasecmp(p, name, n) == 0)
            return true;
        p = e;
    }
    return false;
}

/* A header name and its length: names are compared by length first, so most headers cost
 * one integer compare per table entry instead of a strcasecmp (B1: the forwarding checks were
 * the largest string work of a call). */
struct hname {
    const char *s;
    size_t n;
};
#define HNAME(lit)                                                                                 \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

static bool name_in(const char *name, size_t n, const struct hname *t, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++)
        if (t[i].n == n && strncasecmp(name, t[i].s, n) == 0)
            return true;
    return false;
}

static bool hop_by_hop(const char *name, size_t n, const char *connection)
{
    static const struct hname hop[] = {HNAME("Connection"),
                                       HNAME("Keep-Alive"),
                                       HNAME("Proxy-Connection"),
                                       HNAME("Transfer-Encoding"),
                                       HNAME("Upgrade"),
                                       HNAME("HTTP2-Settings"),
                                       HNAME("TE"),
                                       HNAME("Trailer"),
                                       HNAME("Proxy-Authorization"),
                                       HNAME("Proxy-Authenticate")};

    if (name_in(name, n, hop, sizeof(hop) / sizeof(hop[0])))
        return true;
    return in_connection(name, connection);
}

bool sdc_invoke_header_dropped(const char *name, const char *connection)
{
    static const struct hname own[] = {HNAME("dapr-app-id"),
                                       HNAME("destination-app-id"),
                                       HNAME("dapr-api-token"),
                                       HNAME("dapr-caller-app-id"),
                                       HNAME("dapr-caller-namespace"),
                                       HNAME("dapr-callee-app-id"),
                                       HNAME("Host"),
                                       HNAME("Content-Length"),
                                       HNAME("Expect")};
    size_t n = strlen(name);

    if (hop_by_hop(name, n, connection))
        return true;
    if (n >= 4 && strcasecmp(name + n - 4, "-bin") == 0)
        return true;
    if (n >= 14 && strncasecmp(name, "dapr-internal-", 14) == 0)
        return true;
    return name_in(name, n, own, sizeof(own) / sizeof(own[0]));
}

bool sdc_invoke_resp_header_dropped(const char *name, const char *connection)
{
    size_t n = strlen(name);

    return hop_by_hop(name, n, connection) ||
           (n >= 14 && strncasecmp(name, "dapr-internal-", 14) == 0);
}
