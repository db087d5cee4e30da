#!/usr/bin/env bash
# Live benchmark: nodeboot's memory and wake-ups once a boot is done and nothing
# happens. A full sandbox boot (loop SSD → cache, veth + dnsmasq → lease, a TCP
# target → gate, one idle service), then SECONDS (default 10) of idle, measured on
# every thread of nodeboot: VmRSS / VmHWM, context switches (voluntary and not, from
# /proc/PID/task/*/status), and, when perf has tracepoints, syscalls entered (every
# syscall, and epoll_wait / epoll_pwait alone; perf says "<not counted>" with a run
# time of 0 when no thread ran at all, printed "0 (never ran)"). There should be no
# wake-up at all: no tick, no poll timeout while no timer is armed. Needs root.
#
#   tools/bench/idle.sh [SECONDS]        (the /init build; NODEBOOT_BIN=… skips the build;
#                                         IDLE_SMAPS=FILE keeps /proc/PID/smaps)
source "$(dirname "$0")/common.sh"
secs=${1:-10}
# What a node runs: the lean /init build (tools/build-init).
bin=${NODEBOOT_BIN:-$("$repo/tools/build-init")}
bench_net up dhcp
bench_disk 512M; ssd=$made; echo 0 > "/sys/block/$ssd/queue/rotational"
ip netns exec "$srv" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.1", 8080)); s.listen(16)
while True:
    c, _ = s.accept(); c.close()' &
bench_pids+=($!)
bench_rules "[\"busybox\", \"udhcpc\", \"-f\", \"-i\", \"{nic}\", \"-s\", \"$repo/tools/udhcpc.script\"]"
cat > "$work/rules/gate.toml" <<TOML
[gate]
targets = ["10.77.0.1:8080"]
TOML
cat > "$work/rules/services.toml" <<TOML
[[service]]
name = "idle"
argv = ["sleep", "100000"]
TOML
bench_start "$bin" --disk "$ssd" --disk "${ssd}p*" --record "$work/boot.trace"
for ev in cache.ready dhcp.leased gate.released service.started; do
  wait_line "$work/stream.jsonl" "\"event\":\"$ev\"" 60
done
sleep 3   # let the last children's output and timers settle

switches() { cat /proc/"$nb"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
threads=$(ls "/proc/$nb/task" | wc -l)
lines0=$(wc -l < "$work/stream.jsonl")
inputs0=$(wc -l < "$work/boot.trace")
sw0=$(switches)
perf_out=""
if command -v perf >/dev/null && [ -d /sys/kernel/tracing/events/syscalls/sys_enter_epoll_wait ]; then
  perf_out=$(perf stat -x, -e raw_syscalls:sys_enter -e syscalls:sys_enter_epoll_wait \
    -e syscalls:sys_enter_epoll_pwait -p "$nb" -- sleep "$secs" 2>&1 >/dev/null |
    awk -F, '{v = $1; if (v == "<not counted>" && $4 == 0) v = "0 (never ran)"; printf "%s %s; ", $3, v}')
else
  sleep "$secs"
fi
sw1=$(switches)
lines1=$(wc -l < "$work/stream.jsonl")
inputs1=$(wc -l < "$work/boot.trace")
mem=$(grep -E '^(VmRSS|VmHWM)' "/proc/$nb/status" | tr -s ' \t' ' ' | tr '\n' ' ')
if [ -n "${IDLE_SMAPS:-}" ]; then
  # Where the memory is: every mapping's resident size, and each thread's name.
  cat "/proc/$nb/smaps" > "$IDLE_SMAPS"
  for t in /proc/"$nb"/task/*; do echo "thread $(cat "$t/comm")"; done >> "$IDLE_SMAPS"
fi
if [ -n "${IDLE_STRACE:-}" ]; then
  # What wakes it, if anything: every syscall of every thread for a few seconds.
  timeout 3 strace -f -tt -p "$nb" -o "$IDLE_STRACE" 2>/dev/null || true
fi
# Inputs journaled in the window are outside events (block uevents from anything else
# on this machine reach every namespace), not idle wake-ups: say what they were.
kinds=$(tail -n +"$((inputs0 + 1))" "$work/boot.trace" | head -n "$((inputs1 - inputs0))" |
  python3 -c '
import collections, json, sys
c = collections.Counter()
for l in sys.stdin:
    try: r = json.loads(l)
    except ValueError: continue
    i = r.get("input") or {}
    u = i.get("uevent") or {}
    c[" ".join(x for x in (i.get("kind") or ("tick" if r.get("tick") else "?"), u.get("action"), u.get("devname")) if x)] += 1
print(", ".join(f"{k} ×{v}" for k, v in c.most_common(6)) or "none")')
echo "idle ${secs}s after boot: ${mem}threads $threads; context switches $((sw1 - sw0)); log records $((lines1 - lines0)); inputs $((inputs1 - inputs0)) ($kinds)"
[ -n "$perf_out" ] && echo "  syscalls entered (perf, all threads): $perf_out"
kill -TERM "$nb"; wait "$nb" 2>/dev/null || true; nb=""
