//! A network link as rtnetlink reports it, and the kernel's `IFF_*` flag bits: the
//! parser ([`super::rtnetlink`]) produces these and the core reads them as inputs, so
//! they live here, below both.

use serde::{Deserialize, Serialize};

/// A link as rtnetlink reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkState {
    pub index: u32,
    pub name: String,
    /// `ifi_flags` (`IFF_UP`, `IFF_RUNNING`, `IFF_LOWER_UP`, `IFF_DORMANT`, …).
    pub flags: u32,
    /// `IFLA_INFO_KIND` (`veth`, `bridge`, …); `None` for physical NICs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// `IFLA_OPERSTATE`; `None` when not reported (older traces, hand-written ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operstate: Option<OperState>,
}

/// `IFLA_OPERSTATE` (RFC 2863 `ifOperStatus`), set by the kernel's linkwatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperState {
    /// Not computed yet, or a driver that never reports link state.
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
}

impl OperState {
    /// The kernel's `IF_OPER_*` number; one it does not define reads as `Unknown`.
    pub fn from_kernel(value: u8) -> OperState {
        match value {
            1 => OperState::NotPresent,
            2 => OperState::Down,
            3 => OperState::LowerLayerDown,
            4 => OperState::Testing,
            5 => OperState::Dormant,
            6 => OperState::Up,
            _ => OperState::Unknown,
        }
    }
}

pub const IFF_UP: u32 = 0x1;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_LOWER_UP: u32 = 0x1_0000;
pub const IFF_DORMANT: u32 = 0x2_0000;

impl LinkState {
    /// Carrier = `IFF_LOWER_UP` and `IFF_RUNNING` and not `IFF_DORMANT`.
    pub fn carrier(&self) -> bool {
        self.flags & IFF_LOWER_UP != 0
            && self.flags & IFF_RUNNING != 0
            && self.flags & IFF_DORMANT == 0
    }
    /// The flags say carrier but the kernel has not computed the operational state:
    /// the flags may still show the carrier a driver starts with before it has read
    /// its PHY (virtio-net right after registration), so the carrier needs confirming.
    pub fn carrier_unconfirmed(&self) -> bool {
        self.carrier() && self.operstate == Some(OperState::Unknown)
    }
    pub fn admin_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }
    pub fn loopback(&self) -> bool {
        self.flags & IFF_LOOPBACK != 0
    }
}
