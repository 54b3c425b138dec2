#!/usr/bin/env python3
"""docker/rollout-load.py - the checking load client of docker/rollout.sh (make rollout-test).

  rollout-load.py models CASE.json DIR                 write the rollout's model folders
  rollout-load.py run --url URL --case CASE.json ...   send load, check every answer, report

`models` writes two model folders for the conformance case CASE (tests/data/conformance/valid/):
DIR/v1 serves the case's filters as model "rollout" version 1, DIR/v2 the same filters times 2
as version 2 (config.json plus filters.bin, float32 little-endian). Scaling by 2 is exact in
float32, so version 2's right answer is exactly twice the case's expected output, with twice
its tolerance: every answer has a known right value for either version, and the two differ.

`run` sends the case's value to URL/v2/models/rollout/infer (KServe v2 JSON) from --connections
threads, each on its own keep-alive connection, paced to --rate requests a second in all (a
request that takes longer than its slot delays only its own thread's next one). It stops at the
first of: --stop-file appears, --max-seconds, --max-requests. Every answer is checked: HTTP 200,
a model_version the run knows, the output's shape, and every value against that version's
expected output with the corpus tolerance |got - exp| <= s * (1e-4 + 1e-4 * |exp / s|), s the
version's scale. A refused or reset connection, a timeout (--timeout), any other status (a 503
from a draining replica included) or a wrong value is a failure.

The report splits the requests by the phases in --marks (lines "UNIX_TIME NAME", written by
rollout.sh as it goes: a request belongs to the phase in which it started) and gives for each:
requests, failures, p50/p99/max latency, versions answered, replicas seen (nginx's X-Upstream).
--expect PHASE=VERSION asserts that every answer in PHASE came from VERSION (before the update
all answers are version 1, after it all are version 2). The summary goes to --json too.
Exit status 0 when nothing failed. Only the standard library.
"""
import argparse
import http.client
import json
import math
import os
import struct
import sys
import threading
import time
import urllib.parse

MODEL = "rollout"
SCALES = {"1": 1.0, "2": 2.0}


def load_case(path):
    with open(path) as f:
        return json.load(f)


def write_models(case_path, out_dir):
    case = load_case(case_path)
    filt = case["filters"]
    for version, scale in SCALES.items():
        d = os.path.join(out_dir, "v" + version)
        os.makedirs(d, exist_ok=True)
        data = [x * scale for x in filt["data"]]
        with open(os.path.join(d, "filters.bin"), "wb") as f:
            f.write(struct.pack("<%df" % len(data), *data))
        value_shape = case["value"]["shape"]
        config = {"name": MODEL, "version": version, "rate": case["rate"],
                  "padding": case["padding"],
                  "filters": {"shape": filt["shape"], "file": "filters.bin"},
                  "warmup": [value_shape]}
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
            f.write("\n")
    return 0


def close_enough(got, exp, scale):
    if math.isnan(exp):
        return math.isnan(got)
    if math.isinf(exp):
        return got == exp
    return abs(got - exp) <= scale * (1e-4 + 1e-4 * abs(exp / scale))


class Checker:
    def __init__(self, case):
        self.shape = list(case["expected"]["shape"])
        self.expected = {v: [x * s for x in case["expected"]["data"]] for v, s in SCALES.items()}

    def check(self, body):
        """(version, None) for a right answer, (version or None, reason) otherwise."""
        try:
            doc = json.loads(body)
            version = str(doc["model_version"])
            out = doc["outputs"][0]
            shape, data = list(out["shape"]), out["data"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return None, "unreadable answer: %s: %r" % (type(e).__name__, body[:200])
        if version not in self.expected:
            return version, "unknown model_version %r" % version
        if shape != self.shape:
            return version, "shape %s, expected %s" % (shape, self.shape)
        exp = self.expected[version]
        if len(data) != len(exp):
            return version, "%d values, expected %d" % (len(data), len(exp))
        scale = SCALES[version]
        for i, (g, e) in enumerate(zip(data, exp)):
            if not close_enough(float(g), e, scale):
                return version, "value %d is %r, version %s expects %r" % (i, g, version, e)
        return version, None


class Load:
    def __init__(self, args, case):
        u = urllib.parse.urlsplit(args.url)
        self.host, self.port = u.hostname, u.port or 80
        self.path = "/v2/models/%s/infer" % MODEL
        value = case["value"]
        self.body = json.dumps({"inputs": [{"name": "value", "datatype": "FP32",
                                            "shape": value["shape"],
                                            "data": value["data"]}]}).encode()
        self.checker = Checker(case)
        self.args = args
        self.lock = threading.Lock()
        self.records = []  # (start unix time, latency s, version, upstream, error or None)
        self.sent = 0
        self.stop = threading.Event()
        self.t_start = time.time()

    def take_slot(self):
        with self.lock:
            if self.stop.is_set() or self.sent >= self.args.max_requests:
                return False
            self.sent += 1
            return True

    def connect(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)

    def one(self, conn):
        """Sends one request on conn; returns (record, connection to use next)."""
        start = time.time()
        t0 = time.monotonic()
        version = upstream = None
        try:
            conn.request("POST", self.path, body=self.body,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            payload = r.read()
            upstream = r.getheader("X-Upstream")
            if r.status != 200:
                err = "HTTP %d%s: %r" % (r.status, " Retry-After " + r.getheader("Retry-After")
                                         if r.getheader("Retry-After") else "", payload[:200])
            else:
                version, err = self.checker.check(payload)
            if r.will_close:
                conn.close()
                conn = self.connect()
        except (OSError, http.client.HTTPException) as e:
            err = "%s: %s" % (type(e).__name__, e)
            conn.close()
            conn = self.connect()
        return (start, time.monotonic() - t0, version, upstream, err), conn

    def worker(self, index):
        interval = self.args.connections / self.args.rate
        next_at = time.monotonic() + index * interval / self.args.connections
        conn = self.connect()
        mine = []
        while True:
            delay = next_at - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                break
            if not self.take_slot():
                break
            next_at = max(next_at + interval, time.monotonic())
            rec, conn = self.one(conn)
            mine.append(rec)
            if rec[4] is not None:
                print("rollout-load: FAILED request at %.3f: %s" % (rec[0], rec[4]),
                      file=sys.stderr, flush=True)
        conn.close()
        with self.lock:
            self.records += mine

    def run(self):
        threads = [threading.Thread(target=self.worker, args=(i,), daemon=True)
                   for i in range(self.args.connections)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + self.args.max_seconds
        while not self.stop.is_set():
            if (self.args.stop_file and os.path.exists(self.args.stop_file)) or \
                    time.monotonic() >= deadline or self.sent >= self.args.max_requests:
                self.stop.set()
            else:
                time.sleep(0.1)
        for t in threads:
            t.join(self.args.timeout + 5)
        return sorted(self.records)


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def read_marks(path):
    marks = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    marks.append((float(parts[0]), parts[1]))
    return sorted(marks)


def phase_of(t, marks):
    name = "start"
    for when, what in marks:
        if t >= when:
            name = what
    return name


def summarize(records, marks, t_start, t_end):
    phases = {}
    order = ["start"] + [m[1] for m in marks]
    for rec in records:
        phases.setdefault(phase_of(rec[0], marks), []).append(rec)
    out = []
    for name in order:
        recs = phases.get(name, [])
        if not recs:
            continue
        lat = sorted(r[1] * 1000 for r in recs)
        versions, upstreams = {}, set()
        for r in recs:
            if r[2]:
                versions[r[2]] = versions.get(r[2], 0) + 1
            if r[3]:
                upstreams.update(a.strip() for a in r[3].split(","))
        first, last = recs[0][0], recs[-1][0]
        out.append({"phase": name, "requests": len(recs),
                    "failed": sum(1 for r in recs if r[4] is not None),
                    "seconds": round(last - first, 1),
                    "p50_ms": round(percentile(lat, 50), 2),
                    "p99_ms": round(percentile(lat, 99), 2),
                    "max_ms": round(lat[-1], 2), "versions": versions,
                    "replicas_seen": len(upstreams)})
    return {"requests": len(records), "failed": sum(1 for r in records if r[4] is not None),
            "checked": len(records), "seconds": round(t_end - t_start, 1), "phases": out,
            "errors": [{"at": r[0], "error": r[4]} for r in records if r[4] is not None][:20]}


def run(args):
    case = load_case(args.case)
    load = Load(args, case)
    records = load.run()
    t_end = time.time()
    summary = summarize(records, read_marks(args.marks), load.t_start, t_end)
    ok = summary["failed"] == 0 and summary["requests"] > 0
    for spec in args.expect:
        phase, version = spec.split("=")
        ph = [p for p in summary["phases"] if p["phase"] == phase]
        wrong = {v: n for p in ph for v, n in p["versions"].items() if v != version}
        good = bool(ph) and not wrong
        summary.setdefault("expectations", []).append(
            {"phase": phase, "version": version, "ok": good, "other_versions": wrong})
        ok = ok and good
    summary["ok"] = ok
    print("%-10s %8s %6s %8s %8s %8s %8s  %-18s %s" % (
        "phase", "requests", "failed", "seconds", "p50 ms", "p99 ms", "max ms", "versions",
        "replicas"))
    for p in summary["phases"]:
        print("%-10s %8d %6d %8.1f %8.2f %8.2f %8.2f  %-18s %d" % (
            p["phase"], p["requests"], p["failed"], p["seconds"], p["p50_ms"], p["p99_ms"],
            p["max_ms"], ",".join("v%s:%d" % kv for kv in sorted(p["versions"].items())),
            p["replicas_seen"]))
    print("total: %d requests sent, %d checked, %d failed, in %.1f s" % (
        summary["requests"], summary["checked"], summary["failed"], summary["seconds"]))
    for e in summary.get("expectations", []):
        print("expect %s answers from version %s: %s%s" % (
            e["phase"], e["version"], "ok" if e["ok"] else "FAILED",
            "" if e["ok"] else " (others: %s)" % e["other_versions"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0 if ok else 1


def main(argv):
    if len(argv) > 1 and argv[1] == "models":
        if len(argv) != 4:
            print("usage: rollout-load.py models CASE.json DIR", file=sys.stderr)
            return 2
        return write_models(argv[2], argv[3])
    p = argparse.ArgumentParser(prog="rollout-load.py run")
    p.add_argument("--url", required=True)
    p.add_argument("--case", required=True)
    p.add_argument("--rate", type=float, default=100.0, help="requests a second, all threads")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    p.add_argument("--max-seconds", type=float, default=600.0)
    p.add_argument("--max-requests", type=int, default=200000)
    p.add_argument("--stop-file")
    p.add_argument("--marks")
    p.add_argument("--expect", action="append", default=[], metavar="PHASE=VERSION")
    p.add_argument("--json")
    if len(argv) < 2 or argv[1] != "run":
        p.print_usage(sys.stderr)
        return 2
    return run(p.parse_args(argv[2:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
