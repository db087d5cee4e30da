//! Process-level faults under the real binary (root for the live ones): stdout and
//! stderr closed, no console at all, an invalid rules file, a full log filesystem
//! and a full journal filesystem, mkfs.btrfs failing on a real disk, a service and a
//! DHCP client crash-looping. Each: logged, survived (the process keeps answering and
//! exits 0 on SIGTERM), nothing formatted twice, no zombie left behind.

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::node::{Node, base_args, binary};
use support::{Loop, TempDir, images, require_root, sha256_file};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `nodeboot <args>` with stdin, stdout and stderr closed (`<&- >&- 2>&-`).
fn closed_stdio(args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(r#"exec "$0" "$@" <&- >&- 2>&-"#)
        .arg(binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn replay_with_stdout_and_stderr_closed_exits_0() {
    let mut traces: Vec<_> = std::fs::read_dir(repo().join("tests/scenarios"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace"))
        .collect();
    traces.sort();
    let trace = traces.first().expect("a scenario").clone();
    assert_eq!(
        Command::new(binary())
            .arg("replay")
            .arg(&trace)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .code(),
        Some(0),
        "the control run (stdio open) fails"
    );
    for extra in [&[][..], &["--json"][..], &["--human"][..]] {
        let mut args = vec!["replay", trace.to_str().unwrap()];
        args.extend(extra);
        let st = closed_stdio(&args).status().unwrap();
        assert_eq!(
            st.code(),
            Some(0),
            "replay {extra:?} with closed stdio: {st}"
        );
    }
    // And `check`, which prints a summary.
    let st = closed_stdio(&["check", repo().join("rules").to_str().unwrap()])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0), "check with closed stdio: {st}");
}

fn rules_dir(scratch: &TempDir, files: &[(&str, &str)]) -> String {
    let dir = scratch.join("rules");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir.display().to_string()
}

#[test]
fn an_invalid_rules_file_is_reported_by_check_and_survived_by_run() {
    let scratch = TempDir::new("bad-rules");
    let dir = rules_dir(
        &scratch,
        &[
            ("cache.toml", "settle_quiet = \"soon\"\nkeep_logs = -3\n"),
            ("gate.toml", "[[[ not toml\n"),
        ],
    );
    let out = Command::new(binary())
        .args(["check", &dir])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "check accepted invalid rules:\n{text}"
    );
    assert!(
        text.contains("cache.toml:1"),
        "no file:line for settle_quiet:\n{text}"
    );
    assert!(
        text.contains("gate.toml:1"),
        "no file:line for the syntax error:\n{text}"
    );
    if !require_root("invalid rules, live", &[]) {
        return;
    }
    // A run with them: loud rules.error records, then a boot on the built-in defaults.
    let root = scratch.join("root");
    let mut args = base_args(&root);
    args.extend(["--rules".into(), dir, "--disk".into(), "nbnone".into()]);
    let mut node = Node::start("rules", &args, &root);
    node.wait_event("cache.none", 60);
    let errors = node.named("rules.error");
    assert!(errors.len() >= 2, "rules errors not logged: {errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e["level"] == "error" && e["line"].as_u64() >= Some(1))
    );
    assert!(node.stop().success());
}

#[test]
fn run_with_no_console_at_all_keeps_working_and_exits_0() {
    if !require_root("no console", &[]) {
        return;
    }
    no_console(false);
    no_console(true);
}

/// As PID 1 without /dev/console: no fd 0, 1 or 2. Whatever nodeboot opens first
/// gets those numbers; its stream must not end up in them (the journal here).
fn no_console(dry_run: bool) {
    let scratch = TempDir::new("no-console");
    let root = scratch.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let journal = scratch.join("journal.trace");
    let ns = support::Netns::new("nocons");
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "sh",
            "-c",
            r#"exec "$0" "$@" <&- >&- 2>&-"#,
        ])
        .arg(binary())
        .args(base_args(&root))
        .args(["--disk", "nbnone", "--record", journal.to_str().unwrap()])
        .args(if dry_run { &["--dry-run"][..] } else { &[][..] })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        child.try_wait().unwrap().is_none(),
        "nodeboot died without a console"
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let st = child.wait().unwrap();
    drop(ns);
    support::mount::unmount_under(&root);
    assert_eq!(
        st.code(),
        Some(0),
        "exit status without a console (dry run: {dry_run}): {st}"
    );
    // The journal holds trace lines only (a header, then inputs), no log records.
    let text = std::fs::read_to_string(&journal).unwrap_or_default();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: serde_json::Value = serde_json::from_str(lines.next().expect("journal header"))
        .expect("journal header is JSON");
    assert!(header.get("nodeboot_trace").is_some(), "header: {header}");
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("journal line is not JSON ({e}): {l}"));
        assert!(
            v.get("input").is_some() && v.get("event").is_none(),
            "a log record leaked into the journal (fd reuse): {l}"
        );
    }
}

/// Processes whose parent is `pid` and that stayed zombies for 500 ms.
fn lasting_zombies(pid: u32) -> Vec<u32> {
    let z = |p| {
        support::node::children_of(p)
            .into_iter()
            .filter(|(_, s, _)| s == "Z")
            .map(|(c, _, _)| c)
            .collect::<Vec<_>>()
    };
    let first = z(pid);
    std::thread::sleep(Duration::from_millis(500));
    let second = z(pid);
    first.into_iter().filter(|p| second.contains(p)).collect()
}

#[test]
fn a_crash_looping_service_is_restarted_with_backoff_and_reaped() {
    if !require_root("service crash loop", &[]) {
        return;
    }
    let scratch = TempDir::new("svc-crash");
    let dir = rules_dir(
        &scratch,
        &[(
            "services.toml",
            "[[service]]\nname = \"crasher\"\nargv = [\"/bin/sh\", \"-c\", \"echo boom >&2; exit 3\"]\nbackoff_initial = \"200ms\"\nbackoff_max = \"2s\"\n",
        )],
    );
    let root = scratch.join("root");
    let mut args = base_args(&root);
    args.extend(["--rules".into(), dir, "--disk".into(), "nbnone".into()]);
    let mut node = Node::start("svc", &args, &root);
    node.wait_event("service.started", 60);
    let t0 = Instant::now();
    let mut zombies = Vec::new();
    while t0.elapsed() < Duration::from_secs(12) {
        zombies.extend(lasting_zombies(node.pid));
    }
    let started = node.named("service.started").len();
    let exited = node.named("service.exited");
    let restarting = node.named("service.restarting");
    assert!(node.alive());
    let st = node.stop();
    eprintln!(
        "crasher: {started} starts, {} exits, {} restarts in ~12 s; backoffs {:?}",
        exited.len(),
        restarting.len(),
        restarting
            .iter()
            .map(|v| v["backoff_ms"].clone())
            .collect::<Vec<_>>()
    );
    assert!(st.success(), "{st}");
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
    assert!(exited.len() >= 3, "exits not logged");
    assert!(
        exited
            .iter()
            .all(|v| v["status"].as_str().is_some_and(|s| s.contains('3')))
    );
    // 200 ms doubling to 2 s: about 8–10 starts in 12 s, never one per crash.
    assert!((3..=20).contains(&started), "{started} starts in 12 s");
    let max = restarting
        .iter()
        .filter_map(|v| v["backoff_ms"].as_u64())
        .max();
    assert_eq!(max, Some(2000), "backoff not capped at backoff_max");
    // The crasher's stderr reached the stream.
    assert!(
        node.events().iter().any(|v| v.to_string().contains("boom")),
        "child output lost"
    );
}

#[test]
fn a_crash_looping_dhcp_client_is_restarted_given_up_and_reaped() {
    if !require_root("dhcp crash loop", &[]) {
        return;
    }
    let scratch = TempDir::new("dhcp-crash");
    let dir = rules_dir(
        &scratch,
        &[(
            "network.toml",
            "allow_virtual = true\ndhcp_command = [\"/bin/sh\", \"-c\", \"echo no lease on {nic} >&2; exit 1\"]\ngive_up = \"6s\"\nbackoff_initial = \"200ms\"\nbackoff_max = \"1s\"\n",
        )],
    );
    let root = scratch.join("root");
    let mut args = base_args(&root);
    args.extend(["--rules".into(), dir, "--nic".into(), "nbdA".into()]);
    let mut node = Node::start("dhcp", &args, &root);
    let ns = node.netns().to_owned();
    node.wait_event("boot.start", 30);
    support::try_sh(
        "ip",
        &[
            "-n", &ns, "link", "add", "nbdA", "type", "veth", "peer", "name", "nbdB",
        ],
    )
    .unwrap();
    support::try_sh("ip", &["-n", &ns, "link", "set", "nbdB", "up"]).unwrap();
    node.wait_event("dhcp.started", 30);
    let t0 = Instant::now();
    let mut zombies = Vec::new();
    while t0.elapsed() < Duration::from_secs(10) {
        zombies.extend(lasting_zombies(node.pid));
    }
    let started = node.named("dhcp.started").len();
    let gave_up = node.named("dhcp.gave_up");
    assert!(node.alive());
    let st = node.stop();
    eprintln!("dhcp crasher: {started} starts, gave up: {gave_up:?}");
    assert!(st.success(), "{st}");
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
    assert!(started >= 2, "never restarted");
    assert!(started <= 30, "{started} starts in 10 s: no backoff");
    assert!(!node.named("dhcp.exited").is_empty());
}

#[test]
fn mkfs_failing_on_a_real_disk_is_reported_and_no_other_disk_is_formatted() {
    if !require_root("mkfs failing", &[]) {
        return;
    }
    // A blank SSD too small for btrfs (mkfs.btrfs refuses it) and a blank rotary
    // disk: the SSD is chosen, mkfs fails, and the rotary disk stays untouched.
    let scratch = TempDir::new("mkfs-fail");
    let tiny = scratch.join("tiny.img");
    std::fs::File::create(&tiny)
        .unwrap()
        .set_len(24 << 20)
        .unwrap();
    let big = images::make("zeros", &scratch).unwrap();
    let before = sha256_file(&big);
    let (lt, lb) = (Loop::attach(&tiny).unwrap(), Loop::attach(&big).unwrap());
    lt.set_ssd();
    let root = scratch.join("root");
    let mut args = base_args(&root);
    args.extend([
        "--disk".into(),
        lt.name().to_owned(),
        "--disk".into(),
        lb.name().to_owned(),
    ]);
    let mut node = Node::start("mkfs", &args, &root);
    let failed = node.wait_for("cache.failed or ready", 120, |v| {
        matches!(v["event"].as_str(), Some("cache.failed" | "cache.ready"))
    });
    std::thread::sleep(Duration::from_secs(3));
    let mkfs_steps = node
        .named("cache.step")
        .into_iter()
        .filter(|v| v["step"] == "mkfs")
        .count();
    let selected = node.named("cache.selected");
    let zombies = node.zombies();
    let st = node.stop();
    drop(node);
    drop((lt, lb));
    eprintln!("mkfs failure: {failed}");
    assert_eq!(failed["event"], "cache.failed", "{failed}");
    assert_eq!(failed["step"], "mkfs");
    assert!(
        failed["error"].as_str().is_some_and(|e| e.len() > 10),
        "no useful error: {failed}"
    );
    assert_eq!(mkfs_steps, 1, "mkfs ran {mkfs_steps} times");
    assert_eq!(selected.len(), 1, "another disk was selected: {selected:?}");
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
    assert!(st.success());
    assert_eq!(sha256_file(&big), before, "the other disk was written");
}

#[test]
fn a_full_log_filesystem_drops_lines_and_nodeboot_goes_on() {
    if !require_root("full log fs", &[]) {
        return;
    }
    let scratch = TempDir::new("log-full");
    let image = images::make("zeros", &scratch).unwrap();
    let lo = Loop::attach(&image).unwrap();
    lo.set_ssd();
    // The journal goes to a tiny tmpfs that is already full.
    let jdir = scratch.join("journal");
    std::fs::create_dir_all(&jdir).unwrap();
    support::try_sh(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=64k",
            "nbh-journal",
            jdir.to_str().unwrap(),
        ],
    )
    .unwrap();
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _jguard = Unmount(jdir.clone());
    let _ = Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={}/fill", jdir.display()),
            "bs=4k",
        ])
        .stderr(Stdio::null())
        .status();
    let root = scratch.join("root");
    let mut args = base_args(&root);
    args.extend([
        "--disk".into(),
        lo.name().to_owned(),
        "--record".into(),
        jdir.join("trace").display().to_string(),
    ]);
    let mut node = Node::start("logfull", &args, &root);
    node.wait_event("cache.ready", 120);
    // Fill this boot's log subvolume (seen through nodeboot's mount namespace).
    let logdir = format!("/proc/{}/root{}/var/log", node.pid, root.display());
    let log_file = format!("{logdir}/nodeboot.log");
    assert!(Path::new(&log_file).exists(), "no {log_file}");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", &format!("of={logdir}/fill"), "bs=1M"])
        .stderr(Stdio::null())
        .status();
    let size_full = std::fs::metadata(&log_file).map(|m| m.len()).unwrap_or(0);
    // Make it log: status requests and uevents.
    for _ in 0..5 {
        node.signal(nix::sys::signal::Signal::SIGUSR1);
        let _ = std::fs::write(format!("/sys/class/block/{}/uevent", lo.name()), "change");
        std::thread::sleep(Duration::from_millis(200));
    }
    let status_lines = node.named("status").len();
    assert!(node.alive(), "nodeboot died on a full log filesystem");
    let size_after = std::fs::metadata(&log_file).map(|m| m.len()).unwrap_or(0);
    let st = node.stop();
    drop(node);
    eprintln!(
        "full log fs: {status_lines} status records on stderr; nodeboot.log {size_full} → {size_after} bytes"
    );
    assert!(status_lines >= 5, "stderr stopped too");
    assert!(st.success(), "{st}");
}
