//! Replay throughput and peak memory on a synthetic 100,000-event coldplug.
//!
//! `cargo bench --bench replay` (add `-- N` for another event count). Prints events/s
//! for the whole replay path (trace file → JSON parse → core → simulated world →
//! log records) and peak RSS (`VmHWM`), measured before and after the replay. The
//! trace is streamed from a temporary file, as `nodeboot replay` does, so the peak
//! reflects the replay, not the generated text.

use nodeboot::core::input::{Input, Mode};
use nodeboot::time::Instant;
use nodeboot::trace::world::WorldSpec;
use nodeboot::trace::{
    Entry, Header, Output, ReplayConfig, TraceKind, TraceWriter, effective_policy, replay,
    replay_file,
};
use nodeboot::wire::uevent::{Uevent, UeventAction};
use std::collections::BTreeMap;
use std::io::BufWriter;

/// Distinct driver aliases in the synthetic machine (each is loaded once).
const MODALIASES: usize = 2_000;
/// Every this many events is a disk (with partitions following it).
const PARTITIONS_PER_DISK: usize = 7;
const DISK_EVERY: usize = 100;

fn disk_name(n: usize) -> String {
    // sda … sdz, sdaa … : the kernel's scheme, as a base-26 number.
    let mut s = String::new();
    let mut k = n + 1;
    while k > 0 {
        k -= 1;
        s.insert(0, char::from(b'a' + (k % 26) as u8));
        k /= 26;
    }
    format!("sd{s}")
}

fn uevent(
    devpath: String,
    subsystem: &str,
    devtype: Option<&str>,
    devname: Option<String>,
    seq: u64,
    extra: &[(&str, String)],
) -> Uevent {
    let mut env = BTreeMap::new();
    env.insert("ACTION".to_owned(), "add".to_owned());
    env.insert("DEVPATH".to_owned(), devpath.clone());
    env.insert("SUBSYSTEM".to_owned(), subsystem.to_owned());
    env.insert("SEQNUM".to_owned(), seq.to_string());
    if let Some(t) = devtype {
        env.insert("DEVTYPE".to_owned(), t.to_owned());
    }
    if let Some(n) = &devname {
        env.insert("DEVNAME".to_owned(), n.clone());
    }
    for (k, v) in extra {
        env.insert((*k).to_owned(), v.clone());
    }
    Uevent {
        action: UeventAction::Add,
        devpath,
        subsystem: subsystem.to_owned(),
        devtype: devtype.map(str::to_owned),
        devname,
        seqnum: Some(seq),
        env,
    }
}

/// The `i`-th event of the synthetic coldplug: mostly PCI/USB/input/platform devices
/// announcing a driver alias, every 100th a disk followed by its partitions.
fn synthetic(i: usize) -> Uevent {
    let seq = i as u64 + 1;
    let block = i % DISK_EVERY;
    if block <= PARTITIONS_PER_DISK {
        let disk = disk_name(i / DISK_EVERY);
        let base = format!(
            "/devices/pci0000:00/0000:00:1f.2/ata{}/host0/target0:0:0/0:0:0:0/block/{disk}",
            i / DISK_EVERY
        );
        if block == 0 {
            return uevent(
                base,
                "block",
                Some("disk"),
                Some(disk),
                seq,
                &[("MAJOR", "8".into())],
            );
        }
        let part = format!("{disk}{block}");
        return uevent(
            format!("{base}/{part}"),
            "block",
            Some("partition"),
            Some(part),
            seq,
            &[("PARTN", block.to_string())],
        );
    }
    let alias = i % MODALIASES;
    let (subsystem, modalias) = match i % 4 {
        0 => (
            "pci",
            format!("pci:v00008086d0000{alias:04X}sv00001AF4sd00001100bc06sc00i00"),
        ),
        1 => (
            "usb",
            format!("usb:v1D6Bp{alias:04X}d0515dc09dsc00dp03ic09isc00ip00in00"),
        ),
        2 => (
            "input",
            format!("input:b0019v0000p{alias:04X}e0000-e0,1,k74,ramlsfw"),
        ),
        _ => ("platform", format!("platform:device{alias}")),
    };
    uevent(
        format!("/devices/{subsystem}0000:00/dev{i}"),
        subsystem,
        None,
        None,
        seq,
        &[("MODALIAS", modalias), ("DRIVER", String::new())],
    )
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let path = std::env::temp_dir().join(format!("nb-bench-replay-{}.trace", std::process::id()));

    // A scenario: the simulated world answers probes (blank rotary disks) and
    // modprobes, as the live world would.
    let mut header = Header::new(TraceKind::Scenario, 1_795_000_000);
    header.world = Some(WorldSpec {
        default_disk: Some(nodeboot::core::input::DiskProbe {
            size_bytes: 8 << 30,
            rotational: true,
            ..Default::default()
        }),
        latency_ms: Some(1),
        ..WorldSpec::default()
    });
    header.until_ms = Some(60_000);
    {
        let file = std::fs::File::create(&path).unwrap();
        let mut w = TraceWriter::new(BufWriter::new(file), &header).unwrap();
        w.record(
            Instant::ZERO,
            &Input::Start {
                wall_clock_unix: 1_795_000_000,
                mode: Mode::Replay,
                argv: Vec::new(),
            },
        )
        .unwrap();
        for i in 0..events {
            // 10 µs apart: a one-second coldplug burst.
            let at = Instant::from_micros(1_000 + i as u64 * 10);
            w.record(
                at,
                &Input::Uevent {
                    uevent: synthetic(i),
                },
            )
            .unwrap();
        }
        let end = Instant::from_micros(1_000 + events as u64 * 10 + 1);
        w.record(end, &Input::ColdplugDone).unwrap();
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let hwm_before = vm_hwm_kib();

    let mut records = 0u64;
    let mut actions = 0u64;
    let t0 = std::time::Instant::now();
    let summary = replay_file(&ReplayConfig::new(&path), &mut |o| match o {
        Output::Record(_) => records += 1,
        Output::Action(..) => actions += 1,
        Output::Input(..) => {}
    })
    .unwrap();
    let elapsed = t0.elapsed();
    let hwm_after = vm_hwm_kib();
    let _ = std::fs::remove_file(&path);

    let secs = elapsed.as_secs_f64();
    let wire = wire_path(&header, events);

    println!(
        "replay of a synthetic coldplug: {events} uevents ({} MiB trace), {} inputs in all (with simulated answers)",
        size >> 20,
        summary.inputs
    );
    println!(
        "  {records} log records, {actions} effects, {} timer firings, virtual end {}",
        summary.timeouts, summary.end
    );
    println!(
        "  wall time {:.3} s → {:.0} uevents/s, {:.0} inputs/s",
        secs,
        events as f64 / secs,
        summary.inputs as f64 / secs
    );
    println!(
        "  peak RSS (VmHWM): {} KiB before replay, {} KiB after",
        hwm_before, hwm_after
    );
    println!(
        "kernel datagrams → wire::uevent::parse_kernel → core (+ simulated answers), no JSON:"
    );
    println!(
        "  parse_kernel alone: {:.3} s → {:.0} uevents/s; parse + core: {:.3} s → {:.0} uevents/s",
        wire.parse,
        events as f64 / wire.parse,
        wire.total,
        events as f64 / wire.total
    );
    println!(
        "  {} records; peak RSS after: {} KiB (the datagrams are held in memory)",
        wire.records,
        vm_hwm_kib()
    );
}

struct WireRun {
    /// parse_kernel alone over every datagram.
    parse: f64,
    /// parse_kernel + core + simulated answers.
    total: f64,
    records: u64,
}

/// The live path's share: each event as the kernel sends it (`encode_kernel`, made
/// beforehand), parsed by `parse_kernel`, handed to the core, effects answered by the
/// simulator. Runs after the file replay, so its datagrams do not count in that peak.
fn wire_path(header: &Header, events: usize) -> WireRun {
    use nodeboot::wire::uevent::{encode_kernel, parse_kernel};
    let datagrams: Vec<Vec<u8>> = (0..events).map(|i| encode_kernel(&synthetic(i))).collect();

    let t0 = std::time::Instant::now();
    let parsed = datagrams.iter().filter(|d| parse_kernel(d).is_ok()).count();
    let parse = t0.elapsed().as_secs_f64();
    assert_eq!(parsed, events);

    let policy = effective_policy(Default::default(), header).unwrap();
    let start = Entry {
        at: Instant::ZERO,
        input: Input::Start {
            wall_clock_unix: 1_795_000_000,
            mode: Mode::Replay,
            argv: Vec::new(),
        },
    };
    let uevents = datagrams.iter().enumerate().map(|(i, datagram)| {
        let uevent = parse_kernel(datagram).expect("datagram parses");
        Entry {
            at: Instant::from_micros(1_000 + i as u64 * 10),
            input: Input::Uevent { uevent },
        }
    });
    let done = Entry {
        at: Instant::from_micros(1_000 + events as u64 * 10 + 1),
        input: Input::ColdplugDone,
    };
    let entries = std::iter::once(start)
        .chain(uevents)
        .chain(std::iter::once(done))
        .map(Ok);
    let mut records = 0u64;
    let t0 = std::time::Instant::now();
    replay(header, entries, policy, &mut |o| {
        if let Output::Record(_) = o {
            records += 1;
        }
    })
    .unwrap();
    WireRun {
        parse,
        total: t0.elapsed().as_secs_f64(),
        records,
    }
}
