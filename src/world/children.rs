//! Child processes: supervised children the core asked for (`Effect::Spawn`: DHCP
//! clients, services) and internal children for command effects (mkfs.btrfs,
//! modprobe). Each runs in its own process group with stdin on /dev/null; its stdout
//! and stderr are non-blocking pipes in the loop, cut into lines. Exits are reaped by
//! the loop (SIGCHLD) and reported here, after the pipes' last bytes. Children start
//! with an empty signal mask (the loop's blocked signals are not inherited).
//!
//! A chatty child cannot starve or exhaust the loop: a pipe gives at most
//! [`READ_PER_WAKEUP`] bytes per loop turn (then its edge-triggered registration is
//! re-armed, so the rest comes on the next turns, after every other source had its
//! turn); lines are split in one pass and cut at [`LINE_MAX`]; and each supervised
//! child's lines become `child.output` inputs within a per-child rate limit
//! ([`CHILD_LINES_PER_WINDOW`] a second), the rest counted and reported as one
//! `child.suppressed` record per window. The limit is applied here, before a line
//! becomes an input, so the journal holds exactly what the core saw.

use super::error::{Result, WorldError};
use super::ratelimit::{RateLimit, Suppressed};
use crate::core::action::{ChildRole, EffectId, KillSignal};
use crate::core::event::Event;
use crate::core::input::{EffectError, EffectOutput, EffectResult, ExitStatus, Stream};
use crate::time::{Duration, Instant};
use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

#[path = "children_lines.rs"]
mod lines;
use lines::{Drained, drain_pipe, suppressed};

/// Tokens of child pipes start here (see `world::tokens`).
pub const TOKEN_BASE: usize = 1 << 20;
const TOKEN_SPAN: usize = 1 << 20;
/// A longer line is cut (and the rest comes as further lines).
const LINE_MAX: usize = 8192;
/// Bytes read from one pipe per loop turn, at most.
pub const READ_PER_WAKEUP: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;
/// `child.output` lines per child per window; the rest are counted.
pub const CHILD_LINES_PER_WINDOW: u32 = 200;
pub const CHILD_WINDOW: Duration = Duration::from_secs(1);
/// Lines of an internal child's output kept for its error message.
const TAIL_LINES: usize = 5;
/// PID 1 starts with no PATH.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What happened to children, for the core.
#[derive(Debug, PartialEq)]
pub enum ChildNews {
    Output {
        id: EffectId,
        stream: Stream,
        line: String,
    },
    Exited {
        id: EffectId,
        status: ExitStatus,
    },
    /// An internal (command-effect) child ended: its effect's result.
    EffectDone {
        id: EffectId,
        result: EffectResult,
    },
    /// A record for the stream only (`child.suppressed`), not an input.
    Suppressed(Event),
}

struct Pipe {
    rx: Receiver,
    token: Token,
    stream: Stream,
    partial: Vec<u8>,
}

struct Child {
    pid: i32,
    /// `Some(argv0)` for an internal command child.
    internal: Option<String>,
    tail: VecDeque<String>,
    pipes: Vec<Pipe>,
    /// `dhcp:<nic>` / `service:<name>` (the core's name), for `child.suppressed`.
    name: String,
    limit: RateLimit,
}

#[derive(Default)]
pub struct Children {
    by_id: BTreeMap<EffectId, Child>,
    by_pid: BTreeMap<i32, EffectId>,
    by_token: BTreeMap<Token, EffectId>,
    next_token: usize,
}

impl Children {
    pub fn owns(token: Token) -> bool {
        (TOKEN_BASE..TOKEN_BASE + TOKEN_SPAN).contains(&token.0)
    }

    /// Pids of every child still running.
    pub fn pids(&self) -> Vec<i32> {
        self.by_pid.keys().copied().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Start `argv` as child `id`; `internal` children report `EffectDone` on exit.
    pub fn spawn(
        &mut self,
        registry: &Registry,
        id: EffectId,
        argv: &[String],
        internal: bool,
    ) -> Result<u32> {
        let (argv0, args) = argv.split_first().ok_or_else(|| WorldError::Spawn {
            argv0: String::new(),
            source: std::io::Error::new(ErrorKind::InvalidInput, "empty argv"),
        })?;
        let mut cmd = Command::new(argv0);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        super::spawn_mask::clear_signal_mask_in_child(&mut cmd);
        if std::env::var_os("PATH").is_none() {
            cmd.env("PATH", DEFAULT_PATH);
        }
        let spawn_err = |source| WorldError::Spawn {
            argv0: argv0.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let pid = child.id();
        let mut pipes = Vec::new();
        let outs: [(Option<Receiver>, Stream); 2] = [
            (child.stdout.take().map(Receiver::from), Stream::Stdout),
            (child.stderr.take().map(Receiver::from), Stream::Stderr),
        ];
        for (rx, stream) in outs {
            let Some(mut rx) = rx else { continue };
            let token = self.alloc_token();
            let registered = rx
                .set_nonblocking(true)
                .and_then(|()| registry.register(&mut rx, token, Interest::READABLE));
            if registered.is_ok() {
                self.by_token.insert(token, id);
                pipes.push(Pipe {
                    rx,
                    token,
                    stream,
                    partial: Vec::new(),
                });
            }
        }
        // The std handle is not needed: the loop reaps by pid. Dropping it does not wait.
        drop(child);
        let pid_i = i32::try_from(pid).unwrap_or(0);
        self.by_pid.insert(pid_i, id);
        self.by_id.insert(
            id,
            Child {
                pid: pid_i,
                internal: internal.then(|| argv0.clone()),
                tail: VecDeque::new(),
                pipes,
                name: argv0.clone(),
                limit: RateLimit::new(CHILD_LINES_PER_WINDOW, CHILD_WINDOW),
            },
        );
        Ok(pid)
    }

    /// Name child `id` as the core does (`dhcp:eth0`, `service:web`).
    pub fn set_name(&mut self, id: EffectId, name: String) {
        if let Some(c) = self.by_id.get_mut(&id) {
            c.name = name;
        }
    }

    /// When a child's window that suppressed lines ends (its summary is owed).
    pub fn suppressed_due(&self) -> Option<Instant> {
        self.by_id.values().filter_map(|c| c.limit.due()).min()
    }

    /// The `child.suppressed` records owed by `now`.
    pub fn suppressed_summaries(&mut self, now: Instant) -> Vec<Event> {
        let mut out = Vec::new();
        for c in self.by_id.values_mut() {
            if let Some(s) = c.limit.flush(now)
                && let ChildNews::Suppressed(e) = suppressed(&c.name, s)
            {
                out.push(e);
            }
        }
        out
    }

    fn alloc_token(&mut self) -> Token {
        let t = Token(TOKEN_BASE + self.next_token % TOKEN_SPAN);
        self.next_token = self.next_token.wrapping_add(1);
        t
    }

    /// Signal the process group of child `id`.
    pub fn kill(&self, id: EffectId, signal: KillSignal) -> std::result::Result<(), EffectError> {
        let child = self.by_id.get(&id).ok_or_else(|| {
            EffectError::new(
                crate::core::input::ErrorKind::NotFound,
                format!("kill {id}: no such child"),
            )
        })?;
        let (sig, name) = match signal {
            KillSignal::Term => (Signal::SIGTERM, "SIGTERM"),
            KillSignal::Kill => (Signal::SIGKILL, "SIGKILL"),
        };
        killpg(Pid::from_raw(child.pid), sig).map_err(|source| {
            WorldError::Kill {
                pgid: child.pid,
                signal: name,
                source,
            }
            .into()
        })
    }

    /// A pipe is readable: read it until it would block or its share of this turn
    /// is read (then re-arm it: epoll reports it again on the next turn).
    pub fn on_readable(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
    ) -> Vec<ChildNews> {
        let mut news = Vec::new();
        let Some(id) = self.by_token.get(&token).copied() else {
            return news;
        };
        if let Some(child) = self.by_id.get_mut(&id) {
            match drain_pipe(child, id, token, now, &mut news) {
                Drained::Empty => {}
                Drained::More => {
                    let rearmed = child
                        .pipes
                        .iter_mut()
                        .find(|p| p.token == token)
                        .map(|p| registry.reregister(&mut p.rx, token, Interest::READABLE));
                    if !matches!(rearmed, Some(Ok(()))) {
                        close_pipe(child, registry, token);
                        self.by_token.remove(&token);
                    }
                }
                Drained::Closed => {
                    close_pipe(child, registry, token);
                    self.by_token.remove(&token);
                }
            }
        }
        news
    }

    /// A child was reaped: its last output, then its exit (or its effect's result).
    /// `None` if the pid is not ours (an orphan, as PID 1).
    pub fn on_reaped(
        &mut self,
        registry: &Registry,
        pid: i32,
        status: ExitStatus,
        now: Instant,
    ) -> Option<Vec<ChildNews>> {
        let id = self.by_pid.remove(&pid)?;
        let mut child = self.by_id.remove(&id)?;
        let mut news = Vec::new();
        let tokens: Vec<Token> = child.pipes.iter().map(|p| p.token).collect();
        for token in tokens {
            // A grandchild may still hold the pipe: take a turn's worth, let go.
            let _ = drain_pipe(&mut child, id, token, now, &mut news);
            close_pipe(&mut child, registry, token);
            self.by_token.remove(&token);
        }
        // What its last window suppressed, whether or not the window is over.
        if let Some(s) = child.limit.flush(now + CHILD_WINDOW) {
            news.push(suppressed(&child.name, s));
        }
        match &child.internal {
            None => news.push(ChildNews::Exited { id, status }),
            Some(argv0) => {
                let result = if status.success() {
                    Ok(EffectOutput::Done)
                } else {
                    let tail: Vec<String> = child.tail.iter().cloned().collect();
                    // A command's exit status says nothing errno-like.
                    let message = format!("{argv0}: {status}: {}", tail.join(" | "));
                    Err(EffectError::other(message))
                };
                news.push(ChildNews::EffectDone { id, result });
            }
        }
        Some(news)
    }
}

/// The core's name of a supervised child (as in its `child.output` records).
pub fn role_name(role: &ChildRole) -> String {
    match role {
        ChildRole::Dhcp { nic } => format!("dhcp:{nic}"),
        ChildRole::Service { service } => format!("service:{service}"),
    }
}

fn close_pipe(child: &mut Child, registry: &Registry, token: Token) {
    if let Some(pos) = child.pipes.iter().position(|p| p.token == token) {
        let mut pipe = child.pipes.swap_remove(pos);
        let _ = registry.deregister(&mut pipe.rx);
    }
}

#[cfg(test)]
#[path = "children_tests.rs"]
mod tests;
