//! What running a trace produces (the outlet's items, the summary, the errors), shared
//! by replay ([`super::replay`]), the live loop's turns ([`super::live_turns`]) and the
//! host they both drive ([`super::host`]).

use super::format::TraceError;
use crate::core::action::Action;
use crate::core::event::Record;
use crate::core::input::Input;
use crate::time::{Duration, Instant};

/// How long a scenario runs past its last input (unless the header says `until_ms`).
pub const SCENARIO_TAIL: Duration = Duration::from_secs(120);

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
    #[error(
        "a scenario needs the simulated world, which this build leaves out (feature `sim`: the operators' nodeboot has it, a node's /init does not)"
    )]
    NoSimulator,
}
