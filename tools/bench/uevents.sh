#!/usr/bin/env bash
# Live benchmark: bursts of N synthetic uevents (default 20,000) while nodeboot runs
# with --record; counts how many reached the core (journal lines), whether the socket
# overflowed (uevent.overflow / resync records), how long the loop took to drain them
# and the CPU it spent. Two bursts: one while nodeboot runs, one while it is frozen
# (SIGSTOP), so that every uevent must wait in the socket's receive buffer. Needs root.
#
#   tools/bench/uevents.sh [N]          (NODEBOOT_BIN=… skips the build)
#
# The uevents are `echo change > /sys/class/block/loopN/uevent` on a loop device this
# script attached (not allow-listed: nodeboot looks at it, never touches it). Block
# uevents reach every network namespace, so nodeboot runs in one of its own.
source "$(dirname "$0")/common.sh"
n=${1:-20000}
bin=$(bench_bin)
ip netns add "$node"
bench_disk 64M; disk=$made
bench_rules '["true", "{nic}"]'
trace="$work/boot.trace"
bench_start "$bin" --disk nbbench-none --record "$trace"
wait_line "$work/stream.jsonl" "\"event\":\"disk.seen\".*\"disk\":\"$disk\"" 20
sleep 1
hz=$(getconf CLK_TCK)

journaled() { # uevent inputs ("change" on our disk) in the journal
  grep -F "\"devname\":\"$disk\"" "$trace" | grep -F '"kind":"uevent"' | grep -cF '"action":"change"' || true
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$nb/stat"; }

burst() { # running|stopped
  local mode=$1 before ticks0 t0 t1 t2 got=0 last=-1 stable=0
  before=$(journaled); ticks0=$(cpu_ticks)
  [ "$mode" = stopped ] && kill -STOP "$nb"
  t0=$EPOCHREALTIME
  for ((i = 0; i < n; i++)); do echo change > "/sys/class/block/$disk/uevent"; done
  t1=$EPOCHREALTIME
  [ "$mode" = stopped ] && kill -CONT "$nb"
  # Drained when the count reaches N or stops growing for 2 s.
  while [ "$stable" -lt 20 ]; do
    got=$(( $(journaled) - before ))
    [ "$got" -ge "$n" ] && break
    if [ "$got" = "$last" ]; then stable=$((stable + 1)); else stable=0; last=$got; fi
    sleep 0.1
  done
  t2=$EPOCHREALTIME
  local cpu=$(( ($(cpu_ticks) - ticks0) * 1000 / hz ))
  local overflow resync
  overflow=$(grep -c '"event":"uevent.overflow"' "$work/stream.jsonl" || true)
  resync=$(grep -c '"event":"resync"' "$work/stream.jsonl" || true)
  python3 -c '
import sys
mode, n, got, t0, t1, t2, over, resync, cpu = sys.argv[1:]
n, got = int(n), int(got)
print(f"uevent burst, nodeboot {mode}: {n} sent in {(float(t1)-float(t0))*1000:.0f} ms; "
      f"{got} reached the core ({n - got} lost); all in the journal "
      f"{(float(t2)-float(t1))*1000:.0f} ms after the last write (checked every 100 ms); "
      f"uevent.overflow records so far {over}, resync {resync}; nodeboot CPU {cpu} ms")' \
    "$mode" "$n" "$got" "$t0" "$t1" "$t2" "$overflow" "$resync" "$cpu"
}
burst running
burst stopped
echo "nodeboot after the bursts: $(grep -E '^(VmRSS|VmHWM)' "/proc/$nb/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
kill -TERM "$nb"; wait "$nb" 2>/dev/null || true; nb=""
