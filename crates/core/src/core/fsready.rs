//! A mount never fails for want of its filesystem module (issue 12, part 1).
//!
//! **Why.** The btrfs preload ([`modules`](super::modules)) runs in the background;
//! with a short quiet period the prepare can reach its first mount while `modprobe
//! btrfs` still runs. The kernel's own `request_module` does not wait for that load:
//! the mount fails with ENODEV, and 25 ms later the preload ends (seen in the VM with
//! `nodeboot.settle=300ms`: a fresh disk formatted, and the node booted without it).
//!
//! **How.** Before the prepare's first mount (the pool of a fresh disk, or a labelled
//! disk's on a later boot) it asks the reactor (`Note::FilesystemNeeded`) and waits.
//! The decision is [`decide`], on facts only: a load of the module ended ok this boot
//! (`known`), what `/proc/filesystems` says (`Effect::ProbeFilesystem`, whose answer a
//! trace records, so a replay decides the same), whether a load of the module runs now
//! (the preload), and whether module loading is on (`boot.modprobe`). The outcome:
//! mount now, ask the kernel, wait for the running load, or `modprobe -b btrfs` (the
//! same `LoadModule` effect as every load) and mount when it ends, ok or not. The
//! module of filesystem type `T` is named `T` (btrfs).
//!
//! **Deadlines.** The probe reads procfs and is answered at once; the wait is the
//! wait for a `LoadModule`, which ends at `boot.modprobe_timeout` at the latest (its
//! own deadline fails it, and the mount goes out anyway).
//!
//! **ENODEV anyway.** A mount that answers ENODEV (kind `NoDevice`) asks again with
//! `retry`: the kernel just said no, so neither `known` nor `/proc/filesystems` is
//! trusted; the running load is waited for, else the module loaded, and the mount
//! sent once more (`fs.missing`, then `fs.wait`, `module.load`, `fs.ready`).

use super::Reactor;
use super::action::{Effect, EffectId};
use super::ctx::Owner;
use super::event::Event;
use super::input::{EffectOutput, EffectResult};
use super::modules::Load;
use crate::time::Instant;
use std::collections::BTreeSet;

/// Filesystems known available, and the mount waiting for one.
#[derive(Debug, Default)]
pub struct FsReady {
    /// Types a load ended ok for this boot (modules are never unloaded).
    known: BTreeSet<String>,
    want: Option<Want>,
}

#[derive(Debug)]
struct Want {
    fstype: String,
    since: Instant,
    retry: bool,
    /// `/proc/filesystems`' answer, once asked.
    registered: Option<bool>,
    /// The probe in flight.
    checking: Option<EffectId>,
    /// The load waited for, and whether it is the preload.
    awaiting: Option<(EffectId, bool)>,
    /// The awaited load ended: ok or not.
    ended: Option<bool>,
}

impl FsReady {
    /// A load of this filesystem's module ended ok this boot.
    pub fn is_known(&self, fstype: &str) -> bool {
        self.known.contains(fstype)
    }
}

/// What [`decide`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// A mount answered ENODEV: the kernel's word beats what was known.
    pub retry: bool,
    /// A load of the module ended ok this boot.
    pub known: bool,
    /// `/proc/filesystems`, once asked (`Some(false)` also when it could not be read).
    pub registered: Option<bool>,
    /// A load of the module runs now: its id, and whether it is the preload.
    pub loading: Option<(EffectId, bool)>,
    /// The load waited for ended (ok or not).
    pub ended: Option<(bool, bool)>,
    /// `boot.modprobe`.
    pub may_load: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send the mount; the `how` of `fs.ready`.
    Mount(&'static str),
    /// Ask `/proc/filesystems`.
    Check,
    /// Wait for this load (already running).
    Wait(EffectId, bool),
    /// `modprobe -b` the module, then mount.
    Load,
}

/// The whole decision, pure: see the module's doc.
pub fn decide(f: Facts) -> Next {
    if let Some((ok, preload)) = f.ended {
        return match (ok, preload) {
            (true, true) => Next::Mount("preload"),
            (true, false) => Next::Mount("load"),
            (false, _) => Next::Mount("unavailable"),
        };
    }
    if !f.retry {
        if f.known {
            return Next::Mount("known");
        }
        match f.registered {
            None => return Next::Check,
            Some(true) => return Next::Mount("registered"),
            Some(false) => {}
        }
    }
    match f.loading {
        Some((id, preload)) => Next::Wait(id, preload),
        None if f.may_load => Next::Load,
        None => Next::Mount("unavailable"),
    }
}

impl Reactor {
    /// The cache is about to mount `fstype` (the note's handler).
    pub(super) fn on_filesystem_needed(&mut self, fstype: String, retry: bool) {
        self.fsready.want = Some(Want {
            fstype,
            since: self.cx.now,
            retry,
            registered: None,
            checking: None,
            awaiting: None,
            ended: None,
        });
        self.fs_next();
    }

    /// Our `ProbeFilesystem` was answered. True if it was ours to handle.
    pub(super) fn on_filesystem_probe(&mut self, id: EffectId, result: &EffectResult) -> bool {
        let Some(want) = self
            .fsready
            .want
            .as_mut()
            .filter(|w| w.checking == Some(id))
        else {
            return false;
        };
        want.checking = None;
        // Unreadable (no procfs, a dry run) counts as not registered: loading a
        // module that is there costs one quick modprobe.
        want.registered = Some(matches!(
            result,
            Ok(EffectOutput::Filesystem { registered: true })
        ));
        self.fs_next();
        true
    }

    /// A load of a named module ended (a preload, or one for a filesystem).
    pub(super) fn on_module_loaded(&mut self, id: EffectId, module: &str, ok: bool) {
        if ok {
            self.fsready.known.insert(module.to_owned());
        }
        if let Some(want) = self.fsready.want.as_mut()
            && want.awaiting.is_some_and(|(awaited, _)| awaited == id)
        {
            want.ended = Some(ok);
            self.fs_next();
        }
    }

    fn fs_next(&mut self) {
        let Some(want) = &self.fsready.want else {
            return;
        };
        let fstype = want.fstype.clone();
        let loading = self
            .module_loads
            .iter()
            .find(|(_, l)| l.module() == Some(fstype.as_str()))
            .map(|(id, l)| (*id, matches!(l, Load::Preload { .. })));
        let facts = Facts {
            retry: want.retry,
            known: self.fsready.known.contains(&fstype),
            registered: want.registered,
            loading,
            ended: want
                .ended
                .map(|ok| (ok, want.awaiting.is_some_and(|(_, pre)| pre))),
            may_load: self.modprobe,
        };
        let now = self.cx.now;
        match decide(facts) {
            Next::Check => {
                let effect = Effect::ProbeFilesystem {
                    fstype: fstype.clone(),
                };
                let id = self.cx.effect(Owner::Reactor, effect);
                if let Some(w) = self.fsready.want.as_mut() {
                    w.checking = Some(id);
                }
            }
            Next::Wait(id, preload) => self.fs_await(id, &fstype, preload),
            Next::Load => {
                let effect = Effect::LoadModule {
                    modalias: fstype.clone(),
                };
                let id = self.cx.effect(Owner::Reactor, effect);
                let load = Load::Filesystem {
                    module: fstype.clone(),
                    since: now,
                };
                self.module_loads.insert(id, load);
                self.fs_await(id, &fstype, false);
            }
            Next::Mount(how) => {
                let since = self.fsready.want.take().map_or(now, |w| w.since);
                self.cx.log(Event::FsReady {
                    fstype: fstype.clone(),
                    how: how.into(),
                    ms: now.millis_since(since),
                });
                self.cache.on_filesystem(&mut self.cx, &fstype);
            }
        }
    }

    fn fs_await(&mut self, id: EffectId, fstype: &str, preload: bool) {
        if let Some(w) = self.fsready.want.as_mut() {
            w.awaiting = Some((id, preload));
        }
        self.cx.log(Event::FsWait {
            fstype: fstype.to_owned(),
            module: fstype.to_owned(),
            preload,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            retry: false,
            known: false,
            registered: None,
            loading: None,
            ended: None,
            may_load: true,
        }
    }

    #[test]
    fn a_first_mount_asks_the_kernel_unless_a_load_ended_ok() {
        assert_eq!(decide(facts()), Next::Check);
        let known = Facts {
            known: true,
            ..facts()
        };
        assert_eq!(decide(known), Next::Mount("known"));
        let registered = Facts {
            registered: Some(true),
            ..facts()
        };
        assert_eq!(decide(registered), Next::Mount("registered"));
    }

    #[test]
    fn missing_waits_for_the_running_preload_else_loads() {
        let preload = (EffectId(7), true);
        let missing = Facts {
            registered: Some(false),
            ..facts()
        };
        let running = Facts {
            loading: Some(preload),
            ..missing
        };
        assert_eq!(decide(running), Next::Wait(EffectId(7), true));
        assert_eq!(decide(missing), Next::Load);
        let off = Facts {
            may_load: false,
            ..missing
        };
        assert_eq!(decide(off), Next::Mount("unavailable"));
        for (ok, pre, how) in [
            (true, true, "preload"),
            (true, false, "load"),
            (false, true, "unavailable"),
        ] {
            let ended = Facts {
                ended: Some((ok, pre)),
                ..running
            };
            assert_eq!(decide(ended), Next::Mount(how));
        }
    }

    #[test]
    fn after_enodev_neither_knowledge_nor_procfs_is_trusted() {
        let retry = Facts {
            retry: true,
            known: true,
            registered: Some(true),
            ..facts()
        };
        assert_eq!(decide(retry), Next::Load);
        let running = Facts {
            loading: Some((EffectId(3), true)),
            ..retry
        };
        assert_eq!(decide(running), Next::Wait(EffectId(3), true));
        let off = Facts {
            may_load: false,
            ..retry
        };
        assert_eq!(decide(off), Next::Mount("unavailable"));
    }
}
