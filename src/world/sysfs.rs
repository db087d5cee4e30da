//! The coldplug scan and the resync snapshot: every block and net device present now,
//! read from sysfs as `add` uevents (`uevent` files hold DEVTYPE, DEVNAME, MODALIAS…;
//! the devpath is the class symlink's target), plus every bus device announcing a
//! `MODALIAS` so that drivers for devices that have no class device yet get loaded.

use super::error::{Result, WorldError};
use super::uevent_sock::from_env;
use crate::wire::uevent::Uevent;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `/sys/kernel/uevent_seqnum`: the last SEQNUM the kernel sent. Read before a scan,
/// it is the cut-off: a live event at or below it is already in the scan.
pub fn read_seqnum(sys: &Path) -> Result<u64> {
    let path = sys.join("kernel/uevent_seqnum");
    let text = std::fs::read_to_string(&path).map_err(|source| WorldError::Sysfs {
        path: path.clone(),
        source,
    })?;
    text.trim().parse().map_err(|_| WorldError::Sysfs {
        path,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not a number"),
    })
}

/// Every block and net device, in a stable order (class, then name).
/// Unreadable entries are returned as errors beside the devices found.
pub fn scan_classes(sys: &Path) -> (Vec<Uevent>, Vec<WorldError>) {
    let mut devices = Vec::new();
    let mut errors = Vec::new();
    for class in ["block", "net"] {
        for entry in sorted_entries(&sys.join("class").join(class), &mut errors) {
            match device_uevent(sys, &entry, class) {
                Ok(Some(u)) => devices.push(u),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    (devices, errors)
}

/// Bus devices whose `uevent` file carries a MODALIAS (drivers to autoload at coldplug).
pub fn scan_modaliases(sys: &Path) -> (Vec<Uevent>, Vec<WorldError>) {
    let mut devices = Vec::new();
    let mut errors = Vec::new();
    for bus in sorted_entries(&sys.join("bus"), &mut errors) {
        let Some(bus_name) = bus.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        for dev in sorted_entries(&bus.join("devices"), &mut errors) {
            match device_uevent(sys, &dev, &bus_name) {
                Ok(Some(u)) if u.get("MODALIAS").is_some() => devices.push(u),
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    (devices, errors)
}

fn sorted_entries(dir: &Path, errors: &mut Vec<WorldError>) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            v.sort();
            v
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            errors.push(WorldError::Sysfs {
                path: dir.to_owned(),
                source,
            });
            Vec::new()
        }
    }
}

/// One device as an `add` uevent; `None` if it vanished meanwhile.
fn device_uevent(sys: &Path, entry: &Path, subsystem: &str) -> Result<Option<Uevent>> {
    let real = match std::fs::canonicalize(entry) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(WorldError::Sysfs {
                path: entry.to_owned(),
                source,
            });
        }
    };
    let sys_real = std::fs::canonicalize(sys).unwrap_or_else(|_| sys.to_owned());
    let Ok(rel) = real.strip_prefix(&sys_real) else {
        return Ok(None);
    };
    let devpath = format!("/{}", rel.display());
    let uevent_file = real.join("uevent");
    let text = match std::fs::read_to_string(&uevent_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(WorldError::Sysfs {
                path: uevent_file,
                source,
            });
        }
    };
    Ok(from_env(env_of(&text, &devpath, subsystem)))
}

fn env_of(text: &str, devpath: &str, subsystem: &str) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    env.insert("ACTION".into(), "add".into());
    env.insert("DEVPATH".into(), devpath.to_owned());
    env.entry("SUBSYSTEM".into())
        .or_insert_with(|| subsystem.to_owned());
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_a_fake_sysfs() {
        let dir = std::env::temp_dir().join(format!("nb-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dev = dir.join("devices/virtual/block/loop9");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(
            dev.join("uevent"),
            "MAJOR=7\nMINOR=9\nDEVNAME=loop9\nDEVTYPE=disk\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("class/block")).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/virtual/block/loop9",
            dir.join("class/block/loop9"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("kernel")).unwrap();
        std::fs::write(dir.join("kernel/uevent_seqnum"), "77\n").unwrap();
        let (devs, errs) = scan_classes(&dir);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(devs.len(), 1);
        let d = devs.first().unwrap();
        assert_eq!(d.devpath, "/devices/virtual/block/loop9");
        assert_eq!(d.subsystem, "block");
        assert_eq!(d.devname.as_deref(), Some("loop9"));
        assert_eq!(read_seqnum(&dir).unwrap(), 77);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
