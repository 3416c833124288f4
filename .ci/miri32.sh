#!/usr/bin/env bash
# The length and limit rules on a 32-bit target (usize of 32 bits), under miri: a 64-bit
# frame length that does not fit in usize must fail with 1009, never be truncated.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup +nightly component add miri rust-src >/dev/null
# A dev-dependency builds C code with -m32 for the i686 target.
if ! echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y gcc-multilib >/dev/null 2>&1 || { $sudo apt-get update >/dev/null && $sudo apt-get install -y gcc-multilib >/dev/null; }
fi
cargo +nightly miri setup --target i686-unknown-linux-gnu >/dev/null 2>&1 || true
# The tests about frame lengths (the rest runs natively; under miri it only costs time).
CARGO_TARGET_DIR=target/miri cargo +nightly miri test --target i686-unknown-linux-gnu \
  --test hostile --test framing -- length
