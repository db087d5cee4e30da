//! One DHCP client process: starting, stopping, and taking its lease.

use super::Nic;
use crate::core::action::{ChildRole, Effect, EffectId, KillSignal};
use crate::core::ctx::{Ctx, Owner};
use crate::core::event::Event;
use crate::core::policy::NetPolicy;
use crate::core::timer::Timer;
use crate::time::Instant;
use std::collections::BTreeMap;

pub(super) struct Client {
    pub(super) index: u32,
    /// The NIC name when the client was started (its logs keep this name).
    pub(super) nic: String,
    pub(super) pid: Option<u32>,
    pub(super) started: Option<Instant>,
    pub(super) leased: Option<String>,
    /// We sent it SIGTERM: its exit is expected and brings no restart.
    pub(super) stopping: bool,
}

pub(super) fn spawn_client(
    cx: &mut Ctx,
    policy: &NetPolicy,
    clients: &mut BTreeMap<EffectId, Client>,
    index: u32,
    nic: &mut Nic,
) {
    let argv = policy
        .dhcp_command
        .iter()
        .map(|arg| arg.replace("{nic}", &nic.name))
        .collect();
    let id = cx.effect(
        Owner::Net,
        Effect::Spawn {
            role: ChildRole::Dhcp {
                nic: nic.name.clone(),
            },
            argv,
        },
    );
    clients.insert(
        id,
        Client {
            index,
            nic: nic.name.clone(),
            pid: None,
            started: None,
            leased: None,
            stopping: false,
        },
    );
    nic.client = Some(id);
}

/// Stop the NIC's client (if any) and everything pending for it.
pub(super) fn stop_client(
    cx: &mut Ctx,
    clients: &mut BTreeMap<EffectId, Client>,
    nic: &mut Nic,
    why: &str,
) {
    cx.cancel_timer(&Timer::DhcpGiveUp(nic.name.clone()));
    cx.cancel_timer(&Timer::DhcpRestart(nic.name.clone()));
    nic.window = None;
    let Some(id) = nic.client.take() else {
        return;
    };
    let pid = match clients.get_mut(&id) {
        Some(client) => {
            client.stopping = true;
            client.pid.unwrap_or(0)
        }
        None => 0,
    };
    // A client whose spawn is not answered yet is killed too: the world runs effects
    // in order, so the kill reaches the child it just started.
    cx.effect(
        Owner::Net,
        Effect::Kill {
            child: id,
            signal: KillSignal::Term,
        },
    );
    cx.log(Event::DhcpStopped {
        nic: nic.name.clone(),
        pid,
        reason: why.into(),
    });
}

pub(super) fn leased(
    cx: &mut Ctx,
    policy: &NetPolicy,
    nic: &mut Nic,
    client: &mut Client,
    address: &str,
) {
    client.leased = Some(address.to_owned());
    nic.window = None;
    nic.backoff = policy.backoff_initial;
    cx.cancel_timer(&Timer::DhcpGiveUp(nic.name.clone()));
    let after_ms = client.started.map_or(0, |at| cx.now.millis_since(at));
    cx.log(Event::DhcpLeased {
        nic: client.nic.clone(),
        address: address.to_owned(),
        after_ms,
    });
}
