/* Unit tests of dc/signals.h: mask and SIGPIPE setup, waiting for thread- and process-directed
 * signals, timeouts, and retry after an interrupting handler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "dc/signals.h"

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    (void)state;
    return dc_signals_setup() == DC_OK ? 0 : -1;
}

static void *mask_of_thread(void *arg)
{
    sigset_t *cur = arg;

    pthread_sigmask(SIG_BLOCK, NULL, cur);
    return NULL;
}

static void test_setup_mask_and_sigpipe(void **state)
{
    struct sigaction sa;
    sigset_t cur, child;
    pthread_t t;

    (void)state;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_IGN);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    assert_int_equal(sigismember(&cur, SIGINT), 1);
    assert_int_equal(sigismember(&cur, SIGTERM), 1);
    assert_int_equal(sigismember(&cur, SIGHUP), 1);
    /* Threads started afterwards inherit the mask. */
    assert_int_equal(pthread_create(&t, NULL, mask_of_thread, &child), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(sigismember(&child, SIGTERM), 1);
    assert_int_equal(sigismember(&child, SIGHUP), 1);
    /* SIGPIPE no longer terminates. */
    assert_int_equal(raise(SIGPIPE), 0);
}

static void test_thread_directed(void **state)
{
    int sig = 0;

    (void)state;
    assert_int_equal(pthread_kill(pthread_self(), SIGTERM), 0);
    assert_int_equal(dc_signals_wait(1000, &sig), DC_OK);
    assert_int_equal(sig, SIGTERM);
    /* Consumed: nothing pending any more. */
    assert_int_equal(dc_signals_wait(0, &sig), DC_ETIMEDOUT);
}

static void test_process_directed_forever(void **state)
{
    int sig = 0;

    (void)state;
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    assert_int_equal(dc_signals_wait(-1, &sig), DC_OK);
    assert_int_equal(sig, SIGHUP);
    assert_int_equal(kill(getpid(), SIGINT), 0);
    assert_int_equal(dc_signals_wait(-1, NULL), DC_OK);
}

static void *send_later(void *arg)
{
    (void)arg;
    sleep_ms(50);
    kill(getpid(), SIGINT);
    return NULL;
}

static void test_signal_from_other_thread(void **state)
{
    pthread_t t;
    int sig = 0;

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, send_later, NULL), 0);
    assert_int_equal(dc_signals_wait(5000, &sig), DC_OK);
    assert_int_equal(sig, SIGINT);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_timeout(void **state)
{
    int64_t t0;
    int sig = -1;

    (void)state;
    assert_int_equal(dc_signals_wait(0, &sig), DC_ETIMEDOUT);
    t0 = now_ms();
    assert_int_equal(dc_signals_wait(100, &sig), DC_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 99);
    assert_int_equal(sig, -1);
}

static atomic_int usr1_seen;

static void on_usr1(int sig)
{
    (void)sig;
    atomic_store(&usr1_seen, 1);
}

struct poke {
    pthread_t target;
};

static void *poke_later(void *arg)
{
    struct poke *p = arg;

    sleep_ms(30);
    pthread_kill(p->target, SIGUSR1);
    return NULL;
}

/* A handled signal interrupts sigtimedwait with EINTR; the wait resumes until its deadline. */
static void test_eintr_keeps_deadline(void **state)
{
    struct sigaction sa = {0}, old;
    struct poke p = {.target = pthread_self()};
    pthread_t t;
    int64_t t0;

    (void)state;
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    t0 = now_ms();
    assert_int_equal(pthread_create(&t, NULL, poke_later, &p), 0);
    assert_int_equal(dc_signals_wait(200, NULL), DC_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 199);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(atomic_load(&usr1_seen), 1);
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_mask_and_sigpipe),
        cmocka_unit_test(test_thread_directed),
        cmocka_unit_test(test_process_directed_forever),
        cmocka_unit_test(test_signal_from_other_thread),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_eintr_keeps_deadline),
    };

    return cmocka_run_group_tests_name("signals", tests, setup, NULL);
}
