#ifndef DC_IDENTITY_H
#define DC_IDENTITY_H

/* A workload identity from sentry (control-plane.md §2.3-2.5), shared by daprd (--enable-mtls)
 * and the control plane (the injector): the client makes a P-256 key and a CSR for
 * spiffe://<td>/ns/<namespace>/<app-id>,
 * has sentry sign it (dapr.proto.sentry.v1.CA/SignCertificate over TLS; sentry's certificate
 * must chain to the trust anchors and carry spiffe://<control-plane-td>/ns/<control-plane-ns>/
 * dapr-sentry), keeps the chain, and renews it on a background thread at half of its remaining
 * lifetime. The trust anchors come from PEM text (DAPR_TRUST_ANCHORS) or, when set, a file
 * (DAPR_TRUST_ANCHORS_FILE), which is re-read whenever it changes, so that a root rotation needs
 * no restart (upstream daprd needs one). Like the rest of common/, it never logs: events go to
 * the caller's log callback.
 *
 * Readers take immutable snapshots (struct dc_svid, reference counted): a snapshot never
 * changes, a change publishes a new one with a higher generation. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dc/buf.h"
#include "dc/err.h"

#include "dc/log.h"
#include "dc/spiffe.h"

/* Where a sentry token is read when no token file is given, in Kubernetes mode
 * (pkg/security/token): the projected token, then the legacy service-account token. */
#define DC_IDENTITY_SENTRY_TOKEN_PATH "/var/run/secrets/dapr.io/sentrytoken/token"
#define DC_IDENTITY_SA_TOKEN_PATH "/var/run/secrets/kubernetes.io/serviceaccount/token"

/* One published identity. Every field is immutable; hold a reference while using it. */
struct dc_svid {
    uint64_t generation;  /* 1 for the first; +1 on each new certificate or anchor set */
    uint64_t anchors_gen; /* +1 only when the anchors changed */
    char *cert_pem;       /* the leaf, then the issuer chain (as sentry sent it) */
    char *key_pem;        /* PKCS#8 PEM of the leaf's key */
    char *anchors_pem;    /* the trust anchors, PEM */
    X509_STORE *anchors;  /* the same, for verification (read-only after publication) */
    struct dc_spiffe_id id;
    char spiffe[DC_SPIFFE_MAX_LEN + 1]; /* id, formatted */
    int64_t not_before_s, not_after_s;  /* of the leaf */
    atomic_int refs_;
};

/* Drop a reference taken with dc_identity_get. NULL is a no-op. Any thread. */
void dc_svid_release(struct dc_svid *svid);

/* A log line of the identity client: `msg` is borrowed for the call. */
typedef void dc_identity_log_fn(enum dc_log_level level, const char *msg, void *ud);

struct dc_identity_opts {
    const char *sentry_address; /* "host:port"; required */
    const char *app_id;         /* required */
    const char *ns;             /* NULL or "": "default" */
    /* Trust domain asked for (SignCertificateRequest.trust_domain); NULL or "": none, sentry's
     * validator decides ("public" for the insecure one). */
    const char *trust_domain;
    const char *anchors_pem;     /* DAPR_TRUST_ANCHORS */
    const char *anchors_file;    /* DAPR_TRUST_ANCHORS_FILE: wins over anchors_pem; watched */
    const char *token_file;      /* DAPR_SENTRY_TOKEN_FILE */
    bool kubernetes;             /* Kubernetes mode: token from the Kubernetes paths */
    const char *cp_trust_domain; /* sentry's expected id: --control-plane-trust-domain */
    const char *cp_namespace;    /* --control-plane-namespace */
    const char *const *jwt_audiences;
    size_t n_jwt_audiences;
    int64_t startup_timeout_ms; /* dc_identity_start's wait for the first certificate;
                                   0 = 30 s */
    int64_t anchors_poll_ms;    /* anchors file check interval; 0 = 1000 */
    /* Events worth a log line (waiting for sentry, renewals and their failures, anchors
     * reloaded or refused), on the calling or the renewal thread; NULL: none. */
    dc_identity_log_fn *log;
    void *log_ud;
};

struct dc_identity;

/* Load the anchors, get the first certificate (retrying until startup_timeout_ms), and start
 * the renewal thread. `o` and its strings are copied. On success `*out` is owned by the caller.
 * Returns DC_OK, DC_EINVAL (options), DC_EPARSE (anchors), DC_EIO (files), DC_ETIMEDOUT (no
 * certificate in time; `eb` holds the last failure). */
int dc_identity_start(struct dc_identity **out, const struct dc_identity_opts *o,
                      struct dc_errbuf *eb) DC_MUST_CHECK;

/* Stop the thread and free. Snapshots still referenced stay valid. NULL is a no-op. */
void dc_identity_free(struct dc_identity *id);

/* The current snapshot with a new reference (dc_svid_release). Never NULL once started.
 * Thread-safe, cheap (a mutex and an atomic increment). */
struct dc_svid *dc_identity_get(struct dc_identity *id);

/* The generation of the current snapshot (a lock-free read; compare with svid->generation). */
uint64_t dc_identity_generation(struct dc_identity *id);

/* Called on the renewal thread after each publication with the new snapshot (borrowed for the
 * call). One listener; NULL removes it. Setting waits for a running call to return, so after
 * dc_identity_on_change(id, NULL, NULL) the old listener is no longer running. */
typedef void dc_identity_change_fn(const struct dc_svid *svid, void *ud);
void dc_identity_on_change(struct dc_identity *id, dc_identity_change_fn *fn, void *ud);

/* Ask the thread to renew now (tests, SIGHUP-style triggers). Any thread. */
void dc_identity_renew_now(struct dc_identity *id);

/* ---- pure parts (exposed for tests) --------------------------------------------------------- */

/* When to renew a certificate valid [not_before_s, not_after_s] received at received_s: half
 * way through what was left of its validity when it arrived (the back-dating of NotBefore by
 * sentry's allowedClockSkew does not count), and never sooner than 1 s after its arrival. */
int64_t dc_identity_renew_at(int64_t not_before_s, int64_t not_after_s, int64_t received_s);

/* When to retry after a failed renewal at now_s: 1, 2, 4... s after `failures` consecutive
 * failures, at most 30 s, and never past what is left before not_after_s minus 1 s (when that is
 * still ahead). */
int64_t dc_identity_retry_at(int64_t now_s, unsigned failures, int64_t not_after_s);

/* Parse a PEM trust bundle (one or more CERTIFICATE blocks, at most DC_MAX_SNT_CERTS) into a new
 * store (`*out`, X509_STORE_free). Returns DC_OK, DC_EPARSE (no certificate, bad PEM),
 * DC_ETOOBIG. */
int dc_identity_parse_anchors(const char *pem, size_t len, X509_STORE **out,
                              struct dc_errbuf *eb) DC_MUST_CHECK;

/* A CSR (PEM, appended to `out`) for `key` with the URI SAN spiffe://<td>/ns/<ns>/<app_id> (td
 * NULL or "": "public"). Returns DC_OK, DC_EINVAL (id parts), DC_ETLS. */
int dc_identity_make_csr(EVP_PKEY *key, const char *td, const char *ns, const char *app_id,
                         struct dc_buf *out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Check a signed chain (PEM: leaf first) for `key` against `anchors` at now_s (0 = now): the
 * chain verifies (intermediates from the PEM), the leaf holds `key`'s public key, and its SPIFFE
 * id names `ns`/`app_id` (any trust domain). Fills `id`, `not_before_s`, `not_after_s`.
 * Returns DC_OK, DC_EPARSE, DC_EINVAL (id or key mismatch), DC_ETLS (does not verify). */
int dc_identity_check_chain(const char *chain_pem, size_t len, EVP_PKEY *key, X509_STORE *anchors,
                            const char *ns, const char *app_id, int64_t now_s,
                            struct dc_spiffe_id *id, int64_t *not_before_s, int64_t *not_after_s,
                            struct dc_errbuf *eb) DC_MUST_CHECK;

/* The SPIFFE id in the leaf of an X509_STORE_CTX being verified names `ns`/`app_id` (any trust
 * domain when `td` is NULL). For OpenSSL verify callbacks (depth 0). */
bool dc_identity_x509_is(X509 *leaf, const char *td, const char *ns, const char *app_id);

#endif /* DC_IDENTITY_H */
