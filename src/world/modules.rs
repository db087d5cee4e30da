//! Modalias loads without a process per alias. The core asks `LoadModule { modalias }`
//! for each device's `MODALIAS`; most name no module at all (ACPI, CPU, platform
//! devices, PCI bridges), and a busybox `modprobe` for each (fork, exec, parse the
//! whole modules.alias) cost 330–550 ms of the one vCPU apiece in the QEMU guest.
//!
//! Here the kernel's module index (`/lib/modules/$(uname -r)/modules.alias`,
//! `modules.builtin`, `modules.builtin.modinfo`) is read once, at the first alias,
//! and parsed by `wire::modalias`; each alias is resolved in-process, `/proc/modules`
//! (one read) says what is loaded. Then:
//! - no module: answered at once, nothing spawned (`module.unmatched`);
//! - every module built in, loaded, or already asked for by this run: answered at
//!   once (`module.present`);
//! - otherwise `modprobe -b NAME…` for the rest (`-a` when several): blacklists,
//!   dependencies, softdeps, compressed modules and modprobe.d options stay modprobe's.
//!
//! The answer is [`EffectOutput::Modules`], journaled with the `EffectDone` like any
//! result: a replay needs no index. A module name (a preload such as `btrfs`) has no
//! `:`, every modalias has one: only the latter is resolved. Without an index (no
//! such directory, unreadable) each alias goes to `modprobe -b ALIAS`, as before.

use crate::core::action::EffectId;
use crate::core::event::Event;
use crate::core::input::{EffectOutput, EffectResult};
use crate::wire::modalias::{self, ModIndex};
use crate::world::confine::Confinement;
use std::collections::{BTreeMap, BTreeSet};

/// What to do for one `LoadModule`.
#[derive(Debug, PartialEq)]
pub enum ModPlan {
    /// Answer now with this; nothing runs.
    Answer(EffectOutput),
    /// Run this command; its success is answered with [`Modules::on_answer`].
    Run(Vec<String>),
    /// Not a modalias, or no index: the command as the gate planned it.
    AsPlanned,
}

#[derive(Default)]
pub struct Modules {
    /// `None` until the first alias; then the index, or `None` inside if unreadable.
    index: Option<Option<ModIndex>>,
    /// Modules this run ran `modprobe` for (running or done well).
    asked: BTreeSet<String>,
    /// Running loads: the output to answer with when modprobe succeeds.
    running: BTreeMap<EffectId, (Vec<String>, Vec<String>)>,
    /// The boot's device discovery is over ([`Modules::release_index`]): the index
    /// is read for each later alias and not kept.
    released: bool,
}

impl Modules {
    /// The boot's devices are discovered (the cache settled, so every coldplug
    /// driver load has ended): drop the index. It is a few MiB of patterns that an
    /// idle node would otherwise hold for good; a device hotplugged later has its
    /// aliases resolved against a fresh read (tens of milliseconds), not kept.
    pub fn release_index(&mut self) {
        self.released = true;
        if matches!(self.index, Some(Some(_))) {
            self.index = None;
        }
    }

    /// Plan the load of `name` (effect `id`). The first call reads the index; a
    /// failure to read it is returned once as a record for the world to log.
    pub fn plan(
        &mut self,
        id: EffectId,
        name: &str,
        confine: &Confinement,
    ) -> (ModPlan, Option<Event>) {
        let planned = self.plan_with_index(id, name, confine);
        if self.released {
            self.release_index();
        }
        planned
    }

    fn plan_with_index(
        &mut self,
        id: EffectId,
        name: &str,
        confine: &Confinement,
    ) -> (ModPlan, Option<Event>) {
        if !name.contains(':') {
            return (ModPlan::AsPlanned, None);
        }
        let mut note = None;
        let index = self.index.get_or_insert_with(|| match read_index(confine) {
            Ok(ix) => Some(ix),
            Err(error) => {
                note = Some(Event::WorldError {
                    error: format!("module index: {error}; each modalias goes to modprobe"),
                });
                None
            }
        });
        let Some(index) = index else {
            return (ModPlan::AsPlanned, note);
        };
        let loaded = std::fs::read_to_string(confine.path("/proc/modules"))
            .map(|t| modalias::parse_proc_modules(&t))
            .unwrap_or_default();
        let (load, present): (Vec<String>, Vec<String>) =
            index.resolve(name).modules.into_iter().partition(|m| {
                !index.is_builtin(m) && !loaded.contains(m) && !self.asked.contains(m)
            });
        if load.is_empty() {
            return (
                ModPlan::Answer(EffectOutput::Modules { load, present }),
                note,
            );
        }
        let mut argv: Vec<String> = vec!["modprobe".into(), "-b".into()];
        if load.len() > 1 {
            argv.push("-a".into());
        }
        argv.extend(load.iter().cloned());
        self.asked.extend(load.iter().cloned());
        self.running.insert(id, (load, present));
        (ModPlan::Run(argv), note)
    }

    /// Every answer passes here: a resolved load's success names its modules, its
    /// failure says which modprobe failed (and lets a later alias ask again).
    pub fn on_answer(&mut self, id: EffectId, result: EffectResult) -> EffectResult {
        let Some((load, present)) = self.running.remove(&id) else {
            return result;
        };
        match result {
            Ok(_) => Ok(EffectOutput::Modules { load, present }),
            Err(mut e) => {
                for m in &load {
                    self.asked.remove(m);
                }
                e.message = format!("modprobe -b {}: {}", load.join(" "), e.message);
                Err(e)
            }
        }
    }
}

/// The running kernel's module index, under the confinement's root.
fn read_index(confine: &Confinement) -> Result<ModIndex, String> {
    let release = std::fs::read_to_string(confine.path("/proc/sys/kernel/osrelease"))
        .map_err(|e| format!("/proc/sys/kernel/osrelease: {e}"))?;
    let dir = confine.path(&format!("/lib/modules/{}", release.trim()));
    let read = |name: &str| std::fs::read(dir.join(name));
    let aliases = read("modules.alias").map_err(|e| format!("{}: {e}", dir.display()))?;
    let builtin = read("modules.builtin").unwrap_or_default();
    let modinfo = read("modules.builtin.modinfo").unwrap_or_default();
    let index = ModIndex::parse(
        &String::from_utf8_lossy(&aliases),
        &String::from_utf8_lossy(&builtin),
        &modinfo,
    );
    if index.is_empty() {
        return Err(format!("{}/modules.alias: no alias", dir.display()));
    }
    Ok(index)
}

#[cfg(test)]
#[path = "modules_tests.rs"]
mod tests;
