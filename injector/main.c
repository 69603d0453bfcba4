/* injector: flags and environment, start the service, wait for a signal, shut down. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc/k8s.h"
#include "dc/log.h"
#include "dc/signals.h"
#include "dc/str.h"

#include "injector.h"
#include "service.h"

/* KUBE_CLUSTER_DOMAIN unset: the search list of /etc/resolv.conf names it (svc.<domain>). */
static void detect_cluster_domain(struct inj_config *cfg)
{
    char text[4096], dom[256];
    ssize_t n;
    int fd;

    if (!dc_str_empty(getenv("KUBE_CLUSTER_DOMAIN")))
        return;
    fd = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return;
    text[n] = '\0';
    if (inj_cluster_domain_from_resolv(text, dom, sizeof(dom)) == DC_OK) {
        free(cfg->cluster_domain);
        cfg->cluster_domain = strdup(dom);
        if (cfg->cluster_domain == NULL)
            abort();
    }
}

int main(int argc, char **argv)
{
    struct inj_flags flags;
    struct inj_config cfg = {0};
    struct inj_service *svc = NULL;
    struct dc_errbuf eb = {0};
    int signo = 0, code = 1;

    /* Before any thread or parse: reviews then build their cJSON trees in per-review arenas. */
    inj_json_memory_init();
    if (inj_flags_parse(&flags, argc, (const char *const *)argv, &eb) != DC_OK) {
        fprintf(stderr, "injector: %s\n", eb.msg);
        inj_flags_usage(stderr);
        return 2;
    }
    if (flags.help) {
        inj_flags_usage(stdout);
        return 0;
    }
    if (flags.version) {
        printf("%s\n", DC_VERSION);
        return 0;
    }
    if (dc_signals_setup() != DC_OK) {
        fprintf(stderr, "injector: cannot set up signal handling\n");
        return 1;
    }
    dc_log_setup(flags.log_level, flags.log_as_json, "dapr.injector", NULL);
    DC_LOG(DC_LOG_INFO, "Starting Dapr Sidecar Injector -- version %s", DC_VERSION);
    if (inj_config_from_env(&cfg, NULL, &eb) != DC_OK) {
        DC_LOG(DC_LOG_FATAL, "error getting config: %s", eb.msg);
        goto out;
    }
    detect_cluster_domain(&cfg);
    cfg.scheduler_enabled = flags.scheduler_enabled;
    /* Upstream omits the sentry token volume when the injector itself has no token file. */
    cfg.disable_token_volume = access(DC_K8S_SA_DIR "/token", R_OK) != 0;
    if (!dc_str_empty(cfg.trust_anchors_file) &&
        inj_config_load_trust_anchors(&cfg, &eb) != DC_OK) {
        DC_LOG(DC_LOG_FATAL, "trust anchors: %s", eb.msg);
        goto out;
    }
    svc = inj_service_new(&cfg, &flags);
    if (inj_service_start(svc, &eb) != DC_OK) {
        DC_LOG(DC_LOG_FATAL, "%s", eb.msg);
        goto out;
    }
    while (dc_signals_wait(-1, &signo) != DC_OK)
        ;
    DC_LOG(DC_LOG_INFO, "received signal '%s'; shutting down", strsignal(signo));
    inj_service_shutdown(svc, 5000);
    code = 0;
out:
    inj_service_free(svc);
    inj_config_cleanup(&cfg);
    if (code == 0)
        DC_LOG(DC_LOG_INFO, "Sidecar injector shut down gracefully");
    return code;
}
