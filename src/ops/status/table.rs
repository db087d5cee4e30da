//! The human table of `nodeboot status`: sections Cache, NICs, Gate, Services.

use super::Space;
use crate::ops::record::fmt_ms;
use crate::ops::state::{CacheState, NodeState};
use std::fmt::Write as _;

pub(super) fn bytes(n: u64) -> String {
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
    if !c.disks_seen.is_empty() {
        let _ = writeln!(out, "  disks     {}", disks_by_verdict(&c.disks_seen));
    }

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
        if n.managed == Some(false) && n.dhcp == crate::ops::state::DhcpState::Idle {
            continue;
        }
        let carrier = match (n.removed, n.carrier) {
            (true, _) => "removed",
            (_, Some(true)) => "up",
            (_, Some(false)) => "down",
            (_, None) => "?",
        };
        let dhcp = match (n.dhcp, n.after_ms) {
            (
                crate::ops::state::DhcpState::Leased | crate::ops::state::DhcpState::GaveUp,
                Some(ms),
            ) => {
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
        crate::ops::state::GateState::Released => {
            let _ = write!(
                line,
                " {} after {}",
                opt(&g.reason),
                g.after_ms.map_or("?".to_owned(), fmt_ms)
            );
        }
        crate::ops::state::GateState::Waiting => {
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
        crate::ops::state::GateState::Pending => {}
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
            Some(e) if sv.state == crate::ops::state::ServiceState::Failed => {
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

/// `cache: sdb; unused: sda; in-use: vda; excluded: loop0, loop1, … (+31)`: verdicts in
/// the order an operator reads them, names in natural order, long lists cut.
fn disks_by_verdict(disks: &std::collections::BTreeMap<String, String>) -> String {
    const SHOWN: usize = 6;
    let mut verdicts: Vec<&str> = disks.values().map(String::as_str).collect();
    let rank = |v: &str| {
        ["cache", "unused", "in-use", "excluded"]
            .iter()
            .position(|x| *x == v)
            .unwrap_or(4)
    };
    verdicts.sort_by_key(|v| (rank(v), *v));
    verdicts.dedup();
    let mut parts = Vec::new();
    for verdict in verdicts {
        let mut names: Vec<&str> = disks
            .iter()
            .filter(|(_, v)| v.as_str() == verdict)
            .map(|(d, _)| d.as_str())
            .collect();
        names.sort_by_key(|n| natural_key(n));
        let mut text = names
            .iter()
            .take(SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > SHOWN {
            let _ = write!(text, ", … (+{})", names.len() - SHOWN);
        }
        parts.push(format!("{verdict}: {text}"));
    }
    parts.join("; ")
}

/// `loop2` before `loop10`: the name's text, then its trailing number.
fn natural_key(name: &str) -> (String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    (stem.to_owned(), num.parse().unwrap_or(0))
}
