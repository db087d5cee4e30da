#!/bin/sh
# A stand-in service that reports what the guest looks like from inside, one fact per
# line (service output goes on nodeboot's log stream), then stays up like a daemon.
# The harness (vm.py) asserts on these lines.
pool=/mnt/storagepool/sp_zos-cache
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
echo "vm-inspect done"
exec sleep 2147483647
