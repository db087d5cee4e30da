//! A log rate limit for records that a process outside the kernel can cause at will
//! (`uevent.dropped`, `rtnl.dropped`): a flood of forged messages must not become a
//! flood of log lines (console, log file, socket clients). Pure logic, the clock is
//! given: the loop asks [`RateLimit::admit`] before logging one such record (which
//! also hands back the summary of the window before, if one is owed), and logs the
//! summary [`RateLimit::flush`] hands back once a window that suppressed something
//! is over and no record came since (the loop wakes for it: [`RateLimit::due`]).
//!
//! Windows are fixed: the first `burst` records of a window are logged, the rest
//! only counted; the count is reported once, when the window has ended, as one
//! `log.suppressed` record. Only log lines are limited: the messages are dropped
//! either way, and nothing here reaches the core, so no decision changes.

use crate::time::{Duration, Instant};

/// Records logged per window before suppressing.
pub const BURST: u32 = 10;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct RateLimit {
    burst: u32,
    window: Duration,
    /// Start of the current window (`None`: no record yet).
    start: Option<Instant>,
    /// Records admitted in the current window.
    logged: u32,
    /// Records suppressed in the current window (or, past its end, not reported yet).
    suppressed: u64,
}

/// The answer to [`RateLimit::admit`].
#[derive(Debug, PartialEq, Eq)]
pub struct Admit {
    /// Log this first: what the window before suppressed.
    pub summary: Option<Suppressed>,
    /// Log the record (else it is counted).
    pub log: bool,
}

/// What was suppressed in one window, for the summary record.
#[derive(Debug, PartialEq, Eq)]
pub struct Suppressed {
    pub count: u64,
    pub window_ms: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(BURST, WINDOW)
    }
}

impl RateLimit {
    pub fn new(burst: u32, window: Duration) -> RateLimit {
        RateLimit {
            burst,
            window,
            start: None,
            logged: 0,
            suppressed: 0,
        }
    }

    /// One record is due at `now`: whether to log it, and the summary of the
    /// window before to log first, if one is owed.
    pub fn admit(&mut self, now: Instant) -> Admit {
        let summary = self.flush(now);
        let in_window = self
            .start
            .is_some_and(|s| now.millis_since(s) < self.window_ms());
        if !in_window {
            self.start = Some(now);
            self.logged = 0;
        }
        let log = if self.logged < self.burst {
            self.logged = self.logged.saturating_add(1);
            true
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            false
        };
        Admit { summary, log }
    }

    fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX)
    }

    /// When the summary of the current window is owed (its end), if it suppressed
    /// anything.
    pub fn due(&self) -> Option<Instant> {
        match self.start {
            Some(start) if self.suppressed > 0 => Some(start + self.window),
            _ => None,
        }
    }

    /// The summary, if one is owed by `now`; reported once.
    pub fn flush(&mut self, now: Instant) -> Option<Suppressed> {
        let due = self.due()?;
        if now < due {
            return None;
        }
        let count = std::mem::take(&mut self.suppressed);
        Some(Suppressed {
            count,
            window_ms: self.window_ms(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Feed `n` records at `t_ms`; the number logged and the summaries logged.
    fn feed(l: &mut RateLimit, t_ms: u64, n: u32) -> (u32, Vec<Suppressed>) {
        let mut logged = 0;
        let mut summaries = Vec::new();
        for _ in 0..n {
            let a = l.admit(at(t_ms));
            summaries.extend(a.summary);
            logged += u32::from(a.log);
        }
        (logged, summaries)
    }

    #[test]
    fn a_trickle_is_logged_in_full() {
        let mut l = RateLimit::new(3, Duration::from_secs(1));
        for t in [0, 400, 900, 1_000, 5_000] {
            assert_eq!(
                l.admit(at(t)),
                Admit {
                    summary: None,
                    log: true
                },
                "at {t}"
            );
            assert_eq!(l.due(), None);
        }
        assert_eq!(l.flush(at(60_000)), None);
    }

    #[test]
    fn a_flood_logs_the_burst_then_one_summary_per_window() {
        let mut l = RateLimit::new(10, Duration::from_secs(1));
        let (logged, summaries) = feed(&mut l, 100, 1_000);
        assert_eq!((logged, summaries.len()), (10, 0));
        // The summary is owed at the window's end, not before.
        assert_eq!(l.due(), Some(at(1_100)));
        assert_eq!(l.flush(at(1_099)), None);
        // The flood goes on in the next window: the summary comes first, once.
        let (logged, summaries) = feed(&mut l, 1_100, 500);
        assert_eq!(logged, 10);
        assert_eq!(
            summaries,
            vec![Suppressed {
                count: 990,
                window_ms: 1_000
            }]
        );
        // The flood stops: the loop wakes at `due` and flushes the rest.
        assert_eq!(l.due(), Some(at(2_100)));
        assert_eq!(
            l.flush(at(2_100)),
            Some(Suppressed {
                count: 490,
                window_ms: 1_000
            })
        );
        assert_eq!(l.due(), None, "reported once");
        assert_eq!(l.flush(at(9_000)), None);
    }

    #[test]
    fn every_record_is_logged_or_counted() {
        let mut l = RateLimit::default();
        let mut logged = 0u64;
        let mut counted = 0u64;
        // 7 records every 100 ms for 10 s: 70 a second against a burst of 10.
        for step in 0..100u64 {
            let t = step * 100;
            if step % 3 == 0 {
                // the loop's timer path, now and then
                counted += l.flush(at(t)).map_or(0, |s| s.count);
            }
            for _ in 0..7 {
                let a = l.admit(at(t));
                counted += a.summary.map_or(0, |s| s.count);
                logged += u64::from(a.log);
            }
        }
        counted += l.flush(at(20_000)).map_or(0, |s| s.count);
        assert_eq!(logged + counted, 700);
        assert!(logged <= 10 * 11, "{logged}");
    }
}
