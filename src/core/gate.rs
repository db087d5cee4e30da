//! The readiness gate (BRIEF §3): open when a target is reachable, or at the timeout.

use super::action::EffectId;
use super::ctx::Ctx;
use super::input::EffectResult;
use super::policy::GatePolicy;
use super::timer::Timer;

pub struct Gate {
    policy: GatePolicy,
}

impl Gate {
    pub fn new(policy: GatePolicy) -> Gate {
        Gate { policy }
    }
    /// The network phase begins with the run.
    pub fn on_start(&mut self, cx: &mut Ctx) {
        let _ = (cx, &self.policy);
    }
    pub fn on_done(&mut self, cx: &mut Ctx, id: EffectId, result: &EffectResult) {
        let _ = (cx, id, result);
    }
    pub fn on_timer(&mut self, cx: &mut Ctx, timer: &Timer) {
        let _ = (cx, timer);
    }
    pub fn is_released(&self) -> bool {
        false
    }
    pub fn summary(&self) -> String {
        String::new()
    }
}
