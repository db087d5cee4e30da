//! The simulated world's stand-in when the `sim` feature is off (a node's /init): no
//! value of [`Sim`] can exist, so replay's "answer from the simulator" paths compile
//! and can never run; a scenario is refused before it starts
//! ([`super::outcome::ReplayError::NoSimulator`]).

use crate::core::action::Action;
use crate::core::input::Input;
use crate::time::Instant;

pub enum Sim {}

impl Sim {
    pub fn is_shut_down(&self) -> bool {
        match *self {}
    }
    pub fn observe(&mut self, _: &Input) {
        match *self {}
    }
    pub fn next_time(&self) -> Option<Instant> {
        match *self {}
    }
    pub fn pop_due(&mut self, _: Instant) -> Option<(Instant, Input)> {
        match *self {}
    }
    pub fn answer(&mut self, _: Instant, _: &Action) {
        match *self {}
    }
}
