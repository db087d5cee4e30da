#!/usr/bin/env bash
# The size of nodeboot's binaries: the /init a node boots (tools/build-init) beside the
# operators' build (`cargo build --release`, every tool, symbols kept). Bytes on disk.
#   tools/bench/size.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
init=$("$repo/tools/build-init")
(cd "$repo" && cargo build --quiet --release --bin nodeboot) >&2
full="${CARGO_TARGET_DIR:-$repo/target}/x86_64-unknown-linux-gnu/release/nodeboot"
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
strip -o "$stripped" "$full"
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1000000 }'; }
init_b=$(stat -c %s "$init") full_b=$(stat -c %s "$full") stripped_b=$(stat -c %s "$stripped")
echo "size: /init (profile init, no tools): $init_b bytes ($(mb "$init_b") MB)"
echo "size: operators' build (release): $full_b bytes ($(mb "$full_b") MB; $(mb "$stripped_b") MB stripped)"
