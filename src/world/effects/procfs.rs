//! `ProbeFilesystem`: is a filesystem type registered in the running kernel? The
//! answer is a fact for the core ([`crate::core::fsready`] decides what follows).
//! `/proc/filesystems` is the kernel's own list, read at once (procfs does not
//! block); it is the host's kernel even in a confined run, which is the kernel a
//! mount would ask.

use crate::core::input::{EffectOutput, EffectResult};
use crate::world::errno;

const FILESYSTEMS: &str = "/proc/filesystems";

pub fn probe_filesystem(fstype: &str) -> EffectResult {
    match std::fs::read_to_string(FILESYSTEMS) {
        Ok(text) => Ok(EffectOutput::Filesystem {
            registered: registered(&text, fstype),
        }),
        Err(e) => Err(errno::from_io(&e, format!("read {FILESYSTEMS}: {e}"))),
    }
}

/// `/proc/filesystems` lines are `[nodev]\tNAME`.
fn registered(text: &str, fstype: &str) -> bool {
    text.lines()
        .filter_map(|line| line.split_whitespace().last())
        .any(|name| name == fstype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_nodev() {
        let text = "nodev\tsysfs\nnodev\ttmpfs\n\text4\n\tbtrfs\nnodev\tfuse\n";
        assert!(registered(text, "btrfs"));
        assert!(registered(text, "tmpfs"));
        assert!(!registered(text, "nodev"));
        assert!(!registered(text, "xfs"));
        assert!(!registered("", "btrfs"));
    }

    #[test]
    fn this_kernel_has_its_own_procfs() {
        assert_eq!(
            probe_filesystem("proc").unwrap(),
            EffectOutput::Filesystem { registered: true }
        );
    }
}
