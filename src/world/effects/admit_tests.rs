use super::*;
use crate::core::input::ErrorKind;
use std::path::PathBuf;

fn confined() -> Confinement {
    Confinement {
        root: PathBuf::from("/tmp/nb-nonexistent-root"),
        disks: Some(vec!["nbtest*".into()]),
        nics: Some(vec!["nb-*".into()]),
        dry_run: false,
        dev_dir: PathBuf::from("/nonexistent-dev"),
        sys_dir: PathBuf::from("/nonexistent-sys"),
    }
}

/// The plan of an admitted effect, or the error of a refused one.
fn plan(effect: &Effect, c: &Confinement) -> std::result::Result<Plan, EffectError> {
    match admit(effect.clone(), c, false)? {
        Pass::Run(admitted) => Ok(admitted.into_parts().1),
        Pass::DryRun(e) => panic!("dry run of {e:?}"),
    }
}

fn refused(effect: &Effect, c: &Confinement) -> String {
    let err = plan(effect, c).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    err.message
}

#[test]
fn every_effect_on_a_forbidden_device_or_nic_is_refused_before_anything_runs() {
    let c = confined();
    for effect in [
        Effect::ProbeDisk {
            device: "vda".into(),
        },
        Effect::WritePartitionTable {
            disk: "vda".into(),
            name: "sp_zos-cache".into(),
        },
        Effect::AddPartition {
            disk: "vda".into(),
            number: 1,
        },
        Effect::Mkfs {
            device: "vda".into(),
            label: "x".into(),
            force: true,
        },
        Effect::Mount {
            source: "/dev/vda".into(),
            target: "/mnt".into(),
            fstype: "btrfs".into(),
            options: String::new(),
        },
        Effect::Unmount {
            source: "/dev/vda".into(),
            target: "/mnt".into(),
        },
    ] {
        assert_eq!(
            refused(&effect, &c),
            "refused: vda is not on the disk allow-list",
            "{effect:?}"
        );
        // Refused in a dry run too: the confinement comes first.
        let dry = Confinement {
            dry_run: true,
            ..confined()
        };
        assert!(admit(effect.clone(), &dry, false).is_err(), "{effect:?}");
    }
    let up = |n: &str| Effect::SetLinkUp {
        index: 2,
        nic: n.into(),
    };
    assert!(refused(&up("eth0"), &c).starts_with("refused: eth0"));
    assert_eq!(plan(&up("nb-eth0"), &c).unwrap(), Plan::Loop);
    let dhcp = Effect::Spawn {
        role: ChildRole::Dhcp { nic: "eth0".into() },
        argv: vec!["udhcpc".into()],
    };
    assert!(refused(&dhcp, &c).contains("eth0"));
    let modprobe = Effect::LoadModule {
        modalias: "pci:x".into(),
    };
    assert!(refused(&modprobe, &c).contains("PID 1"));
    // PID 1 on a real node: everything is its own.
    let node = Confinement::init();
    assert!(admit(modprobe, &node, true).is_ok());
    let probe = Effect::ProbeDisk {
        device: "vda".into(),
    };
    assert!(admit(probe, &node, true).is_ok());
}

#[test]
fn classification() {
    let c = confined();
    let mkfs = Effect::Mkfs {
        device: "nbtest0".into(),
        label: "sp_zos-cache".into(),
        force: false,
    };
    // `-f` on a device not proven ours (here: no disk to read) is refused.
    let forced = Effect::Mkfs {
        device: "nbtest0".into(),
        label: "sp_zos-cache".into(),
        force: true,
    };
    assert!(refused(&forced, &c).contains("not proven nodeboot's"));
    // Mkfs rechecks the mount table (readable here) and sysfs (absent: no holders).
    assert_eq!(
        plan(&mkfs, &c).unwrap(),
        Plan::Command(vec![
            "mkfs.btrfs".into(),
            "-L".into(),
            "sp_zos-cache".into(),
            "/nonexistent-dev/nbtest0".into()
        ])
    );
    let node = Confinement::init();
    let modprobe = Effect::LoadModule {
        modalias: "pci:v00001AF4d00001000".into(),
    };
    match admit(modprobe, &node, true).unwrap() {
        Pass::Run(a) => assert_eq!(
            a.plan(),
            &Plan::Command(vec![
                "modprobe".into(),
                "-b".into(),
                "pci:v00001AF4d00001000".into()
            ])
        ),
        Pass::DryRun(_) => panic!("not a dry run"),
    }
    let bad = Effect::LoadModule {
        modalias: "-r".into(),
    };
    let err = admit(bad, &node, true).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    let probe = Effect::ProbeDisk {
        device: "nbtest1".into(),
    };
    assert_eq!(plan(&probe, &c).unwrap(), Plan::Blocking);
    // A loop effect handed to the worker anyway fails instead of running.
    let up = Effect::SetLinkUp {
        index: 2,
        nic: "nb-eth0".into(),
    };
    let Pass::Run(admitted) = admit(up, &c, false).unwrap() else {
        panic!("not a dry run")
    };
    let err = super::super::run_blocking(&admitted, &c).unwrap_err();
    assert!(err.message.contains("not a blocking effect"), "{err}");
}

#[test]
fn dry_run_hands_back_every_write_but_reads() {
    let c = Confinement {
        dry_run: true,
        ..confined()
    };
    let mount = Effect::Mount {
        source: "nbtest0p1".into(),
        target: "/var/cache".into(),
        fstype: "btrfs".into(),
        options: "subvol=cache".into(),
    };
    let copy = Effect::CopyTree {
        from: "/var/log".into(),
        to: "/mnt/x".into(),
    };
    let connect = Effect::Connect {
        target: "1.1.1.1:443".into(),
    };
    for effect in [mount, copy, connect] {
        assert!(
            matches!(admit(effect.clone(), &c, false), Ok(Pass::DryRun(e)) if e == effect),
            "{effect:?}"
        );
    }
    let list = Effect::ListSubvolumes {
        path: "/mnt".into(),
    };
    assert_eq!(plan(&list, &c).unwrap(), Plan::Blocking);
}

#[test]
fn paths_with_dotdot_are_refused() {
    let c = confined();
    for path in ["/mnt/../../etc/x", ""] {
        let e = Effect::CreateSubvolume { path: path.into() };
        assert!(refused(&e, &c).starts_with("refused: path"));
    }
    let logs = Effect::ReopenLogs {
        dir: "/var/../etc".into(),
    };
    assert!(refused(&logs, &c).starts_with("refused: path"));
}
