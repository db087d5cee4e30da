//! `nodeboot logs [-f] [--json] [--socket PATH]`: read the live log stream.

use crate::args::Args;
use nodeboot::log::client::{DEFAULT_SOCKET, LogsOptions, print};

const USAGE: &str = "usage: nodeboot logs [-f|--follow] [--json] [--socket PATH]";

/// `nodeboot logs`.
pub fn main(args: &[String]) -> i32 {
    let args = match Args::parse(args, &["socket"]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nodeboot logs: {e}\n{USAGE}");
            return 2;
        }
    };
    if let Some(f) = args.unknown(&["socket", "f", "follow", "json"]) {
        eprintln!("nodeboot logs: unknown flag --{f}\n{USAGE}");
        return 2;
    }
    let opts = LogsOptions {
        socket: args.value("socket").unwrap_or(DEFAULT_SOCKET).to_owned(),
        follow: args.has("f") || args.has("follow"),
        json: args.has("json"),
    };
    match print(&opts, &mut std::io::stdout().lock()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nodeboot logs: {}: {e}", opts.socket);
            1
        }
    }
}
