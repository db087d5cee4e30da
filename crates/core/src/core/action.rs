//! Everything the core can ask the world to do. Each request carries an [`EffectId`];
//! its outcome comes back as `Input::EffectDone { id, .. }` (and, for `Spawn`, later as
//! `Input::ChildExited { id, .. }`). Paths are node paths (`/var/log`); a confined world
//! puts them under its `--root`. Devices are kernel names (`sda`, `loop3p1`).
//!
//! **The world's contract**, as the live loop (`world::exec`) and the scenario
//! simulator (`trace::sim`) keep it:
//! - Every effect is answered once with `EffectDone`, a refused one with an error —
//!   except `Shutdown`, which ends the run, and a `Connect` or blocking effect that
//!   was `Cancel`led before it finished, which is never answered.
//! - A blocking effect (probe, table write, mkfs, mount, modprobe, …) that misses its
//!   deadline is abandoned by the core (`Kill` for a child, `Cancel` for a worker
//!   effect; see [`deadline`](super::deadline)); an answer that still comes is ignored.
//! - `Spawn` is answered `Spawned` when the child runs, and the child's end comes later
//!   as `ChildExited` with the `Spawn`'s id (also after a `Kill`).
//! - `Kill` and `Cancel` are answered `Done` (or an error: no such child, say), but the
//!   core waits for neither answer (nor for `KillAll`'s): it keeps no owner for them, so a world that
//!   answers late or never leaks nothing. A `Connect` answered after its `Cancel`
//!   (the two crossed) is ignored.

use serde::{Deserialize, Serialize};

/// Names one effect for its whole life (a spawned child keeps the id of its `Spawn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EffectId(pub u64);

impl std::fmt::Display for EffectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub id: EffectId,
    pub effect: Effect,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Read sysfs attributes and the signatures of `/dev/<device>` (read-only).
    /// Answered with `EffectOutput::Disk`.
    ProbeDisk { device: String },
    /// `modprobe -b <modalias>` (a driver for a device that announced one).
    LoadModule { modalias: String },
    /// Is filesystem type `fstype` registered in the kernel (`/proc/filesystems`)?
    /// Read-only and instant (procfs); answered with `EffectOutput::Filesystem`.
    ProbeFilesystem { fstype: String },
    /// Set a link administratively up, so the kernel reports its carrier.
    SetLinkUp { index: u32, nic: String },
    /// Write a fresh GPT on `disk` with one partition spanning it, named `name`,
    /// holding an exclusive lock on the disk while writing.
    WritePartitionTable { disk: String, name: String },
    /// Make the kernel see partition `number` of `disk`: re-read the table, and if no
    /// partition device appears, `BLKPG_ADD_PARTITION` with the table's geometry.
    /// Done when the request was made; the core waits for the partition's uevent.
    AddPartition { disk: String, number: u32 },
    /// `mkfs.btrfs -L <label> /dev/<device>`, with `-f` only when `force`: the core asks
    /// for it only on a partition proven ours (nodeboot's type GUID and layout, an
    /// unfinished mkfs on it), and the world re-checks that proof on the disk before it
    /// passes `-f`; otherwise mkfs itself refuses to overwrite a filesystem.
    Mkfs {
        device: String,
        label: String,
        #[serde(default)]
        force: bool,
    },
    /// Make the directory `target` (and parents), then mount.
    Mount {
        source: String,
        target: String,
        fstype: String,
        options: String,
    },
    /// Unmount `target` (a node path), undoing a `Mount` of `source`: only when the
    /// mount visible there is from `source`; nothing of `source` mounted there is
    /// success (nothing to undo). A busy mount is detached (`MNT_DETACH`), so it is
    /// gone from the mount table even while something still holds a file on it.
    Unmount { source: String, target: String },
    /// Create a btrfs subvolume at `path` (parents must exist); success if it exists.
    CreateSubvolume { path: String },
    /// List the subvolumes directly under `path`. Answered with `EffectOutput::Subvolumes`.
    ListSubvolumes { path: String },
    /// Delete the btrfs subvolume at `path`.
    DeleteSubvolume { path: String },
    /// Copy the contents of directory `from` into directory `to` (early tmpfs logs).
    CopyTree { from: String, to: String },
    /// Move nodeboot's own log file under `dir` and tell other log writers to reopen.
    ReopenLogs { dir: String },
    /// Start a supervised child; its output comes back line by line.
    Spawn { role: ChildRole, argv: Vec<String> },
    /// Send a signal to a child started by the `Spawn` with id `child`.
    Kill { child: EffectId, signal: KillSignal },
    /// Non-blocking TCP connect to `target` (`host:port`): `Done` when connected.
    Connect { target: String },
    /// Abandon the `Connect` with id `probe` (its per-attempt timeout passed, or the
    /// gate opened): close its socket; the probe is not answered any more. Also
    /// abandons a worker-thread effect past its deadline: dropped if still queued,
    /// its thread given up on if it runs (its answer, if any, is dropped).
    Cancel { probe: EffectId },
    /// Sync, then reboot or power off (PID 1), or end the run (otherwise).
    Shutdown { kind: ShutdownKind },
    /// Shutdown's stragglers: as PID 1 `kill(-1, signal)` (every process but init);
    /// otherwise only the process groups of the children this run started. Answered
    /// `Done`; like `Kill`, nothing waits for the answer.
    KillAll { signal: KillSignal },
}

impl Effect {
    /// The effect's tag in journals and logs (`probe_disk`, `mkfs`, …): its serde
    /// name, without serializing it (pinned against serde by a test).
    pub fn name(&self) -> &'static str {
        match self {
            Effect::ProbeDisk { .. } => "probe_disk",
            Effect::LoadModule { .. } => "load_module",
            Effect::ProbeFilesystem { .. } => "probe_filesystem",
            Effect::SetLinkUp { .. } => "set_link_up",
            Effect::WritePartitionTable { .. } => "write_partition_table",
            Effect::AddPartition { .. } => "add_partition",
            Effect::Mkfs { .. } => "mkfs",
            Effect::Mount { .. } => "mount",
            Effect::Unmount { .. } => "unmount",
            Effect::CreateSubvolume { .. } => "create_subvolume",
            Effect::ListSubvolumes { .. } => "list_subvolumes",
            Effect::DeleteSubvolume { .. } => "delete_subvolume",
            Effect::CopyTree { .. } => "copy_tree",
            Effect::ReopenLogs { .. } => "reopen_logs",
            Effect::Spawn { .. } => "spawn",
            Effect::Kill { .. } => "kill",
            Effect::Connect { .. } => "connect",
            Effect::Cancel { .. } => "cancel",
            Effect::Shutdown { .. } => "shutdown",
            Effect::KillAll { .. } => "kill_all",
        }
    }
}

/// Why a child runs; the world uses it for log lines and process naming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChildRole {
    Dhcp { nic: String },
    Service { service: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KillSignal {
    Term,
    Kill,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShutdownKind {
    Exit,
    Reboot,
    PowerOff,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Effect::name` is the serde tag of every variant (journals carry the tag).
    #[test]
    fn names_are_the_serde_tags() {
        let s = String::new;
        let all = vec![
            Effect::ProbeDisk { device: s() },
            Effect::LoadModule { modalias: s() },
            Effect::ProbeFilesystem { fstype: s() },
            Effect::SetLinkUp { index: 1, nic: s() },
            Effect::WritePartitionTable {
                disk: s(),
                name: s(),
            },
            Effect::AddPartition {
                disk: s(),
                number: 1,
            },
            Effect::Mkfs {
                device: s(),
                label: s(),
                force: false,
            },
            Effect::Mount {
                source: s(),
                target: s(),
                fstype: s(),
                options: s(),
            },
            Effect::Unmount {
                source: s(),
                target: s(),
            },
            Effect::CreateSubvolume { path: s() },
            Effect::ListSubvolumes { path: s() },
            Effect::DeleteSubvolume { path: s() },
            Effect::CopyTree { from: s(), to: s() },
            Effect::ReopenLogs { dir: s() },
            Effect::Spawn {
                role: ChildRole::Dhcp { nic: s() },
                argv: Vec::new(),
            },
            Effect::Kill {
                child: EffectId(1),
                signal: KillSignal::Term,
            },
            Effect::Connect { target: s() },
            Effect::Cancel { probe: EffectId(1) },
            Effect::Shutdown {
                kind: ShutdownKind::Exit,
            },
            Effect::KillAll {
                signal: KillSignal::Kill,
            },
        ];
        for effect in all {
            let json = serde_json::to_value(&effect).unwrap();
            assert_eq!(json["effect"], effect.name(), "{effect:?}");
        }
    }
}
