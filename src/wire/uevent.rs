//! Kernel uevents: `ACTION@DEVPATH\0KEY=VALUE\0…` datagrams from NETLINK_KOBJECT_UEVENT
//! group 1, the `libudev` monitor framing (`libudev\0` header), and the text printed by
//! `udevadm monitor --kernel --property`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
