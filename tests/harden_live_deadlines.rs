//! Issue 9, point 3, live: a disk whose writes stop answering, for real. The chosen
//! disk is a loop device over an image file on an ext4 filesystem (itself on a loop
//! device); once nodeboot has probed it, `fsfreeze -f` on that ext4 makes every write
//! the loop driver passes down block in the kernel until `fsfreeze -u` (this
//! machine's kernel has no device-mapper, whose `dmsetup suspend` would do the same).
//! The step in flight must fail at its deadline, its worker thread be abandoned, and
//! services start, while the disk is still stuck.

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::mount::MountGuard;
use support::node::{Node, binary};
use support::{Loop, TempDir, require_root};

/// A frozen filesystem, thawed when dropped (so no I/O stays blocked).
struct Frozen(PathBuf);

impl Frozen {
    fn freeze(mount: &Path) -> Frozen {
        assert!(fsfreeze("-f", mount), "fsfreeze -f {}", mount.display());
        Frozen(mount.to_owned())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = fsfreeze("-u", &self.0);
    }
}

fn fsfreeze(flag: &str, mount: &Path) -> bool {
    Command::new("fsfreeze")
        .arg(flag)
        .arg(mount)
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_disk_that_stops_answering_fails_its_step_at_the_deadline_and_services_start() {
    if !require_root("stalled disk", &["fsfreeze", "mkfs.ext4"]) {
        return;
    }
    let scratch = TempDir::new("stalled");
    // The ext4 that will be frozen, on its own loop device.
    let host_image = scratch.join("host.img");
    std::fs::File::create(&host_image)
        .unwrap()
        .set_len(400 << 20)
        .unwrap();
    let host = Loop::attach(&host_image).unwrap();
    let host_dev = format!("/dev/{}", host.name());
    assert!(run("mkfs.ext4", &["-q", "-F", &host_dev]), "mkfs.ext4");
    let mnt = scratch.join("host");
    std::fs::create_dir_all(&mnt).unwrap();
    nix::mount::mount(
        Some(host_dev.as_str()),
        &mnt,
        Some("ext4"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let host_mount = MountGuard(mnt.clone());
    // The disk nodeboot sees: a loop device over a file on that ext4.
    let image = mnt.join("disk.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let top = Loop::attach(&image).unwrap();
    top.set_ssd();
    let rules = scratch.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("cache.toml"),
        "table_timeout = \"3s\"\nmkfs_timeout = \"3s\"\nmount_timeout = \"3s\"\nsubvolume_timeout = \"3s\"\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("services.toml"),
        "[[service]]\nname = \"sleeper\"\nargv = [\"sleep\", \"300\"]\n",
    )
    .unwrap();
    let root = scratch.join("root");
    let args: Vec<String> = [
        "run",
        "--json",
        "--root",
        &root.display().to_string(),
        "--allow-loop",
        "--rules",
        &rules.display().to_string(),
        "--cmdline",
        "nodeboot.reach=127.0.0.1:9 nodeboot.gate=1",
        "--disk",
        top.name(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(binary().exists(), "build the binary first");
    let mut node = Node::start("stalled", &args, &root);
    let disk = top.name().to_owned();
    let seen = node.wait_for("the disk probed", 60, |v| {
        v["event"] == "disk.seen" && v["disk"] == disk.as_str()
    });
    assert_eq!(seen["verdict"], "unused", "{seen}");
    // The quiet period (2 s) is still running: from now on no write to the disk ends.
    let frozen = Frozen::freeze(&mnt);
    let failed = node.wait_for("cache.failed or ready", 60, |v| {
        matches!(v["event"].as_str(), Some("cache.failed" | "cache.ready"))
    });
    let started = node.wait_event("service.started", 30);
    let timeout = node.named("effect.timeout");
    let abandoned = node.named("worker.abandoned");
    let alive = node.alive();
    // Let the stuck I/O through before stopping, so nothing stays in D-state.
    drop(frozen);
    let status = node.stop();
    drop(node);
    drop(top);
    drop(host_mount);
    drop(host);
    eprintln!("stalled disk: {failed}; {timeout:?}; {abandoned:?}");
    assert_eq!(failed["event"], "cache.failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out after 3s")),
        "{failed}"
    );
    assert_eq!(timeout.len(), 1, "{timeout:?}");
    assert_eq!(timeout[0]["after_ms"], 3000);
    // The step in flight ran on a worker thread (table write, re-read) or was mkfs.
    if timeout[0]["effect"] != "mkfs" {
        assert_eq!(abandoned.len(), 1, "{abandoned:?}");
    }
    assert_eq!(started["service"], "sleeper");
    assert!(alive, "nodeboot died");
    assert!(status.success(), "exit {status:?}");
}
