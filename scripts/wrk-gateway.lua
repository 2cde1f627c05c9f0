-- wrk script for scripts/gateway-bench.sh: POST a 4 KB Chat Completions request (an SRE
-- copilot's turn: system prompt, question, tool call and its result with a key and e-mail
-- addresses) with the token in $TOKEN (omitted when empty: the direct run).
local token = os.getenv("TOKEN") or ""
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
