//! Loop disks made from the oracle images (`images`) for live runs of nodeboot, and
//! what a run decided about them: their verdicts, and which images it wrote.

use super::node::{Node, base_args};
use super::{Loop, TempDir, images, sha256_file};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Cases the live run must never write: every oracle image but our own interrupted
/// prepare (nodeboot's marker: which nodeboot rightly finishes) and the zero control.
/// Partitions merely named like ours are foreign like any other.
pub fn foreign_cases() -> Vec<&'static str> {
    images::cases()
        .iter()
        .map(|c| c.name)
        .filter(|n| !matches!(*n, "zeros" | "gpt-nodeboot-marked"))
        .collect()
}

pub struct Disk {
    pub case: &'static str,
    pub image: PathBuf,
    pub lo: Option<Loop>,
    pub before: String,
}

impl Disk {
    pub fn name(&self) -> String {
        self.lo.as_ref().unwrap().name().to_owned()
    }
}

pub fn attach(scratch: &TempDir, cases: &[&'static str]) -> Vec<Disk> {
    cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let image = images::make_as(case, &format!("{i}-{case}.img"), scratch)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            let before = sha256_file(&image);
            let lo = Loop::attach(&image).unwrap();
            lo.set_ssd();
            Disk {
                case,
                image,
                lo: Some(lo),
                before,
            }
        })
        .collect()
}

pub fn disk_args(root: &std::path::Path, disks: &[Disk]) -> Vec<String> {
    let mut args = base_args(root);
    for d in disks {
        args.push("--disk".into());
        args.push(d.name());
    }
    args
}

/// The verdict of each disk (by case), from its last `disk.seen`.
pub fn verdicts(node: &Node, disks: &[Disk]) -> BTreeMap<&'static str, String> {
    let seen = node.named("disk.seen");
    disks
        .iter()
        .filter_map(|d| {
            let name = d.name();
            seen.iter()
                .rev()
                .find(|v| v["disk"] == name.as_str())
                .map(|v| (d.case, v["verdict"].as_str().unwrap_or_default().to_owned()))
        })
        .collect()
}

/// Detaches every loop device, then returns the cases whose image changed.
pub fn changed(disks: &mut [Disk]) -> Vec<&'static str> {
    for d in disks.iter_mut() {
        d.lo.take();
    }
    disks
        .iter()
        .filter(|d| sha256_file(&d.image) != d.before)
        .map(|d| d.case)
        .collect()
}

pub fn decided(v: &Value) -> bool {
    matches!(
        v["event"].as_str(),
        Some("cache.ready" | "cache.none" | "cache.failed")
    )
}

/// The verdict of `disk` in its last `disk.seen` among `events`.
pub fn verdict_of(events: &[Value], disk: &str) -> Option<String> {
    events
        .iter()
        .rev()
        .find(|v| v["event"] == "disk.seen" && v["disk"] == disk)
        .and_then(|v| v["verdict"].as_str().map(str::to_owned))
}
