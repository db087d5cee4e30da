//! The log stream. TODO (log helper).

/// `nodeboot logs [-f] [--json]`.
pub fn logs_main(args: &[String]) -> i32 {
    let _ = args;
    eprintln!("nodeboot logs: not implemented yet");
    2
}
