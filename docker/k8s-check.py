#!/usr/bin/env python3
"""docker/k8s-check.py - validate docker/k8s/ without a cluster, and check its promises.

1. `kubectl apply --dry-run=client --validate=false -f docker/k8s/`. kubectl needs an API
   server even for a client-side dry run (it maps each kind through discovery and GETs the
   object to choose create or patch). With a kubeconfig that reaches a cluster, that cluster
   is used. Otherwise this starts a discovery-only stub on 127.0.0.1 that knows the kinds
   the manifests use (the API groups and versions of Kubernetes >= 1.23), answers every
   object GET with 404 and refuses every write, and points a throwaway kubeconfig at it.
   Schema validation needs the server's OpenAPI document, which the stub does not have,
   hence --validate=false there.
2. The Deployment's pod template goes through kubectl's compiled-in Go types
   (`kubectl set env --local -o json`): a field the types do not know is dropped on that
   round trip, so any field missing from the output is reported as unknown (a typo).
3. The promises the manifests make to each other and to the daemon: probes on /healthz and
   /readyz, non-root numeric user, read-only root, no privilege escalation, all capabilities
   dropped, an emptyDir at /tmp, a whole-core CPU limit equal to the request (threads are
   sized from the quota), terminationGracePeriodSeconds > preStop + ATROUSD_DRAIN_TIMEOUT,
   HPA (autoscaling/v2, CPU) and PDB aimed at the Deployment, Service selecting its pods.

Prints one line per check and exits 0 when all pass. Needs python3 with PyYAML and kubectl.
"""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
K8S_DIR = os.environ.get("ATROUSD_K8S_DIR") or os.path.join(HERE, "k8s")
KUBECTL_TIMEOUT = 60

# Discovery the stub serves: group/version -> [(resource, kind, namespaced)].
API = {
    "v1": [("services", "Service", True), ("pods", "Pod", True),
           ("configmaps", "ConfigMap", True), ("namespaces", "Namespace", False)],
    "apps/v1": [("deployments", "Deployment", True), ("replicasets", "ReplicaSet", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "autoscaling/v1": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
}

failures = []


def report(ok, what):
    print(("  ok   " if ok else "  FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def resource_list(gv):
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
        "resources": [{
            "name": name, "singularName": kind.lower(), "namespaced": ns, "kind": kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        } for name, kind, ns in API[gv]],
    }


def group_list():
    groups = {}
    for gv in API:
        if "/" in gv:
            g, v = gv.split("/")
            groups.setdefault(g, []).append({"groupVersion": gv, "version": v})
    return {
        "kind": "APIGroupList", "apiVersion": "v1",
        "groups": [{"name": g, "versions": vs, "preferredVersion": vs[0]}
                   for g, vs in groups.items()],
    }


class Stub(http.server.BaseHTTPRequestHandler):
    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def status(self, code, reason, message):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "reason": reason, "message": message,
                              "code": code})

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/version":
            self.send_json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-stub"})
        elif path == "/api":
            self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                 "serverAddressByClientCIDRs": []})
        elif path == "/apis":
            self.send_json(200, group_list())
        elif path == "/api/v1":
            self.send_json(200, resource_list("v1"))
        elif path.startswith("/apis/") and path[len("/apis/"):] in API:
            self.send_json(200, resource_list(path[len("/apis/"):]))
        elif path.startswith("/openapi"):
            self.status(404, "NotFound", "the discovery stub has no OpenAPI document")
        else:
            # Every object is absent, so apply's dry run reports "created".
            self.status(404, "NotFound", "not found: " + path)

    def do_POST(self):
        self.status(405, "MethodNotAllowed", "the discovery stub accepts no writes")

    do_PUT = do_PATCH = do_DELETE = do_POST

    def log_message(self, *args):
        pass


def kubectl(args, env=None, stdin=None):
    return subprocess.run(["kubectl"] + args, input=stdin, capture_output=True, text=True,
                          env=env, timeout=KUBECTL_TIMEOUT)


def has_cluster():
    cfg = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if not all(os.path.exists(p) for p in cfg.split(os.pathsep) if p):
        return False
    try:
        return kubectl(["version", "--request-timeout=5s"]).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def dry_run():
    if has_cluster():
        r = kubectl(["apply", "--dry-run=client", "-f", K8S_DIR])
        where = "the configured cluster"
    else:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = os.path.join(tmp, "kubeconfig")
                with open(cfg, "w") as f:
                    yaml.safe_dump({
                        "apiVersion": "v1", "kind": "Config", "current-context": "stub",
                        "clusters": [{"name": "stub", "cluster": {
                            "server": "http://127.0.0.1:%d" % server.server_port}}],
                        "contexts": [{"name": "stub", "context": {
                            "cluster": "stub", "user": "stub", "namespace": "default"}}],
                        "users": [{"name": "stub", "user": {}}],
                    }, f)
                env = dict(os.environ, KUBECONFIG=cfg, HOME=tmp)
                r = kubectl(["apply", "--dry-run=client", "--validate=false", "-f", K8S_DIR],
                            env=env)
        finally:
            server.shutdown()
        where = "a local discovery stub"
    out = (r.stdout + r.stderr).strip()
    for line in out.splitlines():
        print("       " + line)
    report(r.returncode == 0, "kubectl apply --dry-run=client -f docker/k8s/ (against %s)" % where)


def paths(node, prefix=""):
    """Every key path in a JSON tree; list items are indexed by position."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + "." + k
            yield from paths(v, prefix + "." + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, "%s[%d]" % (prefix, i))


def typed_round_trip(path):
    with open(path) as f:
        text = f.read()
    r = kubectl(["set", "env", "--local", "-o", "json", "-f", "-", "ATROUSD_K8S_CHECK=1"],
                stdin=text)
    if r.returncode != 0:
        report(False, "deployment.yaml decodes into kubectl's Deployment type: " + r.stderr.strip())
        return
    src = yaml.safe_load(text)
    got = json.loads(r.stdout)
    # set env appends one variable; everything the manifest says must survive the trip.
    lost = sorted(set(paths(src["spec"]["template"])) - set(paths(got["spec"]["template"])))
    report(not lost, "every pod-template field is known to kubectl's types"
           + ("" if not lost else ": unknown " + ", ".join(lost)))


def quantity_cores(q):
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def consistency(docs):
    by_kind = {d["kind"]: d for d in docs}
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        report(kind in by_kind, "docker/k8s/ has a " + kind)
    dep = by_kind.get("Deployment")
    if not dep:
        return
    pod = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    c = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})

    report(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz",
           "liveness probe GETs /healthz")
    report(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz",
           "readiness probe GETs /readyz")
    report("startupProbe" in c, "a startup probe guards slow starts")
    port = int(env.get("ATROUSD_PORT") or 8080)
    report(any(p["containerPort"] == port for p in c.get("ports", [])),
           "containerPort matches ATROUSD_PORT (%d)" % port)
    run_as_non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    report(run_as_non_root is True, "runAsNonRoot: true")
    report(isinstance(uid, int) and uid > 0, "runAsUser is a numeric non-root uid (%r)" % uid)
    report(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem: true")
    report(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    report(csc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
    tmp_vols = [m["name"] for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
    report(any(v["name"] in tmp_vols and "emptyDir" in v for v in pod.get("volumes", [])),
           "an emptyDir is mounted at /tmp")

    res = c.get("resources", {})
    lim = res.get("limits", {}).get("cpu")
    req = res.get("requests", {}).get("cpu")
    report(lim is not None and "memory" in res.get("limits", {}),
           "CPU and memory limits are set")
    if lim is not None:
        cores = quantity_cores(lim)
        report(cores >= 1 and cores == int(cores),
               "CPU limit is a whole number of cores (%s), so the quota sizes threads exactly" % lim)
        report(req is not None and quantity_cores(req) == cores,
               "CPU request equals the limit (%s == %s)" % (req, lim))

    drain = int(env.get("ATROUSD_DRAIN_TIMEOUT") or 20)
    pre = c.get("lifecycle", {}).get("preStop", {})
    pre_s = 0
    if "exec" in pre and pre["exec"]["command"][:1] == ["sleep"]:
        pre_s = int(pre["exec"]["command"][1])
    elif "sleep" in pre:
        pre_s = int(pre["sleep"]["seconds"])
    grace = pod.get("terminationGracePeriodSeconds", 30)
    report(pre_s > 0, "preStop waits (%d s) for endpoints to drop the pod" % pre_s)
    report(grace > pre_s + drain,
           "terminationGracePeriodSeconds (%d) > preStop (%d) + drain timeout (%d)"
           % (grace, pre_s, drain))

    svc = by_kind.get("Service")
    if svc:
        sel = svc["spec"]["selector"]
        report(all(labels.get(k) == v for k, v in sel.items()),
               "Service selector matches the pod labels")
    hpa = by_kind.get("HorizontalPodAutoscaler")
    if hpa:
        ref = hpa["spec"]["scaleTargetRef"]
        report(hpa["apiVersion"] == "autoscaling/v2", "HPA is autoscaling/v2")
        report(ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"],
               "HPA scales the Deployment")
        report(any(m["type"] == "Resource" and m["resource"]["name"] == "cpu"
                   for m in hpa["spec"]["metrics"]), "HPA scales on CPU")
        report(hpa["spec"].get("minReplicas", 1) >= 2,
               "HPA keeps at least 2 replicas (the PDB can then always allow one disruption)")
    pdb = by_kind.get("PodDisruptionBudget")
    if pdb:
        sel = pdb["spec"]["selector"]["matchLabels"]
        report(all(labels.get(k) == v for k, v in sel.items()),
               "PDB selector matches the pod labels")


def main():
    docs = []
    for name in sorted(os.listdir(K8S_DIR)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(K8S_DIR, name)) as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
    report(bool(docs), "docker/k8s/ parses as YAML (%d objects)" % len(docs))
    try:
        dry_run()
        typed_round_trip(os.path.join(K8S_DIR, "deployment.yaml"))
    except (OSError, subprocess.TimeoutExpired) as e:
        report(False, "kubectl ran: %s" % e)
    consistency(docs)
    print("k8s-check: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
