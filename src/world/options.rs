//! `nodeboot run`'s options → what the world may touch, the policy and the log sinks.
//!
//! Outside PID 1 a run is live only with both a root (`--root DIR`) and at least one
//! allow-list entry (`--disk`/`--nic`); otherwise (or with `--dry-run`) it is a dry run
//! that logs every effect it would run and answers it as a success.

use super::confine::Confinement;
use crate::core::event::Event;
use crate::core::event::Level;
use crate::core::input::Mode;
use crate::core::policy::Policy;
use crate::log::Format;
use std::path::{Path, PathBuf};

/// What `nodeboot run` was asked for, as the binary's command line reads it (the
/// flags are in src/cli/run.rs); [`Settings::run`] turns it into the settings.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Disks the run may probe and write (globs); a disk's partitions come with it.
    pub disks: Vec<String>,
    /// NICs the run may set up and run DHCP on (globs).
    pub nics: Vec<String>,
    /// The prefix of every path mounted or written; absolute (the caller resolves
    /// it, so that mounts and the log socket do not depend on the cwd).
    pub root: Option<PathBuf>,
    /// Accept loop devices as disks.
    pub allow_loop: bool,
    /// The policy files (none: the built-in policy).
    pub rules: Option<String>,
    /// Kernel command-line overrides (`nodeboot.KEY=VALUE` words).
    pub cmdline: Option<String>,
    /// Journal every input here.
    pub record: Option<PathBuf>,
    /// The log socket (none: `ROOT/run/nodeboot.sock` with a root, else no socket).
    pub socket: Option<PathBuf>,
    /// The format on stderr; `None`: human on a tty, else JSON.
    pub format: Option<Format>,
    /// Nothing on stderr (whatever `format` says).
    pub quiet: bool,
    /// Log effects instead of running them, even with a root and an allow-list.
    pub dry_run: bool,
    /// Log file rotation and the optional syslog sink.
    pub sinks: crate::log::SinkConfig,
}

/// Everything `World::new` needs.
#[derive(Debug)]
pub struct Settings {
    pub mode: Mode,
    /// Running as PID 1 (signals mean reboot/power-off, every child is reaped).
    pub pid1: bool,
    pub confine: Confinement,
    pub policy: Policy,
    pub record: Option<PathBuf>,
    /// Format on stderr; `None` = nothing on stderr.
    pub stderr: Option<Format>,
    /// The least level on stderr: info for PID 1's console (debug with
    /// `nodeboot.debug` on the kernel command line), debug for `nodeboot run`.
    pub console_level: Level,
    /// The log socket; `None` = no socket.
    pub socket: Option<PathBuf>,
    /// Where `host:port` probe targets are looked up (no DNS).
    pub hosts: PathBuf,
    /// Records to log right after `boot.start` (rules errors).
    pub notes: Vec<Event>,
    /// Log file rotation and the optional syslog sink.
    pub sinks: crate::log::SinkConfig,
    /// The uevent socket's receive buffer; `None`: 128 MiB (tests shrink it to
    /// provoke an overflow).
    pub uevent_rcvbuf: Option<usize>,
    /// PID 1's argv words, logged in `boot.start` (world::kernel bounds them).
    pub argv: Vec<String>,
    /// Open and pet `/dev/watchdog` with this timeout: PID 1 only (`init_main` sets
    /// it unless `nodeboot.watchdog=off`); `run` never does.
    pub watchdog: Option<std::time::Duration>,
    /// Fault injection (`nodeboot.debug.hang_after`): the loop hangs this long after
    /// its start. PID 1 only.
    pub hang_after: Option<std::time::Duration>,
    /// Fault injection (`nodeboot.debug.fail_after`): the loop fails this long after
    /// its start. PID 1 only.
    pub fail_after: Option<std::time::Duration>,
}

impl Settings {
    /// PID 1 of a real node: rules from `nodeboot.rules=DIR` or [`INIT_RULES`], then
    /// the kernel command line.
    pub fn init(cmdline: &str) -> Settings {
        let dir = crate::rules::cmdline::rules_dir(cmdline).unwrap_or_else(|| INIT_RULES.into());
        let (policy, notes) = load_policy(Some(&dir), Some(cmdline));
        Settings {
            mode: Mode::Init,
            pid1: true,
            confine: Confinement::init(),
            policy,
            record: None,
            stderr: Some(stderr_format()),
            console_level: Level::Info,
            socket: Some(PathBuf::from("/run/nodeboot.sock")),
            hosts: PathBuf::from("/etc/hosts"),
            notes,
            sinks: crate::log::SinkConfig::default(),
            uevent_rcvbuf: None,
            argv: Vec::new(),
            watchdog: None,
            hang_after: None,
            fail_after: None,
        }
    }
}

/// The rules directory of a node booted without `nodeboot.rules=`.
pub const INIT_RULES: &str = "/etc/nodeboot/rules";

impl Settings {
    /// The settings of `nodeboot run`: live only with a root and at least one
    /// allow-list entry, else a dry run.
    pub fn run(opts: &RunOptions) -> Settings {
        let root = opts.root.clone();
        let confined = root.is_some() && !(opts.disks.is_empty() && opts.nics.is_empty());
        let dry_run = opts.dry_run || !confined;

        let (mut policy, notes) = load_policy(opts.rules.as_deref(), opts.cmdline.as_deref());
        // Loading kernel modules changes the host: only PID 1 does it.
        policy.modprobe = false;
        policy.cache.allow_loop |= opts.allow_loop;
        // Allow-lists, once any entry is given, bind every kind of device (a run with
        // `--disk` only touches no NIC), dry run or not. No entry at all: an unconfined
        // dry run, which may look at (probe) everything and change nothing.
        let listed = !(opts.disks.is_empty() && opts.nics.is_empty());
        let disks = listed.then(|| opts.disks.clone());
        let nics = listed.then(|| opts.nics.clone());
        policy.cache.allow = disks.clone();
        policy.net.allow = nics.clone();
        let confine = Confinement {
            root: root.clone().unwrap_or_else(|| PathBuf::from("/")),
            disks,
            nics,
            dry_run,
            ..Confinement::init()
        };
        let stderr = if opts.quiet {
            None
        } else {
            Some(opts.format.unwrap_or_else(stderr_format))
        };
        let socket = match (&opts.socket, &root) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(r)) => Some(r.join("run/nodeboot.sock")),
            // A dry run on a developer machine does not create /run/nodeboot.sock.
            (None, None) => None,
        };
        Settings {
            mode: if dry_run { Mode::DryRun } else { Mode::Live },
            pid1: false,
            confine,
            policy,
            record: opts.record.clone(),
            stderr,
            console_level: Level::Debug,
            socket,
            hosts: PathBuf::from("/etc/hosts"),
            notes,
            sinks: opts.sinks.clone(),
            uevent_rcvbuf: None,
            argv: Vec::new(),
            // A run never arms the machine's watchdog, confined or not.
            watchdog: None,
            hang_after: None,
            fail_after: None,
        }
    }
}

/// The policy from a rules directory (none: the built-in policy), then the kernel
/// command-line overrides. Never fails: errors come back as `rules.error` records.
pub fn load_policy(dir: Option<&str>, cmdline: Option<&str>) -> (Policy, Vec<Event>) {
    let (mut policy, mut errors) = match dir {
        Some(d) => crate::rules::load_or_default(Path::new(d)),
        None => (Policy::default(), Vec::new()),
    };
    if let Some(c) = cmdline {
        errors.extend(crate::rules::cmdline::apply(&mut policy, c));
    }
    (policy, errors.iter().map(|e| e.to_event()).collect())
}

/// Human when stderr is a terminal, JSON otherwise.
fn stderr_format() -> Format {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        Format::Human
    } else {
        Format::Json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(disks: &[&str], root: Option<&str>) -> RunOptions {
        RunOptions {
            disks: disks.iter().map(|d| d.to_string()).collect(),
            root: root.map(PathBuf::from),
            ..RunOptions::default()
        }
    }

    #[test]
    fn live_only_with_root_and_allow_list() {
        let dry = Settings::run(&run(&["loop*"], None));
        assert_eq!(dry.mode, Mode::DryRun);
        assert!(dry.confine.dry_run);
        assert!(!dry.confine.disk_allowed("vda") && dry.confine.disk_allowed("loop1"));
        let dry = Settings::run(&RunOptions::default());
        assert_eq!(dry.mode, Mode::DryRun);
        assert!(dry.socket.is_none());
        assert!(dry.confine.disk_allowed("vda") && dry.policy.cache.allow.is_none());
        let live = Settings::run(&RunOptions {
            allow_loop: true,
            ..run(&["loop*"], Some("/tmp/n"))
        });
        assert_eq!(live.mode, Mode::Live);
        assert!(!live.confine.dry_run);
        assert!(live.confine.disk_allowed("loop3") && !live.confine.disk_allowed("vda"));
        assert!(!live.confine.nic_allowed("eth0"));
        assert_eq!(live.policy.cache.allow, Some(vec!["loop*".to_string()]));
        assert_eq!(live.policy.net.allow, Some(vec![]));
        assert!(live.policy.cache.allow_loop && !live.policy.modprobe);
        assert_eq!(live.socket, Some(PathBuf::from("/tmp/n/run/nodeboot.sock")));
        let forced = Settings::run(&RunOptions {
            dry_run: true,
            ..run(&["x"], Some("/r"))
        });
        assert_eq!(forced.mode, Mode::DryRun);
    }

    #[test]
    fn stderr_quiet_wins_over_a_format() {
        let quiet = Settings::run(&RunOptions {
            quiet: true,
            format: Some(Format::Human),
            ..RunOptions::default()
        });
        assert_eq!(quiet.stderr, None);
        let json = Settings::run(&RunOptions {
            format: Some(Format::Json),
            ..RunOptions::default()
        });
        assert_eq!(json.stderr, Some(Format::Json));
    }

    #[test]
    fn the_disk_is_the_unit_of_permission() {
        let r = Settings::run(&run(&["loop12"], Some("/r")));
        assert_eq!(r.policy.cache.allow, Some(vec!["loop12".into()]));
        let c = &r.confine;
        let probe = |d: &str| crate::core::action::Effect::ProbeDisk { device: d.into() };
        let admit = |d: &str| super::super::effects::admit(probe(d), c, false);
        assert!(admit("loop12p1").is_ok());
        assert!(admit("loop120").is_err());
        assert!(admit("loop1").is_err());
    }

    #[test]
    fn cmdline_overrides() {
        let r = Settings::run(&RunOptions {
            cmdline: Some(
                "quiet nodeboot.reach=10.0.0.1:80,h:1 nodeboot.gate=5 nodeboot.gate=x".into(),
            ),
            ..RunOptions::default()
        });
        assert_eq!(r.policy.gate.targets, vec!["10.0.0.1:80", "h:1"]);
        assert_eq!(r.policy.gate.timeout, std::time::Duration::from_secs(5));
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
        let bad = Settings::run(&RunOptions {
            rules: Some("/nonexistent-nb".into()),
            ..RunOptions::default()
        });
        assert_eq!(bad.notes.len(), 1);
        assert_eq!(bad.policy.gate, Policy::default().gate);
    }
}
