//! The cache disk (BRIEF §1): reuse a labelled btrfs, else prepare the first unused
//! SSD, else the first unused rotary disk, else boot without a cache.

use super::action::EffectId;
use super::ctx::Ctx;
use super::input::EffectResult;
use super::policy::CachePolicy;
use super::timer::Timer;
use crate::wire::uevent::Uevent;

pub struct Cache {
    policy: CachePolicy,
}

impl Cache {
    pub fn new(policy: CachePolicy) -> Cache {
        Cache { policy }
    }
    pub fn on_start(&mut self, cx: &mut Ctx) {
        let _ = (cx, &self.policy);
    }
    /// A block uevent (disk or partition added, changed, removed).
    pub fn on_uevent(&mut self, cx: &mut Ctx, uevent: &Uevent) {
        let _ = (cx, uevent);
    }
    pub fn on_coldplug_done(&mut self, cx: &mut Ctx) {
        let _ = cx;
    }
    /// After lost uevents: `present` lists every block device there is now.
    pub fn on_resync(&mut self, cx: &mut Ctx, present: &[Uevent]) {
        let _ = (cx, present);
    }
    pub fn on_done(&mut self, cx: &mut Ctx, id: EffectId, result: &EffectResult) {
        let _ = (cx, id, result);
    }
    pub fn on_timer(&mut self, cx: &mut Ctx, timer: &Timer) {
        let _ = (cx, timer);
    }
    /// Ready or given up: services may start once the gate opens too.
    pub fn is_settled(&self) -> bool {
        false
    }
    pub fn summary(&self) -> String {
        String::new()
    }
}
