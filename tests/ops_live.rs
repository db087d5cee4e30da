//! `status`, `plot` and `logs` against a live `nodeboot run` (a dry run confined to a
//! temporary root: it touches no disk and no NIC; effects are only logged). The run
//! serves its log socket at `<root>/run/nodeboot.sock`; the tools read the backlog
//! from there exactly as on a node.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use support::TempDir;
use support::run::BIN as NODEBOOT;

/// The run and its root, removed (and the run stopped) whatever happens.
struct LiveRun {
    child: Child,
    root: TempDir,
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        support::cmd::terminate(&mut self.child, Duration::from_secs(5));
    }
}

fn start(name: &str) -> LiveRun {
    let root = TempDir::new(name);
    let child = Command::new(NODEBOOT)
        .args(["run", "--dry-run", "--quiet", "--root"])
        .arg(root.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    LiveRun { child, root }
}

fn tool(args: &[&str]) -> (i32, String, String) {
    support::capture(NODEBOOT, args, None)
}

/// Poll `status --json` until `ready` says the state is there (or time is up).
fn wait_for(root: &Path, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let root = root.to_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        let (code, out, err) = tool(&["status", "--json", "--root", root]);
        if code == 0 {
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            if ready(&v) {
                return v;
            }
            last = out;
        } else {
            last = err;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the live run never reached the expected state; last status:\n{last}");
}

#[test]
fn status_plot_and_logs_read_a_live_run() {
    let run = start("tools");
    let root = run.root.path().to_str().unwrap().to_owned();
    // The dry run boots: boot.start, then the gate starts waiting.
    let state = wait_for(run.root.path(), |v| {
        v["boot"]["mode"] == "dry-run" && v["gate"]["state"] != "pending"
    });
    assert!(state["records"].as_u64().unwrap() >= 2);
    let (code, table, err) = tool(&["status", "--root", &root]);
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains("(dry-run)") && table.contains("\nGate\n"),
        "{table}"
    );
    let (code, svg, err) = tool(&["plot", "--root", &root]);
    assert_eq!(code, 0, "{err}");
    assert!(
        svg.contains("dry-run") && svg.contains("data-lane=\"gate\""),
        "{svg}"
    );
    let socket = run.root.join("run/nodeboot.sock");
    let (code, logs, err) = tool(&["logs", "--json", "--socket", socket.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let first: serde_json::Value = serde_json::from_str(logs.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"], "boot.start");
}

/// `logs -f` prints the backlog and keeps following (it is still running after).
#[test]
fn logs_follow_streams_the_live_run() {
    use std::io::BufRead;
    let run = start("follow");
    wait_for(run.root.path(), |v| v["boot"]["mode"] == "dry-run");
    let socket = run.root.join("run/nodeboot.sock");
    let mut follower = Command::new(NODEBOOT)
        .args(["logs", "-f", "--json", "--socket", socket.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a first line");
    let record: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(record["event"], "boot.start");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        follower.try_wait().unwrap().is_none(),
        "logs -f must keep following"
    );
    let _ = follower.kill();
    let _ = follower.wait();
}

/// One instance per root: a second `nodeboot run` on the same root exits at once with
/// code 3 and a clear error, without replacing the first one's socket (same inode, and
/// it still answers `status`); a run on another root starts beside them.
#[test]
fn a_second_run_on_the_same_root_is_refused_and_the_first_socket_still_answers() {
    use std::os::unix::fs::MetadataExt;
    let run = start("first");
    wait_for(run.root.path(), |v| v["boot"]["mode"] == "dry-run");
    let socket = run.root.join("run/nodeboot.sock");
    let inode = std::fs::metadata(&socket).unwrap().ino();
    let mut second = Command::new(NODEBOOT)
        .args(["run", "--dry-run", "--quiet", "--root"])
        .arg(run.root.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            support::cmd::terminate(&mut second, Duration::from_secs(5));
            panic!("the second run on the same root was not refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    use std::io::Read;
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("another nodeboot is running on root"), "{err}");
    assert_eq!(
        std::fs::metadata(&socket).unwrap().ino(),
        inode,
        "the first run's socket was replaced"
    );
    let (code, _, err) = tool(&[
        "status",
        "--json",
        "--root",
        run.root.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "the first run's socket no longer answers: {err}");
    // Another root: another instance, running beside the first.
    let other = start("other-root");
    wait_for(other.root.path(), |v| v["boot"]["mode"] == "dry-run");
}
