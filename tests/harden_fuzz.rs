//! Fuzzing on the stable toolchain: the bodies of the cargo-fuzz targets
//! (`fuzz/src/lib.rs`) driven by a seeded mutator over the seed corpus, plus a replay
//! of every corpus and regression file. Runs in plain `cargo test` for a small number
//! of rounds; `HARDEN_FUZZ_SECS=N` runs each target for N seconds instead
//! (`tools/fuzz.sh` uses it where cargo-fuzz cannot run), `HARDEN_FUZZ_SEED` picks the
//! seed, `HARDEN_FUZZ_ONLY=name` one target.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Files under `dir` (recursively), sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The seed inputs of a target: the repository's real fixtures plus
/// `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/`. Mirrors `tools/fuzz.sh`.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let r = repo();
    let wire = r.join("crates/wire/src/testdata");
    let with_prefix = |prefix: &str| -> Vec<PathBuf> {
        files_under(&wire)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect()
    };
    let mut paths: Vec<PathBuf> = match target {
        "uevent" => with_prefix("ue_"),
        "rtnetlink" => with_prefix("rt_"),
        "gpt" | "mbr" | "signature" => {
            let mut v = with_prefix("gpt");
            v.extend(with_prefix("mbr"));
            v.extend(with_prefix("lvm2"));
            v.extend(with_prefix("btrfs"));
            v
        }
        "btrfs" => with_prefix("btrfs"),
        "rules" => {
            let mut v = files_under(&r.join("rules"));
            v.extend(files_under(&r.join("tests/rules")));
            v.retain(|p| p.extension().is_some_and(|e| e == "toml"));
            v
        }
        "trace" => files_under(&r.join("tests/scenarios")),
        _ => Vec::new(),
    };
    paths.extend(files_under(&r.join("fuzz/seeds").join(target)));
    paths.extend(files_under(&r.join("fuzz/regressions").join(target)));
    let mut out: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    if target == "rules" {
        // Byte 0 picks the file a seed lands in (fuzz/src/lib.rs, check_rules).
        out = out
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let mut v = vec![i as u8];
                v.extend(t);
                v
            })
            .collect();
    }
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

/// xorshift64*: deterministic, no crates.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u64] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    u64::MAX,
    16,
    92,
    128,
    512,
    4096,
];

/// One random edit of `buf`, libFuzzer-style, with `pool` for splicing.
fn mutate(rng: &mut Rng, buf: &mut Vec<u8>, pool: &[Vec<u8>]) {
    let len = buf.len();
    match rng.below(10) {
        0 if len > 0 => {
            let i = rng.below(len);
            buf[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            buf[i] = rng.next() as u8;
        }
        2 if len > 0 => {
            // An interesting integer of a random width at a random place.
            let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
            let w = [1usize, 2, 4, 8][rng.below(4)];
            let i = rng.below(len);
            for (k, b) in v.iter().take(w).enumerate() {
                if let Some(x) = buf.get_mut(i + k) {
                    *x = *b;
                }
            }
        }
        3 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            buf.drain(i..i + n);
        }
        4 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(32);
            let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            buf.splice(i..i, fill);
        }
        5 if len > 0 => {
            // Duplicate a chunk (repeated fields, many messages in one datagram).
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(256));
            let chunk = buf[i..i + n].to_vec();
            let at = rng.below(len + 1);
            buf.splice(at..at, chunk);
        }
        6 if !pool.is_empty() => {
            let other = &pool[rng.below(pool.len())];
            if !other.is_empty() {
                let i = rng.below(other.len());
                let n = 1 + rng.below((other.len() - i).min(512));
                let at = rng.below(len + 1);
                buf.splice(at..at, other[i..i + n].iter().copied());
            }
        }
        7 if len > 0 => {
            buf.truncate(rng.below(len));
        }
        8 if len > 0 => {
            // Structure-preserving for text formats: replace one byte by a delimiter.
            const DELIMS: &[u8] = b"\0=@/\n\"[]{}:,.#'\\ -";
            let i = rng.below(len);
            buf[i] = DELIMS[rng.below(DELIMS.len())];
        }
        _ => {
            let n = rng.below(16);
            buf.extend((0..n).map(|_| rng.next() as u8));
        }
    }
}

fn run_one(name: &str, f: fn(&[u8]), input: &[u8]) {
    let r = std::panic::catch_unwind(|| f(input));
    if let Err(e) = r {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let dir = std::env::temp_dir().join("nb-harden-fuzz-crashes");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{name}-{:016x}", fxhash(input)));
        let _ = std::fs::write(&path, input);
        panic!(
            "fuzz target {name} failed: {msg}\ninput saved to {} ({})",
            path.display(),
            checks::describe(input)
        );
    }
}

fn fxhash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Mutates the seeds for `budget` (rounds or seconds); keeps inputs whose outcome
/// class (parse ok / error) is new as further seeds, a poor man's coverage signal.
fn fuzz(name: &str, f: fn(&[u8]), rounds: u64, time: Option<Duration>, seed: u64) -> u64 {
    let mut pool = seeds(name);
    for s in &pool {
        run_one(name, f, s);
    }
    let mut rng = Rng(seed ^ fxhash(name.as_bytes()) | 1);
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        match time {
            Some(t) if start.elapsed() >= t => break,
            None if n >= rounds => break,
            _ => {}
        }
        let mut input = pool[rng.below(pool.len())].clone();
        for _ in 0..1 + rng.below(6) {
            mutate(&mut rng, &mut input, &pool);
        }
        if input.len() > (8 << 20) {
            input.truncate(8 << 20);
        }
        run_one(name, f, &input);
        // Keep a few mutants so edits compound (bounded pool).
        if rng.below(16) == 0 {
            if pool.len() < 512 {
                pool.push(input);
            } else {
                let i = rng.below(pool.len());
                pool[i] = input;
            }
        }
        n += 1;
    }
    n
}

fn settings() -> (u64, Option<Duration>, u64, Option<String>) {
    let secs = std::env::var("HARDEN_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let seed = std::env::var("HARDEN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x005e_ed0f_b007);
    let only = std::env::var("HARDEN_FUZZ_ONLY").ok();
    (3000, secs.map(Duration::from_secs), seed, only)
}

#[test]
fn every_target_survives_mutated_seeds() {
    let (rounds, time, seed, only) = settings();
    for (name, f) in checks::TARGETS {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        // The rules target writes a directory per input: fewer rounds.
        let rounds = if *name == "rules" {
            rounds / 10
        } else {
            rounds
        };
        let t0 = Instant::now();
        let n = fuzz(name, *f, rounds, time, seed);
        eprintln!(
            "harden_fuzz: {name}: {n} inputs in {:.1}s (seed {seed})",
            t0.elapsed().as_secs_f64()
        );
        assert!(n > 0, "{name}: no input was tried");
    }
}

#[test]
fn seed_corpora_exist_for_the_byte_parsers() {
    // A target fuzzed from an empty seed set barely gets past the first byte: make
    // sure the fixtures the seeds come from are still where this file looks.
    for name in ["uevent", "rtnetlink", "gpt", "btrfs", "signature", "rules"] {
        let s = seeds(name);
        assert!(
            s.iter().any(|x| x.len() > 1),
            "{name}: no seed files found (fixtures moved?)"
        );
    }
}

/// `NB_FUZZ_REPLAY=target:file cargo test --test harden_fuzz replay_one -- --nocapture`
/// runs one saved input (with `NB_CORE_DEBUG=1`, the core target prints its run).
#[test]
fn replay_one() {
    let Ok(spec) = std::env::var("NB_FUZZ_REPLAY") else {
        return;
    };
    let (name, file) = spec.split_once(':').expect("target:file");
    let data = std::fs::read(file).unwrap();
    let (_, f) = checks::TARGETS.iter().find(|(n, _)| *n == name).unwrap();
    f(&data);
}
