//! Issue 9, points 1 and 2, through the real binary (never as PID 1: that would boot
//! this machine): argv that is not UTF-8 never aborts, and `nodeboot init` outside
//! PID 1 is refused before touching anything.

use std::os::unix::ffi::OsStrExt;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nodeboot");

#[test]
fn non_utf8_argv_is_an_unknown_command_not_an_abort() {
    let word = std::ffi::OsStr::from_bytes(b"zos-\xff\xfe-debug");
    let out = Command::new(BIN).arg(word).output().unwrap();
    // Exit 2 (usage), not killed by SIGABRT (std::env::args panics on non-UTF-8).
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown command"), "{stderr}");
}

#[test]
fn init_outside_pid1_is_refused_with_exit_2() {
    for args in [&["init"][..], &["init", "single", "--", "extra"][..]] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not PID 1") && stderr.contains("--boot-service"),
            "{stderr}"
        );
    }
    // The boot service is a `run`: its flags are checked the same way.
    let out = Command::new(BIN)
        .args(["init", "--boot-service", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flag --no-such-flag"));
}
