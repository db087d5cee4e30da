//! Deadlines of the blocking effects (issue 9, point 3).
//!
//! A probe of a dying disk, a hung mount or an mkfs on a disk that stopped answering
//! must not hold the boot for good. Every effect that blocks in the world (on a
//! worker thread, or as an internal child) gets a deadline when the core asks for it,
//! kept as a core timer ([`Timer::EffectDeadline`](super::timer::Timer)), so a replay
//! shows the same timeouts as the boot it records. When the timer fires before the
//! answer, the core abandons the effect (`Kill` for a child, `Cancel` for a worker
//! effect: the world stops waiting on it) and hands its owner the error
//! `timed out after 120s`, exactly as if the world had answered it; a late answer
//! finds no owner and is ignored. Supervised children (services, DHCP clients) run
//! for good and have no deadline; connects have their own (`gate.attempt_timeout`).

use super::action::Effect;
use super::error::{EffectError, ErrorKind};
use super::policy::Policy;
use crate::time::Duration;

/// How the world is told to stop working on an effect whose deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abandon {
    /// An internal child (`mkfs.btrfs`, `modprobe`): SIGKILL its process group.
    Kill,
    /// A worker-thread effect: the world drops it (or its thread, if it runs).
    Cancel,
}

/// One armed deadline: what to log and how to abandon the effect when it fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Armed {
    pub after: Duration,
    pub abandon: Abandon,
    /// The effect's name (`mkfs`, `probe_disk`, …) and what it works on.
    pub effect: &'static str,
    pub target: String,
}

/// The deadline of each kind of blocking effect (rules keys `cache.*_timeout`,
/// `boot.modprobe_timeout`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadlines {
    probe: Duration,
    table: Duration,
    mkfs: Duration,
    mount: Duration,
    subvolume: Duration,
    copy: Duration,
    modprobe: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines::from_policy(&Policy::default())
    }
}

impl Deadlines {
    pub fn from_policy(p: &Policy) -> Deadlines {
        Deadlines {
            probe: p.cache.probe_timeout,
            table: p.cache.table_timeout,
            mkfs: p.cache.mkfs_timeout,
            mount: p.cache.mount_timeout,
            subvolume: p.cache.subvolume_timeout,
            copy: p.cache.copy_timeout,
            modprobe: p.modprobe_timeout,
        }
    }

    /// The deadline of `effect`, or `None` for an effect that does not block (or
    /// runs for good, or has a deadline of its own).
    pub fn of(&self, effect: &Effect) -> Option<Armed> {
        let worker = |after: Duration, effect: &'static str, target: &str| Armed {
            after,
            abandon: Abandon::Cancel,
            effect,
            target: target.to_owned(),
        };
        let armed = match effect {
            Effect::ProbeDisk { device } => worker(self.probe, "probe_disk", device),
            Effect::WritePartitionTable { disk, .. } => {
                worker(self.table, "write_partition_table", disk)
            }
            Effect::AddPartition { disk, .. } => worker(self.table, "add_partition", disk),
            Effect::Mount { target, .. } => worker(self.mount, "mount", target),
            Effect::Unmount { target, .. } => worker(self.mount, "unmount", target),
            Effect::CreateSubvolume { path } => worker(self.subvolume, "create_subvolume", path),
            Effect::ListSubvolumes { path } => worker(self.subvolume, "list_subvolumes", path),
            Effect::DeleteSubvolume { path } => worker(self.subvolume, "delete_subvolume", path),
            Effect::CopyTree { to, .. } => worker(self.copy, "copy_tree", to),
            Effect::Mkfs { device, .. } => Armed {
                abandon: Abandon::Kill,
                ..worker(self.mkfs, "mkfs", device)
            },
            Effect::LoadModule { modalias } => Armed {
                abandon: Abandon::Kill,
                ..worker(self.modprobe, "load_module", modalias)
            },
            // Reads procfs: answered at once, nothing to wait on.
            Effect::ProbeFilesystem { .. }
            | Effect::SetLinkUp { .. }
            | Effect::ReopenLogs { .. }
            | Effect::Spawn { .. }
            | Effect::Kill { .. }
            | Effect::Connect { .. }
            | Effect::Cancel { .. }
            | Effect::KillAll { .. }
            | Effect::Shutdown { .. } => return None,
        };
        Some(armed)
    }
}

/// The error a timed-out effect is failed with: `timed out after 120s`.
pub fn timed_out(after: Duration) -> EffectError {
    let ms = after.as_millis();
    let message = if ms.is_multiple_of(1000) {
        format!("timed out after {}s", ms / 1000)
    } else {
        format!("timed out after {ms}ms")
    };
    EffectError::new(ErrorKind::TimedOut, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_effects_have_deadlines_and_long_running_ones_none() {
        let d = Deadlines::default();
        let mkfs = d
            .of(&Effect::Mkfs {
                device: "sda1".into(),
                label: "x".into(),
                force: false,
            })
            .expect("mkfs has a deadline");
        assert_eq!(
            (mkfs.after, mkfs.abandon, mkfs.target.as_str()),
            (Duration::from_secs(120), Abandon::Kill, "sda1")
        );
        let probe = d
            .of(&Effect::ProbeDisk {
                device: "sdb".into(),
            })
            .expect("probe has a deadline");
        assert_eq!(
            (probe.after, probe.abandon),
            (Duration::from_secs(10), Abandon::Cancel)
        );
        let spawn = Effect::Spawn {
            role: crate::core::action::ChildRole::Service {
                service: "redis".into(),
            },
            argv: vec!["redis-server".into()],
        };
        assert_eq!(d.of(&spawn), None);
        assert_eq!(
            timed_out(Duration::from_secs(120)).to_string(),
            "timed out after 120s"
        );
        assert_eq!(timed_out(Duration::from_secs(1)).kind, ErrorKind::TimedOut);
        assert_eq!(
            timed_out(Duration::from_millis(1500)).message,
            "timed out after 1500ms"
        );
    }
}
