//! The two ways in: `nodeboot run` (a confined or dry run) and PID 1.

use super::World;
use super::options::{self, Settings};
use crate::core::Reactor;

/// `nodeboot run`.
pub fn run_main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", options::RUN_USAGE);
        return 0;
    }
    let settings = match options::parse_run(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nodeboot run: {e}\n{}", options::RUN_USAGE);
            return 2;
        }
    };
    let core = Reactor::new(settings.policy.clone());
    let mut world = match World::new(core, settings) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("nodeboot run: {e}");
            return 1;
        }
    };
    match world.run() {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("nodeboot run: {e}");
            1
        }
    }
}

/// PID 1: boot the node. Never returns, never panics: if the loop ever ends, the error
/// is logged and init keeps reaping orphans forever.
pub fn init_main() -> i32 {
    for e in super::init::prepare_pid1() {
        eprintln!("nodeboot: {e}");
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    // `nodeboot.log=json|human` (the console format) and `nodeboot.debug` (debug
    // records on the console too) are the world's own words; the rest are rules
    // overrides.
    let (log_words, rules_words): (Vec<&str>, Vec<&str>) = cmdline
        .split_whitespace()
        .partition(|w| w.starts_with("nodeboot.log=") || is_debug_word(w));
    let mut settings = Settings::init(&rules_words.join(" "));
    if log_words.iter().any(|w| is_debug_word(w)) {
        settings.console_level = crate::core::event::Level::Debug;
    }
    match log_words
        .iter()
        .rfind(|w| w.starts_with("nodeboot.log="))
        .copied()
    {
        Some("nodeboot.log=json") => settings.stderr = Some(crate::log::Format::Json),
        Some("nodeboot.log=human") => settings.stderr = Some(crate::log::Format::Human),
        _ => {}
    }
    match World::new(Reactor::new(settings.policy.clone()), settings) {
        Ok(mut world) => match world.run() {
            Ok(kind) => super::init::power(kind),
            Err(e) => eprintln!("nodeboot: the loop ended: {e}; reaping only from now on"),
        },
        Err(e) => eprintln!("nodeboot: cannot start the loop: {e}; reaping only from now on"),
    }
    super::init::reap_forever()
}

/// `nodeboot.debug` (or `nodeboot.debug=1`): debug records on the console as well.
fn is_debug_word(word: &str) -> bool {
    word == "nodeboot.debug" || word == "nodeboot.debug=1"
}
