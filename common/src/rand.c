/* Random ids from getrandom(2) (contracts in dc/rand.h). */
#include "dc/rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "dc/time.h"

int dc_rand_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);

        if (got < 0) {
            if (errno == EINTR)
                continue;
            return DC_EIO;
        }
        p += got;
        n -= (size_t)got;
    }
    return DC_OK;
}

uint64_t dc_rand64(void)
{
    uint64_t v;

    if (dc_rand_bytes(&v, sizeof(v)) == DC_OK)
        return v;
    return (uint64_t)dc_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)dc_mono_ns();
}

/* Bytes for ids, drawn from the kernel 16 ids at a time per thread: one getrandom call per id
 * would be a syscall per published event. daprc's processes never fork after drawing (a child
 * would repeat its parent's ids). */
static _Thread_local unsigned char id_pool[16 * 16];
static _Thread_local size_t id_left;

static int pooled_16(unsigned char r[16])
{
    if (id_left < 16) {
        if (dc_rand_bytes(id_pool, sizeof(id_pool)) != DC_OK)
            return DC_EIO;
        id_left = sizeof(id_pool);
    }
    memcpy(r, id_pool + sizeof(id_pool) - id_left, 16);
    memset(id_pool + sizeof(id_pool) - id_left, 0, 16);
    id_left -= 16;
    return DC_OK;
}

void dc_uuid4(char out[DC_UUID_LEN])
{
    static const char hexd[] = "0123456789abcdef";
    unsigned char r[16];
    size_t o = 0;

    if (pooled_16(r) != DC_OK) {
        uint64_t a = dc_rand64(), b = dc_rand64() * 0x9E3779B97F4A7C15ULL;

        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    for (size_t i = 0; i < sizeof(r); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexd[r[i] >> 4];
        out[o++] = hexd[r[i] & 15];
    }
    out[o] = '\0';
}
