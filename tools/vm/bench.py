#!/usr/bin/env python3
"""Whole-node benchmark (issue 4 item 4): time from /init start to `cache.ready` and
to `gate.released`, nodeboot against a sequential busybox script doing what core0's
scripts do (guest/bench-init.sh), in the same VM: a blank SSD, a blank rotary disk, a
blank NVMe disk, one plugged and one unplugged NIC, the reachability target.

    bench.py [--runs N] [--workdir DIR] [--versus bench|none|INIT] [--nodeboot INIT]
             [--aliases FILE] [--floor]

For nodeboot it also prints when the SSD's disk driver was loaded, how many modprobes
ran before `cache.ready` and the time during which one ran (the module-load floor).

nodeboot's times come from its records' `ts` (boot.start is its first record); the
script's from /proc/uptime differences it prints. Both start when /init starts. TCG
on a shared 2-core machine is noisy: the load average is printed with the results.
"""

import argparse
import datetime
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402
from scenarios import SIZES, REACH  # noqa: E402


def ts_ms(record):
    t = datetime.datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
    return t.timestamp() * 1000.0


# The SSD's disk driver: the SCSI disk driver (sd_mod) for its `scsi:t-0x00` alias.
DISK_ALIAS = "scsi:t-0x00"


def module_metrics(g, start, ready):
    """From nodeboot's records up to `cache.ready`: when the SSD's disk driver was
    loaded (its `module.load`, ms from /init), how many `modprobe` processes ran
    (`module.load` records with an `ms`), and the most CPU they can have used: on the
    one vCPU, the union of the intervals during which a modprobe ran (ms), up to the
    disk driver and up to `cache.ready`."""
    t0, t1 = ts_ms(start), ts_ms(ready)
    loads = [r for r in g.find("module.load") if ts_ms(r) <= t1 and "ms" in r]
    driver = next((ts_ms(r) - t0 for r in loads
                   if r.get("modalias", "").startswith(DISK_ALIAS) and r.get("ok")), None)
    spans = sorted((ts_ms(r) - r["ms"] - t0, ts_ms(r) - t0) for r in loads)
    busy = busy_ms(spans, t1 - t0)
    busy_to_driver = None if driver is None else busy_ms(spans, driver)
    aliases = sorted({r["modalias"] for r in g.find("module.load") if r.get("modalias")}
                     | {r["modalias"] for r in g.find("module.unmatched")}
                     | {r["modalias"] for r in g.find("module.present")})
    return {"driver": driver, "modprobes": len(loads), "busy": busy,
            "busy_to_driver": busy_to_driver, "aliases": aliases}


def busy_ms(spans, until):
    """How long, from /init to `until` (ms), at least one of the sorted (start, end)
    spans ran: their union, cut at `until`."""
    busy, end = 0.0, None
    for a, b in spans:
        a, b = min(a, until), min(b, until)
        if end is None or a > end:
            busy += b - a
            end = b
        elif b > end:
            busy += b - end
            end = b
    return busy


def one_run(workdir, init, name):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    disks = [(r, vm.make_disk(os.path.join(workdir, f"{r}.img"), SIZES[r]))
             for r in ("ssd", "hdd", "nvme")]
    nics = [{"id": "nic0", "up": True}, {"id": "nic1", "up": False}]
    g = vm.Guest(workdir, init=init, disks=disks, nics=nics, append=REACH, name=name)
    try:
        start = g.wait_event("boot.start", 120)
        ready = g.wait_event("cache.ready", 240)
        gate = g.wait_event("gate.released", 120)
        # How long the gate took once the network was there (nodeboot only: the
        # script logs no lease): the first lease to the release.
        lease_to_gate = None
        if init == "bench":
            result = (ready["ms"] - start["ms"], gate["ms"] - start["ms"])
        else:
            result = (ts_ms(ready) - ts_ms(start), ts_ms(gate) - ts_ms(start))
            leases = g.find("dhcp.leased")
            if leases:
                lease_to_gate = ts_ms(gate) - ts_ms(leases[0])
        launch_to_init = start["_t"] - g.t_launch
        modules = None if init == "bench" else module_metrics(g, start, ready)
        return result + (launch_to_init, gate.get("reason"), lease_to_gate, modules)
    finally:
        g.quit()


def floor(workdir, runs):
    """The trivial init with `nodeboot.floor`: each module load alone (guest `time -p`),
    `runs` boots; prints the median real, user+sys per module and their sum."""
    per = {}
    for i in range(runs):
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        disks = [(r, vm.make_disk(os.path.join(workdir, f"{r}.img"), SIZES[r]))
                 for r in ("ssd", "hdd", "nvme")]
        nics = [{"id": "nic0", "up": True}, {"id": "nic1", "up": False}]
        g = vm.Guest(workdir, init="trivial", disks=disks, nics=nics,
                     append="nodeboot.floor", name=f"floor-{i}")
        try:
            g.wait_line("floor: end", 240)
            for _, text in list(g.lines):
                words = text.split()
                # "floor: NAME [Command exited with non-zero status N] real R user U sys S"
                if len(words) < 8 or words[0] != "floor:" or words[-6] != "real":
                    continue
                real, cpu = float(words[-5]), float(words[-3]) + float(words[-1])
                per.setdefault(words[1], []).append((real, cpu))
        finally:
            g.quit()
    print(f"module loads alone (trivial init, median of {runs}): real / user+sys")
    total = [0.0, 0.0]
    for m, v in per.items():
        real = statistics.median(r for r, _ in v)
        cpu = statistics.median(c for _, c in v)
        if ":" not in m and "(" not in m and m != "btrfs":
            total[0] += real
            total[1] += cpu
        print(f"  {m:16} {real:5.2f} s / {cpu:5.2f} s")
    print(f"  {'drivers':16} {total[0]:5.2f} s / {total[1]:5.2f} s  (the floor before "
          f"the disks; btrfs and the aliases apart)")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", default=os.path.join(vm.CACHE, "bench"))
    ap.add_argument("--nodeboot", default="nodeboot", metavar="INIT",
                    help="the nodeboot archive to measure (default: this build)")
    ap.add_argument("--aliases", metavar="FILE",
                    help="write every MODALIAS the guests logged to FILE")
    ap.add_argument("--versus", default="bench", metavar="INIT",
                    help="what nodeboot runs against: `bench` (the sequential script, "
                    "default), `none`, or the name of another nodeboot archive "
                    ".cache/out/initrd-INIT (e.g. an older build: NODEBOOT_BIN=old "
                    "build.sh --no-cargo, then copy initrd-nodeboot to initrd-INIT)")
    ap.add_argument("--floor", action="store_true",
                    help="instead: time each module load alone in the trivial init")
    a = ap.parse_args()
    if a.floor:
        return floor(os.path.join(a.workdir, "floor"), a.runs)
    label_of = {"bench": "script"}
    variants = [("nodeboot", a.nodeboot)]
    if a.versus != "none":
        variants.append((label_of.get(a.versus, a.versus), a.versus))
    results = {label: [] for label, _ in variants}
    lease_gaps = {}
    module_runs = {}
    load_before = os.getloadavg()
    for i in range(a.runs):
        # Alternate, so that a change of machine load hits both alike.
        for label, init in variants:
            cache, gate, launch, reason, lease_to_gate, modules = one_run(
                os.path.join(a.workdir, label), init, f"{label}-{i}")
            results[label].append((cache, gate))
            if modules is not None:
                module_runs.setdefault(label, []).append(modules)
            if lease_to_gate is not None:
                lease_gaps.setdefault(label, []).append(lease_to_gate)
            gap = "" if lease_to_gate is None else f", {lease_to_gate:.0f} ms after the lease"
            if modules is not None and modules["driver"] is not None:
                gap += (f"; disk driver {modules['driver'] / 1000:.2f} s, "
                        f"{modules['modprobes']} modprobes")
            print(f"run {i + 1} {label:8}: cache.ready {cache / 1000:6.2f} s  "
                  f"gate.released {gate / 1000:6.2f} s ({reason}{gap})  "
                  f"[launch to /init {launch:.1f} s]", flush=True)
    load_after = os.getloadavg()
    med = {k: (statistics.median(c for c, _ in v), statistics.median(g for _, g in v))
           for k, v in results.items()}
    nb = med["nodeboot"]
    print()
    print(f"median of {a.runs} runs, from /init start (TCG, 1 vCPU; host load "
          f"{load_before[0]:.1f} -> {load_after[0]:.1f}):")
    print(f"  {'':10} {'cache.ready':>12} {'gate.released':>14}")
    for label, (c, g) in med.items():
        print(f"  {label:10} {c / 1000:11.2f}s {g / 1000:13.2f}s")
    for label, gaps in lease_gaps.items():
        print(f"  {label:10} gate.released {statistics.median(gaps):.0f} ms after the "
              f"first dhcp.leased (median)")
    for label, runs in module_runs.items():
        drivers = [m["driver"] for m in runs if m["driver"] is not None]
        driver = f"{statistics.median(drivers) / 1000:.2f} s" if drivers else "n/a"
        to_driver = [m["busy_to_driver"] for m in runs if m["busy_to_driver"] is not None]
        to_driver = f"{statistics.median(to_driver) / 1000:.2f} s" if to_driver else "n/a"
        print(f"  {label:10} disk driver ({DISK_ALIAS}) loaded {driver}; "
              f"{statistics.median(m['modprobes'] for m in runs):.0f} modprobes before "
              f"cache.ready; one ran during {to_driver} of the time to the disk driver, "
              f"{statistics.median(m['busy'] for m in runs) / 1000:.2f} s of the time to "
              f"cache.ready (medians)")
    if a.aliases:
        seen = sorted({x for runs in module_runs.values() for m in runs for x in m["aliases"]})
        with open(a.aliases, "w") as f:
            f.write("".join(f"{x}\n" for x in seen))
    for label, (c, g) in med.items():
        if label != "nodeboot":
            print(f"  {'ratio':10} {c / nb[0]:11.2f}x {g / nb[1]:13.2f}x   "
                  f"({label} / nodeboot)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
