//! Names of the per-boot log subvolumes (`logs/<name>`) and which of them to prune.
//!
//! A name is the UTC wall time at which the subvolume is created, to the second, as
//! `YYYYMMDDTHHMMSSZ` (`20261126T013000Z`). Two boots in the same second (or a clock
//! that was reset) would collide, so a taken name gets a suffix: `.1`, `.2`, …
//! Because the fields are fixed-width and most significant first, names sort by time
//! as strings; the numeric suffix breaks ties in creation order. Prune relies on that
//! order: the newest are the greatest. Names not of this form (an operator's own
//! subvolume) are never pruned.

use crate::time::UtcTime;

/// The name for a subvolume created at `unix_secs`, not among `taken`.
pub fn log_name(unix_secs: u64, taken: &[String]) -> String {
    let base = timestamp(unix_secs);
    if !taken.contains(&base) {
        return base;
    }
    let mut n: u64 = 1;
    loop {
        let candidate = format!("{base}.{n}");
        if !taken.contains(&candidate) {
            return candidate;
        }
        n = n.saturating_add(1);
    }
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time.
pub fn timestamp(unix_secs: u64) -> String {
    let t = UtcTime::from_unix_secs(unix_secs);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// The sort key of a log subvolume name, `None` for names we did not make.
fn sort_key(name: &str) -> Option<(&str, u64)> {
    let (base, suffix) = match name.split_once('.') {
        Some((b, s)) => (b, s.parse::<u64>().ok()?),
        None => (name, 0),
    };
    let b = base.as_bytes();
    let shape_ok = b.len() == 16
        && b.get(8) == Some(&b'T')
        && b.get(15) == Some(&b'Z')
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit());
    shape_ok.then_some((base, suffix))
}

/// The log subvolumes to delete so that the `keep` newest of ours remain; `current`
/// (this boot's, mounted on the log directory) is always kept, even when a wrong
/// clock made it sort older than the others. Oldest first.
pub fn to_prune(existing: &[String], current: &str, keep: usize) -> Vec<String> {
    let mut ours: Vec<&String> = existing
        .iter()
        .filter(|n| n.as_str() != current && sort_key(n).is_some())
        .collect();
    ours.sort_by_key(|n| sort_key(n));
    ours.dedup();
    // `current` takes one of the `keep` places.
    let keep_others = keep.saturating_sub(1);
    let excess = ours.len().saturating_sub(keep_others);
    ours.into_iter().take(excess).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn timestamps_are_utc_civil_time() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        assert_eq!(timestamp(951_782_400), "20000229T000000Z"); // leap day, 400-year rule
        assert_eq!(timestamp(1_709_251_199), "20240229T235959Z");
        assert_eq!(timestamp(1_798_761_600), "20270101T000000Z");
        assert_eq!(timestamp(4_107_542_400), "21000301T000000Z"); // 2100 is not leap
        assert_eq!(timestamp(1_795_656_645), "20261126T013045Z");
    }

    #[test]
    fn collisions_get_a_numeric_suffix() {
        let t = 1_795_656_645;
        assert_eq!(log_name(t, &[]), "20261126T013045Z");
        let taken = names(&["20261126T013045Z"]);
        assert_eq!(log_name(t, &taken), "20261126T013045Z.1");
        let taken = names(&["20261126T013045Z", "20261126T013045Z.1"]);
        assert_eq!(log_name(t, &taken), "20261126T013045Z.2");
    }

    #[test]
    fn prune_keeps_the_newest_and_ignores_foreign_names() {
        let existing = names(&[
            "20261126T013045Z.10",
            "20250101T000000Z",
            "notes",
            "20261126T013045Z.9",
            "20261126T013045Z",
            "2026-11-26",
        ]);
        let current = "20261127T000000Z";
        assert_eq!(
            to_prune(&existing, current, 3),
            names(&["20250101T000000Z", "20261126T013045Z"])
        );
        assert!(to_prune(&existing, current, 10).is_empty());
        // keep 0 or 1: only this boot's remains
        assert_eq!(to_prune(&existing, current, 0).len(), 4);
        assert_eq!(to_prune(&existing, current, 1).len(), 4);
    }

    #[test]
    fn current_is_never_pruned_even_when_it_sorts_oldest() {
        let existing = names(&["20300101T000000Z", "20300102T000000Z"]);
        let current = "19700101T000010Z";
        assert_eq!(
            to_prune(&existing, current, 2),
            names(&["20300101T000000Z"])
        );
    }
}
