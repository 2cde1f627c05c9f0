#!/usr/bin/env bash
# Sidecar API throughput: POST /v1/scan with 1 KB bodies on loopback, all guards as configured by
# default (secrets, PII and injection detection with the model), authentication on, audit on.
# Needs wrk (Debian package `wrk`; installed with apt-get when missing and run as root) and curl.
#   scripts/api-bench.sh [seconds] [connections] [wrk threads]
# The per-token limit is off, unless BENCH_LIMIT=process (on, in the process) or BENCH_LIMIT=redis
# (on, in a redis-server the script starts on a free port: [server.limits] redis); either way at a
# rate the run never reaches, so every request pays for the check and none is refused.
# Prints wrk's summary with its latency distribution. docs/performance.md records the results.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-32}"
threads="${3:-1}"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else
    echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; fi
fi
cargo build --release -q -p bulwark-cli
home="$(mktemp -d)"
addr=127.0.0.1:18844
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$home"' EXIT
case "${BENCH_LIMIT:-off}" in
  off) limits="token_per_sec = 0" ;;
  process) limits="token_per_sec = 10000000"$'\n'"token_burst = 10000000" ;;
  redis)
    command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 2; }
    rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.1; done
    limits="token_per_sec = 10000000"$'\n'"token_burst = 10000000"$'\n'"redis = \"redis://127.0.0.1:$rport/0\"" ;;
  *) echo "BENCH_LIMIT: off, process or redis" >&2; exit 2 ;;
esac
cat >"$home/bulwark.toml" <<TOML
[server]
listen = "$addr"
[server.limits]
$limits
TOML
export BULWARK_HOME="$home" BULWARK_LOG="${BULWARK_LOG:-warn}"
token=$(target/release/bulwark token create --name bench --scope scan 2>/dev/null)
target/release/bulwark serve &
for _ in $(seq 50); do
  curl -sf "http://$addr/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://$addr/healthz" >/dev/null || { echo "server not answering" >&2; exit 2; }
TOKEN="$token" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s scripts/wrk-scan.lua "http://$addr/v1/scan"
