//! Everything the core can be told. The world turns sockets, signals, children and
//! finished effects into these; a trace is a list of them with their times.

use super::action::EffectId;
pub use super::error::{EffectError, ErrorKind};
use crate::wire::uevent::Uevent;
// Link state is what rtnetlink says; its types live with the parser (wire owns the
// kernel's constants), the core re-exports them as inputs.
pub use crate::wire::link::{
    IFF_DORMANT, IFF_LOOPBACK, IFF_LOWER_UP, IFF_RUNNING, IFF_UP, LinkState, OperState,
};
use serde::{Deserialize, Serialize};

/// How this run was started; decides what the world may touch and what a signal means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// PID 1 of a real node.
    Init,
    /// A confined live run (allow-lists, root prefix).
    Live,
    /// A trace fed to the core under a virtual clock.
    Replay,
    /// Live inputs, but effects are only logged.
    DryRun,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Init => "init",
            Mode::Live => "live",
            Mode::Replay => "replay",
            Mode::DryRun => "dry-run",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// The first input of every run. `wall_clock_unix` is the wall clock (seconds since
    /// the epoch) at `now`; the core derives wall time from it (log subvolume names).
    Start {
        wall_clock_unix: u64,
        mode: Mode,
        /// PID 1's argv words, for `boot.start` (empty elsewhere).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        argv: Vec<String>,
    },
    /// A kernel uevent (live, coldplug-synthesised or replayed).
    Uevent { uevent: Uevent },
    /// The coldplug scan has reported every device present at start.
    ColdplugDone,
    /// Uevents were lost (receive buffer overflow). `devices` is a fresh sysfs scan, as
    /// `add` uevents, of every block and net device present now; the core diffs it
    /// against what it knows, so no decision is lost or taken twice.
    Resync { devices: Vec<Uevent> },
    /// An rtnetlink link message (new or changed link): a level-triggered hint.
    Link { link: LinkState },
    /// An rtnetlink `RTM_DELLINK`.
    LinkRemoved { index: u32, name: String },
    /// An IPv4 address appeared on or left a link (`RTM_NEWADDR` / `RTM_DELADDR`).
    Address {
        index: u32,
        address: String,
        added: bool,
    },
    /// An effect the core asked for has finished.
    EffectDone { id: EffectId, result: EffectResult },
    /// A child started by `Effect::Spawn { .. }` exited (and was reaped).
    ChildExited { id: EffectId, status: ExitStatus },
    /// One line a child wrote on stdout or stderr.
    ChildOutput {
        id: EffectId,
        stream: Stream,
        line: String,
    },
    /// A signal or power request reached nodeboot.
    Signal { signal: SignalKind },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ok", rename_all = "snake_case")]
pub enum EffectOutput {
    /// Nothing to report beyond success.
    Done,
    /// Result of `Effect::ProbeDisk`.
    Disk { probe: DiskProbe },
    /// Result of `Effect::ListSubvolumes`: names relative to the listed path.
    Subvolumes { names: Vec<String> },
    /// Result of `Effect::Spawn`: the child runs.
    Spawned { pid: u32 },
    /// Result of `Effect::ProbeFilesystem`: listed in `/proc/filesystems` or not.
    Filesystem { registered: bool },
    /// Result of `Effect::LoadModule` for a modalias the world resolved against the
    /// kernel's module index: `load`, the modules it ran `modprobe -b` for (loaded
    /// now); `present`, those the alias also names that were built in, loaded already
    /// or being loaded for another alias. Both empty: the alias names no module and
    /// nothing ran. (A world without an index answers `Done`, as before.)
    Modules {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        load: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        present: Vec<String>,
    },
}

/// `Ok(output)` or why it failed: a kind the core may act on and a human-readable
/// message (the errno and object, as the world saw it).
pub type EffectResult = Result<EffectOutput, EffectError>;

/// What the world found on a block device (whole disk or partition): sysfs attributes
/// plus what the wire parsers recognised in its first and last megabyte.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskProbe {
    pub size_bytes: u64,
    pub rotational: bool,
    pub removable: bool,
    pub read_only: bool,
    /// Attached through USB (seen in the sysfs device path).
    pub usb: bool,
    /// Entries of `/sys/class/block/X/holders`.
    pub holders: Vec<String>,
    /// Listed in `/proc/self/mountinfo` (or a partition of it is).
    pub mounted: bool,
    /// `gpt` or `dos` when a partition table was found.
    pub partition_table: Option<String>,
    /// Entries of the partition table (GPT names where there are any).
    pub partitions: Vec<PartitionEntry>,
    /// For a GPT: its logical sector size and last usable LBA (0 when unknown), so the
    /// core can check that a table is exactly the layout nodeboot writes.
    #[serde(skip_serializing_if = "is_zero")]
    pub sector_size: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub last_usable_lba: u64,
    /// Every signature recognised anywhere probed: `btrfs`, `ext4`, `swap`, `LVM2_member`, …
    pub signatures: Vec<String>,
    /// The label of a btrfs superblock, if one was found.
    pub btrfs_label: Option<String>,
    /// The device could not be read completely; the core treats it as in use.
    pub unreadable: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartitionEntry {
    pub number: u32,
    pub name: String,
    pub start_lba: u64,
    pub size_lba: u64,
    /// The GPT partition type GUID, lower case (empty for a DOS entry).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub type_guid: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a signal asks for. The world maps raw signals to these by mode: as PID 1,
/// SIGTERM and SIGINT (ctrl-alt-del) mean reboot and SIGUSR2 power off; outside PID 1,
/// SIGTERM and SIGINT mean stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalKind {
    /// Stop children and end the run (not PID 1).
    Stop,
    Reboot,
    PowerOff,
    /// SIGUSR1: write a status summary to the log stream.
    Status,
}
