//! A link's admin state and carrier, compared with what we knew of it.
//!
//! Carrier comes from the flags (`LinkState::carrier`), except that one the kernel has
//! not confirmed (operstate `unknown`: linkwatch has not run since the driver
//! registered) is held for `carrier_confirm`: a virtio NIC registers with the default
//! carrier on and reads its real link a moment later, and an admin-up in between is
//! reported as carrier.

use super::{Network, Nic};
use crate::core::action::Effect;
use crate::core::ctx::{Ctx, Owner};
use crate::core::event::Event;
use crate::core::input::LinkState;
use crate::core::timer::Timer;

impl Network {
    /// Admin state and carrier, compared with what we knew.
    pub(super) fn apply_flags(&mut self, cx: &mut Ctx, link: &LinkState) {
        let Some(nic) = self.nics.get_mut(&link.index) else {
            return;
        };
        nic.admin_up = link.admin_up();
        if nic.admin_up {
            nic.up_requested = false;
        } else if nic.managed && !nic.up_requested && !self.stopping_all {
            nic.up_requested = true;
            let id = cx.effect(
                Owner::Net,
                Effect::SetLinkUp {
                    index: link.index,
                    nic: nic.name.clone(),
                },
            );
            self.link_ups.insert(id, nic.name.clone());
        }
        // A carrier the kernel has not confirmed is held until it has lasted
        // `carrier_confirm` (timer `CarrierConfirm`); anything else applies at once.
        let reported = link.carrier();
        let hold = reported
            && !nic.carrier
            && link.carrier_unconfirmed()
            && !self.policy.carrier_confirm.is_zero();
        if hold {
            if nic.carrier_pending.is_none() {
                nic.carrier_pending = Some(cx.now);
                if nic.managed {
                    cx.log(Event::NicCarrierUnconfirmed {
                        nic: nic.name.clone(),
                    });
                }
                let at = cx.now + self.policy.carrier_confirm;
                cx.set_timer(Timer::CarrierConfirm(link.index), at);
            }
            return;
        }
        if nic.carrier_pending.take().is_some() {
            cx.cancel_timer(&Timer::CarrierConfirm(link.index));
        }
        set_carrier(cx, nic, reported, None);
    }

    /// The hold is over and nothing contradicted the carrier: it counts.
    pub(super) fn confirm_carrier(&mut self, cx: &mut Ctx, index: u32) {
        if let Some(nic) = self.nics.get_mut(&index)
            && let Some(since) = nic.carrier_pending.take()
        {
            set_carrier(cx, nic, true, Some(cx.now.millis_since(since)));
            self.reconcile(cx, index);
        }
    }
}

/// Record a carrier change; `unconfirmed_ms` says it was accepted after a hold.
fn set_carrier(cx: &mut Ctx, nic: &mut Nic, carrier: bool, unconfirmed_ms: Option<u64>) {
    if carrier == nic.carrier {
        return;
    }
    nic.carrier = carrier;
    if nic.managed {
        cx.log(Event::NicCarrier {
            nic: nic.name.clone(),
            up: carrier,
            unconfirmed_ms,
        });
    }
    if !carrier {
        // A give-up lasts until the carrier goes down and comes back.
        nic.gave_up = false;
    }
}
