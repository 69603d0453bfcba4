/* The CA: generated root and issuer, storage, loading upstream-format credentials, refusals,
 * reload detection, expiry. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "snt_test_util.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/snt_test_ca.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char sub[300];
    (void)state;
    snprintf(sub, sizeof(sub), "%s/creds", tmpdir);
    test_rmdir(sub);
    test_rmdir(tmpdir);
    return 0;
}

static void get_pems(struct snt_ca *ca, struct dc_buf *a, struct dc_buf *c, struct dc_buf *k)
{
    memset(a, 0, sizeof(*a));
    memset(c, 0, sizeof(*c));
    memset(k, 0, sizeof(*k));
    assert_int_equal(snt_ca_get_pem(ca, a, c, k, NULL), DC_OK);
}

static void free_pems(struct dc_buf *a, struct dc_buf *c, struct dc_buf *k)
{
    dc_buf_cleanup(a);
    dc_buf_cleanup(c);
    dc_buf_cleanup(k);
}

static char *subject_o(X509 *x, char *buf, size_t cap)
{
    X509_NAME *n = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_entry_count(n), 1);
    assert_true(X509_NAME_get_text_by_NID(n, NID_organizationName, buf, (int)cap) > 0);
    return buf;
}

static void check_generated(enum snt_key_type type)
{
    struct snt_ca *ca = test_ca(type, T0, 0);
    struct dc_buf a, c, k;
    STACK_OF(X509) * roots, *chain;
    BASIC_CONSTRAINTS *bc;
    struct snt_ca_expiry e;
    X509 *root, *iss;
    char o[300];

    get_pems(ca, &a, &c, &k);
    assert_non_null(strstr(k.data, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
    roots = test_pem_certs(a.data, a.len);
    chain = test_pem_certs(c.data, c.len);
    assert_int_equal(sk_X509_num(roots), 1);
    assert_int_equal(sk_X509_num(chain), 1); /* chain stored = issuer only */
    root = sk_X509_value(roots, 0);
    iss = sk_X509_value(chain, 0);

    /* Root: O=<trust domain>, self-signed, CA without path length, KU sign+certSign. */
    assert_string_equal(subject_o(root, o, sizeof(o)), "cluster.local");
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(root), X509_get_issuer_name(root)), 0);
    assert_int_equal(X509_verify(root, X509_get0_pubkey(root)), 1);
    assert_int_equal(X509_get_version(root), X509_VERSION_3);
    bc = X509_get_ext_d2i(root, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    assert_true(bc->ca);
    assert_null(bc->pathlen);
    BASIC_CONSTRAINTS_free(bc);
    assert_int_equal(X509_get_key_usage(root), KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN);
    assert_non_null(X509_get0_subject_key_id(root));
    assert_int_equal(X509_get_extension_flags(root) & EXFLAG_CRITICAL, 0); /* all known */
    assert_true(X509_EXTENSION_get_critical(
        X509_get_ext(root, X509_get_ext_by_NID(root, NID_basic_constraints, -1))));
    assert_true(X509_EXTENSION_get_critical(
        X509_get_ext(root, X509_get_ext_by_NID(root, NID_key_usage, -1))));
    /* Validity: now - skew .. now + 365 days. */
    assert_int_equal(test_time(X509_get0_notBefore(root)), T0 - SNT_DEFAULT_CLOCK_SKEW_S);
    assert_int_equal(test_time(X509_get0_notAfter(root)), T0 + 365 * DAY);
    /* 128-bit random serial. */
    {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(root), NULL);
        assert_true(BN_num_bits(bn) <= 128 && BN_num_bits(bn) > 64);
        BN_free(bn);
    }

    /* Issuer: O=Sentry's SPIFFE id, signed by the root, CA, KU + cRLSign, AKI = root SKI. */
    assert_string_equal(subject_o(iss, o, sizeof(o)),
                        "spiffe://cluster.local/ns/dapr-system/dapr-sentry");
    assert_int_equal(X509_verify(iss, X509_get0_pubkey(root)), 1);
    assert_int_equal(X509_check_issued(root, iss), X509_V_OK);
    assert_true(X509_check_ca(iss) > 0);
    assert_int_equal(X509_get_key_usage(iss),
                     KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(iss), X509_get0_subject_key_id(root)), 0);
    assert_int_equal(test_time(X509_get0_notAfter(iss)), T0 + 365 * DAY);
    assert_int_equal(snt_key_classify(X509_get0_pubkey(iss), NULL), (int)type);
    assert_int_equal(snt_key_classify(X509_get0_pubkey(root), NULL), (int)type);

    snt_ca_get_expiry(ca, &e);
    assert_int_equal(e.root_not_after_s, T0 + 365 * DAY);
    assert_int_equal(e.issuer_not_after_s, T0 + 365 * DAY);
    assert_int_equal(snt_ca_expiry_check(ca, T0, SNT_EXPIRY_WARN_WINDOW_S), 0);
    assert_int_equal(snt_ca_expiry_check(ca, T0 + 340 * DAY, SNT_EXPIRY_WARN_WINDOW_S),
                     SNT_EXPIRY_ROOT | SNT_EXPIRY_ISSUER);

    sk_X509_pop_free(roots, X509_free);
    sk_X509_pop_free(chain, X509_free);
    free_pems(&a, &c, &k);
    snt_ca_free(ca);
}

static void test_generate_p256(void **state)
{
    (void)state;
    check_generated(SNT_KEY_EC_P256);
}

static void test_generate_ed25519(void **state)
{
    (void)state;
    check_generated(SNT_KEY_ED25519);
}

static void test_generate_refusals(void **state)
{
    struct snt_ca_config cfg = {0};
    struct snt_ca *ca = NULL;
    (void)state;

    cfg.key_type = SNT_KEY_RSA;
    assert_int_equal(snt_ca_generate(&ca, &cfg, NULL), DC_EINVAL);
    cfg.key_type = SNT_KEY_EC_P256;
    cfg.trust_domain = "Bad Domain";
    assert_int_equal(snt_ca_generate(&ca, &cfg, NULL), DC_EINVAL);
    cfg.trust_domain = NULL; /* "localhost" */
    assert_int_equal(snt_ca_generate(&ca, &cfg, NULL), DC_OK);
    snt_ca_free(ca);
}

static void test_open_generates_then_loads(void **state)
{
    struct snt_ca_config cfg = {0};
    struct snt_ca *ca = NULL, *ca2 = NULL;
    struct dc_buf a, c, k, a2, c2, k2;
    struct dc_errbuf eb = {0};
    char dir[300], path[400];
    struct stat st;
    bool gen = false;
    char *file;
    size_t len;
    (void)state;

    snprintf(dir, sizeof(dir), "%s/creds", tmpdir);
    cfg.creds_dir = dir;
    cfg.trust_domain = "localhost";
    assert_int_equal(snt_ca_open(&ca, &cfg, &gen, &eb), DC_OK);
    assert_true(gen);
    /* Files: ca.crt (the published bundle), issuer.crt, issuer.key 0600; folder 0700. */
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/issuer.key", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    get_pems(ca, &a, &c, &k);
    file = test_read(dir, "ca.crt", &len);
    assert_int_equal(len, a.len);
    assert_memory_equal(file, a.data, len);
    free(file);

    /* Second start: the same material is loaded, nothing generated. */
    assert_int_equal(snt_ca_open(&ca2, &cfg, &gen, &eb), DC_OK);
    assert_false(gen);
    get_pems(ca2, &a2, &c2, &k2);
    assert_int_equal(a.len, a2.len);
    assert_memory_equal(a.data, a2.data, a.len);
    assert_memory_equal(c.data, c2.data, c.len);
    assert_memory_equal(k.data, k2.data, k.len);
    free_pems(&a2, &c2, &k2);
    free_pems(&a, &c, &k);
    snt_ca_free(ca2);
    snt_ca_free(ca);
}

static void test_load_upstream_format(void **state)
{
    char dir[300], *ca_pem, *iss_pem, *key_pem, *txt;
    size_t ca_len = 0, iss_len = 0, key_len = 0;
    struct snt_ca_config cfg = {0};
    struct dc_buf a, c, k;
    struct snt_ca *ca = NULL;
    struct dc_errbuf eb = {0};
    STACK_OF(X509) * sk;
    bool gen = true;
    (void)state;

    /* Files made with openssl as the Dapr docs show (SEC1 "EC PRIVATE KEY", CN subjects). */
    snprintf(dir, sizeof(dir), "%s/upstream", testdata_dir());
    cfg.creds_dir = dir;
    assert_int_equal(snt_ca_open(&ca, &cfg, &gen, &eb), DC_OK);
    assert_false(gen);
    snt_ca_free(ca);

    /* The same with a comment before the anchor and the root appended to the issuer chain:
     * the comment is stripped and the root dropped from the chain (validate.go). */
    ca_pem = test_read(dir, "ca.crt", &ca_len);
    iss_pem = test_read(dir, "issuer.crt", &iss_len);
    key_pem = test_read(dir, "issuer.key", &key_len);
    txt = malloc(ca_len + 32);
    memcpy(txt, "# my root\n", 10);
    memcpy(txt + 10, ca_pem, ca_len);
    iss_pem = realloc(iss_pem, iss_len + ca_len + 1);
    memcpy(iss_pem + iss_len, ca_pem, ca_len + 1);
    assert_int_equal(
        snt_ca_load_pem(&ca, txt, ca_len + 10, iss_pem, iss_len + ca_len, key_pem, key_len, 0, &eb),
        DC_OK);
    get_pems(ca, &a, &c, &k);
    assert_null(strstr(a.data, "# my root"));
    assert_memory_equal(a.data, ca_pem, ca_len); /* re-encoded identically */
    sk = test_pem_certs(c.data, c.len);
    assert_int_equal(sk_X509_num(sk), 1);
    sk_X509_pop_free(sk, X509_free);
    assert_non_null(strstr(k.data, "-----BEGIN PRIVATE KEY-----")); /* re-encoded PKCS#8 */
    free_pems(&a, &c, &k);
    snt_ca_free(ca);

    /* Absolute file names override the folder. */
    {
        char abs_ca[400], abs_key[400];
        int rv;
        char *real = realpath(dir, NULL);
        assert_non_null(real);
        snprintf(abs_ca, sizeof(abs_ca), "%s/ca.crt", real);
        memset(&cfg, 0, sizeof(cfg));
        cfg.creds_dir = "/nonexistent-but-unused";
        cfg.ca_filename = abs_ca;
        cfg.cert_filename = abs_ca; /* wrong on purpose: issuer = root, key mismatch */
        snprintf(abs_key, sizeof(abs_key), "%s/issuer.key", real);
        free(real);
        cfg.key_filename = abs_key;
        rv = snt_ca_open(&ca, &cfg, &gen, &eb);
        if (rv != DC_EINVAL)
            fail_msg("%d %s", rv, eb.msg);
        assert_non_null(strstr(eb.msg, "does not match"));
    }
    free(txt);
    free(ca_pem);
    free(iss_pem);
    free(key_pem);
}

static void test_load_refusals(void **state)
{
    struct snt_ca *ca1 = test_ca(SNT_KEY_EC_P256, T0, 0);
    struct snt_ca *ca2 = test_ca(SNT_KEY_ED25519, T0, 0);
    struct snt_ca *ca = NULL;
    struct dc_buf a1, c1, k1, a2, c2, k2;
    struct dc_errbuf eb = {0};
    (void)state;

    get_pems(ca1, &a1, &c1, &k1);
    get_pems(ca2, &a2, &c2, &k2);
    /* Baseline. */
    assert_int_equal(
        snt_ca_load_pem(&ca, a1.data, a1.len, c1.data, c1.len, k1.data, k1.len, T0, &eb), DC_OK);
    snt_ca_free(ca);
    /* The issuer key of another CA. */
    assert_int_equal(
        snt_ca_load_pem(&ca, a1.data, a1.len, c1.data, c1.len, k2.data, k2.len, T0, &eb),
        DC_EINVAL);
    assert_non_null(strstr(eb.msg, "issuer key does not match"));
    /* An issuer from another root. */
    assert_int_equal(
        snt_ca_load_pem(&ca, a1.data, a1.len, c2.data, c2.len, k2.data, k2.len, T0, &eb),
        DC_EINVAL);
    assert_non_null(strstr(eb.msg, "does not belong to trust anchors"));
    /* An anchor that is not self-signed. */
    assert_int_equal(
        snt_ca_load_pem(&ca, c1.data, c1.len, c1.data, c1.len, k1.data, k1.len, T0, &eb),
        DC_EINVAL);
    assert_non_null(strstr(eb.msg, "not self-signed"));
    /* Expired issuer and root; not yet valid. */
    assert_int_equal(snt_ca_load_pem(&ca, a1.data, a1.len, c1.data, c1.len, k1.data, k1.len,
                                     T0 + 366 * DAY, &eb),
                     DC_ERANGE);
    assert_non_null(strstr(eb.msg, "expired"));
    assert_int_equal(
        snt_ca_load_pem(&ca, a1.data, a1.len, c1.data, c1.len, k1.data, k1.len, T0 - DAY, &eb),
        DC_ERANGE);
    /* Garbage, empty, and a key where certificates belong. */
    assert_int_equal(snt_ca_load_pem(&ca, "junk", 4, c1.data, c1.len, k1.data, k1.len, T0, &eb),
                     DC_EPARSE);
    assert_int_equal(snt_ca_load_pem(&ca, a1.data, a1.len, NULL, 0, k1.data, k1.len, T0, &eb),
                     DC_EPARSE);
    assert_int_equal(
        snt_ca_load_pem(&ca, a1.data, a1.len, k1.data, k1.len, k1.data, k1.len, T0, &eb),
        DC_EPARSE);
    assert_int_equal(snt_ca_load_pem(&ca, a1.data, a1.len, c1.data, c1.len, "x", 1, T0, &eb),
                     DC_EPARSE);
    /* Two anchors (rotation overlap): either issuer loads. */
    {
        struct dc_buf both = {0};
        assert_int_equal(dc_buf_append(&both, a1.data, a1.len), DC_OK);
        assert_int_equal(dc_buf_append(&both, a2.data, a2.len), DC_OK);
        assert_int_equal(
            snt_ca_load_pem(&ca, both.data, both.len, c2.data, c2.len, k2.data, k2.len, T0, &eb),
            DC_OK);
        snt_ca_free(ca);
        dc_buf_cleanup(&both);
    }
    free_pems(&a1, &c1, &k1);
    free_pems(&a2, &c2, &k2);
    snt_ca_free(ca1);
    snt_ca_free(ca2);
}

static void test_reload(void **state)
{
    struct snt_ca_config cfg = {0};
    struct snt_ca *ca = NULL, *other = test_ca(SNT_KEY_EC_P256, 0, 0);
    struct dc_buf a, c, k, oa, oc, ok, a2, c2, k2;
    struct dc_errbuf eb = {0};
    char dir[300];
    bool changed = true;
    (void)state;

    snprintf(dir, sizeof(dir), "%s/creds", tmpdir);
    cfg.creds_dir = dir;
    assert_int_equal(snt_ca_open(&ca, &cfg, NULL, &eb), DC_OK);
    get_pems(ca, &a, &c, &k);

    /* Nothing changed. */
    assert_int_equal(snt_ca_reload(ca, &changed, &eb), DC_OK);
    assert_false(changed);

    /* A half-written set (new ca.crt, old issuer) fails and keeps the old material. */
    get_pems(other, &oa, &oc, &ok);
    test_write(dir, "ca.crt", oa.data, oa.len);
    assert_int_equal(snt_ca_reload(ca, &changed, &eb), DC_EINVAL);
    assert_false(changed);
    get_pems(ca, &a2, &c2, &k2);
    assert_memory_equal(a2.data, a.data, a.len);
    free_pems(&a2, &c2, &k2);

    /* The full new set is picked up. */
    test_write(dir, "issuer.crt", oc.data, oc.len);
    test_write(dir, "issuer.key", ok.data, ok.len);
    assert_int_equal(snt_ca_reload(ca, &changed, &eb), DC_OK);
    assert_true(changed);
    get_pems(ca, &a2, &c2, &k2);
    assert_int_equal(a2.len, oa.len);
    assert_memory_equal(a2.data, oa.data, oa.len);
    free_pems(&a2, &c2, &k2);
    assert_int_equal(snt_ca_reload(ca, &changed, &eb), DC_OK);
    assert_false(changed);

    /* A vanished file is an error; the CA keeps working. */
    {
        char path[400];
        snprintf(path, sizeof(path), "%s/issuer.key", dir);
        unlink(path);
        assert_int_equal(snt_ca_reload(ca, &changed, &eb), DC_ENOTFOUND);
    }
    /* A CA not made from files cannot reload. */
    assert_int_equal(snt_ca_reload(other, &changed, &eb), DC_EINVAL);

    free_pems(&oa, &oc, &ok);
    free_pems(&a, &c, &k);
    snt_ca_free(other);
    snt_ca_free(ca);
}

static void test_update_pem_same_is_noop(void **state)
{
    struct snt_ca *ca = test_ca(SNT_KEY_EC_P256, 0, 0);
    struct dc_buf a, c, k;
    bool changed = true;
    (void)state;

    get_pems(ca, &a, &c, &k);
    /* The CA was built from exactly these re-encoded texts (generate -> load). */
    assert_int_equal(
        snt_ca_update_pem(ca, a.data, a.len, c.data, c.len, k.data, k.len, 0, &changed, NULL),
        DC_OK);
    assert_false(changed);
    free_pems(&a, &c, &k);
    snt_ca_free(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_p256),
        cmocka_unit_test(test_generate_ed25519),
        cmocka_unit_test(test_generate_refusals),
        cmocka_unit_test_setup_teardown(test_open_generates_then_loads, setup, teardown),
        cmocka_unit_test(test_load_upstream_format),
        cmocka_unit_test(test_load_refusals),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test(test_update_pem_same_is_noop),
    };
    return cmocka_run_group_tests_name("sentry_ca", tests, NULL, NULL);
}
