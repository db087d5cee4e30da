//! A live `nodeboot run` inside a network namespace, and its JSON log stream.

use super::cmd::terminate;
use super::{Netns, TempDir};
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The built binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_nodeboot");

/// How to start a run. `rules` are `(file name, contents)` written to a fresh rules
/// directory.
#[derive(Default)]
pub struct RunConfig {
    pub disks: Vec<String>,
    pub nics: Vec<String>,
    pub rules: Vec<(&'static str, String)>,
    pub record: bool,
    pub extra: Vec<String>,
    /// Files written under the root before the run (e.g. an early `/var/log` file).
    pub root_files: Vec<(&'static str, String)>,
}

/// The udhcpc event script the tests and the sandbox use (applies the lease with `ip`).
pub const UDHCPC_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/udhcpc.script");

/// `network.toml` managing veths named `nb*` with busybox udhcpc (`-t 100 -T 1`: it keeps
/// asking, so only nodeboot's give-up stops it) and an optional `give_up`.
pub fn network_rules(give_up: Option<&str>) -> String {
    let mut s = format!(
        "[network]\ninclude = [\"nb*\"]\nallow_virtual = true\n\
         dhcp_command = [\"busybox\", \"udhcpc\", \"-f\", \"-i\", \"{{nic}}\", \"-t\", \"100\", \"-T\", \"1\", \"-s\", \"{UDHCPC_SCRIPT}\"]\n"
    );
    if let Some(g) = give_up {
        s.push_str(&format!("give_up = \"{g}\"\n"));
    }
    s
}

/// `gate.toml` with these targets and timeout, probing every 500 ms.
pub fn gate_rules(targets: &[&str], timeout: &str) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "[gate]\ntargets = [{}]\ntimeout = \"{timeout}\"\nattempt_timeout = \"1s\"\nretry_interval = \"500ms\"\n",
        list.join(", ")
    )
}

/// `cache.toml` deciding after 1 s without a new disk.
pub fn cache_rules() -> String {
    "[cache]\nsettle_quiet = \"1s\"\n".to_string()
}

#[derive(Default)]
struct Stream {
    records: Vec<Value>,
    closed: bool,
}

/// `ip netns exec NS nodeboot run --json --root … --rules … --allow-loop …` with the
/// stream read line by line from its stderr. `ip netns exec` execs nodeboot in place,
/// so the child's pid is nodeboot's; it runs in a mount namespace of its own (made by
/// `ip netns exec`), so its mounts are read through `/proc/PID/mounts`. SIGTERM and
/// wait on drop.
pub struct NodebootRun {
    child: Option<Child>,
    pub pid: u32,
    stream: Arc<(Mutex<Stream>, Condvar)>,
    pub dir: TempDir,
    pub root: PathBuf,
    pub rules: PathBuf,
    pub record: Option<PathBuf>,
    status: Option<ExitStatus>,
}

impl NodebootRun {
    pub fn start(ns: &Netns, config: RunConfig) -> NodebootRun {
        let dir = TempDir::new("run");
        let root = dir.join("root");
        let rules = dir.join("rules");
        std::fs::create_dir_all(root.join("var/log")).unwrap();
        std::fs::create_dir_all(&rules).unwrap();
        for (file, text) in &config.rules {
            std::fs::write(rules.join(file), text).unwrap();
        }
        for (rel, text) in &config.root_files {
            let path = root.join(rel.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let record = config.record.then(|| dir.join("boot.trace"));
        let mut cmd = ns.command(BIN);
        cmd.arg("run")
            .arg("--json")
            .arg("--allow-loop")
            .arg("--root")
            .arg(&root)
            .arg("--rules")
            .arg(&rules)
            .arg("--socket")
            .arg(dir.join("nodeboot.sock"));
        cmd.args(&config.disks);
        for n in &config.nics {
            cmd.args(["--nic", n]);
        }
        if let Some(r) = &record {
            cmd.arg("--record").arg(r);
        }
        cmd.args(&config.extra);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let stderr = child.stderr.take().unwrap();
        let stream: Arc<(Mutex<Stream>, Condvar)> = Arc::default();
        let feed = Arc::clone(&stream);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str::<Value>(&line)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| serde_json::json!({ "event": "raw", "line": line }));
                let (lock, cv) = &*feed;
                lock.lock().unwrap().records.push(value);
                cv.notify_all();
            }
            let (lock, cv) = &*feed;
            lock.lock().unwrap().closed = true;
            cv.notify_all();
        });
        NodebootRun {
            child: Some(child),
            pid,
            stream,
            dir,
            root,
            rules,
            record,
            status: None,
        }
    }

    /// Every record so far.
    pub fn records(&self) -> Vec<Value> {
        self.stream.0.lock().unwrap().records.clone()
    }

    /// Records of one event matching `fields` so far.
    pub fn find(&self, event: &str, fields: &[(&str, &str)]) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|r| matches(r, event, fields))
            .collect()
    }

    /// Wait up to `timeout` for a record of `event` with `fields`; panics with the
    /// stream so far when none comes (or nodeboot's stream ends first).
    pub fn wait_for(&self, event: &str, fields: &[(&str, &str)], timeout: Duration) -> Value {
        self.wait_until(&format!("{event} {fields:?}"), timeout, |r| {
            matches(r, event, fields)
        })
    }

    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.stream;
        let mut s = lock.lock().unwrap();
        loop {
            if let Some(r) = s.records.iter().find(|r| pred(r)) {
                return r.clone();
            }
            let now = Instant::now();
            if s.closed || now >= deadline {
                let why = if s.closed {
                    "stream ended"
                } else {
                    "timed out"
                };
                panic!(
                    "waiting for {what}: {why} after {timeout:?}; stream:\n{}",
                    dump(&s.records)
                );
            }
            s = cv.wait_timeout(s, deadline - now).unwrap().0;
        }
    }

    /// nodeboot's mounts under the run's root: `(source, path relative to root,
    /// fstype, options)`.
    pub fn mounts(&self) -> Vec<(String, String, String, String)> {
        let text =
            std::fs::read_to_string(format!("/proc/{}/mounts", self.pid)).unwrap_or_default();
        let root = self.root.to_str().unwrap().to_string();
        text.lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let rel = w.get(1)?.strip_prefix(&root)?;
                Some((
                    w[0].into(),
                    rel.to_string(),
                    w.get(2)?.to_string(),
                    w.get(3)?.to_string(),
                ))
            })
            .collect()
    }

    /// The mount at `rel` (e.g. `/var/log`) under the run's root.
    pub fn mount_at(&self, rel: &str) -> Option<(String, String, String, String)> {
        self.mounts().into_iter().rev().find(|m| m.1 == rel)
    }

    /// Run a command in nodeboot's mount namespace (to see its mounts); its stdout.
    pub fn in_mounts(&self, argv: &[&str]) -> String {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid.to_string(), "-m", "--"])
            .args(argv)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nsenter {argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A path inside the run's root (`/var/log` → `<root>/var/log`).
    pub fn path(&self, node_path: &str) -> PathBuf {
        self.root.join(node_path.trim_start_matches('/'))
    }

    /// SIGTERM, then wait (SIGKILL after 10 s); the exit status. The stream is read
    /// to its end.
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let mut child = self.child.take().unwrap();
        let status = terminate(&mut child, Duration::from_secs(10)).0.unwrap();
        let (lock, cv) = &*self.stream;
        let mut s = lock.lock().unwrap();
        let end = Instant::now() + Duration::from_secs(5);
        while !s.closed && Instant::now() < end {
            s = cv.wait_timeout(s, Duration::from_millis(100)).unwrap().0;
        }
        self.status = Some(status);
        status
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for NodebootRun {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// A record of `event` whose fields have these values (strings compared as they are,
/// other values by their JSON text).
pub fn matches(r: &Value, event: &str, fields: &[(&str, &str)]) -> bool {
    r.get("event").and_then(Value::as_str) == Some(event)
        && fields.iter().all(|(k, v)| match r.get(*k) {
            Some(Value::String(s)) => s == v,
            Some(other) => other.to_string().as_str() == *v,
            None => false,
        })
}

pub fn dump(records: &[Value]) -> String {
    let skip = records.len().saturating_sub(80);
    records[skip..]
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The events a replay of a recorded run must reproduce, one JSON text each, without
/// `ts`; records the world writes itself (not decisions of the core) are left out.
pub fn core_events(records: &[Value]) -> Vec<String> {
    const WORLD_ONLY: &[&str] = &[
        "effect.dry-run",
        "effect.refused",
        "uevent.dropped",
        "uevent.overflow",
        "raw",
    ];
    records
        .iter()
        .filter_map(|r| {
            let mut r = r.as_object()?.clone();
            let event = r.get("event")?.as_str()?.to_string();
            if WORLD_ONLY.contains(&event.as_str())
                || event.starts_with("world.")
                || event.starts_with("log.")
            {
                return None;
            }
            r.remove("ts");
            Some(Value::Object(r).to_string())
        })
        .collect()
}

/// `nodeboot replay TRACE --json`: the records it prints.
pub fn replay(trace: &Path, extra: &[&str]) -> (Vec<Value>, String) {
    let out = Command::new(BIN)
        .arg("replay")
        .arg(trace)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    (records, String::from_utf8_lossy(&out.stderr).into_owned())
}
