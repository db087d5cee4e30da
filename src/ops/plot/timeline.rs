//! The log stream as a timeline: lanes of bars (intervals) and marks (instants), in
//! milliseconds since `boot.start`. Pure; [`super::svg`] draws it.

use crate::ops::record::{bool_field, event, str_field, ts_ms, u64_field};
use serde_json::Value;
use std::collections::BTreeMap;

use super::builder::Builder;
pub use super::model::*;

/// Build the timeline of a stream (records in stream order).
pub fn build(records: &[Value]) -> Timeline {
    // Time zero: the last boot.start (a log file may span boots), else the first record.
    let start_idx = records
        .iter()
        .rposition(|r| event(r) == "boot.start")
        .unwrap_or(0);
    let records = records.get(start_idx..).unwrap_or(&[]);
    let t0 = records.iter().find_map(ts_ms);
    let at = |r: &Value| -> u64 {
        match (ts_ms(r), t0) {
            (Some(t), Some(z)) => u64::try_from(t.saturating_sub(z)).unwrap_or(0),
            _ => 0,
        }
    };
    let mut timeline = Timeline {
        records: records.len(),
        ..Timeline::default()
    };
    let mut b = Builder {
        lanes: Vec::new(),
        nics: BTreeMap::new(),
        services: BTreeMap::new(),
        gate_wait: None,
    };
    let mut end = 0u64;
    let mut settled_ms = None;
    let mut chosen: Option<String> = None;
    for r in records {
        let t = at(r);
        end = end.max(t);
        let s = |k: &str| str_field(r, k).unwrap_or("").to_owned();
        match event(r) {
            "boot.start" => {
                timeline.title = format!("nodeboot {} ({})", s("version"), s("mode"));
                timeline.start_ts = s("ts");
            }
            "cache.settled" => {
                let after = u64_field(r, "after_ms").unwrap_or(0);
                settled_ms = Some(t);
                b.bar(
                    Group::Cache,
                    "cache",
                    "cache",
                    Bar {
                        start_ms: t.saturating_sub(after),
                        end_ms: t,
                        kind: Kind::Settle,
                        band: Band::Full,
                        label: None,
                        title: format!(
                            "disks settled after {} ({}, {} candidates)",
                            fmt_ms(after),
                            s("reason"),
                            u64_field(r, "candidates").unwrap_or(0)
                        ),
                    },
                );
            }
            "cache.selected" => chosen = Some(format!("new on {} ({})", s("disk"), s("kind"))),
            "cache.found" => chosen = Some(format!("reused {}", s("device"))),
            "cache.resumed" => {
                chosen = Some(format!("resumed on {} from {}", s("disk"), s("from_step")))
            }
            "cache.step" => {
                let step = s("step");
                let ms = u64_field(r, "ms").unwrap_or(0);
                let ok = bool_field(r, "ok").unwrap_or(false);
                let id = format!("step:{step}");
                let failed = if ok { "" } else { " FAILED" };
                b.bar(
                    Group::Cache,
                    &id,
                    &step,
                    Bar {
                        start_ms: t.saturating_sub(ms),
                        end_ms: t,
                        kind: if ok { Kind::Step } else { Kind::StepFailed },
                        band: Band::Full,
                        label: Some(format!("{}{failed}", fmt_ms(ms))),
                        title: format!(
                            "{step} on {} {}{failed} (ended at {}){}",
                            s("device"),
                            fmt_ms(ms),
                            fmt_ms(t),
                            str_field(r, "error")
                                .map(|e| format!(": {e}"))
                                .unwrap_or_default()
                        ),
                    },
                );
            }
            ev @ ("cache.ready" | "cache.none" | "cache.failed") => {
                let (kind, what) = match ev {
                    "cache.ready" => (Kind::CacheReady, format!("ready {}", s("device"))),
                    "cache.none" => (Kind::CacheFailed, format!("no cache: {}", s("reason"))),
                    _ => (
                        Kind::CacheFailed,
                        format!("failed at {}: {}", s("step"), s("error")),
                    ),
                };
                // One label tells the cache's story: outcome, time, how it got there.
                let mut label = format!("{what} {}", fmt_ms(t));
                if let Some(c) = &chosen {
                    label.push_str(&format!(" · {c}"));
                }
                if let Some(st) = settled_ms {
                    label.push_str(&format!(" · settled {}", fmt_ms(st)));
                }
                let detail = ["device", "log_subvolume", "reason", "error"]
                    .iter()
                    .filter_map(|k| str_field(r, k).map(|v| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(" ");
                b.mark(
                    Group::Cache,
                    "cache",
                    "cache",
                    Mark {
                        at_ms: t,
                        kind,
                        label: Some(label),
                        title: format!("{ev} at {} {detail}", fmt_ms(t)),
                    },
                );
            }
            "nic.carrier" => {
                let nic = s("nic");
                if bool_field(r, "up") == Some(true) {
                    let open = b.nics.entry(nic).or_default();
                    open.carrier.get_or_insert(t);
                } else {
                    b.close_carrier(&nic, t);
                }
            }
            "dhcp.started" => {
                let nic = s("nic");
                b.close_dhcp(&nic, t, "restarted");
                b.nics.entry(nic).or_default().dhcp = Some(t);
            }
            "dhcp.leased" => {
                let nic = s("nic");
                let address = s("address");
                b.nics.entry(nic.clone()).or_default().lease = Some((t, address.clone()));
                let id = format!("nic:{nic}");
                b.mark(
                    Group::Nics,
                    &id,
                    &nic,
                    Mark {
                        at_ms: t,
                        kind: Kind::Lease,
                        label: Some(format!("{address} {}", fmt_ms(t))),
                        title: format!(
                            "{nic}: leased {address} at {}, {} after the client started",
                            fmt_ms(t),
                            fmt_ms(u64_field(r, "after_ms").unwrap_or(0))
                        ),
                    },
                );
            }
            "dhcp.gave_up" => {
                let nic = s("nic");
                b.close_dhcp(&nic, t, "gave up");
                let id = format!("nic:{nic}");
                let after = u64_field(r, "after_ms").unwrap_or(0);
                b.mark(
                    Group::Nics,
                    &id,
                    &nic,
                    Mark {
                        at_ms: t,
                        kind: Kind::GaveUp,
                        label: Some(format!("gave up {}", fmt_ms(t))),
                        title: format!("{nic}: no lease {} after start: gave up", fmt_ms(after)),
                    },
                );
            }
            "dhcp.stopped" | "dhcp.exited" => {
                let why = str_field(r, "reason")
                    .or(str_field(r, "status"))
                    .unwrap_or("");
                b.close_dhcp(&s("nic"), t, why);
            }
            "gate.waiting" => {
                b.gate_wait.get_or_insert(t);
            }
            "gate.released" => {
                let start = b.gate_wait.take().unwrap_or(t);
                let reason = s("reason");
                let after = u64_field(r, "after_ms").unwrap_or(0);
                b.bar(
                    Group::Gate,
                    "gate",
                    "gate",
                    Bar {
                        start_ms: start,
                        end_ms: t,
                        kind: Kind::GateWait,
                        band: Band::Full,
                        label: None,
                        title: format!("gate waiting {}–{}", fmt_ms(start), fmt_ms(t)),
                    },
                );
                let kind = if reason == "reachable" {
                    Kind::Reachable
                } else {
                    Kind::GateTimeout
                };
                b.mark(
                    Group::Gate,
                    "gate",
                    "gate",
                    Mark {
                        at_ms: t,
                        kind,
                        label: Some(format!("{reason} {}", fmt_ms(t))),
                        title: format!("gate released ({reason}) {} after waiting", fmt_ms(after)),
                    },
                );
            }
            "service.started" => {
                let service = s("service");
                b.close_service(&service, t, None);
                b.services.insert(service.clone(), Some(t));
                // Make the lane exist in start order even if nothing else happens.
                let _ = b.lane(Group::Services, &format!("service:{service}"), &service);
            }
            "service.exited" => {
                let service = s("service");
                let status = s("status");
                b.close_service(&service, t, Some(&status));
                let id = format!("service:{service}");
                b.mark(
                    Group::Services,
                    &id,
                    &service,
                    Mark {
                        at_ms: t,
                        kind: if status == "exit 0" {
                            Kind::CleanExit
                        } else {
                            Kind::Exit
                        },
                        label: Some(format!("{status} {}", fmt_ms(t))),
                        title: format!(
                            "{service} (pid {}) exited: {status} at {}",
                            u64_field(r, "pid").unwrap_or(0),
                            fmt_ms(t)
                        ),
                    },
                );
            }
            "service.done" => {
                // A one-shot's clean exit: that exit's mark becomes "done".
                let service = s("service");
                let id = format!("service:{service}");
                if let Some(lane) = b.lane(Group::Services, &id, &service) {
                    match lane.marks.last_mut() {
                        Some(m) if m.kind == Kind::CleanExit => {
                            m.kind = Kind::Done;
                            m.label = Some(format!("done {}", fmt_ms(t)));
                            m.title = format!("{service}: one-shot done at {}", fmt_ms(t));
                        }
                        _ => lane.marks.push(Mark {
                            at_ms: t,
                            kind: Kind::Done,
                            label: Some(format!("done {}", fmt_ms(t))),
                            title: format!("{service}: one-shot done at {}", fmt_ms(t)),
                        }),
                    }
                }
            }
            "service.restarting" => {
                let service = s("service");
                let backoff = u64_field(r, "backoff_ms").unwrap_or(0);
                let id = format!("service:{service}");
                b.bar(
                    Group::Services,
                    &id,
                    &service,
                    Bar {
                        start_ms: t,
                        end_ms: t.saturating_add(backoff),
                        kind: Kind::Backoff,
                        band: Band::Full,
                        label: None,
                        title: format!("{service}: restart after {} backoff", fmt_ms(backoff)),
                    },
                );
            }
            "service.failed" => {
                let service = s("service");
                b.close_service(&service, t, Some("failed"));
                let id = format!("service:{service}");
                b.mark(
                    Group::Services,
                    &id,
                    &service,
                    Mark {
                        at_ms: t,
                        kind: Kind::Exit,
                        label: Some(format!("failed {}", fmt_ms(t))),
                        title: format!("{service} failed: {}", s("error")),
                    },
                );
            }
            _ => {}
        }
    }
    // Close what is still open at the end of the stream.
    let nics: Vec<String> = b.nics.keys().cloned().collect();
    for nic in &nics {
        b.close_dhcp(nic, end, "still running");
        b.close_carrier(nic, end);
    }
    let services: Vec<String> = b.services.keys().cloned().collect();
    for service in &services {
        b.close_service(service, end, None);
    }
    if let Some(start) = b.gate_wait.take() {
        b.bar(
            Group::Gate,
            "gate",
            "gate",
            Bar {
                start_ms: start,
                end_ms: end,
                kind: Kind::GateWait,
                band: Band::Full,
                label: Some("still waiting".to_owned()),
                title: format!("gate waiting since {}", fmt_ms(start)),
            },
        );
    }
    // Backoff bars may reach past the last record; the axis covers them.
    let bar_end = b
        .lanes
        .iter()
        .flat_map(|l| l.bars.iter().map(|x| x.end_ms))
        .max()
        .unwrap_or(0);
    timeline.end_ms = end.max(bar_end).max(1);
    // Lanes by group, in order of first appearance within a group.
    b.lanes.sort_by_key(|l| (l.group, l.id != "cache"));
    for lane in &mut b.lanes {
        lane.bars
            .sort_by_key(|x| (x.band == Band::Full, x.start_ms));
        lane.marks.sort_by_key(|m| m.at_ms);
    }
    timeline.lanes = b.lanes;
    timeline
}
