#ifndef DC_SIGNALS_H
#define DC_SIGNALS_H

/* Process signals for daemons with many threads: the termination signals are blocked in every
 * thread and taken synchronously by one waiting thread (usually main), so no handler ever runs
 * inside a library call of another thread.
 *
 * Usage in main, before any thread (HTTP servers, libcurl resolver, ...) is started:
 *     dc_signals_setup();
 *     ... start servers ...
 *     while (dc_signals_wait(-1, &sig) != DC_OK) ;
 *     ... graceful shutdown ... */

#include <stdint.h>

#include "dc/err.h"

/* Ignore SIGPIPE for the process (writes to closed sockets return EPIPE instead of killing it)
 * and block SIGINT, SIGTERM and SIGHUP in the calling thread; threads created afterwards
 * inherit the mask. Returns DC_OK or DC_EINTERNAL (sigaction/pthread_sigmask failed). */
int dc_signals_setup(void);

/* Wait for one of SIGINT, SIGTERM, SIGHUP (pending for the process or the calling thread),
 * consuming it. `timeout_ms` < 0 waits forever, 0 only polls. Interruptions by other signals
 * are retried within the same deadline. On DC_OK `*signo` (may be NULL) is the signal.
 * Returns DC_OK, DC_ETIMEDOUT, or DC_EINTERNAL. The signals must be blocked in every thread
 * (dc_signals_setup) or another thread's default action may take them first. */
int dc_signals_wait(int64_t timeout_ms, int *signo);

#endif /* DC_SIGNALS_H */
