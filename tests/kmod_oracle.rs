//! nodeboot's modalias resolver (`wire::modalias`) against kmod itself: for every
//! MODALIAS of the coldplug capture under tests/scenarios, of the QEMU guest
//! (tests/kmod/vm-guest.modaliases, from its boot log) and of this machine's sysfs
//! (`/sys/devices/**/modalias`), the set of modules it resolves equals `modprobe -R`'s.
//!
//! The module tree: `NODEBOOT_MODULES_ROOT` (a root holding `lib/modules/VERSION`), or
//! the running kernel's, or the Debian kernel that tools/vm/build.sh unpacked under
//! tools/vm/.cache/kernel. Every `modprobe` runs with `-d ROOT -S VERSION -C CONF`, CONF
//! a temporary modprobe.d of our own (empty, or with one `blacklist` line).
//!
//! The blacklist: `modprobe -R` resolves regardless of it, and so does the resolver;
//! nodeboot then runs `modprobe -b NAME` per resolved module, and `-b` refuses a
//! blacklisted NAME. What is compared: (1) `-R` with the blacklist still names the
//! module, as the resolver does; (2) `modprobe -n -v -b NAME` of the blacklisted
//! module would insert nothing; (3) for the alias, `modprobe -n -v -b ALIAS` (udev's
//! way, one process per alias) would insert exactly the union of what `-n -v -b NAME`
//! inserts for each resolved name (nodeboot's way), with and without the blacklist.
//! kmod and the module tree are installed by tools/setup.sh (`build.sh --kernel-only`);
//! without either the test skips, except under `CI=true`, where that is a failure.

#[allow(dead_code)]
mod support;

use nodeboot::wire::modalias::ModIndex;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::root::{ci, command_exists};

struct Tree {
    root: PathBuf,
    version: String,
}

impl Tree {
    fn dir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }
}

fn find_tree() -> Option<Tree> {
    let usable = |root: &Path, version: &str| {
        let dir = root.join("lib/modules").join(version);
        dir.join("modules.alias").is_file() && dir.join("modules.alias.bin").is_file()
    };
    let first_version = |root: &Path| -> Option<String> {
        let mut versions: Vec<String> = std::fs::read_dir(root.join("lib/modules"))
            .ok()?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|v| usable(root, v))
            .collect();
        versions.sort();
        versions.pop()
    };
    if let Some(root) = std::env::var_os("NODEBOOT_MODULES_ROOT") {
        let root = PathBuf::from(root);
        let version = first_version(&root)?;
        return Some(Tree { root, version });
    }
    let running = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if usable(Path::new("/"), running.trim()) {
        let version = running.trim().to_owned();
        return Some(Tree {
            root: PathBuf::from("/"),
            version,
        });
    }
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/vm/.cache/kernel");
    let mut roots: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    roots.sort();
    let root = roots.pop()?;
    let version = first_version(&root)?;
    Some(Tree { root, version })
}

/// Every MODALIAS the test checks, without repeats.
fn aliases() -> BTreeSet<String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = BTreeSet::new();
    let capture = std::fs::read_to_string(repo.join("tests/scenarios/capture-coldplug.udevadm"))
        .expect("the coldplug capture");
    for line in capture.lines() {
        if let Some(a) = line.trim().strip_prefix("MODALIAS=") {
            out.insert(a.to_owned());
        }
    }
    let guest = std::fs::read_to_string(repo.join("tests/kmod/vm-guest.modaliases"))
        .expect("the guest's modaliases");
    out.extend(guest.lines().filter(|l| !l.is_empty()).map(str::to_owned));
    sysfs_modaliases(Path::new("/sys/devices"), &mut out, 0);
    out
}

fn sysfs_modaliases(dir: &Path, out: &mut BTreeSet<String>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let path = e.path();
        if kind.is_dir() && !kind.is_symlink() && depth < 24 {
            sysfs_modaliases(&path, out, depth + 1);
        } else if kind.is_file() && e.file_name() == "modalias" {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if !text.trim().is_empty() {
                out.insert(text.trim().to_owned());
            }
        }
    }
}

fn modprobe(tree: &Tree, conf: &Path, args: &[&str]) -> (bool, Vec<String>, String) {
    let out = Command::new("modprobe")
        .arg("-d")
        .arg(&tree.root)
        .args(["-S", &tree.version, "-C"])
        .arg(conf)
        .args(args)
        .output()
        .expect("run modprobe");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), lines, err)
}

/// `modprobe -R alias` as a set; a "not found" is the empty set.
fn kmod_resolve(tree: &Tree, conf: &Path, alias: &str) -> BTreeSet<String> {
    let (ok, lines, err) = modprobe(tree, conf, &["-R", "--", alias]);
    assert!(
        ok || err.contains("not found"),
        "modprobe -R {alias}: {err}"
    );
    lines.into_iter().collect()
}

/// The `insmod` lines of `modprobe -n -v -b what` (what would be inserted).
fn kmod_would_insert(tree: &Tree, conf: &Path, what: &str) -> BTreeSet<String> {
    let (_, lines, _) = modprobe(tree, conf, &["-n", "-v", "-b", "--", what]);
    lines
        .into_iter()
        .filter(|l| l.starts_with("insmod "))
        .collect()
}

/// One name a glob matches (see the samples above).
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => {}
            '?' => out.push('0'),
            '[' => {
                let set: String = chars.by_ref().take_while(|c| *c != ']').collect();
                match set.strip_prefix(['!', '^']) {
                    Some(_) => out.push('~'),
                    None => out.extend(set.chars().last()),
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Does an `insmod PATH [OPTIONS]` line insert `module` (file names may say `-`,
/// and may be compressed: `acpi-cpufreq.ko.xz` is `acpi_cpufreq`)?
fn inserts_module(line: &str, module: &str) -> bool {
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let file = path.rsplit('/').next().unwrap_or("");
    let stem = file.split(".ko").next().unwrap_or("");
    stem.replace('-', "_") == module
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_default()
}

#[test]
fn resolver_agrees_with_modprobe_r() {
    let tree = find_tree();
    let missing = match (&tree, command_exists("modprobe")) {
        (Some(_), true) => None,
        (None, _) => Some("a module tree (run tools/vm/build.sh or set NODEBOOT_MODULES_ROOT)"),
        (_, false) => Some("kmod's modprobe (tools/setup.sh installs kmod)"),
    };
    if let Some(why) = missing {
        assert!(
            !ci(),
            "kmod oracle: needs {why}, and CI=true forbids skipping"
        );
        eprintln!("kmod oracle: skipped (needs {why})");
        return;
    }
    let tree = tree.expect("checked above");
    let dir = tree.dir();
    let alias_text = String::from_utf8(read(&dir, "modules.alias")).expect("utf-8");
    let builtin_text = String::from_utf8(read(&dir, "modules.builtin")).expect("utf-8");
    let parse_start = std::time::Instant::now();
    let index = ModIndex::parse(
        &alias_text,
        &builtin_text,
        &read(&dir, "modules.builtin.modinfo"),
    );
    eprintln!(
        "kmod oracle: {} patterns parsed in {:?}",
        index.len(),
        parse_start.elapsed()
    );
    assert!(index.len() > 100, "a real index: {} patterns", index.len());
    let temp = support::TempDir::new("kmod-oracle");
    let empty_conf = temp.path().join("empty.d");
    std::fs::create_dir_all(&empty_conf).expect("conf dir");

    let all = aliases();
    assert!(all.len() >= 20, "aliases to check: {all:?}");
    let (mut matched, mut unmatched) = (0, 0);
    let mut first_loadable: Option<(String, String)> = None;
    for alias in &all {
        let ours: BTreeSet<String> = index.resolve(alias).modules.into_iter().collect();
        let theirs = kmod_resolve(&tree, &empty_conf, alias);
        assert_eq!(ours, theirs, "modalias {alias}");
        if ours.is_empty() {
            unmatched += 1;
        } else {
            matched += 1;
        }
        // The module to blacklist: a disk driver (nvme) when the aliases name it.
        if let Some(m) = ours.iter().find(|m| !index.is_builtin(m))
            && (first_loadable.is_none() || m == "nvme")
        {
            first_loadable = Some((alias.clone(), m.clone()));
        }
    }
    eprintln!(
        "kmod oracle: {} aliases against {}: {matched} resolve, {unmatched} match nothing",
        all.len(),
        dir.display()
    );
    assert!(matched > 0 && unmatched > 0, "both kinds are checked");

    // The index's own patterns made concrete: every one with a set or a `?`, and
    // every 97th, each wildcard replaced (`*` by nothing, `?` by `0`, a set by its
    // last character, or `~` when negated): the matcher on real globs.
    let mut samples = BTreeSet::new();
    for (i, line) in alias_text.lines().enumerate() {
        let Some(pattern) = line
            .strip_prefix("alias ")
            .and_then(|l| l.split_whitespace().next())
        else {
            continue;
        };
        if pattern.contains(['[', '?']) || i % 97 == 0 {
            samples.insert(concrete(pattern));
        }
    }
    assert!(samples.len() > 200, "{} samples", samples.len());
    for alias in &samples {
        let ours: BTreeSet<String> = index.resolve(alias).modules.into_iter().collect();
        assert!(
            !ours.is_empty(),
            "a pattern's own instance {alias} names no module"
        );
        assert_eq!(
            ours,
            kmod_resolve(&tree, &empty_conf, alias),
            "sample {alias}"
        );
    }
    eprintln!(
        "kmod oracle: {} aliases made from the index's patterns agree",
        samples.len()
    );

    // The blacklist: resolution ignores it, `-b NAME` refuses the module.
    let (alias, module) = first_loadable.expect("an alias naming a loadable module");
    let black_conf = temp.path().join("black.d");
    std::fs::create_dir_all(&black_conf).expect("conf dir");
    std::fs::write(
        black_conf.join("nodeboot-test.conf"),
        format!("blacklist {module}\n"),
    )
    .expect("write the blacklist");
    let resolved: BTreeSet<String> = index.resolve(&alias).modules.into_iter().collect();
    assert_eq!(resolved, kmod_resolve(&tree, &black_conf, &alias));
    let inserts = |conf: &Path, what: &str| kmod_would_insert(&tree, conf, what);
    let names_it = |lines: &BTreeSet<String>| lines.iter().any(|l| inserts_module(l, &module));
    assert!(
        names_it(&inserts(&empty_conf, &module)),
        "without the blacklist, modprobe -b {module} loads it"
    );
    assert!(
        !names_it(&inserts(&black_conf, &module)),
        "blacklisted, modprobe -b {module} refuses it"
    );
    eprintln!("kmod oracle: {module} (for {alias}) blacklisted: resolved, not loaded");
    for conf in [&empty_conf, &black_conf] {
        let by_alias = inserts(conf, &alias);
        let by_names: BTreeSet<String> = resolved.iter().flat_map(|m| inserts(conf, m)).collect();
        assert_eq!(
            by_alias, by_names,
            "modprobe -b {alias} vs -b per name ({conf:?})"
        );
    }
}
