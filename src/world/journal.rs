//! `--record FILE`: every input handed to the core, with its time. A header line, then
//! one `{"t_us":…,"input":…}` line per input. Private stand-in for the trace helper's
//! `TraceWriter` until it lands on main (same format).

use super::error::{Result, WorldError};
use crate::core::input::Input;
use crate::time::Instant;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Journal {
    pub fn create(path: &Path) -> Result<Journal> {
        let err = |source| WorldError::Journal {
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(err)?;
        let mut out = BufWriter::new(file);
        writeln!(
            out,
            "{{\"nodeboot_trace\":1,\"version\":\"{}\"}}",
            crate::VERSION
        )
        .map_err(err)?;
        Ok(Journal {
            path: path.to_owned(),
            out,
        })
    }

    /// Append one input. Flushed at once: a journal must survive a crash.
    pub fn record(&mut self, now: Instant, input: &Input) -> Result<()> {
        let err = |source| WorldError::Journal {
            path: self.path.clone(),
            source,
        };
        let line = serde_json::json!({ "t_us": now.as_micros(), "input": input });
        writeln!(self.out, "{line}").map_err(err)?;
        self.out.flush().map_err(err)
    }
}

/// Read a journal back (for tests until `crate::trace` lands).
pub fn read(path: &Path) -> std::io::Result<Vec<(Instant, Input)>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let t = Instant::from_micros(v.get("t_us").and_then(|t| t.as_u64()).unwrap_or(0));
        let input: Input = serde_json::from_value(v.get("input").cloned().unwrap_or_default())?;
        out.push((t, input));
    }
    Ok(out)
}
