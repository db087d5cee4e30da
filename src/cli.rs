//! The command line: `nodeboot replay TRACE`, `nodeboot check DIR`, `nodeboot run …`,
//! `nodeboot logs`. A small hand-written parser (no clap: this binary is /init).

/// Run the command line; returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    let _ = args;
    eprintln!("nodeboot {}: no command implemented yet", crate::VERSION);
    2
}
