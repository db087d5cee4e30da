//! Shared scaffolding for the `real_*` root tests: loop disks, network namespaces, veth
//! cables, a dnsmasq DHCP server, a TCP listener, and a running `nodeboot run` whose
//! JSON log stream is read line by line. Every guard undoes its setup in `Drop` (also
//! when the test fails), and touches only what it created: loop devices it attached,
//! namespaces named `nb…` unique to the test, processes inside those namespaces.
#![allow(dead_code)]

pub mod disk;
pub mod net;
pub mod run;

#[allow(unused_imports)]
pub use disk::LoopDisk;
#[allow(unused_imports)]
pub use net::{Dnsmasq, Listener, Netns, Veth};
#[allow(unused_imports)]
pub use run::{NodebootRun, RunConfig};

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when the test may run: root, and every listed command installed. Otherwise
/// skip, except under `CI=true`, where a root test that cannot run is a failure.
pub fn require_root(test: &str, commands: &[&str]) -> bool {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root".to_string());
    }
    for c in commands {
        if !command_exists(c) {
            missing.push(format!("command {c}"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = missing.join(", ");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs {why}, and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped (needs {why})");
    false
}

pub fn command_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Run a command; panic with its stderr when it fails; its stdout.
pub fn sh(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command, ignoring failure (teardown).
pub fn sh_quiet(argv: &[&str]) {
    let _ = Command::new(argv[0])
        .args(&argv[1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// A unique short tag for names: `nb` + pid + a per-process counter (≤ 15 chars with a
/// few more letters, the interface name limit).
pub fn unique(tag: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("nb{tag}{}x{n}", std::process::id() % 100_000)
}

/// A directory under /tmp, removed with everything in it on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nb-real-{}", unique(tag)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// sha256 of a byte range of a file, as hex (via `sha256sum`, no crate needed).
pub fn sha256_range(path: &Path, offset: u64, len: u64) -> String {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf).unwrap();
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&buf).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// sha256 of a whole file.
pub fn sha256_file(path: &Path) -> String {
    sh(&["sha256sum", path.to_str().unwrap()])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
