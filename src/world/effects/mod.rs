//! Carrying out the core's effects. TODO (world-effects helper).
//!
//! Contract with the loop (`world/mod.rs`): `plan(effect)` says how an effect runs —
//! in the loop itself (spawn, kill, connect, link up, shutdown), as an external
//! command run as an internal child (mkfs.btrfs, modprobe: success = exit 0), or as a
//! blocking function on the worker thread (`run_blocking`: probes, GPT, BLKPG, mount,
//! subvolumes, copies). Every plan is checked against the [`Confinement`] first.

use super::confine::Confinement;
use crate::core::action::Effect;
use crate::core::input::EffectResult;

#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The loop handles it (Spawn, Kill, Connect, Cancel, SetLinkUp, Shutdown, ReopenLogs).
    Loop,
    /// Run this command as an internal child; exit 0 is success, else the error is
    /// the exit status and the last lines of its stderr.
    Command(Vec<String>),
    /// Call `run_blocking` on the worker thread.
    Blocking,
}

/// How `effect` is carried out, or why it is refused under `confine`.
pub fn plan(effect: &Effect, confine: &Confinement) -> Result<Plan, String> {
    let _ = (effect, confine);
    Err("not implemented".into())
}

/// Carry out a blocking effect (on the worker thread).
pub fn run_blocking(effect: &Effect, confine: &Confinement) -> EffectResult {
    let _ = (effect, confine);
    Err("not implemented".into())
}
