//! The log stream's vocabulary, as typed data. Every decision the core takes shows up
//! here; the log module turns a [`Record`] into one JSON object per line
//! (`{"ts":…,"level":…,"event":…, fields…}`). These names and fields are a public
//! interface (README "Log stream"): add events freely, never rename one.

use crate::time::Instant;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One event at one time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub at: Instant,
    pub level: Level,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Holds our labelled cache filesystem (or our interrupted prepare).
    Cache,
    /// Provably empty: a candidate for a new cache.
    Unused,
    /// Holds something; never touched.
    InUse,
    /// Excluded by policy or kind (loop, ram, removable, not allow-listed, …).
    Excluded,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum Event {
    #[serde(rename = "boot.start")]
    BootStart {
        version: String,
        mode: String,
        /// PID 1's argv words (the kernel's leftovers: `single`, words after `--`),
        /// logged, never obeyed; bounded (world::kernel).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        argv: Vec<String>,
    },
    #[serde(rename = "rules.error")]
    RulesError {
        file: String,
        line: u32,
        message: String,
    },

    #[serde(rename = "disk.seen")]
    DiskSeen {
        disk: String,
        rotational: bool,
        size_bytes: u64,
        verdict: Verdict,
        reason: String,
    },
    #[serde(rename = "disk.gone")]
    DiskGone { disk: String },
    #[serde(rename = "cache.settled")]
    CacheSettled {
        candidates: usize,
        after_ms: u64,
        reason: String,
    },
    #[serde(rename = "cache.found")]
    CacheFound { device: String },
    #[serde(rename = "cache.resumed")]
    CacheResumed { disk: String, from_step: String },
    #[serde(rename = "cache.selected")]
    CacheSelected { disk: String, kind: String },
    #[serde(rename = "cache.step")]
    CacheStep {
        step: String,
        device: String,
        ok: bool,
        ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    #[serde(rename = "cache.ready")]
    CacheReady {
        device: String,
        log_subvolume: String,
    },
    #[serde(rename = "cache.none")]
    CacheNone { reason: String },
    #[serde(rename = "cache.failed")]
    CacheFailed {
        device: String,
        step: String,
        error: String,
    },
    #[serde(rename = "cache.pruned")]
    CachePruned { subvolume: String, ok: bool },
    /// A second filesystem labelled like the cache (`device`) besides the one chosen or
    /// mounted (`other`): never mounted over the first; the operator must clean up.
    #[serde(rename = "cache.duplicate")]
    CacheDuplicate { device: String, other: String },

    /// A mount waits for the kernel to register filesystem type `fstype`: for the
    /// preload of `module` still running (`preload: true`), or for a `modprobe -b
    /// module` of its own (nothing loaded it, or a mount answered ENODEV).
    #[serde(rename = "fs.wait")]
    FsWait {
        fstype: String,
        module: String,
        preload: bool,
    },
    /// The mount of `fstype` goes out: `how` it is available — `known` (a load of it
    /// ended ok before), `registered` (listed in `/proc/filesystems`), `preload` /
    /// `load` (the load waited for ended ok), `unavailable` (the load failed or
    /// module loading is off: mounted anyway, the mount's own error tells); `ms` since
    /// the mount asked.
    #[serde(rename = "fs.ready")]
    FsReady {
        fstype: String,
        how: String,
        ms: u64,
    },
    /// A mount of step `step` answered ENODEV (`fstype` not registered): not a failed
    /// cache; the filesystem is made available and the step retried once.
    #[serde(rename = "fs.missing")]
    FsMissing {
        fstype: String,
        step: String,
        error: String,
    },

    /// A `modprobe` finished: a device's driver (`modalias`, with the `module`s it
    /// resolved to when the world has the kernel's module index) or a module preloaded
    /// at start (`module`, rules key `boot.preload_modules`); `ms` is how long it ran.
    #[serde(rename = "module.load")]
    ModuleLoad {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        modalias: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
    },

    /// A device's `MODALIAS` names no module in the kernel's index: nothing ran.
    #[serde(rename = "module.unmatched")]
    ModuleUnmatched { modalias: String },
    /// Every module a `MODALIAS` names was built in, loaded already or being loaded
    /// for another alias (`module`, comma-separated): nothing ran.
    #[serde(rename = "module.present")]
    ModulePresent { modalias: String, module: String },

    #[serde(rename = "nic.seen")]
    NicSeen {
        nic: String,
        index: u32,
        managed: bool,
        reason: String,
    },
    #[serde(rename = "nic.carrier")]
    NicCarrier {
        nic: String,
        up: bool,
        /// Carrier the kernel had not confirmed (operstate unknown), accepted after
        /// holding it this long without a contradiction.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unconfirmed_ms: Option<u64>,
    },
    /// The flags show a carrier the kernel has not confirmed (operstate unknown):
    /// held for `carrier_confirm` before it counts.
    #[serde(rename = "nic.carrier_unconfirmed")]
    NicCarrierUnconfirmed { nic: String },
    #[serde(rename = "nic.renamed")]
    NicRenamed { from: String, to: String },
    #[serde(rename = "nic.removed")]
    NicRemoved { nic: String },
    #[serde(rename = "dhcp.started")]
    DhcpStarted { nic: String, pid: u32 },
    #[serde(rename = "dhcp.leased")]
    DhcpLeased {
        nic: String,
        address: String,
        after_ms: u64,
    },
    #[serde(rename = "dhcp.gave_up")]
    DhcpGaveUp { nic: String, after_ms: u64 },
    #[serde(rename = "dhcp.exited")]
    DhcpExited {
        nic: String,
        pid: u32,
        status: String,
    },
    #[serde(rename = "dhcp.restarting")]
    DhcpRestarting { nic: String, backoff_ms: u64 },
    #[serde(rename = "dhcp.stopped")]
    DhcpStopped {
        nic: String,
        pid: u32,
        reason: String,
    },

    #[serde(rename = "gate.waiting")]
    GateWaiting {
        targets: Vec<String>,
        timeout_ms: u64,
    },
    #[serde(rename = "gate.probe")]
    GateProbe {
        target: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    #[serde(rename = "gate.released")]
    GateReleased { reason: String, after_ms: u64 },

    #[serde(rename = "service.started")]
    ServiceStarted { service: String, pid: u32 },
    #[serde(rename = "service.exited")]
    ServiceExited {
        service: String,
        pid: u32,
        status: String,
    },
    #[serde(rename = "service.restarting")]
    ServiceRestarting { service: String, backoff_ms: u64 },
    #[serde(rename = "service.failed")]
    ServiceFailed { service: String, error: String },
    /// A one-shot service exited 0: it is done for this boot, and the services after
    /// it may start.
    #[serde(rename = "service.done")]
    ServiceDone { service: String },

    /// A line a child wrote (`child` is `dhcp:<nic>` or `service:<name>`).
    #[serde(rename = "child.output")]
    ChildOutput {
        child: String,
        stream: String,
        line: String,
    },
    /// An effect failed in a way no more specific event reports.
    #[serde(rename = "effect.failed")]
    EffectFailed { effect: String, error: String },

    #[serde(rename = "uevent.dropped")]
    UeventDropped { reason: String, sender: u32 },
    /// An rtnetlink message not sent by the kernel was dropped.
    #[serde(rename = "rtnl.dropped")]
    RtnlDropped { reason: String, sender: u32 },
    /// Records of the event named `record` (`uevent.dropped`, `rtnl.dropped`) beyond
    /// the world's rate limit, counted instead of logged, in the window that ended.
    #[serde(rename = "log.suppressed")]
    LogSuppressed {
        record: String,
        suppressed: u64,
        window_ms: u64,
    },
    /// Lines a log sink (`console`, `file`, `kmsg`) dropped because its queue was
    /// full (the console under flow control, the log disk hung), reported once it
    /// writes again.
    #[serde(rename = "log.dropped")]
    LogDropped { sink: String, dropped: u64 },
    /// `child.output` lines of one child beyond its rate limit, counted instead of
    /// logged in the window that ended (a service's own log file would still get
    /// every line).
    #[serde(rename = "child.suppressed")]
    ChildSuppressed {
        child: String,
        suppressed: u64,
        window_ms: u64,
    },
    #[serde(rename = "uevent.overflow")]
    UeventOverflow {},
    #[serde(rename = "resync")]
    Resync {
        devices: usize,
        added: usize,
        removed: usize,
    },

    /// A dry run would have run this effect (`detail`: the effect as JSON).
    #[serde(rename = "effect.dry-run")]
    EffectDryRun {
        effect: String,
        detail: serde_json::Value,
    },
    /// The world refused an effect the confinement does not allow (not PID 1).
    #[serde(rename = "effect.refused")]
    EffectRefused { effect: String, error: String },
    /// The live world hit an error it logs and goes on from (names the syscall and object).
    #[serde(rename = "world.error")]
    WorldError { error: String },

    #[serde(rename = "status")]
    Status {
        cache: String,
        nics: Vec<String>,
        gate: String,
        services: Vec<String>,
    },
    #[serde(rename = "shutdown")]
    Shutdown { kind: String },

    /// A blocking effect did not answer within its deadline (`effect` its name,
    /// `target` the device, mount point, path or module): it is abandoned (a child
    /// killed, a worker effect cancelled) and fails with `timed out after …`.
    #[serde(rename = "effect.timeout")]
    EffectTimeout {
        effect: String,
        target: String,
        after_ms: u64,
    },
    /// The gate opened while the cache is still being decided or prepared (`state`):
    /// services wait for it at most `max_ms` (rules key `cache.hold_services_max`).
    #[serde(rename = "cache.waiting")]
    CacheWaiting { state: String, max_ms: u64 },
    /// Services waited `after_ms` for the cache, which is still at `state`: they
    /// start anyway, without it.
    #[serde(rename = "cache.hold_expired")]
    CacheHoldExpired { state: String, after_ms: u64 },
    /// The live world gave up waiting on a worker thread whose effect was abandoned
    /// (stuck in the kernel, D-state): `stuck` threads are held so, of `max`.
    #[serde(rename = "worker.abandoned")]
    WorkerAbandoned {
        effect: String,
        stuck: usize,
        max: usize,
    },
    // Issue 9 (PID 1): shutdown steps, the watchdog, signals that ask nothing.
    /// One step of the shutdown sequence (`stop-services`, `stop-dhcp`,
    /// `term-stragglers`, `kill-stragglers`, `unmount`, `sync`), in order.
    #[serde(rename = "shutdown.step")]
    ShutdownStep {
        step: String,
        ok: bool,
        ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// PID 1 opened the hardware watchdog; the loop pets it every `timeout_s / 3`.
    #[serde(rename = "watchdog.armed")]
    WatchdogArmed {
        device: String,
        timeout_s: u64,
        /// The driver took the timeout asked for (`WDIOC_SETTIMEOUT`).
        set: bool,
    },
    /// A signal that asks nothing of nodeboot arrived (SIGHUP).
    #[serde(rename = "signal.ignored")]
    SignalIgnored { signal: String },
    /// `nodeboot.debug.hang_after` (fault injection): the loop hangs from now on.
    #[serde(rename = "debug.hang")]
    DebugHang { after_s: u64 },
}

impl Event {
    /// The default level of each event.
    pub fn level(&self) -> Level {
        match self {
            Event::RulesError { .. }
            | Event::CacheFailed { .. }
            | Event::ServiceFailed { .. }
            | Event::EffectFailed { .. } => Level::Error,
            Event::CacheStep { ok: false, .. }
            | Event::CacheNone { .. }
            | Event::DhcpGaveUp { .. }
            | Event::ModuleLoad { ok: false, .. }
            | Event::FsMissing { .. }
            | Event::CachePruned { ok: false, .. }
            | Event::UeventDropped { .. }
            | Event::RtnlDropped { .. }
            | Event::LogSuppressed { .. }
            | Event::LogDropped { .. }
            | Event::ChildSuppressed { .. }
            | Event::UeventOverflow {}
            | Event::ServiceRestarting { .. }
            | Event::DhcpRestarting { .. }
            | Event::EffectTimeout { .. }
            | Event::CacheHoldExpired { .. }
            | Event::WorkerAbandoned { .. } => Level::Warn,
            Event::GateReleased { reason, .. } if reason != "reachable" => Level::Warn,
            Event::FsReady { how, .. } if how == "unavailable" => Level::Warn,
            Event::WorldError { .. } | Event::EffectRefused { .. } => Level::Warn,
            Event::ShutdownStep { ok: false, .. }
            | Event::SignalIgnored { .. }
            | Event::DebugHang { .. }
            | Event::CacheDuplicate { .. } => Level::Warn,
            Event::ChildOutput { .. }
            | Event::NicCarrierUnconfirmed { .. }
            | Event::GateProbe { .. }
            | Event::ModuleLoad { .. }
            | Event::ModuleUnmatched { .. }
            | Event::ModulePresent { .. }
            | Event::EffectDryRun { .. } => Level::Debug,
            _ => Level::Info,
        }
    }

    /// The `event` name as it appears on the stream.
    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default()
    }
}
