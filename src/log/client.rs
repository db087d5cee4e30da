//! `nodeboot logs`: the client of the live log socket.
//! Sends `logs\n` (the backlog, then the server closes) or, with `-f`, `follow\n` (the
//! backlog, then every new line), and prints each JSON line as it is, or as a human
//! line (the default).

use crate::log::format::human_value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

pub const DEFAULT_SOCKET: &str = "/run/nodeboot.sock";

/// What `nodeboot logs` reads and how it prints it.
#[derive(Clone, Debug)]
pub struct LogsOptions {
    pub socket: String,
    /// Keep reading new lines after the backlog.
    pub follow: bool,
    /// Each line as the JSON the socket sends, else as a human line.
    pub json: bool,
}

impl Default for LogsOptions {
    fn default() -> LogsOptions {
        LogsOptions {
            socket: DEFAULT_SOCKET.to_owned(),
            follow: false,
            json: false,
        }
    }
}

/// `nodeboot logs`: write the socket's lines to `out`, each flushed as it comes,
/// until the server closes (or `out` does).
pub fn print(opts: &LogsOptions, out: &mut dyn Write) -> std::io::Result<()> {
    stream(&opts.socket, opts.follow, &mut |line| {
        let text = if opts.json {
            line.to_owned()
        } else {
            human_line(line)
        };
        writeln!(out, "{text}").and_then(|()| out.flush())
    })
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

/// `12:00:01.234 INFO  disk.seen        disk=sda verdict=unused …` from a JSON line
/// (the wall-clock time of day from `ts`; values as the human stream writes them).
/// A line that is not a JSON object is printed as it is.
pub fn human_line(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_owned();
    };
    let get = |k: &str| map.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let ts = get("ts");
    let time = ts.get(11..23).unwrap_or(ts);
    let mut out = format!(
        "{time} {:<5} {:<16}",
        get("level").to_ascii_uppercase(),
        get("event")
    );
    for (k, v) in &map {
        if matches!(k.as_str(), "ts" | "level" | "event") {
            continue;
        }
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(&human_value(v));
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_json_line_for_humans() {
        let line = r#"{"ts":"2026-11-26T01:02:03.456Z","level":"info","event":"nic.carrier","nic":"eth0","up":true}"#;
        assert_eq!(
            human_line(line),
            "01:02:03.456 INFO  nic.carrier      nic=eth0 up=true"
        );
        assert_eq!(human_line("not json"), "not json");
    }
}
