/* Synchronous signal handling (see dc/signals.h). */
#include "dc/signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>

static void term_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

int dc_signals_setup(void)
{
    struct sigaction sa = {0};
    sigset_t set;

    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return DC_EINTERNAL;
    term_set(&set);
    /* pthread_sigmask returns the error number rather than setting errno. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return DC_EINTERNAL;
    return DC_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dc_signals_wait(int64_t timeout_ms, int *signo)
{
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
    sigset_t set;
    int sig;

    term_set(&set);
    for (;;) {
        if (timeout_ms < 0) {
            sig = sigwaitinfo(&set, NULL);
        } else {
            int64_t left = deadline - now_ms();
            struct timespec ts;

            if (left < 0)
                left = 0;
            ts.tv_sec = (time_t)(left / 1000);
            ts.tv_nsec = (long)(left % 1000) * 1000000;
            sig = sigtimedwait(&set, NULL, &ts);
        }
        if (sig > 0)
            break;
        if (errno == EAGAIN)
            return DC_ETIMEDOUT;
        if (errno != EINTR)
            return DC_EINTERNAL;
        /* A handled signal interrupted the wait; go on until the deadline. */
    }
    if (signo != NULL)
        *signo = sig;
    return DC_OK;
}
