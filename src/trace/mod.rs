//! Trace format and replay. TODO (trace helper).

/// `nodeboot replay TRACE`.
pub fn replay_main(args: &[String]) -> i32 {
    let _ = args;
    eprintln!("nodeboot replay: not implemented yet");
    2
}
