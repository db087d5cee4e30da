//! The log stream (BRIEF "The log stream is a public interface"): core [`Record`]s
//! become one JSON object per line (`{"ts","level","event",…fields}`) or a human line
//! for terminals, through a `slog::Logger` with one slog drain per sink.
//!
//! - [`kv`]: a record as slog key-values (the event's serde fields), logged once.
//! - [`render`]: a drain's line from those key-values (JSON or human);
//!   [`format`]: its pieces (RFC 3339 timestamps, human values), pure.
//! - [`stream`]: [`LogStream`] (the logger, its drains), [`Sink`]s; failures drop
//!   lines. [`queued`]: a sink written by a thread of its own; [`syslog`], [`kmsg`],
//!   [`rotate`]: the other outputs; [`config`]: what they are configured with.
//! - [`fields`]: loose fields (replay's input lines) with `'static` names.
//! - [`client`]: `nodeboot logs`, the reader of the live socket (world loop).
//!
//! [`Record`]: crate::core::event::Record

pub mod client;
pub mod config;
pub mod fields;
pub mod format;
pub mod kmsg;
pub mod kv;
pub mod queued;
pub mod render;
pub mod rotate;
pub mod sink;
pub mod stream;
pub mod syslog;

pub use config::SinkConfig;
pub use fields::{Fields, fields_of};
pub use format::{Format, rfc3339_millis};
pub use render::render;
pub use stream::{LogStream, MemorySink, Sink, SinkId, WriteSink, log_fields, log_record};
