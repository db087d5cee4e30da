//! `nodeboot check DIR [--cmdline "…"] [--dump | --json]`. Exit codes: 0 valid,
//! 1 errors found (each printed as `file:line: message` on stderr), 2 usage error.

use crate::args::Args;
use nodeboot::rules::{CheckError, CheckOptions, CheckOutput, check};

const USAGE: &str =
    "usage: nodeboot check DIR [--cmdline \"nodeboot.gate=30 …\"] [--dump | --json]";

/// `nodeboot check`.
pub fn main(args: &[String]) -> i32 {
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
    let opts = CheckOptions {
        dir: dir.into(),
        cmdline: parsed.value("cmdline").map(str::to_owned),
        output: if parsed.has("json") {
            CheckOutput::Json
        } else if parsed.has("dump") {
            CheckOutput::Dump
        } else {
            CheckOutput::Summary
        },
    };
    match check(&opts) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            if let CheckError::Invalid { errors, .. } = &e {
                for line in errors {
                    eprintln!("{line}");
                }
            }
            eprintln!("nodeboot check: {e}");
            1
        }
    }
}
