#include "dc/arena.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc/mem.h"

#define ARENA_CHUNK 4096
#define ARENA_ALIGN alignof(max_align_t)

struct dc_arena_chunk {
    struct dc_arena_chunk *next;
    size_t size;
    size_t off;
    alignas(max_align_t) unsigned char mem[];
};

struct dc_arena_cleanup {
    struct dc_arena_cleanup *next;
    dc_arena_cleanup_fn *fn;
    void *arg;
};

void dc_arena_init(struct dc_arena *a)
{
    memset(a, 0, sizeof(*a));
}

void dc_arena_cleanup(struct dc_arena *a)
{
    struct dc_arena_cleanup *c = a->cleanups;
    struct dc_arena_chunk *k = a->chunks;

    /* Cleanup records live inside the chunks, so run them all before freeing any chunk. */
    while (c != NULL) {
        c->fn(c->arg);
        c = c->next;
    }
    while (k != NULL) {
        struct dc_arena_chunk *next = k->next;
        free(k);
        k = next;
    }
    memset(a, 0, sizeof(*a));
}

void *dc_arena_alloc(struct dc_arena *a, size_t n)
{
    struct dc_arena_chunk *k = a->chunks;
    size_t need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    void *p;

    if (need == 0)
        need = ARENA_ALIGN;
    if (k == NULL || k->size - k->off < need) {
        /* Big requests get a chunk of their own, placed behind the current one so the rest of
         * the current chunk stays usable. */
        size_t size = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;
        struct dc_arena_chunk *nk = dc_xmalloc(sizeof(*nk) + size);

        nk->size = size;
        nk->off = 0;
        if (k != NULL && size != ARENA_CHUNK) {
            nk->next = k->next;
            k->next = nk;
        } else {
            nk->next = k;
            a->chunks = nk;
        }
        k = nk;
    }
    p = k->mem + k->off;
    k->off += need;
    a->used += n;
    return p;
}

void *dc_arena_calloc(struct dc_arena *a, size_t n)
{
    void *p = dc_arena_alloc(a, n);

    memset(p, 0, n);
    return p;
}

char *dc_arena_strndup(struct dc_arena *a, const char *s, size_t n)
{
    char *p = dc_arena_alloc(a, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *dc_arena_strdup(struct dc_arena *a, const char *s)
{
    if (s == NULL)
        return NULL;
    return dc_arena_strndup(a, s, strlen(s));
}

char *dc_arena_sprintf(struct dc_arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return dc_arena_strdup(a, "");
    p = dc_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void dc_arena_on_cleanup(struct dc_arena *a, dc_arena_cleanup_fn *fn, void *arg)
{
    struct dc_arena_cleanup *c = dc_arena_alloc(a, sizeof(*c));

    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
}
