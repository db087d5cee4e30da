//! Replay: a trace fed to a [`Reactor`] under a virtual clock. Inputs are handed in
//! at their times; between them every timer fires at its own deadline
//! (`poll_timeout`), so a 60 s timeout replays in microseconds. A scenario's effects
//! are answered by the simulated world ([`Sim`]); a recorded trace already holds every
//! answer.

use super::format::{Entry, Header, TraceError, TraceKind};
use super::sim::Sim;
use crate::core::Reactor;
use crate::core::action::{Action, Effect};
use crate::core::driver::{self, Host, Next};
use crate::core::event::Record;
use crate::core::input::{Input, Mode};
use crate::core::policy::Policy;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;

/// How long a scenario runs past its last input (unless the header says `until_ms`).
pub const SCENARIO_TAIL: Duration = Duration::from_secs(120);

/// Virtual-clock steps allowed beyond the inputs (a core that re-arms a timer for
/// `now` forever would otherwise never end).
const STEP_BUDGET: u64 = 2_000_000;

/// What a replay produces, in order.
#[derive(Debug)]
pub enum Output<'a> {
    /// An input handed to the core at this time (from the trace or the simulator).
    Input(Instant, &'a Input),
    /// A log record the core emitted.
    Record(&'a Record),
    /// An effect the core asked for at this time.
    Action(Instant, &'a Action),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub inputs: u64,
    pub records: u64,
    pub actions: u64,
    pub timeouts: u64,
    /// Virtual time when the replay stopped.
    pub end: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("policy in the trace header: {0}")]
    Policy(String),
    #[error("replay did not settle: {0} virtual-clock steps without reaching the end")]
    Runaway(u64),
}

/// `base` with each top-level section given in the header's `policy` replacing the
/// base's whole section.
pub fn effective_policy(base: Policy, header: &Header) -> Result<Policy, ReplayError> {
    let Some(overrides) = &header.policy else {
        return Ok(base);
    };
    let serde_json::Value::Object(over) = overrides else {
        return Err(ReplayError::Policy("must be a JSON object".into()));
    };
    let mut merged = serde_json::to_value(&base).map_err(|e| ReplayError::Policy(e.to_string()))?;
    if let serde_json::Value::Object(m) = &mut merged {
        for (section, value) in over {
            if !m.contains_key(section) {
                return Err(ReplayError::Policy(format!("unknown section {section:?}")));
            }
            m.insert(section.clone(), value.clone());
        }
    }
    serde_json::from_value(merged).map_err(|e| ReplayError::Policy(e.to_string()))
}

/// The replay's world: the reactor, the simulator (a scenario) and the outlet.
struct Replaying<'o> {
    reactor: Reactor,
    sim: Option<Sim>,
    now: Instant,
    queue: VecDeque<Input>,
    summary: Summary,
    steps: u64,
    shut_down: bool,
    out: &'o mut dyn FnMut(Output<'_>),
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

/// Replay `entries` (with their `header`) under `policy` (already merged with the
/// header's overrides), reporting every step to `out`.
pub fn replay<I>(
    header: &Header,
    entries: I,
    policy: Policy,
    out: &mut dyn FnMut(Output<'_>),
) -> Result<Summary, ReplayError>
where
    I: Iterator<Item = Result<Entry, TraceError>>,
{
    let sim = match header.kind {
        TraceKind::Scenario => Some(Sim::new(
            header.world.clone().unwrap_or_default(),
            &policy.cache.pool_mount,
        )),
        TraceKind::Recorded => None,
    };
    let mut r = Replaying {
        reactor: Reactor::new(policy),
        sim,
        now: Instant::ZERO,
        queue: VecDeque::new(),
        summary: Summary::default(),
        steps: 0,
        shut_down: false,
        out,
    };
    let mut entries = entries;
    let mut next_entry = entries.next().transpose()?;
    let mut exhausted = next_entry.is_none();
    let mut until = header.until_ms.map(Instant::from_millis);
    let mut last_input = Instant::ZERO;

    // A hand-written scenario may leave out its Start.
    if header.kind == TraceKind::Scenario
        && !matches!(
            next_entry,
            Some(Entry {
                input: Input::Start { .. },
                ..
            })
        )
    {
        let start = Input::Start {
            wall_clock_unix: header.wall_clock_unix,
            mode: Mode::Replay,
            argv: Vec::new(),
        };
        driver::feed(&mut r, start);
    }

    while !r.shut_down {
        if exhausted && until.is_none() {
            let tail = match header.kind {
                TraceKind::Scenario => SCENARIO_TAIL,
                TraceKind::Recorded => Duration::ZERO,
            };
            until = Some(last_input + tail);
        }
        let t_world = r.sim.as_ref().and_then(Sim::next_time);
        let t_entry = next_entry.as_ref().map(|e| e.at);
        let Some((t, which)) = driver::next(r.reactor.poll_timeout(), t_world, t_entry) else {
            break;
        };
        if until.is_some_and(|u| t > u) {
            break;
        }
        r.now = r.now.max(t);
        match which {
            Next::Timer => driver::advance(&mut r),
            Next::World => {
                r.steps += 1;
                let now = r.now;
                if let Some((_, input)) = r.sim.as_mut().and_then(|s| s.pop_due(now)) {
                    driver::feed(&mut r, input);
                }
            }
            Next::Script => {
                if let Some(entry) = next_entry.take() {
                    last_input = last_input.max(entry.at);
                    driver::feed(&mut r, entry.input);
                }
                next_entry = entries.next().transpose()?;
                exhausted = next_entry.is_none();
            }
        }
        if r.steps > STEP_BUDGET {
            return Err(ReplayError::Runaway(r.steps));
        }
    }
    r.summary.end = r.now;
    Ok(r.summary)
}
