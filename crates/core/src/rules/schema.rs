//! The key tables: every rules key, its type and where it lands in [`Policy`]. The file
//! reader, the kernel command line and the dump all go through these tables, so a key
//! added here is reachable from all three at once.

use crate::core::policy::{Policy, ServiceSpec};
use std::time::Duration;

/// How a key's value is typed, and the field it writes (an accessor into the target).
pub(crate) enum Field<T> {
    Str(fn(&mut T) -> &mut String),
    Bool(fn(&mut T) -> &mut bool),
    /// A count with inclusive bounds.
    Count(fn(&mut T) -> &mut usize, usize, usize),
    /// A duration, > 0 and at most the bound.
    Dur(fn(&mut T) -> &mut Duration, Duration),
    /// A duration, 0 (= off) or at most the bound.
    DurOrZero(fn(&mut T) -> &mut Duration, Duration),
    List(fn(&mut T) -> &mut Vec<String>),
    /// A list that may be absent (absent = no restriction).
    OptList(fn(&mut T) -> &mut Option<Vec<String>>),
}

pub(crate) struct Key<T: 'static> {
    pub name: &'static str,
    pub field: Field<T>,
}

/// One rules file that fills one part of the policy.
pub(crate) struct Section {
    /// File name inside the rules directory.
    pub file: &'static str,
    /// Name used on the kernel command line (`nodeboot.<name>.<key>=`).
    pub name: &'static str,
    /// Table headers that may wrap the keys (`[gate]` in gate.toml).
    pub headers: &'static [&'static str],
    pub keys: &'static [Key<Policy>],
    /// Semantic checks, after the types are right.
    pub validate: fn(&Policy) -> Vec<super::validate::Problem>,
    /// Put the built-in defaults back into this section.
    pub reset: fn(&mut Policy),
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

pub(crate) static CACHE_KEYS: &[Key<Policy>] = &[
    Key {
        name: "label",
        field: Field::Str(|p| &mut p.cache.label),
    },
    Key {
        name: "pool_mount",
        field: Field::Str(|p| &mut p.cache.pool_mount),
    },
    Key {
        name: "cache_mount",
        field: Field::Str(|p| &mut p.cache.cache_mount),
    },
    Key {
        name: "log_mount",
        field: Field::Str(|p| &mut p.cache.log_mount),
    },
    Key {
        name: "settle_quiet",
        field: Field::Dur(|p| &mut p.cache.settle_quiet, MINUTE.saturating_mul(5)),
    },
    Key {
        name: "settle_after_facts",
        field: Field::Dur(|p| &mut p.cache.settle_after_facts, MINUTE),
    },
    Key {
        name: "settle_max",
        field: Field::Dur(|p| &mut p.cache.settle_max, MINUTE.saturating_mul(30)),
    },
    Key {
        name: "partition_wait",
        field: Field::Dur(|p| &mut p.cache.partition_wait, MINUTE.saturating_mul(5)),
    },
    Key {
        name: "keep_logs",
        field: Field::Count(|p| &mut p.cache.keep_logs, 1, 1000),
    },
    Key {
        name: "exclude",
        field: Field::List(|p| &mut p.cache.exclude),
    },
    Key {
        name: "allow",
        field: Field::OptList(|p| &mut p.cache.allow),
    },
    Key {
        name: "allow_loop",
        field: Field::Bool(|p| &mut p.cache.allow_loop),
    },
    Key {
        name: "mount_options",
        field: Field::Str(|p| &mut p.cache.mount_options),
    },
    Key {
        name: "probe_timeout",
        field: Field::Dur(|p| &mut p.cache.probe_timeout, MINUTE.saturating_mul(10)),
    },
    Key {
        name: "table_timeout",
        field: Field::Dur(|p| &mut p.cache.table_timeout, MINUTE.saturating_mul(10)),
    },
    Key {
        name: "mkfs_timeout",
        field: Field::Dur(|p| &mut p.cache.mkfs_timeout, HOUR),
    },
    Key {
        name: "mount_timeout",
        field: Field::Dur(|p| &mut p.cache.mount_timeout, MINUTE.saturating_mul(30)),
    },
    Key {
        name: "subvolume_timeout",
        field: Field::Dur(
            |p| &mut p.cache.subvolume_timeout,
            MINUTE.saturating_mul(30),
        ),
    },
    Key {
        name: "copy_timeout",
        field: Field::Dur(|p| &mut p.cache.copy_timeout, HOUR),
    },
    Key {
        name: "hold_services_max",
        field: Field::Dur(|p| &mut p.cache.hold_services_max, HOUR),
    },
];

pub(crate) static NETWORK_KEYS: &[Key<Policy>] = &[
    Key {
        name: "include",
        field: Field::List(|p| &mut p.net.include),
    },
    Key {
        name: "exclude",
        field: Field::List(|p| &mut p.net.exclude),
    },
    Key {
        name: "allow_virtual",
        field: Field::Bool(|p| &mut p.net.allow_virtual),
    },
    Key {
        name: "allow",
        field: Field::OptList(|p| &mut p.net.allow),
    },
    Key {
        name: "dhcp_command",
        field: Field::List(|p| &mut p.net.dhcp_command),
    },
    Key {
        name: "carrier_confirm",
        field: Field::DurOrZero(|p| &mut p.net.carrier_confirm, MINUTE),
    },
    Key {
        name: "give_up",
        field: Field::Dur(|p| &mut p.net.give_up, MINUTE.saturating_mul(10)),
    },
    Key {
        name: "backoff_initial",
        field: Field::Dur(|p| &mut p.net.backoff_initial, MINUTE.saturating_mul(10)),
    },
    Key {
        name: "backoff_max",
        field: Field::Dur(|p| &mut p.net.backoff_max, HOUR),
    },
];

pub(crate) static GATE_KEYS: &[Key<Policy>] = &[
    Key {
        name: "targets",
        field: Field::List(|p| &mut p.gate.targets),
    },
    Key {
        name: "timeout",
        field: Field::Dur(|p| &mut p.gate.timeout, HOUR),
    },
    Key {
        name: "attempt_timeout",
        field: Field::Dur(|p| &mut p.gate.attempt_timeout, MINUTE.saturating_mul(5)),
    },
    Key {
        name: "retry_interval",
        field: Field::Dur(|p| &mut p.gate.retry_interval, MINUTE.saturating_mul(5)),
    },
];

pub(crate) static BOOT_KEYS: &[Key<Policy>] = &[
    Key {
        name: "modprobe",
        field: Field::Bool(|p| &mut p.modprobe),
    },
    Key {
        name: "preload_modules",
        field: Field::List(|p| &mut p.preload_modules),
    },
    Key {
        name: "modprobe_timeout",
        field: Field::Dur(|p| &mut p.modprobe_timeout, MINUTE.saturating_mul(30)),
    },
    Key {
        name: "log_backlog",
        field: Field::Count(|p| &mut p.log_backlog, 64 << 10, 64 << 20),
    },
    Key {
        name: "log_clients",
        field: Field::Count(|p| &mut p.log_clients, 1, 1024),
    },
];

pub(crate) static SERVICE_KEYS: &[Key<ServiceSpec>] = &[
    Key {
        name: "name",
        field: Field::Str(|s| &mut s.name),
    },
    Key {
        name: "argv",
        field: Field::List(|s| &mut s.argv),
    },
    Key {
        name: "after",
        field: Field::List(|s| &mut s.after),
    },
    Key {
        name: "backoff_initial",
        field: Field::Dur(|s| &mut s.backoff_initial, MINUTE.saturating_mul(10)),
    },
    Key {
        name: "backoff_max",
        field: Field::Dur(|s| &mut s.backoff_max, HOUR),
    },
    Key {
        name: "oneshot",
        field: Field::Bool(|s| &mut s.oneshot),
    },
];

/// The flat sections, in the order they are read and dumped.
pub(crate) static SECTIONS: &[Section] = &[
    Section {
        file: "cache.toml",
        name: "cache",
        headers: &["cache"],
        keys: CACHE_KEYS,
        validate: |p| super::validate::cache(&p.cache),
        reset: |p| p.cache = Default::default(),
    },
    Section {
        file: "network.toml",
        name: "network",
        headers: &["network", "net"],
        keys: NETWORK_KEYS,
        validate: |p| super::validate::network(&p.net),
        reset: |p| p.net = Default::default(),
    },
    Section {
        file: "gate.toml",
        name: "gate",
        headers: &["gate"],
        keys: GATE_KEYS,
        validate: |p| super::validate::gate(&p.gate),
        reset: |p| p.gate = Default::default(),
    },
    Section {
        file: "boot.toml",
        name: "boot",
        headers: &["boot"],
        keys: BOOT_KEYS,
        validate: |p| super::validate::boot(p),
        reset: |p| {
            let d = Policy::default();
            p.modprobe = d.modprobe;
            p.preload_modules = d.preload_modules;
            p.modprobe_timeout = d.modprobe_timeout;
            p.log_backlog = d.log_backlog;
            p.log_clients = d.log_clients;
        },
    },
];

/// The services file (not a flat section: an array of `[[service]]` tables).
pub(crate) const SERVICES_FILE: &str = "services.toml";

pub(crate) fn find_key<T>(keys: &'static [Key<T>], name: &str) -> Option<&'static Key<T>> {
    keys.iter().find(|k| k.name == name)
}

/// The closest known name, for "did you mean" hints (edit distance ≤ 2).
pub(crate) fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + usize::from(ca != *cb);
            let del = prev
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let ins = cur.get(j).copied().unwrap_or(usize::MAX).saturating_add(1);
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// A duration in the rules' human form: `"500ms"`, `"30s"`, `"2m"`, `"1h"`, sums such
/// as `"1m30s"`, or a bare number of seconds (`"30"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let bad = || format!("invalid duration {text:?} (use e.g. \"500ms\", \"30s\", \"2m\", \"1h\")");
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(digits);
        let n: u64 = num.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let part = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(part);
        rest = next.trim_start();
    }
    Ok(total)
}

/// The shortest exact human form of a duration (`"1m30s"`, `"500ms"`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let (h, rem) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, ms) = (rem / 1000, rem % 1000);
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// Check a duration against its bounds (shared by files and the command line).
pub(crate) fn check_duration(d: Duration, max: Duration) -> Result<Duration, String> {
    check_duration_or_zero(d, max, false)
}

/// The same, with zero allowed when `zero_ok` (a key where 0 turns something off).
pub(crate) fn check_duration_or_zero(
    d: Duration,
    max: Duration,
    zero_ok: bool,
) -> Result<Duration, String> {
    if d.is_zero() && !zero_ok {
        Err("must be greater than zero".into())
    } else if d > max {
        Err(format!(
            "{} is too long (at most {})",
            format_duration(d),
            format_duration(max)
        ))
    } else {
        Ok(d)
    }
}

/// Set a field from a command-line word value: lists split on `,`, booleans as
/// `1/0/yes/no/true/false/on/off`, durations as in [`parse_duration`].
pub(crate) fn set_from_text<T>(field: &Field<T>, target: &mut T, text: &str) -> Result<(), String> {
    match field {
        Field::Str(f) => *f(target) = text.to_owned(),
        Field::Bool(f) => {
            *f(target) = match text {
                "1" | "yes" | "true" | "on" => true,
                "0" | "no" | "false" | "off" => false,
                _ => return Err(format!("expected 0 or 1, found {text:?}")),
            }
        }
        Field::Count(f, lo, hi) => {
            let n: usize = text
                .parse()
                .map_err(|_| format!("expected a whole number, found {text:?}"))?;
            *f(target) = check_count(n, *lo, *hi)?;
        }
        Field::Dur(f, max) => *f(target) = check_duration(parse_duration(text)?, *max)?,
        Field::DurOrZero(f, max) => {
            *f(target) = check_duration_or_zero(parse_duration(text)?, *max, true)?
        }
        Field::List(f) => *f(target) = split_list(text),
        Field::OptList(f) => *f(target) = Some(split_list(text)),
    }
    Ok(())
}

pub(crate) fn check_count(n: usize, lo: usize, hi: usize) -> Result<usize, String> {
    if n < lo || n > hi {
        Err(format!("must be between {lo} and {hi}, found {n}"))
    } else {
        Ok(n)
    }
}

/// `a,b,c` → three words; empty or `none` → no words.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    if text.is_empty() || text == "none" {
        return Vec::new();
    }
    text.split(',').map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("30x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        for d in [500, 1000, 90_000, 3_600_000, 3_661_500] {
            let d = Duration::from_millis(d);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn suggestions() {
        let keys = ["give_up", "backoff_max"];
        assert_eq!(suggest("giveup", keys.iter().copied()), Some("give_up"));
        assert_eq!(suggest("zzz", keys.iter().copied()), None);
    }
}
