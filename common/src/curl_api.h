#ifndef DC_CURL_API_H
#define DC_CURL_API_H

/* libcurl, loaded on first use (dc/dl.h) rather than linked: private to common/src.
 *
 * libcurl.so.4 brings libssh2, librtmp (and GnuTLS through it), libpsl, libidn2, brotli,
 * zstd, GSS-API and LDAP; the sidecar needs it only for https calls without their own CAs and
 * the Kubernetes client. Include this header instead of <curl/curl.h> (it includes it for the
 * types): the names of the libcurl functions used here are macros that call through the table
 * `dc__curl`, so call sites read as plain libcurl. A libcurl function used without its line
 * below is an undefined reference at link time (libcurl is not linked), never a silent direct
 * call. dc__curl_load must have returned DC_OK before any of them is called.
 *
 * gcc's curl_easy_setopt type checks (curl/typecheck-gcc.h) are off: they call the functions
 * by their own names. */

#include <curl/curl.h>

#include "dc/dl.h"
#include "dc/err.h"

#define DC__CURL_FUNCS(X)                                                                          \
    X(curl_global_init)                                                                            \
    X(curl_easy_strerror)                                                                          \
    X(curl_easy_init)                                                                              \
    X(curl_easy_setopt)                                                                            \
    X(curl_easy_getinfo)                                                                           \
    X(curl_easy_perform)                                                                           \
    X(curl_easy_reset)                                                                             \
    X(curl_easy_cleanup)                                                                           \
    X(curl_share_init)                                                                             \
    X(curl_share_setopt)                                                                           \
    X(curl_share_cleanup)                                                                          \
    X(curl_slist_append)                                                                           \
    X(curl_slist_free_all)                                                                         \
    X(curl_multi_init)                                                                             \
    X(curl_multi_add_handle)                                                                       \
    X(curl_multi_remove_handle)                                                                    \
    X(curl_multi_perform)                                                                          \
    X(curl_multi_poll)                                                                             \
    X(curl_multi_wakeup)                                                                           \
    X(curl_multi_info_read)                                                                        \
    X(curl_multi_cleanup)

struct dc__curl_api {
    DC__CURL_FUNCS(DC_DL_FIELD)
};

/* Filled by dc__curl_load; read-only afterwards. */
extern struct dc__curl_api dc__curl;

/* Load libcurl.so.4 and run curl_global_init(CURL_GLOBAL_ALL), once per process (dc_dl_load).
 * DC_OK; DC_ENOTFOUND "cannot load libcurl.so.4: ..." (package libcurl4 missing); DC_EIO (a
 * missing symbol, or "curl_global_init: <reason>"). Thread-safe. */
int dc__curl_load(struct dc_errbuf *eb) DC_MUST_CHECK;

/* curl.h defines these four as macros checking the argument count. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt
#undef curl_multi_setopt

#define curl_global_init(...) dc__curl.curl_global_init(__VA_ARGS__)
#define curl_easy_strerror(...) dc__curl.curl_easy_strerror(__VA_ARGS__)
#define curl_easy_init(...) dc__curl.curl_easy_init(__VA_ARGS__)
#define curl_easy_setopt(...) dc__curl.curl_easy_setopt(__VA_ARGS__)
#define curl_easy_getinfo(...) dc__curl.curl_easy_getinfo(__VA_ARGS__)
#define curl_easy_perform(...) dc__curl.curl_easy_perform(__VA_ARGS__)
#define curl_easy_reset(...) dc__curl.curl_easy_reset(__VA_ARGS__)
#define curl_easy_cleanup(...) dc__curl.curl_easy_cleanup(__VA_ARGS__)
#define curl_share_init(...) dc__curl.curl_share_init(__VA_ARGS__)
#define curl_share_setopt(...) dc__curl.curl_share_setopt(__VA_ARGS__)
#define curl_share_cleanup(...) dc__curl.curl_share_cleanup(__VA_ARGS__)
#define curl_slist_append(...) dc__curl.curl_slist_append(__VA_ARGS__)
#define curl_slist_free_all(...) dc__curl.curl_slist_free_all(__VA_ARGS__)
#define curl_multi_init(...) dc__curl.curl_multi_init(__VA_ARGS__)
#define curl_multi_add_handle(...) dc__curl.curl_multi_add_handle(__VA_ARGS__)
#define curl_multi_remove_handle(...) dc__curl.curl_multi_remove_handle(__VA_ARGS__)
#define curl_multi_perform(...) dc__curl.curl_multi_perform(__VA_ARGS__)
#define curl_multi_poll(...) dc__curl.curl_multi_poll(__VA_ARGS__)
#define curl_multi_wakeup(...) dc__curl.curl_multi_wakeup(__VA_ARGS__)
#define curl_multi_info_read(...) dc__curl.curl_multi_info_read(__VA_ARGS__)
#define curl_multi_cleanup(...) dc__curl.curl_multi_cleanup(__VA_ARGS__)

#endif /* DC_CURL_API_H */
