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

#endif /* DC_LIMITS_H */
