//! Helpers shared by the `tests/harden_*.rs` tests: scratch directories, loop devices
//! with Drop guards, running tools, the CI rule (a skip under `CI=true` is a failure).

#![allow(dead_code)]

pub mod core;
pub mod images;
pub mod md;
pub mod node;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `CI=true`: root-only tests must run, not skip.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Skip (return true) or, under CI, fail.
pub fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    assert!(!ci(), "{what}: needs root, and CI=true forbids skipping");
    eprintln!("{what}: SKIP (not root)");
    true
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command; error = its stderr.
pub fn run(cmd: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub fn sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    run(cmd, args, None)
}

/// Standard output of a command that must succeed.
pub fn output(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A temporary directory removed on drop (prefix `nb-harden-`).
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(what: &str) -> Scratch {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nb-harden-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loop device attached to an image; detached on drop (also when a test panics).
pub struct Loop {
    /// `/dev/loopN`.
    pub dev: String,
}

impl Loop {
    pub fn attach(image: &Path) -> Result<Loop, String> {
        Loop::attach_with(image, &[])
    }
    /// Read-only (`losetup -r`).
    pub fn attach_ro(image: &Path) -> Result<Loop, String> {
        Loop::attach_with(image, &["-r"])
    }
    fn attach_with(image: &Path, flags: &[&str]) -> Result<Loop, String> {
        let image = image.display().to_string();
        let mut args = flags.to_vec();
        args.extend(["-f", "--show", &image]);
        let dev = output("losetup", &args)?.trim().to_owned();
        if !dev.starts_with("/dev/loop") {
            return Err(format!("losetup printed {dev:?}"));
        }
        Ok(Loop { dev })
    }
    /// `loopN`.
    pub fn name(&self) -> &str {
        self.dev.trim_start_matches("/dev/")
    }
    /// Marks the device an SSD (rotational 0), as the brief's sandbox does.
    pub fn set_ssd(&self) {
        let _ = std::fs::write(format!("/sys/block/{}/queue/rotational", self.name()), "0");
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // Partitions added with BLKPG go with the device.
        let _ = Command::new("partx")
            .args(["-d", &self.dev])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// sha256 of a file (through `sha256sum`, no crate needed).
pub fn sha256(path: &Path) -> String {
    output("sha256sum", &[&path.display().to_string()])
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}
