//! `nodeboot replay`: a trace replayed (`trace::replay_file`) and written as the log
//! stream the core produces, optionally with its inputs and actions, optionally
//! checked against expectations. Here rather than in `trace`, which stays pure of the
//! node's log pipeline; the flags are the binary's (src/cli/replay.rs).

use crate::core::event::Level;
use crate::core::input::Input;
use crate::log::{Fields, Format, LogStream, WriteSink, fields_of};
use crate::trace::expect::{self, Expectation};
use crate::trace::{Output, ReplayConfig, Summary, replay_file};

/// What to replay and how to show it.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub config: ReplayConfig,
    pub format: Format,
    /// Also show every effect the core asks for (`action` records).
    pub actions: bool,
    /// Also show every input (`input` records).
    pub inputs: bool,
    /// Check the stream against these.
    pub expect: Option<Vec<Expectation>>,
}

/// How a replay that ran went against its expectations.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// None were given.
    Unchecked,
    /// All of them (this many) were met.
    Met(usize),
    /// The report of what was not.
    NotMet(String),
}

/// Replay `opts.config` and write the stream to `out`; `Err` if the trace cannot be
/// replayed (unreadable, invalid, bad rules).
pub fn replay_cmd(
    opts: &ReplayOptions,
    out: Box<dyn std::io::Write + Send>,
) -> Result<(Summary, Verdict), String> {
    let stream = LogStream::new(0);
    stream.add_sink(
        opts.format,
        Level::Debug,
        Box::new(WriteSink::buffered(out)),
    );
    let mut seen = Vec::new();
    let result = replay_file(&opts.config, &mut |o| match o {
        Output::Input(at, input) => {
            if let Input::Start {
                wall_clock_unix, ..
            } = input
            {
                stream.set_wall_base(
                    wall_clock_unix
                        .saturating_mul(1_000_000)
                        .saturating_sub(at.as_micros()),
                );
            }
            if opts.inputs {
                stream.emit_fields(at, Level::Debug, "input", &input_fields(input));
            }
        }
        Output::Record(r) => {
            stream.emit(r);
            if opts.expect.is_some() {
                seen.push(expect::record_value(r));
            }
        }
        Output::Action(at, action) => {
            if opts.actions
                && let Ok(mut fields) = fields_of(&action.effect)
            {
                fields.insert(0, ("id", serde_json::Value::from(action.id.0)));
                stream.emit_fields(at, Level::Debug, "action", &fields);
            }
        }
    });
    stream.flush();
    let summary = result?;
    let verdict = match &opts.expect {
        None => Verdict::Unchecked,
        Some(exp) => match expect::check(exp, &seen) {
            Ok(()) => Verdict::Met(exp.len()),
            Err(report) => Verdict::NotMet(report),
        },
    };
    Ok((summary, verdict))
}

/// An input as log fields: its kind and contents, a uevent flattened without its
/// property list (the trace file has it all).
fn input_fields(input: &Input) -> Fields {
    use serde_json::Value;
    if let Input::Uevent { uevent } = input {
        let mut f = vec![
            ("kind", Value::from("uevent")),
            (
                "action",
                serde_json::to_value(&uevent.action).unwrap_or(Value::Null),
            ),
            ("devpath", Value::from(uevent.devpath.as_str())),
            ("subsystem", Value::from(uevent.subsystem.as_str())),
        ];
        if let Some(name) = &uevent.devname {
            f.push(("devname", Value::from(name.as_str())));
        }
        if let Some(alias) = uevent.get("MODALIAS") {
            f.push(("modalias", Value::from(alias)));
        }
        return f;
    }
    fields_of(input).unwrap_or_default()
}
