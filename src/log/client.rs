//! `nodeboot logs [-f] [--json] [--socket PATH]`: the client of the live log socket.
//! Sends `logs\n` (the backlog, then the server closes) or, with `-f`, `follow\n` (the
//! backlog, then every new line), and prints each JSON line as it is, or as a human
//! line (the default).

use crate::cli::Args;
use crate::world::logfmt::human_line;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

pub const DEFAULT_SOCKET: &str = "/run/nodeboot.sock";
const USAGE: &str = "usage: nodeboot logs [-f|--follow] [--json] [--socket PATH]";

/// `nodeboot logs [-f] [--json]`.
pub fn logs_main(args: &[String]) -> i32 {
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
    let path = args.value("socket").unwrap_or(DEFAULT_SOCKET).to_owned();
    let follow = args.has("f") || args.has("follow");
    let json = args.has("json");
    let mut out = std::io::stdout().lock();
    match stream(&path, follow, &mut |line| {
        let text = if json {
            line.to_owned()
        } else {
            human_line(line)
        };
        writeln!(out, "{text}").and_then(|()| out.flush())
    }) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nodeboot logs: {path}: {e}");
            1
        }
    }
}

/// Connect to the log socket and hand every line to `each` until the server closes
/// (or `each` fails, e.g. stdout closed).
pub fn stream(
    path: &str,
    follow: bool,
    each: &mut dyn FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    request(path, if follow { "follow" } else { "logs" }, each)
}

/// Send one request line (`logs`, `follow` or `status`, see `world::logsock`) and hand
/// every line of the answer to `each` until the server closes.
pub fn request(
    path: &str,
    request: &str,
    each: &mut dyn FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut sock = UnixStream::connect(path)?;
    sock.write_all(format!("{request}\n").as_bytes())?;
    let reader = BufReader::new(sock);
    for line in reader.lines() {
        let line = line?;
        if let Some(err) = line.strip_prefix("error: ") {
            return Err(std::io::Error::other(err.to_owned()));
        }
        match each(&line) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
