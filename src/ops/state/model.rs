//! The types of the folded state (what `nodeboot status --json` prints). Field names
//! are part of that JSON output: add freely, do not rename.

use serde::Serialize;
use std::collections::BTreeMap;

/// Everything `nodeboot status` shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeState {
    /// `boot.start`: version and mode.
    pub boot: Option<Boot>,
    /// `ts` of the last record seen.
    pub last_ts: Option<String>,
    /// Milliseconds from `boot.start` to the last record.
    pub uptime_ms: Option<u64>,
    /// Records folded in, and how many of them were warnings or errors.
    pub records: u64,
    pub warnings: u64,
    pub errors: u64,
    pub cache: Cache,
    pub nics: BTreeMap<String, Nic>,
    pub gate: Gate,
    pub services: BTreeMap<String, Service>,
    /// `shutdown` kind, once one began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<String>,
    /// Epoch ms of `boot.start` (for `*_at_ms` fields); not shown.
    #[serde(skip)]
    pub(super) boot_epoch_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Boot {
    pub version: String,
    pub mode: String,
    pub ts: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheState {
    /// Nothing decided yet (disks settling).
    #[default]
    Unknown,
    /// A disk was chosen (or a labelled one found) and is being prepared or mounted.
    Preparing,
    Ready,
    /// No usable disk: boot goes on without a cache.
    None,
    Failed,
}

impl CacheState {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheState::Unknown => "unknown",
            CacheState::Preparing => "preparing",
            CacheState::Ready => "ready",
            CacheState::None => "none",
            CacheState::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cache {
    pub state: CacheState,
    /// The filesystem's device (partition), once known.
    pub device: Option<String>,
    /// The disk chosen for a new cache (`cache.selected`/`cache.resumed`).
    pub disk: Option<String>,
    /// `ssd` or `hdd`, for a selected disk.
    pub kind: Option<String>,
    /// True when an existing labelled filesystem was reused.
    pub reused: bool,
    /// The step a resumed prepare started from.
    pub resumed_from: Option<String>,
    /// The last step that ended (while preparing: the one just done).
    pub step: Option<String>,
    /// Steps ended so far, in order.
    pub steps: Vec<Step>,
    pub log_subvolume: Option<String>,
    /// Why there is no cache, or what failed.
    pub reason: Option<String>,
    pub error: Option<String>,
    /// Block devices considered, by verdict (`cache`, `unused`, `in-use`, `excluded`).
    pub disks_seen: BTreeMap<String, String>,
    /// Milliseconds after boot of the last state change.
    pub since_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    pub step: String,
    pub ok: bool,
    pub ms: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DhcpState {
    /// No client was ever started (no carrier, or unmanaged).
    #[default]
    Idle,
    /// A client runs and has no lease yet.
    Running,
    Leased,
    /// No lease in time: the client was stopped.
    GaveUp,
    /// The client was stopped (carrier lost, NIC removed, shutdown).
    Stopped,
    /// The client died and is restarted after a backoff.
    Restarting,
    /// The client died; no restart announced (yet).
    Exited,
}

impl DhcpState {
    pub fn as_str(self) -> &'static str {
        match self {
            DhcpState::Idle => "idle",
            DhcpState::Running => "running",
            DhcpState::Leased => "leased",
            DhcpState::GaveUp => "gave up",
            DhcpState::Stopped => "stopped",
            DhcpState::Restarting => "restarting",
            DhcpState::Exited => "exited",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Nic {
    /// Carrier as last reported (`None`: never reported).
    pub carrier: Option<bool>,
    /// Whether nodeboot manages it (`nic.seen`), and why not.
    pub managed: Option<bool>,
    pub reason: Option<String>,
    pub dhcp: DhcpState,
    /// The running DHCP client's pid.
    pub pid: Option<u32>,
    /// The current lease (cleared when the client is stopped or gives up).
    pub address: Option<String>,
    /// Milliseconds from client start to lease or to giving up.
    pub after_ms: Option<u64>,
    /// Client restarts after it died (`dhcp.restarting`).
    pub restarts: u32,
    pub last_exit: Option<String>,
    pub removed: bool,
    pub since_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GateState {
    /// The gate was not reached yet.
    #[default]
    Pending,
    Waiting,
    Released,
}

impl GateState {
    pub fn as_str(self) -> &'static str {
        match self {
            GateState::Pending => "pending",
            GateState::Waiting => "waiting",
            GateState::Released => "released",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Gate {
    pub state: GateState,
    pub targets: Vec<String>,
    pub timeout_ms: Option<u64>,
    /// `reachable` or `timeout`.
    pub reason: Option<String>,
    pub after_ms: Option<u64>,
    pub probes_ok: u64,
    pub probes_failed: u64,
    pub last_probe_error: Option<String>,
    pub since_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    #[default]
    Pending,
    Running,
    Exited,
    Restarting,
    Failed,
    /// A one-shot service that finished successfully.
    Done,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Pending => "pending",
            ServiceState::Running => "running",
            ServiceState::Exited => "exited",
            ServiceState::Restarting => "restarting",
            ServiceState::Failed => "failed",
            ServiceState::Done => "done",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Service {
    pub state: ServiceState,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub last_exit: Option<String>,
    pub backoff_ms: Option<u64>,
    pub error: Option<String>,
    pub since_ms: Option<u64>,
}
