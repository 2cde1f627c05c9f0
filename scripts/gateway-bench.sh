#!/usr/bin/env bash
# Model gateway: the latency it adds and its throughput. A fake provider (the `bench-upstream`
# example of bulwark-server in its `chat` mode, a fixed Chat Completions reply) answers; wrk sends a 4 KB Chat
# Completions request (an SRE copilot's turn with an AWS key id and e-mail addresses in a tool
# result) first to the provider directly, then through `bulwark serve` with the gateway on: every
# text redacted, the tool result judged for injection, the reply restored, one audit record per
# exchange. All three processes share this machine.
# Needs wrk (Debian package `wrk`; installed with apt-get when missing and run as root) and curl.
#   scripts/gateway-bench.sh [seconds] [connections] [wrk threads]
# Prints both wrk summaries with their latency distributions, then the streaming time to first
# byte (curl, 300 requests each way). docs/performance.md records them. PERF_RECORD=FILE also
# records a CPU profile of the sidecar during the gateway run (needs perf; PERF_ARGS, default
# -g, e.g. "--call-graph dwarf"). BULWARK_BIN=PATH runs that sidecar binary instead of building
# this tree's (to compare two builds in turn); ONLY=gateway skips the direct run and the streaming
# lines.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-32}"
threads="${3:-1}"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else
    echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; fi
fi
bulwark="${BULWARK_BIN:-target/release/bulwark}"
[ -n "${BULWARK_BIN:-}" ] || cargo build --release -q -p bulwark-cli
cargo build --release -q -p bulwark-server --example bench-upstream
home="$(mktemp -d)"
addr=127.0.0.1:18844
up=127.0.0.1:18091
trap 'kill $(jobs -p) 2>/dev/null; sleep 1; kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$home"' EXIT
target/release/examples/bench-upstream "$up" 0 chat &
echo "sk-bench-not-a-real-key" >"$home/provider-key"
cat >"$home/bulwark.toml" <<TOML
[server]
listen = "$addr"
max_body_bytes = 1048576
[server.limits]
token_per_sec = 0
[gateway]
enabled = true
[gateway.upstreams.fake]
url = "http://$up/v1"
api_key = "file:$home/provider-key"
TOML
python3 - "$home/body.json" <<'PY'
import json, sys
alert = ("Alert PaymentsLatency firing in payments-prod: p99 2.4s over 5m. Runbook: https://runbooks.example.com/payments. "
         "Owner ops@example.com, escalate to ana.lima@example.org. Last deploy by ci with key AKIAQYLPMN5HFIQR7XYZ. ")
body = {"model": "gpt-4o-mini", "temperature": 0.2, "messages": [
    {"role": "system", "content": "You are an SRE copilot. Propose kubectl actions; never act without approval. " * 10},
    {"role": "user", "content": "Previous incident notes: the API pods were restarted twice; latency recovered after scaling. " * 12 + "What should we do?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_alert", "arguments": "{\"name\":\"PaymentsLatency\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": alert * 6}]}
open(sys.argv[1], "w").write(json.dumps(body))
PY
export BULWARK_HOME="$home" BULWARK_LOG="${BULWARK_LOG:-warn}"
token=$("$bulwark" token create --name bench --scope gateway 2>/dev/null)
"$bulwark" serve &
serve_pid=$!
for _ in $(seq 50); do
  curl -sf "http://$addr/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://$addr/healthz" >/dev/null || { echo "server not answering" >&2; exit 2; }
# One request first: it must be redacted and restored, not refused.
curl -sf "http://$addr/v1/chat/completions" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' --data-binary "@$home/body.json" | grep -q '"choices"' \
  || { echo "the gateway did not answer a chat completion" >&2; exit 2; }
if [ "${ONLY:-}" != gateway ]; then
echo "== direct to the fake provider ($(wc -c <"$home/body.json") byte request)"
BODY_FILE="$home/body.json" TOKEN="" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s scripts/wrk-gateway.lua "http://$up/v1/chat/completions"
fi
echo "== through the gateway"
# PERF_RECORD=FILE: a CPU profile (perf record -g) of the sidecar while wrk runs through it.
if [ -n "${PERF_RECORD:-}" ]; then
  perf record -q -F 499 ${PERF_ARGS:--g} -p "$serve_pid" -o "$PERF_RECORD" -- sleep "$secs" >/dev/null 2>&1 &
fi
BODY_FILE="$home/body.json" TOKEN="$token" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s scripts/wrk-gateway.lua "http://$addr/v1/chat/completions"
[ "${ONLY:-}" != gateway ] || exit 0
# Streaming: the time to the first byte of the reply, with curl, direct and through the gateway
# (the provider sends its whole stream at once; the gateway restores it event by event).
python3 - "$home/body.json" "$home/stream.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); b["stream"] = True
open(sys.argv[2], "w").write(json.dumps(b, separators=(",", ":")))
PY
ttfb() { # url token [body file]
  for _ in $(seq 300); do
    curl -s -o /dev/null -w '%{time_starttransfer}\n' "$1" -H "Authorization: Bearer $2" \
      -H 'Content-Type: application/json' -H 'Expect:' --data-binary "@${3:-$home/stream.json}"
  done | sort -n | awk '{a[NR]=$1} END {printf "p50 %.0f us, p90 %.0f us, p99 %.0f us\n", a[int(NR*0.5)]*1e6, a[int(NR*0.9)]*1e6, a[int(NR*0.99)]*1e6}'
}
echo "== whole reply, time to first byte, direct: $(ttfb "http://$up/v1/chat/completions" none "$home/body.json")"
echo "== whole reply, time to first byte, through the gateway: $(ttfb "http://$addr/v1/chat/completions" "$token" "$home/body.json")"
echo "== streaming, time to first byte, direct: $(ttfb "http://$up/v1/chat/completions" none)"
echo "== streaming, time to first byte, through the gateway: $(ttfb "http://$addr/v1/chat/completions" "$token")"
