#!/usr/bin/env bash
# A short end-to-end run over loopback: echo_client --once against echo_server.
# ECHO_SERVER_CMD / ECHO_CLIENT_CMD name another pair (as for interop/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/examples
server_cmd=${ECHO_SERVER_CMD:-$bin/echo_server}
client_cmd=${ECHO_CLIENT_CMD:-$bin/echo_client}
log=$(mktemp)
port=$((20000 + RANDOM % 20000))
"$server_cmd" "127.0.0.1:$port" 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
timeout 20 "$client_cmd" "ws://127.0.0.1:$port/e2e?check=1" --once "héllo, wörld ✓"
# A plain HTTP request is answered, and the server survives a bad client.
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; head -c 12 <&3" | grep -q "HTTP/1.1 400"
printf 'GARBAGE\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; head -c 12 <&3" | grep -q "HTTP/1.1 400"
timeout 20 "$client_cmd" "ws://127.0.0.1:$port/again" --once "still alive"
sleep 0.2
grep -q 'code=1000 reason="probe done"' "$log"
echo "e2e: $(basename "$client_cmd") and $(basename "$server_cmd") agree; server log:"
cat "$log"
