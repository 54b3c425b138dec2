-- wrk script for make bench: POSTs the file $BENCH_BODY (binary or JSON) to the URL given on
-- wrk's command line (path and query included), with $BENCH_CONTENT_TYPE, an optional
-- $BENCH_ACCEPT and optional $BENCH_HEADERS, and prints one machine-readable summary line at
-- the end:
--   BENCH requests=N duration_s=S rps=R p50_ms=A p99_ms=B errors_status=C errors_socket=E
local path = os.getenv("BENCH_BODY")
local f = assert(io.open(path, "rb"), "cannot open BENCH_BODY " .. tostring(path))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/octet-stream"
local accept = os.getenv("BENCH_ACCEPT")
if accept and accept ~= "" then
  wrk.headers["Accept"] = accept
end
-- Optional extra headers, "Name: value;Name2: value2" (e.g. KServe's
-- Inference-Header-Content-Length for a binary-extension body).
local extra = os.getenv("BENCH_HEADERS")
if extra and extra ~= "" then
  for item in string.gmatch(extra, "[^;]+") do
    local name, value = string.match(item, "^%s*([^:]+):%s*(.-)%s*$")
    assert(name, "BENCH_HEADERS: not 'Name: value': " .. item)
    wrk.headers[name] = value
  end
end

-- No response() callback: defining one makes wrk hand every reply to Lua, which costs more
-- than a small request itself. summary.errors.status counts answers with status >= 400.
function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout
  io.write(string.format(
    "BENCH requests=%d duration_s=%.2f rps=%.1f p50_ms=%.3f p99_ms=%.3f errors_status=%d errors_socket=%d\n",
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, errors))
end
