-- wrk script for the ingest benchmark (scripts/bench): POST Z-API webhook
-- bodies to /hooks. Each wrk thread builds 131,072 distinct requests up front
-- (a per-thread counter in `momment`) and cycles through them, so building a
-- request costs the generator nothing and no body comes back before 131,072
-- others have: more than the event log's duplicate window (65,536), so the
-- duplicate filter never short-circuits a request and every one is written.
-- The same script drives the real listener and the bare axum handler.
local threads = {}
local N = 131072

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  local headers = { ["Content-Type"] = "application/json" }
  for i = 1, N do
    local n = tid * 100000000 + i
    local id = string.format("BENCH%05d", n % 1000)
    local body
    if n % 2 == 0 then
      body = string.format('{"type":"DisconnectedCallback","instanceId":"%s","momment":%d,"error":"Device has been disconnected","disconnected":true}', id, 1764000000000 + n)
    else
      body = string.format('{"type":"ConnectedCallback","instanceId":"%s","momment":%d,"phone":"5544999999999","connected":true}', id, 1764000000000 + n)
    end
    reqs[i] = wrk.format("POST", "/hooks", headers, body)
  end
  idx = 0
end

function request()
  idx = idx % N + 1
  return reqs[idx]
end
