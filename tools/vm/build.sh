#!/usr/bin/env bash
# Build everything the VM scenarios boot: a Debian kernel (uncompressed vmlinux), an
# initramfs base (busybox, /sbin/modprobe, the driver modules, mkfs.btrfs and friends,
# the VM rules) and one small archive per /init variant, concatenated onto the base:
#   out/initrd-nodeboot   nodeboot as /init
#   out/initrd-trivial    a busybox script that lists what the guest sees, then powers off
#   out/initrd-bench      core0-style sequential boot script (the benchmark baseline)
# Installs what it needs (Debian packages; QEMU privately if apt refuses). Fetched and
# built pieces are cached under tools/vm/.cache: a second build only redoes the cheap
# parts. Usage: tools/vm/build.sh [--no-cargo]   (NODEBOOT_BIN=path overrides the binary)
#        tools/vm/build.sh --kernel-only   only the kernel and its module tree under
#        .cache/kernel (what tests/kmod_oracle.rs checks the modalias resolver against)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

no_cargo=0 kernel_only=0
for a in "$@"; do
  case "$a" in
    --no-cargo) no_cargo=1 ;;
    --kernel-only) kernel_only=1 ;;
    *) die "unknown flag $a" ;;
  esac
done

mkdir -p "$VM_CACHE/debs" "$VM_OUT"
export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update_once() { [ "$apt_updated" = 1 ] || { apt-get update -qq; apt_updated=1; }; }

# --- host tools -------------------------------------------------------------------
ensure_host_tools() {
  local -A pkg_for=([modprobe]=kmod [depmod]=kmod [cpio]=cpio [xz]=xz-utils
    [mkfs.btrfs]=btrfs-progs [sgdisk]=gdisk [blkid]=util-linux [python3]=python3
    [ldd]=libc-bin [file]=file)
  local missing=() cmd
  for cmd in "${!pkg_for[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_for[$cmd]}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_update_once
    apt-get install -y -qq --no-install-recommends --no-remove "${missing[@]}" >/dev/null
  fi
}

# apt-get download PKG into the cache (once); prints the .deb path.
fetch_deb() {
  local pkg=$1 deb
  deb=$(ls "$VM_CACHE/debs/${pkg}_"*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    apt_update_once
    (cd "$VM_CACHE/debs" && apt-get download -qq "$pkg" 2>/dev/null) || die "apt-get download $pkg failed"
    deb=$(ls "$VM_CACHE/debs/${pkg}_"*.deb | head -1)
  fi
  echo "$deb"
}

# QEMU: the system package if apt installs it without removing anything; otherwise
# (a newer qemu-utils from backports is installed) the bookworm binaries unpacked
# privately, with their libraries installed through apt (those conflict with nothing).
ensure_qemu() {
  vm_qemu >/dev/null && return 0
  apt_update_once
  if apt-get install -y -qq --no-install-recommends --no-remove qemu-system-x86 >/dev/null 2>&1; then
    return 0
  fi
  log "apt refuses qemu-system-x86 here (it would remove a package): unpacking it privately"
  local libs
  libs=$(apt-cache depends qemu-system-x86 qemu-system-common |
    awk '/Depends: (lib|zlib)/{print $2}' | sort -u)
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends --no-remove $libs seabios ipxe-qemu >/dev/null
  rm -rf "$VM_CACHE/qemu.tmp"
  local pkg
  for pkg in qemu-system-x86 qemu-system-common qemu-system-data; do
    dpkg -x "$(fetch_deb "$pkg")" "$VM_CACHE/qemu.tmp"
  done
  rm -rf "$VM_CACHE/qemu" && mv "$VM_CACHE/qemu.tmp" "$VM_CACHE/qemu"
  vm_qemu >/dev/null || die "no qemu-system-x86_64 after unpacking"
}

# A static busybox: the installed one if static, else busybox-static unpacked privately
# (busybox and busybox-static conflict: never swap the installed one).
busybox_static() {
  local bb
  bb=$(command -v busybox 2>/dev/null || true)
  if [ -n "$bb" ] && file -L "$bb" | grep -q 'statically linked'; then
    echo "$bb"; return
  fi
  if [ -z "$bb" ]; then
    apt_update_once
    if apt-get install -y -qq --no-install-recommends --no-remove busybox-static >/dev/null 2>&1; then
      command -v busybox; return
    fi
  fi
  if [ ! -x "$VM_CACHE/busybox-static/bin/busybox" ]; then
    rm -rf "$VM_CACHE/busybox-static"
    dpkg -x "$(fetch_deb busybox-static)" "$VM_CACHE/busybox-static"
  fi
  echo "$VM_CACHE/busybox-static/bin/busybox"
}

# --- kernel -------------------------------------------------------------------------
# The kernel linux-image-amd64 depends on; sets KVER and KROOT, writes out/vmlinux.
ensure_kernel() {
  apt_update_once_if_needed() { apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt_update_once; }
  apt_update_once_if_needed
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$pkg" ] || die "cannot tell which kernel linux-image-amd64 depends on"
  KVER=${pkg#linux-image-}
  KROOT=$VM_CACHE/kernel/$KVER
  if [ ! -f "$KROOT/.done" ]; then
    log "unpacking $pkg"
    rm -rf "$KROOT" && mkdir -p "$KROOT"
    dpkg -x "$(fetch_deb "$pkg")" "$KROOT"
    depmod -b "$KROOT" "$KVER"
    touch "$KROOT/.done"
  fi
  if [ ! -s "$VM_OUT/vmlinux-$KVER" ]; then
    # vmlinuz = boot stub + xz payload; the uncompressed ELF boots ~4 s faster under
    # TCG (no in-guest decompression).
    local vmlinuz=$KROOT/boot/vmlinuz-$KVER off
    off=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(d.find(b"\xfd7zXZ\x00"))' "$vmlinuz")
    [ "$off" -ge 0 ] || die "no xz payload in $vmlinuz"
    # (xz stops at the end of its stream; tail then dies of SIGPIPE: not an error)
    { tail -c +$((off + 1)) "$vmlinuz" || true; } | xz -dc --single-stream > "$VM_OUT/vmlinux-$KVER.tmp"
    file "$VM_OUT/vmlinux-$KVER.tmp" | grep -q ELF || die "extracted vmlinux is not an ELF"
    mv "$VM_OUT/vmlinux-$KVER.tmp" "$VM_OUT/vmlinux-$KVER"
  fi
  ln -sf "vmlinux-$KVER" "$VM_OUT/vmlinux"
}

# --- nodeboot -------------------------------------------------------------------------
nodeboot_binary() {
  if [ -n "${NODEBOOT_BIN:-}" ]; then echo "$NODEBOOT_BIN"; return; fi
  # The VMs boot what a node boots: the lean /init build (tools/build-init).
  if [ "$no_cargo" = 0 ]; then
    "$REPO/tools/build-init" || die "tools/build-init failed"
  else
    echo "${CARGO_TARGET_DIR:-$REPO/target}/x86_64-unknown-linux-gnu/init/nodeboot"
  fi
}

# --- initramfs ----------------------------------------------------------------------
MODULES=(virtio_pci virtio_blk virtio_net virtio_scsi sd_mod nvme ahci e1000 btrfs
  crc64_rocksoft_generic crct10dif_generic
  # QEMU's `-device i6300esb` watchdog (scenario pid1-field): loaded by its modalias.
  i6300esb)
DYNAMIC_TOOLS=(/usr/sbin/mkfs.btrfs /usr/bin/btrfs /usr/sbin/sgdisk /usr/sbin/blkid /usr/bin/partx)

# Copy a dynamic binary and its shared libraries (ldd), loader included.
copy_with_libs() {
  local bin=$1 root=$2 lib
  [ -e "$bin" ] || { bin=$(command -v "$(basename "$bin")") || die "missing $1"; }
  install -D -m 0755 "$(readlink -f "$bin")" "$root/usr/sbin/$(basename "$bin")"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

build_base() {
  local root=$VM_CACHE/base bb
  rm -rf "$root" && mkdir -p "$root"
  (cd "$root" && mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev run tmp var/log var/cache mnt root \
    usr/share/udhcpc etc/nodeboot lib64 lib/x86_64-linux-gnu)
  # /dev/console only: the kernel opens it for init's stdin/stdout/stderr before
  # devtmpfs exists. Nothing else, so /dev looks unmounted until init mounts devtmpfs.
  mknod -m 600 "$root/dev/console" c 5 1
  chmod 1777 "$root/tmp"

  bb=$(busybox_static)
  install -m 0755 "$bb" "$root/bin/busybox"
  local applet
  for applet in $("$bb" --list); do
    [ "$applet" = busybox ] && continue
    ln -sf busybox "$root/bin/$applet"
  done
  # /sbin/modprobe is what the kernel runs for request_module() (btrfs needs it).
  for applet in modprobe insmod rmmod depmod udhcpc poweroff reboot halt mdev; do
    ln -sf ../bin/busybox "$root/sbin/$applet"
  done

  local tool
  for tool in "${DYNAMIC_TOOLS[@]}"; do copy_with_libs "$tool" "$root"; done

  # Modules: the closure of what the VM's devices need, then depmod (modules.alias is
  # what `modprobe $MODALIAS` looks up).
  local mod path
  for mod in "${MODULES[@]}"; do
    modprobe -d "$KROOT" -S "$KVER" --show-depends "$mod" | awk '$1=="insmod"{print $2}'
  done | sort -u | while read -r path; do
    install -D -m 0644 "$path" "$root/lib/modules/$KVER/${path#"$KROOT"/lib/modules/"$KVER"/}"
  done
  cp "$KROOT/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$KVER/"
  depmod -b "$root" "$KVER"

  install -m 0755 "$VM_DIR/guest/udhcpc.script" "$root/usr/share/udhcpc/default.script"
  cp -r "$VM_DIR/guest/rules" "$root/etc/nodeboot/rules"
  # The power-off scenario's rules (pid1-field): the same, with a `ups` service.
  cp -r "$VM_DIR/guest/rules" "$root/etc/nodeboot/rules-poweroff"
  cp "$VM_DIR/guest/poweroff-services.toml" "$root/etc/nodeboot/rules-poweroff/services.toml"
  install -m 0755 "$VM_DIR/guest/inspect.sh" "$root/usr/bin/vm-inspect"
  echo "nodeboot-vm" > "$root/etc/hostname"
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\ntty:x:5:\n' > "$root/etc/group"

  (cd "$root" && find . -mindepth 1 | sort | cpio -o -H newc --quiet) > "$VM_OUT/base.cpio"
}

# One small archive holding /init (and whatever else the variant needs), appended to
# the base: the kernel unpacks concatenated newc archives in order.
build_variant() {
  local name=$1 init=$2 dir=$VM_CACHE/variant-$1
  rm -rf "$dir" && mkdir -p "$dir"
  install -m 0755 "$init" "$dir/init"
  (cd "$dir" && find . -mindepth 1 | sort | cpio -o -H newc --quiet) > "$VM_OUT/$name.cpio"
  cat "$VM_OUT/base.cpio" "$VM_OUT/$name.cpio" > "$VM_OUT/initrd-$name"
}

main() {
  [ "$(id -u)" = 0 ] || die "build.sh needs root (apt, mknod)"
  ensure_host_tools
  if [ "$kernel_only" = 1 ]; then
    ensure_kernel
    log "kernel $KVER and its modules in $KROOT"
    return 0
  fi
  ensure_qemu
  ensure_kernel
  local nb
  nb=$(nodeboot_binary)
  [ -x "$nb" ] || die "no nodeboot binary at $nb"
  file -L "$nb" | grep -qE 'statically linked|static-pie linked' || die "$nb is not static"
  build_base
  build_variant trivial "$VM_DIR/guest/trivial-init.sh"
  build_variant bench "$VM_DIR/guest/bench-init.sh"
  build_variant nodeboot "$nb"
  echo "$KVER" > "$VM_OUT/kernel-version"
  log "built: kernel $KVER; $(du -h "$VM_OUT/initrd-nodeboot" | cut -f1) initrd-nodeboot; qemu $(vm_qemu)"
}

main
