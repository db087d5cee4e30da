//! The fuzz targets' bodies: one function per parser, each taking untrusted bytes and
//! checking properties stronger than "does not panic" where the format allows one.
//!
//! Shared by two drivers so that both check the same things:
//! - `fuzz/fuzz_targets/*.rs`: libFuzzer through `cargo fuzz` (coverage-guided);
//! - `tests/harden_fuzz.rs`: a seeded-PRNG mutator on the stable toolchain, which also
//!   replays every corpus and regression file (`#[path]`-includes this file).
//!
//! A failed property panics with a message naming it: under libFuzzer that is a crash
//! with a saved reproducer; under the test it fails with the input in hex.

use nodeboot::wire::{btrfs, gpt, mbr, modalias, rtnetlink, signature, uevent};

/// A target's body.
pub type Check = fn(&[u8]);

/// Every target, by the name `cargo fuzz run` and `tools/fuzz.sh` use.
pub const TARGETS: &[(&str, Check)] = &[
    ("uevent", check_uevent),
    ("rtnetlink", check_rtnetlink),
    ("gpt", check_gpt),
    ("mbr", check_mbr),
    ("btrfs", check_btrfs),
    ("signature", check_signature),
    ("modalias", check_modalias),
    ("rules", check_rules),
    ("cmdline", check_cmdline),
    ("trace", check_trace),
    ("core", check_core),
];

fn hex(data: &[u8]) -> String {
    data.iter().take(256).map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------
// uevent

/// The typed view of a uevent (what the core decides on).
fn typed(ev: &uevent::Uevent) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        &ev.action,
        &ev.devpath,
        &ev.subsystem,
        &ev.devtype,
        &ev.devname,
        ev.seqnum,
    )
}

/// Kernel and libudev framings: no panic; encoding a parsed event and parsing it back
/// keeps every typed field, and a second round trip changes nothing at all; the JSON a
/// trace stores of it reads back equal (a recorded trace replays what was seen).
pub fn check_uevent(data: &[u8]) {
    let _ = uevent::parse_libudev(data);
    let parsed = uevent::parse(data);
    for first in [uevent::parse_kernel(data), parsed] {
        let Ok(p1) = first else { continue };
        let k2 = uevent::parse_kernel(&uevent::encode_kernel(&p1))
            .unwrap_or_else(|e| panic!("encode_kernel output does not parse ({e}): {p1:?}"));
        assert_eq!(
            typed(&p1),
            typed(&k2),
            "kernel round trip changed the event"
        );
        let k3 = uevent::parse_kernel(&uevent::encode_kernel(&k2)).expect("second round trip");
        assert_eq!(k2, k3, "kernel encoding is not stable after one round trip");

        let l2 = uevent::parse_libudev(&uevent::encode_libudev(&p1))
            .unwrap_or_else(|e| panic!("encode_libudev output does not parse ({e}): {p1:?}"));
        assert_eq!(
            typed(&p1),
            typed(&l2),
            "libudev round trip changed the event"
        );

        let json = serde_json::to_string(&p1).expect("uevent serialises");
        let back: uevent::Uevent = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("trace JSON of a uevent does not read back ({e}): {json}"));
        assert_eq!(p1, back, "trace JSON round trip changed the event: {json}");
    }
}

// ---------------------------------------------------------------------------------
// rtnetlink

/// One datagram: no panic; never more events than 16-byte headers fit.
pub fn check_rtnetlink(data: &[u8]) {
    if let Ok(events) = rtnetlink::parse_datagram(data) {
        assert!(
            events.len() <= data.len() / 16,
            "{} events from {} bytes",
            events.len(),
            data.len()
        );
    }
}

// ---------------------------------------------------------------------------------
// partition tables and superblocks

fn put_u32(buf: &mut [u8], off: usize, v: u32) {
    if let Some(s) = buf.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}
fn get_u32(buf: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(buf.get(off..off + 4)?.try_into().ok()?))
}
fn get_u64(buf: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(off..off + 8)?.try_into().ok()?))
}

/// Makes the GPT header at byte `at` (sector size `ss`) checksum-correct, entries
/// first, so that mutations reach the entry decoding behind the CRCs. `base` is the
/// disk offset of `buf[0]`.
fn fix_gpt_crcs(buf: &mut [u8], at: usize, ss: usize, base: u64) {
    if buf.get(at..at + 8) != Some(&gpt::SIGNATURE[..]) {
        return;
    }
    let (Some(lba), Some(n), Some(size)) = (
        get_u64(buf, at + 72),
        get_u32(buf, at + 80),
        get_u32(buf, at + 84),
    ) else {
        return;
    };
    let start = lba
        .checked_mul(ss as u64)
        .and_then(|a| a.checked_sub(base))
        .and_then(|o| usize::try_from(o).ok());
    let len = (n as usize).checked_mul(size as usize);
    if let (Some(start), Some(len)) = (start, len)
        && let Some(array) = start.checked_add(len).and_then(|end| buf.get(start..end))
    {
        let c = nodeboot::wire::crc::crc32(array);
        put_u32(buf, at + 88, c);
    }
    let hsize = get_u32(buf, at + 12).unwrap_or(0) as usize;
    if (92..=ss).contains(&hsize) && buf.len() >= at + hsize {
        put_u32(buf, at + 16, 0);
        let c = nodeboot::wire::crc::crc32(&buf[at..at + hsize]);
        put_u32(buf, at + 16, c);
    }
}

fn check_gpt_value(g: &gpt::Gpt, primary: bool) {
    assert!(gpt::SECTOR_SIZES.contains(&g.sector_size));
    if primary {
        assert_eq!(g.my_lba, 1, "primary GPT not at LBA 1");
    }
    let mut last = 0;
    for p in &g.partitions {
        assert!(p.number > last, "partition numbers not increasing");
        last = p.number;
    }
}

/// Primary and backup GPT, raw and with CRCs made valid.
pub fn check_gpt(data: &[u8]) {
    if let Ok(g) = gpt::parse(data) {
        check_gpt_value(&g, true);
    }
    // As a disk tail: sizes that make the buffer end at a sector boundary.
    for ss in gpt::SECTOR_SIZES {
        let size = (data.len() as u64).div_ceil(ss as u64).max(2) * ss as u64 + ss as u64;
        let _ = gpt::parse_backup(data, size);
    }
    let mut fixed = data.to_vec();
    for ss in gpt::SECTOR_SIZES {
        fix_gpt_crcs(&mut fixed, ss, ss, 0);
        if let Ok(g) = gpt::parse_with_sector_size(&fixed, ss) {
            check_gpt_value(&g, true);
            assert!(
                signature::probe(&fixed, &[], fixed.len() as u64)
                    .iter()
                    .any(|s| s.name == "gpt"),
                "a GPT that parses is not reported by the signature probe"
            );
        }
    }
    // The same bytes as the end of a disk: header in the last sector.
    for ss in gpt::SECTOR_SIZES {
        if data.len() < ss || !data.len().is_multiple_of(ss) {
            continue;
        }
        let mut tail = data.to_vec();
        let disk_size = (tail.len() as u64) * 4;
        let base = disk_size - tail.len() as u64;
        let at = tail.len() - ss;
        // Point the header at itself so the backup's my_lba check can pass.
        let my_lba = disk_size / ss as u64 - 1;
        if let Some(s) = tail.get_mut(at + 24..at + 32) {
            s.copy_from_slice(&my_lba.to_le_bytes());
        }
        fix_gpt_crcs(&mut tail, at, ss, base);
        if let Ok(g) = gpt::parse_backup_with_sector_size(&tail, disk_size, ss) {
            check_gpt_value(&g, false);
            assert!(
                signature::probe(&[], &tail, disk_size)
                    .iter()
                    .any(|s| s.name == "gpt"),
                "a backup GPT that parses is not reported by the signature probe"
            );
        }
    }
}

/// DOS table: at most four primary entries, each non-empty, numbered 1..=4.
/// `modules.alias` text (also read as `modules.builtin` and the built-ins' modinfo),
/// a NUL, then a modalias. Properties: every resolved name is a module name as kmod
/// writes it (non-empty, `_` not `-`); a pattern without wildcards names its module
/// for itself; a glob without special characters matches only itself.
pub fn check_modalias(data: &[u8]) {
    let (index, alias) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(index);
    let ix = modalias::ModIndex::parse(&text, &text, index);
    let alias = String::from_utf8_lossy(alias);
    for m in ix.resolve(&alias).modules {
        assert!(!m.is_empty() && !m.contains('-'), "resolved name {m:?}");
    }
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["alias", pattern, module] = words[..]
            && !pattern.contains(['*', '?', '[', ']', '\\'])
        {
            let r = ix.resolve(pattern);
            let name = modalias::underscores(module);
            assert!(
                r.modules.contains(&name),
                "literal {pattern} -> {name}: {r:?}"
            );
        }
    }
    let plain = !alias.contains(['*', '?', '[', '\\']);
    if plain && !alias.is_empty() {
        let a = alias.as_bytes();
        assert!(modalias::fnmatch(a, a), "a plain glob matches itself");
        let mut other = a.to_vec();
        other.push(b'x');
        assert!(
            !modalias::fnmatch(a, &other),
            "a plain glob matches only itself"
        );
    }
}

pub fn check_mbr(data: &[u8]) {
    if let Ok(m) = mbr::parse(data) {
        assert!(m.partitions.len() <= 4);
        for p in &m.partitions {
            assert!((1..=4).contains(&p.number) && p.kind != 0 && p.sectors != 0);
        }
        if !m.protective() && !m.partitions.is_empty() {
            let sigs = signature::probe(data, &[], data.len() as u64);
            assert!(
                sigs.iter().any(|s| s.offset == 0),
                "a DOS table with partitions is not reported at offset 0: {sigs:?}"
            );
        }
    }
}

/// The btrfs superblock at 64 KiB: raw, and with its crc32c made valid so mutations
/// reach the label. A superblock that parses is always seen by the probe; the label
/// the core compares is what the superblock holds up to its first NUL.
pub fn check_btrfs(data: &[u8]) {
    let _ = btrfs::parse_superblock(data);
    let mut head = vec![0u8; btrfs::SUPERBLOCK_OFFSET + btrfs::SUPERBLOCK_LEN];
    let n = data.len().min(btrfs::SUPERBLOCK_LEN);
    head[btrfs::SUPERBLOCK_OFFSET..btrfs::SUPERBLOCK_OFFSET + n].copy_from_slice(&data[..n]);
    let sb = btrfs::SUPERBLOCK_OFFSET;
    let c = nodeboot::wire::crc::crc32c(&head[sb + 0x20..sb + btrfs::SUPERBLOCK_LEN]);
    for with_crc in [false, true] {
        if with_crc {
            put_u32(&mut head, sb, c);
        }
        if let Ok(b) = btrfs::parse_superblock(&head) {
            assert!(btrfs::has_magic(&head));
            assert!(b.label.len() <= 256 * 3, "label longer than its field");
            assert!(!b.label.contains('\0'));
            let sigs = signature::probe(&head, &[], head.len() as u64);
            assert!(
                sigs.iter().any(|s| s.name == "btrfs"),
                "a btrfs superblock that parses is not reported by the probe: {sigs:?}"
            );
        }
    }
}

/// Offsets (from the start, or from the end when negative) where the formats the probe
/// knows keep their magic numbers: a patch lands near one of these.
const HOT_OFFSETS: &[i64] = &[
    0,
    3,
    0x36,
    0x52,
    440,
    446,
    510,
    512,
    1024,
    1024 + 0x38,
    4096,
    4096 - 10,
    8192 - 10,
    4096 + 24,
    0x4000,
    0x8000,
    0x8001,
    32768,
    0x1_0000,
    0x1_0000 + 52,
    0x1_0040,
    0x1_012B,
    0x2_0000,
    0x4_0000 + 0x2_0000,
    0x10_0000,
    0x40_0000,
    -512,
    -4096,
    -0x1_0000,
    -0x2_0000,
    -(0x4_0000 - 0x2_0000),
    -8192,
];

/// Builds a sparse disk from `data`: a size, then patches `[offset index][delta][len]
/// bytes…` near [`HOT_OFFSETS`]. Returns (head, tail, size).
pub fn sparse_disk(data: &[u8]) -> (Vec<u8>, Vec<u8>, u64) {
    let mut it = data.iter().copied();
    let size_sel = it.next().unwrap_or(0);
    // 1 MiB .. 64 GiB, sector-aligned, or an odd size to probe the boundary maths.
    let mut size = 1u64 << (20 + (size_sel % 17));
    if size_sel & 0x80 != 0 {
        size += u64::from(size_sel) * 512 + 7;
    }
    let tail_len = (signature::PROBE_TAIL as u64).min(size) as usize;
    let tail_start = size - tail_len as u64;
    let mut patches: Vec<(u64, Vec<u8>)> = Vec::new();
    while let (Some(idx), Some(delta), Some(len)) = (it.next(), it.next(), it.next()) {
        let base = HOT_OFFSETS[idx as usize % HOT_OFFSETS.len()];
        let abs = if base >= 0 {
            base as u64
        } else {
            size.saturating_sub(base.unsigned_abs())
        };
        let abs = abs.saturating_add(u64::from(delta & 0x3F));
        let bytes: Vec<u8> = it.by_ref().take(usize::from(len)).collect();
        patches.push((abs, bytes));
    }
    // The head is as long as the patches need (a real probe reads PROBE_HEAD; a
    // shorter head is what a small disk gives): zeroing and scanning 4 MiB per input
    // would slow this target down fifty-fold.
    let need = patches
        .iter()
        .map(|(o, b)| o.saturating_add(b.len() as u64))
        .filter(|&end| end <= signature::PROBE_HEAD as u64)
        .max()
        .unwrap_or(0);
    let head_len = need
        .max(0x1_1000)
        .min(signature::PROBE_HEAD as u64)
        .min(size) as usize;
    let mut head = vec![0u8; head_len];
    // An all-zero tail probes like no tail at all: only build it when a patch lands there.
    let in_tail = patches
        .iter()
        .any(|(o, b)| o.saturating_add(b.len() as u64) > tail_start);
    let mut tail = vec![0u8; if in_tail { tail_len } else { 0 }];
    for (abs, bytes) in patches {
        for (i, b) in bytes.into_iter().enumerate() {
            let off = abs.saturating_add(i as u64);
            if let Some(x) = usize::try_from(off).ok().and_then(|o| head.get_mut(o)) {
                *x = b;
            }
            if off >= tail_start
                && let Some(x) = tail.get_mut((off - tail_start) as usize)
            {
                *x = b;
            }
        }
    }
    (head, tail, size)
}

fn check_probe(head: &[u8], tail: &[u8], size: u64) {
    let sigs = signature::probe(head, tail, size);
    let nonzero = head.iter().chain(tail).any(|&b| b != 0);
    assert_eq!(
        sigs.is_empty(),
        !nonzero,
        "probe said {sigs:?} of a disk with non-zero data: {nonzero}"
    );
    if btrfs::parse_superblock(head).is_ok() {
        assert!(sigs.iter().any(|s| s.name == "btrfs"), "btrfs missed");
    }
    if gpt::parse(head).is_ok() {
        assert!(sigs.iter().any(|s| s.name == "gpt"), "gpt missed");
    }
    assert_eq!(
        sigs,
        signature::probe(head, tail, size),
        "not deterministic"
    );
}

/// The signature probe: never "empty" for a disk with any non-zero probed byte;
/// agrees with the btrfs and GPT parsers. The bytes are tried as a head, as a tail,
/// and as patches of a sparse disk.
pub fn check_signature(data: &[u8]) {
    check_probe(data, &[], data.len() as u64);
    check_probe(&[], data, data.len() as u64);
    check_probe(data, data, (data.len() as u64).saturating_mul(3));
    let (head, tail, size) = sparse_disk(data);
    check_probe(&head, &tail, size);
}

// ---------------------------------------------------------------------------------
// rules

const RULE_FILES: &[&str] = &[
    "cache.toml",
    "network.toml",
    "gate.toml",
    "boot.toml",
    "services.toml",
];

fn scratch_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let n = N.fetch_add(1, Ordering::Relaxed);
    base.join(format!("nb-fuzz-rules-{}-{n}", std::process::id()))
}

/// Writes `files` into a fresh directory, loads it, and removes it.
fn load_files(files: &[(&str, &[u8])]) -> (nodeboot::core::policy::Policy, usize) {
    let dir = scratch_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write rules file");
    }
    let (policy, errors) = nodeboot::rules::load_or_default(&dir);
    let strict = nodeboot::rules::load(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        strict.is_ok(),
        errors.is_empty(),
        "load and load_or_default disagree"
    );
    for e in &errors {
        assert!(e.line >= 1, "error without a line: {e}");
        assert!(!e.message.is_empty());
    }
    (policy, errors.len())
}

/// Splits `dump`'s output (`# ==> file <==` blocks) back into files.
fn split_dump(dump: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in dump.lines() {
        if let Some(name) = line
            .strip_prefix("# ==> ")
            .and_then(|l| l.strip_suffix(" <=="))
        {
            out.push((name.to_owned(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// Rules files: byte 0 picks the first file; NUL bytes move on to the next file. A
/// directory loads without panicking, every error has a line, and a policy that
/// loaded cleanly survives `check --dump` and reloading unchanged.
pub fn check_rules(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut files: Vec<(&str, &[u8])> = Vec::new();
    for (i, part) in rest.split(|&b| b == 0).enumerate().take(RULE_FILES.len()) {
        files.push((RULE_FILES[(first as usize + i) % RULE_FILES.len()], part));
    }
    let (policy, errors) = load_files(&files);
    if errors == 0 {
        let dump = nodeboot::rules::to_toml(&policy);
        let parts = split_dump(&dump);
        let files: Vec<(&str, &[u8])> = parts
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_bytes()))
            .collect();
        let (again, errors) = load_files(&files);
        assert_eq!(errors, 0, "the dump of a clean policy has errors:\n{dump}");
        assert_eq!(policy, again, "dump and reload changed the policy:\n{dump}");
    }
}

/// `nodeboot.key=value` words on the kernel command line.
pub fn check_cmdline(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut policy = nodeboot::core::policy::Policy::default();
    let errors = nodeboot::rules::cmdline::apply(&mut policy, &text);
    for e in &errors {
        assert!(!e.message.is_empty());
    }
    let _ = nodeboot::rules::cmdline::words(&text);
    let _ = nodeboot::rules::cmdline::rules_dir(&text);
}

// ---------------------------------------------------------------------------------
// traces

/// Trace files: the reader never panics, and entries it accepts replay (bounded)
/// without panicking the core.
pub fn check_trace(data: &[u8]) {
    trace_impl::check(data);
}

mod trace_impl {
    use nodeboot::core::policy::Policy;
    use nodeboot::trace::{TraceReader, TraceWriter, effective_policy, replay};

    /// Virtual time a fuzzed trace may run (a header may ask for years).
    const UNTIL_MS: u64 = 600_000;

    pub fn check(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        if nodeboot::trace::udevadm::looks_like_capture(&text) {
            let _ = nodeboot::trace::udevadm::parse_capture(&text);
        }
        let Ok(reader) = TraceReader::new(std::io::Cursor::new(data)) else {
            return;
        };
        let mut header = reader.header().clone();
        let entries: Vec<_> = reader.take(2000).collect();
        let good: Vec<_> = entries
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .cloned()
            .collect();

        // What the reader accepted, the writer writes back and the reader reads equal
        // (a recorded trace replays exactly what the live run saw).
        let mut w = TraceWriter::new(Vec::new(), &header).expect("header writes");
        for e in &good {
            w.record(e.at, &e.input).expect("entry writes");
        }
        let bytes = w.into_inner();
        let again = TraceReader::new(std::io::Cursor::new(&bytes))
            .unwrap_or_else(|e| panic!("written trace does not read back: {e}"));
        assert_eq!(again.header(), &header, "header changed in a round trip");
        let back: Vec<_> = again
            .map(|e| e.expect("written entry reads back"))
            .collect();
        assert_eq!(back, good, "entries changed in a round trip");

        // The core replays whatever the reader accepted without panicking.
        header.until_ms = Some(header.until_ms.unwrap_or(UNTIL_MS).min(UNTIL_MS));
        let Ok(policy) = effective_policy(Policy::default(), &header) else {
            return;
        };
        let _ = replay(&header, entries.into_iter(), policy, &mut |_| {});
    }
}

// ---------------------------------------------------------------------------------
// the core

/// The reactor driven by bytes: each byte (with the next ones as arguments) is one
/// input: a block uevent, coldplug done, a resync, a link, an answer to a pending
/// effect (success, failure, or a probe result built from the bytes), a child exit,
/// a signal, time passing. Besides "PID 1 never panics", the safety invariants:
/// - a partition table is only written on a disk whose latest probe showed nothing
///   at all (no signature, table, label, mount, holder; writable, fixed, readable);
/// - mkfs only on a partition whose latest probe showed no known signature and no
///   btrfs label, of a disk the core itself partitioned or found half-prepared;
/// - at most one partition-table write and one mkfs per run;
/// - never a write on a loop, md, dm, ram or zram device (loop not allowed here).
pub fn check_core(data: &[u8]) {
    core_impl::check(data);
}

mod core_impl {
    use nodeboot::core::Reactor;
    use nodeboot::core::action::{Action, ChildRole, Effect, EffectId};
    use nodeboot::core::driver::{self, Host};
    use nodeboot::core::event::Record;
    use nodeboot::core::input::{
        DiskProbe, EffectOutput, ExitStatus, Input, LinkState, Mode, OperState, PartitionEntry,
        SignalKind, Stream,
    };
    use nodeboot::core::policy::{Policy, ServiceSpec};
    use nodeboot::time::Instant;
    use nodeboot::wire::uevent::{Uevent, UeventAction};
    use std::collections::{BTreeMap, VecDeque};
    use std::time::Duration;

    const DISKS: &[&str] = &[
        "sda", "sdb", "nvme0n1", "vdz", "loop0", "md0", "dm-0", "zram0",
    ];
    const SIGS: &[&str] = &[
        "ext4",
        "btrfs",
        "unknown-data",
        "gpt",
        "dos",
        "LVM2_member",
        "swap",
    ];
    const LABEL: &str = "sp_zos-cache";

    struct Bytes<'a>(std::slice::Iter<'a, u8>);
    impl Bytes<'_> {
        fn next(&mut self) -> Option<u8> {
            self.0.next().copied()
        }
        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[self.next().unwrap_or(0) as usize % from.len()]
        }
        fn bit(&mut self) -> bool {
            self.next().unwrap_or(0) & 1 == 1
        }
    }

    fn uevent(action: UeventAction, disk: &str, part: Option<u32>) -> Uevent {
        let (name, devpath, devtype) = match part {
            None => (disk.to_owned(), format!("/devices/x/block/{disk}"), "disk"),
            Some(n) => {
                let p = nodeboot::world::effects::partition_name(disk, n);
                let dp = format!("/devices/x/block/{disk}/{p}");
                (p, dp, "partition")
            }
        };
        let mut env = BTreeMap::new();
        env.insert("DEVNAME".to_owned(), name.clone());
        if let Some(n) = part {
            env.insert("PARTN".to_owned(), n.to_string());
        }
        Uevent {
            action,
            devpath,
            subsystem: "block".into(),
            devtype: Some(devtype.into()),
            devname: Some(name),
            seqnum: None,
            env,
        }
    }

    fn probe(b: &mut Bytes) -> DiskProbe {
        let flags = b.next().unwrap_or(0);
        let mut p = DiskProbe {
            size_bytes: u64::from(b.next().unwrap_or(1)) << 30,
            rotational: flags & 1 != 0,
            // Mostly clean disks, so the core gets far enough to write.
            removable: flags & 0x0e == 0x02,
            read_only: flags & 0x0e == 0x04,
            usb: flags & 0x0e == 0x06,
            mounted: flags & 0x0e == 0x08,
            unreadable: flags & 0x0e == 0x0a,
            ..Default::default()
        };
        if flags & 0x0e == 0x0c {
            p.holders.push("dm-0".into());
        }
        if flags & 0x30 == 0x10 {
            p.signatures.push(b.pick(SIGS).to_owned());
        }
        if flags & 0x30 == 0x20 {
            p.btrfs_label = Some(if b.bit() {
                LABEL.into()
            } else {
                "other".into()
            });
            p.signatures.push("btrfs".into());
        }
        if flags & 0xc0 == 0x40 {
            // Named like ours or not, nodeboot's type GUID or the Linux default,
            // spanning the disk or not: only marker and layout together are ours.
            let ours = b.bit();
            let spans = b.bit();
            p.partition_table = Some("gpt".into());
            p.sector_size = 512;
            p.last_usable_lba = 2048 + (1 << 20) - 1 + if spans { 0 } else { 8 };
            p.partitions.push(PartitionEntry {
                number: 1,
                name: if b.bit() { LABEL.into() } else { "data".into() },
                start_lba: 2048,
                size_lba: 1 << 20,
                type_guid: if ours {
                    nodeboot::wire::gpt::TYPE_NODEBOOT_CACHE.into()
                } else {
                    nodeboot::wire::gpt::TYPE_LINUX_FS.into()
                },
            });
        }
        p
    }

    fn clean(p: &DiskProbe) -> bool {
        p.signatures.is_empty()
            && p.partition_table.is_none()
            && p.btrfs_label.is_none()
            && !p.mounted
            && p.holders.is_empty()
            && !p.read_only
            && !p.removable
            && !p.usb
            && !p.unreadable
    }

    /// Proven ours: exactly nodeboot's table (its type GUID, 1 MiB aligned, to the
    /// last usable LBA) and nothing else on the disk. A name proves nothing.
    fn is_ours_half_done(p: &DiskProbe) -> bool {
        p.partition_table.as_deref() == Some("gpt")
            && p.btrfs_label.is_none()
            && p.signatures.iter().all(|s| s == "gpt" || s == "PMBR")
            && matches!(p.partitions.as_slice(), [e] if nodeboot::wire::gpt::check_layout(
                e.number,
                &e.type_guid,
                e.start_lba,
                e.size_lba,
                p.sector_size,
                p.last_usable_lba,
            )
            .is_ok())
    }

    pub fn check(data: &[u8]) {
        let mut policy = Policy {
            modprobe: data.first().is_some_and(|b| b & 1 == 1),
            ..Default::default()
        };
        policy.gate.targets = vec!["192.0.2.1:80".into()];
        policy.services = vec![ServiceSpec {
            name: "svc".into(),
            argv: vec!["svc".into()],
            ..Default::default()
        }];
        let mut h = Fuzzed {
            r: Reactor::new(policy),
            now: Instant::ZERO,
            queue: VecDeque::new(),
            debug: std::env::var_os("NB_CORE_DEBUG").is_some(),
            pending: VecDeque::new(),
            spawned: Vec::new(),
            probes: BTreeMap::new(),
            latest_probe: BTreeMap::new(),
            tables: Vec::new(),
            mkfs: Vec::new(),
        };
        driver::feed(
            &mut h,
            Input::Start {
                wall_clock_unix: 1_700_000_000,
                mode: Mode::Live,
                argv: Vec::new(),
            },
        );
        let mut b = Bytes(data.iter());
        let mut steps = 0;
        while let Some(op) = b.next() {
            steps += 1;
            if steps > 4000 {
                break;
            }
            let input = match op % 14 {
                0 | 1 => {
                    let disk = b.pick(DISKS);
                    let part = (op & 0x80 != 0).then_some(1);
                    let action = match b.next().unwrap_or(0) % 4 {
                        0 | 1 => UeventAction::Add,
                        2 => UeventAction::Change,
                        _ => UeventAction::Remove,
                    };
                    Some(Input::Uevent {
                        uevent: uevent(action, disk, part),
                    })
                }
                2 => Some(Input::ColdplugDone),
                3 => {
                    let n = b.next().unwrap_or(0);
                    let devices = DISKS
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| n & (1 << (i % 8)) != 0)
                        .map(|(_, d)| uevent(UeventAction::Add, d, None))
                        .collect();
                    Some(Input::Resync { devices })
                }
                4 => Some(Input::Link {
                    link: LinkState {
                        index: u32::from(b.next().unwrap_or(0) % 4 + 1),
                        name: b.pick(&["lo", "eth0", "eth1", "veth0"]).into(),
                        flags: u32::from(b.next().unwrap_or(0))
                            | (u32::from(b.next().unwrap_or(0)) << 12),
                        kind: b.bit().then(|| "veth".into()),
                        mac: None,
                        operstate: b
                            .bit()
                            .then(|| OperState::from_kernel(b.next().unwrap_or(0) % 8)),
                    },
                }),
                5 => Some(Input::LinkRemoved {
                    index: u32::from(b.next().unwrap_or(0) % 4 + 1),
                    name: "eth0".into(),
                }),
                6 => Some(Input::Address {
                    index: u32::from(b.next().unwrap_or(0) % 4 + 1),
                    address: "10.0.0.2/24".into(),
                    added: b.bit(),
                }),
                7..=9 => {
                    // Answer a pending effect (mostly the oldest).
                    let i = if op % 14 == 9 {
                        b.next().unwrap_or(0) as usize
                    } else {
                        0
                    };
                    if h.pending.is_empty() {
                        None
                    } else {
                        let a = h.pending.remove(i % h.pending.len()).unwrap();
                        let fail = b.next().unwrap_or(0) % 5 == 0;
                        let result = if fail {
                            Err("EIO".into())
                        } else {
                            match &a.effect {
                                Effect::ProbeDisk { device } => {
                                    let p = probe(&mut b);
                                    // Only the answer to the latest probe of a device
                                    // counts (an older one, e.g. of a removed and
                                    // re-added device, is stale, and the core drops it).
                                    if h.latest_probe.get(device) == Some(&a.id) {
                                        h.probes.insert(device.clone(), p.clone());
                                    }
                                    Ok(EffectOutput::Disk { probe: p })
                                }
                                Effect::ListSubvolumes { .. } => Ok(EffectOutput::Subvolumes {
                                    names: vec!["logs/20230101T000000Z".into()],
                                }),
                                Effect::Spawn { .. } => {
                                    h.spawned.push(a.id);
                                    Ok(EffectOutput::Spawned {
                                        pid: 100 + a.id.0 as u32,
                                    })
                                }
                                _ => Ok(EffectOutput::Done),
                            }
                        };
                        Some(Input::EffectDone { id: a.id, result })
                    }
                }
                10 => {
                    if h.spawned.is_empty() {
                        None
                    } else {
                        let i = b.next().unwrap_or(0) as usize % h.spawned.len();
                        let id = h.spawned.remove(i);
                        let status = if b.bit() {
                            ExitStatus::Code(i32::from(b.next().unwrap_or(0)))
                        } else {
                            ExitStatus::Signal(9)
                        };
                        Some(Input::ChildExited { id, status })
                    }
                }
                11 => h.spawned.first().map(|id| Input::ChildOutput {
                    id: *id,
                    stream: Stream::Stderr,
                    line: "lease of 10.0.0.2 obtained".into(),
                }),
                12 => Some(Input::Signal {
                    signal: b.pick(&[
                        SignalKind::Status,
                        SignalKind::Status,
                        SignalKind::Stop,
                        SignalKind::Reboot,
                    ]),
                }),
                _ => {
                    let ms = u64::from(b.next().unwrap_or(0)) * 250;
                    // Time passes: the timers due fire, each at its own deadline.
                    h.now = h.now + Duration::from_millis(ms);
                    driver::advance(&mut h);
                    None
                }
            };
            if let Some(i) = input {
                if h.debug {
                    eprintln!("{:>8} ms  in  {i:?}", h.now.as_millis());
                }
                driver::feed(&mut h, i);
            }
        }
        assert!(
            h.tables.len() <= 1,
            "partition tables written: {:?}",
            h.tables
        );
        assert!(h.mkfs.len() <= 1, "mkfs run: {:?}", h.mkfs);
    }

    /// The fuzzed world: effects wait in `pending` for the bytes to answer them; every
    /// action is checked against the disk-safety rules as the core asks for it.
    struct Fuzzed {
        r: Reactor,
        now: Instant,
        /// Always empty: the bytes answer effects, as inputs of their own.
        queue: VecDeque<Input>,
        debug: bool,
        pending: VecDeque<Action>,
        spawned: Vec<EffectId>,
        probes: BTreeMap<String, DiskProbe>,
        latest_probe: BTreeMap<String, EffectId>,
        tables: Vec<String>,
        mkfs: Vec<String>,
    }

    impl Host for Fuzzed {
        type Core = Reactor;
        fn core(&mut self) -> &mut Reactor {
            &mut self.r
        }
        fn now(&self) -> Instant {
            self.now
        }
        fn set_now(&mut self, now: Instant) {
            self.now = now;
        }
        fn queue(&mut self) -> &mut VecDeque<Input> {
            &mut self.queue
        }
        fn on_input(&mut self, _: &Input) {}
        fn on_record(&mut self, rec: Record) {
            if self.debug {
                eprintln!("{:>8} ms  log {:?}", self.now.as_millis(), rec.event);
            }
        }
        fn on_action(&mut self, a: Action) {
            if self.debug {
                eprintln!("{:>8} ms  out {a:?}", self.now.as_millis());
            }
            match &a.effect {
                Effect::ProbeDisk { device } => {
                    self.latest_probe.insert(device.clone(), a.id);
                    // Until answered, what the core knows of it is not this probe.
                    self.probes.remove(device);
                }
                Effect::WritePartitionTable { disk, .. } => {
                    let p = self.probes.get(disk);
                    assert!(
                        p.is_some_and(clean),
                        "partition table written on {disk}, probe {p:?}"
                    );
                    assert!(
                        !["loop", "md", "dm-", "zram", "ram"]
                            .iter()
                            .any(|k| disk.starts_with(k)),
                        "wrote a table on {disk}"
                    );
                    self.tables.push(disk.clone());
                }
                Effect::Mkfs { device, force, .. } => {
                    // Without -f only on an empty partition; with -f on nothing but
                    // an unfinished mkfs (`unknown-data`).
                    let p = self.probes.get(device);
                    assert!(
                        p.is_some_and(|p| !p.unreadable
                            && p.btrfs_label.is_none()
                            && p.signatures.iter().all(|s| *force && s == "unknown-data")),
                        "mkfs (force {force}) on {device}, probe {p:?}"
                    );
                    let disk = DISKS
                        .iter()
                        .find(|d| nodeboot::world::effects::partition_name(d, 1) == *device);
                    let ours =
                        disk.is_some_and(|d| self.probes.get(*d).is_some_and(is_ours_half_done));
                    assert!(
                        ours || (!force
                            && disk.is_some_and(|d| self.tables.iter().any(|t| t == d))),
                        "mkfs (force {force}) on {device}, whose disk was neither \
                         partitioned here nor proven ours"
                    );
                    self.mkfs.push(device.clone());
                }
                Effect::Spawn {
                    role: ChildRole::Service { .. },
                    ..
                }
                | Effect::Spawn {
                    role: ChildRole::Dhcp { .. },
                    ..
                } => {}
                _ => {}
            }
            self.pending.push_back(a);
        }
    }
}

/// For test output.
pub fn describe(data: &[u8]) -> String {
    format!("{} bytes: {}", data.len(), hex(data))
}
