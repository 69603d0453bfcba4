#include "dc/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dc/limits.h"
#include "dc/str.h"

#ifndef DC_VERSION
#define DC_VERSION "0.0.0"
#endif

enum dc_log_level dc_log_threshold = DC_LOG_INFO;

static struct {
    bool json;
    int fd;
    int file_fd;
    char scope[64];
    char app_id[128];
    char instance[128];
} lg = {.fd = 2, .file_fd = -1, .scope = "dapr"};

static const char *const level_names[] = {"debug", "info", "warning", "error", "fatal"};

void dc_log_setup(enum dc_log_level level, bool json, const char *scope, const char *app_id)
{
    dc_log_threshold = level;
    lg.json = json;
    dc_strlcpy(lg.scope, scope != NULL ? scope : "dapr", sizeof(lg.scope));
    dc_strlcpy(lg.app_id, app_id != NULL ? app_id : "", sizeof(lg.app_id));
    if (gethostname(lg.instance, sizeof(lg.instance)) != 0)
        dc_strlcpy(lg.instance, "localhost", sizeof(lg.instance));
    lg.instance[sizeof(lg.instance) - 1] = '\0';
}

int dc_log_set_file(const char *path, struct dc_errbuf *eb)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0)
        return dc_err_set(eb, DC_EIO, "cannot open log file %s", path);
    if (lg.file_fd >= 0)
        close(lg.file_fd);
    lg.file_fd = fd;
    return DC_OK;
}

void dc_log_set_fd(int fd)
{
    lg.fd = fd;
}

int dc_log_level_parse(const char *s, enum dc_log_level *out)
{
    if (s == NULL)
        return DC_EINVAL;
    if (strcasecmp(s, "warn") == 0) {
        *out = DC_LOG_WARN;
        return DC_OK;
    }
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum dc_log_level)i;
            return DC_OK;
        }
    }
    return DC_EINVAL;
}

const char *dc_log_level_name(enum dc_log_level level)
{
    if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
        return "unknown";
    return level_names[level];
}

/* Append `s` to out[*n..cap) escaped as the inside of a JSON string (or of a quoted logrus
 * value, which uses the same escapes for the characters that matter). */
static void put_escaped(char *out, size_t cap, size_t *n, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (; *s != '\0' && *n + 400 < cap; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            out[(*n)++] = '\\';
            out[(*n)++] = (char)c;
        } else if (c == '\n') {
            out[(*n)++] = '\\';
            out[(*n)++] = 'n';
        } else if (c == '\t') {
            out[(*n)++] = '\\';
            out[(*n)++] = 't';
        } else if (c == '\r') {
            out[(*n)++] = '\\';
            out[(*n)++] = 'r';
        } else if (c < 0x20) {
            memcpy(out + *n, "\\u00", 4);
            *n += 4;
            out[(*n)++] = hex[c >> 4];
            out[(*n)++] = hex[c & 15];
        } else {
            out[(*n)++] = (char)c;
        }
    }
}

static void put_raw(char *out, size_t cap, size_t *n, const char *s)
{
    size_t len = strlen(s);

    if (*n + len >= cap)
        len = cap - *n - 1;
    memcpy(out + *n, s, len);
    *n += len;
}

#define SAFE_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/@^+"

static void put_field(char *out, size_t cap, size_t *n, const char *key, const char *val,
                      bool first)
{
    if (lg.json) {
        put_raw(out, cap, n, first ? "{\"" : ",\"");
        put_raw(out, cap, n, key);
        put_raw(out, cap, n, "\":\"");
        put_escaped(out, cap, n, val);
        put_raw(out, cap, n, "\"");
    } else {
        if (!first)
            put_raw(out, cap, n, " ");
        put_raw(out, cap, n, key);
        put_raw(out, cap, n, "=");
        /* logrus quotes values that contain anything but a safe set of characters. */
        if (val[0] == '\0' || strspn(val, SAFE_CHARS) != strlen(val)) {
            put_raw(out, cap, n, "\"");
            put_escaped(out, cap, n, val);
            put_raw(out, cap, n, "\"");
        } else {
            put_escaped(out, cap, n, val);
        }
    }
}

void dc_log_write(enum dc_log_level level, const char *scope, const char *fmt, ...)
{
    char msg[DC_MAX_LOG_LINE];
    char line[DC_MAX_LOG_LINE + 512];
    char ts[64];
    struct timeval tv;
    struct tm tm;
    size_t n = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);

    /* JSON keys in upstream's (alphabetical) order; text keeps logrus's time/level/msg first. */
    if (lg.json) {
        put_field(line, sizeof(line), &n, "app_id", lg.app_id, true);
        put_field(line, sizeof(line), &n, "instance", lg.instance, false);
        put_field(line, sizeof(line), &n, "level", dc_log_level_name(level), false);
        put_field(line, sizeof(line), &n, "msg", msg, false);
        put_field(line, sizeof(line), &n, "scope", scope != NULL ? scope : lg.scope, false);
        put_field(line, sizeof(line), &n, "time", ts, false);
        put_field(line, sizeof(line), &n, "type", "log", false);
        put_field(line, sizeof(line), &n, "ver", DC_VERSION, false);
        put_raw(line, sizeof(line), &n, "}\n");
    } else {
        put_field(line, sizeof(line), &n, "time", ts, true);
        put_field(line, sizeof(line), &n, "level", dc_log_level_name(level), false);
        put_field(line, sizeof(line), &n, "msg", msg, false);
        put_field(line, sizeof(line), &n, "app_id", lg.app_id, false);
        put_field(line, sizeof(line), &n, "instance", lg.instance, false);
        put_field(line, sizeof(line), &n, "scope", scope != NULL ? scope : lg.scope, false);
        put_field(line, sizeof(line), &n, "type", "log", false);
        put_field(line, sizeof(line), &n, "ver", DC_VERSION, false);
        put_raw(line, sizeof(line), &n, "\n");
    }
    if (write(lg.fd, line, n) < 0) {
        /* Nowhere left to report a failing log write. */
    }
    if (lg.file_fd >= 0 && write(lg.file_fd, line, n) < 0) {
        /* Same. */
    }
}
