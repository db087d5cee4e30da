//! Confinement: allow-lists and dry runs.

use crate::harness::*;
use nodeboot::core::input::ErrorKind;

pub fn confined_run_never_touches_other_disks() {
    let disk = LoopDisk::scratch("conf", 64);
    let name = disk.name.clone();
    let before = std::fs::read(&disk.dev).map(|b| b.len()).unwrap_or(0);
    assert!(before > 0);
    let n = name.clone();
    let react: React = Box::new(move |i| match i {
        Input::ColdplugDone => vec![
            Effect::ProbeDisk {
                device: "vda".into(),
            },
            Effect::Mkfs {
                device: "vda".into(),
                label: "nb".into(),
                force: false,
            },
            Effect::Mkfs {
                device: n.clone(),
                label: "nb".into(),
                force: false,
            },
            Effect::SetLinkUp {
                index: 1,
                nic: "lo".into(),
            },
        ],
        _ => Vec::new(),
    });
    // `--disk 'loop*'` without --root: confined *and* a dry run.
    let mut settings = Settings::run(&options::RunOptions {
        quiet: true,
        disks: vec!["loop*".into()],
        ..Default::default()
    });
    settings.socket = None;
    let w = start(settings, None, react);
    let done = |id: u64| move |i: &Input| matches!(i, Input::EffectDone { id: EffectId(x), .. } if *x == id);
    for id in [1, 2] {
        let r = w.wait_input("vda refused", done(id));
        assert!(
            matches!(&r, Input::EffectDone { result: Err(e), .. } if e.kind == ErrorKind::Refused && e.message.starts_with("refused:") && e.message.contains("vda")),
            "{r:?}"
        );
    }
    let r = w.wait_input("loop mkfs dry run", done(3));
    assert!(
        matches!(r, Input::EffectDone { result: Ok(_), .. }),
        "{r:?}"
    );
    let r = w.wait_input("lo refused", done(4));
    assert!(
        matches!(r, Input::EffectDone { result: Err(_), .. }),
        "{r:?}"
    );
    let lines = w.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"effect.dry-run\"") && l.contains(&name))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"effect.refused\"") && l.contains("vda"))
    );
    // The dry run wrote nothing: the loop device is still all zeroes.
    let bytes = std::fs::read(&disk.dev).unwrap();
    assert!(bytes.iter().all(|b| *b == 0));
    w.finish();
}

pub fn unconfined_binary_run_is_a_dry_run() {
    let bin = env!("CARGO_BIN_EXE_nodeboot");
    let dir = std::env::temp_dir().join(format!("nb-dry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.jsonl");
    let mut child = Command::new(bin)
        .args(["run", "--json"])
        .stderr(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = records.first().unwrap();
    assert_eq!(first["event"], "boot.start");
    assert_eq!(first["mode"], "dry-run");
    // Nothing but read-only effects ran: every effect event is a dry run, and a
    // failure is never from an effect that writes.
    for r in &records {
        let ev = r["event"].as_str().unwrap_or_default();
        if ev == "effect.failed" {
            let e = r["effect"].as_str().unwrap_or_default();
            assert!(
                matches!(e, "probe_disk" | "list_subvolumes" | "connect"),
                "{r}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
