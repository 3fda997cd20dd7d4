-- wrk script for benchmarks/bench_nodes.py: every connection GETs one path with one bearer
-- token (a city account reading the dashboard's figures).
-- Run as: wrk -t8 -c16 -d15s -s wrk_read.lua URL -- TOKEN PATH
-- `done` prints one JSON line the benchmark reads.

function init(args)
  headers = { ["Authorization"] = "Bearer " .. args[1] }
  path = args[2]
end

function request()
  return wrk.format("GET", path, headers)
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
