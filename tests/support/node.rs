//! `nodeboot run` as a child process, the way an operator runs it: JSON stream on
//! stderr (collected by a thread), stopped with SIGTERM. It runs inside a network
//! namespace made for it (no route anywhere: the readiness gate's probes cannot leave
//! the machine), with its gate pointed at a port on that namespace's loopback.
//! Dropping a `Node` kills the process if it still runs and unmounts everything it
//! mounted under its root (deepest first) before the loop devices go.

use super::Netns;
use super::cmd::terminate;
use super::mount::unmount_under;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test: `NB_HARDEN_BIN` when set (another build), else this build's.
pub fn binary() -> PathBuf {
    std::env::var_os("NB_HARDEN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(super::run::BIN))
}

pub struct Node {
    child: Option<Child>,
    pub pid: u32,
    lines: Arc<Mutex<Vec<String>>>,
    pub root: PathBuf,
    pub status: Option<ExitStatus>,
    ns: Option<Netns>,
}

/// Common flags: a gate that opens at once (nothing listens on 127.0.0.1:9 in a fresh
/// namespace: refused → the gate times out after 1 s) and the JSON stream.
pub fn base_args(root: &Path) -> Vec<String> {
    vec![
        "run".into(),
        "--json".into(),
        "--root".into(),
        root.display().to_string(),
        "--allow-loop".into(),
        "--cmdline".into(),
        "nodeboot.reach=127.0.0.1:9 nodeboot.gate=1".into(),
    ]
}

impl Node {
    /// Starts `nodeboot <args>` in a fresh network namespace.
    pub fn start(tag: &str, args: &[String], root: &Path) -> Node {
        Node::start_with(tag, args, root, |_| {})
    }

    /// As `start`, letting the caller adjust the command (fds, capabilities).
    pub fn start_with(
        tag: &str,
        args: &[String],
        root: &Path,
        adjust: impl FnOnce(&mut Command),
    ) -> Node {
        Node::start_wrapped(tag, &[], args, root, adjust)
    }

    /// As `start_with`, with `wrapper` (a command that execs the rest, such as
    /// `setpriv …`) between `ip netns exec` and nodeboot.
    pub fn start_wrapped(
        tag: &str,
        wrapper: &[&str],
        args: &[String],
        root: &Path,
        adjust: impl FnOnce(&mut Command),
    ) -> Node {
        std::fs::create_dir_all(root).unwrap();
        let ns = Netns::new(tag);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name])
            .args(wrapper)
            .arg(binary())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        adjust(&mut cmd);
        let mut child = cmd.spawn().expect("nodeboot starts");
        let pid = child.id();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let l = lines.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    l.lock().unwrap().push(line);
                }
            });
        }
        Node {
            child: Some(child),
            pid,
            lines,
            root: root.to_owned(),
            status: None,
            ns: Some(ns),
        }
    }

    /// The network namespace nodeboot runs in.
    pub fn netns(&self) -> &str {
        self.ns
            .as_ref()
            .map(|n| n.name.as_str())
            .unwrap_or_default()
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Every JSON record so far.
    pub fn events(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("event").is_some())
            .collect()
    }

    pub fn named(&self, event: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Waits for a record matching `pred`; panics with the stream so far on timeout.
    pub fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = self.events().into_iter().find(|v| pred(v)) {
                return v;
            }
            if Instant::now() > end {
                panic!(
                    "timed out waiting for {what}; stream so far:\n{}",
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_event(&self, event: &str, secs: u64) -> Value {
        self.wait_for(event, secs, |v| v["event"] == event)
    }

    pub fn alive(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(Ok(Some(st))) => {
                self.status = Some(st);
                false
            }
            _ => false,
        }
    }

    /// The pid of nodeboot itself (the child is `ip netns exec`, which execs it).
    pub fn nodeboot_pid(&self) -> u32 {
        self.pid
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), sig);
    }

    /// SIGTERM, then wait up to 20 s (SIGKILL after that, and a failure).
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(st) = self.status {
            return st;
        }
        let (st, in_time) = terminate(self.child.as_mut().unwrap(), Duration::from_secs(20));
        let st = st.unwrap();
        self.status = Some(st);
        assert!(in_time, "nodeboot did not stop within 20 s of SIGTERM");
        st
    }

    /// Children of nodeboot that are zombies (exited, not reaped).
    pub fn zombies(&self) -> Vec<String> {
        children_of(self.pid)
            .into_iter()
            .filter(|(_, state, _)| state == "Z")
            .map(|(pid, _, comm)| format!("{pid} {comm}"))
            .collect()
    }
}

/// (pid, state, comm) of every process whose parent is `ppid`.
pub fn children_of(ppid: u32) -> Vec<(u32, String, String)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces and parentheses.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = stat[stat.find('(').map_or(0, |i| i + 1)..close].to_owned();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or_default().to_owned();
        let parent: u32 = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if parent == ppid {
            out.push((pid, state, comm));
        }
    }
    out
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut()
            && matches!(c.try_wait(), Ok(None))
        {
            let _ = c.kill();
            let _ = c.wait();
        }
        unmount_under(&self.root);
    }
}
