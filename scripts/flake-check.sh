#!/usr/bin/env bash
# Run the README's test command N times (default 20) on the already built
# tests and report every test that failed, with how often.
#
#   scripts/flake-check.sh [N]
#
# Builds once first (so the runs measure the tests, not the compiler), then
# runs `cargo test --workspace` N times, keeping each failing run's output
# under $FLAKE_DIR (default: a temp dir). Exits non-zero if any run failed.
# To check under load, run it while another job keeps the cores busy (for
# example `stress-ng --cpu 2` or a release build in another checkout).
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${1:-20}
case "$runs" in
  '' | *[!0-9]*) echo "usage: $0 [N]  (N: how many runs, default 20)" >&2; exit 2 ;;
esac
out=${FLAKE_DIR:-$(mktemp -d -t netloop-flake.XXXXXX)}
mkdir -p "$out"

echo "building the tests once"
if ! cargo test --workspace --no-run >"$out/build.log" 2>&1; then
  echo "build failed: see $out/build.log" >&2
  exit 1
fi

failed_runs=0
: >"$out/failures.txt"
for i in $(seq 1 "$runs"); do
  log="$out/run-$i.log"
  start=$(date +%s)
  if cargo test --workspace >"$log" 2>&1; then
    printf 'run %d/%d: ok (%ss)\n' "$i" "$runs" "$(($(date +%s) - start))"
    rm -f "$log"
  else
    failed_runs=$((failed_runs + 1))
    # libtest prints "test path::name ... FAILED" for each failed test.
    names=$(grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/')
    [ -n "$names" ] || names="(no failing test named: build or harness error)"
    printf '%s\n' "$names" >>"$out/failures.txt"
    printf 'run %d/%d: FAILED (%ss), log kept at %s\n' "$i" "$runs" "$(($(date +%s) - start))" "$log"
    printf '%s\n' "$names" | sed 's/^/    /'
  fi
done

echo
if [ "$failed_runs" -eq 0 ]; then
  echo "flake-check: $runs of $runs runs passed"
  exit 0
fi
echo "flake-check: $((runs - failed_runs)) of $runs runs passed; failures by test:"
sort "$out/failures.txt" | uniq -c | sort -rn
exit 1
