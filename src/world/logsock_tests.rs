//! The log socket's bounds on a real socket: a follower that never reads is dropped
//! once it is `queue_bytes` behind past its backlog, and the backlog it was sent is
//! the same `Arc`s as the loop's, not copies.

use super::client::consume;
use super::*;
use mio::{Events, Poll};
use std::os::unix::net::UnixStream as StdStream;

fn socket(poll: &Poll, dir: &Path, limits: Limits) -> LogSocket {
    LogSocket::bind(&dir.join("t.sock"), poll.registry(), Token(5), limits).unwrap()
}

/// Accept `client` and hand it `request`; its token.
fn connect(poll: &mut Poll, s: &mut LogSocket, request: &str) -> (StdStream, Token) {
    let mut client = StdStream::connect(&s.path).unwrap();
    client.write_all(request.as_bytes()).unwrap();
    let mut events = Events::with_capacity(8);
    poll.poll(&mut events, Some(std::time::Duration::from_secs(5)))
        .unwrap();
    assert!(s.on_accept(poll.registry(), Instant::ZERO).is_empty());
    let token = *s.clients.keys().last().unwrap();
    (client, token)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nb-logsock-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_follower_that_never_reads_is_dropped_and_shares_the_backlog() {
    let dir = temp_dir("slow");
    let mut poll = Poll::new().unwrap();
    let limits = Limits {
        queue_bytes: 64 << 10,
        ..Limits::default()
    };
    let mut s = socket(&poll, &dir, limits);
    let line: Arc<str> = Arc::from(format!("{}\n", "x".repeat(999)));
    let backlog: VecDeque<Arc<str>> = (0..2_000).map(|_| Arc::clone(&line)).collect();
    let (_client, token) = connect(&mut poll, &mut s, "follow\n");
    assert!(s.on_client(poll.registry(), token, &backlog).is_empty());
    // 2 MB of backlog queued for the client: pointers to the loop's lines.
    assert!(
        Arc::strong_count(&line) > 1_000,
        "{}",
        Arc::strong_count(&line)
    );
    let mut news = Vec::new();
    for _ in 0..50 {
        news.extend(s.broadcast(poll.registry(), &line));
    }
    assert!(news.is_empty(), "dropped within its allowance: {news:?}");
    // The client does not read: past 64 KiB of new lines (beyond what is left of its
    // backlog) it goes.
    for _ in 0..100 {
        news.extend(s.broadcast(poll.registry(), &line));
    }
    assert_eq!(
        news,
        vec![SocketNews::Dropped {
            reason: "client too slow".into()
        }]
    );
    assert_eq!(s.clients(), 0);
    assert_eq!(
        Arc::strong_count(&line),
        2_001,
        "the client's queue is freed"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn consume_walks_partial_writes_across_lines() {
    let dir = temp_dir("consume");
    let mut poll = Poll::new().unwrap();
    let mut s = socket(&poll, &dir, Limits::default());
    let (_client, token) = connect(&mut poll, &mut s, "");
    let c = s.clients.get_mut(&token).unwrap();
    for l in ["ab\n", "cdef\n", "g\n"] {
        c.push(&Arc::from(l));
    }
    consume(c, 2);
    assert_eq!((c.out.len(), c.sent, c.queued), (3, 2, 8));
    consume(c, 4);
    assert_eq!((c.out.len(), c.sent, c.queued), (2, 3, 4));
    consume(c, 4);
    assert!(c.out.is_empty() && c.sent == 0 && c.queued == 0);
    let _ = std::fs::remove_dir_all(dir);
}
