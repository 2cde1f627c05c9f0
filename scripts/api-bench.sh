#!/usr/bin/env bash
# Sidecar API throughput: POST /v1/scan with 1 KB bodies on loopback, all guards as configured by
# default (secrets, PII and injection detection with the model), authentication on, audit on.
# Needs wrk (Debian package `wrk`; installed with apt-get when missing and run as root) and curl.
#   scripts/api-bench.sh [seconds] [connections] [wrk threads]
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
cat >"$home/bulwark.toml" <<TOML
[server]
listen = "$addr"
[server.limits]
token_per_sec = 0
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
