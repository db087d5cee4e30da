//! The live world: the only module that makes syscalls. TODO (world helpers).

pub mod confine;
pub mod effects;
pub mod init;

/// `nodeboot run`.
pub fn run_main(args: &[String]) -> i32 {
    let _ = args;
    eprintln!("nodeboot run: not implemented yet");
    2
}

/// PID 1: boot the node. Never returns.
pub fn init_main() -> i32 {
    eprintln!("nodeboot init: not implemented yet");
    2
}
