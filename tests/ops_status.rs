//! `nodeboot status` and `nodeboot plot` as an operator runs them: from a log file,
//! from stdin, and from a log socket speaking the world loop's protocol (`logs\n` →
//! the backlog, then the server closes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const NODEBOOT: &str = env!("CARGO_BIN_EXE_nodeboot");
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ops/boot.jsonl");

struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("nb-ops-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(NODEBOOT)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_sample_table(out: &str) {
    for want in [
        "nodeboot 0.1.0 (live)",
        "\nCache\n  ready     sda1  log logs/2026-11-26T01:00:00Z",
        "\nNICs\n",
        "leased (2.29s)",
        "gave up (30.0s)",
        "\nGate\n  released  reachable after 3.07s",
        "\nServices\n",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
}

#[test]
fn status_from_a_file_and_from_stdin() {
    let (code, out, err) = run(&["status", "--from", SAMPLE], None);
    assert_eq!(code, 0, "{err}");
    assert_sample_table(&out);
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let (code, json, _) = run(&["status", "--json", "--from", "-"], Some(&text));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["nics"]["eth0"]["address"], "10.4.0.23/24");
    assert_eq!(v["services"]["redis"]["state"], "running");
}

#[test]
fn status_reads_the_live_socket_backlog() {
    let dir = TempDir::new("status-sock");
    let sock = dir.0.join("run").join("nodeboot.sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    let listener = UnixListener::bind(&sock).unwrap();
    let backlog = std::fs::read_to_string(SAMPLE).unwrap();
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut req = [0u8; 5];
            conn.read_exact(&mut req).unwrap();
            requests.push(String::from_utf8_lossy(&req).into_owned());
            conn.write_all(backlog.as_bytes()).unwrap();
        }
        requests
    });
    // --root finds <root>/run/nodeboot.sock; --socket names it.
    let root = dir.0.to_str().unwrap();
    let (code, out, err) = run(&["status", "--root", root], None);
    assert_eq!(code, 0, "{err}");
    assert_sample_table(&out);
    let (code, svg, err) = run(&["plot", "--socket", sock.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(svg.contains("data-lane=\"nic:eth1\""));
    assert_eq!(server.join().unwrap(), ["logs\n", "logs\n"]);
}

#[test]
fn a_missing_socket_is_a_clear_error() {
    let dir = TempDir::new("nosock");
    let (code, _, err) = run(&["status", "--root", dir.0.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(
        err.contains("log socket") && err.contains("--from"),
        "{err}"
    );
    let (code, _, err) = run(&["status", "--bogus"], None);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn plot_writes_an_svg_file() {
    let dir = TempDir::new("plot");
    let out = dir.0.join("boot.svg");
    let (code, stdout, err) = run(&["plot", SAMPLE, "-o", out.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    let (code, _, err) = run(&["plot", "-"], Some("not a log\n"));
    assert_eq!(code, 1);
    assert!(err.contains("no JSON log records"), "{err}");
}
