#ifndef SNT_SENTRY_H
#define SNT_SENTRY_H

/* sentry: the certificate authority of the control plane (control-plane.md §2), as plain
 * functions that need no sockets. The gRPC service (dapr.proto.sentry.v1.CA/SignCertificate) is
 * a thin adapter: pick a validator (snt_validator_select), let it decide (snt_validate_*), parse
 * the CSR (snt_csr_parse), then sign (snt_ca_sign_csr) and return the chain and the anchors.
 *
 * Times are Unix seconds (X.509 has second precision); durations are seconds too, named *_s.
 * A `now_s` argument of 0 means "the current time"; tests pass a fixed clock.
 *
 * Threads: every function is reentrant. A struct snt_ca may be shared by any number of threads:
 * signing and the getters take a read lock, snt_ca_reload/snt_ca_update_pem swap the material
 * under a write lock after building it outside the lock. Other objects (snt_csr, snt_jwks) are
 * immutable after construction and may be read from several threads. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dc/buf.h"
#include "dc/err.h"
#include "dc/spiffe.h"

/* Defaults of the Configuration's spec.mtls (config.go) and of the self-signed CA (cert.go). */
#define SNT_DEFAULT_WORKLOAD_TTL_S (24 * 3600)
#define SNT_DEFAULT_CLOCK_SKEW_S (15 * 60)
#define SNT_DEFAULT_CA_TTL_S (365 * 24 * 3600)
/* Warn this long before the root or the issuer expires. */
#define SNT_EXPIRY_WARN_WINDOW_S (30 * 24 * 3600)
/* Default --trust-domain, and the trust domain the validators use when none applies. */
#define SNT_DEFAULT_TRUST_DOMAIN "localhost"
#define SNT_PUBLIC_TRUST_DOMAIN "public"
/* Default file names in the --issuer-credentials folder. */
#define SNT_DEFAULT_CA_FILENAME "ca.crt"
#define SNT_DEFAULT_CERT_FILENAME "issuer.crt"
#define SNT_DEFAULT_KEY_FILENAME "issuer.key"
/* The legacy TokenReview audience; the other one is Sentry's own SPIFFE id. */
#define SNT_K8S_LEGACY_AUDIENCE "dapr.io/sentry"
/* Non-critical extension of workload certificates listing the pod's container images. */
#define SNT_OID_IMAGES "1.3.6.1.4.1.57683.100.1"

/* ------------------------------------------------------------------------------------------ */
/* Keys                                                                                        */

enum snt_key_type {
    SNT_KEY_EC_P256 = 0, /* the default for generated CAs and daprd keys */
    SNT_KEY_ED25519 = 1,
    SNT_KEY_RSA = 2,     /* accepted in CSRs (>= 2048 bits) and as a loaded issuer */
    SNT_KEY_EC_OTHER = 3 /* P-384 / P-521: accepted as a loaded issuer only */
};

/* Generate a new private key of `type` (SNT_KEY_EC_P256, SNT_KEY_ED25519, or SNT_KEY_RSA with
 * 2048 bits). `*out` is owned by the caller (EVP_PKEY_free). Returns DC_OK, DC_EINVAL (type),
 * DC_ETLS. */
int snt_key_generate(enum snt_key_type type, EVP_PKEY **out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Classify `key`: returns its snt_key_type, or -1 for a key sentry does not handle (DSA, X25519,
 * RSA-PSS, EC curves other than P-256/384/521). `bits` (may be NULL) gets the size in bits. */
int snt_key_classify(const EVP_PKEY *key, int *bits);

/* ------------------------------------------------------------------------------------------ */
/* CSRs                                                                                        */

struct snt_csr;

/* Parse and check a PKCS#10 request, PEM or DER (at most DC_MAX_SNT_CSR bytes).
 *  - PEM: the first block must be "CERTIFICATE REQUEST" (or the legacy "CERTIFICATE" label
 *    that daprd < 1.12 sent for a CSR); DER: the bytes are the request. Strict DER (minimal
 *    definite lengths, no trailing data at any level), as Go's parser.
 *  - The self-signature must verify.
 *  - The key must be P-256, Ed25519, or RSA of 2048..DC_MAX_SNT_RSA_BITS bits.
 * As upstream, the subject, the SANs and every requested extension (key usage, basic
 * constraints...) are ignored: only the public key is used, so they can never reach a
 * certificate. `data` is borrowed; `*out` is owned by the caller (snt_csr_free).
 * Returns DC_OK, DC_ETOOBIG, DC_EPARSE (not a CSR), DC_EINVAL (bad signature, key type). */
int snt_csr_parse(const void *data, size_t len, struct snt_csr **out,
                  struct dc_errbuf *eb) DC_MUST_CHECK;

void snt_csr_free(struct snt_csr *csr); /* NULL is a no-op */

/* The request's public key, borrowed for the life of `csr`. */
EVP_PKEY *snt_csr_pubkey(const struct snt_csr *csr);
enum snt_key_type snt_csr_key_type(const struct snt_csr *csr);
int snt_csr_key_bits(const struct snt_csr *csr);

/* ------------------------------------------------------------------------------------------ */
/* The CA: bootstrap, storage, reload, expiry                                                  */

struct snt_ca;

struct snt_ca_config {
    /* --issuer-credentials folder, and the three file names; an absolute file name overrides the
     * folder, NULL means the default (ca.crt, issuer.crt, issuer.key). */
    const char *creds_dir;
    const char *ca_filename;
    const char *cert_filename;
    const char *key_filename;
    /* For a generated CA: the root's subject O and the trust domain of the issuer's subject
     * O = spiffe://<trust_domain>/ns/<ns>/dapr-sentry. NULL: "localhost" and "default". */
    const char *trust_domain;
    const char *ns;
    enum snt_key_type key_type; /* generated keys: SNT_KEY_EC_P256 (0) or SNT_KEY_ED25519 */
    int64_t skew_s;             /* back-dating of generated CA certificates (allowedClockSkew) */
    int64_t ca_ttl_s;           /* validity of generated CA certificates; 0 = 365 days */
    int64_t now_s;              /* clock for generation and chain checks; 0 = current time */
};

/* Open the CA of `cfg`: when the three files exist, load and check them (snt_ca_load_pem);
 * when any is missing, generate a root and an issuer (snt_ca_generate) and store all three
 * files (folder created 0700; ca.crt and issuer.crt 0644, issuer.key 0600; each written to a
 * temporary file and renamed). ca.crt in the folder is the published trust bundle.
 * `cfg` and its strings are copied. `*generated` (may be NULL) tells which happened.
 * Returns DC_OK, DC_EIO, DC_ETOOBIG (file over DC_MAX_SNT_CRED_FILE), and the errors of
 * snt_ca_load_pem / snt_ca_generate. */
int snt_ca_open(struct snt_ca **out, const struct snt_ca_config *cfg, bool *generated,
                struct dc_errbuf *eb) DC_MUST_CHECK;

/* Build a CA from PEM texts (the Kubernetes Secret dapr-trust-bundle, or files), checking as
 * upstream validate.go does, plus a CA check of the issuer:
 *  - ca_pem: one or more CERTIFICATE blocks, each self-signed; re-encoded without comments;
 *  - issuer_pem: the issuer, then any intermediates; a trailing self-signed root is dropped;
 *    the issuer must be a CA;
 *  - key_pem: PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"
 *    (unencrypted), matching the issuer's public key;
 *  - the issuer chain must verify to one of the anchors at `now_s` (an expired issuer or root
 *    is refused).
 * The texts are borrowed. Returns DC_OK, DC_EPARSE, DC_EINVAL (mismatch, not a CA, chain does
 * not verify), DC_ERANGE (expired or not yet valid), DC_ETOOBIG. */
int snt_ca_load_pem(struct snt_ca **out, const char *ca_pem, size_t ca_len, const char *issuer_pem,
                    size_t issuer_len, const char *key_pem, size_t key_len, int64_t now_s,
                    struct dc_errbuf *eb) DC_MUST_CHECK;

/* Generate a self-signed root and an issuer as upstream bundle/cert.go does, with
 * cfg->key_type keys (P-256 default, Ed25519): random 128-bit serials, NotBefore now-skew,
 * NotAfter now+ca_ttl (365 days); root: subject O=<td>, KeyUsage digitalSignature|keyCertSign,
 * CA:TRUE (no path length limit), SKI; issuer: subject O=spiffe://<td>/ns/<ns>/dapr-sentry,
 * KeyUsage digitalSignature|keyCertSign|cRLSign, CA:TRUE, SKI, AKI. Nothing is stored.
 * Returns DC_OK, DC_EINVAL (trust domain, namespace, key type), DC_ETLS. */
int snt_ca_generate(struct snt_ca **out, const struct snt_ca_config *cfg,
                    struct dc_errbuf *eb) DC_MUST_CHECK;

void snt_ca_free(struct snt_ca *ca); /* NULL is a no-op; the key is wiped */

/* Append the current material as PEM to the buffers that are not NULL: the trust anchors
 * (re-encoded), the issuer chain (issuer first, no root), the issuer key (PKCS#8). For the
 * Secret/ConfigMap writer and for publishing the anchors elsewhere.
 * Returns DC_OK, DC_ETOOBIG (buffer limit). */
int snt_ca_get_pem(struct snt_ca *ca, struct dc_buf *anchors, struct dc_buf *chain,
                   struct dc_buf *key, struct dc_errbuf *eb) DC_MUST_CHECK;

/* Replace the material with new PEM texts (checked as snt_ca_load_pem). When the texts are
 * byte-identical to the current source, nothing happens and `*changed` is false. On any error
 * the CA keeps its current material. Returns the errors of snt_ca_load_pem. */
int snt_ca_update_pem(struct snt_ca *ca, const char *ca_pem, size_t ca_len, const char *issuer_pem,
                      size_t issuer_len, const char *key_pem, size_t key_len, int64_t now_s,
                      bool *changed, struct dc_errbuf *eb) DC_MUST_CHECK;

/* For a CA made by snt_ca_open: re-read the three files and, when their content changed, load
 * and swap them in (snt_ca_update_pem). Call it from a timer or after a file-change event
 * (upstream waits 2 s to batch events and logs "Issuer credentials changed; reloading").
 * A half-written set fails the checks and keeps the old material; call again later.
 * Returns DC_OK (`*changed` tells), DC_EINVAL (CA not file-backed), DC_EIO, DC_ENOTFOUND
 * (a file vanished), and the errors of snt_ca_load_pem. */
int snt_ca_reload(struct snt_ca *ca, bool *changed, struct dc_errbuf *eb) DC_MUST_CHECK;

struct snt_ca_expiry {
    int64_t root_not_after_s;   /* the anchor the issuer chain verifies to */
    int64_t issuer_not_after_s; /* metric sentry/issuercert/expiry_timestamp */
};
void snt_ca_get_expiry(struct snt_ca *ca, struct snt_ca_expiry *out);

#define SNT_EXPIRY_ROOT 1u
#define SNT_EXPIRY_ISSUER 2u
/* Which of root and issuer expire before now_s + window_s (already expired included): a mask
 * of SNT_EXPIRY_*. Use SNT_EXPIRY_WARN_WINDOW_S for the 30-day warning. */
unsigned snt_ca_expiry_check(struct snt_ca *ca, int64_t now_s, int64_t window_s);

/* ------------------------------------------------------------------------------------------ */
/* Signing                                                                                     */

struct snt_sign_opts {
    const struct dc_spiffe_id *id; /* the single URI SAN; required */
    const char *const *dns_sans;   /* optional DNS SANs (snt_control_plane_dns_sans) */
    size_t n_dns_sans;
    int64_t ttl_s;           /* spec.mtls.workloadCertTTL; <= 0 means 24h */
    int64_t skew_s;          /* spec.mtls.allowedClockSkew; < 0 means 15m, 0 is allowed */
    int64_t now_s;           /* 0 = current time */
    const char *images_json; /* optional SNT_OID_IMAGES extension content (JSON array) */
};

struct snt_signed {
    struct dc_buf chain;   /* PEM: the leaf, then the issuer chain (SignCertificateResponse 1) */
    struct dc_buf anchors; /* PEM: every trust anchor, one element of field 2 */
    int64_t not_before_s;
    int64_t not_after_s; /* valid_until (field 3) */
};
/* Release the buffers; all-zero afterwards. */
void snt_signed_cleanup(struct snt_signed *s);

/* Sign a workload certificate for the key of `csr` (borrowed; from snt_csr_parse):
 * v3, random 128-bit serial, issuer = the issuer's subject, empty subject, critical URI SAN
 * (plus DNS SANs), NotBefore = now - skew, NotAfter = min(now + ttl, the earliest NotAfter of
 * the issuer chain and its root) - never valid past the issuer (upstream #8557 leaves it
 * uncapped), critical KeyUsage digitalSignature, ExtKeyUsage serverAuth+clientAuth, SKI, AKI =
 * the issuer's SKI, no basic constraints (as Go's template). Signed with the issuer key:
 * ECDSA-SHA256/384/512 by curve, Ed25519, or RSA-SHA256.
 * `out` must be all-zero (or cleaned up); on success it holds the chain and the anchors.
 * Returns DC_OK, DC_EINVAL (no id, key type), DC_ERANGE (the issuer or root has expired or
 * would leave a certificate that is valid for no time), DC_ETLS. */
int snt_ca_sign_csr(struct snt_ca *ca, const struct snt_csr *csr, const struct snt_sign_opts *opts,
                    struct snt_signed *out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The same for a bare public key (borrowed), e.g. Sentry's own serving certificate. The CSR
 * form is faster: it copies the request's SubjectPublicKeyInfo instead of re-encoding the key.
 * Also DC_EINVAL for a key type snt_key_classify does not know. */
int snt_ca_sign(struct snt_ca *ca, EVP_PKEY *pubkey, const struct snt_sign_opts *opts,
                struct snt_signed *out, struct dc_errbuf *eb) DC_MUST_CHECK;

/* The DNS SANs upstream adds for control-plane identities in Sentry's own namespace
 * (server.go): dapr-injector -> dapr-sidecar-injector.<ns>.svc; dapr-operator ->
 * dapr-webhook.<ns>.svc; dapr-scheduler -> dapr-scheduler-server-{0,1,2}.dapr-scheduler-server.
 * <ns>.svc.<cluster_domain> (NULL: cluster.local). Writes up to `max` names into `names` and
 * returns how many (0 for any other identity or namespace), or DC_ETOOBIG. */
int snt_control_plane_dns_sans(const char *app_id, const char *ns, const char *sentry_ns,
                               const char *cluster_domain, char (*names)[256], size_t max);

/* ------------------------------------------------------------------------------------------ */
/* Validators (validator/<name>.go): the decisions, as pure functions.                         */

/* Values of the proto enum dapr.proto.sentry.v1.SignCertificateRequest.TokenValidator. */
enum snt_validator {
    SNT_VALIDATOR_UNKNOWN = 0,
    SNT_VALIDATOR_INSECURE = 1,
    SNT_VALIDATOR_KUBERNETES = 2,
    SNT_VALIDATOR_JWKS = 3
};
#define SNT_VALIDATOR_BIT(v) (1u << (v))

/* The fields of SignCertificateRequest the validators read (borrowed strings, NULL = ""). */
struct snt_request {
    const char *id;
    const char *token;
    const char *trust_domain;
    const char *ns;
    size_t csr_len;
    enum snt_validator validator;
};

/* What a validator grants: the trust domain of the certificate, and (Kubernetes) the JWT
 * audiences of the app's Configuration, borrowed from the facts passed in. */
struct snt_validation {
    char trust_domain[DC_SPIFFE_MAX_TD + 1];
    const char *const *audiences;
    size_t n_audiences;
};

/* Pick the validator for a request (server.go): the request's unless UNKNOWN, else
 * `default_v`. `enabled` is a mask of SNT_VALIDATOR_BIT. Returns DC_OK, or DC_EINVAL
 * (gRPC InvalidArgument) when none is named and there is no default, or it is not enabled. */
int snt_validator_select(enum snt_validator requested, unsigned enabled,
                         enum snt_validator default_v, enum snt_validator *out,
                         struct dc_errbuf *eb) DC_MUST_CHECK;

/* Which validators are enabled and the default one (config.go): Kubernetes mode always has
 * kubernetes (default); self-hosted has insecure as the default only when no validator is
 * configured. `configured` names validators from spec.mtls.tokenValidators[].name; only "jwks"
 * may be configured. Returns DC_OK or DC_EINVAL (kubernetes/insecure/unknown configured). */
int snt_validators_configure(bool kubernetes_mode, const char *const *configured,
                             size_t n_configured, unsigned *enabled, enum snt_validator *default_v,
                             struct dc_errbuf *eb) DC_MUST_CHECK;

/* The checks every validator makes (internal/common.go): id non-empty, without ".", at most 64
 * bytes; a CSR; a namespace; the trust domain is the request's or "public" and must be valid.
 * Returns DC_OK, or DC_EPERM (gRPC PermissionDenied) with upstream's text. */
int snt_validate_common(const struct snt_request *req, struct snt_validation *res,
                        struct dc_errbuf *eb) DC_MUST_CHECK;

/* The insecure validator (self-hosted default): the common checks only. The id is trusted as
 * sent; the certificate will carry spiffe://<td>/ns/<ns>/<id> of the request. */
int snt_validate_insecure(const struct snt_request *req, struct snt_validation *res,
                          struct dc_errbuf *eb) DC_MUST_CHECK;

/* What the Kubernetes adapter learned for one request, as plain data. Strings borrowed; a NULL
 * annotation is an absent one. The adapter runs the TokenReview (audiences
 * SNT_K8S_LEGACY_AUDIENCE and Sentry's SPIFFE id), reads the pod named by the token's claim
 * (snt_k8s_token_pod_name) in the service account's namespace, and, when the pod carries
 * dapr.io/config, the Configuration of that name in the request's namespace. The decision
 * reads the pod claim from req->token itself. */
struct snt_k8s_facts {
    bool ready;               /* the informer caches have synced */
    const char *review_error; /* TokenReview status.error (NULL or "" = none) */
    bool review_failed;       /* the TokenReview call itself failed */
    bool authenticated;       /* status.authenticated */
    const char *username;     /* status.user.username */
    bool pod_found;           /* the pod named by the token's claim was read */
    const char *pod_name;
    const char *pod_ns;
    const char *pod_service_account;
    const char *ann_control_plane;       /* dapr.io/control-plane */
    const char *ann_app_id;              /* dapr.io/app-id */
    const char *ann_config;              /* dapr.io/config */
    bool config_found;                   /* the Configuration named by ann_config was read */
    const char *config_trust_domain;     /* spec.accessControl.trustDomain (NULL/"" = unset) */
    const char *const *config_audiences; /* spec.accessControl.audiences */
    size_t n_config_audiences;
};

struct snt_k8s_opts {
    const char *control_plane_ns; /* Sentry's namespace */
    const char *control_plane_td; /* trust domain of Sentry's SPIFFE id */
};

/* The Kubernetes validator's decision (validator/kubernetes/kubernetes.go), in upstream's order:
 * ready; common checks (the request's trust_domain is otherwise ignored); TokenReview ok and
 * authenticated; username system:serviceaccount:<ns>:<sa>; the token's pod claim; pod found
 * (and its name is the claim's); request
 * namespace = SA namespace; pod service account = SA; expected id (control plane: pod in
 * Sentry's namespace, known service, no app-id annotation, id dapr-<service>, control-plane
 * trust domain; app: dapr.io/app-id or the pod name) = request id; trust domain from the
 * Configuration (default "public"). Returns DC_OK or DC_EPERM with upstream's text. */
int snt_validate_kubernetes(const struct snt_request *req, const struct snt_k8s_opts *opts,
                            const struct snt_k8s_facts *facts, struct snt_validation *res,
                            struct dc_errbuf *eb) DC_MUST_CHECK;

/* Read the claim kubernetes.io.pod.name of a service-account JWT without verifying it (the
 * TokenReview already did). Writes it to `out` (capacity `cap`). Returns DC_OK, DC_ENOTFOUND
 * (no claim), DC_EPARSE (not a JWT), DC_ETOOBIG. */
int snt_k8s_token_pod_name(const char *token, char *out, size_t cap,
                           struct dc_errbuf *eb) DC_MUST_CHECK;

/* The jwks validator: a JSON Web Key Set (RFC 7517) with EC P-256, RSA and OKP Ed25519 keys. */
struct snt_jwks;

/* Parse a JWKS document (at most DC_MAX_SNT_JWKS bytes). Keys of other types or curves are
 * skipped; a set with no usable key is DC_EINVAL. `*out` is owned by the caller.
 * Returns DC_OK, DC_ETOOBIG, DC_EPARSE, DC_EINVAL. */
int snt_jwks_parse(const char *json, size_t len, struct snt_jwks **out,
                   struct dc_errbuf *eb) DC_MUST_CHECK;
void snt_jwks_free(struct snt_jwks *jwks);
size_t snt_jwks_count(const struct snt_jwks *jwks);

/* Verify a compact JWS (RFC 7515) against the set: alg ES256, RS256 or EdDSA, matching the key
 * (by "kid" when the header has one, else any key of that type). Returns the decoded payload
 * in `payload` (appended). Returns DC_OK, DC_EPARSE, DC_EPERM (no key verifies it),
 * DC_EUNSUPPORTED (alg). */
int snt_jwt_verify(const struct snt_jwks *jwks, const char *token, struct dc_buf *payload,
                   struct dc_errbuf *eb) DC_MUST_CHECK;

/* The jwks validator (validator/jwks/jwks.go): common checks; a token is required and must
 * verify; "aud" (string or array) must contain `sentry_id`; "sub" must equal
 * spiffe://<td>/ns/<namespace>/<id> (td from the common checks); "exp" is required, and "exp",
 * "nbf", "iat" hold within +-5 minutes of now_s. Returns DC_OK, DC_EPERM (denied, gRPC
 * PermissionDenied), DC_EINVAL (no `sentry_id`). */
int snt_validate_jwks(const struct snt_request *req, const struct snt_jwks *jwks,
                      const char *sentry_id, int64_t now_s, struct snt_validation *res,
                      struct dc_errbuf *eb) DC_MUST_CHECK;

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                       */

/* Write `data` to `path` atomically (temporary file in the same folder, fsync, rename) with
 * permissions `mode`. Returns DC_OK or DC_EIO. */
int snt_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
                          struct dc_errbuf *eb) DC_MUST_CHECK;

#endif /* SNT_SENTRY_H */
