#ifndef DC_MEM_H
#define DC_MEM_H

/* Allocation policy (house style §E): dc_x* allocators abort the process when memory runs out,
 * because a daemon that Kubernetes restarts gains nothing from thousands of untested branches.
 * Sizes that come from untrusted input are checked against a limit (dc/limits.h) first, and
 * then allocated with the fallible dc_malloc, which returns NULL instead. */

#include <stddef.h>

void *dc_xmalloc(size_t n);
void *dc_xcalloc(size_t nmemb, size_t size);
void *dc_xrealloc(void *p, size_t n);
/* Duplicate `s` (NULL gives NULL). */
char *dc_xstrdup(const char *s);
/* Duplicate the first `n` bytes of `s` and NUL-terminate. */
char *dc_xstrndup(const char *s, size_t n);
/* Fallible allocation for input-sized requests; NULL on failure. */
void *dc_malloc(size_t n);

#endif /* DC_MEM_H */
