//! `nodeboot status [--json] [--from FILE|-] [--socket PATH] [--root DIR]
//! [--mount PATH]`: the node's state folded from its log stream, as a table (Cache,
//! NICs, Gate, Services) or as JSON. [`render_table`] is pure; free space on the
//! cache mount is the one thing read from the host (statvfs), and only when that
//! path is a mount point here.

use super::input::Source;
use super::plot::timeline::fmt_ms;
use super::record::parse_stream;
use super::state::{CacheState, NodeState};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where the cache filesystem is mounted (BRIEF §1), under `--root`.
pub const CACHE_MOUNT: &str = "mnt/storagepool/sp_zos-cache";

/// Space on the cache filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Space {
    pub free_bytes: u64,
    pub total_bytes: u64,
}

/// What `--json` prints: the folded state plus what was measured here.
#[derive(Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    state: &'a NodeState,
    cache_mount: Option<String>,
    cache_space: Option<Space>,
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {name}")
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// Rows of cells → aligned text, two spaces between columns.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from("  ");
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// The human table. `mount`/`space`: the cache mount point and its free space, when
/// measured.
pub fn render_table(s: &NodeState, mount: Option<&str>, space: Option<Space>) -> String {
    let mut out = String::new();
    match &s.boot {
        Some(b) => {
            let _ = writeln!(
                out,
                "nodeboot {} ({}) booted {}, last record {} (+{}), {} records, {} warnings, {} errors",
                b.version,
                b.mode,
                b.ts,
                opt(&s.last_ts),
                s.uptime_ms.map_or("?".to_owned(), fmt_ms),
                s.records,
                s.warnings,
                s.errors
            );
        }
        None => {
            let _ = writeln!(
                out,
                "nodeboot (no boot.start in the stream), last record {}, {} records",
                opt(&s.last_ts),
                s.records
            );
        }
    }
    if let Some(kind) = &s.shutdown {
        let _ = writeln!(out, "shutting down: {kind}");
    }

    out.push_str("\nCache\n");
    let c = &s.cache;
    let mut line = format!("  {:<9}", c.state.as_str());
    match c.state {
        CacheState::Ready => {
            let _ = write!(line, " {}", opt(&c.device));
            if let Some(sub) = &c.log_subvolume {
                let _ = write!(line, "  log {sub}");
            }
            if let (Some(m), Some(sp)) = (mount, space) {
                let _ = write!(
                    line,
                    "  free {} of {} ({m})",
                    bytes(sp.free_bytes),
                    bytes(sp.total_bytes)
                );
            }
            if c.reused {
                line.push_str("  (reused)");
            }
        }
        CacheState::Preparing => {
            let target = c.device.as_ref().or(c.disk.as_ref());
            let _ = write!(
                line,
                " {}  step {}",
                opt(&target),
                c.step.as_deref().unwrap_or("(starting)")
            );
            if let Some(from) = &c.resumed_from {
                let _ = write!(line, "  resumed from {from}");
            }
        }
        CacheState::Failed => {
            let _ = write!(
                line,
                " {}  at {}: {}",
                opt(&c.device),
                opt(&c.step),
                opt(&c.error)
            );
        }
        CacheState::None => {
            let _ = write!(line, " {}", opt(&c.reason));
        }
        CacheState::Unknown => {
            let _ = write!(line, " (settling: {} disks seen)", c.disks_seen.len());
        }
    }
    if let Some(t) = c.since_ms {
        let _ = write!(line, "  since +{}", fmt_ms(t));
    }
    out.push_str(line.trim_end());
    out.push('\n');

    out.push_str("\nNICs\n");
    let mut rows = vec![
        [
            "NIC",
            "CARRIER",
            "DHCP",
            "PID",
            "ADDRESS",
            "RESTARTS",
            "LAST EXIT",
            "SINCE",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for (name, n) in &s.nics {
        if n.managed == Some(false) && n.dhcp == super::state::DhcpState::Idle {
            continue;
        }
        let carrier = match (n.removed, n.carrier) {
            (true, _) => "removed",
            (_, Some(true)) => "up",
            (_, Some(false)) => "down",
            (_, None) => "?",
        };
        let dhcp = match (n.dhcp, n.after_ms) {
            (super::state::DhcpState::Leased | super::state::DhcpState::GaveUp, Some(ms)) => {
                format!("{} ({})", n.dhcp.as_str(), fmt_ms(ms))
            }
            _ => n.dhcp.as_str().to_owned(),
        };
        rows.push(vec![
            name.clone(),
            carrier.to_owned(),
            dhcp,
            opt(&n.pid),
            opt(&n.address),
            n.restarts.to_string(),
            opt(&n.last_exit),
            n.since_ms
                .map_or("-".to_owned(), |t| format!("+{}", fmt_ms(t))),
        ]);
    }
    if rows.len() == 1 {
        out.push_str("  (none seen)\n");
    } else {
        table(&mut out, &rows);
    }

    out.push_str("\nGate\n");
    let g = &s.gate;
    let mut line = format!("  {:<9}", g.state.as_str());
    match g.state {
        super::state::GateState::Released => {
            let _ = write!(
                line,
                " {} after {}",
                opt(&g.reason),
                g.after_ms.map_or("?".to_owned(), fmt_ms)
            );
        }
        super::state::GateState::Waiting => {
            let _ = write!(
                line,
                " for {} (timeout {}), {} probes failed",
                g.targets.join(", "),
                g.timeout_ms.map_or("?".to_owned(), fmt_ms),
                g.probes_failed
            );
            if let Some(e) = &g.last_probe_error {
                let _ = write!(line, ", last: {e}");
            }
        }
        super::state::GateState::Pending => {}
    }
    if let Some(t) = g.since_ms {
        let _ = write!(line, "  at +{}", fmt_ms(t));
    }
    out.push_str(line.trim_end());
    out.push('\n');

    out.push_str("\nServices\n");
    let mut rows = vec![
        ["SERVICE", "STATE", "PID", "RESTARTS", "LAST EXIT", "SINCE"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for (name, sv) in &s.services {
        let state = match &sv.error {
            Some(e) if sv.state == super::state::ServiceState::Failed => {
                format!("failed: {e}")
            }
            _ => sv.state.as_str().to_owned(),
        };
        rows.push(vec![
            name.clone(),
            state,
            opt(&sv.pid),
            sv.restarts.to_string(),
            opt(&sv.last_exit),
            sv.since_ms
                .map_or("-".to_owned(), |t| format!("+{}", fmt_ms(t))),
        ]);
    }
    if rows.len() == 1 {
        out.push_str("  (none started)\n");
    } else {
        table(&mut out, &rows);
    }
    out
}

/// `--json`: the state plus the measured mount and space.
pub fn render_json(s: &NodeState, mount: Option<&str>, space: Option<Space>) -> String {
    let doc = StatusJson {
        state: s,
        cache_mount: mount.map(str::to_owned),
        cache_space: space,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Free space of `path` if it is a mount point on this host (its device differs from
/// its parent's, or it is `/`): never the space of whatever filesystem lies beneath.
pub fn measure(path: &Path) -> Option<Space> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let is_mount = match path.parent() {
        Some(parent) => std::fs::metadata(parent).ok()?.dev() != meta.dev(),
        None => true,
    };
    if !is_mount {
        return None;
    }
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    let frag = st.fragment_size();
    Some(Space {
        free_bytes: st.blocks_available().saturating_mul(frag),
        total_bytes: st.blocks().saturating_mul(frag),
    })
}

const STATUS_USAGE: &str =
    "usage: nodeboot status [--json] [--from FILE|-] [--socket PATH] [--root DIR] [--mount PATH]
  Reads the log stream (the live socket's backlog by default, or --from a log file or
  `replay --json` output; - is stdin), folds it and prints the node's state.";

/// `nodeboot status`.
pub fn status_main(args: &[String]) -> i32 {
    const VALUES: [&str; 4] = ["from", "socket", "root", "mount"];
    const KNOWN: [&str; 7] = ["from", "socket", "root", "mount", "json", "h", "help"];
    let args = match crate::cli::Args::parse(args, &VALUES) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nodeboot status: {e}\n{STATUS_USAGE}");
            return 2;
        }
    };
    if args.has("h") || args.has("help") {
        println!("{STATUS_USAGE}");
        return 0;
    }
    if let Some(flag) = args.unknown(&KNOWN) {
        eprintln!("nodeboot status: unknown flag --{flag}\n{STATUS_USAGE}");
        return 2;
    }
    if !args.positional.is_empty() {
        eprintln!(
            "nodeboot status: unexpected {:?}\n{STATUS_USAGE}",
            args.positional
        );
        return 2;
    }
    let root = PathBuf::from(args.value("root").unwrap_or("/"));
    let source = Source::pick(args.value("from"), args.value("socket"), &root);
    let text = match source.read() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("nodeboot status: {e}");
            return 1;
        }
    };
    let state = NodeState::from_records(&parse_stream(&text));
    let mount = args
        .value("mount")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(CACHE_MOUNT));
    let space = if state.cache.state == CacheState::Ready {
        measure(&mount)
    } else {
        None
    };
    let mount_text = space.map(|_| mount.display().to_string());
    let text = if args.has("json") {
        render_json(&state, mount_text.as_deref(), space)
    } else {
        render_table(&state, mount_text.as_deref(), space)
    };
    println!("{}", text.trim_end());
    0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn sample() -> NodeState {
        let text = include_str!("../../tests/ops/boot.jsonl");
        NodeState::from_records(&parse_stream(text))
    }

    #[test]
    fn table_has_every_section_and_the_facts() {
        let space = Space {
            free_bytes: 400 * (1 << 30),
            total_bytes: 447 * (1 << 30),
        };
        let t = render_table(
            &sample(),
            Some("/mnt/storagepool/sp_zos-cache"),
            Some(space),
        );
        for section in ["\nCache\n", "\nNICs\n", "\nGate\n", "\nServices\n"] {
            assert!(t.contains(section), "{section:?} missing in\n{t}");
        }
        assert!(
            t.contains(
                "ready     sda1  log logs/2026-11-26T01:00:00Z  free 400.0 GiB of 447.0 GiB"
            ),
            "{t}"
        );
        let eth0 = t
            .lines()
            .find(|l| l.trim_start().starts_with("eth0"))
            .unwrap();
        assert!(
            eth0.contains("up") && eth0.contains("leased (2.29s)") && eth0.contains("10.4.0.23/24"),
            "{eth0}"
        );
        let eth1 = t
            .lines()
            .find(|l| l.trim_start().starts_with("eth1"))
            .unwrap();
        assert!(eth1.contains("gave up (30.0s)"), "{eth1}");
        assert!(!t.contains("\n  lo "), "unmanaged lo is not listed:\n{t}");
        assert!(t.contains("released  reachable after 3.07s"), "{t}");
        let ork = t
            .lines()
            .find(|l| l.trim_start().starts_with("0-ork"))
            .unwrap();
        let cells: Vec<&str> = ork.split_whitespace().collect();
        assert_eq!(
            cells,
            ["0-ork", "running", "340", "1", "exit", "1", "+7.14s"]
        );
    }

    #[test]
    fn columns_line_up() {
        let t = render_table(&sample(), None, None);
        let header = t.lines().find(|l| l.contains("SERVICE")).unwrap();
        let redis = t
            .lines()
            .find(|l| l.trim_start().starts_with("redis"))
            .unwrap();
        let col = header.find("PID").unwrap();
        assert_eq!(&redis[col..col + 3], "301");
    }

    #[test]
    fn json_carries_the_state() {
        let j: serde_json::Value =
            serde_json::from_str(&render_json(&sample(), None, None)).unwrap();
        assert_eq!(j["cache"]["state"], "ready");
        assert_eq!(j["nics"]["eth1"]["dhcp"], "gave_up");
        assert_eq!(j["gate"]["reason"], "reachable");
        assert_eq!(j["services"]["0-ork"]["restarts"], 1);
        assert!(j["cache_space"].is_null());
    }

    #[test]
    fn an_empty_stream_still_renders() {
        let t = render_table(&NodeState::new(), None, None);
        assert!(t.contains("unknown") && t.contains("(none seen)") && t.contains("(none started)"));
    }

    #[test]
    fn only_mount_points_are_measured() {
        assert!(measure(Path::new("/")).is_some());
        // A plain directory on the root filesystem is not a mount point.
        let dir = std::env::temp_dir().join(format!("nb-ops-notmount-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let parent_is_same_fs = measure(&dir).is_none();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(parent_is_same_fs);
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
