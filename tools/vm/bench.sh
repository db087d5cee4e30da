#!/usr/bin/env bash
# Whole-node benchmark: nodeboot vs a sequential core0-style boot script in the same
# VM; prints both times to cache.ready and gate.released and their ratio.
#   tools/vm/bench.sh [--runs N]      (default 3 runs each, alternating)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$VM_DIR/build.sh"
exec python3 "$VM_DIR/bench.py" "$@"
