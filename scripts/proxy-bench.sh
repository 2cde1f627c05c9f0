#!/usr/bin/env bash
# Egress proxy throughput against a direct connection, on loopback, for small HTTP requests.
# Needs wrk (Debian package `wrk`) and curl.
#   scripts/proxy-bench.sh [seconds] [connections] [upstream service time in microseconds]
# Prints requests/s direct and through the proxy, their ratio, and the latency the proxy adds.
# docs/performance.md records the results. Set BULWARK_LOG=off to measure without decision logs,
# BULWARK_AUDIT_ENABLED=false without the audit log (on by default: every decision is made durable
# before the request is forwarded). The audit log goes to a temporary BULWARK_HOME.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-16}"
delay_us="${3:-0}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

cargo build --release -q -p bulwark-cli
cargo build --release -q -p bulwark-server --example bench-upstream
up=127.0.0.1:18081
px=127.0.0.1:13129
cfg="$(mktemp)"
home="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$cfg" "$home"' EXIT
cat >"$cfg" <<TOML
[egress]
ports = ["*"]
allow_cidrs = ["127.0.0.1/32:18081"]
[egress.proxy]
listen = "$px"
TOML
target/release/examples/bench-upstream "$up" "$delay_us" &
BULWARK_HOME="$home" BULWARK_LOG="${BULWARK_LOG:-info}" target/release/bulwark --config "$cfg" egress proxy 2>/dev/null &
for _ in $(seq 50); do
  curl -sf -x "http://$px" "http://$up/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf -x "http://$px" "http://$up/" >/dev/null || { echo "proxy not answering" >&2; exit 2; }

run() { wrk -t1 -c"$conns" -d"${secs}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
direct=$(run "http://$up/")
proxied=$(UPSTREAM="$up" run -s scripts/wrk-proxy.lua "http://$px/")
echo "upstream service time ${delay_us} us, $conns connections, ${secs}s, decision logs ${BULWARK_LOG:-info}, audit ${BULWARK_AUDIT_ENABLED:-true}"
echo "direct:  $direct requests/s"
echo "proxied: $proxied requests/s"
awk -v d="$direct" -v p="$proxied" -v c="$conns" 'BEGIN {
  printf "ratio:   %.1f%%\n", 100 * p / d
  printf "added latency per request: %.1f us\n", 1e6 * c * (1 / p - 1 / d)
}'
