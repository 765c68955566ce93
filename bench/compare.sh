#!/usr/bin/env bash
# bench/compare.sh: netloop's echo server beside its peers, side by side on
# one machine, and a report of the medians.
#
#   bench/compare.sh                      # the default run (~20 min on 2 cores)
#   ROUNDS=1 DURATION=2 bench/compare.sh  # a quick look
#   bench/compare.sh --update             # ... and rewrite BENCHMARKS.md
#   SERVERS="netloop tokio" SCENARIOS=pingpong bench/compare.sh
#   SERVERS="netloop node bun-net" SCENARIOS=tls bench/compare.sh   # TLS only
#   SCENARIOS=cluster ROUNDS=3 DURATION=4 bench/compare.sh   # the cluster rows only
#   CLUSTER=1 bench/compare.sh            # the default run and the cluster rows
#
# The report (`netloop bench report`, Markdown) goes to $RESULTS/report.md,
# beside the raw results; `--update` (or OUT=BENCHMARKS.md) writes
# BENCHMARKS.md instead, so a quick or partial run never overwrites the
# published figures by accident. `netloop bench report DIR` writes the
# report again from any results directory.
#
# Servers (SERVERS to choose): netloop (`netloop echo`), netloop-base (the
# same from another build, given as NETLOOP_BASE=path: a before/after pair
# in one run), mio (the floor: the
# least user-space work per message, bench/peers-rs/src/mio_echo.rs), tokio
# (current-thread runtime, bench/peers-rs/src/tokio_echo.rs), node (Node's
# `net`, bench/peers/node_echo.js), bun-net (the same file under Bun's
# node:net), bun-listen (Bun.listen, bench/peers/bun_listen_echo.js). Bun
# is used only when a bun-* server is selected (it then also runs the
# timers scenario's Bun row); it comes from the npm registry into
# bench/.scratch when it is not on PATH, and if that fails its columns say
# so. The mio and tokio peers are the binaries peer-mio-echo and
# peer-tokio-echo of the bench/peers-rs crate (netloop-bench-peers), built
# only when selected. Every binary is built once, before the first run.
#
# Each server runs pinned to CPU $SERVER_CPU and the load generator
# (`netloop bench`) to CPU $CLIENT_CPU. Rounds are interleaved (A B C A B C
# ...) so drift on a shared machine hits every server alike, and each figure
# is the median over rounds. A fresh server process serves each run.
#
# TLS (SCENARIOS word `tls`, or its parts): tlsecdsa and tlsrsa (full TLS
# 1.3 handshakes per second: TLS_CONNS workers each connect, handshake,
# echo SIZE bytes and close, against a server with an ECDSA P-256 or an
# RSA-2048 certificate), tlsresume (the same resuming sessions with the
# server's tickets), tlsbulk (stream mode over TLS) and tlsidle
# (TLS_IDLE_CONNS connections handshaken, echoed once and held: memory per
# idle TLS connection). The servers: netloop (`netloop echo --tls-cert F
# --tls-key F`; until that option exists its rows say "not built yet"),
# node (bench/peers/node_tls_echo.js) and bun-net (the same file under
# Bun's node:tls); the others have no TLS peer and sit these out. The
# certificates are made for the run by `netloop tls-cert` in
# $RESULTS/tls, never committed; the generator trusts them with --ca.
#
# Cluster (SCENARIOS word `cluster`, or CLUSTER=1 to add it to the
# others; not in the default run): clusterpingpong and clusterconnect, the
# pingpong and connect work above (CONNS, CONNECT_CONNS, SIZE), run over
# CLUSTER_SERVERS instead of SERVERS: node (one Node process, the
# reference), netloop-t1 (`netloop echo --threads 1`), netloop-t2-rr and
# netloop-t2-shared (`--threads 2 --policy round-robin|shared`), and
# node-cluster-rr and node-cluster-shared (bench/peers/node_cluster_echo.js:
# Node's cluster, 2 workers, SCHED_RR or SCHED_NONE). Nothing is pinned in
# these rows: the servers use every CPU and the generator (one thread)
# shares them, as issue 11's figures were measured. The server's CPU is
# its whole process tree (Node's primary and workers), and the acceptor's
# part (netloop's acceptor thread, Node's primary) is reported apart.
set -euo pipefail
cd "$(dirname "$0")/.."

UPDATE=""
for arg in "$@"; do
  case $arg in
    --update) UPDATE=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-4}            # seconds measured per run
WARMUP=${WARMUP:-1}                # seconds of warm-up per run
CONNS=${CONNS:-50}                 # pingpong connections
SIZE=${SIZE:-64}                   # pingpong message size
PIPELINE=${PIPELINE:-1}
RATE=${RATE:-20000}                # open-loop requests/s (latency without coordinated omission)
STREAM_CONNS=${STREAM_CONNS:-1}
STREAM_SIZE=${STREAM_SIZE:-65536}
CONNECT_CONNS=${CONNECT_CONNS:-50} # connect workers
CONNECT_SOURCES=${CONNECT_SOURCES:-4} # 127.0.0.x source addresses, explicit ports (see src/bench/connect.rs)
IDLE_CONNS=${IDLE_CONNS:-15000}    # idle connections held (capped by RLIMIT_NOFILE)
TIMER_COUNT=${TIMER_COUNT:-1000000}
TLS_CONNS=${TLS_CONNS:-50}         # TLS handshake workers (tlsecdsa, tlsrsa, tlsresume)
TLS_IDLE_CONNS=${TLS_IDLE_CONNS:-2000} # idle TLS connections held (tlsidle)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SERVERS=${SERVERS:-"netloop mio tokio node bun-net bun-listen"}
SCENARIOS=${SCENARIOS:-"pingpong rate stream connect idle timers tls"}
CLUSTER_SERVERS=${CLUSTER_SERVERS:-"node netloop-t1 netloop-t2-rr netloop-t2-shared node-cluster-rr node-cluster-shared"}
CLUSTER_WORKERS=2                  # threads of netloop-t2-*, workers of node-cluster-*
if [ -n "${CLUSTER:-}" ] && [ "${CLUSTER:-}" != 0 ]; then SCENARIOS="$SCENARIOS cluster"; fi
# `tls` stands for every TLS scenario, `cluster` for both cluster ones.
TLS_SCENARIOS="tlsecdsa tlsrsa tlsresume tlsbulk tlsidle"
CLUSTER_SCENARIOS="clusterpingpong clusterconnect"
SCENARIOS=$(echo " $SCENARIOS " | sed "s/ tls / $TLS_SCENARIOS /; s/ cluster / $CLUSTER_SCENARIOS /" | xargs)
RESULTS=${RESULTS:-bench/results/$(date +%Y%m%d-%H%M%S)}
if [ -n "$UPDATE" ]; then
  OUT=${OUT:-BENCHMARKS.md}
else
  OUT=${OUT:-$RESULTS/report.md}
fi

mkdir -p "$RESULTS"
LOG="$RESULTS/log.txt"
: > "$LOG"
say() { echo "compare: $*" | tee -a "$LOG" >&2; }

selected() { case " $SERVERS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
tls_scenario() { case $1 in tls*) return 0 ;; *) return 1 ;; esac; }
cluster_scenario() { case $1 in cluster*) return 0 ;; *) return 1 ;; esac; }
any_cluster() { case " $SCENARIOS " in *" cluster"*) return 0 ;; *) return 1 ;; esac; }
any_tls() { case " $SCENARIOS " in *" tls"*) return 0 ;; *) return 1 ;; esac; }

# ----- build ---------------------------------------------------------------
# One build per binary, before the first run: the load generator and the
# report are this netloop too. The Rust peers (the bench/peers-rs crate, same
# release profile) only when a run needs them.
say "building (release)"
cargo build --release --bin netloop >>"$LOG" 2>&1
NETLOOP=target/release/netloop
PEER_BINS=()
selected mio && PEER_BINS+=(--bin peer-mio-echo)
selected tokio && PEER_BINS+=(--bin peer-tokio-echo)
if [ ${#PEER_BINS[@]} -gt 0 ]; then
  cargo build --release -p netloop-bench-peers "${PEER_BINS[@]}" >>"$LOG" 2>&1
fi
MIO_ECHO=target/release/peer-mio-echo
TOKIO_ECHO=target/release/peer-tokio-echo
if { selected mio && [ ! -x "$MIO_ECHO" ]; } || { selected tokio && [ ! -x "$TOKIO_ECHO" ]; }; then
  say "peer binaries missing"
  exit 1
fi

# ----- peers that may be missing -------------------------------------------
UNAVAILABLE=""
NETLOOP_BASE=${NETLOOP_BASE:-}
if selected netloop-base && { [ -z "$NETLOOP_BASE" ] || [ ! -x "$NETLOOP_BASE" ]; }; then
  say "NETLOOP_BASE is not an executable: the netloop-base columns will say so"
  UNAVAILABLE="$UNAVAILABLE netloop-base"
fi
NODE=$(command -v node || true)
[ -n "$NODE" ] || UNAVAILABLE="$UNAVAILABLE node node-cluster-rr node-cluster-shared"
BUN=""
# Bun serves plain and TLS rows only: a cluster-only run does not look for it.
any_plain() { for sc in $SCENARIOS; do cluster_scenario "$sc" || return 0; done; return 1; }
any_plain && case " $SERVERS " in
  *" bun-"*)
    BUN=$(command -v bun || true)
    if [ -z "$BUN" ]; then
      BUN="$PWD/bench/.scratch/node_modules/.bin/bun"
      if [ ! -x "$BUN" ] && command -v npm >/dev/null; then
        say "installing bun from the npm registry into bench/.scratch"
        mkdir -p bench/.scratch
        (cd bench/.scratch && [ -f package.json ] || echo '{"private":true}' > package.json
         timeout 300 npm install --no-audit --no-fund --silent bun) >>"$LOG" 2>&1 || true
      fi
    fi
    if [ ! -x "$BUN" ] || ! "$BUN" --version >/dev/null 2>&1; then
      say "bun unavailable: its columns will say so"
      UNAVAILABLE="$UNAVAILABLE bun-net bun-listen"
      BUN=""
    fi
    ;;
esac

# ----- TLS --------------------------------------------------------------------
# Servers without a TLS peer sit the TLS scenarios out; netloop's row waits
# for `netloop echo --tls-cert`.
TLS_SERVERS="netloop node bun-net"
TLS_UNAVAILABLE=""
if any_tls; then
  if selected netloop && ! "$NETLOOP" echo --help 2>/dev/null | grep -q -- '--tls-cert'; then
    say "netloop TLS server: not built yet (\`netloop echo\` has no --tls-cert): its TLS rows say so"
    TLS_UNAVAILABLE="netloop"
  fi
  TLS_DIR="$RESULTS/tls"
  mkdir -p "$TLS_DIR"
  for alg in ecdsa-p256 rsa-2048; do
    "$NETLOOP" tls-cert --out-dir "$TLS_DIR" --algorithm "$alg" \
      --cert "${alg%%-*}-cert.pem" --key "${alg%%-*}-key.pem" --force >>"$LOG"
  done
fi
# The certificate of a TLS scenario's server.
tls_alg() { case $1 in tlsrsa) echo rsa ;; *) echo ecdsa ;; esac; }

# Many idle connections need many fds on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
IDLE_ASKED=$IDLE_CONNS
if [ "$FD_LIMIT" != unlimited ] && [ "$IDLE_CONNS" -gt $((FD_LIMIT - 200)) ]; then
  IDLE_CONNS=$((FD_LIMIT - 200))
  say "RLIMIT_NOFILE is $FD_LIMIT: idle runs hold $IDLE_CONNS connections, not $IDLE_ASKED"
fi

# Pinning needs taskset (util-linux) and two CPUs; without them the run goes
# on unpinned and the report says so.
PIN_SERVER=()
PIN_CLIENT=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_SERVER=(taskset -c "$SERVER_CPU")
  PIN_CLIENT=(taskset -c "$CLIENT_CPU")
else
  say "taskset or a second CPU missing: running unpinned"
  UNPINNED=1
fi

# ----- servers -------------------------------------------------------------
SPID=""
SPORT=""
# start_server KIND [CERT KEY]: with a certificate, the kind's TLS server.
# With PIN_NONE=1 (the cluster rows) the server is not pinned.
start_server() {
  local kind=$1 out="$RESULTS/server-$1.out" cert=${2:-} key=${3:-}
  local cmd pin=("${PIN_SERVER[@]}")
  [ -z "${PIN_NONE:-}" ] || pin=()
  if [ -n "$cert" ]; then
    case $kind in
      netloop) cmd=("$NETLOOP" echo --host 127.0.0.1 --port 0 --quiet --tls-cert "$cert" --tls-key "$key") ;;
      node) cmd=("$NODE" bench/peers/node_tls_echo.js 0 "$cert" "$key") ;;
      bun-net) cmd=("$BUN" bench/peers/node_tls_echo.js 0 "$cert" "$key") ;;
      *) say "no TLS server for $kind"; return 1 ;;
    esac
  else
  case $kind in
    netloop) cmd=("$NETLOOP" echo --host 127.0.0.1 --port 0 --quiet) ;;
    netloop-base) cmd=("$NETLOOP_BASE" echo --host 127.0.0.1 --port 0 --quiet) ;;
    mio) cmd=("$MIO_ECHO" --serve --port 0) ;;
    tokio) cmd=("$TOKIO_ECHO" --serve --port 0) ;;
    node) cmd=("$NODE" bench/peers/node_echo.js 0) ;;
    bun-net) cmd=("$BUN" bench/peers/node_echo.js 0) ;;
    bun-listen) cmd=("$BUN" bench/peers/bun_listen_echo.js 0) ;;
    netloop-t1) cmd=("$NETLOOP" echo --host 127.0.0.1 --port 0 --quiet --threads 1) ;;
    netloop-t2-rr) cmd=("$NETLOOP" echo --host 127.0.0.1 --port 0 --quiet --threads "$CLUSTER_WORKERS" --policy round-robin) ;;
    netloop-t2-shared) cmd=("$NETLOOP" echo --host 127.0.0.1 --port 0 --quiet --threads "$CLUSTER_WORKERS" --policy shared) ;;
    node-cluster-rr) cmd=("$NODE" bench/peers/node_cluster_echo.js 0 "$CLUSTER_WORKERS" rr) ;;
    node-cluster-shared) cmd=("$NODE" bench/peers/node_cluster_echo.js 0 "$CLUSTER_WORKERS" shared) ;;
    *) say "unknown server $kind"; return 1 ;;
  esac
  fi
  : > "$out"
  "${pin[@]}" "${cmd[@]}" >"$out" 2>&1 &
  SPID=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$out" && break
    sleep 0.05
  done
  SPORT=$(grep -o 'listening on [^ ]*' "$out" | head -1 | grep -o '[0-9]*$' || true)
  if [ -z "$SPORT" ]; then
    say "$kind did not start: $(head -c 300 "$out")"
    stop_server
    return 1
  fi
}
# The server's child processes (Node's cluster workers), by parent pid.
children_of() { { ps -o pid= --ppid "$1" 2>/dev/null || true; } | xargs; }
stop_server() {
  if [ -n "$SPID" ]; then
    local kids
    kids=$(children_of "$SPID")
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    # Node's primary takes its workers along on SIGTERM; make sure, by
    # their pids, before the next server starts.
    for k in $kids; do
      for _ in $(seq 50); do kill -0 "$k" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$k" 2>/dev/null || true
    done
  fi
  SPID=""
}
trap stop_server EXIT

load() {
  if [ -n "${PIN_NONE:-}" ]; then "$NETLOOP" bench "$@" --json -q
  else "${PIN_CLIENT[@]}" "$NETLOOP" bench "$@" --json -q; fi
}
# A run's figures for the log line, without the format version, timestamp
# and command line every report opens with, nor the settings that repeat
# the command (label, server, sizes, TLS parameters).
figures() {
  tr -d '\n' < "$1" | sed -E 's/"format_version".*"command": \[[^]]*\], //;
    s/"(mode|label|server|connections|size|threads|server_pid|server_processes|server_acceptor|sources|tls[a-z_]*)": ("[^"]*"|[0-9.]+), //g' | cut -c1-160
}

run_one() {
  local round=$1 scenario=$2 kind=$3
  local file="$RESULTS/$scenario-$kind-$round.json"
  case " $UNAVAILABLE " in *" $kind "*) return 0 ;; esac
  if tls_scenario "$scenario"; then
    case " $TLS_SERVERS " in *" $kind "*) ;; *) return 0 ;; esac
    case " $TLS_UNAVAILABLE " in *" $kind "*) return 0 ;; esac
    local alg
    alg=$(tls_alg "$scenario")
    local ca="$TLS_DIR/$alg-cert.pem"
    start_server "$kind" "$ca" "$TLS_DIR/$alg-key.pem" || return 0
    local tls=(--tls --ca "$ca")
  elif cluster_scenario "$scenario"; then
    PIN_NONE=1 start_server "$kind" || return 0
  else
    start_server "$kind" || return 0
  fi
  local common=(-p "$SPORT" --server-pid "$SPID" --label "$kind")
  local timed=(-d "$DURATION" -w "$WARMUP")
  local ok=0
  case $scenario in
    pingpong) load pingpong "${common[@]}" "${timed[@]}" -c "$CONNS" -s "$SIZE" --pipeline "$PIPELINE" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    rate) load pingpong "${common[@]}" "${timed[@]}" -c "$CONNS" -s "$SIZE" --rate "$RATE" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    stream) load stream "${common[@]}" "${timed[@]}" -c "$STREAM_CONNS" -s "$STREAM_SIZE" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    connect) load connect "${common[@]}" "${timed[@]}" -c "$CONNECT_CONNS" -s "$SIZE" --sources "$CONNECT_SOURCES" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    clusterpingpong) PIN_NONE=1 load pingpong "${common[@]}" "${timed[@]}" -c "$CONNS" -s "$SIZE" --pipeline "$PIPELINE" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    clusterconnect) PIN_NONE=1 load connect "${common[@]}" "${timed[@]}" -c "$CONNECT_CONNS" -s "$SIZE" --sources "$CONNECT_SOURCES" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    idle) load idle "${common[@]}" -c "$IDLE_CONNS" -s "$SIZE" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    tlsecdsa | tlsrsa) load connect "${common[@]}" "${timed[@]}" "${tls[@]}" -c "$TLS_CONNS" -s "$SIZE" --sources "$CONNECT_SOURCES" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    tlsresume) load connect "${common[@]}" "${timed[@]}" "${tls[@]}" --tls-resume -c "$TLS_CONNS" -s "$SIZE" --sources "$CONNECT_SOURCES" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    tlsbulk) load stream "${common[@]}" "${timed[@]}" "${tls[@]}" -c "$STREAM_CONNS" -s "$STREAM_SIZE" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
    tlsidle) load idle "${common[@]}" "${tls[@]}" -c "$TLS_IDLE_CONNS" -s "$SIZE" >"$file.tmp" 2>>"$LOG" || ok=$? ;;
  esac
  stop_server
  if [ "$ok" = 0 ] && [ -s "$file.tmp" ]; then
    mv "$file.tmp" "$file"
    say "round $round $scenario $kind: $(figures "$file")"
  else
    # `netloop bench` exits non-zero when a connection failed or the server
    # went away, after printing its report: keep that report for a look,
    # under a name the report step does not read.
    say "round $round $scenario $kind: failed (see $LOG)"
    if [ -s "$file.tmp" ]; then mv "$file.tmp" "$file.failed"; else rm -f "$file.tmp"; fi
  fi
}

run_timers() {
  local round=$1
  "${PIN_SERVER[@]}" "$NETLOOP" bench timers --count "$TIMER_COUNT" --json -q >"$RESULTS/timers-netloop-$round.json" 2>>"$LOG" || true
  "${PIN_SERVER[@]}" "$NETLOOP" bench refresh --count "$TIMER_COUNT" --json -q >"$RESULTS/refresh-netloop-$round.json" 2>>"$LOG" || true
  if [ -n "$NODE" ]; then
    "${PIN_SERVER[@]}" "$NODE" bench/peers/node_timers.js timers "$TIMER_COUNT" >"$RESULTS/timers-node-$round.json" 2>>"$LOG" || true
    "${PIN_SERVER[@]}" "$NODE" bench/peers/node_timers.js refresh "$TIMER_COUNT" >"$RESULTS/refresh-node-$round.json" 2>>"$LOG" || true
  fi
  if [ -n "$BUN" ]; then
    "${PIN_SERVER[@]}" "$BUN" bench/peers/node_timers.js timers "$TIMER_COUNT" >"$RESULTS/timers-bun-$round.json" 2>>"$LOG" || true
    "${PIN_SERVER[@]}" "$BUN" bench/peers/node_timers.js refresh "$TIMER_COUNT" >"$RESULTS/refresh-bun-$round.json" 2>>"$LOG" || true
  fi
  say "round $round timers: $(cat "$RESULTS"/timers-*-"$round".json | tr -d '\n' | cut -c1-200)"
}

# ----- the run ---------------------------------------------------------------
START=$(date +%s)
# Other work on the machine shows in the load average: kept for the report.
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    if [ "$scenario" = timers ]; then
      run_timers "$round"
      continue
    fi
    kinds=$SERVERS
    if cluster_scenario "$scenario"; then kinds=$CLUSTER_SERVERS; fi
    for kind in $kinds; do
      run_one "$round" "$scenario" "$kind"
    done
  done
done
ELAPSED=$(( $(date +%s) - START ))
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
say "runs took ${ELAPSED}s; results in $RESULTS"

# ----- the report --------------------------------------------------------------
# settings.txt is what `netloop bench report` reads besides the JSON files:
# NAME=value pairs, the lists alone on their line.
{
  echo "ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS SIZE=$SIZE PIPELINE=$PIPELINE RATE=$RATE"
  echo "STREAM_CONNS=$STREAM_CONNS STREAM_SIZE=$STREAM_SIZE CONNECT_CONNS=$CONNECT_CONNS CONNECT_SOURCES=$CONNECT_SOURCES IDLE_CONNS=$IDLE_CONNS (asked $IDLE_ASKED, RLIMIT_NOFILE $FD_LIMIT) TIMER_COUNT=$TIMER_COUNT"
  echo "TLS_CONNS=$TLS_CONNS TLS_IDLE_CONNS=$TLS_IDLE_CONNS"
  echo "TLS_UNAVAILABLE=$TLS_UNAVAILABLE"
  echo "FD_LIMIT=$FD_LIMIT"
  echo "PINNED=$([ -n "${UNPINNED:-}" ] && echo no || echo "server CPU $SERVER_CPU, generator CPU $CLIENT_CPU")"
  echo "SERVERS=$SERVERS"
  echo "SCENARIOS=$SCENARIOS"
  if any_cluster; then
    echo "CLUSTER_SERVERS=$CLUSTER_SERVERS"
    echo "CLUSTER_WORKERS=$CLUSTER_WORKERS NPROC=$(nproc)"
  fi
  echo "LOADAVG_START=$LOADAVG_START"
  echo "LOADAVG_END=$LOADAVG_END"
  echo "UNAVAILABLE=$UNAVAILABLE"
  echo "ELAPSED=$ELAPSED"
  echo "NODE_VERSION=$([ -n "$NODE" ] && "$NODE" --version || echo none)"
  echo "BUN_VERSION=$([ -n "$BUN" ] && "$BUN" --version || echo none)"
  echo "RUSTC_VERSION=$(rustc --version)"
  if selected netloop-base; then echo "NETLOOP_BASE=$NETLOOP_BASE"; fi
} > "$RESULTS/settings.txt"
"$NETLOOP" bench report "$RESULTS" -o "$OUT"
say "wrote $OUT"
