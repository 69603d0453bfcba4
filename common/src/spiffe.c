/* SPIFFE ids (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md) in Dapr's
 * form spiffe://<trust-domain>/ns/<namespace>/<app-id>. */

#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "dc/spiffe.h"

#define SCHEME "spiffe://"
#define SCHEME_LEN (sizeof(SCHEME) - 1)

/* SPIFFE-ID §2.1: "Trust domain names ... MUST contain only lowercase letters, numbers, dots,
 * dashes, and underscores". */
static bool td_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* SPIFFE-ID §2.2: path segments use letters, numbers, dots, dashes and underscores. */
static bool path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

int dc_spiffe_td_check(const char *td, size_t len, struct dc_errbuf *eb)
{
    size_t i;

    if (len == 0)
        return dc_err_set(eb, DC_EINVAL, "trust domain is missing");
    if (len > DC_SPIFFE_MAX_TD)
        return dc_err_set(eb, DC_ETOOBIG, "trust domain is longer than %d bytes", DC_SPIFFE_MAX_TD);
    for (i = 0; i < len; i++)
        if (!td_char((unsigned char)td[i]))
            return dc_err_set(eb, DC_EINVAL,
                              "trust domain characters are limited to lowercase letters, "
                              "numbers, dots, dashes, and underscores");
    return DC_OK;
}

int dc_spiffe_segment_check(const char *seg, size_t len, struct dc_errbuf *eb)
{
    size_t i;

    if (len == 0)
        return dc_err_set(eb, DC_EINVAL, "path cannot contain empty segments");
    if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
        return dc_err_set(eb, DC_EINVAL, "path cannot contain dot segments");
    for (i = 0; i < len; i++)
        if (!path_char((unsigned char)seg[i]))
            return dc_err_set(eb, DC_EINVAL,
                              "path segment characters are limited to letters, numbers, dots, "
                              "dashes, and underscores");
    return DC_OK;
}

/* Split after the scheme: trust domain [td, td+td_len), path [path, path+path_len). */
static int split_id(const char *uri, size_t len, const char **td, size_t *td_len, const char **path,
                    size_t *path_len, struct dc_errbuf *eb)
{
    const char *slash;
    int rv;

    if (uri == NULL || len == 0)
        return dc_err_set(eb, DC_EINVAL, "cannot be empty");
    if (len > DC_SPIFFE_MAX_LEN)
        return dc_err_set(eb, DC_ETOOBIG, "SPIFFE id is longer than %d bytes", DC_SPIFFE_MAX_LEN);
    /* §2: the scheme is "spiffe" in lower case; go-spiffe compares it exactly. */
    if (len < SCHEME_LEN || memcmp(uri, SCHEME, SCHEME_LEN) != 0)
        return dc_err_set(eb, DC_EINVAL, "scheme is missing or invalid");
    *td = uri + SCHEME_LEN;
    slash = memchr(*td, '/', len - SCHEME_LEN);
    *td_len = slash != NULL ? (size_t)(slash - *td) : len - SCHEME_LEN;
    rv = dc_spiffe_td_check(*td, *td_len, eb);
    if (rv != DC_OK)
        return rv;
    *path = *td + *td_len;
    *path_len = len - SCHEME_LEN - *td_len;
    return DC_OK;
}

/* Walk the path "/a/b/c": each segment checked; no trailing slash (§2.2). */
static int check_path(const char *path, size_t len, struct dc_errbuf *eb)
{
    size_t i = 0, start;
    int rv;

    while (i < len) {
        if (path[i] != '/')
            return dc_err_set(eb, DC_EINVAL, "path must start with a slash");
        start = ++i;
        while (i < len && path[i] != '/')
            i++;
        if (i == start && i == len)
            return dc_err_set(eb, DC_EINVAL, "path cannot have a trailing slash");
        rv = dc_spiffe_segment_check(path + start, i - start, eb);
        if (rv != DC_OK)
            return rv;
    }
    return DC_OK;
}

int dc_spiffe_check(const char *uri, size_t len, struct dc_errbuf *eb)
{
    const char *td, *path;
    size_t td_len, path_len;
    int rv;

    rv = split_id(uri, len, &td, &td_len, &path, &path_len, eb);
    if (rv != DC_OK)
        return rv;
    return check_path(path, path_len, eb);
}

/* Next segment of an already checked path: [*seg, *seg + *seg_len); advances *pos. */
static bool next_segment(const char *path, size_t len, size_t *pos, const char **seg,
                         size_t *seg_len)
{
    size_t start;

    if (*pos >= len)
        return false;
    start = *pos + 1; /* skip '/' */
    *pos = start;
    while (*pos < len && path[*pos] != '/')
        (*pos)++;
    *seg = path + start;
    *seg_len = *pos - start;
    return true;
}

static int copy_part(char *dst, size_t cap, const char *src, size_t len, const char *what,
                     struct dc_errbuf *eb)
{
    if (len >= cap)
        return dc_err_set(eb, DC_ETOOBIG, "%s is longer than %zu bytes", what, cap - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
    return DC_OK;
}

int dc_spiffe_parse(const char *uri, size_t len, struct dc_spiffe_id *out, struct dc_errbuf *eb)
{
    struct dc_spiffe_id id;
    const char *td, *path, *seg[3];
    size_t td_len, path_len, seg_len[3], pos = 0;
    int rv, i;

    rv = split_id(uri, len, &td, &td_len, &path, &path_len, eb);
    if (rv == DC_OK)
        rv = check_path(path, path_len, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "invalid SPIFFE id");
        return rv;
    }
    /* pkg/security/spiffe: at least /ns/<namespace>/<app-id>; later segments are ignored. */
    for (i = 0; i < 3; i++)
        if (!next_segment(path, path_len, &pos, &seg[i], &seg_len[i]))
            break;
    if (i < 3 || seg_len[0] != 2 || memcmp(seg[0], "ns", 2) != 0)
        return dc_err_set(eb, DC_EINVAL, "malformed SPIFFE id: %.*s", (int)(len > 200 ? 200 : len),
                          uri);
    rv = copy_part(id.trust_domain, sizeof(id.trust_domain), td, td_len, "trust domain", eb);
    if (rv == DC_OK)
        rv = copy_part(id.ns, sizeof(id.ns), seg[1], seg_len[1], "namespace", eb);
    if (rv == DC_OK)
        rv = copy_part(id.app_id, sizeof(id.app_id), seg[2], seg_len[2], "app id", eb);
    if (rv != DC_OK)
        return rv;
    *out = id;
    return DC_OK;
}

int dc_spiffe_build(struct dc_spiffe_id *out, const char *td, const char *ns, const char *app_id,
                    struct dc_errbuf *eb)
{
    struct dc_spiffe_id id;
    int rv;

    if (td == NULL || ns == NULL || app_id == NULL || *td == '\0' || *ns == '\0' || *app_id == '\0')
        return dc_err_set(eb, DC_EINVAL, "malformed SPIFFE ID");
    rv = dc_spiffe_td_check(td, strlen(td), eb);
    if (rv == DC_OK)
        rv = dc_spiffe_segment_check(ns, strlen(ns), eb);
    if (rv == DC_OK)
        rv = dc_spiffe_segment_check(app_id, strlen(app_id), eb);
    if (rv == DC_OK)
        rv =
            copy_part(id.trust_domain, sizeof(id.trust_domain), td, strlen(td), "trust domain", eb);
    if (rv == DC_OK)
        rv = copy_part(id.ns, sizeof(id.ns), ns, strlen(ns), "namespace", eb);
    if (rv == DC_OK)
        rv = copy_part(id.app_id, sizeof(id.app_id), app_id, strlen(app_id), "app id", eb);
    if (rv != DC_OK)
        return rv;
    *out = id;
    return DC_OK;
}

/* Append `n` bytes of `s` at out[*pos]; the caller has checked the total length. */
static void put(char *out, size_t *pos, const char *s, size_t n)
{
    memcpy(out + *pos, s, n);
    *pos += n;
}

int dc_spiffe_format(const struct dc_spiffe_id *id, char *out, size_t cap)
{
    size_t td = strlen(id->trust_domain), ns = strlen(id->ns), app = strlen(id->app_id);
    size_t pos = 0;

    if (SCHEME_LEN + td + 4 + ns + 1 + app >= cap)
        return DC_ETOOBIG;
    put(out, &pos, SCHEME, SCHEME_LEN);
    put(out, &pos, id->trust_domain, td);
    put(out, &pos, "/ns/", 4);
    put(out, &pos, id->ns, ns);
    put(out, &pos, "/", 1);
    put(out, &pos, id->app_id, app);
    out[pos] = '\0';
    return (int)pos;
}

bool dc_spiffe_equal(const struct dc_spiffe_id *a, const struct dc_spiffe_id *b)
{
    return strcmp(a->trust_domain, b->trust_domain) == 0 && strcmp(a->ns, b->ns) == 0 &&
           strcmp(a->app_id, b->app_id) == 0;
}

int dc_spiffe_from_cert(const X509 *cert, struct dc_spiffe_id *out, struct dc_errbuf *eb)
{
    GENERAL_NAMES *sans;
    const GENERAL_NAME *uri = NULL;
    int i, n, rv;

    sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (sans == NULL)
        return dc_err_set(eb, DC_ENOTFOUND, "certificate has no URI SAN");
    n = sk_GENERAL_NAME_num(sans);
    for (i = 0; i < n; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_URI)
            continue;
        if (uri != NULL) {
            GENERAL_NAMES_free(sans);
            /* X509-SVID §2: "An X.509 SVID MUST contain exactly one URI SAN". */
            return dc_err_set(eb, DC_EINVAL, "certificate contains more than one URI SAN");
        }
        uri = gn;
    }
    if (uri == NULL) {
        GENERAL_NAMES_free(sans);
        return dc_err_set(eb, DC_ENOTFOUND, "certificate has no URI SAN");
    }
    rv = dc_spiffe_parse((const char *)ASN1_STRING_get0_data(uri->d.uniformResourceIdentifier),
                         (size_t)ASN1_STRING_length(uri->d.uniformResourceIdentifier), out, eb);
    GENERAL_NAMES_free(sans);
    return rv;
}

/* ---- CSRs --------------------------------------------------------------------------------- */

/* The digest a key signs with, as sentry picks it for the same key: none for Ed25519, SHA-384 or
 * SHA-512 for P-384 and P-521, SHA-256 otherwise. */
static const EVP_MD *csr_md(EVP_PKEY *key)
{
    int bits = EVP_PKEY_get_bits(key);

    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519)
        return NULL;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && bits > 256)
        return bits > 384 ? EVP_sha512() : EVP_sha384();
    return EVP_sha256();
}

/* The first OpenSSL error as the reason, and an empty queue. */
static void ossl_err(struct dc_errbuf *eb, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[200];

    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    if (e == 0)
        dc_err_set(eb, DC_ETLS, "%s", what);
    else
        dc_err_set(eb, DC_ETLS, "%s: %s", what, buf);
}

int dc_spiffe_csr_make(EVP_PKEY *key, const char *uri, struct dc_buf *out, struct dc_errbuf *eb)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *sans = NULL;
    GENERAL_NAME *gn = NULL;
    ASN1_IA5STRING *ia5 = NULL;
    X509_EXTENSION *ext = NULL;
    BIO *bio = NULL;
    char *p;
    long n;
    int rv = DC_ETLS;

    if (req == NULL || X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_pubkey(req, key) != 1)
        goto out;
    if (uri != NULL) {
        sans = GENERAL_NAMES_new();
        gn = GENERAL_NAME_new();
        ia5 = ASN1_IA5STRING_new();
        if (sans == NULL || gn == NULL || ia5 == NULL ||
            ASN1_STRING_set(ia5, uri, (int)strlen(uri)) != 1)
            goto out;
        GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
        ia5 = NULL;
        if (sk_GENERAL_NAME_push(sans, gn) <= 0)
            goto out;
        gn = NULL;
        ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, sans);
        exts = sk_X509_EXTENSION_new_null();
        if (ext == NULL || exts == NULL || sk_X509_EXTENSION_push(exts, ext) <= 0)
            goto out;
        ext = NULL;
        if (X509_REQ_add_extensions(req, exts) != 1)
            goto out;
    }
    if (X509_REQ_sign(req, key, csr_md(key)) <= 0)
        goto out;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509_REQ(bio, req) != 1)
        goto out;
    n = BIO_get_mem_data(bio, &p);
    rv = dc_buf_append(out, p, (size_t)n);
    if (rv != DC_OK)
        dc_err_set(eb, rv, "CSR output too big");
out:
    if (rv == DC_ETLS)
        ossl_err(eb, "making certificate signing request");
    BIO_free(bio);
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(sans);
    X509_REQ_free(req);
    return rv;
}
