#ifndef SNT_TEST_UTIL_H
#define SNT_TEST_UTIL_H

/* Helpers shared by sentry's unit tests (included by each test file after cmocka.h; static). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "../sentry.h"

/* A fixed clock: 2030-01-01T00:00:00Z. */
#define T0 1893456000LL
#define DAY (24 * 3600LL)

static inline const char *testdata_dir(void)
{
    const char *d = getenv("SNT_TESTDATA");
    return d != NULL ? d : "sentry/tests/testdata";
}

/* A generated CA with `type` keys at clock `now` (0 = current time). */
static inline struct snt_ca *test_ca(enum snt_key_type type, int64_t now, int64_t ttl)
{
    struct snt_ca_config cfg = {0};
    struct snt_ca *ca = NULL;
    struct dc_errbuf eb = {0};

    cfg.trust_domain = "cluster.local";
    cfg.ns = "dapr-system";
    cfg.key_type = type;
    cfg.skew_s = SNT_DEFAULT_CLOCK_SKEW_S;
    cfg.ca_ttl_s = ttl;
    cfg.now_s = now;
    if (snt_ca_generate(&ca, &cfg, &eb) != DC_OK) {
        fprintf(stderr, "test_ca: %s\n", eb.msg);
        abort();
    }
    return ca;
}

static inline EVP_PKEY *test_key(enum snt_key_type type)
{
    EVP_PKEY *k = NULL;
    struct dc_errbuf eb = {0};

    if (snt_key_generate(type, &k, &eb) != DC_OK) {
        fprintf(stderr, "test_key: %s\n", eb.msg);
        abort();
    }
    return k;
}

/* Every certificate of a PEM text, in order. */
static inline STACK_OF(X509) * test_pem_certs(const char *pem, size_t len)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x;

    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        sk_X509_push(sk, x);
    ERR_clear_error();
    BIO_free(bio);
    return sk;
}

static inline int64_t test_time(const ASN1_TIME *t)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    return (int64_t)timegm(&tm);
}

/* Write a file (tests only). */
static inline void test_write(const char *dir, const char *name, const void *data, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len) {
        perror(path);
        abort();
    }
    fclose(f);
}

/* Read a whole small file into a NUL-terminated malloc'd buffer (tests only). */
static inline char *test_read(const char *dir, const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

static inline void test_rmdir(const char *dir)
{
    static const char *const names[] = {"ca.crt", "issuer.crt", "issuer.key"};
    char path[512];
    size_t i;

    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

#endif /* SNT_TEST_UTIL_H */
