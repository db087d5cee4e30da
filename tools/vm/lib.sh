# Shared settings of the VM harness (sourced by build.sh, boot.sh, test.sh, bench.sh).
# Everything fetched or built lives under $VM_CACHE (gitignored), so a second build
# only redoes what changed.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
VM_CACHE=${VM_CACHE:-$VM_DIR/.cache}
VM_OUT=$VM_CACHE/out

log() { echo "vm: $*" >&2; }
die() { echo "vm: error: $*" >&2; exit 1; }

# The QEMU binary: the system's if installed, else the private copy build.sh unpacked
# (apt refuses qemu-system-x86 where it would remove a newer qemu-utils).
vm_qemu() {
  if command -v qemu-system-x86_64 >/dev/null 2>&1; then
    command -v qemu-system-x86_64
  elif [ -x "$VM_CACHE/qemu/usr/bin/qemu-system-x86_64" ]; then
    echo "$VM_CACHE/qemu/usr/bin/qemu-system-x86_64"
  else
    return 1
  fi
}
