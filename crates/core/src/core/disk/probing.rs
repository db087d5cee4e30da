//! Probing the cache's candidates and judging them: each block device is probed once
//! it is announced (read-only, `Effect::ProbeDisk`), a disk's verdict comes from its own
//! probe and its partitions' ([`super::verdict`]), and the decision may only be taken
//! once every disk known so far is judged.

use super::*;

impl Cache {
    pub(super) fn probe(&mut self, cx: &mut Ctx, name: &str) {
        if self.devices.contains(name) {
            let id = cx.effect(
                Owner::Cache,
                Effect::ProbeDisk {
                    device: name.to_owned(),
                },
            );
            self.devices.start_probe(name, id);
        }
    }

    pub(super) fn on_probed(&mut self, cx: &mut Ctx, name: &str, result: &EffectResult) {
        let (probe, error) = match result {
            Ok(EffectOutput::Disk { probe }) => (probe.clone(), None),
            // A device we could not look at is a device we must not touch.
            other => (
                DiskProbe {
                    unreadable: true,
                    ..DiskProbe::default()
                },
                Some(
                    other
                        .as_ref()
                        .err()
                        .map(|e| e.message.clone())
                        .unwrap_or_default(),
                ),
            ),
        };
        if let Some(dev) = self.devices.get_mut(name) {
            dev.probe = Some(probe);
            dev.probe_error = error;
        }
        let Some(disk) = self.disk_of(name) else {
            return;
        };
        let judged = self.judge(&disk);
        if judged.as_ref().is_some_and(|j| j.labelled.is_some()) {
            self.labelled_seen = true;
        }
        let ours = matches!(&self.phase, Phase::Active(p) if p.disk == disk);
        if let (Some(j), false) = (&judged, ours) {
            // The disk we prepare changes under our own writes; its verdict stands.
            self.log_seen(cx, &disk, j);
        }
        match &mut self.phase {
            Phase::Active(prepare) if prepare.disk == disk => {
                let partition = partition_one(&self.devices, &disk);
                let progress = prepare.on_partition(cx, &self.policy, partition);
                self.on_progress(cx, progress);
            }
            Phase::None { .. } => {
                // A disk plugged (or answered) after `cache.none` reopens the question;
                // a disk the decision already saw does not, whatever it turns into.
                let fresh = self.devices.get(&disk).is_some_and(|d| !d.decided_on);
                let wanted = judged
                    .as_ref()
                    .is_some_and(|j| matches!(j.verdict, Verdict::Cache | Verdict::Unused));
                if fresh && wanted {
                    self.begin_settling(cx);
                    self.maybe_reuse(cx);
                }
            }
            Phase::Settling { .. } | Phase::Scanning => {
                self.maybe_reuse(cx);
                self.maybe_decide(cx);
            }
            Phase::Failed { .. } | Phase::Active(_) => {
                let fresh = self.devices.get(&disk).is_some_and(|d| !d.decided_on);
                if let (true, Some(device)) = (fresh, judged.and_then(|j| j.labelled)) {
                    self.on_labelled_later(cx, &disk, &device);
                }
            }
        }
    }

    /// `disk.seen` for `disk` when its verdict is new, and for the partition holding
    /// our label too (operators look for the device that will be mounted).
    pub(super) fn log_seen(&mut self, cx: &mut Ctx, disk: &str, j: &Judgement) {
        self.log_seen_device(cx, disk, j.verdict, &j.reason);
        if let Some(part) = j.labelled.as_deref().filter(|p| *p != disk) {
            let reason = format!("label {}", self.policy.label);
            self.log_seen_device(cx, part, Verdict::Cache, &reason);
        }
    }

    pub(super) fn log_seen_device(
        &mut self,
        cx: &mut Ctx,
        name: &str,
        verdict: Verdict,
        reason: &str,
    ) {
        let Some(dev) = self.devices.get_mut(name) else {
            return;
        };
        if dev.logged == Some(verdict) {
            return;
        }
        dev.logged = Some(verdict);
        let probe = dev.probe.clone().unwrap_or_default();
        cx.log(Event::DiskSeen {
            disk: name.to_owned(),
            rotational: probe.rotational,
            size_bytes: probe.size_bytes,
            verdict,
            reason: reason.to_owned(),
        });
    }

    /// The verdict on `disk`, once it and every known partition of it are probed.
    pub(super) fn judge(&self, disk: &str) -> Option<Judgement> {
        let dev = self.devices.get(disk)?;
        if dev.excluded.is_some() || dev.probing.is_some() {
            return None;
        }
        let probe = dev.probe.as_ref()?;
        let mut parts = Vec::new();
        for (name, p) in self.devices.partitions_of(disk) {
            if p.probing.is_some() {
                return None;
            }
            parts.push(PartView {
                name,
                probe: p.probe.as_ref()?,
            });
        }
        let mut judged = verdict::judge(&self.policy.label, disk, probe, &parts);
        // A probe that failed (a dying disk timing out) makes the disk in use; the
        // reason names the failure rather than just "unreadable".
        // Looked for only when it matters: a disk's partitions are walked again.
        let failed = || {
            std::iter::once((disk, dev))
                .chain(self.devices.partitions_of(disk))
                .find_map(|(name, d)| d.probe_error.as_ref().map(|e| (name, e)))
        };
        if judged.verdict == Verdict::InUse
            && let Some((name, error)) = failed()
            && !error.is_empty()
        {
            judged.reason = if name == disk {
                format!("unreadable: {error}")
            } else {
                format!("unreadable: {name}: {error}")
            };
        }
        Some(judged)
    }

    pub(super) fn partitions_of(&self, disk: &str) -> Vec<String> {
        self.devices
            .partitions_of(disk)
            .map(|(n, _)| n.to_owned())
            .collect()
    }

    /// The whole disk `name` is (or belongs to), if known.
    pub(super) fn disk_of(&self, name: &str) -> Option<String> {
        let dev = self.devices.get(name)?;
        Some(dev.parent.clone().unwrap_or_else(|| name.to_owned()))
    }

    pub(super) fn eligible_disk(&self, disk: &str) -> bool {
        self.devices
            .get(disk)
            .is_some_and(|d| d.parent.is_none() && d.excluded.is_none())
    }

    pub(super) fn probes_outstanding(&self) -> bool {
        self.devices.probes_outstanding() || self.drivers_loading > 0
    }

    /// Every known eligible disk is judged (it and its partitions probed) and has as
    /// many partitions announced as its table lists: nothing known could still turn
    /// out to hold a labelled filesystem earlier in the documented order.
    pub(super) fn all_known_probed(&self) -> bool {
        !self.devices.probes_outstanding()
            && self
                .devices
                .iter()
                .filter(|(_, d)| d.parent.is_none() && d.excluded.is_none())
                .all(|(n, d)| {
                    let listed = d.probe.as_ref().map_or(0, |p| p.partitions.len());
                    self.judge(n).is_some() && self.devices.partitions_of(n).count() >= listed
                })
    }
}

/// Partition 1 of `disk` (or its only partition, when the uevent had no `PARTN`).
pub(super) fn partition_one<'a>(devices: &'a Known, disk: &str) -> Option<PartitionView<'a>> {
    devices
        .partitions_of(disk)
        .find(|(_, d)| d.number.unwrap_or(1) == 1)
        .map(|(name, d)| PartitionView {
            name,
            probe: d.probe.as_ref().filter(|_| d.probing.is_none()),
        })
}
