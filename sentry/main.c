/* sentry: flags, start the service, wait for a signal, shut down. */
#include <stdio.h>
#include <string.h>

#include "dc/log.h"
#include "dc/signals.h"

#include "service.h"

int main(int argc, char **argv)
{
    struct snt_flags flags;
    struct snt_service *svc = NULL;
    struct dc_errbuf eb = {0};
    int signo = 0, code = 1;

    if (snt_flags_parse(&flags, argc, (const char *const *)argv, &eb) != DC_OK) {
        fprintf(stderr, "sentry: %s\n", eb.msg);
        snt_flags_usage(stderr);
        return 2;
    }
    if (flags.help) {
        snt_flags_usage(stdout);
        return 0;
    }
    if (flags.version) {
        printf("%s\n", DC_VERSION);
        return 0;
    }
    if (dc_signals_setup() != DC_OK) {
        fprintf(stderr, "sentry: cannot set up signal handling\n");
        return 1;
    }
    dc_log_setup(flags.log_level, flags.log_as_json, "dapr.sentry", NULL);
    DC_LOG(DC_LOG_INFO, "Starting Dapr Sentry certificate authority -- version %s", DC_VERSION);
    if (snt_service_new(&svc, &flags, &eb) != DC_OK || snt_service_start(svc, &eb) != DC_OK) {
        DC_LOG(DC_LOG_FATAL, "%s", eb.msg);
        goto out;
    }
    while (dc_signals_wait(-1, &signo) != DC_OK)
        ;
    DC_LOG(DC_LOG_INFO, "received signal '%s'; shutting down", strsignal(signo));
    snt_service_shutdown(svc, 5000);
    code = 0;
out:
    snt_service_free(svc);
    if (code == 0)
        DC_LOG(DC_LOG_INFO, "Sentry shut down gracefully");
    return code;
}
