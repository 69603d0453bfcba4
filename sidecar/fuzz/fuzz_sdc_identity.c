/* libFuzzer target for the PEM input daprd's identity takes from outside: a trust bundle (the
 * DAPR_TRUST_ANCHORS variable or the anchors file) and the chain sentry returns. The input is
 * parsed as a bundle; if it is one, it is also checked as a signed chain against itself (no
 * key: the chain and SPIFFE id checks run). Nothing may crash or leak; results must agree with
 * the parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc/identity.h"

#include "../../sentry/sentry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_spiffe_id id;
    X509_STORE *st = NULL;
    int64_t nb, na;
    char *s;
    int rv;

    if (size > 64 * 1024)
        return 0;
    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    rv = dc_identity_parse_anchors(s, size, &st, NULL);
    if (rv == DC_OK) {
        rv = dc_identity_check_chain(s, size, NULL, st, "default", "app", 0, &id, &nb, &na, NULL);
        if (rv != DC_OK && rv != DC_EINVAL && rv != DC_ETLS && rv != DC_EPARSE &&
            rv != DC_ENOTFOUND && rv != DC_ETOOBIG)
            abort();
        X509_STORE_free(st);
    } else if (rv == DC_EPARSE) {
        /* No certificate for the bundle parser: none for the chain parser either. */
        st = X509_STORE_new();
        if (st == NULL || dc_identity_check_chain(s, size, NULL, st, "default", "app", 0, &id, &nb,
                                                  &na, NULL) != DC_EPARSE)
            abort();
        X509_STORE_free(st);
    }
    free(s);
    return 0;
}
