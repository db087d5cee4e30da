#!/bin/sh
# A stand-in service that reports what the guest looks like from inside, one fact per
# line (service output goes on nodeboot's log stream as child.output), then stays up
# like a daemon. The harness (vm.py, scenarios.py) asserts on these lines.
# It waits (at most 10 min) for the cache's /var/cache mount, so a cache prepared
# after the gate (a hot-plugged disk) is reported too; then syncs, so a harness that
# pulls the plug after "vm-inspect done" loses nothing.
pool=/mnt/storagepool/sp_zos-cache
# vm.stream=ttyS1 (the stuck-console scenario): the console nobody reads is stuck, so
# copy the log stream from nodeboot's socket to ttyS1, where the harness reads it, and
# ask the socket for the node's status every 2 s (`vm-status ok` when it answers).
case " $(cat /proc/cmdline) " in
  *" vm.stream=ttyS1 "*)
    stty -F /dev/ttyS1 raw -echo 2>/dev/null
    /init logs -f --json > /dev/ttyS1 2>&1 &
    # Early records also went to the kernel's ring buffer (/dev/kmsg).
    echo "vm-kmsg $(dmesg | grep -c 'nodeboot: ')" > /dev/ttyS1
    ( while sleep 2; do
        if /init status > /dev/null 2>&1; then echo "vm-status ok"; else echo "vm-status failed"; fi
      done > /dev/ttyS1 2>&1 ) &
    ;;
esac
i=0
until grep -q ' /var/cache ' /proc/mounts; do
  i=$((i + 1)); [ "$i" -gt 1200 ] && break
  sleep 0.5
done
while read -r dev mp fs opts rest; do
  case "$mp" in
    /mnt/*|/var/*) echo "vm-inspect mount $dev $mp $fs $opts" ;;
  esac
done < /proc/mounts
if [ -d "$pool" ]; then
  btrfs subvolume list "$pool" 2>&1 | sed 's/^/vm-inspect subvol /'
fi
ls /var/log | sed 's/^/vm-inspect varlog /'
ip -4 -o addr show | awk '{print "vm-inspect addr", $2, $4}'
sync
echo "vm-inspect done"
exec sleep 2147483647
