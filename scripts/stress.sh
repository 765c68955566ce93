#!/usr/bin/env bash
# scripts/stress.sh [ATTACK...] [--duration SECS] [--server netloop|node|both]:
# attack an echo server on loopback and check that it stays up, bounded
# and leak-free. Each attack starts a fresh server, is bounded in time and
# in connections, and prints one PASS/FAIL line with its figures.
#
#   scripts/stress.sh                          # every attack, netloop, 20 s each
#   scripts/stress.sh slow-reader idle --server both --duration 10
#
# Attacks (default: all, in this order):
#   slow-reader    10 clients write 64 KiB chunks as fast as the kernel
#                  takes them and never read. PASS: the server accepts
#                  (next to) nothing in the second half of the attack and
#                  its peak RSS stays within 8 MiB of where it started
#                  (64 MiB for Node, whose V8 heap grows by tens of MiB
#                  under any load): its memory is bounded by the
#                  high-water mark, not by how much the clients send.
#   idle           5,000 connections (one echo each) held for SECS. Reports
#                  the server's memory per connection. PASS: every one
#                  established, the server still up.
#   half-open      2,000 clients send 64 bytes and their FIN, then hold
#                  the connection without reading. PASS: the server (not
#                  half-open) closes its side of every one while they are
#                  held, and its descriptors fall back to the idle count.
#   rst            50 workers connect, write 64 KiB and reset (SO_LINGER 0)
#                  as the echo starts, over and over. PASS: the server is
#                  up and its descriptors are back to the idle count.
#   emfile         The server under `prlimit --nofile=64:64`, 200 connect
#                  workers for SECS. PASS: the server is up afterwards and
#                  serves a ping-pong run (20 connections, 2 s) without an
#                  error.
#   connect-churn  50 workers connect, echo once and close for SECS. PASS:
#                  no error; descriptors back to the idle count and RSS
#                  within 1 MiB of where it started (64 MiB for Node).
#
# --server node runs the same attack against Node's `net` echo
# (bench/peers/node_echo.js); both runs the two one after the other.
# Uses target/release/netloop (built first; NETLOOP=path for another;
# ECHO_ARGS="--threads 2 --policy shared" for a cluster of loops).
# Each attack's JSON goes to $RESULTS (default bench/results/stress-DATE).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL="slow-reader idle half-open rst emfile connect-churn"
ATTACKS=""
DURATION=20
SERVERS=netloop
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=${2:-}; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --server) SERVERS=${2:-}; shift 2 ;;
    --server=*) SERVERS=${1#*=}; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    slow-reader | idle | half-open | rst | emfile | connect-churn) ATTACKS="$ATTACKS $1"; shift ;;
    *) echo "stress.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $DURATION in
  '' | *[!0-9]*) echo "stress.sh: --duration takes whole seconds" >&2; exit 2 ;;
esac
[ "$DURATION" -ge 2 ] || { echo "stress.sh: --duration must be at least 2 s" >&2; exit 2; }
case $SERVERS in
  netloop | node) ;;
  both) SERVERS="netloop node" ;;
  *) echo "stress.sh: --server is netloop, node or both" >&2; exit 2 ;;
esac
ATTACKS=${ATTACKS:-$ALL}
RESULTS=${RESULTS:-bench/results/stress-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"

. scripts/lib/echo-server.sh
trap stop_server EXIT
build_netloop
# The attacks hold thousands of sockets on the client side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

failed=0
report() { # ATTACK SERVER VERDICT FIGURES
  local line
  line=$(printf '%-14s %-8s %-5s %s' "$1" "$2" "$3" "$4")
  echo "$line" | tee -a "$RESULTS/summary.txt"
  [ "$3" = PASS ] || failed=1
}

# bench ATTACK SERVER NAME ARGS...: run `netloop bench ARGS` against the
# server, bounded by `timeout`; prints its JSON (empty on failure).
bench() {
  local attack=$1 kind=$2 name=$3
  shift 3
  local out="$RESULTS/$attack-$kind-$name.json"
  timeout $(( DURATION + 360 )) "$NETLOOP" bench "$@" -p "$SPORT" --server-pid "$SPID" \
    --json -q >"$out" 2>>"$RESULTS/log.txt" || true
  cat "$out"
}

run_attack() {
  local attack=$1 kind=$2 prefix=() json verdict figures idle
  [ "$attack" = emfile ] && prefix=(prlimit --nofile=64:64)
  SERVER_LOG="$RESULTS/server-$attack-$kind.out"
  if ! start_server "$kind" "${prefix[@]}"; then
    report "$attack" "$kind" FAIL "the server did not start"
    return
  fi
  idle=$(server_fds)
  verdict=PASS
  case $attack in
    slow-reader)
      json=$(bench "$attack" "$kind" slowread slowread -c 10 -s 65536 -d "$DURATION")
      local before peak sent half growth
      before=$(json_int "$json" server_rss_before_kib)
      peak=$(json_int "$json" server_rss_peak_kib)
      sent=$(json_int "$json" bytes_sent)
      half=$(json_int "$json" bytes_sent_second_half)
      if [ -z "$peak" ] || [ -z "$sent" ]; then
        verdict=FAIL; figures="bench failed: $(tail -c 200 "$RESULTS/log.txt")"
      else
        growth=$(( peak - before ))
        figures="peak RSS +${growth} KiB (${before} -> ${peak}), accepted $(( sent / 1048576 )) MiB, $(( half / 1024 )) KiB of it in the second half"
        local limit=8192
        [ "$kind" = node ] && limit=65536
        [ "$growth" -le "$limit" ] || verdict=FAIL
        [ "$half" -le $(( sent / 10 )) ] || verdict=FAIL
      fi
      ;;
    idle)
      json=$(bench "$attack" "$kind" idle idle -c 5000 --hold "$DURATION")
      local est per anon
      est=$(json_int "$json" established)
      per=$(json_num "$json" idle_kib_per_conn)
      anon=$(json_num "$json" idle_anon_kib_per_conn)
      figures="${est:-0} of 5000 established, ${per:-?} KiB RSS per connection (${anon:-?} KiB anonymous)"
      [ "${est:-0}" = 5000 ] || verdict=FAIL
      ;;
    half-open)
      json=$(bench "$attack" "$kind" halfopen halfopen -c 2000 -s 64 -d "$DURATION")
      local closed during
      closed=$(json_int "$json" server_closed_while_held)
      during=$(json_int "$json" server_fds_during_hold)
      figures="server closed ${closed:-0} of 2000 while held; its descriptors during the hold ${during:-?} (idle $idle)"
      [ "${closed:-0}" = 2000 ] || verdict=FAIL
      [ "${during:-999999}" -le "$idle" ] || verdict=FAIL
      ;;
    rst)
      json=$(bench "$attack" "$kind" rst rst -c 50 -s 65536 -d "$DURATION")
      local resets after
      resets=$(json_int "$json" resets)
      wait_fds_at_most "$idle" 5 || true
      after=$(server_fds)
      figures="${resets:-0} connections reset mid-stream; descriptors after ${after:-?} (idle $idle)"
      [ "${resets:-0}" -gt 0 ] || verdict=FAIL
      [ "${after:-999999}" -le "$idle" ] || verdict=FAIL
      ;;
    emfile)
      json=$(bench "$attack" "$kind" flood connect -c 200 -s 64 -d "$DURATION" -w 0)
      local conns util pp req errs
      conns=$(json_int "$json" connects)
      util=$(json_num "$json" server_cpu_util)
      if server_alive; then
        pp=$(bench "$attack" "$kind" after pingpong -c 20 -s 64 -d 2 -w 0)
        req=$(json_int "$pp" requests)
        errs=$(json_int "$pp" errors)
        figures="during the flood ${conns:-0} connections served, server CPU ${util:-?}; afterwards ping-pong ${req:-0} requests, ${errs:-?} errors"
        [ "${req:-0}" -gt 0 ] && [ "${errs:-1}" = 0 ] || verdict=FAIL
      else
        verdict=FAIL
        figures="the server exited: $(tail -n 1 "$SERVER_LOG" | tail -c 200)"
      fi
      ;;
    connect-churn)
      local conns errs rss0 rss1 limit=1024
      [ "$kind" = node ] && limit=65536
      rss0=$(server_rss_kib)
      json=$(bench "$attack" "$kind" connect connect -c 50 -s 64 --sources 4 -d "$DURATION" -w 0)
      conns=$(json_int "$json" connects)
      errs=$(json_int "$json" errors)
      wait_fds_at_most "$idle" 5 || true
      rss1=$(server_rss_kib)
      figures="${conns:-0} connections in ${DURATION}s, ${errs:-?} errors; descriptors after $(server_fds) (idle $idle); RSS ${rss0} KiB before, ${rss1} KiB after"
      [ "${errs:-1}" = 0 ] || verdict=FAIL
      [ "$(server_fds)" -le "$idle" ] || verdict=FAIL
      [ $(( rss1 - rss0 )) -le "$limit" ] || verdict=FAIL
      ;;
  esac
  server_alive || { verdict=FAIL; figures="$figures; the server exited"; }
  report "$attack" "$kind" "$verdict" "$figures"
  stop_server
}

echo "stress: $ATTACKS against $SERVERS, ${DURATION}s each; results in $RESULTS" >&2
printf '%-14s %-8s %-5s %s\n' attack server verdict figures | tee "$RESULTS/summary.txt"
for attack in $ATTACKS; do
  for kind in $SERVERS; do
    run_attack "$attack" "$kind"
  done
done
exit $failed
