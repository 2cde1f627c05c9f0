#!/usr/bin/env bash
# Run every cargo-fuzz target under fuzz/ for a bounded time each (default 60 s), with the
# nightly toolchain. Not part of CI's test command: coverage-guided fuzzing wants minutes per
# target, not seconds. Crashes are left in fuzz/artifacts/TARGET/ with the input that made them.
#
#   scripts/fuzz.sh            # every target, 60 s each
#   scripts/fuzz.sh 300 shell_screen intent_json
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
failed=()
for t in "${targets[@]}"; do
  echo "== $t: ${secs} s"
  mkdir -p "corpus/$t"
  if ! cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=16384 -rss_limit_mb=2048; then
    failed+=("$t")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "all ${#targets[@]} targets ran ${secs} s without a failure"
