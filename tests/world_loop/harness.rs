//! The harness: a scripted core and a world on its own thread; loop disks and network
//! namespaces (which clean up after themselves) come from the shared `tests/support`.

pub use crate::support::{LoopDisk, Netns};
pub use nodeboot::core::action::{Action, ChildRole, Effect, EffectId, KillSignal, ShutdownKind};
pub use nodeboot::core::event::Record;
pub use nodeboot::core::input::{EffectOutput, ExitStatus, Input, SignalKind, Stream};
pub use nodeboot::time::Instant;
pub use nodeboot::world::options::{self, Settings};
pub use nodeboot::world::{Core, Stats, StopHandle, World};
pub use std::collections::VecDeque;
pub use std::process::Command;
pub use std::sync::{Arc, Mutex};
pub use std::time::Duration;

pub type React = Box<dyn FnMut(&Input) -> Vec<Effect> + Send>;

/// A scripted core: records every input, answers each with the effects `react` gives,
/// and shuts down on `Signal { Stop }`.
pub struct ScriptCore {
    pub inputs: Arc<Mutex<Vec<Input>>>,
    pub react: React,
    pub next: u64,
    pub actions: VecDeque<Action>,
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

pub struct Running {
    pub inputs: Arc<Mutex<Vec<Input>>>,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub stop: StopHandle,
    pub stats: Arc<Stats>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Wait (up to 10 s) until some input satisfies `pred`; return it.
    pub fn wait_input(&self, what: &str, pred: impl Fn(&Input) -> bool) -> Input {
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
    pub fn wait_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
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
    pub fn inputs(&self) -> Vec<Input> {
        self.inputs.lock().unwrap().clone()
    }
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
    pub fn finish(mut self) {
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
pub fn quiet_settings() -> Settings {
    Settings::run(&options::RunOptions {
        quiet: true,
        ..Default::default()
    })
}

/// Start a world on its own thread (inside network namespace `netns` if given).
pub fn start_with<C: Core + Send + 'static>(
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

pub fn start(settings: Settings, netns: Option<String>, react: React) -> Running {
    start_with(settings, netns, move |inputs| ScriptCore {
        inputs,
        react,
        next: 0,
        actions: VecDeque::new(),
    })
}

/// A shell command line that must succeed; its stdout, trimmed.
pub fn sh(cmd: &str) -> String {
    crate::support::sh(&["sh", "-c", cmd]).trim().to_owned()
}

/// Live (not dry-run) settings with everything allowed: only for effects that touch
/// nothing but what the test itself made.
pub fn quiet_settings_live() -> Settings {
    let mut s = quiet_settings();
    s.confine.dry_run = false;
    s
}

pub fn forge_uevent() {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_KOBJECT_UEVENT};
    let mut s = Socket::new(NETLINK_KOBJECT_UEVENT).unwrap();
    s.bind_auto().unwrap();
    let msg = b"add@/devices/nb-forged\0ACTION=add\0DEVPATH=/devices/nb-forged\0SUBSYSTEM=block\0";
    s.send_to(msg, &SocketAddr::new(0, 1), 0).unwrap();
}

impl Running {
    /// Stop, join, and hand back every log line.
    pub fn finish_into(mut self, out: &Arc<Mutex<Vec<String>>>) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        out.lock().unwrap().extend(self.lines());
    }
}
