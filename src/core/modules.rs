//! Kernel module loads the reactor asks for: drivers for devices that announce a
//! `MODALIAS`, and modules preloaded at start (rules key `boot.preload_modules`,
//! default `btrfs`).
//!
//! **Why preload.** The first btrfs mount of a boot makes the kernel load btrfs (and
//! raid6_pq, which benchmarks itself for about a second): on a slow machine that is
//! 1–3 s spent inside the cache's `mount`, after the disks settled, on the critical
//! path to `cache.ready`. Loading it in the background from the first moment takes it
//! off that path; the mount then finds the filesystem registered, or waits in the
//! kernel for the load already running (a second `modprobe` of a module being
//! loaded waits for it), so the cache never waits on the preload itself.
//!
//! **What a preload is not.** A driver load for a MODALIAS holds the cache decision
//! (its disks may appear when it finishes); a preload brings no device, so it never
//! counts as "not quiet" for the settle (see `disk::Cache::on_driver_load`).
//!
//! Only PID 1 preloads: loading modules changes the machine, and a confined or dry
//! run on a developer's host must not (its policy has `modprobe` off as well, and the
//! world refuses `LoadModule` outside PID 1 when confined).

use super::input::Mode;
use crate::time::Instant;

/// Why a `LoadModule` was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Load {
    /// A device announced this `MODALIAS`: its driver, on the cache's settle path.
    Alias { modalias: String, since: Instant },
    /// A module named in `preload_modules`, loaded at start in the background.
    Preload { module: String, since: Instant },
}

impl Load {
    /// Does this load hold the cache decision? Only a driver for a device does.
    pub fn holds_settle(&self) -> bool {
        matches!(self, Load::Alias { .. })
    }

    pub fn since(&self) -> Instant {
        match self {
            Load::Alias { since, .. } | Load::Preload { since, .. } => *since,
        }
    }
}

/// The modules to preload at `Input::Start`: the configured list, in its order and
/// without repeats, when module loading is on and the run is PID 1 (`Mode::Init`).
/// A replayed init boot (its recorded `Start` says `init`) preloads the same way.
pub fn to_preload(mode: Mode, modprobe: bool, configured: &[String]) -> Vec<String> {
    if !modprobe || mode != Mode::Init {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for m in configured {
        if !m.is_empty() && !out.contains(m) {
            out.push(m.clone());
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_pid1_with_modprobe_on_preloads() {
        let btrfs = list(&["btrfs"]);
        assert_eq!(to_preload(Mode::Init, true, &btrfs), btrfs);
        for mode in [Mode::Live, Mode::DryRun, Mode::Replay] {
            assert!(to_preload(mode, true, &btrfs).is_empty(), "{mode:?}");
        }
        assert!(to_preload(Mode::Init, false, &btrfs).is_empty());
        assert!(to_preload(Mode::Init, true, &[]).is_empty());
    }

    #[test]
    fn keeps_order_drops_repeats_and_empties() {
        let configured = list(&["btrfs", "", "xfs", "btrfs"]);
        assert_eq!(
            to_preload(Mode::Init, true, &configured),
            list(&["btrfs", "xfs"])
        );
    }

    #[test]
    fn only_device_drivers_hold_the_settle() {
        let t = Instant::from_millis(7);
        let alias = Load::Alias {
            modalias: "pci:v1".into(),
            since: t,
        };
        let pre = Load::Preload {
            module: "btrfs".into(),
            since: t,
        };
        assert!(alias.holds_settle() && !pre.holds_settle());
        assert_eq!(pre.since(), t);
    }

    /// The reactor with a blank SSD `sda`: effects are collected, probes answered.
    struct Boot {
        r: crate::core::Reactor,
        now: Instant,
        /// Effects not answered yet (module loads are answered by the test).
        open: Vec<crate::core::action::Action>,
        records: Vec<crate::core::event::Record>,
        /// When the cache asked for the partition table, if it did.
        partitioned_at: Option<Instant>,
    }

    use crate::core::action::Effect;
    use crate::core::input::{DiskProbe, EffectOutput, Input};
    use crate::core::policy::Policy;
    use crate::wire::uevent::{Uevent, UeventAction};
    use std::collections::BTreeMap;

    impl Boot {
        fn start(mode: Mode, policy: Policy) -> Boot {
            let mut b = Boot {
                r: crate::core::Reactor::new(policy),
                now: Instant::ZERO,
                open: Vec::new(),
                records: Vec::new(),
                partitioned_at: None,
            };
            b.input(Input::Start {
                wall_clock_unix: 1_795_656_645,
                mode,
            });
            b
        }

        /// Feed one input at the current time and answer what can be answered at once.
        fn input(&mut self, input: Input) {
            self.r.handle(self.now, input);
            self.drain();
        }

        fn drain(&mut self) {
            loop {
                let mut answers = Vec::new();
                while let Some(a) = self.r.poll_action() {
                    match &a.effect {
                        Effect::ProbeDisk { .. } => answers.push((
                            a.id,
                            EffectOutput::Disk {
                                probe: DiskProbe {
                                    size_bytes: 2 << 30,
                                    ..DiskProbe::default()
                                },
                            },
                        )),
                        Effect::WritePartitionTable { .. } => {
                            self.partitioned_at.get_or_insert(self.now);
                            self.open.push(a);
                        }
                        _ => self.open.push(a),
                    }
                }
                while let Some(rec) = self.r.poll_record() {
                    self.records.push(rec);
                }
                if answers.is_empty() {
                    return;
                }
                for (id, output) in answers {
                    self.r.handle(
                        self.now,
                        Input::EffectDone {
                            id,
                            result: Ok(output),
                        },
                    );
                }
            }
        }

        /// Fire timers until `t`.
        fn run_until(&mut self, t: Instant) {
            while let Some(due) = self.r.poll_timeout().filter(|d| *d <= t) {
                self.now = due.max(self.now);
                self.r.handle_timeout(self.now);
                self.drain();
            }
            self.now = t;
        }

        fn load_of(&self, name: &str) -> Option<crate::core::action::EffectId> {
            self.open.iter().find_map(|a| match &a.effect {
                Effect::LoadModule { modalias } if modalias == name => Some(a.id),
                _ => None,
            })
        }

        fn finish_load(&mut self, name: &str, ok: bool) {
            let id = self.load_of(name).unwrap();
            self.open.retain(|a| a.id != id);
            let result = if ok {
                Ok(EffectOutput::Done)
            } else {
                Err("modprobe: exit status 1".into())
            };
            self.input(Input::EffectDone { id, result });
        }

        fn module_loads(&self) -> Vec<serde_json::Value> {
            self.records
                .iter()
                .filter(|r| matches!(r.event, crate::core::event::Event::ModuleLoad { .. }))
                .map(|r| serde_json::to_value(r).unwrap())
                .collect()
        }
    }

    fn ssd(with_alias: Option<&str>) -> Uevent {
        let mut env = BTreeMap::new();
        if let Some(a) = with_alias {
            env.insert("MODALIAS".to_string(), a.to_string());
        }
        Uevent {
            action: UeventAction::Add,
            devpath: "/devices/pci0000:00/0000:00:04.0/host0/target0:0:0/0:0:0:0/block/sda".into(),
            subsystem: "block".into(),
            devtype: Some("disk".into()),
            devname: Some("sda".into()),
            seqnum: None,
            env,
        }
    }

    fn driver(alias: &str) -> Uevent {
        let mut env = BTreeMap::new();
        env.insert("MODALIAS".to_string(), alias.to_string());
        Uevent {
            action: UeventAction::Add,
            devpath: "/devices/pci0000:00/0000:00:05.0".into(),
            subsystem: "pci".into(),
            devtype: None,
            devname: None,
            seqnum: None,
            env,
        }
    }

    #[test]
    fn pid1_preloads_btrfs_at_start() {
        let b = Boot::start(Mode::Init, Policy::default());
        assert!(b.load_of("btrfs").is_some(), "{:?}", b.open);
        // Before any device: the preload is the first effect of the boot.
        assert!(matches!(
            b.open.first().map(|a| &a.effect),
            Some(Effect::LoadModule { .. })
        ));
        for mode in [Mode::Live, Mode::DryRun, Mode::Replay] {
            let b = Boot::start(mode, Policy::default());
            assert!(b.load_of("btrfs").is_none(), "{mode:?}: {:?}", b.open);
        }
        let off = Policy {
            modprobe: false,
            ..Policy::default()
        };
        assert!(Boot::start(Mode::Init, off).load_of("btrfs").is_none());
        let none = Policy {
            preload_modules: Vec::new(),
            ..Policy::default()
        };
        let b = Boot::start(Mode::Init, none);
        assert!(
            !b.open
                .iter()
                .any(|a| matches!(a.effect, Effect::LoadModule { .. })),
            "{:?}",
            b.open
        );
    }

    #[test]
    fn a_running_preload_does_not_hold_the_cache_decision() {
        let mut b = Boot::start(Mode::Init, Policy::default());
        b.now = Instant::from_millis(50);
        b.input(Input::Uevent { uevent: ssd(None) });
        b.now = Instant::from_millis(100);
        b.input(Input::ColdplugDone);
        b.run_until(Instant::from_secs(5));
        let quiet = Policy::default().cache.settle_quiet;
        // Decided after the quiet period, with btrfs still loading.
        assert_eq!(
            b.partitioned_at,
            Some(Instant::from_millis(100) + quiet),
            "{:?}",
            b.records
        );
        assert!(b.load_of("btrfs").is_some());
        assert!(b.module_loads().is_empty());
        b.finish_load("btrfs", true);
        let loads = b.module_loads();
        assert_eq!(loads.len(), 1);
        assert_eq!(loads[0]["event"], "module.load");
        assert_eq!(loads[0]["module"], "btrfs");
        assert_eq!(loads[0]["ok"], true);
        assert_eq!(loads[0]["ms"], 5000);
        assert!(loads[0].get("modalias").is_none(), "{}", loads[0]);
    }

    #[test]
    fn a_running_driver_load_still_holds_it() {
        let mut b = Boot::start(Mode::Init, Policy::default());
        b.now = Instant::from_millis(50);
        b.input(Input::Uevent {
            uevent: driver("pci:v00001AF4d00001004"),
        });
        b.input(Input::Uevent { uevent: ssd(None) });
        b.now = Instant::from_millis(100);
        b.input(Input::ColdplugDone);
        b.run_until(Instant::from_secs(4));
        assert_eq!(b.partitioned_at, None, "decided while a driver loads");
        // The preload ending changes nothing; the driver's does.
        b.finish_load("btrfs", false);
        b.run_until(Instant::from_secs(5));
        assert_eq!(b.partitioned_at, None);
        b.finish_load("pci:v00001AF4d00001004", true);
        b.run_until(Instant::from_secs(9));
        let quiet = Policy::default().cache.settle_quiet;
        assert_eq!(b.partitioned_at, Some(Instant::from_secs(5) + quiet));
        let loads = b.module_loads();
        assert_eq!(loads.len(), 2);
        assert_eq!(loads[0]["module"], "btrfs");
        assert_eq!(loads[0]["ok"], false);
        assert_eq!(loads[1]["modalias"], "pci:v00001AF4d00001004");
        assert!(loads[1].get("module").is_none());
        assert_eq!(loads[1]["ms"], 4950);
    }
}
