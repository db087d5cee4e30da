# Shared setup for the live benchmarks (sourced). Everything made here is named
# "${tag}…" (nb + bench + pid) and removed by bench_teardown (an EXIT trap), also on
# Ctrl-C. Needs root.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$bench_dir/../.." && pwd)
tag="nbbn$$"
work=$(mktemp -d "/tmp/nodeboot-bench.XXXXXX")
node="${tag}-node" srv="${tag}-srv"
bench_pids=() bench_loops=() nb=""

bench_bin() { # build (release) unless NODEBOOT_BIN is set; prints the binary path
  if [ -n "${NODEBOOT_BIN:-}" ]; then echo "$NODEBOOT_BIN"; return; fi
  (cd "$repo" && cargo build --release --quiet --bin nodeboot) >&2
  echo "${CARGO_TARGET_DIR:-$repo/target}/x86_64-unknown-linux-gnu/release/nodeboot"
}

bench_teardown() {
  set +e
  trap - EXIT INT TERM
  [ -n "$nb" ] && kill -TERM "$nb" 2>/dev/null && sleep 0.5
  for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null; done
  for ns in "$node" "$srv"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null; done
  for p in "${bench_pids[@]}"; do wait "$p" 2>/dev/null; done
  for l in "${bench_loops[@]}"; do partx -d "$l" 2>/dev/null; losetup -d "$l" 2>/dev/null; done
  ip netns del "$node" 2>/dev/null; ip netns del "$srv" 2>/dev/null
  rm -rf "$work"
}
trap bench_teardown EXIT
trap 'exit 130' INT TERM

now() { echo "$EPOCHREALTIME"; }   # CLOCK_REALTIME, µs, no fork

# node and server namespaces, veth nbe0 (node) <-> nbs0 (server, 10.77.0.1/24);
# plugged when $1 = up. dnsmasq on nbs0 when $2 = dhcp.
bench_net() {
  ip netns add "$node"; ip netns add "$srv"
  ip -n "$node" link set lo up; ip -n "$srv" link set lo up
  ip link add nbe0 netns "$node" type veth peer name nbs0 netns "$srv"
  ip -n "$srv" addr add 10.77.0.1/24 dev nbs0
  [ "${1:-}" = up ] && ip -n "$srv" link set nbs0 up
  if [ "${2:-}" = dhcp ]; then
    ip netns exec "$srv" dnsmasq --keep-in-foreground --no-resolv --port=0 --bind-dynamic \
      --interface=nbs0 --no-ping --user=root --dhcp-leasefile="$work/leases" \
      --dhcp-range=10.77.0.100,10.77.0.200,255.255.255.0,1h --pid-file="$work/dnsmasq.pid" &
    bench_pids+=($!)
    for _ in $(seq 100); do [ -s "$work/dnsmasq.pid" ] && break; sleep 0.05; done
  fi
}
plug() { ip -n "$srv" link set nbs0 up; }
unplug() { ip -n "$srv" link set nbs0 down; }

# A loop disk (sparse, SIZE); sets $made to its name (loopN). Not for $(…): a subshell
# would lose the bench_loops+= that teardown needs.
made=""
bench_disk() {
  local img="$work/disk${#bench_loops[@]}.img"
  truncate -s "$1" "$img"
  local l; l=$(losetup -f --show "$img"); bench_loops+=("$l"); made=${l#/dev/}
}

# Rules for a bench run: NIC nbe0 with DHCP_COMMAND (a TOML array), no gate target.
bench_rules() { # dhcp_command_toml
  mkdir -p "$work/rules" "$work/root/var/log"
  cat > "$work/rules/network.toml" <<TOML
[network]
include = ["nb*"]
allow_virtual = true
dhcp_command = $1
TOML
  cat > "$work/rules/gate.toml" <<TOML
[gate]
targets = []
timeout = "1s"
TOML
  cat > "$work/rules/cache.toml" <<TOML
[cache]
settle_quiet = "1s"
TOML
}

# Start nodeboot in the node namespace; extra flags after. Sets $nb.
bench_start() { # bin extra-flags...
  local bin=$1; shift
  ip netns exec "$node" "$bin" run --json --root "$work/root" --rules "$work/rules" \
    --allow-loop --nic 'nb*' --socket "$work/nb.sock" "$@" 2> "$work/stream.jsonl" &
  nb=$!; bench_pids+=($nb)
}

wait_line() { # file regex timeout_s
  local deadline=$((SECONDS + $3))
  until grep -Eq -- "$2" "$1" 2>/dev/null; do
    [ "$SECONDS" -ge "$deadline" ] && { echo "bench: timed out waiting for $2 in $1" >&2; return 1; }
    sleep 0.02
  done
}

# p50/p90/p99/min/max (ms) of numbers (seconds) on stdin.
stats_ms() {
  python3 -c '
import sys
v = sorted(float(x) * 1000 for x in sys.stdin.read().split() if x != "nan")
if not v: print("no samples"); sys.exit(0)
def p(q): return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]
print(f"n={len(v)} p50={p(.5):.1f} ms p90={p(.9):.1f} ms p99={p(.99):.1f} ms min={v[0]:.1f} ms max={v[-1]:.1f} ms")'
}
