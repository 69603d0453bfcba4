/* test-ca: a minimal sentry for the mTLS integration tests (tests/integration/test_mtls.sh),
 * used when build/bin/sentry is not there. It is sentry's CA logic (sentry/sentry.h) behind
 * dapr.proto.sentry.v1.CA/SignCertificate on gRPC over TLS, with the insecure validator only:
 *
 *   test-ca --creds DIR [--port N] [--ttl S] [--skew S] [--trust-domain TD] [--namespace NS]
 *
 * DIR holds ca.crt, issuer.crt and issuer.key (generated when missing, as sentry does). The
 * serving certificate is an SVID for spiffe://<TD>/ns/<NS>/dapr-sentry signed by the issuer.
 * Prints "PORT <n>" once serving; stops on SIGTERM/SIGINT. Not installed; no reload. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "dc/grpc.h"
#include "dc/str.h"

#include "dapr/proto/sentry/v1/sentry.pb-c.h"

#include "../../sentry/sentry.h"

struct ca_state {
    struct snt_ca *ca;
    int64_t ttl_s;
    int64_t skew_s;
};

static void sign_certificate(struct dc_grpc_call *call, const ProtobufCMessage *msg, void *ud)
{
    const Dapr__Proto__Sentry__V1__SignCertificateRequest *req = (const void *)msg;
    Dapr__Proto__Sentry__V1__SignCertificateResponse resp =
        DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_RESPONSE__INIT;
    Google__Protobuf__Timestamp until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    struct ca_state *st = ud;
    struct snt_request r = {0};
    struct snt_validation v;
    struct dc_spiffe_id id;
    struct snt_sign_opts so = {0};
    struct snt_signed out = {0};
    struct snt_csr *csr = NULL;
    struct dc_errbuf eb = {{0}};
    ProtobufCBinaryData anchors;

    r.id = req->id;
    r.token = req->token;
    r.trust_domain = req->trust_domain;
    r.ns = req->namespace_;
    r.csr_len = req->certificate_signing_request.len;
    r.validator = (enum snt_validator)req->token_validator;
    if (r.validator != SNT_VALIDATOR_UNKNOWN && r.validator != SNT_VALIDATOR_INSECURE) {
        dc_grpc_call_finish(call, DC_GRPC_INVALID_ARGUMENT, "validator not enabled");
        return;
    }
    if (snt_validate_insecure(&r, &v, &eb) != DC_OK) {
        dc_grpc_call_finish(call, DC_GRPC_PERMISSION_DENIED, eb.msg);
        return;
    }
    if (snt_csr_parse(req->certificate_signing_request.data, req->certificate_signing_request.len,
                      &csr, &eb) != DC_OK ||
        dc_spiffe_build(&id, v.trust_domain, req->namespace_, req->id, &eb) != DC_OK) {
        snt_csr_free(csr);
        dc_grpc_call_finish(call, DC_GRPC_INVALID_ARGUMENT, eb.msg);
        return;
    }
    so.id = &id;
    so.ttl_s = st->ttl_s;
    so.skew_s = st->skew_s;
    if (snt_ca_sign_csr(st->ca, csr, &so, &out, &eb) != DC_OK) {
        snt_csr_free(csr);
        dc_grpc_call_finish(call, DC_GRPC_INTERNAL, eb.msg);
        return;
    }
    resp.workload_certificate.data = (uint8_t *)out.chain.data;
    resp.workload_certificate.len = out.chain.len;
    anchors.data = (uint8_t *)out.anchors.data;
    anchors.len = out.anchors.len;
    resp.trust_chain_certificates = &anchors;
    resp.n_trust_chain_certificates = 1;
    until.seconds = out.not_after_s;
    resp.valid_until = &until;
    (void)dc_grpc_call_reply_pb(call, &resp.base);
    snt_signed_cleanup(&out);
    snt_csr_free(csr);
}

/* The serving TLS context: an SVID for dapr-sentry, with the issuer chain. */
static SSL_CTX *serving_ctx(struct snt_ca *ca, const char *td, const char *ns, struct dc_errbuf *eb)
{
    struct dc_spiffe_id id;
    struct snt_sign_opts so = {0};
    struct snt_signed out = {0};
    EVP_PKEY *key = NULL;
    SSL_CTX *ctx = NULL;
    BIO *b = NULL;
    X509 *x;
    bool first = true;

    if (dc_spiffe_build(&id, td, ns, "dapr-sentry", eb) != DC_OK ||
        snt_key_generate(SNT_KEY_EC_P256, &key, eb) != DC_OK)
        goto out;
    so.id = &id;
    so.ttl_s = 365 * 24 * 3600;
    if (snt_ca_sign(ca, key, &so, &out, eb) != DC_OK)
        goto out;
    ctx = SSL_CTX_new(TLS_server_method());
    b = BIO_new_mem_buf(out.chain.data, (int)out.chain.len);
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (first)
            SSL_CTX_use_certificate(ctx, x);
        else
            SSL_CTX_add1_chain_cert(ctx, x);
        first = false;
        X509_free(x);
    }
    ERR_clear_error();
    if (first || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        dc_err_set(eb, DC_ETLS, "serving certificate");
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
out:
    BIO_free(b);
    EVP_PKEY_free(key);
    snt_signed_cleanup(&out);
    return ctx;
}

int main(int argc, char **argv)
{
    struct snt_ca_config cc = {0};
    struct ca_state st = {0};
    struct dc_grpc_server_opts so = {0};
    struct dc_grpc_server *srv = NULL;
    struct dc_errbuf eb = {{0}};
    const char *td = "localhost", *ns = "default";
    int64_t port = 0;
    sigset_t set;
    int sig;

    st.ttl_s = SNT_DEFAULT_WORKLOAD_TTL_S;
    st.skew_s = SNT_DEFAULT_CLOCK_SKEW_S;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *f = argv[i], *v = argv[i + 1];

        if (strcmp(f, "--creds") == 0)
            cc.creds_dir = v;
        else if (strcmp(f, "--trust-domain") == 0)
            td = v;
        else if (strcmp(f, "--namespace") == 0)
            ns = v;
        else if ((strcmp(f, "--port") == 0 && dc_str_to_i64(v, 0, 65535, &port) == DC_OK) ||
                 (strcmp(f, "--ttl") == 0 && dc_str_to_i64(v, 1, INT32_MAX, &st.ttl_s) == DC_OK) ||
                 (strcmp(f, "--skew") == 0 && dc_str_to_i64(v, 0, INT32_MAX, &st.skew_s) == DC_OK))
            continue;
        else {
            fprintf(stderr, "test-ca: bad flag %s %s\n", f, v);
            return 2;
        }
    }
    if (cc.creds_dir == NULL) {
        fprintf(stderr, "test-ca: --creds DIR is required\n");
        return 2;
    }
    cc.trust_domain = td;
    cc.ns = ns;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (snt_ca_open(&st.ca, &cc, NULL, &eb) != DC_OK ||
        (so.ssl_ctx = serving_ctx(st.ca, td, ns, &eb)) == NULL ||
        dc_grpc_server_new(&srv, &so, &eb) != DC_OK ||
        dc_grpc_server_add_pb_unary(srv, &dapr__proto__sentry__v1__ca__descriptor,
                                    "SignCertificate", sign_certificate, &st, 0, &eb) != DC_OK ||
        dc_grpc_server_listen(srv, "127.0.0.1", (int)port, &eb) != DC_OK ||
        dc_grpc_server_start(srv, &eb) != DC_OK) {
        fprintf(stderr, "test-ca: %s\n", eb.msg);
        return 1;
    }
    printf("PORT %d\n", dc_grpc_server_port(srv));
    fflush(stdout);
    sigwait(&set, &sig);
    dc_grpc_server_shutdown(srv, 1000);
    dc_grpc_server_free(srv);
    SSL_CTX_free(so.ssl_ctx);
    snt_ca_free(st.ca);
    return 0;
}
