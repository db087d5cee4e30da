#!/usr/bin/env bash
# The VM scenarios (issue 4): build (cached), then run every scenario in
# tools/vm/scenarios.py one after the other, each under a hard timeout.
#   tools/vm/test.sh [SCENARIO...]        (tools/vm/scenarios.py --list)
# Needs root (apt, mknod). The last line is "N passed, M failed".
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$VM_DIR/build.sh"
exec python3 "$VM_DIR/scenarios.py" "$@"
