//! The rules directory: parsing, every error kind with its exact line, the kernel
//! command line, and `nodeboot check`'s exit codes. Fixtures live in `tests/rules/`.

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use nodeboot::core::policy::Policy;
use nodeboot::rules::{self, RulesError, cmdline};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/rules").join(name)
}

/// `(file name, line, message)` of each error, file names without their directory.
fn located(errors: &[RulesError]) -> Vec<(String, u32, String)> {
    errors
        .iter()
        .map(|e| {
            let file = Path::new(&e.file)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (file, e.line, e.message.clone())
        })
        .collect()
}

fn lines_of(errors: &[RulesError]) -> Vec<(String, u32)> {
    located(errors)
        .into_iter()
        .map(|(f, l, _)| (f, l))
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn shipped_rules_are_the_builtin_defaults_plus_the_official_services() {
    let policy = rules::load(&root().join("rules")).expect("shipped rules must be valid");
    let builtin = Policy::default();
    assert_eq!(policy.cache, builtin.cache);
    assert_eq!(policy.net, builtin.net);
    assert_eq!(policy.gate, builtin.gate);
    assert_eq!(policy.modprobe, builtin.modprobe);
    assert_eq!(policy.preload_modules, builtin.preload_modules);
    let names: Vec<&str> = policy.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["redis", "nft", "libvirt", "dnsmasq", "0-fs", "0-ork"]
    );
    for s in &policy.services {
        for dep in &s.after {
            let pos = names.iter().position(|n| n == dep).unwrap();
            let me = names.iter().position(|n| *n == s.name).unwrap();
            assert!(
                pos < me,
                "{} runs after {dep}, which is listed later",
                s.name
            );
        }
    }
    let ork = policy.services.iter().find(|s| s.name == "0-ork").unwrap();
    assert_eq!(ork.after, s(&["redis", "libvirt"]));
    // nft loads the ruleset once; the others are long-running.
    let oneshots: Vec<(&str, &[String])> = policy
        .services
        .iter()
        .filter(|s| s.oneshot)
        .map(|s| (s.name.as_str(), s.argv.as_slice()))
        .collect();
    assert_eq!(
        oneshots,
        [("nft", s(&["nft", "-f", "/etc/nftables.conf"]).as_slice())]
    );
}

#[test]
fn good_directory_sets_every_kind_of_value() {
    let p = rules::load(&fixture("good")).unwrap();
    assert_eq!(p.cache.label, "test-cache");
    assert_eq!(p.cache.settle_quiet, Duration::from_millis(500));
    assert_eq!(p.cache.settle_max, Duration::from_secs(20));
    assert_eq!(p.cache.partition_wait, Duration::from_secs(45));
    assert_eq!(p.cache.keep_logs, 3);
    assert_eq!(p.cache.exclude, s(&["sdz", "nvme1n*"]));
    assert_eq!(p.cache.allow, Some(s(&["loop*"])));
    assert!(p.cache.allow_loop);
    assert_eq!(p.cache.mount_options, "compress=zstd,noatime");
    // Keys absent from a file keep their defaults.
    assert_eq!(p.cache.pool_mount, Policy::default().cache.pool_mount);
    assert_eq!(p.net.give_up, Duration::from_secs(45));
    assert_eq!(p.net.dhcp_command, s(&["dhclient", "-d", "{nic}"]));
    // Zero is allowed: trust the flags.
    assert_eq!(p.net.carrier_confirm, Duration::ZERO);
    assert_eq!(p.net.include, s(&["*"]));
    assert_eq!(
        p.gate.targets,
        s(&["[2606:4700::1111]:443", "example.org:80"])
    );
    assert_eq!(p.gate.timeout, Duration::from_secs(120));
    assert!(!p.modprobe);
    assert_eq!(p.preload_modules, s(&["btrfs", "xfs"]));
    assert_eq!(p.services.len(), 2);
    let a = &p.services[1];
    assert_eq!(
        (a.name.as_str(), a.backoff_initial, a.backoff_max),
        ("a", Duration::from_millis(250), Duration::from_secs(90))
    );
    assert!(a.oneshot);
    assert!(!p.services[0].oneshot, "oneshot defaults to false");
    assert_eq!(p.services[0].after, s(&["a"]));
}

#[test]
fn syntax_error_falls_back_for_that_file_only() {
    let (p, errors) = rules::load_or_default(&fixture("syntax"));
    let got = located(&errors);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0.as_str(), got[0].1), ("cache.toml", 3));
    assert!(got[0].2.starts_with("syntax error"), "{}", got[0].2);
    // cache.toml is invalid: built-in cache (its valid-looking keys are not applied).
    assert_eq!(p.cache, Policy::default().cache);
    // gate.toml is fine and applies.
    assert_eq!(p.gate.timeout, Duration::from_secs(5));
    assert!(rules::load(&fixture("syntax")).is_err());
}

#[test]
fn unknown_keys_are_errors_with_a_hint() {
    let (p, errors) = rules::load_or_default(&fixture("unknown-key"));
    let got = located(&errors);
    assert_eq!(
        lines_of(&errors),
        [("network.toml".into(), 2), ("network.toml".into(), 3)]
    );
    assert!(
        got[0].2.contains("unknown key `giveup`") && got[0].2.contains("did you mean `give_up`"),
        "{}",
        got[0].2
    );
    assert!(got[1].2.contains("unknown key `dhcp`"), "{}", got[1].2);
    assert_eq!(
        p.net,
        Policy::default().net,
        "invalid network.toml must fall back whole"
    );
    assert_eq!(p.gate.timeout, Duration::from_secs(5));
}

#[test]
fn wrong_types_name_the_key_and_line() {
    let (p, errors) = rules::load_or_default(&fixture("types"));
    let got = located(&errors);
    let want: &[(&str, u32, &str)] = &[
        (
            "cache.toml",
            2,
            "`keep_logs`: expected a whole number, found string",
        ),
        (
            "cache.toml",
            3,
            "`allow_loop`: expected true or false, found integer",
        ),
        (
            "cache.toml",
            4,
            "`exclude`: expected a list of strings, found an integer in it",
        ),
        ("cache.toml", 5, "mount point must be an absolute path"),
        ("gate.toml", 1, "`timeout`: expected a duration"),
        (
            "services.toml",
            4,
            "`oneshot`: expected true or false, found string",
        ),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((f, l, m), (wf, wl, wm)) in got.iter().zip(want) {
        assert_eq!((f.as_str(), *l), (*wf, *wl));
        assert!(m.starts_with(wm), "{m:?} should start with {wm:?}");
    }
    assert_eq!(p.cache, Policy::default().cache);
    assert_eq!(p.gate, Policy::default().gate);
    assert!(
        p.services.is_empty(),
        "a service with a bad `oneshot` is dropped"
    );
}

#[test]
fn semantic_errors_point_at_the_bad_value() {
    let (p, errors) = rules::load_or_default(&fixture("values"));
    let got = located(&errors);
    let want: &[(&str, u32, &str)] = &[
        ("cache.toml", 1, "label must not be empty"),
        ("cache.toml", 2, "mount point must be an absolute path"),
        (
            "cache.toml",
            3,
            "`keep_logs`: must be between 1 and 1000, found 0",
        ),
        ("cache.toml", 4, "`settle_quiet`: must be greater than zero"),
        (
            "cache.toml",
            5,
            "`settle_max`: invalid duration \"forever\"",
        ),
        (
            "cache.toml",
            6,
            "`partition_wait`: 1h is too long (at most 5m)",
        ),
        // The bad element of a multi-line list, not the key.
        ("gate.toml", 3, "target \"1.1.1.1\" is not host:port"),
        (
            "network.toml",
            1,
            "dhcp_command must contain the `{nic}` placeholder",
        ),
        ("network.toml", 2, "`give_up`: 2h is too long (at most 10m)"),
        (
            "network.toml",
            3,
            "`carrier_confirm`: 5m is too long (at most 1m)",
        ),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((f, l, m), (wf, wl, wm)) in got.iter().zip(want) {
        assert_eq!((f.as_str(), *l), (*wf, *wl), "{m}");
        assert!(m.starts_with(wm), "{m:?} should start with {wm:?}");
    }
    assert_eq!(p, Policy::default());
}

#[test]
fn service_errors_drop_the_service_and_its_dependents_only() {
    let (p, errors) = rules::load_or_default(&fixture("services"));
    let got = located(&errors);
    let want: &[(u32, &str)] = &[
        (6, "duplicate service name `ok` (first defined on line 2)"),
        (11, "`noargv`: argv must not be empty"),
        (
            16,
            "service `needs-noargv` skipped: it runs after `noargv`, which is invalid",
        ),
        (21, "service `lost` runs after unknown service `ghost`"),
        (26, "dependency cycle: a -> b -> a"),
        (
            36,
            "service `c` skipped: it runs after `a`, which is invalid",
        ),
        (38, "service name is missing or empty"),
        (
            44,
            "unknown key `afer` in a [[service]] (did you mean `after`?)",
        ),
    ];
    let got_short: Vec<(u32, &str)> = got.iter().map(|(_, l, m)| (*l, m.as_str())).collect();
    assert_eq!(got_short, want);
    let names: Vec<&str> = p.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ok", "last"]);
    assert_eq!(
        p.services[0].argv,
        s(&["/bin/ok"]),
        "the first definition wins"
    );
}

#[test]
fn unknown_file_and_missing_directory() {
    let (p, errors) = rules::load_or_default(&fixture("unknown-file"));
    assert_eq!(lines_of(&errors), [("netwrok.toml".into(), 1)]);
    assert!(
        errors[0].message.contains("did you mean `network.toml`"),
        "{}",
        errors[0]
    );
    assert_eq!(p, Policy::default());

    let missing = fixture("no-such-dir");
    let (p, errors) = rules::load_or_default(&missing);
    assert_eq!(p, Policy::default());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, missing.display().to_string());
    assert_eq!(
        errors[0].to_string(),
        format!("{}:1: {}", errors[0].file, errors[0].message)
    );
}

#[test]
fn empty_directory_is_the_builtin_policy() {
    let dir = support::TempDir::new("rules-empty");
    let loaded = rules::load(dir.path());
    assert_eq!(loaded, Ok(Policy::default()));
}

#[test]
fn dump_round_trips() {
    let p = rules::load(&fixture("good")).unwrap();
    let text = rules::to_toml(&p);
    let dir = support::TempDir::new("rules-dump");
    for block in text.split("# ==> ").skip(1) {
        let (name, body) = block.split_once(" <==\n").unwrap();
        std::fs::write(dir.join(name), body).unwrap();
    }
    let again = rules::load(dir.path());
    assert_eq!(again, Ok(p));
}

#[test]
fn cmdline_overrides_rules_keys() {
    let mut p = rules::load(&root().join("rules")).unwrap();
    let line = "BOOT_IMAGE=/vmlinuz console=ttyS0 nodeboot.reach=10.0.0.1:80,[::1]:443 nodeboot.gate=15 \
                nodeboot.settle=3s nodeboot.giveup=45 nodeboot.keep_logs=4 nodeboot.nic=eth*,en* \
                nodeboot.nic.exclude=eth9 nodeboot.disk.exclude=sdz,sdy nodeboot.label=other \
                \"nodeboot.dhcp=dhclient,-d,{nic}\" nodeboot.modprobe=0 nodeboot.preload=none nodeboot.cache.settle_max=20s \
                nodeboot.cache.partition_wait=30s nodeboot.network.backoff_max=2m nodeboot.rules=/etc/rules -- nodeboot.gate=99";
    let errors = cmdline::apply(&mut p, line);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(p.gate.targets, s(&["10.0.0.1:80", "[::1]:443"]));
    assert_eq!(
        p.gate.timeout,
        Duration::from_secs(15),
        "words after -- belong to init"
    );
    assert_eq!(p.cache.settle_quiet, Duration::from_secs(3));
    assert_eq!(
        p.cache.settle_after_facts,
        Duration::from_secs(3),
        "nodeboot.settle= sets the quiet period after the facts too"
    );
    assert_eq!(p.cache.settle_max, Duration::from_secs(20));
    assert_eq!(p.cache.partition_wait, Duration::from_secs(30));
    assert_eq!(p.net.give_up, Duration::from_secs(45));
    assert_eq!(p.cache.keep_logs, 4);
    assert_eq!(p.net.include, s(&["eth*", "en*"]));
    assert_eq!(p.net.exclude, s(&["eth9"]));
    assert_eq!(p.cache.exclude, s(&["sdz", "sdy"]));
    assert_eq!(p.cache.label, "other");
    assert_eq!(p.net.dhcp_command, s(&["dhclient", "-d", "{nic}"]));
    assert!(!p.modprobe);
    assert!(p.preload_modules.is_empty());
    assert_eq!(p.net.backoff_max, Duration::from_secs(120));
    assert_eq!(p.services.len(), 6);
    assert_eq!(cmdline::rules_dir(line).as_deref(), Some("/etc/rules"));
    assert_eq!(cmdline::rules_dir("quiet"), None);

    let errors = cmdline::apply(&mut p, "nodeboot.reach=none nodeboot.services=off");
    assert!(errors.is_empty(), "{errors:?}");
    assert!(p.gate.targets.is_empty());
    assert!(p.services.is_empty());
}

#[test]
fn bad_cmdline_words_are_errors_that_change_nothing() {
    let mut p = Policy::default();
    let errors = cmdline::apply(
        &mut p,
        "nodeboot.gate=soon nodeboot.gate=0 nodeboot.reach=1.1.1.1 nodeboot.label=a/b \
         nodeboot.keep_logs=0 nodeboot.dhcp=udhcpc nodeboot.bogus=1 nodeboot.giveup \
         nodeboot.modprobe=maybe nodeboot.services=sometimes nodeboot.gaet=5 other.key=1",
    );
    assert_eq!(p, Policy::default());
    let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 11, "{msgs:#?}");
    assert!(
        errors
            .iter()
            .all(|e| e.file == "/proc/cmdline" && e.line == 1)
    );
    assert!(
        msgs[0].starts_with("/proc/cmdline:1: nodeboot.gate=soon: invalid duration"),
        "{}",
        msgs[0]
    );
    assert!(msgs[1].contains("greater than zero"));
    assert!(msgs[2].contains("not host:port"));
    assert!(msgs[3].contains("must not contain `/`"));
    assert!(msgs[4].contains("between 1 and"));
    assert!(msgs[5].contains("{nic}"));
    assert!(msgs[6].contains("unknown key `nodeboot.bogus`"));
    assert!(msgs[7].contains("needs a value"));
    assert!(msgs[8].contains("expected 0 or 1"));
    assert!(msgs[9].contains("expected `off` or `on`"));
    assert!(
        msgs[10].contains("did you mean `nodeboot.gate`"),
        "{}",
        msgs[10]
    );
}

#[test]
fn cmdline_words_split_like_the_kernel() {
    assert_eq!(
        cmdline::words("a  \"b c\" d=\"e f\" \"g\"h -- init args"),
        s(&["a", "b c", "d=e f", "gh"])
    );
    assert!(cmdline::words("  ").is_empty());
}

#[test]
fn check_exit_codes() {
    // The binary's: the flags and exit codes are the command line's (src/cli/check.rs).
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nodeboot"))
            .arg("check")
            .args(args)
            .output()
            .unwrap()
            .status
            .code()
            .unwrap()
    };
    let good = fixture("good").display().to_string();
    let shipped = root().join("rules").display().to_string();
    assert_eq!(run(&[&shipped]), 0);
    assert_eq!(run(&[&good]), 0);
    assert_eq!(run(&[&good, "--dump"]), 0);
    assert_eq!(run(&[&good, "--json"]), 0);
    assert_eq!(
        run(&[&good, "--cmdline", "nodeboot.gate=30 nodeboot.reach=none"]),
        0
    );
    assert_eq!(run(&[&good, "--cmdline", "nodeboot.gate=never"]), 1);
    for bad in [
        "syntax",
        "unknown-key",
        "types",
        "values",
        "services",
        "unknown-file",
        "no-such-dir",
    ] {
        assert_eq!(run(&[&fixture(bad).display().to_string()]), 1, "{bad}");
    }
    assert_eq!(run(&[]), 2);
    assert_eq!(run(&[&good, &good]), 2);
    assert_eq!(run(&[&good, "--bogus"]), 2);
    assert_eq!(run(&[&good, "--cmdline"]), 2);
}

#[test]
fn keys_may_sit_under_a_header_naming_the_section() {
    let (p, errors) = rules::load_or_default(&fixture("headers"));
    let got = located(&errors);
    let want: &[(&str, u32, &str)] = &[
        // A header of another section is an unknown key like any other.
        ("cache.toml", 1, "unknown key `gate` in cache.toml"),
        ("gate.toml", 4, "target \"10.77.0.1\" is not host:port"),
        (
            "gate.toml",
            5,
            "duplicate key `timeout` (also set on line 1)",
        ),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((f, l, m), (wf, wl, wm)) in got.iter().zip(want) {
        assert_eq!((f.as_str(), *l), (*wf, *wl), "{m}");
        assert!(m.starts_with(wm), "{m:?} should start with {wm:?}");
    }
    assert_eq!(p.net.include, s(&["nb-eth*"]));
    assert!(p.net.allow_virtual);
    assert_eq!(p.net.give_up, Duration::from_secs(20));
    assert_eq!(p.gate, Policy::default().gate);
}

#[test]
fn mount_points_must_not_cover_system_directories_or_each_other() {
    let (p, errors) = rules::load_or_default(&fixture("mounts"));
    let got = located(&errors);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0.as_str(), got[0].1), ("cache.toml", 2));
    assert!(
        got[0].2.contains("would cover a system directory"),
        "{got:?}"
    );
    assert_eq!((got[1].0.as_str(), got[1].1), ("cache.toml", 3));
    assert!(
        got[1].2.contains("log_mount and pool_mount must differ"),
        "{got:?}"
    );
    // The invalid file falls back to the defaults; the valid one still applies.
    assert_eq!(p.cache, Policy::default().cache);
    assert_eq!(p.gate.timeout, Duration::from_secs(20));

    let mut p = Policy::default();
    for word in [
        "nodeboot.cache.pool_mount=/",
        "nodeboot.cache.log_mount=/dev",
        "nodeboot.cache.cache_mount=/sys/fs",
        "nodeboot.cache.pool_mount=/run",
        "nodeboot.cache.pool_mount=/var/log",
        "nodeboot.cache.pool_mount=/var",
    ] {
        let errors = cmdline::apply(&mut p, word);
        assert_eq!(errors.len(), 1, "{word}: {errors:?}");
    }
    assert_eq!(p, Policy::default());
}

#[test]
fn labels_longer_than_a_gpt_partition_name_are_rejected() {
    let (p, errors) = rules::load_or_default(&fixture("label-too-long"));
    let got = located(&errors);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0.as_str(), got[0].1), ("cache.toml", 1));
    assert!(got[0].2.contains("GPT partition name"), "{got:?}");
    assert_eq!(p.cache.label, "sp_zos-cache");
    let mut p = Policy::default();
    let long = format!("nodeboot.label={}", "x".repeat(37));
    assert_eq!(cmdline::apply(&mut p, &long).len(), 1);
    assert!(cmdline::apply(&mut p, &format!("nodeboot.label={}", "x".repeat(36))).is_empty());
    assert_eq!(p.cache.label, "x".repeat(36));
}

/// A FIFO (nobody writes it: a blocking open would hang PID 1 forever), a device
/// (`/dev/zero` never ends) and an oversize file are refused without reading them, each
/// with an error; their sections keep the defaults and the other files still apply.
#[test]
fn rules_files_are_read_only_when_regular_and_small() {
    let dir = support::temp::TempDir::new("rules-limits");
    let fifo = dir.join("cache.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("network.toml")).unwrap();
    let big = format!(
        "timeout = \"20s\"\n#{}\n",
        "x".repeat(rules::MAX_FILE_BYTES as usize)
    );
    std::fs::write(dir.join("gate.toml"), big).unwrap();
    std::fs::write(dir.join("boot.toml"), "modprobe = false\n").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let path = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(rules::load_or_default(&path));
    });
    let (p, errors) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("loading the rules hung on a FIFO or a device");
    let got = located(&errors);
    assert_eq!(got.len(), 3, "{got:?}");
    let find = |f: &str| {
        got.iter()
            .find(|(n, _, _)| n == f)
            .map(|(_, _, m)| m.clone())
    };
    assert!(find("cache.toml").unwrap().contains("not a regular file"));
    assert!(find("network.toml").unwrap().contains("not a regular file"));
    assert!(find("gate.toml").unwrap().contains("larger than"));
    assert_eq!(p.cache, Policy::default().cache);
    assert_eq!(p.net, Policy::default().net);
    assert_eq!(p.gate, Policy::default().gate);
    assert!(
        !p.modprobe,
        "boot.toml, a regular small file, still applies"
    );
}
