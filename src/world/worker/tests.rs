//! The worker pool against real blocking syscalls (FIFOs nobody writes).

use super::*;

#[test]
fn partitions_share_their_disks_lane() {
    assert_eq!(disk_of("sda1"), "sda");
    assert_eq!(disk_of("sda"), "sda");
    assert_eq!(disk_of("nvme0n1p2"), "nvme0n1");
    assert_eq!(disk_of("nvme0n1"), "nvme0n1");
    assert_eq!(disk_of("loop3p1"), "loop3");
    assert_eq!(disk_of("loop3"), "loop3");
    assert_eq!(disk_of("md0"), "md0");
    let probe = |d: &str| Effect::ProbeDisk { device: d.into() };
    assert_eq!(lane_of(&probe("sdb1")), lane_of(&probe("sdb")));
    assert_ne!(lane_of(&probe("sdb")), lane_of(&probe("sdc")));
}

/// A fake `/dev` and `/sys`: `hangN` are FIFOs nobody writes (opening one to
/// probe it blocks in the kernel for real), `ok0` a readable 1 MiB file.
struct Fake {
    dir: std::path::PathBuf,
    confine: Confinement,
}

impl Fake {
    fn new(hung: usize) -> Fake {
        // One directory per fake: the tests of this module run side by side.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nodeboot-worker-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut names: Vec<String> = (0..hung).map(|i| format!("hang{i}")).collect();
        names.push("ok0".into());
        for name in &names {
            let sys = dir.join("sys/class/block").join(name);
            std::fs::create_dir_all(&sys).unwrap();
            std::fs::write(sys.join("size"), "2048\n").unwrap();
        }
        std::fs::create_dir_all(dir.join("dev")).unwrap();
        for name in names.iter().filter(|n| n.starts_with("hang")) {
            nix::unistd::mkfifo(&dir.join("dev").join(name), nix::sys::stat::Mode::S_IRWXU)
                .unwrap();
        }
        std::fs::write(dir.join("dev/ok0"), vec![0u8; 1 << 20]).unwrap();
        let confine = Confinement {
            root: dir.join("root"),
            disks: Some(vec!["hang*".into(), "ok*".into()]),
            nics: Some(Vec::new()),
            dry_run: false,
            dev_dir: dir.join("dev"),
            sys_dir: dir.join("sys"),
        };
        Fake { dir, confine }
    }

    /// Let every blocked open through (a writer that closes at once: EOF).
    fn unblock(&self) {
        use std::os::unix::fs::OpenOptionsExt;
        for entry in std::fs::read_dir(self.dir.join("dev")).unwrap() {
            let path = entry.unwrap().path();
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path);
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.unblock();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A probe of `device`, through the gate as the loop sends it.
fn probe(fake: &Fake, id: u64, device: &str) -> (EffectId, Admitted) {
    let effect = Effect::ProbeDisk {
        device: device.into(),
    };
    match super::super::effects::admit(effect, &fake.confine, false) {
        Ok(super::super::effects::Pass::Run(admitted)) => (EffectId(id), admitted),
        other => panic!("{device} not admitted: {other:?}"),
    }
}

#[test]
fn only_admitted_effects_reach_a_thread_and_a_refused_one_is_refused_at_the_gate() {
    // `submit` takes an `Admitted`, which only the gate makes: an effect on a disk
    // off the allow-list is stopped there, before any lane or thread sees it.
    let fake = Fake::new(0);
    let vda = Effect::ProbeDisk {
        device: "vda".into(),
    };
    let error = super::super::effects::admit(vda, &fake.confine, false).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Refused, "{error}");
    assert_eq!(error.message, "refused: vda is not on the disk allow-list");
    let (id, ok) = probe(&fake, 1, "ok0");
    assert_eq!(lane_of(ok.effect()), "disk:ok0");
    let poll = mio::Poll::new().unwrap();
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
    let mut w = Worker::start(fake.confine.clone(), waker).unwrap();
    w.submit(id, ok).unwrap();
    let answered = wait_for(&mut w, 1, None);
    assert_eq!(answered, vec![EffectId(1)]);
}

/// Results until `id` answers (or 10 s pass: a generous bound, not a timing
/// claim), letting the hung opens through first when `unblock`.
fn wait_for(w: &mut Worker, id: u64, unblock: Option<&Fake>) -> Vec<EffectId> {
    let mut seen = Vec::new();
    for _ in 0..1000 {
        if let Some(fake) = unblock {
            fake.unblock();
        }
        seen.extend(w.results().into_iter().map(|(i, _)| i));
        if seen.contains(&EffectId(id)) {
            return seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("effect {id} never answered; got {seen:?}");
}

#[test]
fn a_hung_probe_holds_no_other_disk_and_an_exhausted_pool_fails_fast() {
    let fake = Fake::new(MAX_THREADS + 1);
    let poll = mio::Poll::new().unwrap();
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
    let mut w = Worker::start(fake.confine.clone(), waker).unwrap();
    // hang0's probe blocks in open(2); ok0's is answered meanwhile.
    let (id, e) = probe(&fake, 1, "hang0");
    w.submit(id, e).unwrap();
    let (id, e) = probe(&fake, 2, "ok0");
    w.submit(id, e).unwrap();
    assert!(!wait_for(&mut w, 2, None).contains(&EffectId(1)));
    // A second probe of hang0 waits in hang0's lane…
    let (id, e) = probe(&fake, 3, "hang0");
    w.submit(id, e).unwrap();
    assert_eq!(w.queued.get("disk:hang0").map(VecDeque::len), Some(1));
    // …until the core abandons the first: its thread is counted stuck, the lane
    // moves on (to another thread).
    assert_eq!(w.cancel(EffectId(1)), Some(("probe_disk".into(), 1)));
    assert_eq!(w.cancel(EffectId(1)), None, "abandoned once");
    assert!(w.queued.is_empty());
    // Fill the pool with hung probes of other disks (#3 runs on the eighth thread's
    // neighbour): past the last thread, a probe waits for one instead of failing.
    let hung: Vec<u64> = (1..=6).map(|i| 10 + i).collect();
    for (i, id) in hung.iter().enumerate() {
        let (id, e) = probe(&fake, *id, &format!("hang{}", i + 1));
        w.submit(id, e).unwrap();
    }
    assert_eq!(w.threads.len(), MAX_THREADS);
    let (id, e) = probe(&fake, 20, "hang7");
    w.submit(id, e).expect("a busy pool queues");
    assert_eq!(w.waiting.len(), 1);
    // The core abandons every running probe: all eight threads are stuck, and only
    // now does a new effect fail at once, with an error that says why.
    for id in std::iter::once(3).chain(hung.iter().copied()) {
        assert!(w.cancel(EffectId(id)).is_some(), "#{id} was running");
    }
    assert_eq!(w.stuck(), MAX_THREADS);
    let (id, e) = probe(&fake, 21, "ok0");
    let error = w.submit(id, e).expect_err("every thread is stuck");
    assert!(error.message.contains("no worker thread free"), "{error}");
    assert_eq!(error.kind, ErrorKind::Busy);
    // The hung opens end: the threads come back, the waiting probe runs and is
    // answered; the abandoned ones' results are dropped.
    let answered = wait_for(&mut w, 20, Some(&fake));
    for id in [1, 3, 11, 16] {
        assert!(!answered.contains(&EffectId(id)), "#{id} was abandoned");
    }
}

#[test]
fn a_busy_pool_runs_a_waiting_effect_when_a_thread_comes_back() {
    let fake = Fake::new(MAX_THREADS);
    let poll = mio::Poll::new().unwrap();
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
    let mut w = Worker::start(fake.confine.clone(), waker).unwrap();
    for i in 0..MAX_THREADS {
        let (id, e) = probe(&fake, i as u64 + 1, &format!("hang{i}"));
        w.submit(id, e).unwrap();
    }
    // Every thread is busy (none abandoned): ok0's probe waits, it is not refused.
    let (id, e) = probe(&fake, 100, "ok0");
    w.submit(id, e).expect("a busy pool queues");
    assert_eq!((w.waiting.len(), w.stuck()), (1, 0));
    // A waiting effect the core gives up on leaves the queue; nothing is abandoned.
    assert_eq!(w.cancel(EffectId(100)), None);
    assert!(w.waiting.is_empty() && !w.busy.contains("disk:ok0"));
    let (id, e) = probe(&fake, 101, "ok0");
    w.submit(id, e).unwrap();
    // The hung opens end: the threads come back and the waiting probe is answered.
    let answered = wait_for(&mut w, 101, Some(&fake));
    assert!(!answered.contains(&EffectId(100)));
}
