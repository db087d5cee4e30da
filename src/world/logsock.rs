//! The log socket: a unix stream socket serving the log stream to local clients.
//! Only root (or, when nodeboot is not root, its own uid) may connect, checked with
//! `SO_PEERCRED`. A client sends one request line:
//! - `logs\n`: the backlog, then the connection is closed;
//! - `follow\n`: the backlog, then every new line as it is logged;
//! - `status\n`: the core is asked for a status summary (as by SIGUSR1); the client
//!   gets that one `status` line, then the connection is closed.
//!
//! Bounded everywhere ([`Limits`]): at most `clients` connections (one more is closed
//! at once and counted); a client that has not sent its request line within `idle` is
//! closed; writes never block the loop, and a client whose queue of unsent bytes
//! passes `queue_bytes` (beyond the backlog it was sent) is dropped. The backlog and
//! every new line are `Arc<str>`s shared by every client they are queued for: a
//! thousand followers cost a thousand pointers per line, not a thousand copies.

use crate::time::{Duration, Instant};
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use nix::sys::socket::{getsockopt, sockopt};
use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[path = "logsock_client.rs"]
mod client;
use client::{Client, State, flush, read_request};

pub const TOKEN_BASE: usize = 3 << 20;
const TOKEN_SPAN: usize = 1 << 20;
const REQUEST_MAX: usize = 256;
/// Lines handed to one `writev`.
const WRITEV_LINES: usize = 64;

/// The socket's bounds.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connected clients at most (rules `boot.log_clients`).
    pub clients: usize,
    /// A client must send its request line within this.
    pub idle: Duration,
    /// Unsent bytes a follower may fall behind by, past the backlog it was sent.
    pub queue_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            clients: 16,
            idle: Duration::from_secs(10),
            queue_bytes: 4 << 20,
        }
    }
}

pub struct LogSocket {
    listener: UnixListener,
    pub path: PathBuf,
    clients: BTreeMap<Token, Client>,
    next_token: usize,
    my_uid: u32,
    limits: Limits,
    /// Connections closed at once because `clients` were connected.
    pub over_limit: u64,
    /// Of those, not reported yet: one `Full` a second at most.
    unreported: u64,
    last_full: Option<Instant>,
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
    /// Connections refused because the socket had its limit of clients; `total`
    /// since the start.
    Full {
        refused: u64,
        total: u64,
    },
    /// A client asked for a status summary: the loop asks the core.
    StatusRequested,
}

impl LogSocket {
    pub fn owns(token: Token) -> bool {
        (TOKEN_BASE..TOKEN_BASE + TOKEN_SPAN).contains(&token.0)
    }

    /// Bind `path` (a stale socket left by a previous run is replaced).
    pub fn bind(
        path: &Path,
        registry: &Registry,
        token: Token,
        limits: Limits,
    ) -> std::io::Result<LogSocket> {
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
            limits,
            over_limit: 0,
            unreported: 0,
            last_full: None,
        })
    }

    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Accept every pending connection (closing those past the client limit).
    pub fn on_accept(&mut self, registry: &Registry, now: Instant) -> Vec<SocketNews> {
        let mut news = Vec::new();
        let mut refused = 0;
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    if self.clients.len() >= self.limits.clients {
                        refused += 1;
                        continue; // dropping the stream closes it
                    }
                    let uid = getsockopt(&stream, sockopt::PeerCredentials)
                        .map(|c| c.uid())
                        .unwrap_or(u32::MAX);
                    if uid != 0 && uid != self.my_uid {
                        news.push(SocketNews::Refused { uid });
                        continue;
                    }
                    let token = self.free_token();
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
                                out: VecDeque::new(),
                                sent: 0,
                                queued: 0,
                                allowance: self.limits.queue_bytes,
                                floor: self.limits.queue_bytes,
                                writable_armed: false,
                                connected: now,
                            },
                        );
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    news.push(SocketNews::Dropped {
                        reason: format!("accept: {e}"),
                    });
                    break;
                }
            }
        }
        self.over_limit = self.over_limit.saturating_add(refused);
        self.unreported = self.unreported.saturating_add(refused);
        news.extend(self.full_news(now));
        news
    }

    /// The refusals not reported yet, at most once a second.
    fn full_news(&mut self, now: Instant) -> Option<SocketNews> {
        if self.unreported == 0
            || self
                .last_full
                .is_some_and(|t| now < t + Duration::from_secs(1))
        {
            return None;
        }
        self.last_full = Some(now);
        Some(SocketNews::Full {
            refused: std::mem::take(&mut self.unreported),
            total: self.over_limit,
        })
    }

    /// A token no connected client holds (the space is far larger than the limit).
    fn free_token(&mut self) -> Token {
        loop {
            let token = Token(TOKEN_BASE + self.next_token % TOKEN_SPAN);
            self.next_token = self.next_token.wrapping_add(1);
            if !self.clients.contains_key(&token) {
                return token;
            }
        }
    }

    /// A client's socket is ready: read its request, write what is pending.
    pub fn on_client(
        &mut self,
        registry: &Registry,
        token: Token,
        backlog: &VecDeque<Arc<str>>,
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

    /// A new line (with its newline) for every following client.
    pub fn broadcast(&mut self, registry: &Registry, line: &Arc<str>) -> Vec<SocketNews> {
        let mut dropped = Vec::new();
        let is_status = line.contains("\"event\":\"status\"");
        let mut answered = Vec::new();
        for (token, client) in self.clients.iter_mut() {
            match client.state {
                State::Follow => {}
                State::Status if is_status => client.state = State::Done,
                _ => continue,
            }
            client.push(line);
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

    /// When the oldest client still waiting for its request line times out.
    pub fn idle_due(&self) -> Option<Instant> {
        self.clients
            .values()
            .filter(|c| c.state == State::Request)
            .map(|c| c.connected + self.limits.idle)
            .min()
    }

    /// Close the clients that sent no request line within the idle limit.
    pub fn expire_idle(&mut self, registry: &Registry, now: Instant) -> Vec<SocketNews> {
        let idle = self.limits.idle;
        let late: Vec<Token> = self
            .clients
            .iter()
            .filter(|(_, c)| c.state == State::Request && c.connected + idle <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in &late {
            self.drop_client(registry, *t);
        }
        let mut news: Vec<SocketNews> = self.full_news(now).into_iter().collect();
        if !late.is_empty() {
            news.push(SocketNews::Dropped {
                reason: format!(
                    "{} client(s) sent no request within {} ms",
                    late.len(),
                    idle.as_millis()
                ),
            });
        }
        news
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

#[cfg(test)]
#[path = "logsock_tests.rs"]
mod tests;
