//! NICs (BRIEF §2): admin-up, carrier from flags, one supervised DHCP client per NIC
//! with carrier, give-up, lease detection, capped restart backoff.

use super::action::EffectId;
use super::ctx::Ctx;
use super::input::{EffectResult, ExitStatus, LinkState, Stream};
use super::policy::NetPolicy;
use super::timer::Timer;

pub struct Network {
    policy: NetPolicy,
}

impl Network {
    pub fn new(policy: NetPolicy) -> Network {
        Network { policy }
    }
    pub fn on_start(&mut self, cx: &mut Ctx) {
        let _ = (cx, &self.policy);
    }
    pub fn on_link(&mut self, cx: &mut Ctx, link: &LinkState) {
        let _ = (cx, link);
    }
    pub fn on_link_removed(&mut self, cx: &mut Ctx, index: u32, name: &str) {
        let _ = (cx, index, name);
    }
    pub fn on_address(&mut self, cx: &mut Ctx, index: u32, address: &str, added: bool) {
        let _ = (cx, index, address, added);
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
    /// Stop every client (shutdown).
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
