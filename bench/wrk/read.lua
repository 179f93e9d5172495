-- bench/wrk/read.lua — scenario 1 for wrk: a random bench patient per request.
--   wrk ... -s read.lua URL -- TOKENS_TSV MODE
-- MODE portal: the portal's patient(id){results(first:20){…observations…}} with the
--   patient's own bearer token; postgraphile: the equivalent PostGraphile query (no token:
--   JWT/RLS off there); floor: any POST (the fixed-body server ignores it).
-- Counts non-2xx answers and bodies holding "errors", and prints one WRK line at the end.

local PORTAL = '{"query":"query($p: ID!) { patient(id: $p) { results(first: 20) { edges { node { id status issuedAt test { code displayName } observations { code displayName valueNumeric unit interpretation } } } } } }","variables":{"p":"%s"}}'
local POSTGRAPHILE = '{"query":"query($p: UUID!) { patientByRowId(rowId: $p) { testResultsByPatientId(first: 20, orderBy: [ISSUED_AT_DESC, ROW_ID_DESC]) { nodes { rowId status issuedAt testCatalogByTestId { code displayName } observationsByResultId(orderBy: POSITION_ASC) { nodes { code displayName valueNumeric unit interpretation } } } } } }","variables":{"p":"%s"}}'

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local rows = {}
local mode = "portal"
errors, non2xx = 0, 0

function init(args)
  mode = args[2] or "portal"
  for line in io.lines(args[1]) do
    local token, gid, uuid = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
    rows[#rows + 1] = { token, gid, uuid }
  end
  math.randomseed(4242 + (tid or 0))
end

function request()
  local r = rows[math.random(#rows)]
  if mode == "postgraphile" then
    return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, string.format(POSTGRAPHILE, r[3]))
  end
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. r[1],
  }, string.format(PORTAL, r[2]))
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local errs, bad = 0, 0
  for _, t in ipairs(threads) do
    errs = errs + t:get("errors")
    bad = bad + t:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d gql_errors=%d socket_errors=%d bytes=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    bad, errs, e.connect + e.read + e.write + e.timeout, summary.bytes))
end
