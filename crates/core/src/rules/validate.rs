//! Semantic checks, after the types are right. Each check names the key to blame so
//! the error can point at its line.

use crate::core::policy::{CachePolicy, GatePolicy, NetPolicy, Policy};

/// A value that breaks a rule: the key to blame, the list element when the key is a
/// list (to point at its own line), and what is wrong.
#[derive(Debug)]
pub(crate) struct Problem {
    pub key: &'static str,
    pub item: Option<usize>,
    pub message: String,
}

type Problems = Vec<Problem>;

fn problem(key: &'static str, message: String) -> Problem {
    Problem {
        key,
        item: None,
        message,
    }
}

pub(crate) fn cache(c: &CachePolicy) -> Problems {
    let mut out = Vec::new();
    if let Err(m) = label(&c.label) {
        out.push(problem("label", m));
    }
    let mounts = [
        ("pool_mount", &c.pool_mount),
        ("cache_mount", &c.cache_mount),
        ("log_mount", &c.log_mount),
    ];
    let mut clean = Vec::new();
    for (key, path) in mounts {
        match mount_point(path) {
            Ok(p) => clean.push((key, p)),
            Err(m) => out.push(problem(key, m)),
        }
    }
    // Every pair of mount points, blamed on the later key: equal ones hide each other,
    // and one inside another hides it (or, for the pool, copies the logs into
    // themselves).
    for (i, (key, path)) in clean.iter().enumerate() {
        for (other_key, other) in clean.iter().take(i) {
            if path == other {
                out.push(problem(
                    key,
                    format!("{key} and {other_key} must differ, both are {path:?}"),
                ));
            } else if is_under(path, other) || is_under(other, path) {
                out.push(problem(
                    key,
                    format!("{key} {path:?} and {other_key} {other:?} must not be nested"),
                ));
            }
        }
    }
    if c.mount_options.chars().any(char::is_whitespace) {
        out.push(problem(
            "mount_options",
            "mount options must not contain spaces (comma-separated)".into(),
        ));
    }
    patterns("exclude", &c.exclude, &mut out);
    if let Some(allow) = &c.allow {
        patterns("allow", allow, &mut out);
    }
    out
}

pub(crate) fn network(n: &NetPolicy) -> Problems {
    let mut out = Vec::new();
    patterns("include", &n.include, &mut out);
    patterns("exclude", &n.exclude, &mut out);
    if let Some(allow) = &n.allow {
        patterns("allow", allow, &mut out);
    }
    if n.dhcp_command.first().is_none_or(|w| w.is_empty()) {
        out.push(problem(
            "dhcp_command",
            "dhcp_command must not be empty".into(),
        ));
    } else if !n.dhcp_command.iter().any(|w| w.contains("{nic}")) {
        out.push(problem(
            "dhcp_command",
            "dhcp_command must contain the `{nic}` placeholder".into(),
        ));
    }
    if n.backoff_initial > n.backoff_max {
        out.push(problem(
            "backoff_initial",
            "backoff_initial must not exceed backoff_max".into(),
        ));
    }
    out
}

pub(crate) fn gate(g: &GatePolicy) -> Problems {
    let mut out = Vec::new();
    for (i, t) in g.targets.iter().enumerate() {
        if let Err(message) = host_port(t) {
            out.push(Problem {
                key: "targets",
                item: Some(i),
                message,
            });
        }
    }
    out
}

pub(crate) fn boot(p: &Policy) -> Problems {
    let mut out = Vec::new();
    for (i, m) in p.preload_modules.iter().enumerate() {
        if let Err(message) = module_name(m) {
            out.push(Problem {
                key: "preload_modules",
                item: Some(i),
                message,
            });
        }
    }
    out
}

/// A module name for `modprobe`: non-empty, not an option (`-…`), no path, no spaces.
pub(crate) fn module_name(m: &str) -> Result<(), String> {
    if m.is_empty() {
        Err("module name must not be empty".into())
    } else if m.starts_with('-') {
        Err(format!("module name must not start with `-`, found {m:?}"))
    } else if m.len() > 64 {
        Err(format!(
            "module name is {} bytes long (at most 64)",
            m.len()
        ))
    } else if !m
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Err(format!(
            "module name may hold only letters, digits, `_` and `-`, found {m:?}"
        ))
    } else {
        Ok(())
    }
}

/// Directories a cache mount must never cover: the root itself, the kernel's virtual
/// filesystems (and anything under them), and `/run` (nodeboot's socket and lock).
const FORBIDDEN_MOUNTS: &[&str] = &["/", "/proc", "/sys", "/dev", "/run"];
/// Of those, the ones whose subdirectories are forbidden too (`/run/x` may be a
/// legitimate tmpfs place; `/proc/x` never is).
const FORBIDDEN_TREES: &[&str] = &["/proc", "/sys", "/dev"];

/// A mount point, normalised (`//var/log/` → `/var/log`): absolute, no `..` or `.`,
/// none of [`FORBIDDEN_MOUNTS`].
pub(crate) fn mount_point(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!(
            "mount point must be an absolute path, found {path:?}"
        ));
    }
    if path.split('/').any(|part| part == ".." || part == ".") || path.contains('\0') {
        return Err(format!(
            "mount point must not contain `..` or `.`, found {path:?}"
        ));
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let clean = format!("/{}", parts.join("/"));
    if FORBIDDEN_MOUNTS.contains(&clean.as_str())
        || FORBIDDEN_TREES.iter().any(|t| is_under(&clean, t))
    {
        return Err(format!(
            "mount point {path:?} would cover a system directory (not /, /proc, /sys, /dev, /run)"
        ));
    }
    Ok(clean)
}

/// `path` strictly inside `dir` (both normalised).
fn is_under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/') || dir == "/")
}

/// A GPT partition name holds 36 UTF-16 code units; the label is also that name.
pub const GPT_NAME_UNITS: usize = 36;

/// A btrfs label (also the GPT partition name): non-empty, at most 255 bytes and 36
/// UTF-16 units, no `/`.
pub(crate) fn label(l: &str) -> Result<(), String> {
    let units = l.encode_utf16().count();
    if l.is_empty() {
        Err("label must not be empty".into())
    } else if l.len() > 255 {
        Err(format!("label is {} bytes long (at most 255)", l.len()))
    } else if units > GPT_NAME_UNITS {
        Err(format!(
            "label is {units} UTF-16 units long (a GPT partition name holds at most {GPT_NAME_UNITS})"
        ))
    } else if l.contains('/') || l.contains('\0') {
        Err(format!("label must not contain `/`, found {l:?}"))
    } else {
        Ok(())
    }
}

fn patterns(key: &'static str, list: &[String], out: &mut Problems) {
    if let Some(i) = list.iter().position(|p| p.is_empty()) {
        out.push(Problem {
            key,
            item: Some(i),
            message: format!("{key}: empty name pattern"),
        });
    }
}

/// `host:port`: an IPv4 address, `[IPv6]` or a DNS name, and a port 1–65535.
pub(crate) fn host_port(t: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("target {t:?} is not host:port ({why})"));
    let Some((host, port)) = t.rsplit_once(':') else {
        return bad("no port");
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return bad("port must be 1-65535"),
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match v6.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => bad("bad IPv6 address"),
        };
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(());
    }
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && host.chars().any(|c| c.is_ascii_alphabetic());
    if name_ok {
        Ok(())
    } else if host.is_empty() {
        bad("no host")
    } else {
        bad("host is not an IP address or DNS name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preload_module_names() {
        for ok in ["btrfs", "raid6_pq", "crc32c-intel", "fs-btrfs"] {
            assert_eq!(module_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", "../x", "a b", "x/y", "a\0b", &"m".repeat(65)] {
            assert!(module_name(bad).is_err(), "{bad:?}");
        }
        let p = Policy {
            preload_modules: vec!["btrfs".into(), "--all".into()],
            ..Policy::default()
        };
        let problems = boot(&p);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "preload_modules");
        assert_eq!(problems[0].item, Some(1));
        assert!(boot(&Policy::default()).is_empty());
    }

    #[test]
    fn targets() {
        for ok in [
            "1.1.1.1:53",
            "[2606:4700::1111]:443",
            "example.org:80",
            "hub-1.grid.tf:443",
        ] {
            assert_eq!(host_port(ok), Ok(()), "{ok}");
        }
        for bad in [
            "1.1.1.1",
            "1.1.1.1:0",
            "1.1.1.1:99999",
            ":53",
            "[::1:53",
            "a b:1",
            "1.2.3.999:5",
            "2606:4700::1111:443",
        ] {
            assert!(host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels() {
        assert!(label("sp_zos-cache").is_ok());
        assert!(label("").is_err());
        assert!(label("a/b").is_err());
        assert!(label(&"x".repeat(256)).is_err());
        assert!(label(&"x".repeat(36)).is_ok());
        assert!(label(&"x".repeat(37)).is_err());
        // 36 characters outside the BMP are 72 UTF-16 units.
        assert!(label(&"\u{1F600}".repeat(18)).is_ok());
        assert!(label(&"\u{1F600}".repeat(19)).is_err());
    }

    #[test]
    fn mount_points() {
        assert_eq!(mount_point("//var/log/").as_deref(), Ok("/var/log"));
        assert_eq!(mount_point("/run/x").as_deref(), Ok("/run/x"));
        for bad in [
            "/", "//", "/proc", "/sys/", "/dev", "/run", "/proc/x", "/dev/shm", "var", "/a/../b",
            "/a/./b",
        ] {
            assert!(mount_point(bad).is_err(), "{bad}");
        }
        let nested = CachePolicy {
            log_mount: "/mnt/pool/logs".into(),
            pool_mount: "/mnt/pool".into(),
            ..CachePolicy::default()
        };
        let p = cache(&nested);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].key, "log_mount");
        let same = CachePolicy {
            log_mount: "/mnt/pool/".into(),
            pool_mount: "/mnt/pool".into(),
            ..CachePolicy::default()
        };
        assert_eq!(cache(&same).len(), 1);
        assert!(cache(&CachePolicy::default()).is_empty());
    }
}
