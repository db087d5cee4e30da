//! The log stream. TODO (trace/log helper): Record → JSON line / human line (slog).

pub mod client;
pub mod rotate;
pub mod syslog;

/// `nodeboot logs [-f] [--json]`.
pub fn logs_main(args: &[String]) -> i32 {
    client::logs_main(args)
}
