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

mod args;
mod cli;

fn main() {
    // `args_os`: the kernel hands PID 1 whatever words it did not understand, and a
    // non-UTF-8 one must not abort (`std::env::args` panics on it). Lossy is enough:
    // as PID 1 the words are only logged, and no subcommand takes non-UTF-8 input.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // As PID 1 argv is the kernel's leftover command-line words (`single`, anything
    // after `--`), never a subcommand: boot the node whatever they are.
    if std::process::id() == 1 {
        nodeboot::world::init_main(&args.iter().skip(1).cloned().collect::<Vec<_>>())
    }
    let code = cli::main(args);
    std::process::exit(code);
}
