//! The ways in: `nodeboot run` (a confined or dry run; also the boot service under
//! another init) and PID 1. The command line that picks one is the binary's (src/cli).

use super::World;
use super::instance;
use super::kernel::{self, KernelWords};
use super::options::Settings;
use crate::core::Reactor;

/// Why `nodeboot run` failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Instance(#[from] instance::InstanceError),
    #[error("{0}")]
    World(#[from] super::error::WorldError),
}

impl RunError {
    /// The process exit code: [`instance::EXIT_ANOTHER_INSTANCE`] when another
    /// instance holds the root, else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Instance(instance::InstanceError::Running { .. }) => {
                instance::EXIT_ANOTHER_INSTANCE
            }
            RunError::Instance(instance::InstanceError::Io { .. }) | RunError::World(_) => 1,
        }
    }
}

/// `nodeboot run` (and `nodeboot init --boot-service`): the loop until it ends.
pub fn run(settings: Settings) -> Result<(), RunError> {
    super::memory::tune_malloc();
    // One instance per root, taken before the log socket is bound (binding replaces a
    // stale socket file: it must never be the first instance's live one) and before
    // any disk is touched. An unconfined dry run without a socket needs no lock.
    let _instance = if settings.socket.is_some() || !settings.confine.dry_run {
        Some(instance::acquire(&settings.confine.root)?)
    } else {
        None
    };
    let core = Reactor::new(settings.policy.clone());
    let mut world = World::new(core, settings)?;
    world.run()?;
    Ok(())
}

/// The rules overrides of this machine's kernel command line: what the node's boot
/// service under another init reads when it is not given `--cmdline`.
pub fn kernel_rules_words() -> String {
    KernelWords::parse(&kernel::read_cmdline()).rules
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
        let run = Settings::run(&super::super::options::RunOptions {
            cmdline: Some("nodeboot.debug.hang_after=1 nodeboot.debug.fail_after=1".into()),
            ..Default::default()
        });
        assert!(!run.pid1 && run.watchdog.is_none());
        assert!(run.hang_after.is_none() && run.fail_after.is_none());
        let (s, _) = pid1_settings("nodeboot.watchdog=bogus", &[]);
        assert_eq!(s.watchdog, Some(kernel::DEFAULT_WATCHDOG_TIMEOUT));
        assert_eq!(cmdline_notes(&s), 1, "{:?}", s.notes);
    }
}
