//! The operator's view of a node, built only from its log stream: `nodeboot status`
//! (the stream folded into a state, [`state`]), `nodeboot plot` (the stream drawn as
//! an SVG timeline, [`plot`]), `nodeboot replay` (a trace replayed as a log stream,
//! [`replay`]; the sinks that feed collectors are the log's, `crate::log`). Reading the stream the same way from the live socket, a
//! log file or `replay --json` output is what makes these tools work identically on a
//! node, in the sandbox and in tests.

pub mod input;
#[cfg(feature = "tools")]
pub mod plot;
pub mod record;
#[cfg(feature = "tools")]
pub mod replay;
pub mod state;
pub mod status;
