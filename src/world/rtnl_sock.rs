//! The rtnetlink socket: link and IPv4 address notifications (RTMGRP_LINK |
//! RTMGRP_IPV4_IFADDR), the initial RTM_GETLINK and RTM_GETADDR dumps (one at a time:
//! the kernel runs one dump per socket), and link-up requests answered by their ACK.

use super::error::{Result, WorldError};
use crate::core::input::LinkState;
use crate::wire::rtnetlink::{self as wire, RtEvent};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::io::ErrorKind;

const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const DATAGRAM_MAX: usize = 64 * 1024;
const RECV_BUFFER: usize = 4 * 1024 * 1024;

/// What the socket reported.
#[derive(Debug, PartialEq)]
pub enum RtnlEvent {
    Link(LinkState),
    LinkRemoved {
        index: u32,
        name: String,
    },
    Address {
        index: u32,
        address: String,
        added: bool,
    },
    /// A dump with this sequence number is complete.
    DumpDone {
        seq: u32,
    },
    /// The answer to a request sent with NLM_F_ACK: `error` is a negative errno.
    Ack {
        seq: u32,
        error: Option<i32>,
    },
    /// Notifications were lost (ENOBUFS): redump.
    Overflow,
    /// A message from a sender that is not the kernel (port ≠ 0): dropped.
    Forged {
        sender: u32,
    },
}

/// Which dump is running, so the address dump follows the link dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dump {
    Links,
    Addresses,
}

pub struct RtnlSocket {
    socket: Socket,
    buf: Vec<u8>,
    next_seq: u32,
    /// The dump in progress and its sequence number.
    pub dumping: Option<(Dump, u32)>,
}

fn err(what: &'static str) -> impl Fn(std::io::Error) -> WorldError {
    move |source| WorldError::Netlink {
        what,
        socket: "rtnetlink",
        source,
    }
}

impl RtnlSocket {
    pub fn open() -> Result<RtnlSocket> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(err("socket"))?;
        let _ = socket.set_rx_buf_sz(RECV_BUFFER);
        socket
            .bind(&SocketAddr::new(0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR))
            .map_err(err("bind(RTMGRP_LINK|RTMGRP_IPV4_IFADDR)"))?;
        socket
            .set_non_blocking(true)
            .map_err(err("fcntl(O_NONBLOCK)"))?;
        Ok(RtnlSocket {
            socket,
            buf: vec![0; DATAGRAM_MAX],
            next_seq: 1,
            dumping: None,
        })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.socket)
    }

    /// Start a dump of every link (then, when it is done, call `start_dump(Addresses)`).
    pub fn start_dump(&mut self, which: Dump) -> Result<()> {
        let seq = self.seq();
        let request = match which {
            Dump::Links => wire::dump_links(seq),
            Dump::Addresses => wire::dump_addresses(seq),
        };
        self.send(&request, "sendto(RTM_GET* dump)")?;
        self.dumping = Some((which, seq));
        Ok(())
    }

    /// Ask for link `index` to be set up; the answer is an `Ack` with the returned seq.
    pub fn set_link_up(&mut self, index: u32) -> Result<u32> {
        let seq = self.seq();
        self.send(&wire::set_link_up(index, seq), "sendto(RTM_NEWLINK IFF_UP)")?;
        Ok(seq)
    }

    fn seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        seq
    }

    fn send(&mut self, request: &[u8], what: &'static str) -> Result<()> {
        self.socket
            .send_to(request, &SocketAddr::new(0, 0), 0)
            .map_err(err(what))?;
        Ok(())
    }

    /// Receive the next datagram's events; `Ok(None)` when drained.
    pub fn recv(&mut self) -> Result<Option<Vec<RtnlEvent>>> {
        loop {
            let mut slice = &mut self.buf[..];
            match self.socket.recv_from(&mut slice, 0) {
                Ok((len, addr)) => {
                    if addr.port_number() != 0 {
                        // Only the kernel speaks here: say so, act on nothing.
                        let sender = addr.port_number();
                        return Ok(Some(vec![RtnlEvent::Forged { sender }]));
                    }
                    let bytes = self.buf.get(..len).unwrap_or_default();
                    return Ok(Some(events_of(bytes)));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Ok(Some(vec![RtnlEvent::Overflow]));
                }
                Err(source) => {
                    return Err(WorldError::Recv {
                        socket: "rtnetlink",
                        source,
                    });
                }
            }
        }
    }
}

/// The events of one datagram. Every message of a datagram answers the same request
/// (a dump batch, one ACK) or none (a notification), so the first header's sequence
/// number tells which request a `Done` or an ACK belongs to.
fn events_of(datagram: &[u8]) -> Vec<RtnlEvent> {
    let seq = datagram
        .get(8..12)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(0);
    let Ok(events) = wire::parse_datagram(datagram) else {
        return Vec::new(); // framing broken: nothing in it can be located
    };
    events
        .into_iter()
        .filter_map(|e| match e {
            RtEvent::Link(l) => Some(RtnlEvent::Link(l)),
            RtEvent::LinkRemoved { index, name } => Some(RtnlEvent::LinkRemoved { index, name }),
            RtEvent::Address {
                index,
                address,
                added,
            } => Some(RtnlEvent::Address {
                index,
                address,
                added,
            }),
            RtEvent::Done => Some(RtnlEvent::DumpDone { seq }),
            RtEvent::Error(code) => Some(RtnlEvent::Ack {
                seq,
                error: (code != 0).then_some(code),
            }),
            RtEvent::Other => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_and_dump_ends_carry_the_request_seq() {
        // An NLMSG_ERROR with code 0 (an ACK) for seq 7: header + errno + request header.
        let mut ack = Vec::new();
        ack.extend_from_slice(&36u32.to_ne_bytes());
        ack.extend_from_slice(&2u16.to_ne_bytes());
        ack.extend_from_slice(&0u16.to_ne_bytes());
        ack.extend_from_slice(&7u32.to_ne_bytes());
        ack.extend_from_slice(&0u32.to_ne_bytes());
        ack.extend_from_slice(&0i32.to_ne_bytes());
        ack.extend_from_slice(&[0u8; 16]);
        assert_eq!(
            events_of(&ack),
            vec![RtnlEvent::Ack {
                seq: 7,
                error: None
            }]
        );
        let mut nack = ack.clone();
        nack[16..20].copy_from_slice(&(-19i32).to_ne_bytes());
        assert_eq!(
            events_of(&nack),
            vec![RtnlEvent::Ack {
                seq: 7,
                error: Some(-19)
            }]
        );
        let mut done = Vec::new();
        done.extend_from_slice(&20u32.to_ne_bytes());
        done.extend_from_slice(&3u16.to_ne_bytes());
        done.extend_from_slice(&2u16.to_ne_bytes());
        done.extend_from_slice(&9u32.to_ne_bytes());
        done.extend_from_slice(&0u32.to_ne_bytes());
        done.extend_from_slice(&0i32.to_ne_bytes());
        assert_eq!(events_of(&done), vec![RtnlEvent::DumpDone { seq: 9 }]);
    }
}
