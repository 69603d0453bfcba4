/* Service-invocation access control (sidecar-api.md §20.3): precedence, wildcards, verbs,
 * identity, normalisation and upstream's pkg/acl test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"

#include "../acl.h"

/* ---- Building a Configuration by hand ------------------------------------------------- */

struct op_spec {
    const char *name;
    const char *verbs[4];
    const char *action;
};

struct policy_spec {
    const char *app_id;
    const char *default_action;
    const char *trust_domain;
    const char *ns;
    struct op_spec ops[6];
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? dc_xstrdup(s) : NULL;
}

static void build(struct dc_configuration *c, const char *def, const char *td,
                  const struct policy_spec *ps, size_t n)
{
    memset(c, 0, sizeof(*c));
    c->access_control.set = true;
    c->access_control.default_action = dup_or_null(def);
    c->access_control.trust_domain = dup_or_null(td);
    c->access_control.policies = dc_xcalloc(n + 1, sizeof(*c->access_control.policies));
    c->access_control.npolicies = n;
    for (size_t i = 0; i < n; i++) {
        struct dc_acl_policy *p = &c->access_control.policies[i];
        size_t nops = 0;

        p->app_id = dup_or_null(ps[i].app_id);
        p->default_action = dup_or_null(ps[i].default_action);
        p->trust_domain = dup_or_null(ps[i].trust_domain);
        p->namespace = dup_or_null(ps[i].ns);
        while (nops < 6 && ps[i].ops[nops].name != NULL)
            nops++;
        p->operations = dc_xcalloc(nops + 1, sizeof(*p->operations));
        p->noperations = nops;
        for (size_t j = 0; j < nops; j++) {
            struct dc_acl_operation *o = &p->operations[j];
            size_t nv = 0;

            o->name = dc_xstrdup(ps[i].ops[j].name);
            o->action = dc_xstrdup(ps[i].ops[j].action);
            while (nv < 4 && ps[i].ops[j].verbs[nv] != NULL)
                nv++;
            o->http_verbs = dc_xcalloc(nv + 1, sizeof(*o->http_verbs));
            o->nhttp_verbs = nv;
            for (size_t v = 0; v < nv; v++)
                o->http_verbs[v] = dc_xstrdup(ps[i].ops[j].verbs[v]);
        }
    }
}

/* Upstream's initializeAccessControlList (pkg/acl/acl_test.go), HTTP flavour. */
static const struct policy_spec upstream_policies[] = {
    {"app1",
     "allow",
     "public",
     "ns1",
     {{"/op1", {"POST", "GET"}, "allow"}, {"/op2", {"*"}, "deny"}}},
    {"app2",
     "deny",
     "domain1",
     "ns2",
     {{"/op3/a/*", {"PUT", "GET"}, "allow"}, {"/op4", {"POST"}, "allow"}}},
    {"app3", NULL, "domain1", "ns1", {{"/op5", {"POST"}, "allow"}}},
    {"app4",
     "deny",
     "domain1",
     "ns2",
     {{"/op6", {"*"}, "allow"},
      {"/op7/a/b/*", {"*"}, "allow"},
      {"/op7/a/b/c/f", {"*"}, "allow"},
      {"/op7/a/b*", {"*"}, "allow"},
      {"/op7/c/**", {"*"}, "allow"}}},
    {"app1", "allow", "public", "ns4", {{"/op6", {"*"}, "allow"}}},
};

struct check {
    const char *what;
    const char *td, *ns, *app; /* caller */
    const char *op, *verb;
    bool allowed;
};

static void run_checks(const struct sdc_acl *acl, const struct check *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct sdc_caller c = {cs[i].td, cs[i].ns, cs[i].app};
        bool got = sdc_acl_allowed(acl, &c, cs[i].op, cs[i].verb, NULL, 0);
        if (got != cs[i].allowed)
            fail_msg("case %zu \"%s\": %s %s -> %s, want %s", i, cs[i].what, cs[i].verb, cs[i].op,
                     got ? "allow" : "deny", cs[i].allowed ? "allow" : "deny");
    }
}

static void test_upstream_cases(void **state)
{
    static const struct check cs[] = {
        {"no matching app: global default", "public", "ns1", "appX", "op1", "POST", false},
        {"trust domain mismatch", "private", "ns1", "app1", "op1", "POST", false},
        {"namespace mismatch", "public", "abcd", "app1", "op1", "POST", false},
        {"missing identity", NULL, NULL, NULL, "op1", "POST", false},
        {"empty app id", "public", "ns1", "", "op1", "POST", false},
        {"op not in policy: policy default", "public", "ns1", "app1", "opX", "POST", true},
        {"op case-insensitive for http", "public", "ns1", "app1", "Op2", "POST", false},
        {"verb not found: policy default", "domain1", "ns2", "app2", "op4", "PUT", false},
        {"verb not found, no policy default: global", "domain1", "ns1", "app3", "op5", "PUT",
         false},
        {"verb *", "public", "ns1", "app1", "op2", "PUT", false},
        {"specific verb", "domain1", "ns2", "app2", "op4", "POST", true},
        {"leading slash", "domain1", "ns2", "app2", "/op4", "POST", true},
        {"verb NONE: policy default", "domain1", "ns2", "app2", "op4", NULL, false},
        {"/op3/a/* matches /op3/a", "domain1", "ns2", "app2", "/op3/a", "PUT", true},
        {"/op3/a/* does not match /op3/b/b", "domain1", "ns2", "app2", "/op3/b/b", "PUT", false},
        {"/op3/a/* matches /op3/a/b", "domain1", "ns2", "app2", "/op3/a/b", "PUT", true},
        {"op6 no verbs listed but *", "domain1", "ns2", "app4", "op6", "GET", true},
        {"/op7/a/b/* one segment", "domain1", "ns2", "app4", "op7/a/b/c", "GET", true},
        {"/op7/a/b/* not two segments", "domain1", "ns2", "app4", "op7/a/b/c/d", "GET", false},
        {"exact deeper rule", "domain1", "ns2", "app4", "op7/a/b/c/f", "GET", true},
        {"glob inside a segment", "domain1", "ns2", "app4", "op7/a/bc", "GET", true},
        {"** any depth", "domain1", "ns2", "app4", "op7/c/d/e", "GET", true},
        {"same app, other namespace", "public", "ns4", "app1", "op6", "DELETE", true},
    };
    struct dc_configuration c;
    struct sdc_acl *acl = NULL;
    (void)state;

    build(&c, "deny", "abcd", upstream_policies,
          sizeof(upstream_policies) / sizeof(upstream_policies[0]));
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    run_checks(acl, cs, sizeof(cs) / sizeof(cs[0]));
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);
}

static void test_no_acl_allows_all(void **state)
{
    struct dc_configuration c;
    struct sdc_acl *acl = NULL;
    struct sdc_caller nobody = {NULL, NULL, NULL};
    (void)state;

    assert_int_equal(sdc_acl_new(&acl, NULL, NULL), DC_OK);
    assert_true(sdc_acl_allowed(acl, &nobody, "/anything", "DELETE", NULL, 0));
    sdc_acl_free(acl);
    assert_true(sdc_acl_allowed(NULL, NULL, "/x", "GET", NULL, 0));

    /* An empty accessControl (no default, no trust domain, no policies). */
    build(&c, NULL, NULL, NULL, 0);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    assert_true(sdc_acl_allowed(acl, &nobody, "/x", "GET", NULL, 0));
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);

    /* The standalone defaults of dc_configuration_load_file: allow, public. */
    build(&c, "allow", "public", NULL, 0);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    assert_true(sdc_acl_allowed(acl, &nobody, "/x", "GET", NULL, 0));
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);

    /* A global deny without policies denies everyone. */
    build(&c, "deny", NULL, NULL, 0);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    assert_false(sdc_acl_allowed(acl, &nobody, "/x", "GET", NULL, 0));
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);
}

static void test_precedence(void **state)
{
    static const struct policy_spec ps[] = {
        {"withdef",
         "allow",
         "public",
         "default",
         {{"/deny-post", {"POST"}, "deny"}, {"/allow-get", {"GET"}, "allow"}}},
        {"nodef",
         NULL,
         "public",
         "default",
         {{"/allow-get", {"GET"}, "allow"}, {"/Deny-All", {"*"}, "DENY"}}},
    };
    static const struct check cs[] = {
        /* 1. The operation's action for the verb. */
        {"op action deny", "public", "default", "withdef", "/deny-post", "POST", false},
        {"op action allow", "public", "default", "nodef", "/allow-get", "GET", true},
        {"op * action, mixed-case rule and action", "public", "default", "nodef", "/deny-all",
         "PATCH", false},
        /* 2. Verb not listed: the policy's defaultAction. */
        {"verb not listed -> policy default", "public", "default", "withdef", "/deny-post", "GET",
         true},
        {"no op -> policy default", "public", "default", "withdef", "/other", "GET", true},
        /* 3. No policy default: the global default (deny here: omitted with policies). */
        {"verb not listed -> global", "public", "default", "nodef", "/allow-get", "POST", false},
        {"no op -> global", "public", "default", "nodef", "/other", "GET", false},
        {"unknown caller -> global", "public", "default", "stranger", "/allow-get", "GET", false},
        {"no trust domain -> global", NULL, "default", "withdef", "/other", "GET", false},
        {"no namespace -> global", "public", NULL, "withdef", "/other", "GET", false},
    };
    struct dc_configuration c;
    struct sdc_acl *acl = NULL;
    (void)state;

    build(&c, NULL, "public", ps, 2);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    run_checks(acl, cs, sizeof(cs) / sizeof(cs[0]));
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);

    /* The same with a global allow: the last level flips. */
    build(&c, "Allow", "public", ps, 2);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    {
        struct sdc_caller nodef = {"public", "default", "nodef"};
        struct sdc_caller none = {NULL, NULL, NULL};
        assert_true(sdc_acl_allowed(acl, &nodef, "/other", "GET", NULL, 0));
        assert_true(sdc_acl_allowed(acl, &nodef, "/allow-get", "POST", NULL, 0));
        assert_false(sdc_acl_allowed(acl, &nodef, "/deny-all", "GET", NULL, 0));
        assert_true(sdc_acl_allowed(acl, &none, "/deny-all", "GET", NULL, 0));
    }
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);
}

static void test_wildcards_and_trie_quirks(void **state)
{
    static const struct policy_spec ps[] = {
        {"w",
         "deny",
         "public",
         "default",
         {{"/one/*", {"*"}, "allow"},
          {"/deep/**", {"*"}, "allow"},
          {"/pre*fix", {"*"}, "allow"},
          {"/prefix-rule", {"*"}, "allow"},
          {"/shadow/*", {"*"}, "allow"},
          {"/shadow/x", {"*"}, "deny"}}},
        {"dup", "deny", "public", "default", {{"/a", {"GET"}, "allow"}, {"/a", {"*"}, "deny"}}},
    };
    static const struct check cs[] = {
        {"* one segment", "public", "default", "w", "/one/two", "GET", true},
        {"* matches the parent", "public", "default", "w", "/one", "GET", true},
        {"* not two segments", "public", "default", "w", "/one/two/three", "GET", false},
        {"** any depth", "public", "default", "w", "/deep/a/b/c/d", "GET", true},
        {"** one level", "public", "default", "w", "/deep/a", "GET", true},
        {"glob in segment", "public", "default", "w", "/pre-and-fix", "GET", true},
        {"glob empty run", "public", "default", "w", "/prefix", "GET", true},
        {"glob no match", "public", "default", "w", "/prefox", "GET", false},
        {"a rule matches longer paths", "public", "default", "w", "/prefix-rule/sub", "GET", true},
        {"first rule shadows a later sibling", "public", "default", "w", "/shadow/x", "GET", true},
        {"duplicate names: first wins", "public", "default", "dup", "/a", "GET", true},
        {"duplicate names: first wins (verb)", "public", "default", "dup", "/a", "POST", false},
        {"upper-case request", "public", "default", "w", "/ONE/Two", "GET", true},
    };
    struct dc_configuration c;
    struct sdc_acl *acl = NULL;
    (void)state;

    build(&c, "deny", "public", ps, 2);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    run_checks(acl, cs, sizeof(cs) / sizeof(cs[0]));
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);
}

static void test_verbs(void **state)
{
    static const struct policy_spec ps[] = {
        {"v",
         "deny",
         "public",
         "default",
         {{"/op1", {"POST", "PUT"}, "allow"}, {"/op2", {"*"}, "allow"}, {"/op3", {0}, "allow"}}},
    };
    static const struct check cs[] = {
        {"listed", "public", "default", "v", "/op1", "PUT", true},
        {"not listed", "public", "default", "v", "/op1", "GET", false},
        {"verbs are case-sensitive as upstream's", "public", "default", "v", "/op1", "post", false},
        {"star", "public", "default", "v", "/op2", "OPTIONS", true},
        {"no verbs: only NONE would match, policy default", "public", "default", "v", "/op3", "GET",
         false},
        {"NONE falls back to the policy default", "public", "default", "v", "/op2", "", false},
    };
    struct dc_configuration c;
    struct sdc_acl *acl = NULL;
    (void)state;

    build(&c, "allow", "public", ps, 1);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    run_checks(acl, cs, sizeof(cs) / sizeof(cs[0]));
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);
}

static void test_normalisation(void **state)
{
    static const struct policy_spec ps[] = {
        {"n", "deny", "public", "default", {{"/a/b", {"*"}, "allow"}, {"/r", {"*"}, "allow"}}},
    };
    static const struct check cs[] = {
        {"duplicate slashes", "public", "default", "n", "//a///b", "GET", true},
        {"dot segments", "public", "default", "n", "/a/./x/../b", "GET", true},
        {"leading ../", "public", "default", "n", "../a/b", "GET", true},
        {"trailing slash", "public", "default", "n", "/a/b/", "GET", true},
        {"unreserved escape decoded", "public", "default", "n", "/%61/b", "GET", true},
        {"escaped slash stays escaped", "public", "default", "n", "/a%2Fb", "GET", false},
        {"no leading slash", "public", "default", "n", "a/b", "GET", true},
        {"dotdot cannot climb out", "public", "default", "n", "/../../r", "GET", true},
    };
    struct dc_configuration c;
    struct sdc_acl *acl = NULL;
    (void)state;

    build(&c, "deny", "public", ps, 1);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    run_checks(acl, cs, sizeof(cs) / sizeof(cs[0]));
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);
}

static void test_denial_message(void **state)
{
    static const struct policy_spec ps[] = {
        {"allowlists-caller", "deny", "public", "dapr-tests", {{"/opAllow", {"*"}, "allow"}}},
    };
    struct dc_configuration c;
    struct sdc_acl *acl = NULL;
    struct sdc_caller caller = {"public", "dapr-tests", "allowlists-caller"};
    struct sdc_caller anon = {NULL, NULL, NULL};
    char why[256];
    (void)state;

    build(&c, "deny", "public", ps, 1);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    assert_true(sdc_acl_allowed(acl, &caller, "opAllow", "POST", why, sizeof(why)));
    assert_false(sdc_acl_allowed(acl, &caller, "opDeny", "POST", why, sizeof(why)));
    /* Upstream's e2e expectation (tests/e2e/allowlists). */
    assert_string_equal(why, "access control policy has denied access to id: "
                             "spiffe://public/ns/dapr-tests/allowlists-caller operation: opDeny "
                             "verb: POST");
    assert_false(sdc_acl_allowed(acl, &anon, "//x/./y/", NULL, why, sizeof(why)));
    assert_string_equal(why, "access control policy has denied access to id:  operation: /x/y "
                             "verb: NONE");
    /* Truncation is safe. */
    assert_false(sdc_acl_allowed(acl, &anon, "x", "GET", why, 10));
    assert_int_equal(strlen(why), 9);
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);
}

static void test_long_operation(void **state)
{
    static const struct policy_spec ps[] = {
        {"n", "deny", "public", "default", {{"/long/**", {"*"}, "allow"}}},
    };
    struct dc_configuration c;
    struct sdc_acl *acl = NULL;
    struct sdc_caller caller = {"public", "default", "n"};
    size_t n = 10000;
    char *op = malloc(n + 1);
    (void)state;

    memcpy(op, "/long/", 6);
    memset(op + 6, 'x', n - 6);
    op[n] = '\0';
    build(&c, "deny", "public", ps, 1);
    assert_int_equal(sdc_acl_new(&acl, &c, NULL), DC_OK);
    assert_true(sdc_acl_allowed(acl, &caller, op, "GET", NULL, 0));
    op[1] = 'L';
    op[2] = '0';
    assert_false(sdc_acl_allowed(acl, &caller, op, "GET", NULL, 0));
    sdc_acl_free(acl);
    dc_configuration_cleanup(&c);
    free(op);
}

static void test_invalid_policies(void **state)
{
    static const struct policy_spec ps[] = {
        {"app1", "allow", NULL, "ns1", {{"/op1", {"GET"}, "allow"}}},
        {"app2", "deny", "domain1", "", {{"/op3", {"GET"}, "allow"}}},
        {"", "deny", "domain1", NULL, {{0}}},
    };
    struct dc_configuration c;
    struct sdc_acl *acl = (struct sdc_acl *)1;
    struct dc_errbuf eb = {0};
    (void)state;

    build(&c, "deny", "public", ps, 3);
    assert_int_equal(sdc_acl_new(&acl, &c, &eb), DC_EINVAL);
    assert_null(acl);
    assert_string_equal(eb.msg, "invalid access control spec. missing trustdomain for apps: "
                                "[app1], missing namespace for apps: [app2 ], missing app name "
                                "on at least one of the app policies: true");
    dc_configuration_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_cases),
        cmocka_unit_test(test_no_acl_allows_all),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_wildcards_and_trie_quirks),
        cmocka_unit_test(test_verbs),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_denial_message),
        cmocka_unit_test(test_long_operation),
        cmocka_unit_test(test_invalid_policies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
