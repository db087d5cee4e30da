//! NICs (BRIEF §2): admin-up, carrier from flags, one supervised DHCP client per NIC
//! with carrier, give-up, lease detection, capped restart backoff.
//!
//! Link messages are level-triggered hints: every `on_link` compares the reported
//! state with the last one known and acts on the difference, so a lost or coalesced
//! flap never leaves a client running on a dead link or missing on a live one.
//!
//! Each NIC wants a client exactly when it is managed, has carrier, has not given up
//! since its carrier last came up, and the node is not shutting down
//! ([`Nic::wants_client`]); [`Network::reconcile`] makes it so. Clients we stop are kept
//! in `clients` until their exit is seen, so a fresh client can start at once (carrier
//! back, rename) while the old one is still dying.

mod client;
#[cfg(test)]
pub(crate) mod harness;
mod lease;
mod link;
mod select;
#[cfg(test)]
mod tests;

use super::action::{Effect, EffectId, KillSignal};
use super::ctx::{Ctx, Note, Owner};
use super::event::Event;
use super::input::{EffectOutput, EffectResult, ExitStatus, LinkState, Stream};
use super::policy::NetPolicy;
use super::timer::Timer;
use crate::time::{Duration, Instant};
use client::{Client, leased, spawn_client, stop_client};
use std::collections::{BTreeMap, BTreeSet};

/// Floor of every restart delay, so that a zero backoff in a policy cannot make a
/// client that dies at once restart in a tight loop.
const MIN_RESTART_DELAY: Duration = Duration::from_millis(100);

pub struct Network {
    policy: NetPolicy,
    /// Every link seen, by ifindex (managed or not).
    nics: BTreeMap<u32, Nic>,
    /// Every DHCP client whose exit has not been seen, by its `Spawn` id.
    clients: BTreeMap<EffectId, Client>,
    /// `SetLinkUp` requests in flight, to name the NIC if one fails.
    link_ups: BTreeMap<EffectId, String>,
    /// Shutdown: no client starts or restarts any more.
    stopping_all: bool,
}

struct Nic {
    name: String,
    managed: bool,
    reason: String,
    admin_up: bool,
    carrier: bool,
    /// Since when the flags have shown a carrier the kernel has not confirmed
    /// (operstate unknown); `carrier` stays false until `carrier_confirm` has passed.
    carrier_pending: Option<Instant>,
    /// We asked for admin-up and have not seen the link up since.
    up_requested: bool,
    /// IPv4 addresses currently on the link.
    addresses: BTreeSet<String>,
    /// The client that is supposed to run (not one we are stopping).
    client: Option<EffectId>,
    /// When the current no-lease period began: the first client start since carrier
    /// came up or since the last lease. Restarts after a crash do not reset it, so a
    /// client that keeps dying without a lease is still given up in time.
    window: Option<Instant>,
    /// The next restart delay (doubles per restart, reset by a lease).
    backoff: Duration,
    /// Given up since the carrier last came up: no client until it goes down and up.
    gave_up: bool,
}

impl Nic {
    fn wants_client(&self, stopping_all: bool) -> bool {
        !stopping_all && self.managed && self.carrier && !self.gave_up
    }
}

impl Network {
    pub fn new(policy: NetPolicy) -> Network {
        Network {
            policy,
            nics: BTreeMap::new(),
            clients: BTreeMap::new(),
            link_ups: BTreeMap::new(),
            stopping_all: false,
        }
    }

    /// Links arrive through `on_link` (the world dumps them at start); nothing to do yet.
    pub fn on_start(&mut self, _cx: &mut Ctx) {}

    pub fn on_link(&mut self, cx: &mut Ctx, link: &LinkState) {
        let (managed, reason) = select::judge(&self.policy, link);
        match self.nics.get_mut(&link.index) {
            None => {
                cx.log(Event::NicSeen {
                    nic: link.name.clone(),
                    index: link.index,
                    managed,
                    reason: reason.clone(),
                });
                let nic = Nic {
                    name: link.name.clone(),
                    managed,
                    reason,
                    admin_up: false,
                    carrier: false,
                    carrier_pending: None,
                    up_requested: false,
                    addresses: BTreeSet::new(),
                    client: None,
                    window: None,
                    backoff: self.policy.backoff_initial,
                    gave_up: false,
                };
                self.nics.insert(link.index, nic);
            }
            Some(nic) if nic.name != link.name => {
                cx.log(Event::NicRenamed {
                    from: nic.name.clone(),
                    to: link.name.clone(),
                });
                // The old client was started for the old name: stop it, and let
                // `reconcile` start a fresh one under the new name if still wanted.
                stop_client(cx, &mut self.clients, nic, "renamed");
                nic.name = link.name.clone();
                if nic.managed != managed {
                    cx.log(Event::NicSeen {
                        nic: link.name.clone(),
                        index: link.index,
                        managed,
                        reason: reason.clone(),
                    });
                }
                nic.managed = managed;
                nic.reason = reason;
            }
            Some(_) => {}
        }
        self.apply_flags(cx, link);
        self.reconcile(cx, link.index);
    }

    /// The index decides (a link renamed just before removal is still ours).
    pub fn on_link_removed(&mut self, cx: &mut Ctx, index: u32, _name: &str) {
        let Some(mut nic) = self.nics.remove(&index) else {
            return;
        };
        stop_client(cx, &mut self.clients, &mut nic, "removed");
        cx.cancel_timer(&Timer::CarrierConfirm(index));
        cx.log(Event::NicRemoved { nic: nic.name });
    }

    pub fn on_address(&mut self, cx: &mut Ctx, index: u32, address: &str, added: bool) {
        let Some(nic) = self.nics.get_mut(&index) else {
            return;
        };
        if !added {
            nic.addresses.remove(address);
            return;
        }
        nic.addresses.insert(address.to_owned());
        if nic.managed {
            // What is reachable may have changed (the gate tries again at once).
            cx.note(Note::NetworkChanged);
        }
        if let Some(id) = nic.client
            && let Some(client) = self.clients.get_mut(&id)
            && client.leased.is_none()
        {
            leased(cx, &self.policy, nic, client, address);
        }
    }

    pub fn on_done(&mut self, cx: &mut Ctx, id: EffectId, result: &EffectResult) {
        if let Some(nic) = self.link_ups.remove(&id) {
            if let Err(error) = result {
                cx.log(Event::EffectFailed {
                    effect: format!("set_link_up {nic}"),
                    error: error.message.clone(),
                });
            }
            return;
        }
        // Anything else that is not a client is a `Kill`; a failed kill means the
        // child is already gone, and its exit will say so.
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        match result {
            Ok(EffectOutput::Spawned { pid }) => {
                client.pid = Some(*pid);
                client.started = Some(cx.now);
                cx.log(Event::DhcpStarted {
                    nic: client.nic.clone(),
                    pid: *pid,
                });
                let Some(nic) = self.nics.get_mut(&client.index) else {
                    return;
                };
                if nic.client == Some(id) && nic.window.is_none() {
                    nic.window = Some(cx.now);
                    cx.set_timer(
                        Timer::DhcpGiveUp(nic.name.clone()),
                        cx.now + self.policy.give_up,
                    );
                }
            }
            Ok(_) => {} // a spawn is only ever answered with `Spawned`
            Err(error) => {
                cx.log(Event::EffectFailed {
                    effect: format!("spawn dhcp:{}", client.nic),
                    error: error.message.clone(),
                });
                let index = client.index;
                self.clients.remove(&id);
                self.lost_client(cx, index, id);
            }
        }
    }

    pub fn on_child_exited(&mut self, cx: &mut Ctx, id: EffectId, status: ExitStatus) {
        let Some(client) = self.clients.remove(&id) else {
            return;
        };
        cx.log(Event::DhcpExited {
            nic: client.nic.clone(),
            pid: client.pid.unwrap_or(0),
            status: status.to_string(),
        });
        self.lost_client(cx, client.index, id);
    }

    pub fn on_child_output(&mut self, cx: &mut Ctx, id: EffectId, stream: Stream, line: &str) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        cx.log(Event::ChildOutput {
            child: format!("dhcp:{}", client.nic),
            stream: stream_name(stream).into(),
            line: line.to_owned(),
        });
        // udhcpc says `lease of A.B.C.D obtained …` before its script sets the address;
        // accept it as the lease when no address event came first (a world or trace
        // without address events still sees leases).
        if client.leased.is_some() || client.stopping {
            return;
        }
        let Some(address) = lease::from_output_line(line) else {
            return;
        };
        if let Some(nic) = self.nics.get_mut(&client.index)
            && nic.client == Some(id)
        {
            leased(cx, &self.policy, nic, client, &address);
            // The address itself is still on its way (the client's script): its own
            // `on_address` will say so again; the gate may try now.
            cx.note(Note::NetworkChanged);
        }
    }

    pub fn on_timer(&mut self, cx: &mut Ctx, timer: &Timer) {
        match timer {
            Timer::CarrierConfirm(index) => self.confirm_carrier(cx, *index),
            Timer::DhcpGiveUp(name) => self.give_up(cx, name),
            Timer::DhcpRestart(name) => {
                if let Some(index) = self.index_of(name) {
                    self.reconcile(cx, index);
                }
            }
            _ => {}
        }
    }

    /// Stop every client (shutdown); nothing restarts after this.
    pub fn stop_all(&mut self, cx: &mut Ctx) {
        self.stopping_all = true;
        for nic in self.nics.values_mut() {
            stop_client(cx, &mut self.clients, nic, "shutdown");
        }
    }

    /// Clients whose exit has not been seen yet (stopping ones included).
    pub fn live_children(&self) -> usize {
        self.clients.len()
    }

    pub fn summary(&self) -> Vec<String> {
        self.nics
            .iter()
            .map(|(index, nic)| self.describe(*index, nic))
            .collect()
    }

    fn describe(&self, index: u32, nic: &Nic) -> String {
        let head = format!("{} (#{index})", nic.name);
        if !nic.managed {
            return format!("{head}: unmanaged ({})", nic.reason);
        }
        let carrier = match (nic.carrier, nic.carrier_pending) {
            (true, _) => "up",
            (false, Some(_)) => "unconfirmed",
            (false, None) => "down",
        };
        let client = match nic.client.and_then(|id| self.clients.get(&id)) {
            Some(c) => match (&c.leased, c.pid) {
                (Some(address), Some(pid)) => format!("dhcp leased {address} (pid {pid})"),
                (None, Some(pid)) => format!("dhcp waiting for a lease (pid {pid})"),
                _ => "dhcp starting".to_owned(),
            },
            None if nic.gave_up => "dhcp gave up".to_owned(),
            None if nic.carrier => "dhcp restarting".to_owned(),
            None => "no dhcp client".to_owned(),
        };
        let addresses: Vec<&str> = nic.addresses.iter().map(String::as_str).collect();
        format!(
            "{head}: carrier {carrier}, {client}, addresses [{}]",
            addresses.join(", ")
        )
    }

    /// Make the NIC's client match what it wants: start one, or stop the one it has.
    fn reconcile(&mut self, cx: &mut Ctx, index: u32) {
        let Some(nic) = self.nics.get_mut(&index) else {
            return;
        };
        let restart_armed = cx.timers.is_armed(&Timer::DhcpRestart(nic.name.clone()));
        if nic.wants_client(self.stopping_all) {
            if nic.client.is_none() && !restart_armed {
                spawn_client(cx, &self.policy, &mut self.clients, index, nic);
            }
        } else if nic.client.is_some() || restart_armed {
            let reason = if self.stopping_all {
                "shutdown"
            } else if !nic.managed {
                "not managed"
            } else {
                "carrier lost"
            };
            stop_client(cx, &mut self.clients, nic, reason);
        }
    }

    /// The NIC's client `id` is gone (exited, or its spawn failed). If it was the
    /// current one, it died on its own: restart it after the backoff.
    fn lost_client(&mut self, cx: &mut Ctx, index: u32, id: EffectId) {
        let Some(nic) = self.nics.get_mut(&index) else {
            return;
        };
        if nic.client != Some(id) {
            return; // one we stopped
        }
        nic.client = None;
        if !nic.wants_client(self.stopping_all) {
            return;
        }
        let delay = nic.backoff.max(MIN_RESTART_DELAY);
        nic.backoff = (delay.saturating_mul(2)).min(self.policy.backoff_max);
        cx.log(Event::DhcpRestarting {
            nic: nic.name.clone(),
            backoff_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        });
        cx.set_timer(Timer::DhcpRestart(nic.name.clone()), cx.now + delay);
    }

    fn give_up(&mut self, cx: &mut Ctx, name: &str) {
        let Some(index) = self.index_of(name) else {
            return;
        };
        let Some(nic) = self.nics.get_mut(&index) else {
            return;
        };
        let Some(window) = nic.window.take() else {
            return; // leased or stopped meanwhile
        };
        nic.gave_up = true;
        cx.cancel_timer(&Timer::DhcpRestart(nic.name.clone()));
        if let Some(id) = nic.client.take() {
            if let Some(client) = self.clients.get_mut(&id) {
                client.stopping = true;
            }
            cx.effect(
                Owner::Net,
                Effect::Kill {
                    child: id,
                    signal: KillSignal::Term,
                },
            );
        }
        cx.log(Event::DhcpGaveUp {
            nic: nic.name.clone(),
            after_ms: cx.now.millis_since(window),
        });
    }

    fn index_of(&self, name: &str) -> Option<u32> {
        self.nics
            .iter()
            .find(|(_, nic)| nic.name == name)
            .map(|(index, _)| *index)
    }
}

pub(crate) fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}
