//! Checks across `[[service]]` entries: unique names, `after` naming known services,
//! no dependency cycles. A service that fails is dropped, and so is every service that
//! runs after it (each with its own error), so the rest can still start.

use super::RulesError;
use super::file::ServiceEntry;
use crate::core::policy::ServiceSpec;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) fn resolve(
    file: &str,
    entries: Vec<ServiceEntry>,
    rejected: Vec<String>,
    errors: &mut Vec<RulesError>,
) -> Vec<ServiceSpec> {
    let err = |line: u32, message: String| RulesError {
        file: file.to_owned(),
        line,
        message,
    };
    let mut dropped: BTreeSet<String> = rejected.into_iter().collect();

    // Unique names: the first definition wins.
    let mut first_line: BTreeMap<String, u32> = BTreeMap::new();
    let mut kept: Vec<ServiceEntry> = Vec::new();
    for e in entries {
        if let Some(first) = first_line.get(&e.spec.name) {
            errors.push(err(
                e.line,
                format!(
                    "duplicate service name `{}` (first defined on line {first})",
                    e.spec.name
                ),
            ));
            continue;
        }
        first_line.insert(e.spec.name.clone(), e.line);
        kept.push(e);
    }
    // A name that is both defined and rejected (a bad duplicate) is not "invalid".
    dropped.retain(|n| !first_line.contains_key(n));

    // `after` must name a defined service, never itself.
    let mut ok: Vec<ServiceEntry> = Vec::new();
    for e in kept {
        let bad = e.spec.after.iter().find(|a| {
            **a == e.spec.name || (!first_line.contains_key(*a) && !dropped.contains(*a))
        });
        match bad {
            Some(a) if *a == e.spec.name => {
                errors.push(err(
                    e.after_line,
                    format!("dependency cycle: {0} -> {0}", e.spec.name),
                ));
                dropped.insert(e.spec.name.clone());
            }
            Some(a) => {
                errors.push(err(
                    e.after_line,
                    format!("service `{}` runs after unknown service `{a}`", e.spec.name),
                ));
                dropped.insert(e.spec.name.clone());
            }
            None => ok.push(e),
        }
    }

    // Cycles among the rest.
    for cycle in cycles(&ok) {
        let Some(first) = cycle.first() else { continue };
        let line = ok
            .iter()
            .find(|e| &e.spec.name == first)
            .map(|e| e.after_line)
            .unwrap_or(1);
        let mut path = cycle.clone();
        path.push(first.clone());
        errors.push(err(
            line,
            format!("dependency cycle: {}", path.join(" -> ")),
        ));
        dropped.extend(cycle);
    }
    ok.retain(|e| !dropped.contains(&e.spec.name));

    // Whatever runs after a dropped service is dropped too, transitively.
    loop {
        let before = ok.len();
        let mut next = Vec::with_capacity(ok.len());
        for e in ok {
            match e.spec.after.iter().find(|a| dropped.contains(*a)) {
                Some(a) => {
                    errors.push(err(
                        e.after_line,
                        format!(
                            "service `{}` skipped: it runs after `{a}`, which is invalid",
                            e.spec.name
                        ),
                    ));
                    dropped.insert(e.spec.name.clone());
                }
                None => next.push(e),
            }
        }
        ok = next;
        if ok.len() == before {
            break;
        }
    }
    ok.into_iter().map(|e| e.spec).collect()
}

/// Each dependency cycle once, as the list of its members in walk order, starting
/// from the member defined first.
fn cycles(entries: &[ServiceEntry]) -> Vec<Vec<String>> {
    let index: BTreeMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.spec.name.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = entries
        .iter()
        .map(|e| {
            e.spec
                .after
                .iter()
                .filter_map(|a| index.get(a.as_str()).copied())
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; entries.len()];
    let mut stack = Vec::new();
    let mut found = Vec::new();
    for start in 0..entries.len() {
        visit(start, &edges, &mut state, &mut stack, &mut found);
    }
    found
        .into_iter()
        .map(|c: Vec<usize>| {
            let lowest = c
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| **n)
                .map(|(i, _)| i)
                .unwrap_or(0);
            let mut c = c;
            c.rotate_left(lowest);
            c.into_iter()
                .filter_map(|i| entries.get(i).map(|e| e.spec.name.clone()))
                .collect()
        })
        .collect()
}

fn visit(
    n: usize,
    edges: &[Vec<usize>],
    state: &mut [u8],
    stack: &mut Vec<usize>,
    found: &mut Vec<Vec<usize>>,
) {
    match state.get(n) {
        Some(0) => {}
        _ => return,
    }
    if let Some(s) = state.get_mut(n) {
        *s = 1;
    }
    stack.push(n);
    for &m in edges.get(n).map(Vec::as_slice).unwrap_or(&[]) {
        match state.get(m) {
            Some(0) => visit(m, edges, state, stack, found),
            Some(1) => {
                if let Some(pos) = stack.iter().position(|&x| x == m) {
                    found.push(stack.get(pos..).map(<[usize]>::to_vec).unwrap_or_default());
                }
            }
            _ => {}
        }
    }
    stack.pop();
    if let Some(s) = state.get_mut(n) {
        *s = 2;
    }
}
