#ifndef DC_YAML_H
#define DC_YAML_H

/* A bounded YAML node tree built on libyaml's event parser.
 *
 * dc_yaml_parse turns a buffer (one or more documents, YAML or JSON, since JSON is YAML flow
 * syntax) into a tree of struct dc_ynode that keeps each node's line and column, so callers
 * can name the exact place of a problem. Input is untrusted and bounded:
 *   - the buffer is at most DC_MAX_MANIFEST_FILE bytes (else DC_ETOOBIG);
 *   - nesting is at most DC_MAX_DOC_DEPTH levels, counting levels reached through aliases;
 *   - a document holds at most DC_MAX_YAML_NODES nodes, counting every alias expansion
 *     ("billion laughs" fails with DC_ETOOBIG instead of exhausting memory or time);
 *   - map keys must be scalars and unique within their map (sigs.k8s.io/yaml rejects
 *     duplicates too).
 * Aliases are resolved by reference: an alias node points at the anchored node, which is then
 * shared by several parents. The tree is therefore a DAG; treat it as read-only. Merge keys
 * (`<<: *base`) are not interpreted: `<<` is an ordinary key.
 *
 * Scalars keep their text and whether they were plain (unquoted, untagged), because a plain
 * `true` is a boolean while `"true"` is a string. dc_ynode_resolve types a scalar the way
 * sigs.k8s.io/yaml (go-yaml v2, YAML 1.1 rules) does for untyped targets.
 *
 * Threads: none of these functions keeps global state; distinct streams may be used from
 * distinct threads. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dc/arena.h"
#include "dc/err.h"

enum dc_ynode_type {
    DC_YNODE_SCALAR = 0,
    DC_YNODE_MAP,
    DC_YNODE_SEQ,
};

struct dc_ynode;

struct dc_ypair {
    struct dc_ynode *key; /* always a scalar */
    struct dc_ynode *value;
};

struct dc_ynode {
    enum dc_ynode_type type;
    int line;   /* 1-based position of the node's first character */
    int column; /* 1-based */
    /* Scalars: NUL-terminated text (may hold NULs; `len` is authoritative). */
    char *text;
    size_t len;
    bool plain;      /* plain style without an explicit tag: subject to implicit typing */
    const char *tag; /* explicit tag as written after resolution (e.g. "tag:yaml.org,2002:str"),
                      * NULL when none */
    /* Maps: `pairs[0..n)`; sequences: `items[0..n)`. */
    struct dc_ypair *pairs;
    struct dc_ynode **items;
    size_t n;
    /* Expanded size (this node plus all descendants through aliases) and height. */
    size_t weight;
    int height;
};

struct dc_ydoc {
    struct dc_ynode *root; /* never NULL */
    int line;              /* line of the document's first node (== root->line) */
};

/* A parsed stream. All-zero is a valid empty stream; every node lives in `arena`. */
struct dc_ystream {
    struct dc_arena arena;
    struct dc_ydoc *docs;
    size_t ndocs;
};

/* Parse `len` bytes at `data` (need not be NUL-terminated) into `out`, which must be all-zero
 * or cleaned up. Documents whose root is a null scalar (an empty document such as a lone
 * `---`) are left out of `out->docs`.
 *
 * On success the caller owns `out` and releases it with dc_yaml_cleanup. On failure `out` is
 * left empty and `eb` (may be NULL) holds one line: "line L column C: <problem>".
 * Returns DC_OK, DC_ETOOBIG (buffer over DC_MAX_MANIFEST_FILE, nesting over DC_MAX_DOC_DEPTH,
 * or over DC_MAX_YAML_NODES expanded nodes), DC_EPARSE (syntax or encoding error, undefined
 * alias, non-scalar or duplicate map key). */
int dc_yaml_parse(struct dc_ystream *out, const char *data, size_t len,
                  struct dc_errbuf *eb) DC_MUST_CHECK;

/* Release every node of `s`; `s` is all-zero afterwards. NULL is a no-op. */
void dc_yaml_cleanup(struct dc_ystream *s);

/* The value for scalar key `key` in map `map`, or NULL when `map` is NULL, not a map, or has
 * no such key. Borrowed from the stream. */
const struct dc_ynode *dc_ynode_map_get(const struct dc_ynode *map, const char *key);

/* True when `n` is a plain scalar that YAML 1.1 reads as null: empty, `~`, null, Null, NULL
 * (or a scalar with the explicit !!null tag). NULL `n` counts as null too. */
bool dc_ynode_is_null(const struct dc_ynode *n);

enum dc_yvalue_kind {
    DC_YVALUE_NULL = 0,
    DC_YVALUE_BOOL,
    DC_YVALUE_INT,
    DC_YVALUE_FLOAT,
    DC_YVALUE_STRING,
};

struct dc_yvalue {
    enum dc_yvalue_kind kind;
    bool b;
    int64_t i;
    double f;
};

/* Type scalar `n` as go-yaml v2 does for an untyped target: plain null forms -> NULL;
 * y/Y/yes/Yes/YES/true/True/TRUE/on/On/ON (and the n/no/false/off family) -> BOOL; integers
 * in Go's base-0 syntax (decimal, 0x, 0o, 0b, leading-0 octal, `_` separators) that fit an
 * int64 -> INT; YAML floats (1.5, 1e3, .5, .inf, .nan) -> FLOAT; anything else, every quoted
 * scalar and non-scalar nodes -> STRING. Explicit !!str/!!bool/!!int/!!float/!!null tags are
 * honoured when the text fits them. */
void dc_ynode_resolve(const struct dc_ynode *n, struct dc_yvalue *out);

/* Read scalar `n` as a boolean: it must resolve to BOOL (a quoted "true" is a string, as in
 * sigs.k8s.io/yaml). Returns DC_OK or DC_EINVAL. */
int dc_ynode_bool(const struct dc_ynode *n, bool *out) DC_MUST_CHECK;

/* Read scalar `n` as an integer in [min, max]: it must resolve to INT. Returns DC_OK,
 * DC_EINVAL (not an integer), DC_ERANGE (outside the bounds). */
int dc_ynode_int(const struct dc_ynode *n, int64_t min, int64_t max, int64_t *out) DC_MUST_CHECK;

/* Convert the subtree at `n` into a new cJSON value, typing plain scalars like
 * sigs.k8s.io/yaml (numbers, booleans, null) and keeping quoted scalars as strings. The
 * caller owns the result (cJSON_Delete). Integers beyond 2^53 lose precision (cJSON stores
 * doubles); .inf and .nan become strings. Returns NULL only when cJSON runs out of memory.
 * The parse-time bounds make the recursion depth at most DC_MAX_DOC_DEPTH. */
cJSON *dc_ynode_to_json(const struct dc_ynode *n);

#endif /* DC_YAML_H */
