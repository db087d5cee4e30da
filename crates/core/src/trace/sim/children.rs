//! The simulated children (DHCP clients, services), reachability targets and links.

use super::{DEFAULT_ADDRESS, Sim, SimChild};
use crate::core::action::{ChildRole, EffectId, KillSignal};
use crate::core::input::{EffectError, EffectOutput, EffectResult, ExitStatus, Input};
use crate::core::policy::glob_match;
use crate::time::{Duration, Instant};
use crate::trace::world::{ChildSpec, TargetSpec};
use std::collections::BTreeMap;

impl Sim {
    pub(super) fn spawn(&mut self, now: Instant, id: EffectId, role: &ChildRole, name: &str) {
        let (key, spec) = match role {
            ChildRole::Dhcp { nic } => (format!("dhcp:{nic}"), lookup(&self.spec.dhcp, nic)),
            ChildRole::Service { service } => (
                format!("service:{service}"),
                lookup(&self.spec.services, service),
            ),
        };
        let n = self.spawns.entry(key).or_insert(0);
        let run = spec.run(*n);
        *n += 1;
        let at = now + self.latency(name);
        if let Some(err) = run.spawn_error {
            self.schedule(
                at,
                Input::EffectDone {
                    id,
                    result: Err(EffectError::other(err)),
                },
                None,
                None,
            );
            return;
        }
        self.next_pid += 1;
        let pid = self.next_pid;
        self.children.insert(id, SimChild { alive: true });
        self.schedule(
            at,
            Input::EffectDone {
                id,
                result: Ok(EffectOutput::Spawned { pid }),
            },
            None,
            None,
        );
        if let (ChildRole::Dhcp { nic }, Some(after)) = (role, run.lease_after_ms) {
            let index = self.links.get(nic).map_or(0, |l| l.index);
            let address = run.address.unwrap_or_else(|| DEFAULT_ADDRESS.into());
            self.schedule(
                at + Duration::from_millis(after),
                Input::Address {
                    index,
                    address,
                    added: true,
                },
                Some(id),
                None,
            );
        }
        if let Some(after) = run.exit_after_ms {
            let status = match run.signal {
                Some(s) => ExitStatus::Signal(s),
                None => ExitStatus::Code(run.code.unwrap_or(1)),
            };
            self.schedule(
                at + Duration::from_millis(after),
                Input::ChildExited { id, status },
                None,
                None,
            );
        }
    }

    pub(super) fn kill(&mut self, at: Instant, child: EffectId, signal: KillSignal) {
        if !self.children.get(&child).is_some_and(|c| c.alive) {
            return;
        }
        let signo = match signal {
            KillSignal::Term => 15,
            KillSignal::Kill => 9,
        };
        self.schedule(
            at,
            Input::ChildExited {
                id: child,
                status: ExitStatus::Signal(signo),
            },
            None,
            None,
        );
    }

    /// `None`: the connect hangs.
    pub(super) fn connect(&self, now: Instant, target: &str) -> Option<EffectResult> {
        let spec: TargetSpec = self
            .spec
            .targets
            .get(target)
            .or_else(|| {
                self.spec
                    .targets
                    .iter()
                    .find(|(pat, _)| glob_match(pat, target))
                    .map(|(_, t)| t)
            })
            .cloned()
            .unwrap_or_default();
        if spec.hang {
            return None;
        }
        let reachable = spec
            .reachable_after_ms
            .is_some_and(|t| now >= Instant::from_millis(t));
        Some(if reachable {
            Ok(EffectOutput::Done)
        } else {
            Err(EffectError::other(spec.error.unwrap_or_else(|| {
                format!("connect {target}: connection refused")
            })))
        })
    }

    pub(super) fn link_up(&mut self, at: Instant, nic: &str) {
        if let Some(link) = self.links.get(nic) {
            let mut link = link.clone();
            if !link.admin_up() {
                link.flags |= crate::core::input::IFF_UP;
                self.schedule(at, Input::Link { link }, None, None);
            }
        }
    }
}

fn lookup(map: &BTreeMap<String, ChildSpec>, name: &str) -> ChildSpec {
    map.get(name)
        .or_else(|| {
            map.iter()
                .find(|(pat, _)| glob_match(pat, name))
                .map(|(_, s)| s)
        })
        .cloned()
        .unwrap_or_default()
}
