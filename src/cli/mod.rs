//! The command line, in the binary only (the library never reads argv): one file per
//! subcommand parses its flags with [`Args`](crate::args::Args) into the library's
//! typed options, calls it, prints and picks the exit code; this file dispatches.
//! No clap: this binary is `/init`.
//!
//! ```text
//! nodeboot                      as PID 1: boot the node (init mode); as PID 1 every
//!                               argv word is a kernel word, logged, never a command
//! nodeboot init --boot-service [run flags]
//!                               the node's boot service under another init: a run
//!                               with the kernel command line, confined like `run`
//! nodeboot run [flags]          live run (confined outside PID 1; see world)
//! nodeboot replay TRACE [flags] replay a trace or a udevadm capture
//! nodeboot check DIR            validate a rules directory
//! nodeboot logs [-f] [--json]   read the live log stream
//! nodeboot status [--json]      the node's state, folded from the log stream
//! nodeboot plot [FILE] [-o SVG] the log stream as an SVG boot timeline
//! ```

mod check;
mod logs;
#[cfg(feature = "tools")]
mod plot;
#[cfg(feature = "tools")]
mod replay;
mod run;
mod sinks;
mod status;

/// Run the command line; returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    let mut args = args.into_iter();
    let _argv0 = args.next();
    let rest: Vec<String> = args.collect();
    // As PID 1 every word is the kernel's: boot whatever they are (main.rs does this
    // before calling here; this keeps `cli::main` safe for any other caller).
    if std::process::id() == 1 {
        nodeboot::world::init_main(&rest)
    }
    let Some((cmd, rest)) = rest.split_first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    match cmd.as_str() {
        "run" => run::main(rest),
        #[cfg(feature = "tools")]
        "replay" => replay::main(rest),
        "check" => check::main(rest),
        "logs" => logs::main(rest),
        "status" => status::main(rest),
        #[cfg(feature = "tools")]
        "plot" => plot::main(rest),
        #[cfg(not(feature = "tools"))]
        "plot" => {
            eprintln!(
                "nodeboot plot: not in this build (a node's /init leaves the operators' tools out); run it on a workstation's nodeboot"
            );
            2
        }
        "init" => run::init(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        "-V" | "--version" | "version" => {
            println!("nodeboot {}", nodeboot::VERSION);
            0
        }
        other => {
            eprintln!("nodeboot: unknown command {other:?}\n{USAGE}");
            2
        }
    }
}

pub const USAGE: &str = "usage: nodeboot <command>
  run [--disk PAT]… [--nic PAT]… [--root DIR] [--rules DIR] [--record FILE] [--dry-run]
      [--allow-loop] [--socket PATH] [--cmdline STRING] [--json|--human]
  replay TRACE [--rules DIR] [--json|--human] [--actions] [--inputs] [--until S]
      [--expect FILE] [--ssd PAT]… [--coldplug-at-start]   (docs/trace.md)
  check DIR [--cmdline STRING] [--dump|--json]              (docs/rules.md)
  logs [-f] [--json] [--socket PATH]
  status [--json] [--from FILE|-] [--socket PATH] [--root DIR]
  plot [FILE|-] [-o OUT.svg] [--width PX] [--socket PATH] [--root DIR]
  init --boot-service [run flags]   boot service under another init: a `run`
      reading the kernel command line; confined exactly like `run`
  (as PID 1: boot the node; argv words are logged, never commands)";
