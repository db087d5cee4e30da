//! `nodeboot check`: validate a rules directory (and optionally a kernel command line)
//! the way the node would read it. The flags and exit codes are the binary's
//! (src/cli/check.rs): 0 valid, 1 errors found, 2 usage error.

use super::{RulesError, cmdline, load_or_default};
use crate::core::policy::Policy;
use std::path::PathBuf;

/// What `nodeboot check` prints for a valid directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckOutput {
    /// A few lines an operator can read at a glance ([`summary`]).
    #[default]
    Summary,
    /// The effective policy as rules files ([`super::to_toml`]).
    Dump,
    /// The effective policy as JSON.
    Json,
}

/// What to check and what to print.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    pub dir: PathBuf,
    /// Kernel command-line overrides, checked too.
    pub cmdline: Option<String>,
    pub output: CheckOutput,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Every error, each as `file:line: message`.
    #[error("{} error{} in {}", .errors.len(), if .errors.len() == 1 { "" } else { "s" }, .dir.display())]
    Invalid {
        dir: PathBuf,
        errors: Vec<RulesError>,
    },
    #[error("cannot render JSON: {0}")]
    Json(String),
}

/// Check `opts.dir` (then `opts.cmdline`): the text to print when valid, else every
/// error.
pub fn check(opts: &CheckOptions) -> Result<String, CheckError> {
    let (mut policy, mut errors) = load_or_default(&opts.dir);
    if let Some(line) = &opts.cmdline {
        errors.extend(cmdline::apply(&mut policy, line));
    }
    if !errors.is_empty() {
        return Err(CheckError::Invalid {
            dir: opts.dir.clone(),
            errors,
        });
    }
    Ok(match opts.output {
        CheckOutput::Json => serde_json::to_string_pretty(&policy)
            .map(|s| s + "\n")
            .map_err(|e| CheckError::Json(e.to_string()))?,
        CheckOutput::Dump => super::to_toml(&policy),
        CheckOutput::Summary => summary(&opts.dir.display().to_string(), &policy),
    })
}

/// A few lines an operator can read at a glance.
pub fn summary(dir: &str, p: &Policy) -> String {
    use super::format_duration as d;
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut out = format!("{dir}: ok\n");
    out.push_str(&format!(
        "cache:    label {} at {} (cache {}, logs {}), settle {} ({} after the facts, max {}), partition wait {}, keep {} log subvolumes, exclude [{}]\n",
        p.cache.label,
        p.cache.pool_mount,
        p.cache.cache_mount,
        p.cache.log_mount,
        d(p.cache.settle_quiet),
        d(p.cache.settle_after_facts),
        d(p.cache.settle_max),
        d(p.cache.partition_wait),
        p.cache.keep_logs,
        p.cache.exclude.join(", "),
    ));
    out.push_str(&format!(
        "network:  NICs [{}] minus [{}], dhcp `{}`, give up after {}, unconfirmed carrier held {}\n",
        p.net.include.join(", "),
        p.net.exclude.join(", "),
        p.net.dhcp_command.join(" "),
        d(p.net.give_up),
        d(p.net.carrier_confirm),
    ));
    out.push_str(&format!(
        "gate:     reach {}, timeout {} (attempt {}, retry every {})\n",
        list(&p.gate.targets),
        d(p.gate.timeout),
        d(p.gate.attempt_timeout),
        d(p.gate.retry_interval),
    ));
    out.push_str(&format!(
        "boot:     modprobe {}, preload {}\n",
        if p.modprobe { "on" } else { "off" },
        list(&p.preload_modules),
    ));
    out.push_str(&format!(
        "deadlines: probe {}, table {}, mkfs {}, mount {}, subvolume {}, copy {}, modprobe {}; services wait for the cache at most {} after the gate\n",
        d(p.cache.probe_timeout),
        d(p.cache.table_timeout),
        d(p.cache.mkfs_timeout),
        d(p.cache.mount_timeout),
        d(p.cache.subvolume_timeout),
        d(p.cache.copy_timeout),
        d(p.modprobe_timeout),
        d(p.cache.hold_services_max),
    ));
    out.push_str(&format!("services: {}\n", p.services.len()));
    for s in &p.services {
        let after = if s.after.is_empty() {
            String::new()
        } else {
            format!(" (after {})", s.after.join(", "))
        };
        out.push_str(&format!("  {}: {}{after}\n", s.name, s.argv.join(" ")));
    }
    out
}
