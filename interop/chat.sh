#!/usr/bin/env bash
# The chat example in a real browser: builds it, starts it on a free loopback port, runs
# interop/browser/chat.mjs (two Chromium pages talk through it; a third asks for a name
# taken in the room, is refused and picks another; one leaves), then
# interop/browser/chat_restart.mjs (which starts a chat of its own, kills it under two
# pages and starts it again on the same port: the pages reconnect and talk), then
# chat.mjs again with the pages on two chat processes sharing their rooms through Redis
# (a redis-server of its own on a free port, no persistence), then stops everything.
# Bounded in time: every step has a timeout.
#
# Usage (from anywhere):  interop/chat.sh [--update-screenshot]
#   --update-screenshot   also copy the screenshot (target/chat-screenshot.png) to
#                         docs/chat.png, the one the README shows
# Environment: CHROMIUM_PATH (default /usr/bin/chromium); SOCKLESS_REDIS=require makes a
# missing redis-server a failure (otherwise the Redis case is skipped, saying so).
# Exits non-zero if the chat could not be built or started, or any check failed.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
UPDATE=0
for arg in "$@"; do
  case "$arg" in
    --update-screenshot) UPDATE=1 ;;
    *) echo "usage: $0 [--update-screenshot]" >&2; exit 2 ;;
  esac
done
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
SHOT="$ROOT/target/chat-screenshot.png"
LOG=$(mktemp -d "${TMPDIR:-/tmp}/sockless-chat.XXXXXX")
PIDS=()

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    for log in "$LOG"/*.out "$LOG"/*.err; do
      [[ -s "$log" ]] && { echo "--- $(basename "$log"):" >&2; cat "$log" >&2; }
    done
  fi
  rm -rf "$LOG"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The browser and its driver (playwright-core, pinned in interop/browser/package.json;
# it never downloads a browser).
command -v node >/dev/null && [[ $(node -p 'process.versions.node.split(".")[0]') -ge 20 ]] ||
  { echo "chat.sh: node >= 20 is required" >&2; exit 1; }
[[ -x "$CHROMIUM_PATH" ]] || { echo "chat.sh: $CHROMIUM_PATH not found (apt-get install chromium)" >&2; exit 1; }
want=$(node -p "require('$ROOT/interop/browser/package.json').dependencies['playwright-core']")
have=$(node -p "require('$ROOT/interop/browser/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [[ "$have" != "$want" ]]; then
  echo "chat.sh: npm install in interop/browser" >&2
  (cd interop/browser && timeout 300 npm install --no-audit --no-fund --no-package-lock) >&2
fi

echo "chat.sh: cargo build --release -p sockless-chat" >&2
timeout 1200 cargo build --release -p sockless-chat >&2

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local port=$((20000 + RANDOM % 20000))
  while port_in_use "$port"; do port=$((port + 1)); done
  echo "$port"
}

# start_chat NAME PORT [ARGS...]: a chat process on 127.0.0.1:PORT, up within 10 s.
start_chat() {
  local name=$1 port=$2 pid
  shift 2
  setsid target/release/chat "127.0.0.1:$port" "$@" >"$LOG/$name.out" 2>"$LOG/$name.err" </dev/null &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 100); do
    grep -q "open http://" "$LOG/$name.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "chat.sh: $name exited at start" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "open http://" "$LOG/$name.out" || { echo "chat.sh: $name did not start within 10s" >&2; exit 1; }
  echo "chat.sh ($name): $(head -n 2 "$LOG/$name.out" | tr '\n' ' ')" >&2
}

# still_running: every process started is alive.
still_running() {
  local pid
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done
}

PORT=$(free_port)
start_chat chat "$PORT"

rm -f "$SHOT"
status=0
timeout 120 node interop/browser/chat.mjs "$PORT" "$SHOT" || status=$?
still_running || { echo "FAIL chat process exited during the test" ; status=1; }

# The server killed and started again under the pages (the script runs that chat itself,
# and kills it when it ends).
if [[ $status -eq 0 ]]; then
  timeout 120 node interop/browser/chat_restart.mjs target/release/chat "$(free_port)" || status=$?
fi

# The same pages, each on its own chat process, the two sharing their rooms through Redis.
if ! command -v redis-server >/dev/null; then
  if [[ ${SOCKLESS_REDIS:-} == require ]]; then
    echo "FAIL chromium chat-redis: redis-server not found and SOCKLESS_REDIS=require"
    status=1
  else
    echo "SKIP chromium chat-redis: redis-server not found (apt-get install redis-server)"
  fi
elif [[ $status -eq 0 ]]; then
  REDIS_PORT=$(free_port)
  setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$LOG/redis.out" 2>"$LOG/redis.err" </dev/null &
  PIDS+=("$!")
  for _ in $(seq 1 100); do port_in_use "$REDIS_PORT" && break; sleep 0.1; done
  port_in_use "$REDIS_PORT" || { echo "chat.sh: redis-server did not start within 10s" >&2; exit 1; }
  PORT1=$(free_port)
  start_chat chat-a "$PORT1" --redis "redis://127.0.0.1:$REDIS_PORT/"
  PORT2=$(free_port)
  start_chat chat-b "$PORT2" --redis "redis://127.0.0.1:$REDIS_PORT/"
  timeout 120 node interop/browser/chat.mjs "$PORT1" "$LOG/chat-redis.png" "$PORT2" || status=$?
  still_running || { echo "FAIL a chat or redis-server process exited during the test" ; status=1; }
fi

if [[ $status -eq 0 && $UPDATE == 1 ]]; then
  mkdir -p docs
  cp "$SHOT" docs/chat.png
  echo "chat.sh: screenshot copied to docs/chat.png" >&2
fi
[[ $status -eq 0 ]] && echo "chat.sh: the chat works in Chromium, in one process, through a restart, and across processes on Redis (screenshot: target/chat-screenshot.png)"
exit "$status"
