#!/usr/bin/env python3
"""docker/conformance-request.py - send one conformance case to a running atrousd and compare.

Usage: conformance-request.py BASE_URL CASE.json [json|binary|both] [--repeat N]

Sends the case's value, filters, output_shape, rate and padding to
BASE_URL/v1/atrous_conv2d_transpose as a JSON body, as a binary body (float32 little-endian,
shapes in the query string), or both, and checks the answer against the case's `expected`
with the corpus tolerance |got - exp| <= 1e-4 + 1e-4 * |exp| (NaN must meet NaN, an infinity
the same infinity). Prints one line per request with its status, time and any
X-Upstream header (the replica nginx chose), and exits 0 when every answer matches.
Only the standard library; every request has a 30 s timeout.
"""
import json
import math
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT_S = 30


def close(got, exp):
    if math.isnan(exp):
        return math.isnan(got)
    if math.isinf(exp):
        return got == exp
    return abs(got - exp) <= 1e-4 + 1e-4 * abs(exp)


def compare(shape, data, case):
    exp = case["expected"]
    if list(shape) != list(exp["shape"]):
        return "shape %s, expected %s" % (list(shape), exp["shape"])
    if len(data) != len(exp["data"]):
        return "%d values, expected %d" % (len(data), len(exp["data"]))
    bad = [i for i, (g, e) in enumerate(zip(data, exp["data"])) if not close(g, e)]
    if bad:
        i = bad[0]
        return "%d of %d values out of tolerance (first at %d: got %r, expected %r)" % (
            len(bad), len(data), i, data[i], exp["data"][i])
    return None


def post(url, body, content_type):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": content_type})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            payload, status, headers = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        payload, status, headers = e.read(), e.code, e.headers
    return status, headers, payload, (time.monotonic() - start) * 1000


def send_json(base, case):
    body = json.dumps({k: case[k] for k in ("value", "filters", "output_shape", "rate",
                                            "padding")}).encode()
    status, headers, payload, ms = post(base + "/v1/atrous_conv2d_transpose", body,
                                        "application/json")
    if status != 200:
        return status, headers, ms, "HTTP %d: %s" % (status, payload[:300].decode("utf-8",
                                                                               "replace"))
    out = json.loads(payload)["output"]
    return status, headers, ms, compare(out["shape"], out["data"], case)


def send_binary(base, case):
    v, f = case["value"], case["filters"]
    query = urllib.parse.urlencode({
        "value_shape": ",".join(map(str, v["shape"])),
        "filters_shape": ",".join(map(str, f["shape"])),
        "output_shape": ",".join(map(str, case["output_shape"])),
        "rate": case["rate"],
        "padding": case["padding"],
    })
    floats = list(v["data"]) + list(f["data"])
    body = struct.pack("<%df" % len(floats), *floats)
    status, headers, payload, ms = post(base + "/v1/atrous_conv2d_transpose?" + query, body,
                                        "application/octet-stream")
    if status != 200:
        return status, headers, ms, "HTTP %d: %s" % (status, payload[:300].decode("utf-8",
                                                                               "replace"))
    shape_header = headers.get("X-Output-Shape") or ""
    shape = [int(x) for x in shape_header.split(",") if x.strip()]
    if len(payload) % 4:
        return status, headers, ms, "binary body of %d bytes is not float32" % len(payload)
    data = list(struct.unpack("<%df" % (len(payload) // 4), payload))
    return status, headers, ms, compare(shape, data, case)


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    base, path = argv[1].rstrip("/"), argv[2]
    forms = argv[3] if len(argv) > 3 and not argv[3].startswith("--") else "both"
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 1
    with open(path) as fh:
        case = json.load(fh)
    senders = {"json": [send_json], "binary": [send_binary],
               "both": [send_json, send_binary]}[forms]
    failed = 0
    for _ in range(repeat):
        for send in senders:
            form = send.__name__[len("send_"):]
            try:
                status, headers, ms, err = send(base, case)
            except (OSError, ValueError, KeyError) as e:
                status, headers, ms, err = 0, {}, 0.0, "%s: %s" % (type(e).__name__, e)
            upstream = headers.get("X-Upstream") if headers else None
            print("  %-6s %s -> %s in %.1f ms%s: %s" % (
                form, case.get("name", path), status, ms,
                " via " + upstream if upstream else "", err or "matches expected"))
            failed += err is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
