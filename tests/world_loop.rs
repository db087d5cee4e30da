//! Real-world tests of the loop (root): the kernel uevent socket, forged uevents,
//! rtnetlink in a network namespace, children, idle wake-ups, TCP probes, the log
//! socket, confinement, and the `--record` journal replayed through the core.
//!
//! Run without libtest's harness: `main` blocks SIGCHLD and friends before any thread
//! starts (exactly as nodeboot does), so the loop's signalfd sees every SIGCHLD.
//! Each test makes its own loop devices, veths and namespaces (names start with `nb`)
//! and removes them in Drop guards. Not root: skipped, or failed when CI=true.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use nodeboot::core::action::{Action, ChildRole, Effect, EffectId, KillSignal, ShutdownKind};
use nodeboot::core::event::Record;
use nodeboot::core::input::{EffectOutput, ExitStatus, Input, SignalKind, Stream};
use nodeboot::time::Instant;
use nodeboot::world::options::{self, Settings};
use nodeboot::world::{Core, Stats, StopHandle, World};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type React = Box<dyn FnMut(&Input) -> Vec<Effect> + Send>;

/// A scripted core: records every input, answers each with the effects `react` gives,
/// and shuts down on `Signal { Stop }`.
struct ScriptCore {
    inputs: Arc<Mutex<Vec<Input>>>,
    react: React,
    next: u64,
    actions: VecDeque<Action>,
}

impl Core for ScriptCore {
    fn handle(&mut self, _now: Instant, input: Input) {
        let mut effects = (self.react)(&input);
        if input
            == (Input::Signal {
                signal: SignalKind::Stop,
            })
        {
            effects.push(Effect::Shutdown {
                kind: ShutdownKind::Exit,
            });
        }
        self.inputs.lock().unwrap().push(input);
        for effect in effects {
            self.next += 1;
            self.actions.push_back(Action {
                id: EffectId(self.next),
                effect,
            });
        }
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
    fn poll_record(&mut self) -> Option<Record> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

struct Running {
    inputs: Arc<Mutex<Vec<Input>>>,
    lines: Arc<Mutex<Vec<String>>>,
    stop: StopHandle,
    stats: Arc<Stats>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Wait (up to 10 s) until some input satisfies `pred`; return it.
    fn wait_input(&self, what: &str, pred: impl Fn(&Input) -> bool) -> Input {
        for _ in 0..500 {
            if let Some(i) = self.inputs.lock().unwrap().iter().find(|i| pred(i)) {
                return i.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "timed out waiting for {what}; inputs: {:#?}",
            self.inputs.lock().unwrap()
        );
    }
    fn wait_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        for _ in 0..500 {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "timed out waiting for {what}; log: {:#?}",
            self.lines.lock().unwrap()
        );
    }
    fn inputs(&self) -> Vec<Input> {
        self.inputs.lock().unwrap().clone()
    }
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
    fn finish(mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// A quiet dry-run settings block (no stderr, no socket); tests adjust it.
fn quiet_settings() -> Settings {
    options::parse_run(&["--quiet".to_string()]).unwrap()
}

/// Start a world on its own thread (inside network namespace `netns` if given).
fn start_with<C: Core + Send + 'static>(
    settings: Settings,
    netns: Option<String>,
    make_core: impl FnOnce(Arc<Mutex<Vec<Input>>>) -> C + Send + 'static,
) -> Running {
    let inputs = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let (inputs2, lines2) = (inputs.clone(), lines.clone());
    let thread = std::thread::spawn(move || {
        if let Some(ns) = netns {
            let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        }
        let mut world = World::new(make_core(inputs2), settings).unwrap();
        let lines3 = lines2.clone();
        world.tap_logs(Box::new(move |l| lines3.lock().unwrap().push(l.to_owned())));
        tx.send((world.stop_handle(), world.stats())).unwrap();
        let kind = world.run().unwrap();
        assert_eq!(kind, ShutdownKind::Exit);
    });
    let (stop, stats) = rx.recv().unwrap();
    Running {
        inputs,
        lines,
        stop,
        stats,
        thread: Some(thread),
    }
}

fn start(settings: Settings, netns: Option<String>, react: React) -> Running {
    start_with(settings, netns, move |inputs| ScriptCore {
        inputs,
        react,
        next: 0,
        actions: VecDeque::new(),
    })
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A loop device on a sparse file, detached on drop.
struct LoopDev {
    dev: String,
    dir: PathBuf,
}

impl LoopDev {
    fn new(tag: &str) -> LoopDev {
        let dir = std::env::temp_dir().join(format!("nb-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("disk.img");
        sh(&format!("truncate -s 64M {}", img.display()));
        let dev = sh(&format!("losetup -f --show {}", img.display()));
        LoopDev { dev, dir }
    }
    fn name(&self) -> &str {
        self.dev.trim_start_matches("/dev/")
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("nb{tag}{}", std::process::id());
        sh(&format!("ip netns add {name}"));
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

// ---------------------------------------------------------------------------------

fn uevent_of_own_loop_device_arrives_after_coldplug() {
    let disk = LoopDev::new("uev");
    let name = disk.name().to_owned();
    let w = start(quiet_settings(), None, Box::new(|_| Vec::new()));
    let n = name.clone();
    w.wait_input(
        "coldplug add of our loop device",
        |i| matches!(i, Input::Uevent { uevent } if uevent.devname.as_deref() == Some(n.as_str())),
    );
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    std::fs::write(format!("/sys/class/block/{name}/uevent"), "change").unwrap();
    let got = w.wait_input("change uevent", |i| {
        matches!(i, Input::Uevent { uevent }
            if uevent.devname.as_deref() == Some(n.as_str())
                && uevent.action == nodeboot::wire::uevent::UeventAction::Change)
    });
    let Input::Uevent { uevent } = got else {
        unreachable!()
    };
    assert_eq!(uevent.subsystem, "block");
    assert!(uevent.seqnum.is_some());
    // Coldplug came before ColdplugDone, the live change after it.
    let inputs = w.inputs();
    let done = inputs
        .iter()
        .position(|i| *i == Input::ColdplugDone)
        .unwrap();
    let change = inputs
        .iter()
        .position(|i| matches!(i, Input::Uevent { uevent } if uevent.action == nodeboot::wire::uevent::UeventAction::Change && uevent.devname.as_deref() == Some(n.as_str())))
        .unwrap();
    assert!(change > done);
    w.finish();
}

fn forged_uevent_is_dropped_and_logged() {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_KOBJECT_UEVENT};
    let w = start(quiet_settings(), None, Box::new(|_| Vec::new()));
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    let mut sock = Socket::new(NETLINK_KOBJECT_UEVENT).unwrap();
    let me = sock.bind_auto().unwrap().port_number();
    assert_ne!(me, 0);
    let msg = b"add@/devices/nb-forged\0ACTION=add\0DEVPATH=/devices/nb-forged\0SUBSYSTEM=block\0DEVNAME=nbforged\0SEQNUM=18446744073709551000\0";
    sock.send_to(msg, &SocketAddr::new(0, 1), 0).unwrap();
    let line = w.wait_line("uevent.dropped", |l| l.contains("\"uevent.dropped\""));
    assert!(line.contains(&format!("\"sender\":{me}")), "{line}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!w.inputs().iter().any(|i| matches!(i,
        Input::Uevent { uevent } if uevent.devpath == "/devices/nb-forged")));
    w.finish();
}

fn rtnetlink_sees_veth_carrier_and_sets_link_up() {
    let ns = Netns::new("rt");
    // The core asks for nbv0 to be set up as soon as it is seen down.
    let react: React = Box::new(|i| match i {
        Input::Link { link } if link.name == "nbv0" && !link.admin_up() => {
            vec![Effect::SetLinkUp {
                index: link.index,
                nic: link.name.clone(),
            }]
        }
        _ => Vec::new(),
    });
    let w = start(quiet_settings_live(), Some(ns.0.clone()), react);
    // The initial dump shows lo.
    w.wait_input(
        "lo from the dump",
        |i| matches!(i, Input::Link { link } if link.name == "lo"),
    );
    sh(&format!(
        "ip -n {0} link add nbv0 type veth peer name nbv1 && ip -n {0} link set nbv1 up",
        ns.0
    ));
    w.wait_input("SetLinkUp answered Ok", |i| {
        matches!(
            i,
            Input::EffectDone {
                result: Ok(EffectOutput::Done),
                ..
            }
        )
    });
    w.wait_input(
        "nbv0 with carrier",
        |i| matches!(i, Input::Link { link } if link.name == "nbv0" && link.carrier()),
    );
    let before = w.inputs().len();
    sh(&format!("ip -n {} link set nbv1 down", ns.0));
    for _ in 0..250 {
        let inputs = w.inputs();
        if inputs
            .iter()
            .skip(before)
            .any(|i| matches!(i, Input::Link { link } if link.name == "nbv0" && !link.carrier()))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        w.inputs()
            .iter()
            .skip(before)
            .any(|i| matches!(i, Input::Link { link } if link.name == "nbv0" && !link.carrier()))
    );
    sh(&format!("ip -n {} addr add 10.77.9.1/24 dev nbv0", ns.0));
    w.wait_input(
        "address",
        |i| matches!(i, Input::Address { address, added: true, .. } if address == "10.77.9.1/24"),
    );
    sh(&format!("ip -n {} link del nbv0", ns.0));
    w.wait_input(
        "nbv0 removed",
        |i| matches!(i, Input::LinkRemoved { name, .. } if name == "nbv0"),
    );
    w.finish();
}

/// Live (not dry-run) settings with everything allowed: only for effects that touch
/// nothing but what the test itself made.
fn quiet_settings_live() -> Settings {
    let mut s = quiet_settings();
    s.confine.dry_run = false;
    s
}

fn children_output_exit_kill_and_no_zombie() {
    let react: React = Box::new(|i| match i {
        Input::Start { .. } => vec![
            Effect::Spawn {
                role: ChildRole::Service {
                    service: "talker".into(),
                },
                argv: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo out1; echo err1 >&2; printf 'out2'; exit 3".into(),
                ],
            },
            Effect::Spawn {
                role: ChildRole::Service {
                    service: "sleeper".into(),
                },
                argv: vec!["sleep".into(), "100".into()],
            },
        ],
        Input::EffectDone {
            id: EffectId(2),
            result: Ok(EffectOutput::Spawned { .. }),
        } => vec![Effect::Kill {
            child: EffectId(2),
            signal: KillSignal::Term,
        }],
        _ => Vec::new(),
    });
    let w = start(quiet_settings_live(), None, react);
    let exited = |id: u64| move |i: &Input| matches!(i, Input::ChildExited { id: EffectId(x), .. } if *x == id);
    let talker = w.wait_input("talker exit", exited(1));
    assert_eq!(
        talker,
        Input::ChildExited {
            id: EffectId(1),
            status: ExitStatus::Code(3)
        }
    );
    let sleeper = w.wait_input("sleeper killed", exited(2));
    assert_eq!(
        sleeper,
        Input::ChildExited {
            id: EffectId(2),
            status: ExitStatus::Signal(libc::SIGTERM)
        }
    );
    let inputs = w.inputs();
    let out: Vec<(Stream, String)> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::ChildOutput {
                id: EffectId(1),
                stream,
                line,
            } => Some((*stream, line.clone())),
            _ => None,
        })
        .collect();
    assert!(out.contains(&(Stream::Stdout, "out1".into())), "{out:?}");
    assert!(out.contains(&(Stream::Stdout, "out2".into())), "{out:?}");
    assert!(out.contains(&(Stream::Stderr, "err1".into())), "{out:?}");
    // Output came before the exit.
    let exit_pos = inputs.iter().position(exited(1)).unwrap();
    let last_out = inputs
        .iter()
        .rposition(|i| {
            matches!(
                i,
                Input::ChildOutput {
                    id: EffectId(1),
                    ..
                }
            )
        })
        .unwrap();
    assert!(last_out < exit_pos);
    // Both were reaped: no zombie child of ours left.
    let pids: Vec<u32> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::EffectDone {
                result: Ok(EffectOutput::Spawned { pid }),
                ..
            } => Some(*pid),
            _ => None,
        })
        .collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty(), "pid {pid} still there: {stat}");
    }
    w.finish();
}

fn idle_loop_makes_no_wakeups() {
    let ns = Netns::new("idle");
    let w = start(
        quiet_settings(),
        Some(ns.0.clone()),
        Box::new(|_| Vec::new()),
    );
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    // Let the rtnetlink dumps finish.
    std::thread::sleep(Duration::from_millis(300));
    let before = w.stats.wakeups.load(std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    let after = w.stats.wakeups.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        after - before,
        0,
        "the idle loop woke up {} times in 2 s",
        after - before
    );
    w.finish();
}

fn connect_probes_open_and_closed_ports() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_addr = open.local_addr().unwrap().to_string();
    let closed_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (a, b) = (open_addr.clone(), closed_addr.clone());
    let react: React = Box::new(move |i| match i {
        Input::Start { .. } => vec![
            Effect::Connect { target: a.clone() },
            Effect::Connect { target: b.clone() },
            Effect::Connect {
                target: "nb-no-such-host.invalid:80".into(),
            },
        ],
        _ => Vec::new(),
    });
    let w = start(quiet_settings(), None, react);
    let done = |id: u64| move |i: &Input| matches!(i, Input::EffectDone { id: EffectId(x), .. } if *x == id);
    let ok = w.wait_input("open port", done(1));
    assert!(
        matches!(
            ok,
            Input::EffectDone {
                result: Ok(EffectOutput::Done),
                ..
            }
        ),
        "{ok:?}"
    );
    let refused = w.wait_input("closed port", done(2));
    assert!(
        matches!(&refused, Input::EffectDone { result: Err(e), .. } if e.contains("refused")),
        "{refused:?}"
    );
    let name = w.wait_input("hostname", done(3));
    assert!(
        matches!(name, Input::EffectDone { result: Err(_), .. }),
        "{name:?}"
    );
    drop(open);
    w.finish();
}

fn confined_run_never_touches_other_disks() {
    let disk = LoopDev::new("conf");
    let name = disk.name().to_owned();
    let before = std::fs::read(&disk.dev).map(|b| b.len()).unwrap_or(0);
    assert!(before > 0);
    let n = name.clone();
    let react: React = Box::new(move |i| match i {
        Input::ColdplugDone => vec![
            Effect::ProbeDisk {
                device: "vda".into(),
            },
            Effect::Mkfs {
                device: "vda".into(),
                label: "nb".into(),
            },
            Effect::Mkfs {
                device: n.clone(),
                label: "nb".into(),
            },
            Effect::SetLinkUp {
                index: 1,
                nic: "lo".into(),
            },
        ],
        _ => Vec::new(),
    });
    // `--disk 'loop*'` without --root: confined *and* a dry run.
    let mut settings =
        options::parse_run(&["--quiet".into(), "--disk".into(), "loop*".into()]).unwrap();
    settings.socket = None;
    let w = start(settings, None, react);
    let done = |id: u64| move |i: &Input| matches!(i, Input::EffectDone { id: EffectId(x), .. } if *x == id);
    for id in [1, 2] {
        let r = w.wait_input("vda refused", done(id));
        assert!(
            matches!(&r, Input::EffectDone { result: Err(e), .. } if e.starts_with("refused:") && e.contains("vda")),
            "{r:?}"
        );
    }
    let r = w.wait_input("loop mkfs dry run", done(3));
    assert!(
        matches!(r, Input::EffectDone { result: Ok(_), .. }),
        "{r:?}"
    );
    let r = w.wait_input("lo refused", done(4));
    assert!(
        matches!(r, Input::EffectDone { result: Err(_), .. }),
        "{r:?}"
    );
    let lines = w.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"effect.dry-run\"") && l.contains(&name))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"effect.refused\"") && l.contains("vda"))
    );
    // The dry run wrote nothing: the loop device is still all zeroes.
    let bytes = std::fs::read(&disk.dev).unwrap();
    assert!(bytes.iter().all(|b| *b == 0));
    w.finish();
}

fn unconfined_binary_run_is_a_dry_run() {
    let bin = env!("CARGO_BIN_EXE_nodeboot");
    let dir = std::env::temp_dir().join(format!("nb-dry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.jsonl");
    let mut child = Command::new(bin)
        .args(["run", "--json"])
        .stderr(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = records.first().unwrap();
    assert_eq!(first["event"], "boot.start");
    assert_eq!(first["mode"], "dry-run");
    // Nothing but read-only effects ran: every effect event is a dry run, and a
    // failure is never from an effect that writes.
    for r in &records {
        let ev = r["event"].as_str().unwrap_or_default();
        if ev == "effect.failed" {
            let e = r["effect"].as_str().unwrap_or_default();
            assert!(
                matches!(e, "probe_disk" | "list_subvolumes" | "connect"),
                "{r}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn log_socket_serves_backlog_follows_and_checks_peer() {
    let dir = std::env::temp_dir().join(format!("nb-sock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("nodeboot.sock");
    let mut settings = quiet_settings();
    settings.socket = Some(sock.clone());
    let react: React = Box::new(|i| match i {
        Input::Signal {
            signal: SignalKind::Status,
        } => vec![Effect::ReopenLogs {
            dir: "/nb-never".into(),
        }],
        _ => Vec::new(),
    });
    let w = start(settings, None, react);
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    // A forged uevent puts a world record on the stream.
    forge_uevent();
    w.wait_line("uevent.dropped", |l| l.contains("uevent.dropped"));
    let path = sock.to_str().unwrap().to_owned();
    let mut backlog = Vec::new();
    nodeboot::log::client::stream(&path, false, &mut |l| {
        backlog.push(l.to_owned());
        Ok(())
    })
    .unwrap();
    assert!(
        backlog.iter().any(|l| l.contains("uevent.dropped")),
        "{backlog:?}"
    );
    // A follower gets the backlog, then new lines.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let p2 = path.clone();
    std::thread::spawn(move || {
        let _ = nodeboot::log::client::stream(&p2, true, &mut |l| {
            tx.send(l.to_owned()).map_err(std::io::Error::other)
        });
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    let mut forged_again = false;
    while std::time::Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(l);
        }
        let drops = seen.iter().filter(|l| l.contains("uevent.dropped")).count();
        if drops >= 1 && !forged_again {
            forge_uevent();
            forged_again = true;
        }
        if drops >= 2 {
            break;
        }
    }
    assert!(
        seen.iter().filter(|l| l.contains("uevent.dropped")).count() >= 2,
        "{seen:?}"
    );
    // Another uid is refused (SO_PEERCRED), even with the file mode opened up.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_nodeboot"))
        .args(["logs", "--json", "--socket", &path])
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    w.wait_line("refusal", |l| l.contains("refused a client with uid 65534"));
    w.finish();
    assert!(!sock.exists(), "socket removed at the end");
    let _ = std::fs::remove_dir_all(&dir);
}

fn forge_uevent() {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_KOBJECT_UEVENT};
    let mut s = Socket::new(NETLINK_KOBJECT_UEVENT).unwrap();
    s.bind_auto().unwrap();
    let msg = b"add@/devices/nb-forged\0ACTION=add\0DEVPATH=/devices/nb-forged\0SUBSYSTEM=block\0";
    s.send_to(msg, &SocketAddr::new(0, 1), 0).unwrap();
}

fn record_journal_replays_to_the_same_log_stream() {
    use nodeboot::core::Reactor;
    use nodeboot::core::policy::Policy;
    let dir = std::env::temp_dir().join(format!("nb-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("run.trace");
    let disk = LoopDev::new("rec");
    let mut settings = quiet_settings();
    settings.record = Some(journal.clone());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let w = start_with(settings, None, |_inputs| Reactor::new(Policy::default()));
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(format!("/sys/class/block/{}/uevent", disk.name()), "change").unwrap();
    // SIGUSR1-equivalent status and a stop, through the journal too.
    std::thread::sleep(Duration::from_millis(300));
    w.finish_into(&lines);
    let live: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !is_world_only(l))
        .map(|l| strip_ts(l))
        .collect();
    assert!(live.first().unwrap().contains("boot.start"));
    // Replay: the same inputs at the same times into a fresh core.
    let mut core = Reactor::new(Policy::default());
    let mut replayed = Vec::new();
    let wall = nodeboot::world::logfmt::WallClock {
        mono: Instant::ZERO,
        wall_us: 0,
    };
    // As a replay does: timers fire at their deadlines, before a later input.
    let emit = |core: &mut Reactor, replayed: &mut Vec<String>| {
        while let Some(r) = core.poll_record() {
            replayed.push(strip_ts(&nodeboot::world::logfmt::json_line(&r, &wall)));
        }
        while core.poll_action().is_some() {}
    };
    for (t, input) in nodeboot::world::journal::read(&journal).unwrap() {
        while let Some(due) = core.poll_timeout().filter(|d| *d <= t) {
            core.handle_timeout(due);
            emit(&mut core, &mut replayed);
        }
        core.handle(t, input);
        emit(&mut core, &mut replayed);
    }
    assert_eq!(live, replayed);
    let _ = std::fs::remove_dir_all(&dir);
}

impl Running {
    /// Stop, join, and hand back every log line.
    fn finish_into(mut self, out: &Arc<Mutex<Vec<String>>>) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        out.lock().unwrap().extend(self.lines());
    }
}

/// Records only the world writes (not the core): not part of a replay.
fn is_world_only(line: &str) -> bool {
    [
        "\"world.error\"",
        "\"uevent.dropped\"",
        "\"uevent.overflow\"",
        "\"effect.dry-run\"",
        "\"effect.refused\"",
    ]
    .iter()
    .any(|e| line.contains(e))
}

fn strip_ts(line: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    if let Some(m) = v.as_object_mut() {
        m.remove("ts");
    }
    v.to_string()
}

fn uevent_overflow_resyncs_from_sysfs() {
    let disk = LoopDev::new("ovf");
    let name = disk.name().to_owned();
    let mut settings = quiet_settings();
    settings.uevent_rcvbuf = Some(1); // the kernel's minimum: a few events
    // A slow core (1 ms per uevent) lets the burst overflow the socket.
    let react: React = Box::new(|i| {
        if matches!(i, Input::Uevent { .. }) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Vec::new()
    });
    let w = start(settings, None, react);
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    let path = format!("/sys/class/block/{name}/uevent");
    for _ in 0..400 {
        std::fs::write(&path, "change").unwrap();
    }
    w.wait_line("uevent.overflow", |l| l.contains("\"uevent.overflow\""));
    let n = name.clone();
    let resync = w.wait_input("Resync", |i| matches!(i, Input::Resync { .. }));
    let Input::Resync { devices } = resync else {
        unreachable!()
    };
    assert!(
        devices
            .iter()
            .any(|u| u.devname.as_deref() == Some(n.as_str()))
    );
    assert!(devices.iter().any(|u| u.subsystem == "net"));
    w.finish();
}

fn internal_command_child_reports_its_effect() {
    use nodeboot::core::input::EffectResult;
    use nodeboot::world::children::{ChildNews, Children};
    let poll = mio::Poll::new().unwrap();
    let mut children = Children::default();
    let argv = |s: &str| vec!["sh".to_string(), "-c".to_string(), s.to_string()];
    children
        .spawn(
            poll.registry(),
            EffectId(7),
            &argv("echo working; echo 'no space left' >&2; exit 2"),
            true,
        )
        .unwrap();
    children
        .spawn(poll.registry(), EffectId(8), &argv("echo fine"), true)
        .unwrap();
    let mut results: Vec<(EffectId, EffectResult)> = Vec::new();
    for _ in 0..500 {
        for (pid, status) in nodeboot::world::signals::reap(false, &children.pids()) {
            for n in children.on_reaped(poll.registry(), pid, status).unwrap() {
                match n {
                    ChildNews::EffectDone { id, result } => results.push((id, result)),
                    other => panic!("an internal child reports only its result: {other:?}"),
                }
            }
        }
        if results.len() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    results.sort_by_key(|(id, _)| *id);
    assert_eq!(results.len(), 2, "{results:?}");
    let (_, failed) = &results[0];
    let err = failed.clone().unwrap_err();
    assert!(
        err.contains("exit 2") && err.contains("no space left"),
        "{err}"
    );
    assert_eq!(results[1], (EffectId(8), Ok(EffectOutput::Done)));
    assert!(children.is_empty());
}

fn log_socket_status_request_asks_the_core() {
    use nodeboot::core::Reactor;
    use nodeboot::core::policy::Policy;
    let dir = std::env::temp_dir().join(format!("nb-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("nodeboot.sock");
    let mut settings = quiet_settings();
    settings.socket = Some(sock.clone());
    let w = start_with(settings, None, |_| Reactor::new(Policy::default()));
    w.wait_line("boot.start", |l| l.contains("boot.start"));
    let mut got = Vec::new();
    nodeboot::log::client::request(sock.to_str().unwrap(), "status", &mut |l| {
        got.push(l.to_owned());
        Ok(())
    })
    .unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("\"event\":\"status\""), "{got:?}");
    let mut bad = Vec::new();
    let err = nodeboot::log::client::request(sock.to_str().unwrap(), "bogus", &mut |l| {
        bad.push(l.to_owned());
        Ok(())
    });
    assert!(err.is_err() && bad.is_empty());
    w.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------

fn main() {
    if !nix::unistd::geteuid().is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("world_loop tests need root, and CI=true: not skipping");
        }
        eprintln!("world_loop: not root, skipped");
        return;
    }
    // As nodeboot does: block the signals the loop reads through its signalfd in
    // every thread, before any thread starts.
    let mut mask = nix::sys::signal::SigSet::empty();
    for s in [
        nix::sys::signal::Signal::SIGCHLD,
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGUSR1,
        nix::sys::signal::Signal::SIGUSR2,
    ] {
        mask.add(s);
    }
    mask.thread_block().unwrap();

    let tests: &[(&str, fn())] = &[
        (
            "uevent_of_own_loop_device_arrives_after_coldplug",
            uevent_of_own_loop_device_arrives_after_coldplug,
        ),
        (
            "forged_uevent_is_dropped_and_logged",
            forged_uevent_is_dropped_and_logged,
        ),
        (
            "rtnetlink_sees_veth_carrier_and_sets_link_up",
            rtnetlink_sees_veth_carrier_and_sets_link_up,
        ),
        (
            "children_output_exit_kill_and_no_zombie",
            children_output_exit_kill_and_no_zombie,
        ),
        ("idle_loop_makes_no_wakeups", idle_loop_makes_no_wakeups),
        (
            "connect_probes_open_and_closed_ports",
            connect_probes_open_and_closed_ports,
        ),
        (
            "confined_run_never_touches_other_disks",
            confined_run_never_touches_other_disks,
        ),
        (
            "unconfined_binary_run_is_a_dry_run",
            unconfined_binary_run_is_a_dry_run,
        ),
        (
            "log_socket_serves_backlog_follows_and_checks_peer",
            log_socket_serves_backlog_follows_and_checks_peer,
        ),
        (
            "record_journal_replays_to_the_same_log_stream",
            record_journal_replays_to_the_same_log_stream,
        ),
        (
            "uevent_overflow_resyncs_from_sysfs",
            uevent_overflow_resyncs_from_sysfs,
        ),
        (
            "internal_command_child_reports_its_effect",
            internal_command_child_reports_its_effect,
        ),
        (
            "log_socket_status_request_asks_the_core",
            log_socket_status_request_asks_the_core,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        eprint!("test {name} ... ");
        match std::panic::catch_unwind(test) {
            Ok(()) => eprintln!("ok"),
            Err(_) => {
                eprintln!("FAILED");
                failed.push(*name);
            }
        }
    }
    if !failed.is_empty() {
        panic!("{} failed: {failed:?}", failed.len());
    }
    let _ = Path::new("/");
}
