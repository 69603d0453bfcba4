#ifndef DC_LIMITS_H
#define DC_LIMITS_H

/* Every bound on untrusted input, in one place (curl keeps its DYN_* limits together). */

/* One manifest file (Component, Configuration, ...): Kubernetes itself stores objects of at
 * most ~1.5 MB in etcd, so 2 MiB covers every real manifest. */
#define DC_MAX_MANIFEST_FILE (2u * 1024 * 1024)
/* Nodes in one YAML document, counting every alias expansion (defeats "billion laughs"). */
#define DC_MAX_YAML_NODES 100000
/* Nesting depth of YAML and JSON documents. */
#define DC_MAX_DOC_DEPTH 64
/* JSON documents parsed from requests, unless the caller sets a lower limit. */
#define DC_MAX_JSON_BODY (16u * 1024 * 1024)
/* Files read from one --resources-path folder. */
#define DC_MAX_RESOURCE_FILES 4096
/* Resources of one kind loaded at once. */
#define DC_MAX_RESOURCES 10000
/* Default --max-body-size (4Mi) and --read-buffer-size (4Ki) of daprd, as upstream. */
#define DC_DEFAULT_MAX_BODY (4u * 1024 * 1024)
#define DC_DEFAULT_READ_BUFFER (4u * 1024)
/* Length of one log message before it is cut. */
#define DC_MAX_LOG_LINE 8192

/* ---- metrics (dc/metrics.h) ---- */
/* Series per metric: label values can come from requests (paths, methods), so each metric
 * stops creating series here and counts the drops instead of growing without bound. */
#define DC_METRICS_MAX_SERIES 10000
/* Bytes kept of one label value; longer values are cut at a UTF-8 boundary. */
#define DC_METRICS_MAX_LABEL_VALUE 256
/* ---- end metrics ---- */

/* --- http (common/src/http_server.c, http_router.c, http_client.c) --- */
/* Path parameters in one route pattern. */
#define DC_HTTP_MAX_PARAMS 16
/* Default request header block: daprd's --read-buffer-size (4 KiB) plus the 4 KiB that Go's
 * server tolerates beyond MaxHeaderBytes (sidecar-api.md §1.1). */
#define DC_HTTP_DEFAULT_MAX_HEADER (DC_DEFAULT_READ_BUFFER + 4096u)
/* Response headers kept by the client for one response. */
#define DC_HTTP_MAX_RESPONSE_HEADERS 256
/* Server: header fields in one request (more: 431), whatever max_header allows. */
#define DC_HTTP_MAX_REQUEST_HEADERS 256
/* Server: the largest max_header a server accepts (a bigger option is lowered to it). */
#define DC_HTTP_MAX_HEADER_CAP (1024u * 1024)
/* Server: bytes of a chunked body read and dropped past max_body before the server answers
 * and closes the connection. */
#define DC_HTTP_MAX_DISCARD (16u * 1024 * 1024)
/* Server: open connections per server (each has a thread); more are closed at once. */
#define DC_HTTP_MAX_CONNS 4096

/* --- time module (dc/time.h) --- */
/* Length of one Kubernetes quantity string ("4Mi"); real ones are under 30 bytes, the bound keeps
 * the exact decimal arithmetic of dc_quantity_parse on a small stack buffer. */
#define DC_MAX_QUANTITY_LEN 128

/* --- secrets (sidecar/secrets.c, secret_file.c) --- */
/* Size of a secretstores.local.file JSON file, read whole at init. */
#define DC_MAX_SECRETS_FILE (16u * 1024 * 1024)
/* --- end secrets --- */
/* --- sidecar resiliency (sidecar/resiliency.c, sidecar/trip_expr.c) --- */
/* Bytes of one circuit-breaker trip expression; real ones are under 100. */
#define DC_RES_MAX_TRIP_LEN 1024
/* Nesting of parentheses and unary operators in a trip expression (bounds the recursion). */
#define DC_RES_MAX_TRIP_DEPTH 32
/* Breakers kept per component policy (keyed by component name; apps and actors use their
 * circuitBreakerCacheSize). */
#define DC_RES_COMPONENT_BREAKERS 1000
/* --- end sidecar resiliency --- */
/* ---- k8s (common/src/k8s*.c) ---- */
/* One watch event (one NDJSON line); Kubernetes objects are at most ~1.5 MB in etcd. */
#define DC_MAX_K8S_WATCH_EVENT (16u * 1024 * 1024)
/* One API response body (a LIST page of up to `limit` objects included). */
#define DC_MAX_K8S_RESPONSE (64u * 1024 * 1024)
/* A kubeconfig file, and one PEM or token file it names. */
#define DC_MAX_K8S_KUBECONFIG (1u * 1024 * 1024)
#define DC_MAX_K8S_CRED_FILE (256u * 1024)
/* Nodes of a kubeconfig YAML document. */
#define DC_MAX_K8S_KUBECONFIG_NODES 20000

/* ---- injector (inj_) ---------------------------------------------------------------------- */
/* One AdmissionReview request body. The API server refuses JSON request bodies over 3 MiB, and a
 * CREATE review carries one object plus request metadata, so 6 MiB leaves ample headroom while a
 * 10 MB body is refused before parsing. */
#define DC_MAX_ADMISSION_REVIEW (6u * 1024 * 1024)
/* Warnings returned in one AdmissionReview response, and the length of each (the API server
 * truncates long warnings anyway). */
#define DC_MAX_INJ_WARNINGS_SLOTS 32
#define DC_MAX_INJ_WARNING_LEN 256
/* The trust anchors PEM file the injector hands to every daprd. */
#define DC_MAX_INJ_TRUST_ANCHORS (256u * 1024)
/* ---- state backends (sidecar/state_redis.c, sidecar/state_postgres.c) ---- */
/* Values (EQ and IN members) in one state query translated to SQL parameters. */
#define DC_STATE_MAX_QUERY_PARAMS 1024
/* ---- end state backends ---- */

/* ---- grpc (common/src/grpc_*.c, dc/grpc.h) ------------------------------------------------- */
/* Default largest message, both directions (grpc-go's and grpc-core's receive default). */
#define DC_GRPC_DEFAULT_MAX_MSG (4u * 1024 * 1024)
/* Default per-stream HTTP/2 receive window: the most undelivered bytes buffered per call. */
#define DC_GRPC_DEFAULT_WINDOW (256u * 1024)
/* Bytes of messages queued for sending on one call before dc_grpc_call_send says DC_EAGAIN. */
#define DC_GRPC_SEND_HIWAT (64u * 1024)
/* Socket output kept per connection before HTTP/2 frames stop being produced. */
#define DC_GRPC_CONN_OUT_HIWAT (64u * 1024)
/* Total bytes of request or response metadata (keys and values) accepted per call. */
#define DC_GRPC_MAX_METADATA (64u * 1024)
/* Length of a method path. */
#define DC_GRPC_MAX_PATH 512
/* ---- sentry (snt_) ------------------------------------------------------------------------ */
/* One CSR in a SignCertificate request, PEM or DER. A P-256 or Ed25519 CSR is under 1 KiB and an
 * RSA-8192 one under 3 KiB; 64 KiB leaves room for many SANs while bounding parser work. */
#define DC_MAX_SNT_CSR (64u * 1024)
/* Largest RSA modulus accepted in a CSR: verification cost grows with the cube of the size. */
#define DC_MAX_SNT_RSA_BITS 8192
/* One issuer credential file (ca.crt with several anchors, issuer chain, key). */
#define DC_MAX_SNT_CRED_FILE (1u * 1024 * 1024)
/* Certificates in ca.crt or in the issuer chain. */
#define DC_MAX_SNT_CERTS 64
/* A bearer token (Kubernetes service-account JWT, or a JWT for the jwks validator). */
#define DC_MAX_SNT_TOKEN (64u * 1024)
/* A JWKS document, and the keys kept from it. */
#define DC_MAX_SNT_JWKS (1u * 1024 * 1024)
#define DC_MAX_SNT_JWKS_KEYS 256
/* ---- end sentry ---- */
/* ---- crypto (sidecar/crypto_*.c) ---- */
/* One key file of crypto.dapr.localstorage, read on every use: a 16384-bit RSA private key in
 * PEM is about 13 KiB, a JWK of it about 17 KiB. */
#define DC_CRYPTO_MAX_KEY_FILE (64u * 1024)
/* ---- end crypto ---- */
/* ---- bindings (sidecar/bindings_api.c, sidecar/binding_*.c) ---- */
/* Bytes of one output-binding response kept in memory (the HTTP binding's default
 * maxResponseBodySize is 100Mi; localstorage and redis get are bounded by it too). */
#define DC_BND_MAX_RESPONSE (128u * 1024 * 1024)
/* bindings.localstorage: directory depth walked by `list` and of one file name, and entries
 * listed by one `list` call. */
#define DC_BND_LS_MAX_DEPTH 64
#define DC_BND_LS_MAX_LIST 100000
/* ---- end bindings ---- */
/* ---- pubsub (sidecar/pubsub_api.c, match_expr.c, delivery.c, subscriptions.c) ---- */
/* A routing rule's match expression: bytes and nesting levels. */
#define SDC_MATCH_MAX_LEN 4096
#define SDC_MATCH_MAX_DEPTH 32
/* Entries of one bulk publish request. */
#define SDC_PUBSUB_MAX_BULK_ENTRIES 10000
/* Subscriptions (programmatic plus declarative) and rules per subscription. */
#define SDC_PUBSUB_MAX_SUBSCRIPTIONS 1024
#define SDC_PUBSUB_MAX_RULES 64
/* The GET /dapr/subscribe response body. */
#define SDC_PUBSUB_MAX_SUBSCRIBE_BODY (1u * 1024 * 1024)
/* Deliveries to the app in flight at once across all subscriptions. */
#define SDC_PUBSUB_MAX_INFLIGHT 256
/* One in-memory broker message and the messages queued per in-memory subscription. */
#define SDC_PUBSUB_MEMORY_MAX_QUEUE 100000
/* ---- end pubsub ---- */

#endif /* DC_LIMITS_H */
