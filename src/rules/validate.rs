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
    for (key, path) in [
        ("pool_mount", &c.pool_mount),
        ("cache_mount", &c.cache_mount),
        ("log_mount", &c.log_mount),
    ] {
        if !path.starts_with('/') {
            out.push(problem(
                key,
                format!("mount point must be an absolute path, found {path:?}"),
            ));
        } else if path.split('/').any(|part| part == "..") {
            out.push(problem(
                key,
                format!("mount point must not contain `..`, found {path:?}"),
            ));
        }
    }
    if c.cache_mount == c.log_mount {
        out.push(problem(
            "log_mount",
            "log_mount and cache_mount must differ".into(),
        ));
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

/// A btrfs label (also the GPT partition name): non-empty, at most 255 bytes, no `/`.
pub(crate) fn label(l: &str) -> Result<(), String> {
    if l.is_empty() {
        Err("label must not be empty".into())
    } else if l.len() > 255 {
        Err(format!("label is {} bytes long (at most 255)", l.len()))
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
        assert!(label(&"x".repeat(255)).is_ok());
    }
}
