//! `nodeboot replay TRACE [flags]`: print the log stream the core produces.

use crate::args::Args;
use nodeboot::log::Format;
use nodeboot::ops::replay::{ReplayOptions, Verdict, replay_cmd};
use nodeboot::trace::{ReplayConfig, expect, udevadm};
use std::io::IsTerminal;
use std::path::PathBuf;

const USAGE: &str =
    "usage: nodeboot replay TRACE [--rules DIR] [--json|--human] [--actions] [--inputs]
                       [--until SECONDS] [--expect FILE] [--ssd PATTERN]… [--coldplug-at-start]
  TRACE is a nodeboot trace (recorded or scenario) or a `udevadm monitor --kernel --property`
  capture (disk attributes and effect outcomes from TRACE.world.json if present).";

/// `nodeboot replay`.
pub fn main(args: &[String]) -> i32 {
    let opts = match parse(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return 0;
        }
        Err(Usage(e)) => {
            eprintln!("nodeboot replay: {e}");
            return 2;
        }
    };
    match replay_cmd(&opts, Box::new(std::io::stdout())) {
        Err(e) => {
            eprintln!("nodeboot replay: {e}");
            2
        }
        Ok((_, Verdict::Unchecked)) => 0,
        Ok((summary, Verdict::Met(n))) => {
            eprintln!(
                "nodeboot replay: {n} expectation(s) met ({} records)",
                summary.records
            );
            0
        }
        Ok((_, Verdict::NotMet(report))) => {
            eprintln!("nodeboot replay: expectations not met:\n{report}");
            1
        }
    }
}

/// A usage error: the whole message after `nodeboot replay: `.
struct Usage(String);

/// The flags → the options; `None` for `--help`.
fn parse(args: &[String]) -> Result<Option<ReplayOptions>, Usage> {
    let takes_value = ["rules", "until", "expect", "ssd"];
    let known = [
        "rules",
        "until",
        "expect",
        "ssd",
        "json",
        "human",
        "actions",
        "inputs",
        "coldplug-at-start",
        "h",
        "help",
    ];
    let args = Args::parse(args, &takes_value).map_err(|e| Usage(format!("{e}\n{USAGE}")))?;
    if args.has("h") || args.has("help") {
        return Ok(None);
    }
    if let Some(flag) = args.unknown(&known) {
        return Err(Usage(format!("unknown flag --{flag}\n{USAGE}")));
    }
    let [path] = args.positional.as_slice() else {
        return Err(Usage(format!("give exactly one TRACE\n{USAGE}")));
    };
    let mut config = ReplayConfig::new(path);
    config.rules = args.value("rules").map(PathBuf::from);
    config.ssd = args.values("ssd");
    if args.has("coldplug-at-start") {
        config.coldplug = udevadm::Coldplug::AtStart;
    }
    if let Some(s) = args.value("until") {
        match s.parse::<f64>() {
            Ok(secs) if secs >= 0.0 => config.until_ms = Some((secs * 1000.0) as u64),
            _ => return Err(Usage(format!("--until wants seconds, got {s:?}"))),
        }
    }
    let expect = match args.value("expect") {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| e.to_string())
                .and_then(|t| expect::parse(&t))
                .map_err(|e| Usage(format!("{f}: {e}")))?,
        ),
        None => None,
    };
    let human = args.has("human") || (!args.has("json") && std::io::stdout().is_terminal());
    Ok(Some(ReplayOptions {
        config,
        format: if human { Format::Human } else { Format::Json },
        actions: args.has("actions"),
        inputs: args.has("inputs"),
        expect,
    }))
}
