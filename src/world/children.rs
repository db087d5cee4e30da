//! Child processes: supervised children the core asked for (`Effect::Spawn`: DHCP
//! clients, services) and internal children for command effects (mkfs.btrfs,
//! modprobe). Each runs in its own process group with stdin on /dev/null; its stdout
//! and stderr are non-blocking pipes in the loop, cut into lines. Exits are reaped by
//! the loop (SIGCHLD) and reported here, after the pipes' last bytes. Children start
//! with an empty signal mask (the loop's blocked signals are not inherited).

use super::error::{Result, WorldError};
use crate::core::action::{EffectId, KillSignal};
use crate::core::input::{EffectOutput, EffectResult, ExitStatus, Stream};
use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Tokens of child pipes start here (see `world::tokens`).
pub const TOKEN_BASE: usize = 1 << 20;
const TOKEN_SPAN: usize = 1 << 20;
/// A longer line is cut (and the rest comes as further lines).
const LINE_MAX: usize = 8192;
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
            },
        );
        Ok(pid)
    }

    fn alloc_token(&mut self) -> Token {
        let t = Token(TOKEN_BASE + self.next_token % TOKEN_SPAN);
        self.next_token = self.next_token.wrapping_add(1);
        t
    }

    /// Signal the process group of child `id`.
    pub fn kill(&self, id: EffectId, signal: KillSignal) -> std::result::Result<(), String> {
        let child = self
            .by_id
            .get(&id)
            .ok_or_else(|| format!("kill {id}: no such child"))?;
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
            .to_string()
        })
    }

    /// A pipe is readable: read it until it would block.
    pub fn on_readable(&mut self, registry: &Registry, token: Token) -> Vec<ChildNews> {
        let mut news = Vec::new();
        let Some(id) = self.by_token.get(&token).copied() else {
            return news;
        };
        if let Some(child) = self.by_id.get_mut(&id) {
            let closed = drain_pipe(child, id, token, &mut news);
            if closed {
                close_pipe(child, registry, token);
                self.by_token.remove(&token);
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
    ) -> Option<Vec<ChildNews>> {
        let id = self.by_pid.remove(&pid)?;
        let mut child = self.by_id.remove(&id)?;
        let mut news = Vec::new();
        let tokens: Vec<Token> = child.pipes.iter().map(|p| p.token).collect();
        for token in tokens {
            // A grandchild may still hold the pipe: take what is there, then let go.
            let _ = drain_pipe(&mut child, id, token, &mut news);
            close_pipe(&mut child, registry, token);
            self.by_token.remove(&token);
        }
        match &child.internal {
            None => news.push(ChildNews::Exited { id, status }),
            Some(argv0) => {
                let result = if status.success() {
                    Ok(EffectOutput::Done)
                } else {
                    let tail: Vec<String> = child.tail.iter().cloned().collect();
                    Err(format!("{argv0}: {status}: {}", tail.join(" | ")))
                };
                news.push(ChildNews::EffectDone { id, result });
            }
        }
        Some(news)
    }
}

/// Read until WouldBlock; true when the pipe reached end of file (or failed).
fn drain_pipe(child: &mut Child, id: EffectId, token: Token, news: &mut Vec<ChildNews>) -> bool {
    let internal = child.internal.is_some();
    let Some(pipe) = child.pipes.iter_mut().find(|p| p.token == token) else {
        return true;
    };
    let mut buf = [0u8; 4096];
    let mut lines = Vec::new();
    let closed = loop {
        match pipe.rx.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                pipe.partial
                    .extend_from_slice(buf.get(..n).unwrap_or_default());
                split_lines(&mut pipe.partial, &mut lines);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break true,
        }
    };
    if closed && !pipe.partial.is_empty() {
        lines.push(String::from_utf8_lossy(&pipe.partial).into_owned());
        pipe.partial.clear();
    }
    let stream = pipe.stream;
    for line in lines {
        if internal {
            child.tail.push_back(line);
            if child.tail.len() > TAIL_LINES {
                child.tail.pop_front();
            }
        } else {
            news.push(ChildNews::Output { id, stream, line });
        }
    }
    closed
}

fn close_pipe(child: &mut Child, registry: &Registry, token: Token) {
    if let Some(pos) = child.pipes.iter().position(|p| p.token == token) {
        let mut pipe = child.pipes.swap_remove(pos);
        let _ = registry.deregister(&mut pipe.rx);
    }
}

/// Move every complete line out of `partial` (and cut over-long ones).
fn split_lines(partial: &mut Vec<u8>, lines: &mut Vec<String>) {
    while let Some(pos) = partial.iter().position(|b| *b == b'\n') {
        let rest = partial.split_off(pos + 1);
        let mut line = std::mem::replace(partial, rest);
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        lines.push(String::from_utf8_lossy(&line).into_owned());
    }
    if partial.len() >= LINE_MAX {
        lines.push(String::from_utf8_lossy(partial).into_owned());
        partial.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_partials_kept() {
        let mut p = b"one\r\ntwo\nthr".to_vec();
        let mut lines = Vec::new();
        split_lines(&mut p, &mut lines);
        assert_eq!(lines, vec!["one", "two"]);
        assert_eq!(p, b"thr");
    }
}
