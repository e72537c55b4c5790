-- wrk script: POST /api/generate with a different subject on every request, and count every
-- response that is not 2xx (wrk's own count lets 3xx through).
-- Run: wrk -t2 -c8 -d30s --latency -s bench/api/generate.lua http://127.0.0.1:PORT/api/generate

local SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."
local HEADERS = { ["Content-Type"] = "application/json" }
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(_args)
  sent = 0
  non2xx = 0
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"videoSubject":"Benchmark subject %d-%d","script":"%s","quality":"draft"}',
    thread_id, sent, SCRIPT
  )
  return wrk.format("POST", nil, HEADERS, body)
end

function response(status, _headers, _body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(_summary, _latency, _requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("non2xx")
  end
  io.write(string.format("Non-2xx responses (any status outside 200-299): %d\n", total))
end
