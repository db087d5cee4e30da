//! PID 1's own inputs from the kernel: the leftover argv words and the world's
//! `nodeboot.*` command-line words (those that are not rules overrides).
//!
//! The kernel hands init every command-line word it does not know that has no `.` in
//! it (`single`, `development`, `zos-debug`) and everything after `--`, as argv. They
//! are never commands: PID 1 logs them (`boot.start` `argv`, bounded by [`MAX_ARGV`]
//! words of [`MAX_ARG_BYTES`] bytes) and boots.
//!
//! The world's words: `nodeboot.log=json|human` (console format), `nodeboot.debug`
//! (debug records on the console; info by default),
//! `nodeboot.watchdog=on|off` (pet `/dev/watchdog`, default on),
//! `nodeboot.watchdog.timeout=SECS` (asked of the driver, default 30),
//! `nodeboot.emergency=shell` (a console shell if the loop fails), and the fault
//! injections `nodeboot.debug.hang_after=SECS` (the loop hangs SECS after start: the
//! VM test that a hung loop is reset by the watchdog) and
//! `nodeboot.debug.fail_after=SECS` (the loop fails SECS after start: the VM test of
//! PID 1's fallback); both off unless given.

use crate::core::event::Event;
use crate::log::Format;
use crate::rules::cmdline::{SOURCE, words};
use std::io::Read;
use std::time::Duration;

/// At most this many argv words are logged.
pub const MAX_ARGV: usize = 32;
/// Each logged argv word is cut to this many bytes (on a character boundary).
pub const MAX_ARG_BYTES: usize = 256;
/// `/proc/cmdline` is read up to this size (the kernel's own limit is 2-4 KiB).
const MAX_CMDLINE: u64 = 64 * 1024;
/// The watchdog timeout asked of the driver when the command line names none.
pub const DEFAULT_WATCHDOG_TIMEOUT: Duration = Duration::from_secs(30);

/// The world's kernel command-line settings, and the rest of the line for the rules.
#[derive(Debug, PartialEq)]
pub struct KernelWords {
    pub log: Option<Format>,
    /// `nodeboot.debug` (or `=1`): debug records on the console too (info otherwise).
    pub debug: bool,
    pub watchdog: bool,
    pub watchdog_timeout: Duration,
    pub emergency_shell: bool,
    pub hang_after: Option<Duration>,
    pub fail_after: Option<Duration>,
    /// The other words, for `rules::cmdline::apply` (quoted again where needed).
    pub rules: String,
    /// Bad world words, as `rules.error` records (never fatal).
    pub errors: Vec<Event>,
}

impl KernelWords {
    pub fn parse(cmdline: &str) -> KernelWords {
        let mut out = KernelWords {
            log: None,
            debug: false,
            watchdog: true,
            watchdog_timeout: DEFAULT_WATCHDOG_TIMEOUT,
            emergency_shell: false,
            hang_after: None,
            fail_after: None,
            rules: String::new(),
            errors: Vec::new(),
        };
        let mut rest: Vec<String> = Vec::new();
        for word in words(cmdline) {
            if word == "nodeboot.debug" {
                out.debug = true;
                continue;
            }
            let Some((key, value)) = word.split_once('=') else {
                rest.push(requote(&word));
                continue;
            };
            let result = match key {
                "nodeboot.log" => match value {
                    "json" => {
                        out.log = Some(Format::Json);
                        Ok(())
                    }
                    "human" => {
                        out.log = Some(Format::Human);
                        Ok(())
                    }
                    _ => Err("expected json or human"),
                },
                "nodeboot.debug" => switch(value, &mut out.debug, "expected 1 or 0"),
                "nodeboot.watchdog" => switch(value, &mut out.watchdog, "expected on or off"),
                "nodeboot.watchdog.timeout" => match seconds(value) {
                    Some(d) if d >= Duration::from_secs(2) => {
                        out.watchdog_timeout = d;
                        Ok(())
                    }
                    _ => Err("expected whole seconds, at least 2"),
                },
                "nodeboot.emergency" => match value {
                    "shell" => {
                        out.emergency_shell = true;
                        Ok(())
                    }
                    "none" => {
                        out.emergency_shell = false;
                        Ok(())
                    }
                    _ => Err("expected shell or none"),
                },
                "nodeboot.debug.hang_after" => match seconds(value) {
                    Some(d) => {
                        out.hang_after = Some(d);
                        Ok(())
                    }
                    None => Err("expected whole seconds"),
                },
                "nodeboot.debug.fail_after" => match seconds(value) {
                    Some(d) => {
                        out.fail_after = Some(d);
                        Ok(())
                    }
                    None => Err("expected whole seconds"),
                },
                _ => {
                    rest.push(requote(&word));
                    continue;
                }
            };
            if let Err(expected) = result {
                out.errors.push(Event::RulesError {
                    file: SOURCE.into(),
                    line: 1,
                    message: format!("{key}={value:?}: {expected}"),
                });
            }
        }
        out.rules = rest.join(" ");
        out
    }
}

/// `on`/`1` or `off`/`0` into `flag`; anything else is `expected`.
fn switch(value: &str, flag: &mut bool, expected: &'static str) -> Result<(), &'static str> {
    *flag = match value {
        "on" | "1" => true,
        "off" | "0" => false,
        _ => return Err(expected),
    };
    Ok(())
}

fn seconds(value: &str) -> Option<Duration> {
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// A word that held spaces was quoted on the kernel's line: quote it again so that
/// the rules see the same word.
fn requote(word: &str) -> String {
    if word.chars().any(char::is_whitespace) {
        format!("\"{word}\"")
    } else {
        word.to_owned()
    }
}

/// `/proc/cmdline`, read up to [`MAX_CMDLINE`] bytes (empty when unreadable).
pub fn read_cmdline() -> String {
    let mut text = String::new();
    if let Ok(file) = std::fs::File::open("/proc/cmdline") {
        let mut bytes = Vec::new();
        let _ = file.take(MAX_CMDLINE).read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// The argv words to log: at most [`MAX_ARGV`], each cut to [`MAX_ARG_BYTES`].
pub fn bounded_argv(words: &[String]) -> Vec<String> {
    words
        .iter()
        .take(MAX_ARGV)
        .map(|w| {
            let mut end = w.len().min(MAX_ARG_BYTES);
            while !w.is_char_boundary(end) {
                end -= 1;
            }
            w.get(..end).unwrap_or_default().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_words_are_taken_out_and_the_rest_goes_to_the_rules() {
        let k = KernelWords::parse(
            "console=ttyS0 single nodeboot.log=json nodeboot.reach=a:1 \
             nodeboot.watchdog=off nodeboot.emergency=shell nodeboot.label=\"my disk\" \
             nodeboot.debug.hang_after=40 nodeboot.debug.fail_after=50 -- extra",
        );
        assert_eq!(k.log, Some(Format::Json));
        assert!(!k.watchdog && k.emergency_shell);
        assert_eq!(k.hang_after, Some(Duration::from_secs(40)));
        assert_eq!(k.fail_after, Some(Duration::from_secs(50)));
        assert_eq!(k.watchdog_timeout, DEFAULT_WATCHDOG_TIMEOUT);
        assert_eq!(
            k.rules,
            "console=ttyS0 single nodeboot.reach=a:1 \"nodeboot.label=my disk\""
        );
        assert!(k.errors.is_empty(), "{:?}", k.errors);
        let mut policy = crate::core::policy::Policy::default();
        assert!(crate::rules::cmdline::apply(&mut policy, &k.rules).is_empty());
        assert_eq!(policy.cache.label, "my disk");
    }

    #[test]
    fn defaults_and_bad_values() {
        let k = KernelWords::parse("");
        assert!(k.watchdog && !k.emergency_shell && k.hang_after.is_none());
        let k = KernelWords::parse(
            "nodeboot.watchdog=maybe nodeboot.debug.hang_after=soon \
             nodeboot.watchdog.timeout=1 nodeboot.watchdog.timeout=12",
        );
        assert_eq!(k.errors.len(), 3, "{:?}", k.errors);
        assert!(k.watchdog && k.hang_after.is_none());
        assert_eq!(k.watchdog_timeout, Duration::from_secs(12));
    }

    #[test]
    fn argv_is_bounded_in_count_and_length() {
        let many: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        assert_eq!(bounded_argv(&many).len(), MAX_ARGV);
        // A long word of 3-byte characters is cut on a character boundary.
        let long = vec!["é€".repeat(200)];
        let cut = bounded_argv(&long);
        assert!(cut[0].len() <= MAX_ARG_BYTES && cut[0].len() > MAX_ARG_BYTES - 4);
        assert!(long[0].starts_with(&cut[0]));
        let words: Vec<String> = ["single", "development", "zos-debug", "extra"]
            .map(String::from)
            .to_vec();
        assert_eq!(bounded_argv(&words), words);
    }
}
