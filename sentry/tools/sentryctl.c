/* sentryctl: a client of dapr.proto.sentry.v1.CA/SignCertificate for tests and benchmarks.
 *
 *   sentryctl sign  --address H:P --anchors ca.crt --id APP [--ns NS] [--td TD] [--key p256|
 *                   ed25519|rsa] [--csr-file F] [--token T] [--validator N] [--sentry-id URI]
 *                   [--out-chain F] [--out-key F]
 *   sentryctl bench --address H:P --anchors ca.crt [-c THREADS] [-n CONNS] [-d SECS]
 *   sentryctl local [--key p256|ed25519|rsa] [-c THREADS] [--count N]
 *
 * sign: makes a key and a CSR (or sends the bytes of --csr-file as the CSR), calls
 * SignCertificate over TLS verifying sentry's certificate against the anchors and its SPIFFE id
 * (spiffe://<td of --sentry-id>/ns/<ns>/dapr-sentry, default spiffe://localhost/ns/default/
 * dapr-sentry), then checks the answer: the chain verifies to the anchors of the response and of
 * --anchors, the leaf's single URI SAN is spiffe://<td>/ns/<ns>/<id> (td default "public"), and
 * valid_until is the leaf's NotAfter. Prints the chain and one line "OK id=... not_before=...
 * not_after=... ttl=..." (exit 0), or "ERROR code=<NAME> message=<text>" (exit 3), or
 * "CHECK FAILED: ..." (exit 4).
 *
 * bench: THREADS threads send P-256 CSRs (64 made up front) over CONNS reused connections for
 * SECS seconds; prints "certs/s p50_ms p99_ms errors client_cpu_us_per_cert" (the last is this
 * process's user+system CPU time over the load, per certificate).
 *
 * local: no sockets. THREADS threads each parse and sign N CSRs (64 made up front, key type
 * --key) with an in-memory CA (snt_csr_parse + snt_ca_sign_csr, as one request does); prints
 * "certs/s cpu_us_per_cert". For callgrind/perf: the cost of the CA logic alone. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dapr/proto/sentry/v1/sentry.pb-c.h"
#include "dc/buf.h"
#include "dc/grpc.h"
#include "dc/str.h"

#include "../sentry.h"

struct opts {
    const char *address, *anchors, *id, *ns, *td, *key, *csr_file, *token, *sentry_id;
    const char *out_chain, *out_key;
    int validator, threads, conns, secs, count;
};

static struct opts o = {.ns = "default",
                        .key = "p256",
                        .sentry_id = "spiffe://localhost/ns/default/dapr-sentry",
                        .threads = 8,
                        .conns = 4,
                        .secs = 5,
                        .count = 2000};

static int usage(void)
{
    fprintf(stderr, "usage: sentryctl sign|bench --address H:P --anchors ca.crt [options]\n"
                    "       sentryctl local [--key TYPE] [-c THREADS] [--count N]\n"
                    "       (see the comment at the top of sentry/tools/sentryctl.c)\n");
    return 2;
}

static int parse_args(int argc, char **argv)
{
    int i;

    for (i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **s = NULL;
        int *n = NULL;

        if (strcmp(a, "--address") == 0)
            s = &o.address;
        else if (strcmp(a, "--anchors") == 0)
            s = &o.anchors;
        else if (strcmp(a, "--id") == 0)
            s = &o.id;
        else if (strcmp(a, "--ns") == 0)
            s = &o.ns;
        else if (strcmp(a, "--td") == 0)
            s = &o.td;
        else if (strcmp(a, "--key") == 0)
            s = &o.key;
        else if (strcmp(a, "--csr-file") == 0)
            s = &o.csr_file;
        else if (strcmp(a, "--token") == 0)
            s = &o.token;
        else if (strcmp(a, "--sentry-id") == 0)
            s = &o.sentry_id;
        else if (strcmp(a, "--out-chain") == 0)
            s = &o.out_chain;
        else if (strcmp(a, "--out-key") == 0)
            s = &o.out_key;
        else if (strcmp(a, "--validator") == 0)
            n = &o.validator;
        else if (strcmp(a, "-c") == 0)
            n = &o.threads;
        else if (strcmp(a, "-n") == 0)
            n = &o.conns;
        else if (strcmp(a, "-d") == 0)
            n = &o.secs;
        else if (strcmp(a, "--count") == 0)
            n = &o.count;
        if ((s == NULL && n == NULL) || v == NULL)
            return usage();
        if (s != NULL)
            *s = v;
        else
            *n = (int)strtol(v, NULL, 10);
    }
    if (o.threads < 1 || o.conns < 1 || o.secs < 1 || o.count < 1)
        return usage();
    if (strcmp(argv[1], "local") != 0 && (o.address == NULL || o.anchors == NULL))
        return usage();
    return 0;
}

/* ---- TLS: trust the anchors, and require sentry's SPIFFE id ------------------------------ */

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    struct dc_spiffe_id got, want;
    X509 *cert = X509_STORE_CTX_get_current_cert(xs);

    if (!ok || X509_STORE_CTX_get_error_depth(xs) != 0)
        return ok;
    if (dc_spiffe_parse(o.sentry_id, strlen(o.sentry_id), &want, NULL) != DC_OK ||
        dc_spiffe_from_cert(cert, &got, NULL) != DC_OK || !dc_spiffe_equal(&got, &want)) {
        fprintf(stderr, "sentry's certificate does not carry %s\n", o.sentry_id);
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

static SSL_CTX *client_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, o.anchors, NULL) != 1) {
        fprintf(stderr, "cannot load anchors %s\n", o.anchors);
        exit(1);
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    return ctx;
}

static struct dc_grpc_client *client_new(SSL_CTX *ctx)
{
    struct dc_grpc_client_opts co = {0};
    struct dc_grpc_client *c = NULL;
    struct dc_errbuf eb = {0};

    co.target = o.address;
    co.ssl_ctx = ctx;
    co.server_name = "dapr-sentry";
    if (dc_grpc_client_new(&c, &co, &eb) != DC_OK) {
        fprintf(stderr, "client: %s\n", eb.msg);
        exit(1);
    }
    return c;
}

/* ---- sign -------------------------------------------------------------------------------- */

static int read_file(const char *path, struct dc_buf *b)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;

    if (f == NULL)
        return DC_EIO;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (dc_buf_append(b, chunk, n) != DC_OK) {
            fclose(f);
            return DC_ETOOBIG;
        }
    }
    fclose(f);
    return DC_OK;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static STACK_OF(X509) * pem_certs(const void *p, size_t n)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *bio = BIO_new_mem_buf(p, (int)n);
    X509 *x;

    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        sk_X509_push(sk, x);
    ERR_clear_error();
    BIO_free(bio);
    return sk;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* The chain verifies to `anchors` for TLS client and server use. */
static const char *verify_chain(STACK_OF(X509) * chain, STACK_OF(X509) * anchors)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    STACK_OF(X509) *inter = sk_X509_new_null();
    static char why[256];
    const char *res = NULL;
    int i, purpose;

    for (i = 0; i < sk_X509_num(anchors); i++)
        X509_STORE_add_cert(st, sk_X509_value(anchors, i));
    for (i = 1; i < sk_X509_num(chain); i++)
        sk_X509_push(inter, sk_X509_value(chain, i));
    for (purpose = 0; purpose < 2 && res == NULL; purpose++) {
        X509_STORE_CTX_init(xs, st, sk_X509_value(chain, 0), inter);
        X509_STORE_CTX_set_purpose(xs, purpose == 0 ? X509_PURPOSE_SSL_CLIENT
                                                    : X509_PURPOSE_SSL_SERVER);
        if (X509_verify_cert(xs) != 1) {
            snprintf(why, sizeof(why), "chain does not verify: %s",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)));
            res = why;
        }
        X509_STORE_CTX_cleanup(xs);
    }
    sk_X509_free(inter);
    X509_STORE_CTX_free(xs);
    X509_STORE_free(st);
    return res;
}

static int check_response(const Dapr__Proto__Sentry__V1__SignCertificateResponse *r)
{
    STACK_OF(X509) *chain = NULL, *resp_anchors = NULL, *file_anchors = NULL;
    struct dc_buf fa;
    struct dc_spiffe_id got, want;
    char uri[DC_SPIFFE_MAX_LEN + 1];
    const char *err = NULL;
    int64_t nb, na;

    dc_buf_init(&fa, 1u << 20);
    chain = pem_certs(r->workload_certificate.data, r->workload_certificate.len);
    if (r->n_trust_chain_certificates != 1)
        err = "trust_chain_certificates must hold one element";
    else
        resp_anchors =
            pem_certs(r->trust_chain_certificates[0].data, r->trust_chain_certificates[0].len);
    if (read_file(o.anchors, &fa) == DC_OK)
        file_anchors = pem_certs(fa.data, fa.len);
    if (err == NULL && sk_X509_num(chain) < 2)
        err = "workload_certificate must hold the leaf and the issuer";
    if (err == NULL)
        err = verify_chain(chain, resp_anchors);
    if (err == NULL)
        err = verify_chain(chain, file_anchors);
    if (err == NULL &&
        (dc_spiffe_from_cert(sk_X509_value(chain, 0), &got, NULL) != DC_OK ||
         dc_spiffe_build(&want, o.td != NULL ? o.td : "public", o.ns, o.id, NULL) != DC_OK ||
         !dc_spiffe_equal(&got, &want)))
        err = "the leaf's SPIFFE id is not the one asked for";
    if (err == NULL) {
        nb = asn1_unix(X509_get0_notBefore(sk_X509_value(chain, 0)));
        na = asn1_unix(X509_get0_notAfter(sk_X509_value(chain, 0)));
        if (r->valid_until == NULL || r->valid_until->seconds != na)
            err = "valid_until is not the leaf's NotAfter";
    }
    if (err == NULL) {
        fwrite(r->workload_certificate.data, 1, r->workload_certificate.len, stdout);
        (void)dc_spiffe_format(&got, uri, sizeof(uri));
        printf("OK id=%s not_before=%lld not_after=%lld ttl=%lld now=%lld chain=%d anchors=%d\n",
               uri, (long long)nb, (long long)na, (long long)(na - nb), (long long)time(NULL),
               sk_X509_num(chain), sk_X509_num(resp_anchors));
    } else {
        printf("CHECK FAILED: %s\n", err);
    }
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(resp_anchors, X509_free);
    sk_X509_pop_free(file_anchors, X509_free);
    dc_buf_cleanup(&fa);
    return err == NULL ? 0 : 4;
}

static void make_csr(const char *type, struct dc_buf *csr, EVP_PKEY **key)
{
    enum snt_key_type kt = SNT_KEY_EC_P256;
    struct dc_errbuf eb = {0};

    if (strcmp(type, "ed25519") == 0)
        kt = SNT_KEY_ED25519;
    else if (strcmp(type, "rsa") == 0)
        kt = SNT_KEY_RSA;
    if (snt_key_generate(kt, key, &eb) != DC_OK ||
        dc_spiffe_csr_make(*key, NULL, csr, &eb) != DC_OK) {
        fprintf(stderr, "key/CSR: %s\n", eb.msg);
        exit(1);
    }
}

static int cmd_sign(void)
{
    Dapr__Proto__Sentry__V1__SignCertificateRequest req =
        DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct dc_grpc_status st = {0};
    struct dc_grpc_call_opts co = {.timeout_ms = 10000};
    struct dc_buf csr;
    EVP_PKEY *key = NULL;
    SSL_CTX *ctx;
    struct dc_grpc_client *c;
    BIO *bio;
    char *kp;
    long kl;
    int rv, code;

    if (o.id == NULL)
        return usage();
    dc_buf_init(&csr, 1u << 20);
    if (o.csr_file != NULL) {
        if (read_file(o.csr_file, &csr) != DC_OK) {
            fprintf(stderr, "cannot read %s\n", o.csr_file);
            return 1;
        }
    } else {
        make_csr(o.key, &csr, &key);
    }
    req.id = (char *)o.id;
    req.namespace_ = (char *)o.ns;
    req.trust_domain = (char *)(o.td != NULL ? o.td : "");
    req.token = (char *)(o.token != NULL ? o.token : "");
    req.token_validator =
        (Dapr__Proto__Sentry__V1__SignCertificateRequest__TokenValidator)o.validator;
    req.certificate_signing_request.data = (uint8_t *)csr.data;
    req.certificate_signing_request.len = csr.len;
    ctx = client_ctx();
    c = client_new(ctx);
    rv = dc_grpc_client_unary_pb(c, &dapr__proto__sentry__v1__ca__descriptor, "SignCertificate",
                                 &co, &req.base, &resp, &st);
    if (rv != DC_OK) {
        printf("ERROR code=%s message=%s\n", dc_grpc_code_name(st.code),
               st.message != NULL ? st.message : "");
        code = 3;
    } else {
        code = check_response((const void *)resp);
        if (code == 0 && o.out_chain != NULL) {
            const Dapr__Proto__Sentry__V1__SignCertificateResponse *r = (const void *)resp;
            write_file(o.out_chain, r->workload_certificate.data, r->workload_certificate.len);
        }
        if (code == 0 && o.out_key != NULL && key != NULL) {
            bio = BIO_new(BIO_s_mem());
            PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
            kl = BIO_get_mem_data(bio, &kp);
            write_file(o.out_key, kp, (size_t)kl);
            BIO_free(bio);
        }
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    dc_grpc_status_cleanup(&st);
    dc_grpc_client_free(c);
    SSL_CTX_free(ctx);
    EVP_PKEY_free(key);
    dc_buf_cleanup(&csr);
    return code;
}

/* ---- bench ------------------------------------------------------------------------------- */

#define N_CSRS 64
#define MAX_SAMPLES (1u << 20)

static struct dc_buf csrs[N_CSRS];
static struct dc_grpc_client **clients;
static atomic_long n_ok, n_err;
static atomic_int stop;
static float *lat_ms; /* one slot per finished call, up to MAX_SAMPLES */
static atomic_ulong n_lat;

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *bench_thread(void *arg)
{
    long idx = (long)(intptr_t)arg, k = idx;
    struct dc_grpc_client *c = clients[idx % o.conns];
    Dapr__Proto__Sentry__V1__SignCertificateRequest req =
        DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_REQUEST__INIT;
    struct dc_grpc_call_opts co = {.timeout_ms = 10000};
    uint8_t *buf = malloc(1u << 16);
    struct dc_buf resp;
    double t0;
    size_t n;
    unsigned long slot;

    req.id = (char *)"bench";
    req.namespace_ = (char *)"default";
    dc_buf_init(&resp, 1u << 20);
    while (!atomic_load(&stop)) {
        req.certificate_signing_request.data = (uint8_t *)csrs[k % N_CSRS].data;
        req.certificate_signing_request.len = csrs[k % N_CSRS].len;
        k++;
        n = protobuf_c_message_pack(&req.base, buf);
        dc_buf_reset(&resp);
        t0 = mono_ms();
        if (dc_grpc_client_unary(c, "/dapr.proto.sentry.v1.CA/SignCertificate", &co, buf, n, &resp,
                                 NULL) == DC_OK)
            atomic_fetch_add(&n_ok, 1);
        else
            atomic_fetch_add(&n_err, 1);
        slot = atomic_fetch_add(&n_lat, 1);
        if (slot < MAX_SAMPLES)
            lat_ms[slot] = (float)(mono_ms() - t0);
    }
    dc_buf_cleanup(&resp);
    free(buf);
    return NULL;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;

    return x < y ? -1 : x > y;
}

static int cmd_bench(void)
{
    pthread_t *th = calloc((size_t)o.threads, sizeof(*th));
    SSL_CTX *ctx = client_ctx();
    struct timespec c0, c1;
    EVP_PKEY *key;
    double t0, secs, cpu;
    unsigned long n;
    long i;

    lat_ms = calloc(MAX_SAMPLES, sizeof(*lat_ms));
    for (i = 0; i < N_CSRS; i++) {
        dc_buf_init(&csrs[i], 1u << 16);
        make_csr("p256", &csrs[i], &key);
        EVP_PKEY_free(key);
    }
    clients = calloc((size_t)o.conns, sizeof(*clients));
    for (i = 0; i < o.conns; i++)
        clients[i] = client_new(ctx);
    /* Warm up: one call per connection (TLS handshakes out of the measurement). */
    o.secs = o.secs > 0 ? o.secs : 1;
    for (i = 0; i < o.conns; i++) {
        struct dc_buf r;
        Dapr__Proto__Sentry__V1__SignCertificateRequest req =
            DAPR__PROTO__SENTRY__V1__SIGN_CERTIFICATE_REQUEST__INIT;
        uint8_t buf[4096];
        size_t len;

        req.id = (char *)"bench";
        req.namespace_ = (char *)"default";
        req.certificate_signing_request.data = (uint8_t *)csrs[0].data;
        req.certificate_signing_request.len = csrs[0].len;
        len = protobuf_c_message_pack(&req.base, buf);
        dc_buf_init(&r, 1u << 20);
        if (dc_grpc_client_unary(clients[i], "/dapr.proto.sentry.v1.CA/SignCertificate", NULL, buf,
                                 len, &r, NULL) != DC_OK) {
            fprintf(stderr, "warm-up call failed\n");
            return 1;
        }
        dc_buf_cleanup(&r);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    t0 = mono_ms();
    for (i = 0; i < o.threads; i++)
        pthread_create(&th[i], NULL, bench_thread, (void *)(intptr_t)i);
    while (mono_ms() - t0 < o.secs * 1000.0) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    for (i = 0; i < o.threads; i++)
        pthread_join(th[i], NULL);
    secs = (mono_ms() - t0) / 1000.0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    n = atomic_load(&n_lat);
    if (n > MAX_SAMPLES)
        n = MAX_SAMPLES;
    qsort(lat_ms, n, sizeof(*lat_ms), cmp_float);
    printf("%.0f %.3f %.3f %ld %.1f\n", (double)atomic_load(&n_ok) / secs,
           n > 0 ? lat_ms[n / 2] : 0.0, n > 0 ? lat_ms[(size_t)((double)n * 0.99)] : 0.0,
           atomic_load(&n_err), n > 0 ? cpu * 1e6 / (double)n : 0.0);
    for (i = 0; i < o.conns; i++)
        dc_grpc_client_free(clients[i]);
    for (i = 0; i < N_CSRS; i++)
        dc_buf_cleanup(&csrs[i]);
    free(clients);
    free(th);
    free(lat_ms);
    SSL_CTX_free(ctx);
    return 0;
}

/* ---- local: the CA logic without sockets ----------------------------------------------- */

static struct snt_ca *local_ca;

static void *local_thread(void *arg)
{
    long k = (long)(intptr_t)arg;
    struct dc_spiffe_id id;
    struct snt_sign_opts so = {.id = &id};
    struct dc_errbuf eb = {0};
    int i;

    if (dc_spiffe_build(&id, "public", "default", "bench", &eb) != DC_OK)
        exit(1);
    for (i = 0; i < o.count; i++, k++) {
        struct snt_signed out = {0};
        struct snt_csr *c = NULL;

        if (snt_csr_parse(csrs[k % N_CSRS].data, csrs[k % N_CSRS].len, &c, &eb) != DC_OK ||
            snt_ca_sign_csr(local_ca, c, &so, &out, &eb) != DC_OK) {
            fprintf(stderr, "local: %s\n", eb.msg);
            exit(1);
        }
        snt_signed_cleanup(&out);
        snt_csr_free(c);
    }
    return NULL;
}

static int cmd_local(void)
{
    pthread_t *th = calloc((size_t)o.threads, sizeof(*th));
    struct snt_ca_config cfg = {0};
    struct dc_errbuf eb = {0};
    struct timespec c0, c1;
    EVP_PKEY *key;
    double t0, secs, cpu;
    long i;

    if (snt_ca_generate(&local_ca, &cfg, &eb) != DC_OK) {
        fprintf(stderr, "CA: %s\n", eb.msg);
        return 1;
    }
    for (i = 0; i < N_CSRS; i++) {
        dc_buf_init(&csrs[i], 1u << 16);
        make_csr(o.key, &csrs[i], &key);
        EVP_PKEY_free(key);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    t0 = mono_ms();
    for (i = 0; i < o.threads; i++)
        pthread_create(&th[i], NULL, local_thread, (void *)(intptr_t)(i * 7));
    for (i = 0; i < o.threads; i++)
        pthread_join(th[i], NULL);
    secs = (mono_ms() - t0) / 1000.0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    printf("%.0f %.1f\n", (double)o.threads * o.count / secs,
           cpu * 1e6 / ((double)o.threads * o.count));
    for (i = 0; i < N_CSRS; i++)
        dc_buf_cleanup(&csrs[i]);
    snt_ca_free(local_ca);
    free(th);
    return 0;
}

int main(int argc, char **argv)
{
    int rv;

    if (argc < 2)
        return usage();
    rv = parse_args(argc, argv);
    if (rv != 0)
        return rv;
    if (strcmp(argv[1], "sign") == 0)
        return cmd_sign();
    if (strcmp(argv[1], "bench") == 0)
        return cmd_bench();
    if (strcmp(argv[1], "local") == 0)
        return cmd_local();
    return usage();
}
