#!/usr/bin/env bash
# Compare the content guard's throughput with the tools a user would otherwise pick, on the same
# generated files: ripsecrets (crates.io), detect-secrets and Presidio's pattern recognizers (PyPI).
# The peers are installed under target/peers/ by this script; nothing is installed system-wide.
#
#   scripts/compare-peers.sh [MEBIBYTES]      (default 32; slow peers get an 8 MiB subset)
#
# Prints, for each tool, bytes scanned, wall time, MB/s and Bulwark's speed-up over it. Every tool runs
# on one core (Bulwark -j1, ripsecrets is single-threaded by default on one path list), so the figures
# are per core.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
mib="${1:-32}"
peers="$root/target/peers"
corpus="$peers/corpus-$mib"
small="$peers/corpus-small"
mkdir -p "$peers"

echo "== building bulwark and the corpus"
cargo build --release -q -p bulwark-cli
cargo run --release -q -p bulwark-core --example gen-corpus -- "$corpus" "$mib" >/dev/null
mkdir -p "$small"
files=("$corpus"/part-*.txt)
cp "${files[@]:0:32}" "$small/"
bulwark="$root/target/release/bulwark"

echo "== installing peers under $peers"
if [ ! -x "$peers/bin/ripsecrets" ]; then
  cargo install --quiet --locked --root "$peers" ripsecrets
fi
if [ ! -x "$peers/venv/bin/python" ]; then
  python3 -m venv "$peers/venv"
fi
"$peers/venv/bin/pip" install --quiet --disable-pip-version-check detect-secrets presidio-analyzer

cat > "$peers/presidio_patterns.py" <<'EOF'
# Presidio's pattern recognizers for the PII kinds Bulwark detects, without an NLP model
# (which would only slow Presidio down), over every file given.
import sys
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer, EmailRecognizer, IbanRecognizer, IpRecognizer, PhoneRecognizer,
    UsSsnRecognizer,
)
recognizers = [EmailRecognizer(), PhoneRecognizer(), CreditCardRecognizer(), IbanRecognizer(),
               IpRecognizer(), UsSsnRecognizer()]
found = 0
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8", errors="replace").read()
    for r in recognizers:
        found += len(r.analyze(text, r.supported_entities, None))
print(found, file=sys.stderr)
EOF

bytes_of() { cat "$1"/*.txt | wc -c; }
# run NAME DIR COMMAND...: time a command over DIR, print a row.
results=()
run() {
  local name="$1" dir="$2"; shift 2
  local bytes start end secs
  bytes=$(bytes_of "$dir")
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || true
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
  results+=("$name|$bytes|$secs")
}

echo "== running (one core each)"
run "bulwark secrets+pii" "$corpus" "$bulwark" scan -j1 --format json "$corpus"
run "bulwark secrets" "$corpus" "$bulwark" scan -j1 --detectors secrets --format json "$corpus"
run "bulwark pii" "$corpus" "$bulwark" scan -j1 --detectors pii --format json "$corpus"
run "ripsecrets" "$corpus" "$peers/bin/ripsecrets" "$corpus"
run "detect-secrets" "$small" "$peers/venv/bin/detect-secrets" scan --all-files "$small"
run "presidio patterns" "$small" "$peers/venv/bin/python" "$peers/presidio_patterns.py" "$small"/*.txt

printf '\n%-22s %12s %9s %10s\n' "tool" "bytes" "seconds" "MB/s"
declare -A speed
for r in "${results[@]}"; do
  IFS='|' read -r name bytes secs <<<"$r"
  mbs=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { print b / 1000000 / s }')
  speed["$name"]=$mbs
  printf '%-22s %12d %9.2f %10.2f\n' "$name" "$bytes" "$secs" "$mbs"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { print a / b }'; }
printf 'bulwark secrets vs ripsecrets:          %6.1fx\n' "$(ratio "${speed["bulwark secrets"]}" "${speed[ripsecrets]}")"
printf 'bulwark secrets vs detect-secrets:      %6.1fx\n' "$(ratio "${speed["bulwark secrets"]}" "${speed[detect-secrets]}")"
printf 'bulwark pii vs presidio patterns:       %6.1fx\n' "$(ratio "${speed["bulwark pii"]}" "${speed["presidio patterns"]}")"
echo "detectors: bulwark $("$bulwark" scan --list-rules | tail -n 1)"
