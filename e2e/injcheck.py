#!/usr/bin/env python3
"""Checks of injected pods for e2e/test_injector.sh.

    injcheck.py CASE POD.json      print one line per problem; exit 1 when there is any

POD.json is `kubectl get pod -o json` (or a list: its first item). Each CASE states the daprd
container and app-container changes that the annotations of that case must produce
(control-plane.md §4.3-4.6); the expectations are written out here by hand, independently of the
injector's code.
"""
import json
import sys

CP = "dapr-system"
DOMAIN = "cluster.local"

# The args every daprd gets, in upstream's order, for app ID `app` with default annotations.
def default_args(app, mtls=True):
    a = ["/daprd", "--dapr-http-port", "3500", "--dapr-grpc-port", "50001",
         "--dapr-internal-grpc-port", "50002", "--dapr-listen-addresses", "[::1],127.0.0.1",
         "--dapr-public-port", "3501", "--app-id", app, "--app-protocol", "http",
         "--log-level", "info", "--dapr-graceful-shutdown-seconds", "-1",
         "--mode", "kubernetes",
         "--control-plane-address", f"dapr-api.{CP}.svc.{DOMAIN}:443",
         "--sentry-address", f"dapr-sentry.{CP}.svc.{DOMAIN}:443",
         "--enable-metrics", "--metrics-port", "9090",
         "--placement-host-address", f"dapr-placement-server.{CP}.svc.{DOMAIN}:50005",
         "--scheduler-host-address", f"dapr-scheduler-server-a.{CP}.svc.{DOMAIN}:443"]
    if mtls:
        a.append("--enable-mtls")
    return a


DEFAULT_PORTS = [{"name": "dapr-http", "containerPort": 3500},
                 {"name": "dapr-grpc", "containerPort": 50001},
                 {"name": "dapr-internal", "containerPort": 50002},
                 {"name": "dapr-metrics", "containerPort": 9090}]


class Pod:
    def __init__(self, doc):
        if doc.get("kind", "").endswith("List"):
            doc = doc["items"][0]
        self.doc = doc
        self.problems = []
        cs = doc["spec"]["containers"]
        self.daprd = [c for c in cs if c["name"] == "daprd"]
        self.apps = [c for c in cs if c["name"] != "daprd"]

    def bad(self, msg):
        self.problems.append(msg)

    def eq(self, what, want, got):
        if want != got:
            self.bad(f"{what}: expected {want!r}, got {got!r}")

    def d(self):
        if len(self.daprd) != 1:
            self.bad(f"expected one daprd container, found {len(self.daprd)}")
            return None
        return self.daprd[0]

    def arg(self, flag):
        """Value after `flag` in daprd's args (None when absent, True for a bare flag)."""
        a = self.d()["args"]
        if flag not in a:
            return None
        i = a.index(flag)
        if i + 1 < len(a) and not a[i + 1].startswith("--"):
            return a[i + 1]
        return True

    def env(self, c):
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}

    def mounts(self, c):
        return {m["name"]: (m["mountPath"], bool(m.get("readOnly", False)))
                for m in c.get("volumeMounts", [])}

    def labels(self):
        return self.doc["metadata"].get("labels", {})

    def common(self, app):
        d = self.d()
        if d is None:
            return False
        self.eq("ports", DEFAULT_PORTS, d.get("ports"))
        self.eq("label sidecar-injected", "true", self.labels().get("dapr.io/sidecar-injected"))
        self.eq("label app-id", app, self.labels().get("dapr.io/app-id"))
        self.eq("label metrics-enabled", "true", self.labels().get("dapr.io/metrics-enabled"))
        self.eq("readiness probe", {"path": "/v1.0/healthz", "port": 3501},
                d.get("readinessProbe", {}).get("httpGet"))
        self.eq("liveness probe", {"port": 3501}, d.get("livenessProbe", {}).get("tcpSocket"))
        sc = d.get("securityContext", {})
        self.eq("securityContext", (False, True, True),
                (sc.get("allowPrivilegeEscalation"), sc.get("runAsNonRoot"),
                 sc.get("readOnlyRootFilesystem")))
        e = self.env(d)
        self.eq("env NAMESPACE", self.doc["metadata"]["namespace"], e.get("NAMESPACE"))
        self.eq("env POD_NAME", {"fieldRef": {"fieldPath": "metadata.name"}}, e.get("POD_NAME"))
        self.eq("env DAPR_CONTROLPLANE_NAMESPACE", CP, e.get("DAPR_CONTROLPLANE_NAMESPACE"))
        return True

    def app_env(self, protocol, grpc="50001"):
        for c in self.apps:
            e = self.env(c)
            self.eq(f"{c['name']} DAPR_HTTP_PORT", "3500", e.get("DAPR_HTTP_PORT"))
            self.eq(f"{c['name']} DAPR_GRPC_PORT", grpc, e.get("DAPR_GRPC_PORT"))
            self.eq(f"{c['name']} APP_PROTOCOL", protocol, e.get("APP_PROTOCOL"))


def case_defaults(p):
    if not p.common("plain"):
        return
    d = p.d()
    p.eq("args", default_args("plain"), d["args"])
    p.eq("resources", {}, d.get("resources", {}))
    p.eq("image", "ghcr.io/dapr/daprd:e2e", d["image"])
    p.app_env("http")


def case_defaults_no_mtls(p):
    if not p.common("nomtls"):
        return
    p.eq("args", default_args("nomtls", mtls=False), p.d()["args"])


def case_full(p):
    """The annotation matrix of test_injector.sh's `full` Deployment."""
    if not p.common("full"):
        return
    d = p.d()
    for flag, want in [("--app-port", "8080"), ("--app-protocol", "grpc"),
                       ("--config", "appconfig"), ("--log-level", "debug"),
                       ("--dapr-listen-addresses", "0.0.0.0"),
                       ("--dapr-graceful-shutdown-seconds", "7"),
                       ("--placement-host-address", "my-placement.elsewhere:50005"),
                       ("--unix-domain-socket", "/var/run/dapr-sockets"),
                       ("--app-id", "full"), ("--enable-mtls", True)]:
        p.eq(f"arg {flag}", want, p.arg(flag))
    p.eq("no actors service", None, p.arg("--actors-service"))
    p.eq("resources", {"limits": {"cpu": "500m", "memory": "256Mi"},
                       "requests": {"cpu": "100m", "memory": "64Mi"}}, d.get("resources"))
    e = p.env(d)
    p.eq("env FOO", "bar", e.get("FOO"))
    p.eq("env BAZ", "qux", e.get("BAZ"))
    p.eq("env DAPR_ENV_KEYS", "FOO BAZ", e.get("DAPR_ENV_KEYS"))
    m = p.mounts(d)
    p.eq("daprd mount cfg (ro)", ("/mnt/cfg", True), m.get("cfg"))
    p.eq("daprd mount data (rw)", ("/mnt/data", False), m.get("data"))
    p.eq("daprd mount uds", ("/var/run/dapr-sockets", False), m.get("dapr-unix-domain-socket"))
    p.app_env("grpc")
    for c in p.apps:
        p.eq(f"{c['name']} uds mount", ("/tmp/dapr", False),
             p.mounts(c).get("dapr-unix-domain-socket"))
    vols = {v["name"]: v for v in p.doc["spec"].get("volumes", [])}
    p.eq("uds volume", {"medium": "Memory"}, vols.get("dapr-unix-domain-socket", {}).get("emptyDir"))


def case_bad_values(p):
    """Bad values keep the defaults: no app port, http, no CPU limit, default log level."""
    if not p.common("badvals"):
        return
    d = p.d()
    p.eq("args", default_args("badvals"), d["args"])
    p.eq("resources", {"limits": {"memory": "128Mi"}}, d.get("resources"))
    p.app_env("http")


def case_none(p):
    """Nothing injected: no daprd, no dapr labels, no env added."""
    p.eq("daprd containers", 0, len(p.daprd))
    p.eq("dapr labels", [], sorted(k for k in p.labels() if k.startswith("dapr.io/")))
    for c in p.apps:
        p.eq(f"{c['name']} env", [], [e for e in c.get("env", []) if e["name"].startswith("DAPR_")])


CASES = {"defaults": case_defaults, "defaults-no-mtls": case_defaults_no_mtls, "full": case_full,
         "bad-values": case_bad_values, "none": case_none}

if __name__ == "__main__":
    pod = Pod(json.load(open(sys.argv[2])))
    CASES[sys.argv[1]](pod)
    for msg in pod.problems:
        print(msg)
    sys.exit(1 if pod.problems else 0)
