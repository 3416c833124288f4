#!/usr/bin/env bash
# Build every fuzz target and run each for SECS seconds (default 60), one after another,
# starting from the generated seed corpus; the handshake-extension targets (deflate_negotiate,
# extended_connect: small, fast inputs) run SHORT seconds (default 30, at most SECS). Any
# crash, leak, timeout or RSS blow-up fails the script (cargo fuzz exits non-zero).
# Used by CI:  bash fuzz/run.sh 60        Usage: run.sh [SECS] [SHORT]
#
# New inputs go to fuzz/corpus/<target> (gitignored) and crashes to fuzz/artifacts/<target>.
set -euo pipefail

secs="${1:-60}"
short="${2:-30}"
if [ "$short" -gt "$secs" ]; then short="$secs"; fi
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! cargo +"$toolchain" fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo +"$toolchain" fuzz build

seeds="target/seeds"
rm -rf "$seeds"
cargo +"$toolchain" run --quiet --example seeds -- "$seeds"

for target in $(cargo +"$toolchain" fuzz list); do
    case "$target" in
        deflate_negotiate | extended_connect) run_secs="$short" ;;
        *) run_secs="$secs" ;;
    esac
    mkdir -p "corpus/$target" "$seeds/$target"
    echo "=== $target: ${run_secs}s"
    cargo +"$toolchain" fuzz run "$target" "corpus/$target" "$seeds/$target" -- \
        -max_total_time="$run_secs" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1
done
echo "=== all fuzz targets ran without a crash (${secs}s each, ${short}s for the short ones)"
