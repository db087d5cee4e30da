//! `nodeboot status [--json] [--from FILE|-] [--socket PATH] [--root DIR]
//! [--mount PATH]`.

use crate::args::Args;
use nodeboot::ops::input::Source;
use nodeboot::ops::status::{StatusOptions, status};
use std::path::PathBuf;

const STATUS_USAGE: &str =
    "usage: nodeboot status [--json] [--from FILE|-] [--socket PATH] [--root DIR] [--mount PATH]
  Reads the log stream (the live socket's backlog by default, or --from a log file or
  `replay --json` output; - is stdin), folds it and prints the node's state.";

/// `nodeboot status`.
pub fn main(args: &[String]) -> i32 {
    const VALUES: [&str; 4] = ["from", "socket", "root", "mount"];
    const KNOWN: [&str; 7] = ["from", "socket", "root", "mount", "json", "h", "help"];
    let args = match Args::parse(args, &VALUES) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nodeboot status: {e}\n{STATUS_USAGE}");
            return 2;
        }
    };
    if args.has("h") || args.has("help") {
        println!("{STATUS_USAGE}");
        return 0;
    }
    if let Some(flag) = args.unknown(&KNOWN) {
        eprintln!("nodeboot status: unknown flag --{flag}\n{STATUS_USAGE}");
        return 2;
    }
    if !args.positional.is_empty() {
        eprintln!(
            "nodeboot status: unexpected {:?}\n{STATUS_USAGE}",
            args.positional
        );
        return 2;
    }
    let root = PathBuf::from(args.value("root").unwrap_or("/"));
    let opts = StatusOptions {
        source: Source::pick(args.value("from"), args.value("socket"), &root),
        root,
        mount: args.value("mount").map(PathBuf::from),
        json: args.has("json"),
    };
    match status(&opts) {
        Ok(text) => {
            println!("{}", text.trim_end());
            0
        }
        Err(e) => {
            eprintln!("nodeboot status: {e}");
            1
        }
    }
}
