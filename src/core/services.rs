//! Services (BRIEF §4): started after the gate in dependency order, supervised with
//! capped restart backoff, their output on the log stream.

use super::action::EffectId;
use super::ctx::Ctx;
use super::input::{EffectResult, ExitStatus, Stream};
use super::policy::ServiceSpec;
use super::timer::Timer;

pub struct Services {
    specs: Vec<ServiceSpec>,
}

impl Services {
    pub fn new(specs: Vec<ServiceSpec>) -> Services {
        Services { specs }
    }
    /// Cache settled and gate open: start what can start.
    pub fn on_release(&mut self, cx: &mut Ctx) {
        let _ = (cx, &self.specs);
    }
    pub fn on_done(&mut self, cx: &mut Ctx, id: EffectId, result: &EffectResult) {
        let _ = (cx, id, result);
    }
    pub fn on_child_exited(&mut self, cx: &mut Ctx, id: EffectId, status: ExitStatus) {
        let _ = (cx, id, status);
    }
    pub fn on_child_output(&mut self, cx: &mut Ctx, id: EffectId, stream: Stream, line: &str) {
        let _ = (cx, id, stream, line);
    }
    pub fn on_timer(&mut self, cx: &mut Ctx, timer: &Timer) {
        let _ = (cx, timer);
    }
    pub fn stop_all(&mut self, cx: &mut Ctx) {
        let _ = cx;
    }
    pub fn live_children(&self) -> usize {
        0
    }
    pub fn summary(&self) -> Vec<String> {
        Vec::new()
    }
}
