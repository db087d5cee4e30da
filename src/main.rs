//! The `nodeboot` binary: parse the command line and run it. As PID 1 this never
//! returns (see `world::init`).

// The runtime restriction lints, as in src/lib.rs (see there why not in Cargo.toml).
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::exit
)]

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = nodeboot::cli::main(args);
    std::process::exit(code);
}
