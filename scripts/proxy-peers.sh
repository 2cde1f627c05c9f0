#!/usr/bin/env bash
# The egress proxy beside other HTTP proxies, on loopback, for small HTTP requests: requests/s
# through each proxy as a share of a direct connection, for the same upstream and the same load.
#   scripts/proxy-peers.sh [seconds per run] [connections ...]
# Needs wrk and curl; each peer that is installed is measured, the others are named and skipped
# (Debian packages: tinyproxy, squid, haproxy). Prints a Markdown table; docs/performance.md
# records it. Every proxy runs without request logs, the way it would be tuned for speed:
# - bulwark: `egress proxy`, the audit log off and decision logs off (one row), then its defaults
#   (the audit log on, each decision durable before the request goes on; decision logs at info);
# - tinyproxy: a forward proxy, one process per client connection, which closes the connection
#   after each response (it does not keep connections alive);
# - squid: a forward proxy, one worker, cache off, access log off;
# - haproxy: a reverse proxy (every request goes to the one upstream, nothing is decided), one
#   thread, connections to the upstream reused: what an HTTP proxy costs here at the least.
# The upstream (`bench-upstream` example of bulwark-server) answers a 34-byte body, at once or
# after 1 ms of service time.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
shift || true
conns=("$@")
[ ${#conns[@]} -gt 0 ] || conns=(1 16 64)
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

cargo build --release -q -p bulwark-cli
cargo build --release -q -p bulwark-server --example bench-upstream
up=127.0.0.1:18081
work="$(mktemp -d)"
chmod 755 "$work"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

cat >"$work/bulwark.toml" <<TOML
[egress]
ports = ["*"]
allow_cidrs = ["127.0.0.1/32:18081"]
TOML
cat >"$work/tinyproxy.conf" <<EOF
Port 13131
Listen 127.0.0.1
Timeout 60
MaxClients 256
LogLevel Critical
Allow 127.0.0.1
EOF
cat >"$work/squid.conf" <<EOF
http_port 127.0.0.1:13132
http_access allow all
cache deny all
access_log none
cache_store_log none
cache_log /dev/null
pid_filename none
workers 1
shutdown_lifetime 0 seconds
EOF
cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:13133
  default_backend be
backend be
  server up $up
EOF

# start NAME PORT: start one proxy in the background; false when it is not installed.
start() {
  case "$1" in
    bulwark-lean)
      BULWARK_HOME="$work/home-lean" BULWARK_AUDIT_ENABLED=false BULWARK_LOG=off \
        target/release/bulwark --config "$work/bulwark.toml" egress proxy --listen "127.0.0.1:$2" 2>/dev/null &
      ;;
    bulwark-default)
      BULWARK_HOME="$work/home-default" BULWARK_LOG=info \
        target/release/bulwark --config "$work/bulwark.toml" egress proxy --listen "127.0.0.1:$2" 2>/dev/null &
      ;;
    tinyproxy)
      command -v tinyproxy >/dev/null || return 1
      tinyproxy -d -c "$work/tinyproxy.conf" >/dev/null 2>&1 &
      ;;
    squid)
      command -v squid >/dev/null || return 1
      squid -N -f "$work/squid.conf" >/dev/null 2>&1 &
      ;;
    haproxy)
      command -v haproxy >/dev/null || return 1
      haproxy -f "$work/haproxy.cfg" >/dev/null 2>&1 &
      ;;
  esac
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf -x "http://127.0.0.1:$2" "http://$up/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 is not answering on 127.0.0.1:$2" >&2
  exit 2
}

rate() { wrk -t1 -c"$1" -d"${secs}s" "${@:2}" | awk '/Requests\/sec/ {print $2}'; }

proxies=(bulwark-lean:13130 bulwark-default:13134 tinyproxy:13131 squid:13132 haproxy:13133)
echo "wrk -t1, ${secs} s a run, on $(nproc) cores; requests/s through each proxy and its share of direct"
echo
header="| upstream service time | connections | direct |"
rule="|---:|---:|---:|"
for p in "${proxies[@]}"; do header+=" ${p%%:*} |"; rule+="---:|"; done
echo "$header"
echo "$rule"
for delay in 0 1000; do
  target/release/examples/bench-upstream "$up" "$delay" &
  upstream_pid=$!
  for _ in $(seq 50); do curl -sf "http://$up/" >/dev/null 2>&1 && break; sleep 0.1; done
  for c in "${conns[@]}"; do
    direct=$(rate "$c" "http://$up/")
    row="| $((delay / 1000)) ms | $c | $(printf '%.0f' "$direct") |"
    for p in "${proxies[@]}"; do
      name="${p%%:*}"
      port="${p##*:}"
      if start "$name" "$port"; then
        r=$(UPSTREAM="$up" rate "$c" -s scripts/wrk-proxy.lua "http://127.0.0.1:$port/")
        row+=$(awk -v d="$direct" -v p="${r:-0}" 'BEGIN { printf " %.0f (%.1f %%) |", p, 100 * p / d }')
        stop_all
      else
        row+=" not installed |"
      fi
    done
    echo "$row"
  done
  kill "$upstream_pid"
  wait "$upstream_pid" 2>/dev/null || true
done
