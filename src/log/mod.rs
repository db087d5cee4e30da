//! The log stream (BRIEF "The log stream is a public interface"): core [`Record`]s
//! become one JSON object per line (`{"ts","level","event",…fields}`) or a human line
//! for terminals, through a `slog::Logger` whose drain writes to any number of sinks.
//!
//! - [`format`]: rendering (RFC 3339 timestamps, JSON and human lines), pure.
//! - [`fields`]: an event's fields with `'static` names, as slog keys need them;
//!   `kv`: those fields as slog key-values and back.
//! - [`stream`]: [`LogStream`], the slog drain, [`Sink`]s; failures drop lines.
//! - [`client`]: `nodeboot logs`, the reader of the live socket (world loop).
//!
//! [`Record`]: crate::core::event::Record

pub mod client;
pub mod fields;
pub mod format;
pub mod kmsg;
mod kv;
pub mod queued;
pub mod rotate;
pub mod stream;
pub mod syslog;

pub use fields::{Fields, fields_of};
pub use format::{Format, rfc3339_millis};
pub use stream::{LogStream, MemorySink, Sink, SinkId, WriteSink, log_fields, log_record};
