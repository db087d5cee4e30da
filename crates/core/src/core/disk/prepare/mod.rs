//! Preparing (or reusing) the cache, one effect at a time: a small explicit state
//! machine whose state is the step in flight, so resuming an interrupted prepare is
//! starting it at a later step.
//!
//! Fresh disk:  partition → add-partition (then wait for the partition's uevent and
//! probe) → mkfs → the mount sequence. Reuse of a labelled filesystem starts at the
//! mount sequence: mount-pool → subvolumes → list-logs → log-subvolume → copy-logs →
//! mount-cache → mount-logs → reopen-logs → ready → prune.
//!
//! Before its first mount the prepare makes sure the kernel has btrfs ([`fs`]: it
//! asks the reactor and waits), and a mount answered ENODEV is retried once after
//! the filesystem was made available, instead of failing the cache.
//!
//! A step that fails ends the prepare (`cache.failed`), and the mounts made so far
//! are undone in reverse order ([`undo`]: unmount-logs → unmount-cache →
//! unmount-pool), so the node boots without a cache and with nothing of it mounted.

mod fs;
mod step;
mod undo;

pub use step::Step;

use super::logname;
use super::verdict::{ours_unfinished, signature_reason};
use crate::core::action::{Effect, EffectId};
use crate::core::ctx::{Ctx, Owner};
use crate::core::event::Event;
use crate::core::input::{DiskProbe, EffectOutput, EffectResult};
use crate::core::policy::CachePolicy;
use crate::core::timer::Timer;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;
use undo::Mounted;

/// What a prepare tells its owner after handling something.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Working,
    /// The cache is mounted and the logs moved (`cache.ready` was logged).
    Ready,
    /// A step failed (`cache.failed` was logged) and what it had mounted is
    /// unmounted again; the prepare is over.
    Failed,
}

/// Partition 1 of the prepared disk as the cache knows it: its name, and its probe
/// once answered.
pub struct PartitionView<'a> {
    pub name: &'a str,
    pub probe: Option<&'a DiskProbe>,
}

pub struct Prepare {
    /// The whole disk.
    pub disk: String,
    /// The device holding the filesystem (the partition once known, or a whole-disk
    /// filesystem being reused).
    pub device: String,
    pub step: Step,
    in_flight: Option<EffectId>,
    /// When the step being logged was requested (`ms` of `cache.step`).
    step_started: Instant,
    log_name: Option<String>,
    prune: VecDeque<String>,
    ready: bool,
    /// Finishing an earlier boot's prepare on a disk proven ours (nodeboot's type GUID
    /// and layout): an unfinished mkfs of ours (`unknown-data`) on the partition may
    /// be formatted again (`mkfs -f`).
    resumed: bool,
    /// Mounts this prepare made, in the order made (undone last first on failure).
    mounted: Vec<Mounted>,
    /// The step that failed; once set, the prepare only undoes its mounts.
    failed: Option<Step>,
    /// Whether the kernel has the filesystem, and the one ENODEV retry ([`fs`]).
    fs: fs::FsState,
}

impl Prepare {
    /// Prepare `disk` from `from` (`Partition` for a blank disk, later for a resume,
    /// `MountPool` to reuse the filesystem on `device`).
    pub fn new(disk: &str, device: &str, from: Step) -> Prepare {
        Prepare {
            disk: disk.to_owned(),
            device: device.to_owned(),
            step: from,
            in_flight: None,
            step_started: Instant::ZERO,
            log_name: None,
            prune: VecDeque::new(),
            ready: false,
            resumed: !matches!(from, Step::Partition | Step::MountPool),
            mounted: Vec::new(),
            failed: None,
            fs: fs::FsState::default(),
        }
    }

    pub fn log_subvolume(&self) -> Option<String> {
        self.log_name.as_ref().map(|n| format!("logs/{n}"))
    }

    pub fn start(&mut self, cx: &mut Ctx, policy: &CachePolicy) {
        self.begin(cx, policy, self.step);
    }

    /// Request the effect of `step` and remember it as the one in flight.
    fn begin(&mut self, cx: &mut Ctx, policy: &CachePolicy, step: Step) {
        let continues = matches!(
            (self.step, step),
            (Step::SubvolCache, Step::SubvolLogs) | (Step::AddPartition, Step::WaitPartition)
        );
        if !continues {
            self.step_started = cx.now;
        }
        self.step = step;
        self.request(cx, policy);
    }

    /// Request the effect of the current step (again, after waiting for the
    /// filesystem, or for the ENODEV retry).
    fn request(&mut self, cx: &mut Ctx, policy: &CachePolicy) {
        let step = self.step;
        if self.waits_for_filesystem(cx) {
            return;
        }
        let pool = policy.pool_mount.trim_end_matches('/');
        let log_path = |name: &str| format!("{pool}/logs/{name}");
        let effect = match step {
            Step::Partition => Effect::WritePartitionTable {
                disk: self.disk.clone(),
                name: policy.label.clone(),
            },
            Step::AddPartition => Effect::AddPartition {
                disk: self.disk.clone(),
                number: 1,
            },
            Step::Mkfs => Effect::Mkfs {
                device: self.device.clone(),
                label: policy.label.clone(),
                // Only an unfinished mkfs of ours, on a disk proven ours, is overwritten.
                force: self.resumed,
            },
            Step::MountPool => Effect::Mount {
                source: format!("/dev/{}", self.device),
                target: policy.pool_mount.clone(),
                fstype: "btrfs".into(),
                options: policy.mount_options.clone(),
            },
            Step::SubvolCache => Effect::CreateSubvolume {
                path: format!("{pool}/cache"),
            },
            Step::SubvolLogs => Effect::CreateSubvolume {
                path: format!("{pool}/logs"),
            },
            Step::ListLogs => Effect::ListSubvolumes {
                path: format!("{pool}/logs"),
            },
            Step::LogSubvolume | Step::CopyLogs | Step::MountLogs => {
                let Some(name) = self.log_name.clone() else {
                    return; // unreachable: the name is set before these steps
                };
                match step {
                    Step::LogSubvolume => Effect::CreateSubvolume {
                        path: log_path(&name),
                    },
                    Step::CopyLogs => Effect::CopyTree {
                        from: policy.log_mount.clone(),
                        to: log_path(&name),
                    },
                    _ => self.mount_subvol(policy, &format!("logs/{name}"), &policy.log_mount),
                }
            }
            Step::MountCache => self.mount_subvol(policy, "cache", &policy.cache_mount),
            Step::ReopenLogs => Effect::ReopenLogs {
                dir: policy.log_mount.clone(),
            },
            Step::Prune => match self.prune.front() {
                Some(name) => Effect::DeleteSubvolume {
                    path: log_path(name),
                },
                None => {
                    self.step = Step::Done;
                    return;
                }
            },
            Step::WaitPartition
            | Step::Done
            | Step::UnmountLogs
            | Step::UnmountCache
            | Step::UnmountPool => return,
        };
        self.in_flight = Some(cx.effect(Owner::Cache, effect));
    }

    fn mount_subvol(&self, policy: &CachePolicy, subvol: &str, target: &str) -> Effect {
        let options = if policy.mount_options.is_empty() {
            format!("subvol={subvol}")
        } else {
            format!("{},subvol={subvol}", policy.mount_options)
        };
        Effect::Mount {
            source: format!("/dev/{}", self.device),
            target: target.to_owned(),
            fstype: "btrfs".into(),
            options,
        }
    }

    /// An effect of ours finished. `partition` is partition 1 of the disk as known now.
    pub fn on_done(
        &mut self,
        cx: &mut Ctx,
        policy: &CachePolicy,
        id: EffectId,
        result: &EffectResult,
        partition: Option<PartitionView<'_>>,
    ) -> Progress {
        if self.in_flight != Some(id) {
            return Progress::Working;
        }
        self.in_flight = None;
        if self.failed.is_some() {
            return self.undo_done(cx, policy, result);
        }
        let output = match result {
            Ok(output) => output,
            Err(_) if self.step == Step::Prune => {
                self.pruned(cx, policy, false);
                return Progress::Working;
            }
            Err(error) if self.retry_without_filesystem(cx, error) => return Progress::Working,
            Err(error) => return self.fail(cx, &error.message),
        };
        let next = match self.step {
            Step::Partition => Step::AddPartition,
            Step::AddPartition => {
                cx.set_timer(Timer::PartitionWait, cx.now + policy.partition_wait);
                self.step = Step::WaitPartition;
                return self.on_partition(cx, policy, partition);
            }
            Step::SubvolCache => {
                self.begin(cx, policy, Step::SubvolLogs);
                return Progress::Working;
            }
            Step::ListLogs => {
                let taken = match output {
                    EffectOutput::Subvolumes { names } => names.clone(),
                    _ => Vec::new(),
                };
                let wall = cx.wall_clock_unix().unwrap_or(0);
                let name = logname::log_name(wall, &taken);
                self.prune = logname::to_prune(&taken, &name, policy.keep_logs).into();
                self.log_name = Some(name);
                Step::LogSubvolume
            }
            Step::Mkfs => Step::MountPool,
            Step::MountPool => {
                self.made_mount(policy);
                Step::SubvolCache
            }
            Step::SubvolLogs => Step::ListLogs,
            Step::LogSubvolume => Step::CopyLogs,
            Step::CopyLogs => Step::MountCache,
            Step::MountCache => {
                self.made_mount(policy);
                Step::MountLogs
            }
            Step::MountLogs => {
                self.made_mount(policy);
                Step::ReopenLogs
            }
            Step::ReopenLogs => {
                self.step_ok(cx);
                self.ready = true;
                cx.log(Event::CacheReady {
                    device: self.device.clone(),
                    log_subvolume: self.log_subvolume().unwrap_or_default(),
                });
                self.begin(cx, policy, Step::Prune);
                return Progress::Ready;
            }
            Step::Prune => {
                self.pruned(cx, policy, true);
                return Progress::Working;
            }
            Step::WaitPartition
            | Step::Done
            | Step::UnmountLogs
            | Step::UnmountCache
            | Step::UnmountPool => return Progress::Working,
        };
        self.step_ok(cx);
        self.begin(cx, policy, next);
        Progress::Working
    }

    /// Something about partition 1 of the disk changed (appeared, probed).
    pub fn on_partition(
        &mut self,
        cx: &mut Ctx,
        policy: &CachePolicy,
        partition: Option<PartitionView<'_>>,
    ) -> Progress {
        if self.step != Step::WaitPartition {
            return Progress::Working;
        }
        let Some(PartitionView {
            name,
            probe: Some(probe),
        }) = partition
        else {
            return Progress::Working;
        };
        cx.cancel_timer(&Timer::PartitionWait);
        self.device = name.to_owned();
        self.step_ok(cx);
        // The last look before mkfs: a fresh partition must hold nothing at all (a
        // resumed one nothing but an unfinished mkfs of ours). Our
        // own label means an earlier boot got past mkfs (a kernel that does not parse
        // partition tables hides it until the partition is added): mount it.
        if probe.btrfs_label.as_deref() == Some(policy.label.as_str()) {
            cx.log(Event::CacheFound {
                device: self.device.clone(),
            });
            self.begin(cx, policy, Step::MountPool);
        } else if let Some(found) = if self.resumed {
            ours_unfinished(probe)
        } else {
            signature_reason(probe)
        } {
            self.step = Step::Mkfs;
            return self.fail(cx, &format!("refusing to format: partition holds {found}"));
        } else {
            self.begin(cx, policy, Step::Mkfs);
        }
        Progress::Working
    }

    pub fn on_partition_timeout(&mut self, cx: &mut Ctx, wait: Duration) -> Progress {
        if self.step != Step::WaitPartition {
            return Progress::Working;
        }
        let error = format!(
            "partition 1 of {} did not appear within {} ms",
            self.disk,
            wait.as_millis()
        );
        self.fail(cx, &error)
    }

    /// The disk (or its filesystem device) went away. An effect still in flight is
    /// awaited before the undo starts: a mount that completes after all is undone too.
    pub fn on_removed(&mut self, cx: &mut Ctx, name: &str) -> Progress {
        if self.ready || self.failed.is_some() || (name != self.disk && name != self.device) {
            return Progress::Working;
        }
        self.fail(cx, &format!("{name} removed"))
    }

    fn step_ok(&mut self, cx: &mut Ctx) {
        cx.log(Event::CacheStep {
            step: self.step.name().into(),
            device: self.step_device(),
            ok: true,
            ms: cx.now.millis_since(self.step_started),
            error: None,
        });
    }

    fn step_device(&self) -> String {
        match self.step {
            Step::Partition | Step::AddPartition | Step::WaitPartition => self.disk.clone(),
            _ => self.device.clone(),
        }
    }

    /// Log the failure of the current step, then undo what was mounted.
    fn fail(&mut self, cx: &mut Ctx, error: &str) -> Progress {
        cx.cancel_timer(&Timer::PartitionWait);
        cx.log(Event::CacheStep {
            step: self.step.name().into(),
            device: self.step_device(),
            ok: false,
            ms: cx.now.millis_since(self.step_started),
            error: Some(error.to_owned()),
        });
        cx.log(Event::CacheFailed {
            device: self.step_device(),
            step: self.step.name().into(),
            error: error.to_owned(),
        });
        self.failed = Some(self.step);
        self.undo_next(cx)
    }

    fn pruned(&mut self, cx: &mut Ctx, policy: &CachePolicy, ok: bool) {
        if let Some(name) = self.prune.pop_front() {
            cx.log(Event::CachePruned {
                subvolume: format!("logs/{name}"),
                ok,
            });
        }
        self.begin(cx, policy, Step::Prune);
    }

    pub fn summary(&self) -> String {
        if let Some(failed) = self.failed {
            format!(
                "failed {} at {}, undoing: {}",
                self.device,
                failed.name(),
                self.step.name()
            )
        } else if self.ready {
            let logs = self.log_subvolume().unwrap_or_default();
            format!("ready {} {logs}", self.device)
        } else {
            format!("preparing {} at {}", self.disk, self.step.name())
        }
    }
}
