//! The one driver: the order in which the core hears things, written once for every
//! loop that drives it — the live loop (`world`), replay and the simulator (`trace`),
//! and the test harnesses. Pure: no IO, no clock; a [`Host`] supplies the time, the
//! queue and the outlets.
//!
//! The rules (a replay reproduces a live run only because both follow them):
//! 1. **Time moves forward only, timers first.** Before any input is handed in at
//!    `now`, every timer due at or before `now` fires, each at its own deadline,
//!    earliest first ([`advance`]); a timer due at the same instant as an input fires
//!    before it. This holds for every input, the world's immediate answers included.
//! 2. **After each input and each timer, until quiet** ([`settle`]): every record out,
//!    then the actions one by one, in the order the core decided them (their
//!    immediate answers are queued); then the timers now due; then the next queued
//!    answer, handed in at the same `now`. The queue is empty before the next input
//!    from a source is read.
//! 3. **Ready at the same instant** ([`next`]): timers, then the world's answers to
//!    the core's effects (results, child exits, the links and partitions they bring),
//!    then scripted inputs (a trace's entries). A live loop reads its ready sources
//!    in the order the poll reports them, each until it would block.
//! 4. **Shutdown ends it**: once the core's `Shutdown` is carried out
//!    ([`Host::stopped`]), the actions already decided still go out, but the core is
//!    told nothing more.

use super::Reactor;
use super::action::Action;
use super::event::Record;
use super::input::Input;
use crate::time::Instant;
use std::collections::VecDeque;

/// What a driver drives: the reactor, or a scripted stand-in in tests.
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

/// The world around a core: where the time, the queued answers and the outlets are.
pub trait Host {
    type Core: Core;
    fn core(&mut self) -> &mut Self::Core;
    /// The time the core is told things at.
    fn now(&self) -> Instant;
    fn set_now(&mut self, now: Instant);
    /// Inputs waiting for the core (the world's immediate answers to effects).
    fn queue(&mut self) -> &mut VecDeque<Input>;
    /// An input is about to be handed in at `now()` (journal, counters, a view of it).
    fn on_input(&mut self, input: &Input);
    /// A timer is about to fire at `now()`.
    fn on_timer(&mut self) {}
    fn on_record(&mut self, record: Record);
    /// Carry out one action; an answer known at once goes to [`Host::queue`].
    fn on_action(&mut self, action: Action);
    /// The core's `Shutdown` was carried out: tell it nothing more.
    fn stopped(&self) -> bool {
        false
    }
}

/// Timer rounds per [`settle`], at most: a core that keeps re-arming an already due
/// timer must not hang its driver.
pub const MAX_TIMER_ROUNDS: usize = 1024;

/// Hand `input` to the core at `now()` (after the timers due), and settle.
pub fn feed<H: Host>(h: &mut H, input: Input) {
    h.queue().push_back(input);
    settle(h);
}

/// Fire the timers due by `now()` (a loop woke up, or a virtual clock moved), and
/// settle.
pub fn advance<H: Host>(h: &mut H) {
    settle(h);
}

/// Run everything that follows, until quiet (rules 1, 2 and 4).
pub fn settle<H: Host>(h: &mut H) {
    let now = h.now();
    let mut rounds = 0;
    loop {
        while let Some(record) = h.core().poll_record() {
            h.on_record(record);
        }
        if let Some(action) = h.core().poll_action() {
            h.on_action(action);
            continue;
        }
        if h.stopped() {
            break;
        }
        if let Some(due) = h.core().poll_timeout().filter(|t| *t <= now)
            && rounds < MAX_TIMER_ROUNDS
        {
            rounds += 1;
            h.set_now(due);
            h.on_timer();
            h.core().handle_timeout(due);
            continue;
        }
        h.set_now(now);
        let Some(input) = h.queue().pop_front() else {
            break;
        };
        h.on_input(&input);
        h.core().handle(now, input);
    }
    h.set_now(now);
}

/// Where the next thing the core hears comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Timer,
    /// The world's answers to the core's effects.
    World,
    /// Scripted inputs (a trace's entries).
    Script,
}

/// The next thing to happen on a virtual clock, given when each is due (rule 3).
pub fn next(
    timer: Option<Instant>,
    world: Option<Instant>,
    script: Option<Instant>,
) -> Option<(Instant, Next)> {
    let mut pick: Option<(Instant, Next)> = None;
    for (t, which) in [
        (timer, Next::Timer),
        (world, Next::World),
        (script, Next::Script),
    ] {
        if let Some(t) = t
            && pick.is_none_or(|(best, _)| t < best)
        {
            pick = Some((t, which));
        }
    }
    pick
}

#[cfg(test)]
mod tests;
