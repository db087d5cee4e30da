//! The context every part of the core writes into while handling one input: the effect
//! queue, the log records, the timer table, and notes between parts of the core.

use super::action::{Action, Effect, EffectId};
use super::deadline::{Armed, Deadlines};
use super::event::{Event, Level, Record};
use super::timer::{Timer, TimerTable};
use crate::time::Instant;
use std::collections::{BTreeMap, VecDeque};

/// Which part of the core asked for an effect; its outcome is routed back there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Reactor,
    Cache,
    Net,
    Gate,
    Services,
}

/// Something one part of the core tells the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// The cache question is settled: ready, or none (boot goes on without one).
    CacheSettled,
    /// The readiness gate opened.
    GateReleased,
    /// A NIC got a lease or an address: what is reachable may have changed.
    NetworkChanged,
    /// The cache is about to mount a filesystem of this type (`retry`: a mount of it
    /// answered ENODEV): make it available, then tell the cache
    /// ([`fsready`](super::fsready)).
    FilesystemNeeded { fstype: String, retry: bool },
}

#[derive(Debug, Default)]
pub struct Ctx {
    pub now: Instant,
    next_id: u64,
    actions: VecDeque<Action>,
    records: VecDeque<Record>,
    pub timers: TimerTable,
    owners: BTreeMap<EffectId, Owner>,
    notes: VecDeque<Note>,
    /// (monotonic, wall-clock seconds) at `Input::Start`.
    wall_origin: Option<(Instant, u64)>,
    /// The deadline of each kind of blocking effect, from the policy.
    pub deadlines: Deadlines,
    /// Effects in flight with a deadline armed (`Timer::EffectDeadline`); an entry
    /// leaves with its owner, so this stays as small as the owner table.
    armed: BTreeMap<EffectId, Armed>,
}

impl Ctx {
    /// Queue an effect for the world; its outcome comes back to `owner`.
    ///
    /// The owner table holds only effects whose outcome some part of the core waits
    /// for, so it stays as small as the work in flight (see the contract in
    /// [`action`](super::action)): `Kill`, `Cancel` and `Shutdown` keep no entry (an
    /// answer to them, or none, changes nothing), and a `Cancel` forgets the probe it
    /// abandons, which the world need never answer.
    pub fn effect(&mut self, owner: Owner, effect: Effect) -> EffectId {
        self.next_id = self.next_id.saturating_add(1);
        let id = EffectId(self.next_id);
        match &effect {
            Effect::Cancel { probe } => {
                self.forget(*probe);
            }
            Effect::Kill { .. } | Effect::KillAll { .. } | Effect::Shutdown { .. } => {}
            _ => {
                self.owners.insert(id, owner);
                if let Some(armed) = self.deadlines.of(&effect) {
                    self.timers
                        .set(Timer::EffectDeadline(id), self.now + armed.after);
                    self.armed.insert(id, armed);
                }
            }
        }
        self.actions.push_back(Action { id, effect });
        id
    }

    /// Log an event at its default level.
    pub fn log(&mut self, event: Event) {
        let level = event.level();
        self.log_at(level, event);
    }

    pub fn log_at(&mut self, level: Level, event: Event) {
        self.records.push_back(Record {
            at: self.now,
            level,
            event,
        });
    }

    pub fn set_timer(&mut self, timer: Timer, at: Instant) {
        self.timers.set(timer, at);
    }

    pub fn cancel_timer(&mut self, timer: &Timer) {
        self.timers.cancel(timer);
    }

    pub fn note(&mut self, note: Note) {
        self.notes.push_back(note);
    }

    pub(crate) fn take_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    pub(crate) fn owner(&self, id: EffectId) -> Option<Owner> {
        self.owners.get(&id).copied()
    }

    /// The effect is over (finished, failed, or its child exited): forget its owner
    /// and its deadline.
    pub(crate) fn forget(&mut self, id: EffectId) {
        self.owners.remove(&id);
        self.end_deadline(id);
    }

    /// The effect answered in time (or is forgotten): its deadline no longer applies.
    pub(crate) fn end_deadline(&mut self, id: EffectId) {
        if self.armed.remove(&id).is_some() {
            self.timers.cancel(&Timer::EffectDeadline(id));
        }
    }

    /// The deadline of `id` fired: what it was, if the effect is still awaited.
    pub(crate) fn take_deadline(&mut self, id: EffectId) -> Option<Armed> {
        self.armed.remove(&id)
    }

    /// Effects whose outcome the core still waits for (children count until they exit).
    pub(crate) fn pending_effects(&self) -> usize {
        self.owners.len()
    }

    pub(crate) fn set_wall_origin(&mut self, now: Instant, wall_unix: u64) {
        self.wall_origin = Some((now, wall_unix));
    }

    /// Wall-clock seconds since the epoch at `now`, if the run said when it started.
    pub fn wall_clock_unix(&self) -> Option<u64> {
        self.wall_origin
            .map(|(at, wall)| wall.saturating_add(self.now.since(at).as_secs()))
    }

    pub(crate) fn pop_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub(crate) fn pop_record(&mut self) -> Option<Record> {
        self.records.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::{Ctx, Owner};
    use crate::core::action::{ChildRole, Effect, KillSignal};

    #[test]
    fn only_awaited_effects_keep_an_owner() {
        let mut cx = Ctx::default();
        let child = cx.effect(
            Owner::Services,
            Effect::Spawn {
                role: ChildRole::Service {
                    service: "redis".into(),
                },
                argv: vec!["redis-server".into()],
            },
        );
        let probe = cx.effect(
            Owner::Gate,
            Effect::Connect {
                target: "a:1".into(),
            },
        );
        assert_eq!(cx.pending_effects(), 2);
        let kill = cx.effect(
            Owner::Services,
            Effect::Kill {
                child,
                signal: KillSignal::Term,
            },
        );
        assert_eq!(cx.owner(kill), None);
        assert_eq!(cx.owner(child), Some(Owner::Services));
        cx.effect(Owner::Gate, Effect::Cancel { probe });
        assert_eq!(cx.owner(probe), None);
        assert_eq!(cx.pending_effects(), 1);
        cx.forget(child);
        assert_eq!(cx.pending_effects(), 0);
    }
}
