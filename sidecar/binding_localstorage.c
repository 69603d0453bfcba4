/* bindings.localstorage (output; sidecar-api.md §22.5): files under `rootPath`.
 *
 * Operations (metadata `fileName`):
 *   create  write the data (a JSON string is unquoted, then base64 is decoded when the text is
 *           valid standard base64, as upstream does) to fileName, or to a random UUID name;
 *           answers {"fileName":"<path relative to rootPath>"}; parent folders are created.
 *   get     the file's bytes.
 *   list    JSON array of the absolute paths of every file below fileName (default: the root),
 *           walked in lexical order; null when there is none.
 *   delete  remove the file (or empty folder); no response.
 *
 * Confinement (stricter than upstream's securejoin, which clamps ".." to the root): the file
 * name is split on '/', empty and "." segments are dropped, and names that are absolute or
 * contain a ".." segment are refused. The remaining path is then opened one segment at a time
 * with openat(O_NOFOLLOW) from a descriptor of the root taken at init, so no symbolic link is
 * ever followed (a link anywhere on the path is refused, whether it points inside or outside)
 * and a folder swapped for a link mid-call cannot redirect the operation. The root itself is
 * resolved once at init (realpath) and must not be under /proc, /sys, /boot or
 * /var/run/secrets. */
#include "bindings.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dc/base64.h"
#include "dc/limits.h"
#include "dc/mem.h"
#include "dc/rand.h"
#include "dc/str.h"

struct ls {
    char *root; /* resolved absolute path, no trailing '/' (unless "/") */
    int rootfd;
};

/* ---- data decoding: strconv.Unquote, then base64.StdEncoding ------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(unsigned char *o, unsigned long r)
{
    if (r < 0x80) {
        o[0] = (unsigned char)r;
        return 1;
    }
    if (r < 0x800) {
        o[0] = (unsigned char)(0xc0 | (r >> 6));
        o[1] = (unsigned char)(0x80 | (r & 0x3f));
        return 2;
    }
    if (r < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (r >> 12));
        o[1] = (unsigned char)(0x80 | ((r >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (r & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | (r >> 18));
    o[1] = (unsigned char)(0x80 | ((r >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((r >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (r & 0x3f));
    return 4;
}

/* Go's strconv.Unquote of a double-quoted literal into `out` (at least `n` bytes); returns the
 * length or -1 when `s` is not one. Escapes: \a \b \f \n \r \t \v \\ \" \xHH \ooo \uXXXX
 * \UXXXXXXXX (valid, non-surrogate code points). */
DC_TESTABLE long ls_unquote(const char *s, size_t n, unsigned char *out)
{
    size_t o = 0;

    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return -1;
    for (size_t i = 1; i < n - 1;) {
        unsigned char c = (unsigned char)s[i];
        unsigned long r = 0;
        int digits;

        if (c == '"' || c == '\n')
            return -1;
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        if (i + 1 >= n - 1)
            return -1;
        c = (unsigned char)s[i + 1];
        i += 2;
        switch (c) {
        case 'a':
            out[o++] = '\a';
            continue;
        case 'b':
            out[o++] = '\b';
            continue;
        case 'f':
            out[o++] = '\f';
            continue;
        case 'n':
            out[o++] = '\n';
            continue;
        case 'r':
            out[o++] = '\r';
            continue;
        case 't':
            out[o++] = '\t';
            continue;
        case 'v':
            out[o++] = '\v';
            continue;
        case '\\':
            out[o++] = '\\';
            continue;
        case '"':
            out[o++] = '"';
            continue;
        case 'x':
            digits = 2;
            break;
        case 'u':
            digits = 4;
            break;
        case 'U':
            digits = 8;
            break;
        default:
            if (c >= '0' && c <= '7') {
                if (i + 2 > n - 1)
                    return -1;
                r = (unsigned long)(c - '0');
                for (int k = 0; k < 2; k++) {
                    if (s[i + (size_t)k] < '0' || s[i + (size_t)k] > '7')
                        return -1;
                    r = r * 8 + (unsigned long)(s[i + (size_t)k] - '0');
                }
                if (r > 255)
                    return -1;
                out[o++] = (unsigned char)r;
                i += 2;
                continue;
            }
            return -1;
        }
        if (i + (size_t)digits > n - 1)
            return -1;
        for (int k = 0; k < digits; k++) {
            int h = hexval((unsigned char)s[i + (size_t)k]);
            if (h < 0)
                return -1;
            r = r * 16 + (unsigned long)h;
        }
        i += (size_t)digits;
        if (c == 'x') {
            out[o++] = (unsigned char)r;
            continue;
        }
        if (r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
            return -1;
        o += put_utf8(out + o, r);
    }
    return (long)o;
}

/* ---- paths --------------------------------------------------------------------------------- */

struct lpath {
    char rel[PATH_MAX]; /* cleaned, relative to the root ("" = the root itself) */
    char *segs[DC_BND_LS_MAX_DEPTH];
    size_t n;
    char buf[PATH_MAX]; /* the segments, NUL-separated */
};

/* Split and check `name` (see the file comment). */
static int ls_clean(const char *name, struct lpath *p, struct dc_errbuf *eb)
{
    size_t len = strlen(name), o = 0;
    const char *s = name;

    p->n = 0;
    if (len >= sizeof(p->buf))
        return dc_err_set(eb, DC_EINVAL, "file name too long");
    if (name[0] == '/')
        return dc_err_set(eb, DC_EPERM, "absolute paths are not allowed");
    while (*s != '\0') {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return dc_err_set(eb, DC_EPERM, "path escapes rootPath");
        if (n > 0 && !(n == 1 && s[0] == '.')) {
            if (p->n == DC_BND_LS_MAX_DEPTH)
                return dc_err_set(eb, DC_EINVAL, "path too deep");
            p->segs[p->n++] = p->buf + o;
            memcpy(p->buf + o, s, n);
            o += n;
            p->buf[o++] = '\0';
        }
        s += n;
        if (*s == '/')
            s++;
    }
    o = 0;
    for (size_t i = 0; i < p->n; i++) {
        size_t l = strlen(p->segs[i]);
        if (i > 0)
            p->rel[o++] = '/';
        memcpy(p->rel + o, p->segs[i], l);
        o += l;
    }
    p->rel[o] = '\0';
    return DC_OK;
}

static int open_err(int e, const char *what, struct dc_errbuf *eb)
{
    if (e == ELOOP || e == EMLINK)
        return dc_err_set(eb, DC_EPERM, "%s: symbolic links are not allowed", what);
    if (e == ENOENT)
        return dc_err_set(eb, DC_ENOTFOUND, "%s: no such file or directory", what);
    if (e == ENOTDIR)
        return dc_err_set(eb, DC_EINVAL, "%s: not a directory", what);
    return dc_err_set(eb, DC_EIO, "%s: %s", what, strerror(e));
}

/* Open the folder holding the last segment (the root for a 0- or 1-segment path), creating
 * missing folders when `create`. Returns a descriptor or a negative DC_E* code. */
static int open_parent(const struct ls *l, const struct lpath *p, bool create, struct dc_errbuf *eb)
{
    int fd = dup(l->rootfd);

    if (fd < 0)
        return dc_err_set(eb, DC_EIO, "dup: %s", strerror(errno));
    for (size_t i = 0; i + 1 < p->n; i++) {
        int nfd = openat(fd, p->segs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, p->segs[i], 0777) != 0 && errno != EEXIST) {
                int e = errno;
                close(fd);
                return open_err(e, p->segs[i], eb);
            }
            nfd = openat(fd, p->segs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (nfd < 0) {
            int e = errno;
            struct stat st;
            /* O_DIRECTORY may report a link as ENOTDIR: name the link for what it is. */
            if (e == ENOTDIR && fstatat(fd, p->segs[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                e = ELOOP;
            close(fd);
            return open_err(e, p->segs[i], eb);
        }
        close(fd);
        fd = nfd;
    }
    return fd;
}

static const char *abs_of(const struct ls *l, const struct lpath *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s", l->root, strcmp(l->root, "/") == 0 || p->rel[0] == '\0' ? "" : "/",
             p->rel);
    return out;
}

/* ---- operations ---------------------------------------------------------------------------- */

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int op_create(struct ls *l, const char *name, const struct sdc_binding_req *req,
                     struct sdc_binding_resp *resp, struct dc_errbuf *eb)
{
    struct lpath *p = dc_xmalloc(sizeof(*p));
    unsigned char *data = dc_xmalloc(req->data_len + 1);
    struct dc_buf dec = {0};
    char abs[PATH_MAX + 256];
    long n;
    int dfd = -1, fd = -1, rv;

    /* Data: a JSON string is unquoted; then base64 text is decoded (upstream's rules). */
    n = ls_unquote(req->data, req->data_len, data);
    if (n < 0) {
        memcpy(data, req->data, req->data_len);
        n = (long)req->data_len;
    }
    if (dc_base64_decode(&dec, (const char *)data, (size_t)n, NULL) == DC_OK) {
        memcpy(data, dec.data != NULL ? dec.data : "", dec.len);
        n = (long)dec.len;
    }
    rv = ls_clean(name, p, eb);
    if (rv == DC_OK && p->n == 0)
        rv = dc_err_set(eb, DC_EINVAL, "the root folder is not a file");
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "error getting absolute path for file %s", name);
        goto out;
    }
    abs_of(l, p, abs, sizeof(abs));
    dfd = open_parent(l, p, true, eb);
    if (dfd < 0) {
        rv = dfd;
        dc_err_wrapf(eb, "error creating directory for %s", abs);
        goto out;
    }
    fd =
        openat(dfd, p->segs[p->n - 1], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        rv = open_err(errno, p->segs[p->n - 1], eb);
        dc_err_wrapf(eb, "error creating file %s", abs);
        goto out;
    }
    if (write_all(fd, data, (size_t)n) != 0) {
        rv = dc_err_set(eb, DC_EIO, "error writing to file %s: %s", abs, strerror(errno));
        goto out;
    }
    resp->has_data = true;
    rv = dc_buf_appends(&resp->data, "{\"fileName\":");
    if (rv == DC_OK)
        rv = sdc_binding_json_string(&resp->data, p->rel);
    if (rv == DC_OK)
        rv = dc_buf_appendc(&resp->data, '}');
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    free(data);
    dc_buf_cleanup(&dec);
    free(p);
    return rv;
}

static int op_get(struct ls *l, const char *name, struct sdc_binding_resp *resp,
                  struct dc_errbuf *eb)
{
    struct lpath *p = dc_xmalloc(sizeof(*p));
    char abs[PATH_MAX + 256], chunk[65536];
    struct stat st;
    int dfd = -1, fd = -1, rv;

    memset(&st, 0, sizeof(st));
    rv = ls_clean(name, p, eb);
    if (rv == DC_OK && p->n == 0)
        rv = dc_err_set(eb, DC_EINVAL, "required metadata fileName is missing");
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "error getting absolute path for file %s", name);
        goto out;
    }
    abs_of(l, p, abs, sizeof(abs));
    dfd = open_parent(l, p, false, eb);
    if (dfd >= 0)
        fd = openat(dfd, p->segs[p->n - 1], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (dfd < 0 || fd < 0) {
        if (dfd >= 0)
            rv = open_err(errno, p->segs[p->n - 1], eb);
        else
            rv = dfd;
        if (rv == DC_ENOTFOUND)
            rv = dc_err_set(eb, DC_ENOTFOUND, "file not found: %s", abs);
        else
            dc_err_wrapf(eb, "error opening path %s", abs);
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rv = dc_err_set(eb, DC_EINVAL, "error reading file %s: read %s: %s", abs, abs,
                        S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        goto out;
    }
    resp->has_data = true;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rv = dc_err_set(eb, DC_EIO, "error reading file %s: %s", abs, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        rv = dc_buf_append(&resp->data, chunk, (size_t)r);
        if (rv != DC_OK) {
            dc_err_set(eb, rv, "error reading file %s: file too large", abs);
            break;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    free(p);
    return rv;
}

static int op_delete(struct ls *l, const char *name, struct dc_errbuf *eb)
{
    struct lpath *p = dc_xmalloc(sizeof(*p));
    char abs[PATH_MAX + 256];
    int dfd = -1, rv;

    rv = ls_clean(name, p, eb);
    if (rv == DC_OK && p->n == 0)
        rv = dc_err_set(eb, DC_EINVAL, "the root folder cannot be deleted");
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "error getting absolute path for file %s", name);
        goto out;
    }
    abs_of(l, p, abs, sizeof(abs));
    dfd = open_parent(l, p, false, eb);
    if (dfd < 0) {
        rv = dfd;
        dc_err_wrapf(eb, "error deleting file %s", abs);
        goto out;
    }
    /* unlinkat never follows a link, so a link could only ever be removed itself; links are
     * refused anyway, as for every other operation. */
    {
        struct stat st;
        if (fstatat(dfd, p->segs[p->n - 1], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
            rv = open_err(ELOOP, p->segs[p->n - 1], eb);
            dc_err_wrapf(eb, "error deleting file %s", abs);
            goto out;
        }
    }
    if (unlinkat(dfd, p->segs[p->n - 1], 0) != 0) {
        int e = errno;
        if (e == EISDIR) {
            if (unlinkat(dfd, p->segs[p->n - 1], AT_REMOVEDIR) == 0)
                goto out;
            e = errno;
        }
        rv = open_err(e, p->segs[p->n - 1], eb);
        dc_err_wrapf(eb, "error deleting file %s", abs);
    }
out:
    if (dfd >= 0)
        close(dfd);
    free(p);
    return rv;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append the files under the folder `fd` (consumed) named `path` to `out` as JSON strings. */
static int walk(int fd, const char *path, int depth, size_t *count, struct dc_buf *out,
                struct dc_errbuf *eb)
{
    DIR *d = fdopendir(fd);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rv = DC_OK;

    if (d == NULL) {
        close(fd);
        return dc_err_set(eb, DC_EIO, "open %s: %s", path, strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            names = dc_xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = dc_xstrdup(de->d_name);
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n && rv == DC_OK; i++) {
        size_t plen = strlen(path) + strlen(names[i]) + 2;
        char *child = dc_xmalloc(plen);
        struct stat st;

        snprintf(child, plen, "%s%s%s", path, strcmp(path, "/") == 0 ? "" : "/", names[i]);
        if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
            free(child);
            continue; /* vanished meanwhile */
        }
        if (S_ISDIR(st.st_mode)) {
            int cfd = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (depth + 1 >= DC_BND_LS_MAX_DEPTH) {
                if (cfd >= 0)
                    close(cfd);
                rv = dc_err_set(eb, DC_ETOOBIG, "folders nested too deep under %s", path);
            } else if (cfd >= 0) {
                rv = walk(cfd, child, depth + 1, count, out, eb); /* consumes cfd */
            }
        } else {
            if (++*count > DC_BND_LS_MAX_LIST)
                rv = dc_err_set(eb, DC_ETOOBIG, "more than %d files", DC_BND_LS_MAX_LIST);
            if (rv == DC_OK && *count > 1)
                rv = dc_buf_appendc(out, ',');
            if (rv == DC_OK)
                rv = sdc_binding_json_string(out, child);
        }
        free(child);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rv;
}

static int op_list(struct ls *l, const char *name, struct sdc_binding_resp *resp,
                   struct dc_errbuf *eb)
{
    struct lpath *p = dc_xmalloc(sizeof(*p));
    char abs[PATH_MAX + 256];
    struct dc_buf items = {0};
    size_t count = 0;
    int dfd = -1, fd = -1, rv;

    rv = ls_clean(name, p, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "error getting absolute path for file %s", name);
        goto out;
    }
    abs_of(l, p, abs, sizeof(abs));
    if (p->n == 0) {
        fd = dup(l->rootfd);
    } else {
        dfd = open_parent(l, p, false, eb);
        if (dfd < 0) {
            rv = dfd;
            dc_err_wrapf(eb, "error getting stats for path %s", abs);
            goto out;
        }
        fd = openat(dfd, p->segs[p->n - 1], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    }
    if (fd < 0) {
        rv = open_err(errno, p->n > 0 ? p->segs[p->n - 1] : ".", eb);
        dc_err_wrapf(eb, "error getting stats for path %s", abs);
        goto out;
    }
    {
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
            close(fd);
            rv = dc_err_set(eb, DC_EINVAL,
                            "unable to list files as the file specified is not a directory: %s",
                            abs);
            goto out;
        }
    }
    dc_buf_init(&items, DC_BND_MAX_RESPONSE);
    rv = walk(fd, abs, 0, &count, &items, eb);
    if (rv != DC_OK) {
        dc_err_wrapf(eb, "error listing files in the directory %s", abs);
        goto out;
    }
    resp->has_data = true;
    /* json.Marshal of a nil slice. */
    if (count == 0)
        rv = dc_buf_appends(&resp->data, "null");
    else if ((rv = dc_buf_appendc(&resp->data, '[')) == DC_OK &&
             (rv = dc_buf_append(&resp->data, items.data, items.len)) == DC_OK)
        rv = dc_buf_appendc(&resp->data, ']');
out:
    dc_buf_cleanup(&items);
    if (dfd >= 0)
        close(dfd);
    free(p);
    return rv;
}

static int ls_invoke(void *self, const struct sdc_binding_req *req, struct sdc_binding_resp *resp,
                     struct dc_errbuf *eb)
{
    struct ls *l = self;
    const char *name = sdc_md_get(req->metadata, "fileName");
    char uuid[DC_UUID_LEN];

    if (name == NULL)
        name = "";
    if (name[0] == '\0' && strcmp(req->operation, "create") == 0) {
        dc_uuid4(uuid);
        name = uuid;
    }
    if (strcmp(req->operation, "create") == 0)
        return op_create(l, name, req, resp, eb);
    if (strcmp(req->operation, "get") == 0)
        return op_get(l, name, resp, eb);
    if (strcmp(req->operation, "delete") == 0)
        return op_delete(l, name, eb);
    if (strcmp(req->operation, "list") == 0)
        return op_list(l, name, resp, eb);
    return dc_err_set(eb, DC_EINVAL, "unsupported operation %s", req->operation);
}

/* ---- init ---------------------------------------------------------------------------------- */

static bool disallowed(const char *root)
{
    static const char *const bad[] = {"/proc", "/sys", "/boot", "/var/run/secrets", "/run/secrets"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i]);
        if (strncmp(root, bad[i], n) == 0 && (root[n] == '\0' || root[n] == '/'))
            return true;
    }
    return false;
}

/* mkdir -p of an absolute path. */
static int mkdirs(char *path)
{
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST) {
                *p = c;
                return -1;
            }
            *p = c;
            if (c == '\0')
                return 0;
        }
    }
}

static int ls_init(void **self, const struct sdc_md *md, const struct sdc_init_ctx *ctx,
                   struct dc_errbuf *eb)
{
    const char *rp = sdc_md_get(md, "rootPath");
    char path[PATH_MAX], real[PATH_MAX];
    struct ls *l;
    int fd;

    (void)ctx;
    if (dc_str_empty(rp))
        return dc_err_set(eb, DC_EINVAL,
                          "failed to parse metadata: property rootPath must not be empty");
    if (rp[0] == '/') {
        if (dc_strlcpy(path, rp, sizeof(path)) >= sizeof(path))
            return dc_err_set(eb, DC_EINVAL, "failed to parse metadata: rootPath too long");
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", cwd, rp) >= sizeof(path))
            return dc_err_set(eb, DC_EINVAL, "failed to obtain current working directory");
    }
    if (disallowed(path))
        return dc_err_set(eb, DC_EPERM,
                          "failed to parse metadata: property rootPath points to a disallowed "
                          "location");
    if (mkdirs(path) != 0)
        return dc_err_set(eb, DC_EIO, "unable to create directory specified by 'rootPath' %s: %s",
                          rp, strerror(errno));
    if (realpath(path, real) == NULL)
        return dc_err_set(eb, DC_EIO, "failed to evaluate symlinks in rootPath: %s",
                          strerror(errno));
    if (disallowed(real))
        return dc_err_set(eb, DC_EPERM,
                          "failed to parse metadata: property rootPath points to a disallowed "
                          "location");
    fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return dc_err_set(eb, DC_EIO, "failed to parse metadata: property rootPath %s: %s", rp,
                          errno == ENOTDIR ? "represents a file and not a directory"
                                           : strerror(errno));
    l = dc_xcalloc(1, sizeof(*l));
    l->root = dc_xstrdup(real);
    l->rootfd = fd;
    *self = l;
    return DC_OK;
}

static void ls_close(void *self)
{
    struct ls *l = self;

    if (l == NULL)
        return;
    close(l->rootfd);
    free(l->root);
    free(l);
}

static const char *const ls_operations[] = {"create", "get", "list", "delete", NULL};

static const struct sdc_binding_ops ls_ops = {
    .base = {.init = ls_init, .close = ls_close},
    .operations = ls_operations,
    .invoke = ls_invoke,
};

const struct sdc_component_type sdc_type_bindings_localstorage = {"bindings.localstorage", "v1",
                                                                  SDC_CAT_BINDINGS, &ls_ops.base};
