#ifndef SDC_IDENTITY_H
#define SDC_IDENTITY_H

/* daprd's workload identity (control-plane.md §2.3-2.5): with --enable-mtls and
 * --sentry-address, daprd makes a P-256 key and a CSR for spiffe://<td>/ns/<namespace>/<app-id>,
 * has sentry sign it (dapr.proto.sentry.v1.CA/SignCertificate over TLS; sentry's certificate
 * must chain to the trust anchors and carry spiffe://<control-plane-td>/ns/<control-plane-ns>/
 * dapr-sentry), keeps the chain, and renews it on a background thread at half of its remaining
 * lifetime. The trust anchors come from DAPR_TRUST_ANCHORS (PEM) or, when set,
 * DAPR_TRUST_ANCHORS_FILE (a daprc addition), which is re-read whenever it changes, so that a
 * root rotation needs no restart (upstream daprd needs one).
 *
 * Readers take immutable snapshots (struct sdc_svid, reference counted): a snapshot never
 * changes, a change publishes a new one with a higher generation. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dc/buf.h"
#include "dc/err.h"

#include "../sentry/sentry.h"

struct sdc_runtime;

/* Where daprd reads a sentry token when DAPR_SENTRY_TOKEN_FILE is unset, in Kubernetes mode
 * (pkg/security/token): the projected token, then the legacy service-account token. */
#define SDC_SENTRY_TOKEN_PATH "/var/run/secrets/dapr.io/sentrytoken/token"
#define SDC_SA_TOKEN_PATH "/var/run/secrets/kubernetes.io/serviceaccount/token"

/* One published identity. Every field is immutable; hold a reference while using it. */
struct sdc_svid {
    uint64_t generation;  /* 1 for the first; +1 on each new certificate or anchor set */
    uint64_t anchors_gen; /* +1 only when the anchors changed */
    char *cert_pem;       /* the leaf, then the issuer chain (as sentry sent it) */
    char *key_pem;        /* PKCS#8 PEM of the leaf's key */
    char *anchors_pem;    /* the trust anchors, PEM */
    X509_STORE *anchors;  /* the same, for verification (read-only after publication) */
    struct snt_spiffe_id id;
    char spiffe[SNT_SPIFFE_MAX_LEN + 1]; /* id, formatted */
    int64_t not_before_s, not_after_s;   /* of the leaf */
    atomic_int refs_;
};

/* Drop a reference taken with sdc_identity_get. NULL is a no-op. Any thread. */
void sdc_svid_release(struct sdc_svid *svid);

struct sdc_identity_opts {
    const char *sentry_address; /* "host:port"; required */
    const char *app_id;         /* required */
    const char *ns;             /* NULL or "": "default" */
    /* Trust domain asked for (SignCertificateRequest.trust_domain); NULL or "": none, sentry's
     * validator decides ("public" for the insecure one). */
    const char *trust_domain;
    const char *anchors_pem;     /* DAPR_TRUST_ANCHORS */
    const char *anchors_file;    /* DAPR_TRUST_ANCHORS_FILE: wins over anchors_pem; watched */
    const char *token_file;      /* DAPR_SENTRY_TOKEN_FILE */
    bool kubernetes;             /* --mode kubernetes: token from the Kubernetes paths */
    const char *cp_trust_domain; /* sentry's expected id: --control-plane-trust-domain */
    const char *cp_namespace;    /* --control-plane-namespace */
    const char *const *jwt_audiences;
    size_t n_jwt_audiences;
    int64_t startup_timeout_ms; /* sdc_identity_start's wait for the first certificate;
                                   0 = 30 s */
    int64_t anchors_poll_ms;    /* anchors file check interval; 0 = 1000 */
};

struct sdc_identity;

/* Load the anchors, get the first certificate (retrying until startup_timeout_ms), and start
 * the renewal thread. `o` and its strings are copied. On success `*out` is owned by the caller.
 * Returns DC_OK, DC_EINVAL (options), DC_EPARSE (anchors), DC_EIO (files), DC_ETIMEDOUT (no
 * certificate in time; `eb` holds the last failure). */
int sdc_identity_start(struct sdc_identity **out, const struct sdc_identity_opts *o,
                       struct dc_errbuf *eb) DC_MUST_CHECK;

/* Stop the thread and free. Snapshots still referenced stay valid. NULL is a no-op. */
void sdc_identity_free(struct sdc_identity *id);

/* The current snapshot with a new reference (sdc_svid_release). Never NULL once started.
 * Thread-safe, cheap (a mutex and an atomic increment). */
struct sdc_svid *sdc_identity_get(struct sdc_identity *id);

/* The generation of the current snapshot (a lock-free read; compare with svid->generation). */
uint64_t sdc_identity_generation(struct sdc_identity *id);

/* Called on the renewal thread after each publication with the new snapshot (borrowed for the
 * call). One listener; NULL removes it. Setting waits for a running call to return, so after
 * sdc_identity_on_change(id, NULL, NULL) the old listener is no longer running. */
typedef void sdc_identity_change_fn(const struct sdc_svid *svid, void *ud);
void sdc_identity_on_change(struct sdc_identity *id, sdc_identity_change_fn *fn, void *ud);

/* Ask the thread to renew now (tests, SIGHUP-style triggers). Any thread. */
void sdc_identity_renew_now(struct sdc_identity *id);

/* ---- the runtime glue ---------------------------------------------------------------------- */

/* With --enable-mtls: build the options from the flags, the environment and the Configuration
 * (accessControl.trustDomain) and start rt->identity. Without it: nothing (rt->identity stays
 * NULL). Returns sdc_identity_start's errors, or DC_EINVAL (no --sentry-address, no anchors). */
int sdc_identity_runtime_start(struct sdc_runtime *rt, struct dc_errbuf *eb) DC_MUST_CHECK;

/* ---- pure parts (exposed for tests) --------------------------------------------------------- */

/* When to renew a certificate valid [not_before_s, not_after_s] received at received_s: half
 * way through what was left of its validity when it arrived (the back-dating of NotBefore by
 * sentry's allowedClockSkew does not count), and never sooner than 1 s after its arrival. */
int64_t sdc_identity_renew_at(int64_t not_before_s, int64_t not_after_s, int64_t received_s);

/* When to retry after a failed renewal at now_s: 1, 2, 4... s after `failures` consecutive
 * failures, at most 30 s, and never past what is left before not_after_s minus 1 s (when that is
 * still ahead). */
int64_t sdc_identity_retry_at(int64_t now_s, unsigned failures, int64_t not_after_s);

/* Parse a PEM trust bundle (one or more CERTIFICATE blocks, at most DC_MAX_SNT_CERTS) into a new
 * store (`*out`, X509_STORE_free). Returns DC_OK, DC_EPARSE (no certificate, bad PEM),
 * DC_ETOOBIG. */
int sdc_identity_parse_anchors(const char *pem, size_t len, X509_STORE **out,
                               struct dc_errbuf *eb) DC_MUST_CHECK;

/* A CSR (PEM, appended to `out`) for `key` with the URI SAN spiffe://<td>/ns/<ns>/<app_id> (td
 * NULL or "": "public"). Returns DC_OK, DC_EINVAL (id parts), DC_ETLS. */
int sdc_identity_make_csr(EVP_PKEY *key, const char *td, const char *ns, const char *app_id,
                          struct dc_buf *out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Check a signed chain (PEM: leaf first) for `key` against `anchors` at now_s (0 = now): the
 * chain verifies (intermediates from the PEM), the leaf holds `key`'s public key, and its SPIFFE
 * id names `ns`/`app_id` (any trust domain). Fills `id`, `not_before_s`, `not_after_s`.
 * Returns DC_OK, DC_EPARSE, DC_EINVAL (id or key mismatch), DC_ETLS (does not verify). */
int sdc_identity_check_chain(const char *chain_pem, size_t len, EVP_PKEY *key, X509_STORE *anchors,
                             const char *ns, const char *app_id, int64_t now_s,
                             struct snt_spiffe_id *id, int64_t *not_before_s, int64_t *not_after_s,
                             struct dc_errbuf *eb) DC_MUST_CHECK;

/* The SPIFFE id in the leaf of an X509_STORE_CTX being verified names `ns`/`app_id` (any trust
 * domain when `td` is NULL). For OpenSSL verify callbacks (depth 0). */
bool sdc_identity_x509_is(X509 *leaf, const char *td, const char *ns, const char *app_id);

#endif /* SDC_IDENTITY_H */
