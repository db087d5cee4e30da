//! Kernel uevents: `ACTION@DEVPATH\0KEY=VALUE\0…` datagrams from NETLINK_KOBJECT_UEVENT
//! group 1, the `libudev` monitor framing (`libudev\0` header), and the text printed by
//! `udevadm monitor --kernel --property` (parsed by the trace module).

use super::bytes;
use super::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The prefix of a message sent by udevd (or any libudev monitor) rather than the kernel.
pub const LIBUDEV_PREFIX: &[u8] = b"libudev\0";
/// `monitor_netlink_header.magic`, in network byte order on the wire.
pub const LIBUDEV_MAGIC: u32 = 0xfeed_cafe;
/// Size of `struct monitor_netlink_header` in systemd (prefix, magic, header_size,
/// properties_off, properties_len, filter hashes and bloom).
const LIBUDEV_HEADER_LEN: usize = 40;

/// What happened to the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UeventAction {
    Add,
    Remove,
    Change,
    Move,
    Online,
    Offline,
    Bind,
    Unbind,
    #[serde(untagged)]
    Other(String),
}

/// One parsed uevent. `env` holds every `KEY=VALUE` pair, including the ones lifted
/// into typed fields, so nothing the kernel said is lost in a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uevent {
    pub action: UeventAction,
    pub devpath: String,
    pub subsystem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devtype: Option<String>,
    /// `DEVNAME`, relative to /dev (`sda`, `loop0p1`, `nvme0n1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seqnum: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl Uevent {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }
}

impl UeventAction {
    pub fn parse(s: &str) -> UeventAction {
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

    pub fn as_str(&self) -> &str {
        match self {
            UeventAction::Add => "add",
            UeventAction::Remove => "remove",
            UeventAction::Change => "change",
            UeventAction::Move => "move",
            UeventAction::Online => "online",
            UeventAction::Offline => "offline",
            UeventAction::Bind => "bind",
            UeventAction::Unbind => "unbind",
            UeventAction::Other(s) => s,
        }
    }
}

impl Uevent {
    /// Builds the uevent from a `KEY=VALUE\0KEY=VALUE\0…` block. `summary` is the
    /// kernel's `ACTION@DEVPATH` (absent in libudev messages); the pairs win where
    /// both exist. Fields without `=` are skipped (the kernel never sends them;
    /// dropping the whole event would lose a device); of a key sent twice the later
    /// value wins. Bytes that are not UTF-8 become U+FFFD.
    ///
    /// One pass over borrowed text (validated once for the whole block) finds the
    /// typed fields; each string is then copied once, and the map is built from the
    /// pairs at once (one sort of a handful, no tree search per pair).
    fn from_block(summary: Option<(&str, &str)>, block: &[u8]) -> Result<Uevent> {
        let text = String::from_utf8_lossy(block);
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(16);
        let mut typed = Typed::default();
        for field in text.split('\0') {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            if key.is_empty() {
                continue;
            }
            typed.note(key, value);
            pairs.push((key, value));
        }
        let action = typed
            .action
            .or(summary.map(|s| s.0))
            .ok_or(Error::Malformed)?;
        let devpath = typed
            .devpath
            .or(summary.map(|s| s.1))
            .ok_or(Error::Malformed)?;
        if action.is_empty() || !devpath.starts_with('/') {
            return Err(Error::Malformed);
        }
        Ok(Uevent {
            action: UeventAction::parse(action),
            devpath: devpath.to_owned(),
            subsystem: typed.subsystem.unwrap_or_default().to_owned(),
            devtype: typed.devtype.map(str::to_owned),
            devname: typed.devname.map(str::to_owned),
            seqnum: typed.seqnum.and_then(|s| s.parse().ok()),
            env: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        })
    }
}

/// The pairs lifted into [`Uevent`]'s typed fields, as last seen in a block.
#[derive(Default)]
struct Typed<'a> {
    action: Option<&'a str>,
    devpath: Option<&'a str>,
    subsystem: Option<&'a str>,
    devtype: Option<&'a str>,
    devname: Option<&'a str>,
    seqnum: Option<&'a str>,
}

impl<'a> Typed<'a> {
    fn note(&mut self, key: &str, value: &'a str) {
        let slot = match key {
            "ACTION" => &mut self.action,
            "DEVPATH" => &mut self.devpath,
            "SUBSYSTEM" => &mut self.subsystem,
            "DEVTYPE" => &mut self.devtype,
            "DEVNAME" => &mut self.devname,
            "SEQNUM" => &mut self.seqnum,
            _ => return,
        };
        *slot = Some(value);
    }
}

/// Parses a kernel uevent datagram `ACTION@DEVPATH\0KEY=VALUE\0…` with mdevd's checks:
/// the message ends with a NUL and its first field is a summary containing `@/`.
pub fn parse_kernel(buf: &[u8]) -> Result<Uevent> {
    if buf.is_empty() {
        return Err(Error::Truncated);
    }
    if buf.last() != Some(&0) {
        return Err(Error::Malformed);
    }
    let summary_len = buf.iter().position(|&b| b == 0).ok_or(Error::Malformed)?;
    let (summary, rest) = buf.split_at(summary_len);
    let at = summary
        .windows(2)
        .position(|w| w == b"@/")
        .ok_or(Error::Malformed)?;
    let action =
        std::str::from_utf8(summary.get(..at).unwrap_or_default()).map_err(|_| Error::Malformed)?;
    let devpath = std::str::from_utf8(summary.get(at + 1..).unwrap_or_default())
        .map_err(|_| Error::Malformed)?;
    Uevent::from_block(Some((action, devpath)), rest.get(1..).unwrap_or_default())
}

/// Parses a libudev monitor message: `libudev\0`, magic 0xfeedcafe (big-endian),
/// then header_size, properties_off and properties_len (host order), and the
/// properties as `KEY=VALUE\0` at `properties_off`.
pub fn parse_libudev(buf: &[u8]) -> Result<Uevent> {
    if !bytes::has(buf, 0, LIBUDEV_PREFIX) {
        return Err(if buf.len() < LIBUDEV_PREFIX.len() {
            Error::Truncated
        } else {
            Error::Malformed
        });
    }
    if bytes::u32_be(buf, 8)? != LIBUDEV_MAGIC {
        return Err(Error::Malformed);
    }
    let header_size = bytes::u32_ne(buf, 12)? as usize;
    let off = bytes::u32_ne(buf, 16)? as usize;
    let len = bytes::u32_ne(buf, 20)? as usize;
    if header_size < 24 || off < header_size {
        return Err(Error::Malformed);
    }
    let props = bytes::slice(buf, off, len)?;
    Uevent::from_block(None, props)
}

/// Parses either framing, chosen by the `libudev\0` prefix.
pub fn parse(buf: &[u8]) -> Result<Uevent> {
    if buf.starts_with(LIBUDEV_PREFIX) {
        parse_libudev(buf)
    } else {
        parse_kernel(buf)
    }
}

/// The `KEY=VALUE` pairs of `ev` with its typed fields folded in (typed fields win),
/// `ACTION`, `DEVPATH`, `SUBSYSTEM` first as the kernel sends them.
fn pairs(ev: &Uevent) -> Vec<(String, String)> {
    let mut env = ev.env.clone();
    env.insert("ACTION".into(), ev.action.as_str().to_owned());
    env.insert("DEVPATH".into(), ev.devpath.clone());
    if !ev.subsystem.is_empty() {
        env.insert("SUBSYSTEM".into(), ev.subsystem.clone());
    }
    for (key, value) in [("DEVTYPE", &ev.devtype), ("DEVNAME", &ev.devname)] {
        if let Some(v) = value {
            env.insert(key.into(), v.clone());
        }
    }
    if let Some(n) = ev.seqnum {
        env.insert("SEQNUM".into(), n.to_string());
    }
    let mut out = Vec::with_capacity(env.len());
    for key in ["ACTION", "DEVPATH", "SUBSYSTEM"] {
        if let Some(v) = env.remove(key) {
            out.push((key.to_owned(), v));
        }
    }
    out.extend(env);
    out
}

/// Encodes `ev` as a kernel datagram; the inverse of [`parse_kernel`]. NUL bytes inside
/// keys or values cannot be represented and are dropped.
pub fn encode_kernel(ev: &Uevent) -> Vec<u8> {
    let clean = |s: &str| s.bytes().filter(|&b| b != 0).collect::<Vec<u8>>();
    let mut out = Vec::new();
    out.extend(clean(ev.action.as_str()));
    out.push(b'@');
    out.extend(clean(&ev.devpath));
    out.push(0);
    for (k, v) in pairs(ev) {
        out.extend(clean(&k));
        out.push(b'=');
        out.extend(clean(&v));
        out.push(0);
    }
    out
}

/// Encodes `ev` in the libudev monitor framing (as udevd sends it; filter hashes 0).
pub fn encode_libudev(ev: &Uevent) -> Vec<u8> {
    let mut props = Vec::new();
    for (k, v) in pairs(ev) {
        props.extend(k.bytes().filter(|&b| b != 0));
        props.push(b'=');
        props.extend(v.bytes().filter(|&b| b != 0));
        props.push(0);
    }
    let mut out = Vec::with_capacity(LIBUDEV_HEADER_LEN + props.len());
    out.extend_from_slice(LIBUDEV_PREFIX);
    out.extend_from_slice(&LIBUDEV_MAGIC.to_be_bytes());
    let header = LIBUDEV_HEADER_LEN as u32;
    out.extend_from_slice(&header.to_ne_bytes());
    out.extend_from_slice(&header.to_ne_bytes());
    out.extend_from_slice(&(props.len() as u32).to_ne_bytes());
    out.extend_from_slice(&[0u8; 16]);
    out.extend(props);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::fuzz;

    /// Captured from this machine's kernel: `echo change > /sys/class/block/loop0/uevent`.
    static BLOCK_CHANGE: &[u8] = include_bytes!("testdata/ue_block_change_loop0.bin");
    /// Captured: `ip link add nbw0 type veth peer name nbw1` in a namespace.
    static NET_ADD: &[u8] = include_bytes!("testdata/ue_net_add_nbw0.bin");
    static NET_REMOVE: &[u8] = include_bytes!("testdata/ue_net_remove_nbw0.bin");

    #[test]
    fn parse_real_block_change() {
        let ev = parse_kernel(BLOCK_CHANGE).unwrap();
        assert_eq!(ev.action, UeventAction::Change);
        assert_eq!(ev.devpath, "/devices/virtual/block/loop0");
        assert_eq!(ev.subsystem, "block");
        assert_eq!(ev.devtype.as_deref(), Some("disk"));
        assert_eq!(ev.devname.as_deref(), Some("loop0"));
        assert_eq!(ev.seqnum, Some(823));
        assert_eq!(ev.get("MAJOR"), Some("7"));
        assert_eq!(ev.get("DISKSEQ"), Some("1"));
        assert_eq!(ev.get("ACTION"), Some("change"));
        assert_eq!(ev.env.len(), 10);
    }

    #[test]
    fn parse_real_net_events() {
        let add = parse_kernel(NET_ADD).unwrap();
        assert_eq!(add.action, UeventAction::Add);
        assert_eq!(add.subsystem, "net");
        assert_eq!(add.get("INTERFACE"), Some("nbw0"));
        assert_eq!(add.get("IFINDEX"), Some("3"));
        assert_eq!(add.devname, None);
        let rm = parse_kernel(NET_REMOVE).unwrap();
        assert_eq!(rm.action, UeventAction::Remove);
        assert_eq!(rm.devpath, "/devices/virtual/net/nbw0");
    }

    #[test]
    fn round_trip_kernel_and_libudev() {
        for raw in [BLOCK_CHANGE, NET_ADD, NET_REMOVE] {
            let ev = parse_kernel(raw).unwrap();
            let encoded = encode_kernel(&ev);
            assert_eq!(parse_kernel(&encoded).unwrap(), ev);
            assert_eq!(parse(&encoded).unwrap(), ev);
            // Same bytes as the kernel's, up to the order of the pairs.
            assert_eq!(encoded.len(), raw.len());
            let lib = encode_libudev(&ev);
            assert!(lib.starts_with(LIBUDEV_PREFIX));
            assert_eq!(parse_libudev(&lib).unwrap(), ev);
            assert_eq!(parse(&lib).unwrap(), ev);
        }
    }

    #[test]
    fn encode_folds_typed_fields() {
        let ev = Uevent {
            action: UeventAction::Add,
            devpath: "/devices/virtual/block/loop7".into(),
            subsystem: "block".into(),
            devtype: Some("disk".into()),
            devname: Some("loop7".into()),
            seqnum: Some(5),
            env: BTreeMap::new(),
        };
        let bytes = encode_kernel(&ev);
        assert!(bytes.starts_with(b"add@/devices/virtual/block/loop7\0ACTION=add\0DEVPATH="));
        let back = parse_kernel(&bytes).unwrap();
        assert_eq!(back.devname.as_deref(), Some("loop7"));
        assert_eq!(back.seqnum, Some(5));
        assert_eq!(back.get("SUBSYSTEM"), Some("block"));
    }

    #[test]
    fn mdevd_checks() {
        assert_eq!(parse_kernel(b""), Err(Error::Truncated));
        // No trailing NUL.
        assert_eq!(
            parse_kernel(b"add@/devices/x\0ACTION=add"),
            Err(Error::Malformed)
        );
        // No `@/` summary (this is what a libudev or garbage message looks like).
        assert_eq!(
            parse_kernel(b"add/devices/x\0ACTION=add\0"),
            Err(Error::Malformed)
        );
        assert_eq!(parse_kernel(b"\0"), Err(Error::Malformed));
        // Summary alone is enough; the pairs fill the rest.
        let ev = parse_kernel(b"remove@/devices/x\0").unwrap();
        assert_eq!(ev.action, UeventAction::Remove);
        assert_eq!(ev.devpath, "/devices/x");
        assert_eq!(ev.subsystem, "");
        // Unknown actions stay representable.
        let ev = parse_kernel(b"frob@/devices/x\0SEQNUM=notanumber\0").unwrap();
        assert_eq!(ev.action, UeventAction::Other("frob".into()));
        assert_eq!(ev.seqnum, None);
        // A key sent twice: the later value wins (as it did with one insert per
        // pair), and bytes that are not UTF-8 become U+FFFD.
        let ev =
            parse_kernel(b"add@/devices/x\0K=1\0A=\xff\0K=2\0SUBSYSTEM=a\0SUBSYSTEM=b\0").unwrap();
        assert_eq!(ev.get("K"), Some("2"));
        assert_eq!(ev.get("A"), Some("\u{fffd}"));
        assert_eq!(ev.subsystem, "b");
        assert_eq!(ev.env.len(), 3);
    }

    #[test]
    fn libudev_checks() {
        let ev = parse_kernel(BLOCK_CHANGE).unwrap();
        let good = encode_libudev(&ev);
        let mut bad_magic = good.clone();
        bad_magic[8] ^= 1;
        assert_eq!(parse_libudev(&bad_magic), Err(Error::Malformed));
        let mut long = good.clone();
        long[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse_libudev(&long), Err(Error::Truncated));
        assert_eq!(parse_libudev(&good[..30]), Err(Error::Truncated));
        assert_eq!(parse_libudev(b"libude"), Err(Error::Truncated));
        // Properties without ACTION/DEVPATH.
        let mut none = good[..40].to_vec();
        none[20..24].copy_from_slice(&4u32.to_ne_bytes());
        none.extend_from_slice(b"A=1\0");
        assert_eq!(parse_libudev(&none), Err(Error::Malformed));
    }

    #[test]
    fn never_panics() {
        let lib = encode_libudev(&parse_kernel(NET_ADD).unwrap());
        fuzz::no_panic(&[BLOCK_CHANGE, NET_ADD, NET_REMOVE, &lib], 3000, |b| {
            let _ = parse(b);
            let _ = parse_kernel(b);
            let _ = parse_libudev(b);
        });
    }
}
