#!/usr/bin/env bash
# Every live benchmark, one after the other (they share two cores: never in parallel).
# Prints each one's numbers; docs/benchmarks.md says what they mean. Needs root.
#   tools/bench/run-all.sh [--quick]     (--quick: 10 plug cycles, 2,000 uevents)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cycles=50 uevents=20000
[ "${1:-}" = --quick ] && { cycles=10; uevents=2000; }
if [ -z "${NODEBOOT_BIN:-}" ]; then
  (cd "$here/../.." && cargo build --release --quiet --bin nodeboot)
  export NODEBOOT_BIN="${CARGO_TARGET_DIR:-$here/../../target}/x86_64-unknown-linux-gnu/release/nodeboot"
fi
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, $("$NODEBOOT_BIN" --version)"
"$here/carrier.sh" "$cycles"
"$here/uevents.sh" "$uevents"
"$here/idle.sh" 10
"$here/size.sh"
