#!/usr/bin/env bash
# Live benchmark: carrier-up → DHCP client exec latency (p50, p99 over N plug cycles),
# and plug → lease time with nodeboot vs plain busybox udhcpc on the same veth and
# dnsmasq (--no-ping). Not a test: prints numbers. Needs root.
#
#   tools/bench/carrier.sh [CYCLES]          (default 50; NODEBOOT_BIN=… skips the build)
#
# Clocks: every timestamp is CLOCK_REALTIME with µs or ns resolution, on both sides:
# the plug moment is bash's $EPOCHREALTIME right before and right after
# `ip link set nbs0 up` (the server end of the veth: the node end gets carrier);
# the client's exec is `$EPOCHREALTIME` in the first line of a busybox-sh wrapper
# nodeboot runs as its dhcp_command (which then execs udhcpc), so it includes the
# shell's start-up (a few ms, measured below as fork+exec+start from bash). The lease moment is taken by the udhcpc event script once
# the address is applied. Plug cycles are 1.5 s apart: the kernel delays or merges
# link changes closer than ~1 s.
source "$(dirname "$0")/common.sh"
cycles=${1:-50}
plain_cycles=$(( cycles < 20 ? cycles : 20 ))
bin=$(bench_bin)
bench_net down dhcp
times="$work/times"; : > "$times"

bb=$(command -v busybox)
cat > "$work/client" <<SH
#!$bb sh
echo "exec \$EPOCHREALTIME" >> $times
exec busybox udhcpc -f -i "\$1" -t 100 -T 1 -s $work/event
SH
cat > "$work/event" <<SH
#!/bin/sh
$repo/tools/udhcpc.script "\$@" >/dev/null
case "\$1" in bound|renew) echo "bound \$(date +%s.%N)" >> $times ;; esac
exit 0
SH
chmod +x "$work/client" "$work/event"

# The wrapper's own cost: sh start-up + date, measured outside any plug.
overhead=$(for _ in $(seq 20); do
  t0=$EPOCHREALTIME; "$bb" sh -c 'echo $EPOCHREALTIME' > "$work/o"; echo "$(cat "$work/o") - $t0"
done | python3 -c 'import sys; v=sorted(eval(l) for l in sys.stdin); print(f"{v[len(v)//2]*1000:.2f}")')

count() { grep -c "^$1 " "$times" || true; }

cycle() { # kind: nodeboot | plain-start | plain-running; logs "plug T0 T1"
  local n_bound; n_bound=$(count bound)
  # A client that has been asking since before the cable came (as at boot).
  if [ "$1" = plain-running ]; then ip netns exec "$node" "$work/client" nbe0 >/dev/null 2>&1 & fi
  sleep 1.5
  local t0=$EPOCHREALTIME; plug; local t1=$EPOCHREALTIME
  echo "plug $t0 $t1" >> "$times"
  if [ "$1" = plain-start ]; then ip netns exec "$node" "$work/client" nbe0 >/dev/null 2>&1 & fi
  local deadline=$((SECONDS + 10))
  until [ "$(count bound)" -gt "$n_bound" ]; do
    [ "$SECONDS" -ge "$deadline" ] && { echo "bench: no lease within 10 s" >&2; return 1; }
    sleep 0.01
  done
  unplug
  [ "$1" = nodeboot ] || ip netns pids "$node" | xargs -r kill
  ip -n "$node" -4 addr flush dev nbe0
}

# Pairs each plug with the first exec and bound lines stamped after it (and before the
# next plug; a fast client may write before the plug line itself is written):
# prints "exec-t0 exec-t1 bound-t0" (nan when a cycle had no exec).
pairs() {
  python3 -c '
import sys
rows = [l.split() for l in open(sys.argv[1])]
plugs = sorted((float(r[1]), float(r[2])) for r in rows if r[0] == "plug")
execs = sorted(float(r[1]) for r in rows if r[0] == "exec")
bounds = sorted(float(r[1]) for r in rows if r[0] == "bound")
for i, (t0, t1) in enumerate(plugs):
    end = plugs[i + 1][0] if i + 1 < len(plugs) else float("inf")
    ex = next((e for e in execs if t0 <= e < end), float("nan"))
    bd = next((b for b in bounds if t0 <= b < end), float("nan"))
    print(ex - t0, ex - t1, bd - t0)' "$times"
}

echo "== nodeboot: $cycles plug cycles" >&2
rules_client=$(printf '["%s", "{nic}"]' "$work/client")
bench_rules "$rules_client"
bench_start "$bin"
wait_line "$work/stream.jsonl" '"event":"nic.seen".*"nic":"nbe0"' 10
for i in $(seq "$cycles"); do cycle nodeboot; done
kill -TERM "$nb"; wait "$nb" 2>/dev/null || true; nb=""
pairs > "$work/nodeboot.pairs"
started=$(grep -c '"event":"dhcp.started"' "$work/stream.jsonl" || true)

ip -n "$node" link set nbe0 up
: > "$times"
echo "== plain udhcpc started at the plug: $plain_cycles cycles" >&2
for i in $(seq "$plain_cycles"); do cycle plain-start; done
pairs > "$work/plain-start.pairs"

: > "$times"
echo "== plain udhcpc started 1.5 s before the plug (-T 1): $plain_cycles cycles" >&2
for i in $(seq "$plain_cycles"); do cycle plain-running; done
pairs > "$work/plain-running.pairs"
[ -n "${BENCH_DEBUG:-}" ] && cp "$work"/*.pairs "$work/stream.jsonl" "$BENCH_DEBUG/"

echo
echo "carrier-up → DHCP client exec (nodeboot, $cycles cycles, $started clients started):"
echo "  from before \`ip link set up\`: $(awk '{print $1}' "$work/nodeboot.pairs" | stats_ms)"
echo "  from after  \`ip link set up\`: $(awk '{print $2}' "$work/nodeboot.pairs" | stats_ms)"
echo "  (includes the wrapper's sh + date start-up: median ${overhead} ms)"
echo "plug → address applied:"
echo "  nodeboot:                        $(awk '{print $3}' "$work/nodeboot.pairs" | stats_ms)"
echo "  udhcpc started at the plug:      $(awk '{print $3}' "$work/plain-start.pairs" | stats_ms)"
echo "  udhcpc started 1.5 s before:    $(awk '{print $3}' "$work/plain-running.pairs" | stats_ms)"
