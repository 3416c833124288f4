#!/usr/bin/env bash
# The permessage-deflate peers of `sockless-compare deflate`: Python websockets and Node
# ws at the protocol level on the same compressed bytes. Run from the repository root
# after `COMPARE_DEFLATE_PEERS=1 cargo run --release --manifest-path
# benches/compare/Cargo.toml -- deflate` (which writes target/deflate-{ct,nct}.bin).
# Uses the interop harness's installs (interop/.venv, interop/node/node_modules).
set -euo pipefail
runs="${1:-5}"
count=200000
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
for mode in ct nct; do
  nct=0
  [[ $mode == nct ]] && nct=1
  wire="$root/target/deflate-$mode.bin"
  [[ -f "$wire" ]] || { echo "missing $wire: run sockless-compare deflate with COMPARE_DEFLATE_PEERS=1" >&2; exit 1; }
  echo "== $([[ $nct == 1 ]] && echo 'no context takeover' || echo 'context takeover')"
  "$root/interop/.venv/bin/python" "$here/deflate_python.py" "$wire" "$count" "$nct" "$runs"
  node "$here/deflate_node.mjs" "$root/interop/node/node_modules/ws" "$wire" "$count" "$nct" "$runs"
done
