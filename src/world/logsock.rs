//! The log socket: a unix stream socket serving the log stream to local clients.
//! Only root (or, when nodeboot is not root, its own uid) may connect, checked with
//! `SO_PEERCRED`. A client sends one request line:
//! - `logs\n`: the backlog, then the connection is closed;
//! - `follow\n`: the backlog, then every new line as it is logged;
//! - `status\n`: the core is asked for a status summary (as by SIGUSR1); the client
//!   gets that one `status` line, then the connection is closed.
//!
//! Writes never block the loop: each client has a bounded output buffer, and a client
//! that falls behind by more than that is dropped.

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use nix::sys::socket::{getsockopt, sockopt};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

pub const TOKEN_BASE: usize = 3 << 20;
const TOKEN_SPAN: usize = 1 << 20;
/// A client further behind than this is dropped.
const CLIENT_BUFFER_MAX: usize = 16 * 1024 * 1024;
const REQUEST_MAX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the request line.
    Request,
    /// Sending what is queued; close when sent.
    Done,
    /// Sending the backlog and then every new line.
    Follow,
    /// Waiting for the next `status` record; close when sent.
    Status,
}

struct Client {
    stream: UnixStream,
    state: State,
    request: Vec<u8>,
    out: Vec<u8>,
    writable_armed: bool,
}

pub struct LogSocket {
    listener: UnixListener,
    pub path: PathBuf,
    clients: BTreeMap<Token, Client>,
    next_token: usize,
    my_uid: u32,
}

/// Something to log about the socket (the caller turns it into a record).
#[derive(Debug, PartialEq, Eq)]
pub enum SocketNews {
    Refused {
        uid: u32,
    },
    Dropped {
        reason: String,
    },
    /// A client asked for a status summary: the loop asks the core.
    StatusRequested,
}

impl LogSocket {
    pub fn owns(token: Token) -> bool {
        (TOKEN_BASE..TOKEN_BASE + TOKEN_SPAN).contains(&token.0)
    }

    /// Bind `path` (a stale socket left by a previous run is replaced).
    pub fn bind(path: &Path, registry: &Registry, token: Token) -> std::io::Result<LogSocket> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && meta.file_type().is_socket()
        {
            std::fs::remove_file(path)?;
        }
        let mut listener = UnixListener::bind(path)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        registry.register(&mut listener, token, Interest::READABLE)?;
        Ok(LogSocket {
            listener,
            path: path.to_owned(),
            clients: BTreeMap::new(),
            next_token: 0,
            my_uid: nix::unistd::geteuid().as_raw(),
        })
    }

    /// Accept every pending connection.
    pub fn on_accept(&mut self, registry: &Registry) -> Vec<SocketNews> {
        let mut news = Vec::new();
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let uid = getsockopt(&stream, sockopt::PeerCredentials)
                        .map(|c| c.uid())
                        .unwrap_or(u32::MAX);
                    if uid != 0 && uid != self.my_uid {
                        news.push(SocketNews::Refused { uid });
                        continue; // dropping the stream closes it
                    }
                    let token = Token(TOKEN_BASE + self.next_token % TOKEN_SPAN);
                    self.next_token = self.next_token.wrapping_add(1);
                    if registry
                        .register(&mut stream, token, Interest::READABLE)
                        .is_ok()
                    {
                        self.clients.insert(
                            token,
                            Client {
                                stream,
                                state: State::Request,
                                request: Vec::new(),
                                out: Vec::new(),
                                writable_armed: false,
                            },
                        );
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return news,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    news.push(SocketNews::Dropped {
                        reason: format!("accept: {e}"),
                    });
                    return news;
                }
            }
        }
    }

    /// A client's socket is ready: read its request, write what is pending.
    pub fn on_client(
        &mut self,
        registry: &Registry,
        token: Token,
        backlog: &std::collections::VecDeque<String>,
    ) -> Vec<SocketNews> {
        let mut news = Vec::new();
        let Some(client) = self.clients.get_mut(&token) else {
            return news;
        };
        let was_waiting = client.state == State::Request;
        let mut drop_reason = read_request(client, backlog).err();
        if was_waiting && client.state == State::Status {
            news.push(SocketNews::StatusRequested);
        }
        if drop_reason.is_none() {
            drop_reason = flush(client, registry, token).err();
        }
        if drop_reason.is_none() && client.state == State::Done && client.out.is_empty() {
            drop_reason = Some(String::new()); // dump sent: close quietly
        }
        if let Some(reason) = drop_reason {
            self.drop_client(registry, token);
            if !reason.is_empty() {
                news.push(SocketNews::Dropped { reason });
            }
        }
        news
    }

    /// A new line for every following client.
    pub fn broadcast(&mut self, registry: &Registry, line: &str) -> Vec<SocketNews> {
        let mut dropped = Vec::new();
        let is_status = line.contains("\"event\":\"status\"");
        let mut answered = Vec::new();
        for (token, client) in self.clients.iter_mut() {
            match client.state {
                State::Follow => {}
                State::Status if is_status => client.state = State::Done,
                _ => continue,
            }
            client.out.extend_from_slice(line.as_bytes());
            client.out.push(b'\n');
            if let Err(reason) = flush(client, registry, *token) {
                dropped.push((*token, reason));
            } else if client.state == State::Done && client.out.is_empty() {
                answered.push(*token);
            }
        }
        for token in answered {
            self.drop_client(registry, token);
        }
        dropped
            .into_iter()
            .map(|(token, reason)| {
                self.drop_client(registry, token);
                SocketNews::Dropped { reason }
            })
            .collect()
    }

    fn drop_client(&mut self, registry: &Registry, token: Token) {
        if let Some(mut c) = self.clients.remove(&token) {
            let _ = registry.deregister(&mut c.stream);
        }
    }

    pub fn deregister(&mut self, registry: &Registry) {
        let tokens: Vec<Token> = self.clients.keys().copied().collect();
        for t in tokens {
            self.drop_client(registry, t);
        }
        let _ = registry.deregister(&mut self.listener);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Read the request line (if still waiting for it); queue the backlog once known.
fn read_request(
    client: &mut Client,
    backlog: &std::collections::VecDeque<String>,
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
        client.out.extend_from_slice(l.as_bytes());
        client.out.push(b'\n');
    }
    Ok(())
}

/// Write what the socket takes now; arm WRITABLE for the rest. Err = drop the client.
fn flush(client: &mut Client, registry: &Registry, token: Token) -> Result<(), String> {
    while !client.out.is_empty() {
        match client.stream.write(&client.out) {
            Ok(0) => return Err("write returned 0".into()),
            Ok(n) => {
                client.out.drain(..n.min(client.out.len()));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Err(String::new()),
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    if client.out.len() > CLIENT_BUFFER_MAX {
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
