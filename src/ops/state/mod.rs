//! The node's state as a fold of its log stream. [`NodeState::apply`] takes one JSON
//! record at a time (as read from the live socket, a log file or `replay --json`) and
//! keeps what an operator asks first: is there a cache, does each NIC have a lease,
//! has the gate opened, are the services up. Pure: no IO, no clock; records it does not
//! know are counted and otherwise ignored, so new events never break an old reader.

use super::record::{bool_field, event, str_field, ts_ms, u64_field};
use serde_json::Value;

mod model;
#[cfg(test)]
mod tests;

pub use model::*;

fn owned(record: &Value, key: &str) -> Option<String> {
    str_field(record, key).map(str::to_owned)
}

fn pid(record: &Value) -> Option<u32> {
    u64_field(record, "pid").and_then(|p| u32::try_from(p).ok())
}

impl NodeState {
    pub fn new() -> NodeState {
        NodeState::default()
    }

    /// Fold a whole stream.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a Value>) -> NodeState {
        let mut state = NodeState::new();
        for r in records {
            state.apply(r);
        }
        state
    }

    /// Fold one record in.
    pub fn apply(&mut self, record: &Value) {
        self.records += 1;
        match str_field(record, "level") {
            Some("warn") => self.warnings += 1,
            Some("error") => self.errors += 1,
            _ => {}
        }
        let at = ts_ms(record);
        if let Some(ts) = str_field(record, "ts") {
            self.last_ts = Some(ts.to_owned());
        }
        let name = event(record);
        if name == "boot.start" {
            // A second boot.start (a log file spanning boots) starts afresh.
            *self = NodeState {
                records: 1,
                boot: Some(Boot {
                    version: owned(record, "version").unwrap_or_default(),
                    mode: owned(record, "mode").unwrap_or_default(),
                    ts: owned(record, "ts").unwrap_or_default(),
                }),
                last_ts: owned(record, "ts"),
                boot_epoch_ms: at,
                ..NodeState::default()
            };
        }
        let since = match (at, self.boot_epoch_ms) {
            (Some(t), Some(b)) => u64::try_from(t.saturating_sub(b)).ok(),
            _ => None,
        };
        if since.is_some() {
            self.uptime_ms = since;
        }
        if let Some(rest) = name.strip_prefix("cache.") {
            self.apply_cache(rest, record, since);
        } else if name == "disk.seen" {
            if let (Some(disk), Some(verdict)) = (owned(record, "disk"), owned(record, "verdict")) {
                self.cache.disks_seen.insert(disk, verdict);
            }
        } else if name == "disk.gone" {
            if let Some(disk) = str_field(record, "disk") {
                self.cache.disks_seen.remove(disk);
            }
        } else if name.starts_with("nic.") || name.starts_with("dhcp.") {
            self.apply_nic(name, record, since);
        } else if let Some(rest) = name.strip_prefix("gate.") {
            self.apply_gate(rest, record, since);
        } else if let Some(rest) = name.strip_prefix("service.") {
            self.apply_service(rest, record, since);
        } else if name == "shutdown" {
            self.shutdown = owned(record, "kind");
        }
    }

    fn apply_cache(&mut self, what: &str, r: &Value, since: Option<u64>) {
        let c = &mut self.cache;
        let before = c.state;
        match what {
            "found" => {
                c.state = CacheState::Preparing;
                c.device = owned(r, "device");
                c.reused = true;
            }
            "selected" => {
                c.state = CacheState::Preparing;
                c.disk = owned(r, "disk");
                c.kind = owned(r, "kind");
            }
            "resumed" => {
                c.state = CacheState::Preparing;
                c.disk = owned(r, "disk");
                c.resumed_from = owned(r, "from_step");
            }
            "step" => {
                let step = owned(r, "step").unwrap_or_default();
                let ok = bool_field(r, "ok").unwrap_or(false);
                c.steps.push(Step {
                    step: step.clone(),
                    ok,
                    ms: u64_field(r, "ms").unwrap_or(0),
                });
                // After `cache.failed` come the undo steps (`unmount-*`): kept in
                // the history, while `step` and `error` keep saying what failed.
                if c.state == CacheState::Failed {
                    return;
                }
                c.step = Some(step);
                if let Some(d) = owned(r, "device") {
                    c.device = Some(d);
                }
                if !ok {
                    c.error = owned(r, "error");
                }
                if c.state == CacheState::Unknown {
                    c.state = CacheState::Preparing;
                }
            }
            "ready" => {
                c.state = CacheState::Ready;
                c.device = owned(r, "device").or(c.device.take());
                c.log_subvolume = owned(r, "log_subvolume");
                c.error = None;
            }
            "none" => {
                c.state = CacheState::None;
                c.reason = owned(r, "reason");
            }
            "failed" => {
                c.state = CacheState::Failed;
                c.device = owned(r, "device").or(c.device.take());
                c.step = owned(r, "step");
                c.error = owned(r, "error");
            }
            _ => {}
        }
        if c.state != before {
            c.since_ms = since;
        }
    }

    fn apply_nic(&mut self, name: &str, r: &Value, since: Option<u64>) {
        if name == "nic.renamed" {
            if let (Some(from), Some(to)) = (str_field(r, "from"), owned(r, "to"))
                && let Some(nic) = self.nics.remove(from)
            {
                self.nics.insert(to, nic);
            }
            return;
        }
        let Some(nic_name) = owned(r, "nic") else {
            return;
        };
        let nic = self.nics.entry(nic_name).or_default();
        let before = (nic.carrier, nic.dhcp);
        match name {
            "nic.seen" => {
                nic.managed = bool_field(r, "managed");
                nic.reason = owned(r, "reason");
                nic.removed = false;
            }
            "nic.carrier" => nic.carrier = bool_field(r, "up"),
            "nic.removed" => {
                nic.removed = true;
                nic.carrier = None;
            }
            "dhcp.started" => {
                nic.dhcp = DhcpState::Running;
                nic.pid = pid(r);
                nic.after_ms = None;
            }
            "dhcp.leased" => {
                nic.dhcp = DhcpState::Leased;
                nic.address = owned(r, "address");
                nic.after_ms = u64_field(r, "after_ms");
            }
            "dhcp.gave_up" => {
                nic.dhcp = DhcpState::GaveUp;
                nic.address = None;
                nic.after_ms = u64_field(r, "after_ms");
            }
            "dhcp.stopped" => {
                // Giving up stops the client too; keep saying why.
                if nic.dhcp != DhcpState::GaveUp {
                    nic.dhcp = DhcpState::Stopped;
                }
                nic.pid = None;
                nic.address = None;
            }
            "dhcp.exited" => {
                nic.last_exit = owned(r, "status");
                if nic.pid == pid(r) || nic.pid.is_none() {
                    nic.pid = None;
                    if matches!(nic.dhcp, DhcpState::Running | DhcpState::Leased) {
                        nic.dhcp = DhcpState::Exited;
                    }
                }
            }
            "dhcp.restarting" => {
                nic.dhcp = DhcpState::Restarting;
                nic.restarts += 1;
            }
            _ => {}
        }
        if (nic.carrier, nic.dhcp) != before {
            nic.since_ms = since;
        }
    }

    fn apply_gate(&mut self, what: &str, r: &Value, since: Option<u64>) {
        let g = &mut self.gate;
        match what {
            "waiting" => {
                g.state = GateState::Waiting;
                g.targets = r
                    .get("targets")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                g.timeout_ms = u64_field(r, "timeout_ms");
                g.since_ms = since;
            }
            "probe" => {
                if bool_field(r, "ok") == Some(true) {
                    g.probes_ok += 1;
                } else {
                    g.probes_failed += 1;
                    g.last_probe_error = owned(r, "error").or(owned(r, "target"));
                }
            }
            "released" => {
                g.state = GateState::Released;
                g.reason = owned(r, "reason");
                g.after_ms = u64_field(r, "after_ms");
                g.since_ms = since;
            }
            _ => {}
        }
    }

    fn apply_service(&mut self, what: &str, r: &Value, since: Option<u64>) {
        let Some(name) = owned(r, "service") else {
            return;
        };
        let s = self.services.entry(name).or_default();
        let before = s.state;
        match what {
            "started" => {
                s.state = ServiceState::Running;
                s.pid = pid(r);
                s.error = None;
            }
            "exited" => {
                s.last_exit = owned(r, "status");
                s.pid = None;
                if s.state == ServiceState::Running {
                    s.state = ServiceState::Exited;
                }
            }
            "restarting" => {
                s.state = ServiceState::Restarting;
                s.restarts += 1;
                s.backoff_ms = u64_field(r, "backoff_ms");
            }
            "done" => {
                s.state = ServiceState::Done;
                s.pid = None;
            }
            "failed" => {
                s.state = ServiceState::Failed;
                s.error = owned(r, "error");
                s.pid = None;
            }
            _ => {}
        }
        if s.state != before {
            s.since_ms = since;
        }
    }
}
