//! The root/CI rule: a root-only test skips when it cannot run, except under `CI=true`,
//! where a test that cannot run is a failure.

/// `CI=true`: root-only tests must run, not skip.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True when the test may run: root, and every listed command installed. Otherwise
/// skip (false), except under `CI=true`, where a root test that cannot run panics.
pub fn require_root(test: &str, commands: &[&str]) -> bool {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root".to_string());
    }
    for c in commands {
        if !command_exists(c) {
            missing.push(format!("command {c}"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = missing.join(", ");
    assert!(!ci(), "{test}: needs {why}, and CI=true forbids skipping");
    eprintln!("{test}: skipped (needs {why})");
    false
}

/// Is `name` an executable file on `PATH`?
pub fn command_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}
