//! The two ways in: `nodeboot run` (a confined or dry run) and PID 1.

use super::World;
use super::instance;
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
    // One instance per root, taken before the log socket is bound (binding replaces a
    // stale socket file: it must never be the first instance's live one) and before
    // any disk is touched. An unconfined dry run without a socket needs no lock.
    let _instance = if settings.socket.is_some() || !settings.confine.dry_run {
        match instance::acquire(&settings.confine.root) {
            Ok(lock) => Some(lock),
            Err(e) => {
                eprintln!("nodeboot run: {e}");
                return match e {
                    instance::InstanceError::Running { .. } => instance::EXIT_ANOTHER_INSTANCE,
                    instance::InstanceError::Io { .. } => 1,
                };
            }
        }
    } else {
        None
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
    // `nodeboot.log=json|human` is the world's own word (the console format); the
    // rest are rules overrides.
    let (log_words, rules_words): (Vec<&str>, Vec<&str>) = cmdline
        .split_whitespace()
        .partition(|w| w.starts_with("nodeboot.log="));
    let mut settings = Settings::init(&rules_words.join(" "));
    match log_words.last().copied() {
        Some("nodeboot.log=json") => settings.stderr = Some(crate::log::Format::Json),
        Some("nodeboot.log=human") => settings.stderr = Some(crate::log::Format::Human),
        _ => {}
    }
    // PID 1 is the only instance by definition: a lock it cannot take (no /run) is
    // reported, never a reason not to boot.
    let _instance = instance::acquire(std::path::Path::new("/"))
        .map_err(|e| eprintln!("nodeboot: instance lock: {e}"))
        .ok();
    match World::new(Reactor::new(settings.policy.clone()), settings) {
        Ok(mut world) => match world.run() {
            Ok(kind) => super::init::power(kind),
            Err(e) => eprintln!("nodeboot: the loop ended: {e}; reaping only from now on"),
        },
        Err(e) => eprintln!("nodeboot: cannot start the loop: {e}; reaping only from now on"),
    }
    super::init::reap_forever()
}
