//! The fake world of a scenario (header field `"world"`, also the side file of a
//! udevadm capture): disks, DHCP clients, reachability targets and services, and how
//! each answers the core's effects. Unknown keys are errors, so a typo in a
//! hand-written scenario does not silently change what it tests.

use crate::core::input::DiskProbe;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldSpec {
    /// Delay before each answer (ms). Default 5.
    pub latency_ms: Option<u64>,
    /// Per-effect delay (ms) by effect name (`mkfs`, `probe_disk`, …).
    pub effect_ms: BTreeMap<String, u64>,
    /// Block devices by kernel name (disks and partitions that already exist).
    pub disks: BTreeMap<String, DiskSpec>,
    /// How a block device not listed in `disks` probes; without it such a probe fails.
    pub default_disk: Option<DiskProbe>,
    /// Name patterns of unlisted devices that are SSDs (`default_disk` is rotary).
    pub ssd: Vec<String>,
    /// Subvolumes that already exist, relative to the pool mount (`logs/…`).
    pub subvolumes: Vec<String>,
    /// DHCP client behaviour per NIC name (`*` matches any); default: never leases.
    pub dhcp: BTreeMap<String, ChildSpec>,
    /// Reachability per `host:port` (`*` matches any); default: refused.
    pub targets: BTreeMap<String, TargetSpec>,
    /// Service behaviour per service name; default: runs until killed.
    pub services: BTreeMap<String, ChildSpec>,
    /// Effects that fail everywhere: effect name → error text.
    pub fail: BTreeMap<String, String>,
    /// Module aliases whose `modprobe` fails.
    pub modules_fail: Vec<String>,
    /// Filesystem types the kernel has registered at start (`/proc/filesystems`); a
    /// `load_module` of one (`btrfs`, `fs-btrfs`) registers it when it ends, and a
    /// mount of an unregistered type answers ENODEV. Default (absent): every type
    /// is registered.
    pub filesystems: Option<Vec<String>>,
    /// The first N mounts answer ENODEV whatever is registered (a mount racing the
    /// kernel's own module load).
    pub mount_enodev: u32,
    /// Effects that never answer anywhere (effect names: `mkfs`, `load_module`, …):
    /// the core's deadline must end them.
    pub hang: Vec<String>,
}

/// One block device of the fake world.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskSpec {
    /// What `ProbeDisk` answers (it changes as the core partitions and formats).
    pub probe: DiskProbe,
    /// Sysfs path, used for the uevents the simulator emits (partitions).
    pub devpath: Option<String>,
    /// Effects that fail on this device: effect name → error text.
    pub fail: BTreeMap<String, String>,
    /// `AddPartition` succeeds but no partition uevent ever follows.
    pub no_partition_uevent: bool,
    /// Effects on this device that never answer (a dying disk: `probe_disk`, `mkfs`,
    /// `mount`, …): the core's deadline must end them.
    pub hang: Vec<String>,
}

/// What a spawned child does. `runs` scripts successive spawns (the n-th spawn uses
/// `runs[n]`, the last one repeating); without `runs` every spawn behaves as the
/// top-level fields say.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChildSpec {
    pub lease_after_ms: Option<u64>,
    pub address: Option<String>,
    pub exit_after_ms: Option<u64>,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub spawn_error: Option<String>,
    pub runs: Vec<ChildRun>,
}

/// One life of a child.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChildRun {
    /// DHCP: an address appears on the NIC this long after the spawn.
    pub lease_after_ms: Option<u64>,
    /// The leased address (default `10.0.2.15/24`).
    pub address: Option<String>,
    /// The child exits this long after the spawn…
    pub exit_after_ms: Option<u64>,
    /// …with this exit code (default 1)…
    pub code: Option<i32>,
    /// …or killed by this signal.
    pub signal: Option<i32>,
    /// The spawn itself fails with this error.
    pub spawn_error: Option<String>,
}

impl ChildSpec {
    /// The script of the `n`-th spawn (0-based).
    pub fn run(&self, n: usize) -> ChildRun {
        if let Some(last) = self.runs.last() {
            return self.runs.get(n).unwrap_or(last).clone();
        }
        ChildRun {
            lease_after_ms: self.lease_after_ms,
            address: self.address.clone(),
            exit_after_ms: self.exit_after_ms,
            code: self.code,
            signal: self.signal,
            spawn_error: self.spawn_error.clone(),
        }
    }
}

/// How a reachability target answers a connect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetSpec {
    /// Connects succeed from this time (ms since trace zero); before, refused.
    pub reachable_after_ms: Option<u64>,
    /// Connects never answer (the core's attempt timeout must cancel them).
    pub hang: bool,
    /// The error of a failed connect (default `connection refused`).
    pub error: Option<String>,
}
