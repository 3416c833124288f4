#!/usr/bin/env bash
# Build the example firmwares (release) and run them on QEMU's lm3s6965evb (a Cortex-M3).
# The firmware prints its checks over semihosting and exits through semihosting: 0 when
# every check passed. This script exits non-zero on a failed check, a panic, or a hang
# (QEMU is stopped after $FIRMWARE_TIMEOUT seconds, 120 by default).
#
# Installs what it needs if missing: the thumbv7m-none-eabi target (rustup) and
# qemu-system-arm (apt-get, as root or through sudo).
set -euo pipefail
cd "$(dirname "$0")"

target=thumbv7m-none-eabi
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
if ! command -v qemu-system-arm >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq qemu-system-arm >/dev/null
fi

# The main firmware (the sans-IO API), then the embedded-io-async adapter on
# embassy-executor (feature `embassy`, src/bin/embassy.rs).
cargo build --release --target "$target" --bin sockless-firmware
cargo build --release --target "$target" --features embassy --bin embassy

run() {
  local elf=target/$target/release/$1 status=0
  echo "=== $1"
  timeout "${FIRMWARE_TIMEOUT:-120}" qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb \
    -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$elf" || status=$?
  case $status in
    0) echo "$1: every check passed" ;;
    124) echo "$1: no result within ${FIRMWARE_TIMEOUT:-120} s (a hang)" >&2 ;;
    *) echo "$1: failed (exit status $status)" >&2 ;;
  esac
  return "$status"
}

status=0
run sockless-firmware || status=$?
run embassy || status=$?
exit "$status"
