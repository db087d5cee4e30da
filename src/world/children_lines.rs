//! Reading a child's pipe (`world::children`): a bounded share per loop turn, lines
//! split in one pass, each line to the internal child's tail or, within the child's
//! rate limit, to `child.output` news.

use super::*;

/// How a pipe read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Drained {
    /// Nothing more for now (it would block).
    Empty,
    /// [`READ_PER_WAKEUP`] bytes read and more may be there: re-arm.
    More,
    /// End of file (or an error): close it.
    Closed,
}

/// Read up to [`READ_PER_WAKEUP`] bytes; split them into lines as they come.
pub(super) fn drain_pipe(
    child: &mut Child,
    id: EffectId,
    token: Token,
    now: Instant,
    news: &mut Vec<ChildNews>,
) -> Drained {
    let Some(pipe) = child.pipes.iter_mut().find(|p| p.token == token) else {
        return Drained::Closed;
    };
    let mut out = LineOut {
        id,
        stream: pipe.stream,
        internal: child.internal.is_some(),
        tail: &mut child.tail,
        limit: &mut child.limit,
        name: &child.name,
        now,
        news,
    };
    let mut buf = [0u8; READ_CHUNK];
    let mut read = 0;
    let state = loop {
        if read >= READ_PER_WAKEUP {
            break Drained::More;
        }
        match pipe.rx.read(&mut buf) {
            Ok(0) => break Drained::Closed,
            Ok(n) => {
                read += n;
                pipe.partial
                    .extend_from_slice(buf.get(..n).unwrap_or_default());
                split_lines(&mut pipe.partial, |line| out.line(line));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break Drained::Empty,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break Drained::Closed,
        }
    };
    if state == Drained::Closed && !pipe.partial.is_empty() {
        out.line(&pipe.partial);
        pipe.partial.clear();
    }
    state
}

/// Where a child's lines go: the tail of an internal child (its error message), or
/// `child.output` news within the child's rate limit.
pub(super) struct LineOut<'a> {
    pub(super) id: EffectId,
    pub(super) stream: Stream,
    pub(super) internal: bool,
    pub(super) tail: &'a mut VecDeque<String>,
    pub(super) limit: &'a mut RateLimit,
    pub(super) name: &'a str,
    pub(super) now: Instant,
    pub(super) news: &'a mut Vec<ChildNews>,
}

impl LineOut<'_> {
    pub(super) fn line(&mut self, bytes: &[u8]) {
        if self.internal {
            self.tail
                .push_back(String::from_utf8_lossy(bytes).into_owned());
            if self.tail.len() > TAIL_LINES {
                self.tail.pop_front();
            }
            return;
        }
        // Decided here, before the line becomes an input: the journal holds only
        // the lines that passed, so a replay is exact.
        let admit = self.limit.admit(self.now);
        if let Some(s) = admit.summary {
            self.news.push(suppressed(self.name, s));
        }
        if admit.log {
            self.news.push(ChildNews::Output {
                id: self.id,
                stream: self.stream,
                line: String::from_utf8_lossy(bytes).into_owned(),
            });
        }
    }
}

pub(super) fn suppressed(name: &str, s: Suppressed) -> ChildNews {
    ChildNews::Suppressed(Event::ChildSuppressed {
        child: name.to_owned(),
        suppressed: s.count,
        window_ms: s.window_ms,
    })
}

/// Hand every complete line in `partial` to `line` (without `\n` or `\r\n`), cut a
/// rest of [`LINE_MAX`] bytes or more into pieces, and keep what is left: one pass
/// over the bytes, one move of the rest.
pub(super) fn split_lines(partial: &mut Vec<u8>, mut line: impl FnMut(&[u8])) {
    let mut start = 0;
    while let Some(off) = partial
        .get(start..)
        .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
    {
        let end = start + off;
        let mut text = partial.get(start..end).unwrap_or_default();
        if let Some(stripped) = text.strip_suffix(b"\r") {
            text = stripped;
        }
        line(text);
        start = end + 1;
    }
    while partial.len().saturating_sub(start) >= LINE_MAX {
        line(partial.get(start..start + LINE_MAX).unwrap_or_default());
        start += LINE_MAX;
    }
    partial.drain(..start.min(partial.len()));
}
