//! Network namespaces, veth cables between them, a dnsmasq DHCP server and a TCP
//! listener (the reachability target).

use super::{sh, sh_quiet, unique};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A network namespace `nb<tag><pid>x<n>`, with `lo` up. On drop every process still
/// in it (ours: it was made by this test) is killed and the namespace deleted, which
/// deletes its veths too.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        sh(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NS ARGS…`
    pub fn ip(&self, args: &[&str]) -> String {
        let mut argv = vec!["ip", "-n", &self.name];
        argv.extend_from_slice(args);
        sh(&argv)
    }

    /// The IPv4 addresses on `iface` (`10.77.0.123/24`, …).
    pub fn ipv4(&self, iface: &str) -> Vec<String> {
        self.ip(&["-4", "-o", "addr", "show", "dev", iface])
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                w.position(|x| x == "inet")?;
                w.next().map(str::to_string)
            })
            .collect()
    }

    /// A command run inside the namespace (`ip netns exec NS …`), not started.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    pub fn pids(&self) -> Vec<u32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        sh_quiet(&["ip", "netns", "del", &self.name]);
    }
}

/// A veth cable: `node_if` in the node's namespace, `srv_if` (with `srv_addr`, e.g.
/// `10.77.0.1/24`) in the server's. The node side has carrier only while the server
/// side is up: [`Veth::plug`] / [`Veth::unplug`].
pub struct Veth {
    pub node_ns: String,
    pub node_if: String,
    pub srv_ns: String,
    pub srv_if: String,
}

impl Veth {
    pub fn new(
        node: &Netns,
        node_if: &str,
        srv: &Netns,
        srv_if: &str,
        srv_addr: &str,
        plugged: bool,
    ) -> Veth {
        sh(&[
            "ip", "link", "add", node_if, "netns", &node.name, "type", "veth", "peer", "name",
            srv_if, "netns", &srv.name,
        ]);
        let v = Veth {
            node_ns: node.name.clone(),
            node_if: node_if.into(),
            srv_ns: srv.name.clone(),
            srv_if: srv_if.into(),
        };
        srv.ip(&["addr", "add", srv_addr, "dev", srv_if]);
        if plugged {
            v.plug();
        }
        v
    }

    pub fn plug(&self) {
        sh(&["ip", "-n", &self.srv_ns, "link", "set", &self.srv_if, "up"]);
    }

    pub fn unplug(&self) {
        sh(&[
            "ip",
            "-n",
            &self.srv_ns,
            "link",
            "set",
            &self.srv_if,
            "down",
        ]);
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        sh_quiet(&["ip", "-n", &self.node_ns, "link", "del", &self.node_if]);
    }
}

/// dnsmasq serving DHCP (no DNS, no ping before offering: leases in ~0.1 s) on one
/// interface of a namespace, for `PREFIX.100`–`PREFIX.200`. Killed on drop.
pub struct Dnsmasq {
    child: Child,
}

impl Dnsmasq {
    pub fn start(ns: &Netns, iface: &str, prefix: &str, dir: &Path) -> Dnsmasq {
        let tag = unique("dm");
        let pid_file = dir.join(format!("{tag}.pid"));
        let child = ns
            .command("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--port=0",
                "--bind-dynamic",
                "--no-ping",
                "--user=root",
                &format!("--interface={iface}"),
                &format!("--dhcp-range={prefix}.100,{prefix}.200,255.255.255.0,1h"),
                &format!(
                    "--dhcp-leasefile={}",
                    dir.join(format!("{tag}.leases")).display()
                ),
                &format!("--pid-file={}", pid_file.display()),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Dnsmasq { child };
        // Ready once it wrote its pid file (after binding its sockets).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("dnsmasq exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "dnsmasq not ready after 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The usual test network: a node namespace wired to a server namespace by one cable,
/// `nbe0` (node) to `nbs0` (server, 10.77.0.1/24), with dnsmasq leasing
/// 10.77.0.100–200 behind it (its files in `dir`). Fields drop in order: the DHCP
/// server, the cable, then the namespaces.
pub struct Lan {
    _dhcp: Dnsmasq,
    pub cable: Veth,
    pub srv: Netns,
    pub node: Netns,
}

impl Lan {
    pub fn new(dir: &Path, plugged: bool) -> Lan {
        let node = Netns::new("n");
        let srv = Netns::new("s");
        let cable = Veth::new(&node, "nbe0", &srv, "nbs0", "10.77.0.1/24", plugged);
        let dhcp = Dnsmasq::start(&srv, "nbs0", "10.77.0", dir);
        Lan {
            _dhcp: dhcp,
            cable,
            srv,
            node,
        }
    }
}

/// A TCP listener inside a namespace. Nobody accepts: the kernel completes the
/// handshake into the backlog, which is all a reachability probe needs.
pub struct Listener {
    pub listener: TcpListener,
    pub addr: String,
}

impl Listener {
    /// Bind `addr` (`10.77.0.1:8080`) in the namespace: a thread enters it (setns is
    /// per thread), binds, and hands the socket back; the socket stays in that
    /// namespace.
    pub fn start(ns: &Netns, addr: &str) -> Listener {
        let path = ns.path();
        let bind = addr.to_string();
        let listener = std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap();
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            TcpListener::bind(&bind).unwrap()
        })
        .join()
        .unwrap();
        Listener {
            listener,
            addr: addr.into(),
        }
    }
}
