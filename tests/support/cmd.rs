//! Running tools: `sh` for a command that must succeed (panics with its stderr),
//! `try_*` for one whose failure the caller reports itself (error = its stderr).

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Run a command; panic with its stderr when it fails; its stdout.
pub fn sh(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command, ignoring failure (teardown).
pub fn sh_quiet(argv: &[&str]) {
    let _ = Command::new(argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Run a command with `stdin` fed to it (none: stdin is /dev/null); its output.
fn fed(cmd: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, String> {
    use std::io::Write;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data).map_err(|e| e.to_string())?;
    }
    child.wait_with_output().map_err(|e| e.to_string())
}

/// Exit code (-1 when killed by a signal), stdout and stderr of a command fed `stdin`,
/// whatever the exit: for tests that check failures too.
pub fn capture(cmd: &str, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let out = fed(cmd, args, stdin).unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run a command with `stdin` fed to it; error = its stderr.
pub fn try_run(cmd: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<(), String> {
    let out = fed(cmd, args, stdin)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(cmd, args, &out))
    }
}

/// Run a command; error = its stderr.
pub fn try_sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    try_run(cmd, args, None)
}

/// Standard output of a command; error = its stderr.
pub fn try_output(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(failed(cmd, args, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn failed(cmd: &str, args: &[&str], out: &Output) -> String {
    format!(
        "{cmd} {args:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// SIGTERM to `child`, then wait up to `within` (SIGKILL after that): its exit status
/// (none when it cannot be had), and whether it stopped before the deadline.
pub fn terminate(child: &mut Child, within: Duration) -> (Option<ExitStatus>, bool) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return (Some(status), true);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return (child.wait().ok(), false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
