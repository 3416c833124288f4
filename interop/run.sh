#!/usr/bin/env bash
# Out-of-process interoperability harness for sockless.
#
# Usage (from the repo root):  interop/run.sh
#
# Runs the sockless examples against independent WebSocket implementations:
#   echo_server  <- Python websockets client, Node ws client, headless Chromium
#   echo_client  -> Python websockets server, Node ws server
#   wss_echo_server <- Python websockets client over TLS   (peer "python-wss")
#   wss_echo_client -> Python websockets server over TLS   (peer "python-wss")
# The wss cases use a self-signed certificate made at run time with openssl.
# The same server and client matrices run again with permessage-deflate (RFC 7692) on:
#   echo_server --deflate <- Python, Node and Chromium clients offering it
#                            (peers "python-deflate", "node-deflate", "chromium-deflate")
#   echo_client --deflate -> Python and Node servers accepting it
#                            ("python-deflate", "node-deflate")
#
# Environment:
#   SOCKLESS_INTEROP=require  a missing or uninstallable peer is a FAILURE
#                             (default: it is reported as SKIP and skipped)
#   INTEROP_PEERS="python node chromium"   which peers to run (default: all)
#   ECHO_SERVER_CMD / ECHO_CLIENT_CMD       override the programs under test
#       (a command line; the address / URL is appended). Defaults:
#       target/release/examples/echo_server and .../echo_client
#   WSS_ECHO_SERVER_CMD / WSS_ECHO_CLIENT_CMD  the same for the wss cases
#       (the server gets ADDRESS CERT.pem KEY.pem, the client URL CA.pem); defaults
#       target/release/examples/wss_echo_server and .../wss_echo_client
#       (cargo build --release --features rustls --example wss_echo_server
#        --example wss_echo_client)
#   INTEROP_DEFLATE=0         leave out the permessage-deflate cases (default: run them)
#   CHROMIUM_PATH             browser binary (default /usr/bin/chromium)
#   INTEROP_KEEP_LOGS=1       keep the log directory even when all passed
#
# Prints one PASS/FAIL/SKIP line per case, a summary table, and finally the
# line "N passed, M failed". Exits non-zero if anything failed.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INTEROP="$ROOT/interop"
cd "$ROOT"

REQUIRE=0
[[ "${SOCKLESS_INTEROP:-}" == "require" ]] && REQUIRE=1
PEERS=" ${INTEROP_PEERS:-python node chromium} "
CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
export CHROMIUM_PATH
read -r -a ECHO_SERVER <<<"${ECHO_SERVER_CMD:-$ROOT/target/release/examples/echo_server}"
read -r -a ECHO_CLIENT <<<"${ECHO_CLIENT_CMD:-$ROOT/target/release/examples/echo_client}"
read -r -a WSS_ECHO_SERVER <<<"${WSS_ECHO_SERVER_CMD:-$ROOT/target/release/examples/wss_echo_server}"
read -r -a WSS_ECHO_CLIENT <<<"${WSS_ECHO_CLIENT_CMD:-$ROOT/target/release/examples/wss_echo_client}"

VENV="$INTEROP/.venv"
VENV_PY="$VENV/bin/python"

LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sockless-interop.XXXXXX")
RESULTS="$LOGDIR/results.tsv"
: >"$RESULTS"
T_START=$(date +%s)

# ---------------------------------------------------------------- processes
# Every process is started in its own session (setsid), so its whole process
# group can be killed; PIDS holds the ones still running.
PIDS=()

kill_group() {
  local pid=$1
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

forget_pid() {
  local pid=$1 p
  local keep=()
  for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill_group "$p"; done
  if [[ $rc -eq 0 && "${INTEROP_KEEP_LOGS:-0}" != 1 ]]; then
    rm -rf "$LOGDIR"
  else
    echo "logs kept in $LOGDIR" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg OUTFILE ERRFILE CMD... ; sets BG_PID
start_bg() {
  local out=$1 err=$2
  shift 2
  setsid "$@" >"$out" 2>"$err" </dev/null &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

# wait_bg PID ; sets BG_RC (waits in the background-friendly way so signals
# still reach the traps)
wait_bg() {
  BG_RC=0
  wait "$1" || BG_RC=$?
  forget_pid "$1"
}

# run_fg OUTFILE ERRFILE CMD... ; sets BG_RC
run_fg() {
  start_bg "$@"
  wait_bg "$BG_PID"
}

# ------------------------------------------------------------------ results
add_result() { # peer role case result [detail]
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$RESULTS"
}

record() { # peer role case result [detail]  (also prints the line)
  add_result "$@"
  local line="$4 $1 $2 $3"
  [[ -n "${5:-}" ]] && line+=": $5"
  echo "$line"
}

# A peer that cannot be run: SKIP, or FAIL under SOCKLESS_INTEROP=require.
declare -A REPORTED_UNAVAILABLE=()
unavailable() { # peer why  (reported once per peer)
  [[ -n "${REPORTED_UNAVAILABLE[$1]:-}" ]] && return 0
  REPORTED_UNAVAILABLE[$1]=1
  if [[ $REQUIRE == 1 ]]; then
    record "$1" setup available FAIL "$2"
  else
    add_result "$1" - - SKIP "$2"
    echo "SKIP $1: $2"
  fi
}

# parse_output FILE PEER ROLE EXIT_CODE ERRFILE [quiet]: turns PASS/FAIL lines into
# results; a non-zero exit without any FAIL line (crash, timeout) is a failure
# (not checked with "quiet").
parse_output() {
  local file=$1 peer=$2 role=$3 rc=$4 errfile=$5 line res p r rest name why
  local nfail=0 npass=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" =~ ^(PASS|FAIL)\ ([^ ]+)\ ([^ ]+)\ (.+)$ ]]; then
      res=${BASH_REMATCH[1]} p=${BASH_REMATCH[2]} r=${BASH_REMATCH[3]} rest=${BASH_REMATCH[4]}
      if [[ $res == FAIL ]]; then
        name=${rest%%: *}
        why=${rest#*: }
        [[ "$why" == "$rest" ]] && why=""
        nfail=$((nfail + 1))
      else
        name=${rest%% (*}
        why=""
        npass=$((npass + 1))
      fi
      add_result "$p" "$r" "$name" "$res" "$why"
      echo "$line"
    fi
  done <"$file"
  [[ "${6:-}" == quiet ]] && return 0
  if [[ $rc -ne 0 && $nfail -eq 0 ]]; then
    local how="exit code $rc"
    [[ $rc -eq 124 ]] && how="timed out (exit 124)"
    record "$peer" "$role" process-exit FAIL "$how; stderr: $(tail -c 300 "$errfile" | tr '\n' ' ')"
  elif [[ $rc -eq 0 && $npass -eq 0 ]]; then
    record "$peer" "$role" process-exit FAIL "exited 0 but reported no case"
  fi
}

# -------------------------------------------------------------------- ports
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
NEXT_PORT=19001
pick_port() { # sets PORT
  local p=$NEXT_PORT
  while port_in_use "$p"; do p=$((p + 1)); done
  PORT=$p
  NEXT_PORT=$((p + 1))
}

# wait_for_line FILE REGEX PID SECONDS
wait_for_line() {
  local file=$1 re=$2 pid=$3 secs=$4
  for _ in $(seq 1 $((secs * 10))); do
    grep -Eq -- "$re" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { grep -Eq -- "$re" "$file" 2>/dev/null && return 0; return 1; }
    sleep 0.1
  done
  return 1
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# -------------------------------------------------------------------- setup
PY_OK=0 NODE_OK=0 BROWSER_OK=0 PY_WHY="" NODE_WHY="" BROWSER_WHY=""

want() { [[ "$PEERS" == *" $1 "* ]]; }

setup_python() {
  if ! command -v python3 >/dev/null; then PY_WHY="python3 not found"; return; fi
  if [[ ! -x "$VENV_PY" ]]; then
    echo "setup: creating $VENV" >&2
    python3 -m venv "$VENV" >&2 || { PY_WHY="python3 -m venv failed"; return; }
  fi
  # A no-op (and offline) when the pinned requirement is already satisfied.
  if ! "$VENV_PY" -m pip install -q --disable-pip-version-check \
      -r "$INTEROP/python/requirements.txt" >"$LOGDIR/pip.log" 2>&1; then
    PY_WHY="pip install websockets failed: $(tail -n 1 "$LOGDIR/pip.log")"
    return
  fi
  "$VENV_PY" -c 'import websockets.asyncio.client' 2>/dev/null || { PY_WHY="websockets not importable"; return; }
  PY_OK=1
}

# npm_setup DIR PACKAGE: installs DIR/package.json unless PACKAGE is already
# installed at the version pinned there.
npm_setup() {
  local dir=$1 pkg=$2 want have
  want=$(node -p "require('$dir/package.json').dependencies['$pkg']" 2>/dev/null) || return 1
  have=$(node -p "require('$dir/node_modules/$pkg/package.json').version" 2>/dev/null || true)
  if [[ "$have" != "$want" ]]; then
    echo "setup: npm install in $dir" >&2
    (cd "$dir" && npm install --no-audit --no-fund --no-package-lock) >"$LOGDIR/npm-$pkg.log" 2>&1 || return 1
  fi
}

node_ok() {
  command -v node >/dev/null && command -v npm >/dev/null &&
    [[ $(node -p 'process.versions.node.split(".")[0]') -ge 20 ]]
}

setup_node() {
  if ! node_ok; then NODE_WHY="node >= 20 and npm not found"; return; fi
  npm_setup "$INTEROP/node" ws || { NODE_WHY="npm install ws failed (see $LOGDIR/npm-ws.log)"; return; }
  NODE_OK=1
}

setup_browser() {
  if ! node_ok; then BROWSER_WHY="node >= 20 and npm not found"; return; fi
  if [[ ! -x "$CHROMIUM_PATH" ]]; then
    if [[ "$CHROMIUM_PATH" == /usr/bin/chromium ]] && command -v apt-get >/dev/null; then
      echo "setup: apt-get install chromium" >&2
      export DEBIAN_FRONTEND=noninteractive
      as_root apt-get install -y chromium >"$LOGDIR/apt.log" 2>&1 ||
        { as_root apt-get update >>"$LOGDIR/apt.log" 2>&1 && as_root apt-get install -y chromium >>"$LOGDIR/apt.log" 2>&1; } || true
    fi
    [[ -x "$CHROMIUM_PATH" ]] || { BROWSER_WHY="$CHROMIUM_PATH missing and could not be installed"; return; }
  fi
  npm_setup "$INTEROP/browser" playwright-core ||
    { BROWSER_WHY="npm install playwright-core failed (see $LOGDIR/npm-playwright-core.log)"; return; }
  BROWSER_OK=1
}

want python && setup_python
want node && setup_node
want chromium && setup_browser

# The programs under test.
SUT_OK=1
if [[ -z "${ECHO_SERVER_CMD:-}" || -z "${ECHO_CLIENT_CMD:-}" ]]; then
  if [[ ! -x "${ECHO_SERVER[0]}" || ! -x "${ECHO_CLIENT[0]}" ]]; then
    echo "setup: building examples (cargo build --release --examples)" >&2
    cargo build --release --examples >"$LOGDIR/cargo.log" 2>&1 || true
  fi
fi
for prog in "${ECHO_SERVER[0]}" "${ECHO_CLIENT[0]}"; do
  if ! command -v "$prog" >/dev/null; then
    record sockless setup "$(basename "$prog")-exists" FAIL "$prog not found (cargo build --release --examples)"
    SUT_OK=0
  fi
done

# The wss programs and a certificate for them (only when the Python peer runs).
WSS_OK=0 WSS_WHY=""
setup_wss() {
  if ! command -v openssl >/dev/null; then WSS_WHY="openssl not found (needed to make the test certificate)"; return; fi
  if [[ -z "${WSS_ECHO_SERVER_CMD:-}" || -z "${WSS_ECHO_CLIENT_CMD:-}" ]]; then
    if [[ ! -x "${WSS_ECHO_SERVER[0]}" || ! -x "${WSS_ECHO_CLIENT[0]}" ]]; then
      echo "setup: building wss examples (cargo build --release --features rustls)" >&2
      cargo build --release --features rustls --example wss_echo_server --example wss_echo_client \
        >"$LOGDIR/cargo-wss.log" 2>&1 || true
    fi
  fi
  local prog
  for prog in "${WSS_ECHO_SERVER[0]}" "${WSS_ECHO_CLIENT[0]}"; do
    command -v "$prog" >/dev/null || { WSS_WHY="$prog not found (cargo build --release --features rustls --example $(basename "$prog"))"; return; }
  done
  # A self-signed end-entity certificate for localhost and 127.0.0.1, made now, valid one
  # day; the peers trust exactly it. Nothing secret is kept: it lives in the log directory.
  CERT="$LOGDIR/cert.pem" KEY="$LOGDIR/key.pem"
  if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
      -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
      -addext basicConstraints=critical,CA:FALSE -addext keyUsage=digitalSignature \
      -addext extendedKeyUsage=serverAuth -keyout "$KEY" -out "$CERT" >"$LOGDIR/openssl.log" 2>&1; then
    WSS_WHY="openssl req failed: $(tail -n 1 "$LOGDIR/openssl.log")"
    return
  fi
  WSS_OK=1
}
[[ $SUT_OK == 1 ]] && want python && setup_wss

# ------------------------------------------------- echo_server vs peer clients
# run_server_side [--deflate]: with --deflate, echo_server accepts permessage-deflate and
# every peer offers (and requires) it; the harness's own cases get a "-deflate" suffix.
run_server_side() {
  local flag=("$@") tag=""
  [[ ${#flag[@]} -gt 0 ]] && tag="-deflate"
  pick_port
  local port=$PORT url="ws://127.0.0.1:$PORT/" slog="$LOGDIR/echo_server$tag.err"
  echo "== echo_server ${flag[*]} on 127.0.0.1:$port" >&2
  start_bg "$LOGDIR/echo_server$tag.out" "$slog" "${ECHO_SERVER[@]}" "${flag[@]}" "127.0.0.1:$port"
  local spid=$BG_PID
  if ! wait_for_line "$slog" 'listening on' "$spid" 30; then
    record sockless server "listening$tag" FAIL "no 'listening on' line within 30s: $(tail -c 300 "$slog" | tr '\n' ' ')"
    kill_group "$spid"
    forget_pid "$spid"
    return
  fi
  record sockless server "listening$tag" PASS

  if want python; then
    if [[ $PY_OK == 1 ]]; then
      run_fg "$LOGDIR/python$tag-client.out" "$LOGDIR/python$tag-client.err" \
        timeout 130 "$VENV_PY" "$INTEROP/python/peer_client.py" "${flag[@]}" "$url"
      parse_output "$LOGDIR/python$tag-client.out" "python$tag" client "$BG_RC" "$LOGDIR/python$tag-client.err"
    else
      unavailable python "$PY_WHY"
    fi
  fi
  if want node; then
    if [[ $NODE_OK == 1 ]]; then
      run_fg "$LOGDIR/node$tag-client.out" "$LOGDIR/node$tag-client.err" \
        timeout 130 node "$INTEROP/node/peer_client.mjs" "${flag[@]}" "$url"
      parse_output "$LOGDIR/node$tag-client.out" "node$tag" client "$BG_RC" "$LOGDIR/node$tag-client.err"
    else
      unavailable node "$NODE_WHY"
    fi
  fi
  local browser_ran=0
  if want chromium; then
    if [[ $BROWSER_OK == 1 ]]; then
      run_fg "$LOGDIR/chromium$tag-client.out" "$LOGDIR/chromium$tag-client.err" \
        timeout 100 node "$INTEROP/browser/run.mjs" "${flag[@]}" "$port"
      parse_output "$LOGDIR/chromium$tag-client.out" "chromium$tag" client "$BG_RC" "$LOGDIR/chromium$tag-client.err"
      browser_ran=1
    else
      unavailable chromium "$BROWSER_WHY"
    fi
  fi

  # The server must have survived the whole matrix.
  if kill -0 "$spid" 2>/dev/null; then
    record sockless server "alive-after-peers$tag" PASS
  else
    wait_bg "$spid"
    record sockless server "alive-after-peers$tag" FAIL "echo_server exited early with code $BG_RC"
  fi
  # Give it a moment to log the browser's connection, then stop it.
  if [[ $browser_ran == 1 ]]; then
    wait_for_line "$slog" 'code=4000 reason="browser done"' "$spid" 5 || true
  fi
  kill_group "$spid"
  forget_pid "$spid"

  if [[ $browser_ran == 1 ]]; then
    if grep -qF 'code=4000 reason="browser done"' "$slog"; then
      record sockless server "log-close-4000-browser-done$tag" PASS
    else
      record sockless server "log-close-4000-browser-done$tag" FAIL "no line with code=4000 reason=\"browser done\" in the echo_server log"
    fi
  fi
  if [[ $PY_OK == 1 || $NODE_OK == 1 ]] && { want python || want node; }; then
    if grep -qF 'code=4000 reason="interop bye"' "$slog"; then
      record sockless server "log-close-4000-interop-bye$tag" PASS
    else
      record sockless server "log-close-4000-interop-bye$tag" FAIL "no line with code=4000 reason=\"interop bye\" in the echo_server log"
    fi
  fi
}

# ------------------------------------------------- peer servers vs echo_client
# The client under test: CLIENT_CMD URL CLIENT_TAIL..., with URL CLIENT_BASE:PORT/PATH.
CLIENT_CMD=("${ECHO_CLIENT[@]}") CLIENT_TAIL=() CLIENT_BASE="ws://127.0.0.1" CLIENT_NAME=echo_client

# run_client_side PEER CMD... (CMD gets PORT and the expected path appended)
run_client_side() {
  local peer=$1
  shift
  pick_port
  local port=$PORT path="/interop?peer=$peer"
  echo "== $peer peer server on 127.0.0.1:$port" >&2
  start_bg "$LOGDIR/$peer-server.out" "$LOGDIR/$peer-server.err" timeout 150 "$@" "$port" "$path"
  local ppid=$BG_PID
  if ! wait_for_line "$LOGDIR/$peer-server.out" '^ready' "$ppid" 30; then
    record "$peer" server ready FAIL "peer server did not print ready within 30s: $(tail -c 300 "$LOGDIR/$peer-server.err" | tr '\n' ' ')"
    kill_group "$ppid"
    forget_pid "$ppid"
    return
  fi
  run_fg "$LOGDIR/$CLIENT_NAME-$peer.out" "$LOGDIR/$CLIENT_NAME-$peer.err" \
    timeout 120 "${CLIENT_CMD[@]}" "$CLIENT_BASE:$port$path" "${CLIENT_TAIL[@]}"
  local crc=$BG_RC
  if [[ $crc -eq 0 ]]; then
    record "$peer" server "$CLIENT_NAME-exit-0" PASS
  else
    local how="exited with $crc"
    [[ $crc -eq 124 ]] && how="timed out after 120s"
    record "$peer" server "$CLIENT_NAME-exit-0" FAIL "$CLIENT_NAME $how: $(tail -c 300 "$LOGDIR/$CLIENT_NAME-$peer.err" | tr '\n' ' ')"
  fi
  # The client is gone: the peer server should finish within moments.
  for _ in $(seq 1 200); do kill -0 "$ppid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$ppid" 2>/dev/null; then
    kill_group "$ppid"
    forget_pid "$ppid"
    parse_output "$LOGDIR/$peer-server.out" "$peer" server 0 "$LOGDIR/$peer-server.err" quiet
    record "$peer" server peer-server-exit-0 FAIL "peer server still running 20s after $CLIENT_NAME exited; stopped by the harness"
    return
  fi
  wait_bg "$ppid"
  local prc=$BG_RC
  parse_output "$LOGDIR/$peer-server.out" "$peer" server "$prc" "$LOGDIR/$peer-server.err"
  if [[ $prc -eq 0 ]]; then
    record "$peer" server peer-server-exit-0 PASS
  else
    record "$peer" server peer-server-exit-0 FAIL "peer server exited with $prc"
  fi
}

# ------------------------------------------ wss_echo_server vs the Python client
run_wss_server_side() {
  pick_port
  local port=$PORT slog="$LOGDIR/wss_echo_server.err"
  echo "== wss_echo_server on 127.0.0.1:$port" >&2
  start_bg "$LOGDIR/wss_echo_server.out" "$slog" "${WSS_ECHO_SERVER[@]}" "127.0.0.1:$port" "$CERT" "$KEY"
  local spid=$BG_PID
  if ! wait_for_line "$slog" 'listening on' "$spid" 30; then
    record python-wss client wss-server-listening FAIL "no 'listening on' line within 30s: $(tail -c 300 "$slog" | tr '\n' ' ')"
    kill_group "$spid"
    forget_pid "$spid"
    return
  fi
  run_fg "$LOGDIR/python-wss-client.out" "$LOGDIR/python-wss-client.err" \
    timeout 130 "$VENV_PY" "$INTEROP/python/peer_client.py" --ca "$CERT" "wss://localhost:$port/"
  parse_output "$LOGDIR/python-wss-client.out" python-wss client "$BG_RC" "$LOGDIR/python-wss-client.err"
  if kill -0 "$spid" 2>/dev/null; then
    record python-wss client wss-server-alive-after-peer PASS
  else
    wait_bg "$spid"
    record python-wss client wss-server-alive-after-peer FAIL "wss_echo_server exited early with code $BG_RC"
  fi
  kill_group "$spid"
  forget_pid "$spid"
  if grep -qF 'code=4000 reason="interop bye"' "$slog"; then
    record python-wss client wss-server-log-close-4000 PASS
  else
    record python-wss client wss-server-log-close-4000 FAIL "no line with code=4000 reason=\"interop bye\" in the wss_echo_server log"
  fi
}

if [[ $SUT_OK == 1 ]]; then
  run_server_side
  if want python; then
    if [[ $PY_OK == 1 ]]; then run_client_side python "$VENV_PY" "$INTEROP/python/peer_server.py"; else unavailable python "$PY_WHY"; fi
  fi
  if want node; then
    if [[ $NODE_OK == 1 ]]; then run_client_side node node "$INTEROP/node/peer_server.mjs"; else unavailable node "$NODE_WHY"; fi
  fi
  if want python; then
    if [[ $PY_OK != 1 ]]; then
      unavailable python-wss "$PY_WHY"
    elif [[ $WSS_OK != 1 ]]; then
      unavailable python-wss "$WSS_WHY"
    else
      run_wss_server_side
      CLIENT_CMD=("${WSS_ECHO_CLIENT[@]}") CLIENT_TAIL=("$CERT") CLIENT_BASE="wss://localhost" CLIENT_NAME=wss_echo_client
      run_client_side python-wss "$VENV_PY" "$INTEROP/python/peer_server.py" --tls "$CERT" "$KEY"
    fi
  fi
fi

# ------------------------------------------------ the same with permessage-deflate on
DEFLATE_OK=1
[[ "${INTEROP_DEFLATE:-1}" == 0 ]] && DEFLATE_OK=0
if [[ $SUT_OK == 1 && $DEFLATE_OK == 1 ]]; then
  run_server_side --deflate
  CLIENT_CMD=("${ECHO_CLIENT[@]}" --deflate) CLIENT_TAIL=() CLIENT_BASE="ws://127.0.0.1" CLIENT_NAME=echo_client
  if want python; then
    if [[ $PY_OK == 1 ]]; then run_client_side python-deflate "$VENV_PY" "$INTEROP/python/peer_server.py" --deflate; else unavailable python "$PY_WHY"; fi
  fi
  if want node; then
    if [[ $NODE_OK == 1 ]]; then run_client_side node-deflate node "$INTEROP/node/peer_server.mjs" --deflate; else unavailable node "$NODE_WHY"; fi
  fi
fi

# ------------------------------------------------------------------ summary
PASSED=$(awk -F'\t' '$4=="PASS"' "$RESULTS" | wc -l)
FAILED=$(awk -F'\t' '$4=="FAIL"' "$RESULTS" | wc -l)
SKIPPED=$(awk -F'\t' '$4=="SKIP"' "$RESULTS" | wc -l)
echo
echo "Summary ($(($(date +%s) - T_START))s):"
awk -F'\t' 'BEGIN { printf "  %-10s %-7s %-34s %s\n", "peer", "role", "case", "result" }
  { d = ($5 != "" && $4 != "PASS") ? "  " $5 : ""; printf "  %-10s %-7s %-34s %s%s\n", $1, $2, $3, $4, d }' "$RESULTS"
echo
[[ $SKIPPED -gt 0 ]] && echo "$SKIPPED peer(s) skipped (set SOCKLESS_INTEROP=require to make that a failure)"
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
