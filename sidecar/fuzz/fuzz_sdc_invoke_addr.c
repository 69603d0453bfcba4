/* libFuzzer target: service-invocation addressing (invoke_addr.c).
 *
 * Input: up to three lines: a raw request path, a dapr-app-id header value ("-" = absent) and
 * an Authorization value ("-" = absent). The target found is split as an app id, the method
 * normalised, and every header name checked. Invariants: a normalised method never contains
 * '#', '?' or control bytes (also decoded), and its wire form no "." / ".." / empty segment
 * and no byte that is not URL-safe;
 * an accepted app id is [A-Za-z0-9_-] with at most one '.'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/arena.h"

#include "../invoke.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_method(const char *m, bool wire)
{
    size_t n = strlen(m);
    const char *p = m;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)m[i];
        if (c == '#' || c == '?' || c < 0x20 || c == 0x7f)
            abort();
        if (wire && (c > 0x7e || c == ' ' || c == '"' || c == '\\'))
            abort();
    }
    if (wire && m[0] == '/')
        abort();
    while (*p != '\0') {
        const char *e = strchr(p, '/');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);

        /* Dot segments never survive; empty ones only in the decoded form ("%2F%2F"). */
        if (wire && ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')))
            abort();
        if (wire && len == 0 && e != NULL)
            abort(); /* "//" */
        p += len + (e != NULL ? 1 : 0);
    }
}

static void check_id(const char *id, const char *ns)
{
    for (const char *p = id; *p != '\0'; p++)
        if (strchr("-_", *p) == NULL &&
            !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            abort();
    if (ns != NULL)
        check_id(ns, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_arena a;
    struct dc_errbuf eb = {0};
    char *buf, *lines[3] = {NULL, NULL, NULL}, *p;
    const char *target, *method, *wire, *dec, *id, *ns;
    size_t k = 0;

    if (size > 16384)
        return 0;
    buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    p = buf;
    while (k < 3) {
        lines[k++] = p;
        p = strchr(p, '\n');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    for (size_t i = 1; i < 3; i++)
        if (lines[i] != NULL && strcmp(lines[i], "-") == 0)
            lines[i] = NULL;
    dc_arena_init(&a);
    if (sdc_invoke_find_target(&a, lines[0], lines[1], lines[2], &target, &method) == DC_OK) {
        if (target == NULL || target[0] == '\0' || method == NULL)
            abort();
        if (sdc_invoke_split_app_id(&a, target, &id, &ns, &eb) == DC_OK)
            check_id(id, ns);
        if (sdc_invoke_normalize_method(&a, method, &wire, &dec, &eb) == DC_OK) {
            check_method(wire, true);
            check_method(dec, false);
        }
    }
    if (sdc_invoke_normalize_method(&a, lines[0], &wire, &dec, &eb) == DC_OK) {
        check_method(wire, true);
        check_method(dec, false);
    }
    (void)sdc_invoke_header_dropped(lines[0], lines[1]);
    (void)sdc_invoke_resp_header_dropped(lines[0], lines[2]);
    (void)sdc_invoke_verb_ok(lines[0]);
    dc_arena_cleanup(&a);
    free(buf);
    return 0;
}
