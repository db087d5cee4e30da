//! The running kernel's module index, read once: which modules a device's `MODALIAS`
//! names, the way kmod's `modprobe -R` resolves it, without a process per alias.
//!
//! Inputs (the world reads the files; this module only parses text):
//! - `modules.alias`: `alias PATTERN MODULE` lines, PATTERN an fnmatch glob (`*`, `?`,
//!   `[...]` with ranges and `!`/`^` negation, `\` escapes);
//! - `modules.builtin`: paths of the modules built into the kernel (no load needed);
//! - `modules.builtin.modinfo` (optional): `NAME.alias=PATTERN` strings, NUL-separated,
//!   the aliases of built-in modules (kmod's `modules.builtin.alias.bin`);
//! - `/proc/modules`: the modules loaded now.
//!
//! kmod's order for a modalias: the aliases of `modules.alias`; only if none matches,
//! the aliases of built-in modules. (Config `alias` lines of modprobe.d come first in
//! kmod and are not read here; module names and symbols never contain a `:`, which
//! every modalias has.) Like kmod, `-` and `_` are the same outside `[...]`, in
//! patterns and aliases alike, and module names are written with `_`.

use std::collections::{BTreeMap, BTreeSet};

/// The module index: alias patterns by their literal prefix, built-in modules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModIndex {
    /// Literal prefix of a pattern (up to its first wildcard) → (pattern, module).
    /// An alias is only matched against the patterns whose prefix it starts with.
    aliases: BTreeMap<String, Vec<(String, String)>>,
    builtin_aliases: BTreeMap<String, Vec<(String, String)>>,
    builtin: BTreeSet<String>,
    /// Lines of the index that were not `alias PATTERN MODULE` (comments excepted).
    pub skipped_lines: usize,
}

/// What an alias resolved to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Every module the alias names, in index order, without repeats.
    pub modules: Vec<String>,
    /// The modules came from the aliases of built-in modules (nothing to load).
    pub builtin: bool,
}

impl ModIndex {
    /// Parse `modules.alias` text, `modules.builtin` text and (may be empty) the bytes
    /// of `modules.builtin.modinfo`. Never fails: a malformed line is counted and left
    /// out, as kmod's depmod would never have written it.
    pub fn parse(alias_text: &str, builtin_text: &str, builtin_modinfo: &[u8]) -> ModIndex {
        let mut index = ModIndex::default();
        for line in alias_text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("alias"), Some(pattern), Some(module), None) => {
                    insert(&mut index.aliases, pattern, module);
                }
                _ => index.skipped_lines += 1,
            }
        }
        for line in builtin_text.lines() {
            if let Some(name) = module_name_of_path(line.trim()) {
                index.builtin.insert(name);
            }
        }
        for entry in builtin_modinfo.split(|b| *b == 0) {
            let Ok(entry) = std::str::from_utf8(entry) else {
                continue;
            };
            if let Some((key, pattern)) = entry.split_once('=')
                && let Some(module) = key.strip_suffix(".alias")
                && !module.is_empty()
                && !pattern.is_empty()
            {
                insert(&mut index.builtin_aliases, pattern, module);
            }
        }
        index
    }

    /// Number of alias patterns (of loadable modules) in the index.
    pub fn len(&self) -> usize {
        self.aliases.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.aliases.is_empty() && self.builtin_aliases.is_empty()
    }

    /// Is `module` (any spelling, `-` or `_`) built into the kernel?
    pub fn is_builtin(&self, module: &str) -> bool {
        self.builtin.contains(&underscores(module))
    }

    /// The modules `alias` names, as `modprobe -R alias` lists them (as a set).
    pub fn resolve(&self, alias: &str) -> Resolution {
        let Some(alias) = normalize(alias) else {
            return Resolution::default();
        };
        let modules = matches(&self.aliases, &alias);
        if !modules.is_empty() {
            return Resolution {
                modules,
                builtin: false,
            };
        }
        let modules = matches(&self.builtin_aliases, &alias);
        let builtin = !modules.is_empty();
        Resolution { modules, builtin }
    }
}

fn insert(map: &mut BTreeMap<String, Vec<(String, String)>>, pattern: &str, module: &str) {
    let Some(pattern) = normalize(pattern) else {
        return; // kmod's depmod drops a pattern with an unbalanced `]` too
    };
    let prefix = pattern
        .find(['*', '?', '[', '\\'])
        .map_or(pattern.as_str(), |i| pattern.get(..i).unwrap_or(""))
        .to_owned();
    map.entry(prefix)
        .or_default()
        .push((pattern, underscores(module)));
}

fn matches(map: &BTreeMap<String, Vec<(String, String)>>, alias: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Every prefix of the alias (char boundaries only) that some pattern starts with.
    let ends = alias
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(alias.len()));
    for end in ends {
        let Some(prefix) = alias.get(..end) else {
            continue;
        };
        let Some(entries) = map.get(prefix) else {
            continue;
        };
        for (pattern, module) in entries {
            if fnmatch(pattern.as_bytes(), alias.as_bytes()) && !out.contains(module) {
                out.push(module.clone());
            }
        }
    }
    out
}

/// kmod's `alias_normalize`: `-` becomes `_` outside brackets; `None` for an
/// unbalanced `[` or a stray `]`.
pub fn normalize(alias: &str) -> Option<String> {
    let mut out = String::with_capacity(alias.len());
    let mut chars = alias.chars();
    while let Some(c) = chars.next() {
        match c {
            '-' => out.push('_'),
            ']' => return None,
            '[' => {
                out.push('[');
                loop {
                    let c = chars.next()?;
                    out.push(c);
                    if c == ']' {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// A module name as the kernel and kmod write it: `-` → `_`.
pub fn underscores(name: &str) -> String {
    name.replace('-', "_")
}

/// `kernel/fs/ext4/ext4.ko` (maybe compressed) → `ext4`.
fn module_name_of_path(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = file.split_once(".ko").map(|(s, _)| s)?;
    (!stem.is_empty()).then(|| underscores(stem))
}

/// Names of the modules in `/proc/modules` (`NAME SIZE REFS DEPS STATE ADDR`).
pub fn parse_proc_modules(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(underscores)
        .collect()
}

/// POSIX `fnmatch(pattern, name, 0)` over bytes, as glibc does it for kmod: `*` any
/// run (`/` included), `?` one byte, `[...]` a set (`!` or `^` negates, `a-z` ranges,
/// a leading `]` is literal), `\x` the literal `x`; an unterminated `[` is a literal
/// `[`. Iterative with one backtrack point: linear-ish, never recursive.
pub fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, name index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(&pc) = pattern.get(p) {
            if pc == b'*' {
                star = Some((p + 1, n));
                p += 1;
                continue;
            }
            if let Some(&c) = name.get(n) {
                let step = match pc {
                    b'?' => Some(1),
                    b'[' => match bracket(pattern, p + 1, c) {
                        Some((true, len)) => Some(len + 1),
                        Some((false, _)) => None,
                        None => (c == b'[').then_some(1),
                    },
                    b'\\' => match pattern.get(p + 1) {
                        Some(&lit) => (lit == c).then_some(2),
                        None => (c == b'\\').then_some(1),
                    },
                    lit => (lit == c).then_some(1),
                };
                if let Some(step) = step {
                    p += step;
                    n += 1;
                    continue;
                }
            }
        } else if n == name.len() {
            return true;
        }
        // Mismatch: let the last `*` swallow one more byte, or fail.
        match star {
            Some((sp, sn)) if sn < name.len() => {
                star = Some((sp, sn + 1));
                p = sp;
                n = sn + 1;
            }
            _ => return false,
        }
    }
}

/// The set starting at `pattern[start]` (just after `[`): does it hold `c`, and how
/// many pattern bytes it spans (to its `]` included)? `None`: no closing `]`.
fn bracket(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let mut lo = *pattern.get(i)?;
        if lo == b']' && !first {
            break;
        }
        first = false;
        if lo == b'\\' {
            i += 1;
            lo = *pattern.get(i)?;
        }
        i += 1;
        let mut hi = lo;
        if pattern.get(i) == Some(&b'-') && pattern.get(i + 1).is_some_and(|b| *b != b']') {
            hi = *pattern.get(i + 1)?;
            if hi == b'\\' {
                i += 1;
                hi = *pattern.get(i + 1)?;
            }
            i += 2;
        }
        if lo <= c && c <= hi {
            hit = true;
        }
    }
    // `i` is at the closing `]`.
    Some((hit != negate, i + 1 - start))
}

#[cfg(test)]
#[path = "modalias_tests.rs"]
mod tests;
