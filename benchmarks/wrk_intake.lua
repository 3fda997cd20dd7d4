-- wrk script for benchmarks/bench_intake.py: every wrk thread is one officer's phone (its own
-- bearer token and position), posting reports with fresh ids on one keep-alive connection.
-- Run as: wrk -t16 -c16 -d20s -s wrk_intake.lua URL -- TOKENS_FILE RUN_ID [PATH]
-- TOKENS_FILE holds one "token lon lat" line per client; RUN_ID (8 hex digits) keeps ids of
-- separate runs apart. With PATH other than /api/v1/reports, each request is a plain GET of PATH
-- (the framework's floor). `done` prints one JSON line the benchmark reads.

local threads = {}
local next_index = 0

function setup(thread)
  next_index = next_index + 1
  thread:set("index", next_index)
  table.insert(threads, thread)
end

function init(args)
  local tokens_file, run_id = args[1], args[2]
  path = args[3] or "/api/v1/reports"
  local i = 0
  for line in io.lines(tokens_file) do
    i = i + 1
    if i == index then
      token, lon, lat = line:match("^(%S+) (%S+) (%S+)$")
    end
  end
  prefix = string.format("%s-%04x", run_id, index)
  counter = 0
  occurred_at = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 300)
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function request()
  if path ~= "/api/v1/reports" then
    return wrk.format("GET", path)
  end
  counter = counter + 1
  -- A valid UUID (version 4, variant 8) unique per run, thread and request.
  local id = string.format("%s-4000-8000-%012x", prefix, counter)
  local body = string.format(
    '{"id":"%s","lon":%s,"lat":%s,"category":"neighbours","severity":"yellow",' ..
    '"people_involved":2,"title":"邻里纠纷（压测）","description":"压测生成的报告。",' ..
    '"occurred_at":"%s","parties":[{"name":"张三","phone":"13800000000"}]}',
    id, lon, lat, occurred_at)
  return wrk.format("POST", "/api/v1/reports", headers, body)
end

function done(summary, latency, requests)
  local non_2xx = summary.errors.status
  local failed = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"errors":%d,"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f}\n',
    summary.requests, summary.duration / 1e6, non_2xx + failed,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
