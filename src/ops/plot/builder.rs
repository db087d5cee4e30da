//! The lanes being built while the stream is read: open intervals (carrier, DHCP
//! client, lease, service run, gate wait) are closed into bars when they end.

use super::model::{Band, Bar, Group, Kind, Lane, Mark, fmt_ms};
use std::collections::BTreeMap;

/// Open intervals per lane while folding.
#[derive(Default)]
pub(super) struct NicOpen {
    pub carrier: Option<u64>,
    pub dhcp: Option<u64>,
    pub lease: Option<(u64, String)>,
}

pub(super) struct Builder {
    pub lanes: Vec<Lane>,
    pub nics: BTreeMap<String, NicOpen>,
    pub services: BTreeMap<String, Option<u64>>,
    pub gate_wait: Option<u64>,
}

impl Builder {
    /// The lane `id`, created (in order of first appearance) if new.
    pub fn lane(&mut self, group: Group, id: &str, label: &str) -> Option<&mut Lane> {
        if !self.lanes.iter().any(|l| l.id == id) {
            self.lanes.push(Lane {
                group,
                id: id.to_owned(),
                label: label.to_owned(),
                bars: Vec::new(),
                marks: Vec::new(),
            });
        }
        self.lanes.iter_mut().find(|l| l.id == id)
    }

    pub fn bar(&mut self, group: Group, id: &str, label: &str, bar: Bar) {
        if bar.end_ms >= bar.start_ms
            && let Some(lane) = self.lane(group, id, label)
        {
            lane.bars.push(bar);
        }
    }

    pub fn mark(&mut self, group: Group, id: &str, label: &str, mark: Mark) {
        if let Some(lane) = self.lane(group, id, label) {
            lane.marks.push(mark);
        }
    }

    pub fn close_dhcp(&mut self, nic: &str, at: u64, why: &str) {
        let Some(open) = self.nics.get_mut(nic) else {
            return;
        };
        let dhcp = open.dhcp.take();
        let lease = open.lease.take();
        let id = format!("nic:{nic}");
        if let Some(start) = dhcp {
            self.bar(
                Group::Nics,
                &id,
                nic,
                Bar {
                    start_ms: start,
                    end_ms: at,
                    kind: Kind::Dhcp,
                    band: Band::Full,
                    label: None,
                    title: format!(
                        "{nic}: DHCP client {}–{} ({why})",
                        fmt_ms(start),
                        fmt_ms(at)
                    ),
                },
            );
        }
        if let Some((start, address)) = lease {
            self.bar(
                Group::Nics,
                &id,
                nic,
                Bar {
                    start_ms: start,
                    end_ms: at,
                    kind: Kind::Lease,
                    band: Band::Full,
                    label: None,
                    title: format!("{nic}: leased {address} {}–{}", fmt_ms(start), fmt_ms(at)),
                },
            );
        }
    }

    pub fn close_carrier(&mut self, nic: &str, at: u64) {
        if let Some(start) = self.nics.get_mut(nic).and_then(|o| o.carrier.take()) {
            let id = format!("nic:{nic}");
            self.bar(
                Group::Nics,
                &id,
                nic,
                Bar {
                    start_ms: start,
                    end_ms: at,
                    kind: Kind::Carrier,
                    band: Band::Strip,
                    label: None,
                    title: format!("{nic}: carrier up {}–{}", fmt_ms(start), fmt_ms(at)),
                },
            );
        }
    }

    pub fn close_service(&mut self, service: &str, at: u64, status: Option<&str>) {
        if let Some(start) = self.services.get_mut(service).and_then(Option::take) {
            let id = format!("service:{service}");
            let end = status.map_or("still running".to_owned(), |s| format!("exited: {s}"));
            self.bar(
                Group::Services,
                &id,
                service,
                Bar {
                    start_ms: start,
                    end_ms: at,
                    kind: Kind::Running,
                    band: Band::Full,
                    label: None,
                    title: format!(
                        "{service}: running {}–{} ({end})",
                        fmt_ms(start),
                        fmt_ms(at)
                    ),
                },
            );
        }
    }
}
