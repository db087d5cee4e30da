//! `/proc/self/mountinfo`: which block devices are mounted, and where.
//!
//! A btrfs mount shows an anonymous `0:N` device number, not the block device's, so a
//! device counts as mounted when either its `major:minor` or its path (the mount
//! source) matches.

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub major: u32,
    pub minor: u32,
    /// The mounted directory of the filesystem (`/cache` for `subvol=cache`).
    pub root: String,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
}

/// Parse mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    // id parent major:minor root mount_point options [optional…] - fstype source super
    let (before, after) = line.split_once(" - ")?;
    let mut fields = before.split(' ');
    let _id = fields.next()?;
    let _parent = fields.next()?;
    let (major, minor) = fields.next()?.split_once(':')?;
    let root = unescape(fields.next()?);
    let mount_point = PathBuf::from(unescape(fields.next()?));
    let mut rest = after.split(' ');
    let fstype = rest.next()?.to_string();
    let source = unescape(rest.next()?);
    Some(MountEntry {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root,
        mount_point,
        fstype,
        source,
    })
}

/// The kernel writes space, tab, newline and backslash as `\ooo` octal escapes (in
/// `/proc/self/mountinfo` and `/proc/self/mounts` alike).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| b == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0')));
        match octal.and_then(|v| u8::try_from(v).ok()) {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The current mount table of this process's namespace.
pub fn read() -> std::io::Result<Vec<MountEntry>> {
    std::fs::read_to_string("/proc/self/mountinfo").map(|t| parse(&t))
}

/// Is the block device with number `dev` (or path `dev_path`) mounted anywhere?
pub fn is_mounted(entries: &[MountEntry], dev: Option<(u32, u32)>, dev_path: &str) -> bool {
    entries
        .iter()
        .any(|e| dev == Some((e.major, e.minor)) || e.source == dev_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 22 0:45 /cache /tmp/nb\\040x/var/cache rw,relatime shared:5 - btrfs /dev/loop3p1 rw,ssd
garbage line
";

    #[test]
    fn parses_fields_and_unescapes_paths() {
        let e = parse(SAMPLE);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].major, e[0].minor), (254, 0));
        assert_eq!(e[1].mount_point, PathBuf::from("/tmp/nb x/var/cache"));
        assert_eq!(e[1].root, "/cache");
        assert_eq!(e[1].fstype, "btrfs");
        assert_eq!(e[1].source, "/dev/loop3p1");
    }

    #[test]
    fn btrfs_is_found_by_source_not_by_number() {
        let e = parse(SAMPLE);
        assert!(is_mounted(&e, Some((7, 49)), "/dev/loop3p1"));
        assert!(is_mounted(&e, Some((254, 0)), "/dev/vda"));
        assert!(!is_mounted(&e, Some((7, 3)), "/dev/loop3"));
    }
}
