#ifndef SDC_TRIP_EXPR_H
#define SDC_TRIP_EXPR_H

/* Circuit-breaker trip expressions (sidecar-api.md §21.3). Upstream evaluates a CEL expression
 * over the breaker's counts each time a request fails in the closed state; this is the subset
 * of CEL that such expressions use:
 *
 *   expr    := or
 *   or      := and ("||" and)*
 *   and     := cmp ("&&" cmp)*
 *   cmp     := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*
 *   sum     := product (("+" | "-") product)*
 *   product := unary (("*" | "/" | "%") unary)*
 *   unary   := "!" unary | "-" unary | primary
 *   primary := INT ["u"] | "true" | "false" | VAR | "(" expr ")"
 *   VAR     := requests | totalSuccesses | totalFailures | consecutiveSuccesses
 *            | consecutiveFailures
 *
 * Types are checked when compiling, as CEL does: comparisons take two integers (== and != also
 * two booleans), && || ! take booleans, and the whole expression must be a boolean. Evaluation
 * follows CEL's error rules: an integer overflow or a division by zero is an error, && and ||
 * absorb an error when the other side decides the result (false && err = false, true || err =
 * true), and an expression that ends in an error does not trip (as upstream).
 *
 * Input is bounded by DC_RES_MAX_TRIP_LEN bytes and DC_RES_MAX_TRIP_DEPTH nesting levels. A
 * compiled expression is immutable: evaluate it from any number of threads. */

#include <stdbool.h>
#include <stdint.h>

#include "dc/err.h"

/* The counts of gobreaker that the variables name. */
struct sdc_trip_counts {
    uint32_t requests;
    uint32_t total_successes;
    uint32_t total_failures;
    uint32_t consecutive_successes;
    uint32_t consecutive_failures;
};

struct sdc_trip;

/* Compile `text` (borrowed, NUL-terminated). On success `*out` is a new expression owned by the
 * caller (release with sdc_trip_free). Returns DC_OK, DC_EPARSE (syntax, unknown variable or a
 * type mismatch; `eb` says what and at which column) or DC_ETOOBIG (too long or too deep). */
int sdc_trip_compile(struct sdc_trip **out, const char *text, struct dc_errbuf *eb) DC_MUST_CHECK;

/* True when the expression holds for `c`; false when it does not or its evaluation fails. */
bool sdc_trip_eval(const struct sdc_trip *t, const struct sdc_trip_counts *c);

/* NULL is a no-op. */
void sdc_trip_free(struct sdc_trip *t);

#endif /* SDC_TRIP_EXPR_H */
