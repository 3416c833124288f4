#!/usr/bin/env bash
# The chat example in a real browser: builds it, starts it on a free loopback port, runs
# interop/browser/chat.mjs (two Chromium pages talk through it; one leaves), then stops
# everything. Bounded in time: every step has a timeout.
#
# Usage (from anywhere):  interop/chat.sh [--update-screenshot]
#   --update-screenshot   also copy the screenshot (target/chat-screenshot.png) to
#                         docs/chat.png, the one the README shows
# Environment: CHROMIUM_PATH (default /usr/bin/chromium).
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
CHAT_PID=""

cleanup() {
  local rc=$?
  if [[ -n "$CHAT_PID" ]]; then
    kill -TERM -- "-$CHAT_PID" 2>/dev/null || kill -TERM "$CHAT_PID" 2>/dev/null || true
    wait "$CHAT_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 ]]; then
    echo "chat log:" >&2
    cat "$LOG/chat.out" "$LOG/chat.err" >&2 2>/dev/null || true
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

echo "chat.sh: cargo build --release --example chat" >&2
timeout 1200 cargo build --release --example chat >&2

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=$((20000 + RANDOM % 20000))
while port_in_use "$PORT"; do PORT=$((PORT + 1)); done

setsid target/release/examples/chat "127.0.0.1:$PORT" >"$LOG/chat.out" 2>"$LOG/chat.err" </dev/null &
CHAT_PID=$!
for _ in $(seq 1 100); do
  grep -q "open http://" "$LOG/chat.out" 2>/dev/null && break
  kill -0 "$CHAT_PID" 2>/dev/null || { echo "chat.sh: the chat exited at start" >&2; exit 1; }
  sleep 0.1
done
grep -q "open http://" "$LOG/chat.out" || { echo "chat.sh: the chat did not start within 10s" >&2; exit 1; }
echo "chat.sh: $(head -n 2 "$LOG/chat.out" | tr '\n' ' ')" >&2

rm -f "$SHOT"
status=0
timeout 120 node interop/browser/chat.mjs "$PORT" "$SHOT" || status=$?
kill -0 "$CHAT_PID" 2>/dev/null || { echo "FAIL chat process exited during the test" ; status=1; }

if [[ $status -eq 0 && $UPDATE == 1 ]]; then
  mkdir -p docs
  cp "$SHOT" docs/chat.png
  echo "chat.sh: screenshot copied to docs/chat.png" >&2
fi
[[ $status -eq 0 ]] && echo "chat.sh: the chat works in Chromium (screenshot: target/chat-screenshot.png)"
exit "$status"
