//! The reactor: every boot decision, as a pure state machine.
//!
//! No syscalls, no clock reads, no randomness. `Reactor::handle(now, input)` and
//! `Reactor::handle_timeout(now)` take the world's news; `poll_action()` yields the
//! effects to run, `poll_record()` the log stream, `poll_timeout()` when to call
//! `handle_timeout` next. The same inputs at the same times always give the same
//! actions and records, which is what makes a recorded boot replayable.
//!
//! The parts: `disk` (the cache disk), `nic` (links and DHCP clients), `gate`
//! (readiness), `services` (supervision). They talk only through [`Ctx`] notes.
//! [`driver`] is the order in which every loop around the reactor (live, replay,
//! tests) tells it things.

pub mod action;
pub mod ctx;
pub mod deadline;
pub mod disk;
pub mod driver;
pub mod error;
pub mod event;
pub mod fsready;
pub mod gate;
pub mod input;
pub mod modalias;
pub mod modules;
pub mod nic;
pub mod policy;
pub mod services;
pub mod shutdown;
mod timeouts;
pub mod timer;

use crate::time::{Duration, Instant};
use action::{Action, Effect, ShutdownKind};
use ctx::{Ctx, Note, Owner};
use event::{Event, Record};
use input::{EffectOutput, Input, Mode, SignalKind};
use policy::Policy;
use std::collections::{BTreeMap, BTreeSet};
use timer::Timer;

pub struct Reactor {
    cx: Ctx,
    mode: Option<Mode>,
    modprobe: bool,
    modaliases: BTreeSet<String>,
    module_loads: BTreeMap<action::EffectId, modules::Load>,
    preload_modules: Vec<String>,
    /// Modules still to preload (decided at `Start`, sent once the coldplug's driver
    /// loads are over: see [`modules::preload_now`]).
    preload_pending: Vec<String>,
    coldplug_done: bool,
    /// Filesystems a mount waits for ([`fsready`]).
    fsready: fsready::FsReady,
    cache: disk::Cache,
    net: nic::Network,
    gate: gate::Gate,
    services: services::Services,
    shutting_down: Option<shutdown::Shutdown>,
    /// How long services wait for the cache once the gate is open.
    hold_services_max: Duration,
    /// They waited that long: they no longer wait for the cache.
    hold_expired: bool,
}

impl Reactor {
    pub fn new(policy: Policy) -> Reactor {
        let mut cx = Ctx::default();
        cx.deadlines = deadline::Deadlines::from_policy(&policy);
        Reactor {
            cx,
            hold_services_max: policy.cache.hold_services_max,
            hold_expired: false,
            mode: None,
            modprobe: policy.modprobe,
            modaliases: BTreeSet::new(),
            module_loads: BTreeMap::new(),
            preload_modules: policy.preload_modules,
            preload_pending: Vec::new(),
            coldplug_done: false,
            fsready: fsready::FsReady::default(),
            cache: disk::Cache::new(policy.cache),
            net: nic::Network::new(policy.net),
            gate: gate::Gate::new(policy.gate),
            services: services::Services::new(policy.services),
            shutting_down: None,
        }
    }

    /// Hand the core one input observed at `now`.
    pub fn handle(&mut self, now: Instant, input: Input) {
        self.cx.now = now;
        let cx = &mut self.cx;
        match input {
            Input::Start {
                wall_clock_unix,
                mode,
                argv,
            } => {
                cx.set_wall_origin(now, wall_clock_unix);
                self.mode = Some(mode);
                cx.log(Event::BootStart {
                    version: crate::VERSION.into(),
                    mode: mode.as_str().into(),
                    argv,
                });
                self.preload_pending =
                    modules::to_preload(mode, self.modprobe, &self.preload_modules);
                self.cache.on_start(cx);
                self.net.on_start(cx);
                self.gate.on_start(cx);
            }
            Input::Uevent { uevent } => {
                if let Some(alias) = uevent.get("MODALIAS")
                    && self.modprobe
                    && !self.modaliases.contains(alias)
                    && self.modaliases.insert(alias.to_owned())
                {
                    let id = cx.effect(
                        Owner::Reactor,
                        Effect::LoadModule {
                            modalias: alias.to_owned(),
                        },
                    );
                    let load = modules::Load::Alias {
                        modalias: alias.to_owned(),
                        since: cx.now,
                    };
                    self.module_loads.insert(id, load);
                    self.cache.on_driver_load(cx, true);
                }
                if uevent.subsystem == "block" {
                    self.cache.on_uevent(cx, &uevent);
                }
            }
            Input::ColdplugDone => {
                self.coldplug_done = true;
                self.cache.on_coldplug_done(cx);
                self.start_preloads();
            }
            Input::Resync { devices } => {
                let block: Vec<_> = devices
                    .into_iter()
                    .filter(|u| u.subsystem == "block")
                    .collect();
                self.cache.on_resync(cx, &block);
            }
            Input::Link { link } => self.net.on_link(cx, &link),
            Input::LinkRemoved { index, name } => self.net.on_link_removed(cx, index, &name),
            Input::Address {
                index,
                address,
                added,
            } => self.net.on_address(cx, index, &address, added),
            Input::EffectDone { id, result } => {
                let owner = cx.owner(id);
                if matches!(result, Ok(EffectOutput::Spawned { .. })) {
                    cx.end_deadline(id);
                } else {
                    cx.forget(id);
                }
                self.route_done(owner, id, &result);
            }
            Input::ChildExited { id, status } => {
                let owner = cx.owner(id);
                cx.forget(id);
                match owner {
                    Some(Owner::Net) => self.net.on_child_exited(cx, id, status),
                    Some(Owner::Services) => self.services.on_child_exited(cx, id, status),
                    _ => {}
                }
            }
            Input::ChildOutput { id, stream, line } => match cx.owner(id) {
                Some(Owner::Net) => self.net.on_child_output(cx, id, stream, &line),
                Some(Owner::Services) => self.services.on_child_output(cx, id, stream, &line),
                _ => {}
            },
            Input::Signal { signal } => self.on_signal(signal),
        }
        self.settle_notes();
        self.check_shutdown();
    }

    /// Fire every timer due at `now`. Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.cx.now = now;
        for timer in self.cx.timers.take_due(now) {
            let cx = &mut self.cx;
            match timer {
                Timer::SettleQuiet | Timer::SettleDeadline | Timer::PartitionWait => {
                    self.cache.on_timer(cx, &timer)
                }
                Timer::CarrierConfirm(_) | Timer::DhcpGiveUp(_) | Timer::DhcpRestart(_) => {
                    self.net.on_timer(cx, &timer)
                }
                Timer::GateDeadline | Timer::GateRetry | Timer::ProbeTimeout(_) => {
                    self.gate.on_timer(cx, &timer)
                }
                Timer::ServiceRestart(_) => self.services.on_timer(cx, &timer),
                Timer::ShutdownGrace => {
                    let children = self.children();
                    let mounts = self.cache.mounts_last_first();
                    if let Some(s) = &mut self.shutting_down {
                        s.on_timer(&mut self.cx, &children, &mounts);
                    }
                }
                Timer::EffectDeadline(id) => self.on_effect_deadline(id),
                Timer::CacheHold => self.on_cache_hold_over(),
            }
            self.settle_notes();
        }
        self.check_shutdown();
    }

    /// The next effect to run, in the order the core decided them.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.cx.pop_action()
    }

    /// The next log record.
    #[must_use]
    pub fn poll_record(&mut self) -> Option<Record> {
        self.cx.pop_record()
    }

    /// When `handle_timeout` must be called next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cx.timers.next_deadline()
    }

    /// How many effects the core still waits on (answers, or exits of children). It
    /// stays bounded by the work in flight: no effect is remembered after its outcome,
    /// nor one whose outcome nobody awaits.
    pub fn pending_effects(&self) -> usize {
        self.cx.pending_effects()
    }

    pub fn mode(&self) -> Option<Mode> {
        self.mode
    }

    /// Hand an effect's outcome to the part of the core that asked for it; `None`
    /// is a late answer to something already forgotten (cancelled, timed out).
    fn route_done(
        &mut self,
        owner: Option<Owner>,
        id: action::EffectId,
        result: &input::EffectResult,
    ) {
        let cx = &mut self.cx;
        match owner {
            Some(Owner::Reactor) => self.on_own_effect_done(id, result),
            Some(Owner::Cache) => self.cache.on_done(cx, id, result),
            Some(Owner::Net) => self.net.on_done(cx, id, result),
            Some(Owner::Gate) => self.gate.on_done(cx, id, result),
            Some(Owner::Services) => self.services.on_done(cx, id, result),
            None => {}
        }
    }

    fn on_own_effect_done(&mut self, id: action::EffectId, result: &input::EffectResult) {
        if let Some(s) = &mut self.shutting_down
            && s.on_done(&mut self.cx, id, result)
        {
            return;
        }
        if self.on_filesystem_probe(id, result) {
            return;
        }
        if let Some(load) = self.module_loads.remove(&id) {
            let ms = Some(self.cx.now.millis_since(load.since()));
            let ok = result.is_ok();
            let held_settle = load.holds_settle();
            let named = load.module().map(str::to_owned);
            let event = match load {
                modules::Load::Alias { modalias, .. } => modalias::outcome(modalias, result, ms),
                modules::Load::Preload { module, .. }
                | modules::Load::Filesystem { module, .. } => Event::ModuleLoad {
                    modalias: String::new(),
                    ok,
                    module: Some(module),
                    ms,
                },
            };
            self.cx.log(event);
            if let Some(module) = named {
                self.on_module_loaded(id, &module, ok);
            }
            // A preload brings no device: it never held the settle, so it does not
            // restart the quiet period either.
            if held_settle {
                self.cache.on_driver_load(&mut self.cx, false);
                self.start_preloads();
            }
        }
    }

    /// Send the pending preloads once [`modules::preload_now`] says so.
    fn start_preloads(&mut self) {
        if self.preload_pending.is_empty() {
            return;
        }
        let drivers = self
            .module_loads
            .values()
            .filter(|l| l.holds_settle())
            .count();
        if !modules::preload_now(self.coldplug_done, drivers) {
            return;
        }
        for module in std::mem::take(&mut self.preload_pending) {
            // A labelled cache reused at once may have had its mount load the module
            // already (fsready): one `modprobe` of it per boot is enough.
            let loading = self
                .module_loads
                .values()
                .any(|l| l.module() == Some(module.as_str()));
            if loading || self.fsready.is_known(&module) {
                continue;
            }
            let effect = Effect::LoadModule {
                modalias: module.clone(),
            };
            let id = self.cx.effect(Owner::Reactor, effect);
            let since = self.cx.now;
            self.module_loads
                .insert(id, modules::Load::Preload { module, since });
        }
    }

    fn settle_notes(&mut self) {
        while let Some(note) = self.cx.take_note() {
            match note {
                Note::NetworkChanged => self.gate.on_network_change(&mut self.cx),
                Note::FilesystemNeeded { fstype, retry } => {
                    self.on_filesystem_needed(fstype, retry)
                }
                Note::CacheSettled | Note::GateReleased => {
                    let cache_done = self.cache.is_settled() || self.hold_expired;
                    if cache_done {
                        self.cx.cancel_timer(&Timer::CacheHold);
                    }
                    if self.shutting_down.is_some() || !self.gate.is_released() {
                        continue;
                    }
                    if cache_done {
                        self.services.on_release(&mut self.cx);
                    } else if !self.cx.timers.is_armed(&Timer::CacheHold) {
                        // Whatever the cache is doing, it holds services back for at
                        // most `cache.hold_services_max` after the gate opened.
                        let at = self.cx.now + self.hold_services_max;
                        self.cx.set_timer(Timer::CacheHold, at);
                        self.cx.log(Event::CacheWaiting {
                            state: self.cache.summary(),
                            max_ms: self.cache_hold_ms(),
                        });
                    }
                }
            }
        }
    }

    fn on_signal(&mut self, signal: SignalKind) {
        let kind = match signal {
            SignalKind::Status => {
                let status = Event::Status {
                    cache: self.cache.summary(),
                    nics: self.net.summary(),
                    gate: self.gate.summary(),
                    services: self.services.summary(),
                };
                self.cx.log(status);
                return;
            }
            SignalKind::Stop => ShutdownKind::Exit,
            SignalKind::Reboot => ShutdownKind::Reboot,
            SignalKind::PowerOff => ShutdownKind::PowerOff,
        };
        if self.shutting_down.is_some() {
            return;
        }
        self.cx.log(Event::Shutdown {
            kind: shutdown_name(kind).into(),
        });
        self.services.stop_all(&mut self.cx);
        self.net.stop_all(&mut self.cx);
        self.shutting_down = Some(shutdown::Shutdown::start(&mut self.cx, kind));
    }

    /// Move the shutdown on once every child has gone.
    fn check_shutdown(&mut self) {
        // Asked after every input: the children are listed only once stopping.
        if self.shutting_down.is_none() {
            return;
        }
        let children = self.children();
        if let Some(s) = &mut self.shutting_down {
            s.on_input(&mut self.cx, &children);
        }
    }

    fn children(&self) -> shutdown::Children {
        shutdown::Children {
            services: self.services.live_children(),
            dhcp: self.net.live_children(),
        }
    }
}

fn shutdown_name(kind: ShutdownKind) -> &'static str {
    match kind {
        ShutdownKind::Exit => "exit",
        ShutdownKind::Reboot => "reboot",
        ShutdownKind::PowerOff => "power-off",
    }
}
