//! The kernel uevent socket (mdevd's `mdevd_netlink_init.c` and `mdevd_uevent_read.c`):
//! NETLINK_KOBJECT_UEVENT bound to group 1, a forced 128 MiB receive buffer, and a
//! drain loop that accepts only datagrams whose sender is the kernel (port 0).

use super::error::{Result, WorldError};
use crate::wire::uevent::{Uevent, UeventAction, parse_kernel};
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
                        Err(e) => Received::Dropped {
                            reason: format!("not a kernel uevent ({e})"),
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

/// Build a uevent from a sysfs `uevent` file's environment (plus ACTION, DEVPATH and
/// SUBSYSTEM, which the scan adds).
pub fn from_env(env: BTreeMap<String, String>) -> Option<Uevent> {
    Some(Uevent {
        action: UeventAction::parse(env.get("ACTION")?),
        devpath: env.get("DEVPATH")?.clone(),
        subsystem: env.get("SUBSYSTEM")?.clone(),
        devtype: env.get("DEVTYPE").cloned(),
        devname: env.get("DEVNAME").cloned(),
        seqnum: env.get("SEQNUM").and_then(|s| s.parse().ok()),
        env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_environment_becomes_a_uevent() {
        let env: BTreeMap<String, String> = [
            ("ACTION", "add"),
            ("DEVPATH", "/devices/virtual/block/loop3"),
            ("SUBSYSTEM", "block"),
            ("DEVNAME", "loop3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let u = from_env(env.clone()).unwrap();
        assert_eq!(u.action, UeventAction::Add);
        assert_eq!(u.devname.as_deref(), Some("loop3"));
        let mut no_subsystem = env;
        no_subsystem.remove("SUBSYSTEM");
        assert!(from_env(no_subsystem).is_none());
    }
}
