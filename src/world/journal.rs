//! `--record FILE`: every input handed to the core, with its time, in the trace format
//! of `crate::trace` (a header line carrying the run's effective policy, then one
//! `{"t_us":…,"input":…}` line per input, each flushed as written). `nodeboot replay
//! FILE` gives the same log stream: the loop fires timers at their deadlines, as the
//! replay does.

use super::error::{Result, WorldError};
use crate::core::input::Input;
use crate::core::policy::Policy;
use crate::time::Instant;
use crate::trace::{Header, TraceKind, TraceWriter};
use std::fs::File;
use std::path::{Path, PathBuf};

pub struct Journal {
    path: PathBuf,
    writer: TraceWriter<File>,
}

impl Journal {
    /// `wall_at_zero_unix`: the wall clock at monotonic zero (boot).
    pub fn create(
        path: &Path,
        wall_at_zero_unix: u64,
        policy: &Policy,
        argv: &[String],
    ) -> Result<Journal> {
        let mut header = Header::new(TraceKind::Recorded, wall_at_zero_unix);
        header.policy = serde_json::to_value(policy).ok();
        header.meta = Some(serde_json::json!({ "argv": argv }));
        let writer = TraceWriter::create(path, &header).map_err(|source| WorldError::Journal {
            path: path.to_owned(),
            source,
        })?;
        Ok(Journal {
            path: path.to_owned(),
            writer,
        })
    }

    /// Append one input (flushed at once: a journal must survive a crash).
    pub fn record(&mut self, now: Instant, input: &Input) -> Result<()> {
        self.writer
            .record(now, input)
            .map_err(|source| WorldError::Journal {
                path: self.path.clone(),
                source,
            })
    }
}
