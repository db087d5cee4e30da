//! The live world: the only module that makes syscalls. One non-async mio loop owns
//! the uevent socket, the rtnetlink socket, a signalfd, child pipes, probe sockets,
//! the log socket and a waker for the worker thread. It turns everything that happens
//! into `Input`s for the core and carries out the core's effects:
//!
//! 1. poll with the timeout `core.poll_timeout() - now` (none armed: sleep forever);
//! 2. read the clock once (`clock::now`, CLOCK_BOOTTIME);
//! 3. fire the timers due by then, each as `handle_timeout(deadline)`;
//! 4. drain every ready source until it would block, feeding the core at `now`;
//! 5. after every input: emit `poll_record()`s, execute `poll_action()`s (their
//!    immediate answers are queued as further inputs).
//!
//! Errors are typed ([`error::WorldError`]), logged as `world.error`, and the loop
//! goes on. As PID 1 nothing here returns or panics (see [`init_main`]).

pub mod children;
pub mod clock;
pub mod confine;
pub mod effects;
pub mod error;
mod exec;
pub mod journal;
pub mod logfmt;
pub mod logsink;
pub mod logsock;
pub mod options;
mod pid1;
pub mod probes;
pub mod rtnl_sock;
pub mod signals;
mod spawn_mask;
pub mod sysfs;
pub mod uevent_sock;
pub mod worker;

use crate::core::Reactor;
use crate::core::action::{Action, EffectId, ShutdownKind};
use crate::core::event::{Event, Record};
use crate::core::input::{EffectResult, Input, SignalKind};
use crate::time::Instant;
use children::{ChildNews, Children};
use error::WorldError;
use logfmt::WallClock;
use logsink::LogSinks;
use logsock::{LogSocket, SocketNews};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use options::Settings;
use probes::Probes;
use rtnl_sock::{Dump, RtnlEvent, RtnlSocket};
use signals::{Caught, Signals};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use uevent_sock::{Received, UeventSocket};
use worker::Worker;

const UEVENT: Token = Token(1);
const RTNL: Token = Token(2);
const SIGNALS: Token = Token(3);
const WAKER: Token = Token(4);
const LOG_LISTENER: Token = Token(5);
/// Timer rounds per loop turn, at most.
const MAX_TIMER_ROUNDS: usize = 1024;

/// What the loop drives: the reactor, or a scripted stand-in in tests.
pub trait Core {
    fn handle(&mut self, now: Instant, input: Input);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_action(&mut self) -> Option<Action>;
    fn poll_record(&mut self) -> Option<Record>;
    fn poll_timeout(&self) -> Option<Instant>;
}

impl Core for Reactor {
    fn handle(&mut self, now: Instant, input: Input) {
        Reactor::handle(self, now, input)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Reactor::handle_timeout(self, now)
    }
    fn poll_action(&mut self) -> Option<Action> {
        Reactor::poll_action(self)
    }
    fn poll_record(&mut self) -> Option<Record> {
        Reactor::poll_record(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Reactor::poll_timeout(self)
    }
}

/// Ends a run from another thread (an embedding or a test): the core gets
/// `Signal { Stop }` as if SIGTERM had arrived.
#[derive(Clone)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

/// Counters a test or benchmark can read while the loop runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Returns from `epoll_wait` (an idle loop with no timer must not have any).
    pub wakeups: AtomicU64,
    /// Inputs handed to the core.
    pub inputs: AtomicU64,
}

pub struct World<C: Core> {
    core: C,
    settings: Settings,
    poll: Poll,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    uevents: Option<UeventSocket>,
    /// Live uevents at or below this SEQNUM are already in the last sysfs scan.
    seqnum_cutoff: u64,
    rtnl: Option<RtnlSocket>,
    /// A redump is due once the dump in progress ends (rtnetlink overflowed meanwhile).
    redump: bool,
    /// RTM_SETLINK sequence numbers → the `SetLinkUp` effect they answer.
    link_up_acks: BTreeMap<u32, EffectId>,
    signals: Option<Signals>,
    children: Children,
    /// Children a dry run pretended to start.
    dry_children: std::collections::BTreeSet<EffectId>,
    probes: Probes,
    worker: Option<Worker>,
    logs: LogSinks,
    journal: Option<journal::Journal>,
    now: Instant,
    pending: VecDeque<Input>,
    shutdown: Option<ShutdownKind>,
    /// Errors met while opening the sources, logged after `boot.start`.
    setup_errors: Vec<WorldError>,
}

impl<C: Core> World<C> {
    /// Open every source. Only a failure to create the poll instance is fatal; any
    /// other source that fails is logged (after `boot.start`) and left out.
    pub fn new(core: C, settings: Settings) -> Result<World<C>, WorldError> {
        let poll_err = |what| move |source| WorldError::Poll { what, source };
        let poll = Poll::new().map_err(poll_err("epoll_create"))?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(poll_err("eventfd"))?);
        let mut setup_errors = Vec::new();
        let registry = poll.registry();

        // Signals first: every thread started later inherits the blocked mask.
        let signals = match Signals::open() {
            Ok(s) => {
                let fd = s.fd();
                match registry.register(&mut SourceFd(&fd), SIGNALS, Interest::READABLE) {
                    Ok(()) => Some(s),
                    Err(e) => {
                        setup_errors.push(poll_err("register signalfd")(e));
                        None
                    }
                }
            }
            Err(e) => {
                setup_errors.push(e);
                None
            }
        };
        // Subscribe to uevents before the coldplug scan (in `run`).
        let uevents = match UeventSocket::open(settings.uevent_rcvbuf) {
            Ok(u) => match registry.register(&mut SourceFd(&u.fd()), UEVENT, Interest::READABLE) {
                Ok(()) => Some(u),
                Err(e) => {
                    setup_errors.push(poll_err("register uevent socket")(e));
                    None
                }
            },
            Err(e) => {
                setup_errors.push(e);
                None
            }
        };
        let rtnl = match RtnlSocket::open() {
            Ok(r) => match registry.register(&mut SourceFd(&r.fd()), RTNL, Interest::READABLE) {
                Ok(()) => Some(r),
                Err(e) => {
                    setup_errors.push(poll_err("register rtnetlink socket")(e));
                    None
                }
            },
            Err(e) => {
                setup_errors.push(e);
                None
            }
        };
        let worker = match Worker::start(settings.confine.clone(), waker.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                setup_errors.push(e);
                None
            }
        };
        let mut logs = LogSinks::new(
            settings.stderr,
            WallClock {
                mono: Instant::ZERO,
                wall_us: 0,
            },
        );
        if let Some(path) = &settings.socket {
            match LogSocket::bind(path, registry, LOG_LISTENER) {
                Ok(s) => logs.socket = Some(s),
                Err(source) => setup_errors.push(WorldError::LogSink {
                    what: "bind",
                    path: path.clone(),
                    source,
                }),
            }
        }
        let journal = match &settings.record {
            Some(path) => match journal::Journal::create(path) {
                Ok(j) => Some(j),
                Err(e) => {
                    setup_errors.push(e);
                    None
                }
            },
            None => None,
        };
        Ok(World {
            core,
            settings,
            poll,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(Stats::default()),
            uevents,
            seqnum_cutoff: 0,
            rtnl,
            redump: false,
            link_up_acks: BTreeMap::new(),
            signals,
            children: Children::default(),
            dry_children: Default::default(),
            probes: Probes::default(),
            worker,
            logs,
            journal,
            now: Instant::ZERO,
            pending: VecDeque::new(),
            shutdown: None,
            setup_errors,
        })
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            flag: self.stop.clone(),
            waker: self.waker.clone(),
        }
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Receive a copy of every JSON log line (tests).
    pub fn tap_logs(&mut self, tap: Box<dyn FnMut(&str) + Send>) {
        self.logs.tap = Some(tap);
    }

    pub fn core(&self) -> &C {
        &self.core
    }

    /// Run until the core asks for `Shutdown`. As PID 1 a shutdown powers the node
    /// off or reboots it and never returns; otherwise `run` returns `Ok(kind)`.
    pub fn run(&mut self) -> Result<ShutdownKind, WorldError> {
        self.start()?;
        let mut events = Events::with_capacity(256);
        loop {
            if let Some(kind) = self.shutdown {
                return Ok(self.finish(kind));
            }
            let timeout = self.core.poll_timeout().map(|at| at.since(self.now));
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != std::io::ErrorKind::Interrupted
            {
                // epoll_wait itself failing is not recoverable by retrying.
                return Err(WorldError::Poll {
                    what: "epoll_wait",
                    source: e,
                });
            }
            self.stats.wakeups.fetch_add(1, Ordering::Relaxed);
            self.tick()?;
            self.fire_timers();
            let ready: Vec<(Token, bool)> = events
                .iter()
                .map(|e| (e.token(), e.is_writable() || e.is_error()))
                .collect();
            for (token, _writable) in ready {
                self.dispatch(token);
            }
            if self.stop.swap(false, Ordering::SeqCst) {
                self.feed(Input::Signal {
                    signal: SignalKind::Stop,
                });
            }
        }
    }

    /// Fire every timer due by `now`, each at its own deadline (in deadline order),
    /// before this turn's events: the core sees time move forward only, and a replay,
    /// which fires timers at their deadlines, takes exactly the same decisions.
    fn fire_timers(&mut self) {
        let now = self.now;
        // A core that keeps re-arming an already due timer must not hang the loop.
        for _ in 0..MAX_TIMER_ROUNDS {
            let Some(due) = self.core.poll_timeout().filter(|t| *t <= now) else {
                break;
            };
            self.now = due;
            self.core.handle_timeout(due);
            self.drain();
        }
        self.now = now;
    }

    fn tick(&mut self) -> Result<(), WorldError> {
        self.now = clock::now()?;
        Ok(())
    }

    /// `Input::Start`, the setup errors, the coldplug scan, the first rtnetlink dump.
    fn start(&mut self) -> Result<(), WorldError> {
        self.tick()?;
        let wall_us = clock::wall_unix_micros();
        self.logs.set_clock(WallClock {
            mono: self.now,
            wall_us,
        });
        self.feed(Input::Start {
            wall_clock_unix: wall_us / 1_000_000,
            mode: self.settings.mode,
        });
        for e in std::mem::take(&mut self.setup_errors) {
            self.world_error(e);
        }
        for event in std::mem::take(&mut self.settings.notes) {
            self.log(event);
        }
        self.coldplug();
        if let Some(r) = &mut self.rtnl
            && let Err(e) = r.start_dump(Dump::Links)
        {
            self.world_error(e);
        }
        Ok(())
    }

    /// Subscribe-then-scan: the uevent socket is open; read the seqnum cut-off, then
    /// report every device present as an `add` uevent, then `ColdplugDone`.
    fn coldplug(&mut self) {
        let sys = self.settings.confine.sys_dir.clone();
        match sysfs::read_seqnum(&sys) {
            Ok(n) => self.seqnum_cutoff = n,
            Err(e) => self.world_error(e),
        }
        let (mut devices, errors) = sysfs::scan_classes(&sys);
        if self.settings.policy.modprobe {
            let (with_alias, more_errors) = sysfs::scan_modaliases(&sys);
            devices.extend(with_alias);
            self.log_errors(more_errors);
        }
        self.log_errors(errors);
        for uevent in devices {
            self.feed(Input::Uevent { uevent });
        }
        self.feed(Input::ColdplugDone);
    }

    fn log_errors(&mut self, errors: Vec<WorldError>) {
        for e in errors {
            self.world_error(e);
        }
    }

    fn dispatch(&mut self, token: Token) {
        match token {
            UEVENT => self.on_uevents(),
            RTNL => self.on_rtnl(),
            SIGNALS => self.on_signals(),
            WAKER => self.on_worker(),
            LOG_LISTENER => {
                let news = match &mut self.logs.socket {
                    Some(s) => s.on_accept(self.poll.registry()),
                    None => Vec::new(),
                };
                self.socket_news(news);
            }
            t if Children::owns(t) => {
                let news = self.children.on_readable(self.poll.registry(), t);
                self.child_news(news);
            }
            t if Probes::owns(t) => {
                if let Some((id, result)) = self.probes.on_ready(self.poll.registry(), t) {
                    self.feed(Input::EffectDone { id, result });
                }
            }
            t if LogSocket::owns(t) => {
                let news = self.logs.on_socket_client(self.poll.registry(), t);
                self.socket_news(news);
            }
            _ => {} // sporadic events happen
        }
    }

    fn on_uevents(&mut self) {
        loop {
            let Some(sock) = &mut self.uevents else {
                return;
            };
            match sock.recv() {
                Ok(None) => return,
                Ok(Some(Received::Uevent(uevent))) => {
                    if uevent.seqnum.is_some_and(|s| s <= self.seqnum_cutoff) {
                        continue; // already reported by the scan
                    }
                    self.feed(Input::Uevent { uevent });
                }
                Ok(Some(Received::Dropped { reason, sender })) => {
                    self.log(Event::UeventDropped { reason, sender });
                }
                Ok(Some(Received::Overflow)) => {
                    self.log(Event::UeventOverflow {});
                    self.resync();
                }
                Err(e) => {
                    self.world_error(e);
                    return;
                }
            }
        }
    }

    /// Uevents were lost: a fresh scan of every block and net device for the core.
    fn resync(&mut self) {
        let sys = self.settings.confine.sys_dir.clone();
        match sysfs::read_seqnum(&sys) {
            Ok(n) => self.seqnum_cutoff = self.seqnum_cutoff.max(n),
            Err(e) => self.world_error(e),
        }
        let (devices, errors) = sysfs::scan_classes(&sys);
        self.log_errors(errors);
        self.feed(Input::Resync { devices });
    }

    fn on_rtnl(&mut self) {
        loop {
            let Some(sock) = &mut self.rtnl else { return };
            let batch = match sock.recv() {
                Ok(None) => return,
                Ok(Some(b)) => b,
                Err(e) => {
                    self.world_error(e);
                    return;
                }
            };
            for ev in batch {
                self.on_rtnl_event(ev);
            }
        }
    }

    fn on_rtnl_event(&mut self, ev: RtnlEvent) {
        match ev {
            RtnlEvent::Link(link) => self.feed(Input::Link { link }),
            RtnlEvent::LinkRemoved { index, name } => self.feed(Input::LinkRemoved { index, name }),
            RtnlEvent::Address {
                index,
                address,
                added,
            } => self.feed(Input::Address {
                index,
                address,
                added,
            }),
            RtnlEvent::DumpDone { seq } => self.on_dump_done(seq),
            RtnlEvent::Ack { seq, error } => {
                if let Some(id) = self.link_up_acks.remove(&seq) {
                    let result = match error {
                        None => Ok(crate::core::input::EffectOutput::Done),
                        Some(e) => Err(format!(
                            "RTM_SETLINK: {}",
                            std::io::Error::from_raw_os_error(e.saturating_neg())
                        )),
                    };
                    self.feed(Input::EffectDone { id, result });
                } else if let (Some(e), Some(r)) = (error, &mut self.rtnl) {
                    // A dump request itself failed: log it, let the next overflow retry.
                    if r.dumping.is_some_and(|(_, s)| s == seq) {
                        r.dumping = None;
                        self.world_error(WorldError::Netlink {
                            what: "RTM_GET* dump",
                            socket: "rtnetlink",
                            source: std::io::Error::from_raw_os_error(e.saturating_neg()),
                        });
                    }
                }
            }
            RtnlEvent::Overflow => {
                self.world_error(WorldError::Recv {
                    socket: "rtnetlink",
                    source: std::io::Error::from_raw_os_error(libc::ENOBUFS),
                });
                match self.rtnl_dump_seq() {
                    Some(_) => self.redump = true,
                    None => self.start_dump(Dump::Links),
                }
            }
        }
    }

    fn rtnl_dump_seq(&self) -> Option<u32> {
        self.rtnl.as_ref().and_then(|r| r.dumping).map(|(_, s)| s)
    }

    /// Links are dumped first, then addresses; a redump asked for meanwhile follows.
    fn on_dump_done(&mut self, seq: u32) {
        let Some(r) = &mut self.rtnl else { return };
        let finished = match r.dumping {
            Some((which, s)) if s == seq => which,
            _ => return,
        };
        r.dumping = None;
        match finished {
            Dump::Links => self.start_dump(Dump::Addresses),
            Dump::Addresses if self.redump => {
                self.redump = false;
                self.start_dump(Dump::Links);
            }
            Dump::Addresses => {}
        }
    }

    fn start_dump(&mut self, which: Dump) {
        if let Some(r) = &mut self.rtnl
            && let Err(e) = r.start_dump(which)
        {
            self.world_error(e);
        }
    }

    fn on_signals(&mut self) {
        let Some(s) = &mut self.signals else { return };
        let caught = match s.drain(self.settings.pid1) {
            Ok(c) => c,
            Err(e) => {
                self.world_error(e);
                return;
            }
        };
        let mut reap = false;
        for c in caught {
            match c {
                Caught::Child => reap = true,
                Caught::Request(signal) => self.feed(Input::Signal { signal }),
            }
        }
        if reap {
            self.reap();
        }
    }

    /// Reap every exited child; report ours.
    fn reap(&mut self) {
        for (pid, status) in signals::reap(self.settings.pid1, &self.children.pids()) {
            if let Some(news) = self.children.on_reaped(self.poll.registry(), pid, status) {
                self.child_news(news);
            }
        }
    }

    fn on_worker(&mut self) {
        let results = match &self.worker {
            Some(w) => w.results(),
            None => Vec::new(),
        };
        for (id, result) in results {
            self.feed(Input::EffectDone { id, result });
        }
    }

    fn child_news(&mut self, news: Vec<ChildNews>) {
        for n in news {
            let input = match n {
                ChildNews::Output { id, stream, line } => Input::ChildOutput { id, stream, line },
                ChildNews::Exited { id, status } => Input::ChildExited { id, status },
                ChildNews::EffectDone { id, result } => Input::EffectDone { id, result },
            };
            self.feed(input);
        }
    }

    fn socket_news(&mut self, news: Vec<SocketNews>) {
        for n in news {
            let error = match n {
                SocketNews::StatusRequested => {
                    self.feed(Input::Signal {
                        signal: SignalKind::Status,
                    });
                    continue;
                }
                SocketNews::Refused { uid } => {
                    format!("log socket: refused a client with uid {uid} (SO_PEERCRED)")
                }
                SocketNews::Dropped { reason } => format!("log socket: dropped a client: {reason}"),
            };
            self.log(Event::WorldError { error });
        }
    }

    /// Hand one input to the core, then run everything that follows from it.
    fn feed(&mut self, input: Input) {
        self.pending.push_back(input);
        self.drain();
    }

    /// Records out, actions executed, their immediate answers fed back, until quiet.
    fn drain(&mut self) {
        loop {
            while let Some(record) = self.core.poll_record() {
                self.emit(&record);
            }
            if let Some(action) = self.core.poll_action() {
                self.execute(action);
                continue;
            }
            let Some(input) = self.pending.pop_front() else {
                return;
            };
            if let Some(j) = &mut self.journal
                && let Err(e) = j.record(self.now, &input)
            {
                self.journal = None; // journal once, then stop trying
                self.world_error(e);
            }
            self.stats.inputs.fetch_add(1, Ordering::Relaxed);
            self.core.handle(self.now, input);
        }
    }

    /// Queue the answer to effect `id`.
    fn answer(&mut self, id: EffectId, result: EffectResult) {
        self.pending.push_back(Input::EffectDone { id, result });
    }

    fn emit(&mut self, record: &Record) {
        let news = self.logs.emit(self.poll.registry(), record);
        // Socket trouble is logged without recursing into the socket again.
        for n in news {
            if let SocketNews::Dropped { reason } = n {
                let r = Record {
                    at: self.now,
                    level: crate::core::event::Level::Warn,
                    event: Event::WorldError {
                        error: format!("log socket: dropped a client: {reason}"),
                    },
                };
                let _ = self.logs.emit(self.poll.registry(), &r);
            }
        }
    }

    /// A record the world itself writes (not the core's).
    fn log(&mut self, event: Event) {
        let record = Record {
            at: self.now,
            level: event.level(),
            event,
        };
        self.emit(&record);
    }

    fn world_error(&mut self, e: WorldError) {
        self.log(Event::WorldError {
            error: e.to_string(),
        });
    }

    /// The core asked to shut down. Not PID 1: stop what is left and return.
    fn finish(&mut self, kind: ShutdownKind) -> ShutdownKind {
        if self.settings.pid1 {
            pid1::power(kind);
        }
        for pid in self.children.pids() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if let Some(s) = &mut self.logs.socket {
            s.deregister(self.poll.registry());
        }
        kind
    }
}

/// `nodeboot run`.
pub fn run_main(args: &[String]) -> i32 {
    let settings = match options::parse_run(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nodeboot run: {e}\n{}", options::RUN_USAGE);
            return 2;
        }
    };
    let core = Reactor::new(settings.policy.clone());
    let mut world = match World::new(core, settings) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("nodeboot run: {e}");
            return 1;
        }
    };
    match world.run() {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("nodeboot run: {e}");
            1
        }
    }
}

/// PID 1: boot the node. Never returns, never panics: if the loop ever ends, the error
/// is logged and init keeps reaping orphans forever.
pub fn init_main() -> i32 {
    for e in pid1::prepare_pid1() {
        eprintln!("nodeboot: {e}");
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let mut settings = Settings::init(&cmdline);
    if cmdline.split_whitespace().any(|w| w == "nodeboot.log=json") {
        settings.stderr = Some(logsink::Format::Json);
    } else if cmdline
        .split_whitespace()
        .any(|w| w == "nodeboot.log=human")
    {
        settings.stderr = Some(logsink::Format::Human);
    }
    match World::new(Reactor::new(settings.policy.clone()), settings) {
        Ok(mut world) => match world.run() {
            Ok(kind) => pid1::power(kind),
            Err(e) => eprintln!("nodeboot: the loop ended: {e}; reaping only from now on"),
        },
        Err(e) => eprintln!("nodeboot: cannot start the loop: {e}; reaping only from now on"),
    }
    reap_forever()
}

/// The last resort of PID 1: reap orphans, forever.
pub(crate) fn reap_forever() -> ! {
    use nix::sys::wait::waitpid;
    loop {
        match waitpid(nix::unistd::Pid::from_raw(-1), None) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            // No child at all: wait for one to be reparented to us.
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(1)),
        }
    }
}
