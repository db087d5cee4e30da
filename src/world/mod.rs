//! The live world: the only module that makes syscalls. One non-async mio loop owns
//! the uevent socket, the rtnetlink socket, a signalfd, child pipes, probe sockets,
//! the log socket and a waker for the worker threads. It turns everything that happens
//! into `Input`s for the core and carries out the core's effects:
//!
//! 1. poll with the timeout `core.poll_timeout() - now` (none armed: sleep forever),
//!    or sooner when a rate-limited log line owes its summary (`ratelimit`);
//! 2. read the clock once (`clock::now`, CLOCK_BOOTTIME);
//! 3. fire the timers due by then, each as `handle_timeout(deadline)`;
//! 4. drain every ready source until it would block, feeding the core at `now`;
//! 5. after every input: emit `poll_record()`s, execute `poll_action()`s (their
//!    immediate answers are queued as further inputs).
//!
//! Steps 3 and 5, and the order of everything the core hears, are not written here
//! but in [`crate::core::driver`], which replay and the simulator follow too: this
//! loop is a [`driver::Host`].
//!
//! Errors are typed ([`error::WorldError`]), logged as `world.error`, and the loop
//! goes on. As PID 1 nothing here returns or panics (see [`init_main`]).

pub mod children;
pub mod clock;
pub mod confine;
pub mod effects;
mod entry;
pub mod errno;
pub mod error;
mod exec;
pub mod fallback;
pub mod init;
pub mod instance;
pub mod journal;
pub mod kernel;
pub mod log_backlog;
mod log_upkeep;
pub mod logsink;
pub mod logsock;
pub mod memory;
pub mod modules;
pub mod options;
mod pid1;
pub mod probes;
pub mod ratelimit;
pub mod rtnl_sock;
pub mod signals;
mod sources;
mod spawn_mask;
pub mod sysfs;
pub mod uevent_sock;
pub mod watchdog;
pub mod within;
pub mod worker;

mod api;
pub use api::{Core, Stats, StopHandle};

pub use entry::{RunError, init_main, kernel_rules_words, run};

use crate::core::action::{Action, EffectId, ShutdownKind};
use crate::core::driver::{self, Host};
use crate::core::event::{Event, Record};
use crate::core::input::{EffectResult, Input, SignalKind};
use crate::time::Instant;
use children::Children;
use error::WorldError;
use logsink::LogSinks;
use logsock::SocketNews;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use options::Settings;
use probes::Probes;
use ratelimit::RateLimit;
use rtnl_sock::RtnlSocket;
use signals::Signals;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use uevent_sock::UeventSocket;
use worker::Worker;

const UEVENT: Token = Token(1);
const RTNL: Token = Token(2);
const SIGNALS: Token = Token(3);
const WAKER: Token = Token(4);
const LOG_LISTENER: Token = Token(5);

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
    /// `uevent.dropped` and `rtnl.dropped` lines: a forger sets their pace.
    uevent_drops: RateLimit,
    rtnl_drops: RateLimit,
    /// RTM_SETLINK sequence numbers → the `SetLinkUp` effect they answer.
    link_up_acks: BTreeMap<u32, EffectId>,
    signals: Option<Signals>,
    children: Children,
    /// Modalias loads resolved against the kernel's module index (`modules`).
    modules: modules::Modules,
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
    /// PID 1's hardware watchdog, petted from the loop (see `watchdog`).
    watchdog: Option<watchdog::Watchdog>,
    /// No `/dev/watchdog` yet: look again at `.0` until `.1` (its driver may be
    /// loaded by a modalias during the boot).
    watchdog_retry: Option<(Instant, Instant)>,
    /// `nodeboot.debug.hang_after`: when the loop hangs on purpose.
    hang_at: Option<Instant>,
    /// `nodeboot.debug.fail_after`: when the loop fails on purpose.
    fail_at: Option<Instant>,
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
        let (logs, sink_errors) = logsink::open(&settings, registry, LOG_LISTENER, &waker);
        setup_errors.extend(sink_errors);
        let journal = match &settings.record {
            Some(path) => match journal::Journal::create(
                path,
                wall_at_zero_us()? / 1_000_000,
                &settings.policy,
                &std::env::args().collect::<Vec<_>>(),
            ) {
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
            uevent_drops: RateLimit::default(),
            rtnl_drops: RateLimit::default(),
            link_up_acks: BTreeMap::new(),
            signals,
            children: Children::default(),
            modules: Default::default(),
            dry_children: Default::default(),
            probes: Probes::default(),
            worker,
            logs,
            journal,
            now: Instant::ZERO,
            pending: VecDeque::new(),
            shutdown: None,
            setup_errors,
            watchdog: None,
            watchdog_retry: None,
            hang_at: None,
            fail_at: None,
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
        self.logs.set_tap(tap);
    }

    pub fn core(&self) -> &C {
        &self.core
    }

    /// Run until the core asks for `Shutdown`. As PID 1 a shutdown powers the node
    /// off or reboots it and never returns; otherwise `run` returns `Ok(kind)`.
    pub fn run(&mut self) -> Result<ShutdownKind, WorldError> {
        self.start()?;
        self.arm_watchdog();
        let mut events = Events::with_capacity(256);
        loop {
            if let Some(kind) = self.shutdown {
                return Ok(self.finish(kind));
            }
            let wake = [
                self.core.poll_timeout(),
                self.uevent_drops.due(),
                self.rtnl_drops.due(),
                self.watchdog.as_ref().map(watchdog::Watchdog::due),
                self.watchdog_retry.map(|(at, _)| at),
                self.hang_at,
                self.fail_at,
                self.children.suppressed_due(),
                self.logs.drop_report_due(),
                self.logs.socket_idle_due(),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = wake.map(|at| at.since(self.now));
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
            if events.is_empty() {
                self.stats.empty_wakeups.fetch_add(1, Ordering::Relaxed);
            }
            self.tick()?;
            self.pet_watchdog();
            self.injected_failure()?;
            // The timers due by now, each at its own deadline, before this turn's
            // events (a replay takes the same decisions).
            driver::advance(self);
            self.flush_suppressed();
            let ready: Vec<Token> = events.iter().map(|e| e.token()).collect();
            for token in ready {
                self.dispatch(token);
            }
            self.log_sink_upkeep();
            if self.stop.swap(false, Ordering::SeqCst) {
                self.feed(Input::Signal {
                    signal: SignalKind::Stop,
                });
            }
        }
    }

    fn tick(&mut self) -> Result<(), WorldError> {
        self.now = clock::now()?;
        Ok(())
    }

    /// Hand one input to the core at `now`, then run everything that follows from it
    /// (in the order [`driver`] writes down for every driver of the core).
    fn feed(&mut self, input: Input) {
        driver::feed(self, input);
    }

    /// Queue the answer to effect `id`.
    fn answer(&mut self, id: EffectId, result: EffectResult) {
        let result = self.modules.on_answer(id, result);
        self.pending.push_back(Input::EffectDone { id, result });
    }

    fn emit(&mut self, record: &Record) {
        if let Event::CacheSettled { .. } = record.event {
            self.modules.release_index();
        }
        let news = self.logs.emit(record);
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
                let _ = self.logs.emit(&r);
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

    /// The core asked to shut down (its steps are done). PID 1: disarm the watchdog
    /// unless rebooting (a reboot that hangs is then finished by the hardware), sync
    /// (`shutdown.step` `sync`, the last record), power off or reboot. Not PID 1: stop
    /// what is left and return.
    fn finish(&mut self, kind: ShutdownKind) -> ShutdownKind {
        // Bounded (a second per queued sink): what the console and file still hold.
        self.logs.flush();
        if self.settings.pid1 {
            if kind != ShutdownKind::Reboot
                && let Some(dog) = self.watchdog.take()
                && let Err(e) = dog.disarm()
            {
                self.log(Event::WorldError { error: e });
            }
            let started = std::time::Instant::now();
            let synced = init::sync_within(init::SYNC_DEADLINE);
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.log(Event::ShutdownStep {
                step: "sync".into(),
                ok: synced,
                ms,
                target: None,
                error: (!synced)
                    .then(|| format!("timed out after {}s", init::SYNC_DEADLINE.as_secs())),
            });
            // The sync record itself, to the console before the reset.
            self.logs.flush();
            init::power(kind);
        }
        for pid in self.children.pids() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        self.logs.deregister_socket(self.poll.registry());
        kind
    }
}

/// The live world as the driver sees it.
impl<C: Core> Host for World<C> {
    type Core = C;
    fn core(&mut self) -> &mut C {
        &mut self.core
    }
    fn now(&self) -> Instant {
        self.now
    }
    fn set_now(&mut self, now: Instant) {
        self.now = now;
    }
    fn queue(&mut self) -> &mut VecDeque<Input> {
        &mut self.pending
    }
    fn on_input(&mut self, input: &Input) {
        if let Input::EffectDone { id, result } = input {
            effects::disklock::answered(*id, result.is_ok());
        }
        if let Some(j) = &mut self.journal
            && let Err(e) = j.record(self.now, input)
        {
            self.journal = None; // journal once, then stop trying
            self.world_error(e);
        }
        self.stats.inputs.fetch_add(1, Ordering::Relaxed);
    }
    fn on_record(&mut self, record: Record) {
        self.emit(&record);
    }
    fn on_action(&mut self, action: Action) {
        self.execute(action);
    }
    fn stopped(&self) -> bool {
        self.shutdown.is_some()
    }
}

/// The wall clock (µs since the epoch) at monotonic zero (boot).
fn wall_at_zero_us() -> Result<u64, WorldError> {
    let now = clock::now()?;
    Ok(clock::wall_unix_micros().saturating_sub(now.as_micros()))
}
