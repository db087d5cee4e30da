//! `nodeboot logs`: the client of the live log socket. TODO (world-loop helper).

/// `nodeboot logs [-f] [--json]`.
pub fn logs_main(args: &[String]) -> i32 {
    let _ = args;
    eprintln!("nodeboot logs: not implemented yet");
    2
}
