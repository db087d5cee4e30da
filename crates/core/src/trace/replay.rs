//! Replay: a trace fed to a [`Reactor`] under a virtual clock. Inputs are handed in
//! at their times; between them every timer fires at its own deadline
//! (`poll_timeout`), so a 60 s timeout replays in microseconds. A scenario's effects
//! are answered by the simulated world ([`Sim`]); a recorded trace already holds every
//! answer.

use super::format::{Entry, Header, TraceError, TraceKind};
use super::sim::Sim;
use crate::core::Reactor;
use crate::core::action::{Action, Effect};
use crate::core::event::Record;
use crate::core::input::{Input, Mode};
use crate::core::policy::Policy;
use crate::time::{Duration, Instant};

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

enum Next {
    Timer,
    Sim,
    Entry,
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
    let mut sim = match header.kind {
        TraceKind::Scenario => Some(Sim::new(
            header.world.clone().unwrap_or_default(),
            &policy.cache.pool_mount,
        )),
        TraceKind::Recorded => None,
    };
    let mut reactor = Reactor::new(policy);
    let mut entries = entries;
    let mut next_entry = entries.next().transpose()?;
    let mut exhausted = next_entry.is_none();
    let mut until = header.until_ms.map(Instant::from_millis);
    let mut summary = Summary::default();
    let mut now = Instant::ZERO;
    let mut last_input = Instant::ZERO;
    let mut steps: u64 = 0;

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
        feed(&mut reactor, sim.as_mut(), now, start, &mut summary, out);
    }

    loop {
        if exhausted && until.is_none() {
            let tail = match header.kind {
                TraceKind::Scenario => SCENARIO_TAIL,
                TraceKind::Recorded => Duration::ZERO,
            };
            until = Some(last_input + tail);
        }
        let t_timer = reactor.poll_timeout();
        let t_sim = sim.as_ref().and_then(Sim::next_time);
        let t_entry = next_entry.as_ref().map(|e| e.at);
        // On ties: timers due, then the world's answers, then the trace's inputs.
        let mut pick: Option<(Instant, Next)> = None;
        for (t, which) in [
            (t_timer, Next::Timer),
            (t_sim, Next::Sim),
            (t_entry, Next::Entry),
        ] {
            if let Some(t) = t
                && pick.as_ref().is_none_or(|(best, _)| t < *best)
            {
                pick = Some((t, which));
            }
        }
        let Some((t, which)) = pick else { break };
        if until.is_some_and(|u| t > u) {
            break;
        }
        now = now.max(t);
        match which {
            Next::Timer => {
                steps += 1;
                summary.timeouts += 1;
                reactor.handle_timeout(now);
            }
            Next::Sim => {
                steps += 1;
                if let Some((_, input)) = sim.as_mut().and_then(|s| s.pop_due(now)) {
                    feed(&mut reactor, sim.as_mut(), now, input, &mut summary, out);
                }
            }
            Next::Entry => {
                if let Some(entry) = next_entry.take() {
                    last_input = last_input.max(entry.at);
                    feed(
                        &mut reactor,
                        sim.as_mut(),
                        now,
                        entry.input,
                        &mut summary,
                        out,
                    );
                }
                next_entry = entries.next().transpose()?;
                exhausted = next_entry.is_none();
            }
        }
        if drain(&mut reactor, sim.as_mut(), now, &mut summary, out) {
            break;
        }
        if steps > STEP_BUDGET {
            return Err(ReplayError::Runaway(steps));
        }
    }
    summary.end = now;
    Ok(summary)
}

fn feed(
    reactor: &mut Reactor,
    sim: Option<&mut Sim>,
    now: Instant,
    input: Input,
    summary: &mut Summary,
    out: &mut dyn FnMut(Output<'_>),
) {
    summary.inputs += 1;
    out(Output::Input(now, &input));
    if let Some(sim) = sim {
        sim.observe(&input);
    }
    reactor.handle(now, input);
}

/// Pass on records and actions; true when the core asked to shut down.
fn drain(
    reactor: &mut Reactor,
    mut sim: Option<&mut Sim>,
    now: Instant,
    summary: &mut Summary,
    out: &mut dyn FnMut(Output<'_>),
) -> bool {
    let mut shutdown = false;
    while let Some(record) = reactor.poll_record() {
        summary.records += 1;
        out(Output::Record(&record));
    }
    while let Some(action) = reactor.poll_action() {
        summary.actions += 1;
        out(Output::Action(now, &action));
        if let Some(sim) = sim.as_deref_mut() {
            sim.answer(now, &action);
        }
        shutdown |= matches!(action.effect, Effect::Shutdown { .. });
    }
    shutdown
}
