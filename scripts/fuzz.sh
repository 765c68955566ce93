#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS]: run every fuzz target of fuzz/ for SECONDS
# each (default 60), one after another, and print one line per target:
# its time, executions, corpus growth and result. Exits non-zero if any
# target found a failing input (libFuzzer saves it under
# fuzz/artifacts/TARGET/; reproduce it with
# `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...`).
#
#   scripts/fuzz.sh              # 60 s per target
#   scripts/fuzz.sh 10           # a quick look
#   TARGETS=ip scripts/fuzz.sh   # one target
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and
# cargo-fuzz (`cargo install cargo-fuzz`). Each target starts from its
# committed seeds (fuzz/seeds/TARGET/) plus the corpus earlier runs grew
# (fuzz/corpus/TARGET/, not committed). Never part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECS=${1:-60}
TARGETS=${TARGETS:-"ip socket_address blocklist proxy_header tls_server"}
TOOLCHAIN=${TOOLCHAIN:-nightly}
LOGS=target/fuzz-logs
case $SECS in
  '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got '$SECS'" >&2; exit 2 ;;
esac

if ! cargo "+$TOOLCHAIN" --version >/dev/null 2>&1; then
  echo "fuzz.sh: no $TOOLCHAIN toolchain (rustup toolchain install $TOOLCHAIN)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is missing (cargo install cargo-fuzz)" >&2
  exit 2
fi

mkdir -p "$LOGS"
if ! cargo "+$TOOLCHAIN" fuzz build >"$LOGS/build.log" 2>&1; then
  cat "$LOGS/build.log" >&2
  exit 1
fi
stat() { grep -o "stat::$1: *[0-9]*" "$2" | grep -o '[0-9]*$' || echo '?'; }

failed=0
printf '%-16s %8s %14s %10s %10s  %s\n' target seconds executions exec/s new-units result
for t in $TARGETS; do
  mkdir -p "corpus/$t"
  log="$LOGS/$t.log"
  start=$(date +%s)
  # -max_total_time bounds the run; -timeout flags a single input that
  # takes over 10 s; -print_final_stats gives the figures below.
  if cargo "+$TOOLCHAIN" fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$SECS" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see fuzz/$log and fuzz/artifacts/$t/)"
    failed=1
  fi
  elapsed=$(( $(date +%s) - start ))
  printf '%-16s %8s %14s %10s %10s  %s\n' "$t" "$elapsed" \
    "$(stat number_of_executed_units "$log")" "$(stat average_exec_per_sec "$log")" \
    "$(stat new_units_added "$log")" "$result"
done
exit $failed
