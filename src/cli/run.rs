//! `nodeboot run [flags]` and `nodeboot init` outside PID 1 (refused, except as
//! `--boot-service`, which is a `run` reading the kernel command line).

use crate::args::Args;
use nodeboot::log::Format;
use nodeboot::world::options::{RunOptions, Settings};

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
    // The operators' sinks (cli/sinks.rs): log file rotation and syslog.
    "log-max-bytes",
    "log-keep",
    "syslog",
    "syslog-facility",
    "log-queue",
];
const BOOL_FLAGS: &[&str] = &["dry-run", "json", "human", "allow-loop", "quiet"];

/// `nodeboot run`.
pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{RUN_USAGE}");
        return 0;
    }
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("nodeboot run: {e}\n{RUN_USAGE}");
            return 2;
        }
    };
    match nodeboot::world::run(Settings::run(&opts)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nodeboot run: {e}");
            e.exit_code()
        }
    }
}

/// `nodeboot run` flags → the run's options.
pub fn parse(argv: &[String]) -> Result<RunOptions, String> {
    let args = Args::parse(argv, VALUE_FLAGS)?;
    let known: Vec<&str> = VALUE_FLAGS.iter().chain(BOOL_FLAGS).copied().collect();
    if let Some(f) = args.unknown(&known) {
        return Err(format!("unknown flag --{f}"));
    }
    if let Some(p) = args.positional.first() {
        return Err(format!("unexpected argument {p:?}"));
    }
    // Absolute, so that mounts and the log socket do not depend on the cwd.
    let root = match args.value("root") {
        Some(r) => Some(std::path::absolute(r).map_err(|e| format!("--root {r}: {e}"))?),
        None => None,
    };
    let format = if args.has("json") {
        Some(Format::Json)
    } else if args.has("human") {
        Some(Format::Human)
    } else {
        None
    };
    Ok(RunOptions {
        disks: args.values("disk"),
        nics: args.values("nic"),
        root,
        allow_loop: args.has("allow-loop"),
        rules: args.value("rules").map(str::to_owned),
        cmdline: args.value("cmdline").map(str::to_owned),
        record: args.value("record").map(Into::into),
        socket: args.value("socket").map(Into::into),
        format,
        quiet: args.has("quiet"),
        dry_run: args.has("dry-run"),
        sinks: super::sinks::parse(&args).map_err(|e| e.to_string())?,
    })
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
pub fn init(args: &[String]) -> i32 {
    match args.split_first() {
        Some((flag, rest)) if flag == BOOT_SERVICE => boot_service(rest),
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
fn boot_service(args: &[String]) -> i32 {
    let mut args = args.to_vec();
    let has_cmdline = args
        .iter()
        .any(|a| a == "--cmdline" || a.starts_with("--cmdline="));
    if !has_cmdline {
        args.push("--cmdline".into());
        args.push(nodeboot::world::kernel_rules_words());
    }
    main(&args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_become_options() {
        let o = parse(&s(&[
            "--disk",
            "loop*",
            "--disk=sdz",
            "--nic",
            "eth0",
            "--root",
            "/tmp/n",
            "--allow-loop",
            "--quiet",
            "--json",
            "--dry-run",
            "--record",
            "j",
            "--socket",
            "/s",
            "--rules",
            "r",
            "--cmdline",
            "nodeboot.gate=5",
            "--log-keep",
            "2",
        ]))
        .unwrap();
        assert_eq!(o.disks, vec!["loop*", "sdz"]);
        assert_eq!(o.nics, vec!["eth0"]);
        assert_eq!(o.root, Some(PathBuf::from("/tmp/n")));
        assert!(o.allow_loop && o.quiet && o.dry_run);
        assert_eq!(o.format, Some(Format::Json));
        assert_eq!(o.record, Some(PathBuf::from("j")));
        assert_eq!(o.socket, Some(PathBuf::from("/s")));
        assert_eq!(o.rules.as_deref(), Some("r"));
        assert_eq!(o.cmdline.as_deref(), Some("nodeboot.gate=5"));
        assert_eq!(o.sinks.keep, 2);
        let none = parse(&[]).unwrap();
        assert!(none.disks.is_empty() && none.root.is_none() && none.format.is_none());
        assert!(!(none.quiet || none.dry_run || none.allow_loop));
        assert_eq!(parse(&s(&["--human"])).unwrap().format, Some(Format::Human));
        // A relative root is made absolute here, once.
        assert!(
            parse(&s(&["--root", "rel"]))
                .unwrap()
                .root
                .unwrap()
                .is_absolute()
        );
        assert!(parse(&s(&["--bogus"])).is_err());
        assert!(parse(&s(&["extra"])).is_err());
        assert!(parse(&s(&["--disk"])).is_err());
        assert!(parse(&s(&["--log-keep", "-1"])).is_err());
    }

    #[test]
    fn init_outside_pid1_is_refused_unless_a_boot_service() {
        assert_ne!(std::process::id(), 1);
        assert_eq!(init(&[]), 2);
        assert_eq!(init(&["single".into()]), 2);
        // A boot service with a bad run flag fails like `run` (exit 2, usage), before
        // touching anything.
        assert_eq!(init(&[BOOT_SERVICE.into(), "--no-such-flag".into()]), 2);
    }
}
