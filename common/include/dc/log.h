#ifndef DC_LOG_H
#define DC_LOG_H

/* Process-wide logger with upstream daprd's fields.
 *
 * Text lines look like upstream's logrus text format:
 *   time="2026-11-21T18:00:00.123456Z" level=info msg="..." app_id=myapp instance=host
 *   scope=dapr.runtime type=log ver=0.1.0
 * With JSON on, each line is one object with the keys time, level, msg, scope, app_id, instance,
 * type ("log") and ver.
 *
 * DC_LOG checks the level before formatting, so a suppressed level costs one comparison.
 * Thread-safe: each line is written with a single write(2). common/ code does not log (it
 * returns errors); services log where they handle errors. */

#include <stdbool.h>

#include "dc/err.h"

enum dc_log_level {
    DC_LOG_DEBUG = 0,
    DC_LOG_INFO = 1,
    DC_LOG_WARN = 2,
    DC_LOG_ERROR = 3,
    DC_LOG_FATAL = 4,
};

extern enum dc_log_level dc_log_threshold;

/* Configure the logger. `scope` (e.g. "dapr.runtime") and `app_id` (may be NULL) are copied.
 * Call once at startup, before other threads start. */
void dc_log_setup(enum dc_log_level level, bool json, const char *scope, const char *app_id);
/* Also append every line to `path` (--log-file). Returns DC_EIO when it cannot be opened. */
int dc_log_set_file(const char *path, struct dc_errbuf *eb);
/* Send lines to `fd` instead of stderr (tests). */
void dc_log_set_fd(int fd);

/* "debug" | "info" | "warn" | "error" | "fatal" (case-insensitive; "warning" accepted). */
int dc_log_level_parse(const char *s, enum dc_log_level *out) DC_MUST_CHECK;
const char *dc_log_level_name(enum dc_log_level level);

void dc_log_write(enum dc_log_level level, const char *scope, const char *fmt, ...) DC_PRINTF(3, 4);

#define DC_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) >= dc_log_threshold)                                                           \
            dc_log_write((level), NULL, __VA_ARGS__);                                              \
    } while (0)
/* Same with an explicit scope, e.g. "dapr.runtime.http-info" for API logging. */
#define DC_LOG_SCOPE(level, scope, ...)                                                            \
    do {                                                                                           \
        if ((level) >= dc_log_threshold)                                                           \
            dc_log_write((level), (scope), __VA_ARGS__);                                           \
    } while (0)

#endif /* DC_LOG_H */
