//! The reactor's side of the deadlines (issue 9, point 3): a blocking effect that
//! missed its deadline ([`deadline`](super::deadline) says which effects have one and
//! how long), and services that waited `cache.hold_services_max` for the cache.

use super::Reactor;
use super::action::{Effect, EffectId, KillSignal};
use super::ctx::{Note, Owner};
use super::deadline::{Abandon, timed_out};
use super::event::Event;

impl Reactor {
    /// A blocking effect missed its deadline: abandon it in the world first (so the
    /// steps its owner takes next do not queue behind it), then fail it for its
    /// owner with `timed out after …`, as if the world had answered so. Its late
    /// answer, if one ever comes, finds no owner and is ignored.
    pub(super) fn on_effect_deadline(&mut self, id: EffectId) {
        let Some(armed) = self.cx.take_deadline(id) else {
            return; // answered meanwhile
        };
        let Some(owner) = self.cx.owner(id) else {
            return;
        };
        self.cx.log(Event::EffectTimeout {
            effect: armed.effect.into(),
            target: armed.target.clone(),
            after_ms: u64::try_from(armed.after.as_millis()).unwrap_or(u64::MAX),
        });
        let abandon = match armed.abandon {
            Abandon::Kill => Effect::Kill {
                child: id,
                signal: KillSignal::Kill,
            },
            Abandon::Cancel => Effect::Cancel { probe: id },
        };
        self.cx.effect(Owner::Reactor, abandon);
        self.cx.forget(id);
        self.route_done(Some(owner), id, &Err(timed_out(armed.after)));
    }

    /// Services have waited `cache.hold_services_max` since the gate opened: start
    /// them without the cache, and say so.
    pub(super) fn on_cache_hold_over(&mut self) {
        if self.cache.is_settled() || self.shutting_down.is_some() {
            return;
        }
        self.hold_expired = true;
        self.cx.log(Event::CacheHoldExpired {
            state: self.cache.summary(),
            after_ms: self.cache_hold_ms(),
        });
        self.cx.note(Note::CacheSettled);
    }

    pub(super) fn cache_hold_ms(&self) -> u64 {
        u64::try_from(self.hold_services_max.as_millis()).unwrap_or(u64::MAX)
    }
}
