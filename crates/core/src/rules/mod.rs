//! The policy in declarative files (`rules/`, see `docs/rules.md`), validated with
//! `file:line` errors, plus kernel command-line overrides ([`cmdline`]).
//!
//! An invalid file never bricks the node: [`load_or_default`] gives the section of an
//! invalid file its built-in defaults ([`Policy::default`]) and returns the errors for
//! the caller to log loudly ([`RulesError::to_event`]).
//!
//! ```text
//! rules/cache.toml     → Policy.cache      rules/gate.toml      → Policy.gate
//! rules/network.toml   → Policy.net        rules/boot.toml      → Policy.modprobe, .preload_modules
//! rules/services.toml  → Policy.services   ([[service]] tables)
//! ```

mod check;
pub mod cmdline;
mod dump;
mod file;
mod schema;
mod services;
mod validate;

pub use check::{CheckError, CheckOptions, CheckOutput, check};
pub use dump::to_toml;
pub use schema::{format_duration, parse_duration};

use crate::core::event::Event;
use crate::core::policy::Policy;
use file::Source;
use std::path::Path;

/// One problem in the rules, located at a line of a file (or of the command line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RulesError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl RulesError {
    /// The log-stream record for this error (`rules.error`).
    pub fn to_event(&self) -> Event {
        Event::RulesError {
            file: self.file.clone(),
            line: self.line,
            message: self.message.clone(),
        }
    }
}

/// The file names a rules directory may hold (any other `*.toml` is an error).
pub fn known_files() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = schema::SECTIONS.iter().map(|s| s.file).collect();
    v.push(schema::SERVICES_FILE);
    v
}

/// Load a rules directory; every error if anything is wrong.
pub fn load(dir: &Path) -> Result<Policy, Vec<RulesError>> {
    let (policy, errors) = load_or_default(dir);
    if errors.is_empty() {
        Ok(policy)
    } else {
        Err(errors)
    }
}

/// Load a rules directory, never failing: a missing file leaves its section at the
/// built-in defaults; an invalid file does too, and its errors are returned. A
/// missing directory gives the defaults and one error.
pub fn load_or_default(dir: &Path) -> (Policy, Vec<RulesError>) {
    let mut policy = Policy::default();
    let mut errors = Vec::new();
    let dir_name = dir.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            let message = format!("cannot read rules directory: {e}; using built-in defaults");
            return (
                policy,
                vec![RulesError {
                    file: dir_name,
                    line: 1,
                    message,
                }],
            );
        }
    };
    // Files we do not know are reported, never silently skipped: a misnamed file is a
    // typo like any other.
    let known = known_files();
    let mut unknown: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| !t.is_dir()).unwrap_or(true))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml") && !known.contains(&n.as_str()))
        .collect();
    unknown.sort();
    for name in unknown {
        let hint = schema::suggest(&name, known.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        errors.push(RulesError {
            file: dir.join(&name).display().to_string(),
            line: 1,
            message: format!(
                "unknown rules file, ignored{hint}; known files: {}",
                known.join(", ")
            ),
        });
    }

    for section in schema::SECTIONS {
        let path = dir.join(section.file);
        let Some(text) = read(&path, &mut errors) else {
            continue;
        };
        let src = Source {
            name: path.display().to_string(),
            text: &text,
        };
        file::load_section(section, &src, &mut policy, &mut errors);
    }
    let path = dir.join(schema::SERVICES_FILE);
    if let Some(text) = read(&path, &mut errors) {
        let src = Source {
            name: path.display().to_string(),
            text: &text,
        };
        let (entries, rejected) = file::load_services(&src, &mut errors);
        policy.services = services::resolve(&src.name, entries, rejected, &mut errors);
    }
    errors.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
    (policy, errors)
}

/// The largest rules file read; a bigger one is an error (its section keeps the
/// defaults). Real rules files are a few KiB.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The file's text; `None` when absent (not an error) or unreadable (an error). Only a
/// regular file under [`MAX_FILE_BYTES`] is read: the open is non-blocking (a FIFO
/// must not hang PID 1 before its loop runs), its type and size come from `fstat` on
/// the open file (no race with a rename), and the read itself is capped (`/dev/zero`
/// or a growing file must not exhaust memory).
fn read(path: &Path, errors: &mut Vec<RulesError>) -> Option<String> {
    match read_bounded(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            errors.push(RulesError {
                file: path.display().to_string(),
                line: 1,
                message: format!("cannot read: {e}; using built-in defaults for this file"),
            });
            None
        }
    }
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{} bytes, larger than {MAX_FILE_BYTES}", meta.len()),
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("grew past {MAX_FILE_BYTES} bytes while read"),
        ));
    }
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8"))
}
