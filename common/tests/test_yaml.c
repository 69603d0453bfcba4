/* Unit tests of the bounded YAML tree (dc/yaml.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/buf.h"
#include "dc/limits.h"
#include "dc/yaml.h"

static int parse(struct dc_ystream *s, const char *text, struct dc_errbuf *eb)
{
    return dc_yaml_parse(s, text, strlen(text), eb);
}

static void test_tree_positions(void **state)
{
    struct dc_ystream s;
    struct dc_errbuf eb = {0};
    const struct dc_ynode *root, *spec, *md, *v;
    (void)state;

    assert_int_equal(parse(&s,
                           "# comment\n"
                           "kind: Component\n"
                           "spec:\n"
                           "  type: state.redis\n"
                           "  metadata:\n"
                           "  - name: a\n"
                           "    value: 'x'\n",
                           &eb),
                     DC_OK);
    assert_int_equal(s.ndocs, 1);
    assert_int_equal(s.docs[0].line, 2);
    root = s.docs[0].root;
    assert_int_equal(root->type, DC_YNODE_MAP);
    spec = dc_ynode_map_get(root, "spec");
    assert_non_null(spec);
    v = dc_ynode_map_get(spec, "type");
    assert_string_equal(v->text, "state.redis");
    assert_int_equal(v->line, 4);
    assert_int_equal(v->column, 9);
    md = dc_ynode_map_get(spec, "metadata");
    assert_int_equal(md->type, DC_YNODE_SEQ);
    assert_int_equal(md->n, 1);
    v = dc_ynode_map_get(md->items[0], "value");
    assert_false(v->plain);
    assert_int_equal(v->line, 7);
    assert_null(dc_ynode_map_get(spec, "nope"));
    assert_null(dc_ynode_map_get(v, "x"));
    dc_yaml_cleanup(&s);
    dc_yaml_cleanup(&s); /* twice is fine */
}

static void test_multi_doc_and_empty(void **state)
{
    struct dc_ystream s;
    struct dc_errbuf eb = {0};
    (void)state;

    assert_int_equal(parse(&s, "---\n---\na: 1\n---\n# only a comment\n---\n- x\n...\n", &eb),
                     DC_OK);
    assert_int_equal(s.ndocs, 2);
    assert_int_equal(s.docs[0].line, 3);
    assert_int_equal(s.docs[1].root->type, DC_YNODE_SEQ);
    dc_yaml_cleanup(&s);
    assert_int_equal(parse(&s, "", &eb), DC_OK);
    assert_int_equal(s.ndocs, 0);
    dc_yaml_cleanup(&s);
}

static void test_scalar_typing(void **state)
{
    struct dc_ystream s;
    struct dc_errbuf eb = {0};
    const struct dc_ynode *m;
    struct dc_yvalue v;
    bool b = false;
    int64_t i = 0;
    (void)state;

    assert_int_equal(parse(&s,
                           "t: true\nq: \"true\"\ny: yes\noff: Off\nn: ~\ne:\nd: 42\nh: 0x1F\n"
                           "o: 0123\nu: 1_000\nf: 1.5\ng: 1e3\ninf: .inf\ns: hello\nneg: -7\n"
                           "big: 99999999999999999999\ntag: !!str 12\nnul: null\n",
                           &eb),
                     DC_OK);
    m = s.docs[0].root;
    assert_int_equal(dc_ynode_bool(dc_ynode_map_get(m, "t"), &b), DC_OK);
    assert_true(b);
    assert_int_equal(dc_ynode_bool(dc_ynode_map_get(m, "q"), &b), DC_EINVAL);
    assert_int_equal(dc_ynode_bool(dc_ynode_map_get(m, "y"), &b), DC_OK);
    assert_true(b);
    assert_int_equal(dc_ynode_bool(dc_ynode_map_get(m, "off"), &b), DC_OK);
    assert_false(b);
    assert_true(dc_ynode_is_null(dc_ynode_map_get(m, "n")));
    assert_true(dc_ynode_is_null(dc_ynode_map_get(m, "e")));
    assert_true(dc_ynode_is_null(dc_ynode_map_get(m, "nul")));
    assert_false(dc_ynode_is_null(dc_ynode_map_get(m, "q")));
    assert_int_equal(dc_ynode_int(dc_ynode_map_get(m, "d"), 0, 100, &i), DC_OK);
    assert_int_equal(i, 42);
    assert_int_equal(dc_ynode_int(dc_ynode_map_get(m, "d"), 0, 10, &i), DC_ERANGE);
    assert_int_equal(dc_ynode_int(dc_ynode_map_get(m, "h"), 0, 100, &i), DC_OK);
    assert_int_equal(i, 31);
    assert_int_equal(dc_ynode_int(dc_ynode_map_get(m, "o"), 0, 100, &i), DC_OK);
    assert_int_equal(i, 83); /* YAML 1.1 octal, as go-yaml v2 */
    assert_int_equal(dc_ynode_int(dc_ynode_map_get(m, "u"), 0, 10000, &i), DC_OK);
    assert_int_equal(i, 1000);
    assert_int_equal(dc_ynode_int(dc_ynode_map_get(m, "neg"), -10, 0, &i), DC_OK);
    assert_int_equal(i, -7);
    assert_int_equal(dc_ynode_int(dc_ynode_map_get(m, "f"), 0, 10, &i), DC_EINVAL);
    dc_ynode_resolve(dc_ynode_map_get(m, "f"), &v);
    assert_int_equal(v.kind, DC_YVALUE_FLOAT);
    dc_ynode_resolve(dc_ynode_map_get(m, "g"), &v);
    assert_int_equal(v.kind, DC_YVALUE_FLOAT);
    assert_true(v.f == 1000.0);
    dc_ynode_resolve(dc_ynode_map_get(m, "big"), &v);
    assert_int_equal(v.kind, DC_YVALUE_FLOAT);
    dc_ynode_resolve(dc_ynode_map_get(m, "s"), &v);
    assert_int_equal(v.kind, DC_YVALUE_STRING);
    dc_ynode_resolve(dc_ynode_map_get(m, "tag"), &v);
    assert_int_equal(v.kind, DC_YVALUE_STRING);
    dc_yaml_cleanup(&s);
}

static void test_to_json(void **state)
{
    struct dc_ystream s;
    struct dc_errbuf eb = {0};
    cJSON *j;
    char *txt;
    (void)state;

    assert_int_equal(parse(&s,
                           "a: 1\nb: \"2\"\nc: [true, 'false', ~, 1.5, .nan]\n"
                           "d: {e: x, f: {}}\nbase: &b {k: v}\nref: *b\n",
                           &eb),
                     DC_OK);
    j = dc_ynode_to_json(s.docs[0].root);
    assert_non_null(j);
    txt = cJSON_PrintUnformatted(j);
    assert_string_equal(txt, "{\"a\":1,\"b\":\"2\",\"c\":[true,\"false\",null,1.5,\".nan\"],"
                             "\"d\":{\"e\":\"x\",\"f\":{}},\"base\":{\"k\":\"v\"},"
                             "\"ref\":{\"k\":\"v\"}}");
    free(txt);
    cJSON_Delete(j);
    dc_yaml_cleanup(&s);
}

static void test_json_input(void **state)
{
    struct dc_ystream s;
    struct dc_errbuf eb = {0};
    const struct dc_ynode *v;
    (void)state;

    assert_int_equal(parse(&s, "{\n  \"kind\": \"Component\",\n  \"n\": [1,\n   2]\n}\n", &eb),
                     DC_OK);
    v = dc_ynode_map_get(s.docs[0].root, "n");
    assert_int_equal(v->items[1]->line, 4);
    assert_false(dc_ynode_map_get(s.docs[0].root, "kind")->plain);
    dc_yaml_cleanup(&s);
    assert_int_equal(parse(&s, "{\"a\": 1,\n \"b\": [1}\n", &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "line 2"));
}

static void test_syntax_error(void **state)
{
    struct dc_ystream s;
    struct dc_errbuf eb = {0};
    (void)state;

    assert_int_equal(parse(&s, "a: 1\nb: [1, 2\nc: 3\n", &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "line 3 column"));
    assert_null(strchr(eb.msg, '\n'));
    assert_int_equal(s.ndocs, 0);
    assert_int_equal(parse(&s, "a: 1\n  b: 2\n", &eb), DC_EPARSE);
    assert_true(strncmp(eb.msg, "line 2", 6) == 0);
    assert_int_equal(parse(&s, "a: \xff\xfe\n", &eb), DC_EPARSE);
    assert_true(strncmp(eb.msg, "line 1", 6) == 0);
    assert_int_equal(parse(&s, "a: *nope\n", &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "undefined alias"));
    /* An anchor is defined only once its node is complete: no cycles. */
    assert_int_equal(parse(&s, "a: &x [1, *x]\n", &eb), DC_EPARSE);
    assert_int_equal(parse(&s, "? [a]\n: 1\n", &eb), DC_EPARSE);
    assert_non_null(strstr(eb.msg, "map keys must be scalars"));
}

static void test_duplicate_keys(void **state)
{
    struct dc_ystream s;
    struct dc_errbuf eb = {0};
    struct dc_buf b = {0};
    (void)state;

    assert_int_equal(parse(&s, "a: 1\nb: 2\na: 3\n", &eb), DC_EPARSE);
    assert_string_equal(eb.msg, "line 3 column 1: duplicate key \"a\" (first at line 1)");
    /* Large maps take the sorted path. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(dc_buf_appendf(&b, "k%d: %d\n", i, i), DC_OK);
    assert_int_equal(dc_buf_appends(&b, "k42: again\n"), DC_OK);
    assert_int_equal(parse(&s, dc_buf_cstr(&b), &eb), DC_EPARSE);
    assert_string_equal(eb.msg, "line 101 column 1: duplicate key \"k42\" (first at line 43)");
    dc_buf_cleanup(&b);
    /* Same key in different maps is fine. */
    assert_int_equal(parse(&s, "a: {x: 1}\nb: {x: 2}\n", &eb), DC_OK);
    dc_yaml_cleanup(&s);
}

/* "Billion laughs": 9 levels of 9 aliases would expand to 9^9 nodes. */
static void test_alias_bomb(void **state)
{
    struct dc_ystream s;
    struct dc_errbuf eb = {0};
    struct dc_buf b = {0};
    (void)state;

    assert_int_equal(dc_buf_appends(&b, "a0: &a0 [\"lol\"]\n"), DC_OK);
    for (int i = 1; i <= 9; i++) {
        assert_int_equal(dc_buf_appendf(&b, "a%d: &a%d [", i, i), DC_OK);
        for (int j = 0; j < 9; j++)
            assert_int_equal(dc_buf_appendf(&b, "%s*a%d", j ? ", " : "", i - 1), DC_OK);
        assert_int_equal(dc_buf_appends(&b, "]\n"), DC_OK);
    }
    assert_int_equal(parse(&s, dc_buf_cstr(&b), &eb), DC_ETOOBIG);
    assert_non_null(strstr(eb.msg, "alias bomb"));
    assert_true(strncmp(eb.msg, "line ", 5) == 0);
    assert_int_equal(s.ndocs, 0);
    dc_buf_cleanup(&b);

    /* Small alias use is fine and shares the node. */
    assert_int_equal(parse(&s, "x: &x {a: 1}\ny: *x\nz: *x\n", &eb), DC_OK);
    assert_ptr_equal(dc_ynode_map_get(s.docs[0].root, "y"), dc_ynode_map_get(s.docs[0].root, "z"));
    assert_int_equal(s.docs[0].root->weight, 1 + 3 * 3 + 3);
    dc_yaml_cleanup(&s);
}

static void test_depth_and_size(void **state)
{
    struct dc_ystream s;
    struct dc_errbuf eb = {0};
    char *big;
    char deep[3 * DC_MAX_DOC_DEPTH + 8];
    size_t n = 0;
    (void)state;

    for (int i = 0; i < DC_MAX_DOC_DEPTH + 1; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    assert_int_equal(parse(&s, deep, &eb), DC_ETOOBIG);
    assert_non_null(strstr(eb.msg, "nesting deeper"));
    /* Depth through aliases counts too. */
    n = 0;
    memcpy(deep, "a: &a ", 6);
    n = 6;
    for (int i = 0; i < DC_MAX_DOC_DEPTH - 2; i++)
        deep[n++] = '[';
    for (int i = 0; i < DC_MAX_DOC_DEPTH - 2; i++)
        deep[n++] = ']';
    memcpy(deep + n, "\nb: [[*a]]\n", 12);
    assert_int_equal(parse(&s, deep, &eb), DC_ETOOBIG);

    big = malloc(DC_MAX_MANIFEST_FILE + 1);
    memset(big, ' ', DC_MAX_MANIFEST_FILE + 1);
    assert_int_equal(dc_yaml_parse(&s, big, DC_MAX_MANIFEST_FILE + 1, &eb), DC_ETOOBIG);
    assert_string_equal(eb.msg, "line 1: file too large (2097153 bytes, limit 2 MiB)");
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_positions), cmocka_unit_test(test_multi_doc_and_empty),
        cmocka_unit_test(test_scalar_typing),  cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_json_input),     cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_duplicate_keys), cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_depth_and_size),
    };
    return cmocka_run_group_tests_name("yaml", tests, NULL, NULL);
}
