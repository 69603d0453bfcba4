#ifndef DC_TIME_H
#define DC_TIME_H

/* Parsers and formatters for the time and size notations of Dapr manifests and APIs: Go
 * durations, ISO 8601 durations (actor reminders), RFC 3339 timestamps and Kubernetes resource
 * quantities (--max-body-size 4Mi), plus the two clocks.
 *
 * Every function is pure (no global state, no locale, no allocation) and thread-safe. String
 * arguments are borrowed, NUL-terminated and must not be NULL. `eb` may be NULL; on failure it
 * receives a message that quotes the (possibly shortened, escaped) input, and the output
 * arguments are left untouched. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dc/err.h"

#define DC_NS_PER_US INT64_C(1000)
#define DC_NS_PER_MS INT64_C(1000000)
#define DC_NS_PER_SEC INT64_C(1000000000)

/* Output sizes that are always enough, NUL included. */
#define DC_DURATION_FMT_LEN 48
#define DC_RFC3339_FMT_LEN 40

/* Parse a Go duration (time.ParseDuration): an optional sign, then one or more decimal numbers,
 * each with an optional fraction and a unit ns, us, µs (U+00B5 or U+03BC), ms, s, m, h:
 * "300ms", "-1.5h", "1h30m", ".5s", "2h45m0.5s". "0" alone (optionally signed) is zero; any
 * other number needs a unit. Fractions are computed as Go does (the same float64 steps), so
 * results match Go to the nanosecond.
 *
 * Returns DC_OK with `*ns` set, DC_EPARSE (empty, junk, missing or unknown unit), or DC_ERANGE
 * (outside int64 nanoseconds, about ±292 years). */
int dc_duration_parse(const char *s, int64_t *ns, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Format `ns` as Go's Duration.String(): "1h30m0s", "500ms", "1.5µs" (U+00B5), "0s",
 * "-1m0.5s". Writes a NUL-terminated string into `out`.
 *
 * Returns DC_OK, or DC_ETOOBIG when `cap` is too small (then `out` holds "" if cap > 0).
 * DC_DURATION_FMT_LEN bytes are always enough. */
int dc_duration_format(int64_t ns, char *out, size_t cap) DC_MUST_CHECK;

/* Parse a Resiliency timeout: a whole decimal integer with optional sign is milliseconds
 * ("60000" = 1 min); anything else is a Go duration as dc_duration_parse.
 *
 * Returns DC_OK, DC_EPARSE or DC_ERANGE (also for milliseconds beyond int64 nanoseconds). */
int dc_duration_parse_ms_or_go(const char *s, int64_t *ns, struct dc_errbuf *eb) DC_MUST_CHECK;

/* An ISO 8601 duration with optional repetitions, as actor reminders use.
 *
 * `years`, `months` and `days` are calendar units kept apart (their length depends on the date
 * they are added to); weeks are folded into `days` (7 each). `ns` holds the T part (hours,
 * minutes, seconds). `has_repetitions` tells whether an "R<n>/" or "R/" prefix was present.
 * `repetitions` is n for "R<n>/" (0 allowed: Dapr reminders reject "R0", callers check), and
 * -1 both for "R/" and for no prefix: -1 always means "repeat without bound". */
struct dc_iso_duration {
    int64_t years, months, days;
    int64_t ns;
    int64_t repetitions;
    bool has_repetitions;
};

/* Parse "[R[n]/]P[nY][nM][nW][nD][T[nH][nM][n[.n]S]]": "PT1S", "P1DT2H", "P2W", "R5/PT1S",
 * "R/PT1M", "PT0.5S". Components must come in that order, each at most once, with at least one
 * component, and "T" must be followed by one. Only seconds may carry a fraction (up to 9
 * digits; upstream Dapr rejects fractions in reminders: `ns % DC_NS_PER_SEC != 0` tells that a
 * fraction was used). Signs, spaces and lower-case letters are rejected.
 *
 * Returns DC_OK with `*out` filled, DC_EPARSE ("P", "PT", "P1H", "-P1D", junk), or DC_ERANGE
 * (a number or the T part overflows int64). */
int dc_iso8601_parse(const char *s, struct dc_iso_duration *out,
                     struct dc_errbuf *eb) DC_MUST_CHECK;

/* Parse an RFC 3339 timestamp as Go's strict RFC 3339 parser (JSON/Text unmarshalling):
 * "2006-01-02T15:04:05Z", "2006-01-02T15:04:05.999999999+07:00". Upper-case "T" and "Z" only
 * (as Go), two-digit fields, offsets "±hh:mm" with hh <= 23 and mm <= 59, ranges checked (days
 * per month with leap years, second <= 59: no leap seconds). An optional fraction after "."
 * has one or more digits; digits past the ninth are truncated, as Go does.
 *
 * Returns DC_OK with `*unix_ns` (nanoseconds since 1970-01-01T00:00:00Z), DC_EPARSE, or
 * DC_ERANGE (outside int64 nanoseconds: years about 1678 to 2262). */
int dc_rfc3339_parse(const char *s, int64_t *unix_ns, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Format `unix_ns` in UTC as Go's RFC3339Nano: "2006-01-02T15:04:05.5Z", the fraction present
 * only when non-zero and without trailing zeros.
 *
 * Returns DC_OK, or DC_ETOOBIG when `cap` is short (then `out` holds "" if cap > 0);
 * DC_RFC3339_FMT_LEN is always enough. */
int dc_rfc3339_format(int64_t unix_ns, char *out, size_t cap) DC_MUST_CHECK;

/* Parse a Kubernetes resource.Quantity into thousandths of its unit: "500m" -> 500,
 * "0.5" -> 500, "4Mi" -> 4194304000, "100k" -> 100000000, "1e3" -> 1000000.
 *
 * Grammar: [+-] digits [. digits] (or ".digits", "digits.") then one suffix: binary Ki Mi Gi Ti
 * Pi Ei, decimal n u m k M G T P E (or none), or an exponent e<int> / E<int> with optional sign.
 * Arithmetic is exact; a remainder below one milli rounds away from zero (Kubernetes rounds
 * up: "1n" -> 1, "-1n" -> -1). The input is at most DC_MAX_QUANTITY_LEN bytes.
 *
 * Returns DC_OK, DC_EPARSE, DC_ETOOBIG (input too long) or DC_ERANGE (result beyond int64). */
int dc_quantity_parse(const char *s, int64_t *milli, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Parse a quantity as a byte count (daprd --max-body-size, --read-buffer-size): the value
 * rounded up to a whole unit, "4Mi" -> 4194304, "4Ki" -> 4096, "1.5" -> 2, "1k" -> 1000.
 *
 * Returns DC_OK, DC_EPARSE, DC_ETOOBIG (input too long), or DC_ERANGE (negative value or more
 * than UINT64_MAX). */
int dc_quantity_bytes(const char *s, uint64_t *bytes, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Wall-clock time (CLOCK_REALTIME) in nanoseconds since the Unix epoch. */
int64_t dc_now_ns(void);
/* Monotonic time (CLOCK_MONOTONIC) in nanoseconds from an arbitrary start; for intervals. */
int64_t dc_mono_ns(void);
/* The absolute time `ns` nanoseconds from now on `clock`, normalised, for timed waits:
 * CLOCK_MONOTONIC for condition variables set up with pthread_condattr_setclock,
 * CLOCK_REALTIME for plain ones and sem_timedwait. A negative `ns` counts as 0. */
struct timespec dc_timespec_in(clockid_t clock, int64_t ns);

#endif /* DC_TIME_H */
