#!/bin/sh
# The benchmark baseline: what core0's boot scripts do, one step after the other, in
# the same VM as nodeboot. Prints JSON lines the harness reads like nodeboot's stream:
# {"event":"cache.ready","ms":N} and {"event":"gate.released","ms":N,"reason":…},
# ms counted from this script's start (/proc/uptime).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
read -r t0 _ < /proc/uptime
ms() { read -r now _ < /proc/uptime; awk -v a="$t0" -v b="$now" 'BEGIN{printf "%d", (b-a)*1000}'; }
emit() { echo "{\"event\":\"$1\",\"ms\":$(ms)$2}"; }
emit boot.start ',"mode":"bench"'

# Drivers (udev coldplug in core0), then settle.
# Coldplug: modprobe every MODALIAS, again until nothing new loads (virtio_pci's
# devices appear only once it is loaded, then virtio_scsi's disks).
coldplug() {
  before=
  while [ "$before" != "$(cat /proc/modules | wc -l)" ]; do
    before=$(cat /proc/modules | wc -l)
    # One modprobe per alias, in parallel, as udev's workers do in core0.
    for alias in $(find /sys/devices -name modalias -exec cat {} + | sort -u); do
      modprobe -q "$alias" 2>/dev/null &
    done
    wait
    sleep 0.2
  done
}
coldplug
emit bench.step ',"step":"coldplug"'
sleep 2

# Cache: the labelled filesystem, else the first blank SSD, else the first blank HDD;
# "first" in sysfs devpath order, nodeboot's documented order (docs/vm.md).
pool=/mnt/storagepool/sp_zos-cache
dev=$(findfs LABEL=sp_zos-cache 2>/dev/null)
if [ -z "$dev" ]; then
  for want in 0 1; do
    for b in $(for l in /sys/block/*; do readlink -f "$l"; done | sort); do
      d=${b##*/}
      case "$d" in loop*|ram*|zram*|dm-*|md*|nbd*|sr*) continue ;; esac
      [ "$(cat "$b/queue/rotational")" = "$want" ] || continue
      ls -d "$b/$d"* >/dev/null 2>&1 && continue          # has partitions
      blkid -p "/dev/$d" >/dev/null 2>&1 && continue        # has a signature
      disk=$d; break 2
    done
  done
  if [ -n "$disk" ]; then
    case "$disk" in nvme*) part=/dev/${disk}p1 ;; *) part=/dev/${disk}1 ;; esac
    sgdisk -o -n 1:0:0 -c 1:sp_zos-cache "/dev/$disk" >/dev/null
    emit bench.step ',"step":"partition"'
    partx -a "/dev/$disk" 2>/dev/null
    while [ ! -b "$part" ]; do sleep 0.1; done
    mkfs.btrfs -q -f -L sp_zos-cache "$part" >/dev/null 2>&1
    emit bench.step ',"step":"mkfs"'
    dev=$part
  fi
fi
if [ -n "$dev" ]; then
  ts=$(date +%Y%m%d-%H%M%S)
  mkdir -p "$pool" && mount -t btrfs "$dev" "$pool"
  [ -d "$pool/cache" ] || btrfs subvolume create "$pool/cache" >/dev/null
  [ -d "$pool/logs" ] || btrfs subvolume create "$pool/logs" >/dev/null
  btrfs subvolume create "$pool/logs/$ts" >/dev/null
  mount -t btrfs -o subvol=cache "$dev" /var/cache
  mount -t btrfs -o "subvol=logs/$ts" "$dev" /var/log
  emit cache.ready ",\"device\":\"${dev#/dev/}\""
else
  emit cache.none
fi

# Network: udhcpc on every NIC, one after the other.
for n in /sys/class/net/*; do
  i=${n##*/}; [ "$i" = lo ] && continue
  ip link set "$i" up
  udhcpc -f -q -n -t 3 -T 1 -i "$i" -s /usr/share/udhcpc/default.script >/dev/null 2>&1 \
    && emit dhcp.leased ",\"nic\":\"$i\""
done

# Wait for the internet: one connect a second, at most 60 s.
reason=timeout
while [ "$(ms)" -lt 60000 ]; do
  if nc -w 1 10.0.2.100 80 -e true </dev/null 2>/dev/null; then reason=reachable; break; fi
  sleep 1
done
emit gate.released ",\"reason\":\"$reason\""
sync
poweroff -f
