#ifndef SDC_MATCH_EXPR_H
#define SDC_MATCH_EXPR_H

/* Routing-rule `match` expressions of pub/sub subscriptions (sidecar-api.md §6.5): the subset of
 * CEL that users write, evaluated with one variable `event` holding the CloudEvent as a map.
 *
 *   expr    := or
 *   or      := and ("||" and)*
 *   and     := rel ("&&" rel)*
 *   rel     := unary [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") unary]
 *   unary   := "!" unary | "-" unary | postfix
 *   postfix := primary ("." IDENT ["(" args ")"] | "[" expr "]")*
 *   primary := "event" | STRING | INT | DOUBLE | "true" | "false" | "null"
 *            | "(" expr ")" | "[" [expr ("," expr)*] "]" | "has(" postfix ")" | "size(" expr ")"
 *   methods := s.startsWith(x) | s.endsWith(x) | s.contains(x) | s.matches(x) (unsupported:
 *              refused at compile time) | x.size()
 *
 * STRING is '...' or "..." with \\ \" \' \n \r \t escapes (r'' raw strings too). Numbers
 * compare across int and double as CEL's heterogeneous equality does (JSON numbers are
 * doubles). `a in list` tests membership, `k in map` a key. Evaluation follows CEL's error
 * rules: a missing map key or a type mismatch is an error; && and || absorb an error when the
 * other side decides (false && err = false, true || err = true); `!` and comparisons
 * propagate it. Compiling refuses syntax errors, unknown identifiers (anything but `event`),
 * unknown functions, and non-boolean literal results, with the column in the message.
 *
 * Bounded: at most SDC_MATCH_MAX_LEN bytes and SDC_MATCH_MAX_DEPTH nesting levels. A compiled
 * expression is immutable and may be evaluated from any number of threads. */

#include <cjson/cJSON.h>

#include "dc/err.h"

struct sdc_match;

/* Compile `text` (borrowed). On DC_OK `*out` is owned by the caller (sdc_match_free).
 * Returns DC_OK, DC_EPARSE (with "column N: why" in `eb`) or DC_ETOOBIG. */
int sdc_match_compile(struct sdc_match **out, const char *text, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Evaluate against `event` (a JSON object, borrowed). Returns 1 (true), 0 (false), or
 * DC_EINVAL when evaluation fails or the result is not a boolean (`eb` says why: "no such
 * key: x", "no matching overload..."). */
int sdc_match_eval(const struct sdc_match *m, const cJSON *event, struct dc_errbuf *eb);

/* NULL is a no-op. */
void sdc_match_free(struct sdc_match *m);

#endif /* SDC_MATCH_EXPR_H */
