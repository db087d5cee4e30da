//! Which services can never start: a dependency cycle, an unknown or duplicate name,
//! or a dependency on such a service. Rules validation rejects these configurations
//! too; the core checks again so that a bad policy can neither hang nor loop it.

use crate::core::policy::ServiceSpec;
use std::collections::BTreeMap;

/// For each spec (same order), why it can never start, or `None` if it can.
pub(super) fn never_startable(specs: &[ServiceSpec]) -> Vec<Option<String>> {
    let mut reasons: Vec<Option<String>> = vec![None; specs.len()];
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, spec) in specs.iter().enumerate() {
        if by_name.contains_key(spec.name.as_str()) {
            set(
                &mut reasons,
                i,
                format!("duplicate service name `{}`", spec.name),
            );
        } else {
            by_name.insert(&spec.name, i);
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        if let Some(dep) = spec
            .after
            .iter()
            .find(|d| !by_name.contains_key(d.as_str()))
        {
            set(
                &mut reasons,
                i,
                format!("depends on unknown service `{dep}`"),
            );
        }
    }
    // Kahn's algorithm: whatever never becomes startable is on or behind a cycle.
    let deps = |i: usize| -> Vec<usize> {
        specs.get(i).map_or_else(Vec::new, |s| {
            s.after
                .iter()
                .filter_map(|d| by_name.get(d.as_str()).copied())
                .collect()
        })
    };
    let mut startable = vec![false; specs.len()];
    loop {
        let next = (0..specs.len()).find(|&i| {
            !flag(&startable, i)
                && reasons.get(i).is_some_and(Option::is_none)
                && deps(i).iter().all(|&d| flag(&startable, d))
        });
        match next {
            Some(i) => set_flag(&mut startable, i),
            None => break,
        }
    }
    for i in 0..specs.len() {
        if flag(&startable, i) || reasons.get(i).is_some_and(Option::is_some) {
            continue;
        }
        let reason = match cycle_through(i, &deps, specs) {
            Some(path) => format!("dependency cycle: {path}"),
            None => {
                let blocker = deps(i)
                    .into_iter()
                    .find(|&d| !flag(&startable, d))
                    .and_then(|d| specs.get(d))
                    .map_or("?", |s| s.name.as_str());
                format!("depends on `{blocker}`, which can never start")
            }
        };
        set(&mut reasons, i, reason);
    }
    reasons
}

/// A dependency path from `start` back to itself (`a -> b -> a`), if there is one.
fn cycle_through(
    start: usize,
    deps: &dyn Fn(usize) -> Vec<usize>,
    specs: &[ServiceSpec],
) -> Option<String> {
    // Depth-first search keeping the path; `seen` bounds the work on any graph.
    let mut seen = vec![false; specs.len()];
    let mut path = vec![start];
    let mut stack = vec![deps(start).into_iter()];
    while let Some(frontier) = stack.last_mut() {
        match frontier.next() {
            Some(next) if next == start => {
                path.push(start);
                let names: Vec<&str> = path
                    .iter()
                    .filter_map(|&i| specs.get(i).map(|s| s.name.as_str()))
                    .collect();
                return Some(names.join(" -> "));
            }
            Some(next) if !flag(&seen, next) => {
                set_flag(&mut seen, next);
                path.push(next);
                stack.push(deps(next).into_iter());
            }
            Some(_) => {}
            None => {
                stack.pop();
                path.pop();
            }
        }
    }
    None
}

fn set(reasons: &mut [Option<String>], i: usize, reason: String) {
    if let Some(slot) = reasons.get_mut(i) {
        slot.get_or_insert(reason);
    }
}

fn flag(flags: &[bool], i: usize) -> bool {
    flags.get(i).copied().unwrap_or(false)
}

fn set_flag(flags: &mut [bool], i: usize) {
    if let Some(f) = flags.get_mut(i) {
        *f = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, after: &[&str]) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            argv: vec![name.into()],
            after: after.iter().map(|s| s.to_string()).collect(),
            ..ServiceSpec::default()
        }
    }

    #[test]
    fn reasons_for_services_that_can_never_start() {
        let specs = vec![
            spec("redis", &[]),
            spec("a", &["b"]),
            spec("b", &["a"]),
            spec("c", &["a"]),
            spec("d", &["ghost"]),
            spec("self", &["self"]),
            spec("redis", &[]),
            spec("ork", &["redis"]),
        ];
        let r = never_startable(&specs);
        assert_eq!(r[0], None);
        assert_eq!(r[1].as_deref(), Some("dependency cycle: a -> b -> a"));
        assert_eq!(r[2].as_deref(), Some("dependency cycle: b -> a -> b"));
        assert_eq!(
            r[3].as_deref(),
            Some("depends on `a`, which can never start")
        );
        assert_eq!(r[4].as_deref(), Some("depends on unknown service `ghost`"));
        assert_eq!(r[5].as_deref(), Some("dependency cycle: self -> self"));
        assert_eq!(r[6].as_deref(), Some("duplicate service name `redis`"));
        assert_eq!(r[7], None);
    }
}
