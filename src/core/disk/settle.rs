//! Settling and the decision: wait for coldplug and a quiet period (bounded), then
//! choose once: a labelled filesystem, else our interrupted prepare, else the first
//! unused SSD, else the first unused rotary disk, else no cache.

use super::prepare::{Prepare, Progress, Step};
use super::verdict::Judgement;
use super::{Cache, Device, Phase, partition_one};
use crate::core::ctx::{Ctx, Note};
use crate::core::event::{Event, Verdict};
use crate::core::timer::Timer;

impl Cache {
    pub(super) fn begin_settling(&mut self, cx: &mut Ctx) {
        self.phase = Phase::Settling { since: cx.now };
        cx.set_timer(Timer::SettleQuiet, cx.now + self.policy.settle_quiet);
        cx.set_timer(Timer::SettleDeadline, cx.now + self.policy.settle_max);
    }

    /// Decide if settling, the quiet period is over and no probe is outstanding.
    pub(super) fn maybe_decide(&mut self, cx: &mut Ctx) {
        if matches!(self.phase, Phase::Settling { .. })
            && !cx.timers.is_armed(&Timer::SettleQuiet)
            && !self.probes_outstanding()
        {
            self.decide(cx, "quiet");
        }
    }

    pub(super) fn decide(&mut self, cx: &mut Ctx, why: &str) {
        let Phase::Settling { since } = self.phase else {
            return;
        };
        cx.cancel_timer(&Timer::SettleQuiet);
        cx.cancel_timer(&Timer::SettleDeadline);
        let mut judged: Vec<(&str, &Device, Judgement)> = self
            .devices
            .iter()
            .filter(|(_, d)| d.parent.is_none())
            .filter_map(|(n, d)| self.judge(n).map(|j| (n.as_str(), d, j)))
            .collect();
        judged.sort_by(|a, b| (&a.1.devpath, a.0).cmp(&(&b.1.devpath, b.0)));
        let candidates = judged
            .iter()
            .filter(|(_, _, j)| matches!(j.verdict, Verdict::Cache | Verdict::Unused))
            .count();
        cx.log(Event::CacheSettled {
            candidates,
            after_ms: cx.now.millis_since(since),
            reason: why.into(),
        });
        let unused = |ssd: bool| {
            judged.iter().find(|(_, d, j)| {
                j.verdict == Verdict::Unused
                    && d.probe.as_ref().is_some_and(|p| p.rotational != ssd)
            })
        };
        let prepare =
            if let Some((disk, _, j)) = judged.iter().find(|(_, _, j)| j.labelled.is_some()) {
                let device = j.labelled.clone().unwrap_or_default();
                cx.log(Event::CacheFound {
                    device: device.clone(),
                });
                Some(Prepare::new(disk, &device, Step::MountPool))
            } else if let Some((disk, _, _)) = judged.iter().find(|(_, _, j)| j.interrupted) {
                let (from, device) = match partition_one(&self.devices, disk) {
                    Some(part) => (Step::Mkfs, part.name.to_owned()),
                    None => (Step::AddPartition, (*disk).to_owned()),
                };
                cx.log(Event::CacheResumed {
                    disk: (*disk).to_owned(),
                    from_step: from.name().into(),
                });
                Some(Prepare::new(disk, &device, from))
            } else if let Some((disk, d, _)) = unused(true).or_else(|| unused(false)) {
                let ssd = d.probe.as_ref().is_some_and(|p| !p.rotational);
                cx.log(Event::CacheSelected {
                    disk: (*disk).to_owned(),
                    kind: if ssd { "ssd" } else { "hdd" }.into(),
                });
                Some(Prepare::new(disk, disk, Step::Partition))
            } else {
                None
            };
        let seen: Vec<String> = judged.iter().map(|(n, _, _)| (*n).to_owned()).collect();
        for name in seen {
            if let Some(d) = self.devices.get_mut(&name) {
                d.decided_on = true;
            }
        }
        match prepare {
            Some(mut prepare) => {
                prepare.start(cx, &self.policy);
                self.phase = Phase::Active(prepare);
            }
            None => {
                let eligible = self
                    .devices
                    .values()
                    .any(|d| d.parent.is_none() && d.excluded.is_none());
                let reason = if self.devices.values().all(|d| d.parent.is_some()) {
                    "no disk"
                } else if !eligible {
                    "no eligible disk"
                } else {
                    "no unused disk"
                };
                cx.log(Event::CacheNone {
                    reason: reason.into(),
                });
                self.phase = Phase::None {
                    reason: reason.into(),
                };
                self.note_settled(cx);
            }
        }
    }

    pub(super) fn on_progress(&mut self, cx: &mut Ctx, progress: Progress) {
        match progress {
            Progress::Working => {}
            Progress::Ready => self.note_settled(cx),
            Progress::Failed => {
                if let Phase::Active(p) = &self.phase {
                    self.phase = Phase::Failed {
                        device: p.device.clone(),
                        step: p.failed_step().unwrap_or(p.step).name().into(),
                    };
                }
                self.note_settled(cx);
            }
        }
    }

    pub(super) fn note_settled(&mut self, cx: &mut Ctx) {
        if !self.noted {
            self.noted = true;
            cx.note(Note::CacheSettled);
        }
    }
}
