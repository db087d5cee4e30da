//! Confinement: a disk off the allow-list is refused without being opened, and
//! CopyTree stays under the root.
#![allow(unsafe_code)] // raw inotify from libc: the test watches for opens.

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use nodeboot::core::action::Effect;
use nodeboot::core::input::EffectOutput;
use nodeboot::world::confine::Confinement;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use support::gate::{plan, run_blocking};
use support::*;

/// An inotify watch for any open, read or write of `path`.
struct OpenWatch(libc::c_int);

impl OpenWatch {
    fn new(path: &Path) -> OpenWatch {
        // SAFETY: plain syscalls on a NUL-terminated path we own; the fd is ours.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            assert!(fd >= 0);
            let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
            let mask = libc::IN_OPEN | libc::IN_ACCESS | libc::IN_MODIFY;
            assert!(libc::inotify_add_watch(fd, c.as_ptr(), mask) >= 0);
            OpenWatch(fd)
        }
    }

    /// Bytes of events queued so far (0 = nothing touched the path).
    fn events(&self) -> isize {
        let mut buf = [0u8; 4096];
        // SAFETY: reads into a local buffer of the stated length.
        unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()).max(0) }
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        // SAFETY: closes the fd this watch owns.
        unsafe { libc::close(self.0) };
    }
}

fn disk_writes(dev: &str) -> Vec<Effect> {
    vec![
        Effect::WritePartitionTable {
            disk: dev.into(),
            name: "sp_zos-cache".into(),
        },
        Effect::AddPartition {
            disk: dev.into(),
            number: 1,
        },
        Effect::Mkfs {
            device: dev.into(),
            label: "sp_zos-cache".into(),
            force: false,
        },
        Effect::Mount {
            source: dev.into(),
            target: "/mnt/x".into(),
            fstype: "btrfs".into(),
            options: String::new(),
        },
    ]
}

#[test]
fn disk_off_the_allow_list_is_refused_without_opening_it() {
    let tmp = TempDir::new("confine");
    let dev_dir = tmp.path().join("dev");
    std::fs::create_dir(&dev_dir).unwrap();
    std::fs::write(dev_dir.join("vda"), b"stand-in for the host disk").unwrap();
    let confine = Confinement {
        root: tmp.path().join("root"),
        disks: Some(vec!["nbloop*".into()]),
        nics: Some(vec![]),
        dry_run: false,
        dev_dir: dev_dir.clone(),
        sys_dir: PathBuf::from("/sys"),
    };
    let watch = OpenWatch::new(&dev_dir.join("vda"));
    for effect in disk_writes("vda") {
        let err = plan(&effect, &confine).unwrap_err();
        assert_eq!(
            err, "refused: vda is not on the disk allow-list",
            "{effect:?}"
        );
        assert_eq!(run_blocking(&effect, &confine).unwrap_err(), err);
    }
    assert_eq!(watch.events(), 0, "the refused device was opened");
    assert!(
        !confine.root.exists(),
        "nothing may be created for a refused mount"
    );
    // The watch does see an open (so the zero above means something).
    drop(std::fs::File::open(dev_dir.join("vda")).unwrap());
    assert!(watch.events() > 0);
}

#[test]
fn the_hosts_own_disk_is_refused() {
    if !require_root("the_hosts_own_disk_is_refused", &[]) {
        return;
    }
    let host = ["vda", "sda", "nvme0n1", "xvda"]
        .into_iter()
        .find(|d| Path::new(&format!("/sys/class/block/{d}")).exists());
    let Some(host) = host else {
        eprintln!("no host disk found; nothing to check");
        return;
    };
    let tmp = TempDir::new("host");
    let confine = Confinement {
        root: tmp.path().to_path_buf(),
        disks: Some(vec!["loop*".into()]),
        nics: Some(vec![]),
        dry_run: false,
        dev_dir: PathBuf::from("/dev"),
        sys_dir: PathBuf::from("/sys"),
    };
    let watch = OpenWatch::new(&PathBuf::from(format!("/dev/{host}")));
    for effect in disk_writes(host) {
        assert!(plan(&effect, &confine).unwrap_err().starts_with("refused:"));
        assert!(
            run_blocking(&effect, &confine)
                .unwrap_err()
                .starts_with("refused:")
        );
    }
    // A partition of the host disk is refused through its parent too.
    if let Some(part) = std::fs::read_dir(format!("/sys/class/block/{host}"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().join("partition").exists())
    {
        let part = part.file_name().into_string().unwrap();
        let open = Confinement {
            disks: Some(vec![part.clone()]),
            ..confine.clone()
        };
        let err = plan(&disk_writes(&part)[2], &open).unwrap_err();
        assert_eq!(
            err,
            format!("refused: {host} is not on the disk allow-list")
        );
    }
    assert_eq!(watch.events(), 0, "the host disk was opened");
}

#[test]
fn copy_tree_keeps_files_dirs_links_and_modes() {
    let tmp = TempDir::new("copy");
    let root = tmp.path();
    let src = root.join("var/log");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::write(src.join("boot.log"), "early line\n").unwrap();
    std::fs::write(src.join("sub/deeper/x"), "x").unwrap();
    std::fs::set_permissions(src.join("boot.log"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("boot.log", src.join("current")).unwrap();
    let confine = Confinement {
        root: root.to_path_buf(),
        disks: Some(vec![]),
        nics: Some(vec![]),
        dry_run: false,
        dev_dir: PathBuf::from("/dev"),
        sys_dir: PathBuf::from("/sys"),
    };
    let copy = Effect::CopyTree {
        from: "/var/log".into(),
        to: "/mnt/logs/now".into(),
    };
    assert_eq!(run_blocking(&copy, &confine).unwrap(), EffectOutput::Done);
    let dst = root.join("mnt/logs/now");
    assert_eq!(
        std::fs::read_to_string(dst.join("boot.log")).unwrap(),
        "early line\n"
    );
    assert_eq!(
        std::fs::read_to_string(dst.join("sub/deeper/x")).unwrap(),
        "x"
    );
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&dst.join("boot.log")), 0o640);
    assert_eq!(mode(&dst.join("sub")), 0o750);
    assert_eq!(
        std::fs::read_link(dst.join("current")).unwrap(),
        Path::new("boot.log")
    );
    // Again (a resumed step): overwrites, still fine.
    std::fs::write(src.join("boot.log"), "early line\nsecond\n").unwrap();
    run_blocking(&copy, &confine).unwrap();
    assert_eq!(
        std::fs::read_to_string(dst.join("boot.log")).unwrap(),
        "early line\nsecond\n"
    );
    // A missing source copies nothing and succeeds.
    let none = Effect::CopyTree {
        from: "/var/nothing".into(),
        to: "/mnt/empty".into(),
    };
    run_blocking(&none, &confine).unwrap();
    assert!(!root.join("mnt/empty").exists());
    // Copying into itself is refused, as is leaving the root.
    let inside = Effect::CopyTree {
        from: "/var".into(),
        to: "/var/log/copy".into(),
    };
    assert!(run_blocking(&inside, &confine).is_err());
    let escape = Effect::CopyTree {
        from: "/var/log".into(),
        to: "/../outside".into(),
    };
    assert!(plan(&escape, &confine).unwrap_err().starts_with("refused:"));
}
