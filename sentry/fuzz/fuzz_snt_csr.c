/* libFuzzer target: bytes -> snt_csr_parse (PEM or DER, label, signature and key checks). An
 * accepted request must have a supported key, and signing it must give a certificate whose key
 * is the request's. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "../sentry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct snt_ca *fuzz_ca(void)
{
    static struct snt_ca *ca;
    struct snt_ca_config cfg = {0};

    if (ca == NULL && snt_ca_generate(&ca, &cfg, NULL) != DC_OK)
        abort();
    return ca;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snt_csr *csr = NULL;
    struct snt_signed out = {0};
    struct snt_sign_opts o = {0};
    struct dc_spiffe_id id;
    struct dc_errbuf eb = {0};
    X509 *leaf;
    BIO *bio;
    int type;

    if (snt_csr_parse(data, size, &csr, &eb) != DC_OK) {
        if (eb.msg[0] == '\0')
            abort(); /* every refusal explains itself */
        return 0;
    }
    type = snt_key_classify(snt_csr_pubkey(csr), NULL);
    if (type != SNT_KEY_EC_P256 && type != SNT_KEY_ED25519 && type != SNT_KEY_RSA)
        abort();
    if (dc_spiffe_build(&id, "public", "default", "fuzz", NULL) != DC_OK)
        abort();
    o.id = &id;
    if (snt_ca_sign_csr(fuzz_ca(), csr, &o, &out, &eb) != DC_OK)
        abort();
    /* The certificate (assembled as DER by sign.c) parses and carries the request's key. */
    bio = BIO_new_mem_buf(out.chain.data, (int)out.chain.len);
    leaf = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (leaf == NULL || EVP_PKEY_eq(X509_get0_pubkey(leaf), snt_csr_pubkey(csr)) != 1)
        abort();
    X509_free(leaf);
    BIO_free(bio);
    snt_signed_cleanup(&out);
    snt_csr_free(csr);
    if (ERR_peek_error() != 0)
        abort(); /* the OpenSSL error queue is always drained */
    return 0;
}
