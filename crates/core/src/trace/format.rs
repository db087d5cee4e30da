//! The trace file format (docs/trace.md): JSON lines. Line 1 is a [`Header`]; every
//! other line is one input with its monotonic time: `{"t_us": 1500000, "input": {…}}`
//! (`t_ms` is accepted instead of `t_us` in hand-written scenarios). Blank lines and
//! lines starting with `#` or `//` are comments, and the header may be pretty-printed
//! over several lines (each input stays on one line).

use super::world::WorldSpec;
use crate::core::input::Input;
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Write};

/// The format version written in every header.
pub const TRACE_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceKind {
    /// Journaled by a live run: every input, effect outcomes included.
    Recorded,
    /// Hand-written: external inputs only; a simulated world answers effects.
    Scenario,
}

/// Line 1 of a trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Format version ([`TRACE_VERSION`]).
    pub nodeboot_trace: u32,
    /// Default `recorded`.
    #[serde(default = "recorded")]
    pub kind: TraceKind,
    /// Wall clock (seconds since the epoch) at monotonic zero of the trace; default 0
    /// (a recorded trace's `start` input carries the real one).
    #[serde(default)]
    pub wall_clock_unix: u64,
    /// The nodeboot version that wrote the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What the trace is about (scenarios).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Policy overrides: each top-level section given (`cache`, `net`, `gate`,
    /// `services`, `modprobe`) replaces that whole section of the base policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<serde_json::Value>,
    /// The simulated world of a scenario (see [`WorldSpec`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<WorldSpec>,
    /// Free-form facts about the run (host, nodeboot version, command line…); not
    /// interpreted. Any other unknown header key is an error (typos in scenarios).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
    /// Stop the replay at this time (ms). Default: a recorded trace stops at its last
    /// input; a scenario runs 120 s past its last input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
}

fn recorded() -> TraceKind {
    TraceKind::Recorded
}

impl Header {
    pub fn new(kind: TraceKind, wall_clock_unix: u64) -> Header {
        Header {
            nodeboot_trace: TRACE_VERSION,
            kind,
            wall_clock_unix,
            version: Some(crate::VERSION.to_owned()),
            description: None,
            policy: None,
            world: None,
            meta: None,
            until_ms: None,
        }
    }
}

/// One input at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub at: Instant,
    pub input: Input,
}

#[derive(Serialize)]
struct LineOut<'a> {
    t_us: u64,
    input: &'a Input,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineIn {
    #[serde(default)]
    t_us: Option<u64>,
    #[serde(default)]
    t_ms: Option<u64>,
    input: Input,
}

/// A uevent line, the bulk of every trace, read straight into its fields: serde reads
/// an internally tagged enum such as [`Input`] by buffering the whole object first
/// (every string copied twice). Tried before [`LineIn`]; any line it does not take
/// exactly (another kind, an unknown field) is read by [`LineIn`], so what a trace
/// means and the errors it gets do not change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UeventLineIn {
    #[serde(default)]
    t_us: Option<u64>,
    #[serde(default)]
    t_ms: Option<u64>,
    input: UeventIn,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UeventIn {
    /// Only `uevent` is accepted: the variant is the check.
    #[serde(rename = "kind")]
    _kind: UeventKind,
    uevent: crate::wire::uevent::Uevent,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum UeventKind {
    Uevent,
}

impl LineIn {
    fn parse(line: &str) -> serde_json::Result<LineIn> {
        if let Ok(fast) = serde_json::from_str::<UeventLineIn>(line) {
            return Ok(LineIn {
                t_us: fast.t_us,
                t_ms: fast.t_ms,
                input: Input::Uevent {
                    uevent: fast.input.uevent,
                },
            });
        }
        serde_json::from_str(line)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("line {line}: {message}")]
    Parse { line: usize, message: String },
    #[error("reading the trace: {0}")]
    Io(#[from] io::Error),
    #[error("empty trace (no header line)")]
    Empty,
}

/// Journals inputs as a live run hands them to the core. Every line is flushed at
/// once, so a power cut loses at most the line being written.
pub struct TraceWriter<W: Write> {
    out: W,
}

impl TraceWriter<std::fs::File> {
    /// Create (truncate) `path` and write the header.
    pub fn create(
        path: &std::path::Path,
        header: &Header,
    ) -> io::Result<TraceWriter<std::fs::File>> {
        TraceWriter::new(std::fs::File::create(path)?, header)
    }
}

impl<W: Write> TraceWriter<W> {
    pub fn new(out: W, header: &Header) -> io::Result<TraceWriter<W>> {
        let mut w = TraceWriter { out };
        let line = serde_json::to_string(header).map_err(io::Error::other)?;
        w.write_line(&line)?;
        Ok(w)
    }

    /// Journal `input`, handed to the core at `now`.
    pub fn record(&mut self, now: Instant, input: &Input) -> io::Result<()> {
        let line = serde_json::to_string(&LineOut {
            t_us: now.as_micros(),
            input,
        })
        .map_err(io::Error::other)?;
        self.write_line(&line)
    }

    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.out.write_all(&buf)?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Reads a trace: the header first, then entries one at a time (a long trace is
/// never held in memory whole).
pub struct TraceReader<R: BufRead> {
    input: R,
    line_no: usize,
    buf: String,
    header: Header,
}

fn is_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t.starts_with("//")
}

impl<R: BufRead> TraceReader<R> {
    pub fn new(input: R) -> Result<TraceReader<R>, TraceError> {
        let mut r = TraceReader {
            input,
            line_no: 0,
            buf: String::new(),
            header: Header::new(TraceKind::Recorded, 0),
        };
        // The header may be pretty-printed over several lines (hand-written
        // scenarios): read until it parses as one JSON object.
        let Some(mut text) = r.next_line()? else {
            return Err(TraceError::Empty);
        };
        let first_line = r.line_no;
        r.header = loop {
            match serde_json::from_str::<Header>(&text) {
                Ok(h) => break h,
                Err(e) if e.is_eof() => match r.next_line()? {
                    Some(more) => {
                        text.push('\n');
                        text.push_str(&more);
                    }
                    None => {
                        return Err(TraceError::Parse {
                            line: first_line,
                            message: format!("header: {e}"),
                        });
                    }
                },
                Err(e) => {
                    return Err(TraceError::Parse {
                        line: first_line + e.line().saturating_sub(1),
                        message: format!("header: {e}"),
                    });
                }
            }
        };
        if r.header.nodeboot_trace != TRACE_VERSION {
            return Err(TraceError::Parse {
                line: r.line_no,
                message: format!(
                    "trace format version {} (this nodeboot reads {TRACE_VERSION})",
                    r.header.nodeboot_trace
                ),
            });
        }
        Ok(r)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    fn next_line(&mut self) -> Result<Option<String>, TraceError> {
        Ok(self
            .read_content_line()?
            .then(|| self.buf.trim().to_owned()))
    }

    /// Reads the next line that is not a comment into `buf`; false at the end.
    fn read_content_line(&mut self) -> Result<bool, TraceError> {
        loop {
            self.buf.clear();
            if self.input.read_line(&mut self.buf)? == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            if !is_comment(&self.buf) {
                return Ok(true);
            }
        }
    }

    fn next_entry(&mut self) -> Result<Option<Entry>, TraceError> {
        // The line is parsed where it was read: no copy per entry.
        if !self.read_content_line()? {
            return Ok(None);
        }
        let parsed = LineIn::parse(self.buf.trim()).map_err(|e| TraceError::Parse {
            line: self.line_no,
            message: e.to_string(),
        })?;
        let at = match (parsed.t_us, parsed.t_ms) {
            (Some(us), None) => Instant::from_micros(us),
            (None, Some(ms)) => Instant::from_millis(ms),
            _ => {
                return Err(TraceError::Parse {
                    line: self.line_no,
                    message: "give exactly one of t_us and t_ms".into(),
                });
            }
        };
        Ok(Some(Entry {
            at,
            input: parsed.input,
        }))
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Entry, TraceError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::input::Mode;

    #[test]
    fn uevent_lines_read_as_the_general_reader_reads_them() {
        let lines = [
            r#"{"t_us":5,"input":{"kind":"uevent","uevent":{"action":"add","devpath":"/devices/x","subsystem":"block","devname":"sda","seqnum":7,"env":{"A":"1","B":"\u00e9\n"}}}}"#,
            // The tag last, an action of the kernel's own, a field only the general
            // reader takes.
            r#"{"t_ms":1,"input":{"uevent":{"action":"frob","devpath":"/d","subsystem":""},"kind":"uevent","extra":1}}"#,
            r#"{"t_us":1,"input":{"kind":"coldplug_done"}}"#,
        ];
        for line in lines {
            let fast = LineIn::parse(line).unwrap();
            let slow: LineIn = serde_json::from_str(line).unwrap();
            assert_eq!(
                (fast.t_us, fast.t_ms, fast.input),
                (slow.t_us, slow.t_ms, slow.input),
                "{line}"
            );
        }
        // A bad line gets the general reader's error.
        let bad = r#"{"t_us":1,"input":{"kind":"uevent"}}"#;
        let slow = serde_json::from_str::<LineIn>(bad).err().unwrap();
        assert_eq!(
            LineIn::parse(bad).err().unwrap().to_string(),
            slow.to_string()
        );
    }

    #[test]
    fn written_traces_read_back_identically() {
        let mut header = Header::new(TraceKind::Recorded, 1_790_000_000);
        header.policy = Some(serde_json::json!({"gate": {"timeout": 5000}}));
        let mut w = TraceWriter::new(Vec::new(), &header).unwrap();
        let start = Input::Start {
            wall_clock_unix: 1_790_000_000,
            mode: Mode::Live,
            argv: Vec::new(),
        };
        w.record(Instant::from_micros(12), &start).unwrap();
        w.record(Instant::from_secs(3), &Input::ColdplugDone)
            .unwrap();
        let bytes = w.into_inner();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.lines()
                .nth(2)
                .unwrap()
                .starts_with("{\"t_us\":3000000,")
        );

        let r = TraceReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header(), &header);
        let entries: Vec<Entry> = r.map(Result::unwrap).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].input, start);
        assert_eq!(entries[1].at, Instant::from_secs(3));
    }

    #[test]
    fn effect_errors_are_journaled_with_their_kind_and_old_plain_strings_still_read() {
        use crate::core::action::EffectId;
        use crate::core::input::{EffectError, ErrorKind};
        let header = Header::new(TraceKind::Recorded, 0);
        let mut w = TraceWriter::new(Vec::new(), &header).unwrap();
        let failed = Input::EffectDone {
            id: EffectId(7),
            result: Err(EffectError::new(ErrorKind::Busy, "busy: sda is mounted")),
        };
        w.record(Instant::from_millis(5), &failed).unwrap();
        let bytes = w.into_inner();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains(r#""result":{"Err":{"kind":"busy","message":"busy: sda is mounted"}}"#),
            "{text}"
        );
        let read: Vec<Entry> = TraceReader::new(&bytes[..])
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read[0].input, failed);
        // A trace written before kinds existed: the error is a plain string.
        let old = "{\"nodeboot_trace\":1}\n\
                   {\"t_us\":1,\"input\":{\"kind\":\"effect_done\",\"id\":3,\"result\":{\"Err\":\"EIO\"}}}\n";
        let entry = TraceReader::new(old.as_bytes())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            entry.input,
            Input::EffectDone {
                id: EffectId(3),
                result: Err(EffectError::new(ErrorKind::Other, "EIO")),
            }
        );
    }

    #[test]
    fn comments_t_ms_and_errors_with_line_numbers() {
        let text = "{\"nodeboot_trace\":1,\"kind\":\"scenario\",\"wall_clock_unix\":5}\n\
                    # a comment\n\
                    \n\
                    {\"t_ms\":40,\"input\":{\"kind\":\"coldplug_done\"}}\n\
                    {\"t_ms\":41,\"input\":{\"kind\":\"no_such_input\"}}\n";
        let mut r = TraceReader::new(text.as_bytes()).unwrap();
        assert_eq!(r.header().kind, TraceKind::Scenario);
        let first = r.next().unwrap().unwrap();
        assert_eq!(first.at, Instant::from_millis(40));
        let err = r.next().unwrap().unwrap_err().to_string();
        assert!(err.starts_with("line 5:"), "{err}");
        assert!(TraceReader::new("".as_bytes()).is_err());
        // The smallest header: a recorded trace.
        let r =
            TraceReader::new("{\"nodeboot_trace\":1,\"version\":\"0.1.0\"}\n".as_bytes()).unwrap();
        assert_eq!(r.header().kind, TraceKind::Recorded);
        let pretty = "# scenario\n{\n  \"nodeboot_trace\": 1,\n  \"kind\": \"scenario\",\n\n  \"wall_clock_unix\": 5\n}\n{\"t_ms\":1,\"input\":{\"kind\":\"coldplug_done\"}}\n";
        let mut r = TraceReader::new(pretty.as_bytes()).unwrap();
        assert_eq!(r.header().wall_clock_unix, 5);
        assert!(r.next().unwrap().is_ok());
        let bad =
            "{\n  \"nodeboot_trace\": 1,\n  \"kind\": \"nope\",\n  \"wall_clock_unix\": 5\n}\n";
        let err = TraceReader::new(bad.as_bytes()).err().unwrap().to_string();
        assert!(err.starts_with("line 3:"), "{err}");
        assert!(
            TraceReader::new(
                "{\"nodeboot_trace\":2,\"kind\":\"recorded\",\"wall_clock_unix\":0}".as_bytes()
            )
            .is_err()
        );
    }
}
