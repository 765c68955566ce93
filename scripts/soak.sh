#!/usr/bin/env bash
# scripts/soak.sh [--duration SECS]: keep `netloop echo` busy for SECS
# (default 600) and fail if it errs or grows.
#
#   scripts/soak.sh                  # 10 minutes
#   scripts/soak.sh --duration 120   # a short run
#
# Starts `target/release/netloop echo` (built first; NETLOOP=path for
# another binary; ECHO_ARGS="--threads 2" for a cluster of loops) on
# 127.0.0.1 port 0 and runs, in turns, bounded chunks of
# `netloop bench pingpong` (20 connections) and `netloop bench connect`
# (20 workers connecting, echoing once and closing) against it, loopback
# only. Every 30 s (every 5 s for runs under 5 minutes) it samples the
# server's resident memory and descriptors; after each chunk it waits (5 s
# at most) for the server's descriptors to fall back to what it held idle.
#
# It fails, with a message saying which, on:
# - any bench error (a failed connect, read or echo) or a bench that exits
#   non-zero;
# - the server exiting;
# - descriptors that do not fall back to the idle count after a chunk;
# - memory growth after the warm-up (the first fifth of the run, at least
#   two samples): every later sample must stay within the warm-up's peak
#   plus 10% (at least 1 MiB).
#
# Samples and each chunk's JSON go to $RESULTS (default
# bench/results/soak-DATE).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=600
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=${2:-}; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $DURATION in
  '' | *[!0-9]*) echo "soak.sh: --duration takes whole seconds" >&2; exit 2 ;;
esac
[ "$DURATION" -ge 20 ] || { echo "soak.sh: --duration must be at least 20 s" >&2; exit 2; }

INTERVAL=30
[ "$DURATION" -lt 300 ] && INTERVAL=5
WARMUP=$(( DURATION / 5 ))
[ "$WARMUP" -lt $(( 2 * INTERVAL )) ] && WARMUP=$(( 2 * INTERVAL ))
CHUNK=$INTERVAL
RESULTS=${RESULTS:-bench/results/soak-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"

. scripts/lib/echo-server.sh
say() { echo "soak: $*" | tee -a "$RESULTS/log.txt" >&2; }
fail() { say "FAIL: $*"; exit 1; }

build_netloop
SAMPLER=""
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  stop_server
}
trap cleanup EXIT

start_server netloop || fail "the echo server did not start"
say "netloop echo pid $SPID on 127.0.0.1:$SPORT; ${DURATION}s, samples every ${INTERVAL}s, warm-up ${WARMUP}s"
IDLE_FDS=$(server_fds)

# The sampler: elapsed seconds, RSS KiB, descriptors, one line per sample.
START=$(date +%s)
SAMPLES="$RESULTS/samples.txt"
echo "elapsed_s rss_kib fds" >"$SAMPLES"
(
  while kill -0 "$SPID" 2>/dev/null; do
    echo "$(( $(date +%s) - START )) $(server_rss_kib) $(server_fds)" >>"$SAMPLES"
    sleep "$INTERVAL"
  done
) &
SAMPLER=$!

requests=0
connects=0
chunks=0
mode=pingpong
while :; do
  left=$(( START + DURATION - $(date +%s) ))
  [ "$left" -ge 2 ] || break
  d=$(( left < CHUNK ? left : CHUNK ))
  case $mode in
    pingpong) args=(pingpong -c 20 -s 64) ;;
    connect) args=(connect -c 20 -s 64 --sources 4) ;;
  esac
  out="$RESULTS/chunk-$chunks-$mode.json"
  # The bench bounds itself (its duration plus a 30 s connect deadline);
  # timeout is the backstop.
  if ! timeout $(( d + 60 )) "$NETLOOP" bench "${args[@]}" -p "$SPORT" -d "$d" -w 0 \
      --server-pid "$SPID" --json -q >"$out" 2>>"$RESULTS/log.txt"; then
    fail "netloop bench $mode (chunk $chunks) failed: $(tail -c 300 "$RESULTS/log.txt")"
  fi
  json=$(cat "$out")
  errors=$(json_int "$json" errors)
  [ "${errors:-1}" = 0 ] || fail "netloop bench $mode (chunk $chunks) reported $errors errors: $json"
  case $mode in
    pingpong) requests=$(( requests + $(json_int "$json" requests) )); mode=connect ;;
    connect) connects=$(( connects + $(json_int "$json" connects) )); mode=pingpong ;;
  esac
  chunks=$(( chunks + 1 ))
  server_alive || fail "the echo server exited: $(tail -c 300 "$RESULTS/server-netloop.out")"
  wait_fds_at_most "$IDLE_FDS" 5 ||
    fail "after chunk $chunks the server holds $(server_fds) descriptors, $IDLE_FDS when idle"
done
server_alive || fail "the echo server exited"
echo "$(( $(date +%s) - START )) $(server_rss_kib) $(server_fds)" >>"$SAMPLES"
kill "$SAMPLER" 2>/dev/null || true
SAMPLER=""

# Growth: the warm-up's peak against every later sample.
read -r warm_peak later_peak later_n < <(awk -v w="$WARMUP" 'NR > 1 {
    if ($1 <= w) { if ($2 > wp) wp = $2 } else { n++; if ($2 > lp) lp = $2 }
  } END { print wp + 0, lp + 0, n + 0 }' "$SAMPLES")
slack=$(( warm_peak / 10 ))
[ "$slack" -lt 1024 ] && slack=1024
limit=$(( warm_peak + slack ))
say "samples (elapsed_s rss_kib fds):"
column -t "$SAMPLES" 2>/dev/null | sed 's/^/  /' >&2 || cat "$SAMPLES" >&2
say "$chunks chunks: $requests ping-pong requests, $connects connections opened and closed, no errors"
say "RSS: warm-up peak ${warm_peak} KiB, later peak ${later_peak} KiB over $later_n samples (limit ${limit} KiB); idle descriptors $IDLE_FDS, back to that after every chunk"
[ "$later_n" -ge 1 ] || fail "no sample after the warm-up: run longer"
[ "$later_peak" -le "$limit" ] || fail "the server grew past the warm-up: ${later_peak} KiB > ${limit} KiB"
say "PASS"
