//! Replaying a capture from any machine: the text printed by
//! `udevadm monitor --kernel --property`, turned into a scenario.
//!
//! ```text
//! KERNEL[1234.567890] add      /devices/pci0000:00/…/block/sda (block)
//! ACTION=add
//! DEVPATH=/devices/pci0000:00/…/block/sda
//! SUBSYSTEM=block
//! DEVNAME=sda
//! DEVTYPE=disk
//! SEQNUM=2113
//!
//! ```
//! Blocks start with `KERNEL[<seconds since boot>] <action> <devpath> (<subsystem>)`
//! and end at a blank line. `UDEV [...]` blocks (from `--udev`) are skipped: the core
//! consumes kernel uevents. Anything else (the "monitor will print…" banner) is ignored.

use super::format::{Entry, Header, TraceKind};
use super::world::WorldSpec;
use crate::core::input::{DiskProbe, Input, Mode};
use crate::time::Instant;
use crate::wire::uevent::{Uevent, UeventAction};
use std::collections::BTreeMap;

/// Events closer than this to the previous one belong to the same burst (coldplug).
pub const BURST_GAP_US: u64 = 500_000;

/// The size of a disk the capture's world does not describe.
pub const DEFAULT_DISK_BYTES: u64 = 8 << 30;

/// One uevent of a capture, at its kernel timestamp (µs since boot).
#[derive(Clone, Debug, PartialEq)]
pub struct Captured {
    pub at_us: u64,
    pub uevent: Uevent,
}

/// Does this text look like a udevadm capture?
pub fn looks_like_capture(text: &str) -> bool {
    text.lines().any(|l| parse_block_header(l).is_some())
}

/// `KERNEL[1234.567890] add /devices/… (block)` → (µs, is_kernel, action, devpath,
/// subsystem).
fn parse_block_header(line: &str) -> Option<(u64, bool, String, String, String)> {
    let line = line.trim_end();
    let (source, rest) = if let Some(r) = line.strip_prefix("KERNEL") {
        (true, r)
    } else if let Some(r) = line.strip_prefix("UDEV") {
        (false, r)
    } else {
        return None;
    };
    let rest = rest.trim_start().strip_prefix('[')?;
    let (stamp, rest) = rest.split_once(']')?;
    let at_us = parse_stamp(stamp.trim())?;
    let mut words = rest.split_whitespace();
    let action = words.next()?.to_owned();
    let devpath = words.next()?.to_owned();
    let subsystem = words
        .next()
        .and_then(|w| w.strip_prefix('('))
        .and_then(|w| w.strip_suffix(')'))
        .unwrap_or_default()
        .to_owned();
    Some((at_us, source, action, devpath, subsystem))
}

/// `1234.567890` → 1234567890 µs (fewer decimals are scaled up).
fn parse_stamp(s: &str) -> Option<u64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: u64 = secs.parse().ok()?;
    let mut frac_digits: String = frac.chars().take(6).collect();
    if !frac_digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    while frac_digits.len() < 6 {
        frac_digits.push('0');
    }
    let frac: u64 = frac_digits.parse().ok()?;
    secs.checked_mul(1_000_000)?.checked_add(frac)
}

/// A block being read: its header, then its properties.
struct Block {
    at_us: u64,
    kernel: bool,
    action: String,
    devpath: String,
    subsystem: String,
    env: BTreeMap<String, String>,
}

impl Block {
    fn finish(self, out: &mut Vec<Captured>) {
        if self.kernel {
            out.push(Captured {
                at_us: self.at_us,
                uevent: uevent_from_env(&self.action, &self.devpath, &self.subsystem, self.env),
            });
        }
    }
}

/// Parse a capture; errors name the line.
pub fn parse_capture(text: &str) -> Result<Vec<Captured>, String> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some((at_us, kernel, action, devpath, subsystem)) = parse_block_header(line) {
            if let Some(b) = current.take() {
                b.finish(&mut out);
            }
            current = Some(Block {
                at_us,
                kernel,
                action,
                devpath,
                subsystem,
                env: BTreeMap::new(),
            });
        } else if line.trim().is_empty() {
            if let Some(b) = current.take() {
                b.finish(&mut out);
            }
        } else if let Some(b) = current.as_mut() {
            let Some((k, v)) = line.split_once('=') else {
                return Err(format!("line {}: expected KEY=VALUE, got {line:?}", i + 1));
            };
            b.env.insert(k.trim().to_owned(), v.to_owned());
        }
    }
    if let Some(b) = current.take() {
        b.finish(&mut out);
    }
    Ok(out)
}

/// A uevent from its properties (the header's action, devpath and subsystem fill in
/// what the properties lack).
pub fn uevent_from_env(
    action: &str,
    devpath: &str,
    subsystem: &str,
    env: BTreeMap<String, String>,
) -> Uevent {
    let action = UeventAction::parse(env.get("ACTION").map_or(action, String::as_str));
    Uevent {
        action,
        devpath: env
            .get("DEVPATH")
            .cloned()
            .unwrap_or_else(|| devpath.to_owned()),
        subsystem: env
            .get("SUBSYSTEM")
            .cloned()
            .unwrap_or_else(|| subsystem.to_owned()),
        devtype: env.get("DEVTYPE").cloned(),
        devname: env.get("DEVNAME").cloned(),
        seqnum: env.get("SEQNUM").and_then(|s| s.parse().ok()),
        env,
    }
}

/// Where the capture's `ColdplugDone` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coldplug {
    /// Right after the first burst of events (a capture of `udevadm trigger`).
    AfterFirstBurst,
    /// At the start (a capture of hot-plug events only).
    AtStart,
}

/// Turn a capture into a scenario: `Start` at the first timestamp (trace time 0),
/// every uevent at its offset from it, `ColdplugDone` as `coldplug` says. `world`
/// comes from the side file or is empty; disks it does not list get the default
/// (8 GiB, rotary unless `ssd` patterns match, empty, unused) and effects succeed.
pub fn capture_to_scenario(
    captured: &[Captured],
    world: Option<WorldSpec>,
    ssd: &[String],
    coldplug: Coldplug,
    wall_clock_unix: u64,
) -> (Header, Vec<Entry>) {
    let mut world = world.unwrap_or_default();
    if world.default_disk.is_none() {
        world.default_disk = Some(DiskProbe {
            size_bytes: DEFAULT_DISK_BYTES,
            rotational: true,
            ..DiskProbe::default()
        });
    }
    world.ssd.extend(ssd.iter().cloned());
    let mut header = Header::new(TraceKind::Scenario, wall_clock_unix);
    header.description = Some("udevadm monitor capture".into());
    header.world = Some(world);

    let first = captured.first().map_or(0, |c| c.at_us);
    let mut entries = vec![Entry {
        at: Instant::ZERO,
        input: Input::Start {
            wall_clock_unix,
            mode: Mode::Replay,
            argv: Vec::new(),
        },
    }];
    if coldplug == Coldplug::AtStart {
        entries.push(Entry {
            at: Instant::ZERO,
            input: Input::ColdplugDone,
        });
    }
    let mut in_burst = coldplug == Coldplug::AfterFirstBurst;
    let mut prev = first;
    for c in captured {
        let at_us = c.at_us.saturating_sub(first);
        if in_burst && c.at_us.saturating_sub(prev) >= BURST_GAP_US {
            entries.push(Entry {
                at: Instant::from_micros(prev.saturating_sub(first) + 1),
                input: Input::ColdplugDone,
            });
            in_burst = false;
        }
        prev = c.at_us;
        entries.push(Entry {
            at: Instant::from_micros(at_us),
            input: Input::Uevent {
                uevent: c.uevent.clone(),
            },
        });
    }
    if in_burst {
        entries.push(Entry {
            at: Instant::from_micros(prev.saturating_sub(first) + 1),
            input: Input::ColdplugDone,
        });
    }
    (header, entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by hand in the exact shape `udevadm monitor --kernel --property` prints.
    pub const SAMPLE: &str = "\
monitor will print the received events for:
KERNEL - the kernel uevent

KERNEL[1520.204116] add      /devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda (block)
ACTION=add
DEVPATH=/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda
SUBSYSTEM=block
MAJOR=8
MINOR=0
DEVNAME=sda
DEVTYPE=disk
DISKSEQ=9
SEQNUM=4410

KERNEL[1520.204301] add      /devices/pci0000:00/0000:00:02.0/virtio1/net/eth0 (net)
ACTION=add
DEVPATH=/devices/pci0000:00/0000:00:02.0/virtio1/net/eth0
SUBSYSTEM=net
INTERFACE=eth0
IFINDEX=2
SEQNUM=4411

UDEV  [1520.210000] add      /devices/pci0000:00/0000:00:02.0/virtio1/net/eth0 (net)
ACTION=add
SUBSYSTEM=net
SEQNUM=4411

KERNEL[1524.000500] add      /devices/virtual/block/loop7 (block)
ACTION=add
DEVPATH=/devices/virtual/block/loop7
SUBSYSTEM=block
MAJOR=7
MINOR=7
DEVNAME=loop7
DEVTYPE=disk
SEQNUM=4420

";

    #[test]
    fn parses_kernel_blocks_and_skips_udev_ones() {
        let c = parse_capture(SAMPLE).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].at_us, 1_520_204_116);
        assert_eq!(c[0].uevent.action, UeventAction::Add);
        assert_eq!(c[0].uevent.subsystem, "block");
        assert_eq!(c[0].uevent.devname.as_deref(), Some("sda"));
        assert_eq!(c[0].uevent.devtype.as_deref(), Some("disk"));
        assert_eq!(c[0].uevent.seqnum, Some(4410));
        assert_eq!(c[0].uevent.get("DISKSEQ"), Some("9"));
        assert_eq!(c[1].uevent.subsystem, "net");
        assert_eq!(c[2].uevent.devname.as_deref(), Some("loop7"));
        assert!(looks_like_capture(SAMPLE));
        assert!(!looks_like_capture("{\"nodeboot_trace\":1}"));
        assert!(parse_capture("KERNEL[1.5] add /x (block)\nnot a property\n").is_err());
        assert_eq!(parse_stamp("1.5"), Some(1_500_000));
    }

    #[test]
    fn becomes_a_scenario_with_coldplug_after_the_first_burst() {
        let c = parse_capture(SAMPLE).unwrap();
        let (header, entries) =
            capture_to_scenario(&c, None, &["sd*".into()], Coldplug::AfterFirstBurst, 7);
        assert_eq!(header.kind, TraceKind::Scenario);
        let world = header.world.unwrap();
        assert_eq!(world.ssd, vec!["sd*".to_owned()]);
        assert_eq!(world.default_disk.unwrap().size_bytes, DEFAULT_DISK_BYTES);
        let kinds: Vec<(u64, &str)> = entries
            .iter()
            .map(|e| {
                let k = match &e.input {
                    Input::Start { .. } => "start",
                    Input::ColdplugDone => "coldplug",
                    Input::Uevent { .. } => "uevent",
                    _ => "other",
                };
                (e.at.as_micros(), k)
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (0, "start"),
                (0, "uevent"),
                (185, "uevent"),
                (186, "coldplug"),
                (3_796_384, "uevent"),
            ]
        );
        let (_, at_start) = capture_to_scenario(&c, None, &[], Coldplug::AtStart, 7);
        assert!(matches!(at_start[1].input, Input::ColdplugDone));
        assert_eq!(
            at_start
                .iter()
                .filter(|e| matches!(e.input, Input::ColdplugDone))
                .count(),
            1
        );
    }
}
