//! A timeline harness for core tests: drives a [`Reactor`] on a virtual clock, jumps
//! time through `poll_timeout()`, and collects the effects and records it produces
//! (smoltcp's DHCP tests and quinn's `Pair` in miniature). The order is the one
//! driver's ([`crate::core::driver`]); the test answers effects by hand.

use crate::core::Reactor;
use crate::core::action::{Action, EffectId};
use crate::core::driver::{self, Host};
use crate::core::event::{Event, Record};
use crate::core::input::{
    EffectOutput, ExitStatus, IFF_LOWER_UP, IFF_RUNNING, IFF_UP, Input, LinkState, Mode,
};
use crate::core::policy::Policy;
use crate::time::Instant;
use std::collections::VecDeque;

pub(crate) const DOWN: u32 = 0;
pub(crate) const ADMIN_UP: u32 = IFF_UP;
pub(crate) const CARRIER: u32 = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;

pub(crate) struct Harness {
    pub reactor: Reactor,
    pub now: Instant,
    /// Effects requested since the last `take_actions`.
    pub actions: Vec<Action>,
    /// Events logged since the last `take_events`, with their times.
    pub events: Vec<(Instant, Event)>,
    /// Always empty: effects are answered by the test.
    queue: VecDeque<Input>,
}

pub(crate) fn link(index: u32, name: &str, flags: u32) -> LinkState {
    LinkState {
        index,
        name: name.into(),
        flags,
        kind: None,
        mac: None,
        operstate: None,
    }
}

impl Harness {
    /// A reactor that has been sent `Input::Start` at time zero.
    pub fn start(policy: Policy) -> Harness {
        let mut h = Harness {
            reactor: Reactor::new(policy),
            now: Instant::ZERO,
            actions: Vec::new(),
            events: Vec::new(),
            queue: VecDeque::new(),
        };
        h.input(Input::Start {
            wall_clock_unix: 1_700_000_000,
            mode: Mode::Replay,
            argv: Vec::new(),
        });
        h
    }

    /// Hand the reactor one input at the current time.
    pub fn input(&mut self, input: Input) {
        driver::feed(self, input);
    }

    /// Move the clock to `ms`, firing every timer due on the way, at its own time.
    pub fn advance_to_ms(&mut self, ms: u64) {
        let target = Instant::from_millis(ms);
        while let Some(at) = self.reactor.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            driver::advance(self);
        }
        self.now = self.now.max(target);
    }

    pub fn at_ms(&mut self, ms: u64, input: Input) {
        self.advance_to_ms(ms);
        self.input(input);
    }

    pub fn link(&mut self, ms: u64, index: u32, name: &str, flags: u32) {
        self.at_ms(
            ms,
            Input::Link {
                link: link(index, name, flags),
            },
        );
    }

    pub fn done(&mut self, id: EffectId, output: EffectOutput) {
        self.input(Input::EffectDone {
            id,
            result: Ok(output),
        });
    }

    pub fn failed(&mut self, id: EffectId, error: &str) {
        self.input(Input::EffectDone {
            id,
            result: Err(error.into()),
        });
    }

    pub fn spawned(&mut self, id: EffectId, pid: u32) {
        self.done(id, EffectOutput::Spawned { pid });
    }

    pub fn exited(&mut self, id: EffectId, status: ExitStatus) {
        self.input(Input::ChildExited { id, status });
    }

    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    pub fn take_events(&mut self) -> Vec<(Instant, Event)> {
        std::mem::take(&mut self.events)
    }
}

impl Host for Harness {
    type Core = Reactor;
    fn core(&mut self) -> &mut Reactor {
        &mut self.reactor
    }
    fn now(&self) -> Instant {
        self.now
    }
    fn set_now(&mut self, now: Instant) {
        self.now = now;
    }
    fn queue(&mut self) -> &mut VecDeque<Input> {
        &mut self.queue
    }
    fn on_input(&mut self, _: &Input) {}
    fn on_record(&mut self, record: Record) {
        self.events.push((record.at, record.event));
    }
    fn on_action(&mut self, action: Action) {
        self.actions.push(action);
    }
}
