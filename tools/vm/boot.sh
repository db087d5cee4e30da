#!/usr/bin/env bash
# Boot the VM once and print its console (see vm.py boot --help):
#   tools/vm/boot.sh [--init nodeboot|trivial|bench] [--disks ssd,hdd,nvme]
#                    [--nics nic0,nic1:down] [--append 'nodeboot.gate=5'] [--fresh]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
exec python3 "$VM_DIR/vm.py" boot "$@"
