#!/usr/bin/env python3
"""The VM harness: boot an initramfs built by build.sh in QEMU (TCG), read the guest's
serial console line by line (nodeboot's JSON log stream among them), drive QMP.

Library use (scenarios.py, bench.py): `Guest(...)` starts QEMU, `wait_event(...)`
waits for a log record, `qmp.cmd(...)` hotplugs. CLI use (boot.sh):
    vm.py boot [--init nodeboot|trivial|bench] [--disks ssd,hdd,nvme] [--append WORDS]
               [--workdir DIR] [--timeout S]
prints the console and exits with QEMU.

Stdlib only: python3 on a fresh Debian machine is enough.
"""

import argparse
import fcntl
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
import time

VM_DIR = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("VM_CACHE", os.path.join(VM_DIR, ".cache"))
OUT = os.path.join(CACHE, "out")
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Python 3.10+), spelled out

# Sparse disk images the scenarios give the guest, by role. `kind` picks the QEMU
# device: what the guest sees as rotational is in vm-recipe.md (scsi-hd rotation_rate
# 1 -> 0, 7200 -> 1; nvme -> 0).
DISK_SIZES = {"ssd": 2 << 30, "hdd": 3 << 30, "nvme": 2 << 30, "hot": 2 << 30}


def qemu_command():
    """The QEMU binary and its firmware search path flags."""
    found = shutil.which("qemu-system-x86_64")
    if found:
        return [found]
    private = os.path.join(CACHE, "qemu")
    binary = os.path.join(private, "usr", "bin", "qemu-system-x86_64")
    if not os.access(binary, os.X_OK):
        raise SystemExit("vm: no qemu-system-x86_64: run tools/vm/build.sh first")
    # The private copy looks for its firmware under /usr/share/qemu, which is not
    # installed: point it at its own data and at seabios (installed through apt).
    return [binary, "-L", os.path.join(private, "usr", "share", "qemu"),
            "-L", "/usr/share/seabios"]


def make_disk(path, size):
    """A sparse raw image (kept if it exists: a second boot sees the same disk)."""
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.truncate(size)
    return path


class QmpError(Exception):
    pass


class Qmp:
    """A minimal QMP client: one command at a time, events kept aside."""

    def __init__(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise QmpError(f"cannot connect to QMP at {path}")
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")
        self.events = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise QmpError(f"unexpected QMP greeting {greeting}")
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise QmpError("QMP connection closed")
        return json.loads(line)

    def cmd(self, command, **arguments):
        """Run a QMP command; arguments whose names clash with Python's are given
        with a trailing underscore (`id_`)."""
        name = command
        arguments = {k.rstrip("_"): v for k, v in arguments.items()}
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QmpError(f"{name} {arguments}: {reply['error']}")
            return reply.get("return")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


_GUESTS = []


def kill_leftovers():
    """Kill every QEMU this process started that still runs (a failed scenario)."""
    for g in _GUESTS:
        if g.running():
            g.kill()


class Guest:
    """One QEMU process booting `initrd` with the given disks and NICs.

    disks: list of (role, image path) with role in ssd/hdd/nvme.
    nics: list of dicts {id, up}: each a virtio-net-pci on its own restricted user
    network with the reachability target 10.0.2.100:80 (a guestfwd that accepts and
    closes every connection). A NIC with up=False has its link set down over QMP
    while the VM is still paused (-S), before the guest ever runs.
    """

    def __init__(self, workdir, init="nodeboot", disks=(), nics=None, append="",
                 memory=768, name="guest", extra=(), stuck_console=False):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.name = name
        self.console_path = os.path.join(workdir, f"{name}.console.log")
        self.qmp_path = os.path.join(workdir, f"{name}.qmp")
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)
        if nics is None:
            nics = [{"id": "nic0", "up": True}]
        self.lines = []        # (host monotonic time, text)
        self.records = []      # parsed JSON records, each with "_t" (host time)
        self._new = queue.Queue()
        self._lock = threading.Lock()
        self.t_launch = time.monotonic()

        kernel = os.path.join(OUT, "vmlinux")
        initrd = os.path.join(OUT, f"initrd-{init}")
        for f in (kernel, initrd):
            if not os.path.exists(f):
                raise SystemExit(f"vm: missing {f}: run tools/vm/build.sh first")
        cmdline = f"console=ttyS0 quiet panic=-1 {append}".strip()
        # stuck_console: ttyS0 (the console) goes to a FIFO of one page that nobody
        # reads, so the guest's UART stalls under flow control once it is full; the
        # harness reads ttyS1 instead, where a guest stand-in writes the log stream
        # it reads from nodeboot's socket (tools/vm/guest/inspect.sh, vm.stream=).
        serial = ["-serial", "stdio"]
        self.stuck_fd = None
        if stuck_console:
            # QEMU writes FIFO.out and reads FIFO.in (with only FIFO, it would read
            # back its own output).
            fifo = os.path.join(workdir, f"{name}.stuck")
            for end in (".in", ".out"):
                if os.path.exists(fifo + end):
                    os.unlink(fifo + end)
                os.mkfifo(fifo + end)
            # Held open (read-write: never blocks, never EOF) and never read.
            self.stuck_fd = os.open(fifo + ".out", os.O_RDWR | os.O_NONBLOCK)
            fcntl.fcntl(self.stuck_fd, F_SETPIPE_SZ, 4096)
            serial = ["-chardev", f"pipe,id=stuck,path={fifo}", "-serial", "chardev:stuck",
                      "-serial", "stdio"]
            cmdline += " vm.stream=ttyS1"
        args = [
            *qemu_command(), "-S", "-M", "pc", "-cpu", "qemu64,+rdrand", "-smp", "1",
            "-m", str(memory), "-no-reboot", "-display", "none", "-monitor", "none",
            *serial, "-nodefaults", "-no-user-config",
            "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            # Fixed PCI slots: the cache's disk order is the sysfs devpath (PCI
            # topology), so the SSD behind the SCSI controller (slot 4) ranks before
            # the NVMe disk (slot 5 on). docs/vm.md explains.
            "-device", "virtio-scsi-pci,id=scsi0,addr=0x4",
        ]
        for i, (role, image) in enumerate(disks):
            args += ["-drive", f"if=none,id=d{i},file={image},format=raw,cache=unsafe"]
            args += disk_device(role, f"d{i}", f"disk{i}", i)
        for i, nic in enumerate(nics):
            args += ["-netdev", user_netdev(nic["id"] + "n")]
            args += ["-device", f"virtio-net-pci,netdev={nic['id']}n,id={nic['id']},"
                     f"romfile=,addr={0x10 + i:#x}"]
        args += list(extra)  # more QEMU arguments (e.g. `-device i6300esb`)
        self.args = args
        _GUESTS.append(self)
        self.console = open(self.console_path, "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read_console, daemon=True)
        self._reader.start()
        self.qmp = Qmp(self.qmp_path)
        for nic in nics:
            if not nic.get("up", True):
                self.qmp.cmd("set_link", name=nic["id"], up=False)
        self.qmp.cmd("cont")
        self.t_start = time.monotonic()

    def _read_console(self):
        for raw in iter(self.proc.stdout.readline, b""):
            now = time.monotonic()
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.console.write(f"{now - self.t_launch:9.3f} {text}\n")
            self.console.flush()
            record = parse_record(text)
            with self._lock:
                self.lines.append((now, text))
                if record is not None:
                    record["_t"] = now
                    self.records.append(record)
            self._new.put(None)
        self._new.put(None)

    # --- waiting -------------------------------------------------------------------
    def running(self):
        return self.proc.poll() is None

    def find(self, event=None, since=0, **fields):
        """Records matching `event` and every given field, from index `since`."""
        with self._lock:
            recs = self.records[since:]
        return [r for r in recs if matches(r, event, fields)]

    def wait_event(self, event, timeout, since=0, where=None, **fields):
        """The first record matching `event`, every given field and the predicate
        `where` (if any), waiting at most `timeout` seconds; raises TimeoutError
        (with the console tail) if it does not come or QEMU exits."""
        deadline = time.monotonic() + timeout
        while True:
            hits = [r for r in self.find(event, since, **fields) if where is None or where(r)]
            if hits:
                return hits[0]
            left = deadline - time.monotonic()
            if left <= 0 or (not self.running() and self._new.empty()):
                raise TimeoutError(
                    f"no {event} {fields or ''} within {timeout}s "
                    f"(qemu {'running' if self.running() else 'exited'})\n"
                    + self.tail())
            try:
                self._new.get(timeout=min(left, 0.5))
            except queue.Empty:
                pass

    def wait_line(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for t, text in self.lines:
                    if needle in text:
                        return text
            left = deadline - time.monotonic()
            if left <= 0 or (not self.running() and self._new.empty()):
                raise TimeoutError(f"no line with {needle!r} within {timeout}s\n" + self.tail())
            try:
                self._new.get(timeout=min(left, 0.5))
            except queue.Empty:
                pass

    def output_lines(self, prefix):
        """Service output lines (any record whose `line` field starts with prefix)."""
        out = []
        for r in self.find():
            line = r.get("line")
            if isinstance(line, str) and line.startswith(prefix):
                out.append(line)
        # Non-JSON console lines too (a service writing straight to the console).
        with self._lock:
            out += [t for _, t in self.lines if t.startswith(prefix)]
        return out

    def stuck_bytes(self):
        """Bytes waiting in the unread console FIFO (stuck_console)."""
        buf = fcntl.ioctl(self.stuck_fd, termios.FIONREAD, b"\0\0\0\0")
        return int.from_bytes(buf, "little")

    def drain_stuck(self):
        """Read the stuck console from now on (in a thread): the guest's UART moves
        again. What it reads collects in `stuck_text`."""
        self.stuck_text = ""

        def drain():
            while self.running():
                try:
                    data = os.read(self.stuck_fd, 65536)
                    with self._lock:
                        self.stuck_text += data.decode("utf-8", "replace")
                    if not data:
                        time.sleep(0.05)
                except BlockingIOError:
                    time.sleep(0.05)
                except OSError:
                    return
        threading.Thread(target=drain, daemon=True).start()

    def tail(self, n=40):
        with self._lock:
            return "\n".join(t for _, t in self.lines[-n:])

    # --- ending --------------------------------------------------------------------
    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """Power cut: SIGKILL QEMU (nothing flushed by the guest after this)."""
        if self.running():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.close()

    def quit(self):
        try:
            if self.running():
                self.qmp.cmd("quit")
        except (QmpError, OSError):
            pass
        if self.wait_exit(5) is None:
            self.kill()
        self.close()

    def close(self):
        if getattr(self, "qmp", None) is not None:
            self.qmp.close()
        self._reader.join(timeout=2)
        self.console.close()


def disk_device(role, drive, dev_id, index):
    scsi = f"scsi-hd,bus=scsi0.0,scsi-id={index},lun=0,drive={drive},id={dev_id}"
    if role in ("ssd", "hot"):
        return ["-device", f"{scsi},rotation_rate=1"]
    if role == "hdd":
        return ["-device", f"{scsi},rotation_rate=7200"]
    if role == "nvme":
        return ["-device", f"nvme,drive={drive},id={dev_id},serial=nb{dev_id},addr={0x5 + index:#x}"]
    raise ValueError(f"unknown disk role {role}")


def hotplug_disk(qmp, image, node="hot1", dev_id="hotdisk", scsi_id=7):
    """A blank SSD plugged into the running guest's SCSI controller."""
    qmp.cmd("blockdev-add", driver="raw", **{"node-name": node},
            file={"driver": "file", "filename": image})
    qmp.cmd("device_add", driver="scsi-hd", bus="scsi0.0", id_=dev_id, drive=node,
            rotation_rate=1, **{"scsi-id": scsi_id, "lun": 0})


def hotplug_nic(qmp, dev_id="hotnic", driver="e1000"):
    """A NIC plugged into the running guest (PCI hotplug), on its own restricted user
    network with the same reachability target. e1000 by default: its driver is not
    loaded at boot, so only the device's MODALIAS can bring it in."""
    netdev = dev_id + "n"
    qmp.cmd("netdev_add", type="user", id_=netdev, restrict=True,
            guestfwd=[{"str": "tcp:10.0.2.100:80-cmd:true"}])
    qmp.cmd("device_add", driver=driver, id_=dev_id, netdev=netdev, romfile="")


def user_netdev(netdev_id):
    # restrict=on: no route out of QEMU; DHCP still answers (10.0.2.15, no router).
    # The guestfwd is the on-link reachability target: each connection runs `true`,
    # so the guest's connect succeeds and the peer closes.
    return f"user,id={netdev_id},restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:true"


def parse_record(text):
    """A JSON log record from a console line, or None. Kernel messages may precede
    the record on the same line (both write to the console): look from the first {."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        record = json.loads(text[start:])
    except ValueError:
        return None
    return record if isinstance(record, dict) and "event" in record else None


def matches(record, event, fields):
    if event is not None and record.get("event") != event:
        return False
    return all(record.get(k) == v for k, v in fields.items())


def main():
    ap = argparse.ArgumentParser(description="boot the VM once and print its console")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("boot")
    b.add_argument("--init", default="nodeboot", choices=["nodeboot", "trivial", "bench"])
    b.add_argument("--disks", default="ssd,hdd,nvme",
                   help="comma-separated roles (ssd, hdd, nvme); empty for none")
    b.add_argument("--nics", default="nic0,nic1:down",
                   help="comma-separated ids, :down for a link down at boot")
    b.add_argument("--append", default="", help="extra kernel command line words")
    b.add_argument("--workdir", default=os.path.join(CACHE, "boot"))
    b.add_argument("--fresh", action="store_true", help="new blank disk images")
    b.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()

    if a.fresh and os.path.isdir(a.workdir):
        shutil.rmtree(a.workdir)
    os.makedirs(a.workdir, exist_ok=True)
    disks = []
    for role in filter(None, a.disks.split(",")):
        disks.append((role, make_disk(os.path.join(a.workdir, f"{role}.img"), DISK_SIZES[role])))
    nics = []
    for spec in filter(None, a.nics.split(",")):
        nic_id, _, state = spec.partition(":")
        nics.append({"id": nic_id, "up": state != "down"})
    g = Guest(a.workdir, init=a.init, disks=disks, nics=nics, append=a.append)
    printed = 0
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline and (g.running() or printed < len(g.lines)):
        with g._lock:
            new = g.lines[printed:]
        for t, text in new:
            print(f"{t - g.t_launch:8.3f} {text}", flush=True)
        printed += len(new)
        time.sleep(0.1)
    code = g.proc.poll()
    g.quit()
    print(f"vm: qemu {'exited ' + str(code) if code is not None else 'stopped at timeout'}"
          f" after {time.monotonic() - g.t_launch:.1f}s", file=sys.stderr)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
