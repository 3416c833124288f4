#!/usr/bin/env bash
# Flash size of the minimal no_std echo client (handshake with every check of the response,
# receive a text with its UTF-8 validated, send it back, answer Pings, close) for
# thumbv7em-none-eabihf, opt-level "z", LTO, panic=abort, one codegen unit: sockless
# against embedded-websocket (whose program answers Pings and the server's Close, but does
# not start the closing handshake itself). Prints .text + .rodata of each, and the largest symbols of
# the sockless build with --symbols.
set -euo pipefail
usage="usage: measure.sh [--symbols]"
symbols=0
for arg in "$@"; do
    case "$arg" in
        -h|--help)
            printf '%s\n\n%s\n\n%s\n' \
                "measure.sh: flash size of a minimal no_std echo client, sockless against embedded-websocket (thumbv7em-none-eabihf)" \
                "$usage" \
                "  --symbols   also list the 25 largest symbols of the sockless build"
            exit 0 ;;
        --symbols) symbols=1 ;;
        *) echo "measure.sh: unexpected argument '$arg' (expected [--symbols])" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")"
target=thumbv7em-none-eabihf
rustup target add "$target" >/dev/null 2>&1 || true
rustup component add llvm-tools >/dev/null 2>&1 || true
size_tool="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-size"
[ -x "$size_tool" ] || size_tool="$(command -v llvm-size || true)"
[ -n "$size_tool" ] || { echo "no llvm-size: rustup component add llvm-tools, or apt-get install llvm" >&2; exit 1; }
nm_tool="$(dirname "$size_tool")/llvm-nm"
[ -x "$nm_tool" ] || nm_tool="$(command -v llvm-nm || true)"

cargo build --release --quiet --target "$target"
printf '%-26s %8s %8s %8s %9s\n' program .text .rodata total KiB
for bin in sockless_echo embedded_websocket_echo; do
    elf="target/$target/release/$bin"
    "$size_tool" -A "$elf" | awk -v bin="$bin" '
        $1 == ".text" { text = $2 } $1 == ".rodata" { rodata = $2 }
        END { printf "%-26s %8d %8d %8d %9.2f\n", bin, text, rodata, text + rodata, (text + rodata) / 1024 }'
done
if [ "$symbols" = 1 ] && [ -n "$nm_tool" ]; then
    echo; echo "largest symbols of sockless_echo:"
    "$nm_tool" --size-sort -S --demangle -t d "target/$target/release/sockless_echo" | tail -25
fi
