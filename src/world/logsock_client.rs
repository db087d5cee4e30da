//! One log socket client: its request line, its queue of shared lines, and the
//! non-blocking writes of that queue (`world::logsock`).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Waiting for the request line.
    Request,
    /// Sending what is queued; close when sent.
    Done,
    /// Sending the backlog and then every new line.
    Follow,
    /// Waiting for the next `status` record; close when sent.
    Status,
}

pub(super) struct Client {
    pub(super) stream: UnixStream,
    pub(super) state: State,
    pub(super) request: Vec<u8>,
    /// Lines to send (shared with the backlog and other clients), the first one
    /// `sent` bytes in.
    pub(super) out: VecDeque<Arc<str>>,
    pub(super) sent: usize,
    /// Unsent bytes in `out`.
    pub(super) queued: usize,
    /// Bytes `out` may hold before the client is too slow: the backlog it was sent
    /// plus `floor`, shrinking back to `floor` as the backlog goes out.
    pub(super) allowance: usize,
    pub(super) floor: usize,
    pub(super) writable_armed: bool,
    pub(super) connected: Instant,
}

impl Client {
    pub(super) fn push(&mut self, line: &Arc<str>) {
        self.queued += line.len();
        self.out.push_back(Arc::clone(line));
    }
}

/// Read the request line (if still waiting for it); queue the backlog once known.
pub(super) fn read_request(
    client: &mut Client,
    backlog: &VecDeque<Arc<str>>,
) -> Result<(), String> {
    let mut buf = [0u8; 512];
    loop {
        match client.stream.read(&mut buf) {
            Ok(0) => return Err(String::new()), // client went away
            Ok(n) => {
                if client.state == State::Request {
                    client
                        .request
                        .extend_from_slice(buf.get(..n).unwrap_or_default());
                    if client.request.len() > REQUEST_MAX {
                        break;
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    if client.state != State::Request {
        return Ok(());
    }
    let Some(pos) = client.request.iter().position(|b| *b == b'\n') else {
        if client.request.len() > REQUEST_MAX {
            return Err("request line too long".into());
        }
        return Ok(());
    };
    let line = String::from_utf8_lossy(client.request.get(..pos).unwrap_or_default())
        .trim()
        .to_owned();
    client.state = match line.as_str() {
        "logs" => State::Done,
        "follow" => State::Follow,
        "status" => {
            client.state = State::Status;
            return Ok(()); // no backlog: only the coming status line
        }
        other => {
            let _ = client.stream.write_all(
                format!("error: unknown request {other:?} (logs|follow|status)\n").as_bytes(),
            );
            return Err(format!("unknown request {other:?}"));
        }
    };
    for l in backlog {
        client.push(l);
    }
    // The backlog is shared, not copied: it does not count against the client.
    client.allowance = client.queued.saturating_add(client.allowance);
    Ok(())
}

/// Write what the socket takes now (up to [`WRITEV_LINES`] lines per `writev`); arm
/// WRITABLE for the rest. Err = drop the client.
pub(super) fn flush(client: &mut Client, registry: &Registry, token: Token) -> Result<(), String> {
    while !client.out.is_empty() {
        let slices: Vec<IoSlice<'_>> = client
            .out
            .iter()
            .take(WRITEV_LINES)
            .enumerate()
            .map(|(i, l)| {
                let skip = if i == 0 { client.sent } else { 0 };
                IoSlice::new(l.as_bytes().get(skip..).unwrap_or_default())
            })
            .collect();
        match client.stream.write_vectored(&slices) {
            Ok(0) => return Err("write returned 0".into()),
            Ok(n) => consume(client, n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Err(String::new()),
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    if client.queued > client.allowance {
        return Err("client too slow".into());
    }
    let want = !client.out.is_empty();
    if want != client.writable_armed {
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        registry
            .reregister(&mut client.stream, token, interest)
            .map_err(|e| format!("epoll_ctl: {e}"))?;
        client.writable_armed = want;
    }
    Ok(())
}

/// `n` bytes went out: drop the lines sent whole, remember how far into the next.
pub(super) fn consume(client: &mut Client, mut n: usize) {
    client.queued = client.queued.saturating_sub(n);
    client.allowance = client.allowance.saturating_sub(n).max(client.floor);
    while let Some(front) = client.out.front() {
        let left = front.len().saturating_sub(client.sent);
        if n < left {
            client.sent += n;
            return;
        }
        n -= left;
        client.sent = 0;
        client.out.pop_front();
    }
}
