#!/usr/bin/env python3
"""Whole-node scenarios: nodeboot as /init of a QEMU guest (issue 4 item 3).

    scenarios.py [--workdir DIR] [--list] [NAME...]

Each scenario boots the initramfs build.sh made (nodeboot as /init), reads the
guest's JSON log stream from the serial console and asserts on events (README "Log
stream"), on the stand-in `inspect` service's report of mounts and subvolumes from
inside the guest, and on the disk images from the host (a disk nodeboot must not
touch has no data at all: SEEK_DATA finds nothing in its sparse image).

Scenarios run one after the other, each under a hard timeout; the last line is
"N passed, M failed". Consoles are kept in the workdir for post-mortems.
"""

import argparse
import errno
import os
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

GIB = 1 << 30
# Distinct sizes: disk names are not stable across boots, sizes are.
SIZES = {"ssd": 2 * GIB, "hdd": 3 * GIB, "nvme": 4 * GIB, "hot": 5 * GIB}
# nodeboot.debug: the console gets debug records too (child.output, module.load),
# which the scenarios assert on; as PID 1 it gets info and above by default.
REACH = "nodeboot.log=json nodeboot.debug nodeboot.reach=10.0.2.100:80"
NO_REACH = "nodeboot.log=json nodeboot.debug nodeboot.reach=none nodeboot.gate=5"
BOOT_TIMEOUT = 90     # launch to boot.start, generous for a loaded 2-core machine
CACHE_TIMEOUT = 150   # boot.start to cache.ready (settle, modules, mkfs under TCG)


class Failed(AssertionError):
    pass


def check(cond, message, guest=None):
    if not cond:
        raise Failed(message + ("\n--- console tail ---\n" + guest.tail(60) if guest else ""))


def has_data(image):
    """Whether anything was ever written to a sparse image."""
    fd = os.open(image, os.O_RDONLY)
    try:
        os.lseek(fd, 0, os.SEEK_DATA)
        return True
    except OSError as e:
        if e.errno == errno.ENXIO:
            return False
        raise
    finally:
        os.close(fd)


def images(workdir, roles):
    return {r: vm.make_disk(os.path.join(workdir, f"{r}.img"), SIZES[r]) for r in roles}


def disk_of_size(guest, size):
    """The kernel name the guest gave the disk of `size` bytes (from disk.seen)."""
    names = {r["disk"] for r in guest.find("disk.seen") if r.get("size_bytes") == size}
    check(len(names) == 1, f"expected one disk of {size} bytes, saw {sorted(names)}", guest)
    return names.pop()


def is_on(device, disk):
    """`device` is `disk` or one of its partitions (sda1, nvme0n1p1)."""
    return device == disk or (device.startswith(disk) and device[len(disk):].lstrip("p").isdigit())


def index_of(guest, record):
    return next(i for i, r in enumerate(guest.find()) if r is record)


def inspect_report(guest, timeout=120):
    """The inspect service's lines, once it printed `vm-inspect done`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [r.get("line", "") for r in guest.find("child.output")
                 if str(r.get("child", "")).endswith("inspect")]
        if "vm-inspect done" in lines:
            return lines
        check(guest.running(), "QEMU exited before the inspect service reported", guest)
        time.sleep(0.5)
    raise Failed("the inspect service did not report within %ds\n%s" % (timeout, guest.tail(60)))


def mounts(lines):
    """{mount point: (device, fstype, options)} from `vm-inspect mount` lines."""
    out = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "mount":
            out[parts[3]] = (parts[2], parts[4], parts[5])
    return out


def subvolumes(lines):
    """Subvolume paths from `vm-inspect subvol ID n gen n top level n path P` lines."""
    out = []
    for line in lines:
        if line.startswith("vm-inspect subvol ") and " path " in line:
            out.append(line.rsplit(" path ", 1)[1].strip())
    return out


def check_cache_layout(guest, lines, log_subvolume):
    m = mounts(lines)
    pool = m.get("/mnt/storagepool/sp_zos-cache")
    check(pool is not None and pool[1] == "btrfs", f"pool not mounted: {m}", guest)
    cache = m.get("/var/cache")
    check(cache is not None and "subvol=/cache" in cache[2], f"/var/cache: {cache}", guest)
    log = m.get("/var/log")
    check(log is not None and f"subvol=/{log_subvolume.lstrip('/')}" in log[2],
          f"/var/log is not {log_subvolume}: {log}", guest)
    subs = subvolumes(lines)
    for want in ("cache", "logs", log_subvolume.lstrip("/")):
        check(want in subs, f"subvolume {want} missing from {subs}", guest)
    return subs


def check_services_after_gate(guest):
    gate = guest.wait_event("gate.released", 5)
    gate_i = index_of(guest, gate)
    started = {}
    for name in ("inspect", "worker"):
        rec = guest.wait_event("service.started", 60, service=name)
        started[name] = index_of(guest, rec)
        check(started[name] > gate_i, f"service {name} started before the gate", guest)
    check(started["worker"] > started["inspect"], "worker (after = inspect) started first", guest)
    return gate


def check_dhcp_on_plugged_only(guest):
    """Two managed NICs, one plugged: it gets the only lease; the unplugged one has
    no client running. A freshly registered virtio NIC may report carrier for a
    moment before its driver reads the link state (the kernel's default carrier is
    on until virtio_net's config work runs): a client started in that window must
    have been stopped when the carrier went away."""
    managed = {r["nic"] for r in guest.find("nic.seen", managed=True)}
    check(len(managed) == 2, f"two managed NICs expected: {managed}", guest)
    last_carrier = {}
    for r in guest.find("nic.carrier"):
        last_carrier[r["nic"]] = r.get("up")
    plugged = {n for n, up in last_carrier.items() if up}
    check(len(plugged) == 1, f"one plugged NIC expected, carrier now {last_carrier}", guest)
    leased = {r["nic"] for r in guest.find("dhcp.leased")}
    check(leased == plugged, f"leases on {leased}, plugged {plugged}", guest)
    for nic in managed - plugged:
        started = len(guest.find("dhcp.started", nic=nic))
        stopped = len(guest.find("dhcp.stopped", nic=nic))
        check(started == stopped, f"{nic} is unplugged but its DHCP client runs", guest)
        if started:
            print(f"  note: {nic} showed a transient carrier at registration; "
                  f"its client was stopped", flush=True)


def ctrl_alt_del(guest):
    """Ctrl-Alt-Del on the guest's keyboard: the kernel turns it into SIGINT for PID 1
    (prepare_pid1 disabled the immediate restart); nodeboot logs `shutdown`, stops its
    children, syncs and reboots, which ends QEMU (-no-reboot)."""
    guest.qmp.cmd("send-key", keys=[{"type": "qcode", "data": k}
                                    for k in ("ctrl", "alt", "delete")])
    try:
        record = guest.wait_event("shutdown", 30)
    except TimeoutError:
        check(guest.running(), "QEMU ended on Ctrl-Alt-Del without a `shutdown` record: "
              "the kernel restarted at once, so PID 1 never got SIGINT (is "
              "world::init::prepare_pid1, which disables the immediate restart, in use?)",
              guest)
        raise
    check(record.get("kind") == "reboot", f"shutdown record {record}", guest)
    check(guest.wait_exit(60) is not None, "QEMU still runs 60 s after the reboot request",
          guest)


FAILURE_EVENTS = ("cache.failed", "effect.failed", "service.failed", "world.error")


def check_no_failures(guest):
    """No failure records, and no kernel panic (PID 1 exiting would cause one)."""
    bad = [r for r in guest.find() if r.get("event") in FAILURE_EVENTS]
    check(not bad, f"failure records: {bad}", guest)
    check(not any("Kernel panic" in t for _, t in guest.lines), "kernel panic", guest)


def boot(workdir, name, disks, nics, append):
    g = vm.Guest(workdir, init="nodeboot", disks=disks, nics=nics, append=append, name=name)
    start = g.wait_event("boot.start", BOOT_TIMEOUT)
    check(start.get("mode") == "init", f"nodeboot is not in init mode: {start}", g)
    return g


# --- scenarios --------------------------------------------------------------------

def first_and_second_boot(workdir):
    """First boot on blank disks, then a second boot on the same images."""
    img = images(workdir, ["ssd", "hdd", "nvme"])
    disks = [("ssd", img["ssd"]), ("hdd", img["hdd"]), ("nvme", img["nvme"])]
    nics = [{"id": "nic0", "up": True}, {"id": "nic1", "up": False}]

    # First boot: the blank SSD is prepared (it ranks before the blank NVMe disk: its
    # controller has the lower PCI address), DHCP only where the cable is plugged,
    # the gate opens by reachability, then the two services.
    g = boot(workdir, "first-boot", disks, nics, REACH)
    try:
        ready = g.wait_event("cache.ready", CACHE_TIMEOUT)
        ssd = disk_of_size(g, SIZES["ssd"])
        selected = g.find("cache.selected")
        check(len(selected) == 1 and selected[0].get("disk") == ssd
              and selected[0].get("kind") == "ssd", f"selected {selected}, SSD is {ssd}", g)
        check(not g.find("cache.found"), "a blank node found a cache", g)
        mkfs = g.find("cache.step", step="mkfs")
        check(len(mkfs) == 1 and mkfs[0].get("ok") is True and is_on(mkfs[0]["device"], ssd),
              f"mkfs steps {mkfs}", g)
        check(is_on(ready["device"], ssd), f"cache.ready on {ready['device']}, not {ssd}", g)
        # PID 1 preloads btrfs in the background (boot.preload_modules): one load,
        # logged with `module`, not `modalias`.
        pre = g.wait_event("module.load", 60, module="btrfs")
        check(pre.get("ok") is True and "modalias" not in pre, f"btrfs preload: {pre}", g)
        check(len(g.find("module.load", module="btrfs")) == 1, "btrfs preloaded twice", g)
        gate = check_services_after_gate(g)
        check(gate.get("reason") == "reachable", f"gate: {gate}", g)
        check_dhcp_on_plugged_only(g)
        lines = inspect_report(g)
        subs = check_cache_layout(g, lines, ready["log_subvolume"])
        first_logs = [s for s in subs if s.startswith("logs/")]
        check(len(first_logs) == 1, f"first boot: log subvolumes {first_logs}", g)
        check_no_failures(g)
        ctrl_alt_del(g)
    finally:
        g.quit()
    check(has_data(img["ssd"]), "the SSD image was never written")
    check(not has_data(img["hdd"]), "the rotary disk was written")
    check(not has_data(img["nvme"]), "the NVMe disk was written")

    # Second boot, same images: the cache is found and reused (no partition, no
    # mkfs), a new logs/<ts> appears beside the first. The gate has no target and a
    # 5 s timeout: it opens by timeout and the services still start after it.
    g = boot(workdir, "second-boot", disks, nics, NO_REACH)
    try:
        ready = g.wait_event("cache.ready", CACHE_TIMEOUT)
        ssd = disk_of_size(g, SIZES["ssd"])
        found = g.find("cache.found")
        check(len(found) == 1 and is_on(found[0]["device"], ssd), f"cache.found {found}", g)
        check(not g.find("cache.selected"), "second boot selected a disk to prepare", g)
        redone = [r for r in g.find("cache.step") if r.get("step") in ("partition", "mkfs")]
        check(not redone, f"second boot re-partitioned or re-formatted: {redone}", g)
        gate = check_services_after_gate(g)
        check_dhcp_on_plugged_only(g)
        check(gate.get("reason") == "timeout" and 5000 <= gate.get("after_ms", 0) < 30000,
              f"gate should open by timeout after ~5 s: {gate}", g)
        lines = inspect_report(g)
        subs = check_cache_layout(g, lines, ready["log_subvolume"])
        logs = sorted(s for s in subs if s.startswith("logs/"))
        check(len(logs) == 2 and first_logs[0] in logs
              and ready["log_subvolume"].lstrip("/") in logs,
              f"expected two log subvolumes (first {first_logs}, now {ready}): {logs}", g)
        check_no_failures(g)
    finally:
        g.quit()
    check(not has_data(img["hdd"]) and not has_data(img["nvme"]),
          "the second boot wrote to a disk other than the cache")


def hotplug(workdir):
    """Boot with no disk and only an unplugged NIC; then hot-plug a NIC (its driver
    loads from MODALIAS), plug the cable of the first, and hot-plug a disk."""
    img = images(workdir, ["hot"])
    g = boot(workdir, "hotplug", [], [{"id": "nic1", "up": False}], REACH)
    try:
        g.wait_event("cache.none", CACHE_TIMEOUT)
        unplugged = g.wait_event("nic.seen", 60, managed=True)["nic"]
        check(not g.find("dhcp.started"), "DHCP started on an unplugged NIC", g)

        # 1. A NIC appears: e1000, whose driver nothing loaded yet.
        mark = len(g.find())
        vm.hotplug_nic(g.qmp)
        load = g.wait_event("module.load", 60, since=mark, where=lambda r: str(
            r.get("modalias", "")).startswith("pci:v00008086d0000100E"))
        check(load.get("ok") is True, f"e1000's modalias not loaded: {load}", g)
        # Resolved in-process against the guest's modules.alias: one modprobe -b e1000.
        check(load.get("module") == "e1000", f"e1000's modalias resolved to {load}", g)
        check(g.find("module.unmatched"), "no coldplug alias was skipped unmatched", g)
        hot = g.wait_event("nic.seen", 60, since=mark, managed=True)["nic"]
        check(hot != unplugged, "the hot-plugged NIC has the old NIC's name", g)
        g.wait_event("dhcp.leased", 60, since=mark, nic=hot)
        gate = g.wait_event("gate.released", 30)
        check(gate.get("reason") == "reachable", f"gate: {gate}", g)

        # 2. The cable of the first NIC is plugged in.
        mark = len(g.find())
        g.qmp.cmd("set_link", name="nic1", up=True)
        g.wait_event("nic.carrier", 30, since=mark, nic=unplugged, up=True)
        g.wait_event("dhcp.leased", 60, since=mark, nic=unplugged)

        # 3. A blank SSD appears while there is no cache: it is prepared.
        mark = len(g.find())
        vm.hotplug_disk(g.qmp, img["hot"])
        selected = g.wait_event("cache.selected", 60, since=mark)
        ready = g.wait_event("cache.ready", CACHE_TIMEOUT, since=mark)
        check(is_on(ready["device"], selected["disk"]), f"{ready} vs {selected}", g)
        lines = inspect_report(g)
        check_cache_layout(g, lines, ready["log_subvolume"])
        check_no_failures(g)
    finally:
        g.quit()


def power_cut(workdir):
    """QEMU killed right after the partition step: the next boot finishes the same
    disk and formats no other."""
    img = images(workdir, ["ssd", "hdd", "nvme"])
    disks = [("ssd", img["ssd"]), ("hdd", img["hdd"]), ("nvme", img["nvme"])]
    nics = [{"id": "nic0", "up": True}]
    g = boot(workdir, "power-cut-1", disks, nics, NO_REACH)
    try:
        step = g.wait_event("cache.step", CACHE_TIMEOUT, step="partition")
        g.kill()
        ssd = disk_of_size(g, SIZES["ssd"])
        check(step.get("ok") is True and step.get("device") == ssd, f"partition step {step}", g)
        after = [r.get("step") for r in g.find("cache.step")]
        print(f"  power cut after steps {after}", flush=True)
    finally:
        if g.running():
            g.kill()
    check(has_data(img["ssd"]), "nothing reached the SSD before the power cut")
    check(not has_data(img["hdd"]) and not has_data(img["nvme"]), "another disk was written")

    g = boot(workdir, "power-cut-2", disks, nics, NO_REACH)
    try:
        ready = g.wait_event("cache.ready", CACHE_TIMEOUT)
        ssd = disk_of_size(g, SIZES["ssd"])
        check(is_on(ready["device"], ssd), f"cache.ready on {ready['device']}, not {ssd}", g)
        check(not g.find("cache.selected"), "the interrupted disk was not recognised", g)
        resumed = g.find("cache.resumed")
        found = g.find("cache.found")
        check(len(resumed) == 1 and resumed[0].get("disk") == ssd or found,
              f"expected cache.resumed on {ssd} (or a found cache): {resumed}", g)
        print(f"  resumed {resumed}", flush=True)
        lines = inspect_report(g)
        check_cache_layout(g, lines, ready["log_subvolume"])
        check_no_failures(g)
    finally:
        g.quit()
    check(not has_data(img["hdd"]) and not has_data(img["nvme"]),
          "the resumed prepare wrote to another disk")


def stalled_disk(workdir):
    """The chosen disk's I/O stops answering (issue 9, point 3): once nodeboot has
    probed the blank SSD, QMP throttles it to 1 I/O a second, so its prepare steps
    (table write, mkfs) crawl far past their deadlines, shortened on the kernel
    command line to keep the test quick. The step's deadline fires, the cache fails,
    and services still start."""
    img = images(workdir, ["ssd"])
    deadlines = ("nodeboot.cache.table_timeout=8s nodeboot.cache.mkfs_timeout=8s "
                 "nodeboot.cache.mount_timeout=8s nodeboot.cache.subvolume_timeout=8s")
    g = boot(workdir, "stalled-disk", [("ssd", img["ssd"])], [{"id": "nic0", "up": True}],
             f"{REACH} {deadlines}")
    try:
        seen = g.wait_event("disk.seen", CACHE_TIMEOUT, size_bytes=SIZES["ssd"])
        check(seen.get("verdict") == "unused", f"the blank SSD: {seen}", g)
        # Before the decision (the quiet period is 2 s): from now on 1 I/O a second.
        # Throttling, not a dead device, because it is what QEMU does reliably under
        # TCG; at 1 IOPS mkfs.btrfs alone needs minutes.
        g.qmp.cmd("block_set_io_throttle", id="disk0", bps=0, bps_rd=0, bps_wr=0,
                  iops=1, iops_rd=0, iops_wr=0)
        selected = g.wait_event("cache.selected", 60)
        check(selected.get("disk") == seen["disk"], f"selected {selected}", g)
        timeout = g.wait_event("effect.timeout", 120)
        check(timeout.get("after_ms") == 8000, f"deadline: {timeout}", g)
        failed = g.wait_event("cache.failed", 60)
        check("timed out after 8s" in str(failed.get("error")), f"cache.failed: {failed}", g)
        print(f"  {timeout['effect']} on {timeout['target']} timed out; {failed}", flush=True)
        check_services_after_gate(g)
        started = g.find("service.started")
        check(started and all(index_of(g, s) > index_of(g, failed) for s in started),
              f"services before the cache settled: {started}", g)
        check(not g.find("cache.ready"), "the stalled disk became a cache", g)
        check(not any("Kernel panic" in t for _, t in g.lines), "kernel panic", g)
    finally:
        g.quit()


def short_settle(workdir):
    """Issue 12: a first boot with `nodeboot.settle=300ms`. The prepare reaches its
    first mount about when the background `modprobe btrfs` (raid6_pq's self-benchmark
    under TCG) runs; before this fix the mount failed with ENODEV and the cache with
    it. Now the mount goes out only once btrfs is available: no ENODEV, cache.ready,
    and the stream shows how (fs.ready: registered, known, or after fs.wait for the
    preload) before the mount-pool step."""
    img = images(workdir, ["ssd"])
    g = boot(workdir, "short-settle", [("ssd", img["ssd"])], [{"id": "nic0", "up": True}],
             f"{NO_REACH} nodeboot.settle=300ms")
    try:
        ready = g.wait_event("cache.ready", CACHE_TIMEOUT)
        ssd = disk_of_size(g, SIZES["ssd"])
        check(is_on(ready["device"], ssd), f"cache.ready on {ready['device']}, not {ssd}", g)
        settled = g.find("cache.settled")
        check(settled and settled[0].get("after_ms", 10**9) < 2000,
              f"the short quiet period was not applied: {settled}", g)
        mount = g.find("cache.step", step="mount-pool")
        check(len(mount) == 1 and mount[0].get("ok") is True, f"mount-pool steps {mount}", g)
        fs = g.find("fs.ready", fstype="btrfs")
        check(len(fs) == 1 and index_of(g, fs[0]) < index_of(g, mount[0]),
              f"no fs.ready before the mount: {fs}", g)
        enodev = [r for r in g.find() if "ENODEV" in str(r.get("error", ""))]
        check(not enodev and not g.find("fs.missing"), f"ENODEV: {enodev}", g)
        pre = g.wait_event("module.load", 60, module="btrfs")
        waits = g.find("fs.wait")
        mount_i = index_of(g, mount[0])
        how = fs[0].get("how")
        if how == "preload":
            check(waits and waits[0].get("preload") is True
                  and index_of(g, pre) < mount_i, f"waited for {waits}, preload {pre}", g)
        print(f"  settled after {settled[0].get('after_ms')} ms; btrfs {how} "
              f"(waited {fs[0].get('ms')} ms); preload ended "
              f"{'before' if index_of(g, pre) < mount_i else 'after'} the mount, "
              f"ms={pre.get('ms')}", flush=True)
        check_no_failures(g)
    finally:
        g.quit()


# --- issue 9: PID 1 in the field ----------------------------------------------------

KERNEL_WORDS = ["single", "development", "zos-debug", "extra"]
WATCHDOG = ["-device", "i6300esb", "-watchdog-action", "reset"]


def check_shutdown_steps(g):
    """The shutdown's steps in order, the cache's mounts unmounted last made first
    and ok, and `sync` the last record before the guest went away."""
    recs = g.find()
    steps = [r for r in recs if r.get("event") == "shutdown.step"]
    unmounts = [r for r in steps if r.get("step") == "unmount"]
    targets = [r.get("target") for r in unmounts]
    want = ["/var/log", "/var/cache", "/mnt/storagepool/sp_zos-cache"]
    check(targets == want and all(r.get("ok") is True for r in unmounts),
          f"unmount steps {unmounts}, want {want} ok", g)
    names = [r.get("step") for r in steps]
    check(names[:4] == ["stop-services", "stop-dhcp", "term-stragglers",
                        "kill-stragglers"] and names[-1] == "sync",
          f"shutdown steps {names}", g)
    last = [r for r in recs if r.get("event")][-1]
    check(last.get("event") == "shutdown.step" and last.get("step") == "sync",
          f"last record {last}", g)


def pid1_field(workdir):
    """Four boots, all with QEMU's i6300esb watchdog.

    1. Bare kernel words (`single development zos-debug -- extra`) reach init's argv:
       nodeboot logs them in boot.start and boots (cache, gate, services), arms the
       watchdog and keeps the node alive past its timeout by petting it; then
       Ctrl-Alt-Del: the shutdown steps on the stream, the cache's mounts unmounted
       last made first and ok before the last record (`sync`), QEMU ends (-no-reboot).
    2. `nodeboot.debug.hang_after=45` hangs the loop on purpose (the kernel never
       delivers SIGSTOP to PID 1, so fault injection is the honest way to stop it):
       the watchdog, no longer petted, resets the guest: QEMU ends with no shutdown
       record and no kernel panic.
    3. (run second) SIGPWR from a guest service powers the node off with the same
       steps.
    4. (run third) `nodeboot.debug.fail_after=15 nodeboot.emergency=shell`: the loop
       fails, PID 1 falls back: emergency shell prompt on the console, not reset by
       the watchdog, reboots on Ctrl-Alt-Del."""
    img = images(workdir, ["ssd"])
    disks = [("ssd", img["ssd"])]
    nics = [{"id": "nic0", "up": True}]
    words = " ".join(KERNEL_WORDS[:3]) + " -- " + KERNEL_WORDS[3]
    g = vm.Guest(workdir, init="nodeboot", disks=disks, nics=nics, name="kernel-words",
                 append=f"{REACH} nodeboot.watchdog.timeout=20 {words}", extra=WATCHDOG)
    try:
        start = g.wait_event("boot.start", BOOT_TIMEOUT)
        check(start.get("mode") == "init", f"not in init mode: {start}", g)
        argv = start.get("argv", [])
        check([w for w in argv if w in KERNEL_WORDS] == KERNEL_WORDS,
              f"boot.start argv {argv} lacks the kernel words {KERNEL_WORDS}", g)
        ready = g.wait_event("cache.ready", CACHE_TIMEOUT)
        armed = g.wait_event("watchdog.armed", 120)
        check(armed.get("device") == "/dev/watchdog" and armed.get("timeout_s", 0) > 0,
              f"watchdog.armed {armed}", g)
        check_services_after_gate(g)
        # Still alive well past the watchdog's timeout (x2: i6300esb's two stages):
        # the loop pets it.
        time.sleep(max(0, 2 * armed["timeout_s"] + 5 - (time.monotonic() - armed["_t"])))
        check(g.running() and len(g.find("boot.start")) == 1,
              "the watchdog reset a node whose loop runs", g)
        check_no_failures(g)
        ctrl_alt_del(g)
        check_shutdown_steps(g)
        check(ready.get("device"), "cache.ready without a device", g)
    finally:
        g.quit()

    # 3. A power-off (SIGPWR to PID 1, as a UPS daemon sends it; here the guest's
    #    `ups` service) on the same disk, now a cache found: the same steps, the
    #    watchdog disarmed, and QEMU ends by the guest's power-off.
    g = vm.Guest(workdir, init="nodeboot", disks=disks, nics=nics, name="power-off",
                 append=f"{NO_REACH} nodeboot.rules=/etc/nodeboot/rules-poweroff",
                 extra=WATCHDOG)
    try:
        g.wait_event("cache.found", CACHE_TIMEOUT)
        g.wait_event("watchdog.armed", 120)
        record = g.wait_event("shutdown", 120)
        check(record.get("kind") == "power-off", f"shutdown record {record}", g)
        check(g.wait_exit(60) is not None, "QEMU still runs 60 s after the power-off", g)
        check_shutdown_steps(g)
        exited = [r.get("service") for r in g.find("service.exited")]
        check(exited[-1:] == ["store"], f"store must stop last: {exited}", g)
        check(not g.find("world.error"), f"errors: {g.find('world.error')}", g)
    finally:
        g.quit()

    # 4. The loop fails (`nodeboot.debug.fail_after`, fault injection): PID 1 falls
    #    back, keeps an emergency shell on the console (`nodeboot.emergency=shell`)
    #    and still reboots on Ctrl-Alt-Del; the watchdog, disarmed, resets nothing.
    g = vm.Guest(workdir, init="nodeboot", disks=[], nics=nics, name="fallback",
                 append=f"{NO_REACH} nodeboot.debug.fail_after=15 "
                        f"nodeboot.emergency=shell", extra=WATCHDOG)
    try:
        g.wait_event("watchdog.armed", 60)
        g.wait_line("fault injection: nodeboot.debug.fail_after=15", 60)
        g.wait_line("nodeboot: fallback:", 10)
        g.wait_line("nodeboot: emergency shell on /dev/console", 30)
        # The shell itself runs on the console (busybox ash's banner; its prompt
        # has no newline, so it is not a line).
        g.wait_line("built-in shell", 30)
        # Past the watchdog's timeout: disarmed, it reset nothing.
        time.sleep(35)
        check(g.running() and len(g.find("boot.start")) == 1,
              "the node was reset while in the fallback", g)
        g.qmp.cmd("send-key", keys=[{"type": "qcode", "data": k}
                                    for k in ("ctrl", "alt", "delete")])
        check(g.wait_exit(60) is not None,
              "the fallback did not reboot on Ctrl-Alt-Del within 60 s", g)
        check(any("nodeboot: fallback: SIGINT: Reboot" in t for _, t in g.lines),
              "QEMU ended, but not by the fallback's reboot on SIGINT", g)
        check(not any("Kernel panic" in t for _, t in g.lines), "kernel panic", g)
    finally:
        g.quit()

    g = vm.Guest(workdir, init="nodeboot", disks=[], nics=nics, name="watchdog-hang",
                 append=f"{NO_REACH} nodeboot.watchdog.timeout=15 "
                        f"nodeboot.debug.hang_after=45", extra=WATCHDOG)
    try:
        g.wait_event("boot.start", BOOT_TIMEOUT)
        armed = g.wait_event("watchdog.armed", 60)
        hang = g.wait_event("debug.hang", 90)
        check(index_of(g, armed) < index_of(g, hang), "hung before arming", g)
        code = g.wait_exit(120)
        check(code is not None, "QEMU still runs 120 s after the loop hung: no reset", g)
        check(not g.find("shutdown"), "a shutdown record: not a watchdog reset", g)
        check(not any("Kernel panic" in t for _, t in g.lines),
              "a kernel panic ended the guest, not the watchdog", g)
        print(f"  reset {time.monotonic() - hang['_t']:.0f}s after debug.hang "
              f"(timeout {armed.get('timeout_s')}s)", flush=True)
    finally:
        g.quit()


def stuck_console(workdir):
    """A serial console nobody reads: ttyS0 goes to a one-page FIFO the harness never
    reads, so the guest's UART stalls under flow control. The log stream is read from
    nodeboot's socket by the guest's stand-in (`nodeboot logs -f` to ttyS1). The node
    still boots, starts its services and answers on its socket; once the console is
    read again, what was queued for it while it was stuck comes out (its queue holds
    1 MiB: a boot this quiet drops nothing; drops are covered by log::queued's unit
    test and the frozen-log-disk live test)."""
    g = vm.Guest(workdir, init="nodeboot", disks=[], nics=[{"id": "nic0", "up": True}],
                 append=NO_REACH, name="stuck-console", stuck_console=True)
    try:
        start = g.wait_event("boot.start", BOOT_TIMEOUT)
        check(start.get("mode") == "init", f"nodeboot is not in init mode: {start}", g)
        g.wait_event("gate.released", 120)
        g.wait_event("service.started", 60, service="worker")
        g.wait_line("vm-status ok", 60)
        kmsg = g.wait_line("vm-kmsg ", 30)
        check(int(kmsg.split()[-1]) > 0, f"no nodeboot record in the kernel log: {kmsg}", g)
        stuck = g.stuck_bytes()
        check(stuck >= 4000, f"the console FIFO is not full ({stuck} bytes)", g)
        check(not g.find("log.dropped", sink="console"), "console drops reported while it is stuck", g)
        g.drain_stuck()
        deadline = time.monotonic() + 60
        while '"service.started"' not in g.stuck_text and time.monotonic() < deadline:
            time.sleep(0.5)
        check('"service.started"' in g.stuck_text,
              f"the console did not resume: {g.stuck_text[-500:]!r}", g)
        check(not g.find("log.dropped", sink="console"), "console lines dropped", g)
        g.wait_line("vm-status ok", 30)
        check_no_failures(g)
    finally:
        g.quit()


SCENARIOS = {
    "first-and-second-boot": (first_and_second_boot, 600),
    "hotplug": (hotplug, 480),
    "power-cut": (power_cut, 480),
    "stalled-disk": (stalled_disk, 420),
    "pid1-field": (pid1_field, 720),
    "stuck-console": (stuck_console, 300),
    "short-settle": (short_settle, 360),
}


class HardTimeout(Exception):
    pass


def run(name, workdir):
    import signal
    fn, limit = SCENARIOS[name]
    d = os.path.join(workdir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)

    def alarm(*_):
        raise HardTimeout(f"scenario {name} exceeded its hard timeout of {limit}s")

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(limit)
    t0 = time.monotonic()
    why = ""
    try:
        fn(d)
    except (Failed, TimeoutError, HardTimeout, vm.QmpError) as e:
        print(f"  {e}", flush=True)
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
    except Exception as e:  # a harness bug is a failure too, with its traceback
        traceback.print_exc()
        why = f"harness error: {e!r}"
    finally:
        signal.alarm(0)
        vm.kill_leftovers()
    took = f"{time.monotonic() - t0:.0f}s; consoles in {d}"
    if why:
        print(f"FAILED: {name}: {why} ({took})", flush=True)
    else:
        print(f"ok: {name} ({took})", flush=True)
    return not why


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--workdir", default=os.path.join(vm.CACHE, "scenarios"))
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print("\n".join(SCENARIOS))
        return 0
    names = a.names or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios {unknown}; known: {list(SCENARIOS)}", file=sys.stderr)
        return 2
    passed = failed = 0
    for name in names:
        print(f"--- {name}", flush=True)
        if run(name, a.workdir):
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
