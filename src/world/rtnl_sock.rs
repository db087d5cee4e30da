//! The rtnetlink socket: link and IPv4 address notifications (RTMGRP_LINK |
//! RTMGRP_IPV4_IFADDR), the initial RTM_GETLINK and RTM_GETADDR dumps (one at a time:
//! the kernel runs one dump per socket), and link-up requests answered by their ACK.

use super::error::{Result, WorldError};
use crate::core::input::LinkState;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
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
        let msg = match which {
            Dump::Links => RouteNetlinkMessage::GetLink(LinkMessage::default()),
            Dump::Addresses => {
                let mut m = AddressMessage::default();
                m.header.family = AddressFamily::Inet;
                RouteNetlinkMessage::GetAddress(m)
            }
        };
        let seq = self.send(msg, NLM_F_REQUEST | NLM_F_DUMP, "sendto(RTM_GET* dump)")?;
        self.dumping = Some((which, seq));
        Ok(())
    }

    /// Ask for link `index` to be set up; the answer is an `Ack` with the returned seq.
    pub fn set_link_up(&mut self, index: u32) -> Result<u32> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        self.send(
            RouteNetlinkMessage::SetLink(link),
            NLM_F_REQUEST | NLM_F_ACK,
            "sendto(RTM_SETLINK)",
        )
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16, what: &'static str) -> Result<u32> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
        packet.header.flags = flags;
        packet.header.sequence_number = seq;
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket
            .send_to(&buf, &SocketAddr::new(0, 0), 0)
            .map_err(err(what))?;
        Ok(seq)
    }

    /// Receive the next datagram's events; `Ok(None)` when drained.
    pub fn recv(&mut self) -> Result<Option<Vec<RtnlEvent>>> {
        loop {
            let mut slice = &mut self.buf[..];
            match self.socket.recv_from(&mut slice, 0) {
                Ok((len, addr)) => {
                    if addr.port_number() != 0 {
                        return Ok(Some(Vec::new())); // only the kernel speaks here
                    }
                    let bytes = self.buf.get(..len).unwrap_or_default();
                    return Ok(Some(parse_datagram(bytes)));
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

/// Every message in one datagram. Unparsable messages are skipped.
/// Private stand-in until `crate::wire::rtnetlink::parse_datagram` lands.
pub fn parse_datagram(mut bytes: &[u8]) -> Vec<RtnlEvent> {
    let mut out = Vec::new();
    while bytes.len() >= 16 {
        let len = bytes
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_ne_bytes)
            .unwrap_or(0) as usize;
        if len < 16 || len > bytes.len() {
            break;
        }
        let (one, rest) = bytes.split_at(len);
        // Messages are 4-byte aligned within a datagram.
        bytes = rest
            .get(rest.len().min((4 - len % 4) % 4)..)
            .unwrap_or_default();
        let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(one) else {
            continue;
        };
        let seq = msg.header.sequence_number;
        match msg.payload {
            NetlinkPayload::Done(_) => out.push(RtnlEvent::DumpDone { seq }),
            NetlinkPayload::Error(e) => out.push(RtnlEvent::Ack {
                seq,
                error: e.code.map(|c| c.get()),
            }),
            NetlinkPayload::InnerMessage(inner) => match inner {
                RouteNetlinkMessage::NewLink(l) => out.push(RtnlEvent::Link(link_state(&l))),
                RouteNetlinkMessage::DelLink(l) => {
                    let s = link_state(&l);
                    out.push(RtnlEvent::LinkRemoved {
                        index: s.index,
                        name: s.name,
                    })
                }
                RouteNetlinkMessage::NewAddress(a) => out.extend(address(&a, true)),
                RouteNetlinkMessage::DelAddress(a) => out.extend(address(&a, false)),
                _ => {}
            },
            _ => {}
        }
    }
    out
}

fn link_state(l: &LinkMessage) -> LinkState {
    let mut s = LinkState {
        index: l.header.index,
        name: String::new(),
        flags: l.header.flags.bits(),
        kind: None,
        mac: None,
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => s.name = n.clone(),
            LinkAttribute::Address(mac) if !mac.is_empty() => {
                s.mac = Some(
                    mac.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                )
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        s.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// `a.b.c.d/prefix` of an IPv4 address message (IFA_LOCAL, else IFA_ADDRESS).
fn address(a: &AddressMessage, added: bool) -> Option<RtnlEvent> {
    if a.header.family != AddressFamily::Inet {
        return None;
    }
    let local = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let addr = local.or_else(|| {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    Some(RtnlEvent::Address {
        index: a.header.index,
        address: format!("{addr}/{}", a.header.prefix_len),
        added,
    })
}
