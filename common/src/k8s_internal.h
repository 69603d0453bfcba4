#ifndef DC_K8S_INTERNAL_H
#define DC_K8S_INTERNAL_H

/* Private helpers shared by common/src/k8s*.c. Not installed, not part of the API. */

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dc/err.h"

/* Read the whole file `path` (at most `max` bytes) into a NUL-terminated malloc'd buffer.
 * Errors: DC_EIO, DC_ETOOBIG. */
int k8s_read_file(const char *path, size_t max, char **out, size_t *len, struct dc_errbuf *eb);

/* Decode standard base64 (whitespace ignored, padding optional) into a NUL-terminated malloc'd
 * buffer. Errors: DC_EPARSE. */
int k8s_base64_decode(const char *in, size_t n, char **out, size_t *out_len);

/* Monotonic milliseconds. */
int64_t k8s_now_ms(void);

/* Wipe and free a secret string (NULL is a no-op). */
void k8s_free_secret(char *s);

/* One HTTP exchange with the API server (k8s_client.c). */
#include <stdbool.h>

#include "curl_api.h"

#include "dc/buf.h"
#include "dc/k8s.h"

struct k8s_xfer;
/* Streaming sink: gets body bytes of a 2xx response; returns DC_OK or an error that aborts. */
typedef int (*k8s_sink_fn)(struct k8s_xfer *x, const char *p, size_t n);

struct k8s_xfer {
    CURL *easy;
    struct curl_slist *headers;
    struct dc_buf resp; /* the body (all of it, or the error body of a streamed call) */
    k8s_sink_fn sink;   /* NULL = collect into resp */
    void *arg;          /* for the sink */
    int sink_rv;        /* the sink's error, reported instead of CURLE_WRITE_ERROR */
    struct dc_errbuf *eb;
    long http_code;
};

/* Prepare a request. `watch` = streaming: no total timeout, a low-speed timeout of `stall_s`. */
void k8s_xfer_init(struct k8s_xfer *x, struct dc_k8s_client *c, const char *method,
                   const char *path_query, const char *content_type, const char *body,
                   size_t body_len, bool watch, long stall_s);
/* Run it to the end. DC_OK means a response arrived (see http_code); other codes are transport
 * errors, cancellation or the sink's error. */
int k8s_xfer_run(struct k8s_xfer *x, struct dc_k8s_cancel *cancel, struct dc_errbuf *eb);
void k8s_xfer_cleanup(struct k8s_xfer *x);
/* After a 401: re-read the token file. True when the token changed (retry makes sense). */
bool k8s_client_token_reload(struct dc_k8s_client *c);
/* Append `s` percent-encoded for a path segment or a query value. */
int k8s_append_escaped(struct dc_buf *b, const char *s);

#endif /* DC_K8S_INTERNAL_H */
