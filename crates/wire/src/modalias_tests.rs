use super::*;
use crate::bytes::fuzz;

const ALIAS: &str = "\
# Aliases extracted from modules themselves.
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias virtio:d00000002v* virtio_blk
alias pci:v*d*sv*sd*bc01sc08i02* nvme
alias pci:v*d*sv*sd*bc01sc06i01* ahci
alias acpi*:PNP0A0[38]:* pci-host-x
alias cpu:type:x86,ven*fam*mod*:feature:*00[!A-F]1* fake_cpu
alias fs-btrfs btrfs
alias input:b*v*p*e*-e*1,*k*ram*lsfw* evdev_like
garbage line
";
const BUILTIN: &str = "kernel/drivers/block/loop.ko\nkernel/fs/ext4/ext4.ko\n";
const MODINFO: &[u8] =
    b"loop.alias=block-major-7-*\0loop.alias=devname:loop-control\0ext4.license=GPL\0";

fn index() -> ModIndex {
    ModIndex::parse(ALIAS, BUILTIN, MODINFO)
}

#[test]
fn resolves_like_modprobe_r() {
    let ix = index();
    assert_eq!(ix.len(), 8);
    assert_eq!(ix.skipped_lines, 1);
    let r = ix.resolve("pci:v00001AF4d00001042sv00001AF4sd00001042bc01sc80i00");
    assert_eq!(r.modules, ["virtio_pci"]);
    assert!(!r.builtin);
    assert_eq!(
        ix.resolve("virtio:d00000002v00001AF4").modules,
        ["virtio_blk"]
    );
    assert_eq!(
        ix.resolve("pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01")
            .modules,
        ["ahci"]
    );
    // Nothing matches: no module, not built in.
    assert_eq!(ix.resolve("acpi:PNP0501:"), Resolution::default());
    assert_eq!(ix.resolve("platform:pcspkr"), Resolution::default());
}

#[test]
fn brackets_ranges_and_negation() {
    let ix = index();
    assert_eq!(ix.resolve("acpi:PNP0A03:").modules, ["pci_host_x"]);
    assert_eq!(ix.resolve("acpi:PNP0A08:PNP0A03:").modules, ["pci_host_x"]);
    assert!(ix.resolve("acpi:PNP0A05:").modules.is_empty());
    let cpu = |f: &str| format!("cpu:type:x86,ven0000fam0006mod003F:feature:,{f}");
    assert_eq!(ix.resolve(&cpu("0001,0091")).modules, ["fake_cpu"]);
    assert!(ix.resolve(&cpu("00A1,00F1")).modules.is_empty());
}

#[test]
fn dashes_are_underscores_outside_brackets() {
    let ix = index();
    let input = "input:b0019v0000p0001e0000-e0,1,k74,ramlsfw";
    assert_eq!(ix.resolve(input).modules, ["evdev_like"]);
    assert_eq!(normalize("a-b[x-z]-").as_deref(), Some("a_b[x-z]_"));
    assert_eq!(normalize("a[b"), None);
    assert_eq!(normalize("a]b"), None);
}

#[test]
fn builtin_modules_and_their_aliases() {
    let ix = index();
    assert!(ix.is_builtin("ext4") && ix.is_builtin("loop"));
    assert!(!ix.is_builtin("btrfs"));
    let r = ix.resolve("block-major-7-0");
    assert_eq!(r.modules, ["loop"]);
    assert!(r.builtin);
}

#[test]
fn proc_modules_names() {
    let text = "virtio_blk 20480 2 - Live 0x0\nraid6_pq 122880 1 btrfs, Live 0x0\n";
    let names = parse_proc_modules(text);
    assert!(names.contains("virtio_blk") && names.contains("raid6_pq"));
    assert_eq!(names.len(), 2);
}

#[test]
fn fnmatch_cases() {
    let m = |p: &str, n: &str| fnmatch(p.as_bytes(), n.as_bytes());
    assert!(m("*", ""));
    assert!(m("a*b*c", "aXbYc"));
    assert!(!m("a*b*c", "aXbY"));
    assert!(m("a?c", "abc") && !m("a?c", "ac"));
    assert!(m("[]x]", "]") && m("[]x]", "x") && !m("[]x]", "y"));
    assert!(m("[!a-c]", "d") && !m("[!a-c]", "b") && m("[^a-c]", "z"));
    assert!(m("[a-]", "-") && m("x[", "x[") && !m("x[", "x"));
    assert!(m("a\\*", "a*") && !m("a\\*", "ab"));
    assert!(m("*/*", "a/b"));
    assert!(m("pci:v*d*sv*sd*bc01sc08i02*", "pci:v1d2sv3sd4bc01sc08i02"));
}

#[test]
fn never_panics() {
    let seed = [ALIAS.as_bytes(), BUILTIN.as_bytes(), MODINFO];
    fuzz::no_panic(&seed, 3000, |b| {
        let text = String::from_utf8_lossy(b);
        let ix = ModIndex::parse(&text, &text, b);
        let _ = ix.resolve(&text);
        let _ = fnmatch(b, b);
        let half = b.len() / 2;
        let (p, n) = b.split_at(half);
        let _ = fnmatch(p, n);
        let _ = parse_proc_modules(&text);
    });
}
