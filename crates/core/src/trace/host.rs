//! What replay ([`super::replay`]) and the live loop's turns over a scenario
//! ([`super::live_turns`]) share: the host the [`driver`](crate::core::driver) drives
//! (the reactor, the simulated world, the outlet) and the script (a trace's entries,
//! with the time the run ends). Only the loops that pick what happens next differ.

use super::format::{Entry, Header, TraceError, TraceKind};
use super::outcome::{Output, ReplayError, SCENARIO_TAIL, Summary};
use super::sim::Sim;
use crate::core::Reactor;
use crate::core::action::{Action, Effect};
use crate::core::driver::{self, Host};
use crate::core::event::Record;
use crate::core::input::{Input, Mode};
use crate::core::policy::Policy;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;

/// The reactor, the simulator (a scenario; a recorded trace holds every answer) and
/// the outlet.
pub(super) struct Replaying<'o> {
    pub reactor: Reactor,
    pub sim: Option<Sim>,
    pub now: Instant,
    queue: VecDeque<Input>,
    pub summary: Summary,
    /// Virtual-clock steps so far (a runaway core is stopped).
    pub steps: u64,
    pub shut_down: bool,
    out: &'o mut dyn FnMut(Output<'_>),
}

impl<'o> Replaying<'o> {
    fn new(
        header: &Header,
        policy: Policy,
        out: &'o mut dyn FnMut(Output<'_>),
    ) -> Result<Self, ReplayError> {
        let sim = match header.kind {
            TraceKind::Scenario => Some(simulator(header, &policy)?),
            TraceKind::Recorded => None,
        };
        Ok(Replaying {
            reactor: Reactor::new(policy),
            sim,
            now: Instant::ZERO,
            queue: VecDeque::new(),
            summary: Summary::default(),
            steps: 0,
            shut_down: false,
            out,
        })
    }

    /// The host and its script, with a scenario's implicit Start handed in: how every
    /// run of a trace begins, whatever loop then picks what happens next.
    pub fn begin<I>(
        header: &Header,
        entries: I,
        policy: Policy,
        out: &'o mut dyn FnMut(Output<'_>),
    ) -> Result<(Self, Script<I>), ReplayError>
    where
        I: Iterator<Item = Result<Entry, TraceError>>,
    {
        let mut r = Replaying::new(header, policy, out)?;
        let script = Script::open(header, entries)?;
        r.start_unless_scripted(header, &script);
        Ok((r, script))
    }

    /// A hand-written scenario may leave out its Start: it is handed in at zero.
    fn start_unless_scripted<I>(&mut self, header: &Header, script: &Script<I>) {
        let scripted = matches!(
            script.next,
            Some(Entry {
                input: Input::Start { .. },
                ..
            })
        );
        if header.kind == TraceKind::Scenario && !scripted {
            let start = Input::Start {
                wall_clock_unix: header.wall_clock_unix,
                mode: Mode::Replay,
                argv: Vec::new(),
            };
            driver::feed(self, start);
        }
    }

    /// The simulated world's next answer due by `now`, if any is left (a cancelled
    /// one is not); false when none.
    pub fn feed_world_answer(&mut self) -> bool {
        let now = self.now;
        match self.sim.as_mut().and_then(|s| s.pop_due(now)) {
            Some((_, input)) => {
                driver::feed(self, input);
                true
            }
            None => false,
        }
    }
}

impl Host for Replaying<'_> {
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
    fn on_input(&mut self, input: &Input) {
        self.summary.inputs += 1;
        (self.out)(Output::Input(self.now, input));
        if let Some(sim) = &mut self.sim {
            sim.observe(input);
        }
    }
    fn on_timer(&mut self) {
        self.steps += 1;
        self.summary.timeouts += 1;
    }
    fn on_record(&mut self, record: Record) {
        self.summary.records += 1;
        (self.out)(Output::Record(&record));
    }
    fn on_action(&mut self, action: Action) {
        self.summary.actions += 1;
        (self.out)(Output::Action(self.now, &action));
        if let Some(sim) = &mut self.sim {
            sim.answer(self.now, &action);
        }
        self.shut_down |= matches!(action.effect, Effect::Shutdown { .. });
    }
    fn stopped(&self) -> bool {
        self.shut_down
    }
}

/// A trace's entries, read one ahead, and when the run ends: the header's `until_ms`,
/// else the last entry plus [`SCENARIO_TAIL`] (a scenario) or nothing (a recording).
pub(super) struct Script<I> {
    entries: I,
    next: Option<Entry>,
    until: Option<Instant>,
    tail: Duration,
    last_input: Instant,
}

impl<I: Iterator<Item = Result<Entry, TraceError>>> Script<I> {
    pub fn open(header: &Header, mut entries: I) -> Result<Self, TraceError> {
        let next = entries.next().transpose()?;
        Ok(Script {
            entries,
            next,
            until: header.until_ms.map(Instant::from_millis),
            tail: match header.kind {
                TraceKind::Scenario => SCENARIO_TAIL,
                TraceKind::Recorded => Duration::ZERO,
            },
            last_input: Instant::ZERO,
        })
    }

    /// When the next entry is due.
    pub fn due(&self) -> Option<Instant> {
        self.next.as_ref().map(|e| e.at)
    }

    /// Where the run ends, once that is known.
    pub fn until(&mut self) -> Option<Instant> {
        if self.next.is_none() && self.until.is_none() {
            self.until = Some(self.last_input + self.tail);
        }
        self.until
    }

    /// The next entry's input; the one after it is read.
    pub fn take(&mut self) -> Result<Option<Input>, TraceError> {
        let Some(entry) = self.next.take() else {
            return Ok(None);
        };
        self.last_input = self.last_input.max(entry.at);
        self.next = self.entries.next().transpose()?;
        Ok(Some(entry.input))
    }
}

/// The simulated world that answers a scenario's effects.
#[cfg(feature = "sim")]
fn simulator(header: &Header, policy: &Policy) -> Result<Sim, ReplayError> {
    Ok(Sim::new(
        header.world.clone().unwrap_or_default(),
        &policy.cache.pool_mount,
    ))
}

/// A build without the simulator (a node's /init) replays recorded traces only.
#[cfg(not(feature = "sim"))]
fn simulator(_: &Header, _: &Policy) -> Result<Sim, ReplayError> {
    Err(ReplayError::NoSimulator)
}
