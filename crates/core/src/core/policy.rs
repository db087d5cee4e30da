//! The policy the core decides by: pure data, built from `rules/` (see `rules.rs`),
//! the kernel command line and the CLI's allow-lists. `Policy::default()` is the
//! built-in policy an invalid rules directory falls back to.

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub cache: CachePolicy,
    pub net: NetPolicy,
    pub gate: GatePolicy,
    pub services: Vec<ServiceSpec>,
    /// Load drivers for devices that announce a `MODALIAS`.
    pub modprobe: bool,
    /// Modules loaded in the background by PID 1 with `modprobe` on, once coldplug
    /// is done (`btrfs`: its load costs seconds on a slow machine; see
    /// `core::modules`).
    pub preload_modules: Vec<String>,
    /// Deadline of one `modprobe` (a driver or a preload): past it the load is
    /// failed, the child killed, and the settle no longer waits for it.
    #[serde(with = "duration_ms")]
    pub modprobe_timeout: Duration,
    /// Bytes of log lines the world keeps for late readers (the log file before it
    /// opens, every new socket client). Not read by the core.
    pub log_backlog: usize,
    /// Log socket clients connected at once, at most. Not read by the core.
    pub log_clients: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CachePolicy {
    /// btrfs label (and GPT partition name) of the cache.
    pub label: String,
    /// Where the pool (top-level subvolume) is mounted.
    pub pool_mount: String,
    /// Where subvolume `cache` is mounted.
    pub cache_mount: String,
    /// Where subvolume `logs/<timestamp>` is mounted.
    pub log_mount: String,
    /// Quiet period with no new block device before deciding, when coldplug loaded no
    /// driver (nothing then says when the built-in drivers' disks are all in).
    #[serde(with = "duration_ms")]
    pub settle_quiet: Duration,
    /// The short quiet period after the facts (coldplug done, every driver load ended,
    /// every known disk probed) when coldplug loaded drivers: disks announced just
    /// after their driver's `modprobe` returned (NVMe namespace scans) still count.
    #[serde(with = "duration_ms")]
    pub settle_after_facts: Duration,
    /// Upper bound on settling, counted from coldplug done.
    #[serde(with = "duration_ms")]
    pub settle_max: Duration,
    /// How long the new partition's device may take to appear (its `add` uevent and
    /// probe) after `add-partition`, before the prepare fails.
    #[serde(with = "duration_ms")]
    pub partition_wait: Duration,
    /// How many `logs/<timestamp>` subvolumes to keep, this boot's included.
    pub keep_logs: usize,
    /// Disk name patterns never considered (`*` and `?` globs).
    pub exclude: Vec<String>,
    /// When set, only disks matching one of these patterns may be touched (confined
    /// runs); every other disk is `excluded`.
    pub allow: Option<Vec<String>>,
    /// Accept loop devices as disks (tests and sandboxes only).
    pub allow_loop: bool,
    /// Mount options for the pool and its subvolumes (besides `subvol=`).
    pub mount_options: String,
    /// Deadlines of the blocking steps (see `core::deadline`): past one, the step
    /// fails with "timed out after …", as if the world had answered that error.
    /// `probe_disk`.
    #[serde(with = "duration_ms")]
    pub probe_timeout: Duration,
    /// `write_partition_table` and `add-partition` (BLKPG).
    #[serde(with = "duration_ms")]
    pub table_timeout: Duration,
    /// `mkfs.btrfs`.
    #[serde(with = "duration_ms")]
    pub mkfs_timeout: Duration,
    /// `mount` and `unmount`.
    #[serde(with = "duration_ms")]
    pub mount_timeout: Duration,
    /// Creating, listing and deleting subvolumes.
    #[serde(with = "duration_ms")]
    pub subvolume_timeout: Duration,
    /// Copying the early logs onto the cache.
    #[serde(with = "duration_ms")]
    pub copy_timeout: Duration,
    /// Services wait for the cache (ready, none or failed) at most this long after
    /// the gate opened; then they start anyway (`cache.hold_expired`).
    #[serde(with = "duration_ms")]
    pub hold_services_max: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetPolicy {
    /// NIC name patterns to manage (default `*`: all physical NICs).
    pub include: Vec<String>,
    /// NIC name patterns never managed.
    pub exclude: Vec<String>,
    /// Manage virtual links (veth, …) too, when they match `include`.
    pub allow_virtual: bool,
    /// When set, only NICs matching one of these may be touched (confined runs).
    pub allow: Option<Vec<String>>,
    /// DHCP client command; `{nic}` is replaced by the interface name.
    pub dhcp_command: Vec<String>,
    /// How long a carrier the kernel has not confirmed (flags up, operstate
    /// unknown) must last before a client starts on it.
    #[serde(with = "duration_ms")]
    pub carrier_confirm: Duration,
    /// A client with no lease this long after it started is given up.
    #[serde(with = "duration_ms")]
    pub give_up: Duration,
    #[serde(with = "duration_ms")]
    pub backoff_initial: Duration,
    #[serde(with = "duration_ms")]
    pub backoff_max: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatePolicy {
    /// `host:port` reachability targets; any one reachable opens the gate.
    pub targets: Vec<String>,
    /// The gate opens anyway this long after the network phase began.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// Per-attempt connect timeout.
    #[serde(with = "duration_ms")]
    pub attempt_timeout: Duration,
    /// Pause between rounds of attempts.
    #[serde(with = "duration_ms")]
    pub retry_interval: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceSpec {
    pub name: String,
    pub argv: Vec<String>,
    /// Services that must have started before this one (a one-shot service: that
    /// must have finished successfully).
    pub after: Vec<String>,
    #[serde(with = "duration_ms")]
    pub backoff_initial: Duration,
    #[serde(with = "duration_ms")]
    pub backoff_max: Duration,
    /// Runs once to completion (`nft -f …`): exit 0 is done for this boot, any other
    /// exit is restarted with backoff like a long-running service.
    pub oneshot: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            cache: CachePolicy::default(),
            net: NetPolicy::default(),
            gate: GatePolicy::default(),
            services: Vec::new(),
            modprobe: true,
            preload_modules: vec!["btrfs".into()],
            modprobe_timeout: Duration::from_secs(30),
            log_backlog: 1 << 20,
            log_clients: 16,
        }
    }
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            label: "sp_zos-cache".into(),
            pool_mount: "/mnt/storagepool/sp_zos-cache".into(),
            cache_mount: "/var/cache".into(),
            log_mount: "/var/log".into(),
            settle_quiet: Duration::from_secs(2),
            settle_after_facts: Duration::from_millis(500),
            settle_max: Duration::from_secs(10),
            partition_wait: Duration::from_secs(10),
            keep_logs: 10,
            exclude: Vec::new(),
            allow: None,
            allow_loop: false,
            mount_options: String::new(),
            probe_timeout: Duration::from_secs(10),
            table_timeout: Duration::from_secs(30),
            mkfs_timeout: Duration::from_secs(120),
            mount_timeout: Duration::from_secs(60),
            subvolume_timeout: Duration::from_secs(30),
            copy_timeout: Duration::from_secs(60),
            hold_services_max: Duration::from_secs(180),
        }
    }
}

impl Default for NetPolicy {
    fn default() -> Self {
        NetPolicy {
            include: vec!["*".into()],
            exclude: Vec::new(),
            allow_virtual: false,
            allow: None,
            dhcp_command: [
                "udhcpc",
                "-f",
                "-i",
                "{nic}",
                "-t",
                "10",
                "-T",
                "3",
                "-s",
                "/usr/share/udhcpc/default.script",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            carrier_confirm: Duration::from_secs(2),
            give_up: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            targets: vec!["1.1.1.1:53".into(), "8.8.8.8:53".into()],
            timeout: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(2),
            retry_interval: Duration::from_secs(1),
        }
    }
}

impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            name: String::new(),
            argv: Vec::new(),
            after: Vec::new(),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            oneshot: false,
        }
    }
}

/// Shell-style glob with `*` and `?` (each `?` one byte), the pattern language of
/// every name list here.
///
/// Iterative, with one backtracking point (the last `*`): O(pattern × name) time and
/// no recursion, whatever the pattern — a rule like `*a*a*a*a*b` must not stall PID 1.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // After the last `*` seen: where the pattern resumes, and the name position it
    // was last tried against.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&nc) = n.get(ni) {
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ni));
            }
            Some(&pc) if pc == b'?' || pc == nc => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more byte and retry from there.
                Some((resume, tried)) => {
                    pi = resume;
                    ni = tried + 1;
                    star = Some((resume, ni));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

pub fn any_match(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, name))
}

/// Durations are written as whole milliseconds in traces and policy dumps.
mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious recursive definition, as the reference for the iterative one.
    fn reference(p: &[u8], n: &[u8]) -> bool {
        match (p.split_first(), n.split_first()) {
            (None, None) => true,
            (Some((b'*', rest)), _) => {
                reference(rest, n) || n.split_first().is_some_and(|(_, nr)| reference(p, nr))
            }
            (Some((b'?', rest)), Some((_, nr))) => reference(rest, nr),
            (Some((pc, rest)), Some((nc, nr))) => pc == nc && reference(rest, nr),
            _ => false,
        }
    }

    #[test]
    fn globs_agree_with_the_recursive_definition() {
        let patterns = [
            "", "*", "**", "?", "a", "a*", "*a", "*a*", "a?c", "a*c", "*?", "?*", "a**b", "*ab*ab",
            "sd*", "loop*p1", "nvme?n*", "*?*?", "ab*", "*b*c*",
        ];
        let names = [
            "", "a", "b", "ab", "abc", "aab", "abab", "ababab", "acbc", "sda", "loop12p1",
            "loop1p11", "nvme0n1", "nvme10n1", "xabcab", "bc", "abcbc",
        ];
        for p in patterns {
            for n in names {
                assert_eq!(
                    glob_match(p, n),
                    reference(p.as_bytes(), n.as_bytes()),
                    "pattern {p:?} name {n:?}"
                );
            }
        }
    }

    #[test]
    fn many_stars_stay_fast() {
        // Exponential for the recursive definition (hours); one pass here.
        let pattern = "*a".repeat(30) + "b";
        let name = "a".repeat(4_000);
        assert!(!glob_match(&pattern, &name));
        assert!(glob_match(&pattern, &(name + "b")));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "eth0"));
        assert!(glob_match("eth?", "eth0"));
        assert!(!glob_match("eth?", "eth10"));
        assert!(glob_match("loop*p1", "loop12p1"));
        assert!(!glob_match("sd*", "vda"));
    }
}
