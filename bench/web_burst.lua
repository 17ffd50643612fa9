-- wrk script for bench/web_burst.py: replays the requests listed in the file named by
-- WEB_BURST_REQUESTS (one per line: METHOD<TAB>PATH<TAB>BODY), each wrk thread from its own
-- offset, and prints one JSON line of figures when the run is done.
local lines = {}
local threads = 0
local next_index

function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end

-- The requests are formatted here, not when the script loads: wrk sets the Host header in its
-- own init, which runs before this one.
function init(args)
  for line in io.lines(os.getenv("WEB_BURST_REQUESTS")) do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    local headers = {}
    if body ~= "" then
      headers["Content-Type"] = "application/x-www-form-urlencoded"
    else
      body = nil
    end
    lines[#lines + 1] = wrk.format(method, path, headers, body)
  end
  next_index = (offset or 0) % #lines
end

function request()
  next_index = next_index % #lines + 1
  return lines[next_index]
end

-- With WEB_BURST_RATE (requests a second in all, WEB_BURST_THREADS threads sharing it), each
-- thread sends on a schedule, one request every 1/rate s, whichever of its connections is free:
-- the load arrives as readers do, at its own pace, not as fast as the answers come back.
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } burst_timespec;
  int clock_gettime(int clock, burst_timespec *now);
]]
local now_ts = ffi.new("burst_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, now_ts)  -- CLOCK_MONOTONIC
  return tonumber(now_ts.tv_sec) * 1e3 + tonumber(now_ts.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("WEB_BURST_RATE") or "0")
if rate > 0 then
  local interval = 1e3 * tonumber(os.getenv("WEB_BURST_THREADS") or "1") / rate
  local due
  function delay()
    local current = now_ms()
    due = math.max((due or current) + interval, current - 10 * interval)  -- a late thread does not burst
    return math.max(0, math.floor(due - current))
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, "bad_status": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3, errors.connect, errors.read, errors.write,
    errors.timeout, errors.status))
end
