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

4. The custom-metrics HPA (docker/k8s/custom-metrics/): autoscaling/v2, aimed at the
   Deployment, scaling on a Pods metric that a rule of the Prometheus adapter ConfigMap beside
   it produces (per pod: <<.LabelMatchers>> and <<.GroupBy>> in its query) from series atrousd
   exports (named in server/metrics.c), with the CPU metric kept as the fallback.
5. The KServe examples (docker/k8s/kserve/) against KServe's own CRD schemas, kept pruned in
   tests/data/kserve/ (see its README.md for the source and version): a JSON-schema check with
   unknown fields rejected, as the API server's strict field validation does; then their
   promises: protocol versions v1 and v2, probes, non-root, read-only root, the storage URI
   copied to /mnt/models and passed to --model-dir, the runtime and model format matching.

Prints one line per check and exits 0 when all pass. Needs python3 with PyYAML and jsonschema,
and kubectl.

  k8s-check.py                          run the checks
  k8s-check.py --extract-kserve CRD...  rewrite tests/data/kserve/*.schema.json from KServe's
                                        config/crd/full/serving.kserve.io_*.yaml files
"""
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
K8S_DIR = os.environ.get("ATROUSD_K8S_DIR") or os.path.join(HERE, "k8s")
CUSTOM_DIR = os.path.join(K8S_DIR, "custom-metrics")
KSERVE_DIR = os.path.join(K8S_DIR, "kserve")
KSERVE_SCHEMAS = os.path.join(REPO, "tests", "data", "kserve")
KUBECTL_TIMEOUT = 60

# Discovery the stub serves: group/version -> [(resource, kind, namespaced)].
API = {
    "v1": [("services", "Service", True), ("pods", "Pod", True),
           ("configmaps", "ConfigMap", True), ("namespaces", "Namespace", False)],
    "apps/v1": [("deployments", "Deployment", True), ("replicasets", "ReplicaSet", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "autoscaling/v1": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "serving.kserve.io/v1alpha1": [("servingruntimes", "ServingRuntime", True)],
    "serving.kserve.io/v1beta1": [("inferenceservices", "InferenceService", True)],
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


def dir_args():
    args = []
    for d in (K8S_DIR, CUSTOM_DIR, KSERVE_DIR):
        if os.path.isdir(d):
            args += ["-f", d]
    return args


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
        r = kubectl(["apply", "--dry-run=client"] + dir_args())
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
                r = kubectl(["apply", "--dry-run=client", "--validate=false"] + dir_args(),
                            env=env)
        finally:
            server.shutdown()
        where = "a local discovery stub"
    out = (r.stdout + r.stderr).strip()
    for line in out.splitlines():
        print("       " + line)
    report(r.returncode == 0, "kubectl apply --dry-run=client -f docker/k8s/{,custom-metrics/,kserve/}"
           " (against %s)" % where)


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


def load_dir(d):
    docs = []
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(d, name)) as f:
                docs += [x for x in yaml.safe_load_all(f) if x]
    return docs


def exported_metrics():
    """The metric names server/metrics.c renders (its string literals that look like one)."""
    with open(os.path.join(REPO, "server", "metrics.c")) as f:
        return set(re.findall(r'"(atrousd_[a-z0-9_]+)', f.read()))


def series_family(name):
    """atrousd_x_seconds_sum -> atrousd_x_seconds: the family a histogram's series belong to."""
    return re.sub(r"_(sum|count|bucket)$", "", name)


def custom_metrics(base_docs):
    docs = load_dir(CUSTOM_DIR)
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    cms = [d for d in docs if d["kind"] == "ConfigMap"]
    report(len(hpas) == 1 and len(cms) == 1,
           "docker/k8s/custom-metrics/ has one HPA and one adapter ConfigMap")
    if not hpas or not cms:
        return
    hpa, cm = hpas[0], cms[0]
    dep = next((d for d in base_docs if d["kind"] == "Deployment"), None)
    base_hpa = next((d for d in base_docs if d["kind"] == "HorizontalPodAutoscaler"), None)
    ref = hpa["spec"]["scaleTargetRef"]
    report(hpa["apiVersion"] == "autoscaling/v2", "custom-metrics HPA is autoscaling/v2")
    report(dep is not None and ref["kind"] == "Deployment"
           and ref["name"] == dep["metadata"]["name"], "custom-metrics HPA scales the Deployment")
    report(base_hpa is not None and base_hpa["metadata"]["name"] == hpa["metadata"]["name"],
           "custom-metrics HPA has the CPU HPA's name, so applying it replaces that one (two "
           "HPAs on one Deployment fight)")
    metrics = hpa["spec"]["metrics"]
    pods = [m["pods"]["metric"]["name"] for m in metrics if m["type"] == "Pods"]
    report(bool(pods), "custom-metrics HPA scales on a per-pod custom metric (%s)" % pods)
    report(any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in metrics),
           "custom-metrics HPA keeps CPU as the fallback metric")
    try:
        rules = yaml.safe_load(cm["data"]["config.yaml"])["rules"]
    except (KeyError, TypeError, yaml.YAMLError) as e:
        report(False, "adapter ConfigMap data config.yaml parses with rules: %s" % e)
        return
    exported = exported_metrics()
    for rule in rules:
        series = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"]).group(1)
        query = rule["metricsQuery"]
        used = set(re.findall(r"\b(atrousd_[a-z0-9_]+)", query)) | {series}
        missing = sorted(u for u in used if series_family(u) not in exported)
        report(not missing, "adapter rule for %s reads series atrousd exports%s"
               % (series, "" if not missing else ": not in server/metrics.c: %s" % missing))
        over = rule.get("resources", {}).get("overrides", {})
        report(over.get("pod", {}).get("resource") == "pod"
               and over.get("namespace", {}).get("resource") == "namespace"
               and "<<.LabelMatchers>>" in query and "<<.GroupBy>>" in query,
               "adapter rule for %s is per pod (pod/namespace overrides, <<.LabelMatchers>>, "
               "<<.GroupBy>>)" % series)
    for name in pods:
        made = [r for r in rules
                if re.sub(r["name"]["matches"], r["name"].get("as", "$0").replace("${1}", r"\1"),
                          re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", r["seriesQuery"]).group(1))
                == name]
        report(len(made) == 1, "exactly one adapter rule produces the HPA's metric %s" % name)


# ---- KServe ------------------------------------------------------------------------------------

# What the pruned schemas keep (tests/data/kserve/README.md): the rest of the spec is replaced by
# a schema that fails, so an example using a field whose schema was not kept is reported
# instead of passing unchecked.
KSERVE_KEEP = {
    # kind: the spec properties to drop (for InferenceService: besides every component but the
    # predictor), and the predictor's.
    "ServingRuntime": {"spec": ["affinity", "builtInAdapter", "workerSpec"]},
    "InferenceService": {"predictor": [
        "affinity", "huggingface", "initContainers", "lightgbm", "onnx", "paddle", "pmml",
        "pytorch", "sklearn", "tensorflow", "triton", "workerSpec", "xgboost"]},
}
NOT_KEPT = {"not": {}, "description": "atrousd: schema not kept (docker/k8s-check.py "
                                      "KSERVE_KEEP); extract it again to use this field"}


def extract_kserve(paths):
    os.makedirs(KSERVE_SCHEMAS, exist_ok=True)
    for path in paths:
        with open(path) as f:
            crd = yaml.safe_load(f)
        kind = crd["spec"]["names"]["kind"]
        if kind not in KSERVE_KEEP:
            print("skipped %s (%s)" % (path, kind))
            continue
        version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
        schema = version["schema"]["openAPIV3Schema"]
        props = schema["properties"]
        schema["properties"] = {k: props[k] for k in ("apiVersion", "kind", "metadata", "spec")}
        spec = schema["properties"]["spec"]
        for k in KSERVE_KEEP[kind].get("spec", []):
            spec["properties"][k] = NOT_KEPT
        if kind == "InferenceService":
            for k in list(spec["properties"]):
                if k != "predictor":
                    spec["properties"][k] = NOT_KEPT
            pred = spec["properties"]["predictor"]["properties"]
            for k in KSERVE_KEEP[kind]["predictor"]:
                pred[k] = NOT_KEPT
        out = {"source": "kserve/kserve %s" % os.environ.get("KSERVE_REF", "(ref not given)"),
               "file": "config/crd/full/" + os.path.basename(path),
               "group": crd["spec"]["group"], "kind": kind, "version": version["name"],
               "schema": schema}
        name = "%s.%s.schema.json" % (crd["spec"]["names"]["plural"], version["name"])
        with open(os.path.join(KSERVE_SCHEMAS, name), "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote %s (%d bytes of schema)" % (name, len(json.dumps(schema))))
    return 0


def strict(node):
    """The schema with unknown fields rejected wherever the CRD does not preserve them."""
    if isinstance(node, list):
        return [strict(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: (strict(v) if k not in ("enum", "default", "example") else v)
           for k, v in node.items()}
    if "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def schema_check(doc, schemas):
    import jsonschema
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key not in schemas:
        report(False, "%s %s: no KServe schema kept for it" % key)
        return
    v = jsonschema.Draft7Validator(strict(schemas[key]["schema"]))
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    name = "%s/%s" % (doc["kind"], doc["metadata"]["name"])
    for e in errors[:10]:
        msg = e.schema.get("description") if e.validator == "not" else e.message
        print("       %s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)", msg[:300]))
    report(not errors, "%s validates against KServe's %s schema (%s)"
           % (name, key[0], schemas[key]["source"]))


def kserve(base_docs):
    schemas = {}
    for name in sorted(os.listdir(KSERVE_SCHEMAS)) if os.path.isdir(KSERVE_SCHEMAS) else []:
        if name.endswith(".schema.json"):
            with open(os.path.join(KSERVE_SCHEMAS, name)) as f:
                s = json.load(f)
            schemas[(s["group"] + "/" + s["version"], s["kind"])] = s
    report(len(schemas) == 2, "tests/data/kserve/ holds the ServingRuntime and InferenceService "
                              "schemas (%d)" % len(schemas))
    docs = load_dir(KSERVE_DIR)
    for d in docs:
        schema_check(d, schemas)
    runtimes = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServingRuntime"}
    services = [d for d in docs if d["kind"] == "InferenceService"]
    report(len(runtimes) == 1 and services, "docker/k8s/kserve/ has a ServingRuntime and "
                                            "InferenceServices (%d)" % len(services))
    if not runtimes:
        return
    rt = next(iter(runtimes.values()))
    spec = rt["spec"]
    report({"v1", "v2"} <= set(spec.get("protocolVersions", [])),
           "ServingRuntime speaks KServe protocols v1 and v2 (%s)" % spec.get("protocolVersions"))
    c = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    csc = c.get("securityContext", {})
    report(c.get("name") == "kserve-container", "the runtime's container is kserve-container "
                                                "(KServe mounts the model there)")
    args = c.get("args", [])
    report("--model-dir" in args and args[args.index("--model-dir") + 1] == "/mnt/models",
           "--model-dir /mnt/models: where KServe's storage initializer puts the storageUri")
    port = int(env.get("ATROUSD_PORT") or 8080)
    report([p["containerPort"] for p in c.get("ports", [])] == [port],
           "one container port, ATROUSD_PORT (%d)" % port)
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                        ("startupProbe", "/healthz")):
        got = c.get(probe, {}).get("httpGet", {})
        report(got.get("path") == path and got.get("port") == port,
               "%s GETs %s on %d" % (probe, path, port))
    report(csc.get("runAsNonRoot") is True and isinstance(csc.get("runAsUser"), int)
           and csc["runAsUser"] > 0, "runtime runs as a numeric non-root uid")
    report(csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False
           and csc.get("capabilities", {}).get("drop") == ["ALL"],
           "runtime: read-only root, no privilege escalation, capabilities drop ALL")
    tmp = [m["name"] for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
    report(any(v["name"] in tmp and "emptyDir" in v for v in spec.get("volumes", [])),
           "runtime: an emptyDir at /tmp")
    dep = next((d for d in base_docs if d["kind"] == "Deployment"), None)
    if dep:
        dc = dep["spec"]["template"]["spec"]["containers"][0]
        report(c.get("resources") == dc.get("resources"),
               "runtime resources equal the Deployment's (whole cores, request == limit)")
    formats = {(f["name"], f.get("version")) for f in spec.get("supportedModelFormats", [])}
    drain = int(env.get("ATROUSD_DRAIN_TIMEOUT") or 20)
    pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_s = int(pre[1]) if pre[:1] == ["sleep"] else 0
    protocols = set()
    for isvc in services:
        name = isvc["metadata"]["name"]
        pred = isvc["spec"]["predictor"]
        m = pred["model"]
        protocols.add(m.get("protocolVersion"))
        report(m.get("runtime") in runtimes, "%s uses the runtime %s" % (name, m.get("runtime")))
        report((m["modelFormat"]["name"], m["modelFormat"].get("version")) in formats,
               "%s's model format is one the runtime supports" % name)
        report(m.get("protocolVersion") in spec.get("protocolVersions", []),
               "%s's protocol %s is one the runtime speaks" % (name, m.get("protocolVersion")))
        report(bool(re.match(r"^(pvc|s3|gs|https?|hf|oci)://.+", m.get("storageUri", ""))),
               "%s names its model repository as a storage URI (%s)" % (name, m.get("storageUri")))
        grace = pred.get("terminationGracePeriodSeconds", 30)
        report(grace > pre_s + drain, "%s: terminationGracePeriodSeconds (%d) > preStop (%d) + "
                                      "drain timeout (%d)" % (name, grace, pre_s, drain))
        psc = pred.get("securityContext", {})
        report(psc.get("runAsNonRoot") is True, "%s: pod runAsNonRoot" % name)
    report({"v1", "v2"} <= protocols, "the examples use both protocols (%s)" % sorted(protocols))


def main(argv):
    if len(argv) > 1 and argv[1] == "--extract-kserve":
        return extract_kserve(argv[2:])
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
    custom_metrics(docs)
    kserve(docs)
    print("k8s-check: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
