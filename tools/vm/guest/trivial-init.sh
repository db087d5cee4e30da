#!/bin/sh
# A trivial /init that validates the VM pipeline without nodeboot: modules load from
# MODALIAS, disks show their rotational flag, DHCP works, the reachability target
# answers, btrfs mounts. Powers off at the end.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
echo "trivial: start uptime=$(cut -d' ' -f1 /proc/uptime)"
# nodeboot.floor (tools/vm/bench.py --floor): the CPU each module load costs alone,
# one after the other, nothing else running: the drivers nodeboot loads on the way to
# the cache, btrfs, and one modprobe of an alias that names no module (the cost
# nodeboot's resolver saves per such alias). `time -p` says real, user and sys.
if grep -qw nodeboot.floor /proc/cmdline; then
  for m in virtio_pci nvme virtio_scsi sd_mod virtio_net btrfs acpi:PNP0501:; do
    time -p -o /tmp/floor modprobe -b "$m" >/dev/null 2>&1
    t=$(tr '\n' ' ' </tmp/floor)
    echo "floor: $m $t"
  done
  # Then a modprobe per MODALIAS of the guest, one after the other (the drivers are
  # loaded by now): what coldplug's process per alias costs without contention.
  find /sys/devices -name modalias -exec cat {} + | sort -u >/tmp/aliases
  time -p -o /tmp/floor sh -c 'while read -r a; do modprobe -b "$a"; done </tmp/aliases' \
    >/dev/null 2>&1
  echo "floor: every-alias($(wc -l </tmp/aliases)) $(tr '\n' ' ' </tmp/floor)"
  echo "floor: end"
  poweroff -f
fi
# Coldplug: modprobe every MODALIAS, again until nothing new loads (virtio_pci's
# devices appear only once it is loaded, then virtio_scsi's disks).
coldplug() {
  before=
  while [ "$before" != "$(cat /proc/modules | wc -l)" ]; do
    before=$(cat /proc/modules | wc -l)
    # shellcheck disable=SC2046
    modprobe -qa $(find /sys/devices -name modalias -exec cat {} + | sort -u) 2>/dev/null
    sleep 0.2
  done
}
coldplug
echo "trivial: modules $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
for b in /sys/class/block/*; do
  n=${b##*/}; echo "trivial: block $n rotational=$(cat "$b/queue/rotational" 2>/dev/null) size=$(cat "$b/size")"
done
for n in /sys/class/net/*; do
  i=${n##*/}; [ "$i" = lo ] && continue
  ip link set "$i" up; sleep 1
  echo "trivial: nic $i carrier=$(cat "$n/carrier" 2>/dev/null)"
done
for n in /sys/class/net/*; do
  i=${n##*/}; [ "$i" = lo ] && continue
  [ "$(cat "$n/carrier" 2>/dev/null)" = 1 ] || continue
  udhcpc -f -q -n -t 3 -T 1 -i "$i" -s /usr/share/udhcpc/default.script >/dev/null 2>&1 \
    && echo "trivial: dhcp $i $(ip -4 -o addr show dev "$i" | awk '{print $4}')"
done
if nc -w 2 10.0.2.100 80 -e true </dev/null; then echo "trivial: reach ok"; else echo "trivial: reach failed"; fi
mkfs.btrfs -q -f -L probe /dev/nvme0n1 2>&1 | head -5
mkdir -p /mnt/p && mount -t btrfs /dev/nvme0n1 /mnt/p && echo "trivial: btrfs ok $(grep /mnt/p /proc/mounts)"
echo "trivial: end uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
