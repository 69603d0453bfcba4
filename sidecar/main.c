/* daprd: parse the command line, start the sidecar, wait for a signal, shut down. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dc/log.h"
#include "dc/signals.h"
#include "dc/str.h"

#include "config.h"
#include "runtime.h"
#include "sidecar.h"

int main(int argc, char **argv)
{
    struct sdc_config cfg;
    struct sdc_sidecar *sc = NULL;
    struct dc_errbuf eb = {0};
    int signo = 0, code = 0;

    if (sdc_config_parse(&cfg, argc, argv, NULL, &eb) != DC_OK) {
        if (strcmp(eb.msg, "help requested") == 0) {
            sdc_config_usage(stdout);
            code = 0;
        } else {
            fprintf(stderr, "daprd: %s\n", eb.msg);
            code = 1;
        }
        goto out;
    }
    if (cfg.version || cfg.build_info) {
        printf(cfg.build_info ? "Version: %s\nRuntime: daprc (C)\n" : "%s\n",
               sdc_runtime_version());
        goto out;
    }
    if (sdc_config_validate(&cfg, &eb) != DC_OK) {
        fprintf(stderr, "daprd: %s\n", eb.msg);
        code = 1;
        goto out;
    }
    if (dc_signals_setup() != DC_OK) {
        fprintf(stderr, "daprd: cannot set up signal handling\n");
        code = 1;
        goto out;
    }
    dc_log_setup(cfg.log_level, cfg.log_as_json, "dapr.runtime", cfg.app_id);
    if (!dc_str_empty(cfg.log_file) && dc_log_set_file(cfg.log_file, &eb) != DC_OK) {
        fprintf(stderr, "daprd: %s\n", eb.msg);
        code = 1;
        goto out;
    }
    if (sdc_sidecar_start(&sc, &cfg, &eb) != DC_OK) {
        DC_LOG(DC_LOG_FATAL, "%s", eb.msg);
        code = 1;
        goto out;
    }
    while (dc_signals_wait(-1, &signo) != DC_OK)
        ;
    if (sdc_sidecar_force_requested(sc)) {
        struct timespec ts = {0, 100 * 1000 * 1000};

        DC_LOG(DC_LOG_WARN, "forced shutdown requested");
        /* Upstream exits about 100 ms after answering, so the 204 reaches the caller. */
        nanosleep(&ts, NULL);
        code = 1;
        goto out; /* no graceful drain (sidecar-api.md §15) */
    }
    DC_LOG(DC_LOG_INFO, "received signal '%s'; beginning shutdown", strsignal(signo));
    if (sdc_sidecar_shutdown(sc) != DC_OK)
        DC_LOG(DC_LOG_WARN, "graceful shutdown budget exceeded; closing remaining connections");
    DC_LOG(DC_LOG_INFO, "daprd shutdown gracefully");
out:
    sdc_sidecar_free(sc);
    sdc_config_cleanup(&cfg);
    return code;
}
