//! The log socket and the `--record` journal.

use crate::harness::*;

pub fn log_socket_serves_backlog_follows_and_checks_peer() {
    let dir = std::env::temp_dir().join(format!("nb-sock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("nodeboot.sock");
    let mut settings = quiet_settings();
    settings.socket = Some(sock.clone());
    let w = start(settings, None, Box::new(|_| Vec::new()));
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    // A forged uevent puts a world record on the stream.
    forge_uevent();
    w.wait_line("uevent.dropped", |l| l.contains("uevent.dropped"));
    let path = sock.to_str().unwrap().to_owned();
    let mut backlog = Vec::new();
    nodeboot::log::client::stream(&path, false, &mut |l| {
        backlog.push(l.to_owned());
        Ok(())
    })
    .unwrap();
    assert!(
        backlog.iter().any(|l| l.contains("uevent.dropped")),
        "{backlog:?}"
    );
    // A follower gets the backlog, then new lines.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let p2 = path.clone();
    std::thread::spawn(move || {
        let _ = nodeboot::log::client::stream(&p2, true, &mut |l| {
            tx.send(l.to_owned()).map_err(std::io::Error::other)
        });
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    let mut forged_again = false;
    while std::time::Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(l);
        }
        let drops = seen.iter().filter(|l| l.contains("uevent.dropped")).count();
        if drops >= 1 && !forged_again {
            forge_uevent();
            forged_again = true;
        }
        if drops >= 2 {
            break;
        }
    }
    assert!(
        seen.iter().filter(|l| l.contains("uevent.dropped")).count() >= 2,
        "{seen:?}"
    );
    // Another uid is refused (SO_PEERCRED), even with the file mode opened up.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_nodeboot"))
        .args(["logs", "--json", "--socket", &path])
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    w.wait_line("refusal", |l| l.contains("refused a client with uid 65534"));
    w.finish();
    assert!(!sock.exists(), "socket removed at the end");
    let _ = std::fs::remove_dir_all(&dir);
}

pub fn log_socket_status_request_asks_the_core() {
    use nodeboot::core::Reactor;
    use nodeboot::core::policy::Policy;
    let dir = std::env::temp_dir().join(format!("nb-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("nodeboot.sock");
    let mut settings = quiet_settings();
    settings.socket = Some(sock.clone());
    let w = start_with(settings, None, |_| Reactor::new(Policy::default()));
    w.wait_line("boot.start", |l| l.contains("boot.start"));
    let mut got = Vec::new();
    nodeboot::log::client::request(sock.to_str().unwrap(), "status", &mut |l| {
        got.push(l.to_owned());
        Ok(())
    })
    .unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("\"event\":\"status\""), "{got:?}");
    let mut bad = Vec::new();
    let err = nodeboot::log::client::request(sock.to_str().unwrap(), "bogus", &mut |l| {
        bad.push(l.to_owned());
        Ok(())
    });
    assert!(err.is_err() && bad.is_empty());
    w.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

pub fn record_journal_replays_to_the_same_log_stream() {
    use nodeboot::core::Reactor;
    use nodeboot::core::policy::Policy;
    let dir = std::env::temp_dir().join(format!("nb-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("run.trace");
    let disk = LoopDisk::scratch("rec", 64);
    // A local reachability target, so the gate's probes and timers are part of it.
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut policy = Policy::default();
    policy.gate.targets = vec![target.local_addr().unwrap().to_string()];
    let mut settings = quiet_settings();
    settings.record = Some(journal.clone());
    settings.policy = policy.clone();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let w = start_with(settings, None, move |_inputs| Reactor::new(policy));
    w.wait_line("gate.released", |l| l.contains("gate.released"));
    std::fs::write(format!("/sys/class/block/{}/uevent", disk.name), "change").unwrap();
    // Past the cache's quiet period: its timer fires during the run.
    w.wait_line("cache.settled", |l| l.contains("cache.settled"));
    w.finish_into(&lines);
    let live: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !is_world_only(l))
        .map(|l| strip_ts(l))
        .collect();
    assert!(live.first().unwrap().contains("boot.start"));
    assert!(live.iter().any(|l| l.contains("cache.settled")));
    // `nodeboot replay`'s path: the journal (its header carries the policy) through a
    // fresh core under a virtual clock, rendered by the same log stream.
    let stream = nodeboot::log::LogStream::new(0);
    let replay_lines = nodeboot::log::MemorySink::default();
    stream.add_sink(
        nodeboot::log::Format::Json,
        nodeboot::core::event::Level::Debug,
        Box::new(replay_lines.clone()),
    );
    let cfg = nodeboot::trace::ReplayConfig::new(&journal);
    nodeboot::trace::replay_file(&cfg, &mut |out| {
        if let nodeboot::trace::Output::Record(r) = out {
            stream.emit(r);
        }
    })
    .unwrap();
    let replayed: Vec<String> = replay_lines.lines().iter().map(|l| strip_ts(l)).collect();
    assert_eq!(live, replayed);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Records only the world writes (not the core): not part of a replay.
pub fn is_world_only(line: &str) -> bool {
    [
        "\"world.error\"",
        "\"uevent.dropped\"",
        "\"uevent.overflow\"",
        "\"effect.dry-run\"",
        "\"effect.refused\"",
    ]
    .iter()
    .any(|e| line.contains(e))
}

pub fn strip_ts(line: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    if let Some(m) = v.as_object_mut() {
        m.remove("ts");
    }
    v.to_string()
}

pub fn log_file_gets_the_backlog_then_follows() {
    let root = std::env::temp_dir().join(format!("nb-logfile-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let mut settings = quiet_settings_live();
    settings.confine.root = root.clone();
    // A record logged before the file exists (right after boot.start).
    settings.notes = vec![nodeboot::core::event::Event::WorldError {
        error: "nb early line".into(),
    }];
    let react: React = Box::new(|i| match i {
        Input::ColdplugDone => vec![Effect::ReopenLogs {
            dir: "/var/log".into(),
        }],
        _ => Vec::new(),
    });
    let w = start(settings, None, react);
    let done = w.wait_input("ReopenLogs answered", |i| {
        matches!(
            i,
            Input::EffectDone {
                id: EffectId(1),
                ..
            }
        )
    });
    assert!(
        matches!(done, Input::EffectDone { result: Ok(_), .. }),
        "{done:?}"
    );
    forge_uevent();
    w.wait_line("uevent.dropped", |l| l.contains("uevent.dropped"));
    w.finish();
    let text = std::fs::read_to_string(root.join("var/log/nodeboot.log")).unwrap();
    let early = text.find("nb early line").expect("the backlog was written");
    let late = text.find("uevent.dropped").expect("later lines follow");
    assert!(early < late, "{text}");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["ts"].is_string() && v["event"].is_string(), "{line}");
    }
    let _ = std::fs::remove_dir_all(&root);
}
