//! Tests for `rtnetlink`, on datagrams captured from this machine's kernel.

use super::*;
use crate::bytes::fuzz;
use crate::link::{IFF_LOWER_UP, IFF_RUNNING, IFF_UP};

// All captured from this machine's kernel in a scratch namespace (nb-wire-cap):
// `ip link add nbw0 address 02:00:00:00:00:01 type veth peer name nbw1 address
// 02:00:00:00:00:02`, `ip link set … up`, `ip addr add/del 10.9.8.7/24 dev nbw0`,
// dumps, `ip link del nbw0`.
static NEWLINK_CARRIER: &[u8] = include_bytes!("testdata/rt_newlink_nbw1_carrier.bin");
static NEWLINK_DOWN: &[u8] = include_bytes!("testdata/rt_newlink_nbw0_down.bin");
static NEWADDR_V4: &[u8] = include_bytes!("testdata/rt_newaddr_v4.bin");
static NEWADDR_V6: &[u8] = include_bytes!("testdata/rt_newaddr_v6.bin");
static DELADDR_V4: &[u8] = include_bytes!("testdata/rt_deladdr_v4.bin");
static DUMP_LINKS: &[u8] = include_bytes!("testdata/rt_dump_links.bin");
static DONE: &[u8] = include_bytes!("testdata/rt_done.bin");
static DELLINK: &[u8] = include_bytes!("testdata/rt_dellink.bin");

fn one(buf: &[u8]) -> RtEvent {
    let mut v = parse_datagram(buf).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

#[test]
fn link_with_carrier() {
    let RtEvent::Link(l) = one(NEWLINK_CARRIER) else {
        panic!("not a link")
    };
    assert_eq!(l.index, 3);
    assert_eq!(l.name, "nbw0");
    assert_eq!(l.flags, 0x11043);
    assert!(l.carrier() && l.admin_up());
    assert_eq!(l.kind.as_deref(), Some("veth"));
    assert_eq!(l.mac.as_deref(), Some("02:00:00:00:00:01"));
    assert_eq!(l.operstate, Some(OperState::Up));
    assert!(!l.carrier_unconfirmed());
}

#[test]
fn link_down_no_carrier() {
    let RtEvent::Link(l) = one(NEWLINK_DOWN) else {
        panic!("not a link")
    };
    assert_eq!((l.index, l.name.as_str()), (2, "nbw1"));
    assert!(!l.carrier() && !l.admin_up());
    assert_eq!(l.mac.as_deref(), Some("02:00:00:00:00:02"));
    assert_eq!(l.operstate, Some(OperState::Down));
}

#[test]
fn fallback_agrees_with_crate() {
    for raw in [NEWLINK_CARRIER, NEWLINK_DOWN] {
        let RtEvent::Link(l) = one(raw) else { panic!() };
        assert_eq!(link_fallback(raw), Some(l));
    }
}

#[test]
fn dump_of_three_links_then_done() {
    let v = parse_datagram(DUMP_LINKS).unwrap();
    let names: Vec<_> = v
        .iter()
        .map(|e| match e {
            RtEvent::Link(l) => (l.index, l.name.clone(), l.kind.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        vec![
            (1, "lo".into(), None),
            (2, "nbw1".into(), Some("veth".into())),
            (3, "nbw0".into(), Some("veth".into()))
        ]
    );
    let RtEvent::Link(lo) = &v[0] else { panic!() };
    assert!(lo.loopback());
    // The capture's `lo` was admin-down: the kernel reports `down` for any link
    // that is not running, whatever it computed before.
    assert_eq!(lo.operstate, Some(OperState::Down));
    assert!(!lo.carrier_unconfirmed());
    assert_eq!(one(DONE), RtEvent::Done);
    // Two datagrams glued together are still walked message by message.
    let glued = [DUMP_LINKS, DONE].concat();
    assert_eq!(parse_datagram(&glued).unwrap().last(), Some(&RtEvent::Done));
}

#[test]
fn addresses() {
    assert_eq!(
        one(NEWADDR_V4),
        RtEvent::Address {
            index: 3,
            address: "10.9.8.7/24".into(),
            added: true
        }
    );
    assert_eq!(
        one(DELADDR_V4),
        RtEvent::Address {
            index: 3,
            address: "10.9.8.7/24".into(),
            added: false
        }
    );
    assert_eq!(one(NEWADDR_V6), RtEvent::Other);
}

#[test]
fn dellink() {
    assert_eq!(
        one(DELLINK),
        RtEvent::LinkRemoved {
            index: 3,
            name: "nbw0".into()
        }
    );
}

#[test]
fn framing_errors() {
    assert_eq!(parse_datagram(&[]).unwrap(), vec![]);
    assert_eq!(parse_datagram(&DONE[..10]), Err(Error::Truncated));
    let mut short = DONE.to_vec();
    short[0] = 4;
    assert_eq!(parse_datagram(&short), Err(Error::Malformed));
    let mut long = DONE.to_vec();
    long[0] = 200;
    assert_eq!(parse_datagram(&long), Err(Error::Truncated));
}

#[test]
fn error_and_ack() {
    // NLMSG_ERROR with -ENODEV, as the kernel answers set_link_up on a bad index.
    let mut nack = vec![36, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0];
    nack.extend_from_slice(&(-19i32).to_ne_bytes());
    nack.extend_from_slice(&set_link_up(99, 7)[..16]);
    assert_eq!(one(&nack), RtEvent::Error(-19));
}

#[test]
fn requests() {
    let d = dump_links(5);
    assert_eq!(
        u32::from_ne_bytes(d[0..4].try_into().unwrap()) as usize,
        d.len()
    );
    assert_eq!(u16::from_ne_bytes([d[4], d[5]]), 18); // RTM_GETLINK
    assert_eq!(u16::from_ne_bytes([d[6], d[7]]), NLM_F_REQUEST | NLM_F_DUMP);
    assert_eq!(u32::from_ne_bytes(d[8..12].try_into().unwrap()), 5);
    let a = dump_addresses(6);
    assert_eq!(u16::from_ne_bytes([a[4], a[5]]), 22); // RTM_GETADDR
    assert_eq!(a[16], 2); // AF_INET
    let up = set_link_up(3, 9);
    assert_eq!(up.len(), 32);
    assert_eq!(u16::from_ne_bytes([up[4], up[5]]), RTM_NEWLINK);
    assert_eq!(
        u16::from_ne_bytes([up[6], up[7]]),
        NLM_F_REQUEST | NLM_F_ACK
    );
    assert_eq!(u32::from_ne_bytes(up[20..24].try_into().unwrap()), 3);
    assert_eq!(u32::from_ne_bytes(up[24..28].try_into().unwrap()), IFF_UP);
    assert_eq!(u32::from_ne_bytes(up[28..32].try_into().unwrap()), IFF_UP);
    let _ = (IFF_LOWER_UP, IFF_RUNNING);
}

/// The kernel's answers to our own requests (sent from a scratch namespace):
/// `set_link_up(2, 11)` → ACK, `set_link_up(999, 12)` → -ENODEV, `dump_links(13)`
/// → lo, nbw1, nbw0 and DONE (two datagrams, stored back to back).
static REPLY_ACK: &[u8] = include_bytes!("testdata/rt_reply_ack.bin");
static REPLY_NACK: &[u8] = include_bytes!("testdata/rt_reply_nack.bin");
static REPLY_LINKS: &[u8] = include_bytes!("testdata/rt_reply_links.bin");

#[test]
fn kernel_answers_to_our_requests() {
    // These exact bytes were accepted by the kernel (the link went up).
    let hex = |v: Vec<u8>| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        hex(set_link_up(2, 11)),
        "20000000100005000b0000000000000000000000020000000100000001000000"
    );
    assert_eq!(
        hex(dump_links(13)),
        "20000000120001030d0000000000000000000000000000000000000000000000"
    );
    assert_eq!(one(REPLY_ACK), RtEvent::Error(0));
    assert_eq!(one(REPLY_NACK), RtEvent::Error(-19));
    let v = parse_datagram(REPLY_LINKS).unwrap();
    assert_eq!(v.len(), 4);
    assert_eq!(v[3], RtEvent::Done);
    assert!(matches!(&v[1], RtEvent::Link(l) if l.name == "nbw1" && l.admin_up()));
}

#[test]
fn never_panics() {
    let seeds: &[&[u8]] = &[
        NEWLINK_CARRIER,
        NEWLINK_DOWN,
        NEWADDR_V4,
        NEWADDR_V6,
        DELADDR_V4,
        DUMP_LINKS,
        DONE,
        DELLINK,
        REPLY_NACK,
        REPLY_LINKS,
    ];
    fuzz::no_panic(seeds, 2000, |b| {
        let _ = parse_datagram(b);
        if b.len() >= NLMSG_HDR_LEN {
            let _ = link_fallback(b);
        }
    });
}
