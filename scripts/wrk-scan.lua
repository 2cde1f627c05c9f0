-- POST /v1/scan with a 1 KB body of ordinary prose (no findings) and the API token from TOKEN.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
local words = {"the", "deployment", "rolled", "out", "to", "staging", "after", "review", "and",
  "latency", "stayed", "within", "budget", "for", "every", "region", "we", "checked", "today"}
local text = {}
local len = 0
local i = 1
while len < 1000 do
  local w = words[(i % #words) + 1]
  text[#text + 1] = w
  len = len + #w + 1
  i = i + 7
end
wrk.body = '{"text":"' .. table.concat(text, " ") .. '","source":"tool_output"}'
