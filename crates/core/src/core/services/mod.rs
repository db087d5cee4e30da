//! Services (BRIEF §4): started after the gate in dependency order, supervised with
//! capped restart backoff, their output on the log stream.
//!
//! A service starts once every service in its `after` list has started (its spawn was
//! answered with a pid) — or, for a one-shot dependency, has *finished successfully*
//! (`service.done`) — in the order of the configuration among those ready at the same
//! time. Every exit restarts the service after its backoff, which doubles per restart
//! up to its cap and is reset when the service had run for [`HEALTHY_RUN`]; except
//! that a one-shot service (`oneshot = true`) that exits 0 is done for this boot. A
//! one-shot that never succeeds keeps the services after it waiting (retrying with
//! backoff), which is the point: `libvirt` must not start before the firewall is
//! loaded. A service that can never start (dependency cycle, unknown or
//! duplicate name, or depending on such a service) is reported once and left alone.

mod order;
#[cfg(test)]
mod tests;

use super::action::{ChildRole, Effect, EffectId, KillSignal};
use super::ctx::{Ctx, Owner};
use super::event::Event;
use super::input::{EffectOutput, EffectResult, ExitStatus, Stream};
use super::nic::stream_name;
use super::policy::ServiceSpec;
use super::timer::Timer;
use crate::time::{Duration, Instant};
use std::collections::BTreeMap;

/// A service that ran at least this long before it exited was healthy: its restart
/// backoff starts over from `backoff_initial`.
pub const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Floor of every restart delay, so that a zero backoff in a policy cannot make a
/// service that dies at once restart in a tight loop.
const MIN_RESTART_DELAY: Duration = Duration::from_millis(100);

pub struct Services {
    services: Vec<Service>,
    /// Name → index in `services` (the first definition: a later duplicate is blocked).
    by_name: BTreeMap<String, usize>,
    /// Running (or starting) children by `Spawn` id, to their index in `services`.
    children: BTreeMap<EffectId, usize>,
    released: bool,
    stopping_all: bool,
}

struct Service {
    spec: ServiceSpec,
    /// Why it can never start (decided once, from the whole configuration).
    blocked: Option<String>,
    state: State,
    /// Has had a pid at least once: the services after it may start.
    ever_started: bool,
    /// The next restart delay.
    backoff: Duration,
    restarts: u64,
}

impl Service {
    /// May the services `after` this one start? A long-running service: once it has
    /// started. A one-shot service: once it has finished successfully.
    fn satisfies_after(&self) -> bool {
        if self.spec.oneshot {
            self.state == State::Done
        } else {
            self.ever_started
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not started yet (waiting for release or for its dependencies).
    Waiting,
    /// Spawn requested, no answer yet.
    Spawning { id: EffectId },
    Running {
        id: EffectId,
        pid: u32,
        since: Instant,
    },
    /// Waiting for its restart timer.
    Backoff,
    /// Sent SIGTERM at shutdown; waiting for its exit.
    Stopping { id: EffectId, pid: Option<u32> },
    /// Gone and will not come back (shutdown, or it can never start).
    Stopped,
    /// A one-shot service that exited 0: finished for this boot.
    Done,
}

impl Services {
    pub fn new(specs: Vec<ServiceSpec>) -> Services {
        let blocked = order::never_startable(&specs);
        let mut by_name = BTreeMap::new();
        for (index, spec) in specs.iter().enumerate() {
            by_name.entry(spec.name.clone()).or_insert(index);
        }
        let services = specs
            .into_iter()
            .zip(blocked)
            .map(|(spec, blocked)| Service {
                backoff: spec.backoff_initial,
                spec,
                blocked,
                state: State::Waiting,
                ever_started: false,
                restarts: 0,
            })
            .collect();
        Services {
            services,
            by_name,
            children: BTreeMap::new(),
            released: false,
            stopping_all: false,
        }
    }

    /// Cache settled and gate open: start what can start. Idempotent.
    pub fn on_release(&mut self, cx: &mut Ctx) {
        if self.released || self.stopping_all {
            return;
        }
        self.released = true;
        for service in &mut self.services {
            if let Some(reason) = &service.blocked {
                service.state = State::Stopped;
                cx.log(Event::ServiceFailed {
                    service: service.spec.name.clone(),
                    error: reason.clone(),
                });
            }
        }
        self.start_ready(cx);
    }

    pub fn on_done(&mut self, cx: &mut Ctx, id: EffectId, result: &EffectResult) {
        // Anything that is not a starting child is a `Kill`; a failed kill means the
        // child is already gone, and its exit will say so.
        let Some(&index) = self.children.get(&id) else {
            return;
        };
        let Some(service) = self.services.get_mut(index) else {
            return;
        };
        match (result, service.state) {
            (Ok(EffectOutput::Spawned { pid }), State::Spawning { .. }) => {
                service.state = State::Running {
                    id,
                    pid: *pid,
                    since: cx.now,
                };
                service.ever_started = true;
                cx.log(Event::ServiceStarted {
                    service: service.spec.name.clone(),
                    pid: *pid,
                });
                self.start_ready(cx);
            }
            (Ok(EffectOutput::Spawned { pid }), State::Stopping { .. }) => {
                // Stopped at shutdown before its spawn was answered; the kill follows.
                service.state = State::Stopping {
                    id,
                    pid: Some(*pid),
                };
            }
            (Ok(_), _) => {}
            (Err(error), state) => {
                self.children.remove(&id);
                cx.log(Event::ServiceFailed {
                    service: service.spec.name.clone(),
                    error: error.message.clone(),
                });
                if matches!(state, State::Stopping { .. }) || self.stopping_all {
                    service.state = State::Stopped;
                    self.stop_ready(cx);
                } else {
                    self.restart_later(cx, index, None);
                }
            }
        }
    }

    pub fn on_child_exited(&mut self, cx: &mut Ctx, id: EffectId, status: ExitStatus) {
        let Some(index) = self.children.remove(&id) else {
            return;
        };
        let Some(service) = self.services.get_mut(index) else {
            return;
        };
        let (pid, since) = match service.state {
            State::Running { pid, since, .. } => (pid, Some(since)),
            State::Stopping { pid, .. } => (pid.unwrap_or(0), None),
            _ => (0, None),
        };
        cx.log(Event::ServiceExited {
            service: service.spec.name.clone(),
            pid,
            status: status.to_string(),
        });
        if matches!(service.state, State::Stopping { .. }) || self.stopping_all {
            service.state = State::Stopped;
            self.stop_ready(cx);
            return;
        }
        if service.spec.oneshot && status.success() {
            service.state = State::Done;
            cx.log(Event::ServiceDone {
                service: service.spec.name.clone(),
            });
            self.start_ready(cx);
            return;
        }
        self.restart_later(cx, index, since);
    }

    pub fn on_child_output(&mut self, cx: &mut Ctx, id: EffectId, stream: Stream, line: &str) {
        let Some(service) = self
            .children
            .get(&id)
            .and_then(|&index| self.services.get(index))
        else {
            return;
        };
        cx.log(Event::ChildOutput {
            child: format!("service:{}", service.spec.name),
            stream: stream_name(stream).into(),
            line: line.to_owned(),
        });
    }

    pub fn on_timer(&mut self, cx: &mut Ctx, timer: &Timer) {
        let Timer::ServiceRestart(name) = timer else {
            return;
        };
        if self.stopping_all {
            return;
        }
        let Some(&index) = self.by_name.get(name) else {
            return;
        };
        if self
            .services
            .get(index)
            .is_some_and(|s| s.blocked.is_none() && s.state == State::Backoff)
        {
            self.spawn(cx, index);
        }
    }

    /// Shutdown: no restarts any more, and SIGTERM to every service in reverse
    /// dependency order ([`Services::stop_ready`]).
    pub fn stop_all(&mut self, cx: &mut Ctx) {
        self.stopping_all = true;
        for service in &mut self.services {
            cx.cancel_timer(&Timer::ServiceRestart(service.spec.name.clone()));
            if matches!(service.state, State::Waiting | State::Backoff) {
                service.state = State::Stopped;
            }
        }
        self.stop_ready(cx);
    }

    /// SIGTERM to every running service that no running service depends on: a
    /// service is stopped only after everything started `after` it has exited (a
    /// logger a service writes to outlives that service). Called again at each exit
    /// during the shutdown; the shutdown's grace period bounds the whole.
    fn stop_ready(&mut self, cx: &mut Ctx) {
        let up = |s: &Service| {
            matches!(
                s.state,
                State::Spawning { .. } | State::Running { .. } | State::Stopping { .. }
            )
        };
        let ready: Vec<usize> = (0..self.services.len())
            .filter(|&i| {
                let Some(service) = self.services.get(i) else {
                    return false;
                };
                matches!(
                    service.state,
                    State::Spawning { .. } | State::Running { .. }
                ) && !self.services.iter().enumerate().any(|(j, other)| {
                    j != i && up(other) && other.spec.after.contains(&service.spec.name)
                })
            })
            .collect();
        for index in ready {
            let Some(service) = self.services.get_mut(index) else {
                continue;
            };
            let (id, pid) = match service.state {
                State::Spawning { id } => (id, None),
                State::Running { id, pid, .. } => (id, Some(pid)),
                _ => continue,
            };
            service.state = State::Stopping { id, pid };
            cx.effect(
                Owner::Services,
                Effect::Kill {
                    child: id,
                    signal: KillSignal::Term,
                },
            );
        }
    }

    /// Children whose exit has not been seen yet.
    pub fn live_children(&self) -> usize {
        self.children.len()
    }

    pub fn summary(&self) -> Vec<String> {
        self.services
            .iter()
            .map(|s| {
                let state = match (&s.blocked, s.state) {
                    (Some(reason), _) => format!("never starts: {reason}"),
                    (None, State::Waiting) if !self.released => "waiting for the gate".into(),
                    (None, State::Waiting) => "waiting for its dependencies".into(),
                    (None, State::Spawning { .. }) => "starting".into(),
                    (None, State::Running { pid, since, .. }) => {
                        format!("running (pid {pid}, since {since})")
                    }
                    (None, State::Backoff) => "restarting after backoff".into(),
                    (None, State::Stopping { .. }) => "stopping".into(),
                    (None, State::Stopped) => "stopped".into(),
                    (None, State::Done) => "done".into(),
                };
                format!("{}: {state}, {} restart(s)", s.spec.name, s.restarts)
            })
            .collect()
    }

    /// Start, in configuration order, every waiting service whose dependencies have all
    /// started. Services become ready only when a spawn is answered, which calls this
    /// again, so one pass is enough.
    fn start_ready(&mut self, cx: &mut Ctx) {
        if !self.released || self.stopping_all {
            return;
        }
        let ready: Vec<usize> = (0..self.services.len())
            .filter(|&i| self.is_ready(i))
            .collect();
        for index in ready {
            self.spawn(cx, index);
        }
    }

    fn is_ready(&self, index: usize) -> bool {
        let Some(service) = self.services.get(index) else {
            return false;
        };
        service.blocked.is_none()
            && service.state == State::Waiting
            && service.spec.after.iter().all(|dep| {
                self.by_name
                    .get(dep)
                    .and_then(|&i| self.services.get(i))
                    .is_some_and(Service::satisfies_after)
            })
    }

    fn spawn(&mut self, cx: &mut Ctx, index: usize) {
        let Some(service) = self.services.get_mut(index) else {
            return;
        };
        let id = cx.effect(
            Owner::Services,
            Effect::Spawn {
                role: ChildRole::Service {
                    service: service.spec.name.clone(),
                },
                argv: service.spec.argv.clone(),
            },
        );
        service.state = State::Spawning { id };
        self.children.insert(id, index);
    }

    /// The service is down on its own (exit, or failed spawn): come back after the
    /// backoff. `since` is when the run that just ended began, if it ran.
    fn restart_later(&mut self, cx: &mut Ctx, index: usize, since: Option<Instant>) {
        let Some(service) = self.services.get_mut(index) else {
            return;
        };
        if since.is_some_and(|since| cx.now.since(since) >= HEALTHY_RUN) {
            service.backoff = service.spec.backoff_initial;
        }
        let delay = service.backoff.max(MIN_RESTART_DELAY);
        service.backoff = delay.saturating_mul(2).min(service.spec.backoff_max);
        service.restarts = service.restarts.saturating_add(1);
        service.state = State::Backoff;
        cx.log(Event::ServiceRestarting {
            service: service.spec.name.clone(),
            backoff_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        });
        cx.set_timer(
            Timer::ServiceRestart(service.spec.name.clone()),
            cx.now + delay,
        );
    }
}
