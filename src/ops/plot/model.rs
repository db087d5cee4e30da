//! The timeline's data: lanes of bars (intervals) and marks (instants), in
//! milliseconds since `boot.start`, and what each kind looks like.

/// What a bar or a mark stands for; each kind has one colour and one legend entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Disks settling before the cache decision.
    Settle,
    Step,
    StepFailed,
    CacheReady,
    CacheFailed,
    Carrier,
    Dhcp,
    Lease,
    GaveUp,
    GateWait,
    Reachable,
    GateTimeout,
    Running,
    Backoff,
    Exit,
    /// A service exited with status 0.
    CleanExit,
    /// A one-shot service finished (exit 0).
    Done,
}

impl Kind {
    pub fn colour(self) -> &'static str {
        match self {
            Kind::Settle => "#c7c7c7",
            Kind::Step => "#4e79a7",
            Kind::StepFailed | Kind::CacheFailed | Kind::GaveUp | Kind::Exit => "#d62728",
            Kind::CacheReady => "#1f5fa8",
            Kind::Reachable => "#2ca02c",
            Kind::Carrier => "#9ecae9",
            Kind::Dhcp => "#f1ce63",
            Kind::Lease => "#59a14f",
            Kind::GateWait => "#b07aa1",
            Kind::GateTimeout => "#ff7f0e",
            Kind::Running => "#76b7b2",
            Kind::Backoff => "#ff9da7",
            Kind::CleanExit => "#8c8c8c",
            Kind::Done => "#17becf",
        }
    }

    pub fn legend(self) -> &'static str {
        match self {
            Kind::Settle => "disks settling",
            Kind::Step => "cache step",
            Kind::StepFailed => "step failed",
            Kind::CacheReady => "cache ready",
            Kind::CacheFailed => "no cache",
            Kind::Carrier => "carrier up",
            Kind::Dhcp => "DHCP client",
            Kind::Lease => "leased",
            Kind::GaveUp => "gave up",
            Kind::GateWait => "gate waiting",
            Kind::Reachable => "released: reachable",
            Kind::GateTimeout => "released: timeout",
            Kind::Running => "service running",
            Kind::Backoff => "restart backoff",
            Kind::Exit => "exit",
            Kind::CleanExit => "exit 0",
            Kind::Done => "one-shot done",
        }
    }

    /// The CSS class of its shapes (tests and stylesheets find them by it).
    pub fn class(self) -> &'static str {
        match self {
            Kind::Settle => "settle",
            Kind::Step => "step",
            Kind::StepFailed => "step-failed",
            Kind::CacheReady => "cache-ready",
            Kind::CacheFailed => "cache-failed",
            Kind::Carrier => "carrier",
            Kind::Dhcp => "dhcp",
            Kind::Lease => "lease",
            Kind::GaveUp => "gave-up",
            Kind::GateWait => "gate-wait",
            Kind::Reachable => "reachable",
            Kind::GateTimeout => "gate-timeout",
            Kind::Running => "running",
            Kind::Backoff => "backoff",
            Kind::Exit => "exit",
            Kind::CleanExit => "exit 0",
            Kind::Done => "one-shot done",
        }
    }
}

/// How an instant is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Diamond,
    Cross,
}

impl Kind {
    /// Instants of failure are crosses, others diamonds.
    pub fn shape(self) -> Shape {
        match self {
            Kind::GaveUp | Kind::Exit | Kind::CacheFailed => Shape::Cross,
            _ => Shape::Diamond,
        }
    }
}

/// How a bar sits in its lane: full height, or a thin strip at the top (carrier).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    Full,
    Strip,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub start_ms: u64,
    pub end_ms: u64,
    pub kind: Kind,
    pub band: Band,
    /// Drawn next to the bar's end.
    pub label: Option<String>,
    /// Shown on hover.
    pub title: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub at_ms: u64,
    pub kind: Kind,
    pub label: Option<String>,
    pub title: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Cache,
    Nics,
    Gate,
    Services,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Cache => "Cache",
            Group::Nics => "NICs",
            Group::Gate => "Gate",
            Group::Services => "Services",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    pub group: Group,
    /// Stable id (`step:mkfs`, `nic:eth0`, `gate`, `service:redis`).
    pub id: String,
    pub label: String,
    pub bars: Vec<Bar>,
    pub marks: Vec<Mark>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// `nodeboot VERSION (MODE)`, when the stream has a `boot.start`.
    pub title: String,
    /// `ts` of time zero.
    pub start_ts: String,
    /// The last record's time.
    pub end_ms: u64,
    pub records: usize,
    pub lanes: Vec<Lane>,
}

pub use crate::ops::record::fmt_ms;
