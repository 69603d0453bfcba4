/* daprd's workload identity (identity.h): renewal and retry schedules, trust bundle parsing,
 * CSR contents, checks of a signed chain, and the whole loop against an in-process sentry
 * (gRPC over TLS, sentry's CA logic): first certificate, renewal at half life, the anchors file
 * re-read on change, a sentry with the wrong identity refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dc/grpc.h"
#include "dc/mem.h"
#include "dc/time.h"

#include "dapr/proto/sentry/v1/sentry.pb-c.h"

#include "dc/identity.h"

#include "../../sentry/sentry.h"

/* ---- schedules ---------------------------------------------------------------------------- */

static void test_renew_at(void **state)
{
    (void)state;
    /* Half of the validity. */
    assert_int_equal(dc_identity_renew_at(1000, 1100, 1000), 1050);
    /* NotBefore back-dated by the clock skew (15 min) does not count: half of what is left. */
    assert_int_equal(dc_identity_renew_at(1000 - 900, 1010, 1000), 1005);
    /* Received late: half of what was left on arrival. */
    assert_int_equal(dc_identity_renew_at(1000, 1100, 1060), 1080);
    /* 24 h certificate: renewed 12 h after arrival. */
    assert_int_equal(dc_identity_renew_at(5000 - 900, 5000 + 86400, 5000), 5000 + 43200);
    /* Never sooner than 1 s after arrival (no busy loop on tiny or expired certificates). */
    assert_int_equal(dc_identity_renew_at(1000, 1001, 1000), 1001);
    assert_int_equal(dc_identity_renew_at(1000, 900, 1000), 1001);
}

static void test_retry_at(void **state)
{
    (void)state;
    assert_int_equal(dc_identity_retry_at(100, 1, 10000), 101);
    assert_int_equal(dc_identity_retry_at(100, 2, 10000), 102);
    assert_int_equal(dc_identity_retry_at(100, 3, 10000), 104);
    assert_int_equal(dc_identity_retry_at(100, 5, 10000), 116);
    assert_int_equal(dc_identity_retry_at(100, 6, 10000), 130);
    assert_int_equal(dc_identity_retry_at(100, 60, 10000), 130);
    /* A last try 1 s before expiry. */
    assert_int_equal(dc_identity_retry_at(100, 5, 105), 104);
    /* Already expired: keep trying every second or more. */
    assert_int_equal(dc_identity_retry_at(100, 1, 50), 101);
    assert_int_equal(dc_identity_retry_at(100, 4, 50), 108);
}

/* ---- a CA made with sentry's logic --------------------------------------------------------- */

static struct snt_ca *new_ca(const char *td)
{
    struct snt_ca_config cc = {0};
    struct snt_ca *ca = NULL;
    struct dc_errbuf eb = {{0}};

    cc.trust_domain = td;
    assert_int_equal(snt_ca_generate(&ca, &cc, &eb), DC_OK);
    return ca;
}

static char *ca_anchors(struct snt_ca *ca)
{
    struct dc_buf b;
    size_t n;

    dc_buf_init(&b, 0);
    assert_int_equal(snt_ca_get_pem(ca, &b, NULL, NULL, NULL), DC_OK);
    assert_int_equal(dc_buf_appendc(&b, '\0'), DC_OK);
    return dc_buf_take(&b, &n);
}

/* Sign a CSR for `key` as spiffe://<td>/ns/<ns>/<app>, TTL `ttl_s`. */
static void sign(struct snt_ca *ca, EVP_PKEY *key, const char *td, const char *ns, const char *app,
                 int64_t ttl_s, struct snt_signed *out)
{
    struct dc_spiffe_id id;
    struct snt_sign_opts so = {0};
    struct snt_csr *csr = NULL;
    struct dc_buf pem;

    dc_buf_init(&pem, 0);
    assert_int_equal(dc_identity_make_csr(key, td, ns, app, &pem, NULL), DC_OK);
    assert_int_equal(snt_csr_parse(pem.data, pem.len, &csr, NULL), DC_OK);
    assert_int_equal(dc_spiffe_build(&id, td, ns, app, NULL), DC_OK);
    so.id = &id;
    so.ttl_s = ttl_s;
    so.skew_s = 0;
    memset(out, 0, sizeof(*out));
    assert_int_equal(snt_ca_sign_csr(ca, csr, &so, out, NULL), DC_OK);
    snt_csr_free(csr);
    dc_buf_cleanup(&pem);
}

/* ---- pure parts ---------------------------------------------------------------------------- */

static void test_parse_anchors(void **state)
{
    struct snt_ca *a = new_ca("localhost"), *b = new_ca("localhost");
    char *pa = ca_anchors(a), *pb = ca_anchors(b);
    size_t n = strlen(pa) + strlen(pb) + 1;
    char *both = dc_xmalloc(n);
    X509_STORE *st = NULL;
    struct dc_errbuf eb = {{0}};

    (void)state;
    snprintf(both, n, "%s%s", pa, pb);
    assert_int_equal(dc_identity_parse_anchors(both, strlen(both), &st, &eb), DC_OK);
    assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(st)), 2);
    X509_STORE_free(st);
    /* Listing one root twice (an overlap file written carelessly) is fine. */
    snprintf(both, n, "%s%s", pa, pa);
    assert_int_equal(dc_identity_parse_anchors(both, strlen(both), &st, &eb), DC_OK);
    X509_STORE_free(st);
    assert_int_equal(dc_identity_parse_anchors("", 0, &st, &eb), DC_EPARSE);
    assert_int_equal(dc_identity_parse_anchors("junk", 4, &st, &eb), DC_EPARSE);
    assert_int_equal(dc_identity_parse_anchors(pa, 40, &st, &eb), DC_EPARSE); /* truncated */
    free(both);
    free(pa);
    free(pb);
    snt_ca_free(a);
    snt_ca_free(b);
}

/* The URI SANs requested by a CSR, joined with ','. */
static void csr_uris(const char *pem, char *out, size_t cap)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    STACK_OF(X509_EXTENSION) * exts;
    GENERAL_NAMES *gens;

    assert_non_null(req);
    out[0] = '\0';
    exts = X509_REQ_get_extensions(req);
    gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

        assert_int_equal(g->type, GEN_URI);
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] != '\0' ? "," : "",
                 (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    BIO_free(b);
}

static void test_make_csr(void **state)
{
    EVP_PKEY *key = NULL;
    struct snt_csr *csr = NULL;
    struct dc_buf pem;
    char uris[512];

    (void)state;
    assert_int_equal(snt_key_generate(SNT_KEY_EC_P256, &key, NULL), DC_OK);
    dc_buf_init(&pem, 0);
    assert_int_equal(dc_identity_make_csr(key, NULL, NULL, "order-svc", &pem, NULL), DC_OK);
    assert_non_null(strstr(dc_buf_cstr(&pem), "-----BEGIN CERTIFICATE REQUEST-----"));
    /* sentry accepts it: self-signature, P-256 key... */
    assert_int_equal(snt_csr_parse(pem.data, pem.len, &csr, NULL), DC_OK);
    assert_int_equal(snt_csr_key_type(csr), SNT_KEY_EC_P256);
    assert_int_equal(EVP_PKEY_eq(snt_csr_pubkey(csr), key), 1);
    snt_csr_free(csr);
    /* ...and its one URI SAN is our SPIFFE id, trust domain "public" by default. */
    csr_uris(dc_buf_cstr(&pem), uris, sizeof(uris));
    assert_string_equal(uris, "spiffe://public/ns/default/order-svc");
    dc_buf_reset(&pem);
    assert_int_equal(dc_identity_make_csr(key, "corp.example", "prod", "a_b-1", &pem, NULL), DC_OK);
    csr_uris(dc_buf_cstr(&pem), uris, sizeof(uris));
    assert_string_equal(uris, "spiffe://corp.example/ns/prod/a_b-1");
    /* Ids that cannot be SPIFFE path segments or trust domains. */
    dc_buf_reset(&pem);
    assert_int_equal(dc_identity_make_csr(key, NULL, "default", "a/b", &pem, NULL), DC_EINVAL);
    assert_int_equal(dc_identity_make_csr(key, "Upper", "default", "a", &pem, NULL), DC_EINVAL);
    assert_int_equal(dc_identity_make_csr(key, NULL, "..", "a", &pem, NULL), DC_EINVAL);
    dc_buf_cleanup(&pem);
    EVP_PKEY_free(key);
}

static void test_check_chain(void **state)
{
    struct snt_ca *ca = new_ca("localhost"), *other = new_ca("localhost");
    char *anchors = ca_anchors(ca), *other_anchors = ca_anchors(other);
    X509_STORE *st = NULL, *ost = NULL;
    EVP_PKEY *key = NULL, *key2 = NULL;
    struct snt_signed sg;
    struct dc_spiffe_id id;
    struct dc_errbuf eb = {{0}};
    int64_t nb = 0, na = 0, now = time(NULL);

    (void)state;
    assert_int_equal(dc_identity_parse_anchors(anchors, strlen(anchors), &st, NULL), DC_OK);
    assert_int_equal(dc_identity_parse_anchors(other_anchors, strlen(other_anchors), &ost, NULL),
                     DC_OK);
    assert_int_equal(snt_key_generate(SNT_KEY_EC_P256, &key, NULL), DC_OK);
    assert_int_equal(snt_key_generate(SNT_KEY_EC_P256, &key2, NULL), DC_OK);
    sign(ca, key, "public", "default", "a", 3600, &sg);
    assert_int_equal(dc_identity_check_chain(sg.chain.data, sg.chain.len, key, st, "default", "a",
                                             0, &id, &nb, &na, &eb),
                     DC_OK);
    assert_string_equal(id.trust_domain, "public");
    assert_string_equal(id.app_id, "a");
    assert_int_equal(na, sg.not_after_s);
    assert_int_equal(nb, sg.not_before_s);
    assert_true(na - nb == 3600);
    /* Not our key, not our app or namespace, not our CA, expired. */
    assert_int_equal(dc_identity_check_chain(sg.chain.data, sg.chain.len, key2, st, "default", "a",
                                             0, &id, &nb, &na, &eb),
                     DC_EINVAL);
    assert_int_equal(dc_identity_check_chain(sg.chain.data, sg.chain.len, key, st, "default", "b",
                                             0, &id, &nb, &na, &eb),
                     DC_EINVAL);
    assert_int_equal(dc_identity_check_chain(sg.chain.data, sg.chain.len, key, st, "prod", "a", 0,
                                             &id, &nb, &na, &eb),
                     DC_EINVAL);
    assert_int_equal(dc_identity_check_chain(sg.chain.data, sg.chain.len, key, ost, "default", "a",
                                             0, &id, &nb, &na, &eb),
                     DC_ETLS);
    assert_int_equal(dc_identity_check_chain(sg.chain.data, sg.chain.len, key, st, "default", "a",
                                             now + 7200, &id, &nb, &na, &eb),
                     DC_ETLS);
    /* Without the issuer in the PEM the leaf does not chain to the root. */
    {
        const char *end = strstr(sg.chain.data, "-----END CERTIFICATE-----");
        size_t leaf_len = (size_t)(end - sg.chain.data) + strlen("-----END CERTIFICATE-----\n");

        assert_int_equal(dc_identity_check_chain(sg.chain.data, leaf_len, key, st, "default", "a",
                                                 0, &id, &nb, &na, &eb),
                         DC_ETLS);
    }
    assert_int_equal(
        dc_identity_check_chain("nope", 4, key, st, "default", "a", 0, &id, &nb, &na, &eb),
        DC_EPARSE);
    snt_signed_cleanup(&sg);
    X509_STORE_free(st);
    X509_STORE_free(ost);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
    free(anchors);
    free(other_anchors);
    snt_ca_free(ca);
    snt_ca_free(other);
}

/* ---- against an in-process sentry ----------------------------------------------------------- */

struct sentry {
    struct snt_ca *ca;
    struct dc_grpc_server *srv;
    SSL_CTX *ctx;
    int64_t ttl_s;
    atomic_int signed_count;
    char target[64];
};

static void sign_certificate(struct dc_grpc_call *call, const ProtobufCMessage *msg, void *ud)
{
    const Dapr__Proto__Sentry__V1__SignCertificateRequest *req = (const void *)msg;
    Dapr__Proto__Sentry__V1__SignCertificateResponse resp =
        DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_RESPONSE__INIT;
    struct sentry *s = ud;
    struct snt_csr *csr = NULL;
    struct dc_spiffe_id id;
    struct snt_sign_opts so = {0};
    struct snt_signed out = {0};

    /* What daprd sends in self-hosted mode without a token file. */
    assert_int_equal(req->token_validator,
                     DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_REQUEST__TOKEN_VALIDATOR__UNKNOWN);
    assert_string_equal(req->token, "");
    assert_int_equal(snt_csr_parse(req->certificate_signing_request.data,
                                   req->certificate_signing_request.len, &csr, NULL),
                     DC_OK);
    assert_int_equal(dc_spiffe_build(&id, req->trust_domain[0] ? req->trust_domain : "public",
                                     req->namespace_, req->id, NULL),
                     DC_OK);
    so.id = &id;
    so.ttl_s = s->ttl_s;
    so.skew_s = 900; /* the default back-dating must not make daprd renew at once */
    assert_int_equal(snt_ca_sign_csr(s->ca, csr, &so, &out, NULL), DC_OK);
    resp.workload_certificate.data = (uint8_t *)out.chain.data;
    resp.workload_certificate.len = out.chain.len;
    (void)dc_grpc_call_reply_pb(call, &resp.base);
    atomic_fetch_add(&s->signed_count, 1);
    snt_signed_cleanup(&out);
    snt_csr_free(csr);
}

static void sentry_start(struct sentry *s, const char *serving_app, int64_t ttl_s)
{
    struct dc_grpc_server_opts so = {0};
    struct dc_spiffe_id id;
    struct snt_sign_opts sg = {0};
    struct snt_signed out = {0};
    EVP_PKEY *key = NULL;
    BIO *b;
    X509 *x;

    memset(s, 0, sizeof(*s));
    s->ca = new_ca("localhost");
    s->ttl_s = ttl_s;
    assert_int_equal(snt_key_generate(SNT_KEY_EC_P256, &key, NULL), DC_OK);
    assert_int_equal(dc_spiffe_build(&id, "localhost", "default", serving_app, NULL), DC_OK);
    sg.id = &id;
    sg.ttl_s = 3600;
    assert_int_equal(snt_ca_sign(s->ca, key, &sg, &out, NULL), DC_OK);
    s->ctx = SSL_CTX_new(TLS_server_method());
    b = BIO_new_mem_buf(out.chain.data, (int)out.chain.len);
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    assert_int_equal(SSL_CTX_use_certificate(s->ctx, x), 1);
    X509_free(x);
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    assert_int_equal(SSL_CTX_add1_chain_cert(s->ctx, x), 1);
    X509_free(x);
    BIO_free(b);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, key), 1);
    EVP_PKEY_free(key);
    snt_signed_cleanup(&out);
    so.ssl_ctx = s->ctx;
    assert_int_equal(dc_grpc_server_new(&s->srv, &so, NULL), DC_OK);
    assert_int_equal(dc_grpc_server_add_pb_unary(s->srv, &dapr__proto__sentry__v1__ca__descriptor,
                                                 "SignCertificate", sign_certificate, s, 0, NULL),
                     DC_OK);
    assert_int_equal(dc_grpc_server_listen(s->srv, "127.0.0.1", 0, NULL), DC_OK);
    assert_int_equal(dc_grpc_server_start(s->srv, NULL), DC_OK);
    snprintf(s->target, sizeof(s->target), "127.0.0.1:%d", dc_grpc_server_port(s->srv));
}

static void sentry_stop(struct sentry *s)
{
    dc_grpc_server_free(s->srv);
    SSL_CTX_free(s->ctx);
    snt_ca_free(s->ca);
}

struct changes {
    atomic_int n;
    atomic_uint_fast64_t last_gen;
};

static void on_change(const struct dc_svid *svid, void *ud)
{
    struct changes *c = ud;

    atomic_store(&c->last_gen, svid->generation);
    atomic_fetch_add(&c->n, 1);
}

static void write_file(const char *path, const char *text)
{
    char tmp[300];
    FILE *f;

    /* Atomically, as a Kubernetes volume or a careful operator does. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static bool wait_for(atomic_uint_fast64_t *v, uint64_t want, int64_t ms)
{
    int64_t end = dc_mono_ns() + ms * 1000000;

    while (atomic_load(v) < want && dc_mono_ns() < end) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(v) >= want;
}

static void test_identity_loop(void **state)
{
    struct sentry s, other;
    struct dc_identity_opts o = {0};
    struct dc_identity *id = NULL;
    struct dc_svid *sv, *sv2;
    struct changes ch;
    struct dc_errbuf eb = {{0}};
    char path[] = "/tmp/daprc-anchors-XXXXXX";
    char *anchors, *other_anchors, *both;
    size_t n;
    int fd;

    (void)state;
    atomic_init(&ch.n, 0);
    atomic_init(&ch.last_gen, 0);
    sentry_start(&s, "dapr-sentry", 4);
    sentry_start(&other, "dapr-sentry", 3600);
    anchors = ca_anchors(s.ca);
    other_anchors = ca_anchors(other.ca);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, anchors);

    o.sentry_address = s.target;
    o.app_id = "myapp";
    o.anchors_file = path;
    o.anchors_pem = other_anchors; /* the file wins */
    o.anchors_poll_ms = 50;
    o.startup_timeout_ms = 5000;
    assert_int_equal(dc_identity_start(&id, &o, &eb), DC_OK);
    dc_identity_on_change(id, on_change, &ch);
    sv = dc_identity_get(id);
    assert_string_equal(sv->spiffe, "spiffe://public/ns/default/myapp");
    assert_int_equal(sv->generation, 1);
    assert_int_equal(dc_identity_generation(id), 1);
    assert_non_null(strstr(sv->key_pem, "PRIVATE KEY"));
    assert_string_equal(sv->anchors_pem, anchors);
    assert_true(sv->not_after_s - sv->not_before_s == 4 + 900);

    /* A 4 s certificate is renewed about 2 s after it arrived, with a new key. */
    assert_true(wait_for(&ch.last_gen, 2, 4000));
    sv2 = dc_identity_get(id);
    assert_int_equal(sv2->anchors_gen, sv->anchors_gen);
    assert_true(sv2->not_after_s >= sv->not_after_s);
    assert_string_not_equal(sv2->key_pem, sv->key_pem);
    assert_int_equal(atomic_load(&s.signed_count), 2);
    /* The old snapshot is still intact while referenced. */
    assert_string_equal(sv->spiffe, "spiffe://public/ns/default/myapp");
    dc_svid_release(sv);
    dc_svid_release(sv2);

    /* Root rotation: both roots in the file -> new anchors published, same certificate. */
    n = strlen(anchors) + strlen(other_anchors) + 1;
    both = dc_xmalloc(n);
    snprintf(both, n, "%s%s", anchors, other_anchors);
    sv = dc_identity_get(id);
    write_file(path, both);
    assert_true(wait_for(&ch.last_gen, sv->generation + 1, 2000));
    sv2 = dc_identity_get(id);
    assert_int_equal(sv2->anchors_gen, sv->anchors_gen + 1);
    assert_string_equal(sv2->anchors_pem, both);
    dc_svid_release(sv);
    dc_svid_release(sv2);
    /* A broken file keeps the current anchors. */
    write_file(path, "-----BEGIN CERTIFICATE-----\ngarbage\n");
    dc_identity_renew_now(id);
    sv = dc_identity_get(id);
    assert_true(wait_for(&ch.last_gen, sv->generation + 1, 2000));
    sv2 = dc_identity_get(id);
    assert_string_equal(sv2->anchors_pem, both);
    dc_svid_release(sv);
    dc_svid_release(sv2);
    dc_identity_free(id);
    id = NULL;

    /* The other sentry: its certificate chains to the (now trusted) other root, and daprd
     * accepts it; a sentry whose certificate names another identity is refused. */
    write_file(path, both);
    o.sentry_address = other.target;
    assert_int_equal(dc_identity_start(&id, &o, &eb), DC_OK);
    dc_identity_free(id);
    id = NULL;
    sentry_stop(&other);
    sentry_start(&other, "dapr-operator", 3600);
    free(other_anchors);
    other_anchors = ca_anchors(other.ca);
    snprintf(both, n, "%s%s", anchors, other_anchors);
    write_file(path, both);
    o.sentry_address = other.target;
    o.startup_timeout_ms = 300;
    assert_int_not_equal(dc_identity_start(&id, &o, &eb), DC_OK);
    assert_null(id);
    assert_int_equal(atomic_load(&other.signed_count), 0);
    /* And no anchors at all. */
    o.anchors_file = NULL;
    o.anchors_pem = NULL;
    assert_int_equal(dc_identity_start(&id, &o, &eb), DC_EINVAL);

    unlink(path);
    free(both);
    free(anchors);
    free(other_anchors);
    sentry_stop(&s);
    sentry_stop(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renew_at),      cmocka_unit_test(test_retry_at),
        cmocka_unit_test(test_parse_anchors), cmocka_unit_test(test_make_csr),
        cmocka_unit_test(test_check_chain),   cmocka_unit_test(test_identity_loop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
