-- wrk script for make soak (tests/soak/soak.sh): rotates through the requests listed in the
-- file $SOAK_REQUESTS, one per line as "TARGET BODY_FILE CONTENT_TYPE", each thread starting
-- at a different one, counts the answers by status (and 429/503 answers that carry
-- Retry-After), and prints one summary line at the end:
--   SOAK requests=N duration_s=S rps=R p50_ms=A p99_ms=B status_200=N status_429=N
--        status_503=N status_other=N retry_after=N socket_errors=N
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  s200, s429, s503, other, retry = 0, 0, 0, 0, 0
  for line in io.lines(os.getenv("SOAK_REQUESTS")) do
    local target, file, ctype = line:match("^(%S+)%s+(%S+)%s+(%S+)$")
    if target then
      local f = assert(io.open(file, "rb"), "cannot open " .. file)
      local body = f:read("*a")
      f:close()
      reqs[#reqs + 1] = wrk.format("POST", target, {["Content-Type"] = ctype}, body)
    end
  end
  assert(#reqs > 0, "no requests in SOAK_REQUESTS")
  idx = math.random(#reqs)
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

function response(status, headers, body)
  if status == 200 then
    s200 = s200 + 1
  elseif status == 429 or status == 503 then
    if status == 429 then s429 = s429 + 1 else s503 = s503 + 1 end
    if headers["Retry-After"] then retry = retry + 1 end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local t = {s200 = 0, s429 = 0, s503 = 0, other = 0, retry = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
  end
  local seconds = summary.duration / 1e6
  local socket = summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout
  io.write(string.format(
    "SOAK requests=%d duration_s=%.2f rps=%.1f p50_ms=%.3f p99_ms=%.3f status_200=%d " ..
    "status_429=%d status_503=%d status_other=%d retry_after=%d socket_errors=%d\n",
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, t.s200, t.s429, t.s503, t.other, t.retry, socket))
end
