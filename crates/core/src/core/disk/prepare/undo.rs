//! Undoing a failed prepare: every mount it made (the pool, then `/var/cache`, then
//! `/var/log`) is unmounted again, last made first, one `Effect::Unmount` at a time,
//! each logged as a `cache.step` (`unmount-logs`, `unmount-cache`, `unmount-pool`).
//!
//! Why: BRIEF §1 says a failed prepare leaves the node booting without a cache. A pool
//! left mounted would hold the disk (and the next boot's probe would see it mounted),
//! and a `/var/cache` or `/var/log` bind left in place would have services write into
//! a cache the log stream calls failed. The prepare reports `Failed` (and the cache
//! counts as settled, so services may start) only once every unmount is answered.
//! An unmount that fails is logged (`ok: false`) and the next one is still made: each
//! mount is independent of the others.

use super::{Prepare, Progress, Step};
use crate::core::action::Effect;
use crate::core::ctx::{Ctx, Owner};
use crate::core::event::Event;
use crate::core::input::EffectResult;
use crate::core::policy::CachePolicy;

/// One mount this prepare made, and the step that undoes it.
pub(super) struct Mounted {
    undo: Step,
    target: String,
}

impl Prepare {
    /// The mount step in `self.step` succeeded: remember it for an undo.
    pub(super) fn made_mount(&mut self, policy: &CachePolicy) {
        let (undo, target) = match self.step {
            Step::MountPool => (Step::UnmountPool, &policy.pool_mount),
            Step::MountCache => (Step::UnmountCache, &policy.cache_mount),
            Step::MountLogs => (Step::UnmountLogs, &policy.log_mount),
            _ => return,
        };
        self.mounted.push(Mounted {
            undo,
            target: target.clone(),
        });
    }

    /// An effect finished after the failure: an unmount of ours (logged), or the
    /// effect that was in flight when the disk went away (a mount it made counts).
    pub(super) fn undo_done(
        &mut self,
        cx: &mut Ctx,
        policy: &CachePolicy,
        result: &EffectResult,
    ) -> Progress {
        match self.step {
            Step::UnmountLogs | Step::UnmountCache | Step::UnmountPool => {
                cx.log(Event::CacheStep {
                    step: self.step.name().into(),
                    device: self.device.clone(),
                    ok: result.is_ok(),
                    ms: cx.now.millis_since(self.step_started),
                    error: result.as_ref().err().map(|e| e.message.clone()),
                });
            }
            _ if result.is_ok() => self.made_mount(policy),
            _ => {}
        }
        self.undo_next(cx)
    }

    /// Unmount the last mount not undone yet; `Failed` once none is left. An effect
    /// still in flight is awaited first (it may be a mount that is about to exist).
    pub(super) fn undo_next(&mut self, cx: &mut Ctx) -> Progress {
        if self.in_flight.is_some() {
            return Progress::Working;
        }
        let Some(Mounted { undo, target }) = self.mounted.pop() else {
            return Progress::Failed;
        };
        self.step = undo;
        self.step_started = cx.now;
        let effect = Effect::Unmount {
            source: format!("/dev/{}", self.device),
            target,
        };
        self.in_flight = Some(cx.effect(Owner::Cache, effect));
        Progress::Working
    }

    /// What this prepare mounted and has not unmounted again, last made first, as
    /// `(source, target)`: the shutdown unmounts these (issue 9).
    pub fn mounts_last_first(&self) -> Vec<(String, String)> {
        self.mounted
            .iter()
            .rev()
            .map(|m| (format!("/dev/{}", self.device), m.target.clone()))
            .collect()
    }

    /// The step that failed, once the prepare failed.
    pub fn failed_step(&self) -> Option<Step> {
        self.failed
    }
}
