//! The ways in: `nodeboot run` (a confined or dry run), PID 1, and `nodeboot init`
//! (refused outside PID 1, except as `--boot-service`, which is a `run`).

use super::World;
use super::instance;
use super::kernel::{self, KernelWords};
use super::options::{self, Settings};
use crate::core::Reactor;

/// `nodeboot run`.
pub fn run_main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", options::RUN_USAGE);
        return 0;
    }
    super::memory::tune_malloc();
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

/// The flag that makes `nodeboot init` a boot service under another init.
pub const BOOT_SERVICE: &str = "--boot-service";

pub const INIT_REFUSED: &str = "nodeboot init: not PID 1: refusing to boot this machine \
(that would be an unconfined live run over every disk and NIC).
  as PID 1 (/init), nodeboot boots the node by itself;
  for a confined run: nodeboot run --root DIR --disk PAT --nic PAT …;
  as the boot service of another init: nodeboot init --boot-service [run flags]
  (a `run` that also reads /proc/cmdline, confined exactly like `run`)";

/// `nodeboot init …` when not PID 1 (PID 1 never parses its argv: see main.rs).
pub fn init_command(args: &[String]) -> i32 {
    match args.split_first() {
        Some((flag, rest)) if flag == BOOT_SERVICE => boot_service_main(rest),
        _ => {
            eprintln!("{INIT_REFUSED}");
            2
        }
    }
}

/// `nodeboot init --boot-service [run flags]`: the node's boot service under a minimal
/// init. It is `nodeboot run` with the kernel command line's rules overrides (unless
/// `--cmdline` is given): the same allow-lists and root (without them a dry run),
/// never the watchdog, never a reboot.
pub fn boot_service_main(args: &[String]) -> i32 {
    let mut args = args.to_vec();
    let has_cmdline = args
        .iter()
        .any(|a| a == "--cmdline" || a.starts_with("--cmdline="));
    if !has_cmdline {
        let words = KernelWords::parse(&kernel::read_cmdline());
        args.push("--cmdline".into());
        args.push(words.rules);
    }
    run_main(&args)
}

/// The settings of PID 1 from the kernel command line and argv.
pub fn pid1_settings(cmdline: &str, argv: &[String]) -> (Settings, KernelWords) {
    let mut words = KernelWords::parse(cmdline);
    let mut settings = Settings::init(&words.rules);
    if let Some(format) = words.log {
        settings.stderr = Some(format);
    }
    if words.debug {
        settings.console_level = crate::core::event::Level::Debug;
    }
    settings.notes.append(&mut words.errors);
    settings.argv = kernel::bounded_argv(argv);
    settings.watchdog = words.watchdog.then_some(words.watchdog_timeout);
    settings.hang_after = words.hang_after;
    settings.fail_after = words.fail_after;
    (settings, words)
}

/// PID 1: boot the node. Never returns, never panics. `argv` is every word after
/// argv[0], the kernel's leftovers: logged, never obeyed. If the loop cannot start or
/// ends, init falls back to reaping while still obeying reboot and power-off signals
/// (and, with `nodeboot.emergency=shell`, keeping a shell on the console).
pub fn init_main(argv: &[String]) -> ! {
    super::memory::tune_malloc();
    for e in super::init::prepare_pid1() {
        eprintln!("nodeboot: {e}");
    }
    let (settings, words) = pid1_settings(&kernel::read_cmdline(), argv);
    // PID 1 is the only instance by definition: a lock it cannot take (no /run) is
    // reported, never a reason not to boot.
    let _instance = instance::acquire(std::path::Path::new("/"))
        .map_err(|e| eprintln!("nodeboot: instance lock: {e}"))
        .ok();
    match World::new(Reactor::new(settings.policy.clone()), settings) {
        Ok(mut world) => match world.run() {
            Ok(kind) => {
                super::init::power(kind);
                eprintln!("nodeboot: the loop ended ({kind:?}) but did not power off");
            }
            Err(e) => {
                eprintln!("nodeboot: the loop ended: {e}");
                world.after_failure();
            }
        },
        Err(e) => eprintln!("nodeboot: cannot start the loop: {e}"),
    }
    eprintln!(
        "nodeboot: fallback: reaping; SIGTERM/SIGINT/Ctrl-Alt-Del reboot, \
         SIGUSR2/SIGPWR power off"
    );
    super::fallback::run(words.emergency_shell)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_outside_pid1_is_refused_unless_a_boot_service() {
        assert_ne!(std::process::id(), 1);
        assert_eq!(init_command(&[]), 2);
        assert_eq!(init_command(&["single".into()]), 2);
        // A boot service with a bad run flag fails like `run` (exit 2, usage), before
        // touching anything.
        assert_eq!(
            init_command(&[BOOT_SERVICE.into(), "--no-such-flag".into()]),
            2
        );
    }

    #[test]
    fn pid1_settings_log_argv_and_keep_kernel_words_out_of_the_rules() {
        let argv: Vec<String> = ["single", "development", "zos-debug", "extra"]
            .map(String::from)
            .to_vec();
        let (s, words) = pid1_settings(
            "console=ttyS0 nodeboot.log=human nodeboot.gate=7 nodeboot.watchdog=off \
             nodeboot.debug single -- extra",
            &argv,
        );
        assert!(s.pid1 && s.watchdog.is_none() && s.hang_after.is_none());
        assert_eq!(s.argv, argv);
        assert_eq!(s.stderr, Some(crate::log::Format::Human));
        assert_eq!(s.console_level, crate::core::event::Level::Debug);
        assert_eq!(s.policy.gate.timeout, std::time::Duration::from_secs(7));
        // (Only the command line's: the test machine has no /etc/nodeboot/rules.)
        let cmdline_notes = |s: &Settings| {
            s.notes
                .iter()
                .filter(|n| matches!(n, crate::core::event::Event::RulesError { file, .. } if file == "/proc/cmdline"))
                .count()
        };
        assert_eq!(cmdline_notes(&s), 0, "{:?}", s.notes);
        assert!(!words.emergency_shell);
        // A run (confined or dry) never arms the watchdog nor injects faults, whatever
        // its --cmdline says.
        let run = options::parse_run(&[
            "--cmdline".into(),
            "nodeboot.debug.hang_after=1 nodeboot.debug.fail_after=1".into(),
        ])
        .unwrap();
        assert!(!run.pid1 && run.watchdog.is_none());
        assert!(run.hang_after.is_none() && run.fail_after.is_none());
        let (s, _) = pid1_settings("nodeboot.watchdog=bogus", &[]);
        assert_eq!(s.watchdog, Some(kernel::DEFAULT_WATCHDOG_TIMEOUT));
        assert_eq!(cmdline_notes(&s), 1, "{:?}", s.notes);
    }
}
