//! Kernel command-line overrides: `nodeboot.<key>=<value>` words in `/proc/cmdline`
//! override rules keys (a PXE-booted node is configured by its command line).
//!
//! Two forms are accepted:
//! - short aliases: `nodeboot.reach=`, `nodeboot.gate=`, `nodeboot.settle=`, … (table
//!   [`ALIASES`]);
//! - every rules key as `nodeboot.<file>.<key>=`, e.g. `nodeboot.cache.settle_max=20s`,
//!   `nodeboot.network.backoff_max=2m` (`<file>` is the rules file without `.toml`).
//!
//! Lists are comma-separated (`none` or empty = no entries), durations as in the rules
//! (a bare number is seconds), booleans `0`/`1`. Words are split as the kernel does:
//! on spaces outside double quotes, quotes removed; everything after `--` belongs to
//! init's argv and is ignored. A bad or unknown `nodeboot.*` word is an error that
//! leaves the value from the rules in place; it is never fatal.

use super::RulesError;
use super::schema::{self, SECTIONS};
use crate::core::policy::Policy;

/// The `file` of errors found on the command line.
pub const SOURCE: &str = "/proc/cmdline";

/// Short aliases: `nodeboot.<alias>` → `<section>.<key>`.
pub const ALIASES: &[(&str, &str, &str)] = &[
    ("reach", "gate", "targets"),
    ("gate", "gate", "timeout"),
    ("giveup", "network", "give_up"),
    ("keep_logs", "cache", "keep_logs"),
    ("nic", "network", "include"),
    ("nic.exclude", "network", "exclude"),
    ("disk.exclude", "cache", "exclude"),
    ("label", "cache", "label"),
    ("dhcp", "network", "dhcp_command"),
    ("modprobe", "boot", "modprobe"),
    ("preload", "boot", "preload_modules"),
];

/// Words handled here rather than through a rules key (`settle` sets two keys).
const SPECIAL: &[&str] = &["services", "rules", "settle"];

/// The command line split into words the way the kernel does it (`next_arg`).
pub fn words(cmdline: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut started = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                started = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    // Arguments after `--` are init's own.
    if let Some(pos) = out.iter().position(|w| w == "--") {
        out.truncate(pos);
    }
    out
}

/// The `nodeboot.*` words as `(key, value)`; a word without `=` has value `None`.
fn nodeboot_words(cmdline: &str) -> Vec<(String, Option<String>)> {
    words(cmdline)
        .into_iter()
        .filter_map(|w| {
            let rest = w.strip_prefix("nodeboot.")?.to_owned();
            Some(match rest.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (rest, None),
            })
        })
        .collect()
}

/// `nodeboot.rules=DIR`: the rules directory to use instead of the default (the last
/// one given wins).
pub fn rules_dir(cmdline: &str) -> Option<String> {
    nodeboot_words(cmdline)
        .into_iter()
        .rev()
        .find(|(k, v)| k == "rules" && v.as_ref().is_some_and(|v| !v.is_empty()))
        .and_then(|(_, v)| v)
}

/// Apply the `nodeboot.*` words of `cmdline` to `policy`, in order (a later word wins).
/// Each word is checked with the same rules as the files; a bad word changes nothing
/// and is returned as an error (`file` = `/proc/cmdline`, `line` = 1).
pub fn apply(policy: &mut Policy, cmdline: &str) -> Vec<RulesError> {
    let mut errors = Vec::new();
    for (key, value) in nodeboot_words(cmdline) {
        let err = |message: String| RulesError {
            file: SOURCE.into(),
            line: 1,
            message,
        };
        let word = match &value {
            Some(v) => format!("nodeboot.{key}={v}"),
            None => format!("nodeboot.{key}"),
        };
        let Some(value) = value else {
            errors.push(err(format!("{word}: needs a value (nodeboot.{key}=…)")));
            continue;
        };
        if let Err(m) = apply_one(policy, &key, &value) {
            errors.push(err(format!("{word}: {m}")));
        }
    }
    errors
}

fn apply_one(policy: &mut Policy, key: &str, value: &str) -> Result<(), String> {
    match key {
        "rules" => return Ok(()), // read by the caller through `rules_dir`
        "services" => {
            return match value {
                "off" | "0" | "none" => {
                    policy.services.clear();
                    Ok(())
                }
                "on" | "1" => Ok(()),
                _ => Err("expected `off` or `on`".into()),
            };
        }
        // The quiet period an operator means, whichever one this boot uses: after the
        // facts (coldplug loaded drivers) or the plain one (it loaded none).
        "settle" => {
            let mut candidate = policy.clone();
            apply_one(&mut candidate, "cache.settle_quiet", value)?;
            apply_one(&mut candidate, "cache.settle_after_facts", value)?;
            *policy = candidate;
            return Ok(());
        }
        _ => {}
    }
    let (section_name, key_name) = match ALIASES.iter().find(|(a, _, _)| *a == key) {
        Some((_, s, k)) => (*s, *k),
        None => key.split_once('.').unwrap_or(("", key)),
    };
    let section_name = if section_name == "net" {
        "network"
    } else {
        section_name
    };
    let Some(section) = SECTIONS.iter().find(|s| s.name == section_name) else {
        return Err(unknown(key));
    };
    let Some(k) = schema::find_key(section.keys, key_name) else {
        return Err(unknown(key));
    };
    let mut candidate = policy.clone();
    schema::set_from_text(&k.field, &mut candidate, value)?;
    let problems = (section.validate)(&candidate);
    if let Some(p) = problems.into_iter().next() {
        return Err(p.message);
    }
    *policy = candidate;
    Ok(())
}

fn unknown(key: &str) -> String {
    let mut known: Vec<String> = ALIASES.iter().map(|(a, _, _)| a.to_string()).collect();
    known.extend(SPECIAL.iter().map(|s| s.to_string()));
    for s in SECTIONS {
        known.extend(s.keys.iter().map(|k| format!("{}.{}", s.name, k.name)));
    }
    let hint = schema::suggest(key, known.iter().map(String::as_str))
        .map(|s| format!(" (did you mean `nodeboot.{s}`?)"))
        .unwrap_or_default();
    format!("unknown key `nodeboot.{key}`, ignored{hint}")
}
