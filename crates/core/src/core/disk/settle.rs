//! Settling and the decision: a labelled filesystem as soon as every known disk is
//! probed; else wait for the facts (coldplug done, driver loads ended, probes done)
//! and a short quiet period (bounded), then choose once: a labelled filesystem, else
//! our interrupted prepare, else the first unused SSD, else the first unused rotary
//! disk, else no cache.

use super::prepare::{Prepare, Progress, Step};
use super::verdict::Judgement;
use super::{Cache, Device, Phase, partition_one};
use crate::core::ctx::{Ctx, Note};
use crate::core::event::{Event, Verdict};
use crate::core::timer::Timer;

impl Cache {
    pub(super) fn begin_settling(&mut self, cx: &mut Ctx) {
        self.phase = Phase::Settling { since: cx.now };
        cx.set_timer(Timer::SettleQuiet, cx.now + self.quiet());
        cx.set_timer(Timer::SettleDeadline, cx.now + self.policy.settle_max);
    }

    /// The quiet period after the last fact: short once a driver load was seen (its
    /// end is a fact; measured in docs/rules.md), the longer `settle_quiet` when
    /// coldplug loaded nothing and only time says the built-in drivers are done.
    fn quiet(&self) -> std::time::Duration {
        if self.drivers_seen {
            self.policy.settle_after_facts
        } else {
            self.policy.settle_quiet
        }
    }

    /// A fact changed (a new block device, a driver load ended): the quiet period
    /// starts again, while settling.
    pub(super) fn restart_quiet(&mut self, cx: &mut Ctx) {
        if let Phase::Settling { .. } = self.phase {
            cx.set_timer(Timer::SettleQuiet, cx.now + self.quiet());
        }
    }

    /// Reuse at once: before coldplug ends or during the quiet period, a labelled
    /// filesystem is mounted as soon as every disk known so far is probed. The choice
    /// among several known then is the documented order (devpath), never probe order.
    pub(super) fn maybe_reuse(&mut self, cx: &mut Ctx) {
        if !self.labelled_seen
            || !matches!(self.phase, Phase::Scanning | Phase::Settling { .. })
            || self.devices.probes_outstanding()
        {
            return;
        }
        let labelled = self.devices.iter().any(|(n, d)| {
            d.parent.is_none() && self.judge(n).is_some_and(|j| j.labelled.is_some())
        });
        // The labelled disk may have gone since: look again only after a new one.
        self.labelled_seen = labelled;
        if labelled && self.all_known_probed() {
            self.decide(cx, "labelled");
        }
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
        // Before coldplug ended (a labelled filesystem reused at once): 0 ms after it.
        let since = match self.phase {
            Phase::Settling { since } => since,
            Phase::Scanning => cx.now,
            _ => return,
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
        // Two labelled filesystems: the first (by devpath) is used, each other one is a
        // warning naming both, and is never mounted.
        let mut labelled = judged.iter().filter_map(|(_, _, j)| j.labelled.as_deref());
        if let Some(first) = labelled.next() {
            for other in labelled {
                self.warned.insert(other.to_owned());
                cx.log(Event::CacheDuplicate {
                    device: other.to_owned(),
                    other: first.to_owned(),
                });
            }
        }
        let marked = judged
            .iter()
            .find(|(_, _, j)| j.marked && !j.interrupted && j.labelled.is_none());
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
            } else if let Some((disk, _, j)) = marked {
                // Our marker on a disk we cannot finish: fail loudly rather than prepare
                // a second disk and leave the first one orphaned.
                let (disk, reason) = ((*disk).to_owned(), j.reason.clone());
                self.mark_decided(&judged_names(&judged));
                return self.fail_marked(cx, &disk, &reason);
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
        let seen = judged_names(&judged);
        self.mark_decided(&seen);
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

    fn mark_decided(&mut self, names: &[String]) {
        for name in names {
            if let Some(d) = self.devices.get_mut(name) {
                d.decided_on = true;
            }
        }
    }

    /// `cache.failed step=resume`: a disk bearing nodeboot's marker that is not
    /// exactly our layout, or holds something other than an unfinished mkfs.
    fn fail_marked(&mut self, cx: &mut Ctx, disk: &str, reason: &str) {
        cx.log(Event::CacheFailed {
            device: disk.to_owned(),
            step: "resume".into(),
            error: format!(
                "{reason}; a disk bearing nodeboot's partition type is never passed over for another"
            ),
        });
        self.phase = Phase::Failed {
            device: disk.to_owned(),
            step: "resume".into(),
        };
        self.note_settled(cx);
    }

    /// A labelled filesystem appeared on `disk` after a failed prepare or after
    /// `cache.none`... or while another one is in use: mount it only when no cache is
    /// mounted or being prepared; otherwise it is a duplicate, named once.
    pub(super) fn on_labelled_later(&mut self, cx: &mut Ctx, disk: &str, device: &str) {
        match &self.phase {
            Phase::Failed { .. } => {
                cx.log(Event::CacheFound {
                    device: device.to_owned(),
                });
                self.mark_decided(&[disk.to_owned()]);
                let mut prepare = Prepare::new(disk, device, Step::MountPool);
                prepare.start(cx, &self.policy);
                self.phase = Phase::Active(prepare);
            }
            Phase::Active(p) if p.disk != disk => {
                let other = p.device.clone();
                if self.warned.insert(device.to_owned()) {
                    cx.log(Event::CacheDuplicate {
                        device: device.to_owned(),
                        other,
                    });
                }
            }
            _ => {}
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

fn judged_names(judged: &[(&str, &Device, Judgement)]) -> Vec<String> {
    judged.iter().map(|(n, _, _)| (*n).to_owned()).collect()
}
