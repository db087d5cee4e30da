//! The steps of a prepare, and their names on the log stream.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Partition,
    AddPartition,
    /// `AddPartition` is done; the partition's `add` uevent and probe are awaited.
    WaitPartition,
    Mkfs,
    MountPool,
    SubvolCache,
    SubvolLogs,
    ListLogs,
    LogSubvolume,
    CopyLogs,
    MountCache,
    MountLogs,
    ReopenLogs,
    Prune,
    Done,
    /// Undoing a failed prepare's mounts, last made first.
    UnmountLogs,
    UnmountCache,
    UnmountPool,
}

impl Step {
    /// The `step` field of `cache.step` / `cache.failed` / `cache.resumed`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Partition => "partition",
            Step::AddPartition | Step::WaitPartition => "add-partition",
            Step::Mkfs => "mkfs",
            Step::MountPool => "mount-pool",
            Step::SubvolCache | Step::SubvolLogs => "subvolumes",
            Step::ListLogs => "list-logs",
            Step::LogSubvolume => "log-subvolume",
            Step::CopyLogs => "copy-logs",
            Step::MountCache => "mount-cache",
            Step::MountLogs => "mount-logs",
            Step::ReopenLogs => "reopen-logs",
            Step::Prune => "prune",
            Step::Done => "done",
            Step::UnmountLogs => "unmount-logs",
            Step::UnmountCache => "unmount-cache",
            Step::UnmountPool => "unmount-pool",
        }
    }
}
