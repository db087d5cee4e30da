//! Traces and replay (docs/trace.md).
//!
//! - [`format`]: the trace file (JSON lines: a header, then `{"t_us", "input"}`),
//!   [`TraceWriter`] for live recording, [`TraceReader`].
//! - [`replay`]: a [`Reactor`](crate::core::Reactor) under a virtual clock, one timer
//!   or input at a time; [`live_turns`]: the same in the live loop's turns (wake-ups,
//!   then every ready source). Both follow [`crate::core::driver`].
//! - [`sim`] and [`world`]: the simulated world that answers a scenario's effects.
//! - [`udevadm`]: `udevadm monitor --kernel --property` captures as scenarios.
//! - [`expect`]: expected log streams for scenarios.
//!
//! Pure of the node's IO: the `nodeboot replay` command that renders a replay as a
//! log stream is `ops::replay` (flags in src/cli/replay.rs).

pub mod expect;
pub mod format;
mod host;
pub mod live_turns;
pub mod outcome;
pub mod replay;
#[cfg(feature = "sim")]
pub mod sim;
// Without the simulator, a type with no values keeps replay's code paths typed.
#[cfg(not(feature = "sim"))]
#[path = "no_sim.rs"]
pub mod sim;
pub mod udevadm;
pub mod world;

pub use format::{Entry, Header, TRACE_VERSION, TraceError, TraceKind, TraceReader, TraceWriter};
pub use live_turns::replay_in_turns;
pub use replay::{Output, ReplayError, Summary, effective_policy, replay};

use crate::core::policy::Policy;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// What to replay and how.
#[derive(Clone, Debug)]
pub struct ReplayConfig {
    pub path: PathBuf,
    /// A rules directory for the base policy (else the built-in defaults).
    pub rules: Option<PathBuf>,
    /// udevadm captures: name patterns of SSDs among disks the side file omits.
    pub ssd: Vec<String>,
    /// udevadm captures: where `ColdplugDone` goes.
    pub coldplug: udevadm::Coldplug,
    /// Stop at this virtual time (overrides the header).
    pub until_ms: Option<u64>,
}

impl ReplayConfig {
    pub fn new(path: impl Into<PathBuf>) -> ReplayConfig {
        ReplayConfig {
            path: path.into(),
            rules: None,
            ssd: Vec::new(),
            coldplug: udevadm::Coldplug::AfterFirstBurst,
            until_ms: None,
        }
    }
}

type Entries = Box<dyn Iterator<Item = Result<Entry, TraceError>>>;

/// Open a trace file or a udevadm capture (with its `<file>.world.json` side file).
pub fn open(cfg: &ReplayConfig) -> Result<(Header, Entries), String> {
    let path = &cfg.path;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = BufReader::new(file);
    let first = first_content_line(&mut reader).map_err(|e| format!("{}: {e}", path.display()))?;
    if first.trim_start().starts_with('{') {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Large reads: a coldplug trace is megabytes of short lines.
        let r = TraceReader::new(BufReader::with_capacity(1 << 16, file))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let header = r.header().clone();
        return Ok((header, Box::new(r)));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !udevadm::looks_like_capture(&text) {
        return Err(format!(
            "{}: neither a nodeboot trace nor a `udevadm monitor --kernel --property` capture",
            path.display()
        ));
    }
    let captured = udevadm::parse_capture(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let side = side_file(path);
    let world = match std::fs::read_to_string(&side) {
        Ok(json) => {
            Some(serde_json::from_str(&json).map_err(|e| format!("{}: {e}", side.display()))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", side.display())),
    };
    let wall = capture_wall_clock(path, &captured);
    let (header, entries) =
        udevadm::capture_to_scenario(&captured, world, &cfg.ssd, cfg.coldplug, wall);
    Ok((header, Box::new(entries.into_iter().map(Ok))))
}

/// `capture.txt` → `capture.txt.world.json`.
pub fn side_file(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".world.json");
    PathBuf::from(s)
}

/// The wall clock at the capture's first event: the file's mtime (when the capture
/// ended) minus the capture's span. Only used for timestamps and log names.
fn capture_wall_clock(path: &Path, captured: &[udevadm::Captured]) -> u64 {
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let span = match (captured.first(), captured.last()) {
        (Some(a), Some(b)) => b.at_us.saturating_sub(a.at_us) / 1_000_000,
        _ => 0,
    };
    mtime.saturating_sub(span)
}

fn first_content_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(String::new());
        }
        let t = line.trim();
        if !(t.is_empty() || t.starts_with('#') || t.starts_with("//")) {
            return Ok(line);
        }
    }
}

/// The base policy: a rules directory, or the built-in defaults. A replay is a
/// tool, not a node: an invalid rules directory is refused, with every error.
fn base_policy(rules: Option<&Path>) -> Result<Policy, String> {
    match rules {
        None => Ok(Policy::default()),
        Some(dir) => crate::rules::load(dir).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!(
                "invalid rules directory {}:\n{}",
                dir.display(),
                lines.join("\n")
            )
        }),
    }
}

/// Replay the file `cfg` names through the same path as `nodeboot replay`.
pub fn replay_file(cfg: &ReplayConfig, out: &mut dyn FnMut(Output<'_>)) -> Result<Summary, String> {
    run_file(cfg, replay::<Entries>, out)
}

/// [`replay_file`] in the live loop's turns ([`live_turns`]): the same stream.
pub fn replay_file_in_turns(
    cfg: &ReplayConfig,
    out: &mut dyn FnMut(Output<'_>),
) -> Result<Summary, String> {
    run_file(cfg, replay_in_turns::<Entries>, out)
}

type Runner =
    fn(&Header, Entries, Policy, &mut dyn FnMut(Output<'_>)) -> Result<Summary, ReplayError>;

fn run_file(
    cfg: &ReplayConfig,
    run: Runner,
    out: &mut dyn FnMut(Output<'_>),
) -> Result<Summary, String> {
    let (mut header, entries) = open(cfg)?;
    if let Some(ms) = cfg.until_ms {
        header.until_ms = Some(ms);
    }
    let base = base_policy(cfg.rules.as_deref())?;
    let policy = effective_policy(base, &header).map_err(|e| e.to_string())?;
    run(&header, entries, policy, out).map_err(|e| format!("{}: {e}", cfg.path.display()))
}
