/* nameresolution.kubernetes (sidecar-api.md §22.8): the address is
 * <app-id>-dapr.<namespace>.svc.<clusterDomain>:<port>, or the configured Go-style template,
 * resolved with getaddrinfo to every IP of the (headless) service, as upstream's
 * ResolveIDMulti. The port is this sidecar's own internal port (all sidecars of a cluster
 * share it, 50002 by the injector's default). */
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dc/buf.h"
#include "dc/mem.h"
#include "dc/str.h"

#include "nameres_internal.h"

#define K8S_DEFAULT_PORT 50002
#define K8S_NAME_MAX 1024

struct nr_k8s {
    char *domain;
    char *tmpl; /* NULL: the standard name */
    char *own_ns;
    int port;
};

/* Expand `tmpl` for one request: {{.ID}}, {{.Namespace}}, {{.Port}} and {{.Data.<key>}} (empty:
 * requests carry no data), spaces allowed inside the braces. DC_EINVAL on anything else. */
static int expand(const char *tmpl, const char *id, const char *ns, int port, char *out, size_t cap,
                  struct dc_errbuf *eb)
{
    size_t o = 0;
    const char *p = tmpl;

    while (*p != '\0') {
        const char *open = strstr(p, "{{"), *close, *a, *b;
        char val[32];
        const char *v = NULL;
        size_t n, vn;

        if (open == NULL)
            open = p + strlen(p);
        n = (size_t)(open - p);
        if (o + n >= cap)
            return dc_err_set(eb, DC_ETOOBIG, "name resolution: address too long");
        memcpy(out + o, p, n);
        o += n;
        if (*open == '\0')
            break;
        close = strstr(open + 2, "}}");
        if (close == NULL)
            return dc_err_set(eb, DC_EINVAL, "kubernetes template: unclosed action");
        for (a = open + 2; *a == ' '; a++)
            ;
        for (b = close; b > a && b[-1] == ' '; b--)
            ;
        vn = (size_t)(b - a);
        if (vn == 3 && strncmp(a, ".ID", 3) == 0) {
            v = id;
        } else if (vn == 10 && strncmp(a, ".Namespace", 10) == 0) {
            v = ns;
        } else if (vn == 5 && strncmp(a, ".Port", 5) == 0) {
            snprintf(val, sizeof(val), "%d", port);
            v = val;
        } else if (vn > 6 && strncmp(a, ".Data.", 6) == 0) {
            v = "";
        } else {
            return dc_err_set(eb, DC_EINVAL, "kubernetes template: unsupported action \"%.*s\"",
                              (int)vn, a);
        }
        n = strlen(v);
        if (o + n >= cap)
            return dc_err_set(eb, DC_ETOOBIG, "name resolution: address too long");
        memcpy(out + o, v, n);
        o += n;
        p = close + 2;
    }
    out[o] = '\0';
    return DC_OK;
}

/* The unresolved address of `id` in `ns`: "<name>:<port>". */
static int k8s_address(const struct nr_k8s *k, const char *id, const char *ns, char *out,
                       size_t cap, struct dc_errbuf *eb)
{
    int n;

    if (k->tmpl != NULL)
        return expand(k->tmpl, id, ns, k->port, out, cap, eb);
    n = snprintf(out, cap, "%s-dapr.%s.svc.%s:%d", id, ns, k->domain, k->port);
    if (n < 0 || (size_t)n >= cap)
        return dc_err_set(eb, DC_ETOOBIG, "name resolution: address too long");
    return DC_OK;
}

static void k8s_free(void *impl)
{
    struct nr_k8s *k = impl;

    if (k == NULL)
        return;
    free(k->domain);
    free(k->tmpl);
    free(k->own_ns);
    free(k);
}

int sdc__nr_kubernetes_new(void **impl, const cJSON *conf, const struct sdc_nameres_self *self,
                           struct dc_errbuf *eb)
{
    struct nr_k8s *k = dc_xcalloc(1, sizeof(*k));
    char buf[K8S_NAME_MAX], probe[K8S_NAME_MAX];
    const char *v;
    int rv;

    *impl = NULL;
    v = sdc__nr_conf_str(conf, "clusterDomain", buf, sizeof(buf));
    k->domain = dc_xstrdup(!dc_str_empty(v) ? v : "cluster.local");
    v = sdc__nr_conf_str(conf, "template", buf, sizeof(buf));
    k->tmpl = !dc_str_empty(v) ? dc_xstrdup(v) : NULL;
    k->own_ns =
        dc_xstrdup(self != NULL && !dc_str_empty(self->namespace) ? self->namespace : "default");
    k->port = self != NULL && self->port > 0 ? self->port : K8S_DEFAULT_PORT;
    /* Parse errors surface now rather than on the first call. */
    rv = k8s_address(k, "app", "default", probe, sizeof(probe), eb);
    if (rv != DC_OK) {
        k8s_free(k);
        return rv;
    }
    *impl = k;
    return DC_OK;
}

static int k8s_list(void *impl, const char *app_id, const char *ns, char (*addrs)[SDC__NR_ADDR_LEN],
                    size_t max, struct dc_errbuf *eb)
{
    struct nr_k8s *k = impl;
    struct addrinfo hints, *res = NULL, *ai;
    char name[K8S_NAME_MAX], ip[INET6_ADDRSTRLEN];
    char *colon;
    const char *port;
    int rv, n = 0;

    rv = k8s_address(k, app_id, dc_str_empty(ns) ? k->own_ns : ns, name, sizeof(name), eb);
    if (rv != DC_OK)
        return rv;
    /* Split off the port: the last ':' unless it sits inside "[v6]" or the name is a bare
     * IPv6 literal (more than one ':' and no brackets). */
    colon = strrchr(name, ':');
    port = "";
    if (colon != NULL && colon[1] != '\0' &&
        (name[0] == '[' ? colon > strchr(name, ']') : strchr(name, ':') == colon)) {
        *colon = '\0';
        port = colon + 1;
    }
    if (name[0] == '[' && name[strlen(name) - 1] == ']') {
        memmove(name, name + 1, strlen(name));
        name[strlen(name) - 1] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rv = getaddrinfo(name, NULL, &hints, &res);
    if (rv != 0)
        return dc_err_set(eb, rv == EAI_NONAME ? DC_ENOTFOUND : DC_EIO,
                          "failed to resolve address for '%s': %s", name, gai_strerror(rv));
    for (ai = res; ai != NULL && (size_t)n < max; ai = ai->ai_next) {
        bool dup = false;
        char one[SDC__NR_ADDR_LEN];

        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST) != 0)
            continue;
        if (port[0] != '\0') {
            int64_t p;
            if (dc_str_to_i64(port, 0, 65535, &p) != DC_OK ||
                sdc__nr_join_host_port(one, sizeof(one), ip, (int)p) != DC_OK)
                continue;
        } else {
            dc_strlcpy(one, ip, sizeof(one));
        }
        for (int i = 0; i < n && !dup; i++)
            dup = strcmp(addrs[i], one) == 0;
        if (!dup)
            dc_strlcpy(addrs[n++], one, SDC__NR_ADDR_LEN);
    }
    freeaddrinfo(res);
    return n;
}

const struct sdc__nr_backend sdc__nr_kubernetes = {"kubernetes", k8s_list, k8s_free};

int sdc__nr_kubernetes_address(void *impl, const char *app_id, const char *ns, char *out,
                               size_t cap)
{
    struct nr_k8s *k = impl;
    return k8s_address(k, app_id, dc_str_empty(ns) ? k->own_ns : ns, out, cap, NULL);
}
