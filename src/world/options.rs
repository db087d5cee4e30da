//! `nodeboot run` flags → what the world may touch, the policy and the log sinks.
//!
//! Outside PID 1 a run is live only with both `--root DIR` and at least one
//! `--disk`/`--nic` allow-list entry; otherwise (or with `--dry-run`) it is a dry run
//! that logs every effect it would run and answers it as a success.

use super::confine::Confinement;
use crate::args::Args;
use crate::core::event::Event;
use crate::core::event::Level;
use crate::core::input::Mode;
use crate::core::policy::Policy;
use crate::log::Format;
use std::path::{Path, PathBuf};

pub const RUN_USAGE: &str = "usage: nodeboot run [flags]
  --disk PAT      a disk nodeboot may probe and write (glob: * ?); repeatable;
                  a disk's partitions come with it
  --nic PAT       a NIC nodeboot may set up and run DHCP on; repeatable
  --root DIR      prefix for every path mounted or written (DIR/var/log, …);
                  the log socket defaults to DIR/run/nodeboot.sock
  --allow-loop    accept loop devices as disks (sandboxes, tests)
  --rules DIR     policy files (default: built-in policy)
  --cmdline STR   kernel command-line overrides (nodeboot.KEY=VALUE words)
  --record FILE   journal every input (replay with `nodeboot replay FILE`)
  --socket PATH   the log socket (`nodeboot logs --socket PATH`)
  --json|--human  format on stderr (default: human on a tty, else JSON)
  --quiet         nothing on stderr
  --dry-run       log effects instead of running them
  --log-max-bytes SIZE  rotate <log mount>/nodeboot.log past SIZE (default 8M)
  --log-keep N          rotated files kept (nodeboot.log.1 … .N)
  --syslog PATH|stderr  also send RFC 5424 records there (e.g. /dev/log)
  --syslog-facility F   daemon (default), user, local0…local7
  --log-queue SIZE      bytes waiting for the log file's writer (default 4M);
                        past it lines are dropped and counted (log.dropped)
A live run needs --root and at least one --disk or --nic; otherwise it is a dry
run: effects are logged (effect.dry-run) and answered as successes; only the
read-only ones (disk probes, subvolume lists, TCP probes) really run.";

const VALUE_FLAGS: &[&str] = &[
    "disk",
    "nic",
    "root",
    "rules",
    "record",
    "socket",
    "cmdline",
    // The log sinks (world/sink_flags.rs): log file rotation and syslog.
    "log-max-bytes",
    "log-keep",
    "syslog",
    "syslog-facility",
    "log-queue",
];
const BOOL_FLAGS: &[&str] = &["dry-run", "json", "human", "allow-loop", "quiet"];

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

/// Parse `nodeboot run` flags.
pub fn parse_run(argv: &[String]) -> Result<Settings, String> {
    let takes: Vec<&str> = VALUE_FLAGS.to_vec();
    let args = Args::parse(argv, &takes)?;
    let known: Vec<&str> = VALUE_FLAGS.iter().chain(BOOL_FLAGS).copied().collect();
    if let Some(f) = args.unknown(&known) {
        return Err(format!("unknown flag --{f}"));
    }
    if let Some(p) = args.positional.first() {
        return Err(format!("unexpected argument {p:?}"));
    }
    let disks = args.values("disk");
    let nics = args.values("nic");
    // Absolute, so that mounts and the log socket do not depend on the cwd.
    let root = match args.value("root") {
        Some(r) => Some(std::path::absolute(r).map_err(|e| format!("--root {r}: {e}"))?),
        None => None,
    };
    let confined = root.is_some() && !(disks.is_empty() && nics.is_empty());
    let dry_run = args.has("dry-run") || !confined;

    let (mut policy, notes) = load_policy(args.value("rules"), args.value("cmdline"));
    // Loading kernel modules changes the host: only PID 1 does it.
    policy.modprobe = false;
    policy.cache.allow_loop |= args.has("allow-loop");
    // Allow-lists, once any entry is given, bind every kind of device (a run with
    // `--disk` only touches no NIC), dry run or not. No entry at all: an unconfined
    // dry run, which may look at (probe) everything and change nothing.
    let listed = !(disks.is_empty() && nics.is_empty());
    let disks = listed.then_some(disks);
    let nics = listed.then_some(nics);
    policy.cache.allow = disks.clone();
    policy.net.allow = nics.clone();
    let confine = Confinement {
        root: root.clone().unwrap_or_else(|| PathBuf::from("/")),
        disks,
        nics,
        dry_run,
        ..Confinement::init()
    };
    let stderr = if args.has("quiet") {
        None
    } else if args.has("json") {
        Some(Format::Json)
    } else if args.has("human") {
        Some(Format::Human)
    } else {
        Some(stderr_format())
    };
    let socket = match (args.value("socket"), &root) {
        (Some(s), _) => Some(PathBuf::from(s)),
        (None, Some(r)) => Some(r.join("run/nodeboot.sock")),
        // A dry run on a developer machine does not create /run/nodeboot.sock.
        (None, None) => None,
    };
    Ok(Settings {
        mode: if dry_run { Mode::DryRun } else { Mode::Live },
        pid1: false,
        confine,
        policy,
        record: args.value("record").map(PathBuf::from),
        stderr,
        console_level: Level::Debug,
        socket,
        hosts: PathBuf::from("/etc/hosts"),
        notes,
        sinks: super::sink_flags::from_args(&args).map_err(|e| e.to_string())?,
        uevent_rcvbuf: None,
        argv: Vec::new(),
        // A run never arms the machine's watchdog, confined or not.
        watchdog: None,
        hang_after: None,
        fail_after: None,
    })
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

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn live_only_with_root_and_allow_list() {
        let dry = parse_run(&s(&["--disk", "loop*"])).unwrap();
        assert_eq!(dry.mode, Mode::DryRun);
        assert!(dry.confine.dry_run);
        assert!(!dry.confine.disk_allowed("vda") && dry.confine.disk_allowed("loop1"));
        let dry = parse_run(&s(&[])).unwrap();
        assert_eq!(dry.mode, Mode::DryRun);
        assert!(dry.socket.is_none());
        assert!(dry.confine.disk_allowed("vda") && dry.policy.cache.allow.is_none());
        let live = parse_run(&s(&["--disk", "loop*", "--root", "/tmp/n", "--allow-loop"])).unwrap();
        assert_eq!(live.mode, Mode::Live);
        assert!(!live.confine.dry_run);
        assert!(live.confine.disk_allowed("loop3") && !live.confine.disk_allowed("vda"));
        assert!(!live.confine.nic_allowed("eth0"));
        assert_eq!(live.policy.cache.allow, Some(vec!["loop*".to_string()]));
        assert_eq!(live.policy.net.allow, Some(vec![]));
        assert!(live.policy.cache.allow_loop && !live.policy.modprobe);
        assert_eq!(live.socket, Some(PathBuf::from("/tmp/n/run/nodeboot.sock")));
        let forced = parse_run(&s(&["--disk", "x", "--root", "/r", "--dry-run"])).unwrap();
        assert_eq!(forced.mode, Mode::DryRun);
        assert!(parse_run(&s(&["--bogus"])).is_err());
    }

    #[test]
    fn the_disk_is_the_unit_of_permission() {
        let r = parse_run(&s(&["--disk", "loop12", "--root", "/r"])).unwrap();
        assert_eq!(r.policy.cache.allow, Some(vec!["loop12".into()]));
        let c = &r.confine;
        let probe = |d: &str| crate::core::action::Effect::ProbeDisk { device: d.into() };
        assert!(super::super::exec::check(&probe("loop12p1"), c, false).is_ok());
        assert!(super::super::exec::check(&probe("loop120"), c, false).is_err());
        assert!(super::super::exec::check(&probe("loop1"), c, false).is_err());
    }

    #[test]
    fn cmdline_overrides() {
        let r = parse_run(&s(&[
            "--cmdline",
            "quiet nodeboot.reach=10.0.0.1:80,h:1 nodeboot.gate=5 nodeboot.gate=x",
        ]))
        .unwrap();
        assert_eq!(r.policy.gate.targets, vec!["10.0.0.1:80", "h:1"]);
        assert_eq!(r.policy.gate.timeout, std::time::Duration::from_secs(5));
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
        let bad = parse_run(&s(&["--rules", "/nonexistent-nb"])).unwrap();
        assert_eq!(bad.notes.len(), 1);
        assert_eq!(bad.policy.gate, Policy::default().gate);
    }
}
