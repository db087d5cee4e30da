//! Kernel module loads the reactor asks for: drivers for devices that announce a
//! `MODALIAS`, and modules preloaded in the background once coldplug is done (rules
//! key `boot.preload_modules`, default `btrfs`).
//!
//! **Why preload.** The first btrfs mount of a boot makes the kernel load btrfs (and
//! raid6_pq, which benchmarks itself for about a second): on a slow machine that is
//! 1–3 s spent inside the cache's `mount`, after the disks settled, on the critical
//! path to `cache.ready`. Loading it in the background beforehand takes it off that
//! path: usually the mount then finds the filesystem registered. The kernel does not
//! wait for a load already running (its own `request_module` may return before the
//! preload registered btrfs, and the mount fails with ENODEV), so the cache waits for
//! a preload still running when it reaches its first mount ([`fsready`](super::fsready)).
//!
//! **When.** Not at the very start: there the preload competes for the CPU with the
//! coldplug's driver loads (virtio, SCSI, NVMe, NICs), which *are* on the path to the
//! disks and the network. Measured in the VM (1 vCPU under TCG), a preload sent at
//! start took 3.9 s instead of ~1.5 s and delayed the drivers, the disks and the gate
//! by about a second. It is sent once coldplug is done and no driver load runs: the
//! cache's quiet period follows, time the machine spends waiting anyway.
//!
//! **What a preload does not do.** Make a mount safe by itself: a mount sent while
//! the preload still runs may find btrfs unregistered and fail with ENODEV (seen in
//! the VM with a 300 ms settle). The mount asks [`fsready`](super::fsready) first,
//! which waits for a preload still running.
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
    /// A filesystem's module a mount waits for (nothing loaded it, or a mount
    /// answered ENODEV): see [`fsready`](super::fsready).
    Filesystem { module: String, since: Instant },
}

impl Load {
    /// Does this load hold the cache decision? Only a driver for a device does.
    pub fn holds_settle(&self) -> bool {
        matches!(self, Load::Alias { .. })
    }

    pub fn since(&self) -> Instant {
        match self {
            Load::Alias { since, .. }
            | Load::Preload { since, .. }
            | Load::Filesystem { since, .. } => *since,
        }
    }

    /// The module named (a preload or a filesystem's), not a device's alias.
    pub fn module(&self) -> Option<&str> {
        match self {
            Load::Alias { .. } => None,
            Load::Preload { module, .. } | Load::Filesystem { module, .. } => Some(module),
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

/// Send the preloads now? Once the coldplug scan is done and no driver load for a
/// device is running (each one that ends asks again).
pub fn preload_now(coldplug_done: bool, drivers_loading: usize) -> bool {
    coldplug_done && drivers_loading == 0
}

#[cfg(test)]
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
    fn preloads_wait_for_coldplug_and_its_drivers() {
        assert!(!preload_now(false, 0));
        assert!(!preload_now(true, 2));
        assert!(preload_now(true, 0));
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

    /// The reactor with a blank SSD `sda`: effects are collected, probes answered (a
    /// host of the one driver).
    struct Boot {
        r: crate::core::Reactor,
        now: Instant,
        /// Effects not answered yet (module loads are answered by the test).
        open: Vec<crate::core::action::Action>,
        records: Vec<crate::core::event::Record>,
        /// When the cache asked for the partition table, if it did.
        partitioned_at: Option<Instant>,
        queue: VecDeque<Input>,
        /// Probes answer a whole-disk btrfs labelled like the cache.
        labelled: bool,
    }

    impl Host for Boot {
        type Core = crate::core::Reactor;
        fn core(&mut self) -> &mut crate::core::Reactor {
            &mut self.r
        }
        fn now(&self) -> Instant {
            self.now
        }
        fn set_now(&mut self, now: Instant) {
            self.now = now;
        }
        fn queue(&mut self) -> &mut VecDeque<Input> {
            &mut self.queue
        }
        fn on_input(&mut self, _: &Input) {}
        fn on_record(&mut self, record: crate::core::event::Record) {
            self.records.push(record);
        }
        fn on_action(&mut self, a: crate::core::action::Action) {
            match &a.effect {
                Effect::ProbeDisk { .. } => self.queue.push_back(Input::EffectDone {
                    id: a.id,
                    result: Ok(EffectOutput::Disk {
                        probe: DiskProbe {
                            size_bytes: 2 << 30,
                            signatures: if self.labelled {
                                vec!["btrfs".into()]
                            } else {
                                Vec::new()
                            },
                            btrfs_label: self.labelled.then(|| "sp_zos-cache".into()),
                            ..DiskProbe::default()
                        },
                    }),
                }),
                Effect::WritePartitionTable { .. } => {
                    self.partitioned_at.get_or_insert(self.now);
                    self.open.push(a);
                }
                _ => self.open.push(a),
            }
        }
    }

    use crate::core::action::Effect;
    use crate::core::driver::{self, Host};
    use crate::core::input::{DiskProbe, EffectOutput, Input};
    use crate::core::policy::Policy;
    use crate::wire::uevent::{Uevent, UeventAction};
    use std::collections::{BTreeMap, VecDeque};

    impl Boot {
        fn start(mode: Mode, policy: Policy) -> Boot {
            let mut b = Boot {
                r: crate::core::Reactor::new(policy),
                now: Instant::ZERO,
                open: Vec::new(),
                records: Vec::new(),
                partitioned_at: None,
                queue: VecDeque::new(),
                labelled: false,
            };
            b.input(Input::Start {
                wall_clock_unix: 1_795_656_645,
                mode,
                argv: Vec::new(),
            });
            b
        }

        /// Feed one input at the current time and answer what can be answered at once.
        fn input(&mut self, input: Input) {
            driver::feed(self, input);
        }

        /// Fire timers until `t`.
        fn run_until(&mut self, t: Instant) {
            while let Some(due) = self.r.poll_timeout().filter(|d| *d <= t) {
                self.now = due.max(self.now);
                driver::advance(self);
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

    /// Started, coldplug done at 100 ms.
    fn coldplugged(mode: Mode, policy: Policy) -> Boot {
        let mut b = Boot::start(mode, policy);
        b.now = Instant::from_millis(100);
        b.input(Input::ColdplugDone);
        b
    }

    #[test]
    fn pid1_preloads_btrfs_after_coldplug() {
        let b = Boot::start(Mode::Init, Policy::default());
        assert!(
            b.load_of("btrfs").is_none(),
            "before coldplug: {:?}",
            b.open
        );
        let b = coldplugged(Mode::Init, Policy::default());
        assert!(b.load_of("btrfs").is_some(), "{:?}", b.open);
        for mode in [Mode::Live, Mode::DryRun, Mode::Replay] {
            let b = coldplugged(mode, Policy::default());
            assert!(b.load_of("btrfs").is_none(), "{mode:?}: {:?}", b.open);
        }
        let off = Policy {
            modprobe: false,
            ..Policy::default()
        };
        assert!(coldplugged(Mode::Init, off).load_of("btrfs").is_none());
        let none = Policy {
            preload_modules: Vec::new(),
            ..Policy::default()
        };
        let b = coldplugged(Mode::Init, none);
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
        assert_eq!(loads[0]["ms"], 4900);
        assert!(loads[0].get("modalias").is_none(), "{}", loads[0]);
    }

    #[test]
    fn a_labelled_cache_reused_before_coldplug_ends_loads_btrfs_once() {
        let mut b = Boot::start(Mode::Init, Policy::default());
        b.labelled = true;
        b.now = Instant::from_millis(50);
        b.input(Input::Uevent {
            uevent: driver("pci:v00001AF4d00001004"),
        });
        b.input(Input::Uevent { uevent: ssd(None) });
        // Reused at once: the mount asks whether btrfs is there (no), and loads it.
        let probe = b
            .open
            .iter()
            .find(|a| matches!(a.effect, Effect::ProbeFilesystem { .. }))
            .map(|a| a.id)
            .expect("the mount asks /proc/filesystems");
        b.open.retain(|a| a.id != probe);
        b.input(Input::EffectDone {
            id: probe,
            result: Ok(EffectOutput::Filesystem { registered: false }),
        });
        assert!(b.load_of("btrfs").is_some(), "{:?}", b.open);
        b.now = Instant::from_millis(100);
        b.input(Input::ColdplugDone);
        b.finish_load("pci:v00001AF4d00001004", true);
        // Coldplug and its loads are done: the preload finds btrfs being loaded.
        let btrfs = b
            .open
            .iter()
            .filter(|a| matches!(&a.effect, Effect::LoadModule { modalias } if modalias == "btrfs"))
            .count();
        assert_eq!(btrfs, 1, "{:?}", b.open);
        b.finish_load("btrfs", true);
        assert!(b.load_of("btrfs").is_none(), "{:?}", b.open);
        assert_eq!(b.module_loads().len(), 2);
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
        // The preload waits for the coldplug's driver loads to end.
        assert!(b.load_of("btrfs").is_none(), "{:?}", b.open);
        b.finish_load("pci:v00001AF4d00001004", true);
        assert!(b.load_of("btrfs").is_some(), "{:?}", b.open);
        b.run_until(Instant::from_secs(9));
        // The facts are in at 4 s (coldplug done, its driver load ended, the disk
        // probed): the short quiet period after them, not `settle_quiet`.
        let quiet = Policy::default().cache.settle_after_facts;
        assert_eq!(b.partitioned_at, Some(Instant::from_secs(4) + quiet));
        // A failed preload is logged and changes nothing else.
        b.finish_load("btrfs", false);
        let loads = b.module_loads();
        assert_eq!(loads.len(), 2);
        assert_eq!(loads[0]["modalias"], "pci:v00001AF4d00001004");
        assert!(loads[0].get("module").is_none());
        assert_eq!(loads[0]["ms"], 3950);
        assert_eq!(loads[1]["module"], "btrfs");
        assert_eq!(loads[1]["ok"], false);
        assert_eq!(loads[1]["ms"], 5000);
    }

    #[test]
    fn a_driver_load_that_never_returns_fails_at_its_deadline() {
        let mut b = Boot::start(Mode::Init, Policy::default());
        b.now = Instant::from_millis(50);
        let alias = "pci:v00001AF4d00001004";
        b.input(Input::Uevent {
            uevent: driver(alias),
        });
        let hung = b.load_of(alias).unwrap();
        b.now = Instant::from_millis(100);
        b.input(Input::ColdplugDone);
        b.run_until(Instant::from_secs(29));
        assert!(b.module_loads().is_empty());
        assert!(b.load_of("btrfs").is_none(), "preload waits for the driver");
        b.run_until(Instant::from_secs(31));
        // Failed at 30 s (boot.modprobe_timeout), its child killed; the preload it
        // held back goes out.
        let loads = b.module_loads();
        assert_eq!(loads.len(), 1, "{loads:?}");
        assert_eq!(loads[0]["modalias"], alias);
        assert_eq!(loads[0]["ok"], false);
        assert_eq!(loads[0]["ms"], 30_000);
        assert!(b.open.iter().any(|a| a.effect
            == Effect::Kill {
                child: hung,
                signal: crate::core::action::KillSignal::Kill
            }));
        assert!(b.load_of("btrfs").is_some(), "{:?}", b.open);
        // modprobe ends after all: ignored, no second record.
        b.finish_load(alias, true);
        assert_eq!(b.module_loads().len(), 1);
    }
}
