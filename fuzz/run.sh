#!/usr/bin/env bash
# Build every fuzz target and run each for SECS seconds (default 60), one after another,
# starting from the generated seed corpus. Any crash, leak, timeout or RSS blow-up fails the
# script (cargo fuzz exits non-zero). Used by CI:  bash fuzz/run.sh 60
#
# New inputs go to fuzz/corpus/<target> (gitignored) and crashes to fuzz/artifacts/<target>.
set -euo pipefail

secs="${1:-60}"
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
    mkdir -p "corpus/$target" "$seeds/$target"
    echo "=== $target: ${secs}s"
    cargo +"$toolchain" fuzz run "$target" "corpus/$target" "$seeds/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1
done
echo "=== all fuzz targets ran ${secs}s each without a crash"
