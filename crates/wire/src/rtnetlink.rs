//! rtnetlink: one datagram from a `NETLINK_ROUTE` socket (which may carry several
//! messages, as dumps do) → typed [`RtEvent`]s; and the few requests nodeboot sends.
//!
//! The netlink framing (`nlmsghdr` walk) is done here with bounds checks, so one bad
//! message cannot hide its neighbours; each message body is decoded by the
//! `netlink-packet-route` crate. A link message the crate rejects is decoded by a
//! minimal fallback (`ifinfomsg` + name, address, kind) rather than dropped: link
//! notifications are level-triggered hints and losing one must not strand a NIC.

use super::bytes;
use super::link::{LinkState, OperState};
use super::{Error, Result};
use netlink_packet_core::{
    Emitable, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, Parseable,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use std::net::IpAddr;

/// What one rtnetlink message means to nodeboot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RtEvent {
    /// `RTM_NEWLINK` (a notification or a dump entry).
    Link(LinkState),
    /// `RTM_DELLINK`.
    LinkRemoved { index: u32, name: String },
    /// `RTM_NEWADDR` / `RTM_DELADDR` for IPv4; `address` is `a.b.c.d/len`.
    Address {
        index: u32,
        address: String,
        added: bool,
    },
    /// `NLMSG_DONE`: the end of a dump.
    Done,
    /// `NLMSG_ERROR`: 0 is an ACK, otherwise a negative errno.
    Error(i32),
    /// Anything else (IPv6 addresses, routes, noop…).
    Other,
}

const NLMSG_HDR_LEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;

/// Parses every message of one datagram, in order. A framing error (a length that
/// overruns the datagram or is shorter than a header) fails the whole datagram,
/// since nothing after it can be located; a body that fails to decode becomes `Other`.
pub fn parse_datagram(buf: &[u8]) -> Result<Vec<RtEvent>> {
    let mut events = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        let len = bytes::u32_ne(buf, off)? as usize;
        if len < NLMSG_HDR_LEN {
            return Err(Error::Malformed);
        }
        let msg = bytes::slice(buf, off, len)?;
        events.push(parse_message(msg));
        // Messages are aligned to 4 bytes; the last one may omit its padding.
        off = off.saturating_add(len.saturating_add(3) & !3);
    }
    Ok(events)
}

/// One complete message (header included, length already checked).
fn parse_message(msg: &[u8]) -> RtEvent {
    let kind = bytes::u16_ne(msg, 4).unwrap_or(0);
    match kind {
        NLMSG_NOOP => return RtEvent::Other,
        NLMSG_DONE => return RtEvent::Done,
        NLMSG_ERROR => {
            return match bytes::array::<4>(msg, NLMSG_HDR_LEN) {
                Ok(code) => RtEvent::Error(i32::from_ne_bytes(code)),
                Err(_) => RtEvent::Other,
            };
        }
        _ => {}
    }
    // Only the message types nodeboot reads are decoded, each by its own parser in
    // the crate: dispatching through `RouteNetlinkMessage` would link the crate's
    // route, neighbour and traffic-control parsers into /init for nothing.
    let body = msg.get(NLMSG_HDR_LEN..).unwrap_or_default();
    match kind {
        RTM_NEWLINK | RTM_DELLINK => {
            let link = match LinkMessage::parse(body) {
                Ok(link) => link_state(&link),
                Err(_) => match link_fallback(msg) {
                    Some(state) => state,
                    None => return RtEvent::Other,
                },
            };
            if kind == RTM_NEWLINK {
                RtEvent::Link(link)
            } else {
                RtEvent::LinkRemoved {
                    index: link.index,
                    name: link.name,
                }
            }
        }
        RTM_NEWADDR | RTM_DELADDR => match AddressMessage::parse(body) {
            Ok(a) => address(&a, kind == RTM_NEWADDR),
            Err(_) => RtEvent::Other,
        },
        _ => RtEvent::Other,
    }
}

fn link_state(link: &LinkMessage) -> LinkState {
    let mut state = LinkState {
        index: link.header.index,
        name: String::new(),
        flags: link.header.flags.bits(),
        kind: None,
        mac: None,
        operstate: None,
    };
    for attr in &link.attributes {
        match attr {
            LinkAttribute::IfName(name) => state.name = name.clone(),
            LinkAttribute::OperState(operstate) => {
                state.operstate = Some(OperState::from_kernel(u8::from(*operstate)));
            }
            LinkAttribute::Address(mac) => state.mac = Some(mac_text(mac)),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        state.kind = Some(kind.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    state
}

fn address(msg: &AddressMessage, added: bool) -> RtEvent {
    if msg.header.family != AddressFamily::Inet {
        return RtEvent::Other;
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
    // point-to-point links, and the same as IFA_LOCAL otherwise.
    let mut found = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(IpAddr::V4(ip)) => found = Some(*ip),
            AddressAttribute::Address(IpAddr::V4(ip)) if found.is_none() => found = Some(*ip),
            _ => {}
        }
    }
    match found {
        Some(ip) => RtEvent::Address {
            index: msg.header.index,
            address: format!("{ip}/{}", msg.header.prefix_len),
            added,
        },
        None => RtEvent::Other,
    }
}

/// `aa:bb:cc:dd:ee:ff` (any length: some link types have longer addresses).
fn mac_text(mac: &[u8]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const NLA_TYPE_MASK: u16 = 0x3FFF;
const IFINFOMSG_LEN: usize = 16;

/// Walks `rtattr`s: `(type, value)` pairs; stops at the first malformed one.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = bytes::u16_ne(buf, 0).ok()? as usize;
        let kind = bytes::u16_ne(buf, 2).ok()? & NLA_TYPE_MASK;
        let value = bytes::slice(buf, 4, len.checked_sub(4)?).ok()?;
        buf = buf.get((len.saturating_add(3) & !3).min(buf.len())..)?;
        Some((kind, value))
    })
}

/// The minimal decode of an `ifinfomsg` message, used when the crate rejects one.
fn link_fallback(msg: &[u8]) -> Option<LinkState> {
    let body = msg.get(NLMSG_HDR_LEN..)?;
    let index = bytes::u32_ne(body, 4).ok()?;
    let flags = bytes::u32_ne(body, 8).ok()?;
    let mut state = LinkState {
        index,
        name: String::new(),
        flags,
        kind: None,
        mac: None,
        operstate: None,
    };
    for (kind, value) in attrs(body.get(IFINFOMSG_LEN..)?) {
        match kind {
            IFLA_IFNAME => state.name = bytes::cstr(value),
            IFLA_OPERSTATE => state.operstate = value.first().map(|v| OperState::from_kernel(*v)),
            IFLA_ADDRESS => state.mac = Some(mac_text(value)),
            IFLA_LINKINFO => {
                for (k, v) in attrs(value) {
                    if k == IFLA_INFO_KIND {
                        state.kind = Some(bytes::cstr(v));
                    }
                }
            }
            _ => {}
        }
    }
    Some(state)
}

/// One request: an `nlmsghdr` followed by the message the crate emits.
fn request(kind: u16, payload: &dyn Emitable, flags: u16, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDR_LEN + payload.buffer_len();
    let mut buf = vec![0u8; len];
    let mut header = NetlinkHeader::default();
    header.length = u32::try_from(len).unwrap_or(u32::MAX);
    header.message_type = kind;
    header.flags = flags;
    header.sequence_number = seq;
    let (head, body) = buf.split_at_mut(NLMSG_HDR_LEN);
    header.emit(head);
    payload.emit(body);
    buf
}

/// `RTM_GETLINK` dump: every link, answered by `RTM_NEWLINK`s then `NLMSG_DONE`.
pub fn dump_links(seq: u32) -> Vec<u8> {
    request(
        RTM_GETLINK,
        &LinkMessage::default(),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    )
}

/// `RTM_GETADDR` dump of IPv4 addresses.
pub fn dump_addresses(seq: u32) -> Vec<u8> {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    request(RTM_GETADDR, &msg, NLM_F_REQUEST | NLM_F_DUMP, seq)
}

/// `RTM_NEWLINK` setting `IFF_UP` (flags and change mask) on `index`, with an ACK
/// requested (answered by `NLMSG_ERROR` 0, or a negative errno).
pub fn set_link_up(index: u32, seq: u32) -> Vec<u8> {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    request(RTM_NEWLINK, &msg, NLM_F_REQUEST | NLM_F_ACK, seq)
}

#[cfg(test)]
#[path = "rtnetlink_tests.rs"]
mod tests;
