# Shared by scripts/soak.sh and scripts/stress.sh (sourced, not run): start
# and stop one echo server on 127.0.0.1 port 0, and read its memory and
# descriptors from /proc. Expects to run from the repository root.

NETLOOP=${NETLOOP:-target/release/netloop}
# Extra arguments for `netloop echo`, e.g. ECHO_ARGS="--threads 2 --policy
# shared" to run the checks against a cluster of loops.
ECHO_ARGS=${ECHO_ARGS:-}
NODE=${NODE:-$(command -v node || true)}
SPID=""
SPORT=""

# Build the release CLI unless NETLOOP points at a binary already.
build_netloop() {
  if [ "$NETLOOP" = target/release/netloop ]; then
    cargo build --release --bin netloop >&2
  fi
  [ -x "$NETLOOP" ] || { echo "no netloop binary at $NETLOOP" >&2; exit 2; }
}

# start_server KIND [PREFIX...]: KIND is netloop (`netloop echo`) or node
# (bench/peers/node_echo.js); PREFIX (e.g. `prlimit --nofile=64:64`) goes
# before the command. Sets SPID and SPORT; the server's output goes to
# $SERVER_LOG (default $RESULTS/server-KIND.out).
start_server() {
  local kind=$1
  shift
  local out=${SERVER_LOG:-$RESULTS/server-$kind.out} cmd
  case $kind in
    # shellcheck disable=SC2206 # ECHO_ARGS is split into words on purpose
    netloop) cmd=("$NETLOOP" echo --host 127.0.0.1 --port 0 --quiet $ECHO_ARGS) ;;
    node)
      [ -n "$NODE" ] || { echo "node is not installed" >&2; return 1; }
      cmd=("$NODE" bench/peers/node_echo.js 0) ;;
    *) echo "unknown server $kind" >&2; return 1 ;;
  esac
  : >"$out"
  "$@" "${cmd[@]}" >"$out" 2>&1 &
  SPID=$!
  # Bounded wait for the listening line (10 s).
  for _ in $(seq 200); do
    grep -q 'listening on' "$out" && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.05
  done
  SPORT=$(grep -o 'listening on [^ ]*' "$out" | head -1 | grep -o '[0-9]*$' || true)
  if [ -z "$SPORT" ]; then
    echo "$kind did not start: $(head -c 300 "$out")" >&2
    stop_server
    return 1
  fi
}

stop_server() {
  if [ -n "$SPID" ]; then
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
  fi
  SPID=""
}

server_alive() { [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; }
server_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SPID/status" 2>/dev/null || echo 0; }
server_fds() { ls "/proc/$SPID/fd" 2>/dev/null | wc -l; }

# wait_fds_at_most N SECS: poll (every 0.1 s, at most SECS) until the
# server holds at most N descriptors; false if it never does.
wait_fds_at_most() {
  local n=$1 tries=$(( $2 * 10 ))
  for _ in $(seq "$tries"); do
    [ "$(server_fds)" -le "$n" ] && return 0
    sleep 0.1
  done
  [ "$(server_fds)" -le "$n" ]
}

# json_int JSON KEY: the integer value of "KEY": N in one flat JSON object.
json_int() { grep -o "\"$2\": [0-9]*" <<<"$1" | grep -o '[0-9]*$' || echo ""; }
json_num() { grep -o "\"$2\": [0-9.e+-]*" <<<"$1" | awk '{print $2}' || echo ""; }
