//! Line splitting and the per-child rate limit of `world::children`.

use super::lines::{LineOut, split_lines};
use super::*;

fn split(p: &mut Vec<u8>) -> Vec<String> {
    let mut lines = Vec::new();
    split_lines(p, |l| lines.push(String::from_utf8_lossy(l).into_owned()));
    lines
}

#[test]
fn lines_are_split_and_partials_kept() {
    let mut p = b"one\r\ntwo\nthr".to_vec();
    assert_eq!(split(&mut p), vec!["one", "two"]);
    assert_eq!(p, b"thr");
    p.extend_from_slice(b"ee\n\n");
    assert_eq!(split(&mut p), vec!["three", ""]);
    assert!(p.is_empty());
}

#[test]
fn long_lines_are_cut() {
    let mut p = vec![b'x'; LINE_MAX * 2 + 10];
    let lines = split(&mut p);
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l.len() == LINE_MAX));
    assert_eq!(p.len(), 10);
}

#[test]
fn a_flood_is_limited_per_child_and_counted() {
    let mut tail = VecDeque::new();
    let mut limit = RateLimit::new(CHILD_LINES_PER_WINDOW, CHILD_WINDOW);
    let mut news = Vec::new();
    let mut out = LineOut {
        id: EffectId(7),
        stream: Stream::Stdout,
        internal: false,
        tail: &mut tail,
        limit: &mut limit,
        name: "service:chatty",
        now: Instant::from_millis(0),
        news: &mut news,
    };
    let mut p = b"y\n".repeat(10_000);
    split_lines(&mut p, |l| out.line(l));
    out.now = Instant::from_millis(1_000);
    out.line(b"next window");
    let outputs = news
        .iter()
        .filter(|n| matches!(n, ChildNews::Output { .. }))
        .count();
    assert_eq!(outputs, CHILD_LINES_PER_WINDOW as usize + 1);
    let summary = news.iter().find_map(|n| match n {
        ChildNews::Suppressed(Event::ChildSuppressed {
            child, suppressed, ..
        }) => Some((child.clone(), *suppressed)),
        _ => None,
    });
    assert_eq!(
        summary,
        Some((
            "service:chatty".into(),
            10_000 - u64::from(CHILD_LINES_PER_WINDOW)
        ))
    );
}
