use super::*;
use crate::core::input::EffectError;

/// A node root with a module index and a `/proc/modules`, in a temporary directory.
struct Root {
    dir: std::path::PathBuf,
}

impl Root {
    fn new(tag: &str, proc_modules: &str) -> Root {
        let dir = std::env::temp_dir().join(format!("nb-modules-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let lib = dir.join("lib/modules/6.1.0-test");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::create_dir_all(dir.join("proc/sys/kernel")).unwrap();
        std::fs::write(dir.join("proc/sys/kernel/osrelease"), "6.1.0-test\n").unwrap();
        std::fs::write(dir.join("proc/modules"), proc_modules).unwrap();
        std::fs::write(
            lib.join("modules.alias"),
            "alias virtio:d00000008v* virtio_scsi\n\
             alias scsi:t-0x00* sd_mod\n\
             alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\n\
             alias pci:v*d*sv*sd*bc01sc08i02* nvme\n\
             alias pci:v*d*sv*sd*bc01sc08i02* nvme-alt\n",
        )
        .unwrap();
        std::fs::write(
            lib.join("modules.builtin"),
            "kernel/drivers/virtio/virtio_pci.ko\n",
        )
        .unwrap();
        Root { dir }
    }

    fn confine(&self) -> Confinement {
        Confinement {
            root: self.dir.clone(),
            ..Confinement::init()
        }
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn id(n: u64) -> EffectId {
    EffectId(n)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn unmatched_and_present_aliases_spawn_nothing() {
    let root = Root::new("skip", "sd_mod 1 0 - Live 0x0\n");
    let c = root.confine();
    let mut m = Modules::default();
    let none = EffectOutput::Modules {
        load: Vec::new(),
        present: Vec::new(),
    };
    assert_eq!(m.plan(id(1), "acpi:PNP0501:", &c).0, ModPlan::Answer(none));
    // Built in (virtio_pci) or loaded (sd_mod): nothing to run.
    let builtin = m
        .plan(id(2), "pci:v00001AF4d00001004sv1sd8bc01sc00i00", &c)
        .0;
    assert_eq!(
        builtin,
        ModPlan::Answer(EffectOutput::Modules {
            load: Vec::new(),
            present: strings(&["virtio_pci"]),
        })
    );
    let loaded = m.plan(id(3), "scsi:t-0x00", &c).0;
    assert!(
        matches!(loaded, ModPlan::Answer(EffectOutput::Modules { ref present, .. }) if present == &strings(&["sd_mod"]))
    );
}

#[test]
fn each_module_is_asked_for_once() {
    let root = Root::new("once", "");
    let c = root.confine();
    let mut m = Modules::default();
    let plan = m.plan(id(1), "virtio:d00000008v00001AF4", &c).0;
    assert_eq!(
        plan,
        ModPlan::Run(strings(&["modprobe", "-b", "virtio_scsi"]))
    );
    // Two modules for one alias: one modprobe, -a.
    let nvme = "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02";
    assert_eq!(
        m.plan(id(2), nvme, &c).0,
        ModPlan::Run(strings(&["modprobe", "-b", "-a", "nvme", "nvme_alt"]))
    );
    // The same driver for a second device while the first load runs: nothing runs.
    let again = m.plan(id(3), "virtio:d00000008v00001AF5", &c).0;
    assert!(matches!(again, ModPlan::Answer(_)), "{again:?}");
    // Success names the modules; other answers pass through unchanged.
    let done = m.on_answer(id(1), Ok(EffectOutput::Done));
    assert_eq!(
        done,
        Ok(EffectOutput::Modules {
            load: strings(&["virtio_scsi"]),
            present: Vec::new(),
        })
    );
    assert_eq!(
        m.on_answer(id(9), Ok(EffectOutput::Done)),
        Ok(EffectOutput::Done)
    );
    // A failure names the modprobe, and a later alias may ask again.
    let failed = m.on_answer(id(2), Err(EffectError::other("exit status 1")));
    assert_eq!(
        failed.unwrap_err().message,
        "modprobe -b nvme nvme_alt: exit status 1"
    );
    assert!(matches!(m.plan(id(4), nvme, &c).0, ModPlan::Run(_)));
}

#[test]
fn module_names_and_a_missing_index_go_to_modprobe_as_planned() {
    let root = Root::new("plain", "");
    let mut m = Modules::default();
    assert_eq!(
        m.plan(id(1), "btrfs", &root.confine()),
        (ModPlan::AsPlanned, None)
    );
    let nowhere = Confinement {
        root: root.dir.join("missing"),
        ..Confinement::init()
    };
    let mut m = Modules::default();
    let (plan, note) = m.plan(id(1), "pci:v1", &nowhere);
    assert_eq!(plan, ModPlan::AsPlanned);
    assert!(matches!(note, Some(Event::WorldError { .. })), "{note:?}");
    // Logged once.
    assert_eq!(
        m.plan(id(2), "pci:v2", &nowhere),
        (ModPlan::AsPlanned, None)
    );
}

#[test]
fn after_the_boot_the_index_is_not_kept_but_later_aliases_still_resolve() {
    let root = Root::new("release", "");
    let c = root.confine();
    let mut m = Modules::default();
    assert!(matches!(
        m.plan(id(1), "acpi:PNP0501:", &c).0,
        ModPlan::Answer(_)
    ));
    assert!(matches!(m.index, Some(Some(_))), "kept during the boot");
    m.release_index();
    assert!(m.index.is_none(), "dropped once the cache settled");
    // A device hotplugged later: resolved against a fresh read, which is not kept.
    let plan = m.plan(id(2), "scsi:t-0x00", &c).0;
    assert_eq!(plan, ModPlan::Run(strings(&["modprobe", "-b", "sd_mod"])));
    assert!(m.index.is_none(), "not kept after the boot");
}
