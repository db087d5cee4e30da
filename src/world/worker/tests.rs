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
        let dir = std::env::temp_dir().join(format!("nodeboot-worker-{}", std::process::id()));
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

fn probe(id: u64, device: &str) -> (EffectId, Effect) {
    (
        EffectId(id),
        Effect::ProbeDisk {
            device: device.into(),
        },
    )
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
    let (id, e) = probe(1, "hang0");
    w.submit(id, e).unwrap();
    let (id, e) = probe(2, "ok0");
    w.submit(id, e).unwrap();
    assert!(!wait_for(&mut w, 2, None).contains(&EffectId(1)));
    // A second probe of hang0 waits in hang0's lane…
    let (id, e) = probe(3, "hang0");
    w.submit(id, e).unwrap();
    assert_eq!(w.queued.get("disk:hang0").map(VecDeque::len), Some(1));
    // …until the core abandons the first: its thread is counted stuck, the lane
    // moves on (to another thread).
    assert_eq!(w.cancel(EffectId(1)), Some(("probe_disk".into(), 1)));
    assert_eq!(w.cancel(EffectId(1)), None, "abandoned once");
    assert!(w.queued.is_empty());
    // Fill the pool with hung probes of other disks: the one past the limit fails
    // at once, with an error that says why.
    let mut next = 10;
    let refused = (1..=MAX_THREADS).find_map(|i| {
        next += 1;
        let (id, e) = probe(next, &format!("hang{i}"));
        w.submit(id, e).err()
    });
    let error = refused.expect("the pool is bounded");
    assert!(error.contains("no worker thread free"), "{error}");
    assert!(error.contains("1 abandoned"), "{error}");
    assert_eq!(w.threads.len(), MAX_THREADS);
    assert_eq!(w.stuck(), 1);
    // The hung opens end: every thread comes back, the abandoned one's result is
    // dropped, the others answered.
    let answered = wait_for(&mut w, 3, Some(&fake));
    assert!(!answered.contains(&EffectId(1)));
}
