//! Replay: a trace fed to a [`Reactor`] under a virtual clock. Inputs are handed in
//! at their times; between them every timer fires at its own deadline
//! (`poll_timeout`), so a 60 s timeout replays in microseconds. A scenario's effects
//! are answered by the simulated world ([`Sim`]); a recorded trace already holds every
//! answer.

use super::format::{Entry, Header, TraceError};
use super::host::Replaying;
use super::sim::Sim;
use crate::core::driver::{self, Next};
use crate::core::policy::Policy;

/// Virtual-clock steps allowed beyond the inputs (a core that re-arms a timer for
/// `now` forever would otherwise never end).
const STEP_BUDGET: u64 = 2_000_000;

pub use super::outcome::{Output, ReplayError, SCENARIO_TAIL, Summary};

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
    let (mut r, mut script) = Replaying::begin(header, entries, policy, out)?;
    while !r.shut_down {
        let until = script.until();
        let t_world = r.sim.as_ref().and_then(Sim::next_time);
        let Some((t, which)) = driver::next(r.reactor.poll_timeout(), t_world, script.due()) else {
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
                r.feed_world_answer();
            }
            Next::Script => {
                if let Some(input) = script.take()? {
                    driver::feed(&mut r, input);
                }
            }
        }
        if r.steps > STEP_BUDGET {
            return Err(ReplayError::Runaway(r.steps));
        }
    }
    r.summary.end = r.now;
    Ok(r.summary)
}
