//! The kernel uevent socket (mdevd's `mdevd_netlink_init.c` and `mdevd_uevent_read.c`):
//! NETLINK_KOBJECT_UEVENT bound to group 1, a forced 128 MiB receive buffer, and a
//! drain loop that accepts only datagrams whose sender is the kernel (port 0).

use super::error::{Result, WorldError};
use crate::wire::uevent::{Uevent, UeventAction};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_KOBJECT_UEVENT};
use nix::sys::socket::{setsockopt, sockopt};
use std::collections::BTreeMap;
use std::io::ErrorKind;

/// The kernel's uevent multicast group (`libudev` listens on group 2).
const KERNEL_GROUP: u32 = 1;
/// What udevd and `mdev -d` ask for: holds a 20,000-event burst on these machines.
const RECV_BUFFER: usize = 128 * 1024 * 1024;
/// The kernel caps one uevent at 2 KiB of environment (UEVENT_BUFFER_SIZE).
const DATAGRAM_MAX: usize = 8192;

/// What one drained datagram was.
#[derive(Debug)]
pub enum Received {
    /// A kernel uevent.
    Uevent(Uevent),
    /// A datagram that is not accepted, and why.
    Dropped { reason: String, sender: u32 },
    /// The receive buffer overflowed (`ENOBUFS`): events were lost.
    Overflow,
}

pub struct UeventSocket {
    socket: Socket,
    buf: Vec<u8>,
}

impl UeventSocket {
    /// Subscribe to kernel uevents (before the coldplug scan, so nothing falls between),
    /// with a receive buffer of `rcvbuf` bytes (default: 128 MiB).
    pub fn open(rcvbuf: Option<usize>) -> Result<UeventSocket> {
        let rcvbuf = rcvbuf.unwrap_or(RECV_BUFFER);
        let err = |what| {
            move |source| WorldError::Netlink {
                what,
                socket: "uevent",
                source,
            }
        };
        let mut socket = Socket::new(NETLINK_KOBJECT_UEVENT).map_err(err("socket"))?;
        // SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it SO_RCVBUF up to rmem_max.
        if setsockopt(&socket, sockopt::RcvBufForce, &rcvbuf).is_err() {
            socket
                .set_rx_buf_sz(rcvbuf)
                .map_err(err("setsockopt(SO_RCVBUF)"))?;
        }
        socket
            .bind(&SocketAddr::new(0, KERNEL_GROUP))
            .map_err(err("bind(group 1)"))?;
        socket
            .set_non_blocking(true)
            .map_err(err("fcntl(O_NONBLOCK)"))?;
        Ok(UeventSocket {
            socket,
            buf: vec![0; DATAGRAM_MAX],
        })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.socket)
    }

    /// Receive the next datagram; `Ok(None)` when the socket is drained.
    pub fn recv(&mut self) -> Result<Option<Received>> {
        loop {
            let mut slice = &mut self.buf[..];
            match self.socket.recv_from(&mut slice, libc::MSG_TRUNC) {
                Ok((len, addr)) => {
                    let sender = addr.port_number();
                    if sender != 0 {
                        return Ok(Some(Received::Dropped {
                            reason: "sender is not the kernel".into(),
                            sender,
                        }));
                    }
                    let Some(bytes) = self.buf.get(..len) else {
                        return Ok(Some(Received::Dropped {
                            reason: format!("truncated ({len} bytes)"),
                            sender,
                        }));
                    };
                    return Ok(Some(match parse_kernel(bytes) {
                        Ok(u) => Received::Uevent(u),
                        Err(reason) => Received::Dropped {
                            reason: reason.into(),
                            sender,
                        },
                    }));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Ok(Some(Received::Overflow));
                }
                Err(source) => {
                    return Err(WorldError::Recv {
                        socket: "uevent",
                        source,
                    });
                }
            }
        }
    }
}

/// `ACTION@DEVPATH\0KEY=VALUE\0…` as the kernel sends it.
/// Private stand-in until `crate::wire::uevent::parse_kernel` lands.
pub fn parse_kernel(bytes: &[u8]) -> std::result::Result<Uevent, &'static str> {
    if bytes.last() != Some(&0) {
        return Err("no trailing NUL");
    }
    let mut fields = bytes.split(|b| *b == 0).filter(|f| !f.is_empty());
    let summary = fields.next().ok_or("empty")?;
    let summary = std::str::from_utf8(summary).map_err(|_| "summary is not UTF-8")?;
    if !summary.contains("@/") {
        return Err("no ACTION@DEVPATH summary");
    }
    let mut env = BTreeMap::new();
    for field in fields {
        let Ok(field) = std::str::from_utf8(field) else {
            continue;
        };
        if let Some((k, v)) = field.split_once('=') {
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    from_env(env).ok_or("missing ACTION, DEVPATH or SUBSYSTEM")
}

/// Build a uevent from its environment (also used for sysfs `uevent` files).
pub fn from_env(env: BTreeMap<String, String>) -> Option<Uevent> {
    let action = action_from(env.get("ACTION")?);
    let devpath = env.get("DEVPATH")?.clone();
    let subsystem = env.get("SUBSYSTEM")?.clone();
    Some(Uevent {
        action,
        devpath,
        subsystem,
        devtype: env.get("DEVTYPE").cloned(),
        devname: env.get("DEVNAME").cloned(),
        seqnum: env.get("SEQNUM").and_then(|s| s.parse().ok()),
        env,
    })
}

pub fn action_from(s: &str) -> UeventAction {
    match s {
        "add" => UeventAction::Add,
        "remove" => UeventAction::Remove,
        "change" => UeventAction::Change,
        "move" => UeventAction::Move,
        "online" => UeventAction::Online,
        "offline" => UeventAction::Offline,
        "bind" => UeventAction::Bind,
        "unbind" => UeventAction::Unbind,
        other => UeventAction::Other(other.to_owned()),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_datagram_and_rejects_garbage() {
        let raw = b"change@/devices/virtual/block/loop3\0ACTION=change\0DEVPATH=/devices/virtual/block/loop3\0SUBSYSTEM=block\0MAJOR=7\0MINOR=3\0DEVNAME=loop3\0DEVTYPE=disk\0SEQNUM=4242\0";
        let u = parse_kernel(raw).unwrap();
        assert_eq!(u.action, UeventAction::Change);
        assert_eq!(u.devname.as_deref(), Some("loop3"));
        assert_eq!(u.seqnum, Some(4242));
        assert_eq!(u.get("MAJOR"), Some("7"));
        assert!(parse_kernel(b"libudev\0xxxx").is_err());
        assert!(parse_kernel(b"add@/x\0ACTION=add\0").is_err());
        assert!(parse_kernel(b"add@/x\0ACTION=add").is_err());
    }
}
