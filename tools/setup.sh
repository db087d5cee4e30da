#!/usr/bin/env bash
# Install everything nodeboot's build, sandbox and tests use, on a fresh machine of the
# project's kind (Debian 12, root, Rust toolchain present). Idempotent and quiet when
# everything is there already. Usage: tools/setup.sh [--vm] [--browser]
set -euo pipefail

want_vm=0 want_browser=0
for a in "$@"; do
  case "$a" in
    --vm) want_vm=1 ;;
    --browser) want_browser=1 ;;
    *) echo "setup.sh: unknown flag $a" >&2; exit 2 ;;
  esac
done

# Debian packages: a command each, so we only call apt when something is missing.
declare -A pkg_for=(
  [mkfs.btrfs]=btrfs-progs [sgdisk]=gdisk [partx]=util-linux [wipefs]=util-linux
  [blkid]=util-linux [mkfs.ext4]=e2fsprogs [mkfs.xfs]=xfsprogs [mkfs.vfat]=dosfstools
  [pvcreate]=lvm2 [cryptsetup]=cryptsetup-bin [mdadm]=mdadm [ip]=iproute2
  [dnsmasq]=dnsmasq-base [python3]=python3 [cpio]=cpio [file]=file [sfdisk]=fdisk
  [mkfs.ntfs]=ntfs-3g [mkfs.exfat]=exfatprogs [make-bcache]=bcache-tools
  [genisoimage]=genisoimage [mkfs.f2fs]=f2fs-tools [mksquashfs]=squashfs-tools
  [modprobe]=kmod [depmod]=kmod
)
missing=()
for cmd in "${!pkg_for[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_for[$cmd]}")
done
# busybox and busybox-static conflict: keep whichever is installed.
command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
if [ "$want_vm" = 1 ]; then
  # QEMU itself is unpacked privately by tools/vm/build.sh: on this machine kind a plain
  # install would remove the preinstalled newer qemu-utils (vm-recipe.md).
  command -v zstd >/dev/null 2>&1 || missing+=(zstd)
  command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
fi
if [ "$want_browser" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-remove: never let an install remove a preinstalled package (vm-recipe.md).
  if ! apt-get install -y -qq --no-install-recommends --no-remove "${missing[@]}" >/dev/null; then
    # One refusal must not block the rest: install one by one, report what failed
    # (the tests that need it then fail with a clear message).
    for p in "${missing[@]}"; do
      apt-get install -y -qq --no-install-recommends --no-remove "$p" >/dev/null 2>&1 \
        || echo "setup: could not install $p" >&2
    done
  fi
fi

command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found (the machine's Rust toolchain is required)" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true

# tests/kmod_oracle.rs checks the modalias resolver against kmod on a real module tree:
# the running kernel's if it has one, else the Debian kernel the VM boots, unpacked
# under tools/vm/.cache/kernel (once; tools/vm/build.sh reuses it).
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "/lib/modules/$(uname -r)/modules.alias.bin" ] &&
  ! ls "$repo"/tools/vm/.cache/kernel/*/.done >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! "$repo/tools/vm/build.sh" --kernel-only >&2; then
    echo "setup: no module tree for tests/kmod_oracle.rs (tools/vm/build.sh --kernel-only, as root)" >&2
  fi
fi
