//! `nodeboot check DIR [--cmdline "…"] [--dump | --json]`: validate a rules directory
//! (and optionally a kernel command line) the way the node would read it.
//!
//! Exit codes: 0 valid, 1 errors found (each printed as `file:line: message` on
//! stderr), 2 usage error.

use super::{cmdline, load_or_default};
use crate::args::Args;
use crate::core::policy::Policy;
use std::path::Path;

const USAGE: &str =
    "usage: nodeboot check DIR [--cmdline \"nodeboot.gate=30 …\"] [--dump | --json]";

pub fn check_main(args: &[String]) -> i32 {
    let parsed = match Args::parse(args, &["cmdline"]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nodeboot check: {e}\n{USAGE}");
            return 2;
        }
    };
    if let Some(flag) = parsed.unknown(&["cmdline", "dump", "json", "h", "help"]) {
        eprintln!("nodeboot check: unknown flag --{flag}\n{USAGE}");
        return 2;
    }
    if parsed.has("h") || parsed.has("help") {
        println!("{USAGE}");
        return 0;
    }
    let [dir] = parsed.positional.as_slice() else {
        eprintln!("nodeboot check: expected exactly one rules directory\n{USAGE}");
        return 2;
    };
    let (mut policy, mut errors) = load_or_default(Path::new(dir));
    if let Some(line) = parsed.value("cmdline") {
        errors.extend(cmdline::apply(&mut policy, line));
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("{e}");
        }
        let n = errors.len();
        eprintln!(
            "nodeboot check: {n} error{} in {dir}",
            if n == 1 { "" } else { "s" }
        );
        return 1;
    }
    if parsed.has("json") {
        match serde_json::to_string_pretty(&policy) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("nodeboot check: cannot render JSON: {e}");
                return 1;
            }
        }
    } else if parsed.has("dump") {
        print!("{}", super::to_toml(&policy));
    } else {
        print!("{}", summary(dir, &policy));
    }
    0
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
        "cache:    label {} at {} (cache {}, logs {}), settle {} (max {}), partition wait {}, keep {} log subvolumes, exclude [{}]\n",
        p.cache.label,
        p.cache.pool_mount,
        p.cache.cache_mount,
        p.cache.log_mount,
        d(p.cache.settle_quiet),
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
